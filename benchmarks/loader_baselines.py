"""The loaders bench_loader.py races npllm's against, written plainly, and the checks of their batches.

- `Windows`: the course's `GPTDatasetV1`, less the tokenizer call, every window copied up front;
  `numpy_batches` draws NumPy batches from it (np.stack), `torch_loader` torch's (torch `DataLoader`).
- `nanogpt_batches`: nanoGPT's `get_batch`, random windows of a uint16 token array.
- `check_same`: a baseline's batches equal npllm's; `check_windows`: random batches are windows of the tokens.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class Windows:
    """The course's GPTDatasetV1, less the tokenizer call: every (input, target) window copied into
    its own array up front, by `tensor` (torch.tensor for the torch baseline, np.array for NumPy's).

    >>> ds = Windows(np.array([40, 367, 2885, 1464, 1807, 3619]), max_length=4, stride=1)
    >>> len(ds), ds[0][0].tolist(), ds[0][1].tolist()
    (2, [40, 367, 2885, 1464], [367, 2885, 1464, 1807])
    """

    def __init__(self, token_ids, max_length: int, stride: int, limit: int | None = None, tensor=np.array):
        self.input_ids, self.target_ids = [], []  # (L,) int64 arrays or tensors, one per window
        for i in itertools.islice(range(0, len(token_ids) - max_length, stride), limit):
            self.input_ids.append(tensor(token_ids[i : i + max_length]))
            self.target_ids.append(tensor(token_ids[i + 1 : i + max_length + 1]))

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int):
        return self.input_ids[i], self.target_ids[i]


def numpy_batches(dataset: Windows, batch_size: int, shuffle: bool, seed: int):
    """Endless epochs of NumPy Windows: B windows per batch, np.stack'ed, each epoch in a new order."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(dataset)) if shuffle else np.arange(len(dataset))
        for k in range(0, len(dataset), batch_size):
            pairs = [dataset[i] for i in order[k : k + batch_size]]
            yield np.stack([x for x, _ in pairs]), np.stack([y for _, y in pairs])  # (B, L), (B, L) int64


def torch_loader(torch, dataset, batch_size: int, shuffle: bool, seed: int):
    """torch's DataLoader over `dataset`, in the main process (num_workers=0), its order from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(dataset, batch_size, shuffle=shuffle, num_workers=0, generator=generator)


def nanogpt_batches(tokens: np.ndarray, batch_size: int, block_size: int, seed: int, torch=None):
    """nanoGPT's get_batch, endless: -> x (B, T), y (B, T) int64, torch tensors (NumPy arrays without torch)."""
    rng = np.random.default_rng(seed) if torch is None else torch.Generator().manual_seed(seed)
    while True:
        if torch is None:
            ix = rng.integers(len(tokens) - block_size, size=batch_size)  # (B,)
            x = np.stack([tokens[i : i + block_size].astype(np.int64) for i in ix])
            y = np.stack([tokens[i + 1 : i + 1 + block_size].astype(np.int64) for i in ix])
        else:
            ix = torch.randint(len(tokens) - block_size, (batch_size,), generator=rng)  # (B,)
            x = torch.stack([torch.from_numpy((tokens[i : i + block_size]).astype(np.int64)) for i in ix])
            y = torch.stack([torch.from_numpy((tokens[i + 1 : i + 1 + block_size]).astype(np.int64)) for i in ix])
        yield x, y


def check_same(expected: list, got, what: str, shape) -> None:
    """Batches `got` equal npllm's [(x, y)], value for value, as int64.

    >>> batch = np.array([[0, 1], [2, 3]]), np.array([[1, 2], [3, 4]])  # windows 0 and 2 of 0..5 at (L, stride) (2, 2)
    >>> check_same([batch], itertools.islice(numpy_batches(Windows(np.arange(6), 2, 2), 2, False, 0), 1), "NumPy", ())
    """
    got = list(got)
    if len(got) != len(expected):
        raise AssertionError(f"{what} gave {len(got)} batches at {shape}, npllm {len(expected)}")
    for k, ((x, y), (gx, gy)) in enumerate(zip(expected, got)):
        gx, gy = np.asarray(gx), np.asarray(gy)
        if gx.dtype != np.int64 or not (np.array_equal(x, gx) and np.array_equal(y, gy)):
            raise AssertionError(f"{what}'s batch {k} at {shape} differs from npllm's unshuffled DataLoader")


def check_windows(tokens: np.ndarray, batches, what: str, count: int) -> None:
    """In the first `count` batches, every row of x is tokens[s:s+T] and of y tokens[s+1:s+T+1], for some s.

    >>> check_windows(np.arange(10, dtype=np.uint16), nanogpt_batches(np.arange(10, dtype=np.uint16), 2, 3, 0), "", 3)
    """
    for x, y in itertools.islice(batches, count):
        x, y = np.asarray(x), np.asarray(y)
        windows = sliding_window_view(tokens, x.shape[1] + 1)  # (N - T, T+1)
        for row_x, row_y in zip(x, y):
            row = np.append(row_x, row_y[-1])  # (T+1,)
            starts = np.flatnonzero(windows[:, 0] == row[0])
            is_window = np.array_equal(row_x[1:], row_y[:-1]) and any(np.array_equal(windows[s], row) for s in starts)
            if x.dtype != np.int64 or not is_window:
                raise AssertionError(f"{what} gave a row that is not a window of the token array")
