"""Step 4: SGD, Adam and lazy Adam over anything with `.weight` and `.grad`.

SGD is checked bitwise (touched rows move by exactly -lr * grad, the others not at all, and the
row-sparse step equals the dense one), Adam against Kingma & Ba's update written out by hand.
Then each mode against its torch counterpart, without torch: torch's SGD, Adam and SparseAdam
transcribed below into plain float64 NumPy, slow and obvious (SparseAdam one row at a time),
from torch's documentation and source, and run on the same 20 batches as npllm. Then the bad
arguments (each refused before anything changes) and the memory a step allocates.
"""

import math
import tracemalloc

import numpy as np
import pytest

import npllm
import npllm.optim
from npllm.embedding import Embedding, GPTEmbedding, PositionalEmbedding
from npllm.optim import SGD, Adam


class Param:
    """The least a parameter can be: two arrays, no touched_rows, no zero_grad."""

    def __init__(self, weight, grad=None):
        self.weight = np.array(weight, dtype=np.float64)
        self.grad = np.zeros_like(self.weight) if grad is None else np.array(grad, dtype=np.float64)


def test_public_api_exports_the_optimizers():
    assert npllm.SGD is SGD
    assert npllm.Adam is Adam


# --- SGD ------------------------------------------------------------------------------------


def test_sgd_on_a_plain_object_is_dense():
    p = Param([[1.0, 2.0], [3.0, 4.0]], [[0.5, -1.0], [0.0, 2.0]])
    SGD([p], lr=0.1).step()
    np.testing.assert_array_equal(p.weight, np.array([[1.0, 2.0], [3.0, 4.0]]) - 0.1 * p.grad)
    assert p.weight.tolist() == [[1.0 - 0.05, 2.1], [3.0, 3.8]]
    np.testing.assert_array_equal(p.grad, [[0.5, -1.0], [0.0, 2.0]])  # step leaves .grad alone


