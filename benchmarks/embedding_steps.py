"""The embedding training step as a user of each library writes it, how it is timed, and the checks that the two agree.

bench_embedding.py times these steps (`race`, `time_forward`, `time_backward`; the memory floor by `copy_bandwidth`);
`python -m benchmarks --investigate` times torch's again with huge pages. A `Mode` names one setup on each side:

    npllm:  opt.zero_grad(); out = emb(ids); emb.backward(grad_out); opt.step()
    torch:  opt.zero_grad(); out = model(ids); out.backward(grad_out); opt.step()

`emb` is `npllm.GPTEmbedding(50257, 1024, 768, seed=0, sparse=...)`; `model` is the course's
GPTModel input, `tok_emb(in_idx) + pos_emb(torch.arange(T))`; lr 1e-3, the other settings the
libraries' defaults. Without an optimizer, each side's zero_grad is the module's own.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

import npllm
from benchmarks.common import MB, interleaved, progress, scale, summarize, timeit, traced_peak
from npllm.scatter import STRATEGIES

B, T = 8, 1024  # ids per step: (B, T)
V, C, D = 50_257, 1024, 768  # GPT-2 small: vocabulary, context length, embedding width
SEED, LR = 0, 1e-3
COPY_ELEMENTS = 64 * 2**20  # float32: a 256 MiB np.copyto for the bandwidth
TORCH_DENSE, TORCH_SPARSE = "torch nn.Embedding dense (1 thread)", "torch nn.Embedding sparse=True (1 thread)"
TORCH_OPTIMIZERS = {
    "sgd": "optim.SGD",
    "adam": "optim.Adam",
    "sparse_adam": "optim.SparseAdam (tokens) + optim.Adam (positions)",
}


@dataclass(frozen=True)
class Mode:
    """One training setup on each side: npllm's token table and optimizer, torch's."""

    name: str  # "SGD"
    sparse: bool  # npllm's token table: Embedding(sparse=...)
    optimizer: str | None  # npllm: "sgd", "adam", "lazy", or None (no optimizer)
    torch_sparse: bool  # torch's token table: nn.Embedding(sparse=...)
    torch_optimizer: str | None  # torch: "sgd", "adam", "sparse_adam", or None
    what: str  # the npllm side in words, for the row

    @property
    def torch_name(self) -> str:
        table = TORCH_SPARSE if self.torch_sparse else TORCH_DENSE
        return f"{table} + {TORCH_OPTIMIZERS[self.torch_optimizer]}" if self.torch_optimizer else table


# The modes timed: a target race (npllm sparse=True against torch's usual setup), and variants.
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
RACES = [  # (the mode with the target, the same with npllm's dense table, the same with torch's dense table)
    (SGD, SGD_DENSE_TABLE, SGD_TORCH_DENSE),
    (LAZY, None, None),
    (ADAM, ADAM_DENSE_TABLE, None),
]


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
    (emb if opt is None else opt).zero_grad()
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
            return self.tok_emb(in_idx) + self.pos_emb(torch.arange(in_idx.shape[1], device=in_idx.device))

    return TorchGPTEmbedding()


def torch_setup(torch, mode: Mode, width: int = D, dtype=None):
    """(model, [optimizers]) for one mode, as a torch user writes it."""
    model = torch_gpt_embedding(torch, mode.torch_sparse, width, dtype)
    if mode.torch_optimizer is None:
        return model, []
    if mode.torch_optimizer == "sgd":
        return model, [torch.optim.SGD(model.parameters(), lr=LR)]
    if mode.torch_optimizer == "adam":
        return model, [torch.optim.Adam(model.parameters(), lr=LR)]
    # SparseAdam takes only sparse gradients: the positions' (dense) go to Adam, the usual pairing
    sparse_adam = torch.optim.SparseAdam([model.tok_emb.weight], lr=LR)
    return model, [sparse_adam, torch.optim.Adam([model.pos_emb.weight], lr=LR)]


def torch_step(model, opts, ids, grad_out):
    """One step as a torch user writes it; without an optimizer, model.zero_grad() zeroes the same way."""
    for zeroing in opts or [model]:
        zeroing.zero_grad()
    out = model(ids)  # (B, T, D)
    out.backward(grad_out)
    for opt in opts:
        opt.step()
    return out


def random_grad_out(width: int = D) -> np.ndarray:
    """The fixed random gradient every step sends back: (B, T, width) float32 ~ N(0, 1), seed SEED."""
    return np.random.default_rng(SEED).standard_normal((B, T, width), dtype=np.float32)


def twenty_steps(mode: Mode, ids: np.ndarray, grad_out: np.ndarray):
    """The profile target (--profile): `mode`'s npllm step, warmed; returns the call of 20 more."""
    emb, opt = npllm_setup(mode)
    npllm_step(emb, opt, ids, grad_out)

    def twenty():
        for _ in range(20):
            npllm_step(emb, opt, ids, grad_out)

    return twenty


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


