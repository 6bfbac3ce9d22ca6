"""Corpus scale: `npllm encode-file` and `npllm train-bpe` with workers, in fresh processes,
against tiktoken and HuggingFace `tokenizers` with two threads, at two corpus sizes.

The corpus: tinyshakespeare.txt, then the standard library's own `.py` sources (sorted by
path; its tests included), joined and cut at a line end to the size; the smaller size is a
prefix of the larger, so time and peak memory against size show the growth. Every job runs
as its own process (`python -m npllm ...`, or a short script for a peer), so a figure is what
a user waits for, process start and imports included, with nothing warm from an earlier run;
the jobs of one round run one after another, interleaved round by round, so load from other
work falls on all of them alike.

- `encode-file --workers 2` against `--workers 1` (target: 2 workers at least 1.7x the
  throughput of one, a ratio of at most 1 / 1.7) and against tiktoken's
  `encode_ordinary_batch(num_threads=2)` on the same text, in the same chunks, written as
  the same uint16 file (target 1.3x). Both outputs are checked byte for byte against the
  one-worker file.
- `train-bpe --workers 2` against `--workers 1` (the saved vocabularies checked identical:
  merge for merge) and against HF's BpeTrainer (ByteLevel, GPT-2 regex, 256-byte alphabet)
  with RAYON_NUM_THREADS=2, at each corpus size: seconds (target 0.5x at the larger size),
  and peak memory of the whole process tree (the sum of each process's PSS: pages shared
  by a forked worker and its parent count once), sampled from /proc every 10 ms (target 0.3x).
  HF is timed two ways: `train(files)` (it reads the file line by line; its fast, lean way)
  and `train_from_iterator([text])` (the whole text as one string, as the issue measured).
  Without `tokenizers` those rows say skipped.

What this leaves out: in-process encoding speed (bench_encode), the trainer at small sizes
and against its reference (bench_train).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass

from benchmarks.common import MB, Result, progress, summarize
from npllm import data

HERE = pathlib.Path(__file__).resolve().parent.parent  # the repository, for `python -m npllm`
ENCODE_SPEEDUP_TARGET = 1 / 1.7  # seconds with 2 workers / seconds with 1
ENCODE_TIKTOKEN_TARGET = 1.3  # encode-file --workers 2 / tiktoken's 2-thread batch
TRAIN_HF_TARGET = 0.5  # train-bpe --workers 2 / HF with 2 threads, seconds
MEMORY_HF_TARGET = 0.3  # the same, peak memory of the process tree


@dataclass(frozen=True)
class Sizes:
    encode_mb: float  # the encode-file corpus
    train_mb: tuple[float, float]  # the two training corpora
    vocab_size: int
    repeat: int  # rounds, each running every job once


FULL = Sizes(8, (10, 20), 32_768, 3)
QUICK = Sizes(2, (1, 2), 4_096, 2)


def run(quick: bool, profile: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    hf_why = _tokenizers_missing()
    with tempfile.TemporaryDirectory(prefix="npllm-bench-scale-") as tmp:
        tmp = pathlib.Path(tmp)
        corpus = _corpus(max(sizes.encode_mb, *sizes.train_mb))
        rows = _encode_rows(tmp, corpus, sizes)
        for mb in sizes.train_mb:
            rows += _train_rows(tmp, corpus, mb, sizes, hf_why, is_target=mb == max(sizes.train_mb))
    return rows


# --- the corpus ------------------------------------------------------------------------------


def _corpus(mb: float) -> bytes:
    """tinyshakespeare, then the standard library's sources, at least `mb` MB of UTF-8 (or all of it)."""
    parts = [data.path("tinyshakespeare.txt").read_bytes()]
    size = len(parts[0])
    stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if size >= mb * MB:
            break
        if "site-packages" in path.parts:
            continue
        try:
            parts.append(path.read_bytes().decode("utf-8").encode("utf-8"))  # a file that is not UTF-8 is left out
        except (UnicodeDecodeError, OSError):
            continue
        size += len(parts[-1]) + 2
    return b"\n\n".join(parts)


