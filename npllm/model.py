"""Step 5: the smallest language model that learns: embeddings, a linear head, cross-entropy.

`TinyLM` is GPT-2 with every block taken out: token + position embeddings (`embedding.py`),
then the output head, a `Linear(D, V)` with no bias as in GPT-2, gives one score (logit) per
vocabulary entry for the next token, and `CrossEntropyLoss` scores those logits against the
token that really came next. Each part has a forward and a hand-written backward beside it.

With no attention, each position sees only its own token and its own position, never the
tokens before it, so all the model can learn is which token tends to follow which: bigram
statistics (plus a little per position). What this leaves out is everything that lets a
position look back: attention, the MLP blocks, layer norms, dropout, weight tying.
"""

from __future__ import annotations

import math

import numpy as np

from npllm._checks import check_ids, check_int, is_real
from npllm.embedding import GPTEmbedding, check_grad_out, check_token_ids


class Linear:
    """y = x @ W.T with W of shape (out, in), torch's layout; no bias (GPT-2's head has none).

    >>> head = Linear(4, 10, seed=0)
    >>> head(np.zeros((2, 3, 4), dtype=np.float32)).shape
    (2, 3, 10)
    """

    def __init__(self, in_features: int, out_features: int, *, seed=None, dtype=np.float32):
        check_int("in_features", in_features, 1)
        check_int("out_features", out_features, 1)
        dtype = _float_dtype(dtype)
        rng = np.random.default_rng(seed)
        bound = 1 / math.sqrt(in_features)  # torch's nn.Linear: U(-1/sqrt(in), 1/sqrt(in))
        self.weight = rng.uniform(-bound, bound, (out_features, in_features)).astype(dtype)  # (V, D)
        self.grad = np.zeros_like(self.weight)  # (V, D)
        self._x = None  # (..., D) the input of the last forward, for backward

    def __repr__(self) -> str:
        out_features, in_features = self.weight.shape
        return f"Linear(in_features={in_features}, out_features={out_features}, bias=False)"

    def forward(self, x) -> np.ndarray:  # (..., D) float -> (..., V)
        x = np.asarray(x)
        if x.dtype.kind != "f":
            raise TypeError(f"Linear input must be floating point, got dtype {x.dtype}")
        V, D = self.weight.shape
        if x.ndim < 1 or x.shape[-1] != D:
            raise ValueError(f"Linear expects input of shape (..., {D}), got {x.shape}")
        self._x = x.astype(self.weight.dtype)  # a copy: the caller may change x before backward
        out = self._x.reshape(-1, D) @ self.weight.T  # (N, D) @ (D, V) -> (N, V)
        return out.reshape(x.shape[:-1] + (V,))  # (..., V)

    __call__ = forward

    def backward(self, grad_out) -> np.ndarray:  # (..., V) -> (..., D); adds into self.grad (V, D)
        # y[n, v] = sum_d x[n, d] W[v, d], so dL/dW[v, d] = sum_n g[n, v] x[n, d]: one matmul
        # that also sums over every position n, and dL/dx[n, d] = sum_v g[n, v] W[v, d].
        # The weight gradient is added, not assigned, as in torch: it accumulates until zero_grad.
        if self._x is None:
            raise RuntimeError("backward() needs a forward() first: the weight gradient uses the input forward saw")
        V, D = self.weight.shape
        g = check_grad_out(grad_out, self._x.shape[:-1] + (V,), self.weight.dtype)
        g2d = g.reshape(-1, V)  # (N, V)
        self.grad += g2d.T @ self._x.reshape(-1, D)  # (V, N) @ (N, D) -> (V, D)
        return (g2d @ self.weight).reshape(self._x.shape)  # (N, V) @ (V, D) -> (..., D)

    def zero_grad(self) -> None:
        self.grad.fill(0)


