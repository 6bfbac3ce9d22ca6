"""Startup: what a short script or a command-line call pays before its first token.

Each figure is one fresh `python -c` process (so nothing is cached in the interpreter), timed
from the parent by wall clock, interleaved npllm / tiktoken, median of the runs:

- `import npllm` against `import tiktoken` (the interpreter's own start, `python -c pass`, is
  measured too and subtracted from both, so the row compares the imports alone).
- `get_encoding(name)` plus one `encode("hello world")`, for gpt2, cl100k_base and o200k_base:
  npllm reads its bundled, gzipped rank file (gunzip, sha256 check, parse); tiktoken reads its
  cache folder (`TIKTOKEN_CACHE_DIR`; the runner fills a temporary one from npllm's bundled
  files when it is unset, so tiktoken never downloads).
- The bundled vocabularies themselves: bytes on disk (gzip) against the published files.

`python -X importtime -c "import npllm"` is run once and its top entries (cumulative import
time) are noted on the import row, so a slow import names its cause.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from npllm import data

from benchmarks.common import Result, progress, summarize

ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")
FULL = {"repeat": 7}  # fresh processes per figure
QUICK = {"repeat": 3}
IMPORT_TARGET = 2.0  # import npllm / import tiktoken (issue: at most 2x)
FIRST_ENCODE_TARGET = 1.0  # get_encoding + first encode, npllm / tiktoken


def run(quick: bool, profile: bool) -> list[Result]:
    repeat = (QUICK if quick else FULL)["repeat"]
    env = _tiktoken_env()
    rows = [_import_row(env, repeat)]
    for name in ENCODINGS:
        rows.append(_first_encode_row(name, env, repeat))
    rows.append(_size_row())
    return rows


# --- one process per run --------------------------------------------------------------------------


def _seconds(code: str, env: dict) -> float:
    """Wall-clock seconds of `python -c code` in a fresh process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _interleaved(codes: dict[str, str], env: dict, repeat: int) -> dict[str, dict]:
    """{label: timeit-style figures}, the processes started in turn, one warm-up round first
    (it fills the OS's file cache, as any second run of a script finds it)."""
    runs = {label: [] for label in codes}
    for i in range(repeat + 1):
        for label, code in codes.items():
            seconds = _seconds(code, env)
            if i > 0:
                runs[label].append(seconds)
    return {label: summarize(r) for label, r in runs.items()}


def _tiktoken_available(env: dict) -> str:
    """"" when tiktoken imports in a child process, else why not."""
    done = subprocess.run([sys.executable, "-c", "import tiktoken"], env=env, capture_output=True, text=True)
    return "" if done.returncode == 0 else "tiktoken is not installed"


def _tiktoken_env() -> dict:
    """This process's environment (the runner has set TIKTOKEN_CACHE_DIR: `common.tiktoken_offline`)."""
    return dict(os.environ)


def _minus(stats: dict, seconds: float) -> dict:
    runs = [max(r - seconds, 1e-6) for r in stats["runs"]]
    return summarize(runs)


# --- the rows ------------------------------------------------------------------------------------------


def _import_row(env: dict, repeat: int) -> Result:
    progress("startup: import npllm / import tiktoken")
    why = _tiktoken_available(env)
    codes = {"python": "pass", "npllm": "import npllm"}
    if not why:
        codes["tiktoken"] = "import tiktoken"
    figures = _interleaved(codes, env, repeat)
    interpreter = figures["python"]["median"]
    note = f"the interpreter's own start ({interpreter * 1e3:.0f} ms) subtracted from both; " + _importtime_top(env)
    return Result(
        name="import npllm",
        npllm=_minus(figures["npllm"], interpreter),
        baseline="import tiktoken" if not why else f"import tiktoken (skipped: {why})",
        baseline_figure=_minus(figures["tiktoken"], interpreter) if not why else None,
        note=note,
        target=IMPORT_TARGET,
    )


def _first_encode_row(name: str, env: dict, repeat: int) -> Result:
    progress(f"startup: get_encoding({name!r}) + first encode")
    why = _tiktoken_available(env)
    call = f"get_encoding({name!r}).encode('hello world')"
    codes = {"npllm": f"import npllm; npllm.{call}"}
    if not why:
        codes["tiktoken"] = f"import tiktoken; tiktoken.{call}"
    figures = _interleaved(codes, env, repeat)
    rank_file = data.REBUILT_FROM.get("gpt2/vocab.bpe") if name == "gpt2" else f"{name}.tiktoken"
    packed = (data.bundled_dir() / f"{rank_file}.gz").stat().st_size
    return Result(
        name=f"import + get_encoding + first encode, {name}",
        npllm=figures["npllm"],
        baseline="tiktoken, vocabulary in its cache" if not why else f"tiktoken (skipped: {why})",
        baseline_figure=figures.get("tiktoken"),
        note=f"whole process, interpreter start included; npllm reads {rank_file}.gz ({packed / 1e6:.2f} MB) from the package",
        target=FIRST_ENCODE_TARGET,
    )


def _size_row() -> Result:
    """Bytes, not seconds: the bundled vocabularies against the published files."""
    packed = sum(p.stat().st_size for p in data.bundled_dir().glob("*.gz"))
    published = sum(len(data.read_bytes(p.name[: -len(".gz")])) for p in data.bundled_dir().glob("*.gz"))
    names = ", ".join(sorted(p.name for p in data.bundled_dir().glob("*.gz")))
    return Result(
        name="bundled vocabularies, bytes in the package",
        npllm=summarize([packed / 1e6]),
        baseline="the published .tiktoken files",
        baseline_figure=summarize([published / 1e6]),
        unit="MB",
        note=f"gzip -9 of {names}; GPT-2's encoder.json + vocab.bpe are rebuilt from r50k_base, not shipped",
    )


def _importtime_top(env: dict, n: int = 3) -> str:
    """The `n` slowest imports under `import npllm` (cumulative), from `python -X importtime`."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import npllm"], env=env, capture_output=True, text=True)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        parts = [p.strip() for p in line[len("import time:") :].split("|")]
        if parts[1].isdigit():
            rows.append((int(parts[1]), parts[2].strip()))
    rows.sort(reverse=True)
    top = [f"{name} {us / 1e3:.0f} ms" for us, name in rows[1 : n + 1]]  # [0] is npllm itself
    return "slowest imports inside: " + ", ".join(top)
