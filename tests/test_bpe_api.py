"""The `Encoding` API, call for call as in tiktoken: special-token guards, single tokens,
decoding, batches (in worker processes too), pickling, repr, and constructor errors.

Where tiktoken has the same call, the test makes it too and compares: same IDs, or the same
kind of error.
"""

import os
import pickle

import numpy as np
import pytest
from reference import tiktoken_encoding, tiktoken_module

import npllm
import npllm.bpe.encoding as encoding_module
import npllm.data

EOT = "<|endoftext|>"
NAMES = ["gpt2", "cl100k_base"]


def outcome(call):
    """The call's result, or the type of the error it raised."""
    try:
        return call()
    except (ValueError, TypeError, KeyError) as e:
        return builtin_type(e)


def builtin_type(error: BaseException) -> type:
    """The built-in exception class an error is (npllm raises subclasses with more detail)."""
    return next(kind for kind in type(error).__mro__ if kind.__module__ == "builtins")


def byte_ranks(*extra: bytes) -> dict[bytes, int]:
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update({token: 256 + i for i, token in enumerate(extra)})
    return ranks


# --- special tokens in user text --------------------------------------------------------------

TEXT_WITH_EOT = f"Hello, do you like tea? {EOT} In the sunlit terraces."


def test_special_token_text_is_refused_by_default(pair):
    enc, ref = pair
    with pytest.raises(ValueError, match=r"<\|endoftext\|>") as info:
        enc.encode(TEXT_WITH_EOT)
    assert "allowed_special" in str(info.value)  # says how to fix it
    with pytest.raises(ValueError):
        ref.encode(TEXT_WITH_EOT)


@pytest.mark.parametrize("allowed", ["all", {EOT}, frozenset({EOT})])
def test_allowed_special_lets_it_through(pair, allowed):
    enc, ref = pair
    ids = enc.encode(TEXT_WITH_EOT, allowed_special=allowed)
    assert ids == ref.encode(TEXT_WITH_EOT, allowed_special=allowed)
    assert ids.count(enc.eot_token) == 1


def test_allowed_special_any_collection(gpt2):
    """npllm takes any collection (tiktoken wants a set): a list or tuple means the same."""
    ids = gpt2.encode(TEXT_WITH_EOT, allowed_special={EOT})
    assert gpt2.encode(TEXT_WITH_EOT, allowed_special=[EOT]) == ids
    assert gpt2.encode(TEXT_WITH_EOT, allowed_special=(EOT,)) == ids


def test_disallowed_special_empty_encodes_it_as_text(pair):
    enc, ref = pair
    ids = enc.encode(TEXT_WITH_EOT, disallowed_special=())
    assert ids == ref.encode(TEXT_WITH_EOT, disallowed_special=())
    assert enc.eot_token not in ids
    assert ids == enc.encode_ordinary(TEXT_WITH_EOT) == ref.encode_ordinary(TEXT_WITH_EOT)
    assert enc.decode(ids) == TEXT_WITH_EOT


def test_encode_ordinary_never_refuses(pair):
    enc, ref = pair
    text = "".join(sorted(enc.special_tokens_set)) * 2
    assert enc.encode_ordinary(text) == ref.encode_ordinary(text)
    assert not set(enc.encode_ordinary(text)) & {enc.encode_single_token(t) for t in enc.special_tokens_set}


CL100K_TEXT = "a <|endoftext|> b <|fim_prefix|> c <|endofprompt|>"


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"allowed_special": {EOT}},  # <|fim_prefix|> is still refused
        {"allowed_special": {EOT}, "disallowed_special": ()},  # ... or encoded as text
        {"allowed_special": {EOT, "<|fim_prefix|>", "<|endofprompt|>"}},
        {"allowed_special": "all"},
        {"allowed_special": "all", "disallowed_special": ()},
        {"disallowed_special": ()},
        {"disallowed_special": {"<|fim_prefix|>"}},
        {"disallowed_special": {"<|fim_suffix|>"}},  # not in the text: everything as text
        {"allowed_special": {"<|not_a_token|>"}, "disallowed_special": ()},  # unknown: ignored
        {"allowed_special": set(), "disallowed_special": ()},
    ],
)
def test_cl100k_special_token_options_match_tiktoken(cl100k, kwargs):
    ref = tiktoken_encoding("cl100k_base")
    assert outcome(lambda: cl100k.encode(CL100K_TEXT, **kwargs)) == outcome(lambda: ref.encode(CL100K_TEXT, **kwargs))


