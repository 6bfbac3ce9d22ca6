"""Step 5: Linear, CrossEntropyLoss and TinyLM, forward and hand-written backward.

Known answers first (uniform logits cost ln V; a two-class example worked by hand), then
central finite differences in float64 for every gradient, the naive formula on logits in
the thousands, the bad inputs (each raised before anything changes), sampling, and a few
Adam steps that must lower the loss.
"""

import decimal
import functools
import math
import re

import numpy as np
import pytest
from reference import central_differences, max_relative_error

import npllm
from npllm.model import CrossEntropyLoss, Linear, TinyLM


def naive_cross_entropy(logits, targets):
    """The textbook formula row by row, mean of log(sum(exp(z))) - z[t], in 60-digit Decimal
    arithmetic, where exp(3000) is just a big number and nothing overflows."""
    context = decimal.Context(prec=60)
    V = logits.shape[-1]
    losses = []
    for z, t in zip(logits.reshape(-1, V).tolist(), targets.reshape(-1).tolist()):
        total = sum(context.exp(decimal.Decimal(v)) for v in z)
        losses.append(context.ln(total) - decimal.Decimal(z[t]))
    return float(sum(losses) / len(losses))


def test_public_api_exports_the_step_5_classes():
    assert npllm.Linear is Linear
    assert npllm.CrossEntropyLoss is CrossEntropyLoss
    assert npllm.TinyLM is TinyLM


# --- Linear -------------------------------------------------------------------------------


def test_linear_is_x_times_w_transpose_in_torchs_layout():
    lin = Linear(3, 5, seed=0, dtype=np.float64)
    assert lin.weight.shape == (5, 3) and lin.grad.shape == (5, 3) and not lin.grad.any()
    x = np.random.default_rng(1).standard_normal((2, 4, 3))  # (B, T, D)
    out = lin(x)  # (B, T, V)
    assert out.shape == (2, 4, 5)
    np.testing.assert_allclose(out, np.einsum("btd,vd->btv", x, lin.weight), rtol=1e-12)
    assert lin(x[0, 0]).shape == (5,)  # (D,) -> (V,)
    assert repr(lin) == "Linear(in_features=3, out_features=5, bias=False)"


def test_linear_init_is_torchs_uniform_bound():
    lin = Linear(64, 1000, seed=0)
    bound = 1 / math.sqrt(64)  # 0.125
    assert lin.weight.dtype == np.float32
    assert np.abs(lin.weight).max() <= bound
    assert np.abs(lin.weight).max() > 0.99 * bound  # 64,000 draws reach the edge
    assert abs(float(lin.weight.mean())) < 0.01
    assert float(lin.weight.std()) == pytest.approx(bound / math.sqrt(3), rel=0.02)  # U(-b, b): b / sqrt(3)


def test_linear_seeds():
    np.testing.assert_array_equal(Linear(4, 6, seed=7).weight, Linear(4, 6, seed=7).weight)
    assert not np.array_equal(Linear(4, 6, seed=7).weight, Linear(4, 6, seed=8).weight)
    state = np.random.get_state()[1].copy()
    Linear(4, 6)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # the global RNG is left alone


def test_linear_gradients_match_finite_differences():
    lin = Linear(3, 4, seed=2, dtype=np.float64)
    x = np.random.default_rng(3).standard_normal((2, 5, 3))  # (B, T, D)
    R = np.random.default_rng(4).standard_normal((2, 5, 4))  # L = sum(out * R)
    loss = lambda: float(np.sum(lin(x) * R))  # noqa: E731
    numeric_w = central_differences(loss, lin.weight)
    numeric_x = central_differences(loss, x)
    lin(x)
    grad_x = lin.backward(R)
    assert grad_x.shape == x.shape
    assert max_relative_error(lin.grad, numeric_w) < 1e-6
    assert max_relative_error(grad_x, numeric_x) < 1e-6


def test_linear_backward_accumulates_until_zero_grad():
    lin = Linear(3, 4, seed=5, dtype=np.float64)
    x = np.ones((2, 3))
    lin(x)
    lin.backward(np.ones((2, 4)))
    once = lin.grad.copy()
    np.testing.assert_array_equal(once, np.full((4, 3), 2.0))  # two rows of ones: g.T @ x
    lin.backward(np.ones((2, 4)))
    np.testing.assert_array_equal(lin.grad, 2 * once)
    lin.zero_grad()
    assert not lin.grad.any()


