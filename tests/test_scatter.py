"""npllm.scatter: every scatter-add strategy equals the obvious loop.

    grad[ids[i]] += rows[i]   for every i        (N,) ids, (N, D) rows -> (V, D) grad

The loop is the reference. Each fast strategy is checked against it on random batches with
many repeats, on all-distinct IDs, on one ID repeated 10,000 times, on an empty batch, in
float32 and float64, and by hypothesis. Rows are small whole numbers where the test wants
exact equality (their sums are exact in float64 whatever the order of addition).
"""

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npllm.embedding import Embedding
from npllm.scatter import CHUNK, LAYERS, STRATEGIES, row_sums, scatter_add_buckets, scatter_add_layers, scatter_add_loop

PROPERTIES = settings(derandomize=True, max_examples=150, deadline=None)
FAST = [name for name in STRATEGIES if name != "loop"]


def reference(grad, ids, rows):
    """A copy of grad with the loop's scatter-add applied."""
    expected = grad.copy()
    scatter_add_loop(expected, ids, rows)
    return expected


def whole_rows(rng, n, d, dtype=np.float64):
    """(n, d) small whole numbers as floats: every sum of them is exact."""
    return rng.integers(-50, 51, size=(n, d)).astype(dtype)


def test_the_loop_adds_a_repeated_id_twice_and_plain_fancy_indexing_does_not():
    """[1, 3, 1] -> row 1 gets rows 0 and 2; `grad[ids] += rows` keeps only the last one."""
    ids = np.array([1, 3, 1])
    rows = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])  # (3, 2)
    grad = np.zeros((4, 2))
    scatter_add_loop(grad, ids, rows)
    assert grad.tolist() == [[0, 0], [101, 202], [0, 0], [10, 20]]
    naive = np.zeros((4, 2))
    naive[ids] += rows  # the bug every strategy exists to avoid
    assert naive.tolist() != grad.tolist()


def test_strategies_table_holds_the_five_documented_strategies():
    assert set(STRATEGIES) == {"loop", "add_at", "sorted", "layers", "buckets"}
    assert STRATEGIES["loop"] is scatter_add_loop
    assert STRATEGIES["layers"] is scatter_add_layers
    assert STRATEGIES["buckets"] is scatter_add_buckets


@pytest.mark.parametrize("name", FAST)
def test_many_repeats_equal_the_loop_exactly(name):
    rng = np.random.default_rng(1)
    V, D, N = 30, 5, 2_000  # ~67 occurrences per id: every id repeats
    ids = rng.integers(0, V, size=N)
    rows = whole_rows(rng, N, D)
    grad = whole_rows(rng, V, D)  # a gradient already there: strategies add, never overwrite
    expected = reference(grad, ids, rows)
    STRATEGIES[name](grad, ids, rows)
    np.testing.assert_array_equal(grad, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FAST)
def test_random_normal_rows_match_the_loop(name, dtype):
    rng = np.random.default_rng(2)
    V, D, N = 200, 16, 3_000  # a mix: some ids once, some a dozen times or more
    ids = np.concatenate([rng.integers(0, V, size=N - 100), np.full(100, 7)])
    rng.shuffle(ids)
    rows = rng.standard_normal((N, D)).astype(dtype)
    grad = rng.standard_normal((V, D)).astype(dtype)
    expected = reference(grad, ids, rows)
    STRATEGIES[name](grad, ids, rows)
    assert grad.dtype == dtype
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(grad, expected, rtol=rtol, atol=rtol * 10)


@pytest.mark.parametrize("name", FAST)
def test_all_distinct_ids_equal_the_loop(name):
    rng = np.random.default_rng(3)
    V, D = 500, 4
    ids = rng.permutation(V)[:400]  # (400,) no id twice
    rows = rng.standard_normal((400, D))
    grad = np.zeros((V, D))
    STRATEGIES[name](grad, ids, rows)
    np.testing.assert_array_equal(grad, reference(np.zeros((V, D)), ids, rows))  # one add per row: exact
    untouched = np.setdiff1d(np.arange(V), ids)
    assert not grad[untouched].any()


