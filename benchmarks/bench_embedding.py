"""Embedding speed: npllm's `GPTEmbedding` step against `torch.nn.Embedding` and the memory floor.

GPT-2 small's shapes: IDs (B, T) = (8, 1024), the first 8,192 of tinyshakespeare's GPT-2
tokens (`encode_ordinary`, untimed), into a (50,257, 768) float32 token table plus a
(1,024, 768) position table; a fixed random float32 grad_out (B, T, D). A step is what a
training loop does to these tables:

- npllm: `emb.zero_grad(); out = emb.forward(ids); emb.backward(grad_out)` on
  `GPTEmbedding(50257, 1024, 768, seed=0)`.
- PyTorch (torch.set_num_threads(1)): the course's GPTModel input written plainly below,
  `tok_emb(in_idx) + pos_emb(torch.arange(T))`, with `model.zero_grad()` (set_to_none=True,
  the default since torch 2.0, what `optimizer.zero_grad()` does too: the dense grad is
  reallocated each step rather than cleared; the note gives set_to_none=False as well), then
  `out.backward(grad_out)`; once with a dense token table and once with `sparse=True`.

Rows, all in milliseconds, medians of `repeat` runs after warm-up (the first touches of a
154 MB table page-fault):

- the step against torch dense (target: ratio at most 0.3), torch sparse=True (at most 0.8),
  and the memory floor: the bytes a step must read and write (`step_bytes`, formula in the
  note) at the copy bandwidth of a 256 MiB `np.copyto`, once with only the touched gradient
  rows (target: within 2x) and once with the whole (V, D) gradient, as a dense one is.
  torch's sparse grad comes out uncoalesced (the N rows, repeats not yet summed; the
  optimizer sums them later), so the note also times a sparse step that coalesces it.
- the step against torch again, in a fresh process with THP_MEM_ALLOC_ENABLE=1: torch's
  allocator then asks for transparent huge pages as NumPy does by default for large arrays.
  Where page faults are dear (a VM), the (V, D) grad torch allocates afresh each dense step
  costs more in faults than in arithmetic; these rows show how much, without a target.
- forward alone and backward alone (after an untimed zero_grad and forward), against both.
- the scatter-add alone, (8,192,) IDs and (8,192, 768) rows into a (50,257, 768) gradient:
  each strategy of `npllm.scatter` against `np.add.at`. The Python loop is timed on all the
  rows (it takes ~15 ms); the note adds its figure on a slice, scaled up.

Before anything is timed, npllm's output and gradients (after two steps, so zero_grad is
tested too) are checked against a plain NumPy twin (`np.add.at`, a sum over the batch), and
against torch's (dense grad, sparse grad `.to_dense()`, position grad) within float32
tolerance; each scatter strategy is checked against `np.add.at`. Without torch the torch rows
say they were skipped. The objects alive at the start, and after torch's first backward, are
frozen out of the garbage collector (gc.freeze) for the run: with torch imported each of
timeit's untimed gc.collect calls would take ~0.1 s. What this leaves out: everything after
the embeddings, optimizers, more than one thread, other shapes.
"""

from __future__ import annotations

import gc
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

import npllm
from npllm import data
from npllm.scatter import STRATEGIES

from benchmarks.common import torch_one_thread, MB, Result, progress, scale, timeit

B, T = 8, 1024  # ids per step: (B, T)
V, C, D = 50_257, 1024, 768  # GPT-2 small: vocabulary, context length, embedding width
SEED = 0
DENSE_TARGET = 0.3  # npllm step / torch dense step
SPARSE_TARGET = 0.8  # npllm step / torch sparse=True step
FLOOR_TARGET = 2.0  # npllm step / touched-rows memory floor
COPY_ELEMENTS = 64 * 2**20  # float32: a 256 MiB np.copyto for the bandwidth
PROFILE_STEPS = 20
TORCH_DENSE = "torch nn.Embedding dense (1 thread)"
TORCH_SPARSE = "torch nn.Embedding sparse=True (1 thread)"
THP = "THP_MEM_ALLOC_ENABLE=1"  # torch's opt-in to transparent huge pages, which NumPy asks for by default
REPO = pathlib.Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sizes:
    repeat: int  # timed runs per figure
    copy_repeat: int  # timed 256 MiB copies for the bandwidth
    loop_rows: int  # rows of the Python-loop scatter's second figure, scaled up to B * T
    note_repeat: int  # timed runs of the figures that only appear in notes


