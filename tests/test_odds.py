"""Tests for txsmarkets.odds: odds forms, the tick ladder, snapping and liabilities."""

from __future__ import annotations

import doctest
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsmarkets import odds as odds_module
from txsmarkets.odds import (
    DECIMAL_LADDER,
    MAX_TICK,
    MIN_TICK,
    ONE_HUNDRED,
    QUANT,
    SIDE_BUY,
    SIDE_SELL,
    TABLE,
    TICKS,
    VALID_PRICES,
    Odds,
    OddsTable,
    OddsTableEntry,
    buy_liability,
    is_a_tick,
    is_valid_price,
    next_tick,
    percent_to_price,
    previous_tick,
    price_to_percent,
    sell_liability,
    snap_to_decimal,
    snap_to_decimal_move_out_by,
    ticks_geq,
    ticks_gt,
    ticks_leq,
    ticks_lt,
)

D = Decimal
FRACTIONAL_TSV = Path(__file__).parent / "data" / "fractional-odds.tsv"


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
        self.assertEqual(Odds.from_decimal(None, D(32)).percent, D("3.12"))
        self.assertEqual(Odds.from_decimal(None, D("1.28")).percent, D("78.12"))
        self.assertEqual(Odds.from_decimal(None, D(160)).percent, D("0.62"))

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

    def test_9_3_classmethods(self) -> None:
        """The 9.3 client's own snapping tests."""
        self.assertEqual(D("18.87"), Odds.snap_to_decimal("buy", D("18.6")).percent)
        self.assertEqual(D("18.52"), Odds.snap_to_decimal("sell", D("18.6")).percent)
        self.assertEqual(
            D("19.23"), Odds.snap_to_decimal_move_out_by("buy", D("18.6"), 1).percent
        )
        self.assertEqual(
            D("16.95"), Odds.snap_to_decimal_move_out_by("sell", D("18.6"), 5).percent
        )
        self.assertIsNone(Odds.snap_to_decimal_move_out_by("sell", D("18.6"), 5000))
        self.assertEqual(D("45.05"), Odds.snap_to_decimal("buy", D("45.045")).percent)
        self.assertEqual(D("44.64"), Odds.snap_to_decimal("sell", D("45.045")).percent)
        self.assertEqual(Odds.snap_to_decimal("buy", D("0.3")).percent, D("0.33"))
        self.assertEqual(Odds.snap_to_decimal("sell", D("0.3")).percent, D("0.20"))

    @given(sides, wide_percents, st.integers(min_value=-3, max_value=3))
    def test_classmethods_are_the_functions(self, side, percent: Decimal, n: int) -> None:
        self.assertIs(Odds.snap_to_decimal(side, percent), snap_to_decimal(side, percent))
        self.assertIs(
            Odds.snap_to_decimal_move_out_by(side, percent, n),
            snap_to_decimal_move_out_by(side, percent, n),
        )

    def test_constants(self) -> None:
        self.assertEqual(QUANT, D("0.01"))
        self.assertEqual(ONE_HUNDRED, D(100))
        self.assertIsInstance(QUANT, Decimal)

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
    """The forms of one price."""

    def test_quarter(self) -> None:
        odds = Odds(D(25))
        self.assertEqual(odds.percent, D(25))
        self.assertEqual(odds.decimal, D(4))
        self.assertEqual(odds.decimal_str, "4.0")
        self.assertEqual(odds.fractional, (3, 1))
        self.assertEqual(odds.fractional_str, "3 to 1")
        self.assertEqual(odds.exact_fractional, Fraction(3))
        self.assertEqual(odds.percent_str, "25%")
        self.assertEqual(odds.price, 2500)

    def test_evens(self) -> None:
        odds = Odds(D(50))
        self.assertEqual(odds.fractional, (1, 1))
        self.assertEqual(odds.fractional_str, "Evens")
        self.assertEqual(odds.decimal_str, "2.0")

    def test_odds_on_and_against(self) -> None:
        self.assertEqual(Odds.from_decimal(None, D("1.5")).fractional_str, "1 to 2")
        self.assertEqual(Odds(D(80)).fractional_str, "1 to 4")
        self.assertEqual(Odds(D(20)).fractional_str, "4 to 1")
        self.assertEqual(Odds.from_decimal(None, D("1.5")).exact_fractional, Fraction(1, 2))
        self.assertEqual(Odds.from_decimal(None, D("5.3")).exact_fractional, Fraction(43, 10))

    def test_tick_percent_has_the_tick_decimal(self) -> None:
        odds = Odds(D("18.87"))
        self.assertEqual(odds.decimal, D("5.3"))
        self.assertEqual(odds.decimal_str, "5.3")
        self.assertEqual(odds.exact_fractional, Fraction(43, 10))
        self.assertEqual(odds.percent_str, "18.87%")
        self.assertEqual(Odds(D("25.00")).decimal, D(4))

    def test_other_percent(self) -> None:
        odds = Odds(D("18.6"))
        self.assertEqual(odds.decimal, D(100) / D("18.6"))
        self.assertEqual(odds.decimal_str, "5.376344086021505376344086022")
        self.assertEqual(odds.percent_str, "18.6%")
        self.assertEqual(Odds(D(100)).decimal_str, "1.0")
        self.assertEqual(Odds(D("18.605")).percent_str, "18.6%")
        self.assertEqual(Odds(D("18.615")).percent_str, "18.62%")

    def test_tick_strings(self) -> None:
        self.assertEqual(TICKS[0].decimal_str, "1.0001")
        self.assertEqual(TICKS[0].percent_str, "99.99%")
        self.assertEqual(TICKS[0].fractional_str, "1 to 10000")
        self.assertEqual(TICKS[-1].decimal_str, "10000.0")
        self.assertEqual(TICKS[-1].percent_str, "0.01%")
        self.assertEqual(TICKS[-1].fractional_str, "10000 to 1")
        self.assertEqual(snap_to_decimal("buy", D("18.6")).decimal_str, "5.3")

    def test_decimal_str_9_3(self) -> None:
        """The 9.3 client's decimal_str tests, and this library's others."""
        snap = Odds.snap_to_decimal
        self.assertEqual(snap("sell", D("5.13")).decimal_str, "19.5")
        self.assertEqual(snap("sell", D("49.50")).decimal_str, "2.02")
        self.assertEqual(snap("sell", D("35.71")).decimal_str, "2.8")
        self.assertEqual(snap("sell", D("6.25")).decimal_str, "16.0")
        self.assertEqual(snap("sell", D("50")).decimal_str, "2.0")
        self.assertEqual(snap("sell", D("25")).decimal_str, "4.0")
        self.assertEqual(snap("sell", D("4")).decimal_str, "25.0")

    def test_decimal_str_every_tick(self) -> None:
        for tick in TICKS:
            text = tick.decimal_str
            self.assertEqual(D(text), tick.decimal)
            whole, point, places = text.partition(".")
            self.assertEqual(point, ".")
            self.assertTrue(places == "0" or not places.endswith("0"), text)
            self.assertNotIn("E", text)

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
        self.assertRaises(ValueError, Odds.from_decimal, None, D("0.5"))
        self.assertRaises(ValueError, Odds, D("18.6"), D("5.3"))
        self.assertEqual(Odds(D("18.87"), D("5.3")).decimal, D("5.3"))
        self.assertRaises(ValueError, lambda: Odds(D("18.605")).price)

    def test_repr(self) -> None:
        self.assertEqual(repr(Odds(D(25))), "Odds(Decimal('25'))")
        again = eval(repr(TICKS[0]), {"Odds": Odds, "Decimal": Decimal})
        self.assertEqual(again.decimal, D("1.0001"))


