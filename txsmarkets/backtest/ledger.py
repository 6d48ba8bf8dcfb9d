"""`Positions`: a backtest's book-keeping of fills, positions and profit and loss.

Prices are in basis points of a pound (2500 is 25%), quantities in ten-thousandths of a
pound of payout (100000 is a 10.00 GBP payout), as on the wire. Positions are kept per
contract at average cost (`txsmarkets.trading.positions`), as the daemon's figures are: a fill
that reduces a position realises the difference between its price and the position's
average. Marked-to-market P&L is the realised P&L plus each open position valued at its
contract's mark (the middle of the best bid and offer the client last saw; 100% for a
settled market's winner and 0 for its losers). A voided market's bets are given back, so
its P&L is nought. Everything is `Decimal` pounds, summed exactly in units first.
"""

from __future__ import annotations

from decimal import Decimal

from txsmarkets.trading.money import FULL, pounds
from txsmarkets.trading.positions import apply_fill

__all__ = ["MarketPnL", "Positions"]

_UNIT = Decimal(FULL)
_ZERO = Decimal(0)


def _in_pounds(units: Decimal) -> Decimal:
    """Units (a mark may be half a basis point: so may they) as pounds, exactly."""
    return units.scaleb(-8)


class MarketPnL:
    """The figures of one market: realised P&L, open positions and their marks."""

    __slots__ = ("realised_units", "positions", "marks", "fills", "volume", "voided")

    def __init__(self) -> None:
        #: The realised P&L in units (`txsmarkets.trading.money.UNITS` to the pound).
        self.realised_units = 0
        #: contract -> (signed quantity, cost in units): see `txsmarkets.trading.positions`
        self.positions: dict[int, tuple[int, int]] = {}
        #: contract -> mark price (basis points), the last known
        self.marks: dict[int, Decimal] = {}
        self.fills = 0
        #: Quantity traded, both sides.
        self.volume = 0
        self.voided = False

    @property
    def realised(self) -> Decimal:
        """The realised P&L in pounds (of the bets as made: see `marked` for a void)."""
        return pounds(self.realised_units)

    def _unrealised_units(self) -> Decimal:
        total = _ZERO
        for contract_id, (held, cost) in self.positions.items():
            mark = self.marks.get(contract_id)
            if mark is not None:  # unmarked: at what it cost
                total += mark * held - cost
        return total

    def _marked_units(self) -> Decimal:
        return _ZERO if self.voided else self.realised_units + self._unrealised_units()

    def unrealised(self) -> Decimal:
        """The open positions valued at their marks, less what they cost."""
        if self.voided:
            return _ZERO
        return _in_pounds(self._unrealised_units())

    def marked(self) -> Decimal:
        """Realised plus unrealised P&L."""
        return _in_pounds(self._marked_units())


class Positions:
    """Fills applied to positions, per market; marks; the P&L in total."""

    def __init__(self) -> None:
        self.markets: dict[int, MarketPnL] = {}

    def market(self, market_id: int) -> MarketPnL:
        """The figures of ``market_id`` (made empty on first use)."""
        market = self.markets.get(market_id)
        if market is None:
            market = self.markets[market_id] = MarketPnL()
        return market

    def fill(self, market_id: int, contract_id: int, side: int, price: int, quantity: int) -> None:
        """Apply one fill: ``side`` BUY or SELL, ``quantity`` at ``price``."""
        market = self.market(market_id)
        market.fills += 1
        market.volume += quantity
        market.realised_units += apply_fill(market.positions, contract_id, side, price, quantity)

    def mark(self, market_id: int, contract_id: int, price: Decimal) -> None:
        """Set a contract's mark (basis points)."""
        self.market(market_id).marks[contract_id] = price

    def settle(self, market_id: int, winners: list[int], contract_ids: list[int]) -> None:
        """A settled market: its winners marked at 100%, the other contracts at 0."""
        market = self.market(market_id)
        for contract_id in contract_ids:
            market.marks[contract_id] = _UNIT if contract_id in winners else _ZERO

    def void(self, market_id: int) -> None:
        """A voided market: its bets given back, its P&L nought from now on."""
        self.market(market_id).voided = True

    def realised(self) -> Decimal:
        """The realised P&L of every market (summed in units: exact)."""
        return pounds(sum(m.realised_units for m in self.markets.values() if not m.voided))

    def marked(self) -> Decimal:
        """The marked-to-market P&L of every market (summed in units: exact)."""
        return _in_pounds(sum((m._marked_units() for m in self.markets.values()), _ZERO))
