"""Tests for txsmarkets.odds: odds forms, the tick ladder, snapping and liabilities."""

from __future__ import annotations

import doctest
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsmarkets import odds as odds_module
from txsmarkets.odds import (
    DECIMAL_LADDER,
    SIDE_BUY,
    SIDE_SELL,
    TICKS,
    VALID_PRICES,
    Odds,
    buy_liability,
    is_valid_price,
    next_tick,
    percent_to_price,
    previous_tick,
    price_to_percent,
    sell_liability,
    snap_to_decimal,
    snap_to_decimal_move_out_by,
)

D = Decimal


def reference_ladder() -> list[Decimal]:
    """The ladder as the reference words it, built by repeated addition."""
    ladder = [D("1.0001")]
    segments = [
        ("1.01", "2", "0.01"),
        ("2", "3", "0.02"),
        ("3", "4", "0.05"),
        ("4", "6", "0.1"),
        ("6", "10", "0.2"),
        ("10", "20", "0.5"),
        ("20", "30", "1"),
        ("30", "50", "2"),
        ("50", "100", "5"),
        ("100", "300", "10"),
    ]
    for first, last, step in segments:
        value = D(first)
        if ladder[-1] == value:
            value += D(step)
        while value <= D(last):
            ladder.append(value)
            value += D(step)
    ladder += [D(500), D(1000), D(10000)]
    return ladder


