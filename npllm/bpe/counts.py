"""Piece counts: the map-reduce half of BPE training, as a value you can add, save and load.

Training starts by reducing the text to its distinct pieces (the pattern's matches, as
UTF-8) with how often each occurs, in order of first appearance. That order is the "first
position" the textbook tie rule needs ("on a tie the pair seen first in the text wins"):
the trainer breaks a tie by (first piece holding the pair, byte offset in it).

Counting is a map-reduce. `count_pieces` counts one text, file or shard; `a + b` is the
counts of a's text followed by b's: occurrences add up, and b's pieces that a lacks come
after all of a's, as they would in one pass over the two texts joined, so the tie rule sees
them after a's. `+` is associative (shards can be added in a tree) but not commutative: add
shards in the order of the text. `train_bpe(counts, vocab_size)` learns from the result.

    whole = count_pieces("the cat the dog")
    parts = count_pieces("the cat") + count_pieces(" the dog")
    list(parts.items()) == list(whole.items())   # [(b"the", 1), (b" cat", 1), (b" the", 1), (b" dog", 1)]

Shards cut where the split cannot change (`npllm.bpe.chunks.read_split_safe_chunks`, or
any cut `safe_cuts` names) give the counts of the whole text exactly, so the merges are
the same, merge for merge. Cut anywhere else, each shard is split on its own, as when
`train_bpe` is given a list of texts.

`save(path)` writes a plain text file, never pickle: a first line `npllm-piece-counts v1`,
one JSON line (pat_str, special_tokens, the number of pieces and of special tokens cut
out), then one `base64(piece) count` line per piece, in order. `PieceCounts.load` checks
every line and names the one that is wrong.

What this leaves out: the merges (`train.py`), and any cluster engine: the README shows
the same counts made with Dask.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import pathlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping

import regex

from npllm._checks import check_setting, check_str
from npllm.bpe.chunks import read_split_safe_chunks
from npllm.bpe.encoding import replace_lone_surrogates, special_token_regex
from npllm.bpe.files import atomic_write
from npllm.bpe.patterns import GPT2_PATTERN, compile_ascii

MAGIC = "npllm-piece-counts v1"
COUNT_CHUNK_CHARS = 1 << 16  # characters split at a time: the list of pieces stays small (and in cache)
PARALLEL_CHUNK_CHARS = 1 << 20  # characters per task handed to a worker: small enough to share the work evenly


class PieceCounts(Mapping):
    """Distinct pieces (UTF-8 bytes) -> occurrences, in order of first appearance; mergeable.

    A mapping (`counts[b" the"]`, `len`, iteration in first-appearance order; changed only
    by `+=`) that also remembers how it was counted: `pat_str`, and the `special_tokens` cut out of the
    text before splitting (`specials_cut` of them were). Counts made with different patterns
    or special tokens cannot be added.

    PieceCounts({b"the": 2, b" cat": 1}) -> PieceCounts(2 pieces, 3 occurrences, pattern gpt2)
    """

    def __init__(
        self,
        counts: Mapping[bytes, int] | None = None,
        *,
        pat_str: str = GPT2_PATTERN,
        special_tokens: Iterable[str] = (),
        specials_cut: int = 0,
    ):
        check_str("pat_str", pat_str)
        special_tokens = tuple(special_tokens)
        if not all(isinstance(s, str) and s for s in special_tokens):
            raise TypeError(f"special_tokens must be non-empty strings, got {list(special_tokens)}")
        check_setting("specials_cut", specials_cut, 0)
        self.counts = dict(counts or {})  # bytes -> int, in order of first appearance
        self.pat_str = pat_str
        self.special_tokens = special_tokens  # cut out of the text before splitting
        self.specials_cut = specials_cut  # how many special tokens the text held
        for piece, n in self.counts.items():
            if not isinstance(piece, bytes) or not piece:
                raise TypeError(f"a piece must be non-empty bytes, got {piece!r}")
            check_setting(f"the count of {piece!r}", n, 1)

    # --- a mapping ------------------------------------------------------------------------------

    def __getitem__(self, piece: bytes) -> int:
        return self.counts[piece]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.counts)

    def __len__(self) -> int:
        return len(self.counts)

    def __eq__(self, other) -> bool:
        """Two PieceCounts are equal when everything is, the order of the pieces too; against
        a plain dict, as any mapping (the same items, in any order)."""
        if isinstance(other, PieceCounts):
            return (self.pat_str, self.special_tokens, self.specials_cut) == (
                other.pat_str,
                other.special_tokens,
                other.specials_cut,
            ) and list(self.counts.items()) == list(other.counts.items())
        return super().__eq__(other)

    __hash__ = None  # mutable (+=)

    def __repr__(self) -> str:
        name = _PATTERN_NAMES.get(self.pat_str, "custom")
        return f"PieceCounts({len(self):,} pieces, {self.total:,} occurrences, pattern {name})"

    @classmethod
    def _unchecked(cls, counts: dict, pat_str: str, special_tokens, specials_cut: int) -> PieceCounts:
        """Built from counts known to be good (this module's own): no pass over every piece."""
        out = cls(pat_str=pat_str, special_tokens=special_tokens, specials_cut=specials_cut)
        out.counts = counts
        return out

    @property
    def total(self) -> int:
        """Occurrences of all pieces: how many pieces the text splits into."""
        return sum(self.counts.values())

    # --- combining shards -----------------------------------------------------------------------

    def __add__(self, other: PieceCounts) -> PieceCounts:
        """The counts of self's text followed by other's. Neither is changed."""
        if not isinstance(other, PieceCounts):
            return NotImplemented
        out = PieceCounts._unchecked(dict(self.counts), self.pat_str, self.special_tokens, self.specials_cut)
        out += other
        return out

    def __radd__(self, other) -> PieceCounts:
        """0 + counts == counts, so `sum(shards)` works (shards in the order of the text)."""
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self + PieceCounts(pat_str=self.pat_str, special_tokens=self.special_tokens)
        return NotImplemented

    def __iadd__(self, other: PieceCounts) -> PieceCounts:
        """In place: other's text follows self's. Pieces new to self go after all of its own
        (their first appearance is in other's text, so after everything self has seen)."""
        if not isinstance(other, PieceCounts):
            return NotImplemented
        self._check_compatible(other)
        counts = self.counts
        get = counts.get
        for piece, n in other.counts.items():
            counts[piece] = get(piece, 0) + n  # a new key goes at the end: after self's pieces
        self.specials_cut += other.specials_cut
        return self

    def _check_compatible(self, other: PieceCounts) -> None:
        if other.pat_str != self.pat_str:
            raise ValueError(
                f"cannot add piece counts made with different split patterns "
                f"({_PATTERN_NAMES.get(self.pat_str, 'custom')} and {_PATTERN_NAMES.get(other.pat_str, 'custom')}); "
                f"count every shard with the same pat_str"
            )
        if set(other.special_tokens) != set(self.special_tokens):
            raise ValueError(
                f"cannot add piece counts made with different special tokens ({list(self.special_tokens)} and "
                f"{list(other.special_tokens)}); count every shard with the same special_tokens"
            )

    # --- files ----------------------------------------------------------------------------------

    def save(self, path) -> pathlib.Path:
        """Write the counts as plain text (see the module docstring), whole or not at all."""
        path = pathlib.Path(path)
        header = {
            "pat_str": self.pat_str,
            "special_tokens": list(self.special_tokens),
            "specials_cut": self.specials_cut,
            "pieces": len(self.counts),
        }

        def write(f) -> None:
            f.write(f"{MAGIC}\n{json.dumps(header, ensure_ascii=False)}\n".encode())
            lines = []
            for piece, n in self.counts.items():
                lines.append(b"%s %d\n" % (base64.b64encode(piece), n))
                if len(lines) >= 65536:
                    f.write(b"".join(lines))
                    lines.clear()
            f.write(b"".join(lines))

        atomic_write(path, write)
        return path

    @classmethod
    def load(cls, path) -> PieceCounts:
        """Read a file written by `save`; a bad line is a ValueError that gives its number."""
        path = pathlib.Path(path)
        counts = {}  # bytes -> int
        with open(path, "rb") as f:
            first = f.readline().rstrip(b"\r\n")
            if first != MAGIC.encode():
                raise ValueError(f"{path} line 1: expected {MAGIC!r}, got {first[:40]!r}: not a piece-count file")
            try:
                header = json.loads(f.readline().decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"{path} line 2: not a JSON header ({e})") from None
            header = _check_header(header, path)
            for number, line in enumerate(f, start=3):
                fields = line.decode("ascii", errors="replace").split()
                if len(fields) != 2:
                    raise ValueError(f"{path} line {number}: expected 'base64(piece) count', got {fields[:2]!r}")
                try:
                    piece = base64.b64decode(fields[0], validate=True)
                except (binascii.Error, ValueError):
                    raise ValueError(f"{path} line {number}: {fields[0][:40]!r} is not base64") from None
                if not (fields[1].isascii() and fields[1].isdigit()) or int(fields[1]) < 1:
                    raise ValueError(f"{path} line {number}: the count must be an int >= 1, got {fields[1][:20]!r}")
                if not piece:
                    raise ValueError(f"{path} line {number}: an empty piece")
                if piece in counts:
                    raise ValueError(f"{path} line {number}: the piece {piece!r} is listed twice")
                counts[piece] = int(fields[1])
        if len(counts) != header["pieces"]:
            raise ValueError(
                f"{path}: the header says {header['pieces']:,} pieces, the file has {len(counts):,}: "
                f"it is truncated or was edited"
            )
        return cls._unchecked(counts, header["pat_str"], header["special_tokens"], header["specials_cut"])


def _check_header(header, path) -> dict:
    if not isinstance(header, dict):
        raise ValueError(f"{path} line 2: the header must be a JSON object")
    kinds = {"pat_str": str, "special_tokens": list, "specials_cut": int, "pieces": int}
    for key, kind in kinds.items():
        value = header.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) or (kind is int and value < 0):
            raise ValueError(
                f"{path} line 2: {key!r} must be a {kind.__name__}{' >= 0' if kind is int else ''}, got {value!r}"
            )
    if not all(isinstance(s, str) and s for s in header["special_tokens"]):
        raise ValueError(f"{path} line 2: special_tokens must be non-empty strings")
    return header


