"""Shared fixtures. Plain fixtures only: a test asks for what it uses."""

import pytest

import npllm
import npllm.data


@pytest.fixture(scope="session")
def verdict_text() -> str:
    """The Verdict (the course's text), 20,479 characters."""
    return npllm.data.path("the-verdict.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def shakespeare_path():
    """Tiny Shakespeare, the benchmark corpus: 1,115,394 characters."""
    return npllm.data.path("tinyshakespeare.txt")


@pytest.fixture(scope="session")
def shakespeare_text(shakespeare_path) -> str:
    return shakespeare_path.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def gpt2():
    return npllm.get_encoding("gpt2")


@pytest.fixture(scope="session")
def cl100k():
    return npllm.get_encoding("cl100k_base")


@pytest.fixture(scope="session", params=["gpt2", "cl100k_base"])
def pair(request):
    """(npllm encoding, tiktoken encoding) of the same name."""
    from reference import tiktoken_encoding

    return npllm.get_encoding(request.param), tiktoken_encoding(request.param)
