"""The money arithmetic of `txsmarkets.trading.money`, owned once."""

from __future__ import annotations

from decimal import Decimal

from twisted.trial.unittest import SynchronousTestCase

from txsmarkets.exchange.accounts import MarketPosition
from txsmarkets.trading.money import FULL, UNITS, liability_units, loss_units, one_winner_worst, pounds, wire_pounds


class MoneyTests(SynchronousTestCase):
    def test_pounds(self) -> None:
        """Units are hundred-millionths of a pound, exactly at any size."""
        self.assertEqual(pounds(UNITS), Decimal(1))
        self.assertEqual(pounds(2500 * 100000), Decimal("2.5"))
        self.assertEqual(pounds(10**30 + 1), Decimal("10000000000000000000000.00000001"))

    def test_wire_pounds(self) -> None:
        """A wire double is the Decimal its shortest repr spells."""
        self.assertEqual(wire_pounds(0.1), Decimal("0.1"))
        self.assertEqual(wire_pounds(990.0), Decimal("990.0"))

    def test_loss_units(self) -> None:
        """A loss of either sign in whole units, a fraction rounded up."""
        self.assertEqual(loss_units(Decimal("-1.5")), 150_000_000)
        self.assertEqual(loss_units(Decimal("0.000000001")), 1)

    def test_liability(self) -> None:
        """A buy risks its stake; a sell the payout less its stake."""
        self.assertEqual(liability_units(True, 2500, 100000), 2500 * 100000)
        self.assertEqual(liability_units(False, 2500, 100000), (FULL - 2500) * 100000)

    def test_one_winner_worst(self) -> None:
        """The worst contract to win; one not named may win (loss: the base) unless every
        contract is named; never below nought."""
        self.assertEqual(one_winner_worst(100, [-50, 20]), 120)
        self.assertEqual(one_winner_worst(100, [-50, -20]), 100)
        self.assertEqual(one_winner_worst(100, [-50, -20], unnamed=False), 80)
        self.assertEqual(one_winner_worst(-10, []), 0)

    def test_exchange_position(self) -> None:
        """The exchange's worst case is the same arithmetic: a back of contract 1 at 25%
        in a two-contract market loses its stake if contract 2 wins."""
        position = MarketPosition([1, 2])
        position.add(1, True, 2500, 100000)
        self.assertEqual(position.worst_case_loss(), Decimal("2.5"))
        self.assertEqual(position.profit([1]), Decimal("7.5"))
        position.add(2, True, 7500, 100000)
        self.assertEqual(position.worst_case_loss(), Decimal(0))
