"""Positions at average cost: what a fill does to one contract's position, and the profit
or loss it realises. The daemon's figures and a backtest's ledger keep theirs with it.

Prices are in basis points of a pound (2500 is 25%) and quantities in ten-thousandths of a
pound of payout, as on the wire; money is `Decimal` pounds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

from txsmarkets.trading.money import FULL
from txsmarkets.wire import seto_pb2

__all__ = ["apply_fill"]

_UNIT = Decimal(FULL)
_BUY = seto_pb2.SIDE_BUY

K = TypeVar("K")


def apply_fill(positions: dict[K, tuple[int, Decimal]], key: K, side: int, price: int, quantity: int) -> Decimal:
    """Apply a fill of ``quantity`` at ``price`` (``side`` BUY or SELL) to the position at
    ``key`` in ``positions`` (key -> (signed quantity, average price); a flat position is
    absent). Returns the pounds it realised: a fill that reduces a position realises the
    difference between its price and the position's average; one past flat leaves a new
    position at its own price."""
    held, average = positions.get(key, (0, Decimal(0)))
    signed = quantity if side == _BUY else -quantity
    if held == 0 or (held > 0) == (signed > 0):
        total = held + signed
        positions[key] = (total, (average * abs(held) + Decimal(price) * quantity) / abs(total))
        return Decimal(0)
    closed = min(abs(held), quantity)
    per_unit = (Decimal(price) - average) if held > 0 else (average - Decimal(price))
    total = held + signed
    if total == 0:
        positions.pop(key, None)
    elif (total > 0) == (held > 0):
        positions[key] = (total, average)
    else:
        positions[key] = (total, Decimal(price))
    return per_unit / _UNIT * closed / _UNIT
