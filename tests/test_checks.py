"""The shared argument checks (npllm/_checks.py): what counts as an int, a number, a text and
an array of IDs, with the exact messages the modules give."""

import numpy as np
import pytest

from npllm._checks import check_ids, check_int, check_setting, check_str, is_int, is_real


@pytest.mark.parametrize("value", [0, 3, -2, np.int64(5), np.uint8(7), np.array(4), 2**70])
def test_is_int_takes_one_integer_of_any_kind(value):
    assert is_int(value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 1.0, "1", None, np.array([1]), np.float64(2)])
def test_is_int_refuses_bools_floats_strings_and_arrays(value):
    assert not is_int(value)


@pytest.mark.parametrize("value", [0, 0.5, -3, float("nan"), float("inf"), np.float32(1.5), np.int64(2)])
def test_is_real_takes_numbers_the_caller_then_bounds(value):
    assert is_real(value)


@pytest.mark.parametrize("value", [True, "0.5", None, 1j, [1.0]])
def test_is_real_refuses_bools_strings_and_complex(value):
    assert not is_real(value)


def test_check_int_returns_a_plain_int():
    value = check_int("stride", np.int64(4), 1)
    assert value == 4 and type(value) is int


@pytest.mark.parametrize(
    ("value", "minimum", "why", "error", "message"),
    [
        (0, 1, "", ValueError, "stride must be at least 1, got 0"),
        (-1, 0, "", ValueError, "stride must be 0 or more, got -1"),
        (3, 256, " (one token per byte)", ValueError, r"stride must be at least 256 \(one token per byte\), got 3"),
        (2.0, 1, "", TypeError, "stride must be an int, got float"),
        (True, None, "", TypeError, "stride must be an int, got bool"),
        (np.array([1, 2]), None, "", TypeError, "stride must be an int, got ndarray"),
    ],
)
def test_check_int_names_the_argument(value, minimum, why, error, message):
    with pytest.raises(error, match=f"^{message}$"):
        check_int("stride", value, minimum, why)


@pytest.mark.parametrize("value", ["2", 0, 1.0, True, None])
def test_check_setting_is_one_value_error_that_shows_the_value(value):
    with pytest.raises(ValueError, match=f"^workers must be an int >= 1, got {value!r}$"):
        check_setting("workers", value, 1)


def test_check_setting_returns_a_plain_int():
    assert check_setting("workers", np.int32(2), 1) == 2


def test_check_str():
    assert check_str("text", "abc") == "abc"
    with pytest.raises(TypeError, match="^text must be a str, got bytes$"):
        check_str("text", b"abc")


def test_check_ids_returns_a_copy_the_caller_cannot_change():
    ids = np.array([[1, 2], [3, 0]])
    checked = check_ids(ids, 4)
    ids[0, 0] = 9
    assert checked.tolist() == [[1, 2], [3, 0]]


def test_check_ids_takes_an_empty_list():
    assert check_ids([], 4).dtype.kind == "i"


@pytest.mark.parametrize(
    ("ids", "error", "message"),
    [
        ([1, 7, 9], IndexError, "token id 7 is out of range for an embedding of 5 rows"),
        ([[0], [-1]], IndexError, "token id -1 is out of range for an embedding of 5 rows"),
        ([1.0, 2.0], TypeError, "token IDs must be integers, got dtype float64"),
    ],
)
def test_check_ids_names_the_first_bad_value(ids, error, message):
    with pytest.raises(error, match=f"^{message}$"):
        check_ids(ids, 5, of="an embedding of 5 rows")
