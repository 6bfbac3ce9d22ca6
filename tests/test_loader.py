"""Step 3: GPTDataset, DataLoader, create_dataloader(_v1) and random_batches.

Known answers from the course (The Verdict, GPT-2 IDs), the course's list-of-windows loop as
the plain reference for the vectorized gather (on `prose_text`, real text every Python
installation has), resumable shuffling, and the bad inputs.
"""

import inspect
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import COURSE_FIRST_INPUTS

import npllm
from npllm import DataLoader, GPTDataset, create_dataloader, create_dataloader_v1, random_batches

PROPERTIES = settings(derandomize=True, max_examples=80, deadline=None)


def course_windows(ids, max_length, stride):
    """The course's GPTDatasetV1 loop, written plainly: the reference the loader must match."""
    inputs, targets = [], []
    for i in range(0, len(ids) - max_length, stride):
        inputs.append(list(ids[i : i + max_length]))
        targets.append(list(ids[i + 1 : i + max_length + 1]))
    return inputs, targets


def rows(batches):
    """[(x, y), ...] -> (every x row, every y row) as lists, in order."""
    xs = [row for x, _ in batches for row in x.tolist()]
    ys = [row for _, y in batches for row in y.tolist()]
    return xs, ys


@pytest.fixture(scope="module")
def verdict_ids(verdict_text, gpt2):
    return gpt2.encode(verdict_text)


@pytest.fixture(scope="module")
def prose_ids(prose_text, gpt2):
    return gpt2.encode(prose_text)


# --- known answers: the course's numbers on The Verdict -----------------------------------

FIRST_INPUTS = COURSE_FIRST_INPUTS
FIRST_TARGETS = [
    [367, 2885, 1464, 1807],
    [3619, 402, 271, 10899],
    [2138, 257, 7026, 15632],
    [438, 2016, 257, 922],
    [5891, 1576, 438, 568],
    [340, 373, 645, 1049],
    [5975, 284, 502, 284],
    [3285, 326, 11, 287],
]


def test_the_verdict_is_5145_gpt2_tokens(verdict_ids):
    assert len(verdict_ids) == 5145 and verdict_ids[:5] == [40, 367, 2885, 1464, 1807]


def test_stride_1_windows_slide_by_one_token(verdict_text):
    loader = create_dataloader(verdict_text, batch_size=1, max_length=4, stride=1, shuffle=False, drop_last=False)
    batches = iter(loader)
    x, y = next(batches)
    assert x.tolist() == [[40, 367, 2885, 1464]] and y.tolist() == [[367, 2885, 1464, 1807]]
    x, y = next(batches)
    assert x.tolist() == [[367, 2885, 1464, 1807]] and y.tolist() == [[2885, 1464, 1807, 3619]]
    assert len(loader) == 5141  # 5,145 - 4 windows, one per batch
    assert sum(1 for _ in loader) == 5141  # a fresh iter() is a whole new epoch


def test_batch_of_8_with_stride_4(verdict_text):
    loader = create_dataloader(verdict_text, batch_size=8, max_length=4, stride=4, shuffle=False, drop_last=False)
    x, y = next(iter(loader))
    assert x.dtype == np.int64 and y.dtype == np.int64
    assert x.shape == (8, 4) and y.shape == (8, 4)
    assert x.tolist() == FIRST_INPUTS
    assert y.tolist() == FIRST_TARGETS
    assert len(loader.dataset) == 1286  # range(0, 5145 - 4, 4)
    assert len(loader) == 161  # ceil(1286 / 8): the last batch has 6 windows
    shapes = [x.shape for x, _ in loader]
    assert len(shapes) == 161 and shapes[-1] == (6, 4) and set(shapes[:-1]) == {(8, 4)}
    dropped = create_dataloader(verdict_text, batch_size=8, max_length=4, stride=4, shuffle=False, drop_last=True)
    assert len(dropped) == 160 and sum(1 for _ in dropped) == 160


def test_the_course_defaults(prose_text, prose_ids):
    loader = create_dataloader(prose_text, shuffle=False)  # batch 4, max_length 256, stride 128, drop_last
    n_windows = len(range(0, len(prose_ids) - 256, 128))
    assert len(loader.dataset) == n_windows and len(loader) == n_windows // 4
    batches = list(loader)
    assert len(batches) == n_windows // 4 and all(x.shape == y.shape == (4, 256) for x, y in batches)
    assert batches[0][0][1].tolist() == prose_ids[128:384]
    assert batches[-1][1][-1].tolist() == prose_ids[128 * (len(batches) * 4 - 1) + 1 :][:256]


