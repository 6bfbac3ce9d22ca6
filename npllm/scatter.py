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
  one id at a time, so the number of layers stays small. The fastest here
  (benchmarks/bench_embedding.py); `Embedding` uses it, and keeps the distinct ids it
  returns so that `zero_grad` clears only those rows.

All take the same arguments and add in place.
"""

from __future__ import annotations

import numpy as np

LAYERS = 8  # occurrences handled by layers; ids seen more often are summed one by one


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
    if layers < 1:
        raise ValueError(f"layers must be at least 1 (layer 0 is the first occurrences), got {layers}")
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
        in_layer = by_layer[bounds[k]:bounds[k + 1]]  # sorted positions of all k-th occurrences
        if len(in_layer) == 0:
            break
        sums[run_of[in_layer]] += rows[order[in_layer]]  # each id at most once per layer: fancy add is right

    run_ends = np.r_[run_starts[1:], n]  # (U,)
    for u in np.flatnonzero(run_ends - run_starts > layers).tolist():  # ids seen more than `layers` times
        rest = order[run_starts[u] + layers:run_ends[u]]  # their positions after the first `layers`
        sums[u] += rows[rest].sum(axis=0)  # one sum per frequent id (newlines, " the")

    distinct = sorted_ids[run_starts]  # (U,)
    grad[distinct] += sums  # distinct ids: one add per touched row of grad
    return distinct


STRATEGIES = {  # name -> function(grad, ids, rows), all equal to the loop
    "loop": scatter_add_loop,
    "add_at": scatter_add_at,
    "sorted": scatter_add_sorted,
    "layers": scatter_add_layers,
}
