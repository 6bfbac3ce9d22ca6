"""The known encodings, by name, as `tiktoken.get_encoding` knows them.

- "gpt2" (and its alias "r50k_base"): GPT-2's published encoder.json + vocab.bpe.
- "cl100k_base": the ranks of GPT-3.5/4 from cl100k_base.tiktoken.

The files come from `npllm.data` (a local folder, tiktoken's cache, or a verified download).
Each encoding is built once per process and shared.
"""

from __future__ import annotations

import threading

from npllm import data
from npllm.bpe.encoding import Encoding
from npllm.bpe.files import load_gpt2_ranks, load_tiktoken_bpe
from npllm.bpe.patterns import CL100K_PATTERN, GPT2_PATTERN

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"


def _gpt2(name: str) -> Encoding:
    ranks = load_gpt2_ranks(data.path("gpt2/encoder.json"), data.path("gpt2/vocab.bpe"))
    return Encoding(
        name,
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={ENDOFTEXT: 50256},
        explicit_n_vocab=50257,
    )


def _cl100k_base(name: str) -> Encoding:
    return Encoding(
        name,
        pat_str=CL100K_PATTERN,
        mergeable_ranks=load_tiktoken_bpe(data.path("cl100k_base.tiktoken")),
        special_tokens={
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
    )


CONSTRUCTORS = {"gpt2": _gpt2, "r50k_base": _gpt2, "cl100k_base": _cl100k_base}  # name -> builder
_built: dict[str, Encoding] = {}  # name -> Encoding, built on first use
_lock = threading.Lock()


def list_encoding_names() -> list[str]:
    return list(CONSTRUCTORS)


def get_encoding(name: str) -> Encoding:
    """The known encoding `name` ("gpt2", "r50k_base", "cl100k_base"), built once."""
    if not isinstance(name, str):
        raise TypeError(f"an encoding name must be a str, got {type(name).__name__}")
    if name not in CONSTRUCTORS:
        raise ValueError(f"unknown encoding {name!r}; known encodings: {', '.join(CONSTRUCTORS)}")
    with _lock:
        if name not in _built:
            _built[name] = CONSTRUCTORS[name](name)
        return _built[name]
