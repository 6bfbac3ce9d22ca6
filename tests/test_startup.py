"""Startup: `import npllm` imports nothing it does not need, and `get_encoding` may skip its checks.

- Laziness, in a fresh interpreter (this test session has imported everything long since):
  `import npllm` imports npllm alone; tokenizing imports neither NumPy nor the loader,
  embedding, model or optimizer code; every public name still resolves, both ways
  (`npllm.X` and `from npllm import X`), and `dir` lists it.
- The shortcuts of `get_encoding` are safe: each bundled rank file parses the same with and
  without the checks (`parse_tiktoken_bpe(..., verified=True)`), and every known encoding
  passes the full checks of `Encoding(...)`, which `Encoding.from_verified` skips.
- The constructor's quick check (in C) and its one-by-one check agree on what they accept.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import npllm
import npllm.bpe
from npllm import data
from npllm.bpe import registry
from npllm.bpe.files import parse_tiktoken_bpe

NOT_FOR_TOKENIZING = [
    "numpy",
    "npllm.loader",
    "npllm.embedding",
    "npllm.model",
    "npllm.optim",
    "npllm.tokens",
    "npllm.bpe.train",
    "npllm.scatter",
]


def modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`, less those it started with."""
    probe = f"import json, sys\nbefore = set(sys.modules)\n{code}\nprint(json.dumps(sorted(set(sys.modules) - before)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_import_npllm_imports_npllm_alone():
    new = modules_after("import npllm")
    assert {m for m in new if m.startswith("npllm")} == {"npllm", "npllm._lazy"}  # _lazy: 30 lines, no imports
    assert "numpy" not in new and "regex" not in new


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_base"])
def test_tokenizing_imports_no_numpy_loader_or_model(name):
    # "a" * 300 is one piece of 300 bytes: the heap merge loop (merge_long), without NumPy too
    new = modules_after(
        "import npllm\n"
        f"enc = npllm.get_encoding({name!r})\n"
        "assert enc.encode('hello world') == enc.encode_ordinary('hello world')\n"
        "text = 'hello world, ' * 20 + 'a' * 300\n"
        "assert enc.decode(enc.encode(text)) == text"
    )
    assert "npllm.bpe.registry" in new  # the probe did tokenize
    assert [m for m in NOT_FOR_TOKENIZING if m in new] == []


def test_numpy_comes_with_the_first_array():
    new = modules_after("import npllm\nenc = npllm.get_encoding('gpt2')\nids = enc.encode_to_numpy('hello world')")
    assert "numpy" in new
    assert [m for m in NOT_FOR_TOKENIZING[1:] if m in new] == []


