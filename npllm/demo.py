"""`npllm demo`: the course's five steps on one text, top to bottom, printing as it goes.

`run_on_the_verdict()` finds The Verdict (`npllm.data`); on a machine that has neither the
file nor a network it says so in one line and runs the same tour on npllm's own docstrings,
a text every install has. `run(text, label)` takes any text. The printed output for The
Verdict is the README's Quick start (tests/test_readme.py keeps the two equal). What this
module leaves out: argument parsing (`cli.py`) and any file writing.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np

from npllm import data, words
from npllm.bpe import Encoding, get_encoding, train_bpe
from npllm.bpe.files import recover_merges
from npllm.embedding import GPTEmbedding
from npllm.loader import DataLoader, GPTDataset, create_dataloader
from npllm.model import TinyLM
from npllm.optim import Adam

DEMO_STEPS = 200  # with the sizes in demo_model: about a second on one core; loss 6.24 -> 3.10
DEMO_VOCAB_SIZE = 512  # 256 bytes + 256 merges: trains in a blink, and the model over it in seconds


def run_on_the_verdict(*, steps: int = DEMO_STEPS, seed: int = 123) -> None:
    """The tour on The Verdict, or, where it cannot be had, on npllm's own docstrings."""
    try:
        text = data.read_text("the-verdict.txt")
    except data.DataFileError:
        print(
            "The Verdict is not on this machine and cannot be downloaded; showing the steps on npllm's "
            "own docstrings instead (get it with `npllm data fetch the-verdict.txt`, or point "
            "NPLLM_DATA_DIR at a folder that holds it)"
        )
        run(docstrings_text(), "npllm's own docstrings", steps=steps, seed=seed)
        return
    run(text, "The Verdict", steps=steps, seed=seed)


def run(text: str, label: str, *, steps: int = DEMO_STEPS, seed: int = 123) -> None:
    """The five steps on `text`, each under a heading."""
    heading(f"Step 1: words ({label}, {len(text):,} characters)")
    demo_words(text)
    heading("Step 2: byte-pair encoding (GPT-2, then a vocabulary trained on the text)")
    mine = demo_bpe(text)
    heading("Step 3: (input, target) windows in batches")
    demo_loader(text)
    heading("Step 4: token and position embeddings")
    demo_embeddings(seed)
    heading("Step 5: a model that learns (embeddings + a linear head)")
    demo_model(text, mine, steps=steps, seed=seed)


def docstrings_text() -> str:
    """The docstrings of npllm's modules, in reading order: English prose that every install has."""
    import importlib

    texts = []
    for name in DOCSTRING_MODULES:
        doc = importlib.import_module(name).__doc__
        if doc:
            texts.append(doc.strip())
    return "\n\n".join(texts) + "\n"


DOCSTRING_MODULES = (  # the order a reader meets them
    "npllm",
    "npllm.words",
    "npllm.bpe",
    "npllm.bpe.patterns",
    "npllm.bpe.merge",
    "npllm.bpe.encoding",
    "npllm.bpe.files",
    "npllm.bpe.registry",
    "npllm.bpe.train",
    "npllm.tokens",
    "npllm.loader",
    "npllm.scatter",
    "npllm.embedding",
    "npllm.optim",
    "npllm.model",
    "npllm.data",
    "npllm.demo",
)


def token_texts(enc: Encoding, ids: list[int]) -> list[str]:
    """Each token's text; a token that ends inside a UTF-8 character shows its raw bytes (\\xe4),
    which is what BPE sees. [15496, 11] -> ["Hello", ","]"""
    return [enc.decode_single_token_bytes(i).decode("utf-8", errors="backslashreplace") for i in ids]


def heading(title: str) -> None:
    print(f"\n== {title} ==")


