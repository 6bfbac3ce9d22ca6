"""The BPE merge loop: one piece of bytes in, its token IDs out.

The rule, as tiktoken applies it: start from single bytes; while some adjacent pair of parts
joins into a known token, join the pair whose token has the lowest rank, the leftmost one if
that pair occurs more than once. Three versions of the same rule live here:

- `merge_reference`: the obvious loop, a full rescan per merge. For reading and for tests.
- `merge_short`: the same scan with the pair ranks kept in a list and updated only next to
  the merge, so each step is one C-level `min` and `index`. Quadratic, fast for short pieces.
- `merge_heap`: for long pieces (a 1 MB run of spaces, "x" * 100_000), where quadratic
  would hurt: a heap of (rank, start) over a linked list of parts, O(log n) a merge.
  `merge_long` runs it, after the whole-rank NumPy passes of `merge_bulk.py` for pieces of
  BULK_PIECE bytes or more.

`encode_piece` picks one; all are tested equal. `encode_pieces` encodes a cold text's new
pieces in one call (the whole tokens among them found in C, the others merged together in
NumPy by `merge_bulk.merge_pieces` when they are many); `merge_ids` is the merge loop alone.
"""

from __future__ import annotations

import heapq
import operator
import sys
from collections.abc import Mapping
from itertools import compress, repeat

NO_RANK = sys.maxsize  # larger than any rank: "this pair is not a token"
LONG_PIECE = 96  # bytes; from about here on the heap beats the list (python -m benchmarks --investigate)
BULK_PIECE = 4096  # bytes; from here on merge_long tries whole-rank NumPy passes first
BYTE_PARTS = [bytes([b]) for b in range(256)]  # int -> the one-byte bytes object
BATCH_PIECES = 1024  # pieces to merge from which merge_bulk.merge_pieces beats the loop (numpy_pays)
BATCH_PIECES_WITH_IMPORT = 1 << 15  # ... and from which it pays for importing NumPy too


def encode_piece(ranks: Mapping[bytes, int], piece: bytes) -> list[int]:
    """Token IDs of one piece. b"hello" -> [31373] (gpt2: a whole token, no merge loop)."""
    rank = ranks.get(piece)
    if rank is not None:
        return [rank]
    return merge_ids(ranks, piece)


def encode_pieces(ranks: Mapping[bytes, int], pieces: list[bytes]) -> list[tuple[int, ...]]:
    """`encode_piece` for many pieces at once, each piece's IDs as a tuple.
    [b"hello", b"helloqqqq"] -> [(31373,), (31373, 38227, 38227)] (gpt2)

    For a cold text's new pieces: about half of them are whole tokens (7,600 of tinyshakespeare's
    15,000), and theirs are found in C: one `map` of lookups, and `zip` of one list, which makes
    1-tuples. The others run the merge loop: together, in NumPy (`merge_bulk.merge_pieces`),
    when there are enough of them (`numpy_pays`); else one call each.
    """
    whole = list(map(ranks.get, pieces))  # rank, or None: not a token
    values = list(zip(whole))  # [(rank,), ...]; (None,) is replaced below
    todo = list(compress(range(len(pieces)), map(operator.is_, whole, repeat(None))))
    if numpy_pays(len(todo)):
        from npllm.bpe.merge_bulk import merge_pieces  # NumPy, imported only when it pays

        lengths = list(map(len, map(pieces.__getitem__, todo)))
        short = list(compress(todo, map(operator.lt, lengths, repeat(LONG_PIECE))))
        merged = merge_pieces(ranks, list(map(pieces.__getitem__, short)))
        if merged is not None:  # None: a byte without a token, which merge_ids reports below
            for i, ids in zip(short, merged):
                values[i] = ids
            todo = list(compress(todo, map(operator.ge, lengths, repeat(LONG_PIECE))))  # long: merge_long
    for i in todo:
        values[i] = tuple(merge_ids(ranks, pieces[i]))
    return values


def numpy_pays(n_pieces: int) -> bool:
    """Whether merging `n_pieces` pieces together in NumPy beats the loop, one piece at a time.

    It saves 1.3-1.7 µs a piece and costs about 1 ms a call (`python -m benchmarks --investigate`
    times both sides: it wins from about 512 pieces); importing NumPy costs about 50 ms more, which
    only some 30,000 pieces pay back. A process that has NumPy already (the loader, the
    embeddings, `encode_to_numpy`, encode-file) pays nothing for it.
    """
    if n_pieces < BATCH_PIECES:
        return False
    return n_pieces >= BATCH_PIECES_WITH_IMPORT or "numpy" in sys.modules


def merge_ids(ranks: Mapping[bytes, int], piece: bytes) -> list[int]:
    """The merge loop alone, as IDs: tiktoken's `byte_pair_encode`, which does not first look the
    whole piece up (`encode_piece` does; they differ only for a token that no merge makes)."""
    parts = merge_short(ranks, piece) if len(piece) < LONG_PIECE else merge_long(ranks, piece)
    try:
        return list(map(ranks.__getitem__, parts))
    except KeyError as e:
        raise ValueError(
            f"the vocabulary has no token for the byte(s) {e.args[0]!r}: a byte-level BPE "
            f"vocabulary must contain all 256 single bytes"
        ) from None


