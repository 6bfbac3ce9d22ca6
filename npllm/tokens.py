"""Token files: a corpus encoded once, saved as raw IDs, memory-mapped for training.

The format is nanoGPT's `train.bin`: the IDs as raw little-endian uint16 when every ID is
below 65,536 (GPT-2), else uint32 (cl100k_base). Beside it, `<file>.json` says the dtype,
the count and the encoding, so `load_tokens` never guesses and can check the size.
`encode_file` streams a text file of any size through an encoding, in chunks cut where the
split cannot change (`npllm.bpe.chunks`), optionally in several processes, into such a file.

Both files are written whole or not at all (`npllm.bpe.files.AtomicFile`): each goes to a
temporary file first, and the two are renamed into place only once both are complete.
What this leaves out: compression, sharding, any other dtype.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable

import numpy as np

from npllm._checks import check_setting
from npllm.bpe.files import AtomicFile, atomic_write  # noqa: F401  (atomic_write: for the CLI)
from npllm.progress import ProgressLine

FORMAT = "npllm-tokens v1"
DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}  # name -> little-endian dtype
ENCODE_CHUNK_CHARS = 1 << 18  # characters per chunk (handed to a worker): less is less memory, no faster


def save_tokens(path, ids, encoding=None) -> pathlib.Path:
    """Write token IDs as a raw uint16/uint32 file plus its `.json` sidecar; returns the sidecar.

    `encoding`: the name of the encoding the IDs come from (a str), the `Encoding` itself,
    or None. Everything is checked before anything is written, and the two files appear
    together or not at all.
    """
    from npllm.loader import as_token_array

    name = encoding_label(encoding)
    array = as_token_array(ids)  # (N,) checked: integers, none negative
    if len(array) and int(array.max()) >= 1 << 32:
        raise ValueError(f"token ID {int(array.max())} does not fit in uint32")
    dtype = "uint16" if len(array) == 0 or int(array.max()) < 1 << 16 else "uint32"
    path = pathlib.Path(path)
    _write_pair(path, lambda f: array.astype(DTYPES[dtype]).tofile(f), lambda: (dtype, len(array), name))
    return sidecar_path(path)


def encoding_label(encoding) -> str | None:
    """What a sidecar records as the encoding: a name, or None.

    "gpt2" -> "gpt2"; an `Encoding` -> its name, unless it takes the name of a built-in
    encoding without being it (a vocabulary trained and named "gpt2" would be decoded with
    the real GPT-2 later): that is a ValueError.
    """
    from npllm.bpe import Encoding, get_encoding, list_encoding_names

    if encoding is None or isinstance(encoding, str):
        return encoding
    if not isinstance(encoding, Encoding):
        raise TypeError(f"encoding must be a name (str), an Encoding or None, got {type(encoding).__name__}")
    name = encoding.name
    if name in list_encoding_names():
        builtin = get_encoding(name)
        same = encoding is builtin or (
            encoding.pat_str == builtin.pat_str
            and encoding.special_tokens == builtin.special_tokens
            and encoding.mergeable_ranks == builtin.mergeable_ranks
        )
        if not same:
            raise ValueError(
                f"the encoding is named {name!r}, as the built-in one, but its vocabulary differs: a token file "
                f"would say {name!r} and be decoded with the built-in {name}; give it another name"
            )
    return name


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
        raise FileNotFoundError(
            f"{side} is missing: a token file needs its sidecar to be read (dtype and count)"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{side} is not a valid JSON sidecar ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f'{side} is not an npllm token-file sidecar (expected "format": "{FORMAT}")')
    if meta.get("dtype") not in DTYPES:
        raise ValueError(f"{side}: dtype must be one of {sorted(DTYPES)}, got {meta.get('dtype')!r}")
    count = meta.get("count")
    check_setting(f"{side}: count", count, 0)
    return meta


def encode_file(
    src,
    dst,
    encoding="gpt2",
    *,
    workers: int = 1,
    special: str = "refuse",
    chunk_chars: int = ENCODE_CHUNK_CHARS,
    progress: bool = False,
) -> int:
    """Encode the UTF-8 text file `src` into the token file `dst`; returns the token count.

    The IDs are exactly those of encoding the whole file at once: chunks are cut only where
    the split cannot change (`npllm.bpe.chunks`), and memory stays within a few chunks.
    `workers` > 1 encodes chunks in that many processes, in order, at most two chunks per
    worker in flight. `special`: what to do with special-token text in the file: "refuse"
    (a ValueError, as `encode`, that gives its character position in the file), "allow"
    (special tokens) or "ordinary" (text). Every byte of the file is text: "\\r\\n" stays
    "\\r\\n", and a byte order mark is the character U+FEFF, as tiktoken encodes it.
    Nothing is written to `dst` unless the whole file encodes; `dst` may not be `src`.
    """
    from npllm.bpe import Encoding, get_encoding
    from npllm.bpe.chunks import read_split_safe_chunks

    if special not in ("refuse", "allow", "ordinary"):
        raise ValueError(f'special must be "refuse", "allow" or "ordinary", got {special!r}')
    workers = check_setting("workers", workers, 1)
    chunk_chars = check_setting("chunk_chars", chunk_chars, 1)
    enc = encoding if isinstance(encoding, Encoding) else get_encoding(encoding)
    name = encoding_label(enc)
    src, dst = pathlib.Path(src), pathlib.Path(dst)
    total_bytes = src.stat().st_size
    for out in (dst, sidecar_path(dst)):
        if out.exists() and os.path.samefile(out, src):
            raise ValueError(
                f"{out} is the text file {src} itself: writing it would destroy the input; give another -o"
            )
    dtype = "uint16" if enc.max_token_value < 1 << 16 else "uint32"
    meter = ProgressLine(every_s=0.25) if progress else None
    count = 0
    done_bytes = 0

    def write(f) -> None:
        nonlocal count, done_bytes
        specials = enc.special_tokens_set if special != "ordinary" else ()
        chunks = read_split_safe_chunks(src, chunk_chars, specials, pat_str=enc.pat_str)
        for n_bytes, packed in _encode_chunks(enc, _with_offsets(chunks), special, workers, str(src), dtype):
            f.write(packed)  # already the file's bytes: the parent only orders and writes
            count += len(packed) // DTYPES[dtype].itemsize
            done_bytes += n_bytes
            if meter and meter.due():
                meter.write(_encode_status(done_bytes, total_bytes, count, meter.elapsed))

    try:
        _write_pair(dst, write, lambda: (dtype, count, name))
    except BaseException:
        if meter:
            meter.abandon()
        raise
    if meter:
        meter.close(_encode_status(done_bytes, total_bytes, count, meter.elapsed))
    return count


def _with_offsets(chunks: Iterable[str]):
    """(character offset in the file, chunk) for each chunk."""
    offset = 0
    for text in chunks:
        yield offset, text
        offset += len(text)


def _encode_chunks(enc, chunks, special: str, workers: int, where: str, dtype: str = "uint32"):
    """(UTF-8 size, IDs as raw little-endian `dtype` bytes) per (offset, chunk), in order.

    In `workers` processes if more than one (`npllm.workers.ordered_map`), with at most two
    chunks per worker in hand, so memory stays bounded. A worker sends back the chunk's IDs
    packed as the token file's own bytes (2 or 4 per ID, one `bytes` object to unpickle), not
    a list of Python ints: the parent reads, orders and writes, and the workers do the rest.
    """
    if workers == 1:
        for offset, text in chunks:
            yield _encode_one(enc, text, special, offset, where, dtype)
        return
    from npllm.workers import ordered_map

    state = (enc, special, where, dtype)
    yield from ordered_map(_worker_encode, chunks, workers, initializer=_worker_init, initargs=state)


def _encode_one(enc, text: str, special: str, offset: int, where: str, dtype: str) -> tuple[int, bytes]:
    """(UTF-8 size of `text`, its IDs as raw `dtype` bytes). "hello world", "uint16" -> (11, b"\\x8dz\\xe3\\x03")"""
    from npllm.bpe.encoding import DisallowedSpecialToken

    try:
        if special == "allow":
            ids = enc.encode_to_numpy(text, allowed_special="all")
        elif special == "ordinary":
            ids = enc.encode_to_numpy(text, disallowed_special=())  # special-token text as text
        else:
            ids = enc.encode_to_numpy(text)
    except DisallowedSpecialToken as e:  # its position counts from the chunk: make it the file's
        position = offset + e.position
        raise DisallowedSpecialToken(
            f'{where} holds the special token {e.token!r} at character {position:,}; pass special="allow" '
            f'to encode it as that token, or special="ordinary" to encode it as text',
            e.token,
            position,
        ) from None
    n_bytes = len(text) if text.isascii() else len(text.encode("utf-8", errors="surrogatepass"))
    return n_bytes, ids.astype(DTYPES[dtype], copy=False).tobytes()  # (N,) uint32 -> 2N or 4N bytes


_worker_state: tuple | None = None  # (Encoding, special, file name, dtype) in each worker process


def _worker_init(enc, special: str, where: str, dtype: str) -> None:
    global _worker_state
    _worker_state = (enc, special, where, dtype)


def _worker_encode(item: tuple[int, str]) -> tuple[int, bytes]:
    enc, special, where, dtype = _worker_state
    offset, text = item
    return _encode_one(enc, text, special, offset, where, dtype)


def _write_pair(path: pathlib.Path, write_data, sidecar_fields) -> None:
    """The token file (write_data(f)) and then its sidecar (sidecar_fields() -> dtype, count,
    encoding), each to a temporary file; both renamed into place only when both are whole."""
    data, side = AtomicFile(path), None
    try:
        write_data(data.file)
        dtype, count, encoding = sidecar_fields()
        meta = {"format": FORMAT, "dtype": dtype, "count": count, "encoding": encoding, "byteorder": "little"}
        side = AtomicFile(sidecar_path(path))
        side.file.write(json.dumps(meta, indent=1).encode("utf-8") + b"\n")
    except BaseException:
        data.discard()
        if side:
            side.discard()
        raise
    try:
        data.commit()
    except BaseException:
        side.discard()
        raise
    side.commit()


def _encode_status(done_bytes: int, total_bytes: int, tokens: int, elapsed: float) -> str:
    """ "0.5/1.1 MB  7.0 MB/s  150,000 tokens" """
    done, total, speed = done_bytes / 1e6, total_bytes / 1e6, done_bytes / elapsed / 1e6
    return f"{done:,.1f}/{total:,.1f} MB  {speed:,.1f} MB/s  {tokens:,} tokens"
