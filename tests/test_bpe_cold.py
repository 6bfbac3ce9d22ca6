"""The cold path: a text's new pieces merged in one batch (`merge.encode_pieces`,
`PieceCache.ids` and `PieceCache.fill`) give what one piece at a time gives, and tiktoken's IDs.

Known answers first, then the batch against `encode_piece` and the plain per-piece lookup, the
byte budget across windows, the garbage collector's state, and hypothesis texts.
"""

import base64
import functools
import gc
import operator
import random
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import tiktoken_encoding

import npllm
import npllm.bpe.encoding as encoding
import npllm.bpe.merge as merge
import npllm.bpe.merge_bulk as merge_bulk
from npllm.bpe.encoding import MAX_CACHED_PIECE, PieceCache
from npllm.bpe.merge import LONG_PIECE, encode_piece, encode_pieces, merge_ids, merge_reference, numpy_pays
from npllm.bpe.merge_bulk import merge_pieces


@pytest.fixture(scope="module")
def gpt2_ranks():
    return npllm.get_encoding("gpt2").mergeable_ranks


def plain_ids(cache: PieceCache, pieces: list[str]) -> list[int]:
    """The per-piece way: one lookup each, `__missing__` for a new one."""
    return functools.reduce(operator.iconcat, map(cache.__getitem__, pieces), [])


# --- known answers ------------------------------------------------------------------------------


def test_encode_pieces_known_answers(gpt2_ranks):
    assert encode_pieces(gpt2_ranks, [b"hello", b"helloqqqq", b" world", b"Akwirw"]) == [
        (31373,),
        (31373, 38227, 38227),
        (995,),
        (33901, 86, 343, 86),
    ]
    assert encode_pieces(gpt2_ranks, []) == []


def test_merge_ids_is_the_merge_loop_without_the_whole_piece_lookup():
    # "abcd" is a token no merge makes: "bc" goes first, and neither "abc" nor "bcd" is a token
    ranks = {b"a": 0, b"b": 1, b"c": 2, b"d": 3, b"bc": 4, b"ab": 5, b"cd": 6, b"abcd": 7}
    assert encode_piece(ranks, b"abcd") == [7]
    assert merge_ids(ranks, b"abcd") == [0, 4, 3]
    assert encode_pieces(ranks, [b"abcd", b"abab", b"dabcd"]) == [(7,), (5, 5), (3, 0, 4, 3)]


def test_a_vocabulary_without_a_byte_is_a_value_error_in_a_batch_too():
    ranks = {b"a": 0, b"b": 1}
    with pytest.raises(ValueError, match="all 256 single bytes"):
        encode_pieces(ranks, [b"a", b"abc"])
    with pytest.raises(ValueError, match="all 256 single bytes"):
        encode_pieces(ranks, [b"c" * (LONG_PIECE + 1)])


def test_ids_known_answer(gpt2_ranks):
    pieces = ["hello", " world"] * 200 + ["helloqqqq"]
    assert len(pieces) >= encoding.FILL_MIN_PIECES
    assert PieceCache(gpt2_ranks).ids(pieces) == [31373, 995] * 200 + [31373, 38227, 38227]


def test_a_few_new_pieces_skip_the_batch_and_many_take_it(gpt2_ranks):
    """Under 1 sampled piece in FILL_FEW new: fill leaves them to __missing__ (hashing every piece
    to find a few costs more); more: one batch. Either way the IDs are the same."""
    cache = PieceCache(gpt2_ranks)
    known = [f" w{i}" for i in range(1000)]
    cache.fill(known)
    assert all(piece in cache for piece in known)  # all new: the batch
    few = known[:]
    few[::100] = [f" n{i}" for i in range(10)]  # 1 in 100 new
    cache.fill(few)
    assert not any(f" n{i}" in cache for i in range(10))  # left to __missing__
    assert cache.ids(few) == [i for piece in few for i in encode_piece(gpt2_ranks, piece.encode())]
    many = [f" m{i}" if i % 4 == 0 else piece for i, piece in enumerate(known)]  # 1 in 4 new
    cache.fill(many)
    assert all(f" m{i}" in cache for i in range(0, 1000, 4))


