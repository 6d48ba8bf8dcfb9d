"""The daemon's running figures: fills, realised profit and loss, reconnects.

They are counted from the account's changes as the client's reducer makes them
(``client.account_changed``), from the process's start. Realised
P&L is in Decimal pounds, per contract at average cost (`txsmarkets.trading.positions`,
exact: summed in units, pounds at the end): a fill that reduces a position realises the
difference between its price and the position's average price. Prices are in basis
points of a pound (2500 is 25%) and quantities in ten-thousandths of a pound of payout
(100000 is a 10.00 GBP payout), as on the wire.

What the exchange voids realised nothing: a voided order's fills (``order_voided``, one
for each order with fills when a market is voided) and a voided execution are taken out,
and the market's figures made again from the fills that stand, in their order. A market
voided (its ``market_state``, where the client hears it) realised nothing at all. For
that each market's fills are kept until it is settled, at most `FILLS_KEPT` in all: past
that the oldest market's go, and a void in it then drops the whole market's figures (a
market void being the usual cause).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from twisted.logger import Logger

from txsmarkets.client import StreamingAPIClient
from txsmarkets.trading.account import Change, ChangeKind
from txsmarkets.trading.money import FULL, pounds
from txsmarkets.trading.positions import apply_fill
from txsmarkets.wire import seto_pb2

__all__ = ["FILLS_KEPT", "Figures", "to_the_penny"]

#: Fills kept, in all markets, to make a market's figures again after a void.
FILLS_KEPT = 100_000
_EXECUTED, _VOIDED = ChangeKind.EXECUTED, ChangeKind.VOIDED
# A void of one execution: the account's reducer names it so once it tells them apart
# (until then no change has this kind).
_EXECUTION_VOIDED = ChangeKind.EXECUTION_VOIDED

_UNIT = Decimal(FULL)
_PENNY = Decimal("0.01")


def to_the_penny(pounds: Decimal | None) -> str:
    """Pounds as a log line shows them: rounded (half to even) to the penny, ``-`` for
    None. The exact figure stays in the `Decimal`."""
    return "-" if pounds is None else f"{pounds.quantize(_PENNY):f}"
_log = Logger()


class _MarketFigures:
    """One market's positions and realised P&L, and the fills they were made from."""

    __slots__ = ("positions", "realised", "fills", "by_order", "stale")

    def __init__(self) -> None:
        #: contract -> (signed quantity, cost in units)
        self.positions: dict[int, tuple[int, int]] = {}
        #: Realised P&L in units.
        self.realised = 0
        #: The fills in order, by number: [order id, contract, side, price, quantity];
        #: None once forgotten (`FILLS_KEPT`).
        self.fills: dict[int, list[int]] | None = {}
        #: order id -> the numbers of its fills
        self.by_order: dict[int, list[int]] = {}
        #: Whether a void took fills out since the figures were made.
        self.stale = False

    def remake(self) -> None:
        """The figures made again from the fills that stand."""
        self.positions = {}
        self.realised = 0
        for _, contract_id, side, price, quantity in self.fills.values() if self.fills is not None else ():
            self.realised += apply_fill(self.positions, contract_id, side, price, quantity)
        self.stale = False


