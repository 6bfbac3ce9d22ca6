"""BPE files: npllm's `.npllm-bpe` (save and load back), tiktoken's `.tiktoken`, GPT-2's
encoder.json + vocab.bpe; every bad line reported with its line number; never pickle.

A `.npllm-bpe` file, line by line:

    1  npllm-bpe v2
    2  {"name": ..., "pat_str": ..., "special_tokens": {...}, "explicit_n_vocab": ...,
        "n_ranks": 259, "rank_gaps": false, "ranks_sha256": "..."}
    3  base64(token of rank 0) 0
    4  base64(token of rank 1) 1
    ...
"""

import base64
import hashlib
import json
import os
import pathlib
import re
import shutil
import stat
import warnings

import pytest
from reference import tiktoken_encoding, tiktoken_module

import npllm
import npllm.data
from npllm.bpe.files import MAGIC, AtomicFile, atomic_write, load_gpt2_ranks

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
    assert (loaded.n_vocab, loaded.eot_token, loaded.max_token_value) == (
        enc.n_vocab,
        enc.eot_token,
        enc.max_token_value,
    )
    assert loaded.encode(prose_text) == enc.encode(prose_text)
    text = "tea? <|endoftext|> 中文 🙂 " + prose_text[:500]
    assert loaded.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert repr(loaded) == repr(enc)


def test_saved_file_layout(tmp_path, gpt2):
    path = tmp_path / "gpt2.npllm-bpe"
    gpt2.save(path)
    raw = path.read_bytes()
    lines = raw.decode("utf-8").split("\n")
    assert lines[0] == MAGIC == "npllm-bpe v2"
    header = json.loads(lines[1])
    assert header["name"] == "gpt2"
    assert header["pat_str"] == npllm.GPT2_PATTERN
    assert header["special_tokens"] == {"<|endoftext|>": 50256}
    assert (header["n_ranks"], header["rank_gaps"]) == (50256, False)
    rank_part = raw.split(b"\n", 2)[2]  # what `tail -n +3 FILE | sha256sum` hashes
    assert header["ranks_sha256"] == hashlib.sha256(rank_part).hexdigest()
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
        (1, "npllm-bpe v3", "bad magic"),
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


def test_a_deleted_rank_line_disagrees_with_the_count(tmp_path, tiny_file):
    _, lines = tiny_file
    path = write_lines(tmp_path / "gap.npllm-bpe", corrupt(lines, 100, None))
    with pytest.raises(ValueError, match="259 rank lines, the file has 258") as info:
        npllm.load_encoding(path)
    assert str(path) in str(info.value)


def test_truncated_file_disagrees_with_the_count(tmp_path, tiny_file):
    _, lines = tiny_file
    path = write_lines(tmp_path / "cut.npllm-bpe", lines[:-3])
    with pytest.raises(ValueError, match="truncated"):
        npllm.load_encoding(path)


# --- issue 13, item 4: a count and a checksum in the header ------------------------------------


@pytest.fixture(scope="module")
def model_300(prose_text, tmp_path_factory):
    """A 300-token model with <|endoftext|> (ID 300), saved: (path, lines), 302 lines in all."""
    path = tmp_path_factory.mktemp("m300") / "m300.npllm-bpe"
    npllm.train_bpe(prose_text, 300, special_tokens=["<|endoftext|>"]).save(path)
    return path, path.read_text(encoding="utf-8").split("\n")[:-1]


def test_the_issues_truncated_model_is_refused(tmp_path, model_300):
    # v1 loaded the first 282 lines as a model of 280 ranks that still said n_vocab=301
    path, lines = model_300
    assert len(lines) == 302 and npllm.load_encoding(path).n_vocab == 301
    cut = write_lines(tmp_path / "cut.npllm-bpe", lines[:282])
    with pytest.raises(ValueError) as info:
        npllm.load_encoding(cut)
    assert str(cut) in str(info.value) and "300 rank lines, the file has 280" in str(info.value)


def test_an_edited_rank_is_refused_by_the_checksum(tmp_path, model_300):
    _, lines = model_300
    a, b = lines[2 + 260].split(), lines[2 + 261].split()  # swap the ranks of two merged tokens
    edited = corrupt(corrupt(lines, 3 + 260, f"{a[0]} {b[1]}"), 3 + 261, f"{b[0]} {a[1]}")
    path = write_lines(tmp_path / "edited.npllm-bpe", edited)
    with pytest.raises(ValueError, match="checksum") as info:
        npllm.load_encoding(path)
    assert str(path) in str(info.value)


