"""Step 2: byte-level BPE, token for token the same as tiktoken.

- `patterns.py`  how text is split into pieces (GPT-2's and cl100k's patterns)
- `merge.py`     the merge loop: one piece of bytes -> token IDs
- `encoding.py`  `Encoding`: special tokens, split, cached merges; encode and decode
- `files.py`     .tiktoken, GPT-2's encoder.json + vocab.bpe, npllm's own .npllm-bpe
- `registry.py`  `get_encoding(name)` for every tiktoken encoding, from the bundled vocabularies
- `models.py`    `encoding_for_model(model)`, `encoding_name_for_model(model)`: tiktoken's model table
- `train.py`     `train_bpe`: learn your own merges, fast; `train_reference.py`: the same, slowly
"""

from npllm.bpe.encoding import Encoding
from npllm.bpe.files import load_encoding, load_tiktoken_bpe
from npllm.bpe.models import encoding_for_model, encoding_name_for_model
from npllm.bpe.patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN
from npllm.bpe.registry import get_encoding, list_encoding_names
from npllm.bpe.train import train_bpe

__all__ = [
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
]
