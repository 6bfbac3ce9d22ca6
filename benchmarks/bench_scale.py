"""Corpus scale: `npllm encode-file` and `npllm train-bpe` with workers, in fresh processes,
against tiktoken and HuggingFace `tokenizers` with two threads, at two corpus sizes.

The corpus (`texts.corpus`): tinyshakespeare.txt, then the standard library's own `.py` sources,
cut at a line end to the size; the smaller size is a prefix of the larger, so time and peak
memory against size show the growth. Every job is its own process (`python -m npllm ...`, or a
short script for a peer), so a figure is what a user waits for, process start and imports
included; the jobs of one round run one after another, round after round, so load from other
work falls on all of them alike. Peak memory is that of the whole process tree, sampled
(`common.run_process`: the sum of each process's PSS, so a forked worker's pages shared with its
parent count once).

- `encode-file --workers 2` against `--workers 1` (target: 2 workers at least 1.7x the throughput
  of one, a ratio of at most 1 / 1.7) and against tiktoken's `encode_ordinary_batch(num_threads=2)`
  on the same text, in the same chunks, written as the same uint16 file (target 1.3x), at each
  corpus size (the targets at the larger). Both outputs are checked byte for byte against the
  one-worker file.
- `train-bpe --workers 2` against `--workers 1` (the saved vocabularies checked identical: merge
  for merge) and against HF's BpeTrainer (ByteLevel, GPT-2 regex, 256-byte alphabet) with
  RAYON_NUM_THREADS=2, at each corpus size: seconds (target 0.5x at the larger size) and peak
  memory (target 0.3x). HF is timed two ways: `train(files)` (it reads the file line by line; its
  fast, lean way) and `train_from_iterator([text])` (the whole text as one string, as the issue
  measured). Without `tokenizers` those rows say they were skipped.
"""

from __future__ import annotations

import pathlib
import sys
import tempfile
from dataclasses import dataclass

from benchmarks import texts
from benchmarks.common import MB, Result, interleaved, not_installed, progress, run_process, summarize

ENCODE_SPEEDUP_TARGET = 1 / 1.7  # seconds with 2 workers / seconds with 1
ENCODE_TIKTOKEN_TARGET = 1.3  # encode-file --workers 2 / tiktoken's 2-thread batch
TRAIN_HF_TARGET = 0.5  # train-bpe --workers 2 / HF with 2 threads, seconds, at the larger size
MEMORY_HF_TARGET = 0.3  # the same, peak memory of the process tree
NPLLM = [sys.executable, "-m", "npllm"]


@dataclass(frozen=True)
class Sizes:
    encode_mb: tuple[float, float]  # the two encode-file corpora (the targets at the larger)
    train_mb: tuple[float, float]  # the two training corpora
    vocab_size: int
    repeat: int  # rounds, each running every job once


FULL = Sizes((8, 20), (10, 20), 32_768, 3)
QUICK = Sizes((1, 2), (1, 2), 4_096, 2)

TIKTOKEN_SCRIPT = """
import sys, numpy as np, pathlib, tiktoken
from npllm.bpe.chunks import read_split_safe_chunks
enc = tiktoken.get_encoding("gpt2")
chunks = read_split_safe_chunks(pathlib.Path(sys.argv[1]), 1 << 20, (), pat_str=enc._pat_str)
ids = enc.encode_ordinary_batch(list(chunks), num_threads=2)
np.concatenate([np.asarray(x, dtype="<u2") for x in ids]).tofile(sys.argv[2])
"""

HF_SCRIPT = """
import sys, tokenizers
byte_level = tokenizers.pre_tokenizers.ByteLevel
tok = tokenizers.Tokenizer(tokenizers.models.BPE())
tok.pre_tokenizer = byte_level(add_prefix_space=False, use_regex=True)
trainer = tokenizers.trainers.BpeTrainer(vocab_size=int(sys.argv[2]), show_progress=False,
                                         initial_alphabet=byte_level.alphabet(), special_tokens=[])
if sys.argv[3] == "files":
    tok.train([sys.argv[1]], trainer=trainer)
else:
    tok.train_from_iterator([open(sys.argv[1], encoding="utf-8", newline="").read()], trainer=trainer)
"""


