"""The money arithmetic of the exchange's units, owned here once.

A price is in hundredths of a percent (2500 is 25.00%, `FULL` is a certainty) and a
quantity in ten-thousandths of a pound of payout; price x quantity is in units of a
hundred-millionth of a pound (`UNITS` to the pound). Sums are exact integers in those
units; pounds (`Decimal`) only at the edges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

__all__ = ["FULL", "UNITS", "liability_units", "loss_units", "one_winner_worst", "pounds", "wire_pounds"]

#: Price x quantity units in a pound.
UNITS = 10**8
#: The price of a certainty (100.00%).
FULL = 10000
_DECIMAL_UNITS = Decimal(UNITS)


def pounds(units: int) -> Decimal:
    """``units`` of price x quantity as pounds, exactly (from a string: exact at any size,
    where ``scaleb`` would round to the context's precision)."""
    return Decimal(f"{units}E-8")


def wire_pounds(value: float) -> Decimal:
    """A wire double of pounds as the `Decimal` it was meant to be: its shortest repr
    (``990.0`` -> ``Decimal('990.0')``, ``0.1`` -> ``Decimal('0.1')``)."""
    return Decimal(repr(value))


def loss_units(loss: Decimal) -> int:
    """A loss in pounds (an exposure the exchange reported, taken by `wire_pounds`) as
    whole units; either sign is the same loss, and a fraction of a unit counts whole:
    never less than reported."""
    # (`Decimal.__ceil__`, an int at once, and UNITS a Decimal already: the account limit
    # converts each new report.)
    return math.ceil(abs(loss) * _DECIMAL_UNITS)


def liability_units(buy: bool, price: int, quantity: int) -> int:
    """What an order risks, in units: a buy its stake (``price * quantity``), a sell the
    payout less its stake (``(FULL - price) * quantity``)."""
    return price * quantity if buy else (FULL - price) * quantity


def one_winner_worst(base: int, deltas: Iterable[int], unnamed: bool = True) -> int:
    """A market's worst-case loss in units when exactly one of its contracts wins.

    The loss if contract c wins is ``base + delta[c]`` for each delta given. ``unnamed``
    True says a contract not among them may win (its loss: ``base``); False that every
    contract is given. Never below 0: a market that wins either way risks nothing."""
    top = max(deltas, default=0)
    if unnamed and top < 0:
        top = 0
    worst = base + top
    return worst if worst > 0 else 0
