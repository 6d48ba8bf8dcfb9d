"""`MarketExposure` keeps its highest delta as the deltas move (`txsmarkets.trading.exposure`):
its worst case is always what the one-winner rule makes of its deltas counted afresh."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsmarkets.trading.exposure import MarketExposure
from txsmarkets.trading.money import one_winner_worst

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
