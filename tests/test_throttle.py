"""`TokenBucket`, the client's pacing of requests to the exchange's announced rate, on a Clock."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import CancelledError
from twisted.internet.task import Clock
from twisted.trial import unittest

from txsmarkets.session.throttle import TokenBucket


class CountingClock(Clock):
    """A `Clock` that fails the test instead of spinning: a bucket that schedules a call due
    at once, again and again, would keep ``advance`` from ever returning."""

    def __init__(self, limit: int = 10_000) -> None:
        super().__init__()
        self.scheduled = 0
        self.limit = limit

    def callLater(self, delay: float, f: Any, *args: Any, **kw: Any) -> Any:
        self.scheduled += 1
        if self.scheduled > self.limit:
            raise AssertionError(f"{self.scheduled} calls scheduled: the bucket spins")
        return super().callLater(delay, f, *args, **kw)


class TokenBucketTests(unittest.TestCase):
    def test_a_burst_then_the_rate(self) -> None:
        clock = CountingClock()
        bucket = TokenBucket(clock, 10.0, 3)
        served: list[int] = []
        for i in range(6):
            bucket.acquire().addCallback(lambda _, i=i: served.append(i))
        self.assertEqual((served, bucket.waiting), ([0, 1, 2], 3))
        clock.advance(0.099)
        self.assertEqual(served, [0, 1, 2])
        clock.advance(0.001)
        self.assertEqual(served, [0, 1, 2, 3])
        clock.advance(0.2)
        self.assertEqual((served, bucket.waiting), ([0, 1, 2, 3, 4, 5], 0))

    def test_rounding_never_spins_the_clock(self) -> None:
        """The embedded exchange's limits with the client's margin (45 a second, 99 at once):
        the tokens refill to a rounding error short of one, whose wait is below what the
        clock can tell from now. The waiter is served then; the clock is not called again
        and again at the same instant."""
        clock = CountingClock()
        bucket = TokenBucket(clock, 45.0, 99)
        served: list[float] = []
        for _ in range(130):
            bucket.acquire().addCallback(lambda _: served.append(clock.seconds()))
        self.assertEqual(bucket.waiting, 31)
        for _ in range(20):
            clock.advance(0.05)
        self.assertEqual((len(served), bucket.waiting), (130, 0))
        # Paced at the rate all along: the last of the 31 waited 31/45 of a second.
        self.assertLess(abs(served[-1] - 31 / 45), 0.05)
        self.assertLess(clock.scheduled, 100)

    def test_drop_gives_up_a_turn(self) -> None:
        clock = Clock()
        bucket = TokenBucket(clock, 10.0, 1)
        bucket.acquire()
        first, second = bucket.acquire(), bucket.acquire()
        served: list[str] = []
        failures: list[Any] = []
        first.addCallbacks(lambda _: served.append("first"), failures.append)
        second.addCallback(lambda _: served.append("second"))
        bucket.drop(first, ValueError("halted"))
        self.assertEqual(failures[0].value.args, ("halted",))
        self.assertEqual(bucket.waiting, 1)
        # The next turn is the second's, a token's time on.
        clock.advance(0.1)
        self.assertEqual(served, ["second"])
        # One no longer waiting is left alone.
        bucket.drop(second, ValueError("late"))

    def test_nobody_waiting_takes_the_wakeup_away(self) -> None:
        """The last waiter dropped or cancelled: no call stays scheduled, and a token taken
        at once meanwhile is not given again by a wake-up timed before."""
        clock = Clock()
        bucket = TokenBucket(clock, 10.0, 1)
        bucket.acquire()
        waiting = bucket.acquire()
        waiting.addErrback(lambda f: f.trap(CancelledError))
        waiting.cancel()
        self.assertEqual(clock.getDelayedCalls(), [])
        clock.advance(0.1)
        self.assertTrue(bucket.try_acquire())
        later = bucket.acquire()
        served: list[None] = []
        later.addCallback(served.append)
        clock.advance(0.099)
        self.assertEqual(served, [])
        clock.advance(0.001)
        self.assertEqual(served, [None])

    def test_new_limits_time_the_wait_afresh(self) -> None:
        clock = Clock()
        bucket = TokenBucket(clock, 1.0, 1)
        bucket.acquire()
        served: list[None] = []
        bucket.acquire().addCallback(served.append)
        # A second's wait at the old rate; a tenth of one at the new.
        bucket.set_limits(10.0, 1)
        clock.advance(0.1)
        self.assertEqual(served, [None])
        self.assertEqual(clock.getDelayedCalls(), [])