def _pattern_names() -> dict[str, str]:
    from npllm.bpe.patterns import CL100K_PATTERN, O200K_PATTERN

    return {GPT2_PATTERN: "gpt2", CL100K_PATTERN: "cl100k", O200K_PATTERN: "o200k"}


_PATTERN_NAMES = _pattern_names()  # pat_str -> short name, for messages


# --- counting --------------------------------------------------------------------------------


def count_pieces(
    text, pat_str: str = GPT2_PATTERN, special_tokens: Iterable[str] = (), *, workers: int = 1
) -> PieceCounts:
    """Count the distinct pieces of `text`: a str, an iterable of str (each item split on its
    own), or a path (read in chunks cut where the split cannot change). `special_tokens` are
    cut out of the text first and never counted. `workers` > 1 counts a path's chunks in
    that many processes (the counts are the same).

    "the cat the" -> {b"the": 1, b" cat": 1, b" the": 1}
    """
    workers = check_setting("workers", workers, 1)
    special_tokens = tuple(special_tokens)
    chunks = _text_chunks(text, pat_str, special_tokens, COUNT_CHUNK_CHARS)
    if workers > 1 and isinstance(text, os.PathLike):
        return _count_in_processes(chunks, pat_str, special_tokens, workers)
    counter = _ChunkCounter(pat_str, special_tokens)
    for chunk in chunks:
        counter.add(chunk)
    return counter.result()


