"""The split patterns: how text is cut into pieces before any merge happens.

BPE never merges across a piece boundary, so the pattern decides what a token can be.
`GPT2_PATTERN` (also r50k and p50k's), `CL100K_PATTERN` and `O200K_PATTERN` are tiktoken's
strings, character for character, run with the `regex` module (which knows `\\p{L}`,
possessive quantifiers and atomic groups).

`ASCII_PATTERNS` holds, for each known pattern, the same pattern with its Unicode classes
spelled out for ASCII (`\\p{L}` -> `[A-Za-z]`, `\\p{N}` -> `[0-9]`, `\\s` -> `[\\t\\n\\v\\f\\r ]`).
On text that is all ASCII it splits identically, and Python's built-in `re` runs it about
twice as fast as `regex` runs the general one. The split is the largest cost of a warm
encode, so this is where the speed is; `tests/test_bpe_patterns.py` checks the two agree.

`compile_pinned` compiles a known pattern so that its character classes (\\p{L}, \\p{N}, ...)
mean what they mean in tiktoken, Unicode 16.0 (`unicode_classes.py`), whatever Unicode tables
the installed `regex` carries: the split, and so every token, is the same on every code point
with any `regex` release. `tests/test_bpe_unicode.py` checks it against tiktoken.

Where every known pattern cuts anyway, whatever comes around, is used twice elsewhere:
`chunks.py` reads a large file in chunks cut there, and `spaced.py` caches whole words.
"""

from __future__ import annotations

import functools
import re

import regex

from npllm.bpe import unicode_classes

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (2 ms)
if TYPE_CHECKING:  # NumPy is imported where the pinning uses it: ASCII text never needs it
    import numpy as np

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


# --- the classes as tiktoken has them -------------------------------------------------------

CODE_POINTS = 0x110000
PINNED_MIN_CHARS = 32  # a shorter text goes straight to the pinned form: checking costs more
_SURROGATES = slice(0xD800, 0xE000)  # no class question about them reaches tiktoken: left alone

# In a pattern: a bracketed class, a class escape, any other escape, or one character.
_PATTERN_TOKEN = regex.compile(r"\[(?:\\.|[^\]\\])*\]|\\[pP]\{\w+\}|\\[sS]|\\.|.", regex.S)
_CLASS_ITEM = regex.compile(r"\\p\{\w+\}|\\.|.", regex.S)  # one item inside a bracketed class
_CLASS_ESCAPES = {r"\r": "\r", r"\n": "\n", r"\t": "\t"}


class PinnedPattern:
    r"""A known split pattern whose character classes are tiktoken's (Unicode 16.0), with
    `findall` and `finditer` as a compiled pattern has them.

    Two compiled forms of the same pattern:
    - `native`: as written, run with the installed `regex`'s own tables;
    - `pinned`: every class on which those tables and `unicode_classes` disagree, corrected
      with `regex`'s set operations (VERSION1 syntax): `\p{L}` becomes `[\p{L}--[<letters
      tiktoken does not have>]]`, and `[...[<letters it lacks>]]` with an older `regex`.
      (VERSION1 also folds case fully under (?i); on the contractions that matches what
      simple folding does, tiktoken's: "'ſ" is "'s" in all three, tests/test_bpe_unicode.py.)

    The disagreements are found once, on the first non-ASCII text (50-100 ms), by running
    each class of the pattern over every code point and comparing with `unicode_classes`, so
    `pinned` is exact with any release (nothing to correct with `regex` 2024.9.11, 4,657 code
    points with 2026.5.9). `disputed` marks them. A text without any splits the same under
    both forms, and `native` splits a third faster (the set difference scans its ranges for
    every letter: 45 against 67 ms per MB of mixed Vietnamese, Russian and Chinese with
    GPT-2's pattern), so a text of PINNED_MIN_CHARS or more is first looked up in `disputed`:
    one NumPy gather, under 1 ms per MB, 1.5 us at least. (NumPy is imported then too, on
    the first non-ASCII text, not with this module.)
    """

    def __init__(self, pat_str: str):
        self.pattern = pat_str
        self.native = regex.compile(pat_str)
        self._pinned: regex.Pattern | None = None  # built on first use: ASCII text never needs it
        self._disputed: np.ndarray | None = None  # bool (CODE_POINTS,), or None when nothing is

    def __repr__(self) -> str:
        n = 0 if self.disputed is None else int(self.disputed.sum())
        return f"PinnedPattern({self.pattern!r}, disputed code points: {n})"

    @property
    def pinned(self) -> regex.Pattern:
        if self._pinned is None:
            self._build()
        return self._pinned

    @property
    def disputed(self) -> np.ndarray | None:
        if self._pinned is None:
            self._build()
        return self._disputed

    def findall(self, text: str) -> list[str]:
        return self.pattern_for(text).findall(text)

    def finditer(self, text: str):
        return self.pattern_for(text).finditer(text)

    def pattern_for(self, text: str) -> regex.Pattern:
        """`native` when it splits `text` as `pinned` does (no disputed code point), else `pinned`."""
        if self._pinned is None:
            self._build()
        if self._disputed is None:
            return self.native
        if len(text) < PINNED_MIN_CHARS:
            return self._pinned
        import numpy as np  # imported already by _build; here it is a dict lookup

        code_points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
        return self._pinned if self._disputed.take(code_points).any() else self.native

    def _build(self) -> None:
        pinned_str, disputed = pin_classes(self.pattern)
        if disputed.any():
            self._disputed = disputed
            self._pinned = regex.compile(pinned_str, regex.V1)
        else:
            self._pinned = self.native


