"""python -m benchmarks [--quick] [--profile] [--investigate] [--only NAME]: run the benchmarks, write the report.

Every `benchmarks/bench_*.py` module is found by name and its `run(quick)` called; the rows it
returns (`common.Result`) go to `benchmarks/results/latest.md` and `latest.json`, and the table
is printed to stdout at the end. Progress and notes go to stderr.

- `--quick`: fewer runs, smaller inputs and fewer rows (each module's `QUICK` sizes), about a
  minute in all; the figures are indicative.
- `--profile`: for every row that names a profile target, the top lines of a cProfile of
  npllm's function (sorted by cumulative time) go into latest.md, under "Profiles".
- `--investigate`: also the experiments of `investigate.py` (merge_long against merge_short,
  torch's steps with huge pages), and a chart of the ratios, `latest.png`, with matplotlib.
- `--only NAME`: one module, `encode` or `bench_encode`.

latest.md opens with the date, then the mode and how long each module took, the machine (CPU,
cores, Python, NumPy and its BLAS, each optional peer's version), the table (npllm's median and
spread, the baseline's, their ratio, a note), the rows whose baseline was skipped and why, and
the profiles. An optional peer that is missing is said so on stderr at the start.

Modules run one after another in this process. Before each, whatever is alive is frozen out of
the garbage collector (gc.freeze): once one module has imported torch, each of the next module's
untimed gc.collect calls would otherwise take ~0.1 s. tiktoken reads its vocabularies from
`TIKTOKEN_CACHE_DIR`; when that is unset, the runner points it at a temporary folder filled from
npllm's bundled files, so no row downloads.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import io
import pathlib
import pkgutil
import pstats
import sys
import time
import traceback

from benchmarks.common import (
    PEERS,
    SPREAD,
    Result,
    load_average,
    machine_info,
    markdown_table,
    missing_peers,
    progress,
    skipped_rows,
    tiktoken_offline,
    write_json,
    write_markdown,
)

HERE = pathlib.Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
PROFILE_LINES = 15


def discover() -> list[str]:
    """The benchmark modules, by name: ["bench_embedding", "bench_encode", ...]."""
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller inputs (about a minute)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of each hot path to latest.md")
    parser.add_argument("--investigate", action="store_true", help="also run investigate.py and draw latest.png")
    parser.add_argument("--only", metavar="NAME", help="run one module, e.g. encode (or bench_encode)")
    args = parser.parse_args(argv)
    args.modules = discover()
    if args.only:
        wanted = args.only if args.only.startswith("bench_") else f"bench_{args.only}"
        if wanted not in args.modules:
            parser.error(f"no benchmark module {wanted!r}; known: {', '.join(args.modules) or 'none'}")
        args.modules = [wanted]
    if args.investigate:
        args.modules.append("investigate")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    machine = machine_info()
    missing = missing_peers(machine)  # package -> what goes without it
    for name, what in missing.items():
        progress(f"note: {name} is not installed: {what} will be skipped")
    tiktoken_offline()
    results, failures, module_seconds = run_modules(args.modules, args.quick)

    profiles = {}  # row name -> its cProfile, as text
    for r in results:
        if args.profile and r.profile is not None and r.name not in profiles:
            progress(f"profiling {r.name}")
            profiles[r.name] = profile_text(r.profile)
        r.profile = None  # let go of the inputs and encodings it held

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    mode = "quick" if args.quick else "full"
    chart_note = "not drawn (--investigate draws it)"
    (RESULTS_DIR / "latest.png").unlink(missing_ok=True)  # a chart from an older run would not match this table
    if args.investigate:
        from benchmarks.investigate import draw_chart

        chart_note = draw_chart(results, RESULTS_DIR / "latest.png", title=f"{machine['date'][:10]}, {mode}")
    skipped = skipped_rows(results)
    elapsed = time.perf_counter() - started
    command = f"python -m benchmarks {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip()
    header = [
        f"- mode: {'quick (fewer runs, smaller inputs, fewer rows: indicative figures)' if args.quick else 'full'}",
        f"- command: {command}",
        f"- modules: {', '.join(f'{n} {s:.1f} s' for n, s in module_seconds.items())}",
        f"- total time: {elapsed:.1f} s",
        f"- load average at the end: {load_average()} (other work on these cores skews the figures)",
        "- ratio = npllm median / baseline median: below 1 npllm is faster",
        f"- spread: the parentheses after each median give the {SPREAD} and their number n",
        "- optional peers: " + ", ".join(f"{name} {machine[name]}" for name in PEERS),
        f"- skipped: {len(skipped)} rows (listed under Skipped)" if skipped else "- skipped: none",
        f"- profiles: {len(profiles)}, under Profiles" if args.profile else "- profiles: not taken (--profile)",
        f"- chart: {chart_note}",
    ]
    if failures:
        header.append(f"- FAILED: {'; '.join(failures)}")
    sections = ["## Skipped\n\n" + "\n".join(f"- {line}" for line in skipped)] if skipped else []
    if profiles:
        sections.append(f"## Profiles (cProfile, top {PROFILE_LINES} by cumulative time)")
        sections += [f"### {name}\n\n{text}" for name, text in profiles.items()]
    write_markdown(RESULTS_DIR / "latest.md", results, machine, header=header, sections=sections)
    extra = dict(mode=mode, command=command, modules=module_seconds, elapsed_seconds=round(elapsed, 2), spread=SPREAD)
    extra |= dict(failures=failures, skipped=skipped, missing_peers=missing, chart=chart_note, profiles=profiles)
    write_json(RESULTS_DIR / "latest.json", results, machine, **extra)
    for line in skipped:
        progress(f"skipped: {line}")
    progress(f"wrote {RESULTS_DIR / 'latest.md'} and latest.json in {elapsed:.1f} s; chart: {chart_note}")
    print(markdown_table(results))
    return 1 if failures else 0


def run_modules(names: list[str], quick: bool) -> tuple[list[Result], list[str], dict[str, float]]:
    """Each module's run(quick), one after another: (all their rows, "module: error" per module
    that raised, module name -> seconds it took). A broken module must not lose the others' figures."""
    results, failures, seconds = [], [], {}
    for name in names:
        progress(f"== {name} ({'quick' if quick else 'full'})")
        gc.collect()
        gc.freeze()  # what earlier modules left (torch's ~150,000 objects) would make every gc.collect dear
        start = time.perf_counter()
        try:
            results += importlib.import_module(f"benchmarks.{name}").run(quick=quick)
        except Exception as e:
            traceback.print_exc()
            failures.append(f"{name}: {type(e).__name__}: {e}")
            results.append(Result(name, None, note=f"FAILED: {type(e).__name__}: {e}"))
        seconds[name] = round(time.perf_counter() - start, 1)
        progress(f"   {name} took {seconds[name]:.1f} s")
    gc.unfreeze()
    return results, failures, seconds


def profile_text(target) -> str:
    """cProfile one call: `target()` prepares (untimed) and returns the call; the top functions by
    cumulative time, as pstats prints them, in a code block. A broken target gives its error."""
    try:
        call = target()
        profiler = cProfile.Profile()
        profiler.runcall(call)
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(PROFILE_LINES)
    except Exception as e:  # a broken target must not lose the table
        traceback.print_exc()
        return f"FAILED: {type(e).__name__}: {e}"
    return "```text\n" + out.getvalue().strip() + "\n```"


if __name__ == "__main__":
    sys.exit(main())
