"""Step 4: SGD and Adam over anything with `.weight` and `.grad`.

SGD is checked bitwise (touched rows move by exactly -lr * grad, the others not at all), Adam
against Kingma & Ba's update written out by hand for three steps in float64, both on a plain
object and on the embeddings, then the bad arguments.
"""

import numpy as np
import pytest

import npllm
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


# --- bad arguments --------------------------------------------------------------------------

OPTIMIZERS = [lambda params, **kw: SGD(params, lr=kw.get("lr", 0.1)), lambda params, **kw: Adam(params, **kw)]


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
@pytest.mark.parametrize("lr", [0, 0.0, -0.1, -1])
def test_a_learning_rate_of_zero_or_less_is_a_value_error(make, lr):
    with pytest.raises(ValueError):
        make([Param([1.0])], lr=lr)


@pytest.mark.parametrize("betas", [(1.0, 0.999), (0.9, 1.0), (-0.1, 0.999), (0.9, -0.5), (1.5, 0.5)])
def test_betas_outside_zero_to_one_are_a_value_error(betas):
    with pytest.raises(ValueError):
        Adam([Param([1.0])], betas=betas)


def test_betas_at_zero_are_allowed():
    p = Param([1.0], [2.0])
    Adam([p], lr=0.1, betas=(0.0, 0.0)).step()  # plain sign descent: w - lr * g / (|g| + eps)
    np.testing.assert_allclose(p.weight, [0.9], rtol=1e-7)


def test_optimizers_show_their_settings():
    assert "0.1" in repr(SGD([Param([1.0])], lr=0.1))
    assert "0.001" in repr(Adam([Param([1.0])]))
