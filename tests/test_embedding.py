"""Step 4: Embedding, PositionalEmbedding and GPTEmbedding, forward and hand-written backward.

The course's equivalence is the known answer: a lookup is `one_hot(ids) @ W`, so its gradient
is `one_hot(ids).T @ grad_out`. Central finite differences in float64 check every weight of
small tables. Then the course's shapes, initialisation, accumulation, zero_grad, and the
bad inputs (each raised before anything changes).
"""

import re
import tracemalloc

import numpy as np
import pytest
from reference import COURSE_FIRST_INPUTS, central_differences, max_relative_error

import npllm
from npllm.embedding import Embedding, GPTEmbedding, PositionalEmbedding


def one_hot(ids, V):  # (...) int -> (..., V)
    return np.eye(V)[ids]


def test_public_api_exports_the_step_4_classes():
    assert npllm.Embedding is Embedding
    assert npllm.PositionalEmbedding is PositionalEmbedding
    assert npllm.GPTEmbedding is GPTEmbedding


# --- known answers: the course's one-hot equivalence --------------------------------------


def test_course_lookup_equals_one_hot_matmul():
    """idx = [2, 3, 1] through a 4 x 5 table: row i of the output is row idx[i] of W."""
    emb = Embedding(4, 5, seed=123, dtype=np.float64)
    idx = np.array([2, 3, 1])
    out = emb(idx)  # (3, 5)
    assert out.shape == (3, 5)
    np.testing.assert_array_equal(out, one_hot(idx, 4) @ emb.weight)  # (3, 4) @ (4, 5)
    np.testing.assert_array_equal(out, emb.weight[[2, 3, 1]])


def test_course_gradient_equals_one_hot_transpose_matmul():
    emb = Embedding(4, 5, seed=123, dtype=np.float64)
    idx = np.array([2, 3, 1])
    emb(idx)
    grad_out = np.arange(15.0).reshape(3, 5)  # (3, 5)
    emb.backward(grad_out)
    np.testing.assert_array_equal(emb.grad, one_hot(idx, 4).T @ grad_out)  # (4, 3) @ (3, 5)
    assert not emb.grad[0].any()  # row 0 was not looked up


def test_random_repeated_ids_match_the_one_hot_forms():
    rng = np.random.default_rng(0)
    V, D = 11, 6
    emb = Embedding(V, D, seed=1, dtype=np.float64)
    ids = rng.integers(0, 4, size=(3, 9))  # (3, 9): 27 lookups of 4 ids, many repeats
    out = emb(ids)  # (3, 9, 6)
    np.testing.assert_allclose(out, one_hot(ids, V) @ emb.weight, rtol=0, atol=0)
    grad_out = rng.standard_normal((3, 9, D))
    emb.backward(grad_out)
    expected = one_hot(ids, V).reshape(-1, V).T @ grad_out.reshape(-1, D)  # (V, N) @ (N, D)
    np.testing.assert_allclose(emb.grad, expected, rtol=1e-12, atol=1e-12)


# --- central finite differences in float64 -------------------------------------------------

V, C, D, B, T = 7, 5, 3, 2, 4
IDS = np.array([[1, 3, 3, 0], [3, 6, 1, 1]])  # (B, T): 3 three times, 1 three times; 2, 4, 5 unused


def test_embedding_gradient_matches_finite_differences():
    emb = Embedding(V, D, seed=2, dtype=np.float64)
    R = np.random.default_rng(3).standard_normal((B, T, D))  # L = sum(out * R)
    loss = lambda: float(np.sum(emb(IDS) * R))  # noqa: E731
    numeric = central_differences(loss, emb.weight)
    emb(IDS)
    emb.backward(R)
    assert max_relative_error(emb.grad, numeric) < 1e-6
    assert not emb.grad[[2, 4, 5]].any() and not numeric[[2, 4, 5]].any()
    assert np.abs(emb.grad[3]).sum() > 0