def test_create_dataloader_defaults_shuffle_and_drop_last(prose_text, prose_ids):
    loader = create_dataloader(prose_text, batch_size=8, max_length=4, stride=4, seed=0)
    n_windows = len(range(0, len(prose_ids) - 4, 4))
    assert len(loader) == n_windows // 8  # drop_last=True by default
    x, _ = next(iter(loader))
    assert x.tolist() != course_windows(prose_ids, 4, 4)[0][:8]  # shuffle=True by default
    assert create_dataloader_v1 is create_dataloader


def test_create_dataloader_keeps_endoftext_as_one_token(gpt2):
    text = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of the palace."
    loader = create_dataloader(text, batch_size=2, max_length=4, stride=1, shuffle=False, drop_last=False)
    xs, ys = rows(list(loader))
    seen = {i for row in xs + ys for i in row}
    assert 50256 in seen
    assert xs == course_windows(gpt2.encode(text, allowed_special={"<|endoftext|>"}), 4, 1)[0]


def test_create_dataloader_other_encodings(prose_text, cl100k):
    ids = cl100k.encode(prose_text)
    for encoding in ("cl100k_base", cl100k):
        loader = create_dataloader(
            prose_text, batch_size=3, max_length=5, stride=5, shuffle=False, drop_last=False, encoding=encoding
        )
        assert rows(list(loader)) == course_windows(ids, 5, 5)


def test_create_dataloader_rejects_ids_instead_of_text():
    with pytest.raises(TypeError):
        create_dataloader([40, 367, 2885, 1464, 1807])


# --- GPTDataset ---------------------------------------------------------------------------


def test_dataset_windows_are_the_course_loops(prose_ids):
    for max_length, stride in [(4, 1), (4, 4), (256, 128), (7, 3), (1, 1)]:
        ds = GPTDataset(prose_ids, max_length=max_length, stride=stride)
        inputs, targets = course_windows(prose_ids, max_length, stride)
        assert len(ds) == len(inputs) == len(range(0, len(prose_ids) - max_length, stride))
        for i in (0, 1, len(ds) // 2, len(ds) - 1):
            x, y = ds[i]
            assert x.tolist() == inputs[i] and y.tolist() == targets[i]


def test_dataset_bounds_are_the_courses():
    assert len(GPTDataset(list(range(5)), max_length=4, stride=1)) == 1  # exactly one window
    assert len(GPTDataset(list(range(10)), max_length=4, stride=3)) == 2  # starts 0, 3
    assert len(GPTDataset(list(range(10)), max_length=4, stride=1)) == 6  # starts 0..5
    ds = GPTDataset(list(range(10)), max_length=4, stride=1)
    assert ds[-1][1].tolist() == [6, 7, 8, 9]  # the last window's target ends on the last token
    with pytest.raises(IndexError):
        ds[6]


def test_dataset_items_are_read_only_views_of_the_token_array():
    ids = np.arange(100, 200, dtype=np.int32)
    ds = GPTDataset(ids, max_length=8, stride=3)
    x, y = ds[5]
    assert x.tolist() == list(range(115, 123)) and y.tolist() == list(range(116, 124))
    assert np.shares_memory(x, ids) and np.shares_memory(y, ids)
    with pytest.raises(ValueError):
        x[0] = 0
    with pytest.raises(ValueError):
        y[:] = 0
    assert ids[15] == 115 and ids.flags.writeable  # the caller's array is untouched


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"])
def test_dataset_accepts_every_integer_dtype(dtype):
    values = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4]
    ids = np.array(values, dtype=dtype)
    ds = GPTDataset(ids, max_length=3, stride=2)
    assert len(ds) == len(course_windows(values, 3, 2)[0])
    assert np.shares_memory(ds[0][0], ids)
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert all(x.dtype == np.int64 and y.dtype == np.int64 for x, y in batches)
    assert rows(batches) == course_windows(values, 3, 2)


def test_dataset_accepts_a_memmap(tmp_path, prose_ids):
    npllm.save_tokens(tmp_path / "v.bin", prose_ids, encoding="gpt2")
    memmap = npllm.load_tokens(tmp_path / "v.bin")
    ds = GPTDataset(memmap, max_length=4, stride=4)
    x, y = ds[1]
    assert x.tolist() == prose_ids[4:8] and y.tolist() == prose_ids[5:9] and np.shares_memory(x, memmap)
    assert rows(list(DataLoader(ds, batch_size=8))) == course_windows(prose_ids, 4, 4)


