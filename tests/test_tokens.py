"""Token files: save_tokens / load_tokens (nanoGPT's raw uint16 `train.bin` plus a JSON
sidecar) and encode_file, which must give exactly the IDs of encoding the whole file at once
(checked on `large_text`, real text every Python installation has; Tiny Shakespeare only for
its known token counts)."""

import json
import os

import numpy as np
import pytest

import npllm
from npllm.tokens import encode_file


def sidecar(path):
    return path.with_name(path.name + ".json")


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


# --- save_tokens / load_tokens ------------------------------------------------------------


def test_gpt2_ids_are_raw_little_endian_uint16(tmp_path):
    ids = [40, 367, 2885, 1464, 0, 50256, 65535]
    path = tmp_path / "train.bin"
    npllm.save_tokens(path, ids, encoding="gpt2")
    assert path.read_bytes() == np.array(ids, dtype="<u2").tobytes()
    assert path.stat().st_size == 2 * len(ids)
    assert np.fromfile(path, dtype=np.uint16).tolist() == ids  # as nanoGPT reads train.bin
    meta = json.loads(sidecar(path).read_text(encoding="utf-8"))
    assert meta["format"] == "npllm-tokens v1"
    assert (meta["dtype"], meta["count"], meta["encoding"]) == ("uint16", 7, "gpt2")


def test_ids_from_65536_up_are_uint32(tmp_path):
    ids = [0, 65535, 65536, 100276, 2**32 - 1]
    path = tmp_path / "cl.bin"
    npllm.save_tokens(path, np.array(ids, dtype=np.int64), encoding="cl100k_base")
    assert path.read_bytes() == np.array(ids, dtype="<u4").tobytes()
    meta = json.loads(sidecar(path).read_text(encoding="utf-8"))
    assert (meta["format"], meta["dtype"], meta["count"], meta["encoding"]) == (
        "npllm-tokens v1",
        "uint32",
        5,
        "cl100k_base",
    )


def test_encoding_defaults_to_none(tmp_path):
    npllm.save_tokens(tmp_path / "t.bin", [1, 2, 3])
    assert json.loads(sidecar(tmp_path / "t.bin").read_text())["encoding"] is None


@pytest.mark.parametrize(
    "ids, dtype",
    [
        ([40, 367, 2885, 1464, 1807], np.uint16),
        (list(range(0, 70000, 7)), np.uint32),
        (np.arange(1000, dtype=np.uint8), np.uint16),
        (np.array([2**31, 5, 2**32 - 1], dtype=np.uint64), np.uint32),
    ],
)
def test_round_trip_is_a_read_only_memmap(tmp_path, ids, dtype):
    path = tmp_path / "t.bin"
    npllm.save_tokens(path, ids)
    loaded = npllm.load_tokens(path)
    assert isinstance(loaded, np.memmap)
    assert loaded.dtype == dtype and loaded.shape == (len(ids),)
    assert loaded.tolist() == list(np.asarray(ids).tolist())
    with pytest.raises(ValueError):
        loaded[0] = 1
    assert leftovers(tmp_path) == []


def test_round_trip_of_nothing(tmp_path):
    path = tmp_path / "empty.bin"
    npllm.save_tokens(path, [])
    assert path.read_bytes() == b""
    assert json.loads(sidecar(path).read_text())["count"] == 0
    loaded = npllm.load_tokens(path)
    assert len(loaded) == 0 and loaded.dtype == np.uint16


def test_save_overwrites_and_loads_the_new_ids(tmp_path):
    path = tmp_path / "t.bin"
    npllm.save_tokens(path, list(range(100)))
    npllm.save_tokens(path, [7, 8, 9, 70000])
    loaded = npllm.load_tokens(path)
    assert loaded.tolist() == [7, 8, 9, 70000] and loaded.dtype == np.uint32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bin", "t.bin.json"]


@pytest.mark.parametrize(
    "ids, error",
    [([1.5, 2.0], TypeError), ([3, -1, 2], ValueError), ([2**32], ValueError), ("hello", TypeError)],
)
def test_save_refuses_what_is_not_a_token_id_and_writes_nothing(tmp_path, ids, error):
    with pytest.raises(error):
        npllm.save_tokens(tmp_path / "t.bin", ids)
    assert list(tmp_path.iterdir()) == []


