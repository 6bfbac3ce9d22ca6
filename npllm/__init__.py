"""npllm: the input side of a GPT-style language model in plain NumPy and Python.

Step 1, words: `split_words`, `build_vocab`, `SimpleTokenizerV1`, `SimpleTokenizerV2`.
Step 2, byte-level BPE that matches tiktoken: `Encoding`, `get_encoding`, `list_encoding_names`,
`encoding_for_model`, `encoding_name_for_model`, `load_encoding`, `load_tiktoken_bpe`,
`train_bpe`, `GPT2_PATTERN`, `CL100K_PATTERN`, `O200K_PATTERN`.
Step 3, windows and batches: `GPTDataset`, `DataLoader`, `create_dataloader` (also
`create_dataloader_v1`), `random_batches`, `save_tokens`, `load_tokens`.
Step 4, embeddings with a hand-written backward: `Embedding`, `PositionalEmbedding`,
`GPTEmbedding`, and the optimizers `SGD`, `Adam`.
Step 5, a model that learns: `Linear`, `CrossEntropyLoss`, `TinyLM`.
Data files: `npllm.data.path(name)`.
"""

__version__ = "0.1.0"

from npllm.bpe import (
    CL100K_PATTERN,
    GPT2_PATTERN,
    O200K_PATTERN,
    Encoding,
    encoding_for_model,
    encoding_name_for_model,
    get_encoding,
    list_encoding_names,
    load_encoding,
    load_tiktoken_bpe,
    train_bpe,
)
from npllm.embedding import Embedding, GPTEmbedding, PositionalEmbedding
from npllm.loader import DataLoader, GPTDataset, create_dataloader, create_dataloader_v1, random_batches
from npllm.model import CrossEntropyLoss, Linear, TinyLM
from npllm.optim import SGD, Adam
from npllm.tokens import load_tokens, save_tokens
from npllm.words import SimpleTokenizerV1, SimpleTokenizerV2, build_vocab, split_words

__all__ = [
    "__version__",
    "split_words",
    "build_vocab",
    "SimpleTokenizerV1",
    "SimpleTokenizerV2",
    "Encoding",
    "get_encoding",
    "list_encoding_names",
    "encoding_for_model",
    "encoding_name_for_model",
    "load_encoding",
    "load_tiktoken_bpe",
    "train_bpe",
    "GPT2_PATTERN",
    "CL100K_PATTERN",
    "O200K_PATTERN",
    "GPTDataset",
    "DataLoader",
    "create_dataloader",
    "create_dataloader_v1",
    "random_batches",
    "save_tokens",
    "load_tokens",
    "Embedding",
    "PositionalEmbedding",
    "GPTEmbedding",
    "SGD",
    "Adam",
    "Linear",
    "CrossEntropyLoss",
    "TinyLM",
]
