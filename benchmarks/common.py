"""What every benchmark shares: a timer, the machine's description, one result row, writers.

- `timeit(fn)`: wall-clock seconds of `fn()` over a few runs -> {median, min, max, runs}.
- `machine_info()`: CPU, cores, platform, Python, NumPy and its BLAS, regex, the date.
- `Result`: one table row, npllm's figure against a baseline's, with their ratio.
- `markdown_table`, `write_markdown`, `write_json`: the report.

What this leaves out: statistics beyond median and min-max, plotting (`__main__.py` does
the optional chart), and any knowledge of what is being timed.
"""

from __future__ import annotations

import datetime
import gc
import json
import os
import pathlib
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MB = 1_000_000  # bytes; "seconds per MB" means per million bytes of UTF-8


def progress(message: str) -> None:
    """One line of progress on stderr (stdout is kept for the final table)."""
    print(message, file=sys.stderr, flush=True)


# --- timing ----------------------------------------------------------------------------------


def timeit(fn: Callable, repeat: int = 5, warmup: int = 1, *, setup: Callable | None = None) -> dict:
    """Seconds of `fn()`, `warmup` untimed runs then `repeat` timed ones, by time.perf_counter.

    With `setup`, each run (warm-up runs too) first calls `setup()` untimed and times
    `fn(setup())`: how a cold run gets a fresh object without paying for building it.
    The garbage collector runs before each run, not during it, and whatever `fn` returns is
    freed after the clock stops. {"median": 0.25, "min": 0.24, "max": 0.27, "runs": [...]}
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    runs = []  # seconds of each timed run, in order
    for i in range(warmup + repeat):
        arg = setup() if setup is not None else None
        gc.collect()
        start = time.perf_counter()
        out = fn(arg) if setup is not None else fn()
        seconds = time.perf_counter() - start
        del out, arg
        if i >= warmup:
            runs.append(seconds)
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs}


def scale(stats: dict, factor: float) -> dict:
    """The same figures times `factor`, e.g. seconds -> seconds per MB. {"median": 2} * 0.5 -> {"median": 1}"""
    return {
        "median": stats["median"] * factor,
        "min": stats["min"] * factor,
        "max": stats["max"] * factor,
        "runs": [r * factor for r in stats["runs"]],
    }


# --- the machine -----------------------------------------------------------------------------


def machine_info() -> dict:
    """What the figures were measured on, as far as this process can tell."""
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load_average_at_start": load_average(),  # other work on the machine skews the figures
    }
    info.update(_versions("npllm", "numpy", "regex", "tiktoken"))
    info["blas"] = _blas()
    return info


def load_average() -> str:
    """"1.83 1.02 0.48 (1, 5, 15 min)": runnable processes, averaged; above 0 means sharing."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"
    except (AttributeError, OSError):
        return "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _versions(*modules: str) -> dict:
    versions = {}  # module name -> version string, or "not installed"
    for name in modules:
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "unknown")
        except ImportError:
            versions[name] = "not installed"
    return versions


def _blas() -> str:
    """NumPy's BLAS as numpy.show_config(mode="dicts") reports it, e.g. "scipy-openblas 0.3.27"."""
    try:
        import numpy

        deps = numpy.show_config(mode="dicts")["Build Dependencies"]
        blas = deps["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy (no mode=), or a layout this does not know
        return "unknown"


# --- one row ---------------------------------------------------------------------------------


@dataclass
class Result:
    """One hot path: npllm's figure, a baseline's, and npllm / baseline (lower is better for npllm).

    Figures are `timeit` dicts in `unit` (seconds unless the row says otherwise). A row whose
    baseline could not run has `baseline_figure=None` and says why in `note`.
    `profile`, when given, is a zero-argument function that does any untimed preparation
    (a fresh Encoding, say) and returns the zero-argument call to profile.
    """

    name: str  # the hot path, e.g. "encode_ordinary warm, gpt2, tinyshakespeare"
    npllm: dict | None  # timeit() figures in `unit`; None when npllm did not run
    baseline: str = ""  # what npllm is compared with, e.g. "tiktoken encode_ordinary"
    baseline_figure: dict | None = None  # the baseline's timeit() figures in `unit`
    unit: str = "s"
    note: str = ""
    target: float | None = None  # ratio npllm / baseline should be at most this
    profile: Callable[[], Callable[[], object]] | None = field(default=None, repr=False, compare=False)

    @property
    def ratio(self) -> float | None:
        if not self.npllm or not self.baseline_figure or self.baseline_figure["median"] <= 0:
            return None
        return self.npllm["median"] / self.baseline_figure["median"]

    @property
    def target_met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "npllm": self.npllm,
            "baseline": self.baseline,
            "baseline_figure": self.baseline_figure,
            "unit": self.unit,
            "ratio": self.ratio,
            "target": self.target,
            "target_met": self.target_met,
            "note": self.note,
        }


# --- writers ---------------------------------------------------------------------------------


def format_number(x: float) -> str:
    """Three significant digits, no exponent for large values: 0.25731 -> "0.257", 1342.7 -> "1,343"."""
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def format_figure(stats: dict | None, unit: str) -> str:
    """{"median": 0.2573, "min": 0.2511, "max": 0.262, "runs": [5 runs]} -> "0.257 s (0.251-0.262, n=5)" """
    if not stats:
        return "-"
    n = len(stats["runs"])
    low, high = format_number(stats["min"]), format_number(stats["max"])
    return f"{format_number(stats['median'])} {unit} ({low}-{high}, n={n})"


def format_ratio(result: Result) -> str:
    ratio = result.ratio
    if ratio is None:
        return "-"
    text = f"{ratio:.2f}x"
    if result.target is not None:
        text += f" (target <= {result.target:g}x: {'met' if result.target_met else 'MISSED'})"
    return text


def markdown_table(results: list[Result]) -> str:
    """One row per result: hot path, npllm median (min-max, runs), baseline, its figure, ratio, note."""
    lines = [
        "| hot path | npllm: median (min-max, runs) | baseline | baseline: median (min-max, runs) | ratio npllm/baseline | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        cells = [
            r.name,
            format_figure(r.npllm, r.unit),
            r.baseline or "-",
            format_figure(r.baseline_figure, r.unit),
            format_ratio(r),
            r.note,
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write_markdown(
    path: pathlib.Path,
    results: list[Result],
    machine: dict,
    *,
    header: list[str] = (),
    sections: list[str] = (),
) -> str:
    """The report: a title, `header` lines, the machine, the table, then free-form `sections`."""
    parts = ["# npllm benchmarks", ""]
    if header:
        parts += [*header, ""]
    parts += ["## Machine", ""]
    parts += [f"- {key}: {value}" for key, value in machine.items()]
    parts += ["", "## Results", "", markdown_table(results), ""]
    for section in sections:
        parts += [section, ""]
    text = "\n".join(parts)
    path.write_text(text, encoding="utf-8")
    return text


def write_json(path: pathlib.Path, results: list[Result], machine: dict, **extra) -> None:
    """Everything in the markdown, as data: {"machine": ..., "results": [...], **extra}."""
    doc = {"machine": machine, **extra, "results": [r.to_dict() for r in results]}
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
