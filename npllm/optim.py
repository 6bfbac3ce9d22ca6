"""Optimizers over plain arrays: a parameter is anything with `.weight` and `.grad`.

`SGD` takes a step against the gradient; `Adam` keeps running means of the gradient and of
its square per weight, with `torch.optim.Adam`'s update and bias corrections. Both update
`.weight` in place and leave the gradient alone; `zero_grad()` clears it (through the
parameter's own `zero_grad` when it has one).

Row-sparse parameters. A parameter with a `sparse_grad()` method (an `Embedding`) says which
rows its gradient is nonzero in: `(rows (U,), values (U, D))`, the rows a batch looked up.
- `SGD` moves only those rows. The other rows would move by lr * 0, so the result is the
  dense step's, bit for bit, for U rows of work instead of V.
- `Adam` (the default) still updates every row, as it must: a row with no gradient this step
  still has momentum, which decays and keeps moving it. That is torch's Adam, exactly.
- `Adam(..., lazy=True)` is torch's `SparseAdam` on those parameters: only the rows present
  in the step's gradient update their moments and weights; every other row stands still,
  momentum and all, and the bias corrections count the steps the parameter had rows in.
  It is a different algorithm (TensorFlow calls it LazyAdam), so it is asked for by name.
  The other parameters (positions, an output head) get Adam, as a torch user pairs
  `SparseAdam(embedding)` with `Adam(the rest)`.

Whole-table passes (SGD on a dense gradient, Adam's decay of every row) go through the table
a block of rows at a time, so no step allocates a temporary the size of a parameter.
What this leaves out: weight decay, AdamW, AMSGrad, momentum for SGD, parameter groups.
"""

from __future__ import annotations

import math

import numpy as np

from npllm._checks import is_real

BLOCK = 2**17  # elements per block of a whole-table pass: 512 KiB of float32, stays in cache


class SGD:
    """w -= lr * grad, like `torch.optim.SGD(params, lr)`."""

    def __init__(self, params, lr: float):
        self.params = _check_params(params)
        self.lr = _check_rate(lr)

    def __repr__(self) -> str:
        return f"SGD(params={len(self.params)}, lr={self.lr})"

    def step(self) -> None:
        lr = _check_rate(self.lr)  # it may have been changed since: checked before anything moves
        grads = [_gradient(i, p) for i, p in enumerate(self.params)]  # all checked before any weight moves
        for p, grad in zip(self.params, grads):
            if isinstance(grad, tuple):
                rows, values = grad  # (U,), (U, D)
                for block in _blocks(values):  # a few hundred rows at a time, in cache
                    p.weight[rows[block]] -= np.multiply(values[block], lr)  # distinct rows; the others move by lr * 0
                continue
            w = p.weight
            for block in _blocks(w):
                w[block] -= np.multiply(grad[block], lr)  # w -= lr * grad, a block of rows at a time

    def zero_grad(self) -> None:
        _zero_grads(self.params)


