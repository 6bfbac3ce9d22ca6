"""Every subcommand's failure paths (issue 7), as tables.

A missing, unreadable or non-UTF-8 file, a corrupt model, token or .npy file, an output
nobody can write, a bad number: each is exactly one `npllm: error:` line on stderr that
names the problem, exit code 1, nothing on stdout, no traceback, and no file left behind.
An argv is written as one string with {placeholders} for the files of the `paths` fixture
('' for an empty argument).
"""

import hashlib
import io
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile

import numpy as np
import pytest
from cli_run import error_line

import npllm
from npllm.bpe.files import MAGIC
from npllm.cli import main

NOT_UTF8 = b"\xff\xfe\x00bad"
TEXT = "Hello, world. Hello again, world.\n"
HEADER = {
    "name": "tiny",
    "pat_str": npllm.GPT2_PATTERN,
    "special_tokens": {},
    "explicit_n_vocab": None,
    # what a v2 header says about the one rank line "YQ== 0" that model_file writes by default
    "n_ranks": 1,
    "rank_gaps": False,
    "ranks_sha256": hashlib.sha256(b"YQ== 0\n").hexdigest(),
}


# --- the files the tables name --------------------------------------------------------------


def unix_socket(path: pathlib.Path) -> pathlib.Path:
    """A Unix socket file at `path`: it exists, but nobody (not even root) can open it."""
    cwd = os.getcwd()
    os.chdir(path.parent)  # bind a short relative name: socket paths are limited to ~100 bytes
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(path.name)
    finally:
        os.chdir(cwd)
    return path


def unreadable_file(path: pathlib.Path) -> pathlib.Path:
    """A file this process cannot read: chmod 000, or a socket when that does not stop us (root)."""
    path.write_text("secret", encoding="utf-8")
    path.chmod(0)
    try:
        path.read_bytes()
    except PermissionError:
        return path
    path.unlink()
    return unix_socket(path)


def unwritable_folder(path: pathlib.Path) -> pathlib.Path:
    """A folder this process cannot create files in: chmod 555, or /proc when that does not stop us (root)."""
    path.mkdir()
    path.chmod(0o555)
    try:
        tempfile.TemporaryFile(dir=path).close()
    except PermissionError:
        return path
    path.chmod(0o755)
    return pathlib.Path("/proc")  # procfs: not even root can create a file there