def test_error_names_the_first_refused_token(cl100k):
    with pytest.raises(ValueError, match=r"<\|fim_prefix\|>"):
        cl100k.encode(CL100K_TEXT, allowed_special={EOT})
    with pytest.raises(ValueError, match=r"<\|endofprompt\|>"):
        cl100k.encode(CL100K_TEXT, allowed_special={EOT, "<|fim_prefix|>"})


def test_special_tokens_next_to_each_other_and_inside_words(pair):
    enc, ref = pair
    text = f"{EOT}{EOT}word{EOT}x<|endof{EOT}text|>{EOT}"
    assert enc.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")
    assert enc.encode(text, allowed_special="all").count(enc.eot_token) == 5


def test_allowed_special_must_be_all_or_a_collection(gpt2):
    with pytest.raises(TypeError):
        gpt2.encode("x", allowed_special="endoftext")
    with pytest.raises(TypeError):
        gpt2.encode("x", disallowed_special="none")


# --- wrong input types ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [b"hello", None, 123, ["hello"]])
def test_non_str_text_is_a_type_error(gpt2, bad):
    with pytest.raises(TypeError):
        gpt2.encode(bad)
    with pytest.raises(TypeError):
        gpt2.encode_ordinary(bad)


def test_batch_must_be_a_list_of_str(gpt2):
    with pytest.raises(TypeError):
        gpt2.encode_batch("hello")
    with pytest.raises(TypeError):
        gpt2.encode_ordinary_batch(["ok", b"bytes"])
    with pytest.raises(ValueError):
        gpt2.encode_ordinary_batch(["a", "b"], num_threads=0)


# --- single tokens ----------------------------------------------------------------------------


def test_encode_single_token(pair):
    enc, ref = pair
    for token in ["hello", b"hello", " world", EOT, EOT.encode(), "!", b"\xff"]:
        assert enc.encode_single_token(token) == ref.encode_single_token(token)


@pytest.mark.parametrize("not_a_token", ["hello world", "", "<|endoftext", b"\xff\xfe\xfd\xfc\xfb"])
def test_encode_single_token_key_error(pair, not_a_token):
    enc, ref = pair
    with pytest.raises(KeyError):
        enc.encode_single_token(not_a_token)
    with pytest.raises(KeyError):
        ref.encode_single_token(not_a_token)


@pytest.mark.parametrize(
    ("name", "unknown"), [("gpt2", 50257), ("gpt2", 10**9), ("cl100k_base", 100261), ("cl100k_base", 100277)]
)
def test_decode_single_token_bytes_key_error(name, unknown):
    enc, ref = npllm.get_encoding(name), tiktoken_encoding(name)
    with pytest.raises(KeyError):
        enc.decode_single_token_bytes(unknown)
    with pytest.raises(KeyError):
        ref.decode_single_token_bytes(unknown)


def test_decode_single_token_bytes_negative_or_not_int(gpt2):
    for bad in [-1, 10**30]:  # not a uint32: OverflowError, as in tiktoken
        with pytest.raises(OverflowError, match=str(bad)):
            gpt2.decode_single_token_bytes(bad)
    for bad in ["1", None, 1.0]:  # not integers: TypeError, as tiktoken raises for 1.0
        with pytest.raises(TypeError):
            gpt2.decode_single_token_bytes(bad)


def test_decode_rejects_float_ids_like_tiktoken(gpt2):
    with pytest.raises(TypeError, match="float"):
        gpt2.decode([31373, 995.0])
    assert gpt2.decode([True]) == tiktoken_encoding("gpt2").decode([True])  # bools are ints, there too


# --- decoding --------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "unknown"), [("gpt2", 50257), ("cl100k_base", 100261), ("cl100k_base", 100277)])
def test_decode_unknown_id_is_a_key_error_naming_it(name, unknown):
    enc, ref = npllm.get_encoding(name), tiktoken_encoding(name)
    ids = enc.encode("hello") + [unknown]
    with pytest.raises(KeyError, match=str(unknown)):
        enc.decode(ids)
    with pytest.raises(KeyError, match=str(unknown)):
        enc.decode_bytes(ids)
    with pytest.raises(KeyError):
        enc.decode_tokens_bytes(ids)
    with pytest.raises(KeyError):
        ref.decode(ids)


