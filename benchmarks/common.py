"""What every benchmark shares: timing, the optional peers, memory, one result row, the report.

- `timeit(fn)`, `interleaved({name: fn})`, `per_item({name: make_iterator}, n)`: wall-clock seconds
  over a few runs, each figure `summarize(runs)` = {median, min, max, runs}; the spread is min-max.
- `optional("torch")`: (the module, None), or (None, why it is missing): the one way a
  benchmark imports a peer it can do without (`not_installed` only looks for it).
  `torch_one_thread()` sets torch up for timing.
- `traced_peak(fn)`: the peak memory NumPy and Python allocate while `fn()` runs (tracemalloc);
  `run_process(cmd)`: a child process's output, wall time and the peak memory of its tree;
  `bytecode_env()`: what makes a child load npllm from compiled modules, as after `pip install`.
- `machine_info()`: the date, CPU, cores, platform, Python, NumPy and its BLAS, and each
  optional peer's version, none of them imported.
- `Result`: one table row, npllm's figure against a baseline's, their ratio, and `skipped`:
  why the baseline did not run, or None. `skipped_rows(results)` lists them.
- `markdown_table`, `write_markdown`, `write_json`: the report.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import functools
import gc
import importlib
import importlib.metadata
import importlib.util
import itertools
import json
import math
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field

REPO = pathlib.Path(__file__).resolve().parent.parent  # the repository: benchmarks/ and npllm/
MB = 1_000_000  # bytes; "seconds per MB" means per million bytes of UTF-8
SPREAD = "min-max of the timed runs"  # what the parentheses beside every median hold

# The optional peers: package -> what goes without it. Never required; CI has only tiktoken.
PEERS = {
    "tiktoken": "the encoding and educational-trainer baselines",
    "torch": "the loader and embedding baselines",
    "tokenizers": "the HF trainer baseline",
    "matplotlib": "the chart of the ratios (--investigate)",
}


def progress(message: str) -> None:
    """One line of progress on stderr (stdout is kept for the final table)."""
    print(message, file=sys.stderr, flush=True)


# --- optional peers --------------------------------------------------------------------------


def optional(name: str):
    """(module, None) when `name` imports, else (None, why not), the reason a skipped row gives:
    optional("torch") -> (<module 'torch'>, None), or (None, "torch not installed")."""
    try:
        return importlib.import_module(name), None
    except ImportError as e:
        return None, not_installed(name) or f"{name} failed to import ({e})"


def not_installed(name: str) -> str | None:
    """ "torch not installed" when `name`'s package cannot be found, else None; imports nothing.
    For a peer that runs in a child process, or that must not be imported yet (tokenizers reads
    RAYON_NUM_THREADS when imported)."""
    package = name.partition(".")[0]
    return None if importlib.util.find_spec(package) else f"{package} not installed"


@contextlib.contextmanager
def torch_one_thread():
    """Yield (torch, None) with torch on one thread, or (None, why not).

    The objects alive now are frozen out of the garbage collector meanwhile: with torch's
    ~150,000 objects, each untimed gc.collect in timeit would take ~0.1 s. Both undone on exit.
    """
    torch, why_not = optional("torch")
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


# --- timing ----------------------------------------------------------------------------------


def timeit(fn: Callable, repeat: int = 5, warmup: int = 1, *, setup: Callable | None = None) -> dict:
    """Seconds of `fn()`, `warmup` untimed runs then `repeat` timed ones, by time.perf_counter.

    With `setup`, each run (warm-up runs too) first calls `setup()` untimed and times
    `fn(setup())`: how a cold run gets a fresh object without paying for building it.
    {"median": 0.25, "min": 0.24, "max": 0.27, "runs": [...]}
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    runs = [_one_run(fn, setup) for _ in range(warmup + repeat)]
    return summarize(runs[warmup:])


