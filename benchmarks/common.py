"""What every benchmark shares: a timer, the machine's description, one result row, writers.

- `timeit(fn)`: wall-clock seconds of `fn()` over a few runs -> `summarize(runs)`:
  {median, min, max, runs}. The spread reported beside every median is min-max of the runs.
- `machine_info()`: the date, CPU, cores (all and usable), platform, Python, NumPy and its
  BLAS, and the version of every optional peer (or "not installed"), none of them imported.
- `Result`: one table row, npllm's figure against a baseline's, with their ratio.
- `skipped(results)`: the rows whose baseline could not run, and why.
- `markdown_table`, `write_markdown`, `write_json`: the report.

What this leaves out: statistics beyond median and min-max, plotting (`__main__.py` does
the optional chart), and any knowledge of what is being timed.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import importlib.metadata
import json
import math
import os
import pathlib
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

MB = 1_000_000  # bytes; "seconds per MB" means per million bytes of UTF-8
SPREAD = "min-max of the timed runs"  # what the parentheses beside every median hold

# The optional peers: package -> what goes without it. Never required; CI has only tiktoken.
PEERS = {
    "tiktoken": "the encoding and educational-trainer baselines",
    "torch": "the loader and embedding baselines",
    "tokenizers": "the HF trainer baseline",
    "matplotlib": "the chart of the ratios",
}


@contextlib.contextmanager
def torch_one_thread():
    """Yield (torch, "") with torch on one thread, or (None, why not) when it is not installed.

    The objects alive now are frozen out of the garbage collector meanwhile: with torch's
    ~150,000 objects, each untimed gc.collect in timeit would take ~0.1 s. Both undone on exit.
    """
    try:
        import torch
    except ImportError:
        torch, why_not = None, "torch not installed"
    else:
        why_not = ""
    threads = torch.get_num_threads() if torch else None
    gc.collect()
    gc.freeze()
    try:
        if torch:
            torch.set_num_threads(1)
        yield torch, why_not
    finally:
        if torch:
            torch.set_num_threads(threads)
        gc.unfreeze()


def tiktoken_offline() -> None:
    """Point tiktoken at a temporary cache of npllm's bundled vocabularies, unless
    TIKTOKEN_CACHE_DIR is set already: the baselines then load with no network."""
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return
    import atexit
    import shutil
    import tempfile

    from npllm import data

    folder = tempfile.mkdtemp(prefix="npllm-bench-tiktoken-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    data.fill_tiktoken_cache(folder)
    os.environ["TIKTOKEN_CACHE_DIR"] = folder


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
    return summarize(runs)


def summarize(runs: list[float]) -> dict:
    """Median and spread (min-max) of some runs.
    [0.3, 0.1, 0.2] -> {"median": 0.2, "min": 0.1, "max": 0.3, "runs": [0.3, 0.1, 0.2]}"""
    if not runs:
        raise ValueError("no runs to summarize")
    runs = list(runs)
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
    """What the figures were measured on, as far as this process can tell.

    No optional peer is imported to learn its version (importing `tokenizers` before
    bench_train sets RAYON_NUM_THREADS would give HF every core), so this is cheap.
    """
    info = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores (os.cpu_count)": os.cpu_count(),
        "cores usable (sched_getaffinity)": (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "unknown on this platform"
        ),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "load average at start": load_average(),  # other work on the machine skews the figures
    }
    import numpy

    import npllm

    info["npllm"] = getattr(npllm, "__version__", "unknown")
    info["numpy"] = numpy.__version__
    info.update(blas_info(numpy))
    info["regex"] = package_version("regex")
    for name in PEERS:
        info[name] = package_version(name)
    return info


def load_average() -> str:
    """ "1.83 1.02 0.48 (1, 5, 15 min)": runnable processes, averaged; above 0 means sharing."""
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
    return platform.processor() or platform.machine() or "unknown"


def package_version(name: str) -> str:
    """An installed distribution's version, without importing it: "numpy" -> "2.4.6"; else "not installed"."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def missing_peers(machine: dict) -> dict:
    """The optional peers `machine` says are not installed -> what goes without them."""
    return {name: what for name, what in PEERS.items() if machine.get(name) == "not installed"}


