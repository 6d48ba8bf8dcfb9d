"""`Positions`: a backtest's book-keeping of fills, positions and profit and loss.

Prices are in basis points of a pound (2500 is 25%), quantities in ten-thousandths of a
pound of payout (100000 is a 10.00 GBP payout), as on the wire. Positions are kept per
contract at average cost (`txsmarkets.trading.positions`), as the daemon's figures are: a fill
that reduces a position realises the difference between its price and the position's
average. Marked-to-market P&L is the realised P&L plus each open position valued at its
contract's mark (the middle of the best bid and offer the client last saw; 100% for a
settled market's winner and 0 for its losers). A voided market's bets are given back, so
its P&L is nought. Everything is `Decimal` pounds.
"""

from __future__ import annotations

from decimal import Decimal

from txsmarkets.trading.money import FULL
from txsmarkets.trading.positions import apply_fill

__all__ = ["MarketPnL", "Positions"]

_UNIT = Decimal(FULL)
_ZERO = Decimal(0)


class MarketPnL:
    """The figures of one market: realised P&L, open positions and their marks."""

    __slots__ = ("realised", "positions", "marks", "fills", "volume", "voided")

    def __init__(self) -> None:
        self.realised = _ZERO
        #: contract -> (signed quantity, average price)
        self.positions: dict[int, tuple[int, Decimal]] = {}
        #: contract -> mark price (basis points), the last known
        self.marks: dict[int, Decimal] = {}
        self.fills = 0
        #: Quantity traded, both sides.
        self.volume = 0
        self.voided = False

    def unrealised(self) -> Decimal:
        """The open positions valued at their marks, less what they cost."""
        if self.voided:
            return _ZERO
        total = _ZERO
        for contract_id, (held, average) in self.positions.items():
            mark = self.marks.get(contract_id, average)
            total += (mark - average) * held
        return total / _UNIT / _UNIT

    def marked(self) -> Decimal:
        """Realised plus unrealised P&L."""
        if self.voided:
            return _ZERO
        return self.realised + self.unrealised()


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
        market.realised += apply_fill(market.positions, contract_id, side, price, quantity)

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
        """The realised P&L of every market."""
        return sum((m.realised for m in self.markets.values() if not m.voided), _ZERO)

    def marked(self) -> Decimal:
        """The marked-to-market P&L of every market."""
        return sum((m.marked() for m in self.markets.values()), _ZERO)