class Figures:
    """Fills, realised P&L and reconnects of one client (see `watch`)."""

    def __init__(self) -> None:
        self.fills = 0
        self.reconnects = 0
        self._logins = 0
        self._markets: dict[int, _MarketFigures] = {}
        # The units realised in markets no longer followed (settled ones' figures stand).
        self._kept = 0
        self._numbered = 0
        self._logged = 0

    @property
    def realised_pnl(self) -> Decimal:
        """The realised P&L since the start, in pounds, of the bets that stand."""
        total = self._kept
        for market in self._markets.values():
            if market.stale:
                market.remake()
            total += market.realised
        return pounds(total)

    def watch(self, client: StreamingAPIClient) -> None:
        """Count what ``client`` receives from now on."""
        client.account_changed.add(self._changed)
        client.logged_in.add(self._logged_in)
        client.add_handler("seto.market_state", self._market_state)

    def _logged_in(self, message: Any, resumed: bool) -> None:
        self._logins += 1
        if self._logins > 1:
            self.reconnects += 1

    def _market_state(self, message: seto_pb2.Payload) -> None:
        body = message.market_state
        if body.state == seto_pb2.MARKET_STATE_VOIDED:
            self.void_market(body.market_id)
        elif body.state == seto_pb2.MARKET_STATE_SETTLED:
            market = self._markets.pop(body.market_id, None)
            if market is not None:
                # Paid out: no void can come, so its fills need not be kept.
                if market.stale:
                    market.remake()
                self._kept += market.realised
                self._forget(market)

    def _changed(self, change: Change) -> None:
        kind = change.kind
        if kind is _VOIDED:
            self.void_order(self._market_of(change), change.order_id)
            return
        if kind is _EXECUTION_VOIDED:
            self.void_execution(self._market_of(change), change.order_id, change.price, change.quantity)
            return
        if kind is not _EXECUTED:
            return
        fill = change.body
        self.fill(fill.market_id, fill.contract_id, fill.side, change.price, change.quantity, fill.order_id)
        _log.info(
            "fill: order {id} {side} £{payout} of payout at {price}% (fills={fills})",
            id=fill.order_id,
            side="buy" if fill.side == seto_pb2.SIDE_BUY else "sell",
            payout=to_the_penny(Decimal(fill.quantity) / _UNIT),
            price=f"{Decimal(fill.price) / 100:.2f}",
            fills=self.fills,
        )

    def _market_of(self, change: Change) -> int:
        """The market of a void's order: as the message says, else where its fills are."""
        body = change.body
        if body.HasField("market_id"):
            return int(body.market_id)
        for market_id, market in self._markets.items():
            if change.order_id in market.by_order:
                return market_id
        return 0

    def fill(self, market_id: int, contract_id: int, side: int, price: int, quantity: int, order_id: int = 0) -> None:
        """Apply one fill of order ``order_id``: ``side`` BUY or SELL, ``quantity`` at ``price``."""
        self.fills += 1
        market = self._markets.get(market_id)
        if market is None:
            market = self._markets[market_id] = _MarketFigures()
        if not market.stale:
            market.realised += apply_fill(market.positions, contract_id, side, price, quantity)
        if market.fills is not None:
            number = self._numbered = self._numbered + 1
            market.fills[number] = [order_id, contract_id, side, price, quantity]
            market.by_order.setdefault(order_id, []).append(number)
            self._logged += 1
            if self._logged > FILLS_KEPT:
                self._forget(next(m for m in self._markets.values() if m.fills))

    def _voidable(self, market_id: int) -> tuple[_MarketFigures, dict[int, list[int]]] | None:
        """The figures of ``market_id`` and its fills, to take a void out of; None when
        there are none, or when its fills are gone (then the whole market's P&L goes:
        what was voided of it can no longer be told)."""
        market = self._markets.get(market_id)
        if market is None:
            return None
        if market.fills is None:
            self.void_market(market_id)
            return None
        return market, market.fills

    def void_order(self, market_id: int, order_id: int) -> None:
        """The exchange voided an order of ``market_id``: its fills realised nothing."""
        voidable = self._voidable(market_id)
        if voidable is None:
            return
        market, fills = voidable
        for number in market.by_order.pop(order_id, ()):
            del fills[number]
            self._logged -= 1
            market.stale = True

    def void_execution(self, market_id: int, order_id: int, price: int, quantity: int) -> None:
        """The exchange voided ``quantity`` at ``price`` of an order's fills."""
        voidable = self._voidable(market_id)
        if voidable is None:
            return
        market, fills = voidable
        numbers = market.by_order.get(order_id, [])
        for number in list(numbers):
            if quantity <= 0:
                break
            fill = fills[number]
            if fill[3] != price:
                continue
            taken = min(quantity, fill[4])
            fill[4] -= taken
            quantity -= taken
            market.stale = True
            if not fill[4]:
                del fills[number]
                numbers.remove(number)
                self._logged -= 1

    def void_market(self, market_id: int) -> None:
        """The exchange voided ``market_id``: it realised nothing."""
        market = self._markets.pop(market_id, None)
        if market is not None:
            self._forget(market)

    def _forget(self, market: _MarketFigures) -> None:
        """Keep no more of ``market``'s fills (its figures stand as they are)."""
        if market.fills is not None:
            if market.stale:
                market.remake()
            self._logged -= len(market.fills)
            market.fills = None
            market.by_order = {}