FULL = Sizes(20, 7, 1024, 20)
QUICK = Sizes(5, 3, 512, 3)


def run(quick: bool, profile: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    text = data.path("tinyshakespeare.txt").read_text(encoding="utf-8")
    tokens = npllm.get_encoding("gpt2").encode_ordinary(text)[: B * T]
    ids = np.asarray(tokens, dtype=np.int64).reshape(B, T)  # (B, T)
    grad_out = _grad_out()  # (B, T, D)
    with torch_one_thread() as (torch, why_not):
        emb = npllm.GPTEmbedding(V, C, D, seed=SEED)
        rows = _step_rows(emb, ids, grad_out, torch, why_not, sizes)
        rows += _scatter_rows(ids, grad_out, sizes)
    if profile:
        rows[0].profile = lambda: _steps_call(emb, ids, grad_out)
    return rows


# --- the steps, npllm's and the baselines', written plainly ----------------------------------


def npllm_step(emb: npllm.GPTEmbedding, ids: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
    """One training step of the embeddings: clear, look up, send the gradient back."""
    emb.zero_grad()
    out = emb.forward(ids)  # (B, T) -> (B, T, D)
    emb.backward(grad_out)  # (B, T, D) -> emb.token.grad (V, D), emb.position.grad (C, D)
    return out


def torch_gpt_embedding(torch, sparse: bool):
    """The course's GPTModel input: tok_emb(in_idx) + pos_emb(torch.arange(seq_len))."""

    class TorchGPTEmbedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_emb = torch.nn.Embedding(V, D, sparse=sparse)
            self.pos_emb = torch.nn.Embedding(C, D)

        def forward(self, in_idx):  # (B, T) int64 -> (B, T, D)
            seq_len = in_idx.shape[1]
            return self.tok_emb(in_idx) + self.pos_emb(torch.arange(seq_len, device=in_idx.device))

    return TorchGPTEmbedding()


def torch_step(model, ids, grad_out, set_to_none: bool = True):
    """One step as a PyTorch user writes it without an optimizer (which zeroes the same way)."""
    model.zero_grad(set_to_none=set_to_none)
    out = model(ids)  # (B, T, D)
    out.backward(grad_out)
    return out


def _steps_call(emb, ids, grad_out):
    """The profile target: the timed GPTEmbedding, warmed by a step; returns PROFILE_STEPS steps' call."""
    npllm_step(emb, ids, grad_out)

    def steps():
        for _ in range(PROFILE_STEPS):
            npllm_step(emb, ids, grad_out)

    return steps


# --- step, forward, backward -----------------------------------------------------------------


def _step_rows(emb, ids, grad_out, torch, why_not, sizes) -> list[Result]:
    ms = 1e3  # seconds -> milliseconds
    _check_against_numpy(emb, ids, grad_out)  # two steps: also the warm-up

    progress(f"embedding: npllm step, forward, backward at (B, T, V, D) = {(B, T, V, D)}")
    ours = {
        "step": scale(timeit(lambda: npllm_step(emb, ids, grad_out), sizes.repeat), ms),
        "forward": scale(timeit(lambda: emb.forward(ids), sizes.repeat), ms),
        "backward": scale(timeit(lambda _: emb.backward(grad_out), sizes.repeat,
                                 setup=lambda: _npllm_prepare(emb, ids)), ms),
    }
    distinct = len(np.unique(ids))

    progress("embedding: copy bandwidth (np.copyto, 256 MiB float32)")
    copy = _copy_figure(sizes.copy_repeat)  # seconds of one copy
    copy_bytes = 2 * COPY_ELEMENTS * 4  # read the source, write the destination
    bandwidth = copy_bytes / copy["median"]  # bytes/s
    touched_bytes = step_bytes(B * T, distinct, T, D)
    dense_bytes = step_bytes(B * T, V, T, D)

    theirs = {}  # ("step" | "forward" | "backward" | "step thp", "dense" | "sparse") -> figure in ms
    extra = {}  # "dense" | "sparse" -> step ms with set_to_none=False
    coalesce = None  # ms of a sparse step that also coalesces the token grad
    if torch:
        tids, tgrad = torch.from_numpy(ids), torch.from_numpy(grad_out)
        for kind in ("dense", "sparse"):
            progress(f"embedding: torch {kind} step, forward, backward")
            model = torch_gpt_embedding(torch, sparse=kind == "sparse")
            _check_against_torch(torch, model, emb, ids, grad_out)  # two steps: also the warm-up
            gc.freeze()  # and the modules torch imported on its first backward
            theirs["step", kind] = scale(timeit(lambda: torch_step(model, tids, tgrad), sizes.repeat), ms)
            theirs["forward", kind] = scale(timeit(lambda: model(tids), sizes.repeat), ms)
            theirs["backward", kind] = scale(timeit(lambda out: out.backward(tgrad), sizes.repeat,
                                                    setup=lambda: _torch_prepare(model, tids)), ms)
            extra[kind] = scale(timeit(lambda: torch_step(model, tids, tgrad, set_to_none=False),
                                       sizes.note_repeat), ms)["median"]
            if kind == "sparse":
                coalesce = scale(timeit(lambda: _torch_step_coalesced(model, tids, tgrad), sizes.note_repeat),
                                 ms)["median"]
            model = None
        progress(f"embedding: torch steps with {THP}, in a fresh process")
        for kind, figure in _fresh_thp_steps(ids, sizes.repeat).items():
            theirs["step thp", kind] = scale(figure, ms)

    skipped = f"skipped: {why_not}"
    checked = ("output and gradients (token, position; after 2 steps) checked against a NumPy twin"
               + (" and torch's (dense grad, sparse .to_dense())" if torch else ""))
    shape = f"ids (B, T) = ({B}, {T}), {distinct:,} distinct, tables ({V:,} + {C:,}) x {D}"
    rows = []

    name = f"embedding step (zero_grad + forward + backward), {shape}"
    for kind, baseline, target in (("dense", TORCH_DENSE, DENSE_TARGET), ("sparse", TORCH_SPARSE, SPARSE_TARGET)):
        figure = theirs.get(("step", kind))
        if figure is None:
            note = skipped
        else:
            note = (f"{_target(ours['step'], figure, target, f'torch {kind}')}; torch zeroes by model.zero_grad() "
                    f"(set_to_none=True, the default); with set_to_none=False {extra[kind]:.1f} ms")
            if kind == "sparse":
                note += (f"; torch's sparse grad is left uncoalesced (N = {B * T:,} rows, repeats not summed "
                         f"until the optimizer applies it); a step that also coalesces it (the sum npllm's "
                         f"scatter-add does): {coalesce:.1f} ms")
            note += f"; {checked}"
        rows.append(Result(name, ours["step"], baseline, figure, unit="ms", target=target if figure else None,
                           note=note))
    for kind, baseline, target in (("dense", TORCH_DENSE, DENSE_TARGET), ("sparse", TORCH_SPARSE, SPARSE_TARGET)):
        figure = theirs.get(("step thp", kind))
        note = skipped if figure is None else (
            f"no target of its own; against this baseline the {target:g}x target would be "
            f"{'met' if ours['step']['median'] / figure['median'] <= target else 'MISSED'}; {THP} makes torch's CPU "
            f"allocator ask for transparent huge pages (madvise), as NumPy does for large arrays by default, so "
            f"its fresh buffers each step (the (V, D) grad for dense, the (B, T, D) output) take up to 512x fewer "
            f"page faults; same steps as the rows without {THP}, in a fresh process")
        rows.append(Result(name, ours["step"], f"{baseline}, {THP}", figure, unit="ms", note=note))

    formula = (f"bytes = 2NR (read the N gathered token rows, write the (B, T, D) output; the position add "
               f"fused into that write) + TR (read the positions) + 2NR (read grad_out for the token "
               f"scatter and again for the position sum) + 2GR (read+write the gradient rows) + 2TR "
               f"(read+write the position grad) + GR + TR (clear them), R = D x 4 bytes, N = B x T = {B * T:,}, "
               f"T = {T:,}, D = {D}")
    speed = (f"bandwidth {bandwidth / 1e9:.1f} GB/s = 2 x {COPY_ELEMENTS * 4 / MB:.0f} MB (read + write) / "
             f"median np.copyto {copy['median'] * ms:.1f} ms (n={len(copy['runs'])})")
    touched_floor = scale(copy, ms * touched_bytes / copy_bytes)  # the copy's runs, scaled to the step's bytes
    dense_floor = scale(copy, ms * dense_bytes / copy_bytes)
    rows.append(Result(
        name, ours["step"], "memory floor, touched rows: step bytes / copy bandwidth", touched_floor, unit="ms",
        target=FLOOR_TARGET,
        note=(f"{_target(ours['step'], touched_floor, FLOOR_TARGET, 'the touched-rows floor')}; {formula}; "
              f"touched rows G = {distinct:,} distinct ids -> {touched_bytes / MB:.0f} MB; {speed}")))
    rows.append(Result(
        name, ours["step"], "memory floor, dense (V, D) grad: step bytes / copy bandwidth", dense_floor, unit="ms",
        note=(f"no target (npllm clears and writes only touched rows); the formula of the touched-rows row with "
              f"G = V = {V:,} (zero the whole grad, read+write all of it) -> {dense_bytes / MB:.0f} MB; {speed}")))

    for part, what in (("forward", "forward alone, out = emb.forward(ids)"),
                       ("backward", "backward alone, after an untimed zero_grad + forward")):
        for kind, baseline in (("dense", TORCH_DENSE), ("sparse", TORCH_SPARSE)):
            figure = theirs.get((part, kind))
            note = skipped if figure is None else (
                "torch with autograd recording, as in training (model(ids))" if part == "forward"
                else "torch out.backward(grad_out) after model.zero_grad() + model(ids), untimed")
            rows.append(Result(f"embedding {what}, {shape}", ours[part], baseline, figure, unit="ms", note=note))
    return rows


def _npllm_prepare(emb, ids):
    emb.zero_grad()
    return emb.forward(ids)


def _fresh_thp_steps(ids, repeat: int) -> dict:
    """{"dense": timeit figures, "sparse": ...} of torch steps in a new interpreter with THP_MEM_ALLOC_ENABLE=1.

    A new process, because torch reads the variable once, when its allocator first runs.
    """
    with tempfile.TemporaryDirectory() as tmp:
        ids_file = pathlib.Path(tmp) / "ids.npy"
        np.save(ids_file, ids)
        code = "import sys; from benchmarks.bench_embedding import _thp_child; _thp_child(*sys.argv[1:])"
        env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "1"}
        done = subprocess.run([sys.executable, "-c", code, str(ids_file), str(repeat)], cwd=REPO, env=env,
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the fresh torch process ({THP}) failed (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _thp_child(ids_file: str, repeat: str) -> None:
    """In the fresh process: time torch's dense and sparse steps; print their timeit figures as JSON."""
    import torch

    torch.set_num_threads(1)
    ids, grad_out = torch.from_numpy(np.load(ids_file)), torch.from_numpy(_grad_out())
    out = {}
    for kind in ("dense", "sparse"):
        model = torch_gpt_embedding(torch, sparse=kind == "sparse")
        for _ in range(2):
            torch_step(model, ids, grad_out)  # warm-up: first touches, lazy imports
        gc.freeze()  # as in the parent: keep timeit's gc.collect cheap
        out[kind] = timeit(lambda: torch_step(model, ids, grad_out), int(repeat))
        model = None
    print(json.dumps(out))


def _grad_out() -> np.ndarray:
    """The fixed random gradient every step sends back: (B, T, D) float32 ~ N(0, 1), seed SEED."""
    return np.random.default_rng(SEED).standard_normal((B, T, D), dtype=np.float32)


def _torch_step_coalesced(model, ids, grad_out):
    """A sparse step whose token grad is then coalesced: repeated rows summed, as an optimizer needs."""
    out = torch_step(model, ids, grad_out)
    model.tok_emb.weight.grad = model.tok_emb.weight.grad.coalesce()
    return out


def _torch_prepare(model, ids):
    model.zero_grad()
    return model(ids)  # (B, T, D), its graph ready for backward


def step_bytes(n: int, grad_rows: int, t: int, d: int, itemsize: int = 4) -> int:
    """Bytes a step must read or write, with `grad_rows` token-gradient rows cleared and updated.

    forward 2*n*d (gather + write out) + t*d (positions); backward 2*n*d (grad_out, twice)
    + 2*grad_rows*d + 2*t*d (read+write the grads); zero_grad grad_rows*d + t*d; times itemsize.
    step_bytes(n=2, grad_rows=1, t=2, d=1) -> 4 * (4 + 2 + 4 + 2 + 4 + 1 + 2) = 76
    """
    row = d * itemsize
    forward = 2 * n * row + t * row
    backward = 2 * n * row + 2 * grad_rows * row + 2 * t * row
    clear = grad_rows * row + t * row
    return forward + backward + clear


def _copy_figure(repeat: int) -> dict:
    """timeit figures (seconds) of np.copyto between two 256 MiB float32 arrays, both touched first."""
    src = np.full(COPY_ELEMENTS, 1.0, dtype=np.float32)
    dst = np.zeros_like(src)
    dst.fill(0)  # np.zeros maps pages lazily: touch them now, not in the first copy
    return timeit(lambda: np.copyto(dst, src), repeat)


def _target(ours: dict, theirs: dict, target: float, what: str) -> str:
    """"target <= 0.3x torch dense: met (0.17x)" from two figures' medians."""
    ratio = ours["median"] / theirs["median"]
    return f"target <= {target:g}x {what}: {'met' if ratio <= target else 'MISSED'} ({ratio:.2f}x)"


# --- checks ----------------------------------------------------------------------------------


def _check_against_numpy(emb, ids, grad_out) -> None:
    """Two npllm steps; the output and both gradients equal the obvious NumPy (np.add.at, a sum)."""
    for _ in range(2):  # the second step sees the first's gradient only if zero_grad missed it
        out = npllm_step(emb, ids, grad_out)
    _check_close("forward output", out, emb.token.weight[ids] + emb.position.weight[:T])
    token = np.zeros((V, D), dtype=np.float32)
    np.add.at(token, ids.reshape(-1), grad_out.reshape(-1, D))  # (V, D)
    _check_close("token gradient (against np.add.at)", emb.token.grad, token, np.unique(ids))
    _check_close("position gradient (against a sum over the batch)", emb.position.grad[:T], grad_out.sum(axis=0))


def _check_against_torch(torch, model, emb, ids, grad_out) -> None:
    """Two torch steps with npllm's weights; output and gradients equal those of a step of `emb`."""
    with torch.no_grad():
        model.tok_emb.weight.copy_(torch.from_numpy(emb.token.weight))
        model.pos_emb.weight.copy_(torch.from_numpy(emb.position.weight))
    tids, tgrad = torch.from_numpy(ids), torch.from_numpy(grad_out)
    for _ in range(2):
        npllm_step(emb, ids, grad_out)
        out = torch_step(model, tids, tgrad)
    token = model.tok_emb.weight.grad
    kind = "sparse" if token.is_sparse else "dense"
    _check_close(f"torch {kind} forward output", emb.forward(ids), out.detach().numpy())
    token = (token.to_dense() if token.is_sparse else token).numpy()  # (V, D)
    _check_close(f"torch {kind} token gradient", emb.token.grad, token, np.unique(ids))
    _check_close(f"torch {kind} position gradient", emb.position.grad, model.pos_emb.weight.grad.numpy())


def _check_close(what: str, got: np.ndarray, want: np.ndarray, rows: np.ndarray | None = None,
                 rtol: float = 1e-5, atol: float = 1e-4) -> None:
    """Equal within float32 rounding (sums in another order), or an AssertionError saying by how much.

    With `rows` (the touched rows of a (V, D) gradient), those rows are compared and every other
    element of both must be exactly 0: stricter than np.allclose on the whole, and ~20x faster.
    """
    if got.shape != want.shape:
        raise AssertionError(f"npllm's {what} has shape {got.shape}, expected {want.shape}")
    if rows is not None:
        for name, grad in (("npllm's", got), ("the baseline's", want)):
            outside = np.count_nonzero(grad) - np.count_nonzero(grad[rows])
            if outside:
                raise AssertionError(f"{what}: {name} gradient has {outside} nonzero values outside the touched rows")
        got, want = got[rows], want[rows]
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        raise AssertionError(f"npllm's {what} differs: max |diff| {float(np.max(np.abs(got - want))):.3g}")


# --- the scatter-add alone -------------------------------------------------------------------


def _scatter_rows(ids, grad_out, sizes) -> list[Result]:
    """Each strategy of npllm.scatter adding (N, D) rows into a (V, D) grad, against np.add.at."""
    ms = 1e3
    flat_ids, rows = ids.reshape(-1), grad_out.reshape(-1, D)  # (N,), (N, D)
    n, m = len(flat_ids), sizes.loop_rows
    want = np.zeros((V, D), dtype=np.float32)
    np.add.at(want, flat_ids, rows)  # (V, D), the baseline's answer
    touched = np.unique(flat_ids)  # (U,)
    grad = np.zeros((V, D), dtype=np.float32)
    for name, fn in STRATEGIES.items():
        grad.fill(0)  # also touches every page before the timed runs
        fn(grad, flat_ids, rows)
        _check_close(f"scatter_add {name!r} (against np.add.at)", grad, want, touched)
    want = None

    progress(f"embedding: scatter-add strategies, ({n:,}, {D}) rows into ({V:,}, {D})")
    baseline = scale(timeit(lambda: np.add.at(grad, flat_ids, rows), sizes.repeat), ms)
    figures = {}  # strategy name -> figure in ms
    for name, fn in STRATEGIES.items():
        figures[name] = scale(timeit(lambda: fn(grad, flat_ids, rows), sizes.repeat), ms)
    loop = STRATEGIES["loop"]
    sliced = scale(timeit(lambda: loop(grad, flat_ids[:m], rows[:m]), sizes.repeat), ms * n / m)

    default = _default_strategy()
    fastest = min(figures, key=lambda k: figures[k]["median"])
    verdict = f"fastest: {fastest!r}" + (" = Embedding's default" if fastest == default
                                         else f", not Embedding's default {default!r}")
    common = (f"all {n:,} rows into one pre-touched (V, D) grad (runs accumulate; the cost does not depend on the "
              f"values); checked against np.add.at; {verdict}")
    results = []
    for name, figure in figures.items():
        note = common
        if name == "loop":
            note += (f"; timed on all {n:,} rows, not on a slice scaled up (it is fast enough): the first "
                     f"{m:,} rows scaled x{n / m:g} give {sliced['median']:.1f} ms")
        results.append(Result(f"scatter-add ({n:,}, {D}) rows into ({V:,}, {D}): npllm.scatter {name!r}",
                              figure, "np.add.at", baseline, unit="ms", note=note))
    return results


def _default_strategy() -> str:
    """The name in npllm.scatter.STRATEGIES of the function npllm.embedding calls: "layers"."""
    import npllm.embedding

    used = [name for name, fn in STRATEGIES.items() if getattr(npllm.embedding, fn.__name__, None) is fn]
    return used[0] if len(used) == 1 else "unknown"


# --- helpers ---------------------------------------------------------------------------------