def run(quick: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="npllm-bench-scale-") as tmp:
        tmp = pathlib.Path(tmp)
        corpus = texts.corpus(max(*sizes.encode_mb, *sizes.train_mb))
        rows = []
        for mb in sizes.encode_mb:
            rows += _encode_rows(tmp, corpus, mb, sizes, is_target=mb == max(sizes.encode_mb))
        for mb in sizes.train_mb:
            rows += _train_rows(tmp, corpus, mb, sizes, is_target=mb == max(sizes.train_mb))
    return rows


def _write_prefix(corpus: bytes, mb: float, path: pathlib.Path) -> pathlib.Path:
    """The first `mb` MB of the corpus, cut at a line end, as a file."""
    end = corpus.rfind(b"\n", 0, int(mb * MB)) + 1 if len(corpus) > mb * MB else len(corpus)
    path.write_bytes(corpus[:end])
    return path


def _rounds(jobs: dict[str, list[str]], repeat: int, extra_env: dict | None = None) -> tuple[dict, dict]:
    """Each job once per round, in turn, timed with no memory sampler beside it: name -> seconds
    figures. Then each once more, untimed, its memory sampled: name -> peak MB. (The sampler reads
    /proc every 10 ms, CPU taken from the job; most from a job that keeps both cores busy.)"""

    def timed(cmd: list[str]) -> None:
        run_process(cmd, extra_env, sample_memory=False)

    times = interleaved({name: lambda cmd=cmd: timed(cmd) for name, cmd in jobs.items()}, repeat, 0)
    peaks = {name: run_process(cmd, extra_env)[2] for name, cmd in jobs.items()}
    return times, peaks


# --- encode-file -----------------------------------------------------------------------------


def _encode_rows(tmp, corpus, mb, sizes, is_target) -> list[Result]:
    src = _write_prefix(corpus, mb, tmp / f"encode{mb:g}.txt")
    mb = src.stat().st_size / MB
    label = f"{mb:.1f} MB of stdlib source + tinyshakespeare"
    outs = {w: tmp / f"w{w}.bin" for w in (1, 2)}
    jobs = {
        f"w{w}": [*NPLLM, "encode-file", str(src), "-o", str(outs[w]), "--workers", str(w), "--quiet"] for w in (1, 2)
    }
    tiktoken_why = not_installed("tiktoken")
    if not tiktoken_why:
        jobs["tiktoken"] = [sys.executable, "-c", TIKTOKEN_SCRIPT, str(src), str(tmp / "tiktoken.bin")]
    progress(f"scale: encode-file, {label}, {sizes.repeat} rounds")
    times, peaks = _rounds(jobs, sizes.repeat)
    if outs[2].read_bytes() != outs[1].read_bytes():
        raise AssertionError("encode-file --workers 2 wrote other IDs than --workers 1")
    if not tiktoken_why and (tmp / "tiktoken.bin").read_bytes() != outs[1].read_bytes():
        raise AssertionError("tiktoken's IDs differ from encode-file's")
    two, one = times["w2"]["median"], times["w1"]["median"]
    workers_note = (
        ("target: 2 workers >= 1.7x one worker's throughput; " if is_target else "")
        + f"speedup {one / two:.2f}x; {mb / two:.1f} vs "
        f"{mb / one:.1f} MB/s; fresh processes, start and imports included; output checked identical; "
        f"peak memory (PSS) of the process tree {peaks['w2']:.0f} vs {peaks['w1']:.0f} MB"
    )
    tiktoken_note = (
        (f"target: at most {ENCODE_TIKTOKEN_TARGET:g}x; " if is_target else "")
        + "tiktoken in its own process too, given the same 1 MB chunks "
        f"and writing the same uint16 file (checked identical); peak PSS {peaks['w2']:.0f} vs "
        f"{peaks.get('tiktoken', 0):.0f} MB"
    )
    return [
        Result(
            f"`encode-file --workers 2` vs 1 worker, gpt2, {label}",
            times["w2"],
            "`encode-file --workers 1`",
            times["w1"],
            target=ENCODE_SPEEDUP_TARGET if is_target else None,
            note=workers_note,
        ),
        Result(
            f"`encode-file --workers 2` vs tiktoken 2 threads, gpt2, {label}",
            times["w2"],
            "tiktoken `encode_ordinary_batch(num_threads=2)`",
            times.get("tiktoken"),
            target=ENCODE_TIKTOKEN_TARGET if is_target else None,
            note=tiktoken_note,
            skipped=tiktoken_why,
        ),
    ]