class _ChunkCounter:
    """Counts chunk after chunk into one Counter of str (str keys hash faster than bytes);
    the pieces become UTF-8 once, at the end."""

    def __init__(self, pat_str: str, special_tokens: tuple[str, ...]):
        self.pat_str, self.special_tokens = pat_str, special_tokens
        self.pattern, self.ascii_pattern = regex.compile(pat_str), compile_ascii(pat_str)
        self.specials = special_token_regex(frozenset(special_tokens)) if special_tokens else None
        self.counts = Counter()  # str -> int; a Counter keeps first-insertion order
        self.specials_cut = 0

    def add(self, chunk: str) -> None:
        if not chunk.isascii():
            chunk = replace_lone_surrogates(chunk)  # what the encoder does, so both agree
        segments = self.specials.split(chunk) if self.specials else (chunk,)
        self.specials_cut += len(segments) - 1
        for segment in segments:
            use = self.ascii_pattern if self.ascii_pattern is not None and segment.isascii() else self.pattern
            self.counts.update(use.findall(segment))

    def result(self) -> PieceCounts:
        counts = {piece.encode("utf-8"): n for piece, n in self.counts.items()}
        return PieceCounts._unchecked(counts, self.pat_str, self.special_tokens, self.specials_cut)


def _text_chunks(text, pat_str: str, special_tokens: tuple[str, ...], chunk_chars: int) -> Iterable[str]:
    if isinstance(text, str):
        yield text
    elif isinstance(text, os.PathLike):
        path = pathlib.Path(text)
        yield from read_split_safe_chunks(path, chunk_chars, special_tokens=special_tokens, pat_str=pat_str)
    elif isinstance(text, (bytes, bytearray)):
        raise TypeError("text must be a str, an iterable of str or a path, not bytes; decode it first")
    elif isinstance(text, Iterable):
        for i, item in enumerate(text):
            if not isinstance(item, str):
                raise TypeError(f"item {i} of the training text is a {type(item).__name__}, not a str")
            yield item
    else:
        raise TypeError(f"text must be a str, an iterable of str or a path, got {type(text).__name__}")


