"""Loader speed and memory: npllm's `DataLoader` and `random_batches` against the course's list of windows.

On tinyshakespeare's GPT-2 tokens (338,025 IDs), B = batch size, L = max_length. Baselines (in
`loader_baselines.py`): NumPy, the course's `GPTDatasetV1` with `np.array` for `torch.tensor` (every
window copied up front) and `np.stack` per batch; torch, `DataLoader` (num_workers=0, one thread)
over `GPTDatasetV1`.
Rows: one shuffled epoch at (B, L, stride) = (8, 256, 128) in us/batch (target: 5x torch's
batches/s); 20,000 shuffled batches at (8, 1024, 1), the baselines holding the first 20,000 windows
(all 337,001 would take ~5.6 GB each); the construction at (8, 1024, 1), seconds and MB above the
token array (targets: 0.1 s, 50 MB), the baselines' scaled from 20,000 windows, memory by
tracemalloc, torch's (untraced) by the PSS rise of a fresh process that builds it and times its
batches; `random_batches` at (8, 1024) against nanoGPT's `get_batch` on uint16 tokens. The
unshuffled batches are first checked equal across the three (a whole epoch at (8, 256, 128), the
first at (8, 1024, 1)), the random ones to be windows of the tokens.
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

import npllm
from benchmarks import common
from benchmarks.common import MB, Result, drain, per_item, progress, summarize, timeit, torch_one_thread, traced_peak
from benchmarks.loader_baselines import Windows, check_same, check_windows, nanogpt_batches, numpy_batches, torch_loader
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
    id_list = npllm.get_encoding("gpt2").encode_ordinary(data.read_text("tinyshakespeare.txt"))  # as the course's
    ids = np.asarray(id_list, dtype=np.int64)  # (N,) the token array every figure is "above"
    with torch_one_thread() as (torch, why):
        rows = _epoch_rows(ids, id_list, torch, why, sizes)
        rows += _long_rows(ids, torch, why, sizes)
        return rows + _random_rows(ids, torch, why, sizes)


def _epoch_rows(ids, id_list, torch, why, sizes) -> list[Result]:
    """Microseconds per batch over one shuffled epoch at SHORT, npllm against the NumPy and torch loops."""
    b, length, stride = SHORT
    dataset, numpy_ds = GPTDataset(ids, max_length=length, stride=stride), Windows(ids, length, stride)
    torch_ds = Windows(id_list, length, stride, tensor=torch.tensor) if torch else None
    expected = list(DataLoader(dataset, b, shuffle=False))  # [(x, y)], the whole epoch
    n = len(expected)
    check_same(expected, itertools.islice(numpy_batches(numpy_ds, b, False, SEED), n), "NumPy list of windows", SHORT)
    if torch:
        check_same(expected, torch_loader(torch, torch_ds, b, False, SEED), "torch DataLoader", SHORT)

    progress(f"loader: one epoch at (B, L, stride) = {SHORT}")
    loader, numpy_loader = DataLoader(dataset, b, shuffle=True, seed=SEED), numpy_batches(numpy_ds, b, True, SEED)
    sources = {"npllm": lambda: loader, "numpy": lambda: numpy_loader}  # each timed run takes n batches of one
    if torch:
        torch_shuffled = torch_loader(torch, torch_ds, b, True, SEED)
        sources["torch"] = lambda: torch_shuffled
    name = f"DataLoader, one shuffled epoch, (B, L, stride) = {SHORT}, {n} batches"
    checked = "every unshuffled batch checked equal"
    torch_note = f"target: at least {1 / TORCH_TARGET:g}x torch's batches/s; {checked}"
    profile = lambda: lambda: drain(loader, n)  # noqa: E731
    figures = per_item(sources, n, sizes.repeat)
    return _batch_rows(name, figures, checked, torch_note, why, TORCH_TARGET, profile)


def _long_rows(ids, torch, why, sizes) -> list[Result]:
    """At LONG: shuffled batches, then the construction's seconds and memory, npllm against the baselines."""
    b, length, stride = LONG
    n_windows, cap, n = len(range(0, len(ids) - length, stride)), sizes.window_cap, sizes.long_batches
    grow = n_windows / cap  # the baselines' figures for `cap` windows -> for all of them

    def build(token_ids=ids):  # -> the first batch: all npllm builds before it, window view and order included
        return next(iter(DataLoader(GPTDataset(token_ids, length, stride), b, shuffle=True, seed=SEED)))

    def numpy_build():
        return Windows(ids, length, stride, cap)

    progress(f"loader: construction at {LONG}")
    built = {  # what -> (seconds, MB above the token array)
        "npllm": (timeit(build, sizes.build_repeat), summarize([traced_peak(build)[1]])),
        "numpy": (
            common.scale(timeit(numpy_build, sizes.build_repeat), grow),
            summarize([traced_peak(numpy_build)[1] * grow]),
        ),
    }
    from_list = timeit(lambda: build(ids.tolist()), sizes.build_repeat)["median"]  # as create_dataloader has them

    dataset, numpy_ds = GPTDataset(ids, length, stride), numpy_build()
    expected = list(itertools.islice(DataLoader(dataset, b, shuffle=False), CHECK_BATCHES))
    got = itertools.islice(numpy_batches(numpy_ds, b, False, SEED), CHECK_BATCHES)
    check_same(expected, got, "NumPy list of windows", LONG)
    progress(f"loader: {n:,} shuffled batches at {LONG}")
    loader, numpy_loader = DataLoader(dataset, b, shuffle=True, seed=SEED), numpy_batches(numpy_ds, b, True, SEED)
    figures = per_item({"npllm": lambda: _epochs(loader), "numpy": lambda: numpy_loader}, n, sizes.long_repeat)
    numpy_ds = numpy_loader = None  # let the windows go before the torch process builds its own
    if torch:
        progress(f"loader: torch GPTDatasetV1, first {cap:,} windows at {LONG}, in a fresh process")
        with tempfile.TemporaryDirectory() as tmp:  # a fresh process: no memory freed earlier hides torch's
            np.save(ids_file := pathlib.Path(tmp) / "ids.npy", ids)
            code = f"from benchmarks.bench_loader import _torch_child; _torch_child({str(ids_file)!r}, {cap}, {n}, "
            out = common.run_process([sys.executable, "-c", f"{code}{sizes.long_repeat})"])[0]
        child = json.loads(out.strip().splitlines()[-1])
        figures["torch"] = child["batches"]
        built["torch"] = summarize([child["build_seconds"] * grow]), summarize([child["memory_mb"] * grow])

    capped = f"the baseline holds the first {cap:,} of {n_windows:,} windows and runs epochs over them"
    checked = f"first {CHECK_BATCHES} unshuffled batches checked equal"
    name = f"DataLoader, {n:,} shuffled batches, (B, L, stride) = {LONG}"
    rows = _batch_rows(name, figures, f"{capped}; {checked}", f"{capped}, in a fresh process; {checked}", why)
    return rows + _construction_rows(built, from_list, cap, n_windows, why)