@pytest.mark.parametrize("batch", [(), (B,)])
def test_positional_gradient_matches_finite_differences(batch):
    pos = PositionalEmbedding(C, D, seed=4, dtype=np.float64)
    R = np.random.default_rng(5).standard_normal(batch + (T, D))  # (T, D) or (B, T, D)
    loss = lambda: float(np.sum(pos(T) * R))  # noqa: E731  (T, D) broadcast over the batch
    numeric = central_differences(loss, pos.weight)
    pos(T)
    pos.backward(R)
    assert max_relative_error(pos.grad, numeric) < 1e-6
    assert not pos.grad[T:].any()  # position 4 is beyond T


def test_gpt_embedding_gradient_matches_finite_differences():
    gpt = GPTEmbedding(V, C, D, seed=6, dtype=np.float64)
    R = np.random.default_rng(7).standard_normal((B, T, D))
    loss = lambda: float(np.sum(gpt(IDS) * R))  # noqa: E731
    numeric_token = central_differences(loss, gpt.token.weight)
    numeric_position = central_differences(loss, gpt.position.weight)
    gpt(IDS)
    gpt.backward(R)
    assert max_relative_error(gpt.token.grad, numeric_token) < 1e-6
    assert max_relative_error(gpt.position.grad, numeric_position) < 1e-6
    np.testing.assert_allclose(gpt.position.grad[:T], R.sum(axis=0), rtol=1e-12)  # sum over the batch


# --- the course's shapes -------------------------------------------------------------------

COURSE_BATCH = np.array(COURSE_FIRST_INPUTS)  # (8, 4): the course's first batch of The Verdict


def test_course_shapes():
    gpt = GPTEmbedding(50_257, 4, 256, seed=123)
    token_embeddings = gpt.token(COURSE_BATCH)
    assert token_embeddings.shape == (8, 4, 256)
    pos_embeddings = gpt.position(4)
    assert pos_embeddings.shape == (4, 256)
    input_embeddings = token_embeddings + pos_embeddings
    assert input_embeddings.shape == (8, 4, 256)
    out = gpt(COURSE_BATCH)
    assert out.shape == (8, 4, 256) and out.dtype == np.float32
    np.testing.assert_array_equal(out, input_embeddings)
    np.testing.assert_array_equal(out[2, 1], gpt.token.weight[2138] + gpt.position.weight[1])


# --- initialisation -------------------------------------------------------------------------


def test_weights_are_standard_normal_on_a_big_table():
    w = Embedding(1_000, 200, seed=0, dtype=np.float64).weight  # 200,000 draws
    assert abs(w.mean()) < 0.01
    assert abs(w.std() - 1) < 0.01
    assert 0.3 < np.mean(np.abs(w) < 0.5) < 0.47  # P(|z| < 0.5) = 0.383: normal, not uniform


def test_same_seed_same_weights_and_different_seed_different_weights():
    np.testing.assert_array_equal(Embedding(20, 8, seed=5).weight, Embedding(20, 8, seed=5).weight)
    assert not np.array_equal(Embedding(20, 8, seed=5).weight, Embedding(20, 8, seed=6).weight)
    assert not np.array_equal(Embedding(20, 8).weight, Embedding(20, 8).weight)  # seed=None: fresh
    np.testing.assert_array_equal(PositionalEmbedding(6, 4, seed=1).weight, PositionalEmbedding(6, 4, seed=1).weight)
    a, b = GPTEmbedding(20, 6, 4, seed=9), GPTEmbedding(20, 6, 4, seed=9)
    np.testing.assert_array_equal(a.token.weight, b.token.weight)
    np.testing.assert_array_equal(a.position.weight, b.position.weight)
    assert not np.array_equal(a.token.weight[:6], a.position.weight)  # two streams, not one twice


def test_a_generator_works_as_the_seed():
    np.testing.assert_array_equal(
        Embedding(10, 3, seed=np.random.default_rng(42)).weight, Embedding(10, 3, seed=42).weight
    )


