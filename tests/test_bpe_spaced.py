"""The word cache (npllm/bpe/spaced.py): cutting at safe spaces never changes a token.

Three checks: the cutting itself (the stretches join back to the text and every cut is a space
with a non-space on both sides), the IDs against the plain split-then-merge path and against
tiktoken on texts made to be hard (runs of spaces, spaces beside newlines and Unicode
whitespace, spaces at both ends), and the cache's bounds.
"""

import contextlib
import functools
import operator
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import tiktoken_encoding

import npllm
import npllm.bpe.encoding as encoding_module
from npllm.bpe import spaced
from npllm.bpe.spaced import SpacedChunkCache, chunk_values

NAMES = ["gpt2", "p50k_base", "cl100k_base", "o200k_base"]  # one of each pattern, and p50k's space tokens
SPACEY = " \n\t\r\u00a0\u3000\u0085\x1c\x0b"  # ASCII and Unicode whitespace, and \x1c (isspace, not \s)


def stretches(text: str) -> list[str]:
    """The stretches chunk_values cuts `text` into (the encoders hand back what they get)."""
    cache = SpacedChunkCache(lambda words: [" " + word for word in words], lambda chunk: chunk)
    chunk_values(text, cache, lambda head: head, mostly_cached=0)  # first sight of the words
    return chunk_values(text, cache, lambda head: head, mostly_cached=0)  # 0: cut, however few are cached


def plain_ids(enc, text: str) -> list[int]:
    """The IDs without the word cache: the pattern over the whole text, then the piece cache."""
    return functools.reduce(operator.iconcat, map(enc._piece_ids.__getitem__, enc._split(text)), [])


# --- the cutting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("hello you know", ["hello", " you", " know"]),
        ("a  b c", ["a  b", " c"]),  # two spaces: joined around the empty part
        (" a b", [" a", " b"]),  # a leading space: the head joins its neighbour
        ("a b ", ["a", " b "]),  # a trailing space
        ("a b\n", ["a", " b\n"]),  # the last part may end in whitespace: nothing follows it
        ("a b\n c", ["a b\n c"]),  # but not a part in the middle: joined with both neighbours
        ("x\n y z", ["x\n y", " z"]),  # a space after a newline
        ("x \ny z", ["x \ny z"]),  # a space before a newline: "\ny" joins both neighbours
        ("one", ["one"]),
        ("", [""]),
        ("   ", ["   "]),
        ("a b  c d  e f", ["a", " b  c", " d  e", " f"]),  # two separate groups
        ("a  b  c d", ["a  b  c", " d"]),  # groups that touch become one
    ],
)
def test_known_cuts(text, expected):
    assert stretches(text) == expected


@given(st.text(alphabet=st.sampled_from("ab." + SPACEY), max_size=60))
@settings(max_examples=400, deadline=None)
def test_stretches_join_back_and_every_cut_is_a_safe_space(text):
    parts = stretches(text)
    assert "".join(parts) == text
    for left, right in zip(parts, parts[1:]):
        assert right[0] == " " and len(right) > 1
        assert not left[-1].isspace() and not right[1].isspace()


# --- the IDs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=NAMES)
def fresh(request):
    """A new Encoding (empty caches) of a known pattern, and tiktoken's of the same name."""
    enc = npllm.get_encoding(request.param)
    model = dict(pat_str=enc.pat_str, mergeable_ranks=enc.mergeable_ranks, special_tokens=enc.special_tokens)
    return npllm.Encoding(request.param, **model), tiktoken_encoding(request.param)


def test_real_text_equals_the_plain_path_and_tiktoken(fresh, stdlib_text):
    enc, ref = fresh
    text = stdlib_text[:300_000]  # code: indentation, so many spaces that are not cuts
    ids = enc.encode_ordinary(text)
    assert ids == plain_ids(enc, text) == ref.encode_ordinary(text)
    assert enc.encode_ordinary(text) == ids  # warm: every word from the cache
    assert enc.encode_to_numpy(text).tolist() == ids