def test_sgd_zero_grad_on_a_plain_object():
    p = Param([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    SGD([p], lr=1.0).zero_grad()
    assert not p.grad.any()
    np.testing.assert_array_equal(p.weight, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_moves_the_touched_rows_by_exactly_minus_lr_grad_and_nothing_else(dtype):
    emb = Embedding(20, 4, seed=0, dtype=dtype)
    before = emb.weight.copy()
    ids = np.array([[3, 3, 17], [0, 3, 9]])
    emb(ids)
    emb.backward(np.random.default_rng(1).standard_normal((2, 3, 4)))
    lr = 0.05
    SGD([emb], lr=lr).step()
    touched = [0, 3, 9, 17]
    untouched = np.setdiff1d(np.arange(20), touched)
    np.testing.assert_array_equal(emb.weight[untouched], before[untouched])  # bitwise
    np.testing.assert_array_equal(emb.weight[touched], before[touched] - lr * emb.grad[touched])
    assert (emb.weight[touched] != before[touched]).all(axis=1).all()


def test_sgd_after_zero_grad_moves_nothing():
    emb = Embedding(10, 3, seed=0)
    emb(np.array([1, 2]))
    emb.backward(np.ones((2, 3), dtype=np.float32))
    opt = SGD([emb], lr=0.1)
    opt.zero_grad()
    assert not emb.grad.any()
    before = emb.weight.copy()
    opt.step()
    np.testing.assert_array_equal(emb.weight, before)


def test_sgd_moves_rows_whose_grad_was_set_by_hand():
    """A gradient added straight into .grad (a tied output head, weight decay) must be used."""
    emb = Embedding(6, 2, seed=0, dtype=np.float64)
    before = emb.weight.copy()
    emb.grad[4] = [1.0, -1.0]  # no backward: touched_rows() knows nothing of row 4
    SGD([emb], lr=0.5).step()
    np.testing.assert_array_equal(emb.weight[4], before[4] - 0.5 * np.array([1.0, -1.0]))


def test_sgd_updates_every_parameter_of_a_gpt_embedding():
    gpt = GPTEmbedding(12, 4, 3, seed=0, dtype=np.float64)
    token, position = gpt.token.weight.copy(), gpt.position.weight.copy()
    gpt(np.array([[5, 6, 5]]))
    gpt.backward(np.ones((1, 3, 3)))
    opt = SGD(gpt.parameters(), lr=0.1)
    opt.step()
    np.testing.assert_array_equal(gpt.token.weight[5], token[5] - 0.2)
    np.testing.assert_array_equal(gpt.token.weight[6], token[6] - 0.1)
    np.testing.assert_array_equal(gpt.position.weight[:3], position[:3] - 0.1)
    np.testing.assert_array_equal(gpt.position.weight[3], position[3])
    np.testing.assert_array_equal(np.delete(gpt.token.weight, [5, 6], axis=0), np.delete(token, [5, 6], axis=0))
    opt.zero_grad()
    assert not gpt.token.grad.any() and not gpt.position.grad.any()


def test_a_few_sgd_steps_reduce_a_quadratic_loss():
    """L = 1/2 sum((out - target)^2), so dL/dout = out - target."""
    rng = np.random.default_rng(0)
    gpt = GPTEmbedding(30, 6, 4, seed=1)
    ids = rng.integers(0, 30, size=(4, 6))
    target = rng.standard_normal((4, 6, 4)).astype(np.float32)
    opt = SGD(gpt.parameters(), lr=0.05)
    losses = []
    for _ in range(10):
        out = gpt(ids)
        losses.append(0.5 * float(np.sum((out - target) ** 2)))
        opt.zero_grad()
        gpt.backward(out - target)
        opt.step()
    assert all(b < a for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0]


# --- Adam -----------------------------------------------------------------------------------


def test_adam_matches_the_textbook_update_for_three_steps():
    """Kingma & Ba, Algorithm 1, with the bias corrections, written out in float64."""
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
    w0 = np.array([[0.5, -1.0, 2.0], [0.0, 3.0, -0.25]])
    grads = [  # one gradient per step; zeros and sign changes included
        np.array([[0.1, -0.2, 0.0], [1.0, 0.5, -3.0]]),
        np.array([[-0.1, 0.4, 0.0], [2.0, 0.0, 1.0]]),
        np.array([[0.3, 0.3, 0.7], [-1.0, 0.5, 0.0]]),
    ]
    p = Param(w0)
    opt = Adam([p], lr=lr, betas=(beta1, beta2), eps=eps)

    w, m, v = w0.copy(), np.zeros_like(w0), np.zeros_like(w0)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)

        p.grad[...] = g
        opt.step()
        np.testing.assert_allclose(p.weight, w, rtol=1e-12, atol=1e-15, err_msg=f"step {t}")
    assert not np.allclose(p.weight, w0)


def test_adam_first_step_is_lr_times_the_sign():
    p = Param([1.0, 1.0, 1.0], [1e-2, -50.0, 0.0])  # m_hat / sqrt(v_hat) = g / |g|
    Adam([p], lr=0.1).step()
    np.testing.assert_allclose(p.weight, [0.9, 1.1, 1.0], rtol=1e-6)


def test_adam_defaults():
    opt = Adam([Param([1.0])])
    assert opt.lr == 1e-3 and tuple(opt.betas) == (0.9, 0.999) and opt.eps == 1e-8


def test_adam_zero_grad_clears_grads():
    p = Param([1.0, 2.0], [3.0, 4.0])
    emb = Embedding(5, 2, seed=0)
    emb(np.array([1, 4, 1]))
    emb.backward(np.ones((3, 2), dtype=np.float32))
    pos = PositionalEmbedding(3, 2, seed=0)
    pos(2)
    pos.backward(np.ones((2, 2), dtype=np.float32))
    opt = Adam([p, emb, pos], lr=0.01)
    opt.step()
    opt.zero_grad()
    assert not p.grad.any() and not emb.grad.any() and not pos.grad.any()


def test_adam_on_a_gpt_embedding_reduces_a_quadratic_loss():
    rng = np.random.default_rng(2)
    gpt = GPTEmbedding(20, 5, 4, seed=3)
    ids = rng.integers(0, 20, size=(3, 5))
    target = rng.standard_normal((3, 5, 4)).astype(np.float32)
    opt = Adam(gpt.parameters(), lr=0.05)
    losses = []
    for _ in range(20):
        out = gpt(ids)
        losses.append(0.5 * float(np.sum((out - target) ** 2)))
        opt.zero_grad()
        gpt.backward(out - target)
        opt.step()
    assert losses[-1] < 0.7 * losses[0], losses


def test_adam_on_a_sparse_embedding_equals_adam_on_a_dense_one_bit_for_bit(monkeypatch):
    """Dense Adam visits every row: on a sparse=True table it finds the gradient rows block by
    block (3 rows per block here, so rows land in different blocks) and must not miss one."""
    monkeypatch.setattr(npllm.optim, "BLOCK", 12)  # 12 elements = 3 rows of 4
    rng = np.random.default_rng(5)
    a, b = GPTEmbedding(30, 5, 4, seed=6), GPTEmbedding(30, 5, 4, seed=6, sparse=True)
    p = Param(a.token.weight)  # the same table again, as a plain object with a dense gradient
    opts = [Adam(a.parameters(), lr=0.01), Adam(b.parameters(), lr=0.01), Adam([p], lr=0.01)]
    for _ in range(6):
        ids = rng.integers(0, 30, size=(2, 5))
        grad_out = rng.standard_normal((2, 5, 4)).astype(np.float32)
        for gpt in (a, b):
            gpt.zero_grad()
            gpt(ids)
            gpt.backward(grad_out)
        p.grad[...] = b.token.grad  # read-only for b; a copy here
        for opt in opts:
            opt.step()
    np.testing.assert_array_equal(a.token.weight, b.token.weight)
    np.testing.assert_array_equal(a.position.weight, b.position.weight)
    np.testing.assert_allclose(p.weight, b.token.weight, rtol=1e-6)  # float64 Param, float32 tables
    assert opts[0].steps == opts[1].steps == [6, 6]


# --- torch's algorithms, transcribed: the references ------------------------------------------


def reference_sgd(w0, grads, lr):
    """torch.optim.SGD (no momentum): w <- w - lr * g, every step. grads: one (V, D) array per step."""
    w = w0.astype(np.float64)
    for g in grads:
        w = w - lr * g
    return w


def reference_adam(w0, grads, lr, betas, eps):
    """torch.optim.Adam, as its documentation gives it, with its source's bias-correction order:
    m <- beta1 m + (1 - beta1) g          v <- beta2 v + (1 - beta2) g^2
    step_size = lr / (1 - beta1^t)        denom = sqrt(v) / sqrt(1 - beta2^t) + eps
    w <- w - step_size * m / denom        (every weight, every step; t = 1, 2, ...)"""
    beta1, beta2 = betas
    w = w0.astype(np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        step_size = lr / (1 - beta1**t)
        denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + eps
        w = w - step_size * m / denom
    return w


def reference_sparse_adam(w0, steps, lr, betas, eps):
    """torch.optim.SparseAdam, one row at a time. steps: one {row: its gradient} per step, the
    rows present in that step's (coalesced) sparse gradient; no other row is read or written.
        m[r] <- m[r] + (1 - beta1)(g - m[r])     v[r] <- v[r] + (1 - beta2)(g^2 - v[r])
        step_size = lr * sqrt(1 - beta2^t) / (1 - beta1^t)
        w[r] <- w[r] - step_size * m[r] / (sqrt(v[r]) + eps)      (eps outside the correction)
    t counts the steps the parameter had a gradient in (torch: p.grad is not None; here, a row
    present: the same unless a batch is empty)."""
    beta1, beta2 = betas
    w = w0.astype(np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    t = 0
    for present in steps:
        if not present:
            continue
        t += 1
        step_size = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
        for r, g in present.items():
            m[r] = m[r] + (1 - beta1) * (g - m[r])
            v[r] = v[r] + (1 - beta2) * (g * g - v[r])
            w[r] = w[r] - step_size * m[r] / (np.sqrt(v[r]) + eps)
    return w


VOCAB, CONTEXT, WIDTH, STEPS = 40, 6, 3, 20


def twenty_batches():
    """20 (ids (3, 6), grad_out (3, 6, 3)) pairs; ids Zipf-like, so some rows are in every
    batch, some in a few, some in none: the three optimizers then differ."""
    rng = np.random.default_rng(21)
    batches = []
    for _ in range(STEPS):
        ids = np.minimum(rng.zipf(1.5, size=(3, 6)) - 1, VOCAB - 1)
        batches.append((ids, rng.standard_normal((3, 6, WIDTH))))
    return batches


def token_gradient(ids, grad_out):
    """The token table's dense gradient, independently of npllm: np.add.at on the rows."""
    g = np.zeros((VOCAB, WIDTH))
    np.add.at(g, ids.ravel(), grad_out.reshape(-1, WIDTH))
    return g


def run_npllm(make_optimizer, sparse):
    gpt = GPTEmbedding(VOCAB, CONTEXT, WIDTH, seed=22, dtype=np.float64, sparse=sparse)
    start = [p.weight.copy() for p in gpt.parameters()]
    opt = make_optimizer(gpt.parameters())
    for ids, grad_out in twenty_batches():
        opt.zero_grad()
        gpt(ids)
        gpt.backward(grad_out)
        opt.step()
    return start, [p.weight for p in gpt.parameters()]


def relative_to_the_change(got, want, start):
    """max |got - want| / max |want - start|: the error against how far the weights moved."""
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want - start)))


LR, BETAS, EPS = 0.01, (0.8, 0.9), 1e-3  # a large eps: Adam and SparseAdam put it in different places
MODES = {
    "SGD": (lambda params: SGD(params, lr=LR), "sgd"),
    "Adam": (lambda params: Adam(params, lr=LR, betas=BETAS, eps=EPS), "adam"),
    "lazy Adam": (lambda params: Adam(params, lr=LR, betas=BETAS, eps=EPS, lazy=True), "sparse_adam"),
}


def references(kind):
    """The token table and the position table after 20 reference steps of `kind`."""
    batches = twenty_batches()
    gpt = GPTEmbedding(VOCAB, CONTEXT, WIDTH, seed=22, dtype=np.float64)
    token0, position0 = gpt.token.weight.copy(), gpt.position.weight.copy()
    token_grads = [token_gradient(ids, g) for ids, g in batches]
    position_grads = [np.vstack([g.sum(axis=0), np.zeros((CONTEXT - 6, WIDTH))]) for _, g in batches]
    if kind == "sgd":
        return reference_sgd(token0, token_grads, LR), reference_sgd(position0, position_grads, LR)
    position = reference_adam(position0, position_grads, LR, BETAS, EPS)  # dense either way, as in torch
    if kind == "adam":
        return reference_adam(token0, token_grads, LR, BETAS, EPS), position
    present = [{r: g[r] for r in np.unique(ids).tolist()} for (ids, _), g in zip(batches, token_grads)]
    return reference_sparse_adam(token0, present, LR, BETAS, EPS), position


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("mode", list(MODES))
def test_each_mode_matches_its_torch_counterpart_over_20_steps(mode, sparse):
    make, kind = MODES[mode]
    start, got = run_npllm(make, sparse)
    want = references(kind)
    for name, s, g, w in zip(("token", "position"), start, got, want):
        assert np.max(np.abs(w - s)) > 0.01, f"{mode} {name}: the reference barely moved; the test would prove nothing"
        error = relative_to_the_change(g, w, s)  # the issue asks 1e-6; float64 on both sides agrees to ~1e-15
        assert error < 1e-9, f"{mode} {name}: relative error {error:.2e} against the reference"


def test_the_references_tell_the_modes_apart():
    """Each mode is far from the others' references, so the test above could not pass by accident."""
    sgd, adam, sparse_adam = (references(kind)[0] for kind in ("sgd", "adam", "sparse_adam"))
    start = GPTEmbedding(VOCAB, CONTEXT, WIDTH, seed=22, dtype=np.float64).token.weight
    for a, b in ((sgd, adam), (adam, sparse_adam), (sgd, sparse_adam)):
        assert relative_to_the_change(a, b, start) > 1e-2
    # and Adam's rule on the present rows only (eps inside the correction) is not SparseAdam
    batches = twenty_batches()
    present = [np.unique(ids) for ids, _ in batches]
    masked = start.astype(np.float64)
    m, v = np.zeros_like(masked), np.zeros_like(masked)
    for t, ((ids, g), rows) in enumerate(zip(batches, present), start=1):
        grad = token_gradient(ids, g)[rows]
        m[rows] = BETAS[0] * m[rows] + (1 - BETAS[0]) * grad
        v[rows] = BETAS[1] * v[rows] + (1 - BETAS[1]) * grad * grad
        masked[rows] -= LR / (1 - BETAS[0] ** t) * m[rows] / (np.sqrt(v[rows]) / math.sqrt(1 - BETAS[1] ** t) + EPS)
    assert relative_to_the_change(masked, sparse_adam, start) > 1e-4


# --- lazy Adam --------------------------------------------------------------------------------


@pytest.mark.parametrize("sparse", [False, True])
def test_lazy_adam_leaves_absent_rows_alone_momentum_and_all(sparse):
    emb = Embedding(10, 3, seed=0, sparse=sparse)
    opt = Adam([emb], lr=0.1, lazy=True)
    for ids in ([1, 2, 2], [2, 5]):  # row 1 only in the first step
        opt.zero_grad()
        emb(np.array(ids))
        emb.backward(np.ones((len(ids), 3), dtype=np.float32))
        before, m, v = emb.weight.copy(), opt.m[0].copy(), opt.v[0].copy()
        opt.step()
        absent = np.setdiff1d(np.arange(10), ids)
        np.testing.assert_array_equal(emb.weight[absent], before[absent])  # bitwise: not touched
        np.testing.assert_array_equal(opt.m[0][absent], m[absent])
        np.testing.assert_array_equal(opt.v[0][absent], v[absent])
        assert (emb.weight[ids] != before[ids]).all()
    assert opt.steps == [2]
    dense = Embedding(10, 3, seed=0, sparse=sparse)  # dense Adam keeps moving row 1 on momentum
    opt = Adam([dense], lr=0.1)
    for ids in ([1, 2, 2], [2, 5]):
        opt.zero_grad()
        dense(np.array(ids))
        dense.backward(np.ones((len(ids), 3), dtype=np.float32))
        before = dense.weight[1].copy()
        opt.step()
    assert (dense.weight[1] != before).all()


def test_lazy_adam_gives_other_parameters_dense_adam():
    """As torch users pair SparseAdam(embedding) with Adam(the rest): the positions, a plain object."""
    rng = np.random.default_rng(3)
    w0, grads = rng.standard_normal((4, 2)), [rng.standard_normal((4, 2)) for _ in range(5)]
    grads[2][1] = 0.0  # a zero gradient row still moves under Adam, on momentum
    p = Param(w0)
    opt = Adam([p], lr=0.05, eps=1e-3, lazy=True)
    for g in grads:
        p.grad[...] = g
        opt.step()
    np.testing.assert_allclose(p.weight, reference_adam(w0, grads, 0.05, (0.9, 0.999), 1e-3), rtol=1e-12)


def test_lazy_adam_skips_a_step_with_no_rows_and_does_not_count_it():
    emb = Embedding(5, 2, seed=0, sparse=True)
    opt = Adam([emb], lr=0.1, lazy=True)
    before = emb.weight.copy()
    opt.step()  # no backward: no row present
    np.testing.assert_array_equal(emb.weight, before)
    assert opt.steps == [0]


# --- SGD: the row-sparse step is the dense step ------------------------------------------------


def test_row_sparse_sgd_equals_dense_sgd_bit_for_bit_over_20_steps():
    """A dense Embedding, a sparse=True one, and the same table as a plain object updated with
    its whole dense gradient: float32, 20 steps with repeated ids, equal bit for bit."""
    rng = np.random.default_rng(8)
    dense, sparse = Embedding(30, 4, seed=9), Embedding(30, 4, seed=9, sparse=True)
    plain = Param(dense.weight)
    plain.weight, plain.grad = dense.weight.copy(), np.zeros_like(dense.weight)  # float32, like the tables
    opts = [SGD([dense], lr=0.3), SGD([sparse], lr=0.3), SGD([plain], lr=0.3)]
    for _ in range(20):
        ids = rng.integers(0, 12, size=(4, 5))  # rows 12..29 never move
        grad_out = rng.standard_normal((4, 5, 4)).astype(np.float32)
        for emb in (dense, sparse):
            emb.zero_grad()
            emb(ids)
            emb.backward(grad_out)
        plain.grad[...] = sparse.grad
        for opt in opts:
            opt.step()
    np.testing.assert_array_equal(dense.weight, plain.weight)
    np.testing.assert_array_equal(sparse.weight, plain.weight)
    np.testing.assert_array_equal(sparse.weight[12:], Embedding(30, 4, seed=9).weight[12:])


def test_sgd_uses_sparse_grad_and_never_reads_grad_of_an_embedding():
    """The row-sparse path: the optimizer asks for the rows; reading .grad would hand the table out."""

    class Watched(Embedding):
        reads = 0

        @property
        def grad(self):
            Watched.reads += 1
            return super().grad

    emb = Watched(50, 2, seed=0)
    opt = SGD([emb], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        emb(np.array([3, 3, 40]))
        emb.backward(np.ones((3, 2), dtype=np.float32))
        opt.step()
    assert Watched.reads == 0


# --- bad arguments --------------------------------------------------------------------------

OPTIMIZERS = [
    lambda params, **kw: SGD(params, lr=kw.get("lr", 0.1)),
    lambda params, **kw: Adam(params, **kw),
    lambda params, **kw: Adam(params, lazy=True, **kw),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_no_parameters_is_a_value_error(make):
    with pytest.raises(ValueError):
        make([])
    with pytest.raises(ValueError):
        make(iter(()))


class WeightOnly:
    def __init__(self):
        self.weight = np.zeros(3)


@pytest.mark.parametrize("make", OPTIMIZERS)
@pytest.mark.parametrize("bad", [WeightOnly(), np.zeros(3), "weight", None])
def test_a_parameter_without_weight_and_grad_is_a_type_error(make, bad):
    with pytest.raises(TypeError):
        make([Param([1.0]), bad])


@pytest.mark.parametrize("make", OPTIMIZERS)
@pytest.mark.parametrize("lr", [-0.1, -1, float("nan"), float("inf"), -float("inf"), True, "0.1", None])
def test_a_negative_or_non_finite_learning_rate_is_a_value_error(make, lr):
    with pytest.raises(ValueError, match="lr"):
        make([Param([1.0])], lr=lr)


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_a_learning_rate_of_zero_is_allowed_and_moves_nothing(make):
    """As in torch: lr=0 is a valid (if idle) setting."""
    emb = Embedding(8, 2, seed=0, sparse=True)
    p = Param([1.0, -2.0], [0.5, 0.5])
    opt = make([emb, p], lr=0)
    before = emb.weight.copy()
    emb(np.array([1, 1, 6]))
    emb.backward(np.ones((3, 2), dtype=np.float32))
    opt.step()
    np.testing.assert_array_equal(emb.weight, before)
    np.testing.assert_array_equal(p.weight, [1.0, -2.0])


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize(
    "betas",
    [
        (1.0, 0.999),
        (0.9, 1.0),
        (-0.1, 0.999),
        (0.9, -0.5),
        (1.5, 0.5),
        (float("nan"), 0.999),
        (0.9, float("nan")),
        (0.9, float("inf")),
        (0.9,),
        (0.9, 0.99, 0.9),
        0.9,
        None,
        ("0.9", 0.999),
        (True, 0.999),
    ],
)
def test_bad_betas_are_a_value_error(betas, lazy):
    with pytest.raises(ValueError, match="betas"):
        Adam([Param([1.0])], betas=betas, lazy=lazy)


@pytest.mark.parametrize("lazy", [False, True])
@pytest.mark.parametrize("eps", [-1e-8, float("nan"), float("inf"), None, "1e-8"])
def test_bad_eps_is_a_value_error(eps, lazy):
    with pytest.raises(ValueError, match="eps"):
        Adam([Param([1.0])], eps=eps, lazy=lazy)


def test_eps_zero_is_allowed_for_adam_but_not_lazy_adam():
    """torch allows eps=0 in Adam; SparseAdam refuses it (a present row of zeros would be 0 / 0)."""
    Adam([Param([1.0])], eps=0.0)
    with pytest.raises(ValueError, match="eps.*lazy"):
        Adam([Param([1.0])], eps=0.0, lazy=True)
    with pytest.raises(TypeError, match="lazy"):
        Adam([Param([1.0])], lazy="yes")


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_the_same_parameter_twice_is_a_value_error(make):
    gpt = GPTEmbedding(10, 4, 2, seed=0)
    with pytest.raises(ValueError, match=r"parameter 2 is parameter 0"):
        make(gpt.parameters() + [gpt.token])
    p = Param([1.0, 2.0])
    q = Param([0.0])
    q.weight, q.grad = p.weight[1:], np.zeros(1)  # a view of p's weight: updated twice per step
    with pytest.raises(ValueError, match=r"parameters 0 and 1 share"):
        make([p, q])
    make([Param([1.0]), Param([1.0])])  # equal values in two arrays are fine


@pytest.mark.parametrize("make", OPTIMIZERS)
@pytest.mark.parametrize("setting, value", [("lr", float("nan")), ("lr", float("inf")), ("lr", -1.0)])
def test_a_bad_setting_made_after_construction_is_refused_before_anything_moves(make, setting, value):
    emb = Embedding(8, 2, seed=0)
    opt = make([emb], lr=0.1)
    emb(np.array([1, 2]))
    emb.backward(np.ones((2, 2), dtype=np.float32))
    opt.step()
    state = [emb.weight.copy()] + [a.copy() for a in getattr(opt, "m", []) + getattr(opt, "v", [])]
    steps = list(getattr(opt, "steps", []))
    setattr(opt, setting, value)  # a schedule gone wrong
    with pytest.raises(ValueError, match=setting):
        opt.step()
    after = [emb.weight] + getattr(opt, "m", []) + getattr(opt, "v", [])
    for a, b in zip(state, after):
        np.testing.assert_array_equal(a, b)
    assert list(getattr(opt, "steps", [])) == steps


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_a_bad_gradient_shape_is_refused_before_any_parameter_moves(make):
    good, bad = Param([1.0, 2.0], [1.0, 1.0]), Param([1.0, 2.0], [1.0, 1.0])
    opt = make([good, bad], lr=0.1)
    bad.grad = np.ones(3)  # replaced by a wrong shape after construction
    with pytest.raises(ValueError, match=r"parameter 1.*\(2,\).*\(3,\)"):
        opt.step()
    np.testing.assert_array_equal(good.weight, [1.0, 2.0])  # parameter 0 did not move either


def test_betas_at_zero_are_allowed():
    p = Param([1.0], [2.0])
    Adam([p], lr=0.1, betas=(0.0, 0.0)).step()  # plain sign descent: w - lr * g / (|g| + eps)
    np.testing.assert_allclose(p.weight, [0.9], rtol=1e-7)


def test_optimizers_show_their_settings():
    assert "0.1" in repr(SGD([Param([1.0])], lr=0.1))
    assert "0.001" in repr(Adam([Param([1.0])]))
    assert "lazy=True" in repr(Adam([Param([1.0])], lazy=True)) and "lazy" not in repr(Adam([Param([1.0])]))


# --- memory: no step allocates a (V, D) temporary ----------------------------------------------


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("mode", list(MODES))
def test_no_step_allocates_a_table_sized_temporary(mode, sparse):
    """GPT-2's vocabulary at D = 32: a (V, D) float32 table is 6.4 MB. zero_grad + forward +
    backward + step on (8, 256) IDs, after a warm-up step, peaks below half a table beyond what
    it already holds (a table-sized temporary would put it above one): the forward's output
    (8, 256, 32) and a few (U, D) arrays for the U <= 2,048 rows the batch touched."""
    V, D = 50_257, 32
    table = V * D * 4
    gpt = GPTEmbedding(V, 256, D, seed=0, sparse=sparse)
    opt = MODES[mode][0](gpt.parameters())
    rng = np.random.default_rng(4)
    grad_out = rng.standard_normal((8, 256, D), dtype=np.float32)

    def step():
        opt.zero_grad()
        gpt(rng.integers(0, V, size=(8, 256)))
        gpt.backward(grad_out)
        opt.step()

    step()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert peak < table / 2, f"{mode}, sparse={sparse}: a step peaked at {peak:,} bytes over the state"
