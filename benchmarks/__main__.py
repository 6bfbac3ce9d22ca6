"""python -m benchmarks [--quick] [--profile] [--only NAME]: run the benchmarks, write the report.

Every `benchmarks/bench_*.py` module is found by name and its `run(quick, profile)` called;
the rows it returns (`common.Result`) go to `benchmarks/results/latest.md` and `latest.json`,
and the table is printed to stdout at the end. Progress and notes go to stderr.

- `--quick`: fewer runs, smaller inputs and fewer rows (each module's `QUICK` sizes), under a
  minute in all; the figures are indicative.
- `--profile`: for every row that names a profile target, the top lines of a cProfile of
  npllm's function (sorted by cumulative time) go into latest.md, under "Profiles".
- `--only NAME`: one module, `encode` or `bench_encode`.

latest.md opens with the date, then the mode and how long each module took, the machine
(CPU, cores, Python, NumPy and its BLAS, each optional peer's version), the table (npllm's
median and spread, the baseline's, their ratio, a note), the rows whose baseline was skipped
and why, and the profiles. An optional peer that is missing (tiktoken, torch, tokenizers,
matplotlib) is said so on stderr at the start, and every row it costs is listed at the end.

Modules run one after another in this process. Before each, whatever is alive is frozen out
of the garbage collector (gc.freeze): once one module has imported torch, each of the next
module's untimed gc.collect calls (one per timed run) would otherwise take ~0.1 s.

tiktoken reads its vocabularies from `TIKTOKEN_CACHE_DIR`; when that is unset, the runner
points it at a temporary folder filled from npllm's bundled files, so no row downloads.

A bar chart of the ratios goes to `latest.png` when matplotlib is installed (the `plot`
extra); without it the report says the chart was skipped, and an older chart is removed.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import importlib.util
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
    ratio_text,
    skipped,
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
    parser.add_argument("--quick", action="store_true", help="fewer runs, smaller inputs (under a minute)")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of each hot path to latest.md")
    parser.add_argument("--only", metavar="NAME", help="run one module, e.g. encode (or bench_encode)")
    args = parser.parse_args(argv)
    args.modules = discover()
    if args.only:
        wanted = args.only if args.only.startswith("bench_") else f"bench_{args.only}"
        if wanted not in args.modules:
            parser.error(f"no benchmark module {wanted!r}; known: {', '.join(args.modules) or 'none'}")
        args.modules = [wanted]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = args.modules
    started = time.perf_counter()
    machine = machine_info()
    missing = missing_peers(machine)  # package -> what goes without it
    for name, what in missing.items():
        progress(f"note: {name} is not installed: {what} will be skipped")
    tiktoken_offline()

    results: list[Result] = []
    failures: list[str] = []  # "module: error", one per module that raised
    module_seconds = {}  # module name -> seconds it took
    for name in names:
        progress(f"== {name} ({'quick' if args.quick else 'full'})")
        gc.collect()
        gc.freeze()  # what earlier modules left (torch's ~150,000 objects) would make every gc.collect dear
        module_start = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.{name}")
            results += module.run(quick=args.quick, profile=args.profile)
        except Exception as e:  # one broken module must not lose the others' figures
            traceback.print_exc()
            failures.append(f"{name}: {type(e).__name__}: {e}")
            results.append(Result(name, None, note=f"FAILED: {type(e).__name__}: {e}"))
        module_seconds[name] = round(time.perf_counter() - module_start, 1)
        progress(f"   {name} took {module_seconds[name]:.1f} s")
    gc.unfreeze()

    profiles = {}  # row name -> markdown table of its cProfile
    for r in results:
        if args.profile and r.profile is not None and r.name not in profiles:
            progress(f"profiling {r.name}")
            try:
                profiles[r.name] = profile_markdown(r.profile)
            except Exception as e:  # a broken target must not lose the table
                traceback.print_exc()
                profiles[r.name] = f"FAILED: {type(e).__name__}: {e}"
        r.profile = None  # let go of the inputs and encodings it held

    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    mode = "quick" if args.quick else "full"
    chart_note = draw_chart(results, RESULTS_DIR / "latest.png", title=f"{machine['date'][:10]}, {mode}")
    skipped_rows = skipped(results)
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
        f"- skipped: {len(skipped_rows)} rows (listed under Skipped)" if skipped_rows else "- skipped: none",
        f"- profiles: {len(profiles)}, under Profiles" if args.profile else "- profiles: not taken (--profile)",
        f"- chart: {chart_note}",
    ]
    if failures:
        header.append(f"- FAILED: {'; '.join(failures)}")
    sections = []
    if skipped_rows:
        sections.append("## Skipped\n\n" + "\n".join(f"- {line}" for line in skipped_rows))
    if profiles:
        sections.append(f"## Profiles (cProfile, top {PROFILE_LINES} by cumulative time)")
        sections += [f"### {name}\n\n{table}" for name, table in profiles.items()]
    write_markdown(RESULTS_DIR / "latest.md", results, machine, header=header, sections=sections)
    write_json(
        RESULTS_DIR / "latest.json",
        results,
        machine,
        mode=mode,
        command=command,
        modules=module_seconds,
        elapsed_seconds=round(elapsed, 2),
        spread=SPREAD,
        failures=failures,
        skipped=skipped_rows,
        missing_peers=missing,
        chart=chart_note,
        profiles=profiles,
    )
    for line in skipped_rows:
        progress(f"skipped: {line}")
    progress(f"wrote {RESULTS_DIR / 'latest.md'} and latest.json in {elapsed:.1f} s; chart: {chart_note}")
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


def draw_chart(results: list[Result], path: pathlib.Path, title: str = "") -> str:
    """A horizontal bar per ratio, from the line at 1 (log scale), or a note saying why there is none.

    Left of the line npllm is faster, right of it the baseline is; red: a target missed.
    matplotlib is imported here, not at the top: it is optional (the `plot` extra).
    """
    rows = [r for r in results if r.ratio is not None]
    if path.exists():
        path.unlink()  # a chart from an older run would not match this table
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter
    except ImportError as e:
        absent = importlib.util.find_spec("matplotlib") is None  # else it is there, but broken
        why = "matplotlib not installed" if absent else f"matplotlib failed to import ({e})"
        progress(f'note: chart skipped: {why} (pip install -e ".[plot]" draws it)')
        return f"skipped, {why}"
    if not rows:
        return "skipped, no row has a ratio"
    try:
        ratios = [r.ratio for r in rows]
        labels = [_label(r) for r in rows]
        colors = ["tab:red" if r.target_met is False else "tab:green" if r.ratio < 1 else "tab:orange" for r in rows]
        fig = Figure(figsize=(12, 0.22 * len(rows) + 1.6))
        FigureCanvasAgg(fig)  # the Agg backend, for this figure only: no global pyplot state
        ax = fig.add_subplot()
        y = list(range(len(rows)))
        ax.barh(y, [abs(1 - q) for q in ratios], left=[min(q, 1.0) for q in ratios], color=colors, height=0.7)
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))  # 0.1x, 1x, 10x
        ax.set_xlim(min(*ratios, 0.1) / 10, max(*ratios, 10.0) * 10)  # room on both sides for the labels
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=6)
        ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
        for i, (q, r) in enumerate(zip(ratios, rows)):
            text = ratio_text(q) + (" (target missed)" if r.target_met is False else "")
            ax.text(q, i, f" {text} ", va="center", ha="left" if q >= 1 else "right", fontsize=6)
        on_x = ax.get_xaxis_transform()  # x in data, y in axes coordinates
        ax.text(1.0, 1.0, "npllm faster  ", transform=on_x, ha="right", va="bottom", fontsize=8, color="tab:green")
        ax.text(1.0, 1.0, "  baseline faster", transform=on_x, ha="left", va="bottom", fontsize=8, color="tab:orange")
        ax.set_xlabel("npllm median / baseline median (log scale); red: a target missed")
        ax.set_title(f"npllm against its baselines{', ' + title if title else ''}", fontsize=9, pad=14)
        ax.grid(axis="x", which="major", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    except Exception as e:  # a chart must not cost the table
        traceback.print_exc()
        progress(f"note: chart failed: {type(e).__name__}: {e}")
        return f"failed, {type(e).__name__}: {e}"
    return path.name


def _label(r: Result) -> str:
    """ "encode_ordinary warm, gpt2, tinyshakespeare (1.12 MB) vs tiktoken encode_ordinary (1 thread)", shortened."""
    return f"{_shorten(r.name, 80)} vs {_shorten(r.baseline, 65)}"


def _shorten(text: str, width: int) -> str:
    """At most `width` characters, cut in the middle, where rows of one family repeat themselves:
    _shorten("scatter-add rows: npllm.scatter 'sorted'", 30) -> "scatter-add r...atter 'sorted'"."""
    if len(text) <= width:
        return text
    head = (width - 3) // 2
    return text[:head] + "..." + text[len(text) - (width - 3 - head) :]


if __name__ == "__main__":
    sys.exit(main())
