"""Embedding speed: a whole training step of GPT-2's input tables, optimizer included, against
torch, mode for mode; and what a step allocates.

GPT-2 small's shapes: IDs (B, T) = (8, 1024), the first 8,192 of tinyshakespeare's GPT-2
tokens (`encode_ordinary`, untimed), into a (50,257, 768) float32 token table plus a
(1,024, 768) position table; a fixed random float32 grad_out (B, T, D). torch runs on one
thread (torch.set_num_threads(1)); NumPy's element-wise work is single-threaded anyway. A
step is what a training loop does to these tables:

    npllm:  opt.zero_grad(); out = emb(ids); emb.backward(grad_out); opt.step()
    torch:  opt.zero_grad(); out = model(ids); out.backward(grad_out); opt.step()

`emb` is `npllm.GPTEmbedding(50257, 1024, 768, seed=0, sparse=...)`; `model` is the course's
GPTModel input written plainly below, `tok_emb(in_idx) + pos_emb(torch.arange(T))`. The modes,
each against its torch counterpart (lr 1e-3, the other settings the libraries' defaults):

    SGD          sparse=True + SGD           nn.Embedding(sparse=True) + optim.SGD          <= 0.8x
    lazy Adam    sparse=True + Adam(lazy=True)  sparse=True + SparseAdam (tokens)
                                                + Adam (positions: a dense gradient)        <= 0.8x
    Adam         sparse=True + Adam          dense nn.Embedding + optim.Adam                <= 0.8x
    no optimizer the default GPTEmbedding,   dense, model.zero_grad() (set_to_none=True)
                 emb.zero_grad() + forward + backward                                      <= 0.2x

Why whole steps: torch's sparse=True backward does not sum a token's repeated rows. It hands
the optimizer all N = 8,192 rows, and the optimizer sums them (SGD as it adds them into
the weight, SparseAdam by coalescing). npllm sums them in backward (`npllm.scatter.row_sums`). A
backward-only race would time unequal work; a step does the same work on both sides. The
no-optimizer step is still raced against torch's dense step (equal work: both sum into a
gradient) and, without a target, against sparse=True (its note says what is left undone).

More rows, without targets: the default dense `Embedding` with SGD and Adam (the same weights
bit for bit, slower by the gradient table it writes and clears), npllm's SGD against torch's
dense SGD, torch's steps with THP_MEM_ALLOC_ENABLE=1 in a fresh process (torch's allocator
then asks for transparent huge pages, as NumPy does for large arrays; where page faults are
dear, the (V, D) gradient a dense torch step allocates afresh costs more in faults than in
arithmetic), forward alone and backward alone, the memory floor of the no-optimizer step
(the bytes it must move at np.copyto's bandwidth), and each scatter-add strategy of
`npllm.scatter` against `np.add.at`.

Timing: the steps of one mode, npllm's and torch's (and the extra rows' of that mode), run in
turn, one run each per round, after warm-up, `repeat` rounds; the garbage collector runs before
each run, outside the clock. So all sides share whatever else the machine is doing; figures
are medians with min-max. The weights move as they train; that changes no timing.

Numerics, before any timing: each mode runs 20 steps on 20 consecutive (8, 1024) windows of
tinyshakespeare's tokens in both libraries from the same weights, at D = 32 (the algorithms do
not depend on D, and 20 dense torch Adam steps at D = 768 would take 6 s), in float64 (the
issue's "1e-6 relative": max |npllm - torch| / max |torch - start|, the error against how far
the weights moved) and in float32 (max |npllm - torch| / max |torch|: float32's own rounding).
The full-size no-optimizer step's output and gradients are checked against a NumPy twin
(`np.add.at`, a sum over the batch) and torch's (dense grad, sparse grad `.to_dense()`).

Memory: tracemalloc (NumPy reports to it) around one step after a warm-up, the peak above
what was allocated before: the tables, a dense Embedding's gradient, Adam's m and v are not
counted, the forward's output (B, T, D), 25 MB, is. A (V, D) temporary anywhere in the step
would add 154 MB. torch allocates outside tracemalloc's view.

Without torch the torch rows say they were skipped. The objects alive at the start, and after
torch's first backward, are frozen out of the garbage collector (gc.freeze) for the run: with
torch imported each untimed gc.collect would take ~0.1 s. What this leaves out: everything
after the embeddings, more than one thread, other shapes.
"""

from __future__ import annotations

import gc
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

import npllm
from benchmarks.common import MB, Result, progress, scale, summarize, timeit, torch_one_thread
from npllm import data
from npllm.scatter import STRATEGIES

