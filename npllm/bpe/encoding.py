"""`Encoding`: text to token IDs and back, with tiktoken's API and tiktoken's exact output.

Encoding a text is three steps:

1. special tokens: cut the text around the special tokens it is allowed to contain (and
   refuse the ones it is not, before doing any work);
2. split: cut each stretch of ordinary text into pieces with the encoding's pattern;
3. merge: look each piece up in a cache of piece -> IDs; a piece seen for the first time
   goes through the merge loop (`merge.py`) once and is remembered.

A warm encode is therefore one regex scan plus one dict lookup per piece. Beside tiktoken's
everyday calls, `Encoding` has the rest of `tiktoken.Encoding` too: `encode_to_numpy`,
`encode_with_unstable` (what the end of a text could still become), `decode_with_offsets`,
the batch decoders, and the underscored helpers people call (`_encode_bytes`, ...).

What this module leaves out: the file formats (`files.py`), the known encodings
(`registry.py`), training.
"""

from __future__ import annotations

import bisect
import functools
import gc
import operator
import os
import re
import sys
from array import array
from collections.abc import Collection, Iterable, Mapping, Sequence

import regex

from npllm._checks import check_str, is_int
from npllm.bpe.files import save_encoding
from npllm.bpe.merge import LONG_PIECE, encode_piece, encode_pieces, merge_long, merge_short
from npllm.bpe.patterns import PATTERNS_BY_NAME, PinnedPattern, compile_ascii, compile_pinned
from npllm.bpe.spaced import ASCII_STRETCH, SpacedChunkCache, ascii_stretches, chunk_values, group_by_leading_space

PIECE_CACHE_BYTES = 1 << 25  # about 32 MB of remembered pieces; tinyshakespeare's 15,000 take 2.5 MB
MAX_CACHED_PIECE = 256  # characters: a longer piece is merged each time it comes (long pieces rarely repeat)
CACHE_ENTRY_BYTES = 100  # a dict entry's own cost, beside its key and value (hash slot, index, growth)
FILL_MIN_PIECES = 256  # from this many pieces on, the new ones are merged in one batch (PieceCache.ids)
FILL_WINDOW = 1 << 15  # pieces per batch: what one batch adds (< 10 MB for English) fits the byte budget
FILL_SAMPLE = 16  # a batch first looks up every 16th piece: all found, the text is warm, no batch
FILL_FEW = 16  # under 1 sampled piece in 16 new: no batch either (the few go one by one)
SPACED_MIN_CHARS = 64  # from this length on, a known pattern's text is cut at safe spaces first (spaced.py)
PARALLEL_MIN_CHARS = 1 << 20  # a batch smaller than this is encoded in this process
MAX_TOKEN_ID = (1 << 32) - 1  # tiktoken reads IDs as uint32: a larger or negative ID is an OverflowError
UINT32 = "I" if array("I").itemsize == 4 else "L"  # the array typecode of a 4-byte unsigned int
CONTINUATION_BYTES = bytes(range(0x80, 0xC0))  # 10xxxxxx: the bytes that do not start a UTF-8 character
BLANK_BYTES = b" \n\t"  # a token of only these may belong to a run of whitespace the split can still move
WHITESPACE = regex.compile(r"\p{White_Space}")  # Unicode's White_Space, as Rust's char::is_whitespace


class DisallowedSpecialToken(ValueError):
    """Special-token text in user input that `encode` was not told to allow."""

    def __init__(self, message: str, token: str, position: int):
        super().__init__(message)
        self.token, self.position = token, position

    def __reduce__(self):  # pickle with all three arguments (worker processes send it back)
        return type(self), (self.args[0], self.token, self.position)


class TokenIdOutOfRange(OverflowError, ValueError):
    """A token ID below 0 or at least 2**32, where tiktoken (which reads IDs as uint32) raises
    OverflowError. Also a ValueError, like npllm's other bad-input errors, so `except
    ValueError` catches it too (as NumPy's AxisError is both a ValueError and an IndexError)."""


class PieceCache(dict):
    """str piece -> tuple of token IDs, filled on first sight, bounded in bytes.

    A dict subclass so that a hit is a plain C-level `dict.__getitem__`; only a miss runs
    Python (`__missing__`). A piece longer than `max_piece` characters is merged but never
    kept: a 5 KB run of digits or a base64 blob is rarely seen twice, and 300 of them would
    hold megabytes. The rest count their size (the str, the tuple and the entry, `nbytes`);
    when the next would pass `max_bytes` the cache starts over, which keeps memory bounded
    and costs one cold pass at worst.
    """

    def __init__(
        self, ranks: Mapping[bytes, int], max_bytes: int = PIECE_CACHE_BYTES, max_piece: int = MAX_CACHED_PIECE
    ):
        super().__init__()
        self.ranks = ranks  # bytes -> int
        self.max_bytes = max_bytes
        self.max_piece = max_piece
        self.nbytes = 0  # estimated bytes held: the keys, the values and their entries

    def __missing__(self, piece: str) -> tuple[int, ...]:
        ids = tuple(encode_piece(self.ranks, piece.encode("utf-8")))
        _remember(self, piece, ids)
        return ids

    def clear(self) -> None:
        super().clear()
        self.nbytes = 0

    def ids(self, pieces: list[str]) -> list[int]:
        """The IDs of `pieces`, in order, flattened; the new ones merged first, in batches.

        Same result as `reduce(iconcat, map(self.__getitem__, pieces), [])`, the plain way, which
        runs `__missing__` (a Python call and a size estimate) once per new piece. On a cold text
        half the pieces are new: here they are found with set operations, merged once each, and
        kept in one `update` (`fill`). Pieces go FILL_WINDOW at a time, so that what one batch
        adds fits the byte budget (the cache may start over between two windows, never inside one).
        """
        if len(pieces) < FILL_MIN_PIECES:
            return functools.reduce(operator.iconcat, map(self.__getitem__, pieces), [])
        out = []
        for start in range(0, len(pieces), FILL_WINDOW):
            window = pieces[start : start + FILL_WINDOW]
            self.fill(window)
            out = functools.reduce(operator.iconcat, map(self.__getitem__, window), out)
            if self.nbytes > self.max_bytes:  # one window held more than the whole budget
                self.clear()
        return out

    def fill(self, pieces: list[str]) -> None:
        """Merge and keep the pieces of `pieces` (up to `max_piece` characters) not held yet.

        A warm text costs one sampled look (every FILL_SAMPLE-th piece, in C). When the sample
        finds under 1 piece in FILL_FEW new (warm text with a few new names, as code has), the
        new ones go through `__missing__` later, one at a time: cheaper than hashing every piece
        to find them. The garbage collector is paused while the
        merge loop runs: it makes many short-lived lists, and each collection would walk every
        young object (the text's list of pieces among them), 5% of a cold encode for nothing.
        """
        sample = pieces[::FILL_SAMPLE]
        if (len(sample) - sum(map(self.__contains__, sample))) * FILL_FEW < len(sample):
            return  # warm: nothing, or little, new
        new = list(set(pieces).difference(self))
        if max(map(len, new), default=0) > self.max_piece:  # rare: a long piece is merged but not kept
            new = [piece for piece in new if len(piece) <= self.max_piece]
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            values = encode_pieces(self.ranks, list(map(str.encode, new)))  # may raise UnicodeEncodeError
        finally:
            if was_enabled:
                gc.enable()
        size = sum(map(sys.getsizeof, new)) + sum(map(sys.getsizeof, values)) + CACHE_ENTRY_BYTES * len(new)
        if self.nbytes + size > self.max_bytes:
            self.clear()
        self.update(zip(new, values))
        self.nbytes += size


