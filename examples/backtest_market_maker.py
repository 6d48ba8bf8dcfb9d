"""An example market maker to backtest: quotes both sides of every contract of its markets.

Every ``interval`` seconds it looks at each contract's best bid and offer and keeps one buy
at the best bid and one sell at the best offer (``improve`` ticks inside them when the
spread leaves room), ``size`` each; a quote whose price is no longer the target is
cancelled and placed again once the cancel is answered. It stops adding to a side once
its position on the contract reaches ``max_position``. Parameters (``self.params``, all
optional): ``markets`` (the market ids, separated by commas or spaces: "1,2"), ``size``
(20000: a £2 payout), ``interval`` (1.0), ``improve`` (0), ``max_position`` (200000). On
the backtest's command line a comma separates the values of a sweep (``--param
markets=1,2`` is a run on market 1 and a run on market 2): give both markets to one run as
``--param "markets=1 2"``.

Backtest it::

    python -m txsmarkets.backtest --strategy examples.backtest_market_maker:MarketMaker \\
        --simulate --duration 3600 --param size=10000,20000 --param improve=0,1

It is a `Strategy` like any other, so the same class runs live under
``twistd smarkets --strategy examples.backtest_market_maker:MarketMaker``.
"""

from __future__ import annotations

from typing import Any

from txsmarkets.client import BUY, SELL
from txsmarkets.client.state import LiveOrder
from txsmarkets.odds import next_tick, previous_tick
from txsmarkets.strategy import Strategy

__all__ = ["MarketMaker"]

#: A quote asked for and not yet answered.
_PENDING = -1


class MarketMaker(Strategy):
    """Joins (or improves) the best bid and offer of every contract of ``markets``."""

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        markets = self.params.get("markets", "1,2")
        if isinstance(markets, int):
            self.markets = (markets,)
        elif isinstance(markets, str):
            self.markets = tuple(int(m) for m in markets.replace(",", " ").split())
        else:
            self.markets = tuple(int(m) for m in markets)
        self.size = int(self.params.get("size", 20000))
        self.interval = float(self.params.get("interval", 1.0))
        self.improve = int(self.params.get("improve", 0))
        self.max_position = int(self.params.get("max_position", 200000))
        #: (market, contract, side) -> order id (or _PENDING)
        self.quotes: dict[tuple[int, int, int], int] = {}
        #: (market, contract) -> signed quantity held
        self.held: dict[tuple[int, int], int] = {}

    def start(self) -> None:
        self.add_handler("seto.order_executed", self._executed)
        self.every(self.interval, self.requote)

    def on_order(self, order: LiveOrder) -> None:
        if order.done:
            for key, order_id in list(self.quotes.items()):
                if order_id == order.order_id:
                    del self.quotes[key]

    def requote(self) -> None:
        if not self.client.session.connected:
            return
        for market_id in self.markets:
            book = self.client.markets.get(market_id)
            if book is None:
                continue
            for contract_id, contract in sorted(book.contracts.items()):
                self._quote(market_id, contract_id, BUY, contract.best_bid, contract.best_offer)
                self._quote(market_id, contract_id, SELL, contract.best_offer, contract.best_bid)

    def _executed(self, message: Any) -> None:
        fill = message.order_executed
        key = (fill.market_id, fill.contract_id)
        self.held[key] = self.held.get(key, 0) + (fill.quantity if fill.side == BUY else -fill.quantity)

    def _target(self, side: int, best: int | None, other: int | None) -> int | None:
        if best is None:
            return None
        price: int | None = best
        for _ in range(self.improve):
            step = next_tick(price) if side == BUY else previous_tick(price)  # type: ignore[arg-type]
            if step is None or (other is not None and (step >= other if side == BUY else step <= other)):
                break
            price = step
        return price

    def _quote(self, market_id: int, contract_id: int, side: int, best: int | None, other: int | None) -> None:
        key = (market_id, contract_id, side)
        current = self.quotes.get(key)
        if current == _PENDING:
            return
        target = self._target(side, best, other)
        held = self.held.get((market_id, contract_id), 0)
        if (side == BUY and held >= self.max_position) or (side == SELL and -held >= self.max_position):
            target = None
        if current is not None:
            order = self.client.account.orders.get(current)
            if order is not None and order.price == target:
                return
            # Off target: take it back; the next round places the new one.
            self.quotes[key] = _PENDING
            d = self.client.cancel_order(current)
            d.addErrback(lambda f: None)  # filled or gone meanwhile: on_order tidies up
            d.addBoth(lambda _: self.quotes.pop(key, None) if self.quotes.get(key) == _PENDING else None)
            return
        if target is None:
            return
        self.quotes[key] = _PENDING
        d = self.client.create_order(market_id, contract_id, side, target, self.size, label="mm")

        def accepted(payload: Any) -> None:
            order_id = payload.order_accepted.order_id
            if order_id in self.client.account.orders:
                self.quotes[key] = order_id
            else:
                self.quotes.pop(key, None)

        def refused(failure: Any) -> None:
            self.quotes.pop(key, None)
            self.log.debug("mm: order refused: {error}", error=failure.getErrorMessage())

        d.addCallbacks(accepted, refused)