def test_the_global_numpy_rng_is_left_alone():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    Embedding(10, 3)
    PositionalEmbedding(4, 3)
    GPTEmbedding(10, 4, 3)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_is_respected(dtype):
    emb = Embedding(6, 4, seed=0, dtype=dtype)
    assert emb.weight.dtype == dtype and emb.grad.dtype == dtype
    out = emb(np.array([1, 5]))
    assert out.dtype == dtype
    emb.backward(np.ones((2, 4), dtype=np.float64))
    assert emb.grad.dtype == dtype
    gpt = GPTEmbedding(6, 3, 4, seed=0, dtype=dtype)
    assert gpt.token.weight.dtype == dtype and gpt.position.weight.dtype == dtype
    assert gpt(np.array([[0, 1, 2]])).dtype == dtype


def test_default_dtype_is_float32():
    assert Embedding(3, 2).weight.dtype == np.float32
    assert PositionalEmbedding(3, 2).weight.dtype == np.float32


# --- Embedding: forward ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4)])
def test_forward_takes_ids_of_any_shape(shape):
    emb = Embedding(9, 4, seed=0)
    ids = np.random.default_rng(1).integers(0, 9, size=shape)
    out = emb.forward(ids)
    assert out.shape == shape + (4,)
    np.testing.assert_array_equal(out, emb.weight[ids])
    np.testing.assert_array_equal(emb(ids), out)  # __call__ is forward
    emb.backward(np.ones(shape + (4,)))
    np.testing.assert_array_equal(emb.grad.sum(axis=1), 4 * np.bincount(np.ravel(ids), minlength=9))


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.int32, np.int64])
def test_forward_and_backward_take_any_integer_dtype(dtype):
    """Token files hold uint16 or uint32."""
    emb = Embedding(70_000 if dtype != np.uint16 else 300, 2, seed=0, dtype=np.float64)
    ids = np.array([[3, 250, 3], [0, 1, 250]], dtype=dtype)
    np.testing.assert_array_equal(emb(ids), emb.weight[ids.astype(np.int64)])
    emb.backward(np.ones((2, 3, 2)))
    assert emb.grad[3].tolist() == [2.0, 2.0] and emb.grad[250].tolist() == [2.0, 2.0]
    assert emb(ids.tolist()).shape == (2, 3, 2)  # a nested list works too


def test_forward_returns_a_copy_and_keeps_its_own_ids():
    emb = Embedding(5, 2, seed=0, dtype=np.float64)
    weight = emb.weight.copy()
    ids = np.array([1, 2])
    out = emb(ids)
    out[:] = 99.0
    np.testing.assert_array_equal(emb.weight, weight)
    ids[:] = 4  # the caller reuses its array before backward
    emb.backward(np.ones((2, 2)))
    assert emb.grad[[1, 2]].tolist() == [[1, 1], [1, 1]] and not emb.grad[4].any()


# --- Embedding: backward accumulates, zero_grad clears --------------------------------------


def test_repeated_ids_add_up():
    emb = Embedding(5, 2, seed=0, dtype=np.float64)
    emb(np.array([1, 3, 1, 1]))
    emb.backward(np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0], [1000.0, 2000.0]]))
    assert emb.grad.tolist() == [[0, 0], [1101, 2202], [0, 0], [10, 20], [0, 0]]


def test_two_backward_calls_add_twice():
    emb = Embedding(6, 3, seed=0, dtype=np.float64)
    ids = np.array([[0, 5, 5], [2, 0, 5]])
    grad_out = np.random.default_rng(0).standard_normal((2, 3, 3))
    emb(ids)
    emb.backward(grad_out)
    once = emb.grad.copy()
    emb.backward(grad_out)
    np.testing.assert_allclose(emb.grad, 2 * once, rtol=1e-15)
    assert once[[0, 2, 5]].any(axis=1).all()


