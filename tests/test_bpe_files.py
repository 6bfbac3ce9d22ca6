"""BPE files: npllm's `.npllm-bpe` (save and load back), tiktoken's `.tiktoken`, GPT-2's
encoder.json + vocab.bpe; every bad line reported with its line number; never pickle.

A `.npllm-bpe` file, line by line:

    1  npllm-bpe v1
    2  {"name": ..., "pat_str": ..., "special_tokens": {...}, "explicit_n_vocab": ...}
    3  base64(token of rank 0) 0
    4  base64(token of rank 1) 1
    ...
"""

import base64
import json
import pathlib
import re
import shutil

import pytest

import npllm
import npllm.data
from npllm.bpe.files import MAGIC, load_gpt2_ranks
from reference import tiktoken_encoding, tiktoken_module

NPLLM_SOURCE = pathlib.Path(npllm.__file__).parent


def tiny_encoding(**changes) -> npllm.Encoding:
    """256 bytes + 3 merges + 1 special token: small enough to corrupt by hand."""
    ranks = {bytes([b]): b for b in range(256)}
    ranks.update({b"ab": 256, b"abc": 257, b"  ": 258})
    kwargs = dict(
        pat_str=npllm.GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 259},
        explicit_n_vocab=260,
    )
    kwargs.update(changes)
    return npllm.Encoding("tiny", **kwargs)


@pytest.fixture
def tiny_file(tmp_path):
    """(path, lines) of a saved tiny encoding; lines[0] is line 1."""
    path = tmp_path / "tiny.npllm-bpe"
    tiny_encoding().save(path)
    return path, path.read_text(encoding="utf-8").split("\n")[:-1]


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def rank_line(token: bytes, rank: int) -> str:
    return f"{base64.b64encode(token).decode()} {rank}"


# --- save and load back -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base"])
def test_save_load_round_trip(tmp_path, prose_text, name):
    enc = npllm.get_encoding(name)
    path = tmp_path / f"{name}.npllm-bpe"
    enc.save(path)
    loaded = npllm.load_encoding(path)
    assert isinstance(loaded, npllm.Encoding)
    assert loaded.name == enc.name
    assert loaded.pat_str == enc.pat_str
    assert loaded.mergeable_ranks == enc.mergeable_ranks
    assert loaded.special_tokens == enc.special_tokens
    assert loaded.special_tokens_set == enc.special_tokens_set
    assert (loaded.n_vocab, loaded.eot_token, loaded.max_token_value) == (enc.n_vocab, enc.eot_token, enc.max_token_value)
    assert loaded.encode(prose_text) == enc.encode(prose_text)
    text = "tea? <|endoftext|> 中文 🙂 " + prose_text[:500]
    assert loaded.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert repr(loaded) == repr(enc)


def test_saved_file_layout(tmp_path, gpt2):
    path = tmp_path / "gpt2.npllm-bpe"
    gpt2.save(path)
    raw = path.read_bytes()
    lines = raw.decode("utf-8").split("\n")
    assert lines[0] == MAGIC == "npllm-bpe v1"
    header = json.loads(lines[1])
    assert header["name"] == "gpt2"
    assert header["pat_str"] == npllm.GPT2_PATTERN
    assert header["special_tokens"] == {"<|endoftext|>": 50256}
    assert lines[-1] == ""  # ends with a newline
    assert len(lines) == 2 + 50256 + 1
    assert lines[2] == rank_line(b"!", 0)
    assert lines[2 + 31373] == rank_line(b"hello", 31373)
    assert not raw.startswith(b"\x80")  # not a pickle


def test_rank_part_is_a_tiktoken_file(tmp_path, gpt2, monkeypatch):
    tiktoken = tiktoken_module()
    path = tmp_path / "gpt2.npllm-bpe"
    gpt2.save(path)
    rank_part = tmp_path / "gpt2.tiktoken"
    rank_part.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[2:]))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # read the local file, cache nothing
    assert tiktoken.load.load_tiktoken_bpe(str(rank_part)) == gpt2.mergeable_ranks
    assert npllm.load_tiktoken_bpe(rank_part) == gpt2.mergeable_ranks


