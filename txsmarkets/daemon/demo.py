"""The demo strategy of ``twistd smarkets --demo``: quotes a little, then takes the quote back.

Every few seconds it places a buy on a demo contract at a price below the market, logs the
answer, and cancels the order a little later; it is there to show the session working.
"""

from __future__ import annotations

import itertools
from typing import Any

from twisted.logger import Logger

from txsmarkets.client import BUY, StreamingAPIClient

_log = Logger()

#: (market, contract, price) the demo cycles through.
_QUOTES = [(1, 11, 2000), (1, 12, 2500), (1, 13, 3030), (2, 21, 5000), (2, 22, 4000)]


class DemoStrategy:
    """Places and cancels small orders on the demo markets, one every ``period`` seconds."""

    def __init__(self, client: StreamingAPIClient, period: float = 5.0) -> None:
        self.client = client
        self.period = period
        self._quotes = itertools.cycle(_QUOTES)
        self._call: Any = None

    def start(self) -> None:
        self._call = self.client.clock.callLater(self.period, self.step)

    def step(self) -> None:
        self._call = self.client.clock.callLater(self.period, self.step)
        if not self.client.session.connected:
            return
        market, contract, price = next(self._quotes)
        d = self.client.create_order(market, contract, BUY, price, 100000, label="demo")
        d.addCallbacks(self._accepted, self._refused)

    def _accepted(self, payload: Any) -> None:
        order = payload.order_accepted
        _log.info(
            "demo: order {id} accepted (buy 10.00 GBP payout at {price}%); balance {balance}",
            id=order.order_id,
            price=order.price / 100,
            balance=order.available_balance,
        )
        self.client.clock.callLater(self.period / 2, self._cancel, order.order_id)

    def _cancel(self, order_id: int) -> None:
        if order_id in self.client.account.orders and self.client.session.connected:
            self.client.cancel_order(order_id).addCallbacks(
                lambda _: _log.info("demo: order {id} cancelled", id=order_id), self._refused
            )

    def _refused(self, failure: Any) -> None:
        _log.warn("demo: request failed: {error}", error=failure.getErrorMessage())


_running: dict[int, DemoStrategy] = {}


def strategy(client: StreamingAPIClient) -> None:
    """The ``--strategy`` entry point: start the demo once per client."""
    if id(client) not in _running:
        demo = _running[id(client)] = DemoStrategy(client)
        demo.start()