# --- the batch against one piece at a time -------------------------------------------------------


def test_encode_pieces_agrees_with_encode_piece_on_random_bytes(gpt2_ranks):
    rng = random.Random(0)
    pieces = [rng.randbytes(rng.choice([1, 2, 3, 5, 8, 20, LONG_PIECE - 1, LONG_PIECE, 300])) for _ in range(600)]
    pieces += [b" the", b"hello"]  # whole tokens
    assert encode_pieces(gpt2_ranks, pieces) == [tuple(encode_piece(gpt2_ranks, p)) for p in pieces]


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_base"])
def test_a_cold_base64_blob_matches_tiktoken(name):
    ref = tiktoken_encoding(name)
    blob = base64.b64encode(random.Random(1).randbytes(60_000)).decode("ascii")
    enc = npllm.get_encoding(name)
    fresh = npllm.Encoding(name, pat_str=enc.pat_str, mergeable_ranks=enc.mergeable_ranks, special_tokens={})
    assert fresh.encode_ordinary(blob) == ref.encode_ordinary(blob)
    assert fresh.encode_ordinary(blob) == ref.encode_ordinary(blob)  # warm: from the cache


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_base"])
def test_a_cold_pass_over_real_text_matches_tiktoken(name, large_text):
    ref = tiktoken_encoding(name)
    text = large_text[:300_000]  # the standard library's prose: on every machine
    enc = npllm.get_encoding(name)
    fresh = npllm.Encoding(name, pat_str=enc.pat_str, mergeable_ranks=enc.mergeable_ranks, special_tokens={})
    expected = ref.encode_ordinary(text)
    assert fresh.encode_ordinary(text) == expected  # cold: the batch
    assert fresh.encode_ordinary(text) == expected  # second pass: words admitted
    assert fresh.encode_ordinary(text) == expected  # warm


def test_windows_and_a_small_budget(gpt2_ranks, monkeypatch):
    monkeypatch.setattr(encoding, "FILL_WINDOW", 50)
    rng = random.Random(2)
    pieces = [" " + "".join(rng.choices("abcdefghijklmnop", k=rng.randint(1, 12))) for _ in range(2000)]
    for max_bytes in (2_000, 20_000, 10**9):  # a window larger than the budget, a few windows, no limit
        cache = PieceCache(gpt2_ranks, max_bytes=max_bytes)
        assert cache.ids(pieces) == plain_ids(PieceCache(gpt2_ranks), pieces)
        assert cache.nbytes <= max_bytes
        assert cache.ids(pieces) == plain_ids(PieceCache(gpt2_ranks), pieces)  # again, over what was kept


def test_a_long_piece_is_merged_once_and_not_kept(gpt2_ranks, monkeypatch):
    calls = []
    real = encoding.encode_piece
    monkeypatch.setattr(encoding, "encode_piece", lambda ranks, piece: calls.append(piece) or real(ranks, piece))
    long_piece = "q" * (MAX_CACHED_PIECE + 1)
    pieces = [" the", " cat"] * 200 + [long_piece]
    expected = plain_ids(PieceCache(gpt2_ranks), pieces)
    calls.clear()
    cache = PieceCache(gpt2_ranks)
    assert cache.ids(pieces) == expected
    assert calls == [long_piece.encode()]  # by __missing__, the one time; the short ones in the batch
    assert long_piece not in cache and " cat" in cache