def test_dataset_accepts_any_iterable_of_ints():
    ds = GPTDataset(range(10), max_length=3, stride=2)
    assert [ds[i][0].tolist() for i in range(len(ds))] == course_windows(list(range(10)), 3, 2)[0]
    assert "GPTDataset" in repr(ds) and "max_length=3" in repr(ds)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(max_length=0, stride=1), ValueError),
        (dict(max_length=-3, stride=1), ValueError),
        (dict(max_length=4, stride=0), ValueError),
        (dict(max_length=4, stride=-1), ValueError),
        (dict(max_length=2.5, stride=1), TypeError),
        (dict(max_length=4, stride=2.5), TypeError),
        (dict(max_length="4", stride=1), TypeError),
    ],
)
def test_dataset_rejects_bad_lengths(kwargs, error):
    with pytest.raises(error):
        GPTDataset(list(range(50)), **kwargs)


def test_too_few_tokens_says_how_many_and_how_many_are_needed():
    with pytest.raises(ValueError) as info:
        GPTDataset([1, 2, 3, 4], max_length=4, stride=1)
    message = str(info.value)
    assert "4" in message and "5" in message
    with pytest.raises(ValueError) as info:
        GPTDataset(list(range(300)), max_length=1024, stride=1)
    assert "300" in str(info.value) and ("1,025" in str(info.value) or "1025" in str(info.value))
    with pytest.raises(ValueError):
        GPTDataset([], max_length=1, stride=1)


@pytest.mark.parametrize(
    "token_ids, error",
    [
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], TypeError),
        (np.arange(10, dtype=np.float32), TypeError),
        ([1, 2, -3, 4, 5, 6], ValueError),
        (np.array([5, 4, 3, -1, 2, 1], dtype=np.int16), ValueError),
        ("Hello, world. Is this-- a test?", TypeError),
        (b"\x01\x02\x03\x04\x05\x06", TypeError),
        (np.arange(20).reshape(4, 5), ValueError),
        ([[1, 2, 3], [4, 5, 6]], ValueError),
    ],
)
def test_dataset_rejects_what_is_not_a_list_of_token_ids(token_ids, error):
    with pytest.raises(error):
        GPTDataset(token_ids, max_length=2, stride=1)


def test_uint64_ids_beyond_int64_are_not_silently_wrapped():
    # the batches are int64: an ID of 2**63 cannot be served, so it must be refused, not wrapped negative
    ids = np.array([2**63 + 5, 1, 2, 3, 4, 5], dtype=np.uint64)
    try:
        loader = DataLoader(GPTDataset(ids, max_length=2, stride=1), batch_size=2)
        x, y = next(iter(loader))
    except (ValueError, OverflowError):
        return
    assert (x >= 0).all() and (y >= 0).all(), f"uint64 ID 2**63 + 5 came out as {x[0, 0]}"


# --- DataLoader ---------------------------------------------------------------------------


def small_dataset(n_tokens=60, max_length=5, stride=2):
    return GPTDataset(np.arange(1000, 1000 + n_tokens), max_length=max_length, stride=stride)


def test_iter_is_a_generator_function_and_loader_is_reiterable():
    assert inspect.isgeneratorfunction(DataLoader.__iter__)
    loader = DataLoader(small_dataset(), batch_size=4)
    first, second = rows(list(loader)), rows(list(loader))
    assert first == second == course_windows(list(range(1000, 1060)), 5, 2)


def test_last_short_batch_is_kept_unless_drop_last():
    ds = small_dataset(n_tokens=15, max_length=4, stride=1)  # 11 windows
    assert len(ds) == 11
    kept = DataLoader(ds, batch_size=4)
    assert len(kept) == 3 and [x.shape[0] for x, _ in kept] == [4, 4, 3]
    dropped = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [x.shape[0] for x, _ in dropped] == [4, 4]
    one_big = DataLoader(ds, batch_size=50)
    assert len(one_big) == 1 and [x.shape for x, _ in one_big] == [(11, 4)]
    assert (
        len(DataLoader(ds, batch_size=50, drop_last=True)) == 0
        and list(DataLoader(ds, batch_size=50, drop_last=True)) == []
    )


