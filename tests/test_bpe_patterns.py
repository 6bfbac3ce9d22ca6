"""The split patterns: the ASCII twins in `ASCII_PATTERNS` (run by `re`) cut every ASCII text
exactly as the real patterns (run by `regex`) do, and the real patterns are tiktoken's.

Checked on all 128 single characters, all 16,384 pairs, all triples of a set of characters
chosen to sit on the class boundaries, targeted strings, and hypothesis-generated ASCII text.
"""

import itertools
import re

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import tiktoken_encoding

import npllm
from npllm.bpe.patterns import (
    ASCII_PATTERNS,
    CL100K_PATTERN,
    GPT2_PATTERN,
    O200K_PATTERN,
    PATTERNS_BY_NAME,
    compile_ascii,
)

PATTERNS = {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN}
ASCII = [chr(i) for i in range(128)]
# One or two of each class the patterns care about: letters (and the contraction letters),
# digits, space, the other ASCII whitespace, \x1c-\x1f (whitespace to str.isspace, not to \s),
# the apostrophe, punctuation, and controls.
BOUNDARY = list("aSslLvVtdm0 \t\n\r\x0b\x0c\x1c\x1f'!\x00\x7f")

TARGETED = [
    "",
    "  \n",
    "a  \n",
    "'S",
    "'s",
    "'ll",
    "'LL",
    "'Ve",
    "'ve",
    "'re",
    "'d",
    "'m",
    "'t",
    "'x",
    "''s",
    "123456",
    "1234567890123",
    "\r\n\r\n  x",
    "hello  world ",
    "I'm  ok!!\n\n",
    "a\x1cb",
    "x \x0b\x0cy",
    " \t \n \r\n  \n",
    "   ",
    "\n",
    "x\n",
    "x \n",
    "x  ",
    "!!! ???\n\n...",
    "  !x",
    "\t\tdef f(x):\n\t\treturn x  # done\n",
    "a1b2c3 d44 555 6666",
    "don't DON'T Don'T it's IT'S we'll we've they're I'd",
    "<|endoftext|>",
    "x\r\n\r\n",
    " \x1c \x1d\n",
]


def ascii_twin(pattern: str) -> re.Pattern:
    return re.compile(ASCII_PATTERNS[pattern])


@pytest.fixture(scope="module", params=list(PATTERNS), ids=list(PATTERNS))
def twins(request):
    """(regex version, re version) of one known pattern."""
    pattern = PATTERNS[request.param]
    return regex.compile(pattern), ascii_twin(pattern)


def test_each_known_pattern_has_an_ascii_twin():
    assert set(ASCII_PATTERNS) == {GPT2_PATTERN, CL100K_PATTERN, O200K_PATTERN}
    assert PATTERNS_BY_NAME == {"gpt2": GPT2_PATTERN, "cl100k": CL100K_PATTERN, "o200k": O200K_PATTERN}


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("gpt2", GPT2_PATTERN),
        ("p50k_base", GPT2_PATTERN),
        ("cl100k_base", CL100K_PATTERN),
        ("o200k_base", O200K_PATTERN),
    ],
    ids=["gpt2", "p50k_base", "cl100k_base", "o200k_base"],
)
def test_patterns_are_tiktokens(name, pattern):
    assert pattern == tiktoken_encoding(name)._pat_str


def test_compile_ascii():
    assert compile_ascii(GPT2_PATTERN).pattern == ASCII_PATTERNS[GPT2_PATTERN]
    assert isinstance(compile_ascii(CL100K_PATTERN), re.Pattern)
    assert compile_ascii(r"\w+") is None


def test_encodings_use_the_twins():
    assert npllm.get_encoding("gpt2")._ascii_pattern.pattern == ASCII_PATTERNS[GPT2_PATTERN]
    assert npllm.get_encoding("cl100k_base")._ascii_pattern.pattern == ASCII_PATTERNS[CL100K_PATTERN]


@pytest.mark.parametrize("text", TARGETED)
def test_targeted_strings(twins, text):
    full, twin = twins
    assert twin.findall(text) == full.findall(text)


def test_all_single_characters(twins):
    full, twin = twins
    for c in ASCII:
        assert twin.findall(c) == full.findall(c), repr(c)


def test_all_pairs(twins):
    full, twin = twins
    for a, b in itertools.product(ASCII, repeat=2):
        text = a + b
        assert twin.findall(text) == full.findall(text), repr(text)


def test_all_boundary_triples_and_quads(twins):
    full, twin = twins
    for n in (3, 4):
        for chars in itertools.product(BOUNDARY, repeat=n):
            text = "".join(chars)
            assert twin.findall(text) == full.findall(text), repr(text)


@pytest.mark.parametrize("pattern", [GPT2_PATTERN, CL100K_PATTERN], ids=["gpt2", "cl100k_base"])
@settings(derandomize=True, max_examples=500, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=127)))
def test_any_ascii_text(pattern, text):
    assert ascii_twin(pattern).findall(text) == regex.compile(pattern).findall(text)


ascii_runs = st.lists(
    st.one_of(
        st.text(st.sampled_from(BOUNDARY), min_size=1, max_size=6),
        st.sampled_from(["'s", "'S", "'ll", "'LL", "'Ve", "'re", "'D", "\r\n", " \n", "  "]),
        st.text(st.sampled_from("0123456789"), min_size=1, max_size=9),
    ),
    max_size=20,
).map("".join)


@settings(derandomize=True, max_examples=500, deadline=None)
@given(text=ascii_runs)
def test_boundary_heavy_ascii_text(text):
    for pattern in PATTERNS.values():
        assert ascii_twin(pattern).findall(text) == regex.compile(pattern).findall(text), pattern


# --- what the patterns do: known splits -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gpt2", "cl100k"),
    [
        ("'S", ["'", "S"], ["'S"]),  # cl100k's contractions ignore case
        ("'ll", ["'ll"], ["'ll"]),
        ("123456", ["123456"], ["123", "456"]),  # cl100k: digits in groups of at most 3
        ("\r\n\r\n  x", ["\r\n\r\n ", " x"], ["\r\n\r\n", " ", " x"]),
        ("hello  world ", ["hello", " ", " world", " "], ["hello", " ", " world", " "]),
        ("I'm  ok!!\n\n", ["I", "'m", " ", " ok", "!!", "\n\n"], ["I", "'m", " ", " ok", "!!\n\n"]),
        ("a\x1cb", ["a", "\x1c", "b"], ["a", "\x1cb"]),
        ("  \n", ["  \n"], ["  \n"]),
    ],
)
def test_known_splits(text, gpt2, cl100k):
    assert regex.findall(GPT2_PATTERN, text) == ascii_twin(GPT2_PATTERN).findall(text) == gpt2
    assert regex.findall(CL100K_PATTERN, text) == ascii_twin(CL100K_PATTERN).findall(text) == cl100k
