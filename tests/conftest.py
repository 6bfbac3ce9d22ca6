"""Shared fixtures, and the offline setup every test run gets.

Hermetic by default: with no `TIKTOKEN_CACHE_DIR` set, tiktoken (the reference) is pointed at
a temporary cache filled from npllm's bundled vocabularies, under the names tiktoken's cache
uses (sha1 of the URL). tiktoken checks each file's sha256 itself, so the parity tests run
on a machine with no network and still compare against the published files.

The two texts (The Verdict, Tiny Shakespeare) are not bundled. A test that needs one skips
when it cannot be found, with the way to get it -- unless `NPLLM_REQUIRE_REFERENCES=1`
(CI), where it fails instead. Tests that only need "some real English" use `stdlib_text`,
prose that every Python installation has.
"""

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest
from reference import references_required

import npllm
import npllm.data

# Not collected, even for --doctest-modules (setup.cfg): importing the shim's `tiktoken` would
# put a second `tiktoken` on sys.path. test_tiktoken_suite.py runs it in a child process.
collect_ignore = ["tiktoken_shim"]


def _fill_tiktoken_cache() -> None:
    """A temporary TIKTOKEN_CACHE_DIR holding every vocabulary tiktoken may ask for."""
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        return  # the user's (or CI's) own cache
    folder = tempfile.mkdtemp(prefix="npllm-tiktoken-cache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    npllm.data.fill_tiktoken_cache(folder)
    os.environ["TIKTOKEN_CACHE_DIR"] = folder


_fill_tiktoken_cache()


_missing: dict[str, Exception] = {}  # name -> why it could not be had (asked once per run)


def known_text_path(name: str) -> pathlib.Path:
    """The path of a known text, or skip (fail in CI) saying how to get it."""
    try:
        if name in _missing:
            raise _missing[name]
        return npllm.data.path(name)
    except npllm.data.DataFileError as e:
        _missing[name] = e
        how = f"run `npllm data fetch {name}` or set NPLLM_DATA_DIR to a folder holding it"
        if references_required():
            pytest.fail(f"{name} is needed and NPLLM_REQUIRE_REFERENCES=1: {e}", pytrace=False)
        pytest.skip(f"needs {name}, which is not on this machine ({how})")


@pytest.fixture(scope="session")
def verdict_text() -> str:
    """The Verdict (the course's text), 20,479 characters."""
    return known_text_path("the-verdict.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def shakespeare_path():
    """Tiny Shakespeare, the benchmark corpus: 1,115,394 characters."""
    return known_text_path("tinyshakespeare.txt")


@pytest.fixture(scope="session")
def shakespeare_text(shakespeare_path) -> str:
    return shakespeare_path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def stdlib_text() -> str:
    """About 1 MB of English prose and code that every Python installation has: the source of
    a fixed list of standard-library modules (their docstrings and comments are prose).
    Exactly the same text for a given Python version; the tests compare against a reference
    on the same text, never against a known answer."""
    from stdlib_corpus import stdlib_text as build

    return build()


@pytest.fixture(scope="session")
def gpt2():
    return npllm.get_encoding("gpt2")


@pytest.fixture(scope="session")
def cl100k():
    return npllm.get_encoding("cl100k_base")


@pytest.fixture(scope="session")
def o200k():
    return npllm.get_encoding("o200k_base")


@pytest.fixture(scope="session", params=["gpt2", "cl100k_base", "o200k_base"])
def pair(request):
    """(npllm encoding, tiktoken encoding) of the same name."""
    from reference import tiktoken_encoding

    return npllm.get_encoding(request.param), tiktoken_encoding(request.param)


@pytest.fixture(scope="session")
def prose_text(stdlib_text) -> str:
    """The first 20,000 characters of `stdlib_text`: real text of The Verdict's size, for the
    tests that need "some real text" (a vocabulary, a trainer run, a file to encode) but none
    of The Verdict's known answers."""
    return stdlib_text[:20_000]


@pytest.fixture(scope="session")
def large_text(stdlib_text) -> str:
    """The first 1,000,000 characters of `stdlib_text`: real text of Tiny Shakespeare's size
    (1.1 MB), for the tests that encode, chunk or count a large file."""
    return stdlib_text[:1_000_000]


@pytest.fixture(scope="session")
def demo_output() -> str:
    """stdout of the default `npllm demo`, run once per test run for every test that reads it
    (on The Verdict when it is here, else on npllm's docstrings). It exits 0 and writes
    nothing to stderr."""
    import contextlib
    import io

    from npllm.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["demo"])
    assert (code, err.getvalue()) == (0, "")
    return out.getvalue()