@pytest.mark.parametrize("window", [1, 7, 64])
def test_a_long_warm_text_goes_window_by_window_with_the_same_ids(fresh, stdlib_text, window):
    """Windows as small as a word, and cuts beside indentation and blank lines: the IDs do not move."""
    enc, ref = fresh
    text = stdlib_text[:20_000]
    expected = ref.encode_ordinary(text)
    for build in (enc._chunk_ids, enc._chunk_bytes):
        cache = enc._spaced_ids if build == enc._chunk_ids else enc._spaced_bytes
        for _ in range(2):  # the words cached (code would go the plain way: mostly_cached=0 cuts anyway)
            chunk_values(text, cache, build, mostly_cached=0)
        assert cache, "windows are used only once the cache holds words"
        values = chunk_values(text, cache, build, window=window, mostly_cached=0)
        flat = b"".join(values) if build == enc._chunk_bytes else functools.reduce(operator.iconcat, values, [])
        assert (list(memoryview(flat).cast("I")) if isinstance(flat, bytes) else flat) == expected


@pytest.mark.parametrize(
    "text, window, expected",
    [
        ("ab cd ef", 4, [(0, 5), (5, 8)]),  # the first safe space at or after 4 is at 5
        ("ab cd ef", 1, [(0, 2), (2, 5), (5, 8)]),
        ("ab  cd ef", 1, [(0, 6), (6, 9)]),  # no cut beside another space
        ("ab \ncd\x1c ef", 1, [(0, 10)]),  # nor beside a newline, nor \x1c (str.isspace)
        ("abcdef", 1, [(0, 6)]),
        ("", 3, [(0, 0)]),
    ],
)
def test_safe_windows(text, window, expected):
    assert list(spaced.safe_windows(text, window)) == expected


@given(st.text(alphabet=st.sampled_from("ab." + SPACEY), max_size=80), st.integers(1, 12))
@settings(max_examples=300, deadline=None)
def test_windows_tile_the_text_and_start_at_safe_spaces(text, window):
    windows = list(spaced.safe_windows(text, window))
    assert "".join(text[a:b] for a, b in windows) == text
    for a, _ in windows[1:]:
        assert text[a] == " " and not text[a - 1].isspace() and not text[a + 1].isspace()


def test_a_long_text_of_new_words_after_a_warm_one_is_encoded_window_by_window(fresh):
    """A second document: its words are new, so each window is encoded the plain way, and the IDs
    still equal tiktoken's."""
    enc, ref = fresh
    warm = " ".join(f"old{i}" for i in range(300))
    enc.encode_ordinary(warm), enc.encode_ordinary(warm)
    text = " ".join(f"new{i}  x" for i in range(6000))  # 2 * WINDOW characters and more, unsafe spaces too
    assert len(text) >= 2 * spaced.WINDOW
    assert enc.encode_ordinary(text) == ref.encode_ordinary(text)
    assert enc.encode_ordinary(text) == ref.encode_ordinary(text)


@given(st.text(alphabet=st.sampled_from("aZ1!'é中 " + SPACEY), min_size=64, max_size=200))
@settings(max_examples=300, deadline=None)
def test_hard_text_equals_tiktoken(fresh, text):
    enc, ref = fresh
    expected = ref.encode_ordinary(text)
    assert enc.encode_ordinary(text) == expected
    assert enc.encode_ordinary(text) == expected  # the words seen twice now: cached
    assert cut_at_spaces(enc, text) == expected  # and cut at spaces however few are cached


@given(st.text(alphabet=st.sampled_from("aZ1!'é中 " + SPACEY), min_size=64, max_size=200), st.integers(1, 9))
@settings(max_examples=200, deadline=None)
def test_hard_text_in_small_windows_equals_tiktoken(fresh, text, window):
    """Windows of a few characters cut hard text at many safe spaces: the IDs do not move."""
    enc, ref = fresh
    expected = ref.encode_ordinary(text)
    for _ in range(2):  # the words seen twice: cached, so that windows are used
        chunk_values(text, enc._spaced_ids, enc._chunk_ids, mostly_cached=0)
    values = chunk_values(text, enc._spaced_ids, enc._chunk_ids, mostly_cached=0, window=window)
    assert functools.reduce(operator.iconcat, values, []) == expected


