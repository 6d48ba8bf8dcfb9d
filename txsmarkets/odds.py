"""Odds in their forms, the exchange's tick ladder, and wire prices.

The wire speaks percent odds in hundredths of a percent (a *price*: 2500 is 25.00%, decimal
odds 4.0). People speak decimal odds (``100 / percent``), traditional fractional odds
(``3 to 1``) or American odds (``+300``). The exchange holds prices to a ladder of 284
decimal ticks; a tick's percent is ``100 / decimal`` rounded half-even to 0.01.

`Odds` behaves as the 9.3 client's ``smarkets.odds.Odds`` (its constructors take the 9.3
arguments, ``Odds.snap_to_decimal`` is a classmethod, ``fractional`` is the traditional
fraction of the 9.3 table). Money and odds are exact: percents and decimals are `Decimal`,
and a float is refused wherever a price could come from one::

    >>> Odds.snap_to_decimal('buy', Decimal('18.6')).percent
    Decimal('18.87')
    >>> snap_to_decimal(SIDE_SELL, Decimal('18.6')).decimal_str
    '5.4'
    >>> Odds.snap_to_decimal('sell', Decimal('5.13')).decimal_str
    '19.5'
    >>> Odds(Decimal('25')).fractional, Odds(Decimal('25')).fractional_str
    ((3, 1), '3 to 1')
    >>> Odds(Decimal('25')).american_str, Odds(Decimal('60')).american_str
    ('+300', '-150')
    >>> list(ticks_gt(Decimal('97.5')))
    [Decimal('98.04'), Decimal('99.01'), Decimal('99.99')]
    >>> buy_liability(2500, 400000)
    Decimal('10.00000000')
"""

from __future__ import annotations

import bisect
import functools
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
    localcontext,
)
from fractions import Fraction
from typing import Iterable, Iterator, Union

from txsmarkets.odds_table import TABLE, OddsTable, OddsTableEntry

__all__ = [
    "DECIMAL_LADDER",
    "MAX_TICK",
    "MIN_TICK",
    "ONE_HUNDRED",
    "QUANT",
    "SIDE_BUY",
    "SIDE_SELL",
    "TABLE",
    "TICKS",
    "VALID_PRICES",
    "Odds",
    "OddsTable",
    "OddsTableEntry",
    "buy_liability",
    "is_a_tick",
    "is_valid_price",
    "next_tick",
    "percent_to_price",
    "previous_tick",
    "price_to_percent",
    "sell_liability",
    "snap_to_decimal",
    "snap_to_decimal_move_out_by",
    "ticks_geq",
    "ticks_gt",
    "ticks_leq",
    "ticks_lt",
]

#: The wire's ``seto.Side`` values.
SIDE_BUY = 1
SIDE_SELL = 2

#: What a percent or decimal may be given as; floats are deliberately absent.
Number = Union[Decimal, int, str]

#: Percents are held to hundredths: what from_decimal, from_american and from_fractional
#: round to.
QUANT = Decimal("0.01")
ONE_HUNDRED = Decimal("100")

