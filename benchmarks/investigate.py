"""python -m benchmarks --investigate: experiments beside the rows the issues are judged on.

Each settles a constant or explains a figure, and costs time the default run need not spend:

- `merge_long` against `merge_short` on random pieces of 16-1024 bytes (gpt2's ranks): where
  `LONG_PIECE` in npllm/bpe/merge.py belongs, said in a last row;
- `merge_bulk.merge_pieces` against one `merge_ids` call per piece, on 128 to 4,096 of
  tinyshakespeare's new pieces: where `BATCH_PIECES` in npllm/bpe/merge.py belongs;
- the word cache's path against the plain one as more spaces are doubled (indentation makes
  empty parts, which cannot stand alone): where `UNSAFE_SHARE` in npllm/bpe/spaced.py belongs;
- torch's embedding steps without optimizer (bench_embedding's) with THP_MEM_ALLOC_ENABLE=1, in
  a fresh process: torch's CPU allocator then asks for transparent huge pages (madvise), as
  NumPy does for large arrays by default, so the fresh buffers of each step (a dense step's
  (V, D) gradient, the (B, T, D) output) take up to 512x fewer page faults. Against npllm's
  same steps, timed in this process;
- `draw_chart`: a bar per ratio, `results/latest.png`, when matplotlib is installed.
"""

from __future__ import annotations

import functools
import json
import operator
import pathlib
import random
import sys
import traceback

import numpy as np

import npllm
from benchmarks import embedding_steps as steps
from benchmarks.common import Result, interleaved, optional, progress, ratio_text, run_process, scale, timeit
from npllm import data
from npllm.bpe.merge import BATCH_PIECES, LONG_PIECE, merge_ids, merge_long, merge_short
from npllm.bpe.merge_bulk import merge_pieces
from npllm.bpe.spaced import UNSAFE_SHARE, chunk_values

MERGE_ALPHABET = b"abcde"  # few letters: many merges per piece, as in a long word or blob
THP = "THP_MEM_ALLOC_ENABLE=1"  # torch's opt-in to transparent huge pages, which NumPy asks for by default


def run(quick: bool) -> list[Result]:
    return _merge_rows(quick) + _together_rows(quick) + _unsafe_share_rows(quick) + _huge_page_rows(quick)


# --- merge_long against merge_short ----------------------------------------------------------


