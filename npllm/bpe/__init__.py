"""Step 2: byte-level BPE, token for token the same as tiktoken.

- `patterns.py`  how text is split into pieces (GPT-2's, cl100k's and o200k's patterns)
- `merge.py`     the merge loop: one piece of bytes -> token IDs
- `encoding.py`  `Encoding`: special tokens, split, cached merges; encode and decode
- `files.py`     .tiktoken, GPT-2's encoder.json + vocab.bpe, npllm's own .npllm-bpe
- `registry.py`  `get_encoding(name)` for every tiktoken encoding, from the bundled vocabularies
- `models.py`    `encoding_for_model(model)`, `encoding_name_for_model(model)`: tiktoken's model table
- `train.py`     `train_bpe`: learn your own merges, fast; `train_reference.py`: the same, slowly
- `counts.py`    `count_pieces`, `PieceCounts`: the trainer's input, counted shard by shard and added
- `spaced.py`    the word cache in front of the piece cache (text cut at safe spaces)
- `chunks.py`    a large file read in chunks cut where the split cannot change

Each name below is imported on first use (as in `npllm/__init__.py`): encoding text never
imports the trainer or the file writers.
"""

from npllm._lazy import lazy_getattr as _lazy_getattr

# public name -> the module that defines it
_SOURCES = {
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
}

# The submodules, so that `import npllm.bpe; npllm.bpe.files.X` works as it did when this
# file imported them all.
_SUBMODULES = frozenset(
    {
        "chunks",
        "counts",
        "encoding",
        "files",
        "merge",
        "models",
        "patterns",
        "registry",
        "spaced",
        "train",
        "train_reference",
        "unicode_classes",
    }
)

__all__ = list(_SOURCES)


__getattr__ = _lazy_getattr(globals(), _SOURCES, _SUBMODULES)  # PEP 562: names on first use


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
