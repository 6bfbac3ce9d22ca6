"""`npllm train-bpe`: train from a file, save the model and its .vocab dump, use it with
`npllm encode`; every failure (a usage error too) is one `npllm: error:` line and exit
code 1, never a traceback. The file is `prose_text`, real text every Python installation has."""

import warnings

import pytest
from cli_run import error_line, run

import npllm
from npllm import CL100K_PATTERN, GPT2_PATTERN

EOT = "<|endoftext|>"


@pytest.fixture
def text_file(tmp_path, prose_text):
    path = tmp_path / "prose.txt"
    path.write_bytes(prose_text.encode("utf-8"))
    return path


def test_train_saves_the_model_and_its_dump(capsys, tmp_path, text_file, prose_text):
    model = tmp_path / "m.npllm-bpe"
    code, out, err = run(capsys, "train-bpe", str(text_file), "--vocab-size", "300", "-o", str(model))
    assert code == 0 and out == ""  # data to stdout: there is none; the rest is on stderr
    assert model.is_file() and model.with_suffix(".vocab").is_file()
    assert "Traceback" not in err and "npllm: warning" not in err
    progress = err.split("\n")[0].split("\r")[-1]  # the progress line, as it was last drawn
    assert "44/44" in progress and "merges/s" in progress
    assert str(model) in err  # says where it saved
    enc = npllm.load_encoding(model)
    assert enc.name == "m" and enc.pat_str == GPT2_PATTERN and enc.special_tokens == {}
    assert enc.mergeable_ranks == npllm.train_bpe(prose_text, 300).mergeable_ranks
    dump = model.with_suffix(".vocab").read_text(encoding="utf-8").splitlines()
    assert len(dump) == 300 and dump[97] == "[a] 97" and " -> " in dump[256]


def test_the_saved_model_works_with_encode(capsys, tmp_path, text_file):
    model = tmp_path / "m.npllm-bpe"
    assert run(capsys, "train-bpe", str(text_file), "--vocab-size", "400", "-o", str(model), "--quiet")[0] == 0
    text = "the parser of the command line and its arguments"
    code, out, _ = run(capsys, "encode", "--encoding", str(model), "--text", text)
    ids = npllm.load_encoding(model).encode(text)
    assert code == 0 and out == " ".join(map(str, ids)) + "\n"
    assert len(ids) < len(text)  # the trained merges are used
    code, out, _ = run(capsys, "decode", "--encoding", str(model), "--ids", out)
    assert code == 0 and out == text + "\n"


def test_special_token_pattern_and_name(capsys, tmp_path, text_file, prose_text):
    model = tmp_path / "s.npllm-bpe"
    code, _, err = run(
        capsys,
        "train-bpe",
        str(text_file),
        "--vocab-size",
        "300",
        "-o",
        str(model),
        "--special",
        EOT,
        "--special",
        "<|pad|>",
        "--pattern",
        "cl100k",
        "--name",
        "mine",
    )
    assert code == 0, err
    enc = npllm.load_encoding(model)
    assert enc.name == "mine" and enc.pat_str == CL100K_PATTERN
    assert enc.special_tokens == {EOT: 300, "<|pad|>": 301}
    assert enc.mergeable_ranks == npllm.train_bpe(prose_text, 300, pat_str=CL100K_PATTERN).mergeable_ranks
    code, out, _ = run(capsys, "encode", "--encoding", str(model), "--special", "allow", "--text", f"a{EOT}")
    assert code == 0 and out == "97 300\n"


def test_quiet_prints_no_progress(capsys, tmp_path, text_file):
    model = tmp_path / "q.npllm-bpe"
    code, out, err = run(capsys, "train-bpe", str(text_file), "--vocab-size", "300", "-o", str(model), "--quiet")
    assert code == 0 and out == ""
    assert "merges/s" not in err and "\r" not in err
    assert model.is_file()