def test_a_memmap_gives_the_same_windows_as_the_list(tmp_path, prose_text, gpt2):
    ids = gpt2.encode(prose_text)
    npllm.save_tokens(tmp_path / "v.bin", ids, encoding="gpt2")
    memmap = npllm.load_tokens(tmp_path / "v.bin")
    from_list = npllm.DataLoader(npllm.GPTDataset(ids, 4, 4), batch_size=8)
    from_file = npllm.DataLoader(npllm.GPTDataset(memmap, 4, 4), batch_size=8)
    a, b = list(from_list), list(from_file)
    assert len(a) == len(b) == -(-len(range(0, len(ids) - 4, 4)) // 8)  # ceil(windows / 8)
    assert all(xa.tolist() == xb.tolist() and ya.tolist() == yb.tolist() for (xa, ya), (xb, yb) in zip(a, b))
    assert b[0][0].dtype == np.int64
    x, _ = npllm.GPTDataset(memmap, 4, 4)[0]
    assert x.tolist() == ids[:4] and np.shares_memory(x, memmap)


def test_a_truncated_file_disagrees_with_its_sidecar(tmp_path):
    path = tmp_path / "t.bin"
    npllm.save_tokens(path, list(range(100)))
    path.write_bytes(path.read_bytes()[:-6])
    with pytest.raises(ValueError) as info:
        npllm.load_tokens(path)
    assert "t.bin" in str(info.value)
    path.write_bytes(b"\x00" * 202)  # one ID too many
    with pytest.raises(ValueError):
        npllm.load_tokens(path)


def test_a_missing_sidecar_is_named(tmp_path):
    path = tmp_path / "t.bin"
    npllm.save_tokens(path, [1, 2, 3])
    sidecar(path).unlink()
    with pytest.raises(FileNotFoundError) as info:
        npllm.load_tokens(path)
    assert "t.bin.json" in str(info.value)


def test_a_missing_token_file_is_an_error(tmp_path):
    path = tmp_path / "t.bin"
    npllm.save_tokens(path, [1, 2, 3])
    path.unlink()
    with pytest.raises(FileNotFoundError):
        npllm.load_tokens(path)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "",
        "[1, 2, 3]",
        '{"format": "npllm-tokens v2", "dtype": "uint16", "count": 3, "encoding": null}',
        '{"dtype": "uint16", "count": 3, "encoding": null}',
        '{"format": "npllm-tokens v1", "dtype": "int64", "count": 3, "encoding": null}',
        '{"format": "npllm-tokens v1", "dtype": "float32", "count": 3, "encoding": null}',
        '{"format": "npllm-tokens v1", "count": 3, "encoding": null}',
        '{"format": "npllm-tokens v1", "dtype": "uint16", "count": -3, "encoding": null}',
        '{"format": "npllm-tokens v1", "dtype": "uint16", "count": 3.0, "encoding": null}',
        '{"format": "npllm-tokens v1", "dtype": "uint16", "count": "3", "encoding": null}',
        '{"format": "npllm-tokens v1", "dtype": "uint16", "encoding": null}',
    ],
    ids=[
        "broken",
        "empty",
        "list",
        "format-v2",
        "no-format",
        "int64",
        "float32",
        "no-dtype",
        "negative-count",
        "float-count",
        "str-count",
        "no-count",
    ],
)
def test_a_bad_sidecar_is_a_value_error(tmp_path, text):
    path = tmp_path / "t.bin"
    npllm.save_tokens(path, [1, 2, 3])
    sidecar(path).write_text(text, encoding="utf-8")
    with pytest.raises(ValueError):
        npllm.load_tokens(path)


def test_a_sidecar_that_is_not_utf8_is_a_value_error(tmp_path):
    path = tmp_path / "t.bin"
    npllm.save_tokens(path, [1, 2, 3])
    sidecar(path).write_bytes(b"\xff\xfe{\x00")
    with pytest.raises(ValueError):
        npllm.load_tokens(path)


# --- encode_file --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def large_file(tmp_path_factory, large_text):
    """large_text as a UTF-8 file, written byte for byte (no newline translation)."""
    path = tmp_path_factory.mktemp("large") / "large.txt"
    path.write_bytes(large_text.encode("utf-8"))
    return path


@pytest.fixture(scope="module")
def whole_large_text(large_text, gpt2, cl100k):
    """Each encoding's IDs for the whole file at once: what encode_file must reproduce."""
    return {"gpt2": gpt2.encode(large_text), "cl100k_base": cl100k.encode(large_text)}