@functools.lru_cache(maxsize=16)
def compile_pinned(pat_str: str) -> PinnedPattern | regex.Pattern:
    """A known pattern (GPT2_PATTERN, CL100K_PATTERN, O200K_PATTERN) as a `PinnedPattern`, so
    its classes are tiktoken's whatever `regex` is installed; any other pattern as it stands,
    `regex.compile(pat_str)`. One per process per pattern."""
    if pat_str in PATTERNS_BY_NAME.values():
        return PinnedPattern(pat_str)
    return regex.compile(pat_str)


def pin_classes(pat_str: str) -> tuple[str, np.ndarray]:
    r"""The pattern with each class the installed `regex` gets wrong corrected (VERSION1 syntax),
    and the code points corrected, as a bool array over all code points.

    With `regex` 2026.5.9: pin_classes(r" ?\p{N}+")[0] -> r" ?[\p{N}--[\U00011de0-\U00011de9...]]+"
    A class with no disagreement is left as written. A class item `unicode_classes` does not
    know (\w, \d, \p{Greek}, a range a-z) is a ValueError.
    """
    import numpy as np  # here, not at the top: only non-ASCII text needs the pinning

    disputed = np.zeros(CODE_POINTS, dtype=bool)
    spelled = {}  # class -> its pinned spelling
    out = []
    for token in _PATTERN_TOKEN.findall(pat_str):
        if token.startswith("[") or token[:3] in (r"\p{", r"\P{") or token in (r"\s", r"\S"):
            if token not in spelled:
                spelled[token], corrected = _pin_class(token)
                disputed |= corrected
            token = spelled[token]
        out.append(token)
    return "".join(out), disputed


def _pin_class(cls: str) -> tuple[str, np.ndarray]:
    """One class -> (its pinned spelling, the code points on which it was corrected)."""
    target = class_code_points(cls)  # bool (CODE_POINTS,): tiktoken's
    installed = installed_members(cls)  # the installed regex's
    target[_SURROGATES] = installed[_SURROGATES]
    extra, missing = installed & ~target, target & ~installed  # to take out, to add
    pinned = cls
    if extra.any():
        pinned = f"[{pinned}--[{_ranges_text(extra)}]]"
    if missing.any():
        pinned = f"[{pinned}[{_ranges_text(missing)}]]"
    return pinned, extra | missing


