"""Embedding speed: a whole training step of GPT-2's input tables, optimizer included, against
torch, mode for mode; and what a step allocates.

GPT-2 small's shapes: IDs (B, T) = (8, 1024), the first 8,192 of tinyshakespeare's GPT-2 tokens,
into (50,257 + 1,024) x 768 float32 tables; a fixed random grad_out (B, T, D); torch on one thread.
A step (zero_grad, forward, backward, the optimizer's step) is written as each library's user
writes it (`embedding_steps.py`). The modes, against torch, and their targets:

    SGD           sparse=True + SGD              nn.Embedding(sparse=True) + optim.SGD      <= 0.8x
    lazy Adam     sparse=True + Adam(lazy=True)  sparse=True + SparseAdam (tokens)
                                                 + Adam (positions: a dense gradient)       <= 0.8x
    Adam          sparse=True + Adam             dense nn.Embedding + optim.Adam            <= 0.8x
    no optimizer  GPTEmbedding(), zero_grad + forward + backward, against torch dense        <= 0.2x

Whole steps, because torch's sparse=True backward leaves a token's repeated rows unsummed for its
optimizer, while npllm sums them in backward. More rows, without targets: the dense `Embedding`
with SGD and Adam, against torch's dense SGD, against torch's sparse=True and its memory floor
(bytes at np.copyto's bandwidth; touched rows: target 2x), forward and backward alone, and each
`npllm.scatter` strategy against `np.add.at`. The sides of a mode run in interleaved rounds.
Checked first: each mode's weights after 20 steps against torch's (D = 32; float64 target 1e-6),
the no-optimizer steps against a NumPy twin and torch. Memory: tracemalloc's peak of one more
step above what is held across steps; target: half a (V, D) table. Without torch the torch rows
say they were skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import npllm
from benchmarks import embedding_steps as steps  # each library's step, written plainly, its timing, the checks
from benchmarks.common import MB, Result, progress, scale, summarize, torch_one_thread
from benchmarks.embedding_steps import ADAM, NO_OPT, NO_OPT_SPARSE, RACES, SGD, B, C, D, Mode, T, V
from npllm import data

STEP_TARGET = 0.8  # npllm step / torch step, in each optimizer mode
NO_OPTIMIZER_TARGET = 0.2  # npllm's default Embedding / torch dense, zero_grad + forward + backward
NUMERICS_D, NUMERICS_STEPS, NUMERICS_TARGET = 32, 20, 1e-6  # float64 error against how far the weights moved
MEMORY_TARGET = 0.5  # peak extra memory of a step / one (V, D) float32 table
FLOOR_TARGET = 2.0  # npllm no-optimizer step / its touched-rows memory floor
TABLE_MB = V * D * 4 / MB  # one (V, D) float32 table
SHAPE = f"ids (B, T) = ({B}, {T}) of real text, tables ({V:,} + {C:,}) x {D}"


@dataclass(frozen=True)
class Sizes:
    repeat: int  # timed rounds of the fast steps; timed runs of forward, backward and the scatter-adds
    adam_repeat: int  # timed rounds of the dense Adam steps (torch's takes ~0.3 s)
    copy_repeat: int  # timed 256 MiB copies for the bandwidth
    memory_repeat: int  # tracemalloc'd steps per npllm side


FULL = Sizes(20, 7, 7, 3)
QUICK = Sizes(5, 3, 3, 1)


def run(quick: bool) -> list[Result]:
    sizes = QUICK if quick else FULL
    tokens = np.asarray(npllm.get_encoding("gpt2").encode_ordinary(data.read_text("tinyshakespeare.txt")))
    ids, grad_out = tokens[: B * T].reshape(B, T).astype(np.int64), steps.random_grad_out(D)
    rows, peaks = [], {}  # peaks: npllm Mode -> the peak extra MB of its steps
    with torch_one_thread() as (torch, why):
        numerics = steps.numerics(torch, tokens, NUMERICS_STEPS, NUMERICS_D) if torch else {}
        for mode, dense_table, torch_dense in RACES:
            rows += _training_rows(torch, why, mode, dense_table, torch_dense, ids, grad_out, numerics, peaks, sizes)
        rows += _no_optimizer_rows(torch, why, ids, grad_out, peaks, sizes)
        rows += [_memory_row(mode, figure) for mode, figure in peaks.items()]
        rows += _scatter_rows(ids, grad_out, sizes.repeat)
    rows[0].profile = lambda: steps.twenty_steps(SGD, ids, grad_out)
    return rows


# --- the training steps, mode for mode -------------------------------------------------------


def _training_rows(torch, why, mode, dense_table, torch_dense, ids, grad_out, numerics, peaks, sizes) -> list[Result]:
    """One mode's steps, npllm's and torch's, in interleaved rounds: the target row and its extras."""
    ours = {m: steps.npllm_setup(m) for m in (mode, dense_table) if m}  # Mode -> (emb, opt)
    theirs = {m: steps.torch_setup(torch, m) for m in (mode, torch_dense) if m and torch}  # Mode -> (model, opts)
    repeat = sizes.adam_repeat if mode is ADAM else sizes.repeat  # and 1 warm-up round for Adam: torch's takes ~0.3 s
    progress(f"embedding: {mode.name} steps, npllm and torch, interleaved ({repeat} rounds)")
    fns = steps.step_calls(torch, ours, theirs, ids, grad_out)
    times = steps.race(fns, list(ours), repeat, 1 if mode is ADAM else 2, peaks, sizes.memory_repeat)
    fns = ours = theirs = None  # free this mode's tables before the next mode builds its own
    name = f"embedding training step ({mode.name}: zero_grad + forward + backward + step), {SHAPE}"
    ours_step, theirs, base = times[mode.what], mode.torch_name, times.get(mode.torch_name)
    checks = _numerics_note(numerics, mode)
    note = f"npllm {mode.what} against {theirs}, lr {steps.LR:g}, in interleaved rounds; {checks}"
    rows = [Result(name, ours_step, theirs, base, "ms", note, STEP_TARGET, skipped=why)]
    if dense_table:
        note = (
            "no target: the default Embedding, whose .grad is a (V, D) table backward writes into and zero_grad "
            f"clears row by row; the same weights as {mode.what}, bit for bit (tests/test_optim.py)"
        )
        extra = f"{name}, npllm {dense_table.what}"
        rows.append(Result(extra, times[dense_table.what], theirs, base, "ms", note, skipped=why))
    if torch_dense:
        theirs = torch_dense.torch_name
        note = "no target: torch's dense table with the same optimizer: its backward writes a whole (V, D) gradient"
        note += ", which SGD then reads"
        rows.append(Result(name, ours_step, theirs, times.get(theirs), "ms", note, skipped=why))
    return rows