@pytest.mark.parametrize(
    "name, workers, chunk_chars",
    [("gpt2", 1, 5000), ("gpt2", 2, 65536), ("cl100k_base", 1, 65536), ("cl100k_base", 2, 5000)],
)
def test_encode_file_gives_the_ids_of_the_whole_text(
    tmp_path, large_file, whole_large_text, name, workers, chunk_chars
):
    dst = tmp_path / "large.bin"
    count = encode_file(large_file, dst, name, workers=workers, chunk_chars=chunk_chars)
    expected = whole_large_text[name]
    assert count == len(expected) > 10_000  # many chunks
    loaded = npllm.load_tokens(dst)
    assert loaded.dtype == (np.uint16 if name == "gpt2" else np.uint32)
    assert np.array_equal(loaded, np.asarray(expected))
    meta = json.loads(sidecar(dst).read_text())
    assert (meta["encoding"], meta["count"]) == (name, count)
    assert leftovers(tmp_path) == []


def test_tinyshakespeare_has_the_known_token_counts(tmp_path, shakespeare_path):
    # nanoGPT's data/shakespeare/prepare.py: "train has 301,966 tokens", "val has 36,059 tokens"
    assert encode_file(shakespeare_path, tmp_path / "s.bin", "gpt2") == 301_966 + 36_059
    assert encode_file(shakespeare_path, tmp_path / "c.bin", "cl100k_base") == 301_829


def test_encode_file_takes_an_encoding_object(tmp_path, prose_text, gpt2):
    src = tmp_path / "v.txt"
    src.write_text(prose_text, encoding="utf-8")
    expected = gpt2.encode(prose_text)
    assert encode_file(src, tmp_path / "v.bin", gpt2, chunk_chars=1000) == len(expected)
    assert npllm.load_tokens(tmp_path / "v.bin").tolist() == expected


def test_crlf_files_are_exact(tmp_path, stdlib_text, gpt2, cl100k):
    text = stdlib_text[:150_000].replace("\n", "\r\n")
    src = tmp_path / "crlf.txt"
    src.write_bytes(text.encode("utf-8"))  # no newline translation on the way in
    for enc in (gpt2, cl100k):
        for workers in (1, 2):
            count = encode_file(src, tmp_path / "crlf.bin", enc, workers=workers, chunk_chars=3000)
            assert count == len(enc.encode(text))
            assert npllm.load_tokens(tmp_path / "crlf.bin").tolist() == enc.encode(text)


def test_non_ascii_and_long_lines_are_exact(tmp_path, gpt2, cl100k):
    line = "Ünïcödé wörds, 世界 and emoji 🙂 -- numbers 1234567 and\ttabs  double  spaces\n"
    text = line * 400 + "x" * 20_000 + " tail\n\n\n   trailing spaces   \n" + "…!?" * 3000 + "\r\n\r\n end"
    src = tmp_path / "u.txt"
    src.write_bytes(text.encode("utf-8"))
    for enc in (gpt2, cl100k):
        count = encode_file(src, tmp_path / "u.bin", enc, workers=2, chunk_chars=700)
        assert npllm.load_tokens(tmp_path / "u.bin").tolist() == enc.encode(text) and count == len(enc.encode(text))


@pytest.fixture
def text_with_endoftext(stdlib_text):
    parts = [stdlib_text[i : i + 7000] for i in range(0, 70_000, 7000)]
    return "<|endoftext|>".join(parts[:4]) + "\n<|endoftext|>\n" + " <|endoftext|> ".join(parts[4:]) + "<|endoftext|>"


@pytest.mark.parametrize("workers", [1, 2])
def test_special_allow_and_ordinary(tmp_path, text_with_endoftext, gpt2, workers):
    src = tmp_path / "docs.txt"
    src.write_text(text_with_endoftext, encoding="utf-8", newline="")
    count = encode_file(src, tmp_path / "a.bin", "gpt2", workers=workers, special="allow", chunk_chars=2000)
    allowed = gpt2.encode(text_with_endoftext, allowed_special="all")
    assert allowed.count(50256) == 10
    assert count == len(allowed) and npllm.load_tokens(tmp_path / "a.bin").tolist() == allowed
    count = encode_file(src, tmp_path / "o.bin", "gpt2", workers=workers, special="ordinary", chunk_chars=2000)
    ordinary = gpt2.encode_ordinary(text_with_endoftext)
    assert 50256 not in ordinary
    assert count == len(ordinary) and npllm.load_tokens(tmp_path / "o.bin").tolist() == ordinary


