"""A cache of whole words in front of the piece cache: most of a warm encode without the regex.

Every known split pattern (GPT2_PATTERN, also r50k's and p50k's; CL100K_PATTERN; O200K_PATTERN)
starts a new piece at a space that has a non-space character on both sides: in "you know"
the pieces are "you" and " know" whatever the pattern, and nothing after the cut changes what
comes before it (no piece holds a non-space followed by a space, and the patterns look at no
text behind them). So a text can be cut at those spaces with `str.split(" ")`, in C, and
each stretch between two cuts (" know", " know,", " world.\\n\\nNext") encoded on its own:
its IDs are cached whole. A warm encode is one `split` and one dict lookup per word.

Where a space is not such a cut (two spaces in a row, a space next to a newline, a space at
either end of the text), the parts on both sides of it are joined back into one stretch first.
A part that is empty or starts or ends with whitespace is such a part; it is joined with both
its neighbours (even where one side would do: fewer cuts are never wrong, and such parts are
rare outside indented code). `str.isspace` is used for "whitespace": it counts a few more
characters than the patterns' `\\s` (U+001C..U+001F), which only joins more, never cuts wrong.

A word is cached the second time it is seen (the first time it only goes into a set of words
seen once): most words of a text seen once are never seen again, and caching them would cost a
first pass more than the cache saves it. A first text is not even cut at spaces: it is kept as
it is and encoded the plain way (`defer`), and its words go into that set only when a second
text comes: a single cold encode never splits or hashes them. A text with many
words the cache does not hold yet (a cold pass) is encoded the plain way, split and pieces; one
with a few is cut as above, the missing words joined to their neighbours. The words admitted
are encoded together, in one pass of the split pattern over " word1 word2 ...": each space
there is a cut, so the pieces that start with a space are exactly where the words start
(`group_by_leading_space`).

tests/test_bpe_spaced.py checks the rule against whole-text encoding and tiktoken, for every
known pattern, on real text and on hypothesis text full of spaces and newlines. What this leaves
out: user patterns (an `Encoding` with any other `pat_str` does not use it) and special tokens
(the text given here is ordinary text between them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import accumulate, compress, repeat

import regex

from npllm._checks import check_int

MAX_CACHED_CHARS = 256  # a longer word is encoded but not remembered: it rarely comes back
CACHE_SIZE = 1 << 17  # words remembered; tinyshakespeare has about 42,000 distinct ones
MOSTLY_CACHED = 8  # cut at spaces when at most 1 part in 8 is not cached; else the plain way
UNSAFE_SHARE = 20  # and at most 1 in 20 cannot stand alone (python -m benchmarks --investigate)
PENDING_CHARS = 1 << 21  # a first text's words wait as up to this many characters of it (`defer`)
MISSING = object()  # what a lookup of a part the cache does not hold gives
WINDOW = 1 << 14  # characters per window of a long warm text: its parts (~3,000 strings) stay in cache
ASCII_STRETCH = 256  # characters: a shorter ASCII stretch between non-ASCII ones goes to `regex` with them
DENSE_RUNS = 64  # ascii_stretches gives up after this many non-ASCII runs more than one per ASCII_STRETCH
_SAFE_SPACE = re.compile(r"(?<=\S) (?=\S)")  # re's \s is str.isspace, as everywhere here
_NON_ASCII = regex.compile(r"[^\x00-\x7f]+")  # `regex` finds these 10x quicker than `re` does


class SpacedChunkCache(dict):
    """word -> the value (its IDs, or their packed bytes) of " " + word, the word as it follows
    a safe space; None for a part that cannot stand alone. "know" -> (760,) (gpt2); "" -> None.
    Filled by `fill`, many words at a time.

    `encode_words(words)` encodes words that hold no space and start and end with a non-space,
    each after a space, in one go; `encode_one(text)` encodes any one stretch on its own.
    """

    def __init__(
        self,
        encode_words: Callable[[list[str]], list],
        encode_one: Callable[[str], object],
        maxsize: int = CACHE_SIZE,
    ):
        super().__init__()
        self.encode_words = encode_words
        self.encode_one = encode_one
        self.maxsize = maxsize
        self.seen_once = set()  # short words met once and not cached (yet); bounded like the cache
        self.pending = None  # (the start of) a first text, its words remembered when the next text comes

    def defer(self, text: str) -> bool:
        """For a first text (nothing cached, seen or pending): keep it as it is, or its first
        PENDING_CHARS characters, and say True: the caller encodes it the plain way. Its words
        are split out and remembered (`admit`) only when a second text comes, so a single cold
        encode (one file, one command) never cuts it at spaces: 6-15% of it (tinyshakespeare).
        False once anything has been seen."""
        if self or self.seen_once or self.pending is not None:
            return False
        self.pending = text[:PENDING_CHARS]  # the text itself, not a copy, when it is shorter
        return True

    def admit(self, words: list[str]) -> bool:
        """Cache those of `words` that were seen before (and can stand alone); remember all of
        them as seen. True if any was cached. Costs little when none was seen before: one
        set intersection and one set update, in C. A first text kept by `defer` has its words
        remembered first."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.remember(pending.split(" ")[1:])  # its parts after a space, as chunk_values offers them
        again = [w for w in self.seen_once.intersection(words) if w not in self]
        self.remember(words)
        if again:
            self.fill(again)
        return bool(again)

    def remember(self, words: list[str]) -> None:
        """Add the short ones of `words` to `seen_once`, which starts over past maxsize words."""
        if len(self.seen_once) > self.maxsize:
            self.seen_once.clear()  # bounded as the cache is: at most maxsize words of MAX_CACHED_CHARS
        if max(map(len, words), default=0) <= MAX_CACHED_CHARS:  # the usual case: all of them, in C
            self.seen_once.update(words)
        else:
            self.seen_once.update(w for w in words if len(w) <= MAX_CACHED_CHARS)

    def fill(self, words: list[str]) -> None:
        """Encode `words` (distinct) and remember the short ones; a part that cannot stand alone
        is remembered as None. When the cache would overflow it starts over: memory stays
        bounded, and the worst is one more cold pass."""
        short = [w for w in words if len(w) <= MAX_CACHED_CHARS][: self.maxsize]
        if len(self) + len(short) > self.maxsize:
            self.clear()
        safe = [w for w in short if _stands_alone(w)]
        if len(safe) < len(short):
            self.update(dict.fromkeys(short))  # None for the parts that cannot stand alone
        self.update(zip(safe, self.encode_words(safe)))


