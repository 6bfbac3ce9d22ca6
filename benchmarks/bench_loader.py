"""Loader speed and memory: npllm's `DataLoader` and `random_batches` against the course's list of windows.

On tinyshakespeare's GPT-2 tokens (`encode_ordinary`, 338,025 IDs, built once, untimed), with
B = batch size, L = max_length, and the baselines written out plainly below:

- the course's list of windows in NumPy: a dataset that copies every window into its own array
  at construction (`GPTDatasetV1` with `np.array` for `torch.tensor`), and a loop that stacks B
  of them per batch with `np.stack`;
- PyTorch: `torch.utils.data.DataLoader` (num_workers=0, torch.set_num_threads(1), default
  collate) over the course's `GPTDatasetV1` (a `torch.tensor` per window, from a list of IDs).

Rows:

- one shuffled epoch at (B=8, L=256, stride=128), in microseconds per batch (npllm / baseline,
  as the runner's ratio is; batches/s are in the note). Target: at least 5x PyTorch's
  batches/s, so a ratio of at most 0.2.
- a fixed number of shuffled batches at (B=8, L=1024, stride=1). The baselines' datasets hold
  only the first `window_cap` windows (all 337,001 would take ~5.6 GB each) and run epochs over
  them back to back; npllm's holds every window.
- construction at (8, 1024, 1), seconds and MB above the token array: npllm's `GPTDataset` +
  `DataLoader` + the first shuffled batch (it builds its window view and the epoch's order
  lazily) against the baselines' datasets, built for the first `window_cap` windows and scaled
  linearly to 337,001. Targets for npllm: under 0.1 s and under 50 MB. Memory is tracemalloc's
  peak for npllm and NumPy (NumPy reports its buffers to tracemalloc). PyTorch's buffers are
  not seen by tracemalloc, so its row is the rise of the peak RSS (VmHWM, reset through
  /proc/self/clear_refs) over the RSS before the build, in a fresh process; the npllm and NumPy
  rows give that figure too, as a cross-check. (Not ru_maxrss: a process started by
  subprocess inherits its parent's high-water mark, which hides the rise.)
- `random_batches` (nanoGPT's sampler) at (8, 1024) against nanoGPT's `get_batch` loop
  (`torch.stack` of `torch.from_numpy` slices; `np.stack` without torch), on uint16 tokens as
  nanoGPT's train.bin holds them (in memory, not a memmap).

Before anything is timed, every unshuffled batch of an epoch at (8, 256, 128) and the first
batches at (8, 1024, 1) are checked equal across the three, and the random batches are checked
to be windows of the token array. Without torch, the NumPy rows still run and the PyTorch rows
say why they were skipped. The objects alive at the start (torch's, once imported) are frozen
out of the garbage collector for the run (gc.freeze): with torch imported each of timeit's
untimed gc.collect calls would take ~0.1 s. What this leaves out: worker processes, pinned
memory, memmaps.
"""

from __future__ import annotations

import gc
import itertools
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import npllm
from benchmarks.common import MB, Result, format_number, progress, scale, timeit, torch_one_thread
from npllm import data
from npllm.loader import DataLoader, GPTDataset, random_batches

SHORT = (8, 256, 128)  # (B, L, stride): one epoch of 330 batches
LONG = (8, 1024, 1)  # (B, L, stride): 337,001 windows, 42,126 batches per epoch
SEED = 0
CHECK_BATCHES = 3  # unshuffled batches compared at LONG
TORCH_TARGET = 0.2  # npllm s/batch / torch s/batch at SHORT: at least 5x torch's batches/s
BUILD_SECONDS_TARGET = 0.1  # npllm construction at LONG, absolute
BUILD_MB_TARGET = 50  # npllm peak MB above the token array at LONG, absolute
NUMPY_BASELINE = "NumPy list of windows + np.stack"
TORCH_BASELINE = "torch DataLoader + GPTDatasetV1 (1 thread, 0 workers)"
REPO = pathlib.Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sizes:
    repeat: int  # timed epochs at SHORT
    long_batches: int  # batches per timed run at LONG
    long_repeat: int  # timed runs at LONG and for random_batches
    window_cap: int  # windows the baselines' datasets hold at LONG
    build_repeat: int  # timed constructions, npllm and NumPy
    random_batches: int  # batches per timed run of random_batches and nanoGPT's get_batch


