"""The step 3 subcommands of the CLI: `batches` (text or token file) and `encode-file`, and
their failure paths (one `npllm: error:` line, exit 1, no traceback). The course's first batch
on The Verdict; everything else on `prose_text` and `large_text`, real text every Python
installation has."""

import json

import numpy as np
import pytest
from cli_run import error_line, run

import npllm


@pytest.fixture
def verdict_file(tmp_path, verdict_text):
    path = tmp_path / "the-verdict.txt"
    path.write_text(verdict_text, encoding="utf-8")
    return path


@pytest.fixture
def text_file(tmp_path, prose_text):
    path = tmp_path / "prose.txt"
    path.write_text(prose_text, encoding="utf-8")
    return path


@pytest.fixture
def prose_ids(prose_text, gpt2):
    return gpt2.encode(prose_text)


# --- batches ----------------------------------------------------------------------------


def test_batches_prints_counts_and_the_first_batch(capsys, verdict_file):
    code, out, err = run(capsys, "batches", verdict_file, "--batch-size", 8, "--max-length", 4, "--stride", 4)
    assert code == 0 and err == ""
    assert "5,145 tokens" in out and "1,286 windows" in out and "161 batches" in out
    assert "[40, 367, 2885, 1464] -> [367, 2885, 1464, 1807]" in out
    assert "[1807, 3619, 402, 271]" in out
    assert "'I HAD always'" in out and "' HAD always thought'" in out  # the windows decoded


def test_batches_drop_last(capsys, text_file, prose_ids):
    n_windows = len(range(0, len(prose_ids) - 4, 4))
    args = ("batches", text_file, "--batch-size", 8, "--max-length", 4, "--stride", 4)
    code, out, _ = run(capsys, *args, "--drop-last")
    assert code == 0 and f" {n_windows // 8:,} batches" in out
    assert n_windows % 8 == 0 or f" {-(-n_windows // 8):,} batches" not in out
    code, out, _ = run(capsys, *args)
    assert code == 0 and f" {-(-n_windows // 8):,} batches" in out  # without --drop-last: the short batch too


def test_batches_shuffle_is_reproducible_with_a_seed(capsys, text_file, prose_ids):
    args = ("batches", text_file, "--batch-size", 8, "--max-length", 4, "--stride", 4)
    code, plain, _ = run(capsys, *args)
    first = run(capsys, *args, "--shuffle", "--seed", 0)
    second = run(capsys, *args, "--shuffle", "--seed", 0)
    other = run(capsys, *args, "--shuffle", "--seed", 1)
    assert first[0] == 0 and first == second
    assert first[1] != plain and first[1] != other[1]
    assert f"{len(range(0, len(prose_ids) - 4, 4)):,} windows" in first[1]


