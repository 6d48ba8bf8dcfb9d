"""Rate limits: a token bucket per endpoint, with a bounded queue of requests in order.

The API limits some endpoints by account (`DEFAULT_LIMITS`: the document's figures) and
answers 429 past them. The client keeps under them itself: a request takes a token of its
endpoint's `TokenBucket` before it goes out, waiting in its queue (first come, first served)
while there is none, and failing at once with `QueueFull` when the queue is full. A 429 the
API gives anyway empties the bucket until the time it names (`TokenBucket.pause_until`).
"""

from __future__ import annotations

from collections import deque
from contextlib import suppress
from typing import Mapping

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from txsmarkets.http_api.errors import QueueFull

__all__ = ["DEFAULT_LIMITS", "DEFAULT_QUEUE", "RateLimits", "TokenBucket"]

#: The document's limits, endpoint -> (requests, seconds): log in 10 a minute, log out 30 a
#: minute, quotes 50 a minute, cancel an order 10 a second, cancel all once a minute. The
#: order create's limit is "per account", with no figure: none unless one is given.
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "login": (10, 60.0),
    "logout": (30, 60.0),
    "quotes": (50, 60.0),
    "cancel_order": (10, 1.0),
    "cancel_all": (1, 60.0),
}

#: How many requests may wait for one endpoint's bucket before the next is refused.
DEFAULT_QUEUE = 100


class TokenBucket:
    """``limit`` tokens for ``period`` seconds: a request takes one, and it comes back
    ``period`` seconds after it was taken. ``limit`` None is no limit.

    (Each token back a whole period after its use, rather than the bucket refilling at
    ``limit / period`` a second: a bucket refilled that way lets up to twice ``limit``
    through in one period, which an API counting requests in a window refuses.)

    `acquire` waits for a token in order; no more than ``max_queue`` may wait.
    """

    def __init__(
        self, clock: IReactorTime, name: str, limit: int | None, period: float, max_queue: int = DEFAULT_QUEUE
    ) -> None:
        if limit is not None and (limit < 1 or period <= 0):
            raise ValueError(f"the {name} limit needs at least one request in a period above 0")
        self.clock = clock
        self.name = name
        self.limit = limit
        self.period = period
        self.max_queue = max_queue
        self._taken: deque[float] = deque()
        self._paused_until = 0.0
        self._waiters: deque[Deferred[None]] = deque()
        self._wakeup: IDelayedCall | None = None

    def __repr__(self) -> str:
        limit = "no limit" if self.limit is None else f"{self.limit} per {self.period:g} s"
        return f"<TokenBucket {self.name}: {limit}, {len(self._waiters)} waiting>"

    @property
    def waiting(self) -> int:
        """How many requests wait for a token."""
        return len(self._waiters)

    def acquire(self, first: bool = False) -> Deferred[None]:
        """A Deferred that fires once the caller has a token; cancelling it leaves the queue.

        ``first`` puts the caller at the head of the queue, and past its bound (a request
        that already waited its turn, tried again after a 429). Fails at once with
        `QueueFull` when ``max_queue`` requests already wait."""
        if not self._waiters and self._available():
            self._take()
            return succeed(None)
        if not first and len(self._waiters) >= self.max_queue:
            return fail(QueueFull(self.name, len(self._waiters)))
        d: Deferred[None] = Deferred(self._cancel)
        if first:
            self._waiters.appendleft(d)
        else:
            self._waiters.append(d)
        self._serve()
        return d

    def pause_until(self, when: float) -> None:
        """Give no token before ``when`` (the clock's seconds): the API said so with a 429."""
        self._paused_until = max(self._paused_until, when)
        self._serve()

    def _available(self) -> bool:
        now = self.clock.seconds()
        if now < self._paused_until:
            return False
        if self.limit is None:
            return True
        while self._taken and self._taken[0] + self.period <= now:
            self._taken.popleft()
        return len(self._taken) < self.limit

    def _take(self) -> None:
        if self.limit is not None:
            self._taken.append(self.clock.seconds())

    def _cancel(self, d: Deferred[None]) -> None:
        # A waiter cancelled leaves the queue; those behind it move up.
        with suppress(ValueError):
            self._waiters.remove(d)
        d.errback(CancelledError())
        self._serve()

    def _serve(self) -> None:
        while self._waiters and self._available():
            d = self._waiters.popleft()
            self._take()
            d.callback(None)
        if self._waiters:
            self._schedule()
        elif self._wakeup is not None and self._wakeup.active():
            self._wakeup.cancel()
            self._wakeup = None

    def _schedule(self) -> None:
        now = self.clock.seconds()
        when = self._paused_until
        if self.limit is not None and len(self._taken) >= self.limit:
            when = max(when, self._taken[0] + self.period)
        delay = max(0.0, when - now)
        if self._wakeup is not None and self._wakeup.active():
            if abs(self._wakeup.getTime() - (now + delay)) < 1e-9:
                return
            self._wakeup.cancel()
        self._wakeup = self.clock.callLater(delay, self._woken)

    def _woken(self) -> None:
        self._wakeup = None
        self._serve()


class RateLimits:
    """The buckets of every endpoint: `DEFAULT_LIMITS` with ``limits`` over them (an
    endpoint -> ``(requests, seconds)``, or None for no limit); an endpoint with none has a
    bucket with no limit, which a 429 can still pause."""

    def __init__(
        self,
        clock: IReactorTime,
        limits: Mapping[str, tuple[int, float] | None] | None = None,
        max_queue: int = DEFAULT_QUEUE,
    ) -> None:
        self.clock = clock
        self.max_queue = max_queue
        self.limits: dict[str, tuple[int, float] | None] = {**DEFAULT_LIMITS, **(limits or {})}
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, endpoint: str) -> TokenBucket:
        """The bucket of ``endpoint`` (made on first use)."""
        bucket = self._buckets.get(endpoint)
        if bucket is None:
            limit = self.limits.get(endpoint)
            count, period = limit if limit is not None else (None, 1.0)
            bucket = self._buckets[endpoint] = TokenBucket(self.clock, endpoint, count, period, self.max_queue)
        return bucket