def cut_at_spaces(enc, text: str) -> list[int]:
    """The IDs through the word cache, even where the plain way would be taken."""
    values = chunk_values(text, enc._spaced_ids, enc._chunk_ids, mostly_cached=0)
    return functools.reduce(operator.iconcat, values, [])


@given(st.text(min_size=64, max_size=150))
@settings(max_examples=200, deadline=None)
def test_any_unicode_equals_tiktoken(fresh, text):
    enc, ref = fresh
    text = text.encode("utf-8", "replace").decode("utf-8")  # tiktoken raises on lone surrogates
    assert enc.encode_ordinary(text) == ref.encode_ordinary(text) == cut_at_spaces(enc, text)


def test_lone_surrogates_are_replaced_as_without_the_cache(fresh):
    enc, _ = fresh
    text = "word " * 20 + "\ud800 tail " * 3
    assert enc.encode_ordinary(text) == plain_ids(
        enc, text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    )


def test_user_patterns_do_not_use_it():
    enc = npllm.Encoding(
        "letters", pat_str=r"\S+ ?", mergeable_ranks={bytes([b]): b for b in range(256)}, special_tokens={}
    )
    text = "ab cd " * 20  # this pattern keeps the space at the end of a piece: a cut there would differ
    assert enc.encode_ordinary(text) == list(text.encode())
    assert not enc._cuts_at_spaces and len(enc._spaced_ids) == 0


# --- the cache's bounds --------------------------------------------------------------------------


def test_long_words_are_not_remembered_and_unsafe_parts_are_remembered_as_none():
    cache = SpacedChunkCache(lambda words: [len(" " + w) for w in words], len)
    long_word = "x" * (spaced.MAX_CACHED_CHARS + 1)
    many = " ".join(f"w{i}" for i in range(20))  # enough cached words for the cut to be worth it
    text = f"a {many} short {long_word} b  c d"
    assert chunk_values(text, cache, len) is None  # first sight: nothing cached yet
    values = chunk_values(text, cache, len, mostly_cached=0)  # 2 unsafe parts in 25 would go the plain way
    # "a", the 20 words, then the long word, not kept, joined with its neighbours as any part
    # not cached is: " short x...x b"; the empty part (two spaces) joins " b  c" to that; " d"
    assert values == [1, *[len(f" w{i}") for i in range(20)], len(f" short {long_word} b  c"), 2]
    assert set(cache) == {*(f"w{i}" for i in range(20)), "short", "b", "c", "d", ""}  # not the long word
    assert cache[""] is None  # a part that cannot stand alone: remembered as such


def test_a_text_of_new_words_is_left_to_the_plain_way():
    cache = SpacedChunkCache(lambda words: [len(" " + w) for w in words], len)
    assert chunk_values("a b c d e f g h i j", cache, len) is None  # first sight of every word
    assert chunk_values("a b c d e f g h i j", cache, len) == [1] + [2] * 9


def test_a_text_with_many_unsafe_parts_is_left_to_the_plain_way():
    """Indentation: more than 1 part in UNSAFE_SHARE cannot stand alone, so joining would cost
    more than the plain way; mostly_cached=0 still cuts."""
    cache = SpacedChunkCache(lambda words: [len(" " + w) for w in words], len)
    words = " ".join(f"w{i}" for i in range(40))
    indented = words + "  x"  # one empty part in 42: under 1 in 20
    code = words + "".join(f"\n    y{i}" for i in range(4))  # four lines indented by four spaces
    for text in (indented, code, indented, code):  # the words seen twice: cached
        chunk_values(text, cache, len)
    assert chunk_values(indented, cache, len) is not None
    assert chunk_values(code, cache, len) is None  # 12 empty parts in 56
    assert chunk_values(code, cache, len, mostly_cached=0) is not None