class PackedPieceCache(dict):
    """str piece -> its token IDs packed as uint32 bytes, for `encode_to_numpy`.

    Filled from the `PieceCache` beside it: "hello" -> (31373,) -> b"\\x8dz\\x00\\x00" (gpt2, on a
    little-endian machine). Joining these bytes and viewing them as a uint32 array skips the
    Python list of ints that `encode` builds. Bounded in bytes as the `PieceCache` is.
    """

    def __init__(self, piece_ids: PieceCache, max_bytes: int = PIECE_CACHE_BYTES, max_piece: int = MAX_CACHED_PIECE):
        super().__init__()
        self.piece_ids = piece_ids  # str -> tuple[int, ...]
        self.max_bytes = max_bytes
        self.max_piece = max_piece
        self.nbytes = 0

    def __missing__(self, piece: str) -> bytes:
        packed = array(UINT32, self.piece_ids[piece]).tobytes()
        _remember(self, piece, packed)
        return packed

    def clear(self) -> None:
        super().clear()
        self.nbytes = 0


def _remember(cache, piece: str, value) -> None:
    """Keep piece -> value in `cache` if the piece is short enough, within the byte budget."""
    if len(piece) > cache.max_piece:
        return
    size = sys.getsizeof(piece) + sys.getsizeof(value) + CACHE_ENTRY_BYTES
    if cache.nbytes + size > cache.max_bytes:
        cache.clear()
    dict.__setitem__(cache, piece, value)
    cache.nbytes += size


