"""Loader speed and memory: npllm's `DataLoader` and `random_batches` against the course's list of windows.

On tinyshakespeare's GPT-2 tokens (338,025 IDs, built once, untimed), with B = batch size and
L = max_length; the baselines are written out plainly below:

- NumPy: the course's `GPTDatasetV1` with `np.array` for `torch.tensor` (every window copied
  into its own array at construction), and a loop that `np.stack`s B of them per batch;
- PyTorch: `torch.utils.data.DataLoader` (num_workers=0, one thread, default collate) over the
  course's `GPTDatasetV1` (a `torch.tensor` per window, from a list of IDs).

Rows:

- one shuffled epoch at (B, L, stride) = (8, 256, 128), microseconds per batch (batches/s in the
  note). Target: at least 5x PyTorch's batches/s, a ratio of at most 0.2.
- 20,000 shuffled batches at (8, 1024, 1). The baselines hold only the first 20,000 windows (all
  337,001 would take ~5.6 GB each) and run epochs over them; npllm's holds every window.
- construction at (8, 1024, 1), seconds and MB above the token array: npllm's `GPTDataset` +
  `DataLoader` + the first shuffled batch (its window view and order are built lazily) against
  the baselines' datasets, built for the first 20,000 windows and scaled linearly to 337,001.
  Targets for npllm: under 0.1 s and under 50 MB. Memory: tracemalloc's peak for npllm and NumPy
  (`common.traced_peak`). torch's buffers are not traced, so torch builds its dataset in a fresh
  process (which then times its batches too), and its figure is what that process holds
  (`common.tree_memory`, PSS) after the build less what it held before; the build frees nothing
  it allocates, so that is its peak.
- `random_batches` (nanoGPT's sampler) at (8, 1024) against nanoGPT's `get_batch` loop
  (`torch.stack` of `torch.from_numpy` slices; `np.stack` without torch), on uint16 tokens as
  nanoGPT's train.bin holds them (in memory, not a memmap).

Before anything is timed, every unshuffled batch of an epoch at (8, 256, 128) and the first
batches at (8, 1024, 1) are checked equal across the three, and the random batches are checked
to be windows of the token array. Without torch the NumPy rows still run and the torch rows say
why they were skipped.
"""

from __future__ import annotations

import itertools
import json
import os
import pathlib
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import npllm
from benchmarks.common import (
    MB,
    Result,
    progress,
    run_process,
    scale,
    summarize,
    timeit,
    torch_one_thread,
    traced_peak,
    tree_memory,
)
from npllm import data
from npllm.loader import DataLoader, GPTDataset, random_batches

SHORT = (8, 256, 128)  # (B, L, stride): one epoch of 330 batches
LONG = (8, 1024, 1)  # (B, L, stride): 337,001 windows, 42,126 batches per epoch
SEED = 0
CHECK_BATCHES = 3  # unshuffled batches compared at LONG
TORCH_TARGET = 0.2  # npllm s/batch / torch s/batch at SHORT: at least 5x torch's batches/s
BUILD_SECONDS_TARGET, BUILD_MB_TARGET = 0.1, 50  # npllm's construction at LONG, absolute
NUMPY_BASELINE = "NumPy list of windows + np.stack"
TORCH_BASELINE = "torch DataLoader + GPTDatasetV1 (1 thread, 0 workers)"


@dataclass(frozen=True)
class Sizes:
    repeat: int  # timed epochs at SHORT
    long_batches: int  # batches per timed run at LONG, and of random_batches
    long_repeat: int  # timed runs at LONG and of random_batches
    window_cap: int  # windows the baselines' datasets hold at LONG
    build_repeat: int  # timed constructions, npllm and NumPy


FULL = Sizes(20, 20_000, 3, 20_000, 5)
QUICK = Sizes(5, 3_000, 2, 1_000, 3)


