"""Chunking: a large file cut where the split cannot change (npllm/bpe/chunks.py), and
`npllm encode-file` on the inputs that made the old cut search quadratic (issue 13).

Every figure is in seconds per MB against npllm's own figure on ordinary text of the same size
in the same run (tinyshakespeare, repeated), so a ratio near 1 means "as fast per byte as
ordinary text"; the note gives MB/s:

- `read_split_safe_chunks` (4 Mi-character chunks) on a 16 MB single line without a space or a
  line end (minified code), 8 MB of minified JSON, 3 MB of Chinese with CRLF line ends (the old
  rule found no cut in any of the three: 45 s for 16 MB), and 16 MB of "x" (one piece: no cut
  can split it, so it is held whole, still in linear time). The note gives the peak memory of
  an untimed run (`common.traced_peak`): a few chunks' worth, whatever the file's size.
- linearity: the "x" file (no cut: every character examined) at 1/4, 1/2 and the full size,
  seconds per MB each; linear cut-finding keeps them about equal, a quadratic one would not.
- `npllm encode-file` (gpt2, one worker, a fresh process per run: wall clock, and its peak
  memory, `common.run_process`) on the line and the JSON, against the same on ordinary text.
  Before timing, each token file is checked equal to encoding the whole text.

Quick mode: a tenth of the sizes, one timed run of the command.
"""

from __future__ import annotations

import atexit
import functools
import pathlib
import shutil
import sys
import tempfile
from dataclasses import dataclass

import npllm
from benchmarks import texts
from benchmarks.common import MB, Result, progress, run_process, scale, summarize, timeit, traced_peak
from npllm import data
from npllm.bpe.chunks import READ_CHUNK_CHARS, read_split_safe_chunks
from npllm.tokens import ENCODE_CHUNK_CHARS, encode_file

ENCODING = "gpt2"
LINEAR_TARGET = 2.0  # s/MB at full size / s/MB at a quarter (a quadratic search: 4)
ORDINARY = "the same on ordinary text (tinyshakespeare)"


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


def run(quick: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="npllm-bench-chunks-") as folder:
        folder = pathlib.Path(folder)
        makers = {  # label -> the call that makes the input's text
            f"one {sizes.line_bytes / MB:g} MB line, no space (minified code)": (texts.minified_code, sizes.line_bytes),
            f"{sizes.json_bytes / MB:g} MB of minified JSON": (texts.minified_json, sizes.json_bytes),
            f"{sizes.cjk_bytes / MB:g} MB of Chinese, CRLF line ends": (texts.chinese_crlf, sizes.cjk_bytes),
            f'"x" * {sizes.x_bytes:_} (one piece)': (str.__mul__, "x", sizes.x_bytes),
        }
        makers = {label: functools.partial(*how) for label, how in makers.items()}
        inputs = {label: _write(folder / f"input{i}.txt", make()) for i, (label, make) in enumerate(makers.items())}
        rows = [_chunker_row(label, path, makers[label], sizes.repeat) for label, path in inputs.items()]
        rows.append(_linearity_row(folder, sizes))
        for label, path in list(inputs.items())[:2]:  # the line and the JSON
            rows.append(_command_row(label, path, _ordinary(path), sizes.command_repeat))
    return rows


def _chunker_row(label: str, path: pathlib.Path, make_text, repeat: int) -> Result:
    """read_split_safe_chunks on `path` against the same on ordinary text, seconds per MB."""
    progress(f"chunks: {label}")
    mb, ordinary = path.stat().st_size / MB, _ordinary(path)
    figure = scale(timeit(lambda: _chunk(path), repeat), 1 / mb)
    base = scale(timeit(lambda: _chunk(ordinary), repeat), 1 / mb)
    n_chunks, peak_mb = traced_peak(lambda: _chunk(path))
    note = (
        f"{1 / figure['median']:,.0f} MB/s against {1 / base['median']:,.0f} MB/s; {n_chunks} chunks of at most "
        f"{READ_CHUNK_CHARS / 2**20:g} Mi characters; peak memory {peak_mb:,.1f} MB for the {mb:,.1f} MB file"
    )
    name = f"read_split_safe_chunks, {label}"
    return Result(name, figure, ORDINARY, base, "s/MB", note, profile=lambda: _profile_target(make_text))


