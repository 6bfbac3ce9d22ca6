"""The merge loop: merge_reference, merge_short and merge_long give the same parts.

Hand-made ranks put the rule in view (lowest rank first, leftmost of equal pairs first);
the real GPT-2 and cl100k ranks, and tiktoken's own merge (`_encode_single_piece`), check it
on random bytes; hypothesis searches small alphabets, where ties and overlaps are common.
"""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import tiktoken_encoding, tiktoken_module

import npllm
import npllm.bpe.merge as merge
from npllm.bpe.merge import LONG_PIECE, encode_piece, merge_long, merge_reference, merge_short
from npllm.bpe.merge_bulk import merge_rank_levels

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


@pytest.mark.parametrize(
    ("piece", "parts"),
    [
        (b"aaa", [b"aaa"]),
        (b"aaaa", [b"aaa", b"a"]),  # aa at 0, then (aa, a) outranks the next aa
        (b"aaaaaa", [b"aaa", b"aaa"]),
        (b"aaaaaaa", [b"aaa", b"aaa", b"a"]),
    ],
)
def test_a_new_pair_can_outrank_the_pair_just_joined(piece, parts):
    assert all_merges(ranks_of(b"a", b"aaa", b"aa"), piece) == parts


def aaa_before_aa(n: int) -> list[bytes]:
    """The rule's answer for b"a" * n when aaa outranks aa: aa at 0, then (aa, a) -> aaa, ..."""
    return [b"aaa"] * (n // 3) + {0: [], 1: [b"a"], 2: [b"aa"]}[n % 3]


@pytest.mark.parametrize("n", [7, 100, 4095, 4096, 4097, 4098, 5000, 6000, 6001, 8192])
def test_a_new_pair_outranks_in_a_very_long_piece(n):
    """The same rule on pieces long enough for merge_long's whole-rank passes (BULK_PIECE)."""
    ranks = ranks_of(b"a", b"aaa", b"aa")
    assert merge_short(ranks, b"a" * n) == aaa_before_aa(n)
    assert merge_long(ranks, b"a" * n) == aaa_before_aa(n)


def test_a_new_pair_outranks_mixed_units():
    ranks = ranks_of(b"a", b"b", b"aaa", b"ab", b"aa")
    for piece in [b"aaab" * 1500, b"aab" * 2000, b"aaaa" * 1100 + b"b"]:
        assert merge_long(ranks, piece) == merge_short(ranks, piece), piece[:8]


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
    piece = "naïve café, ΑλφαΒητα 中文 🙂".encode() * 3
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
    """Random ranks over a 2-3 letter alphabet, and a piece over it: random, or a repeated
    unit (where chains like "aaaa" make ties, and a new pair can outrank the one just made)."""
    alphabet = draw(st.sampled_from([b"ab", b"abc", b"ab ", b"aab"]))
    letters = sorted(set(alphabet))
    as_text = st.binary(min_size=2, max_size=4).map(lambda b: bytes(alphabet[x % len(alphabet)] for x in b))
    runs = st.tuples(st.sampled_from(letters), st.integers(2, 6)).map(lambda cn: bytes([cn[0]]) * cn[1])
    multi = draw(st.lists(st.one_of(as_text, runs), max_size=12, unique=True))
    tokens = [bytes([c]) for c in letters] + multi
    order = draw(st.permutations(range(len(tokens))))  # any rank order: a long token may outrank its parts
    ranks = {token: rank for token, rank in zip(tokens, order)}
    long = draw(st.booleans())
    n = draw(st.integers(LONG_PIECE - 10, LONG_PIECE + 300) if long else st.integers(0, 40))
    if draw(st.booleans()):
        piece = bytes(draw(st.lists(st.sampled_from(alphabet), min_size=n, max_size=n)))
    else:
        unit = bytes(draw(st.lists(st.sampled_from(letters), min_size=1, max_size=3)))
        piece = (unit * (n // len(unit) + 1))[:n]
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


# --- very long pieces: merge_long's bulk passes -----------------------------------------------

BULK_PIECE = merge.BULK_PIECE  # from here on merge_long may merge whole ranks at once


def long_real_pieces():
    rng = random.Random(99)
    yield b" " * 5000
    yield b"x" * 5000
    yield b"\n" * (BULK_PIECE + 1)
    yield b"ab" * 3000
    yield b"aaab" * 1500
    yield b"0" * 5000
    yield "中".encode() * 2000
    yield bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(6000))
    yield bytes(rng.choice(b"ab") for _ in range(6000))
    yield rng.randbytes(5000)
    yield (b"the " * 1000 + b"x" * 2000 + b" " * 3000)


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base"])
def test_very_long_pieces_real_ranks(name, request):
    ranks = request.getfixturevalue(f"{name.split('_')[0]}_ranks")
    ref = tiktoken_encoding(name)
    for piece in long_real_pieces():
        assert len(piece) >= BULK_PIECE
        parts = merge_long(ranks, piece)  # (merge_short agrees too, but takes ~0.5 s a piece)
        assert b"".join(parts) == piece
        assert [ranks[p] for p in parts] == ref._encode_single_piece(piece), piece[:20]


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base"])
def test_runs_of_every_byte_and_of_many_tokens(name, request):
    """b"\x00" * 4099 ... b"\xff" * 4099, and runs of 2- and 3-byte tokens: merge_long's bulk
    passes on the real vocabularies, against tiktoken."""
    ranks = request.getfixturevalue(f"{name.split('_')[0]}_ranks")
    ref = tiktoken_encoding(name)
    pieces = [bytes([b]) * (BULK_PIECE + 3) for b in range(256)]
    short_tokens = sorted((rank, token) for token, rank in ranks.items() if len(token) in (2, 3))
    pieces += [token * (BULK_PIECE // len(token) + 1) for _, token in short_tokens[::40]]
    for piece in pieces:
        assert encode_piece(ranks, piece) == ref._encode_single_piece(piece), piece[:6]


@st.composite
def ranks_and_long_piece(draw):
    ranks, _ = draw(ranks_and_piece())
    alphabet = sorted({t[0] for t in ranks if len(t) == 1})
    unit = bytes(draw(st.lists(st.sampled_from(alphabet), min_size=1, max_size=5)))
    noise = draw(st.integers(0, 3))  # 0: a pure repeat; more: random bytes sprinkled in
    rng = random.Random(draw(st.integers(0, 2**32)))
    n = draw(st.integers(BULK_PIECE, BULK_PIECE + 1500))
    piece = bytearray((unit * (n // len(unit) + 1))[:n])
    for _ in range(noise * n // 50):
        piece[rng.randrange(n)] = rng.choice(alphabet)
    return ranks, bytes(piece)


@settings(derandomize=True, max_examples=40, deadline=None)
@given(ranks_and_long_piece())
def test_merge_long_agrees_on_very_long_pieces(case):
    ranks, piece = case
    assert merge_long(ranks, piece) == merge_short(ranks, piece)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(ranks_and_piece(), st.sampled_from([1, 2, 8, 10**6]), st.integers(1, 8))
def test_bulk_passes_then_heap_agree_on_short_pieces(case, min_share, min_merges):
    """merge_long's two stages, with the bulk thresholds lowered so they run on short pieces."""
    ranks, piece = case
    starts, pair_ranks = merge_rank_levels(ranks, piece, merge.NO_RANK, min_share=min_share, min_merges=min_merges)
    assert merge.merge_heap(ranks, piece, starts, pair_ranks) == merge_reference(ranks, piece)


# --- hand-made ranks against tiktoken's own merge loop ----------------------------------------


def with_all_bytes(ranks: dict[bytes, int]) -> dict[bytes, int]:
    """The 256 single bytes as IDs 0..255, then the multi-byte tokens of `ranks` in rank order."""
    full = {bytes([b]): b for b in range(256)}
    multi = sorted((rank, token) for token, rank in ranks.items() if len(token) > 1)
    full.update((token, 256 + i) for i, (_, token) in enumerate(multi))
    return full


def tiktoken_merge(ranks: dict[bytes, int]):
    """tiktoken's merge loop over `ranks` (all 256 bytes present): piece -> IDs."""
    core = tiktoken_module().Encoding("handmade", pat_str=npllm.GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={})
    return core._encode_single_piece


@settings(derandomize=True, max_examples=150, deadline=None)
@given(ranks_and_piece())
def test_hand_made_ranks_match_tiktoken(case):
    ranks, piece = case
    ranks = with_all_bytes(ranks)
    if not piece:
        assert encode_piece(ranks, piece) == []  # (tiktoken's Rust core panics on b"")
        return
    assert encode_piece(ranks, piece) == tiktoken_merge(ranks)(piece)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(ranks_and_long_piece())
def test_hand_made_ranks_very_long_pieces_match_tiktoken(case):
    ranks, piece = case
    ranks = with_all_bytes(ranks)
    assert encode_piece(ranks, piece) == tiktoken_merge(ranks)(piece)


@pytest.mark.parametrize("n", [7, 4095, 4096, 5000, 6001])
def test_aaa_before_aa_matches_tiktoken(n):
    ranks = with_all_bytes(ranks_of(b"aaa", b"aa"))  # aaa: 256, aa: 257
    expected = tiktoken_merge(ranks)(b"a" * n)
    assert [ranks[p] for p in aaa_before_aa(n)] == expected
    assert encode_piece(ranks, b"a" * n) == expected


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
