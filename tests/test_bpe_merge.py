"""The merge loop: merge_reference, merge_short and merge_long give the same parts.

Hand-made ranks put the rule in view (lowest rank first, leftmost of equal pairs first);
the real GPT-2 and cl100k ranks, and tiktoken's own merge (`_encode_single_piece`), check it
on random bytes; hypothesis searches small alphabets, where ties and overlaps are common.
"""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npllm
import npllm.bpe.merge as merge
from npllm.bpe.merge import LONG_PIECE, encode_piece, merge_long, merge_reference, merge_short
from reference import tiktoken_encoding

MERGES = [merge_reference, merge_short, merge_long]


def ranks_of(*tokens: bytes) -> dict[bytes, int]:
    """Ranks in the order given. ranks_of(b"a", b"aa") -> {b"a": 0, b"aa": 1}"""
    return {token: rank for rank, token in enumerate(tokens)}


def all_merges(ranks, piece):
    """The parts from each version; the test asserts they are one answer."""
    results = [m(ranks, piece) for m in MERGES]
    assert results[1] == results[0], "merge_short differs from merge_reference"
    assert results[2] == results[0], "merge_long differs from merge_reference"
    return results[0]


@pytest.fixture(scope="session")
def gpt2_ranks():
    return npllm.get_encoding("gpt2").mergeable_ranks


@pytest.fixture(scope="session")
def cl100k_ranks():
    return npllm.get_encoding("cl100k_base").mergeable_ranks


# --- the rule, by hand -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("piece", "parts"),
    [
        (b"", []),
        (b"a", [b"a"]),
        (b"aa", [b"aa"]),
        (b"aaa", [b"aa", b"a"]),  # the leftmost of two equal pairs joins first
        (b"aaaa", [b"aa", b"aa"]),
        (b"aaaaa", [b"aa", b"aa", b"a"]),
        (b"baaa", [b"b", b"aa", b"a"]),
    ],
)
def test_equal_pairs_join_leftmost_first(piece, parts):
    assert all_merges(ranks_of(b"a", b"b", b"aa"), piece) == parts


def test_wikipedia_example():
    # aaabdaaabac -> ZabdZabac (Z=aa) -> ZYdZYac (Y=ab) -> XdXac (X=ZY=aaab)
    ranks = ranks_of(b"a", b"b", b"c", b"d", b"aa", b"ab", b"aaab")
    assert all_merges(ranks, b"aaabdaaabac") == [b"aaab", b"d", b"aaab", b"a", b"c"]


def test_lowest_rank_wins_over_leftmost():
    ranks = ranks_of(b"a", b"b", b"ba", b"ab")  # ba (2) beats ab (3)
    assert all_merges(ranks, b"aba") == [b"a", b"ba"]
    assert all_merges(ranks, b"abab") == [b"a", b"ba", b"b"]


def test_a_join_can_block_a_better_looking_pair():
    ranks = ranks_of(b"a", b"b", b"c", b"ab", b"bc", b"abc")  # ab first, so bc never forms
    assert all_merges(ranks, b"abc") == [b"abc"]
    assert all_merges(ranks_of(b"a", b"b", b"c", b"ab", b"bc"), b"abc") == [b"ab", b"c"]


def test_token_not_reachable_by_merges_is_never_formed():
    ranks = ranks_of(b"a", b"b", b"c", b"abc")  # no pair inside "abc" is a token
    assert all_merges(ranks, b"abc") == [b"a", b"b", b"c"]


def test_unknown_bytes_stay_single():
    ranks = ranks_of(b"a", b"aa")
    assert all_merges(ranks, b"xaax") == [b"x", b"aa", b"x"]


