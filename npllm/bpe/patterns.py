"""The split patterns: how text is cut into pieces before any merge happens.

BPE never merges across a piece boundary, so the pattern decides what a token can be.
`GPT2_PATTERN` (also r50k and p50k's), `CL100K_PATTERN` and `O200K_PATTERN` are tiktoken's strings, character for character, run with
the `regex` module (which knows `\\p{L}`, possessive quantifiers and atomic groups).

`ASCII_PATTERNS` holds, for each known pattern, the same pattern with its Unicode classes
spelled out for ASCII (`\\p{L}` -> `[A-Za-z]`, `\\p{N}` -> `[0-9]`, `\\s` -> `[\\t\\n\\v\\f\\r ]`).
On text that is all ASCII it splits identically, and Python's built-in `re` runs it about
twice as fast as `regex` runs the general one. The split is the largest cost of a warm
encode, so this is where the speed is; `tests/test_bpe_patterns.py` checks the two agree.

`read_split_safe_chunks` reads a large file in chunks cut only where both patterns would cut
anyway, so the trainer and `npllm.tokens.encode_file` stream a corpus of any size and get
exactly the pieces of the whole text.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterable

import regex

# GPT-2 (r50k_base). OpenAI's original, equivalent and slower, was
# r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""

# cl100k_base (GPT-3.5/4): case-insensitive contractions, digits in groups of at most 3,
# newlines kept apart from the spaces before them.
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

# o200k_base (GPT-4o and later; o200k_harmony too): words by letter case, so "HelloWorld" is
# two pieces; contractions glued to their word; digits in groups of at most 3.
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

# What \s, \p{L} and \p{N} mean on ASCII text, for the `re` versions below. (The `regex`
# module's \s is Unicode's White_Space: \x1c-\x1f are not in it, unlike str.isspace.)
_S = r"\t\n\x0b\x0c\r "
_L = "A-Za-z"
_N = "0-9"
_LU = "A-Z"  # on ASCII, \p{Lu}; \p{Lt}, \p{Lm}, \p{Lo} and \p{M} have no ASCII members
_LL = "a-z"  # \p{Ll}
_CONTRACTION = "(?i:'s|'t|'re|'ve|'m|'ll|'d)?"

# Possessive quantifiers are dropped: in these classes no backtracking could change a match
# (a piece that ends a class run is always followed by a character outside the class).
# `$` becomes `\Z`: a whitespace run reaching the end of the text.
ASCII_PATTERNS = {  # pattern -> the same pattern for all-ASCII text, for `re`
    GPT2_PATTERN: (
        rf"""'(?:[sdmt]|ll|ve|re)| ?[{_L}]+| ?[{_N}]+| ?[^{_S}{_L}{_N}]+"""
        rf"""|[{_S}]+\Z|[{_S}]+(?![^{_S}])|[{_S}]"""
    ),
    CL100K_PATTERN: (
        rf"""'(?i:[sdmt]|ll|ve|re)|[^\r\n{_L}{_N}]?[{_L}]+|[{_N}]{{1,3}}| ?[^{_S}{_L}{_N}]+[\r\n]*"""
        rf"""|[{_S}]+\Z|[{_S}]*[\r\n]|[{_S}]+(?![^{_S}])|[{_S}]"""
    ),
    # No possessive quantifiers to drop here: the classes are substituted one for one.
    O200K_PATTERN: (
        rf"""[^\r\n{_L}{_N}]?[{_LU}]*[{_LL}]+{_CONTRACTION}"""
        rf"""|[^\r\n{_L}{_N}]?[{_LU}]+[{_LL}]*{_CONTRACTION}"""
        rf"""|[{_N}]{{1,3}}| ?[^{_S}{_L}{_N}]+[\r\n/]*|[{_S}]*[\r\n]+|[{_S}]+(?![^{_S}])|[{_S}]+"""
    ),
}

PATTERNS_BY_NAME = {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN}  # for the CLI


def compile_ascii(pat_str: str) -> re.Pattern | None:
    """The `re` version of a known pattern, or None when the pattern has no ASCII twin."""
    ascii_pat = ASCII_PATTERNS.get(pat_str)
    return re.compile(ascii_pat) if ascii_pat is not None else None


# --- cutting a long text where the split cannot change --------------------------------------

READ_CHUNK_CHARS = 1 << 22  # characters read from a file at a time

# Where both known patterns end a piece and start the next, whatever comes around: after a
# newline between two non-space characters ("y\nA"), or before a space that follows a
# non-space and precedes a letter ("y| A"). Text cut there splits exactly as the whole text
# does. (Not after "\r\n": GPT-2's pattern splits "y\r\nA" as "\r", "\n" but a chunk
# ending in "\r\n" as one piece; the space rule covers files with CRLF line ends.)
_SAFE_CUT = regex.compile(r"(?r)(?<=\S\n)(?=\S)|(?<=\S)(?= \p{L})")  # (?r): search from the end


def read_split_safe_chunks(path: pathlib.Path, chunk_chars: int = READ_CHUNK_CHARS) -> Iterable[str]:
    """A UTF-8 file in pieces of about `chunk_chars`, each ending at a safe cut.

    Splitting the chunks one by one gives the same pieces as splitting the whole file, for
    GPT2_PATTERN and CL100K_PATTERN (tests/test_bpe_train.py checks it), and the chunks
    join back to the file exactly (line ends are not translated). A stretch with no safe
    cut (one endless line without spaces) is carried on until one comes. A special token
    that itself contains a space followed by a letter could be cut in two; none of the
    usual ones does.
    """
    carry = ""
    with open(path, encoding="utf-8", newline="") as f:
        while True:
            try:
                block = f.read(chunk_chars)
            except UnicodeDecodeError as e:
                raise ValueError(f"{path} is not UTF-8 text ({e.reason}, byte {e.start} of a block)") from None
            if not block:
                break
            buffer = carry + block
            cut = _SAFE_CUT.search(buffer, 1)
            if cut is None:
                carry = buffer
                continue
            yield buffer[: cut.start()]
            carry = buffer[cut.start() :]
    if carry:
        yield carry