def test_decode_negative_id_is_an_overflow_error(gpt2):
    with pytest.raises(OverflowError, match="-1"):  # as in tiktoken, which reads IDs as uint32
        gpt2.decode([31373, -1])
    with pytest.raises(OverflowError):
        tiktoken_encoding("gpt2").decode([31373, -1])


def test_decode_tokens_bytes(pair):
    enc, ref = pair
    ids = enc.encode(f"hello world, naïve 中文 🙂{EOT}", allowed_special="all")
    parts = enc.decode_tokens_bytes(ids)
    assert parts == ref.decode_tokens_bytes(ids)
    assert b"".join(parts) == enc.decode_bytes(ids) == ref.decode_bytes(ids)
    assert parts[-1] == EOT.encode()
    assert enc.decode_tokens_bytes([]) == []


def test_decode_tokens_bytes_known_answer(gpt2):
    assert gpt2.decode_tokens_bytes([31373, 995]) == [b"hello", b" world"]


def test_decode_accepts_any_iterable_of_ints(gpt2):
    assert gpt2.decode(np.array([31373, 995], dtype=np.int64)) == "hello world"
    assert gpt2.decode(iter([31373, 995])) == "hello world"
    assert gpt2.decode((31373, 995)) == "hello world"
    assert gpt2.decode([]) == ""


def test_decode_errors_argument(gpt2):
    partial = gpt2.encode("🙂")[:1]
    assert gpt2.decode(partial) == "\ufffd"
    assert gpt2.decode(partial, errors="ignore") == ""
    with pytest.raises(UnicodeDecodeError):
        gpt2.decode(partial, errors="strict")


# --- batches ----------------------------------------------------------------------------------

BATCH = ["hello world", "", "tea? " + EOT, "中文 🙂", "a" * 300, " \n\t ", "Akwirw ier"]


def test_encode_ordinary_batch_order_and_values(pair):
    enc, ref = pair
    out = enc.encode_ordinary_batch(BATCH)
    assert out == [enc.encode_ordinary(t) for t in BATCH]
    assert out == ref.encode_ordinary_batch(BATCH)


def test_encode_batch_order_and_values(pair):
    enc, ref = pair
    out = enc.encode_batch(BATCH, allowed_special="all")
    assert out == [enc.encode(t, allowed_special="all") for t in BATCH]
    assert out == ref.encode_batch(BATCH, allowed_special="all")
    assert enc.encode_batch(BATCH, disallowed_special=()) == ref.encode_batch(BATCH, disallowed_special=())


def test_encode_batch_refuses_before_encoding(gpt2):
    with pytest.raises(ValueError, match=r"<\|endoftext\|>"):
        gpt2.encode_batch(BATCH)


def test_empty_batches(gpt2):
    assert gpt2.encode_batch([]) == []
    assert gpt2.encode_ordinary_batch([]) == []


@pytest.fixture
def process_calls(monkeypatch):
    """Make every batch of 2+ texts over 1,000 characters go to worker processes; record it."""
    calls = []
    real = encoding_module._map_in_processes

    def recording(enc, texts, workers, fn, args):
        calls.append((len(texts), workers))
        return real(enc, texts, workers, fn, args)

    monkeypatch.setattr(encoding_module, "PARALLEL_MIN_CHARS", 1_000)
    monkeypatch.setattr(encoding_module, "_map_in_processes", recording)
    return calls


def expected_process_calls(num_threads: int) -> list[int]:
    """Worker counts _map_in_processes is called with for one big batch: none on one core."""
    workers = min(num_threads, os.cpu_count() or 1)
    return [workers] if workers > 1 else []


def big_batch(text: str, n: int) -> list[str]:
    """n slices of `text`, different lengths, in order."""
    step = len(text) // n
    return [text[i * step : i * step + 200 + 37 * i] for i in range(n)]


def test_encode_ordinary_batch_in_processes(pair, stdlib_text, process_calls):
    enc, ref = pair
    texts = big_batch(stdlib_text, 64)
    assert sum(map(len, texts)) >= encoding_module.PARALLEL_MIN_CHARS
    out = enc.encode_ordinary_batch(texts, num_threads=2)
    assert process_calls == [(64, w) for w in expected_process_calls(num_threads=2)]
    assert out == [enc.encode_ordinary(t) for t in texts]
    assert out == ref.encode_ordinary_batch(texts)


