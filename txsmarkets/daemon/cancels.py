"""Cancelling every live order at stop (``--cancel-on-exit``) and hearing the answers.

`cancel_everything` sends one cancel_all, then cancels each order still live after its
answer once, and fires when the account holds none and no create is unanswered: it follows
the account's order messages as they come (no polling), within a time bound.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from txsmarkets.client import StreamingAPIClient

__all__ = ["cancel_everything"]

_log = Logger()

#: The account messages after which an order may have gone, or a new one come.
_ORDER_CHANGES = (
    "seto.order_accepted",
    "seto.order_cancelled",
    "seto.order_executed",
    "seto.order_voided",
    "seto.order_cancel_replace_accepted",
    # A create's other answers: one in flight may have been what the round waited for.
    "seto.order_rejected",
    "seto.order_invalid",
)


class _CancelEverything:
    """One round of `cancel_everything`: the orders asked, the answers awaited."""

    def __init__(self, client: StreamingAPIClient, clock: IReactorTime, timeout: float) -> None:
        self.client = client
        self.done: Deferred[list[int]] = Deferred()
        self._asked: set[int] = set()
        self._sweeping = False
        self._timer: IDelayedCall = clock.callLater(timeout, self._finish)
        for name in _ORDER_CHANGES:
            client.add_handler(name, self._changed)

    def start(self) -> None:
        """Send the cancel_all. The exchange takes requests in order, so it also cancels
        the orders of creates sent before it and not answered yet, which the account does
        not show; the orders it covers are not asked again."""
        if not self.client.session.connected:
            self._finish()
            return
        _log.info("cancelling every live order ({n} known)", n=len(self.client.account.orders))
        self._sweeping = True
        self.client.cancel_all().addCallbacks(self._swept, self._sweep_failed)

    def _swept(self, answer: Any) -> None:
        # Accepted: every order live now is being cancelled (their order_cancelled follow).
        self._asked.update(self.client.account.orders)
        self._sweeping = False
        self._changed()

    def _sweep_failed(self, failure: Any) -> None:
        _log.warn("cancel_all at stop failed ({e}): cancelling order by order", e=failure.getErrorMessage())
        self._sweeping = False
        self._changed()

    def _changed(self, message: Any = None) -> None:
        """An order message has come, or a cancel's answer: ask for what is new, or finish."""
        if self.done.called:
            return
        client = self.client
        if not client.session.connected:
            # No answer can come any more.
            self._finish()
            return
        if self._sweeping:
            return
        orders = client.account.orders
        if not orders:
            if not client.creates_in_flight:
                self._finish()
            return
        todo = [order_id for order_id in orders if order_id not in self._asked]
        if not todo:
            return
        self._asked.update(todo)
        _log.info("cancelling {n} live orders", n=len(todo))
        for order_id in todo:
            # Its order_cancelled (or the fill or void that beat it) is heard by _changed;
            # a refusal or a lost connection ends here, and is weighed the same way.
            self.client.cancel_order(order_id).addBoth(self._changed)

    def _finish(self) -> None:
        if self.done.called:
            return
        if self._timer.active():
            self._timer.cancel()
        for name in _ORDER_CHANGES:
            self.client.del_handler(name, self._changed)
        self.done.callback(sorted(self.client.account.orders))


def cancel_everything(client: StreamingAPIClient, clock: IReactorTime, timeout: float) -> Deferred[list[int]]:
    """Cancel every live order of ``client``, those of the creates in flight, and those
    accepted meanwhile: one cancel_all, then each order it did not cover, once.

    Fires (never fails) with the ids of the orders still live: none once the account holds
    no live order and no create is unanswered, some when the session is no longer logged in
    or ``timeout`` seconds on ``clock`` have passed first.
    """
    round_ = _CancelEverything(client, clock, timeout)
    round_.start()
    return round_.done