def _numerics_note(errors: dict, mode: Mode) -> str:
    if not errors:
        return "numerics against torch: skipped (torch not installed)"
    f64, f32 = errors[mode.name]["float64"], errors[mode.name]["float32"]
    note = (
        f"weights after {NUMERICS_STEPS} steps on {NUMERICS_STEPS} batches of real text, against torch's, at "
        f"D = {NUMERICS_D}: max relative error {f64:.1e} in float64 (against how far they moved; target <= "
        f"{NUMERICS_TARGET:g}: {'met' if f64 <= NUMERICS_TARGET else 'MISSED'}), {f32:.1e} in float32 (against max |w|)"
    )
    if mode is SGD:
        note += (
            " (in float32 the sum of a frequent token's ~1,000 rows rounds differently in each library's order of "
            "addition: torch's SGD adds the uncoalesced rows into the weight, npllm adds their sum, as a dense step "
            "does; both are that far from the exact sum)"
        )
    return note


# --- no optimizer: zero_grad + forward + backward, forward, backward, floors -----------------


def _no_optimizer_rows(torch, why, ids, grad_out, peaks, sizes) -> list[Result]:
    embs, models = steps.no_optimizer_sides(torch, ids, grad_out)  # {Mode: emb}, {Mode: torch model}: checked, warm
    ours, theirs = {m: (emb, None) for m, emb in embs.items()}, {m: (model, []) for m, model in models.items()}
    fns = steps.step_calls(torch, ours, theirs, ids, grad_out)
    progress(f"embedding: zero_grad + forward + backward, npllm and torch, interleaved ({sizes.repeat} rounds)")
    times = steps.race(fns, list(embs), sizes.repeat, 2, peaks, sizes.memory_repeat)
    distinct = len(np.unique(ids))
    shape = f"ids (B, T) = ({B}, {T}), {distinct:,} distinct, tables ({V:,} + {C:,}) x {D}"
    name = f"embedding step without optimizer (zero_grad + forward + backward), {shape}"
    checked = "output and gradients (token, position; after 2 steps) checked against a NumPy twin"
    checked += " and torch's (dense grad, sparse .to_dense())" if torch else ""
    dense_note = (
        f"npllm {NO_OPT.what}: backward sums each token's rows into the (V, D) .grad (the work torch's dense "
        f"backward does too); torch zeroes by model.zero_grad() (set_to_none=True, the default); {checked}"
    )
    sparse_note = (
        f"no target, unequal work: torch's sparse=True backward leaves its gradient uncoalesced (N = {B * T:,} rows, "
        f"a token's repeats not summed; its optimizer sums them), npllm {NO_OPT_SPARSE.what} sums them here; the SGD "
        f"and lazy Adam rows compare whole steps; {checked}"
    )
    ours, sparse = times[NO_OPT.what], times[NO_OPT_SPARSE.what]
    dense_base, sparse_base = times.get(steps.TORCH_DENSE), times.get(steps.TORCH_SPARSE)
    rows = [
        Result(name, ours, steps.TORCH_DENSE, dense_base, "ms", dense_note, NO_OPTIMIZER_TARGET, skipped=why),
        Result(f"{name}, npllm sparse=True", sparse, steps.TORCH_SPARSE, sparse_base, "ms", sparse_note, skipped=why),
    ]
    parts = _forward_backward_rows(torch, why, embs[NO_OPT], models, ids, grad_out, shape, sizes.repeat)
    return rows + _floor_rows(name, ours, distinct, sizes.copy_repeat) + parts  # the 512 MB copy timed last