def installed_members(cls: str) -> np.ndarray:  # -> bool (CODE_POINTS,)
    r"""What the installed `regex` matches with the class `cls` (\p{L}, [^\s\p{L}\p{N}], ...),
    code point by code point (surrogates included, so that an index is a code point).

    The class runs over planes 0-3 and 14 only, a third of all code points: planes 4-13 are
    unassigned and planes 15-16 private use in every Unicode so far, so no letter, digit, mark
    or space lives there, and a class built of those and of single characters holds all of
    such a plane or none of it, as its first code point shows. That is checked once per
    process (`_planes`); should a later `regex` put a letter there, every code point is run.
    """
    import numpy as np

    members = np.zeros(CODE_POINTS, dtype=bool)
    live, quiet = _planes()
    for first, text in live:
        for run in regex.finditer(f"(?:{cls})+", text):
            members[first + run.start() : first + run.end()] = True
    for first, last in _QUIET_PLANES if quiet else ():
        if regex.fullmatch(cls, chr(first)):
            members[first : last + 1] = True  # a negated class ([^\s\p{L}]): all of them
    return members


_LIVE_PLANES = ((0, 0x3FFFF), (0xE0000, 0xEFFFF))  # planes 0-3 and 14: every assigned code point so far
_QUIET_PLANES = ((0x40000, 0xDFFFF), (0xF0000, 0x10FFFF))  # unassigned (4-13) and private use (15-16)


@functools.lru_cache(maxsize=1)
def _planes() -> tuple[list[tuple[int, str]], list[str]]:
    """([(first code point, the code points from there as a string)] to run a class over, the
    quiet planes' code points as strings): the live planes and the quiet ones; or all of Unicode
    in one string and no quiet planes, when the installed `regex` puts a letter, digit, mark or
    space in the quiet planes, or tiktoken's tables do."""
    import numpy as np

    def span(first: int, last: int) -> str:
        return np.arange(first, last + 1, dtype=np.uint32).tobytes().decode("utf-32-le", "surrogatepass")

    quiet = [span(first, last) for first, last in _QUIET_PLANES]
    tiktoken_quiet = not any(
        first <= quiet_last and quiet_first <= last
        for cls in unicode_classes.CLASSES
        for first, last in unicode_classes.ranges(cls)
        for quiet_first, quiet_last in _QUIET_PLANES
    )
    # to the installed regex, all unassigned or private use: no letter, digit, mark or space
    if tiktoken_quiet and not any(regex.search(r"[^\p{Cn}\p{Co}]", text) for text in quiet):
        return [(first, span(first, last)) for first, last in _LIVE_PLANES], quiet
    return [(0, span(0, CODE_POINTS - 1))], []


def class_code_points(cls: str) -> np.ndarray:
    r"""tiktoken's members of a class as the patterns spell it (\p{L}, \s, \S, [^\r\n\p{L}]...):
    a bool array over all code points."""
    import numpy as np

    negated = cls.startswith("[^") or cls == r"\S" or cls.startswith(r"\P{")
    if cls.startswith("["):
        items = _CLASS_ITEM.findall(cls[2 if negated else 1 : -1])
    else:
        items = [r"\s" if cls == r"\S" else cls.replace(r"\P{", r"\p{")]
    members = np.zeros(CODE_POINTS, dtype=bool)
    for item in items:
        if item in unicode_classes.CLASSES:
            for first, last in unicode_classes.ranges(item):
                members[first : last + 1] = True
        elif item in _CLASS_ESCAPES or (len(item) == 1 and item not in "-[]\\^"):
            members[ord(_CLASS_ESCAPES.get(item, item))] = True
        else:
            raise ValueError(f"cannot pin {item!r} in the class {cls!r}: unicode_classes does not know it")
    return ~members if negated else members


def _ranges_text(members: np.ndarray) -> str:
    r"""A bool array over code points -> the inside of a class. [a, b, c, x] -> r"\u0061-\u0063\u0078" """
    import numpy as np

    edges = np.flatnonzero(np.diff(np.concatenate(([False], members, [False])).astype(np.int8)))
    firsts, lasts = edges[0::2], edges[1::2] - 1
    return "".join(_escape(a) if a == b else f"{_escape(a)}-{_escape(b)}" for a, b in zip(firsts, lasts))


def _escape(code_point) -> str:
    return f"\\u{code_point:04x}" if code_point < 0x10000 else f"\\U{code_point:08x}"
