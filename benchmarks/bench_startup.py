"""Startup: what a short script or a command-line call pays before its first token.

Each figure is one fresh `python -c` process (so nothing is cached in the interpreter), timed
from the parent by wall clock, npllm's and tiktoken's in turn, median of the runs:

- `import npllm` against `import tiktoken` (the interpreter's own start, `python -c pass`, is
  measured too and subtracted from both, so the row compares the imports alone).
- `get_encoding(name)` plus one `encode("hello world")`, for gpt2, cl100k_base and o200k_base:
  npllm reads its bundled, gzipped rank file (gunzip, sha256 check, parse); tiktoken reads its
  cache folder (`TIKTOKEN_CACHE_DIR`; the runner fills a temporary one from npllm's bundled
  files when it is unset, so tiktoken never downloads).
- The bundled vocabularies themselves: bytes on disk (gzip) against the published files.

`python -X importtime` gives the rows that name causes, medians of the same runs' counts:
- `import npllm` against `import tiktoken`, the cumulative time of the package's own line
  (the interpreter's start is not in it); the slowest imports inside go in the note;
- the imports a first encode makes (`import npllm; get_encoding(...).encode(...)`), the sum
  over the modules it imports, against tiktoken's: how much of the first-encode row is imports.

The child processes are what a user gets after `pip install`:
- NPLLM_DATA_DIR is unset, so npllm reads the vocabularies bundled in the package;
- modules load from bytecode (`common.bytecode_env`): pip compiles an installed package;
  without this, an editable checkout under PYTHONDONTWRITEBYTECODE=1 (CI, sandboxes) would
  recompile npllm's source in every process while tiktoken loads its .pyc files.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys

from benchmarks.common import Result, bytecode_env, interleaved, not_installed, progress, summarize
from npllm import data

ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")
FULL = {"repeat": 7}  # fresh processes per figure
QUICK = {"repeat": 3}
IMPORT_TARGET = 2.0  # import npllm / import tiktoken (issue: at most 2x)
FIRST_ENCODE_TARGET = 1.0  # get_encoding + first encode, npllm / tiktoken


def run(quick: bool) -> list[Result]:
    repeat = (QUICK if quick else FULL)["repeat"]
    env, why = _child_env(), not_installed("tiktoken")
    rows = [_import_row(env, repeat, why), _importtime_import_row(env, repeat, why)]
    rows += [_first_encode_row(name, env, repeat, why) for name in ENCODINGS]
    rows.append(_importtime_first_encode_row("cl100k_base", env, repeat, why))
    rows.append(_size_row())
    return rows


def _child_env() -> dict:
    """This process's environment (the runner has set TIKTOKEN_CACHE_DIR: `common.tiktoken_offline`),
    without NPLLM_DATA_DIR (the bundled vocabularies) and with a bytecode cache of its own."""
    env = {**os.environ, **bytecode_env()}
    env.pop("NPLLM_DATA_DIR", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _processes(codes: dict[str, str], env: dict, repeat: int) -> dict[str, dict]:
    """{label: seconds figures} of `python -c code`, a fresh process per run, the codes in turn; one
    warm-up round first (it fills the OS's file cache, as any second run of a script finds it)."""
    run_one = functools.partial(subprocess.run, env=env, check=True, stdout=subprocess.DEVNULL)
    calls = {label: functools.partial(run_one, [sys.executable, "-c", code]) for label, code in codes.items()}
    return interleaved(calls, repeat, warmup=1)


# --- the rows ------------------------------------------------------------------------------------------


def _import_row(env: dict, repeat: int, why: str | None) -> Result:
    progress("startup: import npllm / import tiktoken")
    codes = {"python": "pass", "npllm": "import npllm"} | ({} if why else {"tiktoken": "import tiktoken"})
    figures = _processes(codes, env, repeat)
    interpreter = figures["python"]["median"]
    note = f"the interpreter's own start ({interpreter * 1e3:.0f} ms) subtracted from both"
    if figures["npllm"]["median"] - interpreter < 1e-3:
        note += "; npllm's import is within the noise of that subtraction: see the -X importtime row"
    ours, theirs = (_minus(figures.get(k), interpreter) for k in ("npllm", "tiktoken"))
    return Result("import npllm", ours, "import tiktoken", theirs, note=note, target=IMPORT_TARGET, skipped=why)


def _minus(figure: dict | None, seconds: float) -> dict | None:
    return figure and summarize([max(r - seconds, 1e-6) for r in figure["runs"]])


def _first_encode_row(name: str, env: dict, repeat: int, why: str | None) -> Result:
    progress(f"startup: get_encoding({name!r}) + first encode")
    call = f"get_encoding({name!r}).encode('hello world')"
    codes = {"npllm": f"import npllm; npllm.{call}"} | (
        {} if why else {"tiktoken": f"import tiktoken; tiktoken.{call}"}
    )
    figures = _processes(codes, env, repeat)
    rank_file = data.REBUILT_FROM.get("gpt2/vocab.bpe") if name == "gpt2" else f"{name}.tiktoken"
    packed = (data.bundled_dir() / f"{rank_file}.gz").stat().st_size
    note = f"whole process, interpreter start included; npllm reads {rank_file}.gz ({packed / 1e6:.2f} MB)"
    note += " from the package"
    return Result(
        f"import + get_encoding + first encode, {name}",
        figures["npllm"],
        "tiktoken, vocabulary in its cache",
        figures.get("tiktoken"),
        note=note,
        target=FIRST_ENCODE_TARGET,
        skipped=why,
    )


def _size_row() -> Result:
    """Bytes, not seconds: the bundled vocabularies against the published files."""
    bundled = sorted(data.bundled_dir().glob("*.gz"))
    packed = sum(p.stat().st_size for p in bundled)
    published = sum(len(data.read_bytes(p.name[: -len(".gz")])) for p in bundled)
    note = f"gzip -9 of {', '.join(p.name for p in bundled)}; GPT-2's encoder.json + vocab.bpe are rebuilt from "
    note += "r50k_base, not shipped"
    name = "bundled vocabularies, bytes in the package"
    return Result(
        name, summarize([packed / 1e6]), "the published .tiktoken files", summarize([published / 1e6]), "MB", note
    )


def _importtime_import_row(env: dict, repeat: int, why: str | None) -> Result:
    progress("startup: python -X importtime, import npllm / import tiktoken")
    npllm_runs, tiktoken_runs = [], []
    for i in range(repeat + 1):  # the first round untimed, as in _processes
        log = _importtime("import npllm", env)
        ref_log = [] if why else _importtime("import tiktoken", env)
        if i > 0:
            npllm_runs.append(sum(seconds for _, seconds, name in log if name == "npllm"))
            tiktoken_runs += [seconds for _, seconds, name in ref_log if name == "tiktoken"]
    return Result(
        "import npllm, python -X importtime",
        summarize(npllm_runs),
        "import tiktoken, python -X importtime",
        summarize(tiktoken_runs) if tiktoken_runs else None,
        note="cumulative time of the package's own import line; " + _slowest_inside(log, "npllm"),
        target=IMPORT_TARGET,
        skipped=why,
    )


def _importtime_first_encode_row(name: str, env: dict, repeat: int, why: str | None) -> Result:
    progress(f"startup: python -X importtime, imports of get_encoding({name!r}) + first encode")
    call = f"get_encoding({name!r}).encode('hello world')"
    npllm_runs, tiktoken_runs = [], []
    for i in range(repeat + 1):  # the first round untimed
        imported = _top_level_after_site(_importtime(f"import npllm; npllm.{call}", env))
        ref_imported = [] if why else _top_level_after_site(_importtime(f"import tiktoken; tiktoken.{call}", env))
        if i > 0:
            npllm_runs.append(sum(seconds for _, seconds in imported))
            if ref_imported:
                tiktoken_runs.append(sum(seconds for _, seconds in ref_imported))
    modules = ", ".join(module for module, _ in imported)
    return Result(
        f"imports of import + get_encoding + first encode, {name}, python -X importtime",
        summarize(npllm_runs),
        "tiktoken's, python -X importtime",
        summarize(tiktoken_runs) if tiktoken_runs else None,
        note=f"no target: the share of the first-encode row that is imports; npllm imports {modules}",
        skipped=why,
    )


# --- python -X importtime -------------------------------------------------------------------------


def _importtime(code: str, env: dict) -> list[tuple[int, float, str]]:
    """(depth, cumulative seconds, module) per line of `python -X importtime -c code`, in order."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, module = line[len("import time:") :].split("|")
        if cumulative.strip().isdigit():
            depth = (len(module) - len(module.lstrip(" ")) - 1) // 2  # two spaces a level
            rows.append((depth, int(cumulative) / 1e6, module.strip()))
    return rows


def _top_level_after_site(log: list[tuple[int, float, str]]) -> list[tuple[str, float]]:
    """(module, cumulative seconds) of each top-level import after the interpreter's start
    (which ends with `site`): what the -c code itself imported, nested imports counted once."""
    names = [name for depth, _, name in log if depth == 0]
    start = names.index("site") + 1 if "site" in names else 0
    return [(name, seconds) for depth, seconds, name in log if depth == 0][start:]


def _slowest_inside(log: list[tuple[int, float, str]], package: str, n: int = 3) -> str:
    """The `n` slowest imports under `package`'s own top-level line (cumulative). A module's
    line comes after the lines of what it imports, so those are the lines since the last
    top-level one."""
    end = next(i for i, (depth, _, name) in enumerate(log) if depth == 0 and name == package)
    begin = max((i + 1 for i, (depth, _, _) in enumerate(log[:end]) if depth == 0), default=0)
    inside = sorted(((seconds, name) for _, seconds, name in log[begin:end]), reverse=True)
    top = [f"{name} {seconds * 1e3:.1f} ms" for seconds, name in inside[:n]]
    return f"slowest imports inside: {', '.join(top)}" if top else f"{package} imports nothing else"
