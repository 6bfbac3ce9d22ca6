"""The merge loop in NumPy: many short pieces at once, and very long pieces a rank at a time.

Read `merge.py` first: both are shortcuts to the state its one-merge-at-a-time loops reach.

- `merge_pieces`: a cold text's new pieces (thousands of them, a few bytes each), merged
  together. Each round, every piece makes the merge the list loop would make next, so the
  Python work per merge (a dict lookup, and for the list loop `min`, `index`, `pop`) becomes a
  share of a few NumPy passes over all pieces. `merge.encode_pieces` calls it.
- `merge_rank_levels`: `merge.merge_long` calls it before its heap. On a 1 MB run of spaces or
  a base64 blob most merges are of a handful of ranks, and one NumPy pass per rank does them
  all at once while that gives the same result as one merge at a time. The heap
  (`merge.merge_heap`) finishes from the parts this returns.
"""

from __future__ import annotations

from itertools import repeat

import numpy as np

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (2 ms)
if TYPE_CHECKING:
    from collections.abc import Mapping

PIECES_PER_WINDOW = 8192  # merge_pieces takes this many at a time: their arrays stay in the processor's cache
UNRANKED = np.iinfo(np.int64).max  # merge_pieces: "this pair is no token" (above any rank)


def merge_pieces(ranks: Mapping[bytes, int], pieces: list[bytes]) -> list[tuple[int, ...]] | None:
    """Token IDs of each piece, as `merge.merge_ids` gives them, for many pieces at once.
    [b"helloqqqq", b"Akwirw"] -> [(31373, 38227, 38227), (33901, 86, 343, 86)] (gpt2)

    None if some byte has no token (`merge.merge_ids` explains that error). Pieces of more
    than a few dozen bytes belong to `merge.merge_long`: each round costs a pass over every
    part of the window, and a long piece keeps its window going for many rounds.
    """
    if not pieces:
        return []
    lens = np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))  # (K,)
    joined = b"".join(pieces)
    data = np.frombuffer(joined, dtype=np.uint8)  # (N,)
    ids = np.array([ranks.get(bytes((b,)), -1) for b in range(256)], dtype=np.int64)[data]  # (N,) one part a byte
    if len(ids) and ids.min() < 0:
        return None
    pair = np.full(len(data), UNRANKED, dtype=np.int64)  # (N,) pair i: parts i and i + 1
    pair[:-1] = byte_pair_ranks(ranks, data, UNRANKED)
    piece_at = np.cumsum(lens) - lens  # (K,) where each piece begins in `joined`
    pair[(piece_at + lens - 1)[lens > 0]] = UNRANKED  # the last part of a piece has no pair
    done_ids = np.empty(len(data), dtype=np.int64)  # (N,) each piece's IDs, where its bytes were
    done_lens = np.zeros(len(pieces), dtype=np.int64)  # (K,) how many IDs each piece has
    for first in range(0, len(pieces), PIECES_PER_WINDOW):
        window = np.arange(first, min(first + PIECES_PER_WINDOW, len(pieces)))
        window = window[lens[window] > 0]  # an empty piece has no IDs: nothing to merge
        if len(window):
            begin, end = piece_at[window[0]], piece_at[window[-1]] + lens[window[-1]]
            _merge_window(ranks, joined, window, lens, piece_at, ids[begin:end], pair[begin:end], done_ids, done_lens)
    return _tuples(done_ids, piece_at, done_lens)


