"""Model name -> encoding, as tiktoken answers it: known answers, then every name and every
prefix in tiktoken's own tables, then the KeyError for a name neither table knows."""

import pytest
from reference import tiktoken_module

import npllm
from npllm.bpe import models

# Dated and fine-tuned names that only a prefix knows; the comment says which prefix.
PREFIXED = [
    "gpt-4o-2024-05-13",  # gpt-4o-
    "gpt-4-0314",  # gpt-4-
    "gpt-4-32k",  # gpt-4-
    "gpt-3.5-turbo-0301",  # gpt-3.5-turbo-
    "gpt-3.5-turbo-FAKE",  # gpt-3.5-turbo-: a prefix matches models that do not exist
    "gpt-35-turbo-16k",  # gpt-35-turbo- (Azure)
    "gpt-4.1-nano",  # gpt-4.1-
    "gpt-4.5-preview",  # gpt-4.5-
    "gpt-5-mini",  # gpt-5
    "chatgpt-4o-latest",  # chatgpt-4o-
    "o1-preview",  # o1-
    "o3-mini",  # o3-
    "o4-mini-2025-04-16",  # o4-mini-
    "gpt-oss-120b",  # gpt-oss-
    "ft:gpt-3.5-turbo:org:id",  # ft:gpt-3.5-turbo
    "ft:gpt-4o-mini:org:id",  # ft:gpt-4o, which must win over ft:gpt-4
    "ft:gpt-4-0613:org::id",  # ft:gpt-4
    "ft:davinci-002:org::id",  # ft:davinci-002
    "ft:babbage-002:org::id",  # ft:babbage-002
]

UNKNOWN = ["", "llama-3", "GPT-4", " gpt-4", "gpt-3", "o2", "ft:gpt-5", "text-davinci-004", "gpt"]


@pytest.mark.parametrize(
    "model, encoding_name",
    [
        ("gpt2", "gpt2"),
        ("davinci", "r50k_base"),
        ("text-davinci-003", "p50k_base"),
        ("text-davinci-edit-001", "p50k_edit"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo-0301", "cl100k_base"),
        ("gpt-4o", "o200k_base"),
        ("ft:gpt-4o-mini:org:id", "o200k_base"),
        ("gpt-oss-120b", "o200k_harmony"),
    ],
)
def test_known_answers(model, encoding_name):
    assert npllm.encoding_name_for_model(model) == encoding_name


def test_encoding_for_model_is_the_shared_encoding():
    assert npllm.encoding_for_model("gpt2") is npllm.get_encoding("gpt2")
    assert npllm.encoding_for_model("gpt-4-0314") is npllm.get_encoding("cl100k_base")


def test_every_encoding_in_the_tables_exists():
    names = set(models.MODEL_TO_ENCODING.values()) | set(models.MODEL_PREFIX_TO_ENCODING.values())
    assert names <= set(npllm.list_encoding_names())


def test_unknown_model_is_a_key_error_that_names_it():
    with pytest.raises(KeyError, match="llama-3"):
        npllm.encoding_for_model("llama-3")


# --- against tiktoken ------------------------------------------------------------------------


def tiktoken_model():
    tiktoken_module()
    import tiktoken.model

    return tiktoken.model


def test_tables_equal_tiktokens_in_order():
    model = tiktoken_model()
    assert models.MODEL_TO_ENCODING == model.MODEL_TO_ENCODING
    # the prefixes are tried in order, so the order is part of the table
    assert list(models.MODEL_PREFIX_TO_ENCODING.items()) == list(model.MODEL_PREFIX_TO_ENCODING.items())


def test_every_model_and_prefix_maps_as_in_tiktoken():
    model = tiktoken_model()
    names = [*model.MODEL_TO_ENCODING, *PREFIXED]
    for prefix in model.MODEL_PREFIX_TO_ENCODING:
        names += [prefix, prefix + "2099-01-01", prefix + ":org:id"]
    assert len(names) > 100
    differ = [
        (name, npllm.encoding_name_for_model(name), model.encoding_name_for_model(name))
        for name in names
        if npllm.encoding_name_for_model(name) != model.encoding_name_for_model(name)
    ]
    assert differ == []


@pytest.mark.parametrize("name", ["gpt2", "gpt-4-0314", "gpt-4o-2024-05-13"])
def test_encoding_for_model_has_tiktokens_name(name):
    assert npllm.encoding_for_model(name).name == tiktoken_model().encoding_for_model(name).name


@pytest.mark.parametrize("name", UNKNOWN)
def test_unknown_model_raises_as_tiktoken_does(name):
    model = tiktoken_model()
    with pytest.raises(Exception) as theirs:
        model.encoding_name_for_model(name)
    for call in (npllm.encoding_name_for_model, npllm.encoding_for_model):
        with pytest.raises(Exception) as ours:
            call(name)
        assert type(ours.value) is type(theirs.value) is KeyError
        assert str(ours.value) == str(theirs.value)
