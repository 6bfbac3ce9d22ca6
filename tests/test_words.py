"""Step 1, the word tokenizer: the course's known answers on The Verdict, a cross-check of
split_words against the course's own expression, and round-trip properties (on a vocabulary
built from `prose_text`, real text that every Python installation has)."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import npllm
from npllm.words import ENDOFTEXT, UNK, SimpleTokenizerV1, SimpleTokenizerV2, build_vocab, split_words

SPECIALS = [ENDOFTEXT, UNK]


def course_split(text):
    """The course's expression, written out exactly as in chapter 2."""
    return [p.strip() for p in re.split(r'([,.:;?_!"()\']|--|\s)', text) if p.strip()]


@pytest.fixture(scope="module")
def verdict_words(verdict_text):
    return split_words(verdict_text)


@pytest.fixture(scope="module")
def vocab_v1(verdict_words):
    return build_vocab(verdict_words)


@pytest.fixture(scope="module")
def vocab_v2(verdict_words):
    return build_vocab(verdict_words, special_tokens=SPECIALS)


@pytest.fixture(scope="module")
def v1(vocab_v1):
    return SimpleTokenizerV1(vocab_v1)


@pytest.fixture(scope="module")
def v2(vocab_v2):
    return SimpleTokenizerV2(vocab_v2)


@pytest.fixture(scope="module")
def prose_vocab_v1(prose_text):
    return build_vocab(split_words(prose_text))


@pytest.fixture(scope="module")
def prose_vocab_v2(prose_text):
    return build_vocab(split_words(prose_text), special_tokens=SPECIALS)


# --- known answers on The Verdict ------------------------------------------------------------


def test_verdict_has_20479_characters(verdict_text):
    assert len(verdict_text) == 20_479


def test_split_words_verdict_gives_4690_pieces(verdict_words):
    assert len(verdict_words) == 4_690
    assert verdict_words[:12] == [
        "I",
        "HAD",
        "always",
        "thought",
        "Jack",
        "Gisburn",
        "rather",
        "a",
        "cheap",
        "genius",
        "--",
        "though",
    ]


def test_split_words_small_known_answer():
    assert split_words("Hello, world. Is this-- a test?") == [
        "Hello",
        ",",
        "world",
        ".",
        "Is",
        "this",
        "--",
        "a",
        "test",
        "?",
    ]
    assert split_words("") == []
    assert split_words(" \n\t ") == []


def test_vocab_v1_known_ids(vocab_v1):
    assert len(vocab_v1) == 1_130
    assert vocab_v1["!"] == 0
    assert vocab_v1['"'] == 1
    assert vocab_v1["HAD"] == 44
    assert vocab_v1["the"] == 988
    assert vocab_v1["you"] == 1126
    assert vocab_v1["yourself"] == 1129


def test_vocab_v2_appends_specials(vocab_v1, vocab_v2):
    assert len(vocab_v2) == 1_132
    assert vocab_v2[ENDOFTEXT] == 1130
    assert vocab_v2[UNK] == 1131
    # the words keep their V1 IDs; only the two specials are new
    assert {w: i for w, i in vocab_v2.items() if w not in SPECIALS} == vocab_v1


SENTENCE = """"It's the last he painted, you know," \n           Mrs. Gisburn said with pardonable pride."""
SENTENCE_IDS = [1, 56, 2, 850, 988, 602, 533, 746, 5, 1126, 596, 5, 1, 67, 7, 38, 851, 1108, 754, 793, 7]


def test_v1_encodes_the_course_sentence(v1):
    assert SENTENCE.count("\n") == 1 and " " * 11 + "Mrs." in SENTENCE
    assert v1.encode(SENTENCE) == SENTENCE_IDS


def test_v1_decodes_the_course_sentence(v1):
    text = v1.decode(SENTENCE_IDS)
    assert text == '" It\' s the last he painted, you know," Mrs. Gisburn said with pardonable pride.'
    assert v1.encode(text) == SENTENCE_IDS


def test_v1_unknown_word_is_a_keyerror_naming_it(v1):
    with pytest.raises(KeyError, match="Hello"):
        v1.encode("Hello, do you like tea. Is this-- a test?")


V2_TEXT = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of the palace."
V2_IDS = [1131, 5, 355, 1126, 628, 975, 10, 1130, 55, 988, 956, 984, 722, 988, 1131, 7]


def test_v2_encodes_unknown_words_as_unk(v2):
    assert v2.encode(V2_TEXT) == V2_IDS