def test_vocab_too_large_for_the_text_warns_once(capsys, tmp_path, text_file, prose_text):
    model = tmp_path / "big.npllm-bpe"
    code, out, err = run(capsys, "train-bpe", str(text_file), "--vocab-size", "5000", "-o", str(model))
    assert code == 0 and out == ""
    assert "Traceback" not in err and "npllm: error" not in err
    with warnings.catch_warnings(record=True) as caught:  # what the library says about the same text
        warnings.simplefilter("always")
        n_merges = len(npllm.train_bpe(prose_text, 5000).mergeable_ranks) - 256
    assert len(caught) == 1 and 0 < n_merges < 5000 - 256
    warning_lines = [line for line in err.split("\n") if line.startswith("npllm: warning:")]
    assert len(warning_lines) == 1 and f"only {n_merges:,} merges" in warning_lines[0]
    assert err.count("npllm: warning") == 1
    assert npllm.load_encoding(model).n_vocab == 256 + n_merges


def test_missing_file(capsys, tmp_path):
    model = tmp_path / "m.npllm-bpe"
    code, out, err = run(capsys, "train-bpe", str(tmp_path / "nope.txt"), "--vocab-size", "300", "-o", str(model))
    assert code == 1 and out == ""
    assert "nope.txt" in error_line(err)
    assert not model.exists()


def test_non_utf8_file(capsys, tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café au lait\n".encode("latin-1") * 10)
    model = tmp_path / "m.npllm-bpe"
    code, out, err = run(capsys, "train-bpe", str(bad), "--vocab-size", "300", "-o", str(model))
    assert code == 1 and out == ""
    assert "utf-8" in error_line(err).lower()
    assert not model.exists()


def test_non_utf8_error_names_the_file(capsys, tmp_path):
    # as `npllm encode FILE` does ("... is not UTF-8 text"): the user must know which file
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café au lait\n".encode("latin-1"))
    code, _, err = run(capsys, "train-bpe", str(bad), "--vocab-size", "300", "-o", str(tmp_path / "m.npllm-bpe"))
    assert code == 1
    assert "latin1.txt" in error_line(err)


def test_empty_file(capsys, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    code, out, err = run(capsys, "train-bpe", str(empty), "--vocab-size", "300", "-o", str(tmp_path / "m.npllm-bpe"))
    assert code == 1 and out == ""
    assert "empty" in error_line(err)


def test_vocab_size_below_256(capsys, tmp_path, text_file):
    model = tmp_path / "m.npllm-bpe"
    code, out, err = run(capsys, "train-bpe", str(text_file), "--vocab-size", "100", "-o", str(model))
    assert code == 1 and out == ""
    line = error_line(err)
    assert "256" in line and "100" in line
    assert not model.exists()


def test_vocab_size_not_a_number(capsys, tmp_path, text_file):
    code, out, err = run(
        capsys, "train-bpe", str(text_file), "--vocab-size", "abc", "-o", str(tmp_path / "m.npllm-bpe")
    )
    assert code == 1 and out == ""
    line = error_line(err)
    assert "--vocab-size" in line and "abc" in line


def test_output_folder_missing(capsys, tmp_path, text_file):
    model = tmp_path / "no" / "such" / "m.npllm-bpe"
    code, out, err = run(capsys, "train-bpe", str(text_file), "--vocab-size", "300", "-o", str(model))
    assert code == 1 and out == ""
    assert str(model.parent) in error_line(err)
    assert not model.parent.exists()


def test_workers_give_the_same_model(capsys, tmp_path, text_file, monkeypatch):
    import npllm.bpe.counts as counts_module

    monkeypatch.setattr(counts_module, "COUNT_CHUNK_CHARS", 500)
    monkeypatch.setattr(counts_module, "PARALLEL_CHUNK_CHARS", 2000)  # ~10 tasks for the workers
    one, two = tmp_path / "one.npllm-bpe", tmp_path / "two.npllm-bpe"
    assert run(capsys, "train-bpe", str(text_file), "--vocab-size", "400", "-o", str(one), "--quiet")[0] == 0
    code, _, err = run(
        capsys,
        "train-bpe",
        str(text_file),
        "--vocab-size",
        "400",
        "-o",
        str(two),
        "--quiet",
        "--workers",
        "2",
        "--name",
        "one",
    )
    assert code == 0 and "Traceback" not in err
    assert two.read_bytes() == one.read_bytes()


def test_more_workers_than_cpus(capsys, tmp_path, text_file, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    code, out, err = run(
        capsys,
        "train-bpe",
        str(text_file),
        "--vocab-size",
        "300",
        "-o",
        str(tmp_path / "m.npllm-bpe"),
        "--workers",
        "3",
    )
    assert code == 1 and "--workers 3 is more than the 2 CPUs here" in error_line(err)
