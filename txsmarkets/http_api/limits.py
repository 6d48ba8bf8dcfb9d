"""Rate limits: a token bucket per endpoint, with a bounded queue of requests in order.

The API limits some endpoints by account (`DEFAULT_LIMITS`: the document's figures) and
answers 429 past them. The client keeps under them itself: a request takes a token of its
endpoint's `TokenBucket` before it goes out, waiting in its queue (first come, first served)
while there is none, and failing at once with `QueueFull` when the queue is full. The
client holds the token until the answer (or the failure) and it comes back a whole period
after that: the API counts a request when it arrives, which is after it was sent and before
it was answered, so a token back a period after the answer is one the API has let go too,
however long each request took on the way. A 429 the API gives anyway empties the bucket
until the time it names (`TokenBucket.pause_until`).

The buckets are also where the requests are counted (the one place): each endpoint's
requests made (`TokenBucket.requests`, and over the last minute, `TokenBucket.last_minute`),
the most of its limit ever in use (`TokenBucket.peak`) and the 429s the API answered
(`TokenBucket.rate_limited`). `RateLimits.figures` gives them all at once.
"""

from __future__ import annotations

from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from typing import Mapping

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from txsmarkets.http_api.errors import QueueFull

__all__ = ["DEFAULT_LIMITS", "DEFAULT_QUEUE", "WINDOW", "EndpointFigures", "RateLimits", "TokenBucket"]

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

#: Seconds of the sliding window the request rate is counted over (`TokenBucket.last_minute`).
WINDOW = 60.0


@dataclass(frozen=True)
class EndpointFigures:
    """What one endpoint's bucket has counted (`TokenBucket.figures`).

    ``requests``: requests made since the bucket was made (a request sent again after a 401
    or a 429 counts again); ``last_minute``: those of the last `WINDOW` seconds;
    ``rate_limited``: 429s the API answered (0 while the client's limits are the API's);
    ``limit`` and ``period``: at most ``limit`` requests in ``period`` seconds (``limit``
    None: no limit); ``per_minute``: that limit as requests a minute (None: no limit);
    ``peak``: the most tokens ever out at once (in use, or back less than a period ago),
    at most ``limit``."""

    endpoint: str
    requests: int
    last_minute: int
    rate_limited: int
    limit: int | None
    period: float
    peak: int

    @property
    def per_minute(self) -> float | None:
        """The limit as requests a minute, or None for no limit."""
        return None if self.limit is None else self.limit * WINDOW / self.period