class CrossEntropyLoss:
    """The mean over all positions of -log softmax(logits)[target]; torch's
    `F.cross_entropy(logits.flatten(0, 1), targets.flatten())`.

    >>> loss = CrossEntropyLoss()
    >>> round(loss(np.zeros((2, 3, 4)), np.array([[0, 1, 2], [3, 3, 3]])), 6)  # uniform: ln 4
    1.386294
    """

    def __init__(self):
        self._probs = None  # (N, V) softmax of the last forward's logits, for backward
        self._targets = None  # (N,)
        self._shape = None  # the logits' shape (..., V)

    def __repr__(self) -> str:
        return "CrossEntropyLoss(reduction='mean')"

    def forward(self, logits, targets) -> float:  # (..., V) float, (...) int -> scalar
        logits = np.asarray(logits)
        if logits.dtype.kind != "f":
            raise TypeError(f"logits must be floating point, got dtype {logits.dtype}")
        if logits.ndim < 1:
            raise ValueError("logits must have a class axis: shape (..., V)")
        targets = check_targets(targets, logits.shape[:-1], logits.shape[-1])
        V = logits.shape[-1]
        z = logits.reshape(-1, V)  # (N, V)
        t = targets.reshape(-1)  # (N,)
        rows = np.arange(len(t))
        probs = z - z.max(axis=1, keepdims=True)  # (N, V) each row's largest logit is now 0: exp cannot overflow
        picked = probs[rows, t]  # (N,) the targets' shifted logits
        np.exp(probs, out=probs)  # in place: each row holds a 1, so its sum is >= 1 and its log finite
        total = probs.sum(axis=1)  # (N,)
        log_probs = picked - np.log(total)  # (N,) log softmax at the targets only
        probs /= total[:, None]  # (N, V) softmax, kept for backward
        self._probs, self._targets, self._shape = probs, t, logits.shape
        return float(-np.mean(log_probs, dtype=np.float64))

    __call__ = forward

    def backward(self) -> np.ndarray:  # -> (..., V), the gradient of the mean loss
        # d(-log p[t]) / dz = p - one_hot(t) for each row, and the mean divides by N. The
        # one-hot is never built: subtract 1/N at each row's target instead of an (N, V) array.
        if self._probs is None:
            raise RuntimeError("backward() needs a forward() first: the gradient is the softmax forward computed")
        N = len(self._targets)
        grad = self._probs / N  # (N, V), a new array: a second backward gives the same answer
        grad[np.arange(N), self._targets] -= 1 / N
        return grad.reshape(self._shape)  # (..., V)


