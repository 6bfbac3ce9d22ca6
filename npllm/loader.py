"""Step 3: (input, target) windows over a token stream, in batches, without copying windows.

`GPTDataset` is the course's `GPTDatasetV1` without its list of tensors: a window is two
read-only views into the one token array (`x = ids[s:s+T]`, `y = ids[s+1:s+T+1]`), and the
dataset holds only the array and a `range` of window starts. `DataLoader` gathers a batch
of windows with one fancy-index per batch, so memory does not grow with the number of
windows. `random_batches` is nanoGPT's endless sampler of random offsets, for token files
too large to walk in order. What this leaves out: worker processes, pinned memory, tensors.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from npllm._checks import check_int, check_str, is_int


class GPTDataset:
    """Windows of `max_length` tokens and their targets, one token later.

    Windows start at `range(0, len(ids) - max_length, stride)`, the course's bounds:

    >>> ds = GPTDataset([40, 367, 2885, 1464, 1807, 3619], max_length=4, stride=1)
    >>> len(ds), ds[0][0].tolist(), ds[0][1].tolist()
    (2, [40, 367, 2885, 1464], [367, 2885, 1464, 1807])
    """

    def __init__(self, token_ids, max_length: int, stride: int):
        check_int("max_length", max_length, 1)
        check_int("stride", stride, 1)
        ids = as_token_array(token_ids)  # (N,) no copy for an ndarray or a memmap
        if len(ids) < max_length + 1:
            raise ValueError(
                f"the text has {len(ids):,} tokens, but one window of max_length={max_length:,} "
                f"needs {max_length + 1:,} (the inputs plus the target one token later); "
                f"use a longer text or a smaller max_length"
            )
        self.ids = ids
        self.max_length = max_length
        self.stride = stride
        self.starts = range(0, len(ids) - max_length, stride)  # a range: no list of windows
        # The stride the arithmetic uses: any stride from len(ids) up gives the one window at 0,
        # so a stride of 2**64 (which int64 cannot hold) works as len(ids) does.
        self._step = min(stride, len(ids))

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:  # -> (T,), (T,) views
        s = self.starts[i]  # IndexError past the end, negative i from the end, as a list
        x = self.ids[s : s + self.max_length]
        y = self.ids[s + 1 : s + self.max_length + 1]
        return _read_only(x), _read_only(y)

    def __repr__(self) -> str:
        return (
            f"GPTDataset(tokens={len(self.ids):,}, max_length={self.max_length}, "
            f"stride={self.stride}, windows={len(self):,})"
        )

    def gather(self, window_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows `window_indices` as one batch: (B,) -> x (B, T), y (B, T), int64.

        One fancy-index of the windows for the whole batch; x and y are separate arrays
        (changing one never changes the other).
        """
        return self.gather_at(self.window_starts(window_indices))

    def window_starts(self, window_indices) -> np.ndarray:  # (B,) -> (B,) int64
        """Token offsets of windows: index * stride, in int64 whatever the stride."""
        return np.asarray(window_indices, dtype=np.int64) * self._step

    def gather_at(self, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # (B,) -> (B, T), (B, T)
        """The windows that start at token offsets `starts` (from `window_starts`) as one batch:
        what `gather` does after its one multiply, for a DataLoader that computes an epoch's
        offsets once."""
        block = self._windows[starts].astype(np.int64)  # (B, T+1): one gather, then int64
        return block[:, :-1].copy(), block[:, 1:]

    @property
    def _windows(self) -> np.ndarray:
        """Every window of T+1 tokens as a row: a strided view of the token array, no copy.

        (N - T, T+1); row s is ids[s:s+T+1], the inputs and their targets.
        """
        windows = self.__dict__.get("_window_view")
        if windows is None:
            windows = self.__dict__["_window_view"] = sliding_window_view(self.ids, self.max_length + 1)
        return windows


class DataLoader:
    """Batches of a `GPTDataset`: `for x, y in loader` gives int64 arrays of shape (B, T).

    Each `iter()` is a new epoch. With `shuffle`, the order of epoch k depends only on
    `seed` and k (a seed is drawn once if none is given, and kept in `state_dict`).
    `state_dict()` / `load_state_dict()` resume mid-epoch exactly.
    """

    def __init__(
        self,
        dataset: GPTDataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        num_workers: int = 0,
        **torch_only,
    ):
        if torch_only:
            raise TypeError(
                f"DataLoader does not take {', '.join(sorted(torch_only))}: those are PyTorch options; "
                f"npllm's loader takes dataset, batch_size, shuffle, drop_last, seed"
            )
        if num_workers != 0:
            raise TypeError(f"num_workers={num_workers!r}: npllm's loader runs in this process; use num_workers=0")
        if not isinstance(dataset, GPTDataset):
            raise TypeError(f"dataset must be a GPTDataset, got {type(dataset).__name__}")
        check_int("batch_size", batch_size, 1)
        _check_seed(seed)
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(np.random.SeedSequence().entropy) if seed is None else int(seed)
        self._next = (0, 0)  # (epoch, batches to skip) where the next iter() starts
        self._state = (0, 0)  # (epoch, batches done) for state_dict

    def __len__(self) -> int:
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)  # integers: a batch_size of 10**400 is no float

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last}, batches={len(self):,})"
        )

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        epoch, skip = self._next
        self._next = (epoch + 1, 0)  # a new iter() is a new epoch, even if this one is left early
        self._state = (epoch, skip)
        starts = self.dataset.window_starts(self.window_order(epoch))  # (windows,) token offsets, this epoch's order
        gather, b = self.dataset.gather_at, self.batch_size
        for k in range(skip, len(self)):
            x, y = gather(starts[k * b : (k + 1) * b])  # (B, T), (B, T)
            self._state = (epoch, k + 1)
            yield x, y
        self._state = (epoch + 1, 0)

    def window_order(self, epoch: int) -> np.ndarray:
        """The window indices of epoch `epoch`, in the order they are served."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def state_dict(self) -> dict:
        """Where iteration stands: enough to resume exactly with `load_state_dict`."""
        epoch, done = self._state
        return {
            "epoch": epoch,
            "batches_done": done,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "batch_size": self.batch_size,
            "drop_last": self.drop_last,
            "windows": len(self.dataset),
        }

    def load_state_dict(self, state: dict) -> None:
        """Make the next `iter()` continue from `state` (from `state_dict`)."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        missing = {"epoch", "batches_done", "seed", "shuffle", "batch_size", "drop_last", "windows"} - set(state)
        if missing:
            raise ValueError(f"state is missing {sorted(missing)}: it does not come from DataLoader.state_dict()")
        for key, mine in (
            ("windows", len(self.dataset)),
            ("batch_size", self.batch_size),
            ("shuffle", self.shuffle),
            ("drop_last", self.drop_last),
        ):
            if state[key] != mine:
                raise ValueError(f"state was saved with {key}={state[key]!r}, this loader has {key}={mine!r}")
        epoch, done = state["epoch"], state["batches_done"]
        if not (is_int(epoch) and epoch >= 0 and is_int(done) and 0 <= done <= len(self)):
            raise ValueError(f"state has epoch={epoch!r}, batches_done={done!r}: out of range for {len(self)} batches")
        if state["seed"] is None:
            raise ValueError("state has seed=None: a state from state_dict() always holds the seed it used")
        _check_seed(state["seed"])
        self.seed = state["seed"]
        self._next = (epoch, done)
        self._state = (epoch, done)


