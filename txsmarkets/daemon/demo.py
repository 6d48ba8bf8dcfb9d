"""The demo strategy of ``twistd smarkets --demo``: quotes a little, then takes the quote back.

Every few seconds it places a buy on a demo contract at a price below the market, logs the
answer, and cancels the order a little later; it is there to show the session working.
It is a `Strategy` like any other: ``--strategy txsmarkets.daemon.demo:DemoStrategy``.
"""

from __future__ import annotations

import itertools
from typing import Any

from txsmarkets.client import BUY
from txsmarkets.strategy import Strategy

__all__ = ["DemoStrategy"]

#: (market, contract, price) the demo cycles through.
_QUOTES = [(1, 11, 2000), (1, 12, 2500), (1, 13, 3030), (2, 21, 5000), (2, 22, 4000)]


class DemoStrategy(Strategy):
    """Places and cancels small orders on the demo markets, one every ``period`` seconds
    (``params["period"]``, 5 by default)."""

    markets = (1, 2)

    def start(self) -> None:
        self.period = float(self.params.get("period", 5.0))
        self._quotes = itertools.cycle(_QUOTES)
        self.every(self.period, self.step)

    def step(self) -> None:
        if not self.client.session.connected:
            return
        market, contract, price = next(self._quotes)
        d = self.client.create_order(market, contract, BUY, price, 100000, label="demo")
        d.addCallbacks(self._accepted, self._refused)

    def _accepted(self, payload: Any) -> None:
        order = payload.order_accepted
        self.log.info(
            "demo: order {id} accepted (buy 10.00 GBP payout at {price}%); balance {balance}",
            id=order.order_id,
            price=order.price / 100,
            balance=self.client.account.available_balance,
        )
        self.call_later(self.period / 2, self._cancel, order.order_id)

    def _cancel(self, order_id: int) -> None:
        if order_id in self.client.account.orders and self.client.session.connected:
            self.client.cancel_order(order_id).addCallbacks(
                lambda _: self.log.info("demo: order {id} cancelled", id=order_id), self._refused
            )

    def _refused(self, failure: Any) -> None:
        self.log.warn("demo: request failed: {error}", error=failure.getErrorMessage())
