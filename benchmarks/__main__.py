"""python -m benchmarks [--quick] [--profile] [--only NAME]: run the benchmarks, write the report.

Every `benchmarks/bench_*.py` module is found by name and its `run(quick, profile)` called;
the rows it returns (`common.Result`) go to `benchmarks/results/latest.md` and `latest.json`,
and the table is printed to stdout at the end. Progress goes to stderr.

- `--quick`: fewer runs and smaller inputs, under a minute in all; the figures are indicative.
- `--profile`: for every row that names a profile target, the top lines of a cProfile of
  npllm's function (sorted by cumulative time) go into the markdown.
- `--only NAME`: one module, `encode` or `bench_encode`.

A bar chart of the ratios goes to `latest.png` when matplotlib is installed (it is optional).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import pathlib
import pkgutil
import pstats
import sys
import time
import traceback

from benchmarks.common import (
    Result,
    load_average,
    machine_info,
    markdown_table,
    progress,
    write_json,
    write_markdown,
)

HERE = pathlib.Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
PROFILE_LINES = 15


def discover() -> list[str]:
    """The benchmark modules, by name: ["bench_encode", ...]."""
    return sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller inputs (under a minute)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of each hot path to the markdown")
    parser.add_argument("--only", metavar="NAME", help="run one module, e.g. encode (or bench_encode)")
    args = parser.parse_args(argv)

    names = discover()
    if args.only:
        wanted = args.only if args.only.startswith("bench_") else f"bench_{args.only}"
        if wanted not in names:
            parser.error(f"no benchmark module {wanted!r}; known: {', '.join(names) or 'none'}")
        names = [wanted]

    started = time.perf_counter()
    machine = machine_info()
    results: list[Result] = []
    failures: list[str] = []  # "module: error", one per module that raised
    for name in names:
        progress(f"== {name} ({'quick' if args.quick else 'full'})")
        module_start = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            results += module.run(quick=args.quick, profile=args.profile)
        except Exception as e:  # one broken module must not lose the others' figures
            traceback.print_exc()
            failures.append(f"{name}: {type(e).__name__}: {e}")
            results.append(Result(name, None, note=f"FAILED: {type(e).__name__}: {e}"))
        progress(f"   {name} took {time.perf_counter() - module_start:.1f} s")

    profiles = {}  # row name -> markdown table of its cProfile
    if args.profile:
        for r in results:
            if r.profile is not None:
                progress(f"profiling {r.name}")
                profiles[r.name] = profile_markdown(r.profile)
            r.profile = None  # let go of the inputs and encodings it held

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    chart_note = draw_chart(results, RESULTS_DIR / "latest.png")
    elapsed = time.perf_counter() - started
    mode = "quick (fewer runs, smaller inputs: indicative figures)" if args.quick else "full"
    header = [
        f"- mode: {mode}",
        f"- command: python -m benchmarks {' '.join(sys.argv[1:] if argv is None else argv)}".rstrip(),
        f"- modules: {', '.join(names)}",
        f"- total time: {elapsed:.1f} s",
        f"- load average at the end: {load_average()} (other work on these cores skews the figures)",
        "- ratio = npllm median / baseline median: below 1 npllm is faster",
        f"- chart: {chart_note}",
    ]
    if failures:
        header.append(f"- FAILED: {'; '.join(failures)}")
    sections = []
    if profiles:
        sections.append(f"## Profiles (cProfile, top {PROFILE_LINES} by cumulative time)")
        for name, table in profiles.items():
            sections.append(f"### {name}\n\n{table}")
    write_markdown(RESULTS_DIR / "latest.md", results, machine, header=header, sections=sections)
    write_json(
        RESULTS_DIR / "latest.json",
        results,
        machine,
        mode="quick" if args.quick else "full",
        modules=names,
        elapsed_seconds=round(elapsed, 2),
        failures=failures,
        chart=chart_note,
        profiles=profiles,
    )
    progress(f"wrote {RESULTS_DIR / 'latest.md'} and latest.json in {elapsed:.1f} s")
    print(markdown_table(results))
    return 1 if failures else 0


def profile_markdown(target) -> str:
    """cProfile one call: `target()` prepares (untimed), returns the call; its top functions as a table.

    Shares are of the profiled total (the sum of every function's own time).
    """
    call = target()
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    stats = pstats.Stats(profiler).strip_dirs()
    total = stats.total_tt or 1e-12
    rows = [
        (func, entry)
        for func, entry in stats.stats.items()
        if func[2] != "<method 'disable' of '_lsprof.Profiler' objects>"
    ]
    rows.sort(key=lambda row: row[1][3], reverse=True)  # entry = (prim calls, calls, tottime, cumtime, callers)
    lines = [
        f"total {total:.3f} s (profiled, so slower than the timed runs)",
        "",
        "| cumtime s | cum % | tottime s | own % | calls | function |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for func, (prim, calls, tottime, cumtime, _) in rows[:PROFILE_LINES]:
        ncalls = str(calls) if calls == prim else f"{calls}/{prim}"
        where = pstats.func_std_string(func).replace("|", "\\|")
        lines.append(
            f"| {cumtime:.3f} | {100 * cumtime / total:.0f}% | {tottime:.3f} | {100 * tottime / total:.0f}% "
            f"| {ncalls} | `{where}` |"
        )
    return "\n".join(lines)


def draw_chart(results: list[Result], path: pathlib.Path) -> str:
    """A horizontal bar per ratio (log scale, a line at 1), or a note saying why there is none."""
    rows = [r for r in results if r.ratio is not None]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if path.exists():
            path.unlink()  # a chart from an older run would not match this table
        progress("chart skipped: matplotlib is not installed")
        return "skipped, matplotlib not installed"
    if not rows:
        return "skipped, no row has a ratio"
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.5))
    colors = ["tab:red" if r.target_met is False else "tab:blue" for r in rows]
    ax.barh([r.name for r in rows], [r.ratio for r in rows], color=colors)
    ax.axvline(1.0, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("npllm / baseline (log scale; below 1 npllm is faster; red: target missed)")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return f"{path.name}"


if __name__ == "__main__":
    sys.exit(main())
