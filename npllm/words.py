"""Step 1 of the course: a word tokenizer for The Verdict.

Split text into words and punctuation with one regular expression, give every distinct
piece an ID, and map text to IDs and back. `SimpleTokenizerV1` fails on a word it has never
seen; `SimpleTokenizerV2` maps it to `<|unk|>` and knows `<|endoftext|>`. What this leaves
out: anything byte-level (that is step 2, `npllm.bpe`), and normalisation of any kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from npllm._checks import check_str

# The course's split: keep each punctuation mark, "--" and each whitespace char as a piece.
WORD_SPLIT = re.compile(r'([,.:;?_!"()\']|--|\s)')
UNK = "<|unk|>"
ENDOFTEXT = "<|endoftext|>"


def split_words(text: str) -> list[str]:
    """Words and punctuation, whitespace dropped. "Hello, world." -> ["Hello", ",", "world", "."]"""
    check_str("text", text)
    pieces = (piece.strip() for piece in WORD_SPLIT.split(text))
    return [piece for piece in pieces if piece]


def build_vocab(tokens: Iterable[str], special_tokens: Iterable[str] = ()) -> dict[str, int]:
    """Sorted distinct tokens numbered from 0, then the special tokens in the order given.

    ["b", "a", "b"], special_tokens=["<|unk|>"] -> {"a": 0, "b": 1, "<|unk|>": 2}
    """
    if isinstance(tokens, str):
        raise TypeError("build_vocab takes a list of tokens, not a str; call split_words(text) first")
    words = sorted(set(tokens))
    for special in special_tokens:
        if special not in words:
            words.append(special)
    return {word: i for i, word in enumerate(words)}


class SimpleTokenizerV1:
    """The course's first tokenizer: every word must be in the vocabulary."""

    # decode joins pieces with spaces, then removes the space before these marks
    _SPACE_BEFORE_PUNCT = re.compile(r'\s+([,.?!"()\'])')

    def __init__(self, vocab: Mapping[str, int]):
        if not isinstance(vocab, Mapping):
            raise TypeError(f"vocab must be a mapping of str to int, got {type(vocab).__name__}")
        self.str_to_int = dict(vocab)  # str -> int
        self.int_to_str = {i: s for s, i in self.str_to_int.items()}  # int -> str
        if len(self.int_to_str) != len(self.str_to_int):
            raise ValueError("vocab maps two different words to the same ID")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={len(self.str_to_int)})"

    def encode(self, text: str) -> list[int]:
        """Text -> IDs. An unknown word is a KeyError that names it."""
        ids = []
        for word in split_words(text):
            try:
                ids.append(self.str_to_int[word])
            except KeyError:
                raise KeyError(f"word {word!r} is not in the vocabulary") from None
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """IDs -> text: words joined by spaces, no space before punctuation."""
        words = []
        for i in ids:
            try:
                words.append(self.int_to_str[i])
            except (KeyError, TypeError):
                raise KeyError(f"token ID {i!r} is not in the vocabulary of {len(self.int_to_str)} IDs") from None
        return self._SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(words))


class SimpleTokenizerV2(SimpleTokenizerV1):
    """The course's second tokenizer: unknown words become `<|unk|>`."""

    _SPACE_BEFORE_PUNCT = re.compile(r'\s+([,.:;?!"()\'])')

    def __init__(self, vocab: Mapping[str, int]):
        super().__init__(vocab)
        if UNK not in self.str_to_int:
            raise ValueError(
                f"SimpleTokenizerV2 needs {UNK!r} in its vocabulary; "
                f"build it with build_vocab(words, special_tokens=[{ENDOFTEXT!r}, {UNK!r}])"
            )

    def encode(self, text: str) -> list[int]:
        """Text -> IDs, unknown words as the ID of `<|unk|>`."""
        unk = self.str_to_int[UNK]
        return [self.str_to_int.get(word, unk) for word in split_words(text)]