def test_v2_decodes_with_unk(v2):
    assert v2.decode(V2_IDS) == "<|unk|>, do you like tea? <|endoftext|> In the sunlit terraces of the <|unk|>."


def test_v2_agrees_with_v1_on_known_words(v1, v2):
    assert v2.encode(SENTENCE) == v1.encode(SENTENCE) == SENTENCE_IDS


# --- split_words ------------------------------------------------------------------------------

# Punctuation the split knows, punctuation it does not, several kinds of whitespace
# (including Unicode ones), letters, and anything else.
TEXT_CHARS = st.one_of(
    st.sampled_from(list(",.:;?_!\"()'-") + [" ", "\n", "\t", "\r", "\x0b", "\u00a0", "\u2003", "\u3000"]),
    st.sampled_from(list("aZé<|>")),
    st.characters(),
)


@given(st.text(alphabet=TEXT_CHARS, max_size=60))
def test_split_words_equals_the_course_expression(text):
    assert split_words(text) == course_split(text)


@settings(max_examples=50)
@given(st.text(alphabet=TEXT_CHARS, max_size=60))
def test_split_words_pieces_are_nonempty_and_stripped(text):
    assert all(piece and piece == piece.strip() for piece in split_words(text))


def test_split_words_keeps_special_tokens_whole():
    assert split_words(f"tea? {ENDOFTEXT} In") == ["tea", "?", ENDOFTEXT, "In"]


@pytest.mark.parametrize("bad", [None, b"bytes", 3, ["a", "b"]])
def test_split_words_rejects_non_str(bad):
    with pytest.raises(TypeError, match="str"):
        split_words(bad)


# --- build_vocab ------------------------------------------------------------------------------


def test_build_vocab_docstring_example():
    assert build_vocab(["b", "a", "b"], special_tokens=[UNK]) == {"a": 0, "b": 1, UNK: 2}


@given(
    st.lists(st.text(max_size=4), max_size=30),
    st.lists(st.text(min_size=1, max_size=4).map(lambda s: "<|" + s + "|>"), max_size=4, unique=True),
)
def test_build_vocab_is_sorted_set_then_specials(tokens, specials):
    specials = [s for s in specials if s not in tokens]
    expected = {w: i for i, w in enumerate(sorted(set(tokens)) + specials)}
    assert build_vocab(tokens, special_tokens=specials) == expected
    assert build_vocab(iter(tokens), special_tokens=iter(specials)) == expected  # any iterables


@settings(max_examples=50)
@given(st.lists(st.sampled_from(list("abc") + SPECIALS), max_size=10), st.lists(st.sampled_from(SPECIALS), max_size=4))
def test_build_vocab_ids_are_dense_and_unique(tokens, specials):
    vocab = build_vocab(tokens, special_tokens=specials)
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert set(vocab) == set(tokens) | set(specials)


def test_build_vocab_does_not_repeat_a_special_already_present():
    vocab = build_vocab(["a", UNK], special_tokens=[ENDOFTEXT, UNK, ENDOFTEXT])
    assert vocab == {"<|unk|>": 0, "a": 1, ENDOFTEXT: 2}


def test_build_vocab_rejects_a_str():
    with pytest.raises(TypeError, match="split_words"):
        build_vocab("some text")


# --- tokenizers: construction, decode spacing, errors -------------------------------------------

PUNCT = [",", ".", "?", "!", '"', "(", ")", "'", ":", ";"]


@pytest.fixture(scope="module")
def tiny_vocab():
    return build_vocab(["a"] + PUNCT, special_tokens=SPECIALS)


@pytest.mark.parametrize("mark", [",", ".", "?", "!", '"', "(", ")", "'"])
def test_v1_and_v2_decode_remove_the_space_before_punctuation(tiny_vocab, mark):
    ids = [tiny_vocab["a"], tiny_vocab[mark]]
    assert SimpleTokenizerV1(tiny_vocab).decode(ids) == "a" + mark
    assert SimpleTokenizerV2(tiny_vocab).decode(ids) == "a" + mark


@pytest.mark.parametrize("mark", [":", ";"])
def test_only_v2_decode_removes_the_space_before_colon_and_semicolon(tiny_vocab, mark):
    ids = [tiny_vocab["a"], tiny_vocab[mark]]
    assert SimpleTokenizerV1(tiny_vocab).decode(ids) == "a " + mark
    assert SimpleTokenizerV2(tiny_vocab).decode(ids) == "a" + mark


