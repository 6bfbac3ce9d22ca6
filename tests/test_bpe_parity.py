"""npllm against tiktoken: the same token IDs, for gpt2 and cl100k_base, on every text.

Three kinds of text: real text (the standard library's source, which every Python
installation has, so these run offline: `prose_text`, 20,000 characters, and `large_text`,
1 MB), hostile text from hypothesis (many scripts, combining marks, emoji sequences, every
whitespace, digit runs, contractions in any case, special-token look-alikes, lone
surrogates), and long single pieces that take the heap merge path. Then the round trips:
decode(encode(s)) == s, and every token ID back through its bytes.

Hypothesis runs derandomized (a fixed seed), so a run is repeatable and CI sees what you see.
"""

import base64
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import tiktoken_encoding

import npllm
import npllm.data
from npllm.bpe.merge import LONG_PIECE

NAMES = ["gpt2", "cl100k_base"]

FIXED = settings(
    derandomize=True,
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MORE = settings(FIXED, max_examples=1000)
FEWER = settings(FIXED, max_examples=150)


# --- hostile text -----------------------------------------------------------------------------

LETTERS = (
    "abcxyzABCXYZ"
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœŒŁłŠšŽžİıĞğ"  # Latin with diacritics
    "ĂăÂâĐđÊêÔôƠơƯưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"  # Vietnamese
    "中文字的一是不了人我在有他这为之大来以个国日本語漢字ひらがなカタカナ한국어"  # CJK
    "العربيةمرحبا"  # Arabic
    "हिन्दीनमस्तेदेवनागरी"  # Devanagari
    "ΑλφαβητοЖжЯяЁёԱաשלוםกขค"  # Greek, Cyrillic, Armenian, Hebrew, Thai
    "ǅǈʰˆ々〆"  # titlecase and modifier letters
)
COMBINING = (
    "\u0300\u0301\u0302\u0303\u0308\u0323\u0327\u0345\u036f\u093c\u094d\u0651\u20dd\u20e3\ufe0f\ufe0e\u200d\u200c"
)
EMOJI = [
    "👍",
    "👍🏽",
    "👍🏿",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "❤️",
    "❤",
    "🧑🏽‍💻",
    "👩‍❤️‍💋‍👨",
    "🇫🇷",
    "🇺🇸🇬🇧",
    "1️⃣",
    "#️⃣",
    "😀",
    "🙂",
    "\U0001f9d1\u200d\U0001f91d\u200d\U0001f9d1",
    "☃",
    "©",
    "™",
]
DIGITS = "0123456789٠١٢٣٤٥٦٧٨٩०१२३४५६७८९０１２３²³¹¼½ⅫⅣ①⑩"  # Nd, No, Nl
CONTRACTIONS = [
    "'s",
    "'S",
    "'t",
    "'T",
    "'re",
    "'RE",
    "'Re",
    "'rE",
    "'ve",
    "'Ve",
    "'VE",
    "'m",
    "'M",
    "'ll",
    "'LL",
    "'Ll",
    "'lL",
    "'d",
    "'D",
    "'",
    "''",
    "'x",
    "’s",
    "’ll",
    "'\n",
    "' s",
]
WHITESPACE = [
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x1f",
    "\x85",
    "\xa0",
    "\u1680",
    "\u2000",
    "\u2003",
    "\u2009",
    "\u200b",
    "\u2028",
    "\u2029",
    "\u202f",
    "\u205f",
    "\u3000",
    "\ufeff",
    " \n",
    "\t\n ",
    "\r\n\r\n",
]
PUNCTUATION = "!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'«»¿¡—–…“”‘’·•€£¥§¶"
SPECIAL_LOOKALIKES = [
    "<|endoftext|>",
    "<|endof",
    "endoftext|>",
    "|>",
    "<|",
    "<|endoftext",
    "<|endoftext|",
    "<<|endoftext|>>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|endofprompt|>",
    "<|startoftext|>",
    "<|im_start|>",
    "<|ENDOFTEXT|>",
    "< |endoftext| >",
]

fragment = st.one_of(
    st.text(st.sampled_from(LETTERS), min_size=1, max_size=12),
    st.text(st.sampled_from(LETTERS + COMBINING), min_size=1, max_size=6),
    st.sampled_from(EMOJI),
    st.integers(1, 40).flatmap(lambda n: st.text(st.sampled_from("0123456789"), min_size=n, max_size=n)),
    st.text(st.sampled_from(DIGITS), min_size=1, max_size=8),
    st.sampled_from(CONTRACTIONS),
    st.lists(st.sampled_from(WHITESPACE), min_size=1, max_size=6).map("".join),
    st.text(st.sampled_from(PUNCTUATION), min_size=1, max_size=8),
    st.sampled_from(SPECIAL_LOOKALIKES),
)
hostile_text = st.lists(fragment, max_size=30).map("".join)

# Full Unicode, lone surrogates included (hypothesis leaves them out of st.text() by default).
any_char = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.characters(categories=["Cs"]),
)
unicode_text = st.text(any_char, max_size=60)


