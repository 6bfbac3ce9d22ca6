r"""Cutting a large text into chunks that split exactly as the whole text does, in linear time.

BPE never merges across a piece boundary, so a text can be encoded in chunks if every cut
falls where the split pattern cuts anyway *and* neither side, split on its own, comes out
differently. `read_split_safe_chunks` reads a UTF-8 file in such chunks; the trainer and
`npllm.tokens.encode_file` use it to stream a corpus of any size.

The cut rule. A cut at position p falls between a = text[p-1] and b = text[p] (z = text[p-2]).
Each character has a kind: CR, LF, SPACE (any other White_Space), LETTER (\p{L}), NUMBER
(\p{N}), MARK (\p{M}), APOSTROPHE ('), SLASH (/), OTHER (the rest). p is a safe cut when:

  A. a is not white space and b is SPACE:                 "word| next", "x|\t"
  B. z is not white space, a is LF, b is neither white space nor "/":   "end.\n|Next"
  C. a and b are of two different kinds among LETTER, NUMBER and OTHER/SLASH, except
     OTHER/SLASH -> LETTER:                               "abc|123", "value|\",", "3|,", ":|1"
  D. a is LETTER or NUMBER and b is CR or LF:             "中文|\r\n"

Why this is safe for GPT2_PATTERN, CL100K_PATTERN and O200K_PATTERN (all three at once, so
the chunks do not depend on the encoding). The patterns have no look-behind, so the pieces
from p on are found by the same scan whether it starts at p or arrives there; what must be
shown is that p ends a piece and that no match attempt starting before p reads b. Every
alternative is a run over some classes, with at most one optional first character:

- a white-space run (`\s++$`, `\s+(?!\S)`, `\s*[\r\n]`, ...) cannot reach p when a is not
  white space, and its look-ahead reads only the character after it, before a (A, B, C, D);
- no non-space piece takes in a following SPACE: only cl100k's `[\r\n]*+` and o200k's
  `[\r\n/]*` let a punctuation run take in what follows, and only CR, LF and "/" (A);
- after "\S\n" the newline ends a piece in all three (GPT-2: `\s` / `\s++$`; cl100k and
  o200k: `\s*[\r\n]` or the run before it), and the optional first characters
  (`[^\r\n\p{L}\p{N}]?`, ` ?`) exclude LF, so no piece starts with it and goes on into b;
  "/" is excluded for o200k's `[\r\n/]*` after punctuation (B);
- a letter, digit or punctuation run stops where the kind changes, and the only kinds that
  join across a change are: punctuation + letters (cl100k's and o200k's
  `[^\r\n\p{L}\p{N}]?\p{L}+`, so OTHER -> LETTER is no cut), letters + "'s" (o200k's
  contractions, and `'(?:[sdmt]|ll|ve|re)`: no cut next to an apostrophe), and marks, which
  are letters to o200k but punctuation to GPT-2 and cl100k (no cut next to a MARK). A digit
  run ends where the digits end, so cl100k's and o200k's groups of three are unchanged (C);
- a letter or digit run never takes in CR or LF; cl100k and o200k's punctuation runs do,
  hence D only after letters and digits. (After "\r\n" there is no cut for all three:
  GPT-2 splits "y\r\nA" as "\r", "\n", but a text that ends in "\r\n" as one piece.)

A class is what tiktoken means (Unicode 16.0, `unicode_classes`) *and* what the installed
`regex` means: a code point on which the two disagree (a letter new in a later Unicode) is
of no kind, so no cut is made next to it, whichever tables the encoder uses. A cut never
falls inside a special token either: the tokens are cut out of the text before splitting.

Time and memory. Each block read is examined once, from its end backwards (the last cut
makes the chunk as long as it can be), so the work is linear in the file. A chunk is the
text up to the last safe cut of the text read so far; memory stays within a few times
`chunk_chars`, except over a stretch with no safe cut at all, which is held until one comes:
at least the longest piece (a run of 16 MB of "x" is one piece, which no cut can split, and
which the merge loop needs whole anyway). Minified JSON, CJK text with CRLF line ends and
a long line of base64 all have cuts every few characters.

What this leaves out: patterns other than the three (`read_split_safe_chunks` then gives
the whole file as one chunk), and the split itself (`patterns.py`).
"""