@pytest.mark.parametrize("name", FAST)
def test_one_id_repeated_ten_thousand_times(name):
    rng = np.random.default_rng(4)
    V, D, N = 10, 3, 10_000
    ids = np.full(N, 6)
    rows = whole_rows(rng, N, D)
    grad = np.zeros((V, D))
    STRATEGIES[name](grad, ids, rows)
    np.testing.assert_array_equal(grad[6], rows.sum(axis=0))
    assert not np.delete(grad, 6, axis=0).any()


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_an_empty_batch_adds_nothing(name):
    grad = np.arange(15.0).reshape(5, 3)
    STRATEGIES[name](grad, np.zeros(0, dtype=np.int64), np.zeros((0, 3)))
    np.testing.assert_array_equal(grad, np.arange(15.0).reshape(5, 3))


@pytest.mark.parametrize("dtype", [np.int32, np.uint16, np.uint32, np.int64])
@pytest.mark.parametrize("name", FAST)
def test_any_integer_id_dtype(name, dtype):
    """Token files hold uint16 or uint32 IDs; the loader gives int64."""
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 40, size=300).astype(dtype)
    rows = whole_rows(rng, 300, 2)
    grad = np.zeros((40, 2))
    STRATEGIES[name](grad, ids, rows)
    np.testing.assert_array_equal(grad, reference(np.zeros((40, 2)), ids, rows))


# --- scatter_add_layers: the layer count and its threshold ----------------------------------


def threshold_batch(layers, rng, D=3):
    """IDs seen once, `layers - 1`, `layers`, `layers + 1` and 5 * `layers` times, shuffled."""
    counts = {0: 1, 1: max(layers - 1, 1), 2: layers, 3: layers + 1, 4: 5 * layers, 9: 2}
    ids = np.repeat(list(counts), list(counts.values()))
    rng.shuffle(ids)
    return ids, whole_rows(rng, len(ids), D)


@pytest.mark.parametrize("layers", [1, 2, LAYERS, 64])
def test_layers_ids_on_both_sides_of_the_threshold(layers):
    rng = np.random.default_rng(6 + layers)
    ids, rows = threshold_batch(layers, rng)
    grad = np.zeros((12, 3))
    scatter_add_layers(grad, ids, rows, layers=layers)
    expected = reference(np.zeros((12, 3)), ids, rows)
    np.testing.assert_array_equal(grad, expected)
    for i in (0, 1, 2, 3, 4, 9):  # each id got the sum of exactly its own rows
        np.testing.assert_array_equal(grad[i], rows[ids == i].sum(axis=0))


def test_layers_returns_the_distinct_ids_it_touched_in_increasing_order():
    """[5, 2, 5, 5] -> [2, 5]: what Embedding.zero_grad clears."""
    grad = np.zeros((8, 2))
    rows = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]])
    touched = scatter_add_layers(grad, np.array([5, 2, 5, 5]), rows, layers=2)
    assert touched.tolist() == [2, 5]
    assert grad[5].tolist() == [8.0, 8.0] and grad[2].tolist() == [2.0, 2.0]
    assert scatter_add_layers(grad, np.zeros(0, dtype=np.int64), np.zeros((0, 2))).tolist() == []


@pytest.mark.parametrize("layers", [0, -1])
def test_layers_below_one_is_refused_before_grad_changes(layers):
    grad = np.zeros((4, 2))
    with pytest.raises(ValueError, match="layers must be at least 1"):
        scatter_add_layers(grad, np.array([1, 1]), np.ones((2, 2)), layers=layers)
    assert not grad.any()


def test_layers_on_a_vocabulary_above_16_bits_sorts_the_full_ids():
    """cl100k_base has 100,277 rows: the 16-bit sort key must not be used (70,000 would wrap to 4,464)."""
    V, D = 100_277, 2
    ids = np.array([70_000, 4_464, 70_000, 100_276, 4_464, 0])
    rows = np.arange(12.0).reshape(6, D)
    grad = np.zeros((V, D))
    touched = scatter_add_layers(grad, ids, rows, layers=1)
    assert touched.tolist() == [0, 4_464, 70_000, 100_276]
    np.testing.assert_array_equal(grad, reference(np.zeros((V, D)), ids, rows))


