"""The command line, fuzzed (issue 13): random subcommands, flags and values.

Each case is an argv drawn from a seeded generator: a subcommand, some of its options in any
order, values that are fine, 0, negative, huge, not numbers or empty, input files that are
missing, empty, a folder, binary, CRLF, with a byte order mark, a token file without its
sidecar, a .npy under another name, a saved model (v2 or v1), and outputs that are new,
exist already, sit in a missing folder, are a folder, /dev/null, or an input. The property:

- the exit code is 0, or 1 with exactly one `npllm: error:` line on stderr and nothing else;
- never a traceback;
- no input file changes (bytes and mode);
- never a partial output: no `*.part` file is left, a failed command creates or changes no
  file, and the outputs of a successful one are whole (a token file loads with its sidecar,
  a .npy loads, a model loads back).

`main(argv)` runs in this process (fast: a few hundred cases in a few seconds). Set
NPLLM_FUZZ_CASES and NPLLM_FUZZ_SEED to run more, or other, cases; a failure names its
case and argv, and `-k "case_17"` runs it again.
"""

import io
import json
import os
import pathlib
import random
import shutil
import stat
import sys

import numpy as np
import pytest

import npllm
from npllm.cli import main

N_CASES = int(os.environ.get("NPLLM_FUZZ_CASES", "300"))
SEED = int(os.environ.get("NPLLM_FUZZ_SEED", "13"))

TEXT = "Hello, world. It's 2024: 12345 tokens, émigré café, 東京.\nA second line -- with  spaces!\n" * 8
NUMBERS = [
    "0",
    "1",
    "2",
    "3",
    "4",
    "7",
    "16",
    "-1",
    "-0",
    "99999999999999999999999",
    "1e3",
    "1.5",
    "abc",
    "",
    "0x10",
    "٣",
]
SMALL_NUMBERS = ["0", "1", "2", "3", "-1", "abc", "", "1.5"]  # demo --steps: a huge one would just run long
ENCODINGS = [
    "gpt2",
    "cl100k_base",
    "r50k_base",
    "nope",
    "{model}",
    "{old_model}",
    "{text}",
    "{missing}",
    "{folder}",
    "",
    "{binary}",
]
TEXT_FILES = [
    "{text}",
    "{crlf}",
    "{bom}",
    "{empty}",
    "{binary}",
    "{latin1}",
    "{special}",
    "{missing}",
    "{folder}",
    "{link}",
    "{tokens}",
    "{no_sidecar}",
    "{ids_npy}",
    "{ids_upper}",
    "{bad_npy}",
    "{model}",
    "-",
]
OUTPUTS = [
    "{out}/new.bin",
    "{out}/new.npy",
    "{out}/new",
    "{out}/m.npllm-bpe",
    "{out}/existing.bin",
    "{out}/existing.npy",
    "{out}/existing.npllm-bpe",
    "{tmp}/nowhere/x.bin",
    "{folder}",
    "/dev/null",
    "{same}",
    "{same}",
    "",
    "{out}/gpt2.npllm-bpe",
]  # {same}: one of the command's own inputs, which it must refuse to write
SPECIALS = ["<|endoftext|>", "<|pad|>", "", "<|endoftext|>"]