def test_save_is_deterministic_and_leaves_no_temp_files(tmp_path):
    a, b = tmp_path / "a.npllm-bpe", tmp_path / "b.npllm-bpe"
    tiny_encoding().save(a)
    tiny_encoding().save(b)
    assert a.read_bytes() == b.read_bytes()
    tiny_encoding().save(a)  # overwrite in place
    names = {p.name for p in tmp_path.iterdir()}
    assert {"a.npllm-bpe", "b.npllm-bpe"} <= names
    assert not [name for name in names if name.endswith(".part")]  # the atomic write cleaned up


def test_save_accepts_str_path_and_keeps_explicit_n_vocab(tmp_path):
    path = tmp_path / "tiny.npllm-bpe"
    tiny_encoding().save(str(path))
    header = json.loads(path.read_text(encoding="utf-8").split("\n")[1])
    assert header["explicit_n_vocab"] == 260
    loaded = npllm.load_encoding(str(path))
    assert loaded.n_vocab == 260
    # pieces (GPT-2 pattern): "abc" | "<|endoftext|>" | "ab" | "  " (a space run at the end)
    assert loaded.encode("abc<|endoftext|>ab  ", allowed_special="all") == [257, 259, 256, 258]


def test_non_ascii_header_round_trips(tmp_path):
    enc = tiny_encoding(special_tokens={"<|fin|>": 259, "<|終|>": 260}, explicit_n_vocab=None)
    path = tmp_path / "x.npllm-bpe"
    enc.save(path)
    loaded = npllm.load_encoding(path)
    assert loaded.special_tokens == {"<|fin|>": 259, "<|終|>": 260}
    assert loaded.encode("a<|終|>", allowed_special="all") == [ord("a"), 260]


# --- tiktoken's format ------------------------------------------------------------------------


def test_load_tiktoken_bpe_cl100k_equals_tiktoken(cl100k, monkeypatch):
    tiktoken = tiktoken_module()
    path = npllm.data.path("cl100k_base.tiktoken")
    ranks = npllm.load_tiktoken_bpe(path)
    assert len(ranks) == 100256
    assert ranks == tiktoken_encoding("cl100k_base")._mergeable_ranks
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert ranks == tiktoken.load.load_tiktoken_bpe(str(path))
    assert ranks == cl100k.mergeable_ranks


def test_load_tiktoken_bpe_bad_line_names_it(tmp_path):
    lines = [rank_line(bytes([b]), b) for b in range(10)]
    lines[3] = "not-base64!! 3"
    path = write_lines(tmp_path / "bad.tiktoken", lines)
    with pytest.raises(ValueError, match=r"line 4\b") as info:
        npllm.load_tiktoken_bpe(path)
    assert str(path) in str(info.value)


def test_load_tiktoken_bpe_empty_file(tmp_path):
    path = tmp_path / "empty.tiktoken"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        npllm.load_tiktoken_bpe(path)


def test_load_tiktoken_bpe_blank_lines_and_crlf_are_fine(tmp_path):
    path = tmp_path / "ok.tiktoken"
    path.write_bytes(b"YQ== 0\r\n\r\nYg== 1\r\nYWI= 2\r\n")
    assert npllm.load_tiktoken_bpe(path) == {b"a": 0, b"b": 1, b"ab": 2}


# --- corrupt .npllm-bpe files -----------------------------------------------------------------


def corrupt(lines, number, new):
    """lines with line `number` (1-based) replaced by `new` (None: deleted)."""
    lines = list(lines)
    if new is None:
        del lines[number - 1]
    else:
        lines[number - 1] = new
    return lines