def interleaved(fns: dict[str, Callable], repeat: int, warmup: int = 1, *, freeze: bool = True) -> dict[str, dict]:
    """Seconds of each fn, run in turn, one run each per round: {name: figures as timeit gives}.

    Every side sees the same moments of the machine's load. After the warm-up rounds whatever
    they created (torch imports modules on its first backward) is frozen out of the collector,
    unless freeze=False (the caller's own runs then see the collector as timeit's do).
    """
    runs = {name: [] for name in fns}  # name -> seconds of its timed runs
    for i in range(warmup + repeat):
        if i == warmup and freeze:
            gc.freeze()
        for name, fn in fns.items():
            seconds = _one_run(fn)
            if i >= warmup:
                runs[name].append(seconds)
    return {name: summarize(r) for name, r in runs.items()}


def _one_run(fn: Callable, setup: Callable | None = None) -> float:
    """Seconds of one call; the garbage collector runs before it, and what it returns is freed
    after the clock stops."""
    arg = setup() if setup is not None else None
    gc.collect()
    start = time.perf_counter()
    out = fn(arg) if setup is not None else fn()
    seconds = time.perf_counter() - start
    del out, arg
    return seconds


def summarize(runs: list[float]) -> dict:
    """Median and spread (min-max) of some runs.
    [0.3, 0.1, 0.2] -> {"median": 0.2, "min": 0.1, "max": 0.3, "runs": [0.3, 0.1, 0.2]}"""
    if not runs:
        raise ValueError("no runs to summarize")
    runs = list(runs)
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs}


def per_item(sources: dict[str, Callable], n: int, repeat: int, unit: float = 1e6) -> dict[str, dict]:
    """{name: seconds x unit per item}: each timed run drains `n` items from `source()`, names in turn
    ({"npllm": lambda: loader}, n=330 -> {"npllm": microseconds per batch})."""
    return {name: scale(timeit(lambda: drain(source(), n), repeat), unit / n) for name, source in sources.items()}


def drain(items, n: int) -> int:
    """Take `n` items of an iterable and drop them: the loop a per-item figure times."""
    count = sum(1 for _ in itertools.islice(items, n))
    if count != n:
        raise AssertionError(f"wanted {n} items, got {count}")
    return count


def scale(stats: dict, factor: float) -> dict:
    """The same figures times `factor`, e.g. seconds -> seconds per MB. {"median": 2} * 0.5 -> {"median": 1}"""
    return summarize([r * factor for r in stats["runs"]])


# --- memory ----------------------------------------------------------------------------------


def traced_peak(fn: Callable):
    """(what fn() returned, MB at the peak of what it allocated while running, tracemalloc).

    NumPy reports its buffers to tracemalloc, so arrays count; torch's buffers do not.
    """
    gc.collect()
    tracemalloc.start()
    try:
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak / MB


