"""The independent references the tests compare with: tiktoken for the BPE, and central finite
differences (`central_differences`, `max_relative_error`) for every hand-written backward.

`tiktoken_encoding(name)` returns `tiktoken.get_encoding(name)`. Where tiktoken is not
installed or its vocabulary files cannot be loaded (offline, no cache), the calling test is
skipped -- unless `NPLLM_REQUIRE_REFERENCES=1`, as in CI, where the same problem fails the test
instead, so a parity test can never pass by being skipped.

Imported by the tests as `from reference import tiktoken_encoding`: pytest puts `tests/` on
`sys.path` when it imports a test module from it (the folder has no `__init__.py`).
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest

REQUIRE_ENV = "NPLLM_REQUIRE_REFERENCES"

# The course's first batch of The Verdict's GPT-2 IDs (batch_size=8, max_length=4, stride=4),
# shared by the loader tests (where it comes out) and the embedding tests (where it goes in).
COURSE_FIRST_INPUTS = [
    [40, 367, 2885, 1464],
    [1807, 3619, 402, 271],
    [10899, 2138, 257, 7026],
    [15632, 438, 2016, 257],
    [922, 5891, 1576, 438],
    [568, 340, 373, 645],
    [1049, 5975, 284, 502],
    [284, 3285, 326, 11],
]


def references_required() -> bool:
    """True when a missing reference must fail a test rather than skip it (CI)."""
    return os.environ.get(REQUIRE_ENV, "").strip() == "1"


def _unavailable(what: str, error: BaseException):
    message = f"{what}: {type(error).__name__}: {error}"
    if references_required():
        pytest.fail(f"{message} ({REQUIRE_ENV}=1, so the reference must be available)", pytrace=False)
    pytest.skip(f"{message} (set {REQUIRE_ENV}=1 to make this a failure)")


def tiktoken_module():
    """The `tiktoken` module itself (for `tiktoken.load`), or skip/fail as above."""
    try:
        import tiktoken
        import tiktoken.load
    except Exception as e:  # ImportError, or a broken install
        _unavailable("tiktoken cannot be imported", e)
    return tiktoken


@functools.cache
def _load(name: str):
    import tiktoken

    return tiktoken.get_encoding(name)


def tiktoken_encoding(name: str):
    """`tiktoken.get_encoding(name)`, or skip/fail as above. Built once per process."""
    tiktoken_module()
    try:
        return _load(name)  # a failure is not cached by lru_cache: the next call tries again
    except Exception as e:  # a download refused offline, a bad cache file, ...
        _unavailable(f"tiktoken cannot load the encoding {name!r}", e)


def tiktoken_educational():
    """The module `tiktoken._educational` (its `bpe_train` is the textbook trainer npllm's
    `train_bpe` must match merge for merge), or skip/fail as above."""
    tiktoken_module()
    try:
        import tiktoken._educational as educational
    except Exception as e:  # an older tiktoken without it, or a broken install
        _unavailable("tiktoken._educational cannot be imported", e)
    return educational


# --- gradients -------------------------------------------------------------------------------


def central_differences(loss, weight, h=1e-5):
    """dloss/dweight, one entry at a time: (L(w + h) - L(w - h)) / 2h."""
    grad = np.zeros_like(weight)
    for index in np.ndindex(weight.shape):
        old = weight[index]
        weight[index] = old + h
        plus = loss()
        weight[index] = old - h
        minus = loss()
        weight[index] = old
        grad[index] = (plus - minus) / (2 * h)
    return grad


def max_relative_error(analytic, numeric):
    """Largest |a - n| / (|a| + |n|) over the entries; 0 where both are 0."""
    scale = np.maximum(np.abs(analytic) + np.abs(numeric), 1e-300)
    return float(np.max(np.abs(analytic - numeric) / scale))
