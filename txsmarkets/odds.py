"""Odds in their three forms, the exchange's tick ladder, and wire prices.

The wire speaks percent odds in hundredths of a percent (a *price*: 2500 is 25.00%, decimal
odds 4.0). People speak decimal odds (``100 / percent``) or fractional odds
(``decimal - 1``). The exchange holds prices to a ladder of 284 decimal ticks; a tick's
percent is ``100 / decimal`` rounded half-even to 0.01.

Everything is exact: percents and decimals are `Decimal`, fractional odds `Fraction`, and
a float is refused wherever a price could come from one::

    >>> snap_to_decimal('buy', Decimal('18.6')).percent_str
    '18.87%'
    >>> snap_to_decimal(SIDE_SELL, Decimal('18.6')).decimal_str
    '5.40'
    >>> buy_liability(2500, 400000)
    Decimal('10.00000000')
"""

from __future__ import annotations

import bisect
import functools
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Union

__all__ = [
    "DECIMAL_LADDER",
    "SIDE_BUY",
    "SIDE_SELL",
    "TICKS",
    "VALID_PRICES",
    "Odds",
    "buy_liability",
    "is_valid_price",
    "next_tick",
    "percent_to_price",
    "previous_tick",
    "price_to_percent",
    "sell_liability",
    "snap_to_decimal",
    "snap_to_decimal_move_out_by",
]

#: The wire's `seto.Side` values.
SIDE_BUY = 1
SIDE_SELL = 2

#: What a percent or decimal may be given as; floats are deliberately absent.
Number = Union[Decimal, int, str]

_HUNDREDTH = Decimal("0.01")


def _to_decimal(value: Number, what: str) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value)
        except ArithmeticError:
            raise ValueError(f"not a number for {what}: {value!r}") from None
    else:
        raise TypeError(f"{what} must be a Decimal, an int or a str, not {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"{what} must be finite, not {value!r}")
    return result


def _percent_of_decimal(decimal: Decimal) -> Decimal:
    # Through Fraction, so that the half-even rounding sees the exact quotient.
    hundredths = round(Fraction(100) / Fraction(decimal) * 100)
    return Decimal(hundredths).scaleb(-2)


@functools.total_ordering
class Odds:
    """A price as percent odds, readable as decimal and fractional odds too.

    Two Odds are equal, and ordered, by their percents alone: that is all the exchange
    knows. An Odds built from decimal odds (a tick of the ladder, or `from_decimal`) keeps
    those exact decimal odds; one built from a percent has ``100 / percent``.
    """

    __slots__ = ("_percent", "_decimal")

    def __init__(self, percent: Number, decimal: Number | None = None) -> None:
        """Odds of `percent`; `decimal`, if given, is the exact decimal odds it came from."""
        self._percent = _to_decimal(percent, "percent")
        if not 0 < self._percent <= 100:
            raise ValueError(f"percent odds must be in (0, 100], not {self._percent}")
        self._decimal = None if decimal is None else _to_decimal(decimal, "decimal odds")
        if self._decimal is not None and (
            self._decimal < 1 or _percent_of_decimal(self._decimal) != self._percent
        ):
            raise ValueError(
                f"decimal odds {self._decimal} do not round to {self._percent}% odds"
            )

    @classmethod
    def from_decimal(cls, decimal: Number) -> Odds:
        """The Odds of decimal odds, its percent rounded half-even to 0.01."""
        value = _to_decimal(decimal, "decimal odds")
        if value < 1:
            raise ValueError(f"decimal odds cannot be below 1, not {value}")
        return cls(_percent_of_decimal(value), value)

    @classmethod
    def from_price(cls, price: int) -> Odds:
        """The Odds of a wire price (hundredths of a percent)."""
        return cls(price_to_percent(price))

    @property
    def percent(self) -> Decimal:
        """Percent odds, the implied probability: 25 for decimal odds of 4."""
        return self._percent

    @property
    def price(self) -> int:
        """The wire price; ValueError when the percent is not a whole hundredth."""
        return percent_to_price(self._percent)

    @property
    def decimal(self) -> Decimal:
        """Decimal odds: what a winning stake of 1 pays back, stake included."""
        if self._decimal is not None:
            return self._decimal
        return Decimal(100) / self._percent

    @property
    def decimal_str(self) -> str:
        """Decimal odds to two places, or to all of theirs for an exact ``1.0001``."""
        decimal = self.decimal
        if self._decimal is not None and decimal.as_tuple().exponent < -2:
            return str(decimal)
        return str(decimal.quantize(_HUNDREDTH, rounding=ROUND_HALF_EVEN))

    @property
    def fractional(self) -> Fraction:
        """Fractional odds, ``decimal - 1``, exactly: what a winning stake of 1 wins."""
        if self._decimal is not None:
            return Fraction(self._decimal) - 1
        return Fraction(100) / Fraction(self._percent) - 1

    @property
    def fractional_str(self) -> str:
        """Fractional odds as ``'n/d'``, or ``'Evens'`` for 1/1."""
        fractional = self.fractional
        if fractional == 1:
            return "Evens"
        return f"{fractional.numerator}/{fractional.denominator}"

    @property
    def percent_str(self) -> str:
        """Percent odds to two places with a percent sign: ``'25.00%'``."""
        return f"{self._percent.quantize(_HUNDREDTH, rounding=ROUND_HALF_EVEN)}%"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Odds):
            return NotImplemented
        return self._percent == other._percent

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Odds):
            return NotImplemented
        return self._percent < other._percent

    def __hash__(self) -> int:
        return hash(self._percent)

    def __repr__(self) -> str:
        if self._decimal is None:
            return f"Odds({self._percent!r})"
        return f"Odds({self._percent!r}, decimal={self._decimal!r})"