# --- counting in processes -------------------------------------------------------------------


def _count_in_processes(
    chunks: Iterable[str], pat_str: str, special_tokens: tuple[str, ...], workers: int
) -> PieceCounts:
    """Map: each worker counts a task (consecutive chunks, about PARALLEL_CHUNK_CHARS in
    all); reduce: the parent adds the results in text order (`npllm.workers.ordered_map`,
    at most two tasks per worker in hand). The parent adds str Counters (the cheap form),
    and turns the pieces into UTF-8 once at the end."""
    from npllm.workers import ordered_map

    total = Counter()  # str -> int, in order of first appearance across the chunks in order
    specials_cut = 0
    tasks = _tasks(chunks, PARALLEL_CHUNK_CHARS)
    for result in ordered_map(
        _worker_count, tasks, workers, initializer=_worker_init, initargs=(pat_str, special_tokens)
    ):
        specials_cut += _add_in_order(total, result)
    counts = {piece.encode("utf-8"): n for piece, n in total.items()}
    return PieceCounts._unchecked(counts, pat_str, special_tokens, specials_cut)


def _tasks(chunks: Iterable[str], task_chars: int) -> Iterator[list[str]]:
    """Consecutive chunks in lists of about `task_chars` characters. ["ab", "c", "de"], 3 -> [["ab", "c"], ["de"]]"""
    task, size = [], 0
    for chunk in chunks:
        task.append(chunk)
        size += len(chunk)
        if size >= task_chars:
            yield task
            task, size = [], 0
    if task:
        yield task


def _add_in_order(total: Counter, result: tuple[dict, int]) -> int:
    counts, cut = result
    total.update(counts)  # new pieces go at the end: after every earlier chunk's
    return cut


_worker_counter: _ChunkCounter | None = None  # in each worker process


def _worker_init(pat_str: str, special_tokens: tuple[str, ...]) -> None:
    global _worker_counter
    _worker_counter = _ChunkCounter(pat_str, special_tokens)


def _worker_count(task: list[str]) -> tuple[dict[str, int], int]:
    """One task's counts (str -> int, first appearance order) and special tokens cut."""
    counter = _worker_counter
    counter.counts, counter.specials_cut = Counter(), 0
    for chunk in task:
        counter.add(chunk)
    return counter.counts, counter.specials_cut