def reference_percent(decimal: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = 60
        return (D(100) / decimal).quantize(D("0.01"), rounding=ROUND_HALF_EVEN)


percents = st.decimals(min_value=D("0.0001"), max_value=D(100), places=4)
wide_percents = st.decimals(min_value=D(-5), max_value=D(150), places=3)
sides = st.sampled_from(["buy", "sell", SIDE_BUY, SIDE_SELL])
ticks = st.sampled_from(TICKS)


class LadderTests(SynchronousTestCase):
    """The 284 ticks."""

    def test_length(self) -> None:
        self.assertEqual(len(DECIMAL_LADDER), 284)
        self.assertEqual(len(TICKS), 284)
        self.assertEqual(len(VALID_PRICES), 284)

    def test_as_the_reference_says(self) -> None:
        self.assertEqual(list(DECIMAL_LADDER), reference_ladder())
        self.assertEqual(len(reference_ladder()), 284)

    def test_landmarks(self) -> None:
        self.assertEqual(DECIMAL_LADDER[:4], (D("1.0001"), D("1.01"), D("1.02"), D("1.03")))
        self.assertEqual(DECIMAL_LADDER[-4:], (D(300), D(500), D(1000), D(10000)))
        for decimal in ("2", "2.02", "3", "3.05", "4", "4.1", "6", "6.2", "10", "10.5",
                        "20", "21", "30", "32", "50", "55", "100", "110", "300"):
            self.assertIn(D(decimal), DECIMAL_LADDER)
        for decimal in ("2.01", "3.02", "4.05", "6.1", "10.2", "20.5", "31", "52", "105", "400"):
            self.assertNotIn(D(decimal), DECIMAL_LADDER)

    def test_tick_percents(self) -> None:
        for decimal, tick in zip(DECIMAL_LADDER, TICKS):
            self.assertEqual(tick.decimal, decimal)
            self.assertEqual(tick.percent, reference_percent(decimal))
        self.assertEqual(TICKS[0].percent, D("99.99"))
        self.assertEqual(TICKS[-1].percent, D("0.01"))

    def test_half_even(self) -> None:
        # 100/32 = 3.125 and 100/1.28 = 78.125 are exact ties
        self.assertEqual(Odds.from_decimal(D(32)).percent, D("3.12"))
        self.assertEqual(Odds.from_decimal(D("1.28")).percent, D("78.12"))
        self.assertEqual(Odds.from_decimal(D(160)).percent, D("0.62"))

    def test_percents_fall_strictly(self) -> None:
        percents = [tick.percent for tick in TICKS]
        self.assertEqual(percents, sorted(set(percents), reverse=True))

    def test_ticks_are_valid_prices(self) -> None:
        self.assertEqual(VALID_PRICES, tuple(sorted(tick.price for tick in TICKS)))
        self.assertEqual(VALID_PRICES[0], 1)
        self.assertEqual(VALID_PRICES[-1], 9999)
        self.assertIn(2500, VALID_PRICES)
        self.assertIn(1887, VALID_PRICES)


class SnapTests(SynchronousTestCase):
    """The reference's snapping examples, sides and ends."""

    def test_reference_examples(self) -> None:
        self.assertEqual(snap_to_decimal("buy", D("18.6")).percent, D("18.87"))
        self.assertEqual(snap_to_decimal("sell", D("18.6")).percent, D("18.52"))
        self.assertEqual(snap_to_decimal_move_out_by("buy", D("18.6"), 1).percent, D("19.23"))
        self.assertEqual(snap_to_decimal_move_out_by("sell", D("18.6"), 5).percent, D("16.95"))

    def test_snapped_decimals(self) -> None:
        self.assertEqual(snap_to_decimal("buy", D("18.6")).decimal, D("5.3"))
        self.assertEqual(snap_to_decimal("sell", D("18.6")).decimal, D("5.4"))
        self.assertEqual(snap_to_decimal_move_out_by("buy", D("18.6"), 1).decimal, D("5.2"))
        self.assertEqual(snap_to_decimal_move_out_by("sell", D("18.6"), 5).decimal, D("5.9"))

    def test_wire_sides(self) -> None:
        self.assertEqual(snap_to_decimal(SIDE_BUY, D("18.6")), snap_to_decimal("buy", D("18.6")))
        self.assertEqual(snap_to_decimal(SIDE_SELL, D("18.6")), snap_to_decimal("sell", D("18.6")))
        self.assertEqual((SIDE_BUY, SIDE_SELL), (1, 2))
        self.assertEqual(snap_to_decimal(1, D("18.6")).percent, D("18.87"))
        self.assertEqual(snap_to_decimal(2, D("18.6")).percent, D("18.52"))
        self.assertEqual(snap_to_decimal("BUY", D("18.6")).percent, D("18.87"))

    def test_bad_side(self) -> None:
        for side in (0, 3, "back", "lay", True, None, 1.0):
            self.assertRaises(ValueError, snap_to_decimal, side, D(50))

    def test_exact_tick(self) -> None:
        self.assertEqual(snap_to_decimal("buy", D(25)).percent, D(25))
        self.assertEqual(snap_to_decimal("sell", 25).percent, D(25))
        self.assertEqual(snap_to_decimal("sell", "25.00").decimal, D(4))

    def test_move_out_zero_and_in(self) -> None:
        self.assertEqual(snap_to_decimal_move_out_by("buy", D("18.6"), 0).percent, D("18.87"))
        self.assertEqual(snap_to_decimal_move_out_by("buy", D("18.6"), -1).percent, D("18.52"))
        self.assertEqual(snap_to_decimal_move_out_by("sell", D("18.6"), -1).percent, D("18.87"))

    def test_ends(self) -> None:
        self.assertIsNone(snap_to_decimal("buy", D("99.991")))
        self.assertIsNone(snap_to_decimal("buy", D(100)))
        self.assertEqual(snap_to_decimal("sell", D(100)).percent, D("99.99"))
        self.assertIsNone(snap_to_decimal("sell", D("0.009")))
        self.assertIsNone(snap_to_decimal("sell", D(0)))
        self.assertEqual(snap_to_decimal("buy", D(0)).percent, D("0.01"))
        self.assertEqual(snap_to_decimal("buy", D("99.99")).decimal, D("1.0001"))
        self.assertIsNone(snap_to_decimal_move_out_by("buy", D("99.99"), 1))
        self.assertIsNone(snap_to_decimal_move_out_by("sell", D("0.01"), 1))
        self.assertIsNone(snap_to_decimal_move_out_by("sell", D(50), 1000))
        self.assertIsNone(snap_to_decimal_move_out_by("buy", D(50), -1000))

    def test_no_floats(self) -> None:
        self.assertRaises(TypeError, snap_to_decimal, "buy", 18.6)
        self.assertRaises(TypeError, Odds, 18.6)
        self.assertRaises(TypeError, percent_to_price, 25.0)
        self.assertRaises(TypeError, price_to_percent, 2500.0)
        self.assertRaises(TypeError, buy_liability, 2500.0, 1)
        self.assertRaises(ValueError, snap_to_decimal, "buy", D("NaN"))


class SnapPropertyTests(SynchronousTestCase):
    """Properties of snapping over any percent."""

    @given(sides, wide_percents)
    def test_idempotent(self, side, percent: Decimal) -> None:
        snapped = snap_to_decimal(side, percent)
        if snapped is not None:
            self.assertIs(snap_to_decimal(side, snapped.percent), snapped)

    @given(percents)
    def test_buy_never_below_sell_never_above(self, percent: Decimal) -> None:
        buy = snap_to_decimal("buy", percent)
        sell = snap_to_decimal("sell", percent)
        if buy is not None:
            self.assertGreaterEqual(buy.percent, percent)
        if sell is not None:
            self.assertLessEqual(sell.percent, percent)

    @given(st.decimals(min_value=D("0.01"), max_value=D("99.99"), places=4))
    def test_nearest(self, percent: Decimal) -> None:
        """Within the ladder a snap always exists, and no tick lies between it and the input."""
        buy = snap_to_decimal("buy", percent)
        sell = snap_to_decimal("sell", percent)
        self.assertIsNotNone(buy)
        self.assertIsNotNone(sell)
        between = [t for t in TICKS if sell.percent < t.percent < buy.percent]
        self.assertEqual(between, [])
        self.assertEqual(buy == sell, percent in {t.percent for t in TICKS})

    @given(sides, ticks)
    def test_tick_snaps_to_itself(self, side, tick: Odds) -> None:
        self.assertIs(snap_to_decimal(side, tick.percent), tick)
        self.assertEqual(snap_to_decimal(side, tick.percent).decimal, tick.decimal)

    @given(sides, percents, st.integers(min_value=0, max_value=10))
    def test_move_out_is_repeated_steps(self, side, percent: Decimal, n: int) -> None:
        moved = snap_to_decimal_move_out_by(side, percent, n)
        current = snap_to_decimal(side, percent)
        for _ in range(n):
            if current is None:
                break
            current = snap_to_decimal_move_out_by(side, current.percent, 1)
        self.assertEqual(moved, current)
        if moved is not None:
            if side in ("buy", SIDE_BUY):
                self.assertGreaterEqual(moved.percent, percent)
            else:
                self.assertLessEqual(moved.percent, percent)


class OddsTests(SynchronousTestCase):
    """The three forms of one price."""

    def test_quarter(self) -> None:
        odds = Odds(D(25))
        self.assertEqual(odds.percent, D(25))
        self.assertEqual(odds.decimal, D(4))
        self.assertEqual(odds.decimal_str, "4.00")
        self.assertEqual(odds.fractional, Fraction(3))
        self.assertEqual(odds.fractional_str, "3/1")
        self.assertEqual(odds.percent_str, "25.00%")
        self.assertEqual(odds.price, 2500)

    def test_evens(self) -> None:
        odds = Odds(D(50))
        self.assertEqual(odds.fractional, Fraction(1))
        self.assertEqual(odds.fractional_str, "Evens")
        self.assertEqual(odds.decimal_str, "2.00")

    def test_odds_on_and_against(self) -> None:
        self.assertEqual(Odds.from_decimal(D("1.5")).fractional_str, "1/2")
        self.assertEqual(Odds.from_decimal(D("5.3")).fractional_str, "43/10")
        self.assertEqual(Odds(D(80)).fractional_str, "1/4")
        self.assertEqual(Odds(D(20)).fractional_str, "4/1")

    def test_inexact_percent(self) -> None:
        odds = Odds(D("18.87"))
        self.assertEqual(odds.decimal_str, "5.30")
        self.assertEqual(odds.fractional, Fraction(10000, 1887) - 1)
        self.assertEqual(odds.percent_str, "18.87%")
        self.assertEqual(Odds(D("18.6")).percent_str, "18.60%")

    def test_tick_strings(self) -> None:
        self.assertEqual(TICKS[0].decimal_str, "1.0001")
        self.assertEqual(TICKS[0].percent_str, "99.99%")
        self.assertEqual(TICKS[0].fractional_str, "1/10000")
        self.assertEqual(TICKS[-1].decimal_str, "10000.00")
        self.assertEqual(TICKS[-1].fractional_str, "9999/1")
        self.assertEqual(snap_to_decimal("buy", D("18.6")).decimal_str, "5.30")

    def test_equality_by_percent(self) -> None:
        self.assertEqual(Odds(D("18.87")), snap_to_decimal("buy", D("18.6")))
        self.assertEqual(hash(Odds(D("18.87"))), hash(snap_to_decimal("buy", D("18.6"))))
        self.assertEqual(Odds(D(25)), Odds("25.00"))
        self.assertLess(Odds(D(10)), Odds(D(20)))
        self.assertNotEqual(Odds(D(25)), D(25))

    def test_from_price(self) -> None:
        self.assertEqual(Odds.from_price(2500), Odds(D(25)))
        self.assertEqual(Odds.from_price(2500).decimal, D(4))

    def test_bad_percent(self) -> None:
        for bad in (D(0), D(-1), D("100.01"), D("Infinity"), "abc"):
            self.assertRaises(ValueError, Odds, bad)
        self.assertRaises(ValueError, Odds.from_decimal, D("0.5"))
        self.assertRaises(ValueError, Odds, D("18.6"), D("5.3"))
        self.assertEqual(Odds(D("18.87"), D("5.3")).decimal, D("5.3"))
        self.assertRaises(ValueError, lambda: Odds(D("18.605")).price)

    def test_repr(self) -> None:
        self.assertEqual(repr(Odds(D(25))), "Odds(Decimal('25'))")
        again = eval(repr(TICKS[0]), {"Odds": Odds, "Decimal": Decimal})
        self.assertEqual(again.decimal, D("1.0001"))


class PriceTests(SynchronousTestCase):
    """Wire prices."""

    def test_conversions(self) -> None:
        self.assertEqual(price_to_percent(2500), D("25.00"))
        self.assertEqual(str(price_to_percent(2500)), "25.00")
        self.assertEqual(str(price_to_percent(1)), "0.01")
        self.assertEqual(percent_to_price(D(25)), 2500)
        self.assertEqual(percent_to_price(D("18.87")), 1887)
        self.assertEqual(percent_to_price(D("25.000")), 2500)
        self.assertEqual(percent_to_price(25), 2500)

    def test_not_a_hundredth(self) -> None:
        self.assertRaises(ValueError, percent_to_price, D("25.001"))
        # more digits than the default context's 28 must not be rounded away
        self.assertRaises(ValueError, percent_to_price, D("25.00000000000000000000000000001"))

    def test_is_valid_price(self) -> None:
        self.assertTrue(is_valid_price(2500))
        self.assertTrue(is_valid_price(1))
        self.assertTrue(is_valid_price(9999))
        self.assertFalse(is_valid_price(2501))
        self.assertFalse(is_valid_price(0))
        self.assertFalse(is_valid_price(10000))
        self.assertFalse(is_valid_price(2500.0))
        self.assertFalse(is_valid_price(True))

    def test_next_and_previous(self) -> None:
        self.assertEqual(next_tick(2500), 2532)  # 4.0 -> 3.95
        self.assertEqual(previous_tick(2500), 2439)  # 4.0 -> 4.1
        self.assertEqual(next_tick(2501), 2532)
        self.assertEqual(previous_tick(2501), 2500)
        self.assertIsNone(next_tick(9999))
        self.assertIsNone(previous_tick(1))
        self.assertEqual(next_tick(0), 1)
        self.assertEqual(previous_tick(10000), 9999)

    @given(st.sampled_from(VALID_PRICES[1:-1]))
    def test_steps_invert(self, price: int) -> None:
        self.assertEqual(previous_tick(next_tick(price)), price)
        self.assertEqual(next_tick(previous_tick(price)), price)

    @given(sides, st.sampled_from(VALID_PRICES))
    def test_snapping_a_price(self, side, price: int) -> None:
        self.assertEqual(snap_to_decimal(side, price_to_percent(price)).price, price)
        buy = snap_to_decimal_move_out_by("buy", price_to_percent(price), 1)
        self.assertEqual(None if buy is None else buy.price, next_tick(price))
        sell = snap_to_decimal_move_out_by("sell", price_to_percent(price), 1)
        self.assertEqual(None if sell is None else sell.price, previous_tick(price))


class LiabilityTests(SynchronousTestCase):
    """What an order risks."""

    def test_reference_example(self) -> None:
        self.assertEqual(buy_liability(2500, 400000), D(10))
        self.assertEqual(sell_liability(2500, 400000), D(30))

    def test_exact(self) -> None:
        self.assertEqual(buy_liability(1, 1), D("0.00000001"))
        self.assertEqual(sell_liability(9999, 3), D("0.00000003"))
        big = 2**64 - 1
        self.assertEqual(buy_liability(9999, big), D(9999 * big) / D(10**8))
        self.assertEqual(Fraction(buy_liability(9999, big)), Fraction(9999 * big, 10**8))

    @given(st.integers(min_value=0, max_value=10000), st.integers(min_value=0, max_value=2**64 - 1))
    def test_buy_plus_sell_is_payout(self, price: int, quantity: int) -> None:
        total = Fraction(buy_liability(price, quantity)) + Fraction(sell_liability(price, quantity))
        self.assertEqual(total, Fraction(quantity, 10000))

    def test_bad(self) -> None:
        self.assertRaises(ValueError, buy_liability, 10001, 1)
        self.assertRaises(ValueError, sell_liability, -1, 1)
        self.assertRaises(ValueError, buy_liability, 2500, -1)
        self.assertRaises(TypeError, sell_liability, 2500, D(1))


class DoctestTests(SynchronousTestCase):
    def test_doctests(self) -> None:
        failed, attempted = doctest.testmod(odds_module)
        self.assertEqual(failed, 0)
        self.assertGreater(attempted, 0)
