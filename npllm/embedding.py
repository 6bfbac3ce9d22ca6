"""Step 4: token and positional embeddings, forward and hand-written backward.

An embedding is a table lookup: row `ids[i]` of a (V, D) table. Its gradient is the
reverse, a scatter-add: the gradient of output row i goes back into table row `ids[i]`,
and a token that occurs twice gets both. (The course shows the lookup equals
`one_hot(ids) @ W`, so the gradient is `one_hot(ids).T @ grad_out`; a scatter-add computes
that product without building the (N, V) one-hot.) How the scatter-add is done fast is in
`scatter.py`.

Only the rows a batch touches get a gradient (a few thousand of GPT-2's 50,257), so
`Embedding` keeps the distinct rows its backward wrote, `zero_grad` clears just those rows,
and the optimizers (`optim.py`) visit just those rows, through `sparse_grad()`, instead of
the whole (V, D) table (154 MB for GPT-2 small). With `sparse=True`, as torch's
`nn.Embedding(sparse=True)`, it goes one step further and never writes a (V, D) gradient at
all: backward keeps the rows and their sums, and `.grad` is assembled only for a reader.
What this leaves out: everything after the embeddings (attention, layers, the output head).
"""

from __future__ import annotations

import numpy as np

from npllm._checks import check_ids, check_int
from npllm.scatter import row_sums, scatter_add_buckets

BLOCK = 2**17  # elements per block when a whole (V, D) table is scanned: no (V, D) temporary