def test_zero_grad_clears_the_whole_grad_after_several_backwards():
    rng = np.random.default_rng(1)
    emb = Embedding(50, 4, seed=0)
    seen = set()
    for _ in range(4):
        ids = rng.integers(0, 30, size=(3, 7))  # rows 30..49 never touched
        seen.update(ids.ravel().tolist())
        emb(ids)
        emb.backward(rng.standard_normal((3, 7, 4)).astype(np.float32))
    assert not emb.grad[30:].any()
    assert emb.touched_rows().tolist() == sorted(seen)
    assert emb.grad[sorted(seen)].any(axis=1).all()
    emb.zero_grad()
    assert not emb.grad.any()
    assert emb.touched_rows().tolist() == []
    emb(np.array([7, 7]))  # and it keeps working after a zero_grad
    emb.backward(np.ones((2, 4), dtype=np.float32))
    assert emb.touched_rows().tolist() == [7]
    assert emb.grad.sum() == 8.0
    emb.zero_grad()
    assert not emb.grad.any()


def test_zero_grad_before_any_backward_is_harmless():
    emb = Embedding(4, 2, seed=0)
    weight = emb.weight.copy()
    emb.zero_grad()
    assert not emb.grad.any() and emb.touched_rows().size == 0
    np.testing.assert_array_equal(emb.weight, weight)


def test_an_empty_batch_has_an_empty_gradient():
    emb = Embedding(4, 2, seed=0)
    out = emb(np.zeros((0, 3), dtype=np.int64))
    assert out.shape == (0, 3, 2)
    emb.backward(np.zeros((0, 3, 2), dtype=np.float32))
    assert not emb.grad.any()


# --- PositionalEmbedding ----------------------------------------------------------------------


def test_positions_are_the_first_rows_and_read_only():
    pos = PositionalEmbedding(6, 3, seed=0)
    out = pos.forward(4)  # (4, 3)
    assert out.shape == (4, 3)
    np.testing.assert_array_equal(out, pos.weight[:4])
    np.testing.assert_array_equal(pos(np.int64(6)), pos.weight)  # all of them; NumPy ints work
    with pytest.raises(ValueError):
        out[0, 0] = 1.0  # a read-only view: nobody writes into the table through it
    assert pos.weight.flags.writeable


@pytest.mark.parametrize("seq_len", [7, 100, 0, -1])
def test_positions_outside_one_to_context_length_are_a_value_error(seq_len):
    pos = PositionalEmbedding(6, 3, seed=0)
    with pytest.raises(ValueError, match="6"):
        pos(seq_len)


@pytest.mark.parametrize("seq_len", [2.0, "3", None, np.float64(2), [3]])
def test_a_non_int_sequence_length_is_a_type_error(seq_len):
    with pytest.raises(TypeError):
        PositionalEmbedding(6, 3, seed=0)(seq_len)


def test_positional_backward_adds_into_the_first_rows():
    pos = PositionalEmbedding(6, 2, seed=0, dtype=np.float64)
    pos(3)
    pos.backward(np.ones((3, 2)))  # (T, D)
    assert pos.grad.tolist() == [[1, 1], [1, 1], [1, 1], [0, 0], [0, 0], [0, 0]]
    grad_out = np.arange(24.0).reshape(4, 3, 2)  # (B, T, D)
    pos.backward(grad_out)
    np.testing.assert_array_equal(pos.grad[:3], 1 + grad_out.sum(axis=0))
    assert not pos.grad[3:].any()
    pos.zero_grad()
    assert not pos.grad.any()


@pytest.mark.parametrize("shape", [(4, 2), (3, 3), (2,), (2, 4, 2)])
def test_positional_backward_of_the_wrong_shape_is_a_value_error(shape):
    pos = PositionalEmbedding(6, 2, seed=0)
    pos(3)
    with pytest.raises(ValueError):
        pos.backward(np.ones(shape))
    assert not pos.grad.any()


