"""The BPE merge loop: one piece of bytes in, its token IDs out.

The rule, as tiktoken applies it: start from single bytes; while some adjacent pair of parts
joins into a known token, join the pair whose token has the lowest rank, the leftmost one if
that pair occurs more than once. Three versions of the same rule live here:

- `merge_reference`: the obvious loop, a full rescan per merge. For reading and for tests.
- `merge_short`: the same scan with the pair ranks kept in a list and updated only next to
  the merge, so each step is one C-level `min` and `index`. Quadratic, fast for short pieces.
- `merge_long`: a heap of (rank, start) over a linked list of parts, O(n log n), for long
  pieces (a 1 MB run of spaces, a base64 blob) where quadratic would hurt.

`encode_piece` picks one; all three are tested equal.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Mapping

NO_RANK = sys.maxsize  # larger than any rank: "this pair is not a token"
LONG_PIECE = 256  # bytes; from here on the heap beats the list (benchmarks/bench_encode.py)
BYTE_PARTS = [bytes([b]) for b in range(256)]  # int -> the one-byte bytes object


def encode_piece(ranks: Mapping[bytes, int], piece: bytes) -> list[int]:
    """Token IDs of one piece. b"hello" -> [31373] (gpt2: a whole token, no merge loop)."""
    rank = ranks.get(piece)
    if rank is not None:
        return [rank]
    if len(piece) < LONG_PIECE:
        parts = merge_short(ranks, piece)
    else:
        parts = merge_long(ranks, piece)
    try:
        return [ranks[part] for part in parts]
    except KeyError as e:
        raise ValueError(
            f"the vocabulary has no token for the byte(s) {e.args[0]!r}: a byte-level BPE "
            f"vocabulary must contain all 256 single bytes"
        ) from None


def merge_reference(ranks: Mapping[bytes, int], piece: bytes) -> list[bytes]:
    """The rule, written plainly. b"aaa" with ranks {a: 0, aa: 1} -> [b"aa", b"a"]."""
    parts = [piece[i : i + 1] for i in range(len(piece))]
    while True:
        best = None  # (rank, index) of the pair to join
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best is None or rank < best[0]):
                best = (rank, i)  # strict <: the leftmost of equal ranks stays
        if best is None:
            return parts
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]


def merge_short(ranks: Mapping[bytes, int], piece: bytes) -> list[bytes]:
    """The rule with the pair ranks cached: after a join only two pairs change."""
    get = ranks.get
    parts = list(map(BYTE_PARTS.__getitem__, piece))  # bytes, one per byte to start
    pair_ranks = [get(a + b, NO_RANK) for a, b in zip(parts, parts[1:])]  # pair i = parts i, i+1
    while pair_ranks:
        best = min(pair_ranks)
        if best == NO_RANK:
            break
        i = pair_ranks.index(best)  # the leftmost pair with the lowest rank
        parts[i] += parts.pop(i + 1)
        del pair_ranks[i]
        if i > 0:
            pair_ranks[i - 1] = get(parts[i - 1] + parts[i], NO_RANK)
        if i < len(pair_ranks):
            pair_ranks[i] = get(parts[i] + parts[i + 1], NO_RANK)
    return parts


def merge_long(ranks: Mapping[bytes, int], piece: bytes) -> list[bytes]:
    """The rule in O(n log n): a heap of candidate pairs over a linked list of parts.

    A part is named by its start offset. `nxt[s]` is where the part starting at `s` ends
    (the start of the next part), or -1 once the part has been joined into its left
    neighbour. A heap entry (rank, s, end) stands for the pair of parts covering
    piece[s:end]. It is stale, and skipped, unless part `s` is alive and it and its right
    neighbour still end exactly at `end`: parts only grow, so equal bounds mean equal
    bytes. (rank, s) order pops the lowest rank first and, among equal ranks, the leftmost,
    exactly as the list version chooses.
    """
    n = len(piece)
    get = ranks.get
    nxt = list(range(1, n + 1))  # start -> end of the part starting there; -1 when gone
    prv = list(range(-1, n - 1))  # start -> start of the part before it; -1 for the first
    heap = [(get(piece[s : s + 2], NO_RANK), s, s + 2) for s in range(n - 1)]
    heap = [entry for entry in heap if entry[0] != NO_RANK]
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        _, s, end = pop(heap)
        mid = nxt[s]
        if mid < 0 or mid >= n or nxt[mid] != end:
            continue  # stale: one of the two parts has changed since this was pushed
        nxt[s], nxt[mid] = end, -1  # join: part s now covers piece[s:end]
        if end < n:
            prv[end] = s
            right_end = nxt[end]
            rank = get(piece[s:right_end], NO_RANK)
            if rank != NO_RANK:
                push(heap, (rank, s, right_end))
        left = prv[s]
        if left >= 0:
            rank = get(piece[left:end], NO_RANK)
            if rank != NO_RANK:
                push(heap, (rank, left, end))
    parts = []
    s = 0
    while s < n:
        parts.append(piece[s : nxt[s]])
        s = nxt[s]
    return parts
