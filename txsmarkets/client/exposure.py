"""What the trading controls count: orders as if filled, and each market's worst case.

Integer arithmetic in price x quantity units (hundred-millionths of a pound), so exact;
pounds (`Decimal`) only at the edges (limits given, figures shown).
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["FULL", "UNITS", "CountedOrder", "MarketExposure", "liability_units", "pounds"]

#: Price x quantity units in a pound.
UNITS = 10**8
#: The price of a certainty (100.00%).
FULL = 10000


def pounds(units: int) -> Decimal:
    """``units`` of price x quantity as pounds, exactly (from a string: exact at any size)."""
    return Decimal(f"{units}E-8")


def liability_units(buy: bool, price: int, quantity: int) -> int:
    """What an order risks, in units: a buy its stake, a sell the payout less its stake."""
    return price * quantity if buy else (FULL - price) * quantity


class CountedOrder:
    """An order the controls count: waiting to be sent, in flight (``seq``) or live
    (``order_id``). ``units`` is what it risks as it is counted now.

    ``replaces`` is the original's order id when this is the part of a cancel-replace in
    flight that goes beyond the original (``units`` then is that excess, and ``price``
    and ``quantity`` are the new order's); such a part is no order of its own (``order``
    False: not in the live-order counts)."""

    __slots__ = ("market_id", "contract_id", "buy", "price", "quantity", "units", "seq", "order_id", "replaces", "order")

    def __init__(self, market_id: int, contract_id: int, buy: bool, price: int, quantity: int) -> None:
        self.market_id = market_id
        self.contract_id = contract_id
        self.buy = buy
        self.price = price
        self.quantity = quantity
        self.units = price * quantity if buy else (FULL - price) * quantity
        self.seq: int | None = None
        self.order_id: int | None = None
        self.replaces: int | None = None
        self.order = True

    def resize(self, quantity: int) -> None:
        """Set the quantity still counted (and so ``units``)."""
        self.quantity = quantity
        self.units = self.price * quantity if self.buy else (FULL - self.price) * quantity


class MarketExposure:
    """The worst-case loss of one market, kept as it changes.

    The loss if contract c wins is ``base + delta[c]``; if a contract with nothing on it
    wins, ``base``. ``win``/``lose`` are each contract's losses on its own, if it wins or
    loses. ``net``/``paid``/``cost`` are the fills alone (per contract, and the sum of
    price x quantity, sells negative), for marking to market; ``held`` counts the
    contracts with a net position (none: nothing to mark).
    """

    __slots__ = ("base", "delta", "win", "lose", "net", "paid", "cost", "worst", "live", "loss2", "held")

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
        self.held = 0

    def order(self, c: int, buy: bool, units: int) -> int:
        """Count an order risking ``units`` (negative: stop counting it) as if it filled;
        returns the change in the market's worst case."""
        delta = self.delta
        if buy:
            self.base += units
            delta[c] = delta.get(c, 0) - units
            self.lose[c] = self.lose.get(c, 0) + units
        else:
            delta[c] = delta.get(c, 0) + units
            self.win[c] = self.win.get(c, 0) + units
        before = self.worst
        top = max(delta.values())
        worst = self.base + (top if top > 0 else 0)
        self.worst = worst if worst > 0 else 0
        return self.worst - before

    def fill(self, c: int, buy: bool, quantity: int, paid: int) -> int:
        """Count a fill of ``quantity`` costing ``paid`` (price x quantity); both negative
        take fills back (a void). Returns the change in the market's worst case."""
        whole = FULL * quantity
        if not buy:
            quantity, paid, whole = -quantity, -paid, -whole
        self.base += paid
        self.delta[c] = self.delta.get(c, 0) - whole
        self.lose[c] = self.lose.get(c, 0) + paid
        self.win[c] = self.win.get(c, 0) - (whole - paid)
        before_net = self.net.get(c, 0)
        net = self.net[c] = before_net + quantity
        self.held += (net != 0) - (before_net != 0)
        self.paid[c] = self.paid.get(c, 0) + paid
        self.cost += paid
        return self.order(c, True, 0)

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