def _write_prefix(corpus: bytes, mb: float, path: pathlib.Path) -> pathlib.Path:
    """The first `mb` MB of the corpus, cut at a line end, as a file."""
    end = corpus.rfind(b"\n", 0, int(mb * MB)) + 1 if len(corpus) > mb * MB else len(corpus)
    path.write_bytes(corpus[:end])
    return path


# --- encode-file -----------------------------------------------------------------------------

TIKTOKEN_SCRIPT = """
import sys, numpy as np, pathlib, tiktoken
from npllm.bpe.chunks import read_split_safe_chunks
enc = tiktoken.get_encoding("gpt2")
chunks = read_split_safe_chunks(pathlib.Path(sys.argv[1]), 1 << 20, (), pat_str=enc._pat_str)
ids = enc.encode_ordinary_batch(list(chunks), num_threads=2)
np.concatenate([np.asarray(x, dtype="<u2") for x in ids]).tofile(sys.argv[2])
"""


def _encode_rows(tmp, corpus, sizes) -> list[Result]:
    src = _write_prefix(corpus, sizes.encode_mb, tmp / "encode.txt")
    label = f"{src.stat().st_size / MB:.1f} MB of stdlib source + tinyshakespeare"
    outs = {w: tmp / f"w{w}.bin" for w in (1, 2)}
    jobs = {
        "w1": [sys.executable, "-m", "npllm", "encode-file", str(src), "-o", str(outs[1]), "--workers", "1", "--quiet"],
        "w2": [sys.executable, "-m", "npllm", "encode-file", str(src), "-o", str(outs[2]), "--workers", "2", "--quiet"],
    }
    tiktoken_why = _missing("tiktoken")
    if not tiktoken_why:
        jobs["tiktoken"] = [sys.executable, "-c", TIKTOKEN_SCRIPT, str(src), str(tmp / "tiktoken.bin")]
    progress(f"scale: encode-file, {label}, {sizes.repeat} rounds")
    times, peaks = _rounds(jobs, sizes.repeat)
    if outs[2].read_bytes() != outs[1].read_bytes():
        raise AssertionError("encode-file --workers 2 wrote other IDs than --workers 1")
    if not tiktoken_why and (tmp / "tiktoken.bin").read_bytes() != outs[1].read_bytes():
        raise AssertionError("tiktoken's IDs differ from encode-file's")
    per_mb = src.stat().st_size / MB
    speedup = times["w1"]["median"] / times["w2"]["median"]
    rows = [
        Result(
            f"`encode-file --workers 2` vs 1 worker, gpt2, {label}",
            times["w2"],
            "`encode-file --workers 1`",
            times["w1"],
            target=ENCODE_SPEEDUP_TARGET,
            note=f"target: 2 workers >= 1.7x one worker's throughput; speedup {speedup:.2f}x; "
            f"{per_mb / times['w2']['median']:.1f} vs {per_mb / times['w1']['median']:.1f} MB/s; "
            f"fresh processes, start and imports included; output checked identical; "
            f"peak memory (PSS) of the process tree {peaks['w2']:.0f} vs {peaks['w1']:.0f} MB",
        )
    ]
    rows.append(
        Result(
            f"`encode-file --workers 2` vs tiktoken 2 threads, gpt2, {label}",
            times["w2"],
            "tiktoken `encode_ordinary_batch(num_threads=2)`",
            times.get("tiktoken"),
            target=ENCODE_TIKTOKEN_TARGET,
            note=(
                f"skipped: {tiktoken_why}"
                if tiktoken_why
                else f"target: at most {ENCODE_TIKTOKEN_TARGET:g}x; tiktoken in its own process too, given the same 1 MB "
                f"chunks and writing the same uint16 file (checked identical); "
                f"peak PSS {peaks['w2']:.0f} vs {peaks['tiktoken']:.0f} MB"
            ),
        )
    )
    return rows


# --- train-bpe -------------------------------------------------------------------------------

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


