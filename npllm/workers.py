"""Worker processes for a stream of work: `ordered_map(fn, items, workers)` yields fn(item)
for each item, in the items' order, computed in `workers` processes.

encode-file (`tokens.py`), the trainer's counting (`bpe/counts.py`) and the batch encoders
(`bpe/encoding.py`) use it: each hands over large items (a chunk of text, 256 Ki characters)
and gets large results back (its IDs, or its piece counts).

Why not `multiprocessing.Pool`: its task and result queues are pipes whose buffer holds
64 KiB, so neither a chunk nor its result fits. The sender then waits, mid-message, until the
other process is scheduled and reads; with both cores busy (two workers on a two-core machine)
that takes milliseconds each time: about 100 ms per worker over a 20 MB file, 8% of
`encode-file --workers 2`. Here each worker has a pipe of its own each way, widened to 1 MiB
where Linux allows it (`F_SETPIPE_SZ`), so a send almost never waits; and the caller sends
from a thread per worker, so that even when one does (a larger item, a pipe not widened) the
caller goes on reading results meanwhile, and no side waits for the other forever.

Memory stays bounded: at most `ahead` items per worker are handed out and not yet yielded
(results that came back early, waiting for their turn, count), and the items are read from
their iterator only as they are handed out. A worker's exception
is raised in the caller when its item's turn comes (so the first failing item in order is the
one reported, as a loop would). Ctrl-C in the caller ends the workers: they ignore SIGINT
themselves, and the caller terminates them on its way out.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import queue
import signal
import threading
from collections.abc import Callable, Iterable, Iterator

from npllm._checks import check_int

PIPE_BYTES = 1 << 20  # the widest pipe an unprivileged process may ask for (/proc/sys/fs/pipe-max-size)


def ordered_map(
    fn: Callable,
    items: Iterable,
    workers: int,
    *,
    initializer: Callable | None = None,
    initargs: tuple = (),
    ahead: int = 2,
) -> Iterator:
    """fn(item) for each item, in order, from `workers` processes (forked where the platform
    can, so `initargs` are inherited, not pickled). `initializer(*initargs)` runs once in each.

    >>> list(ordered_map(abs, [-3, 1, -2], 2))
    [3, 1, 2]
    """
    check_int("workers", workers, 1)
    check_int("ahead", ahead, 1, " (items a worker may have in hand)")
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    senders, results, processes = [], [], []  # per worker: what feeds its pipe, the pipe it answers on, itself
    finished = False
    try:
        for _ in range(workers):
            task_out, task_in = context.Pipe(duplex=False)  # (reader, writer)
            result_out, result_in = context.Pipe(duplex=False)
            for end in (task_in, result_in):
                _widen(end)
            process = context.Process(target=_serve, args=(task_out, result_in, fn, initializer, initargs), daemon=True)
            process.start()
            task_out.close()  # the worker's ends, closed here: a dead worker is then EOF
            result_in.close()
            senders.append(_Sender(task_in))
            results.append(result_out)
            processes.append(process)
        yield from _dispatch(iter(items), senders, results, ahead)
        finished = True
    finally:
        _stop(senders, results, processes, finished)


def _dispatch(items: Iterator, senders: list, results: list, ahead: int) -> Iterator:
    """Hand out items (each to the worker with the fewest in hand), collect results, yield them in order."""
    in_hand = [0] * len(senders)  # per worker: items handed out, result not yet received
    done = {}  # item number -> (ok, result or exception), received but not yet yielded
    handed = yielded = 0
    exhausted = False
    while True:
        while yielded in done:  # first what is ready, in order: the caller may write it meanwhile
            ok, value = done.pop(yielded)
            yielded += 1
            if not ok:
                raise value
            yield value
        while not exhausted and handed - yielded < ahead * len(senders):  # results waiting for their turn count too
            try:
                item = next(items)
            except StopIteration:
                exhausted = True
                break
            worker = in_hand.index(min(in_hand))
            senders[worker].send((handed, item))
            in_hand[worker] += 1
            handed += 1
        if exhausted and yielded == handed:
            return
        for conn in multiprocessing.connection.wait(results):
            worker = results.index(conn)
            try:
                number, ok, value = conn.recv()
            except EOFError:
                raise RuntimeError(f"worker process {worker} died before it finished its items") from None
            in_hand[worker] -= 1
            done[number] = (ok, value)


class _Sender:
    """Sends to one worker from a thread of its own. The caller's thread must never wait on a
    full pipe: the worker may be waiting, in turn, for the caller to read its last result (a
    deadlock). A pipe the platform would not widen, or an item larger than it, fills up."""

    def __init__(self, conn):
        self.conn = conn
        self.queue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def send(self, message) -> None:
        self.queue.put(message)

    def _run(self) -> None:
        while (message := self.queue.get()) is not _QUIT:
            try:
                self.conn.send(message)  # None, last: the worker stops
            except OSError:  # the worker is gone; the caller sees its result pipe end
                return

    def close(self) -> None:
        self.queue.put(_QUIT)
        self.thread.join()
        self.conn.close()


_QUIT = object()  # tells a _Sender's thread to end


def _serve(tasks, results, fn: Callable, initializer: Callable | None, initargs: tuple) -> None:
    """A worker: items in, (number, ok, result or exception) out, until told to stop (None)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's: it ends the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if initializer is not None:
        initializer(*initargs)
    while (task := tasks.recv()) is not None:
        number, item = task
        try:
            results.send((number, True, fn(item)))
        except Exception as e:  # sent back, raised in the caller when this item's turn comes
            try:
                results.send((number, False, e))
            except Exception:  # an exception that cannot be pickled: its text at least
                results.send((number, False, RuntimeError(f"{type(e).__name__}: {e}")))


def _stop(senders: list, results: list, processes: list, finished: bool) -> None:
    """Every item done: tell each worker to stop and wait for it. Otherwise (an exception, or
    the caller stopped reading) a worker may still be busy: end it (its sender's thread, if
    waiting on the pipe, then fails and ends too)."""
    for sender, process in zip(senders, processes):
        if finished:
            sender.send(None)
        else:
            process.terminate()
    for sender in senders:
        sender.close()
    for process in processes:
        process.join()
    for conn in results:
        conn.close()


def _widen(conn) -> None:
    """Make the pipe behind `conn` hold PIPE_BYTES, where the platform allows (Linux); else leave it."""
    try:
        import fcntl

        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (ImportError, AttributeError, OSError):
        pass
