"""The same IDs however a file is read (issue 13, item 1).

`npllm encode FILE`, `show`, `words`, `batches` and `demo --text` read files in text mode and
turned "\\r\\n" into "\\n", while stdin, `encode-file`, `train-bpe` and tiktoken kept the "\\r":
`encode c.txt` gave 9 IDs and `encode < c.txt` 11. Now every way keeps every byte, and a
UTF-8 byte order mark is kept as the character U+FEFF (tiktoken encodes it; nothing strips
it), so each command sees exactly `bytes.decode("utf-8")`.
"""

import io
import sys

import numpy as np
import pytest
from cli_run import run
from reference import tiktoken_encoding

import npllm

FILES = {
    "crlf": b"Hello world\r\nSecond line\r\n",  # the issue's file: 11 GPT-2 IDs, not 9
    "bom": b"\xef\xbb\xbfHello world\nSecond line\n",
    "bom-crlf": b"\xef\xbb\xbfHello\r\n\r\nworld\r\n" * 3,
    "lone-cr": b"one\rtwo\r\r\nthree\n\r",
}


@pytest.fixture(params=sorted(FILES))
def text_file(request, tmp_path):
    """(path, the file's bytes, its text as tiktoken is given it)."""
    data = FILES[request.param]
    path = tmp_path / f"{request.param}.txt"
    path.write_bytes(data)
    return path, data, data.decode("utf-8")


def stdin_of(monkeypatch, data: bytes) -> None:
    """stdin as a process has it: bytes underneath, a text layer that does not translate
    newlines on POSIX (CPython's sys.stdin); npllm reads the bytes."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline=None))


def ids_printed(out: str) -> list[int]:
    return [int(i) for i in out.split()]


def test_the_issues_file_gives_11_ids_every_way(capsys, monkeypatch, tmp_path):
    path = tmp_path / "c.txt"
    path.write_bytes(FILES["crlf"])
    expected = [15496, 995, 201, 198, 12211, 1627, 201, 198]  # "\r" (201) kept, as tiktoken keeps it
    assert npllm.get_encoding("gpt2").encode("Hello world\r\nSecond line\r\n") == expected
    code, out, _ = run(capsys, "encode", str(path))
    assert code == 0 and ids_printed(out) == expected
    stdin_of(monkeypatch, FILES["crlf"])  # a text layer with newline=None would translate: the bytes are read
    code, out, _ = run(capsys, "encode")
    assert code == 0 and ids_printed(out) == expected


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base"])
def test_encode_a_file_stdin_and_encode_file_agree_with_tiktoken(capsys, monkeypatch, tmp_path, text_file, name):
    path, data, text = text_file
    expected = tiktoken_encoding(name).encode(text)
    code, out, _ = run(capsys, "encode", "--encoding", name, str(path))
    assert code == 0 and ids_printed(out) == expected
    stdin_of(monkeypatch, data)
    code, out, _ = run(capsys, "encode", "--encoding", name, "-")
    assert code == 0 and ids_printed(out) == expected
    code, _, _ = run(capsys, "encode-file", str(path), "--encoding", name, "-o", str(tmp_path / "t.bin"), "--quiet")
    assert code == 0 and npllm.load_tokens(tmp_path / "t.bin").tolist() == expected
    code, _, _ = run(capsys, "encode", "--encoding", name, str(path), "--out", str(tmp_path / "ids.npy"))
    assert code == 0 and np.load(tmp_path / "ids.npy").tolist() == expected


def test_show_words_batches_and_demo_see_every_character(capsys, text_file, tmp_path):
    path, _, text = text_file
    n_ids = len(npllm.get_encoding("gpt2").encode(text, allowed_special="all"))
    code, _, err = run(capsys, "show", str(path))
    assert code == 0 and f"{n_ids:,} tokens for {len(text):,} characters" in err
    code, out, _ = run(capsys, "words", str(path))
    assert code == 0 and f"characters: {len(text):,}" in out
    long_path = tmp_path / "long.txt"
    long_path.write_bytes(path.read_bytes() * 10)
    code, out, _ = run(capsys, "batches", str(long_path), "--max-length", "2")
    assert code == 0 and out.startswith(f"{10 * n_ids:,} tokens;")


def test_demo_on_a_crlf_file_counts_the_carriage_returns(capsys, tmp_path):
    path = tmp_path / "d.txt"
    path.write_bytes(FILES["bom-crlf"] * 20)
    text = path.read_bytes().decode("utf-8")
    code, out, _ = run(capsys, "demo", "--text", str(path), "--steps", "1")
    assert code == 0 and f"{len(text):,} characters" in out.strip().splitlines()[0]


def test_train_bpe_on_a_file_equals_training_on_its_bytes(capsys, tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(FILES["bom-crlf"] * 30)
    code, _, _ = run(
        capsys, "train-bpe", str(path), "--vocab-size", "262", "-o", str(tmp_path / "m.npllm-bpe"), "--quiet"
    )
    assert code == 0
    trained = npllm.train_bpe(path.read_bytes().decode("utf-8"), 262, name="m")
    assert npllm.load_encoding(tmp_path / "m.npllm-bpe").mergeable_ranks == trained.mergeable_ranks
