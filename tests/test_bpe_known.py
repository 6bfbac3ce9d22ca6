"""Known answers for the BPE encodings: the course's IDs, GPT-2's and cl100k's facts.

Every number here is written out, so a reader sees the arithmetic; `test_bpe_parity.py`
checks the same encodings against tiktoken on far more text.
"""

import pytest
from reference import tiktoken_encoding, tiktoken_module

import npllm
import npllm.data

TEA = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace."
TEA_IDS = [
    15496,
    11,
    466,
    345,
    588,
    8887,
    30,
    220,
    50256,
    554,
    262,
    4252,
    18250,
    8812,
    2114,
    286,
    617,
    34680,
    27271,
    13,
]


# --- GPT-2: the course's examples -------------------------------------------------------------


def test_gpt2_tea_sentence_with_endoftext(gpt2):
    assert gpt2.encode(TEA, allowed_special={"<|endoftext|>"}) == TEA_IDS


def test_gpt2_tea_sentence_decodes_back(gpt2):
    assert gpt2.decode(TEA_IDS) == TEA


def test_gpt2_unknown_word_falls_apart_into_subwords(gpt2):
    ids = gpt2.encode("Akwirw ier")
    assert ids == [33901, 86, 343, 86, 220, 959]
    assert gpt2.decode_tokens_bytes(ids) == [b"Ak", b"w", b"ir", b"w", b" ", b"ier"]


def test_gpt2_the_verdict(gpt2, verdict_text):
    ids = gpt2.encode(verdict_text)
    assert len(ids) == 5145
    assert ids[:10] == [40, 367, 2885, 1464, 1807, 3619, 402, 271, 10899, 2138]
    assert gpt2.decode(ids) == verdict_text


def test_the_verdict_file_is_the_known_one(verdict_text):  # the fixture skips offline (fails in CI)
    text = npllm.data.path("the-verdict.txt").read_text(encoding="utf-8")
    assert len(text) == 20479
    assert text.startswith("I HAD always thought Jack Gisburn")


@pytest.mark.parametrize(
    ("name", "ids"),
    [("gpt2", [31373, 995]), ("r50k_base", [31373, 995]), ("cl100k_base", [15339, 1917])],
)
def test_hello_world(name, ids):
    enc = npllm.get_encoding(name)
    assert enc.encode("hello world") == ids
    assert enc.encode_ordinary("hello world") == ids
    assert enc.decode(ids) == "hello world"


def test_gpt2_single_tokens(gpt2):
    assert gpt2.encode_single_token("hello") == 31373
    assert gpt2.encode_single_token(b" world") == 995
    assert gpt2.encode_single_token("<|endoftext|>") == 50256
    assert gpt2.decode_single_token_bytes(50256) == b"<|endoftext|>"
    assert gpt2.decode_single_token_bytes(220) == b" "


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base"])
def test_every_single_byte_is_a_token_among_the_first_256(name):
    enc = npllm.get_encoding(name)
    ids = [enc.encode_single_token(bytes([b])) for b in range(256)]
    assert sorted(ids) == list(range(256))  # the 256 bytes take IDs 0..255, in GPT-2's order
    assert ids[:3] == [188, 189, 190]  # byte 0 is not ID 0: printable "!" (33) is ID 0
    assert enc.encode_single_token(b"!") == 0


# --- special tokens, sizes, names -----------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "token_id"),
    [
        ("<|endoftext|>", 100257),
        ("<|fim_prefix|>", 100258),
        ("<|fim_middle|>", 100259),
        ("<|fim_suffix|>", 100260),
        ("<|endofprompt|>", 100276),
    ],
)
def test_cl100k_special_tokens(cl100k, token, token_id):
    assert cl100k.encode_single_token(token) == token_id
    assert cl100k.decode_single_token_bytes(token_id) == token.encode()
    assert cl100k.encode(token, allowed_special={token}) == [token_id]
    assert cl100k.decode([token_id]) == token


def test_cl100k_special_tokens_set(cl100k):
    assert cl100k.special_tokens_set == {
        "<|endoftext|>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|endofprompt|>",
    }


def test_gpt2_special_tokens_set(gpt2):
    assert gpt2.special_tokens_set == {"<|endoftext|>"}


@pytest.mark.parametrize(
    ("name", "n_vocab", "eot", "max_token_value"),
    [
        ("gpt2", 50257, 50256, 50256),
        ("r50k_base", 50257, 50256, 50256),
        ("cl100k_base", 100277, 100257, 100276),
    ],
)
def test_sizes_and_names(name, n_vocab, eot, max_token_value):
    enc = npllm.get_encoding(name)
    assert enc.name == name
    assert enc.n_vocab == n_vocab
    assert enc.eot_token == eot
    assert enc.max_token_value == max_token_value


@pytest.mark.parametrize(
    ("name", "pattern"),
    [("gpt2", npllm.GPT2_PATTERN), ("r50k_base", npllm.GPT2_PATTERN), ("cl100k_base", npllm.CL100K_PATTERN)],
)
def test_pat_str_is_tiktokens(name, pattern):
    enc = npllm.get_encoding(name)
    assert enc.pat_str == pattern
    assert enc.pat_str == tiktoken_encoding(name)._pat_str


@pytest.mark.parametrize("name", ["gpt2", "r50k_base", "cl100k_base"])
def test_sizes_agree_with_tiktoken(name):
    enc, ref = npllm.get_encoding(name), tiktoken_encoding(name)
    assert (enc.name, enc.n_vocab, enc.eot_token, enc.max_token_value) == (
        ref.name,
        ref.n_vocab,
        ref.eot_token,
        ref.max_token_value,
    )
    assert enc.special_tokens_set == ref.special_tokens_set


def test_r50k_base_is_gpt2_under_another_name(gpt2, prose_text):
    r50k = npllm.get_encoding("r50k_base")
    assert r50k.name == "r50k_base"
    assert r50k.encode(TEA, allowed_special="all") == TEA_IDS
    assert r50k.encode(prose_text) == gpt2.encode(prose_text)
    assert r50k.mergeable_ranks == gpt2.mergeable_ranks


def test_get_encoding_builds_once(gpt2):
    assert npllm.get_encoding("gpt2") is gpt2


def test_list_encoding_names_are_tiktokens():
    names = npllm.list_encoding_names()
    assert names == ["gpt2", "r50k_base", "p50k_base", "p50k_edit", "cl100k_base", "o200k_base", "o200k_harmony"]
    assert set(names) == set(tiktoken_module().list_encoding_names())


def test_get_encoding_unknown_name():
    with pytest.raises(ValueError, match="Unknown encoding p60k_base.*o200k_harmony"):
        npllm.get_encoding("p60k_base")


@pytest.mark.parametrize("name", [b"gpt2", None, 3])
def test_get_encoding_name_must_be_str_as_in_tiktoken(name):
    with pytest.raises(ValueError, match="Expected a string in get_encoding"):
        npllm.get_encoding(name)
    with pytest.raises(ValueError, match="Expected a string in get_encoding"):
        tiktoken_module().get_encoding(name)