def chunk_values(
    text: str,
    cache: SpacedChunkCache,
    encode_head: Callable[[str], object],
    *,
    mostly_cached: int = MOSTLY_CACHED,
    window: int = WINDOW,
) -> list | None:
    """The values of the stretches of `text`, in order, cut at its safe spaces; None when more
    than 1 part in `mostly_cached` is not cached (then the caller encodes it the plain way;
    0: never).

    The first stretch (no space before it) goes to `encode_head`; every other one comes from
    `cache`. "hello you know" -> [head("hello"), cache["you"], cache["know"]]. A first text
    (the cache has seen nothing) gives None at once, unless `mostly_cached` is 0: `cache.defer`
    keeps it for later.

    A text of 2 * `window` characters or more, once the cache holds words, goes a window at a
    time (`safe_windows`): one window's parts are made, looked up and freed before the next
    window's, so the new strings stay in the processor's cache. Made all at once, 200,000 parts
    land wherever the memory allocator has free blocks, which in a process that has freed much
    is all over the heap: that made a warm encode 40-60% slower. A window that is mostly new
    words is encoded the plain way (`encode_head`), on its own.
    """
    if mostly_cached and cache.defer(text):
        return None  # a first text: the plain way, its words remembered when the next text comes
    if not cache or len(text) < 2 * window:
        return _stretch_values(text, cache, encode_head, mostly_cached)
    values = []
    for start, end in safe_windows(text, window):
        stretch = text[start:end]
        found = _stretch_values(stretch, cache, encode_head, mostly_cached)
        values += [encode_head(stretch)] if found is None else found
    return values


def safe_windows(text: str, window: int):
    """(start, end) pairs that tile `text`, each about `window` characters or more; every start
    but 0 is a safe space, with a non-space character on both sides. So each window is a text of
    its own: it encodes to the IDs the whole text has there. "ab cd ef", 4 -> (0, 5), (5, 8)"""
    check_int("window", window, 1)
    start = 0
    while (cut := _SAFE_SPACE.search(text, start + window)) is not None:
        yield start, cut.start()
        start = cut.start()
    yield start, len(text)