def test_x_and_y_are_independent_copies():
    ids = np.arange(50, dtype=np.int64)
    loader = DataLoader(GPTDataset(ids, max_length=4, stride=1), batch_size=3)
    x, y = next(iter(loader))
    assert y.tolist() == [[1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 6]]
    x[:] = -7
    assert y.tolist() == [[1, 2, 3, 4], [2, 3, 4, 5], [3, 4, 5, 6]]
    y[:] = -9
    assert ids.tolist() == list(range(50))  # the token array is not a view of either
    x2, y2 = next(iter(loader))
    assert x2.tolist() == [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5]] and y2[0].tolist() == [1, 2, 3, 4]


def test_batches_are_gathered_without_per_window_indexing(monkeypatch):
    ds = small_dataset()
    expected = rows(list(DataLoader(ds, batch_size=4)))

    def no_per_window(self, i):
        raise AssertionError("the loader indexed the dataset one window at a time")

    monkeypatch.setattr(GPTDataset, "__getitem__", no_per_window)
    assert rows(list(DataLoader(ds, batch_size=4))) == expected


def test_shuffle_is_deterministic_per_seed_and_epoch():
    ds = small_dataset(n_tokens=200, max_length=4, stride=1)
    a = DataLoader(ds, batch_size=8, shuffle=True, seed=123)
    b = DataLoader(ds, batch_size=8, shuffle=True, seed=123)
    a0, a1 = rows(list(a)), rows(list(a))
    assert a0 == rows(list(b)) and a1 == rows(list(b))  # same seed, same epochs
    assert a0 != a1  # a new epoch, a new order
    assert a0 != rows(list(DataLoader(ds, batch_size=8, shuffle=True, seed=124)))
    for k in (0, 1, 7):
        order = a.window_order(k)
        assert sorted(order.tolist()) == list(range(len(ds)))  # a permutation
        assert order.tolist() == b.window_order(k).tolist()
    assert a.window_order(0).tolist() != list(range(len(ds)))
    # epoch k serves the windows in window_order(k)
    xs, _ = a0
    assert xs == [ds[int(i)][0].tolist() for i in a.window_order(0)]
    assert DataLoader(ds, batch_size=8).window_order(3).tolist() == list(range(len(ds)))


def test_unseeded_shuffle_still_has_one_seed_per_loader():
    ds = small_dataset(n_tokens=200, max_length=4, stride=1)
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    assert loader.window_order(2).tolist() == loader.window_order(2).tolist()


def test_a_negative_seed_is_refused_up_front_or_works():
    ds = small_dataset()
    try:
        loader = DataLoader(ds, batch_size=4, shuffle=True, seed=-1)
    except ValueError:
        return
    assert sum(x.shape[0] for x, _ in loader) == len(ds)  # else the error only comes when iterating


def batch_stream(loader, epochs):
    """The batches of the next `epochs` iter() calls, as (x, y) lists, one after the other."""
    return [(x.tolist(), y.tolist()) for _ in range(epochs) for x, y in loader]


@pytest.mark.parametrize("shuffle", [True, False])
def test_state_dict_resumes_mid_epoch_exactly(shuffle):
    ds = small_dataset(n_tokens=120, max_length=5, stride=2)  # 58 windows, 15 batches of 4
    reference = batch_stream(DataLoader(ds, batch_size=4, shuffle=shuffle, seed=7), epochs=2)

    loader = DataLoader(ds, batch_size=4, shuffle=shuffle, seed=7)
    first = [(x.tolist(), y.tolist()) for x, y in itertools.islice(loader, 3)]
    state = loader.state_dict()
    resumed = DataLoader(ds, batch_size=4, shuffle=shuffle, seed=99)  # the seed comes from the state
    resumed.load_state_dict(state)
    rest = batch_stream(resumed, epochs=2)
    assert first == reference[:3]
    assert first + rest == reference


def test_state_dict_from_inside_the_loop_and_mid_second_epoch():
    ds = small_dataset(n_tokens=120, max_length=5, stride=2)
    reference = batch_stream(DataLoader(ds, batch_size=4, shuffle=True, seed=5), epochs=3)
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=5)
    seen = batch_stream(loader, epochs=1)
    for k, (x, y) in enumerate(loader):
        seen.append((x.tolist(), y.tolist()))
        if k == 4:
            state = loader.state_dict()
            break
    resumed = DataLoader(ds, batch_size=4, shuffle=True, seed=5)
    resumed.load_state_dict(state)
    assert seen + batch_stream(resumed, epochs=2) == reference


