"""Two limits of `npllm.Encoding` (issue 13): its piece cache is bounded in bytes, not in
entries (item 9), and a split pattern that can match the empty string is refused (item 13)."""

import random
import sys

import pytest

import npllm
from npllm.bpe.encoding import MAX_CACHED_PIECE, PIECE_CACHE_BYTES, PackedPieceCache, PieceCache, check_split_pattern

BYTES = {bytes([b]): b for b in range(256)}


@pytest.fixture(scope="module")
def gpt2_ranks():
    return npllm.get_encoding("gpt2").mergeable_ranks


def held(cache: dict) -> int:
    """What the cache's keys and values take, by sys.getsizeof."""
    return sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in cache.items())


# --- item 9: the piece cache ---------------------------------------------------------------------


def test_a_long_piece_is_merged_but_not_kept(gpt2_ranks):
    # before: 300 different 5 KB pieces kept 8.5 MB, six 0.5 MB pieces 37 MB
    rng = random.Random(0)
    cache = PieceCache(gpt2_ranks)
    for _ in range(20):
        piece = "".join(rng.choices("abcdefghij", k=5000))  # one piece of letters, never seen twice
        assert list(cache[piece]) == npllm.get_encoding("gpt2").encode_ordinary(piece)
    assert len(cache) == 0 and cache.nbytes == 0
    short = "x" * MAX_CACHED_PIECE
    cache[short], cache[short + "y"]
    assert list(cache) == [short]


def test_the_cache_stays_within_its_bytes_and_starts_over(gpt2_ranks):
    cache = PieceCache(gpt2_ranks, max_bytes=20_000)
    rng = random.Random(1)
    sizes = []
    for _ in range(2000):
        cache[" " + "".join(rng.choices("abcdefghijklmnop", k=rng.randint(1, 60)))]
        assert cache.nbytes <= 20_000
        assert held(cache) <= cache.nbytes  # the estimate never counts less than the objects
        sizes.append(len(cache))
    assert max(sizes) > 50 and min(sizes[100:]) < max(sizes)  # it filled, then started over
    cache.clear()
    assert (len(cache), cache.nbytes) == (0, 0)


def test_the_packed_cache_is_bounded_too(gpt2_ranks):
    ids = PieceCache(gpt2_ranks)
    packed = PackedPieceCache(ids, max_bytes=5_000)
    for k in range(500):
        assert len(packed[f" word{k}"]) % 4 == 0
        assert packed.nbytes <= 5_000
    assert len(packed["z" * (MAX_CACHED_PIECE + 1)]) > 0 and "z" * (MAX_CACHED_PIECE + 1) not in packed


def test_an_encoding_keeps_no_long_piece(prose_text):
    enc = npllm.Encoding(
        "gpt2-copy",
        pat_str=npllm.GPT2_PATTERN,
        mergeable_ranks=npllm.get_encoding("gpt2").mergeable_ranks,
        special_tokens={},
    )
    text = prose_text + " " + "7" * 100_000 + " " + "q" * 3000
    assert enc.encode_ordinary(text) == npllm.get_encoding("gpt2").encode_ordinary(text)
    assert enc.encode_to_numpy(text).tolist() == enc.encode_ordinary(text)
    for cache in (enc._piece_ids, enc._piece_bytes):  # the Encoding's own caches (private: looked at, not used)
        assert cache and max(map(len, cache)) <= MAX_CACHED_PIECE
    assert PIECE_CACHE_BYTES <= 1 << 26  # a few tens of MB at most, whatever the text


# --- item 13: patterns that can match nothing -----------------------------------------------------


@pytest.mark.parametrize("pat_str", ["", r"\b", "a*", r"(?=\w)", r"\s*|\w+", "x?", r"$"])
def test_a_pattern_that_can_match_the_empty_string_is_refused(pat_str):
    # before: Encoding(pat_str="") and \b encoded every text to []
    with pytest.raises(ValueError, match="empty string"):
        npllm.Encoding("x", pat_str=pat_str, mergeable_ranks=BYTES, special_tokens={})
    with pytest.raises(ValueError, match="empty string"):
        check_split_pattern(pat_str)


@pytest.mark.parametrize("pat_str", [npllm.GPT2_PATTERN, npllm.CL100K_PATTERN, npllm.O200K_PATTERN, r"\w+|\s+|\W"])
def test_a_pattern_that_always_takes_a_character_is_fine(pat_str):
    enc = npllm.Encoding("x", pat_str=pat_str, mergeable_ranks=BYTES, special_tokens={})
    assert enc.decode(enc.encode("hello, world 12")) == "hello, world 12"