def _build_ladder() -> tuple[Decimal, ...]:
    # (first, last, step) in hundredths of decimal odds, both ends included
    segments = (
        (101, 200, 1),
        (202, 300, 2),
        (305, 400, 5),
        (410, 600, 10),
        (620, 1000, 20),
        (1050, 2000, 50),
        (2100, 3000, 100),
        (3200, 5000, 200),
        (5500, 10000, 500),
        (11000, 30000, 1000),
    )
    ladder = [Decimal("1.0001")]
    for first, last, step in segments:
        ladder.extend(Decimal(n).scaleb(-2) for n in range(first, last + 1, step))
    ladder.extend(Decimal(n).scaleb(-2) for n in (50000, 100000, 1000000))
    return tuple(ladder)


#: The decimal odds of every tick, shortest first: 1.0001 ... 10000.
DECIMAL_LADDER: tuple[Decimal, ...] = _build_ladder()
#: Every tick as Odds, in the order of `DECIMAL_LADDER` (so percents falling).
TICKS: tuple[Odds, ...] = tuple(Odds.from_decimal(d) for d in DECIMAL_LADDER)

# Ticks by rising percent, for bisection.
_TICKS_UP = TICKS[::-1]
_PERCENTS_UP = tuple(tick.percent for tick in _TICKS_UP)


def price_to_percent(price: int) -> Decimal:
    """Percent odds of a wire price: ``price_to_percent(2500) == Decimal('25.00')``.

    It converts units only; `is_valid_price` says whether the ladder holds the price.
    """
    if isinstance(price, bool) or not isinstance(price, int):
        raise TypeError(f"a price must be an int, not {type(price).__name__}")
    return Decimal(price).scaleb(-2)


def percent_to_price(percent: Number) -> int:
    """The wire price of percent odds: ``percent_to_price(Decimal('25')) == 2500``.

    ValueError when the percent is not a whole number of hundredths.
    """
    value = Fraction(_to_decimal(percent, "percent")) * 100
    if value.denominator != 1:
        raise ValueError(f"{percent}% is not a whole number of hundredths of a percent")
    return value.numerator


#: Every price the ladder holds, rising: 1 (0.01%, decimal 10000) ... 9999 (99.99%).
VALID_PRICES: tuple[int, ...] = tuple(percent_to_price(p) for p in _PERCENTS_UP)
_VALID_PRICE_SET = frozenset(VALID_PRICES)


def is_valid_price(price: int) -> bool:
    """Whether `price` is a wire price on the tick ladder."""
    if isinstance(price, bool) or not isinstance(price, int):
        return False
    return price in _VALID_PRICE_SET


def next_tick(price: int) -> int | None:
    """The lowest ladder price above `price` (valid or not), or None past the top."""
    index = bisect.bisect_right(VALID_PRICES, price)
    return VALID_PRICES[index] if index < len(VALID_PRICES) else None


def previous_tick(price: int) -> int | None:
    """The highest ladder price below `price` (valid or not), or None past the bottom."""
    index = bisect.bisect_left(VALID_PRICES, price)
    return VALID_PRICES[index - 1] if index > 0 else None


def _is_buy(side: str | int) -> bool:
    if isinstance(side, str):
        if side.lower() == "buy":
            return True
        if side.lower() == "sell":
            return False
    elif isinstance(side, int) and not isinstance(side, bool):
        if side == SIDE_BUY:
            return True
        if side == SIDE_SELL:
            return False
    raise ValueError(f"side must be 'buy', 'sell', {SIDE_BUY} or {SIDE_SELL}, not {side!r}")


def snap_to_decimal(side: str | int, percent: Number) -> Odds | None:
    """The tick a price snaps to for `side`: the equal-or-worse one.

    A buy snaps up to the tick of equal or higher percent, a sell down to the tick of equal
    or lower percent; None when there is no such tick.
    """
    return snap_to_decimal_move_out_by(side, percent, 0)


def snap_to_decimal_move_out_by(side: str | int, percent: Number, n: int) -> Odds | None:
    """The snapped tick moved `n` ticks further out (up for a buy, down for a sell).

    A negative `n` moves back in. None when that runs off either end of the ladder.
    """
    value = _to_decimal(percent, "percent")
    if _is_buy(side):
        index = bisect.bisect_left(_PERCENTS_UP, value) + n
    else:
        index = bisect.bisect_right(_PERCENTS_UP, value) - 1 - n
    if 0 <= index < len(_TICKS_UP):
        return _TICKS_UP[index]
    return None


def _check_order(price: int, quantity: int) -> None:
    for name, value in (("price", price), ("quantity", quantity)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= price <= 10000:
        raise ValueError(f"a price must be in 0..10000, not {price}")
    if quantity < 0:
        raise ValueError(f"a quantity cannot be negative: {quantity}")


def _pounds(units: int) -> Decimal:
    # From a string, which is exact at any size (scaleb would round to the context).
    return Decimal(f"{units}E-8")


def buy_liability(price: int, quantity: int) -> Decimal:
    """Pounds a buy (back) of `quantity` at `price` risks: ``price * quantity / 10**8``."""
    _check_order(price, quantity)
    return _pounds(price * quantity)


def sell_liability(price: int, quantity: int) -> Decimal:
    """Pounds a sell (lay) of `quantity` at `price` risks.

    That is ``(10000 - price) * quantity / 10**8``.
    """
    _check_order(price, quantity)
    return _pounds((10000 - price) * quantity)
