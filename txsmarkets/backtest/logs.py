"""A backtest's log: the strategy's and txsmarkets' `twisted.logger` events as text.

`log_observer` writes each event at or above a level as one line of Twisted's classic log
text (an event's traceback follows on indented lines), stamped with the virtual seconds
of the backtest's clock rather than the wall time, which hardly moves during a backtest
(with no clock, as for a sweep's many runs: the wall time).
`logging_to` adds an observer to the global log publisher for the length of a ``with``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TextIO

from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    ILogObserver,
    InvalidLogLevelError,
    LogLevel,
    LogLevelFilterPredicate,
    LogPublisher,
    formatEventAsClassicLogText,
    formatTime,
    globalLogPublisher,
)

__all__ = ["LEVELS", "log_observer", "logging_to"]

#: The level names ``--log-level`` takes, Twisted's own, least severe first.
LEVELS = tuple(level.name for level in LogLevel.iterconstants())


def log_observer(stream: TextIO, level: str, seconds: Callable[[], float] | None) -> ILogObserver:
    """An observer writing the events of ``level`` (one of `LEVELS`) or above to
    ``stream``, each stamped with ``seconds()`` (virtual seconds) when it is written, or
    with its wall time when ``seconds`` is None. ValueError for an unknown level."""
    try:
        minimum = LogLevel.levelWithName(level)
    except InvalidLogLevelError:
        raise ValueError(f"a log level is one of {', '.join(LEVELS)}, not {level!r}") from None

    stamp = formatTime if seconds is None else _virtual_time(seconds)
    lines = FileLogObserver(stream, partial(formatEventAsClassicLogText, formatTime=stamp))
    return FilteringLogObserver(lines, [LogLevelFilterPredicate(minimum)])


def _virtual_time(seconds: Callable[[], float]) -> Callable[[float | None], str]:
    def stamp(when: float | None) -> str:
        # An event is written as it is emitted, so the clock reads its virtual time.
        return f"{seconds():10.3f}"

    return stamp


@contextmanager
def logging_to(observer: ILogObserver, publisher: LogPublisher = globalLogPublisher) -> Iterator[None]:
    """``observer`` hears ``publisher``'s events (the global ones by default) inside the
    ``with``, and no longer after it."""
    publisher.addObserver(observer)
    try:
        yield
    finally:
        publisher.removeObserver(observer)
