"""`ProgressBar`: how far a long job is, on one line of a terminal.

The backtest (``python -m txsmarkets.backtest``) draws one of the seconds simulated or the
records replayed, with the rate and the time left (`rate_and_time_left`); the journal
reader (``python -m txsmarkets.persistence.journal``) one of the bytes read (`mebibytes`).
`for_stream` gives one only when the stream is a terminal, so that a pipe, a file or
``--json`` output stays clean.
"""

from __future__ import annotations

import sys
import time
from typing import Callable, TextIO

__all__ = ["Detail", "ProgressBar", "for_stream", "mebibytes", "rate_and_time_left"]

#: What a bar says after its percent: made from the bar and the wall seconds since `begin`.
Detail = Callable[["ProgressBar", float], str]


def rate_and_time_left(bar: ProgressBar, elapsed: float) -> str:
    """``done/total unit, rate, time left`` (a rate of simulated seconds is said as so
    many times real time): the backtest's detail."""
    rate = bar.done / elapsed
    left = (bar.total - bar.done) / rate if rate > 0 and bar.total > bar.done else 0.0
    what = "x real time" if bar.unit == "seconds" else f" {bar.unit}/s"
    return f"{bar.done:,.0f}/{bar.total:,.0f} {bar.unit}, {rate:,.0f}{what}, {left:,.0f} s left "


def mebibytes(bar: ProgressBar, elapsed: float) -> str:
    """``done/total MiB`` of a total in bytes: the journal reader's detail."""
    mib = 1024 * 1024
    return f"{bar.done / mib:.1f}/{bar.total / mib:.1f} MiB"


class ProgressBar:
    """A one-line progress bar of ``done`` out of a total, in ``unit`` (see `begin`), on
    ``stream`` (stderr by default): ``[#########.....................]  30% `` and then
    ``detail`` (by default `rate_and_time_left`).

    It is redrawn at most every ``interval`` wall seconds (read from ``timer``), or, with
    ``interval`` None, each time the whole percent changes. `end` leaves the last state on
    the terminal; `clear` erases the line.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        width: int = 30,
        interval: float | None = 0.2,
        blank: str = ".",
        detail: Detail = rate_and_time_left,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interval = interval
        self.blank = blank
        self.detail = detail
        self.timer = timer
        self.total = 0.0
        self.unit = ""
        #: How much of the total is done, as last told by `update`.
        self.done = 0.0
        self._start = 0.0
        self._drawn = 0.0
        self._calls = 0
        self._shown = -1
        self._length = 0

    @property
    def percent(self) -> int:
        """The whole percent done, rounded down: 100 only once all is done."""
        if self.total <= 0:
            return 0
        return min(100, int(self.done * 100 // self.total))

    def begin(self, total: float, unit: str) -> None:
        """Start: ``total`` of ``unit`` ("seconds" simulated, "records" replayed, "bytes" read)."""
        self.total, self.unit = float(total), unit
        self._start = self._drawn = self.timer()
        self.done = 0.0

    def update(self, done: float) -> None:
        """``done`` of the total so far; redraws when it is time to (see the class)."""
        self.done = done
        if self.interval is None:
            if self.percent != self._shown:
                self.draw()
            return
        self._calls += 1
        # The wall clock read costs more than the check: look at it every 64 steps only.
        if self._calls & 63:
            return
        now = self.timer()
        if now - self._drawn >= self.interval:
            self.draw(now)

    def draw(self, now: float | None = None) -> None:
        """Write the line now."""
        now = self.timer() if now is None else now
        self._drawn = now
        self._shown = percent = self.percent
        filled = percent * self.width // 100
        line = f"[{'#' * filled}{self.blank * (self.width - filled)}] {percent:3d}% {self.detail(self, max(now - self._start, 1e-9))}"
        self._length = len(line)
        self.stream.write("\r" + line)
        self.stream.flush()

    def end(self) -> None:
        """Draw the last state and end the line."""
        self.draw()
        self.stream.write("\n")
        self.stream.flush()

    def clear(self) -> None:
        """Erase the line, if one was drawn: the terminal's line is as it was before."""
        if self._length:
            self.stream.write("\r" + " " * self._length + "\r")
            self.stream.flush()
            self._length = 0


def for_stream(stream: TextIO | None = None, quiet: bool = False) -> ProgressBar | None:
    """A `ProgressBar` on ``stream`` (stderr) if it is a terminal and not ``quiet``; else None."""
    stream = stream if stream is not None else sys.stderr
    if quiet or not stream.isatty():
        return None
    return ProgressBar(stream)
