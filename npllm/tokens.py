"""Token files: a corpus encoded once, saved as raw IDs, memory-mapped for training.

The format is nanoGPT's `train.bin`: the IDs as raw little-endian uint16 when every ID is
below 65,536 (GPT-2), else uint32 (cl100k_base). Beside it, `<file>.json` says the dtype,
the count and the encoding, so `load_tokens` never guesses and can check the size.
`encode_file` streams a text file of any size through an encoding, in chunks cut where the
split cannot change, optionally in several processes, into such a file.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile
from collections.abc import Iterable

import numpy as np

from npllm.progress import ProgressLine

FORMAT = "npllm-tokens v1"
DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}  # name -> little-endian dtype
ENCODE_CHUNK_CHARS = 1 << 20  # characters per chunk handed to a worker


def save_tokens(path, ids, encoding: str | None = None) -> pathlib.Path:
    """Write token IDs as a raw uint16/uint32 file plus its `.json` sidecar; returns the sidecar."""
    from npllm.loader import as_token_array

    array = as_token_array(ids)  # (N,) checked: integers, none negative
    dtype = "uint16" if len(array) == 0 or int(array.max()) < 1 << 16 else "uint32"
    if len(array) and int(array.max()) >= 1 << 32:
        raise ValueError(f"token ID {int(array.max())} does not fit in uint32")
    path = pathlib.Path(path)
    atomic_write(path, lambda f: array.astype(DTYPES[dtype]).tofile(f))
    return _write_sidecar(path, dtype, len(array), encoding)


def load_tokens(path) -> np.ndarray:
    """A token file as a read-only memmap (N,): nothing is read until it is used."""
    path = pathlib.Path(path)
    meta = read_sidecar(path)
    dtype = DTYPES[meta["dtype"]]
    size = path.stat().st_size if path.exists() else None
    if size is None:
        raise FileNotFoundError(f"no token file {path} (its sidecar {sidecar_path(path)} exists)")
    if size != meta["count"] * dtype.itemsize:
        raise ValueError(
            f"{path} has {size:,} bytes, but its sidecar says {meta['count']:,} {meta['dtype']} IDs "
            f"({meta['count'] * dtype.itemsize:,} bytes): the file is truncated or not the one the sidecar describes"
        )
    if meta["count"] == 0:
        empty = np.zeros(0, dtype=dtype)  # an empty file cannot be memory-mapped
        empty.flags.writeable = False
        return empty
    return np.memmap(path, dtype=dtype, mode="r", shape=(meta["count"],))


def sidecar_path(path) -> pathlib.Path:
    path = pathlib.Path(path)
    return path.with_name(path.name + ".json")


def read_sidecar(path) -> dict:
    """The sidecar of token file `path`, checked."""
    side = sidecar_path(path)
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{side} is missing: a token file needs its sidecar to be read (dtype and count)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{side} is not a valid JSON sidecar ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{side} is not an npllm token-file sidecar (expected \"format\": \"{FORMAT}\")")
    if meta.get("dtype") not in DTYPES:
        raise ValueError(f"{side}: dtype must be one of {sorted(DTYPES)}, got {meta.get('dtype')!r}")
    count = meta.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"{side}: count must be an int >= 0, got {count!r}")
    return meta


def encode_file(src, dst, encoding="gpt2", *, workers: int = 1, special: str = "refuse",
                chunk_chars: int = ENCODE_CHUNK_CHARS, progress: bool = False) -> int:
    """Encode the UTF-8 text file `src` into the token file `dst`; returns the token count.

    The IDs are exactly those of encoding the whole file at once: chunks are cut only where
    the split cannot change (`read_split_safe_chunks`). `workers` > 1 encodes chunks in that
    many processes, in order. `special`: what to do with special-token text in the file:
    "refuse" (a ValueError, as `encode`), "allow" (special tokens) or "ordinary" (text).
    Nothing is written to `dst` unless the whole file encodes.
    """
    from npllm.bpe import Encoding, get_encoding
    from npllm.bpe.patterns import read_split_safe_chunks

    enc = encoding if isinstance(encoding, Encoding) else get_encoding(encoding)
    if special not in ("refuse", "allow", "ordinary"):
        raise ValueError(f'special must be "refuse", "allow" or "ordinary", got {special!r}')
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    src, dst = pathlib.Path(src), pathlib.Path(dst)
    total_bytes = src.stat().st_size
    dtype = "uint16" if enc.max_token_value < 1 << 16 else "uint32"
    meter = ProgressLine(every_s=0.25) if progress else None
    count = 0
    done_bytes = 0

    def write(f) -> None:
        nonlocal count, done_bytes
        chunks = read_split_safe_chunks(src, chunk_chars)
        for n_bytes, ids in _encode_chunks(enc, chunks, special, workers):
            ids.astype(DTYPES[dtype]).tofile(f)
            count += len(ids)
            done_bytes += n_bytes
            if meter and meter.due():
                meter.write(_encode_status(done_bytes, total_bytes, count, meter.elapsed))

    atomic_write(dst, write)
    if meter:
        meter.close(_encode_status(done_bytes, total_bytes, count, meter.elapsed))
    _write_sidecar(dst, dtype, count, enc.name)
    return count


def _encode_chunks(enc, chunks: Iterable[str], special: str, workers: int):
    """(UTF-8 size, IDs as an array) per chunk, in order; in `workers` processes if more than one."""
    if workers == 1:
        for text in chunks:
            yield _encode_one(enc, text, special)
        return
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with context.Pool(workers, initializer=_worker_init, initargs=(enc, special)) as pool:
        yield from pool.imap(_worker_encode, chunks)  # in input order


def _encode_one(enc, text: str, special: str) -> tuple[int, np.ndarray]:
    if special == "allow":
        ids = enc.encode(text, allowed_special="all")
    elif special == "ordinary":
        ids = enc.encode_ordinary(text)
    else:
        ids = enc.encode(text)
    return len(text.encode("utf-8", errors="surrogatepass")), np.asarray(ids, dtype=np.int64)


_worker_state: tuple | None = None  # (Encoding, special) in each worker process


def _worker_init(enc, special: str) -> None:
    global _worker_state
    _worker_state = (enc, special)


def _worker_encode(text: str) -> tuple[int, np.ndarray]:
    enc, special = _worker_state
    return _encode_one(enc, text, special)


def _write_sidecar(path: pathlib.Path, dtype: str, count: int, encoding: str | None) -> pathlib.Path:
    side = sidecar_path(path)
    meta = {"format": FORMAT, "dtype": dtype, "count": count, "encoding": encoding, "byteorder": "little"}
    atomic_write(side, lambda f: f.write(json.dumps(meta, indent=1).encode("utf-8") + b"\n"))
    return side


def atomic_write(path: pathlib.Path, write) -> None:
    """write(f) into a temporary file beside `path`, renamed over it only if write succeeds."""
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def _encode_status(done_bytes: int, total_bytes: int, tokens: int, elapsed: float) -> str:
    """ "0.5/1.1 MB  7.0 MB/s  150,000 tokens" """
    return f"{done_bytes / 1e6:,.1f}/{total_bytes / 1e6:,.1f} MB  {done_bytes / elapsed / 1e6:,.1f} MB/s  {tokens:,} tokens"
