"""npllm/workers.py: results in order, bounded read-ahead, errors in order, clean endings."""

import os
import sys
import time

import pytest

from npllm import workers
from npllm.workers import ordered_map

_state = {}


def _init(offset):
    _state["offset"] = offset


def _add_offset(x):
    return x + _state["offset"]


def _slow_for_even(x):
    time.sleep(0.02 if x % 2 == 0 else 0)  # results come back out of order
    return x * x


def _slow_first(x):
    time.sleep(0.2 if x == 0 else 0)
    return x


def _fail_on(x):
    if x in (3, 5):
        raise ValueError(f"bad item {x}")
    return x


class _Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("cannot pickle this")


def _raise_unpicklable(x):
    raise _Unpicklable(f"item {x}")


def _die_on_two(x):
    if x == 2:
        os._exit(3)  # a worker killed mid-item
    return x


def test_results_come_in_order_whatever_order_the_workers_finish():
    assert list(ordered_map(_slow_for_even, range(12), 2)) == [x * x for x in range(12)]


def test_the_initializer_runs_in_each_worker():
    assert list(ordered_map(_add_offset, range(6), 2, initializer=_init, initargs=(100,))) == list(range(100, 106))


def test_large_items_and_results_pass_whole():
    text = "é" * 300_000  # 600 KB of UTF-8: more than a 64 KiB pipe, less than a widened one
    assert list(ordered_map(str.upper, [text, text + "x"], 2)) == [text.upper(), (text + "x").upper()]


def test_items_larger_than_any_pipe_do_not_deadlock():
    """3 MB items and results, two ahead per worker: every pipe fills. The caller must go on
    reading results while it waits to hand an item over (it did not: the run hung)."""
    import signal

    def hung(signum, frame):
        raise TimeoutError("ordered_map hung on items larger than its pipes")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        big = ["é" * 1_500_000 + str(k) for k in range(8)]
        assert [len(r) for r in ordered_map(str.upper, big, 2)] == [len(b) for b in big]
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("fn", [abs, _slow_first])  # _slow_first: the other worker may not run ahead
def test_items_are_read_only_as_they_are_handed_out(fn):
    read = []

    def items():
        for k in range(50):
            read.append(k)
            yield k

    results = ordered_map(fn, items(), 2, ahead=2)
    assert next(results) == 0
    assert len(read) == 4  # 2 workers x 2 items ahead; results that came early count against the bound
    assert list(results) == list(range(1, 50))


def test_the_first_failing_item_in_order_is_the_one_raised():
    results = ordered_map(_fail_on, range(8), 2)
    assert [next(results) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError, match="^bad item 3$"):
        next(results)


def test_an_exception_that_cannot_be_pickled_still_arrives_as_its_text():
    with pytest.raises(RuntimeError, match="_Unpicklable: item 0"):
        list(ordered_map(_raise_unpicklable, range(3), 2))


def test_a_worker_that_dies_is_an_error_not_a_hang():
    with pytest.raises(RuntimeError, match="died"):
        list(ordered_map(_die_on_two, range(6), 2))


def test_stopping_early_ends_the_workers():
    results = ordered_map(_slow_for_even, range(100), 2)
    assert next(results) == 0
    assert _children() == 2
    results.close()  # the caller stops reading: the workers must not be left running
    assert _children() == 0


@pytest.mark.parametrize("workers, ahead", [(0, 2), (2, 0), (2.0, 2), (True, 2)])
def test_bad_settings_are_refused_before_any_process_starts(workers, ahead):
    with pytest.raises((TypeError, ValueError), match="workers|ahead"):
        next(ordered_map(abs, [1], workers, ahead=ahead))


def test_the_empty_stream():
    assert list(ordered_map(abs, [], 2)) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
def test_pipes_are_widened_on_linux():
    import fcntl
    import multiprocessing

    reader, writer = multiprocessing.Pipe(duplex=False)
    workers._widen(writer)
    assert fcntl.fcntl(writer.fileno(), fcntl.F_GETPIPE_SZ) == workers.PIPE_BYTES
    reader.close(), writer.close()


def _children() -> int:
    import multiprocessing

    return len(multiprocessing.active_children())