@pytest.mark.parametrize("workers", [1, 2])
def test_refused_special_token_leaves_no_file(tmp_path, text_with_endoftext, workers):
    folder = tmp_path / "data"
    folder.mkdir()
    src = tmp_path / "docs.txt"
    src.write_text(text_with_endoftext, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        encode_file(src, folder / "docs.bin", "gpt2", workers=workers, chunk_chars=2000)
    assert "<|endoftext|>" in str(info.value)
    assert list(folder.iterdir()) == []  # no token file, no sidecar, no .part


def test_refused_late_special_token_leaves_no_file(tmp_path, stdlib_text):
    src = tmp_path / "late.txt"
    src.write_text(stdlib_text[:200_000] + "<|endoftext|>", encoding="utf-8")
    with pytest.raises(ValueError):
        encode_file(src, tmp_path / "late.bin", "gpt2", chunk_chars=5000)  # fails after many chunks were written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.txt"]


def test_a_failed_encode_keeps_the_previous_token_file(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("hello world", encoding="utf-8")
    encode_file(src, tmp_path / "t.bin", "gpt2")
    src.write_text("hello <|endoftext|>", encoding="utf-8")
    with pytest.raises(ValueError):
        encode_file(src, tmp_path / "t.bin", "gpt2")
    assert npllm.load_tokens(tmp_path / "t.bin").tolist() == [31373, 995]
    assert leftovers(tmp_path) == []


def test_non_utf8_file_is_a_value_error_and_writes_nothing(tmp_path):
    src = tmp_path / "latin1.txt"
    src.write_bytes("café au lait\n".encode("latin-1") * 10)
    with pytest.raises(ValueError):
        encode_file(src, tmp_path / "out.bin", "gpt2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin1.txt"]


def test_bad_arguments(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("hello world", encoding="utf-8")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            encode_file(src, tmp_path / "t.bin", "gpt2", workers=bad)
    with pytest.raises(ValueError):
        encode_file(src, tmp_path / "t.bin", "gpt2", special="maybe")
    with pytest.raises(FileNotFoundError):
        encode_file(tmp_path / "missing.txt", tmp_path / "t.bin", "gpt2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_empty_file(tmp_path):
    src = tmp_path / "empty.txt"
    src.write_bytes(b"")
    assert encode_file(src, tmp_path / "e.bin", "gpt2", workers=2) == 0
    assert len(npllm.load_tokens(tmp_path / "e.bin")) == 0


def test_progress_goes_to_stderr_only_when_asked(tmp_path, capsys, prose_text, gpt2):
    src = tmp_path / "v.txt"
    src.write_text(prose_text, encoding="utf-8")
    encode_file(src, tmp_path / "v.bin", "gpt2")
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    count = encode_file(src, tmp_path / "v.bin", "gpt2", progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{count:,} tokens" in err and "MB" in err
    assert count == len(gpt2.encode(prose_text)) and os.path.getsize(tmp_path / "v.bin") == 2 * count


# --- issue 13 ------------------------------------------------------------------------------


def test_encode_file_refuses_to_write_over_its_input(tmp_path):
    # item 3: `encode-file a.txt -o a.txt` replaced the text with its tokens
    src = tmp_path / "a.txt"
    src.write_text("hello world", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(src)
    for dst in (src, tmp_path / "link.txt"):  # the file itself, by its name or through a link
        with pytest.raises(ValueError, match="destroy the input"):
            encode_file(src, dst, "gpt2")
    side_src = tmp_path / "t.bin.json"  # the sidecar of the output is the input
    side_src.write_text("hello", encoding="utf-8")
    with pytest.raises(ValueError, match="destroy the input"):
        encode_file(side_src, tmp_path / "t.bin", "gpt2")
    assert src.read_text(encoding="utf-8") == "hello world" and side_src.read_text(encoding="utf-8") == "hello"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "link.txt", "t.bin.json"]


@pytest.mark.parametrize("chunk_chars", [0, -1, 1.5, True, "1000"])
def test_chunk_chars_must_be_a_positive_int(tmp_path, chunk_chars):
    # item 8: chunk_chars=0 wrote an empty, valid-looking token file
    src = tmp_path / "t.txt"
    src.write_text("hello world", encoding="utf-8")
    with pytest.raises(ValueError, match="chunk_chars"):
        encode_file(src, tmp_path / "t.bin", "gpt2", chunk_chars=chunk_chars)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_refused_special_token_is_placed_in_the_file(tmp_path, stdlib_text, workers):
    # item 7: the position counted from the chunk ("character 402,852" for one at 2,500,000)
    text = stdlib_text[:200_000]
    src = tmp_path / "late.txt"
    src.write_text(text + "<|endoftext|>", encoding="utf-8", newline="")
    with pytest.raises(npllm.bpe.encoding.DisallowedSpecialToken) as info:
        encode_file(src, tmp_path / "late.bin", "gpt2", workers=workers, chunk_chars=5000)
    assert info.value.position == len(text)
    assert "late.txt" in str(info.value) and f"character {len(text):,}" in str(info.value)


def test_bad_utf8_is_placed_in_the_file(tmp_path, stdlib_text):
    text = stdlib_text[:50_000]
    src = tmp_path / "bad.txt"
    src.write_bytes(text.encode("utf-8") + b"\xff")
    with pytest.raises(ValueError, match=f"byte {len(text.encode('utf-8')):,}"):
        encode_file(src, tmp_path / "bad.bin", "gpt2", chunk_chars=3000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]


@pytest.mark.parametrize("encoding, error", [(5, TypeError), (b"gpt2", TypeError), (["gpt2"], TypeError)])
def test_save_tokens_checks_the_encoding_before_writing(tmp_path, encoding, error):
    # item 12: encoding=<an Encoding> raised after the .bin was written; encoding=5 was accepted
    with pytest.raises(error, match="encoding"):
        npllm.save_tokens(tmp_path / "t.bin", [1, 2, 3], encoding=encoding)
    assert list(tmp_path.iterdir()) == []


def test_save_tokens_takes_an_encoding_object(tmp_path, gpt2):
    npllm.save_tokens(tmp_path / "t.bin", [1, 2, 3], encoding=gpt2)
    assert json.loads(sidecar(tmp_path / "t.bin").read_text())["encoding"] == "gpt2"


def impostor() -> npllm.Encoding:
    """A trained vocabulary that calls itself "gpt2"."""
    ranks = {bytes([b]): b for b in range(256)}
    ranks[b"ab"] = 256
    return npllm.Encoding(
        "gpt2", pat_str=npllm.GPT2_PATTERN, mergeable_ranks=ranks, special_tokens={"<|endoftext|>": 257}
    )


def test_an_encoding_that_takes_a_builtin_name_is_refused(tmp_path):
    # item 5: its token file would say "gpt2" and `npllm batches` would decode it with the real GPT-2
    src = tmp_path / "t.txt"
    src.write_text("abab", encoding="utf-8")
    with pytest.raises(ValueError, match="'gpt2'.*differs"):
        encode_file(src, tmp_path / "t.bin", impostor())
    with pytest.raises(ValueError, match="'gpt2'.*differs"):
        npllm.save_tokens(tmp_path / "u.bin", [256, 256], encoding=impostor())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.txt"]


def test_a_failed_sidecar_leaves_no_token_file(tmp_path, monkeypatch):
    # item 12: both files are written whole before either is put in place
    import npllm.tokens as tokens

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tokens.json, "dumps", broken)
    with pytest.raises(OSError):
        npllm.save_tokens(tmp_path / "t.bin", [1, 2, 3], encoding="gpt2")
    assert list(tmp_path.iterdir()) == []


def test_token_files_get_the_permissions_open_would_give(tmp_path):
    # item 6: they were 0600 whatever the umask, and an overwritten 0644 file became 0600
    src = tmp_path / "t.txt"
    src.write_text("hello world", encoding="utf-8")
    old = os.umask(0o022)
    try:
        encode_file(src, tmp_path / "t.bin", "gpt2")
        assert oct(os.stat(tmp_path / "t.bin").st_mode & 0o777) == oct(0o644)
        assert oct(os.stat(sidecar(tmp_path / "t.bin")).st_mode & 0o777) == oct(0o644)
        os.chmod(tmp_path / "t.bin", 0o664)
        npllm.save_tokens(tmp_path / "t.bin", [1, 2])
        assert oct(os.stat(tmp_path / "t.bin").st_mode & 0o777) == oct(0o664)
    finally:
        os.umask(old)


def test_workers_get_at_most_two_chunks_each_ahead(tmp_path, gpt2):
    # imap read the whole file ahead into the task queue; memory must stay within a few chunks
    from npllm.tokens import _encode_chunks

    read = []

    def chunks():
        for k in range(20):
            read.append(k)
            yield k * 10, f"chunk {k} "

    results = _encode_chunks(gpt2, chunks(), "refuse", 2, "t.txt", "uint16")
    n_bytes, packed = next(results)
    assert len(read) <= 4
    # a worker sends back the file's own bytes (2 per gpt2 ID), not a list of Python ints
    assert (n_bytes, type(packed)) == (8, bytes) and np.frombuffer(packed, "<u2").tolist() == gpt2.encode("chunk 0 ")
    assert len(list(results)) == 19
