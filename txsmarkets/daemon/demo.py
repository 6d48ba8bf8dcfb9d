"""``twistd smarkets --demo``: the embedded exchange it trades on, and its demo strategy.

`EmbeddedExchange` is the service that starts the embedded exchange in the daemon's own
process (its simulated traders quote and take) and points the session's settings at it.
`DemoStrategy` quotes a little, then takes the quote back: every few seconds it places a
buy on a demo contract at a price below the market, logs the answer, and cancels the order
a little later; it is there to show the session working. It is a `Strategy` like any
other: ``--strategy txsmarkets.daemon.demo:DemoStrategy``.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from twisted.application import service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger

from txsmarkets.client import BUY, SessionSettings
from txsmarkets.strategy import Strategy

if TYPE_CHECKING:
    from txsmarkets.exchange.service import RunningExchange

__all__ = ["DemoStrategy", "EmbeddedExchange"]

_log = Logger()


class EmbeddedExchange(service.Service):
    """The embedded exchange, listening on a free loopback port while the service runs
    (it takes the ``exchange`` place among the daemon's services); its start points
    ``settings`` (the session's) at it, in plaintext."""

    def __init__(self, settings: SessionSettings, reactor: IReactorTime) -> None:
        self.setName("exchange")
        self.settings = settings
        self.reactor = reactor
        #: The exchange once it listens, else None.
        self.exchange: RunningExchange | None = None

    def endpoint(self) -> IStreamClientEndpoint | None:
        """Where the session connects: None, its settings' host and port (the start points
        them at the exchange)."""
        return None

    def startService(self) -> Deferred[None]:
        """Start the exchange; fires once the session may connect to it."""
        super().startService()
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        from txsmarkets.exchange.service import start_exchange

        # The demo's market lives: simulated traders quote and take (issue 15).
        self.exchange = exchange = await start_exchange(self.reactor, simulate=True)
        self.settings.host = "127.0.0.1"
        self.settings.port = exchange.port
        self.settings.ssl = False
        _log.info("embedded exchange listening on 127.0.0.1:{port}", port=exchange.port)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self._stop()

    def _stop(self) -> Deferred[None]:
        return self.exchange.stop() if self.exchange is not None else succeed(None)


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