def model_file(path: pathlib.Path, header=HEADER, rank_lines=("YQ== 0",)) -> pathlib.Path:
    """A .npllm-bpe file with this header and these rank lines."""
    path.write_text("\n".join([MAGIC, json.dumps(header), *rank_lines]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> bytes:
    """A .npllm-bpe file of 260 tokens trained on TEXT, as bytes: trained once."""
    path = tmp_path_factory.mktemp("model") / "tiny.npllm-bpe"
    npllm.train_bpe(TEXT, 260, name="tiny").save(path)
    return path.read_bytes()


@pytest.fixture
def paths(tmp_path, tiny_model) -> dict:
    """Placeholder -> path, for the argv templates. Small files: every command fails fast."""
    (tmp_path / "hello.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes(NOT_UTF8)
    (tmp_path / "folder").mkdir()
    (tmp_path / "out.npy").mkdir()  # a folder where a writer's output would go
    (tmp_path / "tiny.npllm-bpe").write_bytes(tiny_model)
    return {
        "tmp": str(tmp_path),
        "text": str(tmp_path / "hello.txt"),
        "latin1": str(tmp_path / "latin1.txt"),
        "missing": str(tmp_path / "missing.txt"),
        "folder": str(tmp_path / "folder"),
        "unreadable": str(unreadable_file(tmp_path / "unreadable.txt")),
        "model": str(tmp_path / "tiny.npllm-bpe"),
        "out_folder": str(tmp_path / "out.npy"),
        "socket": str(unix_socket(tmp_path / "socket.npy")),
        "unwritable": str(unwritable_folder(tmp_path / "readonly")),
    }


def fails_with_one_line(capsys, paths, template: str, words) -> str:
    """Run `template`; check the failure contract; return the error line."""
    tmp = pathlib.Path(paths["tmp"])
    before = sorted(tmp.rglob("*"))
    code = main(["" if word == "''" else word.format(**paths) for word in template.split()])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert code == 1, err
    assert out == ""  # nothing that looks like a result
    assert err.endswith("\n") and err.count("\n") == 1, err  # one line, and no blank one
    line = error_line(err)
    for word in [words] if isinstance(words, str) else words:
        assert word.format(**paths) in line, f"{word!r} not in {line!r}"
    assert sorted(tmp.rglob("*")) == before  # no output, no temporary file left behind
    return line


# --- input files: missing, a folder, unreadable, not UTF-8 ---------------------------------

READERS = [  # each subcommand that reads a text (or IDs) file, with {file} where it goes
    "words {file}",
    "demo --text {file}",
    "encode {file}",
    "decode {file}",
    "show {file}",
    "train-bpe {file} --vocab-size 260 -o {tmp}/m.npllm-bpe",
    "encode-file {file} --encoding {model} -o {tmp}/t.bin",
    "batches {file}",
]

BAD_FILES = [  # (the file, words the message must hold)
    ("{missing}", ["missing.txt", "no such file"]),
    ("{folder}", ["folder", "directory"]),
    ("{unreadable}", ["unreadable.txt", "cannot read"]),
    ("{latin1}", ["latin1.txt", "UTF-8"]),
]


@pytest.mark.parametrize("bad_file, words", BAD_FILES, ids=["missing", "folder", "unreadable", "not-utf8"])
@pytest.mark.parametrize("reader", READERS, ids=lambda r: r.split()[0])
def test_bad_input_file(capsys, paths, reader, bad_file, words):
    fails_with_one_line(capsys, paths, reader.replace("{file}", bad_file), words)


@pytest.mark.parametrize("reader", ["words -", "encode", "decode", "show"], ids=lambda r: r.split()[0])
def test_stdin_that_is_not_utf8(capsys, paths, monkeypatch, reader):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(NOT_UTF8), encoding="utf-8"))
    fails_with_one_line(capsys, paths, reader, ["stdin", "UTF-8"])


# --- --encoding FILE: missing, a folder, unreadable, not a model, corrupt --------------------

ENCODING_USERS = [  # each subcommand that takes --encoding NAME|FILE
    "encode --text a --encoding {file}",
    "decode --ids 1 --encoding {file}",
    "show --text a --encoding {file}",
    "encode-file {text} -o {tmp}/t.bin --encoding {file}",
    "batches {text} --encoding {file}",
]

BAD_MODELS = [  # (the --encoding file, words the message must hold)
    ("{missing}", ["missing.txt", "--encoding"]),
    ("{folder}", ["folder", "directory"]),
    ("{unreadable}", ["unreadable.txt", "cannot read"]),
    ("{latin1}", ["latin1.txt", "line 1", "not an npllm BPE file"]),
]


@pytest.mark.parametrize("bad_model, words", BAD_MODELS, ids=["missing", "folder", "unreadable", "not-a-model"])
@pytest.mark.parametrize("user", ENCODING_USERS, ids=lambda u: u.split()[0])
def test_bad_encoding_file(capsys, paths, user, bad_model, words):
    fails_with_one_line(capsys, paths, user.replace("{file}", bad_model), words)


CORRUPT_MODELS = [  # (file name, header, rank lines, words the message must hold)
    ("empty.npllm-bpe", None, None, ["empty.npllm-bpe", "line 1"]),
    ("no-header.npllm-bpe", "", (), ["no-header.npllm-bpe", "line 2"]),
    ("header-not-json.npllm-bpe", "{name: tiny", (), ["header-not-json.npllm-bpe", "line 2"]),
    ("header-no-name.npllm-bpe", {**HEADER, "name": 3}, ("YQ== 0",), ["header-no-name.npllm-bpe", "'name'"]),
    ("no-ranks.npllm-bpe", HEADER, (), ["no-ranks.npllm-bpe", "truncated"]),
    ("bad-base64.npllm-bpe", HEADER, ("YQ== 0", "!!! 1"), ["bad-base64.npllm-bpe", "line 4"]),
    ("bad-rank.npllm-bpe", HEADER, ("YQ== zero",), ["bad-rank.npllm-bpe", "line 3"]),
    ("negative-rank.npllm-bpe", HEADER, ("YQ== -1",), ["negative-rank.npllm-bpe", "line 3"]),
    ("twice.npllm-bpe", HEADER, ("YQ== 0", "YQ== 1"), ["twice.npllm-bpe", "twice"]),
    ("bad-pattern.npllm-bpe", {**HEADER, "pat_str": "(unclosed"}, ("YQ== 0",), ["bad-pattern.npllm-bpe", "pat_str"]),
    (
        "special-id-taken.npllm-bpe",
        {**HEADER, "special_tokens": {"<|x|>": 0}},
        ("YQ== 0",),
        ["special-id-taken.npllm-bpe", "<|x|>"],
    ),
    (
        "special-id-text.npllm-bpe",
        {**HEADER, "special_tokens": {"<|x|>": "one"}},
        ("YQ== 0",),
        ["special-id-text.npllm-bpe", "special_tokens"],
    ),
    (
        "n-vocab-wrong.npllm-bpe",
        {**HEADER, "explicit_n_vocab": 5},
        ("YQ== 0",),
        ["n-vocab-wrong.npllm-bpe", "explicit_n_vocab"],
    ),
    # issue 13, item 4: a rank past uint32, a cut or edited file, gaps, the v2 fields missing
    ("huge-rank.npllm-bpe", HEADER, ("YQ== 99999999999999999999999999",), ["huge-rank.npllm-bpe", "line 3", "2**32"]),
    ("huge-special.npllm-bpe", {**HEADER, "special_tokens": {"<|x|>": 2**40}}, ("YQ== 0",), ["huge-special", "2**32"]),
    ("cut.npllm-bpe", {**HEADER, "n_ranks": 3}, ("YQ== 0",), ["cut.npllm-bpe", "3 rank lines", "truncated"]),
    ("edited.npllm-bpe", HEADER, ("Yg== 0",), ["edited.npllm-bpe", "checksum", "edited"]),
    ("gap.npllm-bpe", HEADER, ("YQ== 5",), ["gap.npllm-bpe", "rank 0 is missing", "rank_gaps"]),
    ("no-count.npllm-bpe", {k: v for k, v in HEADER.items() if k != "n_ranks"}, ("YQ== 0",), ["no-count", "n_ranks"]),
    ("no-checksum.npllm-bpe", {k: v for k, v in HEADER.items() if k != "ranks_sha256"}, ("YQ== 0",), ["ranks_sha256"]),
    # item 13: a split pattern that can match the empty string
    ("empty-pattern.npllm-bpe", {**HEADER, "pat_str": r"\b"}, ("YQ== 0",), ["empty-pattern.npllm-bpe", "empty string"]),
]


@pytest.mark.parametrize(
    "name, header, rank_lines, words", CORRUPT_MODELS, ids=[c[0].split(".")[0] for c in CORRUPT_MODELS]
)
def test_corrupt_encoding_file(capsys, paths, tmp_path, name, header, rank_lines, words):
    path = tmp_path / name
    if header is None:
        path.write_bytes(b"")
    elif isinstance(header, str):
        path.write_text(f"{MAGIC}\n{header}\n", encoding="utf-8")
    else:
        model_file(path, header, rank_lines)
    fails_with_one_line(capsys, paths, f"encode --text a --encoding {path}", words)


def test_a_model_file_is_fine_when_it_is_not_corrupt(capsys, tmp_path):
    # the control for the table above: the same header and rank line, read as a model
    path = model_file(tmp_path / "ok.npllm-bpe")
    assert main(["decode", "--ids", "0", "--encoding", str(path)]) == 0
    assert capsys.readouterr() == ("a\n", "")


def test_a_v1_model_file_loads_with_a_one_line_warning(capsys, tmp_path):
    # issue 13, item 4: old files (no count, no checksum) still load; the warning is one line, after the output
    path = tmp_path / "old.npllm-bpe"
    path.write_text("npllm-bpe v1\n" + json.dumps(HEADER) + "\nYQ== 0\n", encoding="utf-8")
    assert main(["decode", "--ids", "0", "--encoding", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == "a\n"
    assert len(err.splitlines()) == 1 and err.startswith("npllm: warning: ") and "v1" in err and "old.npllm-bpe" in err
    # and a failure with the same file is still the one error line, without the warning
    fails_with_one_line(capsys, {"tmp": str(tmp_path)}, f"decode --ids 7 --encoding {path}", ["7"])


# --- decode's .npy files ---------------------------------------------------------------------


def npy_file(tmp_path, name: str, kind: str) -> pathlib.Path:
    path = tmp_path / name
    if kind == "not-npy":
        path.write_bytes(NOT_UTF8)
    elif kind == "truncated":
        np.save(path, np.arange(100))
        path.write_bytes(path.read_bytes()[:-20])
    elif kind == "header-only":
        np.save(path, np.arange(100))
        path.write_bytes(path.read_bytes()[:128])
    elif kind == "pickled":
        np.save(path, np.array([1, "a"], dtype=object), allow_pickle=True)
    elif kind == "npz":
        with open(path, "wb") as f:
            np.savez(f, ids=np.arange(3))
    elif kind == "floats":
        np.save(path, np.array([1.5, 2.0]))
    elif kind == "out-of-range":
        np.save(path, np.array([31373, 50257]))
    elif kind == "negative":
        np.save(path, np.array([31373, -1]))
    return path


NPY_FILES = [  # (file name, what is wrong with it, words the message must hold)
    ("missing.npy", None, ["missing.npy", "no such file"]),
    ("bytes.npy", "not-npy", ["bytes.npy", ".npy"]),
    ("cut.npy", "truncated", ["cut.npy", "damaged"]),
    ("header.npy", "header-only", ["header.npy", "damaged"]),
    ("objects.npy", "pickled", ["objects.npy", "unsupported"]),
    ("archive.npy", "npz", ["archive.npy", ".npz"]),
    ("floats.npy", "floats", ["floats.npy", "float64"]),
    ("big.npy", "out-of-range", ["50257", "gpt2"]),
    ("negative.npy", "negative", ["-1", "gpt2"]),
]


@pytest.mark.parametrize("name, kind, words", NPY_FILES, ids=[n for n, _, _ in NPY_FILES])
def test_bad_npy_file_for_decode(capsys, paths, tmp_path, name, kind, words):
    path = npy_file(tmp_path, name, kind) if kind else tmp_path / name
    fails_with_one_line(capsys, paths, f"decode {path}", words)


def test_npy_folder_and_unreadable_npy(capsys, paths, tmp_path):
    (tmp_path / "dir.npy").mkdir()
    fails_with_one_line(capsys, paths, f"decode {tmp_path / 'dir.npy'}", ["dir.npy", "directory"])
    unreadable = unreadable_file(tmp_path / "locked.npy")
    fails_with_one_line(capsys, paths, f"decode {unreadable}", ["locked.npy", "cannot read"])


# --- batches' token files --------------------------------------------------------------------


def token_file(tmp_path, kind: str) -> pathlib.Path:
    path = tmp_path / f"{kind}.bin"
    npllm.save_tokens(path, list(range(100)), encoding="gpt2")
    side = tmp_path / f"{kind}.bin.json"
    meta = json.loads(side.read_text(encoding="utf-8"))
    if kind == "sidecar-not-json":
        side.write_text("{corrupt", encoding="utf-8")
    elif kind == "sidecar-not-utf8":
        side.write_bytes(NOT_UTF8)
    elif kind == "sidecar-bad-dtype":
        side.write_text(json.dumps({**meta, "dtype": "float32"}), encoding="utf-8")
    elif kind == "sidecar-bad-count":
        side.write_text(json.dumps({**meta, "count": -1}), encoding="utf-8")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:-4])
    elif kind == "data-missing":
        path.unlink()
    elif kind == "unknown-encoding":
        side.write_text(json.dumps({**meta, "encoding": "gpt5"}), encoding="utf-8")
    elif kind == "ids-out-of-range":
        npllm.save_tokens(path, [50_000, 60_000, 1, 2, 3, 4, 5], encoding="gpt2")
    return path


TOKEN_FILES = [  # (what is wrong with the token file, words the message must hold)
    ("sidecar-not-json", ["sidecar-not-json.bin.json", "JSON"]),
    ("sidecar-not-utf8", ["sidecar-not-utf8.bin.json", "JSON"]),
    ("sidecar-bad-dtype", ["sidecar-bad-dtype.bin.json", "dtype"]),
    ("sidecar-bad-count", ["sidecar-bad-count.bin.json", "count"]),
    ("truncated", ["truncated.bin", "truncated"]),
    ("data-missing", ["data-missing.bin", "sidecar"]),
    ("unknown-encoding", ["gpt5", "--encoding"]),
    ("ids-out-of-range", ["60000", "gpt2"]),
]


@pytest.mark.parametrize("kind, words", TOKEN_FILES, ids=[k for k, _ in TOKEN_FILES])
def test_bad_token_file_for_batches(capsys, paths, tmp_path, kind, words):
    path = token_file(tmp_path, kind)
    fails_with_one_line(capsys, paths, f"batches {path}", words)


def test_token_file_unreadable(capsys, paths, tmp_path):
    path = token_file(tmp_path, "locked")
    path.unlink()
    unreadable_file(path)
    fails_with_one_line(capsys, paths, f"batches {path}", ["locked.bin"])


def test_token_file_of_a_saved_encoding(capsys, paths, tmp_path):
    # its sidecar names the encoding "tiny", which only its .npllm-bpe file can give
    tokens = tmp_path / "tiny.bin"
    assert main(["encode-file", paths["text"], "--encoding", paths["model"], "-o", str(tokens), "--quiet"]) == 0
    capsys.readouterr()
    fails_with_one_line(capsys, paths, f"batches {tokens}", ["'tiny'", "--encoding"])
    fails_with_one_line(capsys, paths, f"batches {tokens} --encoding cl100k_base", ["tiny", "cl100k_base"])
    assert main(["batches", str(tokens), "--encoding", paths["model"]]) == 0
    assert "windows of 4" in capsys.readouterr().out


# --- outputs: a missing folder, a folder, under a file, unwritable, not a regular file ------

WRITERS = [  # each subcommand that writes a file, with {out} where it goes
    "encode --text a --encoding {model} --out {out}",
    "train-bpe {text} --vocab-size 260 -o {out}",
    "encode-file {text} --encoding {model} -o {out}",
]

BAD_OUTPUTS = [  # (the output, words the message must hold)
    ("{tmp}/no/such/out.npy", ["no/such/out.npy", "no folder"]),
    ("{out_folder}", ["out.npy", "folder"]),
    ("{text}/out.npy", ["hello.txt/out.npy", "not a folder"]),
    ("{unwritable}/out.npy", ["{unwritable}/out.npy", "cannot write"]),
    ("{socket}", ["socket.npy", "not a regular file"]),
]


@pytest.mark.parametrize(
    "bad_out, words", BAD_OUTPUTS, ids=["no-folder", "a-folder", "under-a-file", "unwritable", "socket"]
)
@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.split()[0])
def test_bad_output_path(capsys, paths, writer, bad_out, words):
    fails_with_one_line(capsys, paths, writer.replace("{out}", bad_out), words)