B, T = 8, 1024  # ids per step: (B, T)
V, C, D = 50_257, 1024, 768  # GPT-2 small: vocabulary, context length, embedding width
SEED = 0
LR = 1e-3
NUMERICS_D, NUMERICS_STEPS = 32, 20  # the torch comparison of the weights after 20 steps
NUMERICS_TARGET = 1e-6  # max relative error in float64, against how far the weights moved
MEMORY_TARGET = 0.5  # peak extra memory of a step / one (V, D) float32 table
FLOOR_TARGET = 2.0  # npllm no-optimizer step / its touched-rows memory floor
COPY_ELEMENTS = 64 * 2**20  # float32: a 256 MiB np.copyto for the bandwidth
PROFILE_STEPS = 20
TORCH_DENSE = "torch nn.Embedding dense (1 thread)"
TORCH_SPARSE = "torch nn.Embedding sparse=True (1 thread)"
THP = "THP_MEM_ALLOC_ENABLE=1"  # torch's opt-in to transparent huge pages, which NumPy asks for by default
REPO = pathlib.Path(__file__).resolve().parent.parent
TABLE_MB = V * D * 4 / MB  # one (V, D) float32 table


@dataclass(frozen=True)
class Sizes:
    repeat: int  # timed rounds of the fast steps
    adam_repeat: int  # timed rounds of the dense Adam steps (torch's takes ~0.3 s)
    copy_repeat: int  # timed 256 MiB copies for the bandwidth
    loop_rows: int  # rows of the Python-loop scatter's second figure, scaled up to B * T
    note_repeat: int  # timed runs of the figures that only appear in notes
    memory_repeat: int  # tracemalloc'd steps per mode
    thp: bool  # the rows of torch's steps with THP_MEM_ALLOC_ENABLE=1 (a fresh process: ~5 s)


FULL = Sizes(20, 7, 7, 1024, 20, 3, True)
QUICK = Sizes(5, 3, 3, 512, 3, 1, False)


@dataclass(frozen=True)
class Mode:
    """One training setup on each side: npllm's token table and optimizer, torch's."""

    name: str  # "SGD"
    sparse: bool  # npllm's token table: Embedding(sparse=...)
    optimizer: str | None  # npllm: "sgd", "adam", "lazy", or None (no optimizer)
    torch_sparse: bool  # torch's token table: nn.Embedding(sparse=...)
    torch_optimizer: str | None  # torch: "sgd", "adam", "sparse_adam", or None
    what: str  # the npllm side in words, for the row


SGD = Mode("SGD", True, "sgd", True, "sgd", "GPTEmbedding(sparse=True) + SGD")
SGD_DENSE_TABLE = Mode("SGD", False, "sgd", True, "sgd", "GPTEmbedding() (dense .grad) + SGD")
SGD_TORCH_DENSE = Mode("SGD", True, "sgd", False, "sgd", "GPTEmbedding(sparse=True) + SGD")
LAZY = Mode("lazy Adam", True, "lazy", True, "sparse_adam", "GPTEmbedding(sparse=True) + Adam(lazy=True)")
ADAM = Mode("Adam", True, "adam", False, "adam", "GPTEmbedding(sparse=True) + Adam")
ADAM_DENSE_TABLE = Mode("Adam", False, "adam", False, "adam", "GPTEmbedding() (dense .grad) + Adam")
NO_OPT = Mode("no optimizer", False, None, False, None, "GPTEmbedding(): zero_grad + forward + backward")
NO_OPT_SPARSE = Mode(
    "no optimizer", True, None, True, None, "GPTEmbedding(sparse=True): zero_grad + forward + backward"
)
TORCH_NAMES = {
    "sgd": "optim.SGD",
    "adam": "optim.Adam",
    "sparse_adam": "optim.SparseAdam (tokens) + optim.Adam (positions)",
    None: "no optimizer",
}