def blas_info(numpy) -> dict:
    """NumPy's BLAS, and the thread variables BLAS reads: {"blas": "scipy-openblas 0.3.27", ...}.

    From numpy.show_config(mode="dicts") (NumPy >= 1.26); older NumPy has no mode= and gives
    what numpy.__config__ kept then, or says it cannot tell.
    """
    info = {}
    try:
        blas = numpy.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
        if blas.get("openblas configuration"):
            info["blas configuration"] = " ".join(str(blas["openblas configuration"]).split())
    except Exception:  # older NumPy (no mode=), or a layout this does not know
        info["blas"] = _old_numpy_blas(numpy)
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    threads = {k: os.environ[k] for k in names if k in os.environ}  # variable -> value, those set
    info["blas threads (environment)"] = ", ".join(f"{k}={v}" for k, v in threads.items()) or "not set (BLAS default)"
    return info


def _old_numpy_blas(numpy) -> str:
    """NumPy < 1.26: the libraries numpy.__config__ recorded, e.g. "openblas64_ (numpy.__config__)"."""
    config = getattr(numpy, "__config__", None)
    for key in ("blas_opt_info", "blas_ilp64_opt_info", "openblas_info", "blas_mkl_info"):
        found = getattr(config, key, None)
        if isinstance(found, dict) and found.get("libraries"):
            return f"{', '.join(found['libraries'])} (numpy.__config__.{key})"
    return f"unknown (numpy {getattr(numpy, '__version__', '?')} has no show_config(mode='dicts'))"


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


def skipped(results: list[Result]) -> list[str]:
    """ "row: vs baseline: why" for each row whose baseline (or part of it) did not run.

    A row is skipped when it names a baseline but has no figure for it, or its note says
    "skipped: why" (the benchmarks write it so). [Result("warm", f, "tiktoken", None,
    note="skipped: tiktoken not installed")] -> ["warm: vs tiktoken: tiktoken not installed"]
    """
    out = []
    for r in results:
        reasons = re.findall(r"skipped: ([^;]+)", r.note)
        if reasons or (r.baseline and r.baseline_figure is None):
            why = "; ".join(reason.strip() for reason in reasons) or r.note or "no baseline figure"
            out.append(f"{r.name}: vs {r.baseline or '-'}: {why}")
    return out


# --- writers ---------------------------------------------------------------------------------


def format_number(x: float) -> str:
    """Three significant digits, no exponent for large values: 0.25731 -> "0.257", 1342.7 -> "1,343"."""
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def format_figure(stats: dict | None, unit: str) -> str:
    """Median (min-max, runs). {"median": 0.2573, "min": 0.2511, "max": 0.262, "runs": [5 runs]}
    -> "0.257 s (0.251-0.262, n=5)"; one run -> "0.257 s (n=1)"; None -> "-" """
    if not stats:
        return "-"
    n = len(stats["runs"])
    if n == 1:
        return f"{format_number(stats['median'])} {unit} (n=1)"
    low, high = format_number(stats["min"]), format_number(stats["max"])
    return f"{format_number(stats['median'])} {unit} ({low}-{high}, n={n})"


def ratio_text(ratio: float) -> str:
    """Two decimals, or two significant digits below 0.01 (never an exponent):
    0.6123 -> "0.61x", 13.917 -> "13.92x", 0.0069 -> "0.0069x", 4.49e-05 -> "0.000045x"."""
    if ratio >= 0.01 or ratio <= 0:
        return f"{ratio:.2f}x"
    return f"{ratio:.{1 - math.floor(math.log10(ratio))}f}x"


def format_ratio(result: Result) -> str:
    """npllm median / baseline median, with the target if the row has one:
    "0.61x", "1.77x (target <= 2.5x: met)", "-" without a baseline figure."""
    ratio = result.ratio
    if ratio is None:
        return "-"
    text = ratio_text(ratio)
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
    """The report: a dated title, `header` lines, the machine, the table, then free-form `sections`."""
    date = str(machine.get("date", ""))[:16].replace("T", " ")  # "2026-11-27 14:27"
    parts = [f"# npllm benchmarks, {date}" if date else "# npllm benchmarks", ""]
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