def test_encode_out_is_named_as_np_save_names_it_and_replaced_whole(capsys, tmp_path):
    # the control for the table above: --out without .npy gets it (np.save's rule), and the
    # message names the file written; writing again replaces it, with no temporary file left
    assert main(["encode", "--text", "hello", "--out", str(tmp_path / "ids")]) == 0
    assert f"1 tokens written to {tmp_path / 'ids.npy'}" in capsys.readouterr().err
    assert main(["encode", "--text", "hello world", "--out", str(tmp_path / "ids.npy")]) == 0
    assert np.load(tmp_path / "ids.npy").tolist() == [31373, 995]
    assert [p.name for p in tmp_path.iterdir()] == ["ids.npy"]


# --- bad numbers -------------------------------------------------------------------------------

BAD_NUMBERS = [  # (argv, words the message must hold)
    ("words {text} --show many", ["--show", "many"]),
    ("words {text} --show 1.5", ["--show", "1.5"]),
    ("words {text} --show -1", ["--show", "-1"]),
    ("words {text} --show ''", ["--show"]),
    ("train-bpe {text} --vocab-size abc -o {tmp}/m.npllm-bpe", ["--vocab-size", "abc"]),
    ("train-bpe {text} --vocab-size 1e3 -o {tmp}/m.npllm-bpe", ["--vocab-size", "1e3"]),
    ("train-bpe {text} --vocab-size 100 -o {tmp}/m.npllm-bpe", ["--vocab-size", "256", "100"]),
    ("train-bpe {text} --vocab-size -300 -o {tmp}/m.npllm-bpe", ["--vocab-size", "-300"]),
    ("train-bpe {text} --vocab-size 0 -o {tmp}/m.npllm-bpe", ["--vocab-size", "256"]),
    ("encode-file {text} -o {tmp}/t.bin --workers two", ["--workers", "two"]),
    ("encode-file {text} -o {tmp}/t.bin --workers 0", ["--workers", "1"]),
    ("encode-file {text} -o {tmp}/t.bin --workers -2", ["--workers", "-2"]),
    ("encode-file {text} -o {tmp}/t.bin --workers 1000000", ["--workers", "1,000,000", "CPU"]),
    ("batches {text} --batch-size abc", ["--batch-size", "abc"]),
    ("batches {text} --batch-size 0", ["--batch-size", "0"]),
    ("batches {text} --batch-size -3", ["--batch-size", "-3"]),
    ("batches {text} --max-length 2.5", ["--max-length", "2.5"]),
    ("batches {text} --max-length 0", ["--max-length", "0"]),
    ("batches {text} --max-length 1000000000", ["--max-length", "1,000,000,000", "hello.txt"]),
    ("batches {text} --stride x", ["--stride", "x"]),
    ("batches {text} --stride 0", ["--stride", "0"]),
    ("batches {text} --seed -1", ["--seed", "-1"]),
    ("batches {text} --seed 0x10", ["--seed", "0x10"]),
    ("batches {text} --show -1", ["--show", "-1"]),
    ("batches {text} --show all", ["--show", "all"]),
    ("batches {text} --show 99999999999999999999999999999999999999999999" + "9" * 5000, ["--show"]),
    ("decode --ids 31373,x", ["--ids", "'x'"]),
    ("decode --ids 1.5", ["--ids", "'1.5'"]),
    ("decode --ids -1", ["-1", "gpt2"]),
    ("decode --ids 50257", ["50257", "gpt2"]),
    ("decode --ids 99999999999999999999999999", ["99999999999999999999999999", "gpt2"]),
]


