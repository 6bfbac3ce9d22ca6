"""npllm: the input side of a GPT-style language model in plain NumPy and Python.

Step 1, words: `split_words`, `build_vocab`, `SimpleTokenizerV1`, `SimpleTokenizerV2`.
Step 2, byte-level BPE that matches tiktoken: `Encoding`, `get_encoding`, `list_encoding_names`,
`encoding_for_model`, `encoding_name_for_model`, `load_encoding`, `load_tiktoken_bpe`,
`train_bpe`, `count_pieces`, `PieceCounts`, `GPT2_PATTERN`, `CL100K_PATTERN`, `O200K_PATTERN`.
Step 3, windows and batches: `GPTDataset`, `DataLoader`, `create_dataloader` (also
`create_dataloader_v1`), `random_batches`, `save_tokens`, `load_tokens`.
Step 4, embeddings with a hand-written backward: `Embedding`, `PositionalEmbedding`,
`GPTEmbedding`, and the optimizers `SGD`, `Adam`.
Step 5, a model that learns: `Linear`, `CrossEntropyLoss`, `TinyLM`.
Data files: `npllm.data.path(name)`.

Every name is imported on first use (PEP 562's module `__getattr__`), from the module that
defines it: `import npllm` imports nothing else, tokenizing never imports the loader, the
embeddings or the model, and NumPy is imported only when an array is made.
"""

from npllm._lazy import lazy_getattr as _lazy_getattr

__version__ = "0.1.0"

# public name -> the module that defines it, imported the first time the name is asked for
_SOURCES = {
    "split_words": "npllm.words",
    "build_vocab": "npllm.words",
    "SimpleTokenizerV1": "npllm.words",
    "SimpleTokenizerV2": "npllm.words",
    "Encoding": "npllm.bpe.encoding",
    "get_encoding": "npllm.bpe.registry",
    "list_encoding_names": "npllm.bpe.registry",
    "encoding_for_model": "npllm.bpe.models",
    "encoding_name_for_model": "npllm.bpe.models",
    "load_encoding": "npllm.bpe.registry",
    "load_tiktoken_bpe": "npllm.bpe.files",
    "train_bpe": "npllm.bpe.train",
    "count_pieces": "npllm.bpe.counts",
    "PieceCounts": "npllm.bpe.counts",
    "GPT2_PATTERN": "npllm.bpe.patterns",
    "CL100K_PATTERN": "npllm.bpe.patterns",
    "O200K_PATTERN": "npllm.bpe.patterns",
    "GPTDataset": "npllm.loader",
    "DataLoader": "npllm.loader",
    "create_dataloader": "npllm.loader",
    "create_dataloader_v1": "npllm.loader",
    "random_batches": "npllm.loader",
    "save_tokens": "npllm.tokens",
    "load_tokens": "npllm.tokens",
    "Embedding": "npllm.embedding",
    "PositionalEmbedding": "npllm.embedding",
    "GPTEmbedding": "npllm.embedding",
    "SGD": "npllm.optim",
    "Adam": "npllm.optim",
    "Linear": "npllm.model",
    "CrossEntropyLoss": "npllm.model",
    "TinyLM": "npllm.model",
}

# The submodules, so that `import npllm; npllm.data.path(...)` works as it did when
# `import npllm` imported them all.
_SUBMODULES = frozenset(
    {
        "bpe",
        "cli",
        "commands",
        "data",
        "demo",
        "embedding",
        "loader",
        "model",
        "optim",
        "progress",
        "scatter",
        "tokens",
        "words",
    }
)

__all__ = ["__version__", *_SOURCES]


__getattr__ = _lazy_getattr(globals(), _SOURCES, _SUBMODULES)  # PEP 562: names on first use


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
