"""`MarketExposure` keeps its highest delta as the deltas move (`txsmarkets.trading.exposure`):
its worst case is always what the one-winner rule makes of its deltas counted afresh."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsmarkets.trading.exposure import MarketExposure
from txsmarkets.trading.money import FULL, one_winner_worst

MOVE = st.tuples(
    st.sampled_from(["order", "fill", "with"]),
    st.sampled_from([1, 2, 3]),
    st.booleans(),
    st.integers(-500, 500),
    st.integers(-500, 500),
)


class TopTests(SynchronousTestCase):
    @given(st.lists(MOVE, max_size=40))
    def test_worst_as_counted_afresh(self, moves: list[tuple[str, int, bool, int, int]]) -> None:
        market = MarketExposure()
        for kind, c, buy, units, paid in moves:
            before = market.worst
            if kind == "with":
                changed = dict(market.delta)
                changed[c] = changed.get(c, 0) + units
                self.assertEqual(market.worst_with(c, paid, units), one_winner_worst(market.base + paid, changed.values()))
                continue
            change = market.order(c, buy, units) if kind == "order" else market.fill(c, buy, units, paid)
            self.assertEqual(market.worst, one_winner_worst(market.base, market.delta.values()))
            self.assertEqual(change, market.worst - before)


class ContractWorstTests(SynchronousTestCase):
    @given(st.lists(MOVE, max_size=40), st.sampled_from([1, 2, 3]), st.integers(0, 500), st.integers(0, 500))
    def test_contract_worst_as_counted_afresh(
        self, moves: list[tuple[str, int, bool, int, int]], c: int, win: int, lose: int
    ) -> None:
        """A contract's loss on its own, if it wins and if it loses, counted here move by
        move as the definition says, is what `MarketExposure.contract_worst` makes of it
        (it keeps only the first and derives the second)."""
        market = MarketExposure()
        wins: dict[int, int] = {}
        loses: dict[int, int] = {}
        for kind, contract, buy, units, paid in moves:
            if kind == "order":
                market.order(contract, buy, units)
                # An order counts as if it filled: a buy loses its stake if the contract
                # loses, a sell its liability if it wins.
                book = loses if buy else wins
                book[contract] = book.get(contract, 0) + units
            elif kind == "fill":
                market.fill(contract, buy, units, paid)
                sign = 1 if buy else -1
                loses[contract] = loses.get(contract, 0) + sign * paid
                wins[contract] = wins.get(contract, 0) - sign * (FULL * units - paid)
        expected = max(0, wins.get(c, 0) + win, loses.get(c, 0) + lose)
        self.assertEqual(market.contract_worst(c, win, lose), expected)
