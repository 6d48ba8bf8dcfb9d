"""Positions at average cost (`txsmarkets.trading.positions`) and the backtest's ledger
of them: exact, in units, to pounds at the end."""

from __future__ import annotations

from decimal import Decimal

from twisted.trial.unittest import SynchronousTestCase

from txsmarkets.backtest.ledger import Positions
from txsmarkets.trading.positions import apply_fill
from txsmarkets.wire import seto_pb2

BUY, SELL = seto_pb2.SIDE_BUY, seto_pb2.SIDE_SELL


class ApplyFillTests(SynchronousTestCase):
    def test_a_position_is_its_quantity_and_cost(self) -> None:
        positions: dict[int, tuple[int, int]] = {}
        self.assertEqual(apply_fill(positions, 11, BUY, 2000, 10000), 0)
        self.assertEqual(apply_fill(positions, 11, BUY, 2001, 20000), 0)
        self.assertEqual(positions, {11: (30000, 2000 * 10000 + 2001 * 20000)})

    def test_closed_in_parts_realises_exactly_what_the_fills_paid_and_took(self) -> None:
        # An average of 2000.666...: each third realises a share of the cost to the unit,
        # and the three together exactly the difference of the money in and out.
        positions: dict[int, tuple[int, int]] = {}
        apply_fill(positions, 11, BUY, 2000, 10000)
        apply_fill(positions, 11, BUY, 2001, 20000)
        realised = [apply_fill(positions, 11, SELL, 2100, 10000) for _ in range(3)]
        self.assertEqual(sum(realised), 2100 * 30000 - 2000 * 10000 - 2001 * 20000)
        self.assertEqual(positions, {})

    def test_a_short_and_a_fill_past_flat(self) -> None:
        positions: dict[int, tuple[int, int]] = {}
        apply_fill(positions, 11, SELL, 3000, 10000)  # short: took 3000 x 10000
        self.assertEqual(positions, {11: (-10000, -3000 * 10000)})
        # Bought back at 2000 and 5000 long at 2000: the short realised 1000 x 10000.
        self.assertEqual(apply_fill(positions, 11, BUY, 2000, 15000), 1000 * 10000)
        self.assertEqual(positions, {11: (5000, 2000 * 5000)})


class LedgerTests(SynchronousTestCase):
    def test_realised_is_exact(self) -> None:
        positions = Positions()
        positions.fill(1, 11, BUY, 2000, 10000)
        positions.fill(1, 11, BUY, 2001, 20000)
        for _ in range(3):
            positions.fill(1, 11, SELL, 2100, 10000)
        self.assertEqual(positions.realised(), Decimal("0.0298"))
        self.assertEqual(positions.marked(), Decimal("0.0298"))

    def test_settled_is_exact(self) -> None:
        positions = Positions()
        positions.fill(1, 11, BUY, 2000, 10000)
        positions.fill(1, 11, BUY, 2001, 20000)
        positions.settle(1, [11], [11, 12])
        self.assertEqual(positions.marked(), Decimal("2.3998"))
        self.assertEqual(positions.markets[1].unrealised(), Decimal("2.3998"))

    def test_sums_do_not_drift(self) -> None:
        # Many markets each realising a third of a unit's rounding: the total is still
        # the exact difference of the money in and out.
        positions = Positions()
        for market_id in range(1, 301):
            positions.fill(market_id, 11, BUY, 2000, 10000)
            positions.fill(market_id, 11, BUY, 2001, 20000)
            for _ in range(3):
                positions.fill(market_id, 11, SELL, 2101, 10000)
        self.assertEqual(positions.realised(), Decimal("0.0301") * 300)

    def test_a_half_tick_mark(self) -> None:
        positions = Positions()
        positions.fill(1, 11, BUY, 2000, 10000)
        positions.mark(1, 11, Decimal("2000.5"))
        self.assertEqual(positions.marked(), Decimal("0.00005"))
        positions.void(1)
        self.assertEqual((positions.marked(), positions.realised()), (0, 0))
