"""Training speed: `npllm.train_bpe` against HuggingFace `tokenizers`, and against the slow trainers.

On tinyshakespeare.txt with GPT2_PATTERN unless said otherwise:

- `train_bpe` at vocab 512, 1,024, 4,096 and 8,192 (4,096 alone in quick mode): seconds,
  merges/s over the whole call, and bytes per token of the trained encoding on its own training
  text, against `tokenizers`' BpeTrainer (ByteLevel split, the same GPT-2 regex, the 256-byte
  alphabet, no special tokens) on one thread. Target at 4,096: npllm / HF <= 1.5. HF breaks a
  tie between equal counts by token ID, npllm by first occurrence in the text, so their merges
  differ a little: the note says how many tokens the two vocabularies share.
- `learn_merges` against `learn_merges_reference` (a full recount per merge) on the same piece
  counts, in milliseconds per merge; the merges are checked identical (those of the
  reference's last timed run: each of its runs is dear).
- `train_bpe` against `tiktoken._educational.bpe_train` at vocab 270 on the-verdict.txt (that
  trainer is slow); the ranks are checked identical first.

For one thread, RAYON_NUM_THREADS=1 is set before `tokenizers` is imported and stays set for
the process; the note gives HF's CPU time / wall time as evidence (about 1.0 on one thread).
Without `tokenizers` or tiktoken the npllm figures are still measured and the rows say the
baseline was skipped.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import npllm
from benchmarks.common import MB, Result, optional, progress, scale, timeit
from npllm import data
from npllm.bpe.patterns import GPT2_PATTERN
from npllm.bpe.train import count_pieces, learn_merges
from npllm.bpe.train_reference import learn_merges_reference

HF_TARGET = 1.5  # npllm / HF one-thread seconds, at TARGET_VOCAB
TARGET_VOCAB = 4096
PROFILE_VOCAB = 4096
HF_BASELINE = "HF tokenizers BpeTrainer (1 thread)"


@dataclass(frozen=True)
class Sizes:
    repeat: int  # timed runs per figure
    vocab_sizes: tuple[int, ...]  # train_bpe against HF
    hf_compression: bool  # also encode the text with HF's tokenizer (~1 s per vocab size)
    reference_merges: int  # learn_merges against learn_merges_reference
    reference_repeat: int  # timed runs of the reference (~0.09 s per merge)
    verdict_vocab: int  # train_bpe against tiktoken's educational trainer


FULL = Sizes(5, (512, 1024, 4096, 8192), True, 40, 3, 270)
QUICK = Sizes(3, (TARGET_VOCAB,), False, 12, 1, 264)


def run(quick: bool) -> list[Result]:
    tokenizers, hf_why = _import_tokenizers()  # first: it sets RAYON_NUM_THREADS before the import
    sizes = QUICK if quick else FULL
    text = data.path("tinyshakespeare.txt").read_text(encoding="utf-8")
    rows = _train_rows(text, tokenizers, hf_why, sizes)
    rows.append(_reference_row(text, sizes))
    rows.append(_educational_row(sizes))
    return rows


# --- train_bpe against HF ---------------------------------------------------------------------


def _train_rows(text, tokenizers, hf_why, sizes) -> list[Result]:
    """One row per vocab size: npllm's seconds against HF's, with merges/s and bytes per token."""
    text_bytes = len(text.encode("utf-8"))
    label = f"tinyshakespeare ({text_bytes / MB:.2f} MB)"
    pieces = timeit(lambda: count_pieces(text, GPT2_PATTERN), 3)  # the split-and-count share of each call
    byte_of = _byte_level_decoder()

    progress("train: warming up both trainers")
    npllm.train_bpe(text, 260)  # untimed: compiles the patterns, so the first figure is not a cold start
    if tokenizers is not None:
        _hf_train(tokenizers, text, 260)

    rows = []
    for vocab_size in sizes.vocab_sizes:
        progress(f"train: vocab {vocab_size:,}")
        n_merges = vocab_size - 256
        figure, enc = _timeit_keeping(lambda v=vocab_size: npllm.train_bpe(text, v), sizes.repeat)
        if enc.n_vocab != vocab_size:
            raise AssertionError(f"train_bpe(text, {vocab_size}) gave {enc.n_vocab} tokens")
        bytes_per_token = text_bytes / len(enc.encode_ordinary(text))
        notes = [f"target: at most {HF_TARGET:g}x HF's one-thread time"] if vocab_size == TARGET_VOCAB else []
        notes += [
            f"{n_merges / figure['median']:,.0f} merges/s",
            f"{bytes_per_token:.3f} bytes/token",
            f"count_pieces alone {pieces['median']:.2f} s",
        ]
        hf_figure = None
        if tokenizers is not None:
            wall, cpu = time.perf_counter(), time.process_time()
            hf_figure, tok = _timeit_keeping(lambda v=vocab_size: _hf_train(tokenizers, text, v), sizes.repeat)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            hf_tokens = {bytes(byte_of[c] for c in token) for token in tok.get_vocab()}
            shared = len(hf_tokens & set(enc.mergeable_ranks))
            notes.append(f"shares {shared:,} of {vocab_size:,} tokens with HF")
            if sizes.hf_compression:
                notes.append(f"HF {text_bytes / len(tok.encode(text).ids):.3f} bytes/token")
            notes.append(f"HF CPU/wall {cpu / wall:.2f}")
        rows.append(
            Result(
                f"train_bpe, vocab {vocab_size:,}, {label}",
                figure,
                HF_BASELINE,
                hf_figure,
                target=HF_TARGET if vocab_size == TARGET_VOCAB else None,
                note="; ".join(notes),
                skipped=hf_why,
                profile=(lambda: lambda: npllm.train_bpe(text, PROFILE_VOCAB)) if vocab_size == PROFILE_VOCAB else None,
            )
        )
    return rows


def _hf_train(tokenizers, text: str, vocab_size: int):
    """HF's byte-level BPE, set up as GPT-2's: ByteLevel split with the GPT-2 regex, all 256 bytes."""
    byte_level = tokenizers.pre_tokenizers.ByteLevel
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = byte_level(add_prefix_space=False, use_regex=True)
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        initial_alphabet=byte_level.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator([text], trainer=trainer)
    return tok


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte -> printable character map, inverted: "!" -> 33, "Ġ" -> 32 (space), "Ċ" -> 10."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    byte_of = {chr(b): b for b in printable}  # character -> byte
    shifted = (b for b in range(256) if b not in byte_of.values())
    for i, b in enumerate(shifted):
        byte_of[chr(256 + i)] = b  # a byte with no printable form of its own gets 256, 257, ...
    return byte_of


# --- learn_merges against the reference ------------------------------------------------------


def _reference_row(text, sizes) -> Result:
    """Milliseconds per merge, fast trainer against the full recount, on the same piece counts."""
    n = sizes.reference_merges
    piece_counts = count_pieces(text, GPT2_PATTERN)  # bytes -> occurrences, first appearance order
    progress(f"train: learn_merges vs learn_merges_reference, {n} merges")
    per_merge = 1000 / n  # seconds per run -> milliseconds per merge
    slow, expected = _timeit_keeping(lambda: learn_merges_reference(piece_counts, n), sizes.reference_repeat)
    slow = scale(slow, per_merge)  # timed first, checked after: each run of the reference is dear
    got = learn_merges(piece_counts, n)
    if got != expected:
        at = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b) if len(got) == len(expected) else "-"
        raise AssertionError(
            f"learn_merges differs from learn_merges_reference (first at merge {at}; "
            f"{len(got)} and {len(expected)} merges)"
        )
    fast = scale(timeit(lambda: learn_merges(piece_counts, n), sizes.repeat), per_merge)
    return Result(
        f"learn_merges, {n} merges, tinyshakespeare pieces",
        fast,
        "learn_merges_reference (full recount per merge)",
        slow,
        unit="ms/merge",
        note=f"merges checked identical; {len(piece_counts):,} distinct pieces; the fast figure "
        f"includes its one-off vectorized pair count, spread over only {n} merges",
    )


# --- train_bpe against tiktoken's educational trainer ----------------------------------------


def _educational_row(sizes) -> Result:
    """Seconds for a tiny vocabulary on a tiny text, with the ranks checked equal first."""
    vocab_size = sizes.verdict_vocab
    verdict = data.path("the-verdict.txt").read_text(encoding="utf-8")
    name = f"train_bpe, vocab {vocab_size}, the-verdict.txt ({len(verdict.encode('utf-8')) / 1000:.0f} KB)"
    baseline = "tiktoken._educational.bpe_train"
    educational, why = optional("tiktoken._educational")
    bpe_train = educational.bpe_train if educational else None
    if bpe_train is not None:
        progress(f"train: vs tiktoken._educational.bpe_train, vocab {vocab_size}")
        ours = npllm.train_bpe(verdict, vocab_size).mergeable_ranks
        theirs = bpe_train(verdict, vocab_size, GPT2_PATTERN, visualise=None)
        if ours != theirs:
            by_rank = {rank: token for token, rank in theirs.items()}
            at = next((r for token, r in sorted(ours.items(), key=lambda kv: kv[1]) if by_rank.get(r) != token), None)
            raise AssertionError(
                f"train_bpe's ranks differ from tiktoken's educational bpe_train at rank {at} "
                f"(npllm {len(ours)} tokens, tiktoken {len(theirs)})"
            )
    figure = timeit(lambda: npllm.train_bpe(verdict, vocab_size), sizes.repeat)
    if bpe_train is None:
        return Result(name, figure, baseline, None, note=f"{vocab_size - 256} merges", skipped=why)
    ref = timeit(lambda: bpe_train(verdict, vocab_size, GPT2_PATTERN, visualise=None), sizes.repeat)
    return Result(name, figure, baseline, ref, note=f"ranks checked identical; {vocab_size - 256} merges")


# --- helpers ---------------------------------------------------------------------------------


def _timeit_keeping(fn, repeat: int):
    """timeit(fn) with no warm-up run, and the last run's output; the earlier ones are freed untimed."""
    kept = {}  # "out" -> what the latest run returned
    stats = timeit(lambda _: kept.__setitem__("out", fn()), repeat, warmup=0, setup=kept.clear)
    return stats, kept["out"]


def _import_tokenizers():
    """(tokenizers, None) or (None, why not), with RAYON_NUM_THREADS=1 set first: HF on one thread.
    tokenizers reads it when imported; nothing imports it before this module runs (machine_info
    only reads its version)."""
    os.environ["RAYON_NUM_THREADS"] = "1"
    return optional("tokenizers")