class Adam:
    """Adam as `torch.optim.Adam(params, lr, betas, eps)`; with lazy=True, torch's `SparseAdam`
    on the row-sparse parameters (embeddings) and Adam on the others (see the module docstring).

    For each weight, at step t (counted per parameter):
        m = beta1 m + (1 - beta1) g                 v = beta2 v + (1 - beta2) g^2
        Adam:       w -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
        SparseAdam: w -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps),
                    on the rows present in this step's gradient only
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        lazy: bool = False,
    ):
        if not isinstance(lazy, (bool, np.bool_)):
            raise TypeError(f"lazy must be True or False, got {lazy!r}")
        self.params = _check_params(params)
        self.lr = _check_rate(lr)
        self.betas = _check_betas(betas)
        self.eps = _check_eps(eps, bool(lazy))
        self.lazy = bool(lazy)
        self.steps = [0] * len(self.params)  # updates each parameter has had: its bias corrections' t
        self.m = [np.zeros_like(p.weight) for p in self.params]  # running mean of the gradient
        self.v = [np.zeros_like(p.weight) for p in self.params]  # running mean of its square

    def __repr__(self) -> str:
        lazy = ", lazy=True" if self.lazy else ""
        return f"Adam(params={len(self.params)}, lr={self.lr}, betas={self.betas}, eps={self.eps}{lazy})"

    def step(self) -> None:
        lr, betas, eps = _check_rate(self.lr), _check_betas(self.betas), _check_eps(self.eps, self.lazy)
        grads = [_gradient(i, p) for i, p in enumerate(self.params)]  # all checked before any weight moves
        for i, (p, grad, m, v) in enumerate(zip(self.params, grads, self.m, self.v)):
            if self.lazy and isinstance(grad, tuple):
                rows, values = grad  # (U,), (U, D)
                if len(rows) == 0:
                    continue  # no row present: nothing moves, and the step does not count
                self.steps[i] += 1
                sparse_adam_rows(p.weight, m, v, rows, values, lr, betas, eps, self.steps[i])
            else:
                self.steps[i] += 1
                adam_dense(p.weight, m, v, grad, lr, betas, eps, self.steps[i])

    def zero_grad(self) -> None:
        _zero_grads(self.params)


# --- the updates ---------------------------------------------------------------------------


def adam_dense(w, m, v, grad, lr: float, betas: tuple, eps: float, t: int) -> None:
    """torch's Adam on every weight, in place, a block of rows at a time. `grad` is a dense
    array, or (rows, values) with every other row's gradient zero."""
    beta1, beta2 = betas
    step_size = lr / (1 - beta1**t)  # torch's order: the bias corrections go on the step and on sqrt(v)
    root_correction = math.sqrt(1 - beta2**t)
    if isinstance(grad, tuple):
        rows, values = grad  # (U,), (U, D)
        order = np.argsort(rows)  # (U,) so each block finds its rows by bisection
        sorted_rows = rows[order]
    for block in _blocks(w):
        mb, vb = m[block], v[block]  # views
        mb *= beta1  # m = beta1 m + (1 - beta1) g, and v alike; for g = 0 this is all
        vb *= beta2
        scratch = np.empty_like(mb)
        if isinstance(grad, tuple):
            lo, hi = np.searchsorted(sorted_rows, [block.start, block.stop])
            if hi > lo:  # the rows of this block that have a gradient
                present, g = sorted_rows[lo:hi], values[order[lo:hi]]  # (k,), (k, D)
                m[present] += (1 - beta1) * g
                gg = g * g
                gg *= 1 - beta2
                v[present] += gg
        else:
            gb = grad[block]
            np.multiply(gb, 1 - beta1, out=scratch)
            mb += scratch
            np.multiply(gb, gb, out=scratch)
            scratch *= 1 - beta2
            vb += scratch
        np.sqrt(vb, out=scratch)  # the denominator, sqrt(v) / sqrt(1 - beta2^t) + eps
        scratch /= root_correction
        scratch += eps
        np.divide(mb, scratch, out=scratch)
        scratch *= step_size
        w[block] -= scratch


def sparse_adam_rows(w, m, v, rows, values, lr: float, betas: tuple, eps: float, t: int) -> None:
    """torch's SparseAdam on the given distinct rows only, in place: (U,) rows, (U, D) values.

    As torch writes it: m += (1 - beta1)(g - m), v += (1 - beta2)(g^2 - v), then
    w -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps). Note where eps goes:
    outside the bias correction, unlike Adam's.
    """
    beta1, beta2 = betas
    step_size = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
    for block in _blocks(values):  # a few hundred rows at a time: gathered, updated, put back
        r, g = rows[block], values[block]  # (k,), (k, D)
        m_old, v_old = m[r], v[r]  # (k, D) gathered
        m_new = g - m_old
        m_new *= 1 - beta1
        m_new += m_old
        v_new = g * g
        v_new -= v_old
        v_new *= 1 - beta2
        v_new += v_old
        m[r], v[r] = m_new, v_new
        denom = np.sqrt(v_new)
        denom += eps
        np.divide(m_new, denom, out=denom)
        denom *= step_size
        w[r] -= denom