def ascii_stretches(text: str, min_chars: int = ASCII_STRETCH) -> list[tuple[int, int, bool]] | None:
    """(start, end, all ASCII) stretches that tile `text`, each start but 0 a safe space, each
    ASCII stretch at least `min_chars` long; None as soon as the text has had more non-ASCII
    runs than one per `min_chars` characters, and DENSE_RUNS more (splitting it whole with
    `regex` is then as quick).
    "abcd é fgh ij", 4 -> [(0, 4, True), (4, 6, False), (6, 13, True)]

    For text that is mostly ASCII with a few other characters (a name with an accent, curly
    quotes, an emoji in a comment): `Encoding._split` runs the fast `re` pattern over the ASCII
    stretches and `regex` over the rest, instead of `regex` over all of it (2-3x slower a
    character) for the sake of one "é". Each non-ASCII run is widened to the safe spaces
    around it; two such regions closer than `min_chars` become one.
    """
    check_int("min_chars", min_chars, 1)
    regions = []  # [start, end]: non-ASCII runs widened to safe spaces, in order
    runs = 0  # non-ASCII runs met outside the regions so far
    for run in _NON_ASCII.finditer(text):
        floor = regions[-1][1] if regions else 0
        if run.start() < floor:
            continue  # inside the last region already
        runs += 1
        if runs > run.start() // min_chars + DENSE_RUNS:
            return None  # more than one run per min_chars characters: dense, give up early
        start = _safe_space_before(text, run.start(), floor)
        after = _SAFE_SPACE.search(text, run.end())
        end = after.start() if after else len(text)
        if regions and start - floor < min_chars:
            regions[-1][1] = end  # a short ASCII stretch between two regions joins them
        else:
            regions.append([start, end])
    if regions and regions[0][0] < min_chars:
        regions[0][0] = 0  # a short ASCII head joins the first region
    if regions and len(text) - regions[-1][1] < min_chars:
        regions[-1][1] = len(text)  # and a short ASCII tail the last one
    stretches, at = [], 0
    for start, end in regions:
        if start > at:
            stretches.append((at, start, True))
        stretches.append((start, end, False))
        at = end
    if at < len(text):
        stretches.append((at, len(text), True))
    return stretches


def _safe_space_before(text: str, end: int, floor: int) -> int:
    """The last safe space before `end` and at or after `floor`; `floor` if there is none."""
    space = text.rfind(" ", floor, end)
    while space > floor and (text[space - 1].isspace() or text[space + 1].isspace()):
        space = text.rfind(" ", floor, space)
    return max(space, floor)


def _stretch_values(text: str, cache: SpacedChunkCache, encode_head, mostly_cached: int) -> list | None:
    """`chunk_values` of one window (or a whole short text)."""
    parts = text.split(" ")  # ["hello", "you", "know"]; a space before every part but the first
    if mostly_cached and parts.count("") * UNSAFE_SHARE > len(parts):
        return None  # two spaces in a row (indentation) make an empty part, never safe: see below
    if cache:
        values = list(map(cache.get, parts[1:], repeat(MISSING)))  # part i + 1 -> values[i]
        n_missing = values.count(MISSING)
    else:  # an empty cache (a first encode) holds none of them: no lookups, no count
        values = [MISSING] * (len(parts) - 1)
        n_missing = len(values)
    if n_missing:
        # Many missing (a cold text): offer every part, with set operations in C. A few: find
        # them (list.index) and offer just those.
        missing = parts[1:] if n_missing * mostly_cached > len(values) else _missing_parts(parts, values)
        if cache.admit(missing):
            values = list(map(cache.get, parts[1:], repeat(MISSING)))
            n_missing = values.count(MISSING)
        if n_missing * mostly_cached > len(values):
            return None
        for i in _missing_indices(values, n_missing):  # seen once, or too long to keep: joined, as unsafe parts are
            values[i] = None
    last = parts[-1]
    if values and values[-1] is None and last and not last[0].isspace():
        # nothing follows the last part (a text ending "...\n"): only its start must be safe
        values[-1] = cache.encode_one(" " + last)
    n_unsafe = values.count(None)  # parts to join with their neighbours
    if mostly_cached and n_unsafe * UNSAFE_SHARE > len(values):
        return None  # indented code, many double spaces: joining costs more than the plain way
    head = parts[0]
    if not n_unsafe and (not head or not head[-1].isspace()):  # every space is a safe cut: the usual case
        if head or not values:  # an empty head (a window starts with its safe space): nothing before it
            values.insert(0, encode_head(head))
        return values
    return _join_around_unsafe_spaces(parts, values, cache, encode_head)