def test_state_dict_at_an_epoch_boundary():
    ds = small_dataset(n_tokens=120, max_length=5, stride=2)
    reference = batch_stream(DataLoader(ds, batch_size=4, shuffle=True, seed=11), epochs=3)
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=11)
    one_epoch = batch_stream(loader, epochs=1)
    state = loader.state_dict()
    resumed = DataLoader(ds, batch_size=4, shuffle=True, seed=11)
    resumed.load_state_dict(state)
    next_epoch = batch_stream(resumed, epochs=1)
    assert len(next_epoch) == len(loader)  # the whole next epoch, not an empty rest
    assert one_epoch + next_epoch + batch_stream(resumed, epochs=1) == reference

    # saved right after the last batch, before the loop ends: the stream still continues exactly
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=11)
    seen = []
    for x, y in loader:
        seen.append((x.tolist(), y.tolist()))
        if len(seen) == len(loader):
            state = loader.state_dict()
    resumed = DataLoader(ds, batch_size=4, shuffle=True, seed=11)
    resumed.load_state_dict(state)
    assert seen + first_batches(resumed, 2 * len(loader)) == reference


def first_batches(loader, n):
    """The next `n` batches over as many iter() calls as it takes (an empty rest of an epoch is fine)."""
    out = []
    for _ in range(n + 2):
        out += [(x.tolist(), y.tolist()) for x, y in loader]
        if len(out) >= n:
            return out[:n]
    return out


def test_state_dict_of_a_fresh_loader_restarts_at_the_beginning():
    ds = small_dataset()
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=3)
    resumed = DataLoader(ds, batch_size=4, shuffle=True, seed=4)
    resumed.load_state_dict(loader.state_dict())
    assert batch_stream(resumed, 2) == batch_stream(loader, 2)


@pytest.mark.parametrize(
    "other",
    [
        dict(batch_size=5, shuffle=True, drop_last=False),
        dict(batch_size=4, shuffle=False, drop_last=False),
        dict(batch_size=4, shuffle=True, drop_last=True),
    ],
)
def test_state_from_a_different_loader_is_refused(other):
    ds = small_dataset()
    loader = DataLoader(ds, batch_size=4, shuffle=True, drop_last=False, seed=1)
    next(iter(loader))
    state = loader.state_dict()
    target = DataLoader(ds, seed=1, **other)
    with pytest.raises(ValueError):
        target.load_state_dict(state)
    assert batch_stream(target, 1) == batch_stream(DataLoader(ds, seed=1, **other), 1)  # unchanged by the refusal


def test_state_from_a_loader_over_other_windows_is_refused():
    loader = DataLoader(small_dataset(n_tokens=60), batch_size=4, seed=1)
    with pytest.raises(ValueError):
        DataLoader(small_dataset(n_tokens=80), batch_size=4, seed=1).load_state_dict(loader.state_dict())


def garbage_states():
    good = DataLoader(small_dataset(), batch_size=4, shuffle=True, seed=1).state_dict()
    return {
        "none": None,
        "list": [1, 2],
        "str": "epoch=0",
        "empty": {},
        "partial": {"epoch": 0},
        "negative-epoch": {**good, "epoch": -1},
        "str-epoch": {**good, "epoch": "zero"},
        "float-epoch": {**good, "epoch": 1.5},
        "negative-done": {**good, "batches_done": -1},
        "done-past-the-end": {**good, "batches_done": 10**6},
        "str-seed": {**good, "seed": "not a seed"},
    }


@pytest.mark.parametrize("state", list(garbage_states().values()), ids=list(garbage_states()))
def test_garbage_state_is_refused_when_loaded(state):
    ds = small_dataset()
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=1)
    with pytest.raises((TypeError, ValueError)):
        loader.load_state_dict(state)
    assert batch_stream(loader, 1) == batch_stream(DataLoader(ds, batch_size=4, shuffle=True, seed=1), 1)


@pytest.mark.parametrize(
    "option", [dict(num_workers=2), dict(collate_fn=list), dict(sampler=None), dict(pin_memory=True)]
)
def test_pytorch_only_options_are_named_in_a_type_error(option):
    with pytest.raises(TypeError) as info:
        DataLoader(small_dataset(), batch_size=2, **option)
    assert next(iter(option)) in str(info.value)