@pytest.mark.parametrize(
    "template, words",
    BAD_NUMBERS,
    ids=[
        t.replace("{text} ", "").replace("-o {tmp}/m.npllm-bpe", "").replace("-o {tmp}/t.bin ", "")[:40]
        for t, _ in BAD_NUMBERS
    ],
)
def test_bad_number(capsys, paths, template, words):
    fails_with_one_line(capsys, paths, template, words)


def test_usage_errors_are_one_line_too(capsys, paths):
    # argparse's own errors, which it would print as usage + message with exit code 2
    assert "COMMAND" in fails_with_one_line(capsys, paths, "no-such-command", "no-such-command")
    fails_with_one_line(capsys, paths, "words", ["FILE", "npllm words --help"])
    fails_with_one_line(capsys, paths, "encode-file {text}", ["-o/--out"])
    fails_with_one_line(capsys, paths, "--no-such-option", "--no-such-option")
    fails_with_one_line(capsys, paths, "encode --special sometimes --text a", ["--special", "sometimes"])
    fails_with_one_line(capsys, paths, "batches {text} --batch-size", ["--batch-size", "expected one argument"])


# --- at the process level: no traceback escapes, and a write that fails leaves nothing ---------


def run_npllm(*argv, cwd, file_size_limit=None) -> subprocess.CompletedProcess:
    """`python -m npllm ...` in a child process; `file_size_limit`: the most bytes it may
    write to one file (RLIMIT_FSIZE), a disk that fills up part-way through a write."""

    def limit():
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    root = str(pathlib.Path(npllm.__file__).parent.parent)  # the child runs in `cwd`: find this npllm
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "npllm", *map(str, argv)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit if file_size_limit else None,
    )