FULL = Sizes(20, 20_000, 3, 20_000, 5, 20_000)
QUICK = Sizes(5, 3_000, 2, 1_000, 3, 1_000)


def run(quick: bool, profile: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    text = data.path("tinyshakespeare.txt").read_text(encoding="utf-8")
    id_list = npllm.get_encoding("gpt2").encode_ordinary(text)  # [int], as the course has them
    ids = np.asarray(id_list, dtype=np.int64)  # (N,) the token array every figure is "above"
    with torch_one_thread() as (torch, why_not):
        with tempfile.TemporaryDirectory() as tmp:
            ids_file = pathlib.Path(tmp) / "ids.npy"
            np.save(ids_file, ids)  # for the fresh processes that measure peak RSS
            rows = _epoch_rows(ids, id_list, torch, why_not, sizes)
            rows += _long_rows(ids, id_list, ids_file, torch, why_not, sizes)
        rows += _random_rows(ids, torch, why_not, sizes)
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


class NumpyLoader:
    """Batches of a NumpyWindows: B windows per batch, np.stack'ed; each iter() a new order."""

    def __init__(self, dataset: NumpyWindows, batch_size: int, shuffle: bool, seed: int):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)

    def __iter__(self):  # -> x (B, L), y (B, L) int64
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for k in range(0, n, self.batch_size):
            pairs = [self.dataset[i] for i in order[k : k + self.batch_size]]
            yield np.stack([x for x, _ in pairs]), np.stack([y for _, y in pairs])


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
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=False,
        num_workers=0,
        generator=torch.Generator().manual_seed(seed),
    )


def nanogpt_batches(data: np.ndarray, batch_size: int, block_size: int, seed: int, torch=None):
    """nanoGPT's get_batch, endless: -> x (B, T), y (B, T) int64, torch tensors (NumPy arrays without torch)."""
    if torch is None:
        rng = np.random.default_rng(seed)
        while True:
            ix = rng.integers(len(data) - block_size, size=batch_size)  # (B,)
            x = np.stack([data[i : i + block_size].astype(np.int64) for i in ix])
            y = np.stack([data[i + 1 : i + 1 + block_size].astype(np.int64) for i in ix])
            yield x, y
    generator = torch.Generator().manual_seed(seed)
    while True:
        ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator)  # (B,)
        x = torch.stack([torch.from_numpy((data[i : i + block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1 : i + 1 + block_size]).astype(np.int64)) for i in ix])
        yield x, y


# --- one epoch at SHORT ----------------------------------------------------------------------


def _epoch_rows(ids, id_list, torch, why_not, sizes) -> list[Result]:
    """Seconds per batch over one shuffled epoch, npllm against the NumPy and torch loops."""
    b, length, stride = SHORT
    dataset = GPTDataset(ids, max_length=length, stride=stride)
    numpy_ds = NumpyWindows(ids, length, stride)
    torch_ds = torch_windows(torch, id_list, length, stride) if torch else None
    n_batches = len(DataLoader(dataset, b))

    expected = list(DataLoader(dataset, b, shuffle=False))  # [(x, y)], the whole epoch
    _check_same(expected, list(NumpyLoader(numpy_ds, b, False, SEED)), "NumPy list of windows", SHORT)
    if torch:
        _check_same(expected, list(torch_loader(torch, torch_ds, b, False, SEED)), "torch DataLoader", SHORT)

    progress(f"loader: one epoch at (B, L, stride) = {SHORT}")
    per_batch = 1e6 / n_batches  # seconds per epoch -> microseconds per batch
    loader = DataLoader(dataset, b, shuffle=True, seed=SEED)
    ours = scale(timeit(lambda: _drain(loader), sizes.repeat), per_batch)
    numpy_loader = NumpyLoader(numpy_ds, b, True, SEED)
    numpy_figure = scale(timeit(lambda: _drain(numpy_loader), sizes.repeat), per_batch)
    torch_figure = None
    if torch:
        t_loader = torch_loader(torch, torch_ds, b, True, SEED)
        torch_figure = scale(timeit(lambda: _drain(t_loader), sizes.repeat), per_batch)

    name = f"DataLoader, one shuffled epoch, (B, L, stride) = {SHORT}, {n_batches} batches"
    return [
        Result(
            name,
            ours,
            NUMPY_BASELINE,
            numpy_figure,
            unit="us/batch",
            note=_rates(ours, numpy_figure) + "; every unshuffled batch checked equal",
            profile=lambda: _epoch_call(dataset),
        ),
        Result(
            name,
            ours,
            TORCH_BASELINE,
            torch_figure,
            unit="us/batch",
            target=TORCH_TARGET,
            note=(
                _rates(ours, torch_figure) + f"; target: at least {1 / TORCH_TARGET:g}x torch's batches/s; "
                "every unshuffled batch checked equal"
                if torch
                else f"skipped: {why_not}"
            ),
        ),
    ]


