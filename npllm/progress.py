"""A progress line on stderr for long jobs (training, encoding a corpus). The library is
silent unless a caller asks for one (`progress=True`, or the CLI).

On a terminal the line is rewritten in place ("\\r"), at most every `every_s` seconds, and
ended with a newline. Anywhere else (a log file, a pipe, CI) a "\\r" would pile every update
onto one endless line, so there it is a plain line at most every `log_every_s` seconds, and
one at the end.
"""

from __future__ import annotations

import sys
import time

LOG_EVERY_S = 10.0  # seconds between progress lines when stderr is not a terminal


class ProgressLine:
    def __init__(self, every_s: float = 0.2, *, log_every_s: float = LOG_EVERY_S, stream=None):
        self.stream = stream  # None: sys.stderr at the time of writing (tests swap it)
        self.tty = _isatty(self._out)
        self.every_s = every_s if self.tty else log_every_s
        self.start = self.last = time.perf_counter()
        self.shown = False  # a "\r" line is on the terminal, not yet ended

    @property
    def _out(self):
        return self.stream if self.stream is not None else sys.stderr

    @property
    def elapsed(self) -> float:
        """Seconds since the start (never 0, so rates can divide by it)."""
        return max(time.perf_counter() - self.start, 1e-9)

    def due(self) -> bool:
        """True at most once every `every_s` seconds: time to write the line again."""
        now = time.perf_counter()
        if now - self.last < self.every_s:
            return False
        self.last = now
        return True

    def write(self, text: str) -> None:
        out = self._out
        if self.tty:
            out.write(f"\r{text} ")
            self.shown = True
        else:
            out.write(f"{text}\n")
        out.flush()

    def close(self, text: str) -> None:
        """The last state, and the end of the line."""
        self.write(text)
        if self.tty:
            self._out.write("\n")
            self._out.flush()
            self.shown = False

    def abandon(self) -> None:
        """The job failed: clear the line, so the error that follows is the only line left."""
        if self.tty and self.shown:
            self._out.write("\r\x1b[K")  # back to the start, erase to the end of the line
            self._out.flush()
            self.shown = False


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False