def run(quick: bool, profile: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    text = data.path("tinyshakespeare.txt").read_text(encoding="utf-8")
    tokens = np.asarray(npllm.get_encoding("gpt2").encode_ordinary(text), dtype=np.int64)
    ids = tokens[: B * T].reshape(B, T)  # (B, T)
    grad_out = _grad_out(D)  # (B, T, D)
    rows = []
    peaks = {}  # npllm Mode -> peak extra MB of its steps
    with torch_one_thread() as (torch, why_not):
        numerics = _numerics(torch, tokens) if torch else {}
        rows += _training_rows(torch, why_not, ids, grad_out, numerics, peaks, sizes)
        rows += _no_optimizer_rows(torch, why_not, ids, grad_out, peaks, sizes)
        rows += _memory_rows(peaks)
        rows += _scatter_rows(ids, grad_out, sizes)
    if profile:
        rows[0].profile = lambda: _steps_call(ids, grad_out)
    return rows


# --- the steps, npllm's and torch's, written plainly -----------------------------------------


def npllm_setup(mode: Mode, width: int = D, dtype=np.float32):
    """(emb, optimizer or None) for one mode: GPTEmbedding(V, C, width) and its optimizer."""
    emb = npllm.GPTEmbedding(V, C, width, seed=SEED, dtype=dtype, sparse=mode.sparse)
    if mode.optimizer is None:
        return emb, None
    if mode.optimizer == "sgd":
        return emb, npllm.SGD(emb.parameters(), lr=LR)
    return emb, npllm.Adam(emb.parameters(), lr=LR, lazy=mode.optimizer == "lazy")


def npllm_step(emb, opt, ids: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
    """One training step of the embeddings: clear, look up, send the gradient back, update."""
    if opt is None:
        emb.zero_grad()
    else:
        opt.zero_grad()
    out = emb(ids)  # (B, T) -> (B, T, D)
    emb.backward(grad_out)  # (B, T, D) -> both tables' gradients
    if opt is not None:
        opt.step()
    return out


def torch_gpt_embedding(torch, sparse: bool, width: int = D, dtype=None):
    """The course's GPTModel input: tok_emb(in_idx) + pos_emb(torch.arange(seq_len))."""

    class TorchGPTEmbedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_emb = torch.nn.Embedding(V, width, sparse=sparse, dtype=dtype)
            self.pos_emb = torch.nn.Embedding(C, width, dtype=dtype)

        def forward(self, in_idx):  # (B, T) int64 -> (B, T, D)
            seq_len = in_idx.shape[1]
            return self.tok_emb(in_idx) + self.pos_emb(torch.arange(seq_len, device=in_idx.device))

    return TorchGPTEmbedding()


def torch_setup(torch, mode: Mode, width: int = D, dtype=None):
    """(model, [optimizers]) for one mode, as a torch user writes it."""
    model = torch_gpt_embedding(torch, mode.torch_sparse, width, dtype)
    kind = mode.torch_optimizer
    if kind is None:
        return model, []
    if kind == "sgd":
        return model, [torch.optim.SGD(model.parameters(), lr=LR)]
    if kind == "adam":
        return model, [torch.optim.Adam(model.parameters(), lr=LR)]
    # SparseAdam takes only sparse gradients: the positions' (dense) go to Adam, the usual pairing
    return model, [
        torch.optim.SparseAdam([model.tok_emb.weight], lr=LR),
        torch.optim.Adam([model.pos_emb.weight], lr=LR),
    ]


def torch_step(model, opts, ids, grad_out, set_to_none: bool = True):
    """One step as a torch user writes it; without an optimizer, model.zero_grad() zeroes the same way."""
    if opts:
        for opt in opts:
            opt.zero_grad(set_to_none=set_to_none)
    else:
        model.zero_grad(set_to_none=set_to_none)
    out = model(ids)  # (B, T, D)
    out.backward(grad_out)
    for opt in opts:
        opt.step()
    return out


def _steps_call(ids, grad_out):
    """The profile target: the SGD mode's step, warmed; returns PROFILE_STEPS steps' call."""
    emb, opt = npllm_setup(SGD)
    npllm_step(emb, opt, ids, grad_out)

    def steps():
        for _ in range(PROFILE_STEPS):
            npllm_step(emb, opt, ids, grad_out)

    return steps


def interleaved(fns: dict, repeat: int, warmup: int = 2) -> dict:
    """Seconds of each fn, run in turn, one run each per round: {name: timeit-style figures}.

    Every side sees the same moments of the machine's load. gc.collect before each run, outside
    the clock; what a run returns is freed after the clock stops, as in common.timeit.
    """
    runs = {name: [] for name in fns}  # name -> seconds of its timed runs
    for i in range(warmup + repeat):
        if i == warmup:
            gc.freeze()  # whatever the warm-up imported (torch's first backward does): gc.collect stays cheap
        for name, fn in fns.items():
            gc.collect()
            start = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - start
            del out
            if i >= warmup:
                runs[name].append(seconds)
    return {name: summarize(r) for name, r in runs.items()}


# --- the training steps, mode for mode -----------------------------------------------------------


def _training_rows(torch, why_not, ids, grad_out, numerics, peaks, sizes) -> list[Result]:
    ms = 1e3
    shape = f"ids (B, T) = ({B}, {T}) of real text, tables ({V:,} + {C:,}) x {D}"
    groups = [  # (the target mode, its extra npllm rows, its extra torch baselines, target, repeat)
        (SGD, [SGD_DENSE_TABLE], [SGD_TORCH_DENSE], 0.8, sizes.repeat),
        (LAZY, [], [], 0.8, sizes.repeat),
        (ADAM, [ADAM_DENSE_TABLE], [], 0.8, sizes.adam_repeat),
    ]
    rows = []
    for mode, extra_npllm, extra_torch, target, repeat in groups:
        progress(f"embedding: {mode.name} steps, npllm and torch, interleaved ({repeat} rounds)")
        fns, keep = {}, []  # name -> step call; keep: the objects, alive until the timing is done
        ours_modes = [mode] + extra_npllm
        for m in ours_modes:
            emb, opt = npllm_setup(m)
            fns["npllm " + m.what] = lambda e=emb, o=opt: npllm_step(e, o, ids, grad_out)
            keep.append((emb, opt))
        if torch:
            tids, tgrad = torch.from_numpy(ids), torch.from_numpy(grad_out)
            for m in [mode] + extra_torch:
                model, opts = torch_setup(torch, m)
                fns[_torch_name(m)] = lambda mo=model, op=opts: torch_step(mo, op, tids, tgrad)
                keep.append((model, opts))
        warmup = 1 if mode is ADAM else 2  # torch's dense Adam step takes ~0.3 s
        figures = {name: scale(fig, ms) for name, fig in interleaved(fns, repeat, warmup).items()}
        for m in ours_modes:  # the same objects, warm: one more step each under tracemalloc
            peaks[m] = [peak_extra(fns["npllm " + m.what]) / MB for _ in range(sizes.memory_repeat)]
        fns = keep = None  # free this mode's tables before the next mode builds its own
        ours = figures["npllm " + mode.what]
        base = figures.get(_torch_name(mode))
        checks = _numerics_note(numerics.get(mode.name))
        if mode is SGD and numerics:
            checks += (
                " (in float32 the sum of a frequent token's ~1,000 rows rounds differently in each library's "
                "order of addition: torch's SGD adds the uncoalesced rows into the weight, npllm adds their "
                "sum, as a dense step does; both are that far from the exact sum)"
            )
        note = (
            f"skipped: {why_not}"
            if base is None
            else (
                f"{_target(ours, base, target, 'torch')}; npllm {mode.what} against {_torch_name(mode)}, lr {LR:g}, "
                f"in interleaved rounds; {checks}"
            )
        )
        name = f"embedding training step ({mode.name}: zero_grad + forward + backward + step), {shape}"
        rows.append(Result(name, ours, _torch_name(mode), base, unit="ms", target=target if base else None, note=note))
        for m in extra_npllm:
            figure = figures["npllm " + m.what]
            note = (
                f"skipped: {why_not}"
                if base is None
                else (
                    f"no target: the default Embedding, whose .grad is a (V, D) table backward writes into and zero_grad "
                    f"clears row by row; the same weights as {mode.what}, bit for bit (tests/test_optim.py)"
                )
            )
            rows.append(Result(f"{name}, npllm {m.what}", figure, _torch_name(mode), base, unit="ms", note=note))
        for m in extra_torch:
            figure = figures.get(_torch_name(m))
            note = (
                f"skipped: {why_not}"
                if figure is None
                else (
                    "no target: torch's dense table with the same optimizer: its backward writes a whole (V, D) "
                    "gradient, which SGD then reads"
                )
            )
            rows.append(Result(name, ours, _torch_name(m), figure, unit="ms", note=note))
    return rows


def _torch_name(mode: Mode) -> str:
    table = TORCH_SPARSE if mode.torch_sparse else TORCH_DENSE
    return f"{table} + {TORCH_NAMES[mode.torch_optimizer]}"


def _numerics_note(errors: dict | None) -> str:
    if not errors:
        return "numerics against torch: skipped (torch not installed)"
    verdict = "met" if errors["float64"] <= NUMERICS_TARGET else "MISSED"
    return (
        f"weights after {NUMERICS_STEPS} steps on {NUMERICS_STEPS} batches of real text, against torch's, at "
        f"D = {NUMERICS_D}: max relative error {errors['float64']:.1e} in float64 (against how far they moved; "
        f"target <= {NUMERICS_TARGET:g}: {verdict}), {errors['float32']:.1e} in float32 (against max |w|)"
    )


def _numerics(torch, tokens: np.ndarray) -> dict:
    """{mode name: {"float64": error, "float32": error}}: 20 steps of npllm and torch from the same weights."""
    progress(f"embedding: numerics, {NUMERICS_STEPS} steps of each mode against torch at D = {NUMERICS_D}")
    n = NUMERICS_STEPS * B * T
    if len(tokens) < n:
        raise RuntimeError(f"tinyshakespeare has {len(tokens):,} GPT-2 tokens, the numerics need {n:,}")
    batches = tokens[:n].reshape(NUMERICS_STEPS, B, T)  # (steps, B, T): consecutive windows
    rng = np.random.default_rng(SEED + 1)
    grads = [rng.standard_normal((B, T, NUMERICS_D)) for _ in range(NUMERICS_STEPS)]  # (B, T, D) float64
    errors = {}
    for mode in (SGD, LAZY, ADAM):
        errors[mode.name] = {}
        for dtype, torch_dtype in ((np.float64, torch.float64), (np.float32, torch.float32)):
            emb, opt = npllm_setup(mode, NUMERICS_D, dtype)
            model, opts = torch_setup(torch, mode, NUMERICS_D, torch_dtype)
            with torch.no_grad():
                model.tok_emb.weight.copy_(torch.from_numpy(emb.token.weight))
                model.pos_emb.weight.copy_(torch.from_numpy(emb.position.weight))
            start = [emb.token.weight.copy(), emb.position.weight.copy()]
            for ids, g in zip(batches, grads):
                g = g.astype(dtype)
                npllm_step(emb, opt, ids, g)
                torch_step(model, opts, torch.from_numpy(ids), torch.from_numpy(g))
            theirs = [model.tok_emb.weight.detach().numpy(), model.pos_emb.weight.detach().numpy()]
            ours = [emb.token.weight, emb.position.weight]
            if dtype == np.float64:  # against how far the weights moved: the strictest measure
                error = max(np.max(np.abs(a - b)) / np.max(np.abs(b - s)) for a, b, s in zip(ours, theirs, start))
            else:  # float32 rounds the weights themselves: against their size
                error = max(np.max(np.abs(a - b)) / np.max(np.abs(b)) for a, b in zip(ours, theirs))
            errors[mode.name]["float64" if dtype == np.float64 else "float32"] = float(error)
    return errors


# --- no optimizer: zero_grad + forward + backward, forward, backward, floors -----------------


def _no_optimizer_rows(torch, why_not, ids, grad_out, peaks, sizes) -> list[Result]:
    ms = 1e3
    emb, _ = npllm_setup(NO_OPT)
    sparse_emb, _ = npllm_setup(NO_OPT_SPARSE)
    _check_against_numpy(emb, ids, grad_out)  # two steps each: also the warm-up
    _check_against_numpy(sparse_emb, ids, grad_out)
    fns = {
        "dense": lambda: npllm_step(emb, None, ids, grad_out),
        "sparse": lambda: npllm_step(sparse_emb, None, ids, grad_out),
    }
    models = {}
    extra, coalesce = {}, None  # torch set_to_none=False step ms per kind; a sparse step that also coalesces
    if torch:
        tids, tgrad = torch.from_numpy(ids), torch.from_numpy(grad_out)
        for kind in ("dense", "sparse"):
            model = torch_gpt_embedding(torch, sparse=kind == "sparse")
            _check_against_torch(torch, model, emb if kind == "dense" else sparse_emb, ids, grad_out)
            models[kind] = model
            fns["torch " + kind] = lambda mo=model: torch_step(mo, [], tids, tgrad)
        gc.freeze()  # the modules torch imported on its first backward
    progress(f"embedding: zero_grad + forward + backward, npllm and torch, interleaved ({sizes.repeat} rounds)")
    steps = {name: scale(fig, ms) for name, fig in interleaved(fns, sizes.repeat).items()}
    for mode, key in ((NO_OPT, "dense"), (NO_OPT_SPARSE, "sparse")):
        peaks[mode] = [peak_extra(fns[key]) / MB for _ in range(sizes.memory_repeat)]
    fns = None

    progress("embedding: forward alone, backward alone")
    ours = {
        "forward": scale(timeit(lambda: emb.forward(ids), sizes.repeat), ms),
        "backward": scale(
            timeit(lambda _: emb.backward(grad_out), sizes.repeat, setup=lambda: _npllm_prepare(emb, ids)), ms
        ),
    }
    theirs = {}  # ("forward" | "backward" | "step thp", "dense" | "sparse") -> figure in ms
    for kind, model in models.items():
        theirs["forward", kind] = scale(timeit(lambda: model(tids), sizes.repeat), ms)
        theirs["backward", kind] = scale(
            timeit(lambda out: out.backward(tgrad), sizes.repeat, setup=lambda: _torch_prepare(model, tids)), ms
        )
        extra[kind] = scale(
            timeit(lambda: torch_step(model, [], tids, tgrad, set_to_none=False), sizes.note_repeat), ms
        )["median"]
        if kind == "sparse":
            coalesce = scale(timeit(lambda: _torch_step_coalesced(model, tids, tgrad), sizes.note_repeat), ms)["median"]
    models = None
    if torch and sizes.thp:
        progress(f"embedding: torch steps with {THP}, in a fresh process")
        for kind, figure in _fresh_thp_steps(ids, sizes.repeat).items():
            theirs["step thp", kind] = scale(figure, ms)

    progress("embedding: copy bandwidth (np.copyto, 256 MiB float32)")
    distinct = len(np.unique(ids))
    copy = _copy_figure(sizes.copy_repeat)  # seconds of one copy
    copy_bytes = 2 * COPY_ELEMENTS * 4  # read the source, write the destination
    bandwidth = copy_bytes / copy["median"]  # bytes/s
    touched_bytes = step_bytes(B * T, distinct, T, D)
    dense_bytes = step_bytes(B * T, V, T, D)

    skipped = f"skipped: {why_not}"
    checked = "output and gradients (token, position; after 2 steps) checked against a NumPy twin" + (
        " and torch's (dense grad, sparse .to_dense())" if torch else ""
    )
    shape = f"ids (B, T) = ({B}, {T}), {distinct:,} distinct, tables ({V:,} + {C:,}) x {D}"
    name = f"embedding step without optimizer (zero_grad + forward + backward), {shape}"
    rows = []
    dense_base, sparse_base = steps.get("torch dense"), steps.get("torch sparse")
    note = (
        skipped
        if dense_base is None
        else (
            f"{_target(steps['dense'], dense_base, 0.2, 'torch dense')}; npllm {NO_OPT.what}: backward sums each token's "
            f"rows into the (V, D) .grad (the work torch's dense backward does too); torch zeroes by model.zero_grad() "
            f"(set_to_none=True, the default); with set_to_none=False {extra['dense']:.1f} ms; {checked}"
        )
    )
    rows.append(
        Result(name, steps["dense"], TORCH_DENSE, dense_base, unit="ms", target=0.2 if dense_base else None, note=note)
    )
    note = (
        skipped
        if sparse_base is None
        else (
            f"no target, unequal work: torch's sparse=True backward leaves its gradient uncoalesced (N = {B * T:,} "
            f"rows, a token's repeats not summed; its optimizer sums them), npllm {NO_OPT_SPARSE.what} sums them "
            f"here; a torch step that also coalesces: {coalesce:.1f} ms; the SGD and lazy Adam rows compare whole "
            f"steps; with set_to_none=False {extra['sparse']:.1f} ms; {checked}"
        )
    )
    rows.append(Result(f"{name}, npllm sparse=True", steps["sparse"], TORCH_SPARSE, sparse_base, unit="ms", note=note))
    for kind, baseline, target in (("dense", TORCH_DENSE, 0.2), ("sparse", TORCH_SPARSE, None)):
        if not sizes.thp:
            break  # --quick: no fresh process, no rows
        figure = theirs.get(("step thp", kind))
        ours_step = steps[kind]
        verdict = (
            ""
            if target is None or figure is None
            else (
                f"; against this baseline the {target:g}x target would be "
                f"{'met' if ours_step['median'] / figure['median'] <= target else 'MISSED'}"
            )
        )
        note = (
            skipped
            if figure is None
            else (
                f"no target of its own{verdict}; {THP} makes torch's CPU allocator ask for transparent huge pages "
                f"(madvise), as NumPy does for large arrays by default, so its fresh buffers each step (the (V, D) grad "
                f"for dense, the (B, T, D) output) take up to 512x fewer page faults; same steps as the rows without "
                f"{THP}, in a fresh process, not interleaved"
            )
        )
        rows.append(
            Result(
                name if kind == "dense" else f"{name}, npllm sparse=True",
                ours_step,
                f"{baseline}, {THP}",
                figure,
                unit="ms",
                note=note,
            )
        )

    formula = (
        f"bytes = 2NR (read the N gathered token rows, write the (B, T, D) output; the position add "
        f"fused into that write) + TR (read the positions) + 2NR (read grad_out for the token "
        f"sums and again for the position sum) + 2GR (read+write the gradient rows) + 2TR "
        f"(read+write the position grad) + GR + TR (clear them), R = D x 4 bytes, N = B x T = {B * T:,}, "
        f"T = {T:,}, D = {D}"
    )
    speed = (
        f"bandwidth {bandwidth / 1e9:.1f} GB/s = 2 x {COPY_ELEMENTS * 4 / MB:.0f} MB (read + write) / "
        f"median np.copyto {copy['median'] * ms:.1f} ms (n={len(copy['runs'])})"
    )
    touched_floor = scale(copy, ms * touched_bytes / copy_bytes)  # the copy's runs, scaled to the step's bytes
    dense_floor = scale(copy, ms * dense_bytes / copy_bytes)
    rows.append(
        Result(
            name,
            steps["dense"],
            "memory floor, touched rows: step bytes / copy bandwidth",
            touched_floor,
            unit="ms",
            target=FLOOR_TARGET,
            note=(
                f"{_target(steps['dense'], touched_floor, FLOOR_TARGET, 'the touched-rows floor')}; {formula}; "
                f"touched rows G = {distinct:,} distinct ids -> {touched_bytes / MB:.0f} MB; {speed}; a gather of "
                f"scattered 3 KB rows does not reach a streaming copy's bandwidth"
            ),
        )
    )
    rows.append(
        Result(
            name,
            steps["dense"],
            "memory floor, dense (V, D) grad: step bytes / copy bandwidth",
            dense_floor,
            unit="ms",
            note=(
                f"no target (npllm clears and writes only touched rows); the formula of the touched-rows row with "
                f"G = V = {V:,} (zero the whole grad, read+write all of it) -> {dense_bytes / MB:.0f} MB; {speed}"
            ),
        )
    )

    for part, what in (
        ("forward", "forward alone, out = emb.forward(ids)"),
        ("backward", "backward alone, after an untimed zero_grad + forward"),
    ):
        for kind, baseline in (("dense", TORCH_DENSE), ("sparse", TORCH_SPARSE)):
            figure = theirs.get((part, kind))
            note = (
                skipped
                if figure is None
                else (
                    "torch with autograd recording, as in training (model(ids))"
                    if part == "forward"
                    else "torch out.backward(grad_out) after model.zero_grad() + model(ids), untimed; npllm's default "
                    "(dense .grad) Embedding, which sums a token's rows here; torch sparse=True leaves that to its "
                    "optimizer"
                    if kind == "sparse"
                    else "torch out.backward(grad_out) after model.zero_grad() + model(ids), untimed; npllm's default "
                    "(dense .grad) Embedding"
                )
            )
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
        done = subprocess.run(
            [sys.executable, "-c", code, str(ids_file), str(repeat)], cwd=REPO, env=env, capture_output=True, text=True
        )
    if done.returncode != 0:
        raise RuntimeError(f"the fresh torch process ({THP}) failed (exit {done.returncode}):\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _thp_child(ids_file: str, repeat: str) -> None:
    """In the fresh process: time torch's dense and sparse steps; print their timeit figures as JSON."""
    import torch

    torch.set_num_threads(1)
    ids, grad_out = torch.from_numpy(np.load(ids_file)), torch.from_numpy(_grad_out(D))
    out = {}
    for kind in ("dense", "sparse"):
        model = torch_gpt_embedding(torch, sparse=kind == "sparse")
        for _ in range(2):
            torch_step(model, [], ids, grad_out)  # warm-up: first touches, lazy imports
        gc.freeze()  # as in the parent: keep timeit's gc.collect cheap
        out[kind] = timeit(lambda: torch_step(model, [], ids, grad_out), int(repeat))
        model = None
    print(json.dumps(out))


def _grad_out(width: int) -> np.ndarray:
    """The fixed random gradient every step sends back: (B, T, width) float32 ~ N(0, 1), seed SEED."""
    return np.random.default_rng(SEED).standard_normal((B, T, width), dtype=np.float32)


def _torch_step_coalesced(model, ids, grad_out):
    """A sparse step whose token grad is then coalesced: repeated rows summed, as an optimizer needs."""
    out = torch_step(model, [], ids, grad_out)
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
    """ "target <= 0.3x torch dense: met (0.17x)" from two figures' medians."""
    ratio = ours["median"] / theirs["median"]
    return f"target <= {target:g}x {what}: {'met' if ratio <= target else 'MISSED'} ({ratio:.2f}x)"


# --- memory: what a step allocates -------------------------------------------------------------


def _memory_rows(peaks: dict) -> list[Result]:
    """Peak memory of one step above the tables and the optimizer state, per npllm mode (tracemalloc)."""
    table = {"median": TABLE_MB, "min": TABLE_MB, "max": TABLE_MB, "runs": [TABLE_MB]}
    rows = []
    for mode, figures in peaks.items():
        tables = (V + C) * D * 4 / MB
        held = tables * (3 if mode.optimizer in ("adam", "lazy") else 1) + (0 if mode.sparse else TABLE_MB)
        kept = (
            "tables"
            + ("" if mode.sparse else ", dense .grad")
            + (", Adam's m and v" if mode.optimizer in ("adam", "lazy") else "")
        )
        rows.append(
            Result(
                f"embedding step ({mode.name}), peak memory above the tables and optimizer state (tracemalloc), "
                f"npllm {mode.what}",
                summarize(figures),
                "one (V, D) float32 table",
                table,
                unit="MB",
                target=MEMORY_TARGET,
                note=(
                    f"target <= {MEMORY_TARGET:g}x a table: a (V, D) temporary anywhere in the step would make it "
                    f">= 1x; counted: the forward's (B, T, D) output ({B * T * D * 4 / MB:.0f} MB), the (U, D) row "
                    f"sums and the blocks of a whole-table pass; not counted, held across steps: {held:.0f} MB "
                    f"({kept}); measured on the timed objects, after their timed steps"
                ),
            )
        )
    return rows


def peak_extra(fn) -> int:
    """Bytes: tracemalloc's peak while fn() runs, above what was traced when it started."""
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del out
    finally:
        tracemalloc.stop()
    return peak - start


# --- checks ----------------------------------------------------------------------------------


def _check_against_numpy(emb, ids, grad_out) -> None:
    """Two npllm steps; the output and both gradients equal the obvious NumPy (np.add.at, a sum).

    The token gradient is read through sparse_grad(), which hands out nothing: reading a dense
    Embedding's .grad would make its later zero_grad clear the whole table.
    """
    for _ in range(2):  # the second step sees the first's gradient only if zero_grad missed it
        out = npllm_step(emb, None, ids, grad_out)
    _check_close("forward output", out, emb.token.weight[ids] + emb.position.weight[:T])
    token = np.zeros((V, D), dtype=np.float32)
    np.add.at(token, ids.reshape(-1), grad_out.reshape(-1, D))  # (V, D)
    _check_rows("token gradient (against np.add.at)", emb.token, token, np.unique(ids))
    _check_close("position gradient (against a sum over the batch)", emb.position.grad[:T], grad_out.sum(axis=0))


def _check_against_torch(torch, model, emb, ids, grad_out) -> None:
    """Two torch steps with npllm's weights; output and gradients equal those of a step of `emb`."""
    with torch.no_grad():
        model.tok_emb.weight.copy_(torch.from_numpy(emb.token.weight))
        model.pos_emb.weight.copy_(torch.from_numpy(emb.position.weight))
    tids, tgrad = torch.from_numpy(ids), torch.from_numpy(grad_out)
    for _ in range(2):
        npllm_step(emb, None, ids, grad_out)
        out = torch_step(model, [], tids, tgrad)
    token = model.tok_emb.weight.grad
    kind = "sparse" if token.is_sparse else "dense"
    _check_close(f"torch {kind} forward output", emb.forward(ids), out.detach().numpy())
    token = (token.to_dense() if token.is_sparse else token).numpy()  # (V, D)
    _check_rows(f"torch {kind} token gradient", emb.token, token, np.unique(ids))
    _check_close(f"torch {kind} position gradient", emb.position.grad, model.pos_emb.weight.grad.numpy())


def _check_rows(what: str, table, want: np.ndarray, rows: np.ndarray) -> None:
    """npllm's row-sparse gradient (table.sparse_grad()) has exactly `rows`, with want's values there,
    and want is 0 everywhere else."""
    got_rows, values = table.sparse_grad()
    if sorted(got_rows.tolist()) != rows.tolist():
        raise AssertionError(f"{what}: npllm's gradient has {len(got_rows)} rows, expected the {len(rows)} touched")
    outside = np.count_nonzero(want) - np.count_nonzero(want[rows])
    if outside:
        raise AssertionError(f"{what}: the baseline's gradient has {outside} nonzero values outside the touched rows")
    _check_close(what, values, want[got_rows])


def _check_close(what: str, got: np.ndarray, want: np.ndarray, rtol: float = 1e-5, atol: float = 1e-4) -> None:
    """Equal within float32 rounding (sums in another order), or an AssertionError saying by how much."""
    if got.shape != want.shape:
        raise AssertionError(f"npllm's {what} has shape {got.shape}, expected {want.shape}")
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
        outside = np.count_nonzero(grad) - np.count_nonzero(grad[touched])
        if outside:
            raise AssertionError(f"scatter_add {name!r} wrote {outside} values outside the touched rows")
        _check_close(f"scatter_add {name!r} (against np.add.at)", grad[touched], want[touched])
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
    verdict = f"fastest: {fastest!r}" + (
        " = Embedding's default" if fastest == default else f", not Embedding's default {default!r}"
    )
    common = (
        f"all {n:,} rows into one pre-touched (V, D) grad (runs accumulate; the cost does not depend on the "
        f"values); checked against np.add.at; {verdict}"
    )
    results = []
    for name, figure in figures.items():
        note = common
        if name == "loop":
            note += (
                f"; timed on all {n:,} rows, not on a slice scaled up (it is fast enough): the first "
                f"{m:,} rows scaled x{n / m:g} give {sliced['median']:.1f} ms"
            )
        if name == "buckets":
            note += (
                "; npllm.scatter.row_sums plus one add per touched row; Embedding(sparse=True) keeps row_sums' "
                "result and skips the add"
            )
        results.append(
            Result(
                f"scatter-add ({n:,}, {D}) rows into ({V:,}, {D}): npllm.scatter {name!r}",
                figure,
                "np.add.at",
                baseline,
                unit="ms",
                note=note,
            )
        )
    return results


def _default_strategy() -> str:
    """The name in npllm.scatter.STRATEGIES of the function npllm.embedding calls: "buckets"."""
    import npllm.embedding

    used = [name for name, fn in STRATEGIES.items() if getattr(npllm.embedding, fn.__name__, None) is fn]
    return used[0] if len(used) == 1 else "unknown"