@functools.cache
def bytecode_env() -> dict:
    """Environment variables under which a child process loads npllm from compiled modules.

    pip compiles an installed package, so a user's fresh process finds .pyc files. An editable
    checkout under PYTHONDONTWRITEBYTECODE=1 (CI, sandboxes) has none, and each child would
    compile npllm's source again (about 30 ms, before any work) while tiktoken, numpy and the
    rest load theirs. So the children get a bytecode folder of their own (PYTHONPYCACHEPREFIX),
    filled here once with npllm's modules and the benchmarks' (some children import them), and
    the variable is dropped for them (`run_process` removes it; other callers pop it themselves).
    """
    folder = tempfile.mkdtemp(prefix="npllm-bench-pycache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    env = {"PYTHONPYCACHEPREFIX": folder}
    compile_cmd = [sys.executable, "-m", "compileall", "-q", str(REPO / "npllm"), str(REPO / "benchmarks")]
    subprocess.run(compile_cmd, env={**os.environ, **env}, check=True, stdout=subprocess.DEVNULL)
    return env


def run_process(cmd: list[str], extra_env: dict | None = None, sample_memory: bool = True) -> tuple[str, float, float]:
    """Run `cmd` to its end: (its stdout, wall seconds, peak MB of it and its children).

    The child sees this process's environment, `extra_env`, the repository first on
    PYTHONPATH (so `python -c "from benchmarks..."` and `python -m npllm` find this checkout),
    and npllm's compiled modules (`bytecode_env`).
    The memory is sampled every 10 ms: the sum over the process tree of each process's PSS
    (its resident pages, one shared by k processes counted 1/k in each, so a forked worker's
    pages shared with its parent count once). 0 without Linux's /proc, or with sample_memory=False:
    the sampler's reads of /proc take CPU from the job, so a timed run goes without.
    """
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, **bytecode_env(), **(extra_env or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], tree_memory(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_memory:
        sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    if sample_memory:
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed (exit {proc.returncode}): {err[-1000:]}")
    return out, seconds, peak[0] / MB


def tree_memory(pid: int) -> int:
    """Bytes of `pid` and all its descendants: each one's PSS (else RSS), from /proc; 0 elsewhere."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += _process_memory(p)
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def _process_memory(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("Pss:"))
    except (OSError, StopIteration):
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --- the machine -----------------------------------------------------------------------------


def machine_info() -> dict:
    """What the figures were measured on, as far as this process can tell.

    No optional peer is imported to learn its version (importing `tokenizers` before
    bench_train sets RAYON_NUM_THREADS would give HF every core), so this is cheap.
    """
    import numpy

    import npllm

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
        "npllm": getattr(npllm, "__version__", "unknown"),
        "numpy": numpy.__version__,
        **blas_info(numpy),
        "regex": package_version("regex"),
    }
    return info | {name: package_version(name) for name in PEERS}


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
    threads = ", ".join(f"{k}={os.environ[k]}" for k in names if k in os.environ)
    info["blas threads (environment)"] = threads or "not set (BLAS default)"
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
    baseline could not run has `baseline_figure=None` and says why in `skipped`.
    `profile`, when given, is a zero-argument function that does any untimed preparation
    (a fresh Encoding, say) and returns the zero-argument call to profile (--profile).
    """

    name: str  # the hot path, e.g. "encode_ordinary warm, gpt2, tinyshakespeare"
    npllm: dict | None  # timeit() figures in `unit`; None when npllm did not run
    baseline: str = ""  # what npllm is compared with, e.g. "tiktoken encode_ordinary"
    baseline_figure: dict | None = None  # the baseline's timeit() figures in `unit`
    unit: str = "s"
    note: str = ""
    target: float | None = None  # ratio npllm / baseline should be at most this
    skipped: str | None = None  # why the baseline (or a part of the row) did not run; None: it ran
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
        names = ("name", "npllm", "baseline", "baseline_figure", "unit", "ratio", "target", "target_met")
        return {name: getattr(self, name) for name in names} | {"note": self.note, "skipped": self.skipped}


def skipped_rows(results: list[Result]) -> list[str]:
    """ "row: vs baseline: why" for each row with a `skipped` reason.
    [Result("warm", f, "tiktoken", skipped="tiktoken not installed")] -> ["warm: vs tiktoken: tiktoken not installed"]
    """
    return [f"{r.name}: vs {r.baseline or '-'}: {r.skipped}" for r in results if r.skipped]


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
    figure = "median (min-max, runs)"
    lines = [
        f"| hot path | npllm: {figure} | baseline | baseline: {figure} | ratio npllm/baseline | note |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        note = "; ".join(filter(None, [r.note, r.skipped and f"skipped: {r.skipped}"]))
        figures = [format_figure(r.npllm, r.unit), r.baseline or "-", format_figure(r.baseline_figure, r.unit)]
        cells = [r.name, *figures, format_ratio(r), note]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write_markdown(
    path: pathlib.Path, results: list[Result], machine: dict, *, header: list[str] = (), sections: list[str] = ()
) -> str:
    """The report: a dated title, `header` lines, the machine, the table, then free-form `sections`."""
    date = str(machine.get("date", ""))[:16].replace("T", " ")  # "2026-11-27 14:27"
    parts = [f"# npllm benchmarks, {date}" if date else "# npllm benchmarks", ""]
    if header:
        parts += [*header, ""]
    parts += ["## Machine", "", *(f"- {key}: {value}" for key, value in machine.items())]
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