def test_num_workers_0_is_accepted():
    loader = DataLoader(small_dataset(), batch_size=2, num_workers=0)
    assert sum(1 for _ in loader) == len(loader) > 0
    assert len(create_dataloader("one two three four five six seven", max_length=2, stride=1, num_workers=0)) > 0


@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-2, ValueError), (2.5, TypeError), ("8", TypeError)])
def test_loader_rejects_bad_batch_sizes(batch_size, error):
    with pytest.raises(error):
        DataLoader(small_dataset(), batch_size=batch_size)


def test_loader_needs_a_gptdataset():
    with pytest.raises(TypeError):
        DataLoader([([1, 2], [2, 3])], batch_size=1)


# --- properties ---------------------------------------------------------------------------


@st.composite
def loader_cases(draw):
    max_length = draw(st.integers(1, 12))
    n_tokens = draw(st.integers(max_length + 1, max_length + 60))
    ids = draw(st.lists(st.integers(0, 50_000), min_size=n_tokens, max_size=n_tokens))
    stride = draw(st.integers(1, 2 * max_length + 1))
    batch_size = draw(st.integers(1, 9))
    drop_last = draw(st.booleans())
    seed = draw(st.integers(0, 2**32))
    return ids, max_length, stride, batch_size, drop_last, seed


@PROPERTIES
@given(loader_cases())
def test_property_unshuffled_epoch_is_the_course_windows_in_order(case):
    ids, max_length, stride, batch_size, drop_last, _ = case
    loader = DataLoader(GPTDataset(ids, max_length, stride), batch_size=batch_size, drop_last=drop_last)
    batches = list(loader)
    inputs, targets = course_windows(ids, max_length, stride)
    served = len(inputs) // batch_size * batch_size if drop_last else len(inputs)
    assert rows(batches) == (inputs[:served], targets[:served])
    assert len(batches) == len(loader)
    for x, y in batches:
        assert x.shape == y.shape and x.shape[1] == max_length and 1 <= x.shape[0] <= batch_size
        assert (y[:, :-1] == x[:, 1:]).all()


@PROPERTIES
@given(loader_cases())
def test_property_shuffled_epoch_visits_every_window_once(case):
    ids, max_length, stride, batch_size, _, seed = case
    loader = DataLoader(GPTDataset(ids, max_length, stride), batch_size=batch_size, shuffle=True, seed=seed)
    inputs, targets = course_windows(ids, max_length, stride)
    for epoch in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        xs, ys = rows(batches)
        pairs = sorted(zip(map(tuple, xs), map(tuple, ys)))
        assert pairs == sorted(zip(map(tuple, inputs), map(tuple, targets)))
        assert xs == [inputs[i] for i in loader.window_order(epoch)]
        assert all((y[:, :-1] == x[:, 1:]).all() for x, y in batches)
    again = DataLoader(GPTDataset(ids, max_length, stride), batch_size=batch_size, shuffle=True, seed=seed)
    assert again.window_order(1).tolist() == loader.window_order(1).tolist()


@PROPERTIES
@given(st.integers(1, 40), st.integers(1, 12), st.booleans(), st.booleans())
def test_property_number_of_batches_is_len(n_windows, batch_size, drop_last, shuffle):
    ds = GPTDataset(np.arange(n_windows + 3), max_length=3, stride=1)
    assert len(ds) == n_windows
    loader = DataLoader(ds, batch_size=batch_size, drop_last=drop_last, shuffle=shuffle, seed=0)
    expected = n_windows // batch_size if drop_last else -(-n_windows // batch_size)
    assert len(loader) == expected == sum(1 for _ in loader)


# --- random_batches -----------------------------------------------------------------------


def test_random_batches_are_real_windows():
    ids = np.arange(500, dtype=np.uint16) * 7 + 3  # distinct: a row's first ID names its start
    batches = random_batches(ids, batch_size=16, max_length=8, seed=0)
    for x, y in itertools.islice(batches, 50):
        assert x.dtype == np.int64 and y.dtype == np.int64
        assert x.shape == y.shape == (16, 8)
        assert (y[:, :-1] == x[:, 1:]).all()
        for row_x, row_y in zip(x, y):
            s = (int(row_x[0]) - 3) // 7
            assert row_x.tolist() == ids[s : s + 8].tolist() and row_y.tolist() == ids[s + 1 : s + 9].tolist()