def _missing_indices(values: list, n_missing: int) -> list[int]:
    """Where MISSING stands in `values`, found with list.index (in C), `n_missing` of them."""
    found, i = [], -1
    for _ in range(n_missing):
        i = values.index(MISSING, i + 1)
        found.append(i)
    return found


def _missing_parts(parts: list[str], values: list) -> list[str]:
    """The parts whose values are MISSING (part i + 1 -> values[i])."""
    return [parts[i + 1] for i in _missing_indices(values, values.count(MISSING))]


def _stands_alone(word: str) -> bool:
    """A part with a safe space on both sides when its neighbours have one: not empty, no
    whitespace at either end. "know," -> True; "" and "\nNext" -> False"""
    return bool(word) and not word[0].isspace() and not word[-1].isspace()


def group_by_leading_space(pieces: list[str], values: list, concat: Callable[[list], object]) -> list:
    """The pieces of " w1 w2 ..." (words with no space in them) back into one value per word:
    a word's pieces start with the one that starts with its space. [" you", " know", ","] with
    values [(345,), (760,), (11,)] -> [(345,), (760, 11)].

    All the values are concatenated once (`concat`: tuples into one tuple, bytes into bytes)
    and each word's value is a slice of that, so the loop over words runs in C.
    """
    starts = list(compress(range(len(pieces)), map(str.startswith, pieces, repeat(" "))))
    if len(starts) == len(pieces):
        return values  # one piece per word
    ends = list(accumulate(map(len, values)))  # where each piece's value ends in the concatenation
    offsets = [0, *ends]
    firsts = list(map(offsets.__getitem__, starts))  # where each word's value starts
    return list(map(concat(values).__getitem__, map(slice, firsts, [*firsts[1:], ends[-1]])))


def _join_around_unsafe_spaces(parts: list[str], values: list, cache: SpacedChunkCache, encode_head) -> list:
    """The same, where some parts cannot stand alone (None in `values`, or a first part that
    ends in whitespace): each such part is joined with both its neighbours, and groups that
    overlap are joined into one. "a  b c" -> parts ["a", "", "b", "c"] -> "a  b" (the head), " c".

    Groups are found with `list.index`, so the work in Python is per group, not per part.
    """
    n = len(parts)
    out = []
    emitted = 0  # parts[:emitted] are in `out`
    group_start = group_end = -1  # the open group of parts, inclusive; -1: none open

    def emit_good(upto: int) -> None:  # parts[emitted:upto], each cut off by safe spaces
        if upto <= emitted:
            return
        if emitted == 0:
            out.append(encode_head(parts[0]))
        out.extend(values[max(emitted, 1) - 1 : upto - 1])

    def close_group() -> None:
        chunk = " ".join(parts[group_start : group_end + 1])
        out.append(encode_head(chunk) if group_start == 0 else cache.encode_one(" " + chunk))

    bad = 0 if not parts[0] or parts[0][-1].isspace() else _next_bad(values, 1)
    while bad is not None:
        lo, hi = max(bad - 1, 0), min(bad + 1, n - 1)  # the bad part and its two neighbours
        if group_end >= 0 and lo <= group_end:
            group_end = max(group_end, hi)  # overlaps the open group: grow it
        else:
            if group_end >= 0:
                close_group()
            emit_good(lo)
            group_start, group_end = lo, hi
        emitted = group_end + 1
        bad = _next_bad(values, bad + 1)
    if group_end >= 0:
        close_group()
    emit_good(n)
    return out


def _next_bad(values: list, start: int) -> int | None:
    """The index of the first part from `start` on (part i = values[i - 1]) that maps to None."""
    if start > len(values):
        return None
    try:
        return values.index(None, start - 1) + 1
    except ValueError:
        return None