class Embedding:
    """A (V, D) table of learned vectors, one per token ID; like `torch.nn.Embedding`.

    Its gradient is row-sparse: zero outside the rows a batch looked up, and `sparse_grad()`
    gives it as those rows and their values, which is what the optimizers use. Two modes:

    - `sparse=False` (the default): `.grad` is a (V, D) array that backward adds into, as
      torch's dense gradient, and yours to read and write (weight tying, weight decay). Once
      you have read it, the embedding can no longer vouch that only the batches' rows are
      nonzero, so from then on `sparse_grad()` also looks for nonzero rows (one pass over the
      table) and `zero_grad()` clears the whole table. Same results, dense-table speed.
    - `sparse=True`: backward keeps the distinct rows and their sums, (U,) and (U, D), and
      writes nothing of size (V, D). `.grad` still reads as the dense gradient: it is
      assembled when read, and read-only (add to a gradient through backward).

    >>> emb = Embedding(4, 5, seed=0)
    >>> emb(np.array([2, 3, 1])).shape
    (3, 5)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, seed=None, dtype=np.float32, sparse: bool = False):
        check_int("num_embeddings", num_embeddings, 1)
        check_int("embedding_dim", embedding_dim, 1)
        if not isinstance(sparse, (bool, np.bool_)):
            raise TypeError(f"sparse must be True or False, got {sparse!r}")
        rng = np.random.default_rng(seed)
        self.weight = _normal(rng, (num_embeddings, embedding_dim), dtype)  # (V, D) ~ N(0, 1), as nn.Embedding
        self.sparse = bool(sparse)
        self._ids = None  # (...) the IDs of the last forward, for backward
        # sparse=False: the (V, D) gradient, the distinct rows each backward added into it since
        # the last zero_grad, and whether .grad has been handed out (then any row may be nonzero).
        self._grad = None if self.sparse else np.zeros_like(self.weight)  # (V, D)
        self._touched = []  # (U,) int arrays, one per backward
        self._handed_out = False
        # sparse=True: (rows (U,), sums (U, D)) per backward since the last zero_grad, and the
        # (V, D) table .grad is assembled into for a reader (made on the first read).
        self._pending = []
        self._assembled = None  # (V, D)
        self._assembled_rows = np.zeros(0, dtype=np.int64)  # the rows of _assembled that hold a gradient
        self._assembled_current = True

    def __repr__(self) -> str:
        sparse = ", sparse=True" if self.sparse else ""
        return f"Embedding(V={self.weight.shape[0]}, D={self.weight.shape[1]}{sparse})"

    def forward(self, ids) -> np.ndarray:  # (...) int -> (..., D)
        ids = check_token_ids(ids, self.weight.shape[0])
        self._ids = ids
        return np.take(self.weight, ids, axis=0)  # (..., D)

    __call__ = forward

    def save_for_backward(self, ids: np.ndarray) -> None:  # (...) int
        """Remember `ids` for backward, as forward does, without gathering their rows: for a
        caller that gathers them itself (GPTEmbedding adds the positions in the same pass).
        `ids` must come from `check_token_ids(ids, V)`: a checked copy the caller will not change."""
        self._ids = ids

    @property
    def saved_ids(self) -> np.ndarray | None:  # (...) int
        """The IDs of the last forward (or save_for_backward), which backward sends the gradient
        to; None before the first."""
        return self._ids

    def backward(self, grad_out) -> None:  # (..., D) -> adds into the gradient, (V, D) or its rows
        if self._ids is None:
            raise RuntimeError("backward() needs a forward() first: it sends the gradient back to the IDs forward saw")
        D = self.weight.shape[1]
        rows = check_grad_out(grad_out, self._ids.shape + (D,), self.weight.dtype)
        flat_ids = self._ids.reshape(-1)  # (N,)
        if self.sparse:
            # not grad[ids] += rows (a repeated id must add twice): one sum per distinct id
            self._pending.append(row_sums(flat_ids, rows.reshape(-1, D)))  # (U,), (U, D)
            self._assembled_current = False
        else:
            self._touched.append(scatter_add_buckets(self._grad, flat_ids, rows.reshape(-1, D)))  # (N, D) into (V, D)

    @property
    def grad(self) -> np.ndarray:  # (V, D)
        """The gradient as a dense (V, D) array. sparse=False: the array itself (reading it hands
        it out: see the class docstring); sparse=True: assembled from the kept rows, read-only."""
        if not self.sparse:
            self._handed_out = True  # for good: whoever holds it may write into it at any time
            return self._grad
        if self._assembled is None:
            self._assembled = np.zeros_like(self.weight)  # (V, D), once, for readers only
        if not self._assembled_current:
            self._assembled[self._assembled_rows] = 0
            rows, values = self._merged()  # (U,), (U, D)
            self._assembled[rows] = values
            self._assembled_rows = rows
            self._assembled_current = True
        view = self._assembled.view()  # (V, D)
        view.flags.writeable = False
        return view

    def sparse_grad(self) -> tuple[np.ndarray, np.ndarray]:  # -> (U,) rows, (U, D) values
        """The gradient as distinct rows and their values: `.grad` is zero outside `rows` and
        equals `values` at them. The rows come in no particular order; both arrays are read-only.
        The optimizers use this, so a step visits U rows, not V."""
        if self.sparse:
            rows, values = self._merged()
        else:
            rows = self.touched_rows()  # (U,)
            if self._handed_out:  # .grad was handed out: any row may hold something
                rows = np.union1d(rows, nonzero_rows(self._grad))
            values = self._grad[rows]  # (U, D), a copy
        return _read_only(rows), _read_only(values)

    def zero_grad(self, all_rows: bool = False) -> None:
        """Clear the gradient: just the rows backward touched, unless `.grad` has been handed
        out (then any row may hold something, and the whole table is cleared) or all_rows=True."""
        if self.sparse:
            self._pending = []
            if self._assembled is not None:
                self._assembled[self._assembled_rows] = 0  # the only rows it ever holds
            self._assembled_rows = np.zeros(0, dtype=np.int64)
            self._assembled_current = True
            return
        if all_rows or self._handed_out:
            self._grad.fill(0)
        else:
            self._grad[self.touched_rows()] = 0
        self._touched = []

    def touched_rows(self) -> np.ndarray:
        """The distinct rows backward has written since the last zero_grad, in increasing order."""
        if self.sparse:
            return np.sort(self._merged()[0])
        if len(self._touched) == 1:
            return self._touched[0].copy()  # one backward: already distinct and sorted
        if not self._touched:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(self._touched))

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:  # sparse=True: -> (U,) rows, (U, D) sums
        """The kept (rows, sums) of every backward since zero_grad, as one pair: a row that
        several backwards touched gets their sums added in backward order, as a dense .grad would."""
        if not self._pending:
            return np.zeros(0, dtype=np.int64), np.zeros((0, self.weight.shape[1]), dtype=self.weight.dtype)
        if len(self._pending) > 1:
            rows = np.concatenate([rows for rows, _ in self._pending])  # (sum of U,)
            sums = np.concatenate([sums for _, sums in self._pending])  # (sum of U, D)
            self._pending = [row_sums(rows, sums)]  # stable: backward order kept within each row
        return self._pending[0]


class PositionalEmbedding:
    """GPT-2's learned absolute positions: a (context_length, D) table, row t for position t."""

    def __init__(self, context_length: int, embedding_dim: int, *, seed=None, dtype=np.float32):
        check_int("context_length", context_length, 1)
        check_int("embedding_dim", embedding_dim, 1)
        rng = np.random.default_rng(seed)
        self.weight = _normal(rng, (context_length, embedding_dim), dtype)  # (C, D)
        self.grad = np.zeros_like(self.weight)  # (C, D)
        self._length = None  # T of the last forward

    def __repr__(self) -> str:
        return f"PositionalEmbedding(context_length={self.weight.shape[0]}, D={self.weight.shape[1]})"

    def forward(self, seq_len: int) -> np.ndarray:  # T -> (T, D)
        self.check_length(seq_len)
        self._length = int(seq_len)
        positions = self.weight[:seq_len].view()  # (T, D)
        positions.flags.writeable = False
        return positions

    __call__ = forward

    def check_length(self, seq_len) -> None:
        seq_len = check_int("seq_len", seq_len)
        context = self.weight.shape[0]
        if not 1 <= seq_len <= context:
            raise ValueError(
                f"asked for {seq_len} positions, but the context length is {context}: "
                f"use at most {context} tokens per row"
            )

    def backward(self, grad_out) -> None:  # (..., T, D) -> adds into self.grad[:T]
        if self._length is None:
            raise RuntimeError("backward() needs a forward() first")
        grad_out = np.asarray(grad_out)
        T, D = self._length, self.weight.shape[1]
        if grad_out.ndim < 2 or grad_out.shape[-2:] != (T, D):
            raise ValueError(f"grad_out must have shape (..., {T}, {D}), got {grad_out.shape}")
        for slab in grad_out.reshape(-1, T, D):  # (T, D) per row of the batch: every row used position t
            self.grad[:T] += slab  # added slab by slab, the (T, D) sum stays in cache

    def zero_grad(self) -> None:
        self.grad.fill(0)


