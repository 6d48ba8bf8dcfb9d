"""`Watcher`: what a backtest counts from the messages its client receives.

It hears the client as a strategy does (the account's changes as the client's reducer
makes them, ``client.account_changed``, and handlers for the books), so it counts what
the account was told: orders accepted and rejected (by reason), fills, cancels, the books'
marks and the markets' ends. From those it keeps the `Positions` (P&L per market), the
P&L curve's peak and deepest drawdown, and the peak exposure (the trading controls'
worst-case loss of the account). With ``series`` it also keeps what
`txsmarkets.backtest.plot` draws.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable

from txsmarkets.backtest.ledger import MarketPnL, Positions
from txsmarkets.client import StreamingAPIClient
from txsmarkets.trading.account import Change, ChangeKind, rejection_reason
from txsmarkets.wire import seto_pb2

__all__ = ["Fill", "Series", "Watcher", "rejection_reason"]

_ZERO = Decimal(0)
_TWO = Decimal(2)
_SETTLED = seto_pb2.MARKET_STATE_SETTLED
_VOIDED = seto_pb2.MARKET_STATE_VOIDED


@dataclass(frozen=True)
class Fill:
    """One ``order_executed`` the account received, at its virtual time."""

    time: float
    order_id: int
    market_id: int
    contract_id: int
    side: int
    price: int
    quantity: int


@dataclass
class Series:
    """What a plot draws: marks per (market, contract), orders, fills, the P&L curve."""

    #: (market, contract) -> [(time, mark)], at most one point a simulated second.
    prices: dict[tuple[int, int], list[tuple[float, float]]] = field(default_factory=dict)
    #: (time, market, contract, side, price) of each accepted order.
    orders: list[tuple[float, int, int, int, int]] = field(default_factory=list)
    #: (time, marked P&L in pounds), sampled.
    pnl: list[tuple[float, float]] = field(default_factory=list)


class Watcher:
    """Counts what ``client`` receives, on ``seconds`` (the virtual clock).

    ``winners(market_id)`` names a settled market's winning contracts when the backtest can
    know them (a simulation draws them); None leaves the last marks standing. Without
    ``series``, ``positions`` holds the mark of a contract no position is held in as of the
    last fill or settlement of its market: it counts for nothing until a position opens.
    """

    def __init__(
        self,
        client: StreamingAPIClient,
        seconds: Callable[[], float],
        *,
        series: bool = False,
        winners: Callable[[int], list[int] | None] | None = None,
    ) -> None:
        self.client = client
        self._tracking = client.tracking
        self.seconds = seconds
        self.positions = Positions()
        self.series = Series() if series else None
        self.winners = winners
        self.orders = 0
        self.rejected = 0
        #: Rejections by reason (`rejection_reason`).
        self.rejections: collections.Counter[str] = collections.Counter()
        self.cancels = 0
        self.messages = 0
        self.fills: list[Fill] = []
        self.peak_pnl = _ZERO
        self.max_drawdown = _ZERO
        self.peak_exposure = _ZERO
        self._last_sample = -1.0
        # Market -> its marked P&L as of its last change (`sample`): a change of one market
        # recomputes that one, and the total is the sum of these, in the order of
        # ``positions.markets``, so the very figure `Positions.marked` would give.
        self._market_pnl: dict[int, Decimal] = {}
        self._last_price: dict[tuple[int, int], float] = {}
        # Market -> contract -> twice its mark as its book last had one (bid + offer, or
        # twice the one side), for the contracts no position is held in: their marks count
        # for nothing until a fill opens one, so the Decimal is made then (`_catch_up`),
        # not on every update. Without ``series`` only; a plot wants every mark.
        self._unmarked: dict[int, dict[int, int]] = {}
        # Market -> (its positions, its `_unmarked` entry), once a mark of it has been held
        # back: what a quote update of a contract without a position needs, at hand (both
        # dicts are only ever changed in place).
        self._quiet: dict[int, tuple[dict[int, Any], dict[int, int]]] = {}
        # The client's books (never replaced): read on every quote update.
        self._markets = client.markets
        client.add_global_handler(self._message)
        client.account_changed.add(self._changed)
        for name, handler in (
            ("seto.contract_quotes", self._contract_quotes),
            ("seto.market_quotes", self._market_quotes),
            ("seto.market_state", self._market_state),
        ):
            client.add_handler(name, handler)

    # -- messages --

    def _message(self, name: str, message: Any) -> None:
        self.messages += 1

    def _changed(self, change: Change) -> None:
        """The account's change (from the client's reducer): orders, fills, cancels."""
        kind = change.kind
        if kind is ChangeKind.ACCEPTED:
            self.orders += 1
            order = change.order
            if self.series is not None and order is not None:
                self.series.orders.append((self.seconds(), order.market_id, order.contract_id, order.side, order.price))
            self._exposure()
        elif kind is ChangeKind.REJECTED:
            self.rejected += 1
            self.rejections[change.reason or "ORDER_REJECTED"] += 1  # `rejection_reason`
        elif kind is ChangeKind.CANCELLED:
            self.cancels += 1
            self._exposure()
        elif kind is ChangeKind.EXECUTED:
            body = change.body
            self.fills.append(
                Fill(self.seconds(), body.order_id, body.market_id, body.contract_id, body.side, change.price, change.quantity)
            )
            self.positions.fill(body.market_id, body.contract_id, body.side, change.price, change.quantity)
            self._catch_up(body.market_id, body.contract_id)
            self._exposure()
            self.sample(market_id=body.market_id)

    def _contract_quotes(self, message: seto_pb2.Payload) -> None:
        # The ids as the client's book-keeping took them from this very message, when it
        # did (`AccountTracking.last_quotes`): reading them again costs more than the rest.
        last = self._tracking.last_quotes
        if last is not None and last[0] is message:
            market_id = last[1]
            contract_id = last[2]
        else:
            body = message.contract_quotes
            market_id = body.market_id
            contract_id = body.contract_id
        self._quoted(market_id, contract_id)

    def _market_quotes(self, message: seto_pb2.Payload) -> None:
        body = message.market_quotes
        for contract in body.contract_quotes:
            self._quoted(body.market_id, contract.contract_id)

    def _market_state(self, message: seto_pb2.Payload) -> None:
        body = message.market_state
        if body.state == _VOIDED:
            self.positions.void(body.market_id)
        elif body.state == _SETTLED and self.winners is not None:
            winners = self.winners(body.market_id)
            book = self.client.markets.get(body.market_id)
            if winners is not None and book is not None:
                # The marks held back first: those the settlement does not set stand.
                self._catch_up(body.market_id)
                contracts = list(book.contracts)
                contracts.extend(c for c in self.positions.market(body.market_id).positions if c not in contracts)
                self.positions.settle(body.market_id, winners, contracts)
        self.sample(force=True, market_id=body.market_id)

    def _quoted(self, market_id: int, contract_id: int) -> None:
        """A contract's book changed: its mark is the middle of its best bid and offer, or
        its one side when the other is empty (while both are, the mark made last stands)."""
        book = self._markets.get(market_id)
        contract = book.contracts.get(contract_id) if book is not None else None
        if contract is None:
            return
        bid, offer = contract.best_bid, contract.best_offer
        if bid is None:
            if offer is None:
                return
            twice = offer + offer
        elif offer is None:
            twice = bid + bid
        else:
            twice = bid + offer
        # The busiest case first (every quote update comes here): a contract without a
        # position, in a market whose marks are held back already.
        quiet = self._quiet.get(market_id)
        if quiet is not None and contract_id not in quiet[0]:
            quiet[1][contract_id] = twice
            return
        market = self.positions.markets.get(market_id)
        if market is None:
            market = self.positions.market(market_id)
        elif self.series is None and contract_id not in market.positions:
            unmarked = self._unmarked.get(market_id)
            if unmarked is None:
                unmarked = self._unmarked[market_id] = {}
                self._quiet[market_id] = (market.positions, unmarked)
            unmarked[contract_id] = twice
            return
        self._mark(market, market_id, contract_id, Decimal(twice) / _TWO)

    def _catch_up(self, market_id: int, contract_id: int | None = None) -> None:
        """Set the marks held back (`_quoted`) of ``market_id``'s ``contract_id`` (of all
        its contracts when None)."""
        unmarked = self._unmarked.get(market_id)
        if not unmarked:
            return
        marks = self.positions.market(market_id).marks
        if contract_id is None:
            for held_back, twice in unmarked.items():
                marks[held_back] = Decimal(twice) / _TWO
            unmarked.clear()
        elif contract_id in unmarked:
            marks[contract_id] = Decimal(unmarked.pop(contract_id)) / _TWO

    def _mark(self, market: MarketPnL, market_id: int, contract_id: int, mark: Decimal) -> None:
        """Set a contract's mark: a series point (at most one a virtual second), and a P&L
        sample when a position is held in it."""
        if market.marks.get(contract_id) == mark:
            return
        market.marks[contract_id] = mark
        series = self.series
        if series is not None:
            now = self.seconds()
            key = (market_id, contract_id)
            if now - self._last_price.get(key, -1.0) >= 1.0:
                self._last_price[key] = now
                series.prices.setdefault(key, []).append((now, float(mark) / 100))
        if contract_id in market.positions:
            self.sample(market_id=market_id)

    # -- figures --

    def _exposure(self) -> None:
        controls = self.client.controls
        if controls is not None:
            exposure = controls.account_exposure
            if exposure > self.peak_exposure:
                self.peak_exposure = exposure

    def sample(self, force: bool = False, market_id: int | None = None) -> None:
        """Take the P&L now into the peak and the drawdown: called at every change of it (a
        fill, a new mark of a contract a position is held in, a settlement or a void of
        ``market_id``; None: of any market), since a fall that was undone before the next
        sample would be missed. A point of the plotted curve (``series``) is kept at most
        once a virtual second unless ``force``."""
        markets = self.positions.markets
        cached = self._market_pnl
        if market_id is None:
            cached.clear()
        elif market_id in markets:
            cached[market_id] = markets[market_id].marked()
        pnl = _ZERO
        for key, market in markets.items():
            value = cached.get(key)
            if value is None:
                value = cached[key] = market.marked()
            pnl += value
        if pnl > self.peak_pnl:
            self.peak_pnl = pnl
        drawdown = self.peak_pnl - pnl
        if drawdown > self.max_drawdown:
            self.max_drawdown = drawdown
        series = self.series
        if series is not None:
            now = self.seconds()
            if force or now - self._last_sample >= 1.0:
                self._last_sample = now
                series.pnl.append((now, float(pnl)))