def test_line_ends_and_blank_lines_do_not_change_the_checksum(tmp_path, model_300):
    # the checksum is of the rank lines as saved; a copy with CRLF line ends has the same ranks
    path, lines = model_300
    crlf = tmp_path / "crlf.npllm-bpe"
    crlf.write_bytes(("\r\n".join(lines[:100]) + "\r\n\r\n" + "\r\n".join(lines[100:]) + "\r\n").encode("utf-8"))
    assert npllm.load_encoding(crlf).mergeable_ranks == npllm.load_encoding(path).mergeable_ranks


@pytest.mark.parametrize("rank", [2**32, 99999999999999999999999999])
def test_a_rank_past_uint32_is_refused_with_its_line(tmp_path, tiny_file, rank):
    # v1 took 99999999999999999999999999 and reported n_vocab=1e26
    _, lines = tiny_file
    path = write_lines(tmp_path / "huge.npllm-bpe", corrupt(lines, len(lines), rank_line(b"  ", rank)))
    with pytest.raises(ValueError, match=rf"line {len(lines)}\b.*2\*\*32"):
        npllm.load_encoding(path)
    with pytest.raises(ValueError, match="2\\*\\*32"):  # and in a .tiktoken file
        npllm.load_tiktoken_bpe(write_lines(tmp_path / "huge.tiktoken", [rank_line(b"a", 0), rank_line(b"b", rank)]))


def test_the_largest_uint32_rank_loads(tmp_path):
    path = write_lines(tmp_path / "top.tiktoken", [rank_line(b"a", 0), rank_line(b"b", 2**32 - 1)])
    assert npllm.load_tiktoken_bpe(path) == {b"a": 0, b"b": 2**32 - 1}


def header_and_ranks(lines):
    return json.loads(lines[1]), lines[2:]


def with_header(lines, **changes):
    header, ranks = header_and_ranks(lines)
    return [lines[0], json.dumps({**header, **changes}), *ranks]


def test_gaps_are_refused_unless_the_header_says_they_are_intended(tmp_path, tiny_file):
    _, lines = tiny_file
    header, ranks = header_and_ranks(lines)
    moved = ranks[:-1] + [rank_line(b"  ", 300)]  # the last rank 258 becomes 300: 258..299 missing
    sha = hashlib.sha256(("\n".join(moved) + "\n").encode()).hexdigest()
    gap = write_lines(
        tmp_path / "gap.npllm-bpe",
        [MAGIC, json.dumps({**header, "ranks_sha256": sha, "explicit_n_vocab": None}), *moved],
    )
    with pytest.raises(ValueError, match="rank 258 is missing"):
        npllm.load_encoding(gap)
    intended = write_lines(
        tmp_path / "intended.npllm-bpe",
        with_header(
            [MAGIC, json.dumps({**header, "ranks_sha256": sha, "explicit_n_vocab": None}), *moved], rank_gaps=True
        ),
    )
    assert npllm.load_encoding(intended).mergeable_ranks[b"  "] == 300


def test_an_encoding_with_gaps_saves_and_loads(tmp_path):
    enc = tiny_encoding(
        mergeable_ranks={**{bytes([b]): b for b in range(256)}, b"ab": 1000}, special_tokens={}, explicit_n_vocab=None
    )
    path = tmp_path / "gaps.npllm-bpe"
    enc.save(path)
    header = json.loads(path.read_text(encoding="utf-8").split("\n")[1])
    assert (header["n_ranks"], header["rank_gaps"]) == (257, True)
    assert npllm.load_encoding(path).mergeable_ranks == enc.mergeable_ranks


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("n_ranks", None, "n_ranks"),
        ("n_ranks", "259", "n_ranks"),
        ("n_ranks", True, "n_ranks"),
        ("rank_gaps", None, "rank_gaps"),
        ("rank_gaps", 0, "rank_gaps"),
        ("ranks_sha256", None, "ranks_sha256"),
        ("ranks_sha256", "abc", "ranks_sha256"),
        ("explicit_n_vocab", 2**33, "explicit_n_vocab"),
        ("special_tokens", {"<|endoftext|>": 2**32}, "2\\*\\*32"),
    ],
)
def test_a_v2_header_with_a_bad_field(tmp_path, tiny_file, field, value, words):
    _, lines = tiny_file
    path = write_lines(tmp_path / "bad.npllm-bpe", with_header(lines, **{field: value}))
    with pytest.raises(ValueError, match=words):
        npllm.load_encoding(path)