class GPTEmbedding:
    """Token + position, the input of GPT-2: (B, T) IDs -> (B, T, D) vectors.

    `sparse` is the token table's mode (see `Embedding`); the position table's gradient is
    dense (every row up to T gets one), as with torch's `nn.Embedding` for positions.
    """

    def __init__(
        self,
        vocab_size: int,
        context_length: int,
        embedding_dim: int,
        *,
        seed=None,
        dtype=np.float32,
        sparse: bool = False,
    ):
        token_rng, position_rng = np.random.default_rng(seed).spawn(2)  # seed: an int, None or a Generator
        self.token = Embedding(vocab_size, embedding_dim, seed=token_rng, dtype=dtype, sparse=sparse)
        self.position = PositionalEmbedding(context_length, embedding_dim, seed=position_rng, dtype=dtype)

    def __repr__(self) -> str:
        V, D = self.token.weight.shape
        sparse = ", sparse=True" if self.token.sparse else ""
        return f"GPTEmbedding(V={V}, context_length={self.position.weight.shape[0]}, D={D}{sparse})"

    def forward(self, ids) -> np.ndarray:  # (B, T) int -> (B, T, D)
        ids = check_token_ids(ids, self.token.weight.shape[0])
        if ids.ndim < 1:
            raise ValueError("ids must have a time axis: shape (T,) or (B, T)")
        T = ids.shape[-1]
        self.position.check_length(T)  # both checks before either table changes
        self.token.save_for_backward(ids)  # what token.forward would remember, for backward
        positions = self.position.forward(T)  # (T, D)
        D = positions.shape[1]
        out = np.empty(ids.shape + (D,), dtype=self.token.weight.dtype)  # (B, T, D)
        per_chunk = max(1, 2 * BLOCK // D)  # tokens per chunk: 341 for D = 768, 1 MiB of float32
        scratch = np.empty((min(per_chunk, T), D), dtype=out.dtype)  # (chunk, D), stays in cache
        for row_ids, row_out in zip(ids.reshape(-1, T), out.reshape(-1, T, D)):  # (T,), (T, D)
            for a in range(0, T, per_chunk):
                # A chunk of tokens into a small buffer, then token + position written once into
                # out. The IDs are checked; mode="clip" skips NumPy's buffered copy.
                b = min(a + per_chunk, T)
                tokens = np.take(self.token.weight, row_ids[a:b], axis=0, out=scratch[: b - a], mode="clip")
                np.add(tokens, positions[a:b], out=row_out[a:b])  # (chunk, D)
        return out

    __call__ = forward

    def backward(self, grad_out) -> None:  # (B, T, D) -> both tables' .grad
        if self.token.saved_ids is None:
            raise RuntimeError("backward() needs a forward() first: it sends the gradient back to the IDs forward saw")
        D = self.token.weight.shape[1]
        # checked once, before either table changes
        grad_out = check_grad_out(grad_out, self.token.saved_ids.shape + (D,), self.token.weight.dtype)
        self.position.backward(grad_out)  # sum over the batch into the position rows
        self.token.backward(grad_out)  # one sum per distinct token; after the positions, grad_out is partly in cache

    def zero_grad(self) -> None:
        self.token.zero_grad()
        self.position.zero_grad()

    def parameters(self) -> list:
        return [self.token, self.position]


def check_token_ids(ids, num_embeddings: int) -> np.ndarray:
    """A checked copy of `ids` (integers in [0, V)), or a clear error before anything changes."""
    return check_ids(ids, num_embeddings, of=f"an embedding of {num_embeddings} rows")


def nonzero_rows(table: np.ndarray) -> np.ndarray:  # (V, D) -> (K,)
    """The rows with any nonzero entry (NaN counts), increasing; the table is read in blocks of
    rows, so no (V, D) temporary. [[0, 0], [0, 2], [0, 0], [1, 0]] -> [1, 3]"""
    per_block = max(1, BLOCK // max(1, table.shape[1]))
    found = [np.flatnonzero(table[a : a + per_block].any(axis=1)) + a for a in range(0, len(table), per_block)]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _read_only(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


def check_grad_out(grad_out, shape: tuple, dtype) -> np.ndarray:
    """grad_out as an array of the forward output's shape and the layer's dtype, or a clear
    error before anything changes (shared with model.py's layers)."""
    grad_out = np.asarray(grad_out)
    if grad_out.shape != shape:
        raise ValueError(f"grad_out must have the forward output's shape {shape}, got {grad_out.shape}")
    if grad_out.dtype.kind != "f":
        raise TypeError(f"grad_out must be floating point, got dtype {grad_out.dtype}")
    return grad_out.astype(dtype, copy=False)


def _normal(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating point type, got {dtype}")
    if dtype in (np.float32, np.float64):
        return rng.standard_normal(shape, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)