def _merge_rows(quick: bool) -> list[Result]:
    """merge_long against merge_short per piece length; the crossover says where LONG_PIECE belongs."""
    lengths, total_bytes, repeat = (
        ((32, 64, 128, 256), 6_000, 3) if quick else ((16, 32, 64, 128, 256, 512, 1024), 64_000, 5)
    )
    ranks = npllm.get_encoding("gpt2").mergeable_ranks  # bytes -> int
    rng = random.Random(0)
    rows, ratios = [], {}  # ratios: piece length -> merge_long / merge_short
    progress("investigate: merge_short vs merge_long")
    for n in lengths:
        count = max(8, total_bytes // n)
        pieces = [bytes(rng.choices(MERGE_ALPHABET, k=n)) for _ in range(count)]
        if any(merge_short(ranks, p) != merge_long(ranks, p) for p in pieces):
            raise AssertionError(f"merge_short and merge_long disagree on a {n}-byte piece")
        per_piece = 1e6 / count  # seconds per batch -> microseconds per piece
        long = scale(timeit(lambda: [merge_long(ranks, p) for p in pieces], repeat), per_piece)
        short = scale(timeit(lambda: [merge_short(ranks, p) for p in pieces], repeat), per_piece)
        ratios[n] = long["median"] / short["median"]
        chosen = "merge_long" if n >= LONG_PIECE else "merge_short"
        note = f"{count} random pieces over {MERGE_ALPHABET.decode()!r}; encode_piece uses {chosen}"
        name = f"merge_long vs merge_short, {n}-byte pieces, gpt2"
        rows.append(Result(name, long, "merge_short", short, "us/piece", note))
    return rows + [Result("LONG_PIECE threshold", None, note=_crossover_note(ratios))]


def _crossover_note(ratios: dict[int, float]) -> str:
    """Where merge_long starts to win for good: {64: 1.1, 128: 0.6, 256: 0.4} -> 128."""
    lengths = sorted(ratios)
    crossover = next((n for i, n in enumerate(lengths) if all(ratios[m] < 1 for m in lengths[i:])), None)
    if crossover is None:
        return f"merge_long never wins for good up to {lengths[-1]} bytes; LONG_PIECE = {LONG_PIECE} should rise"
    at_threshold = ratios.get(LONG_PIECE)  # merge_long / merge_short at LONG_PIECE bytes, if timed
    keep = crossover == LONG_PIECE or (crossover < LONG_PIECE and (at_threshold or 0) > 0.8)
    verdict = "keep it" if keep else f"consider LONG_PIECE = {crossover}"
    return f"merge_long faster from {crossover}-byte pieces up; LONG_PIECE = {LONG_PIECE} now: {verdict}"


# --- merge_pieces against the loop, as the new pieces grow in number -----------------------------


def _together_rows(quick: bool) -> list[Result]:
    """merge_pieces against one merge_ids call per piece, on n of a cold text's new pieces; the
    crossover says where BATCH_PIECES belongs (numpy_pays, when NumPy is loaded already)."""
    enc = npllm.get_encoding("gpt2")
    ranks = enc.mergeable_ranks
    words = map(str.encode, enc._split(data.read_text("tinyshakespeare.txt")))
    new = [p for p in dict.fromkeys(words) if p not in ranks and len(p) < LONG_PIECE]  # 5,000-odd
    random.Random(0).shuffle(new)
    counts, repeat = ((256, 1024, 4096), 3) if quick else ((128, 256, 512, 1024, 2048, 4096), 7)
    rows, ratios = [], {}
    progress("investigate: merge_pieces vs the loop")
    for n in counts:
        pieces = new[:n]
        if merge_pieces(ranks, pieces) != [tuple(merge_ids(ranks, p)) for p in pieces]:
            raise AssertionError(f"merge_pieces and merge_ids disagree on {n} pieces")
        figures = interleaved(
            {
                "together": lambda: merge_pieces(ranks, pieces),
                "loop": lambda: [tuple(merge_ids(ranks, p)) for p in pieces],
            },
            repeat,
        )
        ratios[n] = figures["together"]["median"] / figures["loop"]["median"]
        per_piece = 1e6 / n  # seconds -> microseconds per piece
        name = f"merge_pieces vs the loop, {n:,} of tinyshakespeare's new pieces, gpt2"
        note = "in turn; encode_pieces merges together from BATCH_PIECES pieces when NumPy is loaded"
        rows.append(
            Result(
                name,
                scale(figures["together"], per_piece),
                "one merge_ids call per piece",
                scale(figures["loop"], per_piece),
                "us/piece",
                note,
            )
        )
    wins = [n for n in counts if all(ratios[m] < 1 for m in counts if m >= n)]
    if not wins:
        note = (
            f"merge_pieces never wins for good up to {counts[-1]:,} pieces; BATCH_PIECES = {BATCH_PIECES} should rise"
        )
    else:
        # a cold encode's call is NumPy's first use in a while: the threshold sits a step above the crossover
        verdict = "keep it" if wins[0] <= BATCH_PIECES <= 4 * wins[0] else f"consider BATCH_PIECES = {2 * wins[0]}"
        note = f"merge_pieces faster from {wins[0]:,} pieces up; BATCH_PIECES = {BATCH_PIECES} now: {verdict}"
    return rows + [Result("BATCH_PIECES threshold", None, note=note)]


# --- the word cache against the plain path, as spaces double --------------------------------


def _unsafe_share_rows(quick: bool) -> list[Result]:
    """Warm encodes of tinyshakespeare with a share of its spaces doubled, through the word cache
    (made to cut at spaces however many parts are unsafe) and the plain way (split, piece cache)."""
    enc = npllm.get_encoding("gpt2")
    words = data.read_text("tinyshakespeare.txt")[: 100_000 if quick else 300_000].split(" ")
    shares, repeat = ((0.0, 0.05, 0.2), 3) if quick else ((0.0, 0.02, 0.05, 0.1, 0.2), 5)

    def spaced(text):
        values = chunk_values(text, enc._spaced_ids, enc._chunk_ids, mostly_cached=0)
        return functools.reduce(operator.iconcat, values, [])

    def plain(text):
        return functools.reduce(operator.iconcat, map(enc._piece_ids.__getitem__, enc._split(text)), [])

    rows, ratios = [], {}
    progress("investigate: word cache vs plain path, doubled spaces")
    for share in shares:
        rng = random.Random(0)
        text = "".join(w + ("  " if rng.random() < share else " ") for w in words)
        if spaced(text) != plain(text) or spaced(text) != plain(text):  # also the warm-up passes
            raise AssertionError(f"the word cache and the plain path disagree at {share:.0%} doubled spaces")
        ours, theirs = timeit(lambda: spaced(text), repeat), timeit(lambda: plain(text), repeat)
        ratios[share] = ours["median"] / theirs["median"]
        note = f"{len(text):,} characters; an empty part (two spaces) cannot stand alone and is joined"
        name = f"word cache vs plain, {share:.0%} of spaces doubled, gpt2"
        rows.append(Result(name, ours, "plain", theirs, note=note))
    worse = [share for share, r in ratios.items() if r > 1]
    verdict = f"the word cache is slower from {min(worse):.0%} doubled on" if worse else "the word cache always wins"
    note = f"{verdict}; UNSAFE_SHARE = {UNSAFE_SHARE}: the plain way when more than 1 part in {UNSAFE_SHARE} is unsafe"
    return rows + [Result("UNSAFE_SHARE threshold", None, note=note)]


# --- torch with transparent huge pages -------------------------------------------------------


def _huge_page_rows(quick: bool) -> list[Result]:
    """npllm's no-optimizer steps (timed here) against torch's with THP_MEM_ALLOC_ENABLE=1 (a fresh process)."""
    repeat = 5 if quick else 20
    ids, grad_out = _step_inputs()
    modes = {"dense": (False, steps.TORCH_DENSE), "sparse": (True, steps.TORCH_SPARSE)}  # kind -> (sparse, torch's)
    _, why = optional("torch")
    theirs = {}
    if not why:  # a new process: torch reads the variable once, when its allocator first runs
        progress(f"investigate: torch steps with {THP}, in a fresh process")
        code = f"from benchmarks.investigate import _huge_page_child; _huge_page_child({repeat})"
        out = run_process([sys.executable, "-c", code], {"THP_MEM_ALLOC_ENABLE": "1"})[0]
        theirs = json.loads(out.strip().splitlines()[-1])
    note = (
        f"no target of its own; {THP} makes torch's CPU allocator ask for transparent huge pages (madvise), as NumPy "
        "does for large arrays by default, so its fresh buffers each step take up to 512x fewer page faults; "
        "npllm timed in this process, torch in a fresh one, not interleaved"
    )
    shape = f"ids (B, T) = ({steps.B}, {steps.T}), {len(np.unique(ids)):,} distinct"
    rows = []
    for kind, (sparse, torch_name) in modes.items():
        emb = npllm.GPTEmbedding(steps.V, steps.C, steps.D, seed=steps.SEED, sparse=sparse)
        ours = scale(timeit(functools.partial(steps.npllm_step, emb, None, ids, grad_out), repeat, warmup=2), 1e3)
        emb = None
        name = f"embedding step without optimizer (zero_grad + forward + backward), {shape}, npllm sparse={sparse}"
        figure = scale(theirs[kind], 1e3) if kind in theirs else None
        rows.append(Result(name, ours, f"{torch_name}, {THP}", figure, "ms", note, skipped=why))
    return rows


def _step_inputs() -> tuple[np.ndarray, np.ndarray]:
    """bench_embedding's ids (the first B x T GPT-2 tokens of tinyshakespeare) and grad_out."""
    tokens = npllm.get_encoding("gpt2").encode_ordinary(data.read_text("tinyshakespeare.txt"))
    return np.asarray(tokens[: steps.B * steps.T], dtype=np.int64).reshape(steps.B, steps.T), steps.random_grad_out()


def _huge_page_child(repeat: int) -> None:
    """In the fresh process: time torch's dense and sparse steps; print their timeit figures as JSON."""
    import torch

    torch.set_num_threads(1)
    ids, grad_out = (torch.from_numpy(x) for x in _step_inputs())
    figures = {}
    for kind in ("dense", "sparse"):
        model = steps.torch_gpt_embedding(torch, sparse=kind == "sparse")
        figures[kind] = timeit(functools.partial(steps.torch_step, model, [], ids, grad_out), repeat, warmup=2)
    print(json.dumps(figures))


# --- the chart -------------------------------------------------------------------------------


def draw_chart(results: list[Result], path: pathlib.Path, title: str = "") -> str:
    """A horizontal bar per ratio from the line at 1 (log scale), saved to `path`; or why there is none.

    Left of the line npllm is faster, right of it the baseline is; red: a target missed.
    """
    if path.exists():
        path.unlink()  # a chart from an older run would not match this table
    figure_module, why = optional("matplotlib.figure")
    if why:
        progress(f'note: chart skipped: {why} (pip install -e ".[plot]" draws it)')
        return f"skipped, {why}"
    rows = [r for r in results if r.ratio is not None]
    if not rows:
        return "skipped, no row has a ratio"
    try:
        ratios = [r.ratio for r in rows]
        colors = ["tab:red" if r.target_met is False else "tab:green" if r.ratio < 1 else "tab:orange" for r in rows]
        fig = figure_module.Figure(figsize=(12, 0.22 * len(rows) + 1.6))
        ax = fig.add_subplot()
        y = list(range(len(rows)))
        ax.barh(y, [abs(1 - q) for q in ratios], left=[min(q, 1.0) for q in ratios], color=colors, height=0.7)
        ax.axvline(1.0, color="black", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlim(min(*ratios, 0.1) / 10, max(*ratios, 10.0) * 10)  # room on both sides for the labels
        ax.set_yticks(y)
        ax.set_yticklabels([f"{_shorten(r.name, 80)} vs {_shorten(r.baseline, 65)}" for r in rows], fontsize=6)
        ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
        for i, (q, r) in enumerate(zip(ratios, rows)):
            text = ratio_text(q) + (" (target missed)" if r.target_met is False else "")
            ax.text(q, i, f" {text} ", va="center", ha="left" if q >= 1 else "right", fontsize=6)
        ax.set_xlabel("npllm median / baseline median (log scale): left of 1 npllm is faster; red: a target missed")
        ax.set_title(f"npllm against its baselines{', ' + title if title else ''}", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    except Exception as e:  # a chart must not cost the table
        traceback.print_exc()
        return f"failed, {type(e).__name__}: {e}"
    return path.name


def _shorten(text: str, width: int) -> str:
    """At most `width` characters, cut in the middle, where rows of one family repeat themselves:
    _shorten("scatter-add rows: npllm.scatter 'sorted'", 30) -> "scatter-add r...atter 'sorted'"."""
    if len(text) <= width:
        return text
    head = (width - 3) // 2
    return text[:head] + "..." + text[len(text) - (width - 3 - head) :]
