"""The controls' fused checks (`txsmarkets.trading.fusion`): ``controls.check`` and
``check_replace``, generated with the loop over the checks unrolled, refuse exactly what the
methods as written (the loop over `Checks.checks_for`) refuse, and count the same."""

from __future__ import annotations

import inspect
import types
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsmarkets.client.state import MarketBook
from txsmarkets.exceptions import OrderRefused
from txsmarkets.trading.account import Change, ChangeKind
from txsmarkets.trading.controls import TradingControls
from txsmarkets.trading.exposure import CountedOrder
from txsmarkets.trading.fusion import FusionError, fuse, fused
from txsmarkets.trading.orders import LiveOrder
from txsmarkets.wire import seto_pb2

BUY, SELL = seto_pb2.SIDE_BUY, seto_pb2.SIDE_SELL


def pounds(low: str, high: str) -> st.SearchStrategy[Decimal | None]:
    return st.none() | st.decimals(Decimal(low), Decimal(high), places=2)


def count(low: int, high: int) -> st.SearchStrategy[int | None]:
    return st.none() | st.integers(low, high)


LIMITS = st.fixed_dictionaries(
    {
        "tick_ladder": st.booleans(),
        "max_order_quantity": count(1, 300_000),
        "max_order_liability": pounds("0.01", "30"),
        "max_contract_exposure": pounds("0.01", "60"),
        "max_market_exposure": pounds("0.01", "60"),
        "max_account_exposure": pounds("0.01", "90"),
        "max_live_orders": count(1, 8),
        "max_live_orders_per_market": count(1, 5),
        "max_orders_per_second": count(1, 4),
        "max_orders_per_minute": count(1, 12),
        "price_collar_ticks": count(0, 30),
        "duplicate_window": st.none() | st.sampled_from([1, Decimal("0.5"), 3]),
    }
)
# An order or a cancel-replace of the n-th order that passed, and the seconds after the last.
ACTION = st.tuples(
    st.sampled_from(["create", "replace"]),
    st.sampled_from([1, 2]),  # market
    st.sampled_from([11, 12, 13]),  # contract
    st.sampled_from([BUY, SELL]),
    st.sampled_from([100, 2500, 2501, 2600, 3000, 5000, 7350, 9900]) | st.integers(1, 9999),
    st.sampled_from([10_000, 20_000, 40_000]) | st.integers(1, 400_000),
    st.sampled_from([0.0, 0.1, 0.7]),
    st.integers(0, 50),
)


def outcome(result: Any) -> Any:
    """What a check said, comparably: the refusal's fields, or what the entry counts."""
    if isinstance(result, OrderRefused):
        return ("refused", result.control, result.limit, result.figure, result.detail)
    if isinstance(result, CountedOrder):
        return ("counted", result.market_id, result.contract_id, result.buy, result.price, result.quantity, result.units, result.order, result.replaces)
    return result


class Venue:
    """What both twins are bound to: the same books, clock and reported exposure."""

    def __init__(self) -> None:
        self.now = 100.0
        self.reported: Decimal | None = None
        self.books = {}
        for market_id in (1, 2):
            book = self.books[market_id] = MarketBook(market_id)
            quotes = seto_pb2.ContractQuotes(contract_id=11)
            quotes.offers.add(price=2500, quantity=100000)
            quotes.bids.add(price=2300, quantity=100000)
            book.update(quotes)

    def controls(self, limits: dict[str, Any]) -> TradingControls:
        controls = TradingControls(**limits)
        controls.bind(self.books.get, lambda: None, lambda: self.now, lambda: self.reported)
        return controls


