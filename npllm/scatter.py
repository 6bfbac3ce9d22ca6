"""The scatter-add at the heart of an embedding's backward pass, several ways.

    grad[ids[i]] += grad_out[i]   for every i        (N,) ids, (N, D) rows -> (V, D) grad

The catch is repetition: a token that occurs 300 times in a batch must add 300 rows into
one row of `grad`. `grad[ids] += rows` is wrong for that (NumPy writes each repeated row
once, the last one wins), so each strategy here is a different way of being right:

- `scatter_add_loop`: the obvious Python loop. The reference the tests trust.
- `scatter_add_at`: `np.add.at`, NumPy's unbuffered "add at", correct for repeats, slow.
- `scatter_add_sorted`: sort the ids, sum each run of equal ids (`np.add.reduceat`), add
  the sums with plain fancy-indexing (now every id is unique).
- `scatter_add_layers`: the k-th occurrences of all ids form layer k; inside a layer the
  ids are unique, so a plain fancy-index add is right. The layers add into a small table
  with one sum per distinct id (it stays in cache), and that table goes into `grad` once.
  Ids that occur more than a few times (newlines, " the") have the rest of their rows summed
  one id at a time, so the number of layers stays small.
- `scatter_add_buckets`: `row_sums` first (below), then one plain fancy-index add of the sums
  into `grad`. The fastest here (benchmarks/bench_embedding.py).

All five take the same arguments and add in place.

`row_sums(ids, rows)` is the half of a scatter-add that does not need `grad`: one sum per
distinct id, `(N,) ids, (N, D) rows -> (U,) distinct, (U, D) sums` (torch calls this
coalescing a sparse gradient). `Embedding` uses it: a dense `Embedding` adds the sums into its
`.grad` (that is `scatter_add_buckets`) and keeps the distinct ids, so that `zero_grad` and the
optimizers visit only those rows; `Embedding(sparse=True)` keeps the pair itself and never
writes a (V, D) gradient at all.
"""

from __future__ import annotations

import numpy as np

from npllm._checks import check_int

LAYERS = 8  # occurrences handled by layers; ids seen more often are summed one by one
CHUNK = 256  # rows per gather in row_sums: 768 KiB of float32 rows of 768, they stay in cache


def scatter_add_loop(grad: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """grad (V, D) += rows (N, D) at ids (N,), one row at a time."""
    for i, row in zip(ids.tolist(), rows):
        grad[i] += row


def scatter_add_at(grad: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    np.add.at(grad, ids, rows)  # not grad[ids] += rows: a repeated id must add twice


def scatter_add_sorted(grad: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    if len(ids) == 0:
        return
    order = np.argsort(ids, kind="stable")  # (N,)
    sorted_ids = ids[order]
    run_starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])  # (U,)
    sums = np.add.reduceat(rows[order], run_starts, axis=0)  # (U, D): one sum per distinct id
    grad[sorted_ids[run_starts]] += sums  # distinct ids: fancy-index add is right


def scatter_add_layers(grad: np.ndarray, ids: np.ndarray, rows: np.ndarray, layers: int = LAYERS) -> np.ndarray:
    """Add by layers of occurrences, into a small table of one sum per distinct id; return the ids.

    ids [5, 2, 5, 5], layers=2: the sums start as the first occurrences (rows 1 and 0 for ids
    2 and 5), layer 1 adds row 2 into id 5's sum, and id 5's rows after the first `layers`
    (row 3) are added by one sum of their own; then grad[[2, 5]] += sums, once per id.
    """
    check_int("layers", layers, 1, " (layer 0 is the first occurrences)")
    if len(ids) == 0:
        return np.zeros(0, dtype=np.int64)
    n = len(ids)
    key = ids.astype(np.uint16) if len(grad) <= 2**16 else ids  # NumPy radix-sorts 16-bit keys, ~5x faster
    order = np.argsort(key, kind="stable")  # (N,) positions, grouped by id
    sorted_ids = ids[order]  # (N,)
    is_first = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]  # (N,)
    run_starts = np.flatnonzero(is_first)  # (U,) where each id's run begins in sorted order
    run_of = np.cumsum(is_first) - 1  # (N,) which distinct id each sorted position holds
    occurrence = np.arange(n) - run_starts[run_of]  # (N,) 0 for a first occurrence, 1, 2, ...

    sums = rows[order[run_starts]]  # (U, D) layer 0: every id's first row; small, stays in cache
    layer = np.minimum(occurrence, layers)  # (N,) layer k holds k-th occurrences; `layers` holds the rest
    layer_key = layer.astype(np.uint8) if layers < 256 else layer  # radix sort again
    by_layer = np.argsort(layer_key, kind="stable")  # (N,) sorted positions, layer by layer, ids in order
    bounds = np.searchsorted(layer[by_layer], np.arange(layers + 1)).tolist()  # where each layer starts
    for k in range(1, layers):
        in_layer = by_layer[bounds[k] : bounds[k + 1]]  # sorted positions of all k-th occurrences
        if len(in_layer) == 0:
            break
        sums[run_of[in_layer]] += rows[order[in_layer]]  # each id at most once per layer: fancy add is right

    run_ends = np.r_[run_starts[1:], n]  # (U,)
    for u in np.flatnonzero(run_ends - run_starts > layers).tolist():  # ids seen more than `layers` times
        rest = order[run_starts[u] + layers : run_ends[u]]  # their positions after the first `layers`
        sums[u] += rows[rest].sum(axis=0)  # one sum per frequent id (newlines, " the")

    distinct = sorted_ids[run_starts]  # (U,)
    grad[distinct] += sums  # distinct ids: one add per touched row of grad
    return distinct