def test_a_v1_file_loads_with_a_warning(tmp_path, tiny_file):
    _, lines = tiny_file
    header, ranks = header_and_ranks(lines)
    v1 = {"name": header["name"], "pat_str": header["pat_str"], "special_tokens": header["special_tokens"]}
    path = write_lines(tmp_path / "old.npllm-bpe", ["npllm-bpe v1", json.dumps(v1), *ranks[:-1]])  # cut, too
    with pytest.warns(UserWarning, match="v1") as caught:
        enc = npllm.load_encoding(path)
    assert str(path) in str(caught[0].message)
    assert len(enc.mergeable_ranks) == 258  # a v1 file cannot know it was cut: hence the warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        npllm.load_encoding(tiny_file[0])  # a v2 file: no warning


def test_a_rank_part_of_a_v2_file_is_still_a_tiktoken_file(tmp_path, model_300, monkeypatch):
    tiktoken = tiktoken_module()
    path, _ = model_300
    rank_part = tmp_path / "m300.tiktoken"
    rank_part.write_bytes(path.read_bytes().split(b"\n", 2)[2])
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert tiktoken.load.load_tiktoken_bpe(str(rank_part)) == npllm.load_encoding(path).mergeable_ranks


# --- issue 13, item 6: a file written whole ends as open(path, "w") would leave it -------------


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_file_gets_the_umasks_mode(tmp_path, umask_027):
    with open(tmp_path / "plain", "w"):
        pass
    tiny_encoding().save(tmp_path / "m.npllm-bpe")
    atomic_write(tmp_path / "a.bin", lambda f: f.write(b"x"))
    assert mode(tmp_path / "plain") == 0o640  # 0o666 & ~0o027
    assert mode(tmp_path / "m.npllm-bpe") == mode(tmp_path / "m.vocab") == mode(tmp_path / "a.bin") == 0o640


def test_an_existing_file_keeps_its_mode(tmp_path, umask_027):
    for name, wanted in (("m.npllm-bpe", 0o644), ("m.vocab", 0o604)):
        (tmp_path / name).write_bytes(b"old")
        os.chmod(tmp_path / name, wanted)
    tiny_encoding().save(tmp_path / "m.npllm-bpe")
    assert (mode(tmp_path / "m.npllm-bpe"), mode(tmp_path / "m.vocab")) == (0o644, 0o604)
    assert npllm.load_encoding(tmp_path / "m.npllm-bpe").n_vocab == 260


def test_a_link_is_written_through_as_open_does(tmp_path):
    target = tmp_path / "real.bin"
    target.write_bytes(b"old")
    (tmp_path / "link.bin").symlink_to(target)
    atomic_write(tmp_path / "link.bin", lambda f: f.write(b"new"))
    assert (tmp_path / "link.bin").is_symlink() and target.read_bytes() == b"new"


def test_a_discarded_file_leaves_nothing(tmp_path):
    f = AtomicFile(tmp_path / "x.bin")
    f.file.write(b"half")
    f.discard()
    assert list(tmp_path.iterdir()) == []


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
        if re.search(
            r"^\s*(import\s+(c?pickle|dill|marshal|shelve)\b|from\s+(c?pickle|dill|marshal|shelve)\b)", text, re.M
        ):
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


@pytest.mark.parametrize("name", ["gpt2", "o200k_harmony"])
def test_constructor_args_build_the_same_encoding(name):
    enc = npllm.get_encoding(name)
    args = enc.constructor_args()
    assert sorted(args) == ["explicit_n_vocab", "mergeable_ranks", "name", "pat_str", "special_tokens"]
    again = npllm.Encoding(**args)
    text = "hello <|endoftext|> world, 2024!"
    assert again.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert (again.name, again.n_vocab, again.explicit_n_vocab) == (enc.name, enc.n_vocab, enc.explicit_n_vocab)
    args["mergeable_ranks"].clear()  # copies: changing them leaves the encoding alone
    args["special_tokens"].clear()
    assert enc.encode("hello") == again.encode("hello") and enc.n_vocab == again.n_vocab


def test_files_reads_plain_data_that_makes_the_encoding(model_300):
    path, _ = model_300
    args = npllm.bpe.files.read_encoding_file(path)
    assert type(args) is dict and len(args["mergeable_ranks"]) == 300
    assert args == npllm.load_encoding(path).constructor_args()
