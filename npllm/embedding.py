"""Step 4: token and positional embeddings, forward and hand-written backward.

An embedding is a table lookup: row `ids[i]` of a (V, D) table. Its gradient is the
reverse, a scatter-add: the gradient of output row i goes back into table row `ids[i]`,
and a token that occurs twice gets both. (The course shows the lookup equals
`one_hot(ids) @ W`, so the gradient is `one_hot(ids).T @ grad_out`; a scatter-add computes
that product without building the (N, V) one-hot.) How the scatter-add is done fast is in
`scatter.py`.

Only the rows a batch touches get a gradient, so `backward` remembers them and
`zero_grad` clears just those rows, not the whole (V, D) table (154 MB for GPT-2 small).
What this leaves out: everything after the embeddings (attention, layers, the output head).
"""

from __future__ import annotations

import numpy as np

from npllm.scatter import scatter_add_layers


class Embedding:
    """A (V, D) table of learned vectors, one per token ID; like `torch.nn.Embedding`.

    >>> emb = Embedding(4, 5, seed=0)
    >>> emb(np.array([2, 3, 1])).shape
    (3, 5)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, seed=None, dtype=np.float32):
        _check_size("num_embeddings", num_embeddings)
        _check_size("embedding_dim", embedding_dim)
        rng = np.random.default_rng(seed)
        self.weight = _normal(rng, (num_embeddings, embedding_dim), dtype)  # (V, D) ~ N(0, 1), as nn.Embedding
        self.grad = np.zeros_like(self.weight)  # (V, D)
        self._ids = None  # (...) the IDs of the last forward, for backward
        self._touched = []  # ID arrays added into `grad` since the last zero_grad

    def __repr__(self) -> str:
        return f"Embedding(V={self.weight.shape[0]}, D={self.weight.shape[1]})"

    def forward(self, ids) -> np.ndarray:  # (...) int -> (..., D)
        ids = check_ids(ids, self.weight.shape[0])
        self._ids = ids
        return np.take(self.weight, ids, axis=0)  # (..., D)

    __call__ = forward

    def backward(self, grad_out) -> None:  # (..., D) -> adds into self.grad (V, D)
        if self._ids is None:
            raise RuntimeError("backward() needs a forward() first: it sends the gradient back to the IDs forward saw")
        rows = _check_grad_out(grad_out, self._ids.shape + (self.weight.shape[1],), self.weight.dtype)
        flat_ids = self._ids.reshape(-1)  # (N,)
        distinct = scatter_add_layers(self.grad, flat_ids, rows.reshape(-1, self.weight.shape[1]))  # (N, D) into (V, D)
        self._touched.append(distinct)

    def zero_grad(self, all_rows: bool = False) -> None:
        """Clear the gradient. Only backward writes it, so clearing the rows backward touched
        is enough and skips the rest of the table; if you add into `.grad` yourself (weight
        tying, weight decay), pass all_rows=True."""
        if all_rows:
            self.grad.fill(0)
        else:
            self.grad[self.touched_rows()] = 0
        self._touched = []

    def touched_rows(self) -> np.ndarray:
        """The distinct rows backward has written since the last zero_grad, in increasing order."""
        if len(self._touched) == 1:
            return self._touched[0].copy()  # one backward: already distinct and sorted
        if not self._touched:
            return np.zeros(0, dtype=np.int64)
        return np.unique(np.concatenate(self._touched))


class PositionalEmbedding:
    """GPT-2's learned absolute positions: a (context_length, D) table, row t for position t."""

    def __init__(self, context_length: int, embedding_dim: int, *, seed=None, dtype=np.float32):
        _check_size("context_length", context_length)
        _check_size("embedding_dim", embedding_dim)
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
        if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)):
            raise TypeError(f"seq_len must be an int, got {type(seq_len).__name__}")
        context = self.weight.shape[0]
        if not 1 <= seq_len <= context:
            raise ValueError(f"asked for {seq_len} positions, but the context length is {context}: use at most {context} tokens per row")

    def backward(self, grad_out) -> None:  # (..., T, D) -> adds into self.grad[:T]
        if self._length is None:
            raise RuntimeError("backward() needs a forward() first")
        grad_out = np.asarray(grad_out)
        T, D = self._length, self.weight.shape[1]
        if grad_out.ndim < 2 or grad_out.shape[-2:] != (T, D):
            raise ValueError(f"grad_out must have shape (..., {T}, {D}), got {grad_out.shape}")
        batch_axes = tuple(range(grad_out.ndim - 2))
        self.grad[:T] += grad_out.sum(axis=batch_axes, dtype=self.grad.dtype)  # (T, D): every row used position t

    def zero_grad(self) -> None:
        self.grad.fill(0)