def default_strategy() -> str:
    """The name in npllm.scatter.STRATEGIES of the function npllm.embedding calls: "buckets"."""
    import npllm.embedding
    from npllm.scatter import STRATEGIES

    used = [name for name, fn in STRATEGIES.items() if getattr(npllm.embedding, fn.__name__, None) is fn]
    return used[0] if len(used) == 1 else "unknown"


# --- the timing --------------------------------------------------------------------------------


def step_calls(torch, ours: dict, theirs: dict, ids: np.ndarray, grad_out: np.ndarray) -> dict:
    """The steps `race` times: {Mode.what: npllm's step} for `ours` {Mode: (emb, opt)}, then
    {Mode.torch_name: torch's step} for `theirs` {Mode: (model, opts)}, all on the same ids and grad_out."""
    calls = {mode.what: functools.partial(npllm_step, *side, ids, grad_out) for mode, side in ours.items()}
    for mode, side in theirs.items():  # empty without torch
        calls[mode.torch_name] = functools.partial(torch_step, *side, torch.from_numpy(ids), torch.from_numpy(grad_out))
    return calls


def race(fns: dict, ours: list[Mode], repeat: int, warmup: int, peaks: dict, memory_repeat: int) -> dict:
    """{name: ms figures} of each step in `fns`, timed in interleaved rounds; then the peak memory
    of a few more steps of each npllm side (`ours`, named by Mode.what) goes into `peaks`."""
    figures = {name: scale(figure, 1e3) for name, figure in interleaved(fns, repeat, warmup).items()}
    for mode in ours:
        peaks[mode] = summarize([traced_peak(fns[mode.what])[1] for _ in range(memory_repeat)])
    return figures


def time_forward(model, ids, grad_out, repeat: int) -> dict:
    """ms of model(ids)."""
    return scale(timeit(lambda: model(ids), repeat), 1e3)


def time_backward(model, ids, grad_out, repeat: int) -> dict:
    """ms of model.backward(grad_out) (torch: out.backward) after an untimed zero_grad + forward."""
    backward = (
        (lambda _: model.backward(grad_out)) if hasattr(model, "backward") else (lambda out: out.backward(grad_out))
    )
    return scale(timeit(backward, repeat, setup=lambda: _forward(model, ids)), 1e3)


def _forward(model, ids):
    """zero_grad, then the forward pass: what backward alone needs, untimed (npllm's Embedding or torch's model)."""
    model.zero_grad()
    return model(ids)


def copy_bandwidth(repeat: int) -> tuple[dict, str]:
    """(ms per byte read or written at np.copyto's bandwidth, timed on 256 MiB of float32, the measurement in
    words: "bandwidth 9.1 GB/s = 2 x 268 MB (read + write) / median np.copyto 59.0 ms (n=3)")."""
    src = np.full(COPY_ELEMENTS, 1.0, dtype=np.float32)
    dst = np.zeros_like(src)
    dst.fill(0)  # np.zeros maps pages lazily: touch them now, not in the first copy
    copy, copy_bytes = timeit(lambda: np.copyto(dst, src), repeat), 2 * src.nbytes  # bytes read + written
    speed = (
        f"bandwidth {copy_bytes / copy['median'] / 1e9:.1f} GB/s = 2 x {src.nbytes / MB:.0f} MB (read + write) / "
        f"median np.copyto {copy['median'] * 1e3:.1f} ms (n={len(copy['runs'])})"
    )
    return scale(copy, 1e3 / copy_bytes), speed


