"""Positions at average cost: what a fill does to one contract's position, and the profit
or loss it realises. The daemon's figures and a backtest's ledger keep theirs with it.

Prices are in basis points of a pound (2500 is 25%) and quantities in ten-thousandths of a
pound of payout, as on the wire. A position is two exact integers: its signed quantity
and its cost, the signed sum of price x quantity of what is held (in `money.UNITS
<txsmarkets.trading.money.UNITS>`, a hundred-millionth of a pound; a short's cost is
negative: what it took in). The average price is their quotient, never kept rounded.
Realised P&L is in the same units; `money.pounds <txsmarkets.trading.money.pounds>` makes
pounds of a total, exactly.
"""

from __future__ import annotations

from typing import TypeVar

from txsmarkets.wire import seto_pb2

__all__ = ["apply_fill"]

_BUY = seto_pb2.SIDE_BUY

K = TypeVar("K")


def _share(cost: int, part: int, whole: int) -> int:
    """``cost * part / whole`` to the nearest unit (half to even), for either sign."""
    quotient, remainder = divmod(abs(cost) * part, whole)
    if remainder * 2 > whole or (remainder * 2 == whole and quotient % 2):
        quotient += 1
    return quotient if cost >= 0 else -quotient


def apply_fill(positions: dict[K, tuple[int, int]], key: K, side: int, price: int, quantity: int) -> int:
    """Apply a fill of ``quantity`` at ``price`` (``side`` BUY or SELL) to the position at
    ``key`` in ``positions`` (key -> (signed quantity, cost); a flat position is absent).
    Returns the units it realised.

    A fill that adds to a position adds its price x quantity to the cost. One that reduces
    it realises the difference between its price x quantity and the closed part's share
    of the cost (to the nearest unit, the rest of the cost staying with what is still
    held, so that nothing is lost: a position closed in parts realises in total exactly
    what its fills paid and took). One past flat leaves a new position at its own price.
    """
    held, cost = positions.get(key, (0, 0))
    signed = quantity if side == _BUY else -quantity
    if held == 0 or (held > 0) == (signed > 0):
        positions[key] = (held + signed, cost + price * signed)
        return 0
    size = abs(held)
    closed = min(size, quantity)
    released = cost if closed == size else _share(cost, closed, size)
    # A long sells ``closed`` at ``price`` for what it cost; a short buys it back.
    realised = price * closed - released if held > 0 else -released - price * closed
    total = held + signed
    if total == 0:
        positions.pop(key, None)
    elif (total > 0) == (held > 0):
        positions[key] = (total, cost - released)
    else:
        positions[key] = (total, price * total)
    return realised
