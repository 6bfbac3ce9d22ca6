"""Argument checks shared by every module: one wording for each kind of mistake.

Each check returns the value in the form the caller keeps (a plain int, the str, an integer
array) or raises before the caller changes anything, naming the argument and what it got.
What counts as an int is decided once, here: whatever `operator.index` accepts (an int, a
NumPy integer), never a bool. NumPy is imported only by `check_ids`, so tokenizing never
pays for it. Checks that belong to one format or one peer's API (tiktoken's error types,
a file header) stay beside the code they guard.
"""

from __future__ import annotations

import numbers
import operator


def is_int(value: object) -> bool:
    """One integer: an int, a NumPy integer or a 0-d integer array, not a bool.
    is_int(np.int64(3)) -> True; is_int(True) -> False; is_int(np.array([3])) -> False"""
    if isinstance(value, bool):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def is_real(value: object) -> bool:
    """One real number (int, float, NumPy scalar; NaN and infinities too), not a bool; the caller
    states the range. is_real(0.5) -> True; is_real(True) -> False; is_real("1") -> False"""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name: str, value: object, minimum: int | None = None, why: str = "") -> int:
    """`value` as a plain int of at least `minimum`, else TypeError (not an int) or ValueError.

    check_int("stride", 0, 1) raises ValueError("stride must be at least 1, got 0");
    `why` follows the bound: check_int("vocab_size", 3, 256, " (one token per byte)").
    """
    if not is_int(value):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    number = operator.index(value)
    if minimum is not None and number < minimum:
        bound = "0 or more" if minimum == 0 else f"at least {minimum}"
        raise ValueError(f"{name} must be {bound}{why}, got {number}")
    return number


def check_setting(name: str, value: object, minimum: int) -> int:
    """A count that comes from a command line or a saved file (workers, chunk sizes, counts):
    anything but an int of at least `minimum` is one ValueError that shows the value as given.
    check_setting("workers", "2", 1) raises ValueError("workers must be an int >= 1, got '2'")
    """
    if not is_int(value) or operator.index(value) < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return operator.index(value)


def check_str(name: str, value: object) -> str:
    """`value` if it is a str, else TypeError("text must be a str, got bytes") for name "text"."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def check_ids(ids, upper: int, *, plural: str = "token IDs", singular: str = "token id", of: str = ""):
    """A copy of `ids` as an integer array with every value in [0, upper), else TypeError (not
    integers) or IndexError naming the first value out of range. An empty list is fine.

    check_ids([1, 7], 5, of="an embedding of 5 rows") raises
    IndexError("token id 7 is out of range for an embedding of 5 rows").
    """
    import numpy as np  # here: only callers that already hold arrays use this check

    ids = np.array(ids)  # a copy: the caller's later changes to its list or array cannot reach it
    if ids.size == 0 and ids.dtype.kind == "f":
        ids = ids.astype(np.int64)  # np.array([]) is float64
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{plural} must be integers, got dtype {ids.dtype}")
    if ids.size:
        bad = (ids < 0) | (ids >= upper)
        if bad.any():
            first = ids.reshape(-1)[np.argmax(bad.reshape(-1))]
            raise IndexError(f"{singular} {int(first)} is out of range for {of or f'{upper} IDs'}")
    return ids