def scatter_times(flat_ids: np.ndarray, rows: np.ndarray, repeat: int) -> dict:
    """{"np.add.at": ms, strategy: ms, ...}: np.add.at and each npllm.scatter strategy adding (N, D) `rows` at
    `flat_ids` (N,) into one pre-touched (V, D) float32 grad, the strategies first checked against np.add.at."""
    touched = np.unique(flat_ids)  # (U,)
    want = np.zeros((V, D), dtype=np.float32)
    np.add.at(want, flat_ids, rows)  # (V, D), the baseline's answer
    grad = np.zeros((V, D), dtype=np.float32)
    for name, fn in STRATEGIES.items():
        grad.fill(0)  # also touches every page before the timed runs
        fn(grad, flat_ids, rows)
        check_zero_outside(f"scatter_add {name!r}", grad, touched)
        check_close(f"scatter_add {name!r} (against np.add.at)", grad[touched], want[touched])
    want = None  # free it before the timed runs
    fns = {"np.add.at": np.add.at, **STRATEGIES}
    return {name: scale(timeit(lambda: fn(grad, flat_ids, rows), repeat), 1e3) for name, fn in fns.items()}


# --- the checks ------------------------------------------------------------------------------


def no_optimizer_sides(torch, ids: np.ndarray, grad_out: np.ndarray) -> tuple[dict, dict]:
    """({Mode: npllm's emb}, {Mode: torch's model}, none without torch) for NO_OPT and NO_OPT_SPARSE, each
    checked against the NumPy twin and torch."""
    embs = {mode: npllm_setup(mode)[0] for mode in (NO_OPT, NO_OPT_SPARSE)}
    models = {mode: torch_gpt_embedding(torch, mode.torch_sparse) for mode in embs} if torch else {}
    for mode, emb in embs.items():
        check_against_numpy(emb, ids, grad_out)  # two steps each: also the warm-up
        if torch:
            check_against_torch(torch, models[mode], emb, ids, grad_out)
    return embs, models


def numerics(torch, tokens: np.ndarray, n_steps: int, width: int) -> dict:
    """{mode name: {"float64": error, "float32": error}}: the weights after `n_steps` steps at D = `width`,
    npllm's against torch's, on consecutive windows of `tokens` and fixed random gradients."""
    progress(f"embedding: numerics, {n_steps} steps of each mode against torch at D = {width}")
    batches = tokens[: n_steps * B * T].astype(np.int64).reshape(n_steps, B, T)  # consecutive windows
    rng = np.random.default_rng(SEED + 1)
    grads = [rng.standard_normal((B, T, width)) for _ in range(n_steps)]  # (B, T, D) float64
    return {mode.name: weights_after_steps(torch, mode, batches, grads, width) for mode in (SGD, LAZY, ADAM)}


def weights_after_steps(torch, mode: Mode, batches: np.ndarray, grads: list, width: int) -> dict:
    """{"float64": error, "float32": error}: npllm's weights against torch's after one step per
    batch, both from the same start. float64: max |npllm - torch| / max |torch - start|, against
    how far the weights moved, the strictest measure; float32 rounds the weights themselves, so
    there max |npllm - torch| / max |torch|."""
    errors = {}
    for dtype, torch_dtype in ((np.float64, torch.float64), (np.float32, torch.float32)):
        emb, opt = npllm_setup(mode, width, dtype)
        model, opts = torch_setup(torch, mode, width, torch_dtype)
        copy_weights(torch, emb, model)
        start = [emb.token.weight.copy(), emb.position.weight.copy()]
        for ids, grad in zip(batches, grads):
            npllm_step(emb, opt, ids, grad.astype(dtype))
            torch_step(model, opts, torch.from_numpy(ids), torch.from_numpy(grad.astype(dtype)))
        theirs = [model.tok_emb.weight.detach().numpy(), model.pos_emb.weight.detach().numpy()]
        pairs = list(zip([emb.token.weight, emb.position.weight], theirs, start))
        if dtype == np.float64:
            errors["float64"] = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b - s))) for a, b, s in pairs)
        else:
            errors["float32"] = max(float(np.max(np.abs(a - b)) / np.max(np.abs(b))) for a, b, _ in pairs)
    return errors


