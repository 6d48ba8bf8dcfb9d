"""The order book: levels, best prices, depth, price-time matching, lazy removal."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from txsmarkets.exchange.book import BUY, SELL, Book, Order

_ids = itertools.count(1)


def order(side: int, price: int, quantity: int, account_id: int = 1) -> Order:
    return Order(next(_ids), account_id, 1, 11, side, price, quantity)


class LevelsTests(unittest.SynchronousTestCase):
    def test_empty(self) -> None:
        book = Book(11, 1)
        self.assertIsNone(book.best_bid())
        self.assertIsNone(book.best_offer())
        self.assertEqual(book.depth(BUY), [])
        self.assertEqual(len(book), 0)
        book.check()

    def test_best_and_depth(self) -> None:
        book = Book(11, 1)
        for price, quantity in ((2000, 10), (2500, 20), (1000, 5), (2500, 1)):
            book.add(order(BUY, price, quantity))
        for price, quantity in ((5000, 7), (3000, 8), (4000, 9), (3000, 2)):
            book.add(order(SELL, price, quantity))
        self.assertEqual(book.best_bid(), 2500)
        self.assertEqual(book.best_offer(), 3000)
        self.assertEqual(book.depth(BUY), [(2500, 21), (2000, 10), (1000, 5)])
        self.assertEqual(book.depth(SELL), [(3000, 10), (4000, 9), (5000, 7)])
        self.assertEqual(book.depth(SELL, 2), [(3000, 10), (4000, 9)])
        self.assertEqual(book.level_total(BUY, 2500), 21)
        self.assertEqual(book.level_total(BUY, 2501), 0)
        self.assertEqual(len(book), 8)
        book.check()

    def test_remove_and_changes(self) -> None:
        book = Book(11, 1)
        a, b, c = order(BUY, 2000, 10), order(BUY, 2000, 20), order(BUY, 2500, 5)
        for o in (a, b, c):
            book.add(o)
        self.assertEqual(book.take_changes(), ([(2500, 5), (2000, 30)], []))
        self.assertEqual(book.take_changes(), ([], []))
        book.remove(c)
        book.remove(a)
        self.assertFalse(c.resting)
        self.assertEqual(book.best_bid(), 2000)
        self.assertEqual(book.depth(BUY), [(2000, 20)])
        self.assertEqual(book.take_changes(), ([(2500, 0), (2000, 20)], []))
        book.check()

    def test_remove_from_middle_is_lazy_and_compacts(self) -> None:
        book = Book(11, 1)
        orders = [order(SELL, 3000, 1) for _ in range(100)]
        for o in orders:
            book.add(o)
        kept = [o for i, o in enumerate(orders) if i % 4 == 0 or i == 99]
        for o in orders:
            if o not in kept:
                book.remove(o)
                book.check()
        level = book.offers.levels[3000]
        self.assertEqual(level.count, len(kept))
        self.assertEqual(level.total, len(kept))
        self.assertLess(len(level.orders), 100 - len(kept))  # compacted at least once
        self.assertEqual(list(level.live_orders()), kept)

    def test_reduce_keeps_place(self) -> None:
        book = Book(11, 1)
        first, second = order(SELL, 3000, 10, 2), order(SELL, 3000, 10, 2)
        book.add(first)
        book.add(second)
        book.reduce(first, 4)
        self.assertEqual(book.level_total(SELL, 3000), 14)
        taker = order(BUY, 3000, 6)
        fills = list(book.match(taker))
        self.assertEqual([(m.id, q) for m, q, _ in fills], [(first.id, 4), (second.id, 2)])
        book.check()


class MatchingTests(unittest.SynchronousTestCase):
    def test_price_then_time_priority_at_makers_price(self) -> None:
        book = Book(11, 1)
        s1 = order(SELL, 2500, 10, 2)
        s2 = order(SELL, 2000, 10, 2)
        s3 = order(SELL, 2000, 10, 3)
        s4 = order(SELL, 4000, 10, 2)
        for o in (s1, s2, s3, s4):
            book.add(o)
        taker = order(BUY, 2500, 25)
        fills = [(m.id, q, p) for m, q, p in book.match(taker)]
        self.assertEqual(fills, [(s2.id, 10, 2000), (s3.id, 10, 2000), (s1.id, 5, 2500)])
        self.assertEqual(taker.remaining, 0)
        self.assertEqual(s1.remaining, 5)
        self.assertTrue(s1.resting)
        self.assertFalse(s2.resting)
        self.assertEqual(book.depth(SELL), [(2500, 5), (4000, 10)])
        self.assertEqual(book.take_changes(), ([], [(2000, 0), (2500, 5), (4000, 10)]))
        book.check()

    def test_sell_taker_stops_at_limit(self) -> None:
        book = Book(11, 1)
        b1, b2 = order(BUY, 3000, 10, 2), order(BUY, 2000, 10, 2)
        book.add(b1)
        book.add(b2)
        taker = order(SELL, 2500, 50)
        fills = [(m.id, q, p) for m, q, p in book.match(taker)]
        self.assertEqual(fills, [(b1.id, 10, 3000)])
        self.assertEqual(taker.remaining, 40)
        self.assertEqual(book.best_bid(), 2000)
        book.check()

    def test_crossing_dry_run(self) -> None:
        book = Book(11, 1)
        book.add(order(SELL, 2000, 10, 2))
        book.add(order(SELL, 2500, 10, 1))
        book.add(order(SELL, 3000, 10, 2))
        self.assertEqual(book.crossing(BUY, 1500, 100, 1), (0, False))
        self.assertEqual(book.crossing(BUY, 2000, 100, 1), (10, False))
        self.assertEqual(book.crossing(BUY, 2500, 10, 1), (10, False))  # filled before its own
        self.assertEqual(book.crossing(BUY, 2500, 11, 1), (10, True))
        self.assertEqual(book.crossing(BUY, 3000, 25, 3), (25, False))
        self.assertEqual(book.crossing(BUY, 3000, 99, 3), (30, False))
        self.assertEqual(book.crossing(SELL, 1000, 5, 1), (0, False))
        self.assertEqual(book.depth(SELL), [(2000, 10), (2500, 10), (3000, 10)])  # unchanged

    def test_matching_skips_removed_orders(self) -> None:
        book = Book(11, 1)
        orders = [order(SELL, 2000, 10, 2) for _ in range(5)]
        for o in orders:
            book.add(o)
        book.remove(orders[1])
        book.remove(orders[2])
        taker = order(BUY, 2000, 15)
        fills = [(m.id, q) for m, q, _ in book.match(taker)]
        self.assertEqual(fills, [(orders[0].id, 10), (orders[3].id, 5)])
        book.check()

    def test_avg_price(self) -> None:
        o = order(BUY, 3000, 30)
        self.assertEqual(o.executed_avg_price, 0)
        o.executed, o.executed_value = 30, 10 * 2000 + 20 * 2500
        self.assertEqual(o.executed_avg_price, 2333)
        o.executed, o.executed_value = 2, 2000 + 2001
        self.assertEqual(o.executed_avg_price, 2001)  # 2000.5 rounds up


class _Model:
    """The obvious book: a list of orders, matched by sorting on every trade."""

    def __init__(self) -> None:
        self.orders: list[Order] = []
        self.time = 0
        self.times: dict[int, int] = {}
        self.left: dict[int, int] = {}

    def add(self, o: Order) -> None:
        self.time += 1
        self.times[o.id] = self.time
        self.left[o.id] = o.remaining
        self.orders.append(o)

    def match(self, side: int, price: int, quantity: int) -> list[tuple[int, int, int]]:
        if side == BUY:
            candidates = sorted(
                (o for o in self.orders if o.side == SELL and o.price <= price),
                key=lambda o: (o.price, self.times[o.id]),
            )
        else:
            candidates = sorted(
                (o for o in self.orders if o.side == BUY and o.price >= price),
                key=lambda o: (-o.price, self.times[o.id]),
            )
        fills = []
        for o in candidates:
            if not quantity:
                break
            q = min(quantity, self.left[o.id])
            quantity -= q
            self.left[o.id] -= q
            fills.append((o.id, q, o.price))
        self.orders = [o for o in self.orders if self.left[o.id]]
        return fills


PRICES = [2000, 2174, 2273, 2381, 2500, 2632, 2778]
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("add"),
            st.sampled_from([BUY, SELL]),
            st.sampled_from(PRICES),
            st.integers(1, 50),
        ),
        st.tuples(st.just("remove"), st.integers(0, 1000)),
        st.tuples(st.just("reduce"), st.integers(0, 1000), st.integers(1, 49)),
    ),
    max_size=120,
)


class ModelTests(unittest.SynchronousTestCase):
    @settings(max_examples=150, deadline=None)
    @given(ops)
    def test_same_fills_as_the_obvious_book(self, operations: list[tuple[Any, ...]]) -> None:
        book = Book(11, 1)
        model = _Model()
        resting: list[Order] = []
        for op in operations:
            if op[0] == "add":
                _, side, price, quantity = op
                taker = order(side, price, quantity)
                expected = model.match(side, price, quantity)
                self.assertEqual(
                    book.crossing(side, price, quantity, -1),
                    (sum(q for _, q, _ in expected), False),
                )
                got = [(m.id, q, p) for m, q, p in book.match(taker)]
                self.assertEqual(got, expected)
                if taker.remaining:
                    book.add(taker)
                    model.add(taker)
                    resting.append(taker)
            elif resting:
                resting = [o for o in resting if o.resting]
                if not resting:
                    continue
                target = resting[op[1] % len(resting)]
                if op[0] == "remove":
                    book.remove(target)
                    model.orders.remove(target)
                elif op[2] < target.remaining:
                    book.reduce(target, op[2])
                    model.left[target.id] = op[2]
            book.check()
            for o in model.orders:
                self.assertEqual(o.remaining, model.left[o.id])
            bids = {}
            offers = {}
            for o in model.orders:
                levels = bids if o.side == BUY else offers
                levels[o.price] = levels.get(o.price, 0) + o.remaining
            self.assertEqual(book.depth(BUY), sorted(bids.items(), reverse=True))
            self.assertEqual(book.depth(SELL), sorted(offers.items()))