def test_random_batches_rows_are_windows_with_repeated_ids(prose_ids):
    windows = {tuple(prose_ids[s : s + 5]): s for s in range(len(prose_ids) - 4)}
    for x, y in itertools.islice(random_batches(prose_ids, 4, 4, seed=1), 25):
        for row_x, row_y in zip(x.tolist(), y.tolist()):
            assert tuple(row_x + row_y[-1:]) in windows


def test_random_batches_are_reproducible_and_endless():
    ids = list(range(1000))
    a = [(x.tolist(), y.tolist()) for x, y in itertools.islice(random_batches(ids, 4, 16, seed=42), 300)]
    b = [(x.tolist(), y.tolist()) for x, y in itertools.islice(random_batches(ids, 4, 16, seed=42), 300)]
    c = [(x.tolist(), y.tolist()) for x, y in itertools.islice(random_batches(ids, 4, 16, seed=43), 300)]
    assert len(a) == 300 and a == b and a != c


def test_random_batch_starts_stay_in_the_course_range():
    ids = np.arange(40)
    starts = {int(s) for x, _ in itertools.islice(random_batches(ids, 32, 10, seed=0), 100) for s in x[:, 0]}
    assert max(starts) < len(ids) - 10 and min(starts) == 0


def test_random_batches_reach_every_start_on_a_short_array():
    # nanoGPT draws starts from randint(len(data) - block_size): 0, 1, 2 here, the last one included
    ids = np.arange(7)
    starts = {int(s) for x, _ in itertools.islice(random_batches(ids, 16, 4, seed=0), 50) for s in x[:, 0]}
    assert starts == {0, 1, 2}


def test_random_batches_with_exactly_one_window():
    x, y = next(random_batches([5, 6, 7, 8, 9], batch_size=3, max_length=4, seed=0))
    assert x.tolist() == [[5, 6, 7, 8]] * 3 and y.tolist() == [[6, 7, 8, 9]] * 3


def test_random_batches_on_a_memmap(tmp_path):
    npllm.save_tokens(tmp_path / "t.bin", np.arange(300) * 3)
    memmap = npllm.load_tokens(tmp_path / "t.bin")
    x, y = next(random_batches(memmap, 4, 8, seed=0))
    assert x.dtype == np.int64 and ((x % 3) == 0).all() and (y[:, :-1] == x[:, 1:]).all()
    assert (np.diff(x, axis=1) == 3).all()


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(batch_size=0, max_length=4), ValueError),
        (dict(batch_size=4, max_length=0), ValueError),
        (dict(batch_size=2.5, max_length=4), TypeError),
        (dict(batch_size=4, max_length=4.0), TypeError),
        (dict(batch_size=4, max_length=100), ValueError),
    ],
)
def test_random_batches_reject_bad_arguments_at_the_call(kwargs, error):
    with pytest.raises(error):
        random_batches(list(range(50)), **kwargs)  # at the call, not at the first next()


def test_random_batches_reject_bad_ids():
    with pytest.raises(TypeError):
        random_batches([0.5] * 20, 2, 4)
    with pytest.raises(ValueError):
        random_batches([-1] + [1] * 20, 2, 4)
    with pytest.raises(TypeError):
        random_batches("some text that is long enough", 2, 4)
    with pytest.raises(ValueError) as info:
        random_batches([1, 2, 3, 4], 2, max_length=4)
    assert "4" in str(info.value) and "5" in str(info.value)


# --- issue 13, item 10: sizes past int64 are sizes, not tracebacks ---------------------------------


@pytest.mark.parametrize("stride", [2**63, 2**64, 10**30])
def test_a_stride_past_int64_gives_the_one_window(stride):
    # before: OverflowError while iterating (window index * stride in int64)
    ds = GPTDataset(list(range(100)), 4, stride)
    assert len(ds) == 1 and ds.stride == stride
    loader = DataLoader(ds, batch_size=2, shuffle=True, seed=0)
    assert [(x.tolist(), y.tolist()) for x, y in loader] == [([[0, 1, 2, 3]], [[1, 2, 3, 4]])]
    assert ds.gather(np.array([0]))[0].tolist() == [[0, 1, 2, 3]]


def test_a_batch_size_past_any_float_is_one_batch():
    loader = DataLoader(GPTDataset(list(range(100)), 4, 30), batch_size=10**400)
    assert len(loader) == 1
    ((x, _),) = list(loader)
    assert x.shape == (4, 4)
