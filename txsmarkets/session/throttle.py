"""A token bucket that makes requests wait their turn instead of being rejected."""

from __future__ import annotations

from collections import deque

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["TokenBucket"]


class TokenBucket:
    """Tokens refill at ``rate`` a second up to ``burst``; `acquire` waits for one.

    With no limits set (``rate`` None) every acquire fires at once. `set_limits` follows the
    exchange's ``seto.throttle_limits_changed``. Waiters are served first come, first served.
    """

    def __init__(self, clock: IReactorTime, rate: float | None = None, burst: int = 1) -> None:
        self._clock = clock
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._stamp = clock.seconds()
        self._waiters: deque[Deferred[None]] = deque()
        self._wakeup: IDelayedCall | None = None

    def set_limits(self, rate: float | None, burst: int) -> None:
        """Change the refill rate (a second) and burst size; None lifts the limit."""
        self._refill()
        was_unlimited = self.rate is None
        self.rate = rate if rate else None
        self.burst = max(1, burst)
        # Coming from no limit, the bucket starts full, as the exchange's does.
        self._tokens = float(self.burst) if was_unlimited else min(self._tokens, float(self.burst))
        # A wake-up timed at the old rate would come early or late: time it afresh.
        if self._wakeup is not None and self._wakeup.active():
            self._wakeup.cancel()
        self._wakeup = None
        self._serve()

    @property
    def waiting(self) -> int:
        """How many acquires are waiting for a token."""
        return len(self._waiters)

    def _refill(self) -> None:
        now = self._clock.seconds()
        if self.rate is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self) -> bool:
        """Take a token now if one is free and nobody waits; never waits."""
        if self.rate is None:
            return not self._waiters
        self._refill()
        if not self._waiters and self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def acquire(self) -> Deferred[None]:
        """A Deferred that fires when a token is taken for the caller."""
        if self.rate is None and not self._waiters:
            return succeed(None)
        self._refill()
        if not self._waiters and self._tokens >= 1:
            self._tokens -= 1
            return succeed(None)
        d: Deferred[None] = Deferred(self._cancel)
        self._waiters.append(d)
        self._schedule()
        return d

    def _cancel(self, d: Deferred[None]) -> None:
        self._remove(d)
        d.errback(CancelledError())

    def drop(self, d: Deferred[None], reason: BaseException) -> None:
        """Errback ``d``, an `acquire` still waiting, with ``reason``: its turn is given up
        (the request it paced must not go out). Returns None; one no longer waiting is
        left alone."""
        if d in self._waiters:
            self._remove(d)
            d.errback(reason)

    def _remove(self, d: Deferred[None]) -> None:
        try:
            self._waiters.remove(d)
        except ValueError:
            pass
        if not self._waiters and self._wakeup is not None and self._wakeup.active():
            # Nobody waits: tokens may be taken at once, so a wake-up timed for this
            # deficit would come for a token that is not there.
            self._wakeup.cancel()
            self._wakeup = None

    def _schedule(self) -> None:
        if self._wakeup is not None and self._wakeup.active():
            return
        if not self._waiters:
            return
        delay = 0.0 if self.rate is None else max(0.0, (1 - self._tokens) / self.rate)
        self._wakeup = self._clock.callLater(delay, self._woken)

    def _woken(self) -> None:
        # The wake-up was timed for the next whole token (nothing takes tokens while
        # requests wait, and a change of limits times it afresh). A token short by rounding
        # alone counts as whole: else a clock that cannot tell now from now plus the tiny
        # delay left (a `Clock`, a reactor at a large time) would call again at once, for ever.
        self._wakeup = None
        self._refill()
        if self.rate is not None and self._tokens < 1:
            self._tokens = 1.0
        self._serve()

    def _serve(self) -> None:
        self._refill()
        while self._waiters and (self.rate is None or self._tokens >= 1):
            if self.rate is not None:
                self._tokens -= 1
            self._waiters.popleft().callback(None)
        self._schedule()

    def clear(self, reason: BaseException) -> None:
        """Errback every waiter with ``reason`` (the session ended)."""
        if self._wakeup is not None and self._wakeup.active():
            self._wakeup.cancel()
        self._wakeup = None
        waiters, self._waiters = self._waiters, deque()
        for d in waiters:
            d.errback(reason)