def _profile_target(make_text):
    """--profile comes after the run, whose files are gone: the input written again, and the call that chunks it."""
    folder = tempfile.mkdtemp(prefix="npllm-bench-profile-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = _write(pathlib.Path(folder) / "input.txt", make_text())
    return lambda: _chunk(path)


def _linearity_row(folder: pathlib.Path, sizes: Sizes) -> Result:
    """Where the search has the most to do (no cut at all, every character examined): s/MB at 1/4, 1/2, 1."""
    progress("chunks: linearity")
    per_mb = {}  # fraction of the size -> seconds per MB
    for fraction in (4, 2, 1):
        part = _write(folder / f"x-{fraction}.txt", "x" * (sizes.x_bytes // fraction))
        per_mb[fraction] = scale(timeit(lambda: _chunk(part), sizes.repeat), MB / part.stat().st_size)
    note = (
        "s/MB at 1/4, 1/2, 1: "
        + ", ".join(f"{per_mb[f]['median']:.5f}" for f in (4, 2, 1))
        + "; linear: about equal (the old search was quadratic: 4x the size, 4x the time per MB)"
    )
    name = f'read_split_safe_chunks, "x" * {sizes.x_bytes:_} against a quarter of it, per MB'
    return Result(name, per_mb[1], "the same per MB on the quarter", per_mb[4], "s/MB", note, LINEAR_TARGET)


def _command_row(label: str, path: pathlib.Path, ordinary: pathlib.Path, repeat: int) -> Result:
    """`npllm encode-file` on `path` against the same on ordinary text: seconds per MB, peak memory in the note."""
    progress(f"encode-file: {label}")
    out = path.parent / "ids.bin"
    _check_whole(path, out)
    mb = path.stat().st_size / MB
    figure, peak = _command(path, out, repeat)
    base, base_peak = _command(ordinary, out, repeat)
    note = (
        f"{mb / figure['median']:,.1f} MB/s against {mb / base['median']:,.1f} MB/s; peak memory (PSS) "
        f"{peak:,.0f} MB against {base_peak:,.0f} MB (chunks of {ENCODE_CHUNK_CHARS / 2**20:g} Mi characters); "
        f"equal to encoding the whole text; a fresh process per run (start-up included)"
    )
    return Result(
        f"npllm encode-file, {label}, {ENCODING}", scale(figure, 1 / mb), ORDINARY, scale(base, 1 / mb), "s/MB", note
    )


def _command(src: pathlib.Path, dst: pathlib.Path, repeat: int) -> tuple[dict, float]:
    """`npllm encode-file src -o dst` in fresh processes: (seconds figures, peak MB of memory)."""
    cmd = [sys.executable, "-m", "npllm", "encode-file", str(src), "-o", str(dst), "--encoding", ENCODING, "--quiet"]
    runs = [run_process(cmd) for _ in range(repeat)]  # (stdout, seconds, peak MB) each
    return summarize([seconds for _, seconds, _ in runs]), max(peak for _, _, peak in runs)


def _chunk(path: pathlib.Path) -> int:
    return sum(1 for _ in read_split_safe_chunks(path, special_tokens=["<|endoftext|>"]))


def _check_whole(src: pathlib.Path, dst: pathlib.Path) -> None:
    """encode_file's IDs must be those of the whole text encoded at once: timing wrong output means nothing."""
    enc = npllm.get_encoding(ENCODING)
    encode_file(src, dst, enc)
    whole = enc.encode_to_numpy(src.read_bytes().decode("utf-8"))
    got = npllm.load_tokens(dst)
    if len(got) != len(whole) or not (got == whole).all():
        raise AssertionError(f"encode_file on {src.name} differs from encoding the whole text")


def _write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def _ordinary(like: pathlib.Path) -> pathlib.Path:
    """A file of tinyshakespeare repeated to the size of `like`, beside it; written once per size."""
    n_bytes = like.stat().st_size
    path = like.parent / f"ordinary-{n_bytes}.txt"
    if not path.exists():
        shakespeare = data.read_text("tinyshakespeare.txt")
        _write(path, (shakespeare * (n_bytes // len(shakespeare) + 1))[:n_bytes])
    return path