def test_a_full_cache_starts_over():
    cache = SpacedChunkCache(lambda words: [len(w) for w in words], len, maxsize=3)
    cache.fill(["a", "b"])
    cache.fill(["c", "d"])
    assert sorted(cache) == ["c", "d"]


def test_words_are_cached_the_second_time_and_encoded_together(fresh):
    """First sight: the plain way (one split of the whole text). Second: the words are cached,
    all in one split of " w1 w2 ...". Third: only the head is split; every word is a hit."""
    enc, ref = fresh
    calls = []
    real_split = enc._split
    enc._split = lambda text: calls.append(text) or real_split(text)
    try:
        text = " ".join(f"w{i}ord" for i in range(200))  # words no other test uses
        for expected_splits in (1, 2, 1):
            calls.clear()
            assert enc.encode_ordinary(text) == ref.encode_ordinary(text)
            assert len(calls) == expected_splits
        assert all(f"w{i}ord" in enc._spaced_ids for i in range(1, 200))
    finally:
        del enc._split


def test_words_seen_once_are_bounded_and_long_ones_never_kept():
    cache = SpacedChunkCache(lambda words: [len(" " + w) for w in words], len, maxsize=4)
    long_word = "y" * (spaced.MAX_CACHED_CHARS + 1)
    cache.defer(" ".join(["", "a", "b", long_word]))  # a first text: pending until the next one
    cache.admit(["b"])
    assert cache.seen_once == {"a", "b"}  # the long word is not remembered at all
    cache.admit(["c", "d", "e", "f"])
    assert len(cache.seen_once) <= 2 * cache.maxsize
    cache.admit(["g"])
    assert len(cache.seen_once) <= cache.maxsize + 1  # started over once past maxsize


def test_a_first_text_is_deferred_unless_mostly_cached_is_0():
    text = "so you know what you know"
    cache = SpacedChunkCache(lambda words: [" " + w for w in words], lambda chunk: chunk)
    assert chunk_values(text, cache, lambda head: head) is None  # a first text: the plain way
    assert cache.pending == text and not cache.seen_once  # kept whole, not split
    fresh = SpacedChunkCache(lambda words: [" " + w for w in words], lambda chunk: chunk)
    values = chunk_values(text, fresh, lambda head: head, mostly_cached=0)  # 0: never None
    assert "".join(values) == text and fresh.pending is None


# --- mostly-ASCII text: `re` over its ASCII stretches, `regex` over the rest ---------------------


@pytest.mark.parametrize(
    ("text", "min_chars", "expected"),
    [
        ("abcd é fgh ij", 4, [(0, 4, True), (4, 6, False), (6, 13, True)]),
        ("abcd é fg", 4, [(0, 4, True), (4, 9, False)]),  # a short ASCII tail joins the region
        ("ab é fgh ij", 4, [(0, 4, False), (4, 11, True)]),  # and a short head
        ("abcd é fg é hijk", 4, [(0, 4, True), (4, 11, False), (11, 16, True)]),  # a short gap: one region
        ("abcd  é fgh", 2, [(0, 7, False), (7, 11, True)]),  # two spaces: no cut there
        ("abcd\xa0é fgh", 2, [(0, 6, False), (6, 10, True)]),  # no space before the run (\xa0 is part of it)
        ("abcd\x1c é fgh", 2, [(0, 7, False), (7, 11, True)]),  # \x1c (isspace) is not a side for a cut
        ("plain ascii", 4, [(0, 11, True)]),
        ("", 4, []),
    ],
)
def test_ascii_stretches_known_answers(text, min_chars, expected):
    assert spaced.ascii_stretches(text, min_chars) == expected


def test_ascii_stretches_give_up_on_dense_text():
    dense = " ".join(["слово", "word"] * (spaced.DENSE_RUNS + 10))  # a non-ASCII run every 11 characters
    assert spaced.ascii_stretches(dense, 256) is None
    assert spaced.ascii_stretches(dense, 2) is not None  # one run per 2 characters is allowed


