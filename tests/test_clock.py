"""`txsmarkets.clock.VirtualClock` runs what Twisted's `Clock` runs, when and in the order
it does."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from txsmarkets.clock import VirtualClock

# One step of a script: ("later", delay, nested delay or None), ("cancel", index),
# ("reset", index, seconds), ("delay", index, seconds), ("advance", seconds).
_DELAYS = st.sampled_from([0.0, 0.5, 1.0, 1.0, 2.5, 3.0])
_STEPS = st.one_of(
    st.tuples(st.just("later"), _DELAYS, st.none() | _DELAYS),
    st.tuples(st.just("cancel"), st.integers(0, 30)),
    st.tuples(st.just("reset"), st.integers(0, 30), _DELAYS),
    st.tuples(st.just("delay"), st.integers(0, 30), st.sampled_from([-2.0, -0.5, 0.5, 1.0])),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 0.5, 1.0, 2.0])),
)


def play(clock: Clock, script: list[tuple[Any, ...]]) -> list[tuple[str, float]]:
    """Run ``script`` on ``clock``: what ran, named, and at what time, in order; then the
    times of the calls still pending, soonest first."""
    ran: list[tuple[str, float]] = []
    calls: list[Any] = []

    def fire(name: str, nested: float | None) -> None:
        ran.append((name, clock.seconds()))
        if nested is not None:
            # A call that schedules another as it runs.
            calls.append(clock.callLater(nested, fire, name + "+", None))

    for number, step in enumerate(script):
        kind = step[0]
        if kind == "later":
            calls.append(clock.callLater(step[1], fire, f"c{number}", step[2]))
        elif kind == "advance":
            clock.advance(step[1])
        elif calls:
            call = calls[step[1] % len(calls)]
            if call.active():
                if kind == "cancel":
                    call.cancel()
                elif kind == "reset":
                    call.reset(step[2])
                else:
                    call.delay(step[2])
    clock.advance(100)
    return ran + [("pending", call.getTime()) for call in clock.getDelayedCalls()]


class VirtualClockTests(unittest.SynchronousTestCase):
    def test_is_a_reactor_time(self) -> None:
        self.assertTrue(verifyObject(IReactorTime, VirtualClock()))

    @settings(max_examples=300, deadline=None)
    @given(st.lists(_STEPS, max_size=40))
    def test_same_as_clock(self, script: list[tuple[Any, ...]]) -> None:
        """Any script of calls added, cancelled, reset, delayed and run gives the same
        calls at the same times in the same order on both clocks."""
        self.assertEqual(play(VirtualClock(), script), play(Clock(), script))

    def test_equal_times_in_order_added(self) -> None:
        clock = VirtualClock()
        ran: list[str] = []
        for name in "abc":
            clock.callLater(1, ran.append, name)
        clock.callLater(0.5, ran.append, "first")
        clock.advance(1)
        self.assertEqual(ran, ["first", "a", "b", "c"])

    def test_a_reset_call_is_sorted_again(self) -> None:
        clock = VirtualClock()
        ran: list[str] = []
        early = clock.callLater(1, ran.append, "early")
        clock.callLater(2, ran.append, "late")
        early.reset(3)  # now after "late"
        clock.callLater(2.5, ran.append, "middle")
        self.assertEqual([call.getTime() for call in clock.getDelayedCalls()], [2, 2.5, 3])
        clock.advance(3)
        self.assertEqual(ran, ["late", "middle", "early"])
