"""The rest of tiktoken's `Encoding` API, call for call against tiktoken 0.14: `encode_to_numpy`,
`encode_with_unstable`, `decode_with_offsets`, the batch decoders, `token_byte_values`,
`is_special_token`, the underscored encoders people call, and the error type of every decoder
for every kind of bad ID.

Each test makes the same call on npllm and on tiktoken (gpt2, cl100k_base, o200k_base) and
compares. Where npllm deliberately differs (tiktoken panics, or raises where `encode` would fix
the text up), the test says so and checks npllm's behaviour on its own.
"""

import inspect

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import tiktoken_encoding

import npllm

NAMES = ["gpt2", "cl100k_base", "o200k_base"]
EOT = "<|endoftext|>"

FIXED = settings(derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module", params=NAMES)
def both(request):
    """(npllm encoding, tiktoken encoding) of the same name."""
    return npllm.get_encoding(request.param), tiktoken_encoding(request.param)


def builtin_type(error: BaseException) -> type:
    """The built-in exception class an error is (npllm raises subclasses with more detail)."""
    return next(kind for kind in type(error).__mro__ if kind.__module__ == "builtins")


def outcome(call):
    """The call's result, or the built-in type of the error it raised."""
    try:
        return call()
    except Exception as e:  # not BaseException: a tiktoken panic must fail the test
        return builtin_type(e)


def as_set(completions) -> set[tuple[int, ...]]:
    return set(map(tuple, completions))


# --- the whole API is there -------------------------------------------------------------------


def test_every_tiktoken_method_exists_with_its_signature():
    tiktoken_class = type(tiktoken_encoding("gpt2"))
    names = [n for n in vars(tiktoken_class) if not n.startswith("__")]
    assert {"encode_to_numpy", "encode_with_unstable", "_encode_bytes"} <= set(names)  # the list is real
    for name in names:
        assert hasattr(npllm.Encoding, name), name
        theirs = vars(tiktoken_class)[name]
        if inspect.isfunction(theirs):
            ours = inspect.signature(getattr(npllm.Encoding, name)).parameters.values()
            expected = inspect.signature(theirs).parameters.values()
            # names, kinds and defaults (set() == frozenset(): both empty)
            assert [(p.name, p.kind, p.default) for p in ours] == [(p.name, p.kind, p.default) for p in expected], name


def test_instance_attributes_tiktoken_has(both):
    enc, ref = both
    names = ["name", "max_token_value", "_pat_str", "_mergeable_ranks", "_special_tokens"]
    for name in names + ["_special_token_values"]:  # (a frozenset here, a set there: equal)
        assert getattr(enc, name) == getattr(ref, name), name


# --- encode_to_numpy --------------------------------------------------------------------------

TEXTS = [
    "",
    "hello world",
    "Hello, do you like tea? In the sunlit terraces of the palace.",
    "naïve café, 中文字符, Привет мир, 🙂👨‍👩‍👧 and 12345678",
    "def f(x):\n    return x ** 2  # square\n\n\n",
    "   leading and trailing   ",
    "x" * 500,
]


@pytest.mark.parametrize("text", TEXTS)
def test_encode_to_numpy_matches_tiktoken(both, text):
    enc, ref = both
    ids = enc.encode_to_numpy(text)
    expected = ref.encode_to_numpy(text)
    assert ids.dtype == np.uint32 and ids.shape == expected.shape == (len(enc.encode(text)),)
    assert ids.tolist() == expected.tolist() == enc.encode(text)


@pytest.mark.parametrize("kwargs", [{"allowed_special": "all"}, {"allowed_special": {EOT}}, {"disallowed_special": ()}])
def test_encode_to_numpy_special_tokens(both, kwargs):
    enc, ref = both
    text = f"{EOT}hello {EOT} world{EOT}"
    assert enc.encode_to_numpy(text, **kwargs).tolist() == ref.encode_to_numpy(text, **kwargs).tolist()
    assert enc.encode_to_numpy(text, **kwargs).tolist() == enc.encode(text, **kwargs)


def test_encode_to_numpy_refuses_special_text_like_tiktoken(both):
    enc, ref = both
    with pytest.raises(ValueError, match="endoftext"):
        enc.encode_to_numpy(f"a {EOT}")
    with pytest.raises(ValueError):
        ref.encode_to_numpy(f"a {EOT}")


def test_encode_to_numpy_lone_surrogate_as_encode(gpt2):
    """tiktoken's encode_to_numpy raises UnicodeEncodeError here; npllm fixes the text up as
    `encode` does (the surrogate becomes U+FFFD), so encode_to_numpy(s) == encode(s) always."""
    text = "a\ud800b"
    assert gpt2.encode_to_numpy(text).tolist() == gpt2.encode(text) == tiktoken_encoding("gpt2").encode(text)


def test_encode_to_numpy_is_a_writable_array_of_its_own(gpt2):
    first = gpt2.encode_to_numpy("hello world")
    first[0] = 7  # tiktoken's array is read-only; this one may be changed...
    assert gpt2.encode_to_numpy("hello world").tolist() == [31373, 995]  # ...without touching the cache


def test_encode_to_numpy_real_text(both, prose_text):
    enc, ref = both
    assert np.array_equal(enc.encode_to_numpy(prose_text), ref.encode_to_numpy(prose_text))


# --- encode_with_unstable ---------------------------------------------------------------------

# Texts that end in a partial word, a space, a run of whitespace, a character cut into byte
# tokens (龘, 🦩), digits, a contraction, a special token. The ones whose tail opens onto every
# token that starts with a space are the slow ones (~0.1-0.6 s): a few, on gpt2 and cl100k.
UNSTABLE_TEXTS = [
    "",
    "hello fanta",
    "hello",
    "HELLO wor",
    "naïve ca",
    "Привет ми",
    "中文字",
    "龘",
    "a🦩",
    "hello 🙂",
    "a\u3000",
    "x\r\n",
    "a\n\n",
    "hello world\n\n",
    "def f(x):\n    return x",
    "x = [1, 2, 3",
    "1234567",
    "don't",
    "I'",
    "café",
    "\n",
    "a<|endoftext|>",
    "a<|endoftext|> b",
]
SLOW_UNSTABLE_TEXTS = ["hello ", " ", "def f(x):\n  "]


def check_unstable(enc, ref, text, **kwargs):
    stable, completions = enc.encode_with_unstable(text, **kwargs)
    ref_stable, ref_completions = ref.encode_with_unstable(text, **kwargs)
    assert stable == ref_stable
    assert as_set(completions) == as_set(ref_completions)
    assert len(completions) == len(ref_completions)  # no duplicates
    assert completions == sorted(completions)  # tiktoken's order is a hash set's: sorted here
    text_bytes = text.encode("utf-8")
    assert text_bytes.startswith(enc.decode_bytes(stable))
    for seq in completions:  # tiktoken's promise: each completion spells the text, then maybe more
        assert enc.decode_bytes(stable + seq).startswith(text_bytes)


@pytest.mark.parametrize("text", UNSTABLE_TEXTS)
def test_encode_with_unstable_matches_tiktoken(both, text):
    enc, ref = both
    check_unstable(enc, ref, text, allowed_special="all")


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base"])
@pytest.mark.parametrize("text", SLOW_UNSTABLE_TEXTS)
def test_encode_with_unstable_trailing_whitespace(name, text):
    check_unstable(npllm.get_encoding(name), tiktoken_encoding(name), text)


def test_encode_with_unstable_known_answer(gpt2):
    stable, completions = gpt2.encode_with_unstable("hello fanta")
    assert stable == [31373]  # "hello"; " f" + "anta" stay open
    assert len(completions) == 1432
    assert completions[0] == [277, 4910]  # " f" + "anta", the text as it stands
    assert [9623] in completions and [8842] in completions  # " fantastic", " fantasy"


def test_encode_with_unstable_is_deterministic(cl100k):
    assert cl100k.encode_with_unstable("hello fanta") == cl100k.encode_with_unstable("hello fanta")


def test_encode_with_unstable_widens_over_whitespace(cl100k):
    """The last piece " " starts with a blank token, so the blank "\\n\\n" before it is open too."""
    assert cl100k.encode("a\n\n ") == [64, 271, 220]
    stable, completions = cl100k.encode_with_unstable("a\n\n ")
    assert stable == [64] == tiktoken_encoding("cl100k_base").encode_with_unstable("a\n\n ")[0]
    assert [271, 220] in completions


def test_encode_with_unstable_special_tokens(both):
    enc, ref = both
    assert enc.encode_with_unstable(EOT, allowed_special="all") == ([enc.eot_token], [])
    assert ref.encode_with_unstable(EOT, allowed_special="all") == ([enc.eot_token], [])
    with pytest.raises(ValueError):
        enc.encode_with_unstable(f"a {EOT}")
    with pytest.raises(ValueError):
        ref.encode_with_unstable(f"a {EOT}")
    check_unstable(enc, ref, f"a {EOT} b", disallowed_special=())


def test_encode_with_unstable_token_no_merge_makes():
    """b"xyz" is a token, b"xy" and b"yz" are not: only a whole-piece lookup finds it, never
    the merge loop. tiktoken looks whole pieces up in `encode` but not in step 3 of
    encode_with_unstable (a tail ending in whitespace, its last character merged apart), so
    [256, 32] is no completion of "xyz " there; nor here."""
    ranks = {bytes([b]): b for b in range(256)} | {b"xyz": 256}
    model = {"pat_str": r"[^\n]+|\n", "mergeable_ranks": ranks, "special_tokens": {EOT: 257}}
    enc = npllm.Encoding("xyz", **model)
    ref = type(tiktoken_encoding("gpt2"))("xyz", **model)
    assert enc.encode("xyz") == ref.encode("xyz") == [256]
    assert enc.encode_with_unstable("xyz ") == ([], [[120, 121, 122, 32]]) == ref.encode_with_unstable("xyz ")
    for text in ["xyz", "xy", "axyz\u3000", "xyz \n"]:
        check_unstable(enc, ref, text)
    for data in [b"xyz\xff", b"xy\xff", b"\xffxyz"]:
        assert enc._encode_bytes(data) == ref._encode_bytes(data)


def test_encode_with_unstable_lone_surrogate_as_encode(gpt2):
    """tiktoken raises UnicodeEncodeError; npllm first turns the surrogate into U+FFFD, as encode does."""
    ref = tiktoken_encoding("gpt2")
    with pytest.raises(UnicodeEncodeError):
        ref.encode_with_unstable("ok\ud800")
    stable, completions = gpt2.encode_with_unstable("ok\ud800")
    ref_stable, ref_completions = ref.encode_with_unstable("ok\ufffd")
    assert stable == ref_stable and as_set(completions) == as_set(ref_completions)


# --- decoding ---------------------------------------------------------------------------------

OFFSET_TEXTS = [
    "hello world",
    "hé 🙂 中文",
    "中文",
    "é🙂",
    "a🦩b",
    "👨‍👩‍👧",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "e\u0301\u0302x",
    "",
    f"x{EOT}é",
]


@pytest.mark.parametrize("text", OFFSET_TEXTS)
def test_decode_with_offsets_matches_tiktoken(both, text):
    enc, ref = both
    ids = enc.encode(text, allowed_special="all")
    decoded, offsets = enc.decode_with_offsets(ids)
    assert (decoded, offsets) == ref.decode_with_offsets(ids)
    assert decoded == text and len(offsets) == len(ids)


def test_decode_with_offsets_known_answer(gpt2):
    assert gpt2.decode_with_offsets([31373, 995]) == ("hello world", [0, 5])
    # "中文" = b"\xe4\xb8\xad" + b"\xe6\x96" + b"\x87": the last token starts inside "文"
    assert gpt2.decode_tokens_bytes([40792, 23877, 229]) == [b"\xe4\xb8\xad", b"\xe6\x96", b"\x87"]
    assert gpt2.decode_with_offsets([40792, 23877, 229]) == ("中文", [0, 1, 1])


def test_decode_with_offsets_invalid_utf8_raises_like_tiktoken(both):
    enc, ref = both
    partial = enc.encode("🦩")[:1]  # three tokens in all three encodings
    assert enc.decode_bytes(partial) == ref.decode_bytes(partial) and len(enc.decode_bytes(partial)) < 4
    with pytest.raises(UnicodeDecodeError):
        enc.decode_with_offsets(partial)
    with pytest.raises(UnicodeDecodeError):
        ref.decode_with_offsets(partial)


BATCH = [[], [31373, 995], [50256], [31373, 220, 8582], [220] * 5]  # gpt2; [..., 8582]: half an emoji


@pytest.mark.parametrize("errors", ["replace", "ignore", "backslashreplace"])
def test_decode_batch_matches_tiktoken(gpt2, errors):
    ref = tiktoken_encoding("gpt2")
    out = gpt2.decode_batch(BATCH, errors=errors)
    assert out == ref.decode_batch(BATCH, errors=errors)
    assert out == [gpt2.decode(ids, errors=errors) for ids in BATCH] and out[1] == "hello world"
    assert gpt2.decode_batch(BATCH, errors=errors, num_threads=1) == out


def test_decode_bytes_batch_matches_tiktoken(both):
    enc, ref = both
    batch = [enc.encode(t, allowed_special="all") for t in TEXTS + [EOT]] + [enc.encode("🦩")[:1]]
    out = enc.decode_bytes_batch(batch)
    assert out == ref.decode_bytes_batch(batch)
    assert out[:-1] == [t.encode() for t in TEXTS + [EOT]]
    assert enc.decode_bytes_batch([]) == ref.decode_bytes_batch([]) == []


def test_decode_batch_strict_errors(gpt2):
    with pytest.raises(UnicodeDecodeError):
        gpt2.decode_batch(BATCH, errors="strict")
    with pytest.raises(UnicodeDecodeError):
        tiktoken_encoding("gpt2").decode_batch(BATCH, errors="strict")


@pytest.mark.parametrize("num_threads", [0, -1])
def test_batch_decoders_refuse_no_threads_like_tiktoken(gpt2, num_threads):
    ref = tiktoken_encoding("gpt2")
    for method in ["decode_batch", "decode_bytes_batch"]:
        with pytest.raises(ValueError):
            getattr(gpt2, method)([[1]], num_threads=num_threads)
        with pytest.raises(ValueError):
            getattr(ref, method)([[1]], num_threads=num_threads)


# --- error types of every decoder -------------------------------------------------------------

DECODERS = {
    "decode": lambda enc, ids: enc.decode(ids),
    "decode_bytes": lambda enc, ids: enc.decode_bytes(ids),
    "decode_tokens_bytes": lambda enc, ids: enc.decode_tokens_bytes(ids),
    "decode_with_offsets": lambda enc, ids: enc.decode_with_offsets(ids),
    "decode_batch": lambda enc, ids: enc.decode_batch([[31373], ids]),
    "decode_bytes_batch": lambda enc, ids: enc.decode_bytes_batch([[31373], ids]),
    "decode_single_token_bytes": lambda enc, ids: [enc.decode_single_token_bytes(t) for t in ids],
}
UNKNOWN = 10**6  # in uint32 range, in no vocabulary here
BAD_IDS = {
    "negative": ([-1], OverflowError),
    "2**32": ([2**32], OverflowError),
    "2**64": ([2**64], OverflowError),
    "10**30": ([10**30], OverflowError),
    "numpy negative": ([np.int64(-5)], OverflowError),
    "2**32-1": ([2**32 - 1], KeyError),
    "unknown": ([UNKNOWN], KeyError),
    "float": ([1.0], TypeError),
    "str": (["1"], TypeError),
    "None": ([None], TypeError),
    "unknown then negative": ([UNKNOWN, -1], None),  # per token: KeyError; whole list first: OverflowError
    "unknown then float": ([UNKNOWN, 1.0], None),
    "negative then float": ([-1, 1.0], OverflowError),
    "float then negative": ([1.0, -1], TypeError),
}


@pytest.mark.parametrize("case", BAD_IDS)
@pytest.mark.parametrize("method", DECODERS)
def test_decoder_error_types_match_tiktoken(method, case):
    enc, ref = npllm.get_encoding("cl100k_base"), tiktoken_encoding("cl100k_base")
    ids, expected = BAD_IDS[case]
    ids = [31373] + ids  # a good ID first: the error is about the bad one
    ours = outcome(lambda: DECODERS[method](enc, ids))
    assert isinstance(ours, type) and ours == outcome(lambda: DECODERS[method](ref, ids))
    if expected is not None:
        assert ours is expected


@pytest.mark.parametrize("bad", [-1, 2**32, UNKNOWN])
def test_decoder_errors_name_the_id(cl100k, bad):
    for method in ["decode", "decode_bytes", "decode_batch", "decode_single_token_bytes"]:
        with pytest.raises((OverflowError, KeyError), match=str(bad)):
            DECODERS[method](cl100k, [31373, bad])


def test_out_of_range_id_is_an_overflow_error_and_a_value_error(gpt2):
    """tiktoken's type, and npllm's usual one for bad input (the CLI's handler catches it)."""
    with pytest.raises(OverflowError) as info:
        gpt2.decode([31373, 2**32])
    assert isinstance(info.value, ValueError)
    assert "4294967296" in str(info.value) and "'gpt2'" in str(info.value)


def test_bools_and_numpy_ints_are_ids(both):
    enc, ref = both
    hello, world = enc.encode("hello world")
    ids = [True, np.int64(hello), np.uint32(world)]  # True is ID 1
    assert enc.decode_bytes(ids) == ref.decode_bytes(ids) == enc.decode_bytes([1, hello, world])
    assert enc.decode_with_offsets(ids) == ref.decode_with_offsets(ids)


def test_zero_dimensional_arrays_are_ids(gpt2):
    """A 0-d NumPy array has __index__ but is no dict key: tiktoken reads it, so does npllm."""
    ids = [np.array(31373), np.array(995)]
    assert gpt2.decode(ids) == tiktoken_encoding("gpt2").decode(ids) == "hello world"
    assert gpt2.decode_single_token_bytes(np.array(995)) == b" world"
    with pytest.raises(KeyError, match="50257"):
        gpt2.decode([np.array(31373), np.array(50257)])


# --- vocabulary -------------------------------------------------------------------------------


def test_token_byte_values_matches_tiktoken(both):
    enc, ref = both
    values = enc.token_byte_values()
    assert values == ref.token_byte_values()
    assert len(values) == len(enc._mergeable_ranks) and values == sorted(values)
    values.clear()  # a fresh list each call
    assert len(enc.token_byte_values()) == len(enc._mergeable_ranks)


def test_is_special_token_matches_tiktoken(both):
    enc, ref = both
    ids = sorted(ref._special_tokens.values())
    ids += [0, 1, 31373, enc.max_token_value, enc.n_vocab, 2**40, -1, True]
    assert [enc.is_special_token(i) for i in ids] == [ref.is_special_token(i) for i in ids]
    assert enc.is_special_token(enc.eot_token) and not enc.is_special_token(0)


def test_is_special_token_needs_an_int(gpt2):
    """tiktoken asserts isinstance(token, int) (an AssertionError, gone under python -O);
    npllm raises TypeError, and takes NumPy integers too."""
    with pytest.raises(TypeError):
        gpt2.is_special_token(50256.0)
    with pytest.raises(TypeError):
        gpt2.is_special_token("50256")
    assert gpt2.is_special_token(np.int64(50256))


# --- tiktoken's underscored encoders ----------------------------------------------------------

BYTES = [
    b"",
    b"hello world",
    b"\xff",
    b"\xffabc",
    b"abc\xff",
    b"hello \xe4\xb8",  # "中" cut after two of its three bytes
    b"hello \xe4\xb8 world",
    b"hello\x80world",
    b"  \xff",
    b"a\n\n \xff",
    b"caf\xc3",
    b"\xed\xa0\x80x",  # an encoded surrogate: not UTF-8
    b"\xc0\xaf",  # an overlong "/"
    "naïve 中文 🙂".encode()[:-1],
]


@pytest.mark.parametrize("data", BYTES)
def test_encode_bytes_matches_tiktoken(both, data):
    enc, ref = both
    assert enc._encode_bytes(data) == ref._encode_bytes(data)
    assert enc.decode_bytes(enc._encode_bytes(data)) == data


def test_encode_bytes_of_every_cut(both, prose_text):
    """Every prefix of a text with multi-byte characters, most of them cut inside one."""
    enc, ref = both
    data = (prose_text[:200] + " naïve café 中文 🙂👍🏽 Привет").encode()
    for end in range(0, len(data), 3):
        assert enc._encode_bytes(data[:end]) == ref._encode_bytes(data[:end]), end


def test_encode_bytes_known_answer(gpt2):
    assert gpt2._encode_bytes(b"hello \xe4\xb8") == [31373, 220, 10310]
    assert gpt2._encode_bytes(b"\xffabc") == [187, 39305]
    with pytest.raises(TypeError):
        gpt2._encode_bytes("hello")  # a str: tiktoken refuses it too
    with pytest.raises(TypeError):
        tiktoken_encoding("gpt2")._encode_bytes("hello")


@pytest.mark.parametrize("piece", ["helloqqqq", "hello world", " fantastic", "a" * 200, b"\xff\xfe", "中文🙂"])
def test_encode_single_piece_matches_tiktoken(both, piece):
    enc, ref = both
    assert enc._encode_single_piece(piece) == ref._encode_single_piece(piece)


def test_encode_single_piece_known_answer(gpt2):
    assert gpt2._encode_single_piece("helloqqqq") == [31373, 38227, 38227]
    assert gpt2._encode_single_piece("hello world") == [31373, 995]  # no split: one piece


@pytest.mark.parametrize("empty", ["", b""])
def test_encode_single_piece_empty_is_a_value_error(gpt2, empty):
    """tiktoken panics on an empty piece (pyo3's PanicException, a BaseException)."""
    with pytest.raises(ValueError, match="empty"):
        gpt2._encode_single_piece(empty)
    with pytest.raises(BaseException):  # noqa: B017 (the panic type is not importable)
        tiktoken_encoding("gpt2")._encode_single_piece(empty)


@pytest.mark.parametrize("text", TEXTS + ["<|endoftext|> x"])
def test_encode_only_native_bpe_matches_tiktoken(both, text):
    enc, ref = both
    assert enc._encode_only_native_bpe(text) == ref._encode_only_native_bpe(text) == enc.encode_ordinary(text)


def test_encode_only_native_bpe_lone_surrogate_raises_like_tiktoken(gpt2):
    with pytest.raises(UnicodeEncodeError):
        gpt2._encode_only_native_bpe("a\ud800")
    with pytest.raises(UnicodeEncodeError):
        tiktoken_encoding("gpt2")._encode_only_native_bpe("a\ud800")


def test_new_methods_survive_pickling(cl100k):
    import pickle

    clone = pickle.loads(pickle.dumps(cl100k))
    text = f"hello fanta {EOT} 中文"
    ids = cl100k.encode(text, allowed_special="all")
    assert clone.encode_to_numpy(text, allowed_special="all").tolist() == ids
    assert clone.encode_with_unstable("hello fanta") == cl100k.encode_with_unstable("hello fanta")
    assert clone.token_byte_values() == cl100k.token_byte_values()
    assert clone.is_special_token(100257) and not clone.is_special_token(100256)


# --- properties on random text ----------------------------------------------------------------

# No lone surrogates (codec="utf-8"): tiktoken refuses them in some of these calls.
any_text = st.text(st.characters(codec="utf-8"), max_size=40)
fragment = st.one_of(
    st.text(st.sampled_from("abcxyzABC éüß中文字Жж"), min_size=1, max_size=8),
    st.sampled_from(["🙂", "👍🏽", "龘", "🦩", "'s", "'LL", "123", "4567", "!!", "...", "\u3000", "\xa0"]),
    st.sampled_from(["\r\n", "\t"]),
    st.sampled_from([" ", "\n", "  "]),
)
# Texts whose last fragment is never plain whitespace: a text ending in spaces opens its tail
# onto every token that starts with a space (tens of thousands, ~0.1 s each); the fixed cases
# above cover those.
last_fragment = st.sampled_from(["a", "xy", "中", "🙂", "é", "1", "!", "\u3000"])
fragment_text = st.tuples(st.lists(fragment, max_size=8), last_fragment).map(lambda p: "".join(p[0]) + p[1])


@pytest.mark.parametrize("name", NAMES)
@FIXED
@given(text=any_text)
def test_property_encode_to_numpy_is_encode(name, text):
    enc = npllm.get_encoding(name)
    ids = enc.encode_to_numpy(text, disallowed_special=())
    assert ids.dtype == np.uint32 and ids.tolist() == enc.encode(text, disallowed_special=())
    assert ids.tolist() == tiktoken_encoding(name).encode_to_numpy(text, disallowed_special=()).tolist()


@pytest.mark.parametrize("name", NAMES)
@FIXED
@given(text=any_text)
def test_property_decode_with_offsets(name, text):
    enc, ref = npllm.get_encoding(name), tiktoken_encoding(name)
    ids = enc.encode_ordinary(text)
    decoded, offsets = enc.decode_with_offsets(ids)
    assert (decoded, offsets) == ref.decode_with_offsets(ids)
    assert decoded == text and offsets == sorted(offsets) and all(0 <= o <= len(text) for o in offsets)


@pytest.mark.parametrize("name", NAMES)
@settings(FIXED, max_examples=60)
@given(ids=st.lists(st.integers(0, 50255), max_size=6))
def test_property_decode_with_offsets_any_ids(name, ids):
    """Random IDs often cut characters: the same offsets, or the same UnicodeDecodeError."""
    enc, ref = npllm.get_encoding(name), tiktoken_encoding(name)
    assert outcome(lambda: enc.decode_with_offsets(ids)) == outcome(lambda: ref.decode_with_offsets(ids))


@pytest.mark.parametrize("name", NAMES)
@settings(FIXED, max_examples=25)
@given(text=fragment_text)
def test_property_encode_with_unstable(name, text):
    check_unstable(npllm.get_encoding(name), tiktoken_encoding(name), text)


@pytest.mark.parametrize("name", NAMES)
@settings(FIXED, max_examples=100)
@given(data=st.binary(max_size=24) | any_text.map(lambda s: s.encode()[:-1]))
def test_property_encode_bytes(name, data):
    enc = npllm.get_encoding(name)
    assert enc._encode_bytes(data) == tiktoken_encoding(name)._encode_bytes(data)
    assert enc.decode_bytes(enc._encode_bytes(data)) == data