@given(st.text(alphabet=st.sampled_from("ab1!'é中’ " + SPACEY), max_size=300), st.integers(1, 12))
@settings(max_examples=300, deadline=None)
def test_ascii_stretches_tile_the_text_and_cut_at_safe_spaces(text, min_chars):
    stretches = spaced.ascii_stretches(text, min_chars)
    if stretches is None or not text:
        assert stretches is None or stretches == []
        return
    assert [start for start, _, _ in stretches] == [0] + [end for _, end, _ in stretches[:-1]]
    assert stretches[-1][1] == len(text)
    for start, end, ascii in stretches:
        assert start < end
        assert ascii == text[start:end].isascii() or not ascii  # an ASCII stretch is ASCII
        assert not ascii or len(stretches) == 1 or end - start >= min_chars  # and long, beside a region
        if start:  # a safe space: non-space on both sides
            assert text[start] == " " and not text[start - 1].isspace() and not text[start + 1].isspace()


@contextlib.contextmanager
def small_stretches():
    """Mixed splitting from 4-character texts on, ASCII stretches of 2 characters and more."""
    old = encoding_module.ASCII_STRETCH, spaced.DENSE_RUNS
    encoding_module.ASCII_STRETCH, spaced.DENSE_RUNS = 2, 10**9
    try:
        yield
    finally:
        encoding_module.ASCII_STRETCH, spaced.DENSE_RUNS = old


@pytest.mark.parametrize("name", NAMES)
@given(
    text=st.one_of(
        st.text(alphabet=st.sampled_from("aZ1!'.é中’\u0301😀 " + SPACEY), min_size=4, max_size=200),
        st.lists(st.sampled_from(["a", "xy", "é", "Ω", " ", "  ", "\n", "\r\n", "\t", "\x1c", "\u3000"]), min_size=3)
        .map("".join)
        .filter(lambda text: len(text) >= 4),  # whitespace of every kind next to the cuts
    )
)
@settings(max_examples=300, deadline=None)
def test_a_mixed_split_equals_the_regex_split_and_tiktoken(name, text):
    enc = npllm.get_encoding(name)
    with small_stretches():
        assert enc._split(text) == enc._pattern.findall(text)
        assert enc.encode_ordinary(text) == tiktoken_encoding(name).encode_ordinary(text)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "text", ["a\n  é", "ab \n é", "a\x1c é", "a  é b", " é ", "a é\n", "a\u3000 é", "xy é\r\n  z", "é a  b  é"]
)
def test_a_mixed_split_where_whitespace_meets_the_cuts(name, text):
    enc = npllm.get_encoding(name)
    with small_stretches():
        assert enc._split(text) == enc._pattern.findall(text)
        assert enc.encode_ordinary(text) == tiktoken_encoding(name).encode_ordinary(text)


@pytest.mark.parametrize(
    "name", ["gpt2", "r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base", "o200k_harmony"]
)
def test_mostly_ascii_real_text_takes_re_where_it_can_and_equals_tiktoken(name, stdlib_text, monkeypatch):
    words = stdlib_text[:200_000].split(" ")
    for i in range(0, len(words), 97):
        words[i] += random.Random(i).choice(["’s", " café", "—", " naïve", " 😀", "\u00a0", " Ωmega"])
    text = " ".join(words)
    enc = npllm.get_encoding(name)
    seen = []
    monkeypatch.setattr(enc, "_ascii_pattern", CountingPattern(enc._ascii_pattern, seen))
    pieces = enc._split(text)
    assert sum(seen) > len(text) // 2  # most of the text went to `re`
    assert pieces == enc._pattern.findall(text)
    fresh = npllm.Encoding(**enc.constructor_args())
    assert fresh.encode_ordinary(text) == tiktoken_encoding(name).encode_ordinary(text)


class CountingPattern:
    """A compiled pattern that counts the characters it is given."""

    def __init__(self, pattern, seen: list):
        self.pattern, self.seen = pattern, seen

    def findall(self, text):
        self.seen.append(len(text))
        return self.pattern.findall(text)