def _train_rows(tmp, corpus, mb, sizes, hf_why, is_target) -> list[Result]:
    src = _write_prefix(corpus, mb, tmp / f"train{mb:g}.txt")
    label = f"vocab {sizes.vocab_size:,}, {src.stat().st_size / MB:.1f} MB"
    outs = {w: tmp / f"m{w}.npllm-bpe" for w in (1, 2)}
    jobs = {
        f"w{w}": [
            sys.executable,
            "-m",
            "npllm",
            "train-bpe",
            str(src),
            "--vocab-size",
            str(sizes.vocab_size),
            "-o",
            str(outs[w]),
            "--name",
            "scale",
            "--quiet",
            "--workers",
            str(w),
        ]
        for w in (1, 2)
    }
    if not hf_why:
        for how in ("files", "iterator"):
            jobs[f"hf {how}"] = [sys.executable, "-c", HF_SCRIPT, str(src), str(sizes.vocab_size), how]
    progress(f"scale: train-bpe, {label}, {sizes.repeat} rounds")
    times, peaks = _rounds(jobs, sizes.repeat, env={"RAYON_NUM_THREADS": "2"})
    if outs[2].read_bytes() != outs[1].read_bytes():
        raise AssertionError(f"train-bpe --workers 2 learned other merges than --workers 1 ({label})")
    same = "the saved vocabularies of --workers 2 and 1 checked identical (merge for merge)"
    rows = [
        Result(
            f"`train-bpe --workers 2` vs 1 worker, {label}",
            times["w2"],
            "`train-bpe --workers 1`",
            times["w1"],
            note=f"{same}; only the counting runs in two processes, the merges in one; "
            f"peak memory (PSS) of the tree {peaks['w2']:.0f} vs {peaks['w1']:.0f} MB",
        )
    ]
    for how, what in (("files", "`train(files)`"), ("iterator", "`train_from_iterator([text])`")):
        hf = times.get(f"hf {how}")
        note = (
            f"skipped: {hf_why}"
            if hf_why
            else (
                f"{'target: at most 0.5x; ' if is_target else ''}HF {what} with RAYON_NUM_THREADS=2; "
                f"peak PSS {peaks['w2']:.0f} vs {peaks[f'hf {how}']:.0f} MB; HF's merges differ a little (ties by ID)"
            )
        )
        rows.append(
            Result(
                f"`train-bpe --workers 2` vs HF {how}, {label}",
                times["w2"],
                f"HF tokenizers {what}, 2 threads",
                hf,
                target=TRAIN_HF_TARGET if is_target else None,
                note=note,
            )
        )
        if not hf_why:
            rows.append(
                Result(
                    f"peak memory of `train-bpe --workers 2` vs HF {how}, {label}",
                    _mb_figure(peaks, "w2"),
                    f"HF tokenizers {what}, 2 threads",
                    _mb_figure(peaks, f"hf {how}"),
                    unit="MB",
                    target=MEMORY_HF_TARGET if is_target else None,
                    note=f"{'target: at most 0.3x; ' if is_target else ''}the largest PSS sum of the process tree "
                    f"(parent and workers) over the rounds, sampled every 10 ms",
                )
            )
    return rows


# --- running jobs ----------------------------------------------------------------------------


def _rounds(jobs: dict[str, list[str]], repeat: int, env: dict | None = None) -> tuple[dict, dict]:
    """Each job once per round, in turn: (name -> timing figures, name -> peak tree RSS in MB)."""
    seconds = {name: [] for name in jobs}
    peaks = {name: 0.0 for name in jobs}
    run_env = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    for _ in range(repeat):
        for name, cmd in jobs.items():
            wall, peak = _run_measured(cmd, run_env)
            seconds[name].append(wall)
            peaks[name] = max(peaks[name], peak)
    return {name: summarize(runs) for name, runs in seconds.items()}, peaks


def _run_measured(cmd: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, peak RSS of the process and its descendants in MB) of one command."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed: {err.decode(errors='replace')[-500:]}")
    return wall, peak[0] / 2**20


def _tree_rss(pid: int) -> int:
    """Bytes of memory of `pid` and all its descendants, from /proc (0 elsewhere): each
    process's PSS (its resident pages, a page shared by k processes counted 1/k in each, so a
    forked worker's pages shared with its parent are not counted twice), else its RSS."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            total += _memory_of(p)
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            continue
    return total


def _memory_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _mb_figure(peaks: dict, name: str) -> dict:
    return summarize([peaks[name]])


def _missing(module: str) -> str:
    import importlib.util

    return "" if importlib.util.find_spec(module) else f"{module} not installed"


def _tokenizers_missing() -> str:
    return _missing("tokenizers")