def _batch_rows(name, figures: dict, numpy_note, torch_note, why, target=None, profile=None) -> list[Result]:
    """npllm's us/batch against NumPy's and torch's ({side: figures}), each note after the batches/s."""
    ours, numpy, torch = figures["npllm"], figures["numpy"], figures.get("torch")
    return [
        Result(name, ours, NUMPY_BASELINE, numpy, "us/batch", f"{_rates(ours, numpy)}; {numpy_note}", profile=profile),
        Result(name, ours, TORCH_BASELINE, torch, "us/batch", f"{_rates(ours, torch)}; {torch_note}", target, why),
    ]


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
    torch_note = (
        f"{ours}; baseline: what a fresh process holds (PSS) after the build less before it, which the build frees "
        f"nothing of; tracemalloc does not see torch's buffers, {scaled}"
    )
    name = f"peak memory above the token array, (B, L, stride) = {LONG}"
    return rows + [
        Result(name, mb, "NumPy list of windows, tracemalloc peak", numpy[1], "MB", f"{ours}; baseline {scaled}"),
        Result(name, mb, "torch GPTDatasetV1, memory rise (PSS)", torch[1], "MB", torch_note, skipped=why),
    ]


def _torch_child(ids_file: str, cap: int, batches: int, repeat: int) -> None:
    """In the fresh process: build torch's dataset of the first `cap` windows at LONG from the list of IDs,
    check its first batches against npllm's, time `batches` shuffled ones. Prints as JSON {"build_seconds",
    "memory_mb" (this process's memory after the build less before), "batches" (us/batch figures)}."""
    b, length, stride = LONG
    ids = np.load(ids_file)  # (N,) int64
    id_list = ids.tolist()  # the course's token IDs: a list of ints
    with torch_one_thread() as (torch, _):
        before_mb = common.tree_memory(os.getpid()) / MB
        start = time.perf_counter()
        dataset = Windows(id_list, length, stride, cap, torch.tensor)
        build_seconds = time.perf_counter() - start
        memory_mb = common.tree_memory(os.getpid()) / MB - before_mb
        expected = list(itertools.islice(DataLoader(GPTDataset(ids, length, stride), b), CHECK_BATCHES))
        got = itertools.islice(torch_loader(torch, dataset, b, False, SEED), CHECK_BATCHES)
        check_same(expected, got, "torch DataLoader", LONG)
        loader = torch_loader(torch, dataset, b, True, SEED)
        figures = per_item({"torch": lambda: _epochs(loader)}, batches, repeat)["torch"]
    print(json.dumps({"build_seconds": build_seconds, "memory_mb": memory_mb, "batches": figures}))