def create_dataloader(
    text: str,
    batch_size: int = 4,
    max_length: int = 256,
    stride: int = 128,
    shuffle: bool = True,
    drop_last: bool = True,
    seed: int | None = None,
    encoding="gpt2",
    num_workers: int = 0,
) -> DataLoader:
    """The course's `create_dataloader_v1`: GPT-2 tokens of `text`, windows, batches.

    `encoding` is a name for `get_encoding` or an `Encoding`; `<|endoftext|>` in the text is
    encoded as the special token, as the course does.
    """
    from npllm.bpe import Encoding, get_encoding

    check_str("text", text)
    enc = encoding if isinstance(encoding, Encoding) else get_encoding(encoding)
    ids = enc.encode(text, allowed_special={"<|endoftext|>"})
    dataset = GPTDataset(ids, max_length=max_length, stride=stride)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed, num_workers=num_workers
    )


create_dataloader_v1 = create_dataloader


def random_batches(
    token_ids, batch_size: int, max_length: int, seed: int | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """nanoGPT's sampler, endless: each batch is `batch_size` windows at random offsets.

    -> x (B, T), y (B, T) int64, forever; take what you need with `next` or `itertools.islice`.
    """
    check_int("batch_size", batch_size, 1)
    check_int("max_length", max_length, 1)
    ids = as_token_array(token_ids)  # (N,)
    if len(ids) < max_length + 1:
        raise ValueError(
            f"the text has {len(ids):,} tokens, but one window of max_length={max_length:,} needs {max_length + 1:,}"
        )
    rng = np.random.default_rng(seed)
    windows = sliding_window_view(ids, max_length + 1)  # (N - T, T+1) view, no copy
    return _random_batches(windows, rng, batch_size)


def _random_batches(windows, rng, batch_size):
    while True:
        starts = rng.integers(0, len(windows), size=batch_size)  # (B,) in [0, N - T), as nanoGPT's randint(N - T)
        block = windows[starts].astype(np.int64)  # (B, T+1)
        yield block[:, :-1].copy(), block[:, 1:]


def as_token_array(token_ids) -> np.ndarray:
    """A list, an integer ndarray or a memmap -> a 1-D integer array (no copy if already one).

    Float or negative IDs are an error: they are never token IDs.
    """
    if isinstance(token_ids, (str, bytes)):
        raise TypeError(f"token_ids must be integers, got a {type(token_ids).__name__}; encode the text first")
    ids = token_ids if isinstance(token_ids, np.ndarray) else np.asarray(list(token_ids))
    if ids.ndim != 1:
        raise ValueError(f"token_ids must be one-dimensional, got shape {ids.shape}")
    if len(ids) == 0:
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"token IDs must be integers, got dtype {ids.dtype}")
    if ids.dtype == np.uint64 and len(ids) and ids.max() > np.iinfo(np.int64).max:
        raise ValueError(f"token ID {int(ids.max())} is too large to be a token ID (batches are int64)")
    if ids.dtype.kind == "i" and len(ids) and ids.min() < 0:
        bad = int(ids[np.argmax(ids < 0)])
        raise ValueError(f"token IDs cannot be negative, found {bad} at position {int(np.argmax(ids < 0))}")
    return ids


def _read_only(view: np.ndarray) -> np.ndarray:
    view = view.view()
    view.flags.writeable = False
    return view


def _check_seed(seed) -> None:
    if seed is None:
        return
    if not is_int(seed):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0 (NumPy seeds are non-negative), got {seed}")