def test_every_public_name_resolves_in_a_fresh_interpreter():
    code = (
        "import npllm, npllm.bpe\n"
        "for name in npllm.__all__:\n"
        "    getattr(npllm, name)\n"
        "    exec(f'from npllm import {name}')\n"
        "for name in npllm.bpe.__all__:\n"
        "    assert getattr(npllm.bpe, name) is getattr(npllm, name)\n"
        "assert set(npllm.__all__) <= set(dir(npllm)) and set(npllm.bpe.__all__) <= set(dir(npllm.bpe))\n"
        "print(npllm.data.path, npllm.bpe.files.read_encoding_file)  # submodules, as attributes"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_public_names_are_the_defining_modules_objects():
    from npllm.bpe.encoding import Encoding
    from npllm.embedding import Embedding
    from npllm.words import split_words

    assert npllm.Encoding is Encoding and npllm.Embedding is Embedding and npllm.split_words is split_words
    assert npllm.__all__[0] == "__version__" and len(npllm.__all__) == len(set(npllm.__all__))
    assert set(npllm.__all__) <= set(dir(npllm))


def test_unknown_names_are_attribute_errors():
    with pytest.raises(AttributeError, match="no_such_name"):
        npllm.no_such_name  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_name"):
        npllm.bpe.no_such_name  # noqa: B018
    assert not hasattr(npllm, "np")


# --- the shortcuts of get_encoding -----------------------------------------------------------

RANK_FILES = sorted({spec[0] for spec in registry.SPECS.values()})


@pytest.mark.parametrize("rank_file", RANK_FILES)
def test_verified_parse_gives_the_checked_ranks(rank_file):
    content = data.read_bytes(rank_file)
    assert parse_tiktoken_bpe(content, rank_file, verified=True) == parse_tiktoken_bpe(content, rank_file)


@pytest.mark.parametrize("name", list(registry.SPECS))
def test_every_known_encoding_passes_the_checks_from_verified_skips(name):
    enc = npllm.get_encoding(name)
    _, pat_str, special_tokens, n_vocab = registry.SPECS[name]
    checked = npllm.Encoding(
        name,
        pat_str=pat_str,
        mergeable_ranks=enc.mergeable_ranks,
        special_tokens=special_tokens,
        explicit_n_vocab=n_vocab,
    )
    assert checked.n_vocab == enc.n_vocab and checked.special_tokens == enc.special_tokens
    text = "hello world, Tiếng Việt, Съешь же, 我能吞下玻璃 <|endoftext|>"
    assert checked.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert checked.decode_bytes(range(300)) == enc.decode_bytes(range(300))


def test_from_verified_still_checks_explicit_n_vocab():
    ranks = {bytes([b]): b for b in range(256)}
    with pytest.raises(ValueError, match="explicit_n_vocab"):
        npllm.Encoding.from_verified(
            "x", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={}, explicit_n_vocab=300
        )


def test_lazy_attributes_are_built_when_asked_for():
    ranks = {bytes([b]): b for b in range(256)}
    enc = npllm.Encoding("bytes", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={"<|x|>": 256})
    assert "_decoder" not in vars(enc)  # nothing decoded yet
    assert enc.decode([104, 105, 256]) == "hi<|x|>"
    assert enc._decoder[256] == b"<|x|>"


# --- the constructor's quick check against its one-by-one check --------------------------------


class Token(bytes):
    pass


@pytest.mark.parametrize(
    "ranks",
    [
        {Token(b"a"): 0, b"b": 1},  # a bytes subclass: isinstance says bytes
        {b"a": np.int64(0), b"b": 1},  # a NumPy integer: it has __index__
        {},
    ],
)
def test_what_the_one_by_one_check_accepts_is_accepted(ranks):
    enc = npllm.Encoding("x", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})
    assert enc.mergeable_ranks == ranks


@pytest.mark.parametrize(
    "ranks, error, message",
    [
        ({b"a": 0, b"b": True}, TypeError, "True"),  # a bool is not a rank
        ({b"a": 0, b"b": -1}, TypeError, "-1"),
        ({b"a": 0, b"b": 1.0}, TypeError, "1.0"),
        ({b"a": 0, "b": 1}, TypeError, "'b'"),
        ({b"a": 0, b"b": [1]}, TypeError, r"\[1\]"),  # unhashable: still the check's own message
        ({b"a": 7, b"b": 7}, ValueError, "rank 7"),
    ],
)
def test_what_the_one_by_one_check_refuses_is_refused_with_its_message(ranks, error, message):
    with pytest.raises(error, match=message):
        npllm.Encoding("x", pat_str=r"\S+|\s+", mergeable_ranks=ranks, special_tokens={})


# --- the benchmark's reading of python -X importtime ----------------------------------------------


def test_the_startup_benchmark_reads_importtime_logs():
    repo = str(pathlib.Path(__file__).resolve().parent.parent)
    if repo not in sys.path:
        sys.path.insert(0, repo)  # bare `pytest` puts tests/ on sys.path, not the repository
    from benchmarks import bench_startup

    log = bench_startup._importtime("import json", dict(os.environ))  # (depth, seconds, module)
    assert (0, "json") in {(depth, name) for depth, _, name in log}
    assert all(seconds >= 0 for _, seconds, _ in log)
    assert {name for name, _ in bench_startup._top_level_after_site(log)} == {"json"}
    assert bench_startup._slowest_inside(log, "json").startswith("slowest imports inside: json.")