class TokenBucket:
    """``limit`` tokens for ``period`` seconds: a request takes one, and it comes back
    ``period`` seconds after it was taken, or, if held (``acquire(hold=True)``), ``period``
    seconds after its `release`. ``limit`` None is no limit.

    (Each token back a whole period after its use, rather than the bucket refilling at
    ``limit / period`` a second: a bucket refilled that way lets up to twice ``limit``
    through in one period, which an API counting requests in a window refuses.)

    `acquire` waits for a token in order; no more than ``max_queue`` may wait. Each token
    taken is a request counted (`requests`, `last_minute`, `peak`); `refused` counts a
    429.
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
        # When each token not held was taken, or given back: it is out a period from then.
        self._taken: deque[float] = deque()
        # Tokens held: out until released.
        self._held = 0
        self._paused_until = 0.0
        self._waiters: deque[tuple[Deferred[None], bool]] = deque()
        self._wakeup: IDelayedCall | None = None
        #: Requests made: tokens taken.
        self.requests = 0
        #: 429s the API answered to this endpoint's requests (`refused`).
        self.rate_limited = 0
        #: The most tokens out at once (held, or back less than a period ago).
        self.peak = 0
        # When each request of the last WINDOW seconds was made.
        self._recent: deque[float] = deque()

    def __repr__(self) -> str:
        limit = "no limit" if self.limit is None else f"{self.limit} per {self.period:g} s"
        return f"<TokenBucket {self.name}: {limit}, {len(self._waiters)} waiting>"

    @property
    def waiting(self) -> int:
        """How many requests wait for a token."""
        return len(self._waiters)

    @property
    def last_minute(self) -> int:
        """Requests made in the last `WINDOW` seconds (a sliding minute)."""
        self._trim_recent(self.clock.seconds())
        return len(self._recent)

    def figures(self) -> EndpointFigures:
        """What the bucket has counted so far."""
        return EndpointFigures(
            self.name, self.requests, self.last_minute, self.rate_limited, self.limit, self.period, self.peak
        )

    def acquire(self, first: bool = False, hold: bool = False) -> Deferred[None]:
        """A Deferred that fires once the caller has a token; cancelling it leaves the queue.

        ``first`` puts the caller at the head of the queue, and past its bound (a request
        that already waited its turn, tried again after a 429). ``hold`` keeps the token out
        until the caller's `release` (its request answered), rather than a period from now.
        Fails at once with `QueueFull` when ``max_queue`` requests already wait."""
        if not self._waiters and self._available():
            self._take(hold)
            return succeed(None)
        if not first and len(self._waiters) >= self.max_queue:
            return fail(QueueFull(self.name, len(self._waiters)))
        d: Deferred[None] = Deferred(self._cancel)
        if first:
            self._waiters.appendleft((d, hold))
        else:
            self._waiters.append((d, hold))
        self._serve()
        return d

    def release(self) -> None:
        """Give back a token taken with ``hold``: it comes back a period from now."""
        if self._held < 1:
            raise RuntimeError(f"no token of {self.name} is held")
        self._held -= 1
        if self.limit is not None:
            self._taken.append(self.clock.seconds())
        self._serve()

    def refused(self) -> None:
        """Count a 429 the API answered to one of this endpoint's requests."""
        self.rate_limited += 1

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
        return len(self._taken) + self._held < self.limit

    def _take(self, hold: bool) -> None:
        now = self.clock.seconds()
        self.requests += 1
        self._recent.append(now)
        self._trim_recent(now)
        if hold:
            self._held += 1
        elif self.limit is not None:
            self._taken.append(now)
        if self.limit is not None:
            self.peak = max(self.peak, len(self._taken) + self._held)

    def _trim_recent(self, now: float) -> None:
        recent = self._recent
        while recent and recent[0] + WINDOW <= now:
            recent.popleft()

    def _cancel(self, d: Deferred[None]) -> None:
        # A waiter cancelled leaves the queue; those behind it move up.
        for waiter in self._waiters:
            if waiter[0] is d:
                with suppress(ValueError):
                    self._waiters.remove(waiter)
                break
        d.errback(CancelledError())
        self._serve()

    def _serve(self) -> None:
        while self._waiters and self._available():
            d, hold = self._waiters.popleft()
            self._take(hold)
            d.callback(None)
        if self._waiters:
            self._schedule()
        elif self._wakeup is not None and self._wakeup.active():
            self._wakeup.cancel()
            self._wakeup = None

    def _schedule(self) -> None:
        now = self.clock.seconds()
        when = self._paused_until
        if self.limit is not None and len(self._taken) + self._held >= self.limit:
            if not self._taken:
                # Every token is held: the next release serves the queue.
                if now >= when:
                    return
            else:
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

    def figures(self) -> list[EndpointFigures]:
        """The figures of every endpoint that has a bucket (one was used), by name."""
        return [self._buckets[name].figures() for name in sorted(self._buckets)]

    def bucket(self, endpoint: str) -> TokenBucket:
        """The bucket of ``endpoint`` (made on first use)."""
        bucket = self._buckets.get(endpoint)
        if bucket is None:
            limit = self.limits.get(endpoint)
            count, period = limit if limit is not None else (None, 1.0)
            bucket = self._buckets[endpoint] = TokenBucket(self.clock, endpoint, count, period, self.max_queue)
        return bucket