class GPTEmbedding:
    """Token + position, the input of GPT-2: (B, T) IDs -> (B, T, D) vectors."""

    def __init__(self, vocab_size: int, context_length: int, embedding_dim: int, *, seed=None, dtype=np.float32):
        token_rng, position_rng = np.random.default_rng(seed).spawn(2)  # seed: an int, None or a Generator
        self.token = Embedding(vocab_size, embedding_dim, seed=token_rng, dtype=dtype)
        self.position = PositionalEmbedding(context_length, embedding_dim, seed=position_rng, dtype=dtype)

    def __repr__(self) -> str:
        V, D = self.token.weight.shape
        return f"GPTEmbedding(V={V}, context_length={self.position.weight.shape[0]}, D={D})"

    def forward(self, ids) -> np.ndarray:  # (B, T) int -> (B, T, D)
        ids = check_ids(ids, self.token.weight.shape[0])
        if ids.ndim < 1:
            raise ValueError("ids must have a time axis: shape (T,) or (B, T)")
        T = ids.shape[-1]
        self.position.check_length(T)  # both checks before either table changes
        self.token._ids = ids  # what token.forward would remember, for backward
        positions = self.position.forward(T)  # (T, D)
        out = np.empty(ids.shape + positions.shape[1:], dtype=self.token.weight.dtype)  # (B, T, D)
        for row_ids, row_out in zip(ids.reshape(-1, T), out.reshape(-1, T, positions.shape[1])):  # (T,), (T, D)
            # One row of the batch at a time, so its (T, D) tokens are still in cache when the
            # positions are added. The IDs are checked; mode="clip" skips NumPy's buffered copy.
            np.take(self.token.weight, row_ids, axis=0, out=row_out, mode="clip")  # (T, D)
            row_out += positions  # token + position
        return out

    __call__ = forward

    def backward(self, grad_out) -> None:  # (B, T, D) -> both tables' .grad
        self.token.backward(grad_out)  # scatter-add into the token rows
        self.position.backward(grad_out)  # sum over the batch into the position rows

    def zero_grad(self) -> None:
        self.token.zero_grad()
        self.position.zero_grad()

    def parameters(self) -> list:
        return [self.token, self.position]


def check_ids(ids, num_embeddings: int) -> np.ndarray:
    """An integer array of IDs in [0, V), or a clear error before anything changes."""
    ids = np.asarray(ids)
    if ids.size == 0 and ids.dtype.kind == "f":
        ids = ids.astype(np.int64)  # np.asarray([]) is float64; an empty list of IDs is fine
    if ids.dtype.kind not in "iu":
        raise TypeError(f"token IDs must be integers, got dtype {ids.dtype}")
    if ids.size:
        bad = (ids < 0) | (ids >= num_embeddings)
        if bad.any():
            first = ids.reshape(-1)[np.argmax(bad.reshape(-1))]
            raise IndexError(f"token id {int(first)} is out of range for an embedding of {num_embeddings} rows")
    return ids.copy()  # the caller may change its array before backward


def _check_grad_out(grad_out, shape: tuple, dtype) -> np.ndarray:
    grad_out = np.asarray(grad_out)
    if grad_out.shape != shape:
        raise ValueError(f"grad_out must have the forward output's shape {shape}, got {grad_out.shape}")
    if grad_out.dtype.kind != "f":
        raise TypeError(f"grad_out must be floating point, got dtype {grad_out.dtype}")
    return grad_out.astype(dtype, copy=False)


def _check_size(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")


def _normal(rng: np.random.Generator, shape: tuple, dtype) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating point type, got {dtype}")
    if dtype in (np.float32, np.float64):
        return rng.standard_normal(shape, dtype=dtype)
    return rng.standard_normal(shape).astype(dtype)