def test_layers_1_2_8_64_all_agree():
    rng = np.random.default_rng(7)
    V, D, N = 64, 4, 5_000
    ids = (rng.zipf(1.3, size=N) - 1) % V  # a few very frequent ids, a long tail of rare ones
    rows = whole_rows(rng, N, D)
    results = []
    for layers in (1, 2, 8, 64):
        grad = np.zeros((V, D))
        scatter_add_layers(grad, ids, rows, layers=layers)
        results.append(grad)
    expected = reference(np.zeros((V, D)), ids, rows)
    for grad in results:
        np.testing.assert_array_equal(grad, expected)


# --- row_sums: one sum per distinct id, grouped by count ------------------------------------


def loop_sums(ids, rows):
    """{id: sum of its rows}, one row at a time in the order they came: the reference."""
    sums = {}
    for i, row in zip(ids.tolist(), rows):
        sums[i] = sums[i] + row if i in sums else row.copy()
    return sums


def test_row_sums_known_answer():
    """[5, 2, 5, 7, 5]: 2 and 7 seen once (first, in increasing order), then 5 seen three times."""
    rows = np.array([[1.0], [10.0], [100.0], [1000.0], [10000.0]])  # (5, 1)
    distinct, sums = row_sums(np.array([5, 2, 5, 7, 5]), rows)
    assert distinct.tolist() == [2, 7, 5]
    assert sums.tolist() == [[10.0], [1000.0], [10101.0]]


def test_row_sums_adds_each_ids_rows_in_the_order_they_came():
    """float32 shows the order: 2^24 + 1 rounds to 2^24, so (2^24 + 1) - 2^24 = 0 in order, while
    backwards (-2^24 + 1) + 2^24 = 1 exactly. Both modes of Embedding sum this way."""
    rows = np.array([[2.0**24], [1.0], [-(2.0**24)]], dtype=np.float32)
    _, sums = row_sums(np.array([3, 3, 3]), rows)
    assert sums.tolist() == [[0.0]]  # ((2^24 + 1) rounds to 2^24) - 2^24
    _, backwards = row_sums(np.array([3, 3, 3]), rows[::-1].copy())
    assert backwards.tolist() == [[1.0]]  # (-2^24 + 1) + 2^24, exact


@pytest.mark.parametrize("count", [1, 2, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5])
def test_row_sums_on_both_sides_of_the_chunk(count):
    """Ids seen `count` times next to ids seen 1, 2, 3 and 100 times: every sum exact (whole numbers)."""
    rng = np.random.default_rng(count)
    counts = {0: 1, 1: 2, 2: 3, 3: 100, 4: count, 5: count, 6: 1}
    ids = np.repeat(list(counts), list(counts.values()))
    rng.shuffle(ids)
    rows = whole_rows(rng, len(ids), 3)
    distinct, sums = row_sums(ids, rows)
    assert sorted(distinct.tolist()) == sorted(counts)
    assert np.diff([counts[i] for i in distinct.tolist()]).min() >= 0  # grouped by count, increasing
    expected = loop_sums(ids, rows)
    for i, total in zip(distinct.tolist(), sums):
        np.testing.assert_array_equal(total, expected[i])


def test_row_sums_of_many_ids_per_chunk_and_chunks_per_count():
    """600 ids seen twice (several chunks of CHUNK // 2 ids) and 40 seen 9 times."""
    rng = np.random.default_rng(11)
    ids = np.concatenate([np.repeat(np.arange(600), 2), np.repeat(np.arange(1000, 1040), 9)])
    rng.shuffle(ids)
    rows = whole_rows(rng, len(ids), 4)
    distinct, sums = row_sums(ids, rows)
    assert len(distinct) == 640 and distinct[:600].tolist() == list(range(600))
    expected = loop_sums(ids, rows)
    np.testing.assert_array_equal(sums, np.array([expected[i] for i in distinct.tolist()]))