def test_a_warm_list_runs_no_batch(gpt2_ranks, monkeypatch):
    cache = PieceCache(gpt2_ranks)
    pieces = [" the", " cat", " sat"] * 200
    cache.ids(pieces)
    monkeypatch.setattr(encoding, "encode_pieces", lambda *args: pytest.fail("no batch for a warm text"))
    assert cache.ids(pieces) == [262, 3797, 3332] * 200


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(gpt2_ranks, enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        cache = PieceCache(gpt2_ranks)
        cache.ids([f" word{k}" for k in range(500)])
        assert gc.isenabled() == enabled
        with pytest.raises(UnicodeEncodeError):  # a lone surrogate, as in the per-piece way
            cache.ids([f" x{k}" for k in range(500)] + ["\ud800"])
        assert gc.isenabled() == enabled
    finally:
        gc.enable() if was else gc.disable()


def test_lone_surrogates_are_replaced_as_before(gpt2):
    text = " ".join(f"w{k}" for k in range(400)) + " a\ud800b"
    fresh = npllm.Encoding("gpt2", pat_str=gpt2.pat_str, mergeable_ranks=gpt2.mergeable_ranks, special_tokens={})
    assert fresh.encode_ordinary(text) == gpt2.encode_ordinary(text.replace("\ud800", "\ufffd"))


# --- hypothesis ----------------------------------------------------------------------------------

SMALL_RANKS = {bytes([b]): b for b in range(256)} | {  # ties and overlaps are common on "ab "
    token: 256 + k
    for k, token in enumerate([b"ab", b"ba", b"aa", b"aba", b"abab", b"bb", b" a", b" ab", b"aab", b"bab"])
}


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.lists(st.text("ab ", min_size=1, max_size=12), min_size=0, max_size=700))
def test_ids_agrees_with_the_plain_way_and_the_reference(pieces):
    def reference(piece: bytes) -> list[int]:  # encode_piece's rule: a whole token first, else the merge loop
        if piece in SMALL_RANKS:
            return [SMALL_RANKS[piece]]
        return [SMALL_RANKS[part] for part in merge_reference(SMALL_RANKS, piece)]

    cache = PieceCache(SMALL_RANKS, max_bytes=5_000)
    expected = [i for p in pieces for i in reference(p.encode())]
    assert cache.ids(pieces) == expected == plain_ids(PieceCache(SMALL_RANKS), pieces)
    assert cache.nbytes <= 5_000
    assert cache.ids(pieces) == expected  # again, over what was kept


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.text(st.characters(codec="utf-8"), min_size=0, max_size=3000))
def test_a_cold_encoding_agrees_with_a_warm_one(gpt2, text):
    fresh = npllm.Encoding("gpt2", pat_str=gpt2.pat_str, mergeable_ranks=gpt2.mergeable_ranks, special_tokens={})
    assert fresh.encode_ordinary(text) == gpt2.encode_ordinary(text)


def test_a_word_cache_remembers_only_short_words_as_seen():
    from npllm.bpe.spaced import MAX_CACHED_CHARS, SpacedChunkCache

    cache = SpacedChunkCache(lambda words: [(len(w),) for w in words], lambda text: (0,))
    long_word = "x" * (MAX_CACHED_CHARS + 1)
    assert cache.defer("a b") and cache.pending == "a b"  # a first text: kept as it is, not split
    assert not cache.seen_once  # split and hashed only when the next text comes
    assert not cache.defer("a c")  # only a first text is kept
    assert cache.admit(["b", long_word]) and cache.seen_once == {"b"} and cache["b"] == (1,)
    assert cache.pending is None  # its parts after a space ("b") were remembered, the head ("a") not
    assert not cache.admit([long_word]) and long_word not in cache


def test_a_first_texts_words_are_admitted_when_the_next_text_has_them_again():
    from npllm.bpe.spaced import SpacedChunkCache

    cache = SpacedChunkCache(lambda words: [(len(w),) for w in words], lambda text: (0,))
    assert cache.defer("so you know")  # first text: nothing to admit, nothing split or hashed
    assert not cache.admit(["new"])  # the first text's words go into seen_once now, "new" too
    assert cache.seen_once == {"you", "know", "new"} and cache.pending is None
    assert cache.admit(["know", "new"]) and cache["know"] == (4,) and cache["new"] == (3,)


def test_a_long_first_text_waits_as_its_first_pending_chars(monkeypatch):
    from npllm.bpe import spaced

    monkeypatch.setattr(spaced, "PENDING_CHARS", 6)
    cache = spaced.SpacedChunkCache(lambda words: [(len(w),) for w in words], lambda text: (0,))
    assert cache.defer("a b c d e f")
    assert cache.pending == "a b c "  # a bounded copy: a 100 MB first text is not held whole
    assert not cache.admit(["x"]) and cache.seen_once == {"b", "c", "", "x"}
    assert cache.admit(["c"]) and cache["c"] == (1,)