def test_decode_keeps_the_space_before_other_pieces(tiny_vocab):
    tok = SimpleTokenizerV2(tiny_vocab)
    assert tok.decode([tiny_vocab["a"], tiny_vocab[ENDOFTEXT], tiny_vocab["a"]]) == f"a {ENDOFTEXT} a"
    assert tok.decode([]) == ""


def test_v2_needs_unk():
    with pytest.raises(ValueError, match=re.escape(UNK)):
        SimpleTokenizerV2(build_vocab(["a", "b"], special_tokens=[ENDOFTEXT]))
    SimpleTokenizerV2(build_vocab(["a"], special_tokens=[UNK]))  # <|endoftext|> is optional


def test_tokenizer_rejects_a_non_mapping():
    with pytest.raises(TypeError, match="mapping"):
        SimpleTokenizerV1(["a", "b"])


def test_tokenizer_rejects_two_words_with_one_id():
    with pytest.raises(ValueError, match="same ID"):
        SimpleTokenizerV1({"a": 0, "b": 0})


def test_tokenizer_exposes_both_maps(prose_vocab_v2):
    v2 = SimpleTokenizerV2(prose_vocab_v2)
    assert v2.str_to_int == prose_vocab_v2
    assert len(v2.int_to_str) == len(prose_vocab_v2)
    assert v2.int_to_str[len(prose_vocab_v2) - 1] == UNK  # the specials come last
    assert all(v2.str_to_int[w] == i for i, w in v2.int_to_str.items())


def test_tokenizer_does_not_share_the_callers_vocab():
    vocab = build_vocab(["a", "b"])
    tok = SimpleTokenizerV1(vocab)
    vocab["c"] = 2
    with pytest.raises(KeyError, match="'c'"):
        tok.encode("c")


def test_repr_shows_the_vocabulary_size(tiny_vocab):
    assert repr(SimpleTokenizerV1(build_vocab(["a", "b", "c"]))) == "SimpleTokenizerV1(vocab_size=3)"
    assert repr(SimpleTokenizerV2(tiny_vocab)) == "SimpleTokenizerV2(vocab_size=13)"  # 11 pieces + 2 specials


@pytest.mark.parametrize("cls", [SimpleTokenizerV1, SimpleTokenizerV2])
@pytest.mark.parametrize("bad", [None, b"the", 42, ["the"]])
def test_encode_rejects_non_str(cls, bad, tiny_vocab):
    with pytest.raises(TypeError, match="str"):
        cls(tiny_vocab).encode(bad)


@pytest.mark.parametrize("cls", [SimpleTokenizerV1, SimpleTokenizerV2])
@pytest.mark.parametrize("bad", [13, -1, 99_999])  # 13: one past tiny_vocab's last ID
def test_decode_unknown_id_is_a_keyerror_naming_it(cls, bad, tiny_vocab):
    assert len(tiny_vocab) == 13
    with pytest.raises(KeyError, match=str(bad)):
        cls(tiny_vocab).decode([5, bad, 7])


def test_decode_unhashable_id_is_a_keyerror(tiny_vocab):
    with pytest.raises(KeyError, match=re.escape("[1]")):
        SimpleTokenizerV1(tiny_vocab).decode([[1]])


def test_public_api_names_are_the_words_module():
    assert npllm.split_words is split_words
    assert npllm.build_vocab is build_vocab
    assert npllm.SimpleTokenizerV1 is SimpleTokenizerV1
    assert npllm.SimpleTokenizerV2 is SimpleTokenizerV2


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=100)
@given(data=st.data())
def test_v1_decode_then_encode_gives_the_same_ids(data, prose_vocab_v1):
    v1 = SimpleTokenizerV1(prose_vocab_v1)
    words = data.draw(st.lists(st.sampled_from(sorted(prose_vocab_v1)), max_size=40))
    text = " ".join(words)
    ids = v1.encode(text)
    assert ids == [prose_vocab_v1[w] for w in words]
    assert v1.encode(v1.decode(ids)) == ids


@settings(max_examples=50)
@given(data=st.data())
def test_v2_encode_maps_every_piece_to_its_id_or_unk(data, prose_vocab_v2):
    v2 = SimpleTokenizerV2(prose_vocab_v2)
    known = st.sampled_from(sorted(prose_vocab_v2))
    unknown = st.text(alphabet="xyzQ", min_size=4, max_size=8)  # words the vocabulary is unlikely to hold
    words = data.draw(st.lists(st.one_of(known, unknown), max_size=30))
    ids = v2.encode(" ".join(words))
    assert ids == [prose_vocab_v2.get(w, prose_vocab_v2[UNK]) for w in words]
    assert v2.encode(v2.decode(ids)) == ids