def _forward_backward_rows(torch, why, emb, models, ids, grad_out, shape, repeat) -> list[Result]:
    """Forward alone and backward alone: npllm's default Embedding against torch's dense and sparse tables."""
    progress("embedding: forward alone, backward alone")
    forward_note = "torch with autograd recording, as in training (model(ids))"
    backward_note = "torch out.backward(grad_out) after model.zero_grad() + model(ids), untimed; npllm's default"
    backward_note += " (dense .grad) Embedding"
    summed_note = ", which sums a token's rows here; torch sparse=True leaves that to its optimizer"
    tids, tgrad = (torch.from_numpy(ids), torch.from_numpy(grad_out)) if torch else (None, None)
    forward, backward = steps.time_forward, steps.time_backward  # (emb or model, ids, grad_out, repeat) -> ms
    parts = [  # (row name, how to time a forward or backward of npllm's emb or a torch model, note)
        (f"embedding forward alone, out = emb.forward(ids), {shape}", forward, forward_note),
        (f"embedding backward alone, after an untimed zero_grad + forward, {shape}", backward, backward_note),
    ]
    rows = []
    for name, time_it, note in parts:
        ours = time_it(emb, ids, grad_out, repeat)
        for mode in (NO_OPT, NO_OPT_SPARSE):
            theirs = time_it(models[mode], tids, tgrad, repeat) if mode in models else None
            why_note = note + (summed_note if time_it is backward and mode.torch_sparse else "")
            rows.append(Result(name, ours, mode.torch_name, theirs, "ms", why_note, skipped=why))
    return rows