def demo_words(text: str) -> None:
    pieces = words.split_words(text)
    vocab = words.build_vocab(pieces)
    print(f"{len(pieces):,} words and punctuation marks; vocabulary of {len(vocab):,}")
    print(f"first pieces: {pieces[:12]}")

    v1 = words.SimpleTokenizerV1(vocab)
    sample = " ".join(pieces[:16])
    ids = v1.encode(sample)
    print(f"V1 encode: {sample!r}\n        -> {ids}")
    print(f"V1 decode: {v1.decode(ids)!r}")

    vocab2 = words.build_vocab(pieces, special_tokens=[words.ENDOFTEXT, words.UNK])
    v2 = words.SimpleTokenizerV2(vocab2)
    sample = f"Hello, do you like tea? {words.ENDOFTEXT} In the sunlit terraces of the palace."
    ids = v2.encode(sample)
    print(f"V2 vocabulary of {len(vocab2):,} with {words.ENDOFTEXT} and {words.UNK}")
    print(f"V2 encode: {sample!r}\n        -> {ids}")
    print(f"V2 decode: {v2.decode(ids)!r}")


def demo_bpe(text: str) -> Encoding | None:
    """GPT-2's encoding, then one trained on the text (returned for step 5; None if the text is empty)."""
    enc = get_encoding("gpt2")
    sample = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace."
    ids = enc.encode(sample, allowed_special={"<|endoftext|>"})
    print(f"{enc}: {sample!r}")
    print(f"  -> {ids}")
    print(f"  tokens: [{']['.join(token_texts(enc, ids))}]")
    print(f"  decode: {enc.decode(ids)!r}")
    ids = enc.encode_ordinary(text)
    n_words = len(words.split_words(text))
    print(
        f"the whole text: {len(ids):,} GPT-2 tokens for {n_words:,} words "
        f"({len(ids) / max(n_words, 1):.2f} tokens per word), first {ids[:10]}"
    )
    return demo_train_bpe(text, n_gpt2=len(ids))


def demo_train_bpe(text: str, n_gpt2: int) -> Encoding | None:
    if not text:
        print("the text is empty: no vocabulary to train on it")
        return None
    with warnings.catch_warnings(record=True) as caught:  # a short text allows fewer merges
        warnings.simplefilter("always")
        mine = train_bpe(text, DEMO_VOCAB_SIZE, progress=sys.stderr.isatty(), name="demo")  # progress: terminals only
    for warning in caught:
        print(f"npllm: warning: {warning.message}", file=sys.stderr)
    n_merges = mine.n_vocab - 256
    print(f"trained on the text: {mine}, {n_merges:,} merges; the first {min(n_merges, 10)}:")
    ranks = mine.mergeable_ranks  # bytes -> int
    parents = recover_merges(ranks)  # token -> (left, right)
    first = sorted((t for t in parents if ranks[t] < 256 + 10), key=ranks.__getitem__)
    merges = [f"{shown(parents[t][0])} + {shown(parents[t][1])} -> {shown(t)}" for t in first]
    for k in range(0, len(merges), 5):
        print("  " + "   ".join(merges[k : k + 5]))
    n_mine = len(mine.encode_ordinary(text))
    print(
        f"the whole text: {n_mine:,} tokens with it, {n_gpt2:,} with GPT-2's 50,257 "
        f"({n_mine / max(n_gpt2, 1):.2f}x as many)"
    )
    return mine