def merge_reference(ranks: Mapping[bytes, int], piece: bytes, max_rank: int | None = None) -> list[bytes]:
    """The rule, written plainly. b"aaa" with ranks {a: 0, aa: 1} -> [b"aa", b"a"].

    With `max_rank`, only tokens ranked below it may be made: the merge loop as it stood
    before that token was learned (how `files.recover_merges` finds a token's two parents).
    """
    parts = [piece[i : i + 1] for i in range(len(piece))]
    limit = NO_RANK if max_rank is None else max_rank
    while True:
        best = None  # (rank, index) of the pair to join
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and rank < limit and (best is None or rank < best[0]):
                best = (rank, i)  # strict <: the leftmost of equal ranks stays
        if best is None:
            return parts
        i = best[1]
        parts[i : i + 2] = [parts[i] + parts[i + 1]]


def merge_short(ranks: Mapping[bytes, int], piece: bytes) -> list[bytes]:
    """The rule with the pair ranks cached: after a join only two pairs change."""
    get = ranks.get
    parts = list(map(BYTE_PARTS.__getitem__, piece))  # bytes, one per byte to start
    # pair i = parts i, i+1; the joins and lookups in C (`map`), no Python loop
    pair_ranks = list(map(get, map(operator.add, parts, parts[1:]), repeat(NO_RANK)))
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


def merge_heap(
    ranks: Mapping[bytes, int], piece: bytes, starts: list[int] | None = None, pair_ranks: list[int] | None = None
) -> list[bytes]:
    """The rule in O(n log n): a heap of candidate pairs over a linked list of parts.

    `starts` are the parts to begin from (their start offsets, then len(piece)); single
    bytes if not given. `pair_ranks`, if known, are the ranks of their neighbour pairs.

    A part is named by its start offset. `nxt[s]` is where the part starting at `s` ends
    (the start of the next part); `prv[s]` is the start of the part before it. `pair_rank[s]`
    is the rank of the pair (part s, the part after it), NO_RANK if that is not a token or
    part s is gone. A heap entry is one int, rank << shift | s, so that the heap compares
    plain ints: lowest rank first, then leftmost start, exactly the order the list version
    chooses. An entry whose rank is no longer pair_rank[s] is stale, and skipped: ranks are
    unique, so an equal rank means the same pair. Plain lists, no NumPy: a piece of 100 bytes
    should not import it.
    """
    n = len(piece)
    get = ranks.get
    b = list(range(n + 1)) if starts is None else list(starts)  # part starts, then n
    if pair_ranks is None:
        pair_ranks = [get(piece[b[k] : b[k + 2]], NO_RANK) for k in range(len(b) - 2)]
    shift = n.bit_length()
    mask = (1 << shift) - 1
    # indexed by a part's start; the entries at other offsets are never read
    nxt = [0] * n  # start -> end of the part starting there
    prv = [-1] * n  # start -> start of the part before it; -1 for the first
    pair_rank = [NO_RANK] * n  # start -> rank of its pair with the next part
    for s, end, rank in zip(b, b[1:], [*pair_ranks, NO_RANK]):
        nxt[s] = end
        pair_rank[s] = rank
        if end < n:
            prv[end] = s
    heap = [rank << shift | s for s, rank in zip(b, pair_ranks) if rank != NO_RANK]
    if not heap:
        return [piece[s:end] for s, end in zip(b, b[1:])]  # nothing left to merge
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        key = pop(heap)
        s = key & mask
        if pair_rank[s] != key >> shift:
            continue  # stale: this pair changed after the entry was pushed
        mid = nxt[s]
        end = nxt[mid]
        nxt[s] = end  # join: part s now covers piece[s:end]; part mid is gone
        pair_rank[mid] = NO_RANK
        if end < n:
            prv[end] = s
            rank = pair_rank[s] = get(piece[s : nxt[end]], NO_RANK)
            if rank != NO_RANK:
                push(heap, rank << shift | s)
        else:
            pair_rank[s] = NO_RANK
        left = prv[s]
        if left >= 0:
            rank = pair_rank[left] = get(piece[left:end], NO_RANK)
            if rank != NO_RANK:
                push(heap, rank << shift | left)
    parts = []
    s = 0
    while s < n:
        parts.append(piece[s : nxt[s]])
        s = nxt[s]
    return parts


def merge_long(ranks: Mapping[bytes, int], piece: bytes) -> list[bytes]:
    """The rule for long pieces: bulk NumPy passes while they pay, then a heap.

    A long piece (a run of spaces, "x" * 100_000, a paragraph of Chinese) would make the
    list version quadratic. First `merge_rank_levels` does the merges in bulk, one rank
    at a time, while each rank occurs often enough; then `merge_heap` finishes the rest
    one merge at a time in O(log n) each.
    """
    if len(piece) < BULK_PIECE:
        return merge_heap(ranks, piece)  # too short for NumPy passes to pay
    from npllm.bpe.merge_bulk import merge_rank_levels  # NumPy, imported only for pieces this long

    starts, pair_ranks = merge_rank_levels(ranks, piece, NO_RANK)
    return merge_heap(ranks, piece, starts, pair_ranks)