def test_a_word_cache_that_has_seen_words_does_not_defer():
    from npllm.bpe.spaced import SpacedChunkCache

    cache = SpacedChunkCache(lambda words: [(len(w),) for w in words], lambda text: (0,))
    cache.remember(["you"])
    assert not cache.defer("you know") and cache.pending is None


def test_one_cold_encode_leaves_its_words_pending_and_the_second_admits_them(gpt2, prose_text):
    prose_text = " ".join(prose_text.split())  # single spaces: indented code would go the plain way
    fresh = npllm.Encoding(**gpt2.constructor_args())
    expected = gpt2.encode_ordinary(prose_text)
    assert fresh.encode_ordinary(prose_text) == expected
    words = fresh._spaced_ids
    assert words.pending == prose_text and not words.seen_once and not words  # the text itself, unsplit
    assert fresh.encode_ordinary(prose_text) == expected
    assert words.pending is None and len(words) > 500  # the words seen twice are cached
    assert fresh.encode_ordinary(prose_text) == expected


# --- merge_pieces: many pieces merged together, in NumPy -----------------------------------------


def merged_one_at_a_time(ranks, pieces):
    """The reference: the plain loop, one piece after another."""
    return [tuple(ranks[part] for part in merge_reference(ranks, piece)) for piece in pieces]


def test_merge_pieces_known_answers(gpt2_ranks):
    assert merge_pieces(gpt2_ranks, [b"helloqqqq", b"Akwirw", b"", b"a"]) == [
        (31373, 38227, 38227),
        (33901, 86, 343, 86),
        (),
        (64,),
    ]
    assert merge_pieces(gpt2_ranks, []) == []
    # the rule by hand: the leftmost of equal pairs, a new pair that outranks the one just made
    ranks = {b"a": 0, b"b": 1, b"aa": 2, b"ab": 3, b"aab": 4, b"ba": 5}
    assert merge_pieces(ranks, [b"aaa", b"aab", b"bab", b"aaaa"]) == [(2, 0), (4,), (1, 3), (2, 2)]


def test_merge_pieces_helpers_known_answers(gpt2_ranks):
    assert merge_bulk.byte_pair_ranks(gpt2_ranks, np.frombuffer(b"hi!", dtype=np.uint8), -1).tolist() == [5303, -1]
    assert merge_bulk._offsets(np.array([2, 3])).tolist() == [0, 1, 0, 1, 2]
    flat, starts = np.array([5, 6, 7, 8]), np.array([0, 3, 1])
    assert merge_bulk._tuples(flat, starts, np.array([2, 1, 0])) == [(5, 6), (8,), ()]


def test_merge_pieces_without_a_byte_gives_none():
    assert merge_pieces({b"a": 0, b"b": 1}, [b"ab", b"abc"]) is None


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_base"])
@pytest.mark.parametrize("window", [1, 7, merge_bulk.PIECES_PER_WINDOW])
def test_merge_pieces_agrees_with_the_loop_on_real_ranks(name, window, monkeypatch):
    monkeypatch.setattr(merge_bulk, "PIECES_PER_WINDOW", window)
    ranks = npllm.get_encoding(name).mergeable_ranks
    rng = random.Random(3)
    words = "".join(chr(rng.choice([rng.randrange(32, 127), rng.randrange(0x400, 0x4FF)])) for _ in range(20_000))
    pieces = [words[i : i + rng.randint(1, 12)].encode() for i in range(0, 20_000, 7)]  # letters, Cyrillic
    pieces += [rng.randbytes(rng.randint(0, LONG_PIECE - 1)) for _ in range(300)]  # any bytes, b"" too
    pieces += [b"a" * n for n in range(1, 40)] + [b" " * n for n in range(1, 40)]  # chains of one pair
    assert merge_pieces(ranks, pieces) == [tuple(merge_ids(ranks, piece)) for piece in pieces]


