"""The BPE subcommands of the CLI (encode, decode, show) and the demo's failure paths."""

import numpy as np
import pytest
from cli_run import error_line, run

import npllm.data


def test_encode_known_answers(capsys):
    assert run(capsys, "encode", "--text", "hello world") == (0, "31373 995\n", "")
    assert run(capsys, "encode", "--encoding", "cl100k_base", "--text", "hello world")[1] == "15339 1917\n"


def test_encode_special_token_policies(capsys):
    code, _, err = run(capsys, "encode", "--text", "a<|endoftext|>")
    assert code == 1 and "<|endoftext|>" in error_line(err)
    assert run(capsys, "encode", "--special", "allow", "--text", "<|endoftext|>")[1] == "50256\n"
    assert run(capsys, "encode", "--special", "ordinary", "--text", "<|endoftext|>")[1] == "27 91 437 1659 5239 91 29\n"


def test_encode_to_npy_and_decode_it_back(capsys, tmp_path, prose_text, gpt2):
    src = tmp_path / "prose.txt"
    src.write_text(prose_text, encoding="utf-8")
    out = tmp_path / "ids.npy"
    code, _, err = run(capsys, "encode", str(src), "--out", str(out))
    expected = gpt2.encode(prose_text)
    assert code == 0 and f"{len(expected):,} tokens" in err
    ids = np.load(out)
    assert ids.dtype == np.int64 and ids.shape == (len(expected),)
    assert ids.tolist() == expected
    code, text, _ = run(capsys, "decode", str(out))
    assert code == 0 and text == prose_text + "\n"


def test_decode_accepts_lists_and_rejects_bad_ids(capsys, tmp_path):
    assert run(capsys, "decode", "--ids", "[31373, 995]")[1] == "hello world\n"
    code, _, err = run(capsys, "decode", "--ids", "31373 x")
    assert code == 1 and "'x'" in error_line(err)
    code, _, err = run(capsys, "decode", "--ids", "50257")
    assert code == 1 and "50257" in error_line(err)
    floats = tmp_path / "f.npy"
    np.save(floats, np.array([1.5]))
    code, _, err = run(capsys, "decode", str(floats))
    assert code == 1 and "float64" in error_line(err)


def test_show_marks_token_boundaries(capsys):
    code, out, err = run(capsys, "show", "--text", "Hello, do you like tea?", "--color", "never")
    assert code == 0
    assert out == "Hello|,| do| you| like| tea|?\n"
    assert "7 tokens for 23 characters" in err
    code, out, _ = run(capsys, "show", "--text", "ab", "--color", "always")
    assert "\x1b[" in out and "ab" in out


def test_show_makes_split_characters_visible(capsys):
    # "世" is three bytes that GPT-2 splits in two tokens: show the raw bytes, not U+FFFD
    code, out, _ = run(capsys, "show", "--text", "世", "--color", "never")
    assert code == 0 and out == "\\xe4\\xb8|\\x96\n"


def test_saved_encoding_file_works_as_encoding(capsys, tmp_path):
    enc = npllm.get_encoding("gpt2")
    path = tmp_path / "gpt2.npllm-bpe"
    enc.save(path)
    assert run(capsys, "encode", "--encoding", str(path), "--text", "hello world")[1] == "31373 995\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["encode", "/no/such/file.txt"],
        ["decode", "/no/such/file.txt"],
        ["show", "/no/such/file.txt"],
        ["encode", "--encoding", "/no/such/model", "--text", "a"],
    ],
)
def test_missing_files_are_one_line_errors(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert "/no/such/" in error_line(err)


def test_non_utf8_and_corrupt_encoding_files(capsys, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"caf\xe9\n")
    code, _, err = run(capsys, "encode", str(bad))
    assert code == 1 and "not UTF-8" in error_line(err)
    corrupt = tmp_path / "model.npllm-bpe"
    corrupt.write_text("npllm-bpe v1\n{}\n", encoding="utf-8")
    code, _, err = run(capsys, "encode", "--encoding", str(corrupt), "--text", "a")
    assert code == 1 and "line 2" in error_line(err)


def test_demo_without_the_verdict_runs_on_npllms_docstrings(capsys, monkeypatch, tmp_path):
    """Offline and without the file: one line saying so, then all five steps on another text."""

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setenv("NPLLM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    code, out, err = run(capsys, "demo", "--steps", "3")
    assert (code, err) == (0, "")
    first = out.splitlines()[0]
    assert "The Verdict is not on this machine" in first
    assert "npllm data fetch the-verdict.txt" in first and "NPLLM_DATA_DIR" in first
    from npllm.demo import docstrings_text

    text = docstrings_text()
    assert f"== Step 1: words (npllm's own docstrings, {len(text):,} characters) ==" in out
    for step in range(1, 6):
        assert f"== Step {step}: " in out
    assert "  step 3  loss " in out
    assert "sample, 60 tokens after 'I had'" in out


def test_demo_shows_bpe_step(demo_output, verdict_text):  # the demo's text: skips offline
    out = demo_output
    assert "[15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554" in out
    assert "5,145 GPT-2 tokens" in out
