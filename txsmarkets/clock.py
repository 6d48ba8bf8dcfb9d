"""`VirtualClock`: Twisted's `Clock <twisted.internet.task.Clock>`, made for clocks with
many calls pending, as a backtest's or a simulated market's is.

A `Clock` sorts its whole list of calls each time one is added and before and after each
it runs, calling a Python function per call each time: with a few dozen timers pending
(each simulated market has some), that sorting was several percent of a simulation. A
`VirtualClock` runs the same calls at the same times in the same order (the same stable
order by time, equal times in the order they were added), but keeps its list sorted as
calls are added and sorts it again only after a call's time has changed (`reset
<twisted.internet.base.DelayedCall.reset>` or `delay
<twisted.internet.base.DelayedCall.delay>`).

As with `Clock`, ``calls`` (and ``getDelayedCalls()``) is the list of pending calls, soonest
first; change it only through the clock and its calls.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable

from twisted.internet.base import DelayedCall
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.task import Clock

__all__ = ["VirtualClock"]


def _unchanged(call: DelayedCall) -> None:
    """A `Clock`'s calls tell it nothing when they are reset (it sorts before it runs)."""


class _Call(DelayedCall):
    """A call of a `VirtualClock`, which tells the clock when its time changes."""

    def __init__(
        self, clock: VirtualClock, time: float, func: Callable[..., object], args: tuple[object, ...], kw: dict[str, object]
    ) -> None:
        super().__init__(time, func, args, kw, clock.calls.remove, _unchanged, clock.seconds)
        self._clock = clock

    def reset(self, secondsFromNow: float) -> None:
        super().reset(secondsFromNow)
        self._clock.unsorted = True

    def delay(self, secondsLater: float) -> None:
        super().delay(secondsLater)
        self._clock.unsorted = True


class VirtualClock(Clock):
    """A `Clock` that keeps its calls sorted as they come (see the module's docstring)."""

    def __init__(self) -> None:
        super().__init__()
        #: Whether a call's time has changed since ``calls`` was last sorted.
        self.unsorted = False

    def _sortCalls(self) -> None:
        # `Clock` sorts before and after each call it runs: a sorted list needs none.
        if self.unsorted:
            self.unsorted = False
            super()._sortCalls()

    def callLater(self, delay: float, callable: Callable[..., object], *args: object, **kw: object) -> IDelayedCall:
        """``IReactorTime.callLater``: a call of ``callable(*args, **kw)`` ``delay`` seconds
        from now, an `IDelayedCall`."""
        call = _Call(self, self.seconds() + delay, callable, args, kw)
        self._sortCalls()
        # After every call of the same time, as `Clock`'s stable sort puts it.
        insort(self.calls, call, key=DelayedCall.getTime)
        return call