@pytest.mark.parametrize(
    ("line", "new", "what"),
    [
        (1, "npllm-bpe v2", "bad magic"),
        (1, "YQ== 0", "no magic (a .tiktoken file)"),
        (2, '{"name": "tiny", "pat_str": ', "bad JSON header"),
        (2, "[1, 2, 3]", "header not an object"),
        (2, '{"name": "tiny", "special_tokens": {}}', "header without pat_str"),
        (2, '{"name": 5, "pat_str": "a", "special_tokens": {}}', "header name not a str"),
        (5, "!!!! 2", "bad base64"),
        (5, "YWJ 2", "bad base64 padding"),
        (7, "Ag==", "missing rank"),
        (7, "Ag== four", "rank not an int"),
        (7, "Ag== -4", "negative rank"),
        (7, "Ag== 4 5", "three fields"),
        (9, rank_line(b"\x00", 6), "duplicate token"),
        (10, rank_line(b"zz", 3), "duplicate rank"),
    ],
)
def test_corrupt_file_names_the_line(tmp_path, tiny_file, line, new, what):
    _, lines = tiny_file
    path = write_lines(tmp_path / "bad.npllm-bpe", corrupt(lines, line, new))
    with pytest.raises(ValueError, match=rf"line {line}\b") as info:
        npllm.load_encoding(path)
    assert str(path) in str(info.value), what


def test_tiny_file_lines_are_where_the_corruptions_expect(tiny_file):
    _, lines = tiny_file
    assert lines[4] == rank_line(bytes([2]), 2)  # line 5
    assert lines[6] == rank_line(bytes([4]), 4)  # line 7
    assert len(lines) == 2 + 259
    assert npllm.load_encoding(tiny_file[0]).mergeable_ranks == tiny_encoding().mergeable_ranks


