"""`MarketExposure`: one market's worst-case loss, kept as its orders and fills change.

Integer arithmetic in price x quantity units (hundred-millionths of a pound), so exact; the
rule of a market's worst case (exactly one contract wins) is
`txsmarkets.trading.money.one_winner_worst`'s, inlined here where it runs for every order.
`txsmarkets.trading.exposure.Ledger` keeps one per market.
"""

from __future__ import annotations

from txsmarkets.trading.money import FULL

__all__ = ["MarketExposure"]


class MarketExposure:
    """The worst-case loss of one market, kept as it changes.

    The loss if contract c wins is ``base + delta[c]``; if a contract with nothing on it
    wins, ``base``. ``win`` is each contract's loss on its own if it wins, and
    ``win[c] - delta[c]`` its loss on its own if it loses (kept as one dict, not two: an
    order's count then writes one fewer). ``net``/``paid``/``cost`` are the fills alone (per contract, and the sum of
    price x quantity, sells negative), for marking to market; ``held`` counts the
    contracts with a net position (none: nothing to mark); ``settled2`` is twice the loss
    the fills stood at when the market settled, and then no longer count.
    """

    __slots__ = ("base", "delta", "top", "win", "net", "paid", "cost", "worst", "live", "loss2", "held", "settled2")

    def __init__(self) -> None:
        self.base = 0
        self.delta: dict[int, int] = {}
        # The highest ``delta``, or 0 if none is above (a contract with nothing on it may
        # win): kept as the deltas move, so that most moves need no pass over them.
        self.top = 0
        self.win: dict[int, int] = {}
        self.net: dict[int, int] = {}
        self.paid: dict[int, int] = {}
        self.cost = 0
        self.worst = 0
        self.live = 0
        self.loss2 = 0  # twice the fills' marked loss: a mid price may be half a unit
        self.held = 0
        self.settled2 = 0  # twice the loss its fills were marked at when it settled

    def order(self, c: int, buy: bool, units: int) -> int:
        """Count an order risking ``units`` (negative: stop counting it) as if it filled;
        returns the change in the market's worst case."""
        # Runs twice for every order (counted, then answered): locals, no extra lookups.
        delta = self.delta
        old = delta.get(c, 0)
        if buy:
            base = self.base = self.base + units
            new = delta[c] = old - units
        else:
            base = self.base
            new = delta[c] = old + units
            win = self.win
            win[c] = win.get(c, 0) + units
        top = self.top
        if new >= top:
            top = self.top = new
        elif old >= top:
            # ``c`` may have held the top, and went down: the others say.
            top = self.top = max(0, max(delta.values()))
        # `one_winner_worst` (the rule's owner), inline: this runs for every order.
        worst = base + top
        if worst < 0:
            worst = 0
        change = worst - self.worst
        self.worst = worst
        return change

    def fill(self, c: int, buy: bool, quantity: int, paid: int) -> int:
        """Count a fill of ``quantity`` costing ``paid`` (price x quantity); both negative
        take fills back (a void). Returns the change in the market's worst case."""
        whole = FULL * quantity
        if not buy:
            quantity, paid, whole = -quantity, -paid, -whole
        self.base += paid
        self.delta[c] = self.delta.get(c, 0) - whole
        self.top = max(0, max(self.delta.values()))
        self.win[c] = self.win.get(c, 0) - (whole - paid)
        before_net = self.net.get(c, 0)
        net = self.net[c] = before_net + quantity
        self.held += (net != 0) - (before_net != 0)
        self.paid[c] = self.paid.get(c, 0) + paid
        self.cost += paid
        return self.order(c, True, 0)

    def worst_with(self, c: int, base: int, delta: int) -> int:
        """The market's worst-case loss with ``base`` and ``delta`` (on ``c``) added."""
        old = self.delta.get(c, 0)
        new = old + delta
        top = self.top
        if new >= top:
            top = new
        elif old >= top:
            # (``c`` may hold the top, and would go down: one pass, no copy of ``delta``.)
            top = 0
            for contract, value in self.delta.items():
                if contract == c:
                    value = new
                if value > top:
                    top = value
            if c not in self.delta and new > top:
                top = new
        # (`one_winner_worst`, inline: a create with an exposure limit runs this.)
        worst = self.base + base + top
        return worst if worst > 0 else 0

    def contract_worst(self, c: int, win: int = 0, lose: int = 0) -> int:
        """Contract ``c``'s worst-case loss on its own, with ``win``/``lose`` added."""
        own = self.win.get(c, 0)
        return max(0, own + win, own - self.delta.get(c, 0) + lose)
