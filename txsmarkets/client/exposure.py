"""What the trading controls count: orders as if filled, and each market's worst case.

Integer arithmetic in price x quantity units (hundred-millionths of a pound), so exact.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["FULL", "UNITS", "CountedOrder", "MarketExposure", "pounds"]

#: Price x quantity units in a pound.
UNITS = 10**8
#: The price of a certainty (100.00%).
FULL = 10000


def pounds(units: int) -> Decimal:
    """``units`` of price x quantity as pounds, exactly (from a string: exact at any size)."""
    return Decimal(f"{units}E-8")


class CountedOrder:
    """An order the controls count: in flight (``seq`` None until sent) or live."""

    __slots__ = ("market_id", "contract_id", "buy", "price", "quantity", "seq", "order_id")

    def __init__(self, market_id: int, contract_id: int, buy: bool, price: int, quantity: int) -> None:
        self.market_id = market_id
        self.contract_id = contract_id
        self.buy = buy
        self.price = price
        self.quantity = quantity
        self.seq: int | None = None
        self.order_id: int | None = None


class MarketExposure:
    """The worst-case loss of one market, kept as it changes.

    The loss if contract c wins is ``base + delta[c]``; if a contract with nothing on it
    wins, ``base``. ``win``/``lose`` are each contract's losses on its own, if it wins or
    loses. ``net``/``paid``/``cost`` are the fills alone (per contract, and the sum of
    price x quantity, sells negative), for marking to market.
    """

    __slots__ = ("base", "delta", "win", "lose", "net", "paid", "cost", "worst", "live", "loss2")

    def __init__(self) -> None:
        self.base = 0
        self.delta: dict[int, int] = {}
        self.win: dict[int, int] = {}
        self.lose: dict[int, int] = {}
        self.net: dict[int, int] = {}
        self.paid: dict[int, int] = {}
        self.cost = 0
        self.worst = 0
        self.live = 0
        self.loss2 = 0  # twice the fills' marked loss: a mid price may be half a unit

    def order(self, c: int, buy: bool, price: int, quantity: int, sign: int) -> None:
        """Count (sign 1) or stop counting (sign -1) an order as if it filled."""
        if buy:
            q = sign * price * quantity
            self.base += q
            self.delta[c] = self.delta.get(c, 0) - q
            self.lose[c] = self.lose.get(c, 0) + q
        else:
            q = sign * (FULL - price) * quantity
            self.delta[c] = self.delta.get(c, 0) + q
            self.win[c] = self.win.get(c, 0) + q
        self.worst = self.worst_with(c, 0, 0)

    def fill(self, c: int, buy: bool, quantity: int, paid: int) -> None:
        """Count a fill of ``quantity`` costing ``paid`` (price x quantity); both negative
        take fills back (a void)."""
        whole = FULL * quantity
        if not buy:
            quantity, paid, whole = -quantity, -paid, -whole
        self.base += paid
        self.delta[c] = self.delta.get(c, 0) - whole
        self.lose[c] = self.lose.get(c, 0) + paid
        self.win[c] = self.win.get(c, 0) - (whole - paid)
        self.net[c] = self.net.get(c, 0) + quantity
        self.paid[c] = self.paid.get(c, 0) + paid
        self.cost += paid
        self.worst = self.worst_with(c, 0, 0)

    def worst_with(self, c: int, base: int, delta: int) -> int:
        """The market's worst-case loss with ``base`` and ``delta`` (on ``c``) added."""
        top = 0
        for contract, value in self.delta.items():
            if contract == c:
                value += delta
            if value > top:
                top = value
        if c not in self.delta and delta > top:
            top = delta
        worst = self.base + base + top
        return worst if worst > 0 else 0

    def contract_worst(self, c: int, win: int = 0, lose: int = 0) -> int:
        """Contract ``c``'s worst-case loss on its own, with ``win``/``lose`` added."""
        return max(0, self.win.get(c, 0) + win, self.lose.get(c, 0) + lose)
