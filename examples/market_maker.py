"""A market maker with trading controls, as a `Strategy` run by a `StrategyHost`.

It quotes both sides of every contract of a market: a bid one tick above the best bid
and an offer one tick below the best offer while the spread is wider than two ticks, at
the best prices otherwise. Every ``interval`` seconds it moves its quotes to where they
should be (``cancel_replace``), and places new ones where a quote was filled. Trading
controls (`txsmarkets.controls.Controls`) are checked before each create leaves the
client: here they cap the order size, the market's worst-case loss, the live orders and
the rate, keep prices on the tick ladder and within a collar of the market, and stop all
trading at a loss limit. A refused create fails at once with `OrderRefused` and is never
sent: the strategy counts it and tries again at the next requote.

Against the simulated market of the embedded exchange::

    python examples/market_maker.py [--seconds 20] [--seed 7]

The same class runs under the daemon:
``twistd -n smarkets --demo --strategy examples.market_maker:MarketMaker`` (from the
checkout's top folder).
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred

from txsmarkets.client import BUY, SELL, SessionSettings, connect
from txsmarkets.client.state import LiveOrder
from txsmarkets.controls import Controls
from txsmarkets.exceptions import OrderRefused
from txsmarkets.exchange.service import start_exchange
from txsmarkets.odds import next_tick, previous_tick
from txsmarkets.strategy import Strategy, StrategyHost


def make_controls(quantity: int = 50_000) -> Controls:
    """The market maker's limits: orders of at most ``quantity`` (wire units: 10,000 = £1 of
    payout), £25 of worst-case loss on the market, 6 live orders, 10 creates a second,
    prices on the ladder and within 10 ticks of the best opposite price, and a stop at a
    £10 loss."""
    return Controls(
        max_order_quantity=quantity,
        max_market_exposure=Decimal("25.00"),
        max_live_orders=6,
        max_orders_per_second=10,
        price_collar_ticks=10,
        loss_limit=Decimal("10.00"),
    )


class MarketMaker(Strategy):
    """Quotes both sides of every contract of market ``params["market"]`` (1)."""

    markets = (1,)

    def start(self) -> None:
        self.market_id = int(self.params.get("market", 1))
        self.quantity = int(self.params.get("quantity", 50_000))
        #: (contract, side) -> the order id of our quote there; None while one is on its way.
        self.quotes: dict[tuple[int, int], int | None] = {}
        self.placed = 0
        self.moved = 0
        self.refused = 0
        self.filled = 0
        self.every(float(self.params.get("interval", 1.0)), self.requote)

    def targets(self, best_bid: int, best_offer: int) -> tuple[int | None, int | None]:
        """Where to bid and offer, given the best prices: a tick inside a wide spread."""
        above, below = next_tick(best_bid), previous_tick(best_offer)
        if above is not None and below is not None and above < below:
            return above, below
        return best_bid, best_offer

    def requote(self) -> None:
        if not self.client.session.connected:
            return
        book = self.client.markets.get(self.market_id)
        if book is None:
            return
        for contract_id, contract in sorted(book.contracts.items()):
            if contract.best_bid is None or contract.best_offer is None:
                continue
            bid, offer = self.targets(contract.best_bid, contract.best_offer)
            for side, price in ((BUY, bid), (SELL, offer)):
                if price is not None:
                    self.quote(contract_id, side, price)

    def quote(self, contract_id: int, side: int, price: int) -> None:
        key = (contract_id, side)
        if key in self.quotes and self.quotes[key] is None:
            return  # a request for this quote is on its way
        order_id = self.quotes.get(key)
        live = self.client.account.orders.get(order_id) if order_id is not None else None
        if live is not None and live.price == price:
            return
        self.quotes[key] = None
        if live is not None:
            d = self.client.cancel_replace(live.order_id, price, self.quantity)
            d.addCallback(self._replaced, key)
        else:
            d = self.client.create_order(self.market_id, contract_id, side, price, self.quantity, label="mm")
            d.addCallback(self._placed, key)
        d.addErrback(self._failed, key)

    def _placed(self, payload: Any, key: tuple[int, int]) -> None:
        self.placed += 1
        self.quotes[key] = payload.order_accepted.order_id

    def _replaced(self, payload: Any, key: tuple[int, int]) -> None:
        self.moved += 1
        self.quotes[key] = payload.order_cancel_replace_accepted.order_id

    def _failed(self, failure: Any, key: tuple[int, int]) -> None:
        self.quotes.pop(key, None)
        if failure.check(OrderRefused):
            # Refused by the controls before it left: nothing was sent.
            self.refused += 1
            self.log.debug("refused: {why}", why=failure.getErrorMessage())
        else:
            self.log.info("request failed: {why}", why=failure.getErrorMessage())

    def on_order(self, order: LiveOrder) -> None:
        if order.done:
            if order.unfilled <= 0:
                self.filled += 1
            for key, order_id in list(self.quotes.items()):
                if order_id == order.order_id:
                    del self.quotes[key]

    def stop(self) -> Deferred[Any] | None:
        """Take every quote down before the logout."""
        if not self.client.session.connected:
            return None
        return self.client.cancel_all(self.market_id)

    def report(self) -> str:
        """One line of what it did."""
        controls = self.client.controls
        exposure = f"{controls.market_exposure(self.market_id):.2f}" if controls is not None else "-"
        return (
            f"placed {self.placed}, moved {self.moved}, filled {self.filled}, refused by the controls"
            f" {self.refused}; market exposure {exposure} GBP; live {len(self.client.account.orders)}"
        )


async def main(reactor: Any, seconds: float, seed: int) -> None:
    exchange = await start_exchange(reactor, simulate=True, seed=seed)
    settings = SessionSettings("demo", "demo", host="127.0.0.1", port=exchange.port, ssl=False)
    client = await connect(settings, reactor, controls=make_controls())
    maker = MarketMaker()
    host = StrategyHost(client, maker)
    host.attach()  # already logged in: the strategy starts now
    await task.deferLater(reactor, seconds)
    await host.stop()  # the strategy's stop(): every quote cancelled
    await client.logout()  # the cancellations arrive, in order, before the logout's answer
    print(maker.report(), flush=True)
    await exchange.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to trade")
    parser.add_argument("--seed", type=int, default=7, help="the simulation's seed")
    args = parser.parse_args()
    task.react(lambda reactor: Deferred.fromCoroutine(main(reactor, args.seconds, args.seed)))