def row_sums(ids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One sum per distinct id: (N,) ids, (N, D) rows -> (U,) distinct ids, (U, D) sums.

    ids [5, 2, 5, 7, 5] -> distinct [2, 7, 5], sums [r1, r3, r0 + r2 + r4]: the ids come grouped
    by how often they occur (the ones seen once first), increasing within a group, and each
    sum adds its rows in the order they came (past CHUNK rows, as a sum of chunk sums).

    How: sort the positions by (count of their id, id). Then the c occurrences of an id seen c
    times sit next to each other, and all the ids seen c times form one (n_c, c, D) block: one
    gather puts a block's rows in place and one `np.add.reduce` sums it over its c axis, for a
    few dozen distinct counts in a batch of real text. Blocks are gathered CHUNK rows at a time,
    so the gathered rows are still in cache when they are summed. Every row is read once.
    """
    ids = np.asarray(ids)
    n, D = rows.shape
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros((0, D), dtype=rows.dtype)
    small = ids.min() >= 0 and ids.max() < 2**16
    order = np.argsort(ids.astype(np.uint16) if small else ids, kind="stable")  # (N,); 16-bit keys: radix sort
    sorted_ids = ids[order]  # (N,)
    is_first = np.empty(n, dtype=bool)  # (N,) where a new id begins in sorted order
    is_first[0] = True
    np.not_equal(sorted_ids[1:], sorted_ids[:-1], out=is_first[1:])
    starts = np.flatnonzero(is_first)  # (U,) where each id's run begins
    counts = np.diff(starts, append=n)  # (U,) how often each id occurs
    by_count = np.argsort(counts, kind="stable")  # (U,) runs by count; ids stay increasing within a count
    counts, starts = counts[by_count], starts[by_count]
    distinct = sorted_ids[starts]  # (U,)
    new_starts = np.cumsum(counts) - counts  # (U,) where each run begins in (count, id) order
    src = order[np.repeat(starts - new_starts, counts) + np.arange(n)]  # (N,) positions in (count, id) order

    sums = np.empty((len(distinct), D), dtype=rows.dtype)  # (U, D)
    scratch = np.empty((min(CHUNK, n), D), dtype=rows.dtype)  # (CHUNK, D): every gather lands here, in cache
    bounds = np.r_[0, np.flatnonzero(np.diff(counts)) + 1, len(counts)].tolist()  # where each count begins
    for u0, u1 in zip(bounds[:-1], bounds[1:]):  # the ids u0..u1-1 are all seen c times
        c, first = int(counts[u0]), int(new_starts[u0])
        if c == 1:  # their sum is their row; src is in range, so mode="clip" (no checks, no buffer)
            np.take(rows, src[first : first + u1 - u0], axis=0, out=sums[u0:u1], mode="clip")
        elif c <= CHUNK:
            per_chunk = CHUNK // c  # ids per gather
            for a in range(u0, u1, per_chunk):
                b = min(a + per_chunk, u1)
                at = first + (a - u0) * c
                block = np.take(rows, src[at : at + (b - a) * c], axis=0, out=scratch[: (b - a) * c], mode="clip")
                np.add.reduce(block.reshape(b - a, c, D), axis=1, out=sums[a:b])  # ((b - a), c, D) -> (b - a, D)
        else:  # ids seen more than CHUNK times (a newline, " the"): each one's rows a chunk at a time
            for u in range(u0, u1):
                at = first + (u - u0) * c  # where id u's c positions begin in src
                for a in range(at, at + c, CHUNK):
                    k = min(CHUNK, at + c - a)
                    block = np.take(rows, src[a : a + k], axis=0, out=scratch[:k], mode="clip")  # (k, D)
                    if a == at:
                        np.add.reduce(block, axis=0, out=sums[u])  # the first chunk's sum
                    else:
                        sums[u] += block.sum(axis=0)  # plus each further chunk's
    return distinct, sums


def scatter_add_buckets(grad: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`row_sums`, then one add per touched row of grad; return the distinct ids, increasing."""
    distinct, sums = row_sums(ids, rows)  # (U,), (U, D)
    grad[distinct] += sums  # distinct ids: fancy-index add is right
    return np.sort(distinct)


STRATEGIES = {  # name -> function(grad, ids, rows), all equal to the loop
    "loop": scatter_add_loop,
    "add_at": scatter_add_at,
    "sorted": scatter_add_sorted,
    "layers": scatter_add_layers,
    "buckets": scatter_add_buckets,
}
