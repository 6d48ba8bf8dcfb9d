"""Requests waiting for their answers, keyed by what the answer will name."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IDelayedCall, IReactorTime

from txsmarkets.exceptions import RequestTimeout

__all__ = ["PendingRequests"]


class PendingRequests:
    """Requests waiting for their answers, keyed by what the answer will name.

    Each waits ``timeout`` seconds at most. They all wait as long, so they expire in the
    order they were made: one timer, set for the oldest, serves them all.
    """

    def __init__(self, clock: IReactorTime, timeout: float) -> None:
        self._clock = clock
        self.timeout = timeout
        self._waiting: dict[tuple[Any, ...], Deferred[Any]] = {}
        # key -> when it times out, oldest first.
        self._deadlines: dict[tuple[Any, ...], float] = {}
        self._timer: IDelayedCall | None = None
        self._expiring = False
        # seq of a request -> its key: an order_invalid or order_rejected names only the seq.
        self._by_seq: dict[int, tuple[Any, ...]] = {}
        self._seq_of: dict[tuple[Any, ...], int] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, key: tuple[Any, ...]) -> bool:
        return key in self._waiting

    def add(self, key: tuple[Any, ...], seq: int) -> Deferred[Any]:
        if key in self._waiting:
            return fail(ValueError(f"a request {key} is already waiting for its answer"))

        def forget(d: Deferred[Any]) -> None:
            self.pop(key)

        if key[0] != "order":
            self._by_seq[seq] = key
            self._seq_of[key] = seq

        d: Deferred[Any] = Deferred(forget)
        self._waiting[key] = d
        if self.timeout:
            self._deadlines[key] = self._clock.seconds() + self.timeout
            if self._timer is None and not self._expiring:
                self._timer = self._clock.callLater(self.timeout, self._expire)
        return d

    def _expire(self) -> None:
        self._timer = None
        now = self._clock.seconds()
        deadlines = self._deadlines
        # An errback may make a new request (a retry): the timer is set once, below.
        self._expiring = True
        try:
            while deadlines:
                key, deadline = next(iter(deadlines.items()))
                if deadline > now:
                    break
                d = self.pop(key)
                if d is not None:
                    d.errback(RequestTimeout(f"no answer to {key[0]} {key[1:]} within {self.timeout}s"))
        finally:
            self._expiring = False
        if deadlines and self._timer is None:
            deadline = next(iter(deadlines.values()))
            self._timer = self._clock.callLater(max(0.0, deadline - now), self._expire)

    def pop(self, key: tuple[Any, ...]) -> Deferred[Any] | None:
        if key[0] == "order" and key not in self._waiting:
            alias = self._by_seq.get(key[1])
            if alias is not None:
                key = alias
        seq = self._seq_of.pop(key, None)
        if seq is not None:
            del self._by_seq[seq]
        self._deadlines.pop(key, None)
        return self._waiting.pop(key, None)

    def fail_all(self, error: Exception) -> None:
        self._by_seq.clear()
        self._seq_of.clear()
        self._deadlines.clear()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        waiting, self._waiting = self._waiting, {}
        for d in waiting.values():
            d.errback(error)