def shown(token: bytes) -> str:
    """b" t" -> "' t'": the text with its quotes, so spaces and newlines show; bytes that
    are not UTF-8 on their own stay bytes (b'\\xc3')."""
    try:
        return repr(token.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(token)


def demo_loader(text: str) -> None:
    enc = get_encoding("gpt2")
    n_tokens = len(enc.encode(text, allowed_special={"<|endoftext|>"}))
    if n_tokens < 5:
        print(f"{n_tokens} tokens: too short for even one window of 4 tokens and its target")
        return
    loader = create_dataloader(text, batch_size=8, max_length=4, stride=4, shuffle=False, drop_last=False)
    print(f"{n_tokens:,} tokens -> {len(loader.dataset):,} windows of 4 (stride 4) -> {len(loader):,} batches of 8")
    x, y = next(iter(loader))
    print(f"first batch: inputs {x.shape}, targets {y.shape} (the targets are the inputs one token later)")
    for row_x, row_y in list(zip(x.tolist(), y.tolist()))[:3]:
        print(f"  {row_x} -> {row_y}   {enc.decode(row_x)!r} -> {enc.decode(row_y)!r}")
    if n_tokens < 257:
        print(f"{n_tokens} tokens: too short for the course's defaults (one window of 256 needs 257 tokens)")
        return
    course = create_dataloader(text, shuffle=False)
    print(
        f"the course's defaults (batch 4, max_length 256, stride 128): {len(course.dataset):,} windows, "
        f"{len(course):,} batches (drop_last)"
    )


def demo_embeddings(seed: int = 123) -> None:
    ids = np.array([[40, 367, 2885, 1464], [1807, 3619, 402, 271]])  # (B, T) = (2, 4)
    emb = GPTEmbedding(vocab_size=50257, context_length=1024, embedding_dim=256, seed=seed)
    tokens = emb.token(ids)  # (B, T, D)
    positions = emb.position(ids.shape[1])  # (T, D)
    out = emb(ids)  # (B, T, D) = tokens + positions
    print(f"IDs {ids.shape} -> token embeddings {tokens.shape} (a {emb.token.weight.shape} table)")
    print(f"positions {positions.shape} (a {emb.position.weight.shape} table); sum {out.shape}")
    emb.backward(np.ones_like(out))
    rows = emb.token.touched_rows()
    print(
        f"backward: gradient in {len(rows)} token rows {rows.tolist()} and {ids.shape[1]} position rows; "
        f"each position row gets the sum over the batch ({ids.shape[0]})"
    )


def demo_model(text: str, enc: Encoding | None, *, steps: int, seed: int) -> None:
    """TinyLM over the trained vocabulary: Adam on shuffled windows, the loss as it falls, a sample."""
    T, B, D, lr = 32, 16, 64, 1e-2  # window, batch, embedding width, Adam's step size
    if enc is None:
        print("no vocabulary (the text is empty): no model to train")
        return
    ids = enc.encode_ordinary(text)
    if len(ids) < T + 1:
        print(f"{len(ids)} tokens: too short for one window of {T} tokens and its target, so no model to train")
        return
    V = enc.n_vocab
    loader = DataLoader(GPTDataset(ids, max_length=T, stride=T), batch_size=B, shuffle=True, seed=seed)
    model = TinyLM(V, T, D, seed=seed)
    optimizer = Adam(model.parameters(), lr=lr)
    print(
        f"{model}, {model.num_parameters():,} weights; {len(ids):,} tokens -> {len(loader.dataset):,} windows "
        f"of {T} -> {len(loader):,} batches of {B}"
    )
    print(
        "no attention: each position sees only its own token and position, so it learns which token "
        "follows which (bigrams)"
    )
    print(f"Adam (lr {lr}), {steps:,} steps; a uniform guess over {V:,} tokens scores ln({V:,}) = {math.log(V):.3f}")
    every = max(1, steps // 10)
    step = 0
    while step < steps:
        for x, y in loader:  # (B, T), (B, T): the targets are the inputs one token later
            step += 1
            loss = model.loss(x, y)
            optimizer.zero_grad()
            model.backward()
            optimizer.step()
            if step == 1 or step % every == 0 or step == steps:
                print(f"  step {step:>{len(str(steps))}}  loss {loss:.3f}")
            if step == steps:
                break
    prompt, n_new = "I had", 60
    sample = model.generate(np.array(enc.encode_ordinary(prompt)), n_new, seed=seed)  # (T + n_new,)
    print(f"sample, {n_new} tokens after {prompt!r}: {enc.decode(sample.tolist())!r}")