def test_batches_of_a_short_text_with_other_lengths(capsys, tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("Hello, do you like tea? In the sunlit terraces of the palace.", encoding="utf-8")
    code, out, _ = run(capsys, "batches", src, "--batch-size", 2, "--max-length", 3, "--stride", 1, "--show", 1)
    ids = npllm.get_encoding("gpt2").encode(src.read_text())
    n_windows = len(ids) - 3
    assert code == 0 and f"{len(ids)} tokens" in out and f"{n_windows} windows" in out
    assert f"{ids[0:3]} -> {ids[1:4]}" in out and f"{ids[1:4]} -> {ids[2:5]}" in out
    assert "batch 1" not in out  # --show 1


# --- encode-file, then batches on the token file ------------------------------------------


def test_encode_file_writes_the_ids_of_the_whole_text(capsys, tmp_path, large_text, gpt2):
    src = tmp_path / "large.txt"
    src.write_bytes(large_text.encode("utf-8"))
    out_file = tmp_path / "out.bin"
    code, out, err = run(capsys, "encode-file", src, "-o", out_file, "--workers", 2)
    assert code == 0 and out == ""
    expected = gpt2.encode(large_text)
    assert f"{len(expected):,}" in err
    loaded = npllm.load_tokens(out_file)
    assert loaded.dtype == np.uint16
    assert np.array_equal(loaded, np.asarray(expected))
    assert json.loads((tmp_path / "out.bin.json").read_text())["encoding"] == "gpt2"


def test_batches_reads_a_token_file(capsys, tmp_path, text_file, prose_ids, gpt2):
    out_file = tmp_path / "out.bin"
    assert run(capsys, "encode-file", text_file, "-o", out_file, "--quiet")[0] == 0
    code, from_file, err = run(capsys, "batches", out_file, "--batch-size", 8, "--max-length", 4, "--stride", 4)
    assert code == 0 and err == ""
    n_windows = len(range(0, len(prose_ids) - 4, 4))
    assert f"{len(prose_ids):,} tokens" in from_file and f"{n_windows:,} windows" in from_file
    assert f"{-(-n_windows // 8):,} batches" in from_file
    assert f"{prose_ids[:4]} -> {prose_ids[1:5]}" in from_file and repr(gpt2.decode(prose_ids[:4])) in from_file
    _, from_text, _ = run(capsys, "batches", text_file, "--batch-size", 8, "--max-length", 4, "--stride", 4)
    assert from_file == from_text


def test_encode_file_cl100k_is_uint32(capsys, tmp_path, text_file, prose_text, cl100k):
    out_file = tmp_path / "cl.bin"
    code, _, _ = run(capsys, "encode-file", text_file, "-o", out_file, "--encoding", "cl100k_base", "--quiet")
    assert code == 0
    meta = json.loads((tmp_path / "cl.bin.json").read_text())
    assert meta["dtype"] == "uint32" and meta["encoding"] == "cl100k_base"
    assert npllm.load_tokens(out_file).tolist() == cl100k.encode(prose_text)
    assert out_file.stat().st_size == 4 * meta["count"]
    code, out, _ = run(capsys, "batches", out_file, "--max-length", 4, "--stride", 4)
    ids = cl100k.encode(prose_text)
    assert code == 0 and f"{ids[:4]} -> {ids[1:5]}" in out
    assert repr(cl100k.decode(ids[:4])) in out  # decoded with the sidecar's encoding


def test_encode_file_special_tokens(capsys, tmp_path):
    src = tmp_path / "docs.txt"
    src.write_text("one document<|endoftext|>another one", encoding="utf-8")
    out_file = tmp_path / "docs.bin"
    code, _, err = run(capsys, "encode-file", src, "-o", out_file)
    # the refusal is the encoder's own (tiktoken's) message, which explains the fix on more lines
    assert code == 1 and err.startswith("npllm: error:") and "<|endoftext|>" in err.splitlines()[0]
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs.txt"]
    assert run(capsys, "encode-file", src, "-o", out_file, "--special", "allow", "--quiet")[0] == 0
    assert 50256 in npllm.load_tokens(out_file).tolist()


# --- failure paths: exit 1, one line, no traceback ---------------------------------------


def test_batches_missing_file(capsys, tmp_path):
    code, out, err = run(capsys, "batches", tmp_path / "nope.txt")
    assert code == 1 and out == "" and "nope.txt" in error_line(err)


def test_batches_non_utf8_file(capsys, tmp_path):
    src = tmp_path / "latin1.txt"
    src.write_bytes("café crème, déjà vu\n".encode("latin-1") * 20)
    code, out, err = run(capsys, "batches", src)
    assert code == 1 and out == "" and "latin1.txt" in error_line(err)


def test_batches_max_length_larger_than_the_text(capsys, tmp_path):
    src = tmp_path / "short.txt"
    src.write_text("Hello world", encoding="utf-8")  # 2 tokens
    code, out, err = run(capsys, "batches", src, "--max-length", 4)
    line = error_line(err)
    assert code == 1 and "2" in line and "5" in line


@pytest.mark.parametrize("option", [("--batch-size", 0), ("--max-length", 0), ("--stride", 0), ("--batch-size", -3)])
def test_batches_non_positive_numbers(capsys, text_file, option):
    code, _, err = run(capsys, "batches", text_file, *option)
    assert code == 1 and option[0] in error_line(err)


def test_batches_bad_number_is_one_line_too(capsys, text_file):
    code, out, err = run(capsys, "batches", text_file, "--batch-size", "abc")
    line = error_line(err)
    assert code == 1 and out == "" and "--batch-size" in line and "'abc'" in line


def test_batches_token_file_with_a_corrupt_sidecar(capsys, tmp_path):
    token_file = tmp_path / "t.bin"
    npllm.save_tokens(token_file, list(range(100)), encoding="gpt2")
    (tmp_path / "t.bin.json").write_text("{corrupt", encoding="utf-8")
    code, out, err = run(capsys, "batches", token_file)
    assert code == 1 and out == "" and "t.bin.json" in error_line(err)


def test_batches_truncated_token_file(capsys, tmp_path):
    token_file = tmp_path / "t.bin"
    npllm.save_tokens(token_file, list(range(100)), encoding="gpt2")
    token_file.write_bytes(token_file.read_bytes()[:-4])
    code, _, err = run(capsys, "batches", token_file)
    assert code == 1 and "t.bin" in error_line(err)


def test_encode_file_workers_0(capsys, tmp_path, text_file):
    code, _, err = run(capsys, "encode-file", text_file, "-o", tmp_path / "o.bin", "--workers", 0)
    assert code == 1 and "--workers" in error_line(err)
    assert not (tmp_path / "o.bin").exists()


def test_encode_file_output_folder_missing(capsys, tmp_path, text_file):
    code, _, err = run(capsys, "encode-file", text_file, "-o", tmp_path / "no" / "such" / "o.bin")
    assert code == 1 and "no" in error_line(err)
    assert not (tmp_path / "no").exists()


def test_encode_file_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "encode-file", tmp_path / "nope.txt", "-o", tmp_path / "o.bin")
    assert code == 1 and "nope.txt" in error_line(err)
    assert list(tmp_path.iterdir()) == []


def test_encode_file_non_utf8_file(capsys, tmp_path):
    src = tmp_path / "latin1.txt"
    src.write_bytes("café crème, déjà vu\n".encode("latin-1") * 20)
    code, _, err = run(capsys, "encode-file", src, "-o", tmp_path / "o.bin")
    assert code == 1 and "UTF-8" in error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin1.txt"]


def test_encode_file_needs_an_output(capsys, text_file):
    code, _, err = run(capsys, "encode-file", text_file)
    assert code == 1 and "-o/--out" in error_line(err)
    code, _, err = run(capsys, "encode-file", text_file, "-o", "x.bin", "--workers", "two")
    assert code == 1 and "--workers" in error_line(err)