class Encoding:
    """A byte-level BPE encoding: ranks, a split pattern and special tokens.

    >>> from npllm import get_encoding
    >>> enc = get_encoding("gpt2")
    >>> enc.encode("hello world")
    [31373, 995]
    """

    # --- construction ----------------------------------------------------------------------

    def __init__(
        self,
        name: str,
        *,
        pat_str: str,
        mergeable_ranks: Mapping[bytes, int],
        special_tokens: Mapping[str, int],
        explicit_n_vocab: int | None = None,
    ):
        _check_model(name, pat_str, mergeable_ranks, special_tokens)
        self._setup(name, pat_str, dict(mergeable_ranks), dict(special_tokens), explicit_n_vocab)

    @classmethod
    def from_verified(
        cls,
        name: str,
        *,
        pat_str: str,
        mergeable_ranks: dict[bytes, int],
        special_tokens: Mapping[str, int],
        explicit_n_vocab: int | None = None,
    ) -> Encoding:
        """An Encoding from a model already known to be good, built without the constructor's
        checks: for `get_encoding`, whose rank files match their published sha256 and whose
        patterns and special tokens are constants (tests/test_startup.py runs the full checks
        on every one). Skipped: the per-rank type, sign and repeat checks, the trial of the
        pattern, and the copy of `mergeable_ranks`, which the Encoding takes as its own (do
        not change it afterwards). `explicit_n_vocab` is still checked. Anything else, use
        `Encoding(...)`."""
        enc = cls.__new__(cls)
        enc._setup(name, pat_str, mergeable_ranks, dict(special_tokens), explicit_n_vocab)
        return enc

    def _setup(
        self,
        name: str,
        pat_str: str,
        mergeable_ranks: dict[bytes, int],
        special_tokens: dict[str, int],
        explicit_n_vocab: int | None,
    ) -> None:
        """The attributes, from a checked model. What the first encode of ASCII text does not
        need is built on first use: the decoder, the `regex` form of the pattern, its `re` twin."""
        self.name = name
        self._pat_str = pat_str
        self._mergeable_ranks = mergeable_ranks  # bytes -> int
        self._special_tokens = special_tokens  # str -> int
        self._explicit_n_vocab = explicit_n_vocab
        self.max_token_value = max(
            max(self._mergeable_ranks.values(), default=-1),
            max(self._special_tokens.values(), default=0),
        )
        if explicit_n_vocab is not None:
            n_tokens = len(self._mergeable_ranks) + len(self._special_tokens)
            if n_tokens != explicit_n_vocab or self.max_token_value != explicit_n_vocab - 1:
                raise ValueError(
                    f"explicit_n_vocab={explicit_n_vocab} disagrees with the vocabulary: "
                    f"{n_tokens} tokens, highest ID {self.max_token_value}"
                )
        self._piece_ids = PieceCache(self._mergeable_ranks)  # str -> tuple[int, ...]
        self._piece_bytes = PackedPieceCache(self._piece_ids)  # str -> uint32 bytes (encode_to_numpy)
        # Whole words in front of the pieces, for the patterns whose safe spaces are known (spaced.py).
        self._cuts_at_spaces = pat_str in PATTERNS_BY_NAME.values()
        self._spaced_ids = SpacedChunkCache(self._words_ids, self._chunk_ids)  # word -> IDs of " " + word
        self._spaced_bytes = SpacedChunkCache(self._words_bytes, self._chunk_bytes)  # word -> their uint32 bytes
        self._special_token_values = frozenset(self._special_tokens.values())  # IDs of special tokens

    @functools.cached_property
    def _decoder(self) -> dict[int, bytes]:
        """int -> bytes, every token's; built on first use (a decode), in C: 5-10 ms for o200k."""
        decoder = dict(zip(self._mergeable_ranks.values(), self._mergeable_ranks.keys()))
        for text, i in self._special_tokens.items():  # two specials may share an ID: the first names it
            decoder.setdefault(i, text.encode("utf-8"))
        return decoder

    @functools.cached_property
    def _pattern(self) -> PinnedPattern | regex.Pattern:
        """The split pattern, run with `regex`; the known patterns with tiktoken's Unicode 16
        classes. Compiled on first use: text that is all ASCII never needs it."""
        return compile_pinned(self._pat_str)

    @functools.cached_property
    def _ascii_pattern(self) -> re.Pattern | None:
        """The `re` twin of a known pattern, for all-ASCII text (patterns.py); None for any other."""
        return compile_ascii(self._pat_str)

    def __repr__(self) -> str:
        return f"Encoding({self.name!r}, n_vocab={self.n_vocab})"

    def constructor_args(self) -> dict:
        """The arguments that build this encoding again: `Encoding(**enc.constructor_args())`.
        The model only (name, pattern, ranks, special tokens, explicit_n_vocab); the caches and
        compiled patterns rebuild. Saving and pickling go through it. The dicts are copies."""
        return {
            "name": self.name,
            "pat_str": self._pat_str,
            "mergeable_ranks": dict(self._mergeable_ranks),
            "special_tokens": dict(self._special_tokens),
            "explicit_n_vocab": self._explicit_n_vocab,
        }

    # pickling (for worker processes): the constructor's arguments, nothing of the caches
    def __getstate__(self) -> dict:
        return self.constructor_args()

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    # --- properties --------------------------------------------------------------------------

    @property
    def pat_str(self) -> str:
        return self._pat_str

    @property
    def explicit_n_vocab(self) -> int | None:
        """The constructor's `explicit_n_vocab` (None when it was not given): saving keeps it."""
        return self._explicit_n_vocab

    @property
    def n_vocab(self) -> int:
        """One more than the highest token ID (tiktoken's definition)."""
        return self.max_token_value + 1

    @property
    def eot_token(self) -> int:
        return self._special_tokens["<|endoftext|>"]

    @functools.cached_property
    def special_tokens_set(self) -> frozenset[str]:
        return frozenset(self._special_tokens)

    @property
    def mergeable_ranks(self) -> dict[bytes, int]:
        """A copy of the byte-token ranks (bytes -> int)."""
        return dict(self._mergeable_ranks)

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._special_tokens)

    def is_special_token(self, token: int) -> bool:
        """True for the ID of a special token. gpt2: 50256 -> True, 31373 ("hello") -> False"""
        # 1.0 is a TypeError here (tiktoken: an AssertionError, which python -O skips)
        return operator.index(token) in self._special_token_values

    def token_byte_values(self) -> list[bytes]:
        """The bytes of every ordinary token (special tokens left out), sorted bytewise, as in
        tiktoken. gpt2: [b"\\x00", b"\\x01", ..., b"!", b"!!", b"!!!", ...], 50,256 of them."""
        return list(self._sorted_token_bytes)

    @functools.cached_property
    def _sorted_token_bytes(self) -> list[bytes]:
        """Ordinary tokens sorted bytewise: the tokens that start with some bytes sit together."""
        return sorted(self._mergeable_ranks)

    # --- encoding ----------------------------------------------------------------------------

    def encode_ordinary(self, text: str) -> list[int]:
        """Text -> IDs, special-token text encoded as ordinary text. "hello world" -> [31373, 995]"""
        check_str("text", text)
        try:
            return self._encode_ordinary(text)
        except UnicodeEncodeError:
            return self._encode_ordinary(replace_lone_surrogates(text))

    def encode(
        self,
        text: str,
        *,
        allowed_special: str | Collection[str] = frozenset(),
        disallowed_special: str | Collection[str] = "all",
    ) -> list[int]:
        """Text -> IDs, with tiktoken's guard against special tokens in user text.

        By default any special-token text is a ValueError. `allowed_special` (a set, or
        "all") lets those tokens through as their IDs; `disallowed_special=()` encodes the
        rest as ordinary text.
        """
        check_str("text", text)
        allowed = self._allowed_set(allowed_special)
        self._refuse_disallowed(text, allowed, disallowed_special)
        try:
            return self._encode_with_specials(text, allowed)
        except UnicodeEncodeError:
            return self._encode_with_specials(replace_lone_surrogates(text), allowed)

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: str | Collection[str] = frozenset(),
        disallowed_special: str | Collection[str] = "all",
    ):  # str -> (N,) uint32
        """`encode`, as a NumPy uint32 array. "hello world" -> array([31373, 995], dtype=uint32)

        No Python list of ints is built: each piece's IDs are kept packed as uint32 bytes
        (`PackedPieceCache`), the pieces' bytes are joined and the array is a view of them.
        Unlike tiktoken's, the array is writable.
        """
        import numpy as np  # here, not at the top: importing npllm stays light

        check_str("text", text)
        allowed = self._allowed_set(allowed_special)
        self._refuse_disallowed(text, allowed, disallowed_special)
        try:
            packed = self._encode_packed(text, allowed)
        except UnicodeEncodeError:
            packed = self._encode_packed(replace_lone_surrogates(text), allowed)
        return np.frombuffer(packed, dtype=np.uint32)  # (N,)

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The ID of text that is exactly one token (special tokens included), else KeyError."""
        token = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else bytes(text_or_bytes)
        if token in self._mergeable_ranks:
            return self._mergeable_ranks[token]
        special = token.decode("utf-8", errors="replace")
        if special in self._special_tokens:
            return self._special_tokens[special]
        raise KeyError(token)

    def encode_ordinary_batch(self, text: Sequence[str], *, num_threads: int = 8) -> list[list[int]]:
        """`encode_ordinary` over a list of texts, in order; large batches use worker processes
        (at most `num_threads`, at most the number of cores), since the merge loop holds the GIL."""
        texts = _check_batch(text)
        workers = _batch_workers(texts, num_threads)
        if workers <= 1:
            return [self.encode_ordinary(t) for t in texts]
        return _map_in_processes(self, texts, workers, _worker_encode_ordinary, ())

    def encode_batch(
        self,
        text: Sequence[str],
        *,
        num_threads: int = 8,
        allowed_special: str | Collection[str] = frozenset(),
        disallowed_special: str | Collection[str] = "all",
    ) -> list[list[int]]:
        """`encode` over a list of texts, in order; every text is checked before any is encoded."""
        texts = _check_batch(text)
        allowed = self._allowed_set(allowed_special)
        for t in texts:
            self._refuse_disallowed(t, allowed, disallowed_special)
        workers = _batch_workers(texts, num_threads)
        if workers <= 1:
            return [self.encode(t, allowed_special=allowed, disallowed_special=()) for t in texts]
        return _map_in_processes(self, texts, workers, _worker_encode, (allowed,))

    def encode_with_unstable(
        self,
        text: str,
        *,
        allowed_special: str | Collection[str] = frozenset(),
        disallowed_special: str | Collection[str] = "all",
    ) -> tuple[list[int], list[list[int]]]:
        """Text that may go on -> (stable IDs, every way its last IDs could come out).

        The end of a text is not settled: "hello fanta" ends in " f" + "anta", but
        "hello fantastic" ends in " fantastic". Earlier pieces are final (no merge crosses a
        piece boundary), so the stable IDs are those of every piece but the last, and the
        last piece's bytes (the "tail") are left open. A run of whitespace tokens just before
        the tail joins it when the tail starts with one: cl100k's `\\s*[\\r\\n]` can move a
        split inside whitespace once more text comes.

        A completion is a list of IDs that, after the stable ones, spells the tail and maybe
        more: `decode_bytes(stable + c)` starts with the text's bytes. They are found by brute
        force, tiktoken's way (its Rust `_encode_unstable_native`):

        1. every single token that starts with the tail;
        2. for every cut of the tail into head + rest, every token T that starts with rest:
           encode head + T (split by the pattern when it is valid UTF-8, else the merge loop
           alone) and keep its first IDs, up to the tail's length;
        3. when the tail ends in a whitespace character after something else: the two
           merged apart (the pattern's `\\s+(?!\\S)` splits "\\n\\n" + "0" into "\\n" + "\\n0").

        tiktoken returns the completions in the order of a Rust hash set, which changes from
        call to call; here they are sorted, so two runs agree. Brute force has a price: a tail
        that opens onto every token starting with a space (text ending in " ") takes 0.05 to
        0.6 s here, two to three times tiktoken's time.

        >>> from npllm import get_encoding
        >>> stable, completions = get_encoding("gpt2").encode_with_unstable("hello fanta")
        >>> stable, len(completions), completions[0]  # " f" + "anta", the text as it stands
        ([31373], 1432, [277, 4910])
        >>> [9623] in completions, [8842] in completions  # " fantastic", " fantasy"
        (True, True)
        """
        check_str("text", text)
        allowed = self._allowed_set(allowed_special)
        self._refuse_disallowed(text, allowed, disallowed_special)
        try:
            ids, n_tail = self._encode_with_last_piece(text, allowed)
        except UnicodeEncodeError:  # lone surrogates: fixed up as in encode (tiktoken raises here)
            ids, n_tail = self._encode_with_last_piece(replace_lone_surrogates(text), allowed)
        n_tail = self._widen_over_blanks(ids, n_tail)
        stable = ids[: len(ids) - n_tail]
        tail = b"".join(map(self._decoder.__getitem__, ids[len(ids) - n_tail :]))
        if not tail:  # the text is empty or ends with a special token: nothing is open
            return stable, []
        return stable, [list(ids) for ids in sorted(self._completions(tail))]

    # --- decoding ----------------------------------------------------------------------------

    def decode_bytes(self, tokens: Iterable[int]) -> bytes:
        """IDs -> the bytes they stand for. [31373, 995] -> b"hello world"

        Errors as in tiktoken, which first reads every ID as a uint32 and then looks them
        up: the first ID that is not an integer (1.0) is a TypeError, or the first one
        outside 0 <= ID < 2**32 an OverflowError; else the first unknown ID a KeyError.
        """
        tokens = list(tokens)
        for kind in set(map(type, tokens)):  # one check per type, not per token
            if not hasattr(kind, "__index__"):  # 1.0 would find token 1 in the dict below
                raise self._decode_error(tokens)
        try:
            return b"".join(map(self._decoder.__getitem__, tokens))
        except (KeyError, TypeError):  # an unknown ID, or an integer that is no dict key (0-d array)
            error = self._decode_error(tokens)
        if error is not None:
            raise error
        return b"".join(self._decoder[operator.index(t)] for t in tokens)

    def decode(self, tokens: Iterable[int], errors: str = "replace") -> str:
        """IDs -> text. IDs that end inside a UTF-8 character follow `errors` ("replace": U+FFFD)."""
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        """The bytes of one token (special tokens included). 31373 -> b"hello"

        An unknown ID is a KeyError, a non-integer a TypeError, an ID outside 0..2**32-1 an
        OverflowError, as in tiktoken.
        """
        try:
            return self._decoder[operator.index(token)]  # 1.0 is a TypeError, not token 1
        except KeyError:
            raise self._decode_error([token]) from None

    def decode_tokens_bytes(self, tokens: Iterable[int]) -> list[bytes]:
        """IDs -> one bytes object per token. [31373, 995] -> [b"hello", b" world"]"""
        return [self.decode_single_token_bytes(t) for t in tokens]

    def decode_with_offsets(self, tokens: Iterable[int]) -> tuple[str, list[int]]:
        """IDs -> (text, the character offset where each token starts).

        A token that starts inside a UTF-8 character (with a continuation byte, 10xxxxxx)
        gets the offset of that character, as in tiktoken. Bytes that are not valid UTF-8 are
        a UnicodeDecodeError. gpt2: [31373, 995] -> ("hello world", [0, 5]);
        "中文" = [40792, 23877, 229] = [b"\\xe4\\xb8\\xad", b"\\xe6\\x96", b"\\x87"]
        -> ("中文", [0, 1, 1]): the last token starts inside "文".
        """
        token_bytes = self.decode_tokens_bytes(tokens)
        offsets = []
        n_chars = 0  # characters started so far: bytes that are not continuation bytes
        for token in token_bytes:
            starts_inside = token[:1] != b"" and 0x80 <= token[0] < 0xC0
            offsets.append(max(0, n_chars - starts_inside))
            n_chars += len(token.translate(None, CONTINUATION_BYTES))
        return b"".join(token_bytes).decode("utf-8", errors="strict"), offsets

    def decode_batch(
        self, batch: Iterable[Iterable[int]], *, errors: str = "replace", num_threads: int = 8
    ) -> list[str]:
        """`decode` over a list of ID lists, in order. [[31373], [995]] -> ["hello", " world"]

        `num_threads` is checked and otherwise unused: a decode is one dict lookup per ID
        and a join, faster than handing the work to threads or processes.
        """
        _check_num_threads(num_threads)
        return [self.decode(tokens, errors=errors) for tokens in batch]

    def decode_bytes_batch(self, batch: Iterable[Iterable[int]], *, num_threads: int = 8) -> list[bytes]:
        """`decode_bytes` over a list of ID lists, in order. [[31373], [995]] -> [b"hello", b" world"]"""
        _check_num_threads(num_threads)
        return [self.decode_bytes(tokens) for tokens in batch]

    # --- tiktoken's underscored encoders (private there, but people call them) ----------------

    def _encode_single_piece(self, text_or_bytes: str | bytes) -> list[int]:
        """One piece through the merge loop, no split, no special tokens.
        "helloqqqq" -> [31373, 38227, 38227] (gpt2). An empty piece is a ValueError (tiktoken panics)."""
        if isinstance(text_or_bytes, str):
            piece = text_or_bytes.encode("utf-8")
        else:
            piece = _check_bytes(text_or_bytes)
        if not piece:
            raise ValueError("_encode_single_piece needs at least one byte, got an empty piece")
        return encode_piece(self._mergeable_ranks, piece)

    def _encode_only_native_bpe(self, text: str) -> list[int]:
        """`encode_ordinary` with the split done by the `regex` module, piece by piece (in
        tiktoken, Python's split feeding Rust's merge loop; here both always are). Lone
        surrogates are a UnicodeEncodeError, as there. "hello world" -> [31373, 995]"""
        check_str("text", text)
        pieces = self._pattern.findall(text)
        return functools.reduce(operator.iconcat, map(self._piece_ids.__getitem__, pieces), [])

    def _encode_bytes(self, text: bytes) -> list[int]:
        """Bytes that may not be valid UTF-8 -> IDs, as tiktoken does it.

        Valid UTF-8 is `encode_ordinary`. Otherwise the valid start is encoded; its last
        piece (widened over whitespace tokens as in `encode_with_unstable`) and every byte
        from the first invalid one on become one piece for the merge loop, unsplit.
        gpt2: b"hello \\xe4\\xb8" (a cut-off "中") -> [31373, 220, 10310];
        b"\\xffabc" -> [187, 39305]
        """
        data = _check_bytes(text)
        try:
            valid = data.decode("utf-8")
        except UnicodeDecodeError as e:
            valid_end = e.start  # the bytes before the first invalid one are valid UTF-8
        else:
            return self._encode_ordinary(valid)
        ids, n_tail = self._encode_with_last_piece(data[:valid_end].decode("utf-8"), frozenset())
        n_tail = self._widen_over_blanks(ids, n_tail)
        tail = b"".join(map(self._decoder.__getitem__, ids[len(ids) - n_tail :])) + data[valid_end:]
        del ids[len(ids) - n_tail :]
        return ids + encode_piece(self._mergeable_ranks, tail)

    # --- files -------------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write this encoding in npllm's plain-text format (see `npllm.bpe.files`), and a
        readable `.vocab` dump of every token and the two it was merged from beside it."""
        save_encoding(path, **self.constructor_args())

    # --- the inside --------------------------------------------------------------------------

    def _split(self, text: str) -> list[str]:
        """The pattern's pieces. "hello world" -> ["hello", " world"]"""
        if self._ascii_pattern is not None:
            if text.isascii():
                return self._ascii_pattern.findall(text)  # same pieces, faster (patterns.py)
            if self._cuts_at_spaces and len(text) >= 2 * ASCII_STRETCH:
                stretches = ascii_stretches(text, ASCII_STRETCH)  # mostly ASCII: `re` where it is (spaced.py)
                if stretches is not None:
                    pieces = []
                    for start, end, ascii in stretches:
                        pieces += (self._ascii_pattern if ascii else self._pattern).findall(text[start:end])
                    return pieces
        return self._pattern.findall(text)

    def _encode_ordinary(self, text: str) -> list[int]:
        """Cut at safe spaces and look each word up; a new word is split and its pieces looked
        up. May raise UnicodeEncodeError (surrogates)."""
        # iconcat is list += tuple, in place: the flattening costs one C call per word or piece.
        if self._cuts_at_spaces and len(text) >= SPACED_MIN_CHARS:
            values = chunk_values(text, self._spaced_ids, self._chunk_ids)
            if values is not None:
                return functools.reduce(operator.iconcat, values, [])
        return self._piece_ids.ids(self._split(text))  # a cold text's new pieces merged in batches

    def _chunk_ids(self, text: str) -> tuple[int, ...]:
        """Split, then one piece-cache lookup per piece. " know," -> (760, 11) (gpt2)"""
        pieces = self._split(text)
        if len(pieces) == 1:  # most words are one piece: its cached tuple as it is
            return self._piece_ids[pieces[0]]
        return tuple(self._piece_ids.ids(pieces))  # a long chunk (a base64 blob) can have many new pieces

    def _chunk_bytes(self, text: str) -> bytes:
        """`_chunk_ids`, packed as uint32 bytes."""
        return b"".join(map(self._piece_bytes.__getitem__, self._split(text)))

    def _words_ids(self, words: list[str]) -> list[tuple[int, ...]]:
        """The IDs of " " + word for many words at once: one split of " w1 w2 ...", then the
        pieces grouped back by word (spaced.py). ["you", "know,"] -> [(345,), (760, 11)] (gpt2)"""
        pieces = self._split(" " + " ".join(words))
        return group_by_leading_space(pieces, list(map(self._piece_ids.__getitem__, pieces)), _flat_tuple)

    def _words_bytes(self, words: list[str]) -> list[bytes]:
        """`_words_ids`, packed as uint32 bytes."""
        pieces = self._split(" " + " ".join(words))
        return group_by_leading_space(pieces, list(map(self._piece_bytes.__getitem__, pieces)), b"".join)

    def _packed(self, text: str) -> list[bytes]:
        """The packed IDs of ordinary text, in parts to join."""
        if self._cuts_at_spaces and len(text) >= SPACED_MIN_CHARS:
            values = chunk_values(text, self._spaced_bytes, self._chunk_bytes)
            if values is not None:
                return values
        return list(map(self._piece_bytes.__getitem__, self._split(text)))

    def _encode_packed(self, text: str, allowed: frozenset[str]) -> bytearray:
        """`_encode_with_specials`, the IDs packed as uint32 bytes (for `encode_to_numpy`).
        A bytearray, so the array viewing it is writable."""
        chunks = []  # bytes, one per word, piece or special token
        start = 0
        for match in special_token_regex(allowed).finditer(text) if allowed else ():
            chunks += self._packed(text[start : match.start()])
            chunks.append(array(UINT32, [self._special_tokens[match.group()]]).tobytes())
            start = match.end()
        chunks += self._packed(text[start:])
        return bytearray().join(chunks)

    def _encode_with_specials(self, text: str, allowed: frozenset[str]) -> list[int]:
        if not allowed:
            return self._encode_ordinary(text)
        ids = []
        start = 0
        for match in special_token_regex(allowed).finditer(text):
            ids += self._encode_ordinary(text[start : match.start()])
            ids.append(self._special_tokens[match.group()])
            start = match.end()
        ids += self._encode_ordinary(text[start:])
        return ids

    def _allowed_set(self, allowed_special: str | Collection[str]) -> frozenset[str]:
        if allowed_special == "all":
            return self.special_tokens_set
        if isinstance(allowed_special, str):
            raise TypeError('allowed_special must be "all" or a set of special-token strings')
        # As in tiktoken, a name that is not a special token of this encoding is ignored:
        # no text can match it as a special token.
        return frozenset(allowed_special) & self.special_tokens_set

    def _refuse_disallowed(self, text: str, allowed: frozenset[str], disallowed_special: str | Collection[str]) -> None:
        if disallowed_special == "all":
            disallowed = self.special_tokens_set - allowed
        elif isinstance(disallowed_special, str):
            raise TypeError('disallowed_special must be "all" or a collection of special tokens')
        else:
            disallowed = frozenset(disallowed_special)
        if not disallowed:
            return
        match = special_token_regex(disallowed).search(text)
        if match:
            token = match.group()
            raise DisallowedSpecialToken(
                f"Encountered text corresponding to disallowed special token {token!r} at "
                f"character {match.start()}.\n"
                f"To encode it as the special token, pass allowed_special={{{token!r}}} "
                f'(or "all").\n'
                f"To encode it as ordinary text, pass disallowed_special=() or use "
                f"encode_ordinary.",
                token,
                match.start(),
            )

    def _decode_error(self, tokens: list) -> Exception | None:
        """The error tiktoken gives for these IDs, with a message that names the bad one;
        None if they are all fine.

        tiktoken reads all the IDs as uint32 before it looks any up, so a non-integer or
        an out-of-range ID anywhere wins over an unknown ID earlier in the list.
        """
        for t in tokens:
            if not hasattr(t, "__index__"):
                return TypeError(f"token IDs must be integers, got {t!r} ({type(t).__name__})")
            if not 0 <= operator.index(t) <= MAX_TOKEN_ID:
                return TokenIdOutOfRange(
                    f"token ID {t} is out of range: IDs are 32-bit, 0 <= ID < 2**32, and "
                    f"{self.name!r} has IDs 0..{self.max_token_value}"
                )
        for t in tokens:
            if operator.index(t) not in self._decoder:
                return KeyError(
                    f"token ID {t} is not in the vocabulary of {self.name!r} (IDs 0..{self.max_token_value})"
                )
        return None

    # --- the inside of encode_with_unstable and _encode_bytes ---------------------------------

    def _encode_with_last_piece(self, text: str, allowed: frozenset[str]) -> tuple[list[int], int]:
        """`_encode_with_specials`, and how many of the IDs came from the last piece (0 when
        the text is empty or ends with a special token). "hello fanta" -> ([31373, 277, 4910], 2)"""
        ids = []
        start = 0
        for match in special_token_regex(allowed).finditer(text) if allowed else ():
            ids += self._encode_ordinary(text[start : match.start()])
            ids.append(self._special_tokens[match.group()])
            start = match.end()
        pieces = self._split(text[start:])
        for piece in pieces:
            ids += self._piece_ids[piece]
        return ids, len(self._piece_ids[pieces[-1]]) if pieces else 0

    def _widen_over_blanks(self, ids: list[int], n_tail: int) -> int:
        """If the last `n_tail` IDs start with a blank token (only spaces, newlines, tabs),
        take in the blank tokens right before them too; tiktoken's fix for splits that more
        text can move. cl100k, "a\\n\\n " -> ids [64, 271, 220], n_tail 1 -> 2."""
        if n_tail == 0 or not self._is_blank(ids[-n_tail]):
            return n_tail
        while n_tail < len(ids) and self._is_blank(ids[-n_tail - 1]):
            n_tail += 1
        return n_tail

    def _is_blank(self, token: int) -> bool:
        return token not in self._special_token_values and not self._decoder[token].strip(BLANK_BYTES)

    def _completions(self, tail: bytes) -> set[tuple[int, ...]]:
        """The three brute-force steps of `encode_with_unstable`, for the open bytes `tail`."""
        ranks = self._mergeable_ranks
        found = {(ranks[token],) for token in self._tokens_starting_with(tail)}  # step 1
        piece_ids = PieceCache(ranks)  # this call's own cache: its odd pieces stay out of the shared one
        for cut in range(1, len(tail)):  # step 2
            head, rest = tail[:cut], tail[cut:]
            for token in self._tokens_starting_with(rest):
                joined = head + token
                try:
                    pieces = self._split(joined.decode("utf-8"))
                except UnicodeDecodeError:  # the merge loop alone, as tiktoken does
                    ids = self._merge_only(joined)
                else:
                    ids = functools.reduce(operator.iconcat, map(piece_ids.__getitem__, pieces), [])
                found.add(self._first_ids_covering(ids, len(tail)))
        last = _last_char(tail)  # step 3
        if last is not None and len(last) < len(tail) and WHITESPACE.fullmatch(last.decode("utf-8")):
            found.add(tuple(self._merge_only(tail[: -len(last)]) + self._merge_only(last)))
        return found

    def _tokens_starting_with(self, prefix: bytes) -> Iterable[bytes]:
        """Ordinary tokens that start with `prefix`, itself included.
        gpt2: b" fanta" -> b" fanta", b" fantasy", ... (sorted bytewise)"""
        tokens = self._sorted_token_bytes
        i = bisect.bisect_left(tokens, prefix)
        while i < len(tokens) and tokens[i].startswith(prefix):
            yield tokens[i]
            i += 1

    def _first_ids_covering(self, ids: list[int], n_bytes: int) -> tuple[int, ...]:
        """The shortest start of `ids` whose bytes reach `n_bytes`. ([31373, 995], 6) -> (31373, 995)"""
        covered = 0
        for k, token in enumerate(ids):
            covered += len(self._decoder[token])
            if covered >= n_bytes:
                return tuple(ids[: k + 1])
        return tuple(ids)

    def _merge_only(self, piece: bytes) -> list[int]:
        """The merge loop, without first looking the whole piece up (tiktoken's
        `byte_pair_encode`; `encode_piece` differs only for a token no merge makes)."""
        merge = merge_short if len(piece) < LONG_PIECE else merge_long
        return [self._mergeable_ranks[part] for part in merge(self._mergeable_ranks, piece)]


# --- helpers ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def special_token_regex(tokens: frozenset[str]) -> regex.Pattern:
    """One alternation of the tokens, longest first so a longer token wins over its prefix.
    Shared with `counts.py`, which must cut text at special tokens as the encoder does.
    {"<|a|>", "<|a|>b"} -> `<\\|a\\|>b|<\\|a\\|>`"""
    return regex.compile("|".join(regex.escape(t) for t in sorted(tokens, key=len, reverse=True)))


def _flat_tuple(parts: list[tuple[int, ...]]) -> tuple[int, ...]:
    """[(1, 2), (3,)] -> (1, 2, 3); a slice of it is a tuple already"""
    return tuple(functools.reduce(operator.iconcat, parts, []))


def replace_lone_surrogates(text: str) -> str:
    """Join valid surrogate pairs, turn lone surrogates into U+FFFD: what tiktoken does.
    Shared with `counts.py`, so training sees the text the encoder sees. "a\\ud800b" -> "a\\ufffdb".
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _check_bytes(data: object) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    return bytes(data)


def _check_num_threads(num_threads: object) -> None:
    if not is_int(num_threads) or num_threads < 1:
        raise ValueError(f"num_threads must be a positive int, got {num_threads!r}")


def _last_char(data: bytes) -> bytes | None:
    """The bytes of the last UTF-8 character, None if `data` does not end in a whole one.
    b"ab \\xe3\\x80\\x80" -> b"\\xe3\\x80\\x80" (U+3000); b"a\\xe3\\x80" -> None"""
    for size in range(1, min(4, len(data)) + 1):
        try:
            data[-size:].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return data[-size:]  # the shortest valid ending is exactly one character
    return None


def _check_batch(texts: object) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError("a batch must be a list of str, not a single str; use encode() for one text")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"batch item {i} must be a str, got {type(t).__name__}")
    return texts


def _check_model(name: object, pat_str: object, ranks: object, special_tokens: object) -> None:
    check_str("name", name)
    check_str("pat_str", pat_str)
    if not isinstance(ranks, Mapping) or not isinstance(special_tokens, Mapping):
        raise TypeError("mergeable_ranks must map bytes to int and special_tokens str to int")
    # The usual case in C: bytes keys, int ranks >= 0, no rank twice (o200k: 8 ms, not 30).
    # (tiktoken's o200k_harmony gives <|endofprompt|> and <|reserved_200018|> one ID: specials may share)
    # Ranks and IDs are tiktoken's uint32: a larger one is TokenIdOutOfRange (an OverflowError, as
    # tiktoken's constructor raises). The NumPy paths (merge_bulk, encode_to_numpy) rely on it.
    plain = set(map(type, ranks)) <= {bytes} and set(map(type, ranks.values())) <= {int}
    if plain:
        seen_ranks = set(ranks.values())
        in_range = min(seen_ranks, default=0) >= 0 and max(seen_ranks, default=0) <= MAX_TOKEN_ID
        plain = len(seen_ranks) == len(ranks) and in_range
    if not plain:  # something else (a bytes subclass, NumPy ints) or something wrong: one by one, to name it
        seen_ranks = set()
        for token, rank in ranks.items():
            if not isinstance(token, bytes) or not is_int(rank) or rank < 0:
                raise TypeError(f"mergeable_ranks must map bytes to int >= 0, got {token!r}: {rank!r}")
            if rank > MAX_TOKEN_ID:
                raise TokenIdOutOfRange(f"mergeable_ranks gives {token!r} the rank {rank}, above 2**32 - 1 (uint32)")
            if rank in seen_ranks:
                raise ValueError(f"mergeable_ranks gives rank {rank} to more than one token")
            seen_ranks.add(rank)
    for token, rank in special_tokens.items():
        if not isinstance(token, str) or not is_int(rank) or rank < 0:
            raise TypeError(f"special_tokens must map str to int >= 0, got {token!r}: {rank!r}")
        if rank > MAX_TOKEN_ID:
            raise TokenIdOutOfRange(f"special token {token!r} has ID {rank}, above 2**32 - 1 (uint32)")
        if rank in seen_ranks:
            raise ValueError(f"special token {token!r} has ID {rank}, which an ordinary token has too")
    check_split_pattern(pat_str)


# Texts on which a split pattern is tried once, to find one that can match nothing: every
# class the known patterns use, alone and next to each other, and the ends of a text.
PATTERN_PROBES = (
    "",
    "a",
    "Z",
    "1",
    " ",
    "\t",
    "\n",
    "\r\n",
    "!",
    "'s",
    "é",
    "中",
    "\u0301",
    "a b",
    "ab 12!\n",
    "  x",
    "x  ",
    "x\n\ny",
    "a1!é 中\r\n",
    "Hello, World 123\n",
)


def check_split_pattern(pat_str: str) -> regex.Pattern:
    """`pat_str` compiled, if it is a usable split pattern; else a ValueError that says why.

    A pattern that can match the empty string (`""`, `\\b`, `a*`, a look-ahead alone) gives
    empty pieces, and the text between its matches is dropped: `Encoding` would turn every
    text into [], and the trainer has nothing to count. It is tried on `PATTERN_PROBES`.
    """
    try:
        pattern = regex.compile(pat_str)
    except regex.error as e:
        raise ValueError(f"pat_str is not a valid regular expression: {e}") from None
    for probe in PATTERN_PROBES:
        for match in pattern.finditer(probe):
            if match.start() == match.end():
                raise ValueError(
                    f"pat_str {pat_str!r} can match the empty string (it does at character {match.start()} of "
                    f"{probe!r}): the pieces would be empty and the text between them lost; a split pattern "
                    f"must match at least one character each time (e.g. x+ rather than x*)"
                )
    return pattern


# --- batches in worker processes --------------------------------------------------------------


def _batch_workers(texts: list[str], num_threads: int) -> int:
    _check_num_threads(num_threads)
    if len(texts) < 2 or sum(map(len, texts)) < PARALLEL_MIN_CHARS:
        return 1
    return min(num_threads, os.cpu_count() or 1, len(texts))


def _map_in_processes(enc: Encoding, texts: list[str], workers: int, fn, args: tuple) -> list[list[int]]:
    """fn(enc, text, *args) for each text in `workers` processes, results in the input order.

    The texts go in about 4 groups per worker, one hand-over each (`npllm.workers.ordered_map`).
    The encoding reaches each worker once (inherited on fork, pickled otherwise), not once
    per text.
    """
    from npllm.workers import ordered_map  # here, not at the top: only large batches need processes

    size = max(1, len(texts) // (workers * 4))
    groups = [texts[i : i + size] for i in range(0, len(texts), size)]
    out = []
    for ids in ordered_map(_worker_encode_group, groups, workers, initializer=_worker_init, initargs=(enc, fn, args)):
        out += ids
    return out


_worker_state: tuple | None = None  # (Encoding, fn, args), set once in each worker process


def _worker_init(enc: Encoding, fn, args: tuple) -> None:
    global _worker_state
    _worker_state = (enc, fn, args)


def _worker_encode_group(texts: list[str]) -> list[list[int]]:
    enc, fn, args = _worker_state
    return [fn(enc, text, *args) for text in texts]


def _worker_encode_ordinary(enc: Encoding, text: str) -> list[int]:
    return enc.encode_ordinary(text)


def _worker_encode(enc: Encoding, text: str, allowed: frozenset[str]) -> list[int]:
    return enc.encode(text, allowed_special=allowed, disallowed_special=())
