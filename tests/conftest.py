"""Shared fixtures. Plain fixtures only: a test asks for what it uses."""

import pytest

import npllm.data


@pytest.fixture(scope="session")
def verdict_text() -> str:
    """The Verdict (the course's text), 20,479 characters."""
    return npllm.data.path("the-verdict.txt").read_text(encoding="utf-8")