class ConstructorTests(SynchronousTestCase):
    """The 9.3 constructors: a snap argument first, ignored, except from_fractional."""

    def test_from_decimal(self) -> None:
        self.assertIs(Odds.from_decimal("buy", D("5.3")), snap_to_decimal("buy", D("18.87")))
        self.assertEqual(Odds.from_decimal(None, "4").percent, D(25))
        self.assertEqual(Odds.from_decimal(None, D("5.35")).percent, D("18.69"))
        self.assertEqual(Odds.from_decimal(None, D(1)).percent, D(100))
        self.assertRaises(TypeError, Odds.from_decimal, None, 5.3)
        # 9.3's argument order: the decimal odds come second
        self.assertRaises(TypeError, Odds.from_decimal, D("5.3"))

    def test_from_percent(self) -> None:
        self.assertEqual(Odds.from_percent(None, D("18.6")).percent, D("18.6"))
        self.assertEqual(Odds.from_percent("sell", D("18.87")).decimal, D("5.3"))

    def test_from_fractional(self) -> None:
        self.assertEqual(Odds.from_fractional(3, 1).percent, D("25.00"))
        self.assertEqual(Odds.from_fractional(1, 1).percent, D("50.00"))
        self.assertEqual(Odds.from_fractional(1, 2).percent, D("66.67"))
        self.assertEqual(Odds.from_fractional(43, 10).percent, D("18.87"))
        self.assertEqual(Odds.from_fractional(3, 1).fractional, (3, 1))
        self.assertRaises(TypeError, Odds.from_fractional, 0.5, 1)

    def test_from_american(self) -> None:
        self.assertEqual(Odds.from_american(None, D(300)).percent, D("25.00"))
        self.assertEqual(Odds.from_american(None, D(-150)).percent, D("60.00"))
        self.assertEqual(Odds.from_american(None, D(100)).percent, D("50.00"))
        self.assertEqual(Odds.from_american(None, D(-100)).percent, D("50.00"))
        self.assertEqual(Odds.from_american(None, D(-200)).percent, D("66.67"))
        self.assertRaises(TypeError, Odds.from_american, None, 300.0)

    def test_american(self) -> None:
        self.assertEqual(Odds(D(25)).american, D(300))
        self.assertEqual(Odds(D(60)).american, D(-150))
        self.assertEqual(Odds(D(50)).american, D(-100))
        self.assertEqual(Odds(D("66.67")).american, D(-200))
        self.assertEqual(Odds(D(32)).american, D(212))  # 212.5, half-even
        # 9.3's 28-digit arithmetic: exactly -212.5, computed as -212.5000...0002
        self.assertEqual(Odds(D(68)).american, D(-213))
        self.assertEqual(Odds(D(25)).american.as_tuple().exponent, 0)
        self.assertRaises(ZeroDivisionError, lambda: Odds(D(100)).american)

    def test_american_str(self) -> None:
        self.assertEqual(Odds(D(25)).american_str, "+300")
        self.assertEqual(Odds(D(60)).american_str, "-150")
        self.assertEqual(Odds(D(50)).american_str, "-100")

    @given(st.sampled_from(VALID_PRICES))
    def test_american_round_trip(self, price: int) -> None:
        """American odds of a tick lead back to a percent within a whole American point."""
        tick = Odds.from_price(price)
        if tick.percent == 100:
            return
        again = Odds.from_american(None, tick.american)
        self.assertEqual(again.american, tick.american)

    def test_context_does_not_matter(self) -> None:
        with localcontext() as context:
            context.prec = 5
            context.rounding = "ROUND_DOWN"
            self.assertEqual(Odds(D(68)).american, D(-213))
            self.assertEqual(Odds.from_fractional(1, 2).percent, D("66.67"))
            self.assertEqual(Odds.from_decimal(None, D("5.35")).percent, D("18.69"))