class FusedTests(SynchronousTestCase):
    @given(LIMITS, st.lists(ACTION, max_size=25))
    def test_fused_refuses_what_the_checks_refuse(self, limits: dict[str, Any], actions: list[Any]) -> None:
        """Twin controls, one asked through its generated methods, the other through the
        methods as written, answer every create and cancel-replace alike, and count alike."""
        venue = Venue()
        fused, looped = venue.controls(limits), venue.controls(limits)
        passed: list[int] = []  # the order ids accepted
        seq = 0
        for kind, market_id, contract_id, side, price, quantity, later, reported in actions:
            venue.now += later
            venue.reported = Decimal(reported) if reported else None
            if kind == "replace" and passed:
                replace = seto_pb2.OrderCancelReplace(orig_order_id=passed[quantity % len(passed)], price=price, quantity=quantity)
                results = [fused.check_replace(replace), TradingControls.check_replace(looped, replace)]
            else:
                create = seto_pb2.OrderCreate(market_id=market_id, contract_id=contract_id, side=side, price=price, quantity=quantity)
                results = [fused.check(create), TradingControls.check(looped, create)]
            self.assertEqual(outcome(results[0]), outcome(results[1]))
            if isinstance(results[0], CountedOrder):
                seq += 1
                entry = results[0]
                for controls, counted in zip((fused, looped), results):
                    assert isinstance(counted, CountedOrder)
                    controls.sent(counted, seq)
                    if not entry.order:
                        continue  # a replace's excess: answered by none here
                    order = LiveOrder(1000 + seq, entry.market_id, entry.contract_id, side, entry.price, entry.quantity)
                    controls.apply(Change(ChangeKind.ACCEPTED, order.order_id, order, seq))
                if entry.order:
                    passed.append(1000 + seq)
            self.assertEqual(
                (fused.account_exposure, fused.live_orders, fused.passed, fused.refusals),
                (looped.account_exposure, looped.live_orders, looped.passed, looped.refusals),
            )

    def test_generated_source_is_there_to_read(self) -> None:
        """``inspect.getsource`` shows the generated method: each configured check's body
        in order, the others absent."""
        controls = TradingControls(max_order_quantity=5, price_collar_ticks=2)
        source = inspect.getsource(controls.check)
        self.assertLess(source.index("check_tick:"), source.index("check_size:"))
        self.assertLess(source.index("check_size:"), source.index("check_collar:"))
        self.assertNotIn("check_exposure:", source)
        self.assertNotIn("for check in", source)
        self.assertIn("check_size:", inspect.getsource(controls.check_replace))
        refused = controls.check(seto_pb2.OrderCreate(market_id=1, contract_id=1, side=BUY, price=2500, quantity=6))
        assert isinstance(refused, OrderRefused)
        self.assertEqual((refused.control, refused.figure), ("max_order_quantity", 6))

    def test_what_cannot_be_fused_is_refused(self) -> None:
        """A check that passes by a ``return None`` before its last line (the fused method
        would return there, the later checks unmet) or assigns an argument is refused with
        `FusionError`."""

        class Odd(TradingControls):
            def check_tick(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: Any, create: Any) -> OrderRefused | None:
                if price > 0:
                    return None
                return self._refuse("tick_ladder", None, price, create)

            def check_size(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: Any, create: Any) -> OrderRefused | None:
                quantity = 2 * quantity
                if quantity > 5:
                    return self._refuse("max_order_quantity", 5, quantity, create)
                return self._refuse("max_order_quantity", 5, quantity, create)

        odd = Odd(max_order_quantity=5)
        with self.assertRaises(FusionError) as raised:
            fuse(TradingControls.check, "_checks", [odd.check_tick])
        self.assertIn("returns None before its last line", str(raised.exception))
        with self.assertRaises(FusionError) as raised:
            fuse(TradingControls.check, "_checks", [odd.check_size])
        self.assertIn("assigns ['quantity']", str(raised.exception))
        # Such controls run the methods as written: the loop, a call a check.
        self.assertNotIn("check_tick:", inspect.getsource(odd.check))
        refused = odd.check(seto_pb2.OrderCreate(market_id=1, contract_id=1, side=BUY, price=0, quantity=1))
        assert isinstance(refused, OrderRefused)
        self.assertEqual(refused.control, "tick_ladder")

    def test_source_changed_since_the_import_is_not_fused(self) -> None:
        """A template whose file changed on disk since the import (a package upgraded
        under a running daemon) is not fused from the new text: the loop as it runs."""

        def check(self: Any, create: Any) -> Any:
            for check in self._checks:
                refused = check(create)
                if refused is not None:
                    return refused
            return None

        stale = types.FunctionType(check.__code__.replace(co_names=("_other",)), globals())
        with self.assertRaises(FusionError) as raised:
            fuse(stale, "_checks", [])
        self.assertIn("not what runs", str(raised.exception))
        self.assertIs(fused(stale, "_checks", []), stale)