def test_corrupt_last_line(tmp_path, tiny_file):
    _, lines = tiny_file
    n = len(lines)
    path = write_lines(tmp_path / "bad.npllm-bpe", corrupt(lines, n, "@@ 258"))
    with pytest.raises(ValueError, match=rf"line {n}\b"):
        npllm.load_encoding(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.npllm-bpe"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"line 1\b"):
        npllm.load_encoding(path)


def test_magic_only(tmp_path):
    path = write_lines(tmp_path / "magic.npllm-bpe", [MAGIC])
    with pytest.raises(ValueError, match=r"line 2\b"):
        npllm.load_encoding(path)


def test_header_but_no_ranks(tmp_path, tiny_file):
    _, lines = tiny_file
    path = write_lines(tmp_path / "short.npllm-bpe", lines[:2])
    with pytest.raises(ValueError, match="no rank lines"):
        npllm.load_encoding(path)


def test_a_deleted_rank_line_disagrees_with_explicit_n_vocab(tmp_path, tiny_file):
    _, lines = tiny_file
    path = write_lines(tmp_path / "gap.npllm-bpe", corrupt(lines, 100, None))
    with pytest.raises(ValueError, match="explicit_n_vocab"):
        npllm.load_encoding(path)


def test_truncated_file_disagrees_with_explicit_n_vocab(tmp_path, tiny_file):
    _, lines = tiny_file
    path = write_lines(tmp_path / "cut.npllm-bpe", lines[:-3])
    with pytest.raises(ValueError, match="explicit_n_vocab"):
        npllm.load_encoding(path)


def test_not_utf8_header(tmp_path, tiny_file):
    path, _ = tiny_file
    data = path.read_bytes().split(b"\n")
    data[1] = b"\xff\xfe" + data[1]
    bad = tmp_path / "latin.npllm-bpe"
    bad.write_bytes(b"\n".join(data))
    with pytest.raises(ValueError, match=r"line 2\b"):
        npllm.load_encoding(bad)


# --- never pickle ----------------------------------------------------------------------------


def test_npllm_source_never_uses_pickle():
    offenders = []
    for source in NPLLM_SOURCE.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        if re.search(r"^\s*(import\s+(c?pickle|dill|marshal|shelve)\b|from\s+(c?pickle|dill|marshal|shelve)\b)", text, re.M):
            offenders.append(str(source))
        if re.search(r"\b(pickle|marshal)\.(loads?|dumps?)\b", text):
            offenders.append(str(source))
    assert offenders == []
    assert (NPLLM_SOURCE / "bpe" / "files.py").is_file()  # the scan looked at the right folder


# --- GPT-2's encoder.json + vocab.bpe ---------------------------------------------------------


@pytest.fixture(scope="session")
def gpt2_ranks_from_files():
    return load_gpt2_ranks(npllm.data.path("gpt2/encoder.json"), npllm.data.path("gpt2/vocab.bpe"))


def test_gpt2_ranks_equal_tiktokens(gpt2_ranks_from_files, gpt2):
    ranks = gpt2_ranks_from_files
    assert len(ranks) == 50256
    assert ranks == tiktoken_encoding("gpt2")._mergeable_ranks
    assert ranks == gpt2.mergeable_ranks
    assert ranks[b"hello"] == 31373 and ranks[b" "] == 220


@pytest.fixture
def gpt2_copy(tmp_path):
    """Copies of GPT-2's two files in tmp_path, to damage: (encoder.json, vocab.bpe)."""
    enc = tmp_path / "encoder.json"
    bpe = tmp_path / "vocab.bpe"
    shutil.copyfile(npllm.data.path("gpt2/encoder.json"), enc)
    shutil.copyfile(npllm.data.path("gpt2/vocab.bpe"), bpe)
    return enc, bpe


def test_gpt2_copies_load(gpt2_copy, gpt2_ranks_from_files):
    assert load_gpt2_ranks(*gpt2_copy) == gpt2_ranks_from_files


def test_truncated_vocab_bpe(gpt2_copy):
    enc, bpe = gpt2_copy
    lines = bpe.read_text(encoding="utf-8").split("\n")
    bpe.write_text("\n".join(lines[:-100]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="truncated") as info:
        load_gpt2_ranks(enc, bpe)
    assert str(bpe) in str(info.value)


def test_vocab_bpe_line_out_of_order(gpt2_copy):
    enc, bpe = gpt2_copy
    lines = bpe.read_text(encoding="utf-8").split("\n")
    lines[10], lines[11] = lines[11], lines[10]  # lines 11 and 12 of the file
    bpe.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 11\b") as info:
        load_gpt2_ranks(enc, bpe)
    assert str(bpe) in str(info.value)


def test_vocab_bpe_without_version_header(gpt2_copy):
    enc, bpe = gpt2_copy
    lines = bpe.read_text(encoding="utf-8").split("\n")
    bpe.write_text("\n".join(lines[1:]), encoding="utf-8")
    with pytest.raises(ValueError, match="#version") as info:
        load_gpt2_ranks(enc, bpe)
    assert str(bpe) in str(info.value)


def test_vocab_bpe_line_with_three_tokens(gpt2_copy):
    enc, bpe = gpt2_copy
    lines = bpe.read_text(encoding="utf-8").split("\n")
    lines[4] += " x"
    bpe.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 5\b") as info:
        load_gpt2_ranks(enc, bpe)
    assert str(bpe) in str(info.value)


def test_encoder_json_with_a_changed_id(gpt2_copy):
    enc, bpe = gpt2_copy
    encoder = json.loads(enc.read_text(encoding="utf-8"))
    a, b = encoder["Ġthe"], encoder["Ġa"]
    encoder["Ġthe"], encoder["Ġa"] = b, a
    enc.write_text(json.dumps(encoder), encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_gpt2_ranks(enc, bpe)
    assert str(enc) in str(info.value)


def test_encoder_json_missing_a_token(gpt2_copy):
    enc, bpe = gpt2_copy
    encoder = json.loads(enc.read_text(encoding="utf-8"))
    del encoder["Ġworld"]
    enc.write_text(json.dumps(encoder), encoding="utf-8")
    with pytest.raises(ValueError) as info:
        load_gpt2_ranks(enc, bpe)
    assert str(enc) in str(info.value)


def test_encoder_json_not_json(gpt2_copy):
    enc, bpe = gpt2_copy
    enc.write_text(enc.read_text(encoding="utf-8")[:1000], encoding="utf-8")
    with pytest.raises(ValueError, match="JSON") as info:
        load_gpt2_ranks(enc, bpe)
    assert str(enc) in str(info.value)


def test_encoder_json_character_outside_the_byte_alphabet(gpt2_copy):
    enc, bpe = gpt2_copy
    encoder = json.loads(enc.read_text(encoding="utf-8"))
    encoder[" the"] = encoder.pop("Ġthe")  # a real space: GPT-2 writes it as "Ġ"
    enc.write_text(json.dumps(encoder), encoding="utf-8")
    with pytest.raises(ValueError, match="alphabet") as info:
        load_gpt2_ranks(enc, bpe)
    assert str(enc) in str(info.value)