def run(quick: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    text = data.read_text("tinyshakespeare.txt")
    id_list = npllm.get_encoding("gpt2").encode_ordinary(text)  # a list of ints, as the course has them
    ids = np.asarray(id_list, dtype=np.int64)  # (N,) the token array every figure is "above"
    with torch_one_thread() as (torch, why):
        rows = _epoch_rows(ids, id_list, torch, why, sizes)
        rows += _long_rows(ids, torch, why, sizes)
        rows += _random_rows(ids, torch, why, sizes)
    return rows


# --- the baselines, written plainly ----------------------------------------------------------


class NumpyWindows:
    """The course's GPTDatasetV1 in NumPy: every window copied into its own array, up front.

    >>> ds = NumpyWindows(np.array([40, 367, 2885, 1464, 1807, 3619]), max_length=4, stride=1)
    >>> len(ds), ds[0][0].tolist(), ds[0][1].tolist()
    (2, [40, 367, 2885, 1464], [367, 2885, 1464, 1807])
    """

    def __init__(self, token_ids: np.ndarray, max_length: int, stride: int, limit: int | None = None):
        self.input_ids = []  # (L,) int64 arrays, one per window
        self.target_ids = []  # (L,) int64 arrays, the same windows one token later
        for i in itertools.islice(range(0, len(token_ids) - max_length, stride), limit):
            self.input_ids.append(np.array(token_ids[i : i + max_length]))  # a copy, as torch.tensor makes
            self.target_ids.append(np.array(token_ids[i + 1 : i + max_length + 1]))

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.input_ids[i], self.target_ids[i]


def numpy_batches(dataset: NumpyWindows, batch_size: int, shuffle: bool, seed: int):
    """Endless epochs of a NumpyWindows: B windows per batch, np.stack'ed, each epoch in a new order."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(dataset)) if shuffle else np.arange(len(dataset))
        for k in range(0, len(dataset), batch_size):
            pairs = [dataset[i] for i in order[k : k + batch_size]]
            yield np.stack([x for x, _ in pairs]), np.stack([y for _, y in pairs])  # (B, L), (B, L) int64


def torch_windows(torch, token_ids: list[int], max_length: int, stride: int, limit: int | None = None):
    """The course's GPTDatasetV1 (less the tokenizer call): a torch.tensor per window, from a list."""

    class GPTDatasetV1(torch.utils.data.Dataset):
        def __init__(self):
            self.input_ids = []  # (L,) int64 tensors, one per window
            self.target_ids = []
            for i in itertools.islice(range(0, len(token_ids) - max_length, stride), limit):
                self.input_ids.append(torch.tensor(token_ids[i : i + max_length]))
                self.target_ids.append(torch.tensor(token_ids[i + 1 : i + max_length + 1]))

        def __len__(self):
            return len(self.input_ids)

        def __getitem__(self, idx):
            return self.input_ids[idx], self.target_ids[idx]

    return GPTDatasetV1()


def torch_loader(torch, dataset, batch_size: int, shuffle: bool, seed: int):
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


# --- the rows --------------------------------------------------------------------------------


def _epoch_rows(ids, id_list, torch, why, sizes) -> list[Result]:
    """Microseconds per batch over one shuffled epoch at SHORT, npllm against the NumPy and torch loops."""
    b, length, stride = SHORT
    dataset = GPTDataset(ids, max_length=length, stride=stride)
    numpy_ds = NumpyWindows(ids, length, stride)
    torch_ds = torch_windows(torch, id_list, length, stride) if torch else None
    n = len(DataLoader(dataset, b))
    expected = list(DataLoader(dataset, b, shuffle=False))  # [(x, y)], the whole epoch
    got = itertools.islice(numpy_batches(numpy_ds, b, False, SEED), n)
    _check_same(expected, got, "NumPy list of windows", SHORT)
    if torch:
        _check_same(expected, torch_loader(torch, torch_ds, b, False, SEED), "torch DataLoader", SHORT)

    progress(f"loader: one epoch at (B, L, stride) = {SHORT}")
    loader = DataLoader(dataset, b, shuffle=True, seed=SEED)
    ours = scale(timeit(lambda: _drain(loader), sizes.repeat), 1e6 / n)
    numpy_loader = numpy_batches(numpy_ds, b, True, SEED)
    numpy_figure = scale(timeit(lambda: _drain(numpy_loader, n), sizes.repeat), 1e6 / n)
    torch_figure = None
    if torch:
        t_loader = torch_loader(torch, torch_ds, b, True, SEED)
        torch_figure = scale(timeit(lambda: _drain(t_loader), sizes.repeat), 1e6 / n)
    name = f"DataLoader, one shuffled epoch, (B, L, stride) = {SHORT}, {n} batches"
    checked = "every unshuffled batch checked equal"
    target = f"target: at least {1 / TORCH_TARGET:g}x torch's batches/s"
    numpy_note = f"{_rates(ours, numpy_figure)}; {checked}"
    torch_note = f"{_rates(ours, torch_figure)}; {target}; {checked}"
    profile = lambda: lambda: _drain(loader)  # noqa: E731
    return [
        Result(name, ours, NUMPY_BASELINE, numpy_figure, "us/batch", numpy_note, profile=profile),
        Result(name, ours, TORCH_BASELINE, torch_figure, "us/batch", torch_note, TORCH_TARGET, skipped=why),
    ]


def _long_rows(ids, torch, why, sizes) -> list[Result]:
    """At LONG: shuffled batches, then the construction's seconds and memory, npllm against the baselines."""
    b, length, stride = LONG
    n_windows, cap, n = len(range(0, len(ids) - length, stride)), sizes.window_cap, sizes.long_batches
    grow = n_windows / cap  # the baselines' figures for `cap` windows -> for all of them

    def build(token_ids=ids):  # -> the first batch: all npllm builds before it, window view and order included
        return next(iter(DataLoader(GPTDataset(token_ids, length, stride), b, shuffle=True, seed=SEED)))

    progress(f"loader: construction at {LONG}")
    built = {  # what -> (seconds, MB above the token array)
        "npllm": (timeit(build, sizes.build_repeat), summarize([traced_peak(build)[1]])),
        "numpy": (
            scale(timeit(lambda: NumpyWindows(ids, length, stride, cap), sizes.build_repeat), grow),
            summarize([traced_peak(lambda: NumpyWindows(ids, length, stride, cap))[1] * grow]),
        ),
    }
    from_list = timeit(lambda: build(ids.tolist()), sizes.build_repeat)["median"]  # as create_dataloader has them

    dataset, numpy_ds = GPTDataset(ids, length, stride), NumpyWindows(ids, length, stride, cap)
    expected = list(itertools.islice(DataLoader(dataset, b, shuffle=False), CHECK_BATCHES))
    got = itertools.islice(numpy_batches(numpy_ds, b, False, SEED), CHECK_BATCHES)
    _check_same(expected, got, "NumPy list of windows", LONG)
    progress(f"loader: {n:,} shuffled batches at {LONG}")
    loader, numpy_loader = DataLoader(dataset, b, shuffle=True, seed=SEED), numpy_batches(numpy_ds, b, True, SEED)
    ours = scale(timeit(lambda: _drain(_epochs(loader), n), sizes.long_repeat), 1e6 / n)
    numpy_figure = scale(timeit(lambda: _drain(numpy_loader, n), sizes.long_repeat), 1e6 / n)
    numpy_ds = numpy_loader = None  # let the windows go before the torch process builds its own
    torch_batches = None
    if torch:
        progress(f"loader: torch GPTDatasetV1, first {cap:,} windows at {LONG}, in a fresh process")
        child = _torch_in_fresh_process(ids, cap, n, sizes.long_repeat)
        torch_batches = scale(child["batches"], 1e6 / n)
        built["torch"] = summarize([child["build_seconds"] * grow]), summarize([child["memory_mb"] * grow])

    capped = f"the baseline holds the first {cap:,} of {n_windows:,} windows and runs epochs over them"
    checked = f"first {CHECK_BATCHES} unshuffled batches checked equal"
    name = f"DataLoader, {n:,} shuffled batches, (B, L, stride) = {LONG}"
    numpy_note = f"{_rates(ours, numpy_figure)}; {capped}; {checked}"
    torch_note = f"{_rates(ours, torch_batches)}; {capped}, in a fresh process; {checked}"
    rows = [
        Result(name, ours, NUMPY_BASELINE, numpy_figure, "us/batch", numpy_note),
        Result(name, ours, TORCH_BASELINE, torch_batches, "us/batch", torch_note, skipped=why),
    ]
    return rows + _construction_rows(built, from_list, cap, n_windows, why)


def _construction_rows(built: dict, from_list: float, cap: int, n_windows: int, why: str | None) -> list[Result]:
    """Seconds and memory of building the dataset at LONG: npllm's against NumPy's and torch's, scaled up."""
    (seconds, mb), numpy, torch = built["npllm"], built["numpy"], built.get("torch", (None, None))
    scaled = f"built the first {cap:,} windows, scaled x{n_windows / cap:.2f} to {n_windows:,}"
    met = "met" if seconds["median"] < BUILD_SECONDS_TARGET else "MISSED"
    ours = (
        "npllm: GPTDataset + DataLoader(shuffle) + first batch from the int64 token array (from the list of IDs: "
        f"{from_list:.3f} s); target < {BUILD_SECONDS_TARGET:g} s: {met}"
    )
    name = f"construction, (B, L, stride) = {LONG}, {n_windows:,} windows"
    torch_note = f"{ours}; baseline {scaled}, n=1, from the list of IDs, in a fresh process"
    rows = [
        Result(name, seconds, "NumPy list of windows, construction", numpy[0], note=f"{ours}; baseline {scaled}"),
        Result(name, seconds, "torch GPTDatasetV1, construction", torch[0], note=torch_note, skipped=why),
    ]
    met = "met" if mb["median"] < BUILD_MB_TARGET else "MISSED"
    ours = f"npllm: tracemalloc peak of the construction above; target < {BUILD_MB_TARGET} MB: {met}"
    torch_how = (
        "what a fresh process holds (PSS) after the build less before it, which the build frees nothing of; "
        "tracemalloc does not see torch's buffers"
    )
    name = f"peak memory above the token array, (B, L, stride) = {LONG}"
    rows.append(
        Result(name, mb, "NumPy list of windows, tracemalloc peak", numpy[1], "MB", f"{ours}; baseline {scaled}")
    )
    note = f"{ours}; baseline: {torch_how}, {scaled}"
    rows.append(Result(name, mb, "torch GPTDatasetV1, memory rise (PSS)", torch[1], "MB", note, skipped=why))
    return rows


def _torch_in_fresh_process(ids: np.ndarray, cap: int, batches: int, repeat: int) -> dict:
    """`_torch_child` in a new interpreter: {"build_seconds", "memory_mb", "batches": timeit figures}.

    A new process, because tracemalloc does not see the memory torch allocates for its windows,
    and in this process, memory freed earlier and reused would hide part of it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        ids_file = pathlib.Path(tmp) / "ids.npy"
        np.save(ids_file, ids)
        call = f"_torch_child({str(ids_file)!r}, {cap}, {batches}, {repeat})"
        code = f"from benchmarks.bench_loader import _torch_child; {call}"
        out = run_process([sys.executable, "-c", code])[0]
    return json.loads(out.strip().splitlines()[-1])


def _torch_child(ids_file: str, cap: int, batches: int, repeat: int) -> None:
    """In the fresh process: build torch's dataset of the first `cap` windows at LONG from the list
    of IDs, check its first batches against npllm's, time `batches` shuffled ones. Prints
    {"build_seconds", "memory_mb" (this process's memory after the build less before), "batches"} as JSON."""
    b, length, stride = LONG
    ids = np.load(ids_file)  # (N,) int64
    id_list = ids.tolist()  # the course's token IDs: a list of ints
    with torch_one_thread() as (torch, _):
        before_mb = tree_memory(os.getpid()) / MB
        start = time.perf_counter()
        dataset = torch_windows(torch, id_list, length, stride, cap)
        build_seconds = time.perf_counter() - start
        memory_mb = tree_memory(os.getpid()) / MB - before_mb
        expected = list(itertools.islice(DataLoader(GPTDataset(ids, length, stride), b), CHECK_BATCHES))
        got = itertools.islice(torch_loader(torch, dataset, b, False, SEED), CHECK_BATCHES)
        _check_same(expected, got, "torch DataLoader", LONG)
        loader = torch_loader(torch, dataset, b, True, SEED)
        figures = timeit(lambda: _drain(_epochs(loader), batches), repeat)
    print(json.dumps({"build_seconds": build_seconds, "memory_mb": memory_mb, "batches": figures}))


def _random_rows(ids, torch, why, sizes) -> list[Result]:
    """random_batches against nanoGPT's get_batch, on uint16 tokens."""
    (b, length, _), n, repeat = LONG, sizes.long_batches, sizes.long_repeat
    tokens = ids.astype(np.uint16)  # (N,) as nanoGPT's train.bin
    _check_windows(tokens, random_batches(tokens, b, length, seed=SEED), "random_batches")
    _check_windows(tokens, nanogpt_batches(tokens, b, length, SEED, torch), "nanoGPT get_batch")
    progress(f"loader: random_batches, {n:,} batches at (B, L) = {(b, length)}")
    ours = scale(timeit(lambda: _drain(random_batches(tokens, b, length, seed=SEED), n), repeat), 1e6 / n)
    theirs = scale(timeit(lambda: _drain(nanogpt_batches(tokens, b, length, SEED, torch), n), repeat), 1e6 / n)
    how = ": torch.stack of torch.from_numpy slices" if torch else " in NumPy: np.stack of slices"
    note = (
        f"{_rates(ours, theirs)}; uint16 tokens in memory, a new generator per run; the first {CHECK_BATCHES} "
        "batches of each checked to be windows of the tokens"
    )
    name = f"random_batches, {n:,} batches, (B, L) = {(b, length)}"
    skipped = why and f"torch version: {why}"  # the NumPy version ran in its place
    profile = lambda: lambda: _drain(random_batches(tokens, b, length, seed=SEED), n)  # noqa: E731
    return [Result(name, ours, f"nanoGPT get_batch{how}", theirs, "us/batch", note, skipped=skipped, profile=profile)]


# --- checks and helpers ----------------------------------------------------------------------


def _check_same(expected: list, got, what: str, shape) -> None:
    """Batches `got` equal npllm's [(x, y)], value for value, as int64."""
    got = list(got)
    if len(got) != len(expected):
        raise AssertionError(f"{what} gave {len(got)} batches at {shape}, npllm {len(expected)}")
    for k, ((x, y), (gx, gy)) in enumerate(zip(expected, got)):
        gx, gy = np.asarray(gx), np.asarray(gy)
        if gx.dtype != np.int64 or not (np.array_equal(x, gx) and np.array_equal(y, gy)):
            raise AssertionError(f"{what}'s batch {k} at {shape} differs from npllm's unshuffled DataLoader")


def _check_windows(tokens: np.ndarray, batches, what: str) -> None:
    """In the first CHECK_BATCHES batches, every row of x is tokens[s:s+T] and of y tokens[s+1:s+T+1], for some s."""
    for x, y in itertools.islice(batches, CHECK_BATCHES):
        x, y = np.asarray(x), np.asarray(y)
        windows = sliding_window_view(tokens, x.shape[1] + 1)  # (N - T, T+1)
        for row_x, row_y in zip(x, y):
            row = np.append(row_x, row_y[-1])  # (T+1,)
            starts = np.flatnonzero(windows[:, 0] == row[0])
            if (
                x.dtype != np.int64
                or not np.array_equal(row_x[1:], row_y[:-1])
                or not any(np.array_equal(windows[s], row) for s in starts)
            ):
                raise AssertionError(f"{what} gave a row that is not a window of the token array")


def _drain(batches, n: int | None = None) -> int:
    """Take `n` batches (all, if None) and drop them: the loop every figure times."""
    count = sum(1 for _ in itertools.islice(batches, n))
    if n is not None and count != n:
        raise AssertionError(f"wanted {n} batches, got {count}")
    return count


def _epochs(loader):
    """Epochs of `loader` back to back, endless: iter() after iter()."""
    while True:
        yield from loader


def _rates(ours: dict, theirs: dict | None) -> str:
    """Medians in us/batch -> "npllm 152,000 batches/s, baseline 9,400/s (16.2x)"."""
    if theirs is None:
        return f"npllm {1e6 / ours['median']:,.0f} batches/s"
    return (
        f"npllm {1e6 / ours['median']:,.0f} batches/s, baseline {1e6 / theirs['median']:,.0f}/s "
        f"({theirs['median'] / ours['median']:.1f}x)"
    )