def test_linear_keeps_its_own_copy_of_the_input():
    lin = Linear(2, 2, seed=0, dtype=np.float64)
    x = np.array([[1.0, 2.0]])
    lin(x)
    x[:] = 100.0  # the caller reuses its buffer before backward
    lin.backward(np.array([[1.0, 0.0]]))
    np.testing.assert_array_equal(lin.grad, [[1.0, 2.0], [0.0, 0.0]])


def test_linear_bad_inputs():
    lin = Linear(3, 4, seed=0)
    with pytest.raises(RuntimeError, match="forward"):
        lin.backward(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\).*\(2, 5\)"):
        lin(np.ones((2, 5), dtype=np.float32))
    with pytest.raises(ValueError):
        lin(np.float32(1.0))  # no feature axis
    with pytest.raises(TypeError, match="floating point"):
        lin(np.ones((2, 3), dtype=np.int64))
    lin(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(2, 3\)"):
        lin.backward(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="floating point"):
        lin.backward(np.ones((2, 4), dtype=np.int64))
    assert not lin.grad.any()  # nothing was added by the failed calls
    for bad in (0, -1):
        with pytest.raises(ValueError, match="at least 1"):
            Linear(bad, 4)
    for bad in (2.0, True, "3"):
        with pytest.raises(TypeError):
            Linear(bad, 4)
    with pytest.raises(TypeError, match="floating point"):
        Linear(3, 4, dtype=np.int32)


def test_a_failed_linear_forward_keeps_the_last_good_input():
    lin = Linear(2, 2, seed=0, dtype=np.float64)
    lin(np.array([[1.0, 2.0]]))
    with pytest.raises(ValueError):
        lin(np.ones((1, 3)))
    lin.backward(np.array([[1.0, 0.0]]))
    np.testing.assert_array_equal(lin.grad[0], [1.0, 2.0])


# --- CrossEntropyLoss ----------------------------------------------------------------------


@pytest.mark.parametrize("V", [2, 7, 50257])
def test_uniform_logits_cost_ln_v(V):
    """All logits equal: softmax is 1/V everywhere, so every position costs -ln(1/V) = ln V."""
    loss = CrossEntropyLoss()
    targets = np.array([[0, V - 1, V // 2]])
    assert loss(np.zeros((1, 3, V)), targets) == pytest.approx(math.log(V), rel=1e-15)
    assert loss(np.full((1, 3, V), 5.0, dtype=np.float32), targets) == pytest.approx(math.log(V), rel=1e-6)


def test_two_classes_by_hand():
    """logits (2, 0): p = e^2 / (e^2 + 1) = 0.880797 for class 0, 0.119203 for class 1.
    Target 0 costs -ln 0.880797 = 0.126928, target 1 costs -ln 0.119203 = 2.126928; mean 1.126928.
    The gradient is (p - one_hot) / 2: row 0 (-0.059601, 0.059601), row 1 (0.440399, -0.440399)."""
    loss = CrossEntropyLoss()
    value = loss(np.array([[2.0, 0.0], [2.0, 0.0]]), np.array([0, 1]))
    assert value == pytest.approx(1.126928, abs=1e-6)
    assert value == pytest.approx((math.log1p(math.exp(-2)) + math.log1p(math.exp(2))) / 2, rel=1e-14)
    np.testing.assert_allclose(loss.backward(), [[-0.059601, 0.059601], [0.440399, -0.440399]], atol=1e-6)


def test_cross_entropy_gradient_matches_finite_differences():
    logits = np.random.default_rng(0).standard_normal((2, 3, 5)) * 3  # (B, T, V)
    targets = np.array([[1, 1, 4], [0, 1, 1]])  # class 1 four times, 2 and 3 never
    loss = CrossEntropyLoss()
    numeric = central_differences(lambda: loss(logits, targets), logits)
    loss(logits, targets)
    grad = loss.backward()
    assert grad.shape == logits.shape
    assert max_relative_error(grad, numeric) < 1e-6


def test_cross_entropy_gradient_rows_sum_to_zero_and_repeat():
    logits = np.random.default_rng(1).standard_normal((4, 6, 11))
    targets = np.random.default_rng(2).integers(0, 11, size=(4, 6))
    loss = CrossEntropyLoss()
    loss(logits, targets)
    grad = loss.backward()
    np.testing.assert_allclose(grad.sum(axis=-1), 0, atol=1e-16)  # softmax sums to 1, one_hot too
    assert (np.take_along_axis(grad, targets[..., None], axis=-1) < 0).all()  # only the target goes down
    np.testing.assert_array_equal(loss.backward(), grad)  # a second backward: the same answer


def test_cross_entropy_equals_the_naive_formula():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((3, 4, 9)) * 4
    targets = rng.integers(0, 9, size=(3, 4))
    assert CrossEntropyLoss()(logits, targets) == pytest.approx(naive_cross_entropy(logits, targets), rel=1e-13)


@pytest.mark.parametrize("dtype, rel", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_logits_in_the_thousands_do_not_overflow(dtype, rel):
    """exp(3000) overflows float64 (the largest is about exp(709)); the shifted form never sees it."""
    rng = np.random.default_rng(4)
    logits = (rng.uniform(-3000, 3000, size=(5, 7)) + 1000 * np.arange(5)[:, None]).astype(dtype)
    logits[:, 3] = logits.max(axis=1) - 0.5  # a close runner-up, so some losses are not ~0 or huge
    targets = np.array([3, 0, 3, 6, 3])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # exp(-5000) may round to 0; nothing else
        loss = CrossEntropyLoss()
        value = loss(logits, targets)
        grad = loss.backward()
    assert math.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(naive_cross_entropy(logits.astype(np.float64), targets), rel=rel)


def test_shifting_every_logit_changes_nothing():
    logits = np.random.default_rng(5).standard_normal((6, 8))
    targets = np.arange(6)
    assert CrossEntropyLoss()(logits + 1000.0, targets) == pytest.approx(CrossEntropyLoss()(logits, targets), rel=1e-12)


def test_cross_entropy_leaves_the_logits_alone():
    logits = np.random.default_rng(6).standard_normal((2, 3, 4))
    before = logits.copy()
    loss = CrossEntropyLoss()
    loss(logits, np.zeros((2, 3), dtype=np.int64))
    loss.backward()
    np.testing.assert_array_equal(logits, before)


def test_cross_entropy_bad_inputs():
    loss = CrossEntropyLoss()
    logits = np.zeros((2, 3, 5))
    with pytest.raises(RuntimeError, match="forward"):
        loss.backward()
    with pytest.raises(IndexError, match=r"target 7 .*5 classes"):
        loss(logits, np.array([[0, 7, 9], [1, 1, 1]]))  # the first bad one is named
    with pytest.raises(IndexError, match=r"target -1 .*5 classes"):
        loss(logits, np.array([[0, 1, 2], [-1, 1, 1]]))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        loss(logits, np.zeros((3, 2), dtype=np.int64))
    with pytest.raises(ValueError):
        loss(logits, np.zeros(6, dtype=np.int64))  # flattened on one side only
    with pytest.raises(TypeError, match="integer"):
        loss(logits, np.zeros((2, 3)))  # float targets
    with pytest.raises(TypeError, match="floating point"):
        loss(np.zeros((2, 3, 5), dtype=np.int64), np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="no targets"):
        loss(np.zeros((0, 5)), [])
    with pytest.raises(RuntimeError):
        loss.backward()  # every failed forward left the loss as it was: never run


def test_a_failed_cross_entropy_keeps_the_last_good_forward():
    loss = CrossEntropyLoss()
    loss(np.array([[2.0, 0.0]]), np.array([0]))
    good = loss.backward()
    with pytest.raises(IndexError):
        loss(np.zeros((1, 2)), np.array([5]))
    np.testing.assert_array_equal(loss.backward(), good)


# --- TinyLM --------------------------------------------------------------------------------

V, C, D, B, T = 7, 5, 3, 2, 4
IDS = np.array([[1, 3, 3, 0], [3, 6, 1, 1]])  # (B, T): 3 three times, 1 three times; 2, 4, 5 unused
TARGETS = np.array([[3, 3, 0, 2], [6, 1, 1, 1]])  # the next tokens, and a made-up last one


def test_tiny_lm_shapes_and_parameters():
    model = TinyLM(V, C, D, seed=0)
    assert repr(model) == "TinyLM(V=7, context_length=5, D=3)"
    assert model(IDS).shape == (B, T, V)
    token, position, head = model.parameters()
    assert (token.weight.shape, position.weight.shape, head.weight.shape) == ((V, D), (C, D), (V, D))
    assert token is model.embedding.token and position is model.embedding.position and head is model.out_head
    assert model.num_parameters() == V * D + C * D + V * D
    assert all(p.weight.dtype == np.float32 for p in model.parameters())


def test_tiny_lm_starts_at_gpt2s_init_so_its_first_loss_is_about_ln_v():
    model = TinyLM(512, 32, 64, seed=0)
    for p in model.parameters():
        assert float(p.weight.std()) == pytest.approx(0.02, rel=0.05)
    ids = np.random.default_rng(1).integers(0, 512, size=(16, 32))
    assert abs(model.loss(ids[:, :-1], ids[:, 1:]) - math.log(512)) < 0.01


def test_tiny_lm_seeds():
    a, b, c = TinyLM(V, C, D, seed=3), TinyLM(V, C, D, seed=3), TinyLM(V, C, D, seed=4)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa.weight, pb.weight)
        assert not np.array_equal(pa.weight, pc.weight)


def test_tiny_lm_gradients_match_finite_differences():
    model = TinyLM(V, C, D, seed=6, dtype=np.float64)
    loss = lambda: model.loss(IDS, TARGETS)  # noqa: E731
    numeric = [central_differences(loss, p.weight) for p in model.parameters()]
    model.loss(IDS, TARGETS)
    model.backward()
    for p, expected in zip(model.parameters(), numeric):
        assert max_relative_error(p.grad, expected) < 1e-6
    token, position, _ = model.parameters()
    assert not token.grad[[2, 4, 5]].any()  # never an input (2 is only a target)
    assert not position.grad[T:].any()  # position 4 is beyond T


def test_tiny_lm_zero_grad_clears_all_three():
    model = TinyLM(V, C, D, seed=7)
    model.loss(IDS, TARGETS)
    model.backward()
    assert all(p.grad.any() for p in model.parameters())
    model.zero_grad()
    assert not any(p.grad.any() for p in model.parameters())


def test_tiny_lm_bad_targets_change_nothing():
    fresh = TinyLM(V, C, D, seed=8, dtype=np.float64)
    fresh.loss(IDS, TARGETS)
    fresh.backward()
    model = TinyLM(V, C, D, seed=8, dtype=np.float64)
    model.loss(IDS, TARGETS)
    with pytest.raises(IndexError, match="target 7"):
        model.loss(IDS[:, :2], np.array([[7, 0], [0, 0]]))
    with pytest.raises(ValueError):
        model.loss(IDS, TARGETS[:, :3])
    with pytest.raises(TypeError):
        model.loss(IDS, TARGETS.astype(float))
    with pytest.raises(IndexError):
        model.loss(IDS + 10, TARGETS)  # a bad input ID
    model.backward()  # the gradient of the last good loss
    for p, q in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_tiny_lm_backward_before_loss_is_a_runtime_error():
    with pytest.raises(RuntimeError, match="forward"):
        TinyLM(V, C, D, seed=0).backward()


LAZY_ADAM = functools.partial(npllm.Adam, lazy=True)


@pytest.mark.parametrize("optimizer", [npllm.Adam, LAZY_ADAM, npllm.SGD])
def test_a_few_steps_on_a_fixed_batch_lower_the_loss(optimizer):
    model = TinyLM(50, 8, 16, seed=9)
    ids = np.random.default_rng(10).integers(0, 50, size=(4, 9))
    x, y = ids[:, :-1], ids[:, 1:]  # (4, 8): the targets are the inputs one token later
    opt = optimizer(model.parameters(), lr=5.0 if optimizer is npllm.SGD else 0.05)  # small init: SGD needs a big step
    losses = []
    for _ in range(20):
        losses.append(model.loss(x, y))
        opt.zero_grad()
        model.backward()
        opt.step()
    assert losses[0] == pytest.approx(math.log(50), abs=0.02)
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert losses[-1] < losses[0] - 1.0


def test_tiny_lm_token_table_is_sparse_unless_asked_otherwise():
    assert TinyLM(V, C, D, seed=0).embedding.token.sparse
    assert not TinyLM(V, C, D, seed=0, sparse=False).embedding.token.sparse
    assert all(p.weight.dtype == np.float64 for p in TinyLM(V, C, D, seed=0, dtype=np.float64).parameters())


@pytest.mark.parametrize("optimizer", [npllm.Adam, LAZY_ADAM, npllm.SGD])
def test_sparse_and_dense_token_tables_train_the_same_bit_for_bit(optimizer):
    """The sparse table is the fast mode, not a different model: 10 steps, equal losses and weights."""
    rng = np.random.default_rng(19)
    models = [TinyLM(60, 8, 12, seed=20, sparse=sparse) for sparse in (True, False)]
    opts = [optimizer(m.parameters(), lr=0.5 if optimizer is npllm.SGD else 0.02) for m in models]
    for _ in range(10):
        ids = rng.integers(0, 60, size=(3, 9))
        losses = []
        for model, opt in zip(models, opts):
            losses.append(model.loss(ids[:, :-1], ids[:, 1:]))
            opt.zero_grad()
            model.backward()
            opt.step()
        assert losses[0] == losses[1]
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        np.testing.assert_array_equal(p.weight, q.weight)


# --- generate --------------------------------------------------------------------------------


def test_generate_shapes_range_and_prefix():
    model = TinyLM(V, C, D, seed=11)
    out = model.generate(IDS, 6, seed=0)  # (B, T) -> (B, T + 6)
    assert out.shape == (B, T + 6) and out.dtype == np.int64
    np.testing.assert_array_equal(out[:, :T], IDS)
    assert out.min() >= 0 and out.max() < V
    one = model.generate(np.array([1, 2]), 3, seed=0)  # (T,) -> (T + 3,)
    assert one.shape == (5,)
    np.testing.assert_array_equal(model.generate([4], 0, seed=0), [4])


def test_generate_is_reproducible_with_a_seed():
    model = TinyLM(V, C, D, seed=12)
    np.testing.assert_array_equal(model.generate(IDS, 20, seed=1), model.generate(IDS, 20, seed=1))
    assert not np.array_equal(model.generate(IDS, 20, seed=1), model.generate(IDS, 20, seed=2))


def test_generate_crops_the_context_to_the_last_context_length_tokens():
    model = TinyLM(V, C, D, seed=13)
    long = np.array([0, 1, 2, 3, 4, 5, 6, 1, 2, 3])  # 10 tokens, context 5
    other = np.array([6, 6, 6, 6, 6, 5, 6, 1, 2, 3])  # the same last 5
    a, b = model.generate(long, 12, seed=3), model.generate(other, 12, seed=3)
    assert a.shape == (22,)
    np.testing.assert_array_equal(a[10:], b[10:])  # only the last C tokens matter


def test_generate_samples_the_softmax():
    """One token for 20,000 copies of one prompt: the counts follow softmax(logits / temperature)."""
    model = TinyLM(5, 4, 3, seed=14, dtype=np.float64)
    for p in model.parameters():  # N(0, 1) instead of N(0, 0.02): logits far apart, probabilities unequal
        p.weight[...] = np.random.default_rng(18).standard_normal(p.weight.shape)
    for temperature in (1.0, 2.0):
        logits = model(np.array([[2]]))[0, -1] / temperature
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        drawn = model.generate(np.full((20_000, 1), 2), 1, temperature=temperature, seed=15)[:, -1]
        frequencies = np.bincount(drawn, minlength=5) / 20_000
        four_sigma = 4 * np.sqrt(probs * (1 - probs) / 20_000)  # binomial standard deviation
        assert (np.abs(frequencies - probs) <= four_sigma + 1e-12).all(), (frequencies, probs)
        assert probs.max() - probs.min() > 0.2  # a real test: far from uniform


def test_a_tiny_temperature_is_greedy():
    model = TinyLM(V, C, D, seed=16)
    out = model.generate(np.array([[3]]), 8, temperature=1e-6, seed=17)
    for k in range(1, out.shape[1]):
        context = out[:, max(0, k - C) : k]
        assert out[0, k] == int(np.argmax(model(context)[0, -1]))


def test_generate_bad_inputs():
    model = TinyLM(V, C, D, seed=0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(IDS, 1, temperature=0)
    with pytest.raises(ValueError, match="temperature"):
        model.generate(IDS, 1, temperature=float("nan"))
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(IDS, -1)
    with pytest.raises(TypeError, match="max_new_tokens"):
        model.generate(IDS, 2.0)
    with pytest.raises(ValueError, match=re.escape("(1, 0)")):
        model.generate(np.zeros((1, 0), dtype=np.int64), 1)
    with pytest.raises(IndexError, match="7"):
        model.generate([1, 7], 1)
    with pytest.raises(TypeError):
        model.generate(np.array([1.0, 2.0]), 1)