def outcome(encode):
    """encode()'s IDs, or the type of the error it raised: the two libraries must agree on both."""
    try:
        return encode()
    except (ValueError, TypeError) as e:
        return builtin_type(e)


def builtin_type(error: BaseException) -> type:
    """The built-in exception class an error is (npllm raises subclasses with more detail)."""
    return next(kind for kind in type(error).__mro__ if kind.__module__ == "builtins")


def check_parity(enc, ref, text):
    assert enc.encode_ordinary(text) == ref.encode_ordinary(text)
    assert enc.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")
    assert enc.encode(text, disallowed_special=()) == ref.encode(text, disallowed_special=())
    assert outcome(lambda: enc.encode(text)) == outcome(lambda: ref.encode(text))


# --- real text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["encode_ordinary", "encode"])
def test_real_text(pair, prose_text, method):
    enc, ref = pair
    ids = getattr(enc, method)(prose_text)
    assert ids == getattr(ref, method)(prose_text)
    assert enc.decode(ids) == prose_text


@pytest.mark.parametrize("method", ["encode_ordinary", "encode"])
def test_large_real_text(pair, large_text, method):
    enc, ref = pair
    ids = getattr(enc, method)(large_text)
    assert len(ids) > len(large_text) // 10
    assert ids == getattr(ref, method)(large_text)


def test_real_text_with_special_tokens(pair, stdlib_text):
    enc, ref = pair
    text = "<|endoftext|>".join(stdlib_text[:40_000].split("\n\n"))
    ids = enc.encode(text, allowed_special="all")
    assert ids == ref.encode(text, allowed_special="all")
    assert ids.count(enc.eot_token) == text.count("<|endoftext|>") > 100


# --- hostile text -----------------------------------------------------------------------------


TWINS = ["gpt2", "cl100k_base"]  # the two encodings the course uses, tested alike


@pytest.mark.parametrize("name", TWINS)
@MORE
@given(text=hostile_text)
def test_hostile_text(name, text):
    check_parity(npllm.get_encoding(name), tiktoken_encoding(name), text)


@pytest.mark.parametrize("name", TWINS)
@FIXED
@given(text=unicode_text)
def test_any_unicode(name, text):
    enc, ref = npllm.get_encoding(name), tiktoken_encoding(name)
    assert enc.encode_ordinary(text) == ref.encode_ordinary(text)
    assert enc.encode(text, disallowed_special=()) == ref.encode(text, disallowed_special=())


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("\ud800", "\ufffd"),  # a lone high surrogate
        ("\udfff", "\ufffd"),  # a lone low surrogate
        ("a\ud83db", "a\ufffdb"),
        ("\ud83d\ude00", "😀"),  # a valid pair written as two code points
        ("x\ude00\ud83d y", "x\ufffd\ufffd y"),  # a pair in the wrong order: two lone ones
        ("\ud83d\ude00\ud83d", "😀\ufffd"),
        ("hello \udc80 world<|endoftext|>", "hello \ufffd world<|endoftext|>"),
    ],
)
def test_lone_surrogates_are_replaced_as_tiktoken_does(pair, text, decoded):
    enc, ref = pair
    check_parity(enc, ref, text)
    assert enc.decode(enc.encode_ordinary(text)) == decoded
    assert enc.encode(text, allowed_special="all") == enc.encode(decoded, allowed_special="all")


def test_all_special_tokens_allowed(pair):
    enc, ref = pair
    specials = sorted(enc.special_tokens_set)
    text = "start " + " middle ".join(specials) + "<|endoftext|><|endoftext|>x" + "".join(specials) + " end"
    ids = enc.encode(text, allowed_special="all")
    assert ids == ref.encode(text, allowed_special="all")
    for token in specials:
        assert enc.encode_single_token(token) in ids
    assert enc.decode(ids) == text


# --- long pieces: the heap merge path ---------------------------------------------------------

rng = random.Random(1234)
LONG_TEXTS = {
    "x*5000": "x" * 5000,
    "space*5000": " " * 5000,
    "newline*3000": "\n" * 3000,
    "base64-20KB": base64.b64encode(rng.randbytes(15_000)).decode("ascii"),
    "digits*3000": "".join(rng.choice("0123456789") for _ in range(3000)),
    "one-digit*2000": "7" * 2000,
    "cjk*2000": "中" * 2000,
    "a-then-spaces": "a" + " " * 3000 + "b",
    "tabs-and-spaces": " \t" * 1500 + "z",
    "letters-no-spaces": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4000)),
    "accents*1000": "é" * 1000,
    "emoji*500": "👍🏽" * 500,
}