def test_a_bad_positional_forward_changes_nothing():
    pos = PositionalEmbedding(6, 2, seed=0)
    pos(3)
    with pytest.raises(ValueError):
        pos(9)
    pos.backward(np.ones((3, 2), dtype=np.float32))  # still the good forward's T
    assert pos.grad[:3].sum() == 6.0


# --- GPTEmbedding --------------------------------------------------------------------------


def test_gpt_embedding_is_token_plus_position():
    gpt = GPTEmbedding(10, 5, 3, seed=0, dtype=np.float64)
    assert isinstance(gpt.token, Embedding) and isinstance(gpt.position, PositionalEmbedding)
    assert gpt.token.weight.shape == (10, 3) and gpt.position.weight.shape == (5, 3)
    assert gpt.parameters() == [gpt.token, gpt.position]
    assert gpt.parameters()[0] is gpt.token and gpt.parameters()[1] is gpt.position
    ids = np.array([[9, 0, 9, 2], [1, 1, 1, 1]])  # (2, 4)
    out = gpt.forward(ids)
    assert out.shape == (2, 4, 3)
    np.testing.assert_array_equal(out, gpt.token.weight[ids] + gpt.position.weight[:4])
    np.testing.assert_array_equal(gpt(ids), out)


def test_gpt_backward_fills_both_tables_and_zero_grad_clears_both():
    gpt = GPTEmbedding(10, 5, 3, seed=0, dtype=np.float64)
    ids = np.array([[9, 0, 9], [1, 9, 1]])  # (2, 3)
    gpt(ids)
    grad_out = np.random.default_rng(0).standard_normal((2, 3, 3))
    gpt.backward(grad_out)
    expected_token = np.zeros((10, 3))
    for b in range(2):
        for t in range(3):
            expected_token[ids[b, t]] += grad_out[b, t]
    np.testing.assert_allclose(gpt.token.grad, expected_token, rtol=1e-14)
    np.testing.assert_allclose(gpt.position.grad[:3], grad_out.sum(axis=0), rtol=1e-14)
    assert not gpt.position.grad[3:].any()
    gpt.zero_grad()
    assert not gpt.token.grad.any() and not gpt.position.grad.any()


def test_gpt_out_of_range_ids_change_nothing():
    gpt = GPTEmbedding(10, 5, 2, seed=0)
    good = np.array([[1, 2, 3]])
    gpt(good)
    with pytest.raises(IndexError, match=r"\b10\b"):
        gpt(np.array([[1, 10]]))
    gpt.backward(np.ones((1, 3, 2), dtype=np.float32))
    assert gpt.token.touched_rows().tolist() == [1, 2, 3]
    assert gpt.position.grad[:3].sum() == 6.0


def test_gpt_too_long_a_sequence_changes_nothing():
    """T > context_length: a ValueError, and the previous forward is still the one backward uses."""
    gpt = GPTEmbedding(10, 3, 2, seed=0)
    gpt(np.array([[1, 2, 3]]))
    with pytest.raises(ValueError, match="3"):
        gpt(np.array([[1, 2, 3, 4, 5]]))
    gpt.backward(np.ones((1, 3, 2), dtype=np.float32))
    assert gpt.token.touched_rows().tolist() == [1, 2, 3]
    assert not gpt.token.grad[[4, 5]].any()


def test_gpt_backward_of_the_wrong_shape_changes_neither_table():
    gpt = GPTEmbedding(10, 5, 2, seed=0)
    gpt(np.array([[1, 2, 3]]))
    for shape in [(1, 3, 3), (2, 3, 2), (1, 4, 2), (3, 2)]:
        with pytest.raises(ValueError):
            gpt.backward(np.ones(shape, dtype=np.float32))
    assert not gpt.token.grad.any() and not gpt.position.grad.any()


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("ids, bad", [([3, 123, 7, 500], 123), ([0, -5, 2], -5), ([[1, 2], [50, -1]], 50)])
def test_out_of_range_ids_name_the_first_bad_id_and_the_table_size(ids, bad):
    emb = Embedding(50, 2, seed=0)
    with pytest.raises(IndexError) as caught:
        emb(np.array(ids))
    message = str(caught.value)
    assert re.search(rf"(?<![\d-]){bad}\b", message), message
    assert re.search(r"(?<![\d-])50\b", message), message