def copy_weights(torch, emb, model) -> None:
    """torch's tables := npllm's, so both start from the same weights."""
    with torch.no_grad():
        model.tok_emb.weight.copy_(torch.from_numpy(emb.token.weight))
        model.pos_emb.weight.copy_(torch.from_numpy(emb.position.weight))


def check_against_numpy(emb, ids, grad_out) -> None:
    """Two npllm steps; the output and both gradients equal the obvious NumPy (np.add.at, a sum).

    The token gradient is read through sparse_grad(), which hands out nothing: reading a dense
    Embedding's .grad would make its later zero_grad clear the whole table.
    """
    for _ in range(2):  # the second step sees the first's gradient only if zero_grad missed it
        out = npllm_step(emb, None, ids, grad_out)
    check_close("forward output", out, emb.token.weight[ids] + emb.position.weight[:T])
    token = np.zeros((V, D), dtype=np.float32)
    np.add.at(token, ids.reshape(-1), grad_out.reshape(-1, D))  # (V, D)
    _check_rows("token gradient (against np.add.at)", emb.token, token, np.unique(ids))
    check_close("position gradient (against a sum over the batch)", emb.position.grad[:T], grad_out.sum(axis=0))


def check_against_torch(torch, model, emb, ids, grad_out) -> None:
    """Two torch steps with npllm's weights; output and gradients equal those of a step of `emb`."""
    copy_weights(torch, emb, model)
    for _ in range(2):
        npllm_step(emb, None, ids, grad_out)
        out = torch_step(model, [], torch.from_numpy(ids), torch.from_numpy(grad_out))
    token = model.tok_emb.weight.grad
    kind = "sparse" if token.is_sparse else "dense"
    check_close(f"torch {kind} forward output", emb.forward(ids), out.detach().numpy())
    token = (token.to_dense() if token.is_sparse else token).numpy()  # (V, D)
    _check_rows(f"torch {kind} token gradient", emb.token, token, np.unique(ids))
    check_close(f"torch {kind} position gradient", emb.position.grad, model.pos_emb.weight.grad.numpy())


def _check_rows(what: str, table, want: np.ndarray, rows: np.ndarray) -> None:
    """npllm's row-sparse gradient (table.sparse_grad()) has exactly `rows`, with want's values
    there, and want is 0 everywhere else."""
    got_rows, values = table.sparse_grad()
    if sorted(got_rows.tolist()) != rows.tolist():
        raise AssertionError(f"{what}: npllm's gradient has {len(got_rows)} rows, expected the {len(rows)} touched")
    check_zero_outside(what, want, rows)
    check_close(what, values, want[got_rows])


def check_zero_outside(what: str, table: np.ndarray, rows: np.ndarray) -> None:
    """Every row of `table` but `rows` is all zeros."""
    outside = np.count_nonzero(table) - np.count_nonzero(table[rows])
    if outside:
        raise AssertionError(f"{what}: {outside} nonzero values outside the {len(rows)} touched rows")


def check_close(what: str, got: np.ndarray, want: np.ndarray, rtol: float = 1e-5, atol: float = 1e-4) -> None:
    """Equal within float32 rounding (sums in another order), or an AssertionError saying by how much."""
    if got.shape != want.shape:
        raise AssertionError(f"npllm's {what} has shape {got.shape}, expected {want.shape}")
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        raise AssertionError(f"npllm's {what} differs: max |diff| {float(np.max(np.abs(got - want))):.3g}")