def test_encode_batch_in_processes(gpt2, stdlib_text, process_calls):
    texts = [t + EOT if i % 3 == 0 else t for i, t in enumerate(big_batch(stdlib_text, 40))]
    out = gpt2.encode_batch(texts, allowed_special={EOT}, num_threads=2)
    assert process_calls == [(40, w) for w in expected_process_calls(num_threads=2)]
    assert out == [gpt2.encode(t, allowed_special={EOT}) for t in texts]
    assert out == tiktoken_encoding("gpt2").encode_batch(texts, allowed_special={EOT})
    assert sum(ids.count(50256) for ids in out) == 14
    with pytest.raises(ValueError):
        gpt2.encode_batch(texts, num_threads=2)  # refused before any worker starts


def test_small_batch_stays_in_this_process(gpt2, monkeypatch):
    def fail(*args):
        raise AssertionError("a small batch must not start processes")

    monkeypatch.setattr(encoding_module, "_map_in_processes", fail)
    assert gpt2.encode_ordinary_batch(["hello", "world"]) == [[31373], [6894]]


def test_large_batch_with_the_real_threshold(gpt2, stdlib_text, monkeypatch):
    """stdlib_text (1.4 M characters) crosses the real PARALLEL_MIN_CHARS as it is."""
    calls = []
    real = encoding_module._map_in_processes

    def recording(enc, texts, workers, fn, args):
        calls.append(workers)
        return real(enc, texts, workers, fn, args)

    monkeypatch.setattr(encoding_module, "_map_in_processes", recording)
    lines = stdlib_text.split("\n\n")
    assert sum(map(len, lines)) >= encoding_module.PARALLEL_MIN_CHARS
    out = gpt2.encode_ordinary_batch(lines, num_threads=2)
    assert calls == expected_process_calls(num_threads=2)
    assert len(out) == len(lines)
    assert out == tiktoken_encoding("gpt2").encode_ordinary_batch(lines)


# --- pickle, repr -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_pickle_round_trip(name, prose_text):
    enc = npllm.get_encoding(name)
    clone = pickle.loads(pickle.dumps(enc))
    assert clone is not enc
    assert repr(clone) == repr(enc)
    assert clone.name == enc.name and clone.pat_str == enc.pat_str
    assert clone.special_tokens_set == enc.special_tokens_set
    assert clone.encode(prose_text) == enc.encode(prose_text)
    text = f"x {EOT} 中文 🙂"
    assert clone.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert clone.decode(enc.encode(prose_text)) == prose_text


def test_repr(gpt2, cl100k):
    assert repr(gpt2) == "Encoding('gpt2', n_vocab=50257)"
    assert repr(cl100k) == "Encoding('cl100k_base', n_vocab=100277)"
    assert repr(npllm.get_encoding("r50k_base")) == "Encoding('r50k_base', n_vocab=50257)"


# --- construction -----------------------------------------------------------------------------


def test_built_from_tiktokens_parts_matches_tiktoken(pair, prose_text):
    enc, ref = pair
    rebuilt = npllm.Encoding(
        ref.name,
        pat_str=ref._pat_str,
        mergeable_ranks=ref._mergeable_ranks,
        special_tokens=ref._special_tokens,
        explicit_n_vocab=ref.n_vocab if ref.name == "gpt2" else None,  # cl100k has an ID gap
    )
    assert rebuilt.n_vocab == ref.n_vocab
    assert rebuilt.encode(prose_text) == ref.encode(prose_text)


def test_small_custom_encoding():
    enc = npllm.Encoding(
        "tiny",
        pat_str=npllm.GPT2_PATTERN,
        mergeable_ranks=byte_ranks(b"ab", b"abc"),
        special_tokens={"<|end|>": 258},
        explicit_n_vocab=259,
    )
    assert enc.encode("abc<|end|>ab", allowed_special="all") == [257, 258, 256]
    assert enc.n_vocab == 259 and enc.max_token_value == 258
    assert repr(enc) == "Encoding('tiny', n_vocab=259)"
    with pytest.raises(KeyError):
        _ = enc.eot_token  # no <|endoftext|> in this encoding