def _epoch_call(dataset):
    """The profile target: a loader over `dataset`, prepared and warmed; returns one epoch's call."""
    loader = DataLoader(dataset, SHORT[0], shuffle=True, seed=SEED)
    _drain(loader)
    return lambda: _drain(loader)


# --- LONG: batches and construction ----------------------------------------------------------


def _long_rows(ids, id_list, ids_file, torch, why_not, sizes) -> list[Result]:
    b, length, stride = LONG
    n_windows = len(range(0, len(ids) - length, stride))
    cap, n = sizes.window_cap, sizes.long_batches
    per_batch = 1e6 / n  # seconds per run -> microseconds per batch
    grow = n_windows / cap  # the baselines' figures for `cap` windows -> for all of them

    def build(token_ids=ids):  # -> the first batch: all npllm builds before it, window view and order included
        loader = DataLoader(GPTDataset(token_ids, max_length=length, stride=stride), b, shuffle=True, seed=SEED)
        return next(iter(loader))

    progress(f"loader: construction at {LONG}")
    ours_build = timeit(build, sizes.build_repeat)
    ours_mb = _tracemalloc_peak(build) / MB
    from_list = timeit(lambda: build(id_list), sizes.build_repeat)["median"]  # as create_dataloader has them
    numpy_build = scale(timeit(lambda: NumpyWindows(ids, length, stride, cap), sizes.build_repeat), grow)
    numpy_mb = _tracemalloc_peak(lambda: NumpyWindows(ids, length, stride, cap)) / MB * grow
    ours_rss = _fresh_process("npllm", ids_file, cap)["peak_mb"]
    numpy_rss = _fresh_process("numpy", ids_file, cap)["peak_mb"]

    dataset = GPTDataset(ids, max_length=length, stride=stride)
    numpy_ds = NumpyWindows(ids, length, stride, cap)
    expected = list(itertools.islice(DataLoader(dataset, b, shuffle=False), CHECK_BATCHES))
    got = list(itertools.islice(NumpyLoader(numpy_ds, b, False, SEED), CHECK_BATCHES))
    _check_same(expected, got, "NumPy list of windows", LONG)

    progress(f"loader: {n:,} shuffled batches at {LONG}")
    loader = DataLoader(dataset, b, shuffle=True, seed=SEED)
    ours = scale(timeit(lambda: _drain(_epochs(loader), n), sizes.long_repeat), per_batch)
    numpy_loader = NumpyLoader(numpy_ds, b, True, SEED)
    numpy_figure = scale(timeit(lambda: _drain(_epochs(numpy_loader), n), sizes.long_repeat), per_batch)
    numpy_ds = numpy_loader = got = None  # let the windows go before the torch process builds its own

    torch_run = None  # the fresh torch process's figures
    if torch:
        progress(f"loader: torch GPTDatasetV1, first {cap:,} windows at {LONG}, in a fresh process")
        torch_run = _fresh_process("torch", ids_file, cap, n, sizes.long_repeat)
    skipped = f"skipped: {why_not}"

    # batches
    capped = f"the baseline holds the first {cap:,} of {n_windows:,} windows and runs epochs over them"
    checked = f"first {CHECK_BATCHES} unshuffled batches checked equal"
    name = f"DataLoader, {n:,} shuffled batches, (B, L, stride) = {LONG}"
    torch_figure = scale(torch_run["batches"], per_batch) if torch_run else None
    rows = [
        Result(
            name,
            ours,
            NUMPY_BASELINE,
            numpy_figure,
            unit="us/batch",
            note=f"{_rates(ours, numpy_figure)}; {capped}; {checked}",
        ),
        Result(
            name,
            ours,
            TORCH_BASELINE,
            torch_figure,
            unit="us/batch",
            note=f"{_rates(ours, torch_figure)}; {capped}, in a fresh process; {checked}" if torch else skipped,
        ),
    ]

    # construction, seconds
    extrapolated = f"built the first {cap:,} windows, scaled x{grow:.2f} to {n_windows:,}"
    build_name = f"construction, (B, L, stride) = {LONG}, {n_windows:,} windows"
    met = "met" if ours_build["median"] < BUILD_SECONDS_TARGET else "MISSED"
    ours_note = (
        f"npllm: GPTDataset + DataLoader(shuffle) + first batch from the int64 token array "
        f"(from the list of IDs: {from_list:.3f} s); target < {BUILD_SECONDS_TARGET:g} s: {met}"
    )
    rows.append(
        Result(
            build_name,
            ours_build,
            "NumPy list of windows, construction",
            numpy_build,
            note=f"{ours_note}; baseline {extrapolated}; {_times(ours_build, numpy_build)}",
        )
    )
    torch_build = _single(torch_run["build_seconds"] * grow) if torch_run else None
    rows.append(
        Result(
            build_name,
            ours_build,
            "torch GPTDatasetV1, construction",
            torch_build,
            note=(
                f"{ours_note}; baseline {extrapolated} ({torch_run['build_seconds']:.2f} s for {cap:,}), "
                f"n=1, from the list of IDs, in a fresh process; {_times(ours_build, torch_build)}"
                if torch
                else skipped
            ),
        )
    )

    # construction, memory
    mem_name = f"peak memory above the token array, (B, L, stride) = {LONG}"
    met = "met" if ours_mb < BUILD_MB_TARGET else "MISSED"
    ours_note = (
        f"npllm: tracemalloc peak of the construction above (fresh-process peak RSS rise: "
        f"{_mb(ours_rss)}); target < {BUILD_MB_TARGET} MB: {met}"
    )
    numpy_cross = f"{_mb(numpy_rss)} for {cap:,}" + (f", x{grow:.2f} = {_mb(numpy_rss * grow)}" if numpy_rss else "")
    rows.append(
        Result(
            mem_name,
            _single(ours_mb),
            "NumPy list of windows, tracemalloc peak",
            _single(numpy_mb),
            unit="MB",
            note=f"{ours_note}; baseline: tracemalloc, {extrapolated} (fresh-process peak "
            f"RSS rise: {numpy_cross}); {_times(_single(ours_mb), _single(numpy_mb))}",
        )
    )
    torch_rss = torch_run and torch_run["peak_mb"]
    torch_mem = _single(torch_rss * grow) if torch_rss else None
    rss_how = (
        "peak RSS (VmHWM, reset by /proc/self/clear_refs) minus RSS before the build, in a fresh process; "
        "tracemalloc does not see torch's buffers"
    )
    rows.append(
        Result(
            mem_name,
            _single(ours_mb),
            "torch GPTDatasetV1, peak RSS rise",
            torch_mem,
            unit="MB",
            note=(
                f"{ours_note}; baseline: {rss_how}: {_mb(torch_rss)} for {cap:,} windows, "
                f"{extrapolated}; {_times(_single(ours_mb), torch_mem)}"
                if torch_mem
                else f"baseline {_mb(None)}"
                if torch
                else skipped
            ),
        )
    )
    return rows