# --- train-bpe -------------------------------------------------------------------------------


def _train_rows(tmp, corpus, mb, sizes, is_target) -> list[Result]:
    src = _write_prefix(corpus, mb, tmp / f"train{mb:g}.txt")
    label = f"vocab {sizes.vocab_size:,}, {src.stat().st_size / MB:.1f} MB"
    outs = {w: tmp / f"m{w}.npllm-bpe" for w in (1, 2)}
    train = [*NPLLM, "train-bpe", str(src), "--vocab-size", str(sizes.vocab_size), "--name", "scale", "--quiet"]
    jobs = {f"w{w}": [*train, "-o", str(outs[w]), "--workers", str(w)] for w in (1, 2)}
    hf_why = not_installed("tokenizers")
    for how in () if hf_why else ("files", "iterator"):
        jobs[f"hf {how}"] = [sys.executable, "-c", HF_SCRIPT, str(src), str(sizes.vocab_size), how]
    progress(f"scale: train-bpe, {label}, {sizes.repeat} rounds")
    times, peaks = _rounds(jobs, sizes.repeat, {"RAYON_NUM_THREADS": "2"})
    if outs[2].read_bytes() != outs[1].read_bytes():
        raise AssertionError(f"train-bpe --workers 2 learned other merges than --workers 1 ({label})")
    note = (
        "the saved vocabularies of --workers 2 and 1 checked identical (merge for merge); only the counting runs in "
        f"two processes, the merges in one; peak memory (PSS) of the tree {peaks['w2']:.0f} vs {peaks['w1']:.0f} MB"
    )
    workers = f"`train-bpe --workers 2` vs 1 worker, {label}"
    rows = [Result(workers, times["w2"], "`train-bpe --workers 1`", times["w1"], note=note)]
    for how, what in (("files", "`train(files)`"), ("iterator", "`train_from_iterator([text])`")):
        hf = f"HF tokenizers {what}, 2 threads"
        theirs = f"peak PSS {peaks['w2']:.0f} vs {peaks.get(f'hf {how}', 0):.0f} MB"
        note = f"HF {what} with RAYON_NUM_THREADS=2; {theirs}; HF's merges differ a little (ties by ID)"
        seconds_target, memory_target = (TRAIN_HF_TARGET, MEMORY_HF_TARGET) if is_target else (None, None)
        rows.append(
            Result(
                f"`train-bpe --workers 2` vs HF {how}, {label}",
                times["w2"],
                hf,
                times.get(f"hf {how}"),
                target=seconds_target,
                note=(f"target: at most {TRAIN_HF_TARGET:g}x; " if is_target else "") + note,
                skipped=hf_why,
            )
        )
        rows.append(
            Result(
                f"peak memory of `train-bpe --workers 2` vs HF {how}, {label}",
                summarize([peaks["w2"]]),
                hf,
                None if hf_why else summarize([peaks[f"hf {how}"]]),
                unit="MB",
                target=memory_target,
                note=(f"target: at most {MEMORY_HF_TARGET:g}x; " if is_target else "")
                + "the largest PSS sum of the process tree (parent and workers), sampled every 10 ms "
                + "in a run of its own, untimed",
                skipped=hf_why,
            )
        )
    return rows