@pytest.mark.parametrize("key", list(LONG_TEXTS))
def test_long_pieces(pair, key):
    enc, ref = pair
    text = LONG_TEXTS[key]
    ids = enc.encode_ordinary(text)
    assert ids == ref.encode_ordinary(text)
    assert enc.decode(ids) == text


def test_long_texts_really_hold_long_pieces():
    """The long texts above are only a test of merge_long if the pattern keeps them whole."""
    enc = npllm.get_encoding("gpt2")
    for key in ["x*5000", "space*5000", "newline*3000", "one-digit*2000", "cjk*2000"]:
        pieces = enc._pattern.findall(LONG_TEXTS[key])
        assert max(len(p.encode("utf-8")) for p in pieces) >= LONG_PIECE, key


# --- hand-made ranks: the same rule on any vocabulary -----------------------------------------


def hand_made_pair(tokens: list[bytes]):
    """npllm and tiktoken encodings over the 256 bytes plus `tokens` (IDs 256.. in order)."""
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update((token, 256 + i) for i, token in enumerate(tokens))
    kwargs = dict(
        pat_str=npllm.GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 256 + len(tokens)}
    )
    ref = tiktoken_encoding("gpt2")  # skips or fails here when tiktoken is missing
    return npllm.Encoding("handmade", **kwargs), type(ref)("handmade", **kwargs)


@pytest.mark.parametrize("n", [10, 1000, 4095, 4096, 5000, 6001])
@pytest.mark.parametrize(
    "tokens", [[b"aaa", b"aa"], [b"aa", b"aaa"], [b"ab", b"aaab", b"aa"]], ids=["aaa<aa", "aa<aaa", "ab<aaab<aa"]
)
def test_hand_made_ranks_long_runs(tokens, n):
    """A vocabulary where a longer token can outrank its prefix (no trained vocabulary does
    that, but nothing forbids it): long runs must still follow tiktoken's rule."""
    enc, ref = hand_made_pair(tokens)
    for text in ["a" * n, ("aaab" * n)[:n]]:
        assert enc.encode_ordinary(text) == ref.encode_ordinary(text), (tokens, len(text), text[:8])


# --- round trips ------------------------------------------------------------------------------

no_surrogates = st.one_of(hostile_text, st.text(max_size=60))


@pytest.mark.parametrize("name", TWINS)
@FEWER
@given(text=no_surrogates)
def test_round_trip(name, text):
    enc = npllm.get_encoding(name)
    assert enc.decode(enc.encode(text, allowed_special="all")) == text
    assert enc.decode_bytes(enc.encode_ordinary(text)) == text.encode("utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_every_token_round_trips_through_its_bytes(name):
    enc, ref = npllm.get_encoding(name), tiktoken_encoding(name)
    for i in range(10_000):
        token = enc.decode_single_token_bytes(i)
        assert token == ref.decode_single_token_bytes(i)
        assert enc.encode_single_token(token) == i


@pytest.mark.parametrize("name", NAMES)
def test_special_tokens_round_trip_through_their_bytes(name):
    enc = npllm.get_encoding(name)
    for token in enc.special_tokens_set:
        i = enc.encode_single_token(token)
        assert enc.decode_single_token_bytes(i) == token.encode("utf-8")
        assert enc.encode_single_token(token.encode("utf-8")) == i


@pytest.mark.parametrize("text", ["🫠", "a🦩", "龘b", "👨‍👩‍👧", "𝔘𝔫𝔦"])  # each splits a char in all three
def test_decode_cut_inside_a_character(pair, text):
    enc, ref = pair
    ids = enc.encode(text)
    assert ids == ref.encode(text)
    cut = next(n for n in range(len(ids), 0, -1) if _ends_mid_char(enc.decode_bytes(ids[:n])))
    partial = ids[:cut]
    replaced = enc.decode(partial)  # errors="replace" is the default, as in tiktoken
    assert replaced.endswith("\ufffd")
    assert replaced == ref.decode(partial) == enc.decode(partial, errors="replace")
    with pytest.raises(UnicodeDecodeError):
        enc.decode(partial, errors="strict")
    with pytest.raises(UnicodeDecodeError):
        ref.decode(partial, errors="strict")
    assert enc.decode(partial, errors="ignore") == ref.decode(partial, errors="ignore")
    assert enc.decode_bytes(partial) == ref.decode_bytes(partial)


def _ends_mid_char(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_decode_cut_test_texts_do_split_characters():
    """At least one prefix of the multi-byte texts above ends inside a character (gpt2)."""
    enc = npllm.get_encoding("gpt2")
    ids = enc.encode("🙂")
    assert len(ids) > 1
    assert _ends_mid_char(enc.decode_bytes(ids[:1]))
