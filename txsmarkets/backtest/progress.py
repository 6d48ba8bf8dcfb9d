"""`ProgressBar`: how far a backtest is, on a terminal: done, rate, time left.

Drawn on one line of ``stream`` (stderr by default), redrawn at most every ``interval``
wall seconds; `for_stream` gives one only when the stream is a terminal, so that a pipe,
a file or ``--json`` output stays clean.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar", "for_stream"]


class ProgressBar:
    """A one-line progress bar of ``done`` out of a total, in ``unit`` (see `begin`)."""

    def __init__(self, stream: TextIO | None = None, *, width: int = 30, interval: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interval = interval
        self.total = 0.0
        self.unit = ""
        self._start = 0.0
        self._drawn = 0.0
        self._done = 0.0
        self._calls = 0

    def begin(self, total: float, unit: str) -> None:
        """Start: ``total`` of ``unit`` ("seconds" simulated or "records" replayed)."""
        self.total, self.unit = float(total), unit
        self._start = self._drawn = time.perf_counter()
        self._done = 0.0

    def update(self, done: float) -> None:
        """``done`` of the total so far; redraws when ``interval`` has passed."""
        self._done = done
        self._calls += 1
        # The wall clock read costs more than the check: look at it every 64 steps only.
        if self._calls & 63:
            return
        now = time.perf_counter()
        if now - self._drawn >= self.interval:
            self._drawn = now
            self.draw(now)

    def draw(self, now: float | None = None) -> None:
        """Write the line now."""
        now = time.perf_counter() if now is None else now
        elapsed = max(now - self._start, 1e-9)
        share = min(1.0, self._done / self.total) if self.total > 0 else 0.0
        filled = int(share * self.width)
        rate = self._done / elapsed
        left = (self.total - self._done) / rate if rate > 0 and self.total > self._done else 0.0
        what = "x real time" if self.unit == "seconds" else f" {self.unit}/s"
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.width - filled)}] {share:4.0%} "
            f"{self._done:,.0f}/{self.total:,.0f} {self.unit}, {rate:,.0f}{what}, {left:,.0f} s left "
        )
        self.stream.flush()

    def end(self) -> None:
        """Draw the last state and end the line."""
        self.draw()
        self.stream.write("\n")
        self.stream.flush()


def for_stream(stream: TextIO | None = None, quiet: bool = False) -> ProgressBar | None:
    """A `ProgressBar` on ``stream`` (stderr) if it is a terminal and not ``quiet``; else None."""
    stream = stream if stream is not None else sys.stderr
    if quiet or not stream.isatty():
        return None
    return ProgressBar(stream)
