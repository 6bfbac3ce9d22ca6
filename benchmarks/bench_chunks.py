"""Chunking: a large file cut where the split cannot change (npllm/bpe/chunks.py), and
`npllm encode-file` on the inputs that made the old cut search quadratic (issue 13).

Every figure is in seconds per MB against npllm's own figure on ordinary text of the same
size in the same run (tinyshakespeare, repeated), so a ratio near 1 means "as fast per byte as
ordinary text", and the note gives MB/s:

- `read_split_safe_chunks` (4 Mi-character chunks) on a 16 MB single line without a space or
  a line end (minified code), 8 MB of minified JSON, 3 MB of Chinese with CRLF line ends (the
  old rule found no cut in any of the three: 45 s for 16 MB), and 16 MB of "x" (one piece:
  no cut can split it, so it is held whole, still in linear time). The note gives the peak
  memory of an untimed run (tracemalloc): a few chunks' worth, whatever the file's size.
- linearity: the "x" file (no cut: every character examined) at 1/4, 1/2 and the full size,
  seconds per MB each; linear cut-finding keeps them about equal, a quadratic one would not.
- `npllm encode-file` (the command, gpt2, one worker, in a fresh process: wall clock, and the
  peak resident memory it reports, VmHWM) on the line and the JSON, against the same on
  ordinary text. Before timing, each token file is checked equal to encoding the whole text.

Quick mode (`QUICK`): a tenth of the sizes, one timed run of the command.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass

import npllm
from benchmarks.common import MB, Result, progress, scale, summarize, timeit
from npllm import data
from npllm.bpe.chunks import READ_CHUNK_CHARS, read_split_safe_chunks
from npllm.tokens import ENCODE_CHUNK_CHARS

ENCODING = "gpt2"
LINEAR_TARGET = 2.0  # s/MB at full size / s/MB at a quarter (a quadratic search: 4)


@dataclass(frozen=True)
class Sizes:
    repeat: int  # timed runs of the chunker per figure
    command_repeat: int  # timed runs of `npllm encode-file` per figure
    line_bytes: int
    json_bytes: int
    cjk_bytes: int
    x_bytes: int


FULL = Sizes(5, 3, 16_000_000, 8_000_000, 3_000_000, 16_000_000)
QUICK = Sizes(3, 1, 1_600_000, 800_000, 300_000, 1_600_000)


def run(quick: bool, profile: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    folder = pathlib.Path(tempfile.mkdtemp(prefix="npllm-bench-chunks-"))
    try:
        return _rows(sizes, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _rows(sizes: Sizes, folder: pathlib.Path) -> list[Result]:
    shakespeare = data.read_text("tinyshakespeare.txt")
    inputs = {  # label -> (file, what it is)
        "line": _write(folder / "line.txt", minified_code(sizes.line_bytes)),
        "json": _write(folder / "json.txt", minified_json(sizes.json_bytes)),
        "cjk": _write(folder / "cjk.txt", chinese_crlf(sizes.cjk_bytes)),
        "x": _write(folder / "x.txt", "x" * sizes.x_bytes),
    }
    labels = {
        "line": f"one {sizes.line_bytes / MB:g} MB line, no space (minified code)",
        "json": f"{sizes.json_bytes / MB:g} MB of minified JSON",
        "cjk": f"{sizes.cjk_bytes / MB:g} MB of Chinese, CRLF line ends",
        "x": f'"x" * {sizes.x_bytes:_} (one piece)',
    }
    ordinary = {}  # size in bytes -> a file of ordinary text that large
    rows = []

    def ordinary_file(n_bytes: int) -> pathlib.Path:
        if n_bytes not in ordinary:
            text = (shakespeare * (n_bytes // len(shakespeare) + 1))[:n_bytes]
            ordinary[n_bytes] = _write(folder / f"ordinary-{n_bytes}.txt", text)
        return ordinary[n_bytes]

    # the chunker alone
    for key, path in inputs.items():
        progress(f"chunks: {key}")
        mb = path.stat().st_size / MB
        figure = scale(timeit(lambda path=path: _chunk(path), sizes.repeat), 1 / mb)
        base_path = ordinary_file(path.stat().st_size)
        base = scale(timeit(lambda: _chunk(base_path), sizes.repeat), 1 / mb)
        n_chunks, peak = _chunk_count_and_peak(path)
        rows.append(
            Result(
                f"read_split_safe_chunks, {labels[key]}",
                figure,
                "the same on ordinary text (tinyshakespeare)",
                base,
                unit="s/MB",
                note=f"{1 / figure['median']:,.0f} MB/s against {1 / base['median']:,.0f} MB/s; {n_chunks} chunks of at most "
                f"{READ_CHUNK_CHARS / 2**20:g} Mi characters; peak memory {peak / MB:,.1f} MB for the {mb:,.1f} MB file",
                profile=lambda path=path: lambda: _chunk(path),
            )
        )

    # linearity, where the search has the most to do: no cut at all, every character examined
    progress("chunks: linearity")
    per_mb = {}
    for fraction in (4, 2, 1):
        part = _write(folder / f"x-{fraction}.txt", "x" * (sizes.x_bytes // fraction))
        per_mb[fraction] = scale(timeit(lambda part=part: _chunk(part), sizes.repeat), MB / part.stat().st_size)
    rows.append(
        Result(
            f'read_split_safe_chunks, "x" * {sizes.x_bytes:_} against a quarter of it, per MB',
            per_mb[1],
            "the same per MB on the quarter",
            per_mb[4],
            unit="s/MB",
            target=LINEAR_TARGET,
            note="s/MB at 1/4, 1/2, 1: "
            + ", ".join(f"{per_mb[f]['median']:.5f}" for f in (4, 2, 1))
            + "; linear: about equal (the old search was quadratic: 4x the size, 4x the time per MB)",
        )
    )

    # the command, end to end
    for key in ("line", "json"):
        progress(f"encode-file: {key}")
        path = inputs[key]
        _check_whole(path, folder / f"{key}.bin")
        mb = path.stat().st_size / MB
        figure, rss = _command(path, folder / f"{key}.bin", sizes.command_repeat)
        base_figure, base_rss = _command(
            ordinary_file(path.stat().st_size), folder / "ordinary.bin", sizes.command_repeat
        )
        rows.append(
            Result(
                f"npllm encode-file, {labels[key]}, {ENCODING}",
                scale(figure, 1 / mb),
                "the same on ordinary text (tinyshakespeare)",
                scale(base_figure, 1 / mb),
                unit="s/MB",
                note=f"{mb / figure['median']:,.1f} MB/s against {mb / base_figure['median']:,.1f} MB/s; peak RSS "
                f"{_mb(rss)} against {_mb(base_rss)} (chunks of {ENCODE_CHUNK_CHARS / 2**20:g} Mi characters); "
                f"equal to encoding the whole text; a fresh process per run (start-up included)",
            )
        )
    return rows


# --- timing and checking ---------------------------------------------------------------------------


def _chunk(path: pathlib.Path) -> int:
    return sum(1 for _ in read_split_safe_chunks(path, special_tokens=["<|endoftext|>"]))


def _chunk_count_and_peak(path: pathlib.Path) -> tuple[int, int]:
    """(chunks, peak bytes traced while chunking `path`), one untimed run."""
    tracemalloc.start()
    try:
        n = _chunk(path)
        return n, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# The child reports its own peak resident memory: VmHWM is reset at exec, while the rusage of a
# child (os.wait4, RUSAGE_CHILDREN) still counts the parent's image it was forked from.
CHILD = """import sys
from npllm.cli import main
code = main(sys.argv[1:])
try:
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak = 0
print(peak)
sys.exit(code)
"""


def _command(src: pathlib.Path, dst: pathlib.Path, repeat: int) -> tuple[dict, int]:
    """`npllm encode-file src -o dst` in fresh processes: (timeit-style seconds, peak RSS bytes, 0 if unknown)."""
    root = str(pathlib.Path(npllm.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    argv = [sys.executable, "-c", CHILD, "encode-file", str(src), "-o", str(dst), "--encoding", ENCODING, "--quiet"]
    runs, peak = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True)
        runs.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise RuntimeError(f"npllm encode-file {src.name} failed: {done.stderr}")
        peak = max(peak, int(done.stdout.split()[-1]))
    return summarize(runs), peak


def _check_whole(src: pathlib.Path, dst: pathlib.Path) -> None:
    """encode_file's IDs must be those of the whole text encoded at once: timing wrong output means nothing."""
    from npllm.tokens import encode_file

    enc = npllm.get_encoding(ENCODING)
    encode_file(src, dst, enc)
    whole = enc.encode_to_numpy(src.read_bytes().decode("utf-8"))
    got = npllm.load_tokens(dst)
    if len(got) != len(whole) or not (got == whole).all():
        raise AssertionError(f"encode_file on {src.name} differs from encoding the whole text")


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / MB:,.0f} MB" if n_bytes else "unknown (no /proc)"