@st.composite
def ranks_and_pieces(draw):
    """Random ranks over a 2-3 letter alphabet (ties and chains are common there) and pieces."""
    alphabet = draw(st.sampled_from([b"ab", b"abc", b"ab ", b"aab"]))
    letters = sorted(set(alphabet))
    words = st.binary(min_size=2, max_size=4).map(lambda b: bytes(alphabet[x % len(alphabet)] for x in b))
    tokens = [bytes([c]) for c in letters] + draw(st.lists(words, max_size=12, unique=True))
    order = draw(st.permutations(range(len(tokens))))  # any rank order: a long token may outrank its parts
    ranks = {token: rank for token, rank in zip(tokens, order)}
    piece = st.lists(st.sampled_from(alphabet), max_size=30).map(bytes)
    return ranks, draw(st.lists(piece, max_size=40))


@settings(derandomize=True, max_examples=300, deadline=None)
@given(ranks_and_pieces(), st.sampled_from([1, 2, 5, 64]))
def test_merge_pieces_agrees_with_the_loop_on_small_alphabets(case, window):
    ranks, pieces = case
    old, merge_bulk.PIECES_PER_WINDOW = merge_bulk.PIECES_PER_WINDOW, window
    try:
        assert merge_pieces(ranks, pieces) == merged_one_at_a_time(ranks, pieces)
    finally:
        merge_bulk.PIECES_PER_WINDOW = old


def test_numpy_pays_known_answers(monkeypatch):
    assert not numpy_pays(merge.BATCH_PIECES - 1)
    assert numpy_pays(merge.BATCH_PIECES_WITH_IMPORT)
    monkeypatch.setattr(merge, "sys", types.SimpleNamespace(modules={"numpy": np}))
    assert numpy_pays(merge.BATCH_PIECES)  # NumPy loaded: a thousand pieces pay
    monkeypatch.setattr(merge, "sys", types.SimpleNamespace(modules={}))
    assert not numpy_pays(merge.BATCH_PIECES)  # not loaded: importing it would not pay
    assert numpy_pays(merge.BATCH_PIECES_WITH_IMPORT)


@pytest.fixture
def always_together(monkeypatch):
    """encode_pieces merges every batch in NumPy, however small; and records that it did."""
    calls = []
    real = merge_bulk.merge_pieces
    monkeypatch.setattr(merge, "BATCH_PIECES", 1)
    monkeypatch.setattr(
        merge_bulk, "merge_pieces", lambda ranks, pieces: calls.append(len(pieces)) or real(ranks, pieces)
    )
    return calls


def test_encode_pieces_merges_together_and_leaves_long_pieces_to_merge_long(gpt2_ranks, always_together):
    rng = random.Random(4)
    pieces = [rng.randbytes(rng.choice([1, 2, 5, 20, LONG_PIECE - 1, LONG_PIECE, 300])) for _ in range(300)]
    pieces += [b" the", b"hello"]  # whole tokens
    n_short = sum(piece not in gpt2_ranks and len(piece) < LONG_PIECE for piece in pieces)
    assert encode_pieces(gpt2_ranks, pieces) == [tuple(encode_piece(gpt2_ranks, p)) for p in pieces]
    assert always_together == [n_short]


def test_a_vocabulary_without_a_byte_is_a_value_error_when_merged_together(always_together):
    with pytest.raises(ValueError, match="all 256 single bytes"):
        encode_pieces({b"a": 0, b"b": 1}, [b"ab", b"abc"])
    assert always_together == [2]


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_base", "p50k_base"])
def test_a_cold_pass_merged_together_matches_tiktoken(name, large_text, always_together):
    ref = tiktoken_encoding(name)
    blob = base64.b64encode(random.Random(5).randbytes(30_000)).decode("ascii")
    text = large_text[:100_000] + blob + " ".join(map(hex, range(1 << 60, (1 << 60) + 3000)))
    enc = npllm.get_encoding(name)
    fresh = npllm.Encoding(name, pat_str=enc.pat_str, mergeable_ranks=enc.mergeable_ranks, special_tokens={})
    assert fresh.encode_ordinary(text) == ref.encode_ordinary(text)
    assert sum(always_together) > 1000  # most of the new pieces were merged together