from __future__ import annotations

import codecs
import functools
import pathlib
from collections.abc import Iterable, Iterator

import numpy as np
import regex

from npllm._checks import check_setting
from npllm.bpe import unicode_classes
from npllm.bpe.patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN, installed_members

READ_CHUNK_CHARS = 1 << 22  # characters read from a file at a time (at most; the file is read in bytes)
MAX_BLOCK_BYTES = 1 << 26  # a larger chunk_chars still reads 64 MB at a time (read(n) allocates n bytes first)
KNOWN_PATTERNS = frozenset({GPT2_PATTERN, CL100K_PATTERN, O200K_PATTERN})  # the patterns the rule is proven for
CODE_POINTS = 0x110000
ASCII = 128  # code points
LAST_CUT_SPAN = 1 << 18  # characters whose kinds are looked at together (about 2 MB of arrays)

# The kinds of character, as one byte each. Kinds from LETTER up are "surely not white space".
CR, LF, SPACE, UNSURE_SPACE, LETTER, NUMBER, OTHER, SLASH, MARK, APOSTROPHE, UNSURE = range(11)
KIND_NAMES = ("CR", "LF", "SPACE", "UNSURE_SPACE", "LETTER", "NUMBER", "OTHER", "SLASH", "MARK", "APOSTROPHE", "UNSURE")
NOT_SPACE = (LETTER, NUMBER, OTHER, SLASH, MARK, APOSTROPHE, UNSURE)


def _pair_table() -> np.ndarray:
    """PAIR[a, b]: True when a cut between a character of kind a and one of kind b is safe
    (rules A, C and D of the module docstring; rule B looks at three characters)."""
    table = np.zeros((len(KIND_NAMES), len(KIND_NAMES)), dtype=bool)
    for a in NOT_SPACE:  # A: a non-space, then a space other than CR or LF
        table[a, SPACE] = True
    for a, b in [  # C: a change of kind that no pattern joins
        (LETTER, NUMBER),
        (LETTER, OTHER),
        (LETTER, SLASH),
        (NUMBER, LETTER),
        (NUMBER, OTHER),
        (NUMBER, SLASH),
        (OTHER, NUMBER),
        (SLASH, NUMBER),
    ]:
        table[a, b] = True
    for a in (LETTER, NUMBER):  # D: a letter or digit, then a line end
        table[a, CR] = table[a, LF] = True
    return table


PAIR = _pair_table()  # (kinds, kinds) bool
PAIR_FLAT = PAIR.ravel()  # index a * len(KIND_NAMES) + b


