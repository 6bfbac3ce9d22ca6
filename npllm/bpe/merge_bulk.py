"""Whole-rank NumPy passes for very long pieces (BULK_PIECE bytes or more).

`merge.merge_long` calls `merge_rank_levels` before its heap: on a 1 MB run of spaces or a
base64 blob most merges are of a handful of ranks, and one NumPy pass per rank does them all
at once while that gives the same result as one merge at a time. The heap (`merge.merge_heap`)
finishes from the parts this returns. Read `merge.py` first: this is only a shortcut to a
state the loops there would reach.
"""

from __future__ import annotations

import numpy as np

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (2 ms)
if TYPE_CHECKING:
    from collections.abc import Mapping


def merge_rank_levels(
    ranks: Mapping[bytes, int], piece: bytes, no_rank: int, min_share: int = 128, min_merges: int = 64
) -> tuple[list[int], list[int] | None]:
    """Merge whole ranks at once; return the parts reached: their starts (then len(piece))
    and the rank of each pair of neighbours.

    The list version takes the lowest rank r, leftmost first, again and again. While r is
    the lowest rank, all its occurrences go in one pass: from left to right, skipping one
    that overlaps the one before (a chain "a a a" with (a, a) -> [aa, a]). That is exactly
    what the one-at-a-time loop does, unless a merge creates a pair ranked below r, which
    the loop would take first: one left after the pass, or one that the loop sees for a
    moment inside a chain ("aa a" before the next "a a" joins, when "aaa" outranks "aa").
    Then this stops before that pass and the heap goes on from the state before it. It also
    stops when a rank has fewer than `min_merges` pairs or fewer than 1/min_share of them: a
    NumPy pass over the whole piece (tens of microseconds at least) no longer pays for so few
    merges. `no_rank` marks a pair that is no token in the ranks returned (merge.NO_RANK, passed
    in so that this module needs nothing of merge.py: imports run one way).
    """
    n = len(piece)
    byte_ranks = [ranks.get(bytes((b,)), -1) for b in range(256)]
    piece_bytes = np.frombuffer(piece, dtype=np.uint8)  # (n,)
    ids = np.array(byte_ranks, dtype=np.int64)[piece_bytes]  # (P,) part -> token ID; P = n at first
    starts = np.arange(n + 1)  # (P+1,) part k is piece[starts[k]:starts[k+1]]
    if n < 2 or ids.min() < 0:
        return starts.tolist(), None  # a byte without a token: encode_piece reports it
    # the first pair ranks come from a table of the 65,536 byte pairs, filled where present
    byte_pair = piece_bytes[:-1].astype(np.int64) << 8 | piece_bytes[1:]  # (P-1,)
    table = np.full(1 << 16, no_rank, dtype=np.int64)
    for code in np.flatnonzero(np.bincount(byte_pair, minlength=1 << 16)).tolist():
        table[code] = ranks.get(bytes((code >> 8, code & 255)), no_rank)
    pair_rank = table[byte_pair]  # (P-1,)
    known = {}  # pair code -> rank of the joined bytes (no_rank: not a token)
    while len(pair_rank):
        r = int(pair_rank.min())
        at = np.flatnonzero(pair_rank == r)  # pairs with the lowest rank
        if r == no_rank or len(at) < min_merges or len(at) * min_share < len(pair_rank):
            break
        at = _leftmost_without_overlap(at)
        chained = at[1:][np.diff(at) == 2]  # merges right after another one in a chain
        if len(chained):
            # one at a time, after the merge before it, this pair's left part first meets
            # the new token: (r, left part). If that outranks r the loop takes it first.
            k = int(chained[0]) - 2
            if ranks.get(piece[starts[k] : starts[k + 3]], no_rank) < r:
                break
        keep = np.ones(len(ids), dtype=bool)
        keep[at + 1] = False  # the right part of each merged pair goes
        new_ids, new_starts = ids[keep], starts[np.append(keep, True)]  # (P',), (P'+1,)
        merged = at - np.arange(len(at))  # where the merged parts are now
        new_ids[merged] = r
        new_pair_rank = pair_rank[keep[1:]]  # (P'-1,): each kept part but the first has a pair on its left
        near_merge = np.zeros(len(new_ids), dtype=bool)
        near_merge[merged] = True  # the pair on the right of each merged part
        near_merge[merged[merged > 0] - 1] = True  # and the pair on its left
        touched = np.flatnonzero(near_merge[:-1])  # the last part has no pair on its right
        touched_rank = _pair_ranks(ranks, piece, new_ids, new_starts, touched, known, no_rank)
        if len(touched_rank) and touched_rank.min() < r:
            break  # a new pair outranks r: one at a time from here (the state before this pass)
        new_pair_rank[touched] = touched_rank
        ids, starts, pair_rank = new_ids, new_starts, new_pair_rank
    return starts.tolist(), pair_rank.tolist()


def _leftmost_without_overlap(at: np.ndarray) -> np.ndarray:
    """Sorted pair positions -> the ones a left-to-right pass merges. [3, 4, 5, 9] -> [3, 5, 9]"""
    chain_start = np.ones(len(at), dtype=bool)
    chain_start[1:] = np.diff(at) != 1  # a chain is a run of consecutive positions
    first_of_chain = at[chain_start][np.cumsum(chain_start) - 1]  # (len(at),)
    return at[(at - first_of_chain) % 2 == 0]


def _pair_ranks(ranks, piece: bytes, ids, starts, at, known: dict, no_rank: int) -> np.ndarray:
    """Ranks of the pairs (part k, part k + 1) for k in `at`; one dict lookup per distinct pair."""
    codes = ids[at] << 32 | ids[at + 1]  # (len(at),) the pair as one int
    distinct, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    rank_of = np.empty(len(distinct), dtype=np.int64)
    for i, (code, k) in enumerate(zip(distinct.tolist(), at[first].tolist())):
        rank = known.get(code)
        if rank is None:
            rank = known[code] = ranks.get(piece[starts[k] : starts[k + 2]], no_rank)
        rank_of[i] = rank
    return rank_of[inverse.ravel()]