def test_row_sums_above_16_bits_and_empty():
    ids = np.array([70_000, 4_464, 70_000, 100_276])  # 70,000 would wrap to 4,464 in a 16-bit key
    distinct, sums = row_sums(ids, np.arange(8.0).reshape(4, 2))
    assert distinct.tolist() == [4_464, 100_276, 70_000]
    assert sums.tolist() == [[2.0, 3.0], [6.0, 7.0], [4.0, 6.0]]
    distinct, sums = row_sums(np.zeros(0, dtype=np.int64), np.zeros((0, 3), dtype=np.float32))
    assert distinct.shape == (0,) and sums.shape == (0, 3) and sums.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_row_sums_keeps_the_dtype(dtype):
    rng = np.random.default_rng(12)
    ids = rng.integers(0, 20, size=500)
    rows = whole_rows(rng, 500, 3, dtype=np.float64).astype(dtype) / 8  # eighths: exact in float16 too
    distinct, sums = row_sums(ids, rows)
    assert sums.dtype == dtype
    expected = loop_sums(ids, rows.astype(np.float64))
    rtol = 1e-2 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(sums, [expected[i] for i in distinct.tolist()], rtol=rtol)


# --- hypothesis: random batches in float64 --------------------------------------------------


@st.composite
def batches(draw):
    V = draw(st.integers(1, 40))
    D = draw(st.integers(1, 4))
    ids = draw(st.lists(st.integers(0, V - 1), min_size=1, max_size=120))  # empty: its own test
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    return V, np.array(ids, dtype=np.int64), whole_rows(rng, len(ids), D), whole_rows(rng, V, D)


@PROPERTIES
@given(batches())
def test_every_strategy_equals_the_loop(batch):
    V, ids, rows, start = batch
    expected = reference(start, ids, rows)
    for name in FAST:
        grad = start.copy()
        STRATEGIES[name](grad, ids, rows)
        np.testing.assert_array_equal(grad, expected, err_msg=name)


@PROPERTIES
@given(batches())
def test_row_sums_equals_the_loop(batch):
    V, ids, rows, _ = batch
    distinct, sums = row_sums(ids, rows)
    expected = loop_sums(ids, rows)
    assert sorted(distinct.tolist()) == sorted(expected)  # each id once
    for i, total in zip(distinct.tolist(), sums):
        np.testing.assert_array_equal(total, expected[i])


@PROPERTIES
@given(batches(), st.sampled_from([1, 2, 3, 8, 64]))
def test_layers_equals_the_loop_for_any_layer_count(batch, layers):
    V, ids, rows, start = batch
    grad = start.copy()
    scatter_add_layers(grad, ids, rows, layers=layers)
    np.testing.assert_array_equal(grad, reference(start, ids, rows))


@PROPERTIES
@given(st.integers(0, 2**32 - 1), st.integers(1, 300), st.integers(1, 30))
def test_every_strategy_equals_the_loop_on_normal_float64_rows(seed, N, V):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, size=N)
    rows = rng.standard_normal((N, 3))
    expected = reference(np.zeros((V, 3)), ids, rows)
    for name in FAST:
        grad = np.zeros((V, 3))
        STRATEGIES[name](grad, ids, rows)
        np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-12, err_msg=name)


# --- no (N, V) one-hot --------------------------------------------------------------------

V_GPT2, D_SMALL, N_BIG = 50_257, 8, 8_192
ONE_HOT_BYTES = N_BIG * V_GPT2 * 4  # 1.6 GB in float32


def peak_bytes(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_no_strategy_builds_a_one_hot(name):
    rng = np.random.default_rng(8)
    grad = np.zeros((V_GPT2, D_SMALL), dtype=np.float32)
    ids = rng.integers(0, V_GPT2, size=N_BIG)
    rows = rng.standard_normal((N_BIG, D_SMALL), dtype=np.float32)
    peak = peak_bytes(lambda: STRATEGIES[name](grad, ids, rows))
    assert peak < ONE_HOT_BYTES / 100, f"{name} peaked at {peak:,} bytes"
    assert grad.any()


def test_embedding_backward_builds_no_one_hot():
    emb = Embedding(V_GPT2, D_SMALL, seed=0)
    ids = np.random.default_rng(9).integers(0, V_GPT2, size=(8, N_BIG // 8))  # (B, T), N = 8,192
    out = emb(ids)  # (8, 1024, 8)
    grad_out = np.ones_like(out)
    peak = peak_bytes(lambda: emb.backward(grad_out))
    assert peak < ONE_HOT_BYTES / 100, f"backward peaked at {peak:,} bytes"
    assert emb.grad.sum() == pytest.approx(N_BIG * D_SMALL)
