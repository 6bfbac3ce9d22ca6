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
  ids are unique, so a plain `grad[ids_k] += rows_k` is right. Ids that occur more than a
  few times (newlines, " the") are summed one id at a time instead, so the number of layers
  stays small. The fastest here (benchmarks/bench_embedding.py); `Embedding` uses it.

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


def scatter_add_layers(grad: np.ndarray, ids: np.ndarray, rows: np.ndarray, layers: int = LAYERS) -> None:
    if len(ids) == 0:
        return
    order = np.argsort(ids, kind="stable")  # (N,) positions grouped by id
    sorted_ids = ids[order]
    is_first = np.r_[True, sorted_ids[1:] != sorted_ids[:-1]]  # (N,)
    run_starts = np.flatnonzero(is_first)  # (U,)
    run_ends = np.r_[run_starts[1:], len(ids)]
    run_of = np.cumsum(is_first) - 1  # (N,) which run each sorted position is in
    occurrence = np.arange(len(ids)) - run_starts[run_of]  # (N,) 0 for a first occurrence, 1 ...
    counts = run_ends - run_starts  # (U,)
    rare = counts[run_of] <= layers  # (N,) positions of ids seen at most `layers` times
    rare_positions, rare_occurrence = order[rare], occurrence[rare]
    for k in range(layers):
        layer = rare_positions[rare_occurrence == k]  # each id at most once in here
        if len(layer) == 0:
            break
        grad[ids[layer]] += rows[layer]
    for start, end in zip(run_starts[counts > layers].tolist(), run_ends[counts > layers].tolist()):
        grad[sorted_ids[start]] += rows[order[start:end]].sum(axis=0)  # a frequent id: one sum


STRATEGIES = {  # name -> function(grad, ids, rows), all equal to the loop
    "loop": scatter_add_loop,
    "add_at": scatter_add_at,
    "sorted": scatter_add_sorted,
    "layers": scatter_add_layers,
}