def _blocks(a: np.ndarray):
    """Slices of a's first axis, about BLOCK elements each: (V, D) -> slice(0, 170), slice(170, 340), ...
    A 0-d array is one block, Ellipsis."""
    if a.ndim == 0:
        yield Ellipsis
        return
    per_row = max(1, a.size // max(1, len(a)))
    step = max(1, BLOCK // per_row)
    for start in range(0, len(a), step):
        yield slice(start, min(start + step, len(a)))


# --- parameters and settings -------------------------------------------------------------------


def _gradient(i: int, p):
    """A parameter's gradient: (rows, values) for a row-sparse one, else its dense .grad, checked."""
    if hasattr(p, "sparse_grad"):
        rows, values = p.sparse_grad()
        if np.shape(values) != (len(rows),) + np.shape(p.weight)[1:]:
            raise ValueError(
                f"parameter {i}: sparse_grad values {np.shape(values)} do not fit {len(rows)} rows "
                f"of a weight {np.shape(p.weight)}"
            )
        return rows, values
    grad = p.grad
    if np.shape(grad) != np.shape(p.weight):
        raise ValueError(f"parameter {i}: weight {np.shape(p.weight)} and grad {np.shape(grad)} differ in shape")
    return grad


def _zero_grads(params) -> None:
    for p in params:
        if hasattr(p, "zero_grad"):
            p.zero_grad()
        else:
            p.grad.fill(0)


def _check_params(params) -> list:
    """The parameters as a list, each with a floating .weight array and a gradient, none twice."""
    params = list(params)
    if not params:
        raise ValueError("an optimizer needs at least one parameter")
    for i, p in enumerate(params):
        if not hasattr(p, "weight"):
            raise TypeError(f"parameter {i} ({type(p).__name__}) has no .weight and .grad")
        if not (isinstance(p.weight, np.ndarray) and p.weight.dtype.kind == "f"):
            raise TypeError(
                f"parameter {i}: .weight must be a floating point NumPy array, "
                f"got {type(p.weight).__name__} {getattr(p.weight, 'dtype', '')}".rstrip()
            )
        if hasattr(p, "sparse_grad"):
            continue  # row-sparse (an Embedding): reading its .grad would give up knowing its rows
        if not hasattr(p, "grad"):
            raise TypeError(f"parameter {i} ({type(p).__name__}) has no .weight and .grad")
        if np.shape(p.weight) != np.shape(p.grad):
            raise ValueError(f"parameter {i}: weight {np.shape(p.weight)} and grad {np.shape(p.grad)} differ in shape")
    for i, p in enumerate(params):
        for j, q in enumerate(params[:i]):
            if p is q:
                raise ValueError(
                    f"parameter {i} is parameter {j} again: list each parameter once, "
                    f"or every step would update it twice"
                )
            if np.shares_memory(p.weight, q.weight):
                raise ValueError(
                    f"parameters {j} and {i} share their weights' memory: list each weight once, "
                    f"or every step would update it twice"
                )
    return params


def _check_rate(lr) -> float:
    if not (is_real(lr) and 0 <= lr < math.inf):
        raise ValueError(f"lr must be a finite number, 0 or more, got {lr!r}")
    return float(lr)


def _check_betas(betas) -> tuple[float, float]:
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    for beta in (beta1, beta2):
        if not (is_real(beta) and 0 <= beta < 1):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    return float(beta1), float(beta2)


def _check_eps(eps, lazy: bool) -> float:
    if not (is_real(eps) and 0 <= eps < math.inf):
        raise ValueError(f"eps must be a finite number, 0 or more, got {eps!r}")
    if lazy and eps == 0:
        raise ValueError(
            "eps must be above 0 with lazy=True (as torch's SparseAdam): a present row whose "
            "gradient and moments are all 0 would divide 0 by 0"
        )
    return float(eps)
