"""Encoding speed: npllm's `encode_ordinary` against tiktoken's, for gpt2, cl100k_base and o200k_base.

On tinyshakespeare.txt unless said otherwise (the generated texts are in `texts.py`):

- warm: the same Encoding after one untimed pass (every piece already in its cache) against
  tiktoken's `encode_ordinary` (Rust, one thread). Target: npllm / tiktoken <= 1.0.
- encode_to_numpy, warm: against npllm's own `encode` (target: no slower) and tiktoken's.
- cold: a fresh Encoding per run, built before the clock starts; only its first encode is timed
  (every distinct piece goes through the merge loop once), against a fresh tiktoken Encoding. Target <= 2.5.
  The same in a fresh process per run, as the corpus-scale issue measured cold ("a fresh
  process's first pass"; target <= 1.5 for gpt2 and cl100k_base): the vocabulary loaded and
  the text read before the clock, no NumPy imported (a process that only tokenizes), and
  nothing made or freed before by other rows.
- multilingual: ~200 KB of Shakespeare mixed with sentences in eight scripts and emoji, warm
  (target <= 1.0: non-ASCII text takes the `regex` split, not the `re` one) and cold (<= 2.5).
- mostly ASCII, cold: the same Shakespeare with a curly apostrophe ("’s") every 500 words, as
  typed English often is: split by `re` over its ASCII stretches and `regex` over the rest.
- non-English, warm: ~1 MB of Vietnamese, and ~1 MB of Chinese, Japanese, Korean and Russian,
  made of real words drawn by a seeded generator. Target <= 1.0. Beside each, the floor of a
  warm encode against tiktoken's whole encode: the split alone (`text.split(" ")`, the only
  split of a warm pass over cached words, npllm/bpe/spaced.py) and the lookup alone (one dict
  lookup per word, the IDs joined).
- long pieces: "x" * 100_000, 1 MB of spaces, a 1 MB base64 blob; cold, in seconds per MB,
  against npllm's own cold seconds per MB of ordinary text (target: within 2x) and tiktoken's.
- merged together (gpt2): the base64 blob's new pieces (those that are no whole token) merged
  by `merge_bulk.merge_pieces`, all at once in NumPy, against one `merge_ids` call per piece,
  the loop a cold encode would otherwise run. No target: it shows what the cold rows gain.
- batch: tinyshakespeare cut into 64 chunks at line ends, repeated to ~4 MB;
  `encode_ordinary_batch(num_threads=2)` against a sequential loop and tiktoken's batch.

Every input is checked equal to tiktoken's IDs before anything is timed. Without tiktoken the
npllm figures are still measured and the rows say why the baseline was skipped.
Quick mode: 3 runs, 1/8 of the text, inputs a tenth to a twentieth the size, the batch rows
for gpt2 only (one copy of the text, just over PARALLEL_MIN_CHARS).
"""

from __future__ import annotations

import functools
import operator
import os
import pathlib
import sys
import tempfile
from dataclasses import dataclass

import npllm
from benchmarks import texts
from benchmarks.common import MB, Result, interleaved, optional, progress, run_process, scale, summarize, timeit
from npllm import data
from npllm.bpe.encoding import PARALLEL_MIN_CHARS
from npllm.bpe.merge import LONG_PIECE, merge_ids
from npllm.bpe.merge_bulk import merge_pieces

ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")
WARM_TARGET = 1.0  # npllm warm / tiktoken, on every text
TO_NUMPY_TARGET = 1.0  # encode_to_numpy / encode, both npllm
COLD_TARGET = 2.5  # npllm cold / tiktoken
COLD_PROCESS_TARGETS = {"gpt2": 1.5, "cl100k_base": 1.5}  # the same in a fresh process (corpus-scale issue)
COLD_PROCESS_CODE = {  # a child's first encode of the file argv[1]; it prints the seconds
    "npllm": "import npllm as m",
    "tiktoken": "import tiktoken as m",
}
COLD_PROCESS_TAIL = (
    "\nimport sys, time\ntext = open(sys.argv[1], encoding='utf-8').read()\nenc = m.get_encoding({name!r})"
    "\nstart = time.perf_counter()\nenc.encode_ordinary(text)\nprint(time.perf_counter() - start)"
)
LONG_TARGET = 2.0  # long-piece s/MB / ordinary-text cold s/MB (the corpus-scale issue: within 2x)
BATCH_WORKERS, BATCH_CHUNKS = 2, 64
TIKTOKEN = "tiktoken encode_ordinary (1 thread)"


