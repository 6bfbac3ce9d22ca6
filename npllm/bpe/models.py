"""Which encoding a model uses, by model name, as `tiktoken.encoding_for_model` answers.

Two tables, copied from tiktoken 0.14.0 (`tiktoken/model.py`): exact model names first, then
name prefixes for the dated and fine-tuned versions ("gpt-4o-2024-05-13", "ft:gpt-4:org:id").
A prefix can match a model that does not exist ("gpt-3.5-turbo-FAKE"): tiktoken accepts that
too. What this leaves out: asking the API which models exist; an unknown name is a KeyError.
"""

from __future__ import annotations

from npllm.bpe.encoding import Encoding
from npllm.bpe.registry import get_encoding

MODEL_TO_ENCODING = {  # exact model name -> encoding name
    # reasoning
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4-mini": "o200k_base",
    # chat
    "gpt-5": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4o": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5-turbo": "cl100k_base",
    "gpt-3.5": "cl100k_base",  # a common shorthand
    "gpt-35-turbo": "cl100k_base",  # Azure's deployment name
    # base
    "davinci-002": "cl100k_base",
    "babbage-002": "cl100k_base",
    # embeddings
    "text-embedding-ada-002": "cl100k_base",
    "text-embedding-3-small": "cl100k_base",
    "text-embedding-3-large": "cl100k_base",
    # text (deprecated)
    "text-davinci-003": "p50k_base",
    "text-davinci-002": "p50k_base",
    "text-davinci-001": "r50k_base",
    "text-curie-001": "r50k_base",
    "text-babbage-001": "r50k_base",
    "text-ada-001": "r50k_base",
    "davinci": "r50k_base",
    "curie": "r50k_base",
    "babbage": "r50k_base",
    "ada": "r50k_base",
    # code (deprecated)
    "code-davinci-002": "p50k_base",
    "code-davinci-001": "p50k_base",
    "code-cushman-002": "p50k_base",
    "code-cushman-001": "p50k_base",
    "davinci-codex": "p50k_base",
    "cushman-codex": "p50k_base",
    # edit (deprecated)
    "text-davinci-edit-001": "p50k_edit",
    "code-davinci-edit-001": "p50k_edit",
    # old embeddings (deprecated)
    "text-similarity-davinci-001": "r50k_base",
    "text-similarity-curie-001": "r50k_base",
    "text-similarity-babbage-001": "r50k_base",
    "text-similarity-ada-001": "r50k_base",
    "text-search-davinci-doc-001": "r50k_base",
    "text-search-curie-doc-001": "r50k_base",
    "text-search-babbage-doc-001": "r50k_base",
    "text-search-ada-doc-001": "r50k_base",
    "code-search-babbage-code-001": "r50k_base",
    "code-search-ada-code-001": "r50k_base",
    # open source
    "gpt2": "gpt2",
    "gpt-2": "gpt2",  # spelled like gpt-4
}

# Checked in this order, the first match wins, as in tiktoken: "ft:gpt-4o" must come before
# "ft:gpt-4", which also matches "ft:gpt-4o-mini:org:id".
MODEL_PREFIX_TO_ENCODING = {  # model name prefix -> encoding name
    # reasoning
    "o1-": "o200k_base",
    "o3-": "o200k_base",
    "o4-mini-": "o200k_base",
    # chat, dated versions: gpt-4o-2024-05-13, gpt-4-0314, gpt-4-32k, gpt-3.5-turbo-0301, ...
    "gpt-5": "o200k_base",
    "gpt-4.5-": "o200k_base",
    "gpt-4.1-": "o200k_base",
    "chatgpt-4o-": "o200k_base",
    "gpt-4o-": "o200k_base",
    "gpt-4-": "cl100k_base",
    "gpt-3.5-turbo-": "cl100k_base",
    "gpt-35-turbo-": "cl100k_base",  # Azure's deployment name
    "gpt-oss-": "o200k_harmony",
    # fine-tuned: ft:<base model>:<organization>:<id>
    "ft:gpt-4o": "o200k_base",
    "ft:gpt-4": "cl100k_base",
    "ft:gpt-3.5-turbo": "cl100k_base",
    "ft:davinci-002": "cl100k_base",
    "ft:babbage-002": "cl100k_base",
}


def encoding_name_for_model(model_name: str) -> str:
    """The encoding name of a model. "gpt-4" -> "cl100k_base"; "gpt-4o-2024-05-13" -> "o200k_base".

    Raises KeyError, with tiktoken's message, for a name neither table knows.
    """
    if model_name in MODEL_TO_ENCODING:
        return MODEL_TO_ENCODING[model_name]
    for prefix, encoding_name in MODEL_PREFIX_TO_ENCODING.items():
        if model_name.startswith(prefix):
            return encoding_name
    # tiktoken's words, verbatim, so code that checks the message moves between the two
    raise KeyError(
        f"Could not automatically map {model_name} to a tokeniser. "
        "Please use `tiktoken.get_encoding` to explicitly get the tokeniser you expect."
    )


def encoding_for_model(model_name: str) -> Encoding:
    """The encoding a model uses: `get_encoding(encoding_name_for_model(model_name))`."""
    return get_encoding(encoding_name_for_model(model_name))