def test_long_ties_over_the_long_threshold():
    ranks = ranks_of(b"a", b"aa", b"aaaa")
    n = 2 * LONG_PIECE + 3
    parts = all_merges(ranks, b"a" * n)
    assert parts == [b"aaaa"] * (n // 4) + [b"aa", b"a"]


def test_parts_always_join_back_to_the_piece(gpt2_ranks):
    piece = "naïve café, ΑλφαΒητα 中文 🙂".encode("utf-8") * 3
    for m in MERGES:
        assert b"".join(m(gpt2_ranks, piece)) == piece


# --- the real ranks ---------------------------------------------------------------------------


def random_pieces(seed: int, count: int):
    """Random bytes of several kinds and lengths (some past LONG_PIECE)."""
    rng = random.Random(seed)
    words = "the quick brown fox jumps over lazy dog ing tion er ly 'll 123 中文 ñ é 🙂".split()
    for i in range(count):
        n = rng.choice([1, 2, 3, 5, 8, 13, 40, 100, LONG_PIECE - 1, LONG_PIECE, LONG_PIECE + 1, 700])
        kind = i % 4
        if kind == 0:
            yield rng.randbytes(n)
        elif kind == 1:
            yield bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(n))
        elif kind == 2:
            yield "".join(rng.choice(words) for _ in range(n // 4 + 1)).encode("utf-8")
        else:
            yield bytes([rng.choice(b"ab ")]) * n


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base"])
def test_real_ranks_all_versions_agree_with_tiktoken(name, request):
    ranks = request.getfixturevalue(f"{name.split('_')[0]}_ranks")
    ref = tiktoken_encoding(name)
    for piece in random_pieces(seed=7, count=200):
        parts = all_merges(ranks, piece)
        assert [ranks[p] for p in parts] == ref._encode_single_piece(piece), piece
        assert encode_piece(ranks, piece) == ref._encode_single_piece(piece), piece


@pytest.mark.parametrize("length", [LONG_PIECE - 1, LONG_PIECE, 1000, 5000])
def test_real_ranks_runs_of_one_byte(gpt2_ranks, length):
    ref = tiktoken_encoding("gpt2")
    for byte in b" x\n0":
        piece = bytes([byte]) * length
        ids = [gpt2_ranks[p] for p in merge_long(gpt2_ranks, piece)]
        assert ids == ref._encode_single_piece(piece)
        assert merge_short(gpt2_ranks, piece) == merge_long(gpt2_ranks, piece)


# --- hypothesis: small alphabets, random ranks -----------------------------------------------


@st.composite
def ranks_and_piece(draw):
    alphabet = draw(st.sampled_from([b"ab", b"abc", b"ab ", b"aab"]))
    singles = sorted(set(alphabet))
    multi = draw(
        st.lists(
            st.binary(min_size=2, max_size=4).map(lambda b: bytes(alphabet[x % len(alphabet)] for x in b)),
            max_size=12,
            unique=True,
        )
    )
    tokens = [bytes([c]) for c in singles] + [t for t in multi if len(t) > 1]
    order = draw(st.permutations(range(len(tokens))))  # any rank order, ties of pairs included
    ranks = {token: rank for token, rank in zip(tokens, order)}
    long = draw(st.booleans())
    n = draw(st.integers(LONG_PIECE - 10, LONG_PIECE + 300) if long else st.integers(0, 40))
    piece = bytes(draw(st.lists(st.sampled_from(alphabet), min_size=n, max_size=n)))
    return ranks, piece


@settings(derandomize=True, max_examples=300, deadline=None)
@given(ranks_and_piece())
def test_three_merges_agree_on_small_alphabets(case):
    ranks, piece = case
    parts = all_merges(ranks, piece)
    assert b"".join(parts) == piece
    # no two neighbours could still join: the loop ran to the end
    assert all(a + b not in ranks for a, b in zip(parts, parts[1:]))


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_three_merges_agree_on_random_bytes_with_gpt2_ranks(piece):
    ranks = npllm.get_encoding("gpt2")._mergeable_ranks
    parts = all_merges(ranks, piece)
    assert b"".join(parts) == piece


# --- encode_piece: which version runs ---------------------------------------------------------


@pytest.fixture
def spies(monkeypatch):
    """Replace merge_short / merge_long in npllm.bpe.merge with wrappers that record calls."""
    calls = []

    def spy(name, fn):
        def wrapper(ranks, piece):
            calls.append((name, len(piece)))
            return fn(ranks, piece)

        return wrapper

    monkeypatch.setattr(merge, "merge_short", spy("short", merge_short))
    monkeypatch.setattr(merge, "merge_long", spy("long", merge_long))
    return calls


def test_encode_piece_long_piece_uses_merge_long(spies, gpt2_ranks):
    piece = b"x" * LONG_PIECE
    ids = encode_piece(gpt2_ranks, piece)
    assert spies == [("long", LONG_PIECE)]
    assert ids == [gpt2_ranks[p] for p in merge_long(gpt2_ranks, piece)]
    assert ids == tiktoken_encoding("gpt2")._encode_single_piece(piece)


def test_encode_piece_longer_piece_uses_merge_long_results(monkeypatch, gpt2_ranks):
    marker = [b"hello", b" world"]  # not a real merge: proves encode_piece returns merge_long's parts
    monkeypatch.setattr(merge, "merge_long", lambda ranks, piece: marker)
    monkeypatch.setattr(merge, "merge_short", lambda ranks, piece: pytest.fail("merge_short used"))
    assert encode_piece(gpt2_ranks, b"y" * (LONG_PIECE + 5)) == [31373, 995]


def test_encode_piece_short_piece_uses_merge_short(spies, gpt2_ranks):
    piece = b"x" * (LONG_PIECE - 1)
    ids = encode_piece(gpt2_ranks, piece)
    assert spies == [("short", LONG_PIECE - 1)]
    assert ids == [gpt2_ranks[p] for p in merge_reference(gpt2_ranks, piece)]


def test_encode_piece_whole_token_needs_no_merge(spies, gpt2_ranks):
    assert encode_piece(gpt2_ranks, b"hello") == [31373]
    assert encode_piece(gpt2_ranks, b" world") == [995]
    assert spies == []


def test_encode_piece_missing_single_byte_is_a_value_error():
    ranks = ranks_of(b"a", b"aa")
    with pytest.raises(ValueError, match="256 single bytes"):
        encode_piece(ranks, b"aab")
    assert encode_piece(ranks, b"aaa") == [1, 0]