def test_a_bad_forward_leaves_the_previous_ids_for_backward():
    emb = Embedding(8, 2, seed=0, dtype=np.float64)
    emb(np.array([1, 1, 4]))
    for bad in (np.array([0, 8]), np.array([-1]), np.array([0.0, 1.0])):
        with pytest.raises((IndexError, TypeError)):
            emb(bad)
    emb.backward(np.ones((3, 2)))
    assert emb.grad.tolist() == [[0, 0], [2, 2], [0, 0], [0, 0], [1, 1], [0, 0], [0, 0], [0, 0]]


@pytest.mark.parametrize("ids", [np.array([1.0, 2.0]), [0.5], np.array([1, 2], dtype=np.float32), ["1"]])
def test_float_or_text_ids_are_a_type_error(ids):
    with pytest.raises(TypeError):
        Embedding(8, 2, seed=0)(ids)


@pytest.mark.parametrize("shape", [(3,), (3, 3), (2, 2), (1, 3, 2), (2, 3)])
def test_grad_out_of_the_wrong_shape_is_a_value_error_and_changes_nothing(shape):
    emb = Embedding(8, 2, seed=0)
    emb(np.array([1, 2, 3]))  # grad_out must be (3, 2)
    with pytest.raises(ValueError):
        emb.backward(np.ones(shape, dtype=np.float32))
    assert not emb.grad.any() and emb.touched_rows().size == 0


@pytest.mark.parametrize(
    "module, grad_out",
    [
        (lambda: Embedding(4, 2), np.ones((1, 2))),
        (lambda: PositionalEmbedding(4, 2), np.ones((1, 2))),
        (lambda: GPTEmbedding(4, 4, 2), np.ones((1, 1, 2))),
    ],
)
def test_backward_before_any_forward_is_a_runtime_error(module, grad_out):
    m = module()
    with pytest.raises(RuntimeError):
        m.backward(grad_out.astype(np.float32))


SIZE_MAKERS = [
    lambda a, b: Embedding(a, b),
    lambda a, b: PositionalEmbedding(a, b),
    lambda a, b: GPTEmbedding(a, 4, b),
    lambda a, b: GPTEmbedding(4, a, b),
]


@pytest.mark.parametrize("make", SIZE_MAKERS)
@pytest.mark.parametrize("sizes", [(0, 3), (3, 0), (-2, 3), (3, -1)])
def test_zero_or_negative_sizes_are_a_value_error(make, sizes):
    with pytest.raises(ValueError):
        make(*sizes)


@pytest.mark.parametrize("make", SIZE_MAKERS)
@pytest.mark.parametrize("sizes", [(3.0, 2), (3, 2.0), ("3", 2), (3, None), (True, 2)])
def test_non_int_sizes_are_a_type_error(make, sizes):
    with pytest.raises(TypeError):
        make(*sizes)


def test_numpy_int_sizes_work():
    assert Embedding(np.int64(5), np.int32(2)).weight.shape == (5, 2)


@pytest.mark.parametrize("dtype", [np.int32, int, np.uint8, bool, "int64"])
def test_an_integer_weight_dtype_is_a_type_error(dtype):
    with pytest.raises(TypeError):
        Embedding(4, 2, dtype=dtype)
    with pytest.raises(TypeError):
        PositionalEmbedding(4, 2, dtype=dtype)
    with pytest.raises(TypeError):
        GPTEmbedding(4, 4, 2, dtype=dtype)


# --- repr --------------------------------------------------------------------------------