# The arithmetic of the 9.3 client: Python's default decimal context, whatever the caller's
# context is, so that conversions give 9.3's answers digit for digit.
_CONTEXT = Context(
    prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_ONE = Decimal(1)


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


def _one_decimal_place_or_more(value: Decimal) -> str:
    # Positional notation (str() could give '1E+4'), trailing zeros dropped down to one place.
    text = format(value, "f")
    if "." not in text:
        return text + ".0"
    text = text.rstrip("0")
    return text + "0" if text.endswith(".") else text


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




@functools.total_ordering
class Odds:
    """A price as percent odds, readable as decimal, fractional and American odds too.

    Two Odds are equal, and ordered, by their percents alone: that is all the exchange
    knows. The decimal odds of a tick's percent are the tick's (``Odds(Decimal('18.87'))``
    has decimal odds 5.3); those of any other percent are ``100 / percent``.

    The constructors of the 9.3 client take a ``snap`` argument first, which they ignore, as
    9.3 did: `snap_to_decimal` is what moves odds to a tick.
    """

    __slots__ = ("_percent", "_decimal")

    def __init__(self, percent: Number, decimal: Number | None = None) -> None:
        """Odds of ``percent``; ``decimal``, if given, is the exact decimal odds it came from.

        ValueError unless the percent is in (0, 100] and the decimal odds round to it;
        TypeError for a float.
        """
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

    # -- constructors ----------------------------------------------------------------------

    @classmethod
    def from_decimal(cls, snap: object, dec: Number) -> Odds:
        """The Odds of decimal odds ``dec``; ``snap`` is ignored (9.3's argument order).

        The decimal odds of a tick give that tick; others give their percent rounded
        half-even to 0.01. ValueError for decimal odds below 1.

        >>> Odds.from_decimal(None, Decimal('5.3')).percent
        Decimal('18.87')
        >>> Odds.from_decimal(None, Decimal('5.35')).percent
        Decimal('18.69')
        """
        value = _to_decimal(dec, "decimal odds")
        if value < 1:
            raise ValueError(f"decimal odds cannot be below 1, not {value}")
        tick = _TICK_OF_DECIMAL.get(value)
        if tick is not None:
            return tick
        return cls(_CONTEXT.divide(ONE_HUNDRED, value).quantize(QUANT, context=_CONTEXT))

    @classmethod
    def from_american(cls, snap: object, american: Number) -> Odds:
        """The Odds of American odds (``+300``, ``-150``); ``snap`` is ignored.

        The percent is ``10000 / (american + 100)`` for positive odds and
        ``100 / (1 - 100 / american)`` for negative ones, rounded half-even to 0.01.

        >>> Odds.from_american(None, Decimal('300')).percent
        Decimal('25.00')
        >>> Odds.from_american(None, Decimal('-150')).percent
        Decimal('60.00')
        """
        value = _to_decimal(american, "American odds")
        with localcontext(_CONTEXT):
            if value < 0:
                percent = Decimal(100) / (Decimal(-100) / value + 1)
            else:
                percent = Decimal(10000) / (value + Decimal(100))
            return cls(percent.quantize(QUANT))

    @classmethod
    def from_fractional(cls, num: Number, den: Number) -> Odds:
        """The Odds of fractional odds ``num`` to ``den``, the percent rounded half-even to 0.01.

        >>> Odds.from_fractional(3, 1).percent
        Decimal('25.00')
        >>> Odds.from_fractional(1, 2).percent
        Decimal('66.67')
        """
        numerator = _to_decimal(num, "a numerator")
        denominator = _to_decimal(den, "a denominator")
        with localcontext(_CONTEXT):
            decimal = numerator / denominator + _ONE
            return cls((Decimal(100) / decimal).quantize(QUANT))

    @classmethod
    def from_percent(cls, snap: object, percent: Number) -> Odds:
        """The Odds of ``percent``; ``snap`` is ignored (9.3's argument order)."""
        return cls(percent)

    @classmethod
    def from_price(cls, price: int) -> Odds:
        """The Odds of a wire price (hundredths of a percent)."""
        return cls(price_to_percent(price))

    @classmethod
    def snap_to_decimal(cls, side: str | int, odds: Number) -> Odds | None:
        """The tick a percent snaps to for ``side``: the nearest equal-or-worse one.

        Equal or worse is equal or higher percent when buying, equal or lower when
        selling. ``side`` is ``'buy'`` or ``'sell'`` (any case) or `SIDE_BUY` / ``SIDE_SELL``;
        anything else is a ValueError. None when there is no such tick.

        >>> Odds.snap_to_decimal('buy', Decimal('0.3')).percent
        Decimal('0.33')
        >>> Odds.snap_to_decimal('sell', Decimal('0.3')).percent
        Decimal('0.20')
        """
        return _snap(side, odds, 0)

    @classmethod
    def snap_to_decimal_move_out_by(
        cls, side: str | int, odds: Number, move_out_by: int
    ) -> Odds | None:
        """The snapped tick moved ``move_out_by`` ticks further out (up to buy, down to sell).

        A negative ``move_out_by`` moves back in. None when that runs off either end of the
        ladder.

        >>> Odds.snap_to_decimal_move_out_by('sell', Decimal('18.6'), 5).percent
        Decimal('16.95')
        >>> Odds.snap_to_decimal_move_out_by('sell', Decimal('18.6'), 5000) is None
        True
        """
        return _snap(side, odds, move_out_by)

    # -- the forms -------------------------------------------------------------------------

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
        """Decimal odds: what a winning stake of 1 pays back, stake included.

        A tick's own decimal odds for a tick's percent, else ``100 / percent``.
        """
        if self._decimal is not None:
            return self._decimal
        tick_decimal = _DECIMAL_OF_PERCENT.get(self._percent)
        if tick_decimal is not None:
            return tick_decimal
        return _CONTEXT.divide(ONE_HUNDRED, self._percent)

    @property
    def decimal_str(self) -> str:
        """Decimal odds in the shortest form that keeps at least one decimal place.

        >>> [Odds.snap_to_decimal('sell', Decimal(p)).decimal_str
        ...  for p in ('5.13', '49.50', '35.71', '6.25', '50', '25', '99.99')]
        ['19.5', '2.02', '2.8', '16.0', '2.0', '4.0', '1.0001']
        """
        return _one_decimal_place_or_more(self.decimal)

    @property
    def fractional(self) -> tuple[int, int]:
        """The traditional fraction ``(numerator, denominator)`` of these odds.

        It is the entry of `TABLE` with the smallest percent at least this one (past the
        end, the last entry), so it may be a little shorter than the exact odds.

        >>> Odds(Decimal('25')).fractional, Odds(Decimal('50')).fractional
        ((3, 1), (1, 1))
        >>> Odds(Decimal('18.87')).fractional, Odds(Decimal('99.995')).fractional
        ((85, 20), (1, 10000))
        """
        entry = TABLE.from_percent(self._percent)
        return (entry.numerator, entry.denominator)

    @property
    def fractional_str(self) -> str:
        """The traditional fraction as ``'3 to 1'``, or ``'Evens'`` for 1 to 1.

        >>> Odds(Decimal('25')).fractional_str, Odds(Decimal('50')).fractional_str
        ('3 to 1', 'Evens')
        """
        numerator, denominator = self.fractional
        if numerator == denominator:
            return "Evens"
        return f"{numerator} to {denominator}"

    @property
    def exact_fractional(self) -> Fraction:
        """Fractional odds exactly, ``decimal - 1``: what a winning stake of 1 wins.

        >>> Odds(Decimal('25')).exact_fractional, Odds(Decimal('18.87')).exact_fractional
        (Fraction(3, 1), Fraction(43, 10))
        """
        return Fraction(self.decimal) - 1

    @property
    def american(self) -> Decimal:
        """American odds, a whole number: ``10000 / p - 100`` below 50%, else
        ``-100 / (100 / p - 1)``, rounded half-even in 9.3's 28-digit arithmetic.

        DivisionByZero at 100%, which has no American odds.

        >>> Odds(Decimal('25')).american, Odds(Decimal('60')).american
        (Decimal('300'), Decimal('-150'))
        """
        with localcontext(_CONTEXT):
            if self._percent < 50:
                value = Decimal(10000) / self._percent - Decimal(100)
            else:
                value = Decimal(-100) / (Decimal(100) / self._percent - Decimal(1))
            return value.quantize(_ONE)

    @property
    def american_str(self) -> str:
        """American odds with their sign: ``'+300'``, ``'-150'``."""
        american = self.american
        return f"+{american}" if american > 0 else f"{american}"

    @property
    def percent_str(self) -> str:
        """Percent odds to at most two places, trailing zeros dropped: ``'18.6%'``.

        >>> Odds(Decimal('25')).percent_str, Odds(Decimal('18.60')).percent_str
        ('25%', '18.6%')
        """
        text = format(self._percent.quantize(QUANT, rounding=ROUND_HALF_EVEN), "f")
        return text.rstrip("0").rstrip(".") + "%"

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
TICKS: tuple[Odds, ...] = tuple(Odds(_percent_of_decimal(d), d) for d in DECIMAL_LADDER)

_TICK_OF_DECIMAL: dict[Decimal, Odds] = {tick.decimal: tick for tick in TICKS}
_DECIMAL_OF_PERCENT: dict[Decimal, Decimal] = {tick.percent: tick.decimal for tick in TICKS}

# Ticks by rising percent, for bisection.
_TICKS_UP = TICKS[::-1]
_PERCENTS_UP = tuple(tick.percent for tick in _TICKS_UP)

#: The lowest and the highest tick percent: Decimal('0.01') and Decimal('99.99').
MIN_TICK: Decimal = _PERCENTS_UP[0]
MAX_TICK: Decimal = _PERCENTS_UP[-1]


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
    """Whether ``price`` is a wire price on the tick ladder."""
    if isinstance(price, bool) or not isinstance(price, int):
        return False
    return price in _VALID_PRICE_SET


def next_tick(price: int) -> int | None:
    """The lowest ladder price above ``price`` (valid or not), or None past the top."""
    index = bisect.bisect_right(VALID_PRICES, price)
    return VALID_PRICES[index] if index < len(VALID_PRICES) else None


def previous_tick(price: int) -> int | None:
    """The highest ladder price below ``price`` (valid or not), or None past the bottom."""
    index = bisect.bisect_left(VALID_PRICES, price)
    return VALID_PRICES[index - 1] if index > 0 else None


def _ticks(indices: Iterable[int]) -> Iterator[Decimal]:
    return (_PERCENTS_UP[i] for i in indices)


def ticks_gt(exact_price: Number) -> Iterator[Decimal]:
    """The tick percents above ``exact_price``, rising.

    >>> list(ticks_gt(Decimal('97.5')))
    [Decimal('98.04'), Decimal('99.01'), Decimal('99.99')]
    >>> list(ticks_gt(Decimal('98.04')))
    [Decimal('99.01'), Decimal('99.99')]
    >>> list(ticks_gt(Decimal('99.99')))
    []
    """
    start = bisect.bisect_right(_PERCENTS_UP, _to_decimal(exact_price, "percent"))
    return _ticks(range(start, len(_PERCENTS_UP)))


def ticks_geq(exact_price: Number) -> Iterator[Decimal]:
    """Like `ticks_gt`, with ``exact_price`` itself first when it is a tick.

    >>> list(ticks_geq(Decimal('97.5')))
    [Decimal('98.04'), Decimal('99.01'), Decimal('99.99')]
    >>> list(ticks_geq(Decimal('98.04')))
    [Decimal('98.04'), Decimal('99.01'), Decimal('99.99')]
    >>> list(ticks_geq(Decimal('99.99')))
    [Decimal('99.99')]
    >>> list(ticks_geq(Decimal('99.991')))
    []
    """
    start = bisect.bisect_left(_PERCENTS_UP, _to_decimal(exact_price, "percent"))
    return _ticks(range(start, len(_PERCENTS_UP)))


def ticks_lt(exact_price: Number) -> Iterator[Decimal]:
    """The tick percents below ``exact_price``, falling.

    >>> list(ticks_lt(Decimal('0.35')))
    [Decimal('0.34'), Decimal('0.33'), Decimal('0.20'), Decimal('0.10'), Decimal('0.01')]
    >>> list(ticks_lt(Decimal('0.20')))
    [Decimal('0.10'), Decimal('0.01')]
    >>> list(ticks_lt(Decimal('0.0001')))
    []
    """
    start = bisect.bisect_left(_PERCENTS_UP, _to_decimal(exact_price, "percent")) - 1
    return _ticks(range(start, -1, -1))


def ticks_leq(exact_price: Number) -> Iterator[Decimal]:
    """Like `ticks_lt`, with ``exact_price`` itself first when it is a tick.

    >>> list(ticks_leq(Decimal('0.35')))
    [Decimal('0.34'), Decimal('0.33'), Decimal('0.20'), Decimal('0.10'), Decimal('0.01')]
    >>> list(ticks_leq(Decimal('0.20')))
    [Decimal('0.20'), Decimal('0.10'), Decimal('0.01')]
    >>> list(ticks_leq(Decimal('0.0001')))
    []
    """
    start = bisect.bisect_right(_PERCENTS_UP, _to_decimal(exact_price, "percent")) - 1
    return _ticks(range(start, -1, -1))


def is_a_tick(exact_price: Number) -> bool:
    """Whether ``exact_price`` is the percent of a tick.

    >>> is_a_tick(Decimal('0.32')), is_a_tick(Decimal('0.33')), is_a_tick(25)
    (False, True, True)
    >>> all(is_a_tick(price) for price in ticks_lt(Decimal('0.35')))
    True
    """
    return _to_decimal(exact_price, "percent") in _DECIMAL_OF_PERCENT


def _snap(side: str | int, percent: Number, move_out_by: int) -> Odds | None:
    value = _to_decimal(percent, "percent")
    if _is_buy(side):
        index = bisect.bisect_left(_PERCENTS_UP, value) + move_out_by
    else:
        index = bisect.bisect_right(_PERCENTS_UP, value) - 1 - move_out_by
    if 0 <= index < len(_TICKS_UP):
        return _TICKS_UP[index]
    return None


def snap_to_decimal(side: str | int, percent: Number) -> Odds | None:
    """`Odds.snap_to_decimal` as a function: the tick ``percent`` snaps to for ``side``."""
    return _snap(side, percent, 0)


def snap_to_decimal_move_out_by(side: str | int, percent: Number, n: int) -> Odds | None:
    """`Odds.snap_to_decimal_move_out_by` as a function: the snapped tick moved ``n`` out."""
    return _snap(side, percent, n)


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
    """Pounds a buy (back) of ``quantity`` at ``price`` risks: ``price * quantity / 10**8``."""
    _check_order(price, quantity)
    return _pounds(price * quantity)


def sell_liability(price: int, quantity: int) -> Decimal:
    """Pounds a sell (lay) of ``quantity`` at ``price`` risks: ``(10000 - price) * quantity / 10**8``."""
    _check_order(price, quantity)
    return _pounds((10000 - price) * quantity)