class TinyLM:
    """Embeddings + a linear head: (B, T) IDs -> (B, T, V) logits for the next token.

    The three tables start as GPT-2 starts them, N(0, 0.02) (nanoGPT's `_init_weights`), so
    the untrained logits are all near 0, every token is about equally likely, and the first
    loss is about ln V, the loss of a uniform guess.

    The token table is `Embedding(sparse=True)` unless you pass sparse=False: its backward keeps
    just the rows the batch used, which is the fastest way through every optimizer, with the
    same results (its `.grad` reads as the dense gradient, read-only). sparse=False gives the
    writable dense `.grad` of a plain `Embedding`, for writing into it yourself.

    >>> model = TinyLM(vocab_size=10, context_length=4, embedding_dim=3, seed=0)
    >>> model(np.array([[1, 2, 3]])).shape
    (1, 3, 10)
    """

    init_std = 0.02  # GPT-2's

    def __init__(
        self,
        vocab_size: int,
        context_length: int,
        embedding_dim: int,
        *,
        seed=None,
        dtype=np.float32,
        sparse: bool = True,
    ):
        embedding_rng, head_rng, init_rng = np.random.default_rng(seed).spawn(3)  # seed: an int, None or a Generator
        self.embedding = GPTEmbedding(
            vocab_size, context_length, embedding_dim, seed=embedding_rng, dtype=dtype, sparse=sparse
        )
        self.out_head = Linear(embedding_dim, vocab_size, seed=head_rng, dtype=dtype)  # the course's name
        self.criterion = CrossEntropyLoss()
        for p in self.parameters():  # the parts drew torch's defaults; GPT-2 redraws them, as nanoGPT does
            p.weight[...] = init_rng.normal(0.0, self.init_std, p.weight.shape)  # in place, in the tables' dtype

    def __repr__(self) -> str:
        V, D = self.embedding.token.weight.shape
        return f"TinyLM(V={V}, context_length={self.context_length}, D={D})"

    @property
    def vocab_size(self) -> int:
        return self.embedding.token.weight.shape[0]

    @property
    def context_length(self) -> int:
        return self.embedding.position.weight.shape[0]

    def parameters(self) -> list:
        """The token table, the position table, the head: for `SGD` or `Adam`."""
        return [self.embedding.token, self.embedding.position, self.out_head]

    def num_parameters(self) -> int:
        return sum(p.weight.size for p in self.parameters())

    def forward(self, ids) -> np.ndarray:  # (B, T) int -> (B, T, V)
        x = self.embedding(ids)  # (B, T, D)
        return self.out_head(x)  # (B, T, V)

    __call__ = forward

    def loss(self, ids, targets) -> float:  # (B, T) int, (B, T) int -> scalar
        """forward, then the cross-entropy of the logits against the targets (the next tokens)."""
        ids = np.asarray(ids)
        check_targets(targets, ids.shape, self.vocab_size)  # before forward changes anything
        return self.criterion(self.forward(ids), targets)

    def backward(self) -> None:  # fills the three tables' .grad
        grad_logits = self.criterion.backward()  # (B, T, V)
        grad_x = self.out_head.backward(grad_logits)  # (B, T, V) -> (B, T, D)
        self.embedding.backward(grad_x)  # (B, T, D) -> token rows and position rows

    def zero_grad(self) -> None:
        self.embedding.zero_grad()
        self.out_head.zero_grad()

    def generate(self, ids, max_new_tokens: int, *, temperature: float = 1.0, seed=None) -> np.ndarray:
        """(B, T) or (T,) IDs -> (B, T + max_new_tokens) or (T + max_new_tokens,): sample one
        token at a time from softmax(logits / temperature) at the last position, append it, and
        feed the last `context_length` tokens back in, as nanoGPT's `generate`.

        It runs `forward`, so it replaces what a pending `backward` would use: sample after
        `backward` (or the optimizer step), not between `loss` and `backward`.
        """
        ids = check_token_ids(ids, self.vocab_size)
        if ids.ndim not in (1, 2) or ids.shape[-1] == 0:
            raise ValueError(f"ids must be a non-empty prompt of shape (T,) or (B, T), got {ids.shape}")
        check_int("max_new_tokens", max_new_tokens, 0)
        if not (is_real(temperature) and 0 < temperature < math.inf):
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        rng = np.random.default_rng(seed)
        out = ids.reshape(-1, ids.shape[-1]).astype(np.int64)  # (B, T)
        for _ in range(max_new_tokens):
            context = out[:, -self.context_length :]  # (B, <= C): the model has no positions beyond C
            logits = self.forward(context)[:, -1, :].astype(np.float64) / temperature  # (B, V), last position
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))  # (B, V)
            probs /= probs.sum(axis=1, keepdims=True)
            u = rng.random((len(out), 1))  # (B, 1)
            next_ids = np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), self.vocab_size - 1)  # (B,) inverse CDF
            out = np.concatenate([out, next_ids[:, None]], axis=1)  # (B, T + 1)
        return out.reshape(ids.shape[:-1] + (out.shape[-1],))  # (B, T + n) or (T + n,)


def check_targets(targets, shape: tuple, num_classes: int) -> np.ndarray:
    """Integer targets of the given shape, each in [0, V), or a clear error before anything changes."""
    targets = np.asarray(targets)
    if targets.shape != tuple(shape):
        raise ValueError(
            f"targets must have the logits' shape without the class axis, {tuple(shape)}, got {targets.shape}"
        )
    if targets.size == 0:
        raise ValueError("no targets: the mean loss over zero positions is undefined")
    within = f"{num_classes} classes: targets must be in [0, {num_classes})"
    return check_ids(targets, num_classes, plural="targets (class indices)", singular="target", of=within)


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating point type, got {dtype}")
    return dtype