@functools.lru_cache(maxsize=2)
def character_kinds(limit: int = CODE_POINTS) -> np.ndarray:  # -> (limit,) uint8
    r"""The kind of every code point below `limit`, where tiktoken's classes and the installed
    `regex`'s agree.

    Built once per process (about 30 ms for all of Unicode, well under 1 ms for ASCII, limit=128):
    each class is compared code point by code point; where the two disagree the code point is
    UNSURE (or UNSURE_SPACE for white space).
    "a" -> LETTER, "7" -> NUMBER, "中" -> LETTER, "，" -> OTHER, "\u0301" -> MARK.
    """
    every = (
        np.arange(limit, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass") if limit < CODE_POINTS else ""
    )
    kinds = np.full(limit, OTHER, dtype=np.uint8)
    unsure = np.zeros(limit, dtype=bool)
    for cls, kind in ((r"\p{L}", LETTER), (r"\p{N}", NUMBER), (r"\p{M}", MARK), (r"\s", SPACE)):
        tiktokens = np.zeros(limit, dtype=bool)
        for first, last in unicode_classes.ranges(cls):
            tiktokens[first : last + 1] = True  # a range past `limit` is cut short by the slice
        if every:  # the first code points only (ASCII)
            installed = np.zeros(limit, dtype=bool)
            for run in regex.finditer(f"{cls}+", every):
                installed[run.start() : run.end()] = True
        else:
            installed = installed_members(cls)  # all of Unicode, the quiet planes skipped
        kinds[tiktokens & installed] = kind
        if kind == SPACE:
            kinds[tiktokens ^ installed] = UNSURE_SPACE
        else:
            unsure |= tiktokens ^ installed
    kinds[unsure & (kinds != UNSURE_SPACE)] = UNSURE
    kinds[ord("\r")], kinds[ord("\n")] = CR, LF
    kinds[ord("'")], kinds[ord("/")] = APOSTROPHE, SLASH
    kinds.flags.writeable = False
    return kinds


def kinds_of(text: str) -> np.ndarray:  # str (N,) -> (N,) uint8
    r"""The kind of each character. "a1 \n" -> [LETTER, NUMBER, SPACE, LF]
    ASCII text (most files, most blocks) needs only the table of the first 128 code points."""
    if text.isascii():
        return character_kinds(ASCII).take(np.frombuffer(text.encode("ascii"), dtype=np.uint8))
    code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)  # (N,)
    return character_kinds().take(code_points)


def safe_cuts(text: str) -> np.ndarray:  # str (N,) -> (K,) int
    """Every safe cut inside `text` (0 < p < len(text)), in order: the rule, applied to one
    string. "ab12 cd" -> [2, 4]: "ab|12| cd" (letters to digits, then before the space)."""
    return _cuts_in(kinds_of(text), 1, len(text) - 1)


