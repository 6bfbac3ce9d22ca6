"""The known encodings, by name, exactly as `tiktoken.get_encoding` knows them.

| name | ranks (bundled in npllm/vocabularies/) | pattern | special tokens |
| --- | --- | --- | --- |
| gpt2, r50k_base | r50k_base.tiktoken (GPT-2's published vocabulary) | GPT2_PATTERN | <|endoftext|> 50256 |
| p50k_base | p50k_base.tiktoken (r50k + 24 runs of spaces) | GPT2_PATTERN | <|endoftext|> 50256 |
| p50k_edit | p50k_base.tiktoken | GPT2_PATTERN | + three FIM tokens |
| cl100k_base | cl100k_base.tiktoken | CL100K_PATTERN | <|endoftext|>, FIM, <|endofprompt|> |
| o200k_base | o200k_base.tiktoken | O200K_PATTERN | <|endoftext|> 199999, <|endofprompt|> 200018 |
| o200k_harmony | o200k_base.tiktoken | O200K_PATTERN | + gpt-oss's chat tokens and reserved IDs up to 201087 |

The rank files come from `npllm.data.read_bytes`: the copy inside the package, unless
`NPLLM_DATA_DIR` holds one. GPT-2's `encoder.json` + `vocab.bpe` give the same ranks
(`files.load_gpt2_ranks`, tested) but are not needed. Each encoding is built once per process.

Building one is quick (o200k_base: gunzip, sha256, parse, about 80 ms) because the file's sha256
has proven it already: it is parsed without per-token checks and handed to
`Encoding.from_verified`, which takes the dict as it is, unchecked and uncopied.
tests/test_startup.py runs every check on every encoding here, so skipping them is safe.
"""

from __future__ import annotations

import threading

from npllm import data
from npllm.bpe.encoding import Encoding
from npllm.bpe.files import parse_tiktoken_bpe, read_encoding_file
from npllm.bpe.patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

# The chat tokens of gpt-oss (o200k_harmony), on top of o200k_base's two; every other ID up to
# 201087 is a reserved token. <|endofprompt|> keeps 200018, which <|reserved_200018|> shares.
HARMONY_TOKENS = {
    "<|startoftext|>": 199998,
    "<|return|>": 200002,
    "<|constrain|>": 200003,
    "<|channel|>": 200005,
    "<|start|>": 200006,
    "<|end|>": 200007,
    "<|message|>": 200008,
    "<|call|>": 200012,
}
HARMONY_RESERVED = [200000, 200001, 200004, 200009, 200010, 200011, *range(200013, 201088)]

# name -> (rank file, pattern, special tokens, explicit_n_vocab)
SPECS = {
    "gpt2": ("r50k_base.tiktoken", GPT2_PATTERN, {ENDOFTEXT: 50256}, 50257),
    "r50k_base": ("r50k_base.tiktoken", GPT2_PATTERN, {ENDOFTEXT: 50256}, 50257),
    "p50k_base": ("p50k_base.tiktoken", GPT2_PATTERN, {ENDOFTEXT: 50256}, 50281),
    "p50k_edit": (
        "p50k_base.tiktoken",
        GPT2_PATTERN,
        {ENDOFTEXT: 50256, FIM_PREFIX: 50281, FIM_MIDDLE: 50282, FIM_SUFFIX: 50283},
        None,
    ),
    "cl100k_base": (
        "cl100k_base.tiktoken",
        CL100K_PATTERN,
        {ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259, FIM_SUFFIX: 100260, ENDOFPROMPT: 100276},
        None,
    ),
    "o200k_base": ("o200k_base.tiktoken", O200K_PATTERN, {ENDOFTEXT: 199999, ENDOFPROMPT: 200018}, None),
    "o200k_harmony": (
        "o200k_base.tiktoken",
        O200K_PATTERN,
        {
            ENDOFTEXT: 199999,
            ENDOFPROMPT: 200018,
            **HARMONY_TOKENS,
            **{f"<|reserved_{i}|>": i for i in HARMONY_RESERVED},
        },
        None,
    ),
}

_built: dict[str, Encoding] = {}  # name -> Encoding, built on first use
_lock = threading.Lock()


def list_encoding_names() -> list[str]:
    return list(SPECS)


def get_encoding(encoding_name: str) -> Encoding:
    """The known encoding `encoding_name` (see `list_encoding_names()`), built once per process."""
    if not isinstance(encoding_name, str):
        raise ValueError(f"Expected a string in get_encoding, got {type(encoding_name)}")
    if encoding_name not in SPECS:
        raise ValueError(f"Unknown encoding {encoding_name}. Known encodings: {', '.join(SPECS)}")
    with _lock:
        if encoding_name not in _built:
            rank_file, pat_str, special_tokens, n_vocab = SPECS[encoding_name]
            # read_bytes checks the sha256 of the file, wherever it comes from
            ranks = parse_tiktoken_bpe(data.read_bytes(rank_file), rank_file, verified=True)
            _built[encoding_name] = Encoding.from_verified(
                encoding_name,
                pat_str=pat_str,
                mergeable_ranks=ranks,
                special_tokens=special_tokens,
                explicit_n_vocab=n_vocab,
            )
        return _built[encoding_name]


def load_encoding(path) -> Encoding:
    """Read a `.npllm-bpe` file (written by `Encoding.save`) back into an `Encoding`. The file
    is checked against its header (`files.read_encoding_file`); a file whose lines parse but do
    not make a model is a ValueError that names it."""
    args = read_encoding_file(path)
    try:
        return Encoding(**args)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from None