# --- inputs --------------------------------------------------------------------------------------------


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def minified_code(n_bytes: int, seed: int = 0) -> str:
    """One line of identifiers, numbers and operators with no space and no line end."""
    rng = random.Random(seed)
    names = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(1, 8))) for _ in range(500)]
    ops = ["=", "+", "-", "*", "(", ")", "{", "}", "[", "]", ";", ",", ".", "&&", "||", "!==", "=>", ":", "?"]
    parts, size = [], 0
    while size < n_bytes:
        k = rng.random()
        part = rng.choice(names) if k < 0.5 else str(rng.randrange(1000)) if k < 0.6 else rng.choice(ops)
        parts.append(part)
        size += len(part)
    return "".join(parts)[:n_bytes]


def minified_json(n_bytes: int, seed: int = 0) -> str:
    """json.dumps of records with separators=(",", ":"): no space, no line end."""
    rng = random.Random(seed)
    records, size = [], 0
    while size < n_bytes:
        record = {
            "id": rng.randrange(10**6),
            "name": "".join(rng.choices("abcdefghijkl", k=rng.randint(3, 12))),
            "tags": rng.sample(["x", "yz", "new", "old", "中文"], 2),
            "score": round(rng.random(), 4),
            "ok": rng.random() < 0.5,
        }
        records.append(record)
        size += len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) + 1
    return json.dumps(records, separators=(",", ":"), ensure_ascii=False)


def chinese_crlf(n_bytes: int) -> str:
    lines = ["我能吞下玻璃而不伤身体。", "今天的天气很好，我们去公园散步吧", "第一百二十三章", "他说：“你好！”"]
    out, size, i = [], 0, 0
    while size < n_bytes:
        line = lines[i % len(lines)] + "\r\n"
        out.append(line)
        size += len(line.encode("utf-8"))
        i += 1
    return "".join(out)