# --- the files -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    """Placeholder -> path of every input; the inputs are made once and never change."""
    tmp = tmp_path_factory.mktemp("fuzz")
    inputs = tmp / "in"
    inputs.mkdir()
    (inputs / "text.txt").write_text(TEXT, encoding="utf-8")
    (inputs / "crlf.txt").write_bytes(TEXT.replace("\n", "\r\n").encode("utf-8"))
    (inputs / "bom.txt").write_bytes(b"\xef\xbb\xbf" + TEXT.encode("utf-8"))
    (inputs / "empty.txt").write_bytes(b"")
    (inputs / "binary.bin").write_bytes(random.Random(0).randbytes(600))
    (inputs / "latin1.txt").write_bytes("café crème\n".encode("latin-1") * 20)
    (inputs / "special.txt").write_text(TEXT + "<|endoftext|>" + TEXT, encoding="utf-8")
    (inputs / "folder").mkdir()
    (inputs / "link.txt").symlink_to(inputs / "text.txt")
    ids = npllm.get_encoding("gpt2").encode(TEXT)
    npllm.save_tokens(inputs / "tokens.bin", ids, encoding="gpt2")
    (inputs / "no_sidecar.bin").write_bytes((inputs / "tokens.bin").read_bytes())
    np.save(inputs / "ids.npy", np.array(ids[:20]))
    (inputs / "IDS.NPY").write_bytes((inputs / "ids.npy").read_bytes())
    (inputs / "bad.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    model = npllm.train_bpe(TEXT, 270, special_tokens=["<|endoftext|>"], name="fuzz")
    model.save(inputs / "model.npllm-bpe")
    lines = (inputs / "model.npllm-bpe").read_text(encoding="utf-8").split("\n")
    header = {k: v for k, v in json.loads(lines[1]).items() if k in ("name", "pat_str", "special_tokens")}
    (inputs / "old.npllm-bpe").write_text("\n".join(["npllm-bpe v1", json.dumps(header), *lines[2:]]), encoding="utf-8")
    names = {
        "text": "text.txt",
        "crlf": "crlf.txt",
        "bom": "bom.txt",
        "empty": "empty.txt",
        "binary": "binary.bin",
        "latin1": "latin1.txt",
        "special": "special.txt",
        "folder": "folder",
        "link": "link.txt",
        "tokens": "tokens.bin",
        "no_sidecar": "no_sidecar.bin",
        "ids_npy": "ids.npy",
        "ids_upper": "IDS.NPY",
        "bad_npy": "bad.npy",
        "model": "model.npllm-bpe",
        "old_model": "old.npllm-bpe",
    }
    found = {key: str(inputs / name) for key, name in names.items()}
    return {
        **found,
        "missing": str(inputs / "missing.txt"),
        "tmp": str(tmp),
        "in": str(inputs),
        "out": str(tmp / "out"),
    }


def snapshot(folder: pathlib.Path) -> dict:
    """Every file under `folder` -> (bytes, mode); folders -> None."""
    state = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            state[p] = ("link", os.readlink(p))
        elif p.is_dir():
            state[p] = None
        else:
            state[p] = (p.read_bytes(), stat.S_IMODE(p.stat().st_mode))
    return state


def fresh_outputs(out: pathlib.Path) -> None:
    """The output folder, as each case starts: files that already exist, to be overwritten."""
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    npllm.save_tokens(out / "existing.bin", [1, 2, 3], encoding="gpt2")
    np.save(out / "existing.npy", np.array([7, 8]))
    (out / "existing.npllm-bpe").write_text("not a model yet\n", encoding="utf-8")
    os.chmod(out / "existing.npy", 0o640)


# --- the argv ------------------------------------------------------------------------------------


def pick(rng: random.Random, values: list, p: float = 1.0):
    return rng.choice(values) if rng.random() < p else None


def options(rng: random.Random, table: list[tuple[str, list | None, float]]) -> list[str]:
    """Each (flag, values or None for a switch, probability) in turn, shuffled."""
    out = []
    for flag, values, p in table:
        if rng.random() < p:
            out.append([flag] if values is None else [flag, rng.choice(values)])
    rng.shuffle(out)
    return [word for group in out for word in group]


def random_argv(rng: random.Random) -> list[str]:
    command = rng.choices(
        ["words", "encode", "decode", "show", "train-bpe", "encode-file", "batches", "demo", "data", "misc"],
        weights=[8, 14, 10, 8, 10, 14, 14, 1, 2, 2],
    )[0]
    if command == "words":
        argv = ["words", *[pick(rng, TEXT_FILES)]] if rng.random() < 0.95 else ["words"]
        argv += options(rng, [("--show", NUMBERS, 0.5)])
    elif command in ("encode", "show"):
        argv = [command] + ([rng.choice(TEXT_FILES)] if rng.random() < 0.7 else [])
        table = [
            ("--text", ["hello world", "", "a\r\nb", "<|endoftext|>", "\ufeffbom"], 0.4),
            ("--encoding", ENCODINGS, 0.5),
            (
                "--special" if command == "encode" else "--color",
                ["refuse", "allow", "ordinary", "sometimes"]
                if command == "encode"
                else ["auto", "always", "never", "x"],
                0.4,
            ),
        ]
        if command == "encode":
            table.append(("--out", OUTPUTS, 0.5))
        else:
            table.append(("--sep", ["|", "", "::"], 0.3))
        argv += options(rng, table)
    elif command == "decode":
        argv = ["decode"] + ([rng.choice(TEXT_FILES)] if rng.random() < 0.6 else [])
        argv += options(
            rng,
            [
                ("--ids", ["31373 995", "1,2,3", "[40, 367]", "-1", "99999999999999999999999", "x", "", "50256"], 0.5),
                ("--encoding", ENCODINGS, 0.4),
            ],
        )
    elif command == "train-bpe":
        argv = ["train-bpe", rng.choice(TEXT_FILES)]
        argv += options(
            rng,
            [
                ("--vocab-size", NUMBERS + ["256", "260", "300", "1000"], 0.9),
                ("-o", OUTPUTS, 0.9),
                ("--pattern", ["gpt2", "cl100k", "o200k", "p50k"], 0.4),
                ("--special", SPECIALS, 0.4),
                ("--name", ["mine", "gpt2", "", "o200k_base"], 0.3),
                ("--quiet", None, 0.5),
            ],
        )
    elif command == "encode-file":
        argv = ["encode-file", rng.choice(TEXT_FILES)]
        argv += options(
            rng,
            [
                ("-o", OUTPUTS, 0.9),
                ("--encoding", ENCODINGS, 0.5),
                ("--workers", ["1", "1", "2", "0", "-1", "abc", "99999"], 0.4),
                ("--special", ["refuse", "allow", "ordinary", "never"], 0.5),
                ("--quiet", None, 0.5),
            ],
        )
    elif command == "batches":
        argv = ["batches", rng.choice(TEXT_FILES)]
        argv += options(
            rng,
            [
                ("--encoding", ENCODINGS, 0.3),
                ("--batch-size", NUMBERS, 0.5),
                ("--max-length", NUMBERS, 0.6),
                ("--stride", NUMBERS, 0.5),
                ("--shuffle", None, 0.3),
                ("--seed", NUMBERS, 0.3),
                ("--drop-last", None, 0.3),
                ("--show", NUMBERS, 0.4),
            ],
        )
    elif command == "demo":
        argv = ["demo", "--text", rng.choice(TEXT_FILES)] + options(
            rng, [("--steps", SMALL_NUMBERS, 1.0), ("--seed", NUMBERS, 0.4)]
        )
        if "--steps" not in argv or argv[argv.index("--steps") + 1] not in ("0", "1", "2", "3"):
            argv += ["--steps", "1"]  # never the default 200: a few seconds each
    elif command == "data":
        argv = rng.choice(
            [["data"], ["data", "list"], ["data", "list", "x"], ["data", "fetch", "nope.txt"], ["data", "x"]]
        )
    else:
        argv = rng.choice([["--version"], ["--help"], [], ["nope"], ["encode", "--help"], ["--bogus"]])
    if rng.random() < 0.08:  # a stray argument
        argv.insert(rng.randrange(len(argv) + 1), rng.choice(["--bogus", "x", "-", "--", "--quiet", "-o"]))
    own_inputs = [
        w
        for w in argv[1:]
        if w.startswith("{") and w not in ("{folder}", "{missing}") and "{" + w[1:] in TEXT_FILES + ENCODINGS
    ]
    same = rng.choice(own_inputs) if own_inputs else "{out}/new.bin"
    return [same if word == "{same}" else word for word in argv]


def fill(argv: list[str], files: dict) -> list[str]:
    return [word.format(**files) for word in argv]


# --- the property --------------------------------------------------------------------------------


def whole(command: str, path: pathlib.Path) -> None:
    """An output a successful `command` wrote: it must load as what that command writes."""
    if command == "encode":
        assert path.suffix == ".npy" and np.load(path).dtype == np.int64
    elif command == "encode-file":
        if not path.name.endswith(".json"):
            assert len(npllm.load_tokens(path)) >= 0  # the size agrees with its sidecar
    elif command == "train-bpe":
        if path.suffix != ".vocab" and not path.name.endswith(".vocab.txt"):
            npllm.load_encoding(path)
    else:
        raise AssertionError(f"{command} wrote {path}")


@pytest.mark.parametrize("case", range(N_CASES), ids=[f"case_{i}" for i in range(N_CASES)])
def test_fuzzed_command_line(case, files, capsys, monkeypatch):
    rng = random.Random(SEED * 1_000_003 + case)
    argv = fill(random_argv(rng), files)
    stdin = rng.choice(
        [
            TEXT.encode(),
            TEXT.replace("\n", "\r\n").encode(),
            b"\xef\xbb\xbfhi",
            b"",
            b"\xff\xfe bad",
            b"31373 995",
            b"1, 2, x",
        ]
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
    inputs, out = pathlib.Path(files["in"]), pathlib.Path(files["out"])
    fresh_outputs(out)
    before_in, before_out = snapshot(inputs), snapshot(out)
    dev_null_npy = os.path.exists("/dev/null.npy")

    try:
        code = main(argv)
    except SystemExit as e:  # --help and --version: argparse prints and exits 0
        code = e.code or 0
    stdout, stderr = capsys.readouterr()

    where = f"case {case}: npllm {' '.join(map(repr, argv))}\nstderr: {stderr!r}"
    assert "Traceback" not in stderr, where
    assert code in (0, 1), where
    if code == 1:
        assert stderr.endswith("\n") and stderr.count("\n") == 1 and stderr.startswith("npllm: error: "), where
        assert snapshot(out) == before_out, where  # nothing written, nothing replaced
    else:
        assert "npllm: error" not in stderr, where
    after_in = snapshot(inputs)
    assert {p: after_in.get(p) for p in before_in} == before_in, where  # never a changed input
    leftovers = [p for p in pathlib.Path(files["tmp"]).rglob("*.part")]
    assert leftovers == [], where
    assert os.path.exists("/dev/null.npy") == dev_null_npy, where
    new_beside_inputs = [p for p in after_in if p not in before_in]  # `encode X --out X` writes X.npy
    assert code == 0 or not new_beside_inputs, where
    if code == 0:
        changed = [p for p, state in snapshot(out).items() if state is not None and before_out.get(p) != state]
        for path in changed + new_beside_inputs:
            whole(argv[0], path)
    for path in new_beside_inputs:
        path.unlink()  # the inputs stay as they were for the next case