def assert_one_error_line(result: subprocess.CompletedProcess, *words: str) -> None:
    assert "Traceback" not in result.stderr
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    line = error_line(result.stderr)
    for word in words:
        assert word in line


def test_process_bad_number_and_bad_npy(tmp_path):
    assert_one_error_line(run_npllm("words", "-", "--show", "lots", cwd=tmp_path), "--show", "lots")
    (tmp_path / "bytes.npy").write_bytes(NOT_UTF8)
    assert_one_error_line(run_npllm("decode", "bytes.npy", cwd=tmp_path), "bytes.npy")


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize(
    "argv, output",
    [
        (["encode", "long.txt", "--encoding", "tiny.npllm-bpe", "--out", "ids.npy"], "ids.npy"),
        (["train-bpe", "hello.txt", "--vocab-size", "260", "-o", "m.npllm-bpe", "--quiet"], "m.npllm-bpe"),
        (["encode-file", "long.txt", "--encoding", "tiny.npllm-bpe", "-o", "t.bin", "--quiet"], "t.bin"),
    ],
    ids=["encode --out", "train-bpe -o", "encode-file -o"],
)
def test_a_write_that_fails_part_way_leaves_no_file(tmp_path, tiny_model, argv, output):
    (tmp_path / "hello.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "long.txt").write_text(TEXT * 200, encoding="utf-8")  # > 1,000 tokens
    (tmp_path / "tiny.npllm-bpe").write_bytes(tiny_model)
    before = sorted(tmp_path.iterdir())
    result = run_npllm(*argv, cwd=tmp_path, file_size_limit=1000)  # every output here is larger
    assert_one_error_line(result, output)
    assert sorted(tmp_path.iterdir()) == before  # no partial output, no .part file


# --- issue 13 --------------------------------------------------------------------------------


@pytest.fixture
def inputs(paths, tmp_path):
    """`paths`, plus inputs whose names an output could take: a link to the text, a text file
    named like a .vocab dump, one named .npy, one named like a sidecar."""
    (tmp_path / "link.txt").symlink_to(paths["text"])
    for name in ("m.vocab", "t.npy", "t.bin.json"):
        (tmp_path / name).write_text(TEXT, encoding="utf-8")
    return {**paths, "link": str(tmp_path / "link.txt")}


SAME_FILE = [  # item 3: (argv, words the message must hold); every output here is an input
    ("encode-file {text} -o {text}", ["hello.txt", "input"]),
    ("encode-file {text} -o {link}", ["link.txt", "input"]),
    ("encode-file {tmp}/t.bin.json -o {tmp}/t.bin", ["t.bin.json", "input"]),  # the sidecar
    ("encode-file {text} --encoding {model} -o {model}", ["tiny.npllm-bpe", "input"]),
    ("train-bpe {text} --vocab-size 260 -o {text}", ["hello.txt", "input"]),
    ("train-bpe {tmp}/m.vocab --vocab-size 260 -o {tmp}/m.npllm-bpe", ["m.vocab", "input"]),  # the dump
    ("encode {tmp}/t.npy --out {tmp}/t.npy", ["t.npy", "input"]),
    ("encode --text a --encoding {model} --out {model}.npy", ["tiny.npllm-bpe.npy"]),  # control below
]


@pytest.mark.parametrize(
    "template, words", SAME_FILE[:-1], ids=[t.split()[0] + f"-{i}" for i, (t, _) in enumerate(SAME_FILE[:-1])]
)
def test_an_output_that_is_an_input_is_refused(capsys, inputs, template, words):
    tmp = pathlib.Path(inputs["tmp"])
    before = {p: p.read_bytes() for p in tmp.rglob("*") if p.is_file() and not p.is_socket() and os.access(p, os.R_OK)}
    fails_with_one_line(capsys, inputs, template, words)
    assert {p: p.read_bytes() for p in before} == before  # no input changed


@pytest.mark.parametrize(
    "argv, words",
    [
        ("train-bpe {text} --vocab-size 260 -o {tmp}/gpt2.npllm-bpe", ["'gpt2'", "built-in", "--name"]),
        ("train-bpe {text} --vocab-size 260 -o {tmp}/x.npllm-bpe --name cl100k_base", ["--name", "'cl100k_base'"]),
    ],
)
def test_a_trained_vocabulary_cannot_take_a_builtin_name(capsys, paths, argv, words):
    # item 5: `-o gpt2.npllm-bpe` named it gpt2, and its token files were decoded with the real GPT-2
    fails_with_one_line(capsys, paths, argv, words)


def test_a_builtin_file_name_is_fine_with_another_name(capsys, paths, tmp_path):
    argv = ["train-bpe", paths["text"], "--vocab-size", "260", "-o", str(tmp_path / "gpt2.npllm-bpe"), "--name", "mine"]
    assert main(argv + ["--quiet"]) == 0
    assert npllm.load_encoding(tmp_path / "gpt2.npllm-bpe").name == "mine"


@pytest.mark.parametrize(
    "out, words",
    [
        ("/dev/null", ["/dev/null", "not a regular file", "leave --out out"]),
        ("{folder}", ["folder", "is a folder"]),
    ],
)
def test_encode_out_must_name_a_file(capsys, paths, out, words):
    # item 11: --out /dev/null created /dev/null.npy, and --out adir wrote adir.npy
    existed = os.path.exists("/dev/null.npy")
    fails_with_one_line(capsys, paths, f"encode --text a --out {out}", words)
    assert not (tmp := pathlib.Path(paths["folder"])).with_name("folder.npy").exists() and list(tmp.iterdir()) == []
    assert os.path.exists("/dev/null.npy") == existed


def test_a_token_file_without_its_sidecar_says_so(capsys, paths, tmp_path):
    # item 14: `batches x.bin` without x.bin.json said "not UTF-8 text"
    npllm.save_tokens(tmp_path / "x.bin", list(range(50_000, 50_100)), encoding="gpt2")
    (tmp_path / "x.bin.json").unlink()
    fails_with_one_line(capsys, paths, f"batches {tmp_path}/x.bin", ["x.bin.json", "missing"])
    (tmp_path / "x.tokens").write_bytes((tmp_path / "x.bin").read_bytes())  # another name, bytes not UTF-8
    fails_with_one_line(capsys, paths, f"batches {tmp_path}/x.tokens", ["not UTF-8", "x.tokens.json", "sidecar"])


def test_decode_knows_a_npy_file_by_its_content(capsys, tmp_path):
    # item 14: `decode IDS.NPY` was read as text
    with open(tmp_path / "IDS.NPY", "wb") as f:  # np.save(path) would add ".npy"
        np.save(f, np.array([31373, 995]))
    for name in ("IDS.NPY", "ids.bin"):
        if name != "IDS.NPY":
            (tmp_path / name).write_bytes((tmp_path / "IDS.NPY").read_bytes())
        assert main(["decode", str(tmp_path / name)]) == 0
        assert capsys.readouterr().out == "hello world\n"


@pytest.mark.parametrize(
    "argv",
    [
        "encode {text} --text hello",
        "show {text} --text hello",
        "encode - --text hello",
        "decode {text} --ids 1",
    ],
)
def test_a_file_and_text_both_given_is_refused(capsys, paths, argv):
    # item 14: `encode FILE --text X` ignored FILE
    fails_with_one_line(capsys, paths, argv, ["not both"])


@pytest.mark.parametrize("option", ["--stride", "--batch-size", "--show"])
def test_huge_batch_numbers_are_numbers(capsys, paths, option):
    # item 10: --stride 99999999999999999999999 was an OverflowError deep in NumPy
    code = main(["batches", paths["text"], "--max-length", "2", option, "99999999999999999999999"])
    out, err = capsys.readouterr()
    assert code == 0 and err == "" and "batch 0: inputs" in out


def test_outputs_get_the_permissions_open_would_give(capsys, paths, tmp_path):
    # item 6: outputs were 0600 whatever the umask; an overwritten 0644 file became 0600
    old = os.umask(0o002)
    try:
        assert main(["encode", "--text", "hi", "--out", str(tmp_path / "ids.npy")]) == 0
        assert main(["encode-file", paths["text"], "-o", str(tmp_path / "t.bin"), "--quiet"]) == 0
        for name in ("ids.npy", "t.bin", "t.bin.json"):
            assert oct(os.stat(tmp_path / name).st_mode & 0o777) == oct(0o664), name
        os.chmod(tmp_path / "ids.npy", 0o600)
        assert main(["encode", "--text", "hi", "--out", str(tmp_path / "ids.npy")]) == 0
        assert oct(os.stat(tmp_path / "ids.npy").st_mode & 0o777) == oct(0o600)
    finally:
        os.umask(old)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_leaves_no_part_file(tmp_path, workers):
    # item 14: SIGTERM left t.bin.*.part behind; it is handled as Ctrl-C is: undone, one line
    import signal
    import time

    # distinct words on every line: seconds of work, so the signal always comes in the middle
    lines = (f"Hello, world{i}. Hello again, w{i * 7919 % 100_003}orld {i}!\n" for i in range(150_000))
    (tmp_path / "big.txt").write_text("".join(lines), encoding="utf-8")
    root = str(pathlib.Path(npllm.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-m", "npllm", "encode-file", "big.txt", "-o", "t.bin", "--quiet", "--workers", workers],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("*.part")) and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.005)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode != 0, "the encoding finished before the signal came: make the file larger"
    assert child.returncode == 143 and err == "npllm: terminated\n", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt"]
