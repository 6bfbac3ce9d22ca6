"""The `npllm` command, step 1: --version, `words`, `demo`, and one-line errors."""

import io
import subprocess
import sys

import pytest
from cli_run import error_line

import npllm
from npllm.cli import main


@pytest.fixture
def verdict_file(tmp_path, verdict_text):
    file = tmp_path / "verdict.txt"
    file.write_text(verdict_text, encoding="utf-8")
    return file


@pytest.fixture
def prose_file(tmp_path, prose_text):
    file = tmp_path / "prose.txt"
    file.write_text(prose_text, encoding="utf-8")
    return file


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"npllm {npllm.__version__}"


def test_words_prints_the_verdict_counts(capsys, verdict_file):
    assert main(["words", str(verdict_file)]) == 0
    out, err = capsys.readouterr()
    assert "characters: 20,479" in out
    assert "words:      4,690" in out
    assert "vocabulary: 1,130" in out
    assert "first 30 pieces: ['I', 'HAD', 'always'," in out
    assert err == ""


def test_words_show_limits_the_pieces(capsys, prose_file, prose_text):
    assert main(["words", str(prose_file), "--show", "3"]) == 0
    out = capsys.readouterr().out
    assert f"first 3 pieces: {npllm.split_words(prose_text)[:3]}\n" in out
    assert f"words:      {len(npllm.split_words(prose_text)):,}\n" in out


def test_words_show_more_than_there_are(capsys, tmp_path):
    file = tmp_path / "short.txt"
    file.write_text("Hello, world.", encoding="utf-8")
    assert main(["words", str(file), "--show", "100"]) == 0
    out = capsys.readouterr().out
    assert "words:      4\n" in out
    assert "vocabulary: 4\n" in out
    assert "first 4 pieces: ['Hello', ',', 'world', '.']" in out


def test_words_reads_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("a b a -- b."))
    assert main(["words", "-"]) == 0
    out = capsys.readouterr().out
    assert "words:      6\n" in out
    assert "vocabulary: 4\n" in out


def test_demo_prints_the_v2_ids(demo_output, verdict_text):  # the demo's text: skips offline
    out = demo_output
    assert "The Verdict, 20,479 characters" in out
    assert "4,690 words and punctuation marks; vocabulary of 1,130" in out
    assert "-> [1131, 5, 355, 1126, 628, 975, 10, 1130, 55, 988, 956, 984, 722, 988, 1131, 7]" in out
    assert "<|unk|>, do you like tea? <|endoftext|> In the sunlit terraces of the <|unk|>." in out


def test_demo_on_another_text(capsys, tmp_path):
    file = tmp_path / "mine.txt"
    file.write_text("the cat sat on the mat. " * 4, encoding="utf-8")
    assert main(["demo", "--text", str(file)]) == 0
    out = capsys.readouterr().out
    assert f"{file}, 96 characters" in out
    assert "28 words and punctuation marks; vocabulary of 6" in out  # 7 pieces x 4
    assert "too short for the course's defaults" in out  # 28 tokens: no window of 256


def test_missing_file_is_one_line_and_exit_1(capsys, tmp_path):
    missing = tmp_path / "nope.txt"
    assert main(["words", str(missing)]) == 1
    out, err = capsys.readouterr()
    line = error_line(err)
    assert str(missing) in line
    assert out == ""


def test_directory_is_one_line_and_exit_1(capsys, tmp_path):
    assert main(["words", str(tmp_path)]) == 1
    assert str(tmp_path) in error_line(capsys.readouterr().err)


def test_non_utf8_file_is_one_line_and_exit_1(capsys, tmp_path):
    file = tmp_path / "latin1.txt"
    file.write_bytes("caf\u00e9 au lait".encode("latin-1"))
    assert main(["words", str(file)]) == 1
    out, err = capsys.readouterr()
    line = error_line(err)
    assert str(file) in line and "UTF-8" in line
    assert out == ""


def test_demo_missing_text_is_one_line_and_exit_1(capsys, tmp_path):
    assert main(["demo", "--text", str(tmp_path / "nope.txt")]) == 1
    error_line(capsys.readouterr().err)


def test_negative_show_is_exit_1(capsys, prose_file):
    assert main(["words", str(prose_file), "--show", "-1"]) == 1
    out, err = capsys.readouterr()
    assert "--show" in error_line(err)
    assert out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["words"],  # FILE is required
        ["words", "x.txt", "--show", "many"],
        ["--no-such-option"],
    ],
)
def test_bad_usage_is_one_line_and_exit_1(capsys, argv):
    # argparse alone would print the usage and exit 2; npllm's parser says it in one line
    assert main(argv) == 1
    out, err = capsys.readouterr()
    assert "--help" in error_line(err)
    assert out == ""


def test_no_command_is_one_line_that_lists_the_commands(capsys):
    # a failure like any other (issue 13's fuzz test found the 22-line help here); --help has it all
    assert main([]) == 1
    out, err = capsys.readouterr()
    line = error_line(err)
    assert "give a command: demo, words, encode, decode, show, train-bpe, encode-file, batches, data" in line
    assert "npllm --help" in line and out == ""


def test_python_dash_m_npllm_version():
    result = subprocess.run([sys.executable, "-m", "npllm", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"npllm {npllm.__version__}"
