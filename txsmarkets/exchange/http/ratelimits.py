"""Rate limits of the HTTP API: at most ``count`` requests to an operation per ``period``
seconds, per caller, over a sliding window.

A request past its limit is answered 429 ``RATE_LIMIT_EXCEEDED`` with ``data`` ``{"count":
requests in the window, "expiry": when the oldest of them leaves it (ISO 8601 UTC), "limit":
count}`` and a ``Retry-After`` header in whole seconds; a refused request is not counted, so
a caller that waits until ``expiry`` gets through. The clock is the reactor's.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Mapping

from twisted.internet.interfaces import IReactorTime

from txsmarkets.exchange.http.errors import ApiError
from txsmarkets.exchange.http.units import timestamp

__all__ = ["DEFAULT_RATE_LIMITS", "Limit", "RateLimits"]


@dataclass(frozen=True)
class Limit:
    """At most ``count`` requests per ``period`` seconds."""

    count: int
    period: float

    def __post_init__(self) -> None:
        if self.count < 1 or not self.period > 0:
            raise ValueError(f"a rate limit needs a count of 1 or more and a period above 0, not {self!r}")


#: The document's limits, by operation id: login 10 a minute (per address), logout 30 a
#: minute, quotes 50 a minute, a cancel 10 a second and a cancel-all 1 a minute (per
#: account). The document gives no figure for order creates: none unless configured.
DEFAULT_RATE_LIMITS: Mapping[str, Limit] = {
    "create_session": Limit(10, 60.0),
    "delete_current_session": Limit(30, 60.0),
    "get_quotes": Limit(50, 60.0),
    "cancel_order": Limit(10, 1.0),
    "cancel_orders": Limit(1, 60.0),
}


class RateLimits:
    """Counts requests per ``(operation, caller)`` and refuses those past the limits."""

    def __init__(self, clock: IReactorTime, limits: Mapping[str, Limit | None]) -> None:
        self.clock = clock
        self.limits = {name: limit for name, limit in limits.items() if limit is not None}
        self._windows: dict[tuple[str, object], deque[float]] = {}

    def check(self, operation: str, caller: object) -> None:
        """Count a request of ``caller`` (an account id, or an address) to ``operation``;
        `ApiError` 429 if it is past the limit."""
        limit = self.limits.get(operation)
        if limit is None:
            return
        now = self.clock.seconds()
        key = (operation, caller)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = deque()
        while window and window[0] <= now - limit.period:
            window.popleft()
        if len(window) >= limit.count:
            expiry = window[0] + limit.period
            raise ApiError(
                429,
                "RATE_LIMIT_EXCEEDED",
                {"count": len(window), "expiry": timestamp(expiry), "limit": limit.count},
                {"Retry-After": str(max(1, math.ceil(expiry - now)))},
            )
        window.append(now)
        if len(self._windows) > 10_000:
            self._forget(now)

    def _forget(self, now: float) -> None:
        """Drop the windows that have emptied, so that many callers do not pile up."""
        for key, window in list(self._windows.items()):
            limit = self.limits[key[0]]
            if not window or window[-1] <= now - limit.period:
                del self._windows[key]