def _cuts_in(kinds: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The safe cuts p with lo <= p <= hi, for the kinds of a text. At p = 1 the character
    two back is unknown, so rule B does not cut there (the others need only a and b)."""
    lo = max(lo, 1)
    if hi < lo:
        return np.zeros(0, dtype=np.int64)
    a = kinds[lo - 1 : hi]  # (M,) the character before each cut
    b = kinds[lo : hi + 1]  # (M,) the character after it
    ok = PAIR_FLAT.take(a * np.uint8(len(KIND_NAMES)) + b)  # rules A, C, D (uint8: at most 120)
    z = kinds[lo - 2 : hi - 1] if lo >= 2 else np.concatenate(([LF], kinds[: hi - 1]))  # LF: not a non-space
    ok |= (a == LF) & (z >= LETTER) & (b >= LETTER) & (b != SLASH)  # rule B
    return np.flatnonzero(ok) + lo


def _last_cut(tail: str, block: str, lo: int, hi: int, specials: regex.Pattern | None, longest: int) -> int | None:
    """The last safe cut p of `tail + block` with lo <= p <= hi that is not inside a special
    token, or None. Looks at the end first: on ordinary text the answer is a few characters
    back. The two strings are never joined whole, and at most LAST_CUT_SPAN characters are
    looked at together, so the arrays here stay a few MB whatever the block."""
    span = 4096
    end = hi
    while end >= lo:
        start = max(lo, end - span + 1)
        first = max(start - 2, 0)  # two characters of context before the first cut examined
        kinds = kinds_of(_part(tail, block, first, end + 1))
        for p in _cuts_in(kinds, start - first, end - first)[::-1] + first:
            near = max(p - longest, 0)
            if specials is None or not _inside_special(_part(tail, block, near, p + longest), p - near, specials):
                return int(p)
        end = start - 1
        span = min(span * 4, LAST_CUT_SPAN)
    return None


def _part(tail: str, block: str, start: int, stop: int) -> str:
    """(tail + block)[start:stop], without building tail + block. Needs 0 <= start."""
    if start >= len(tail):
        return block[start - len(tail) : stop - len(tail)]
    return tail[start:stop] + block[: max(stop - len(tail), 0)]


def _inside_special(near: str, p: int, specials: regex.Pattern) -> bool:
    """True if some occurrence of a special token (overlapping ones too) in `near` spans the
    cut at p: then the encoder would see it cut in two."""
    return any(m.start() < p < m.end() for m in specials.finditer(near, overlapped=True))


# --- chunks from blocks of text, and from a file ---------------------------------------------


def split_safe_chunks(blocks: Iterable[str], special_tokens: Iterable[str] = ()) -> Iterator[str]:
    """Join `blocks` of text and cut them again at safe cuts, outside `special_tokens`:
    each chunk ends at the last safe cut of the text seen so far. "".join(chunks) is
    "".join(blocks), and splitting the chunks one by one gives the pieces of the whole.

    ["ab12 c", "d"] -> ["ab12", " cd"]
    """
    tokens = sorted({t for t in special_tokens if t}, key=len, reverse=True)
    specials = regex.compile("|".join(map(regex.escape, tokens))) if tokens else None
    longest = len(tokens[0]) if tokens else 0
    context = max(2, longest)  # characters around a cut the rule (and a special token) reads
    held: list[str] = []  # text read since the last cut, in blocks, joined once when a cut comes
    held_chars = 0
    checked = 0  # the cuts at 1..checked of the held text are known not to be safe
    tail = ""  # the last `2 * context` characters of the held text before the newest block
    for block in blocks:
        if not block:
            continue
        held.append(block)
        held_chars += len(block)
        lo, hi = checked + 1, held_chars - context  # a cut needs `context` characters after it
        window_start = held_chars - len(block) - len(tail)  # where `tail + block` starts in the held text
        if hi >= lo:
            p = _last_cut(tail, block, lo - window_start, hi - window_start, specials, longest)
            if p is not None:
                cut = window_start + p
                text = "".join(held)
                yield text[:cut]
                rest = text[cut:]
                held, held_chars, checked = [rest], len(rest), hi - cut
                tail = rest[-2 * context :]
                continue
            checked = hi
        tail = (tail + block)[-2 * context :]
    if held_chars:
        yield "".join(held)


def read_utf8_blocks(path, block_bytes: int) -> Iterator[str]:
    """A UTF-8 file as text, `block_bytes` bytes at a time, every byte kept: no newline
    translation, and a byte order mark stays U+FEFF, as tiktoken (and `bytes.decode`) keep it.
    Bad UTF-8 is a ValueError that names the file and the byte, counted from the file's start."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0  # bytes read so far
    with open(path, "rb") as f:
        while True:
            data = f.read(block_bytes)
            pending = len(decoder.getstate()[0])  # bytes of a character cut by the last block
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as e:
                raise ValueError(
                    f"{path} is not UTF-8 text (byte {offset - pending + e.start:,}: {e.reason})"
                ) from None
            offset += len(data)
            if text:
                yield text
            if not data:
                return


def read_split_safe_chunks(
    path: pathlib.Path,
    chunk_chars: int = READ_CHUNK_CHARS,
    special_tokens: Iterable[str] = (),
    pat_str: str | None = None,
) -> Iterator[str]:
    """A UTF-8 file in chunks of about `chunk_chars` characters or less, each ending at a
    safe cut (see the module docstring) outside `special_tokens`.

    The chunks join back to the file exactly, and splitting them one by one gives the pieces
    of the whole file, for each known pattern. Given a `pat_str` that is not one of them,
    the whole file is one chunk (no cut is proven safe for an arbitrary pattern).
    """
    chunk_chars = check_setting("chunk_chars", chunk_chars, 1)
    blocks = read_utf8_blocks(path, min(chunk_chars, MAX_BLOCK_BYTES))
    if pat_str is not None and pat_str not in KNOWN_PATTERNS:
        text = "".join(blocks)
        if text:
            yield text
        return
    yield from split_safe_chunks(blocks, special_tokens)