class FractionalTableTests(SynchronousTestCase):
    """The traditional fractions of fractional-odds.tsv."""

    def test_table(self) -> None:
        entries = list(TABLE)
        self.assertEqual(len(entries), 290)
        self.assertEqual(entries, sorted(entries))
        self.assertEqual((entries[0].numerator, entries[0].denominator), (10000, 1))
        self.assertEqual((entries[-1].numerator, entries[-1].denominator), (1, 10000))

    def test_lookups(self) -> None:
        # the smallest entry percent at least the odds' own
        self.assertEqual(Odds(D(25)).fractional, (3, 1))
        self.assertEqual(Odds(D("24.99")).fractional, (3, 1))
        self.assertEqual(Odds(D("25.01")).fractional, (11, 4))
        self.assertEqual(Odds(D("51.22")).fractional, (20, 21))
        self.assertEqual(Odds(D("48.78")).fractional, (21, 20))
        self.assertEqual(Odds(D("48.77")).fractional, (21, 20))
        self.assertEqual(Odds(D("0.01")).fractional, (10000, 1))
        self.assertEqual(Odds(D("0.005")).fractional, (10000, 1))
        self.assertEqual(Odds(D("99.995")).fractional, (1, 10000))
        self.assertEqual(Odds(D(100)).fractional, (1, 10000))
        self.assertEqual(Odds(D("62.5")).fractional_str, "60 to 100")
        self.assertEqual(Odds(D("60")).fractional_str, "4 to 6")

    def test_table_entry(self) -> None:
        low, high = OddsTableEntry.from_raw(2, 5, D("71.43"), D("28.57"))
        self.assertEqual((low.numerator, low.denominator, low.percent), (2, 5, D("71.43")))
        self.assertEqual((high.numerator, high.denominator, high.percent), (5, 2, D("28.57")))
        self.assertLess(high, low)
        self.assertLess(high, D(30))
        self.assertEqual(low, D("71.43"))

    def test_own_table(self) -> None:
        table = OddsTable({(1, 1): (D(50), D(50)), (1, 3): (D(75), D(25))})
        self.assertEqual(len(table), 4)
        self.assertEqual(table.from_percent(D(30)).numerator, 1)
        self.assertEqual(table.from_percent(D(20)).numerator, 3)
        self.assertEqual(table.from_percent(D(99)).denominator, 3)
        table.append(1, 9, D(90), D(10))
        self.assertEqual(table.from_percent(D(5)).numerator, 9)
        self.assertRaises(TypeError, table.from_percent, 30)

    def test_from_file(self) -> None:
        """Every row of the reference table, both ways round."""
        rows = [
            line.split()
            for line in FRACTIONAL_TSV.read_text().splitlines()
            if line and not line.startswith("#")
        ][1:]
        self.assertEqual(len(rows), 145)
        for numerator, denominator, high, low in rows:
            self.assertEqual(Odds(D(high)).fractional, (int(numerator), int(denominator)))
            self.assertEqual(Odds(D(low)).fractional, (int(denominator), int(numerator)))