def _random_rows(ids, torch, why, sizes) -> list[Result]:
    """random_batches against nanoGPT's get_batch, on uint16 tokens; a new generator per timed run."""
    (b, length, _), n = LONG, sizes.long_batches
    tokens = ids.astype(np.uint16)  # (N,) as nanoGPT's train.bin
    sources = {
        "random_batches": lambda: random_batches(tokens, b, length, seed=SEED),
        "nanoGPT get_batch": lambda: nanogpt_batches(tokens, b, length, SEED, torch),
    }
    for what, source in sources.items():
        check_windows(tokens, source(), what, CHECK_BATCHES)
    progress(f"loader: random_batches, {n:,} batches at (B, L) = {(b, length)}")
    ours, theirs = per_item(sources, n, sizes.long_repeat).values()
    how = ": torch.stack of torch.from_numpy slices" if torch else " in NumPy: np.stack of slices"
    note = (
        f"{_rates(ours, theirs)}; uint16 tokens in memory, a new generator per run; the first {CHECK_BATCHES} "
        "batches of each checked to be windows of the tokens"
    )
    name = f"random_batches, {n:,} batches, (B, L) = {(b, length)}"
    skipped = why and f"torch version: {why}"  # the NumPy version ran in its place
    profile = lambda: lambda: drain(sources["random_batches"](), n)  # noqa: E731
    return [Result(name, ours, f"nanoGPT get_batch{how}", theirs, "us/batch", note, skipped=skipped, profile=profile)]


def _epochs(loader):
    """Epochs of `loader` back to back, endless: iter() after iter()."""
    while True:
        yield from loader


def _rates(ours: dict, theirs: dict | None) -> str:
    """Medians in us/batch -> "npllm 152,000 batches/s, baseline 9,400/s (16.2x)"."""
    rates = f"npllm {1e6 / ours['median']:,.0f} batches/s"
    if theirs is None:
        return rates
    return f"{rates}, baseline {1e6 / theirs['median']:,.0f}/s ({theirs['median'] / ours['median']:.1f}x)"