def test_repr_shows_the_sizes():
    assert repr(Embedding(50_257, 8)) == "Embedding(V=50257, D=8)"
    assert repr(Embedding(3, 768)) == "Embedding(V=3, D=768)"
    pos = repr(PositionalEmbedding(1024, 7))
    assert pos.startswith("PositionalEmbedding(") and "1024" in pos and "7" in pos
    gpt = repr(GPTEmbedding(50_257, 1024, 8))
    assert gpt.startswith("GPTEmbedding(") and all(n in gpt for n in ("50257", "1024", "8"))


# --- the gradient as rows: sparse_grad(), and sparse=True -------------------------------------


def backward_three_times(emb, seed=0):
    """Three forward + backward passes with repeated ids, accumulating; returns the id batches."""
    rng = np.random.default_rng(seed)
    batches = [rng.integers(0, 12, size=(3, 7)) for _ in range(3)]  # (3, 7) each: 21 lookups of 12 rows
    for ids in batches:
        emb(ids)
        emb.backward(rng.standard_normal((3, 7, emb.weight.shape[1])).astype(emb.weight.dtype))
    return batches


def as_dict(rows, values):
    return {int(r): v.tolist() for r, v in zip(rows, values)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sparse_and_dense_modes_give_the_same_gradient_bit_for_bit(dtype):
    dense, sparse = Embedding(40, 5, seed=1, dtype=dtype), Embedding(40, 5, seed=1, dtype=dtype, sparse=True)
    batches = backward_three_times(dense)
    backward_three_times(sparse)
    touched = sorted(set(np.concatenate([b.ravel() for b in batches]).tolist()))
    assert dense.touched_rows().tolist() == touched == sparse.touched_rows().tolist()
    assert as_dict(*dense.sparse_grad()) == as_dict(*sparse.sparse_grad())  # before anyone reads .grad
    np.testing.assert_array_equal(sparse.grad, dense.grad)
    assert sparse.grad.shape == (40, 5) and sparse.grad.dtype == dtype
    assert not sparse.grad[np.setdiff1d(np.arange(40), touched)].any()


def test_sparse_grad_gives_the_touched_rows_and_their_values():
    emb = Embedding(10, 2, seed=0, dtype=np.float64)
    emb(np.array([7, 2, 7]))
    emb.backward(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    rows, values = emb.sparse_grad()
    assert as_dict(rows, values) == {2: [3.0, 4.0], 7: [6.0, 8.0]}
    with pytest.raises(ValueError):
        values[0, 0] = 1.0  # read-only: the optimizers read it, nobody writes it
    sparse = Embedding(10, 2, seed=0, dtype=np.float64, sparse=True)
    sparse(np.array([7, 2, 7]))
    sparse.backward(np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    assert as_dict(*sparse.sparse_grad()) == {2: [3.0, 4.0], 7: [6.0, 8.0]}
    with pytest.raises(ValueError):
        sparse.sparse_grad()[1][0, 0] = 1.0


def test_a_sparse_grad_reads_as_dense_but_is_read_only():
    emb = Embedding(6, 2, seed=0, dtype=np.float64, sparse=True)
    emb(np.array([1, 4, 1]))
    emb.backward(np.ones((3, 2)))
    assert emb.grad.tolist() == [[0, 0], [2, 2], [0, 0], [0, 0], [1, 1], [0, 0]]
    with pytest.raises(ValueError, match="read-only"):
        emb.grad[3] = 1.0
    emb.zero_grad()
    assert not emb.grad.any()
    emb(np.array([5]))  # a new batch: the rows of the old one are cleared in what .grad shows
    emb.backward(np.full((1, 2), 3.0))
    assert emb.grad.tolist() == [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [3, 3]]
    assert emb.touched_rows().tolist() == [5]


def test_after_grad_is_handed_out_rows_written_by_hand_count():
    """A dense Embedding's .grad is the user's to write (weight tying, weight decay): once read,
    sparse_grad() also finds the rows written by hand, and zero_grad() clears them."""
    emb = Embedding(8, 2, seed=0, dtype=np.float64)
    emb(np.array([1, 1]))
    emb.backward(np.ones((2, 2)))
    assert emb.sparse_grad()[0].tolist() == [1]
    grad = emb.grad  # handed out
    grad[5] = [0.5, -0.5]  # no backward knows of row 5
    assert as_dict(*emb.sparse_grad()) == {1: [2.0, 2.0], 5: [0.5, -0.5]}
    emb.zero_grad()  # touched_rows knows only row 1: the whole table is cleared
    assert not grad.any()
    grad[6] = [1.0, 1.0]  # the same array, written again after zero_grad: still seen
    assert emb.sparse_grad()[0].tolist() == [6]


def test_sparse_mode_keeps_no_V_by_D_gradient():
    """(V, D) = (50,257, 32): 6.4 MB. A dense Embedding holds a weight and a gradient that size;
    sparse=True only the weight, and a step of (8, 512) IDs allocates a small fraction of it."""
    V, D = 50_257, 32
    table = V * D * 4
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        dense = Embedding(V, D, seed=0)
        with_grad = tracemalloc.get_traced_memory()[0] - before
        sparse = Embedding(V, D, seed=0, sparse=True)
        without = tracemalloc.get_traced_memory()[0] - before - with_grad
        ids = np.random.default_rng(0).integers(0, V, size=(8, 512))  # (B, T)
        grad_out = np.ones((8, 512, D), dtype=np.float32)  # (B, T, D), 0.5 MB
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        sparse(ids)
        sparse.backward(grad_out)
        sparse.sparse_grad()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    assert with_grad >= 2 * table and without < 1.1 * table
    assert peak < table / 2, f"a sparse step peaked at {peak:,} bytes over a {table:,} byte table"
    assert dense.weight.shape == sparse.weight.shape


def test_sparse_gpt_embedding_gradient_matches_finite_differences():
    gpt = GPTEmbedding(V, C, D, seed=6, dtype=np.float64, sparse=True)
    R = np.random.default_rng(7).standard_normal((B, T, D))
    loss = lambda: float(np.sum(gpt(IDS) * R))  # noqa: E731
    numeric = central_differences(loss, gpt.token.weight)
    gpt(IDS)
    gpt.backward(R)
    assert gpt.token.sparse and not gpt.position.grad[T:].any()
    assert max_relative_error(gpt.token.grad, numeric) < 1e-6
    assert sorted(gpt.token.sparse_grad()[0].tolist()) == [0, 1, 3, 6]


def test_a_bad_grad_out_changes_nothing_in_sparse_mode():
    gpt = GPTEmbedding(10, 5, 2, seed=0, sparse=True)
    gpt(np.array([[1, 2, 3]]))
    for shape in [(1, 3, 3), (2, 3, 2), (1, 4, 2)]:
        with pytest.raises(ValueError):
            gpt.backward(np.ones(shape, dtype=np.float32))
    assert gpt.token.touched_rows().size == 0 and not gpt.token.grad.any() and not gpt.position.grad.any()
    gpt.backward(np.ones((1, 3, 2), dtype=np.float32))
    assert gpt.token.touched_rows().tolist() == [1, 2, 3]


def test_sparse_must_be_a_bool_and_shows_in_the_repr():
    with pytest.raises(TypeError, match="sparse"):
        Embedding(4, 2, sparse="yes")
    assert repr(Embedding(50_257, 8, sparse=True)) == "Embedding(V=50257, D=8, sparse=True)"
    assert "sparse=True" in repr(GPTEmbedding(20, 4, 2, sparse=True)) and "sparse" not in repr(GPTEmbedding(20, 4, 2))
    assert GPTEmbedding(20, 4, 2, sparse=True).token.sparse and not GPTEmbedding(20, 4, 2).token.sparse
