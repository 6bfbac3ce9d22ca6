"""A progress line on stderr for long jobs (training, encoding a corpus): rewritten in
place, at most every `every_s` seconds, and ended with a newline. The library is silent
unless a caller asks for one (`progress=True`, or the CLI)."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    def __init__(self, every_s: float = 0.2):
        self.every_s = every_s
        self.start = self.last = time.perf_counter()

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
        sys.stderr.write(f"\r{text} ")
        sys.stderr.flush()

    def close(self, text: str) -> None:
        self.write(text)
        sys.stderr.write("\n")
        sys.stderr.flush()