def test_encoding_copies_its_inputs():
    ranks = byte_ranks(b"ab")
    enc = npllm.Encoding("tiny", pat_str=npllm.GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={})
    ranks[b"abc"] = 999
    assert enc.encode("abc") == [256, ord("c")]
    enc.mergeable_ranks[b"abc"] = 999  # a copy: the encoding does not change
    assert enc.encode("abc") == [256, ord("c")]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"mergeable_ranks": {"a": 0}}, TypeError),  # str key, not bytes
        ({"mergeable_ranks": {b"a": "0"}}, TypeError),  # rank not an int
        ({"mergeable_ranks": {b"a": -1}}, (TypeError, ValueError)),
        ({"mergeable_ranks": {b"a": 0, b"b": 0}}, ValueError),  # two tokens, one rank
        ({"mergeable_ranks": [(b"a", 0)]}, TypeError),
        ({"special_tokens": {b"<|x|>": 300}}, TypeError),  # bytes key, not str
        ({"special_tokens": {"<|x|>": 65}}, ValueError),  # the ID of b"A"
        ({"special_tokens": {"<|x|>": 300, "<|y|>": 65}}, ValueError),  # b"A"'s ID, second in the dict
        ({"pat_str": r"(unclosed"}, ValueError),
        ({"pat_str": rb"\w+"}, TypeError),
        ({"explicit_n_vocab": 300}, ValueError),  # 256 + 1 tokens
        ({"explicit_n_vocab": 257, "special_tokens": {"<|x|>": 400}}, ValueError),  # a gap
    ],
)
def test_constructor_errors(kwargs, error):
    args = {"pat_str": npllm.GPT2_PATTERN, "mergeable_ranks": byte_ranks(), "special_tokens": {"<|x|>": 256}}
    args.update(kwargs)
    with pytest.raises(error):
        npllm.Encoding("bad", **args)


@pytest.mark.parametrize(
    ("ranks", "specials", "named"),
    [
        ({b"ab": 1 << 32}, {}, r"b'ab' the rank 4294967296"),
        ({b"ab": 1 << 40}, {}, "above 2\\*\\*32 - 1"),
        ({}, {"<|x|>": 1 << 32}, r"'<\|x\|>' has ID 4294967296"),
    ],
)
def test_ranks_and_ids_above_uint32_are_refused_as_tiktoken_refuses_them(ranks, specials, named):
    model = {"pat_str": npllm.GPT2_PATTERN, "mergeable_ranks": {**byte_ranks(), **ranks}, "special_tokens": specials}
    with pytest.raises(OverflowError, match=named) as info:
        npllm.Encoding("big", **model)
    assert isinstance(info.value, ValueError)  # TokenIdOutOfRange: both, as for a decoded ID
    with pytest.raises(OverflowError):  # tiktoken's constructor: its ranks are Rust u32
        tiktoken_module().Encoding("big", **model)
    largest = {**byte_ranks(), b"ab": (1 << 32) - 1}  # the largest uint32 is a rank like any other
    enc = npllm.Encoding("ok", pat_str=npllm.GPT2_PATTERN, mergeable_ranks=largest, special_tokens={})
    assert enc.encode("ab abab") == [(1 << 32) - 1, 32, (1 << 32) - 1, (1 << 32) - 1]


def test_constructor_name_must_be_str():
    with pytest.raises(TypeError):
        npllm.Encoding(None, pat_str=npllm.GPT2_PATTERN, mergeable_ranks=byte_ranks(), special_tokens={})


def test_constructor_explicit_n_vocab_that_fits():
    enc = npllm.Encoding(
        "ok",
        pat_str=npllm.GPT2_PATTERN,
        mergeable_ranks=byte_ranks(),
        special_tokens={"<|x|>": 256},
        explicit_n_vocab=257,
    )
    assert enc.n_vocab == 257


def test_missing_single_byte_is_an_error_when_met():
    ranks = {bytes([b]): b for b in range(256) if b != ord("z")}
    ranks[b"{"] = ord("z")  # keep the IDs dense: "{" moves to z's ID
    del ranks[b"{"]
    enc = npllm.Encoding("holey", pat_str=npllm.GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={})
    assert enc.encode("abc") == [97, 98, 99]
    with pytest.raises(ValueError, match="256"):
        enc.encode_ordinary("lazy")