class TickListTests(SynchronousTestCase):
    """ticks_gt, ticks_geq, ticks_lt, ticks_leq, is_a_tick, MIN_TICK and MAX_TICK."""

    def test_9_3_examples(self) -> None:
        def ticks(function, percent: str) -> list[Decimal]:
            return list(function(D(percent)))

        self.assertEqual(ticks(ticks_gt, "97.5"), [D("98.04"), D("99.01"), D("99.99")])
        self.assertEqual(ticks(ticks_gt, "98.04"), [D("99.01"), D("99.99")])
        self.assertEqual(ticks(ticks_gt, "99.99"), [])
        self.assertEqual(ticks(ticks_geq, "97.5"), [D("98.04"), D("99.01"), D("99.99")])
        self.assertEqual(ticks(ticks_geq, "98.04"), [D("98.04"), D("99.01"), D("99.99")])
        self.assertEqual(ticks(ticks_geq, "99.99"), [D("99.99")])
        self.assertEqual(ticks(ticks_geq, "99.991"), [])
        below = [D("0.34"), D("0.33"), D("0.20"), D("0.10"), D("0.01")]
        self.assertEqual(ticks(ticks_lt, "0.35"), below)
        self.assertEqual(ticks(ticks_lt, "0.20"), below[3:])
        self.assertEqual(ticks(ticks_lt, "0.0001"), [])
        self.assertEqual(ticks(ticks_leq, "0.35"), below)
        self.assertEqual(ticks(ticks_leq, "0.20"), below[2:])
        self.assertEqual(ticks(ticks_leq, "0.0001"), [])
        self.assertEqual(
            [str(p) for p in ticks(ticks_lt, "0.35")], ["0.34", "0.33", "0.20", "0.10", "0.01"]
        )

    def test_min_max(self) -> None:
        self.assertEqual(MIN_TICK, D("0.01"))
        self.assertEqual(MAX_TICK, D("99.99"))
        self.assertEqual(MIN_TICK, next(ticks_gt(0)))
        self.assertEqual(MAX_TICK, next(ticks_lt(100)))
        self.assertEqual(len(list(ticks_gt(0))), 284)
        self.assertEqual(list(ticks_geq(0)), [tick.percent for tick in reversed(TICKS)])
        self.assertEqual(list(ticks_leq(100)), [tick.percent for tick in TICKS])

    def test_is_a_tick(self) -> None:
        self.assertFalse(is_a_tick(D("0.32")))
        self.assertTrue(is_a_tick(D("0.33")))
        self.assertTrue(is_a_tick(D("25")))
        self.assertTrue(is_a_tick(25))
        self.assertFalse(is_a_tick(D(100)))
        self.assertTrue(all(is_a_tick(p) for p in ticks_lt(D("0.35"))))
        self.assertTrue(all(is_a_tick(t.percent) for t in TICKS))
        self.assertRaises(TypeError, is_a_tick, 0.33)
        self.assertRaises(TypeError, ticks_gt, 0.33)

    @given(wide_percents)
    def test_partition(self, percent: Decimal) -> None:
        """Below, at and above a percent, the ticks are all the ticks, once each."""
        below = list(ticks_lt(percent))
        above = list(ticks_gt(percent))
        at = [percent] if is_a_tick(percent) else []
        self.assertEqual(below[::-1] + at + above, [t.percent for t in reversed(TICKS)])
        self.assertEqual(list(ticks_leq(percent)), at + below)
        self.assertEqual(list(ticks_geq(percent)), at + above)


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