def _floor_rows(name: str, step: dict, distinct: int, repeat: int) -> list[Result]:
    """The no-optimizer step against the time its bytes take at np.copyto's bandwidth, with the
    gradient rows it touches, and with a whole dense (V, D) gradient."""
    progress("embedding: copy bandwidth (np.copyto, 256 MiB float32)")
    per_byte, speed = steps.copy_bandwidth(repeat)  # ms per byte read or written, and how it was measured
    touched, dense = steps.step_bytes(B * T, distinct, T, D), steps.step_bytes(B * T, V, T, D)
    touched_note = (
        "bytes = 2NR (read the N gathered token rows, write the (B, T, D) output; the position add fused into that "
        "write) + TR (read the positions) + 2NR (read grad_out for the token sums and again for the position sum) + "
        "2GR (read+write the gradient rows) + 2TR (read+write the position grad) + GR + TR (clear them), R = D x 4 "
        f"bytes, N = B x T = {B * T:,}, T = {T:,}, D = {D}; touched rows G = {distinct:,} distinct ids -> "
        f"{touched / MB:.0f} MB; {speed}; a gather of scattered 3 KB rows does not reach a streaming copy's bandwidth"
    )
    dense_note = (
        "no target (npllm clears and writes only touched rows); the formula of the touched-rows row with "
        f"G = V = {V:,} (zero the whole grad, read+write all of it) -> {dense / MB:.0f} MB; {speed}"
    )
    touched_floor = "memory floor, touched rows: step bytes / copy bandwidth", scale(per_byte, touched)
    dense_floor = "memory floor, dense (V, D) grad: step bytes / copy bandwidth", scale(per_byte, dense)
    return [
        Result(name, step, *touched_floor, "ms", touched_note, FLOOR_TARGET),
        Result(name, step, *dense_floor, "ms", dense_note),
    ]


def _memory_row(mode: Mode, figure: dict) -> Result:
    """Peak memory of one step above the tables and the optimizer state, npllm's, against one table."""
    adam = mode.optimizer in ("adam", "lazy")
    held = (V + C) * D * 4 / MB * (3 if adam else 1) + (0 if mode.sparse else TABLE_MB)
    kept = "tables" + ("" if mode.sparse else ", dense .grad") + (", Adam's m and v" if adam else "")
    note = (
        f"target <= {MEMORY_TARGET:g}x a table: a (V, D) temporary anywhere in the step would make it >= 1x; counted: "
        f"the forward's (B, T, D) output ({B * T * D * 4 / MB:.0f} MB), the (U, D) row sums and the blocks of a "
        f"whole-table pass; not counted, held across steps: {held:.0f} MB ({kept}); measured on the timed objects, "
        "after their timed steps"
    )
    name = f"embedding step ({mode.name}), peak memory above the tables and optimizer state (tracemalloc)"
    name += f", npllm {mode.what}"
    return Result(name, figure, "one (V, D) float32 table", summarize([TABLE_MB]), "MB", note, MEMORY_TARGET)


# --- the scatter-add alone -------------------------------------------------------------------


def _scatter_rows(ids, grad_out, repeat: int) -> list[Result]:
    """Each strategy of npllm.scatter adding (N, D) rows into a (V, D) grad, against np.add.at."""
    flat_ids, rows = ids.reshape(-1), grad_out.reshape(-1, D)  # (N,), (N, D)
    n = len(flat_ids)
    progress(f"embedding: scatter-add strategies, ({n:,}, {D}) rows into ({V:,}, {D})")
    figures = steps.scatter_times(flat_ids, rows, repeat)  # ms of np.add.at and of each strategy, checked first
    baseline = figures.pop("np.add.at")
    default = steps.default_strategy()
    fastest = min(figures, key=lambda k: figures[k]["median"])
    verdict = "= Embedding's default" if fastest == default else f"(not Embedding's default {default!r})"
    note = (
        f"all {n:,} rows into one pre-touched (V, D) grad (runs accumulate; the cost does not depend on the values); "
        f"checked against np.add.at; fastest: {fastest!r} {verdict}"
    )
    buckets = (
        "; npllm.scatter.row_sums plus one add per touched row; Embedding(sparse=True) keeps row_sums' result and "
        "skips the add"
    )
    name = f"scatter-add ({n:,}, {D}) rows into ({V:,}, {D}): npllm.scatter"
    return [
        Result(f"{name} {k!r}", figure, "np.add.at", baseline, "ms", note + (buckets if k == "buckets" else ""))
        for k, figure in figures.items()
    ]
