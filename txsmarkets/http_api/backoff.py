"""`PollBackoff`: how a poll of the HTTP API waits after it fails, and how it says so.

The one rule of every poll of an upstream (the paper exchange's prices, the bridge's
activity and market data): after ``n`` failed polls in a row the next comes ``interval``
doubled ``n`` times later, at most ``max_backoff`` seconds; the first poll that works
polls at the usual pace again. Each failed poll is one line of the log (so that the lines
come no faster than the polls): a warning for an error of the upstream's
(`txsmarkets.http_api.errors.upstream_error`), the traceback only for any other (a bug).
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.http_api.errors import upstream_error

__all__ = ["PollBackoff"]

#: Past this many doublings the wait is max_backoff whatever the figures (and no float overflows).
_MOST_DOUBLINGS = 32


class PollBackoff:
    """The failed polls in a row of one poller (``failures``) and the wait they make:
    ``interval`` (seconds, the usual pace) doubled per failure, at most ``max_backoff``."""

    def __init__(self, interval: float, max_backoff: float) -> None:
        if not interval > 0 or not max_backoff > 0:
            raise ValueError("the poll interval and the back-off must be above 0")
        self.interval = interval
        self.max_backoff = max_backoff
        #: Failed polls in a row (0: the last one worked).
        self.failures = 0

    @property
    def delay(self) -> float:
        """Seconds until the next poll after the failures so far."""
        if not self.failures:
            return self.interval
        return min(self.max_backoff, self.interval * 2 ** min(self.failures, _MOST_DOUBLINGS))

    def failed(self) -> float:
        """A poll failed: the seconds to wait before the next."""
        self.failures += 1
        return self.delay

    def answered(self) -> int:
        """A poll worked: the failures there were before it (now 0)."""
        failures, self.failures = self.failures, 0
        return failures

    def say(self, log: Logger, failure: Failure, format: str, **kwargs: Any) -> None:
        """Log ``format`` (given ``error``, ``failures`` and ``delay`` besides ``kwargs``)
        for the poll that failed with ``failure``: a warning for an upstream's error, with
        the traceback (`Logger.failure`) for any other."""
        fields = {"error": failure.value, "failures": self.failures, "delay": self.delay, **kwargs}
        if upstream_error(failure.value):
            log.warn(format, **fields)
        else:
            log.failure(format, failure, **fields)
