"""Optimizers over plain arrays: a parameter is anything with `.weight` and `.grad`.

`SGD` takes a step against the gradient; `Adam` keeps running means of the gradient and of
its square per weight (Kingma & Ba, with PyTorch's defaults). Both update `.weight` in
place and leave `.grad` alone; `zero_grad()` clears it (through the parameter's own
`zero_grad` when it has one, which for an `Embedding` clears only the rows its backward
touched).
"""

from __future__ import annotations

import numbers

import numpy as np


class SGD:
    def __init__(self, params, lr: float):
        self.params = _check_params(params)
        self.lr = _check_rate(lr)

    def __repr__(self) -> str:
        return f"SGD(params={len(self.params)}, lr={self.lr})"

    def step(self) -> None:
        for p in self.params:
            p.weight -= self.lr * p.grad

    def zero_grad(self) -> None:
        _zero_grads(self.params)


class Adam:
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.params = _check_params(params)
        self.lr = _check_rate(lr)
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if eps < 0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.betas, self.eps = (float(beta1), float(beta2)), float(eps)
        self.t = 0  # steps taken
        self.m = [np.zeros_like(p.weight) for p in self.params]  # running mean of the gradient
        self.v = [np.zeros_like(p.weight) for p in self.params]  # running mean of its square

    def __repr__(self) -> str:
        return f"Adam(params={len(self.params)}, lr={self.lr}, betas={self.betas}, eps={self.eps})"

    def step(self) -> None:
        beta1, beta2 = self.betas
        self.t += 1
        step_size = self.lr / (1 - beta1**self.t)  # bias corrections, as in the paper
        root_correction = np.sqrt(1 - beta2**self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p.weight -= step_size * m / (np.sqrt(v) / root_correction + self.eps)

    def zero_grad(self) -> None:
        _zero_grads(self.params)


def _zero_grads(params) -> None:
    for p in params:
        if hasattr(p, "zero_grad"):
            p.zero_grad()
        else:
            p.grad.fill(0)


def _check_params(params) -> list:
    params = list(params)
    if not params:
        raise ValueError("an optimizer needs at least one parameter")
    for i, p in enumerate(params):
        if not (hasattr(p, "weight") and hasattr(p, "grad")):
            raise TypeError(f"parameter {i} ({type(p).__name__}) has no .weight and .grad")
        if np.shape(p.weight) != np.shape(p.grad):
            raise ValueError(f"parameter {i}: weight {np.shape(p.weight)} and grad {np.shape(p.grad)} differ in shape")
    return params


def _check_rate(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    return float(lr)