def _fresh_process(kind: str, ids_file: pathlib.Path, cap: int, batches: int = 0, repeat: int = 0) -> dict:
    """Run `_child` in a new interpreter; its figures as a dict.

    A new process, because the peak RSS of this one is long past, and torch's buffers are
    seen only there (not by tracemalloc). Not ru_maxrss: a child started by subprocess starts
    with its parent's high-water mark (Linux carries it over at exec), so its rise is hidden.
    """
    args = [kind, str(ids_file), str(cap), str(batches), str(repeat)]
    code = "import sys; from benchmarks.bench_loader import _child; _child(*sys.argv[1:])"
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the fresh {kind} process failed (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _child(kind: str, ids_file: str, cap: str, batches: str, repeat: str) -> None:
    """In a fresh process, build `kind`'s dataset at LONG: npllm's up to its first batch, the
    baselines' for the first `cap` windows. Prints {"build_seconds", "peak_mb"} as JSON
    (peak_mb None without Linux's /proc), and for torch with `batches` > 0, after checking the
    first unshuffled batches against npllm's, "batches": timeit figures of `batches` shuffled batches."""
    b, length, stride = LONG
    cap, batches, repeat = int(cap), int(batches), int(repeat)
    ids = np.load(ids_file)  # (N,) int64
    torch = None
    if kind == "torch":
        import torch

        torch.set_num_threads(1)
        gc.freeze()  # as in the parent: keep timeit's gc.collect cheap
        id_list = ids.tolist()  # the course's token IDs: a list of ints
        build = lambda: torch_windows(torch, id_list, length, stride, cap)  # noqa: E731
    elif kind == "numpy":
        build = lambda: NumpyWindows(ids, length, stride, cap)  # noqa: E731
    else:
        build = lambda: next(iter(DataLoader(GPTDataset(ids, length, stride), b, True, seed=SEED)))  # noqa: E731
    rss_before = _peak_reset()  # bytes resident now, and the peak set to it; None without /proc
    start = time.perf_counter()
    built = build()
    out = {"build_seconds": time.perf_counter() - start}
    out["peak_mb"] = None if rss_before is None else (_proc_status("VmHWM") - rss_before) / MB
    if torch is not None and batches:
        expected = list(itertools.islice(DataLoader(GPTDataset(ids, length, stride), b), CHECK_BATCHES))
        got = list(itertools.islice(torch_loader(torch, built, b, False, SEED), CHECK_BATCHES))
        _check_same(expected, got, "torch DataLoader", LONG)
        loader = torch_loader(torch, built, b, True, SEED)
        out["batches"] = timeit(lambda: _drain(_epochs(loader), batches), repeat)
    print(json.dumps(out))


# --- random_batches --------------------------------------------------------------------------


def _random_rows(ids, torch, why_not, sizes) -> list[Result]:
    b, length = LONG[0], LONG[1]
    tokens = ids.astype(np.uint16)  # (N,) as nanoGPT's train.bin
    n = sizes.random_batches
    for x, y in itertools.islice(random_batches(tokens, b, length, seed=SEED), CHECK_BATCHES):
        _check_windows(tokens, x, y, "random_batches")
    for x, y in itertools.islice(nanogpt_batches(tokens, b, length, SEED, torch), CHECK_BATCHES):
        _check_windows(tokens, np.asarray(x), np.asarray(y), "nanoGPT get_batch")

    progress(f"loader: random_batches, {n:,} batches at (B, L) = {(b, length)}")
    per_batch = 1e6 / n
    repeat = sizes.long_repeat
    ours = scale(timeit(lambda: _drain(random_batches(tokens, b, length, seed=SEED), n), repeat), per_batch)
    theirs = scale(timeit(lambda: _drain(nanogpt_batches(tokens, b, length, SEED, torch), n), repeat), per_batch)
    if torch:
        baseline = "nanoGPT get_batch: torch.stack of torch.from_numpy slices"
    else:
        baseline = "nanoGPT get_batch in NumPy: np.stack of slices"
    note = (
        f"{_rates(ours, theirs)}; uint16 tokens in memory, a new generator per run; "
        f"the first {CHECK_BATCHES} batches of each checked to be windows of the tokens"
    )
    if not torch:
        note += f"; torch version skipped: {why_not}"
    return [
        Result(
            f"random_batches, {n:,} batches, (B, L) = {(b, length)}",
            ours,
            baseline,
            theirs,
            unit="us/batch",
            note=note,
            profile=lambda: lambda: _drain(random_batches(tokens, b, length, seed=SEED), n),
        )
    ]


# --- checks ----------------------------------------------------------------------------------


def _check_same(expected, got, what: str, shape) -> None:
    """Batches [(x, y)] equal to npllm's, value for value, as int64."""
    if len(got) != len(expected):
        raise AssertionError(f"{what} gave {len(got)} batches at {shape}, npllm {len(expected)}")
    for k, ((x, y), (gx, gy)) in enumerate(zip(expected, got)):
        gx, gy = np.asarray(gx), np.asarray(gy)
        if gx.dtype != np.int64 or not (np.array_equal(x, gx) and np.array_equal(y, gy)):
            raise AssertionError(f"{what}'s batch {k} at {shape} differs from npllm's unshuffled DataLoader")


def _check_windows(tokens: np.ndarray, x: np.ndarray, y: np.ndarray, what: str) -> None:
    """Every row of x is tokens[s:s+T] and of y tokens[s+1:s+T+1], for some s."""
    t = x.shape[1]
    windows = sliding_window_view(tokens, t + 1)  # (N - T, T+1)
    for row_x, row_y in zip(x, y):
        row = np.append(row_x, row_y[-1])  # (T+1,)
        candidates = np.flatnonzero(windows[:, 0] == row[0])
        if (
            x.dtype != np.int64
            or not np.array_equal(row_x[1:], row_y[:-1])
            or not any(np.array_equal(windows[s], row) for s in candidates)
        ):
            raise AssertionError(f"{what} gave a row that is not a window of the token array")


# --- helpers ---------------------------------------------------------------------------------


def _drain(batches, n: int | None = None) -> int:
    """Take `n` batches (all, if None) and drop them: the loop every figure times."""
    count = 0
    for _ in itertools.islice(batches, n):
        count += 1
    if n is not None and count != n:
        raise AssertionError(f"wanted {n} batches, got {count}")
    return count


def _epochs(loader):
    """Epochs of `loader` back to back, endless: iter() after iter()."""
    while True:
        yield from loader


def _tracemalloc_peak(fn) -> int:
    """Bytes at the peak of what `fn()` allocates (Python and NumPy), above what was there before."""
    tracemalloc.start()
    try:
        kept = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del kept
    return peak


def _peak_reset() -> int | None:
    """Set this process's peak RSS (VmHWM) to its RSS now and return that, in bytes; None where
    Linux's /proc/self/clear_refs and /proc/self/status are missing."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # "5": reset the peak RSS to the RSS now
        return _proc_status("VmRSS")
    except OSError:
        return None


def _proc_status(key: str) -> int:
    """A "kB" line of /proc/self/status, in bytes: "VmHWM:  12345 kB" -> 12641280."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {key} line")


def _mb(x: float | None) -> str:
    """12.345 -> "12.3 MB"; None -> why not."""
    return "unmeasured (needs Linux's /proc)" if x is None else f"{format_number(x)} MB"


def _times(ours: dict, theirs: dict | None) -> str:
    """ "npllm 1/215 of the baseline" from two figures' medians (the ratio column rounds it to 0.00x)."""
    if not theirs or ours["median"] <= 0:
        return ""
    return f"npllm 1/{theirs['median'] / ours['median']:,.0f} of the baseline"


def _single(x: float) -> dict:
    """One measurement as a timeit-style figure: 3.0 -> {"median": 3.0, "min": 3.0, "max": 3.0, "runs": [3.0]}"""
    return {"median": x, "min": x, "max": x, "runs": [x]}


def _rates(ours: dict, theirs: dict | None) -> str:
    """Medians in us/batch -> "npllm 152,000 batches/s, baseline 9,400/s (16.2x)"."""
    if theirs is None:
        return f"npllm {1e6 / ours['median']:,.0f} batches/s"
    return (
        f"npllm {1e6 / ours['median']:,.0f} batches/s, baseline {1e6 / theirs['median']:,.0f}/s "
        f"({theirs['median'] / ours['median']:.1f}x)"
    )