@dataclass(frozen=True)
class Sizes:
    repeat: int  # timed runs per figure
    text_fraction: int  # use 1/text_fraction of tinyshakespeare for warm and cold
    multilingual_bytes: int
    non_english_bytes: int  # of each generated text (Vietnamese, the CJK/Cyrillic mix)
    long_chars: tuple[int, int, int]  # "x" * n, " " * n, a base64 blob of n characters
    batch_bytes: int
    batch_encodings: tuple[str, ...]  # the encodings whose batch rows run


FULL = Sizes(5, 1, 200_000, 1_000_000, (100_000, 1_000_000, 1_000_000), 4_000_000, ENCODINGS)
QUICK = Sizes(3, 8, 50_000, 125_000, (10_000, 50_000, 50_000), 1_100_000, ("gpt2",))  # batch: > PARALLEL_MIN_CHARS


def run(quick: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    tiktoken, why_not = optional("tiktoken")
    shakespeare = data.read_text("tinyshakespeare.txt")
    text = texts.head(shakespeare, len(shakespeare) // sizes.text_fraction)
    label = "tinyshakespeare" if sizes.text_fraction == 1 else f"tinyshakespeare 1/{sizes.text_fraction}"
    mixed = texts.multilingual(shakespeare, sizes.multilingual_bytes)
    mostly_ascii = texts.mostly_ascii(text)  # ’ every 500 words: `re` over the ASCII stretches
    n = sizes.non_english_bytes
    foreign = {"Vietnamese": texts.vietnamese(n), "CJK/Cyrillic mix": texts.cjk_cyrillic(n)}
    rows = []
    for name in ENCODINGS:
        ref, why = _tiktoken_encoding(tiktoken, name) if tiktoken else (None, why_not)
        warm, enc = _warm_row(name, ref, why, label, text, sizes.repeat, "same Encoding after one untimed pass")
        warm.note += f"; {len(enc._piece_ids)} cached pieces"
        to_numpy = _to_numpy_rows(name, enc, ref, why, label, text, sizes.repeat)
        cold = _cold_row(name, ref, why, label, text, sizes.repeat)
        rows += [warm, *to_numpy, cold, _cold_process_row(name, why, label, text, sizes.repeat)]
        rows.append(
            _warm_row(name, ref, why, "multilingual", mixed, sizes.repeat, "non-ASCII text, so the `regex` split")[0]
        )
        rows.append(_cold_row(name, ref, why, "multilingual", mixed, sizes.repeat))
        rows.append(_cold_row(name, ref, why, "mostly ASCII", mostly_ascii, sizes.repeat))
        rows += _long_rows(name, ref, why, label, scale(cold.npllm, MB / len(text.encode("utf-8"))), sizes)
        if name == "gpt2":
            blob = texts.long_pieces(*sizes.long_chars)[-1][1]
            rows.append(_merged_together_row(name, "the base64 blob", blob, sizes.repeat))
        if name in sizes.batch_encodings:
            rows += _batch_rows(name, ref, why, shakespeare, sizes)
        for where, foreign_text in foreign.items():
            rows += _non_english_rows(name, ref, why, where, foreign_text, sizes.repeat)
    return rows


def _warm_row(name, ref, why, where, text, repeat, note) -> tuple[Result, npllm.Encoding]:
    """(the row of npllm's warm encode of `text` against tiktoken's, the warm Encoding)."""
    enc = _fresh(name)
    _check(name, where, text, enc.encode_ordinary(text), ref)  # also the untimed first pass
    progress(f"{name}: warm, {where}")
    warm = timeit(lambda: enc.encode_ordinary(text), repeat)  # its warm-up pass admits the words seen twice
    theirs = timeit(lambda: ref.encode_ordinary(text), repeat) if ref else None
    row = f"encode_ordinary warm, {name}, {where} ({len(text.encode('utf-8')) / MB:.2f} MB)"
    call = functools.partial(enc.encode_ordinary, text)
    return Result(row, warm, TIKTOKEN, theirs, target=WARM_TARGET, note=note, skipped=why, profile=lambda: call), enc


def _to_numpy_rows(name, enc, ref, why, label, text, repeat) -> list[Result]:
    """encode_to_numpy, warm, against npllm's own encode (a list of ints) and tiktoken's encode_to_numpy."""
    if not (enc.encode_to_numpy(text) == enc.encode(text)).all():  # also warms its array cache
        raise AssertionError(f"{name}: encode_to_numpy differs from encode")
    sides = {"list": lambda: enc.encode(text), "array": lambda: enc.encode_to_numpy(text)}
    figures = interleaved(sides, repeat, freeze=False)  # the two differ by a few %: each round sees the same load
    as_list, as_array = figures["list"], figures["array"]
    theirs = timeit(lambda: ref.encode_to_numpy(text), repeat) if ref else None
    row = f"encode_to_numpy warm, {name}, {label}"
    note = "uint32 array joined from cached per-piece bytes; no list of ints built; timed in turn with encode"
    return [
        Result(row, as_array, "npllm encode (a list of ints), warm", as_list, target=TO_NUMPY_TARGET, note=note),
        Result(row, as_array, "tiktoken encode_to_numpy", theirs, note="no target", skipped=why),
    ]


def _cold_row(name, ref, why, label, text, repeat) -> Result:
    """A fresh Encoding's first encode of `text` (built before the clock), npllm's and tiktoken's."""
    progress(f"{name}: cold, {label}")
    cold = timeit(lambda e: e.encode_ordinary(text), repeat, warmup=0, setup=lambda: _fresh(name))
    theirs = (
        timeit(lambda e: e.encode_ordinary(text), repeat, warmup=0, setup=lambda: _fresh_tiktoken(ref)) if ref else None
    )
    note = "fresh Encoding per run, built before the clock; first encode timed"
    baseline = "tiktoken encode_ordinary, fresh Encoding per run"
    profile = lambda: functools.partial(_fresh(name).encode_ordinary, text)  # noqa: E731
    return Result(
        f"encode_ordinary cold, {name}, {label}",
        cold,
        baseline,
        theirs,
        target=COLD_TARGET,
        note=note,
        skipped=why,
        profile=profile,
    )


def _cold_process_row(name, why, label, text, repeat) -> Result:
    """A fresh process's first encode of `text`, npllm's and tiktoken's, a child process each, in turn."""
    progress(f"{name}: cold in a fresh process, {label}")
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder, "text.txt")
        path.write_text(text, encoding="utf-8")
        sides = ("npllm",) if why else ("npllm", "tiktoken")
        runs = {side: [] for side in sides}  # side -> seconds its child printed
        for _ in range(repeat):
            for side in sides:
                code = COLD_PROCESS_CODE[side] + COLD_PROCESS_TAIL.format(name=name)
                runs[side].append(float(run_process([sys.executable, "-c", code, str(path)], sample_memory=False)[0]))
    theirs = summarize(runs["tiktoken"]) if not why else None
    return Result(
        f"encode_ordinary cold in a fresh process, {name}, {label}",
        summarize(runs["npllm"]),
        "tiktoken encode_ordinary, a fresh process",
        theirs,
        target=COLD_PROCESS_TARGETS.get(name),
        note="a child process per run, the two in turn; vocabulary loaded and text read before the clock; "
        "no NumPy in npllm's child",
        skipped=why,
    )


def _non_english_rows(name, ref, why, where, text, repeat) -> list[Result]:
    """The warm row of a generated text, and the floor of a warm encode beside it: split alone, lookup alone."""
    warm, enc = _warm_row(
        name, ref, why, where, text, repeat, "generated from real words, seeded; same Encoding after untimed passes"
    )
    words = enc._spaced_ids  # word -> IDs of " " + word (npllm/bpe/spaced.py), filled by the warm passes
    parts = text.split(" ")[1:]  # the words after a space, as the warm pass looks them up
    split = timeit(lambda: text.split(" "), repeat)
    lookup = timeit(lambda: functools.reduce(operator.iconcat, filter(None, map(words.get, parts)), []), repeat)
    at = f"{name}, {where} ({len(text.encode('utf-8')) / MB:.2f} MB)"
    split_note = "text.split(' '): the one split of a warm encode; no target"
    lookup_note = f"one word-cache lookup per word ({len(parts):,}), the IDs joined into one list; no target"
    theirs = warm.baseline_figure
    return [
        warm,
        Result(f"floor, split alone, {at}", split, TIKTOKEN, theirs, note=split_note, skipped=why),
        Result(f"floor, lookup alone, {at}", lookup, TIKTOKEN, theirs, note=lookup_note, skipped=why),
    ]


def _long_rows(name, ref, why, label, cold_per_mb, sizes) -> list[Result]:
    """Cold seconds per MB of texts that are one long piece, against ordinary text and tiktoken."""
    rows = []
    for what, text in texts.long_pieces(*sizes.long_chars):
        per_mb = MB / len(text.encode("utf-8"))
        piece_why = why or _check(name, what, text, _fresh(name).encode_ordinary(text), ref)  # tiktoken may panic
        progress(f"{name}: {what}")
        ours = scale(
            timeit(lambda e: e.encode_ordinary(text), sizes.repeat, warmup=0, setup=lambda: _fresh(name)), per_mb
        )
        theirs = None if piece_why else scale(timeit(lambda: ref.encode_ordinary(text), sizes.repeat), per_mb)
        row = f"long: {what}, {name}, cold"
        rows.append(
            Result(
                row,
                ours,
                f"npllm encode_ordinary cold, {label}",
                cold_per_mb,
                unit="s/MB",
                target=LONG_TARGET,
                note="fresh Encoding per run; baseline measured in this run",
                profile=lambda text=text: functools.partial(_fresh(name).encode_ordinary, text),
            )
        )
        rows.append(
            Result(
                row,
                ours,
                "tiktoken encode_ordinary",
                theirs,
                unit="s/MB",
                note="no target; tiktoken keeps no cache, so warm = cold",
                skipped=piece_why,
            )
        )
    return rows


def _merged_together_row(name, where, text, repeat) -> Result:
    """merge_pieces on a text's new pieces against the loop, one merge_ids call per piece."""
    enc = npllm.get_encoding(name)
    ranks = enc.mergeable_ranks
    new = [p for p in dict.fromkeys(map(str.encode, enc._split(text))) if p not in ranks and len(p) < LONG_PIECE]
    if merge_pieces(ranks, new) != [tuple(merge_ids(ranks, p)) for p in new]:
        raise AssertionError(f"{name}: merge_pieces differs from merge_ids on {where}")
    progress(f"{name}: merged together, {where}")
    per_piece = 1e6 / len(new)  # seconds -> microseconds per piece
    figures = interleaved(
        {"together": lambda: merge_pieces(ranks, new), "loop": lambda: [tuple(merge_ids(ranks, p)) for p in new]},
        repeat,
    )
    merges = sum(len(p) - len(merge_ids(ranks, p)) for p in new)
    return Result(
        f"merge_pieces (merged together, NumPy), {name}, {where}'s {len(new):,} new pieces",
        scale(figures["together"], per_piece),
        "one merge_ids call per piece (the loop)",
        scale(figures["loop"], per_piece),
        unit="us/piece",
        note=f"{merges:,} merges; no target: what a cold encode gains when it has many new pieces; in turn, "
        "checked equal",
    )


def _batch_rows(name, ref, why, shakespeare, sizes) -> list[Result]:
    """encode_ordinary_batch with 2 worker processes against a loop, and against tiktoken's 2 threads."""
    chunks = texts.line_chunks(shakespeare, BATCH_CHUNKS)
    batch = chunks * max(1, round(sizes.batch_bytes / len(shakespeare.encode("utf-8"))))
    enc = npllm.get_encoding(name)
    expected = [enc.encode_ordinary(t) for t in batch]  # untimed: warms the parent's cache
    if enc.encode_ordinary_batch(batch, num_threads=BATCH_WORKERS) != expected:
        raise AssertionError(f"{name}: encode_ordinary_batch differs from a loop of encode_ordinary")
    if ref is not None and ref.encode_ordinary_batch(batch, num_threads=BATCH_WORKERS) != expected:
        raise AssertionError(f"{name}: npllm's encode_ordinary_batch differs from tiktoken's")
    progress(f"{name}: batch")  # no warm-up runs: the checks above were the warm-up of all three
    ours = timeit(lambda: enc.encode_ordinary_batch(batch, num_threads=BATCH_WORKERS), sizes.repeat, warmup=0)
    loop = timeit(lambda: [enc.encode_ordinary(t) for t in batch], sizes.repeat, warmup=0)
    theirs = None
    if ref:
        theirs = timeit(lambda: ref.encode_ordinary_batch(batch, num_threads=BATCH_WORKERS), sizes.repeat, warmup=0)
    mb = sum(len(t.encode("utf-8")) for t in batch) / MB
    row = f"encode_ordinary_batch({BATCH_WORKERS} workers), {name}, {len(batch)} texts, {mb:.2f} MB, warm"
    speedup = f"speedup {loop['median'] / ours['median']:.2f}x on {os.cpu_count()} cores"
    in_process = "; below PARALLEL_MIN_CHARS: ran in-process" if sum(map(len, batch)) < PARALLEL_MIN_CHARS else ""
    return [
        Result(
            row,
            ours,
            "npllm sequential loop of encode_ordinary",
            loop,
            note=f"{speedup} (worker processes, forked from a warm cache){in_process}",
        ),
        Result(
            row,
            ours,
            f"tiktoken encode_ordinary_batch(num_threads={BATCH_WORKERS})",
            theirs,
            note="outputs checked equal",
            skipped=why,
        ),
    ]


# --- helpers ---------------------------------------------------------------------------------


def _fresh(name: str) -> npllm.Encoding:
    """A new Encoding of `name`, its caches empty (get_encoding's is shared, and warm)."""
    return npllm.Encoding(**npllm.get_encoding(name).constructor_args())


def _fresh_tiktoken(ref):
    """A new tiktoken Encoding like `ref`: the same, for tiktoken's cold runs."""
    model = dict(pat_str=ref._pat_str, mergeable_ranks=ref._mergeable_ranks, special_tokens=ref._special_tokens)
    return type(ref)(ref.name, **model)


def _tiktoken_encoding(tiktoken, name):
    """(tiktoken's Encoding, None), or (None, why not): offline with an empty cache, say."""
    try:
        return tiktoken.get_encoding(name), None
    except Exception as e:
        return None, f"tiktoken could not load {name} ({type(e).__name__}: {e})"


def _check(name: str, what: str, text: str, ids: list[int], ref) -> str | None:
    """Raise if npllm's IDs differ from tiktoken's: timing wrong output would mean nothing.

    Returns why tiktoken has no figure for `text`, or None. Its Rust core can panic, which
    Python sees as pyo3's PanicException, a BaseException: tiktoken 0.14 overflows its stack on
    1 MB of spaces with o200k_base's pattern.
    """
    if ref is None:
        return None
    try:
        expected = ref.encode_ordinary(text)
    except BaseException as e:  # noqa: BLE001 (PanicException is not an Exception)
        if type(e).__name__ != "PanicException":
            raise
        return f"tiktoken panicked ({str(e).splitlines()[0][:80]})"
    if ids != expected:
        at = next((i for i, (a, b) in enumerate(zip(ids, expected)) if a != b), min(len(ids), len(expected)))
        raise AssertionError(
            f"{name}, {what}: npllm's IDs differ from tiktoken's at position {at} "
            f"(npllm {ids[at : at + 5]}, tiktoken {expected[at : at + 5]}; lengths {len(ids)}, {len(expected)})"
        )
    return None