def _merge_window(ranks, joined: bytes, piece, lens, piece_at, ids, pair, done_ids, done_lens) -> None:
    """Merge the pieces `piece` (K of them, in order, not empty) to the end; write each one's
    IDs to done_ids from piece_at[k] on and their number to done_lens[k].

    The parts of the pieces still merging lie in piece order in flat arrays (N parts), and a
    piece is the run of `lens[k]` parts from `starts[k]`; part i is joined[lo[i]:hi[i]].
    `pair[i]` is the rank of the token that part i and part i + 1 make together, UNRANKED if
    they make none or part i ends its piece.

    Each round: every piece's lowest pair rank (`np.minimum.reduceat`); the pieces with none
    left are done and leave the arrays; every other piece joins its leftmost pair with that
    rank, exactly the pair `merge.merge_short` would join next, and looks up (in Python, one
    dict lookup each) the two pairs beside the join, the only ones that changed.
    """
    lens = lens[piece]  # (K,) parts per piece; bytes at first
    starts = np.cumsum(lens) - lens  # (K,)
    lo = np.arange(piece_at[piece[0]], piece_at[piece[-1]] + lens[-1])  # (N,)
    hi = lo + 1
    get = ranks.get
    while True:
        best = np.minimum.reduceat(pair, starts)  # (K,) each piece's lowest pair rank
        done = best == UNRANKED
        if done.any():
            at = np.repeat(piece_at[piece[done]], lens[done]) + _offsets(lens[done])  # where their IDs go
            in_done = np.repeat(done, lens)  # (N,) the parts of done pieces
            done_ids[at] = ids[in_done]
            done_lens[piece[done]] = lens[done]
            going = ~done
            ids, pair, lo, hi = ids[~in_done], pair[~in_done], lo[~in_done], hi[~in_done]  # (N',)
            piece, lens, best = piece[going], lens[going], best[going]  # (K',)
            if not len(piece):
                return
            starts = np.cumsum(lens) - lens
        lowest = np.flatnonzero(pair == np.repeat(best, lens))  # parts whose pair has their piece's lowest rank
        join = lowest[np.searchsorted(lowest, starts)]  # (K,) each piece's leftmost one: join it with the next
        has_right = join + 2 < starts + lens  # a part after the pair: a new pair (joined, it)
        has_left = join > starts  # a part before the pair: a new pair (it, joined)
        ids[join] = best
        hi[join] = hi[join + 1]
        keep = np.ones(len(ids), dtype=bool)
        keep[join + 1] = False  # the pair's right part is now inside the joined one
        ids, pair, lo, hi = ids[keep], pair[keep], lo[keep], hi[keep]  # (N - K,)
        shift = np.arange(len(piece))  # each piece before this one lost a part
        join, starts, lens = join - shift, starts - shift, lens - 1
        pair[join] = UNRANKED  # unless the part after it makes a token with it (below)
        changed = np.concatenate([join[has_right], join[has_left] - 1])  # the pairs beside each join
        slices = map(slice, lo[changed].tolist(), hi[changed + 1].tolist())
        pair[changed] = list(map(get, map(joined.__getitem__, slices), repeat(UNRANKED)))


def byte_pair_ranks(ranks: Mapping[bytes, int], data: np.ndarray, no_rank: int) -> np.ndarray:
    """(N,) bytes -> (N - 1,) the rank of each byte and the next one together, no_rank where
    they are no token. b"hi!" -> [5303, no_rank] (gpt2: "hi" is 5303, "i!" no token)

    From a table of the 65,536 byte pairs, filled only for the pairs present (a dict lookup each).
    """
    code = data[:-1].astype(np.int64) << 8 | data[1:]  # (N - 1,) the pair as one int
    table = np.full(1 << 16, no_rank, dtype=np.int64)
    present = np.flatnonzero(np.bincount(code, minlength=1 << 16)).tolist()
    table[present] = [ranks.get(bytes((c >> 8, c & 255)), no_rank) for c in present]
    return table[code]


def _offsets(lens: np.ndarray) -> np.ndarray:
    """Each run's offsets, one run after another. [2, 3] -> [0, 1, 0, 1, 2]"""
    return np.arange(lens.sum()) - np.repeat(np.cumsum(lens) - lens, lens)


def _tuples(flat: np.ndarray, starts: np.ndarray, lens: np.ndarray) -> list[tuple[int, ...]]:
    """flat[starts[k] : starts[k] + lens[k]] as a tuple of ints, for each k.
    ([5, 6, 7, 8], [0, 3], [2, 1]) -> [(5, 6), (8,)]

    The runs of one length make one (M, n) array, whose columns `zip` turns into tuples in C;
    then the tuples go back into the runs' order.
    """
    tuples, order = [], []
    for n in np.unique(lens).tolist():
        which = np.flatnonzero(lens == n)  # (M,) the runs of n IDs
        rows = flat[starts[which, None] + np.arange(n)]  # (M, n)
        tuples += zip(*rows.T.tolist()) if n else [()] * len(which)
        order.append(which)
    place = np.argsort(np.concatenate(order))  # run k's tuple is tuples[place[k]]
    return list(map(tuples.__getitem__, place.tolist()))


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
    pair_rank = byte_pair_ranks(ranks, piece_bytes, no_rank)  # (P-1,)
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
