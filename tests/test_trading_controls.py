"""The trading controls' core (`txsmarkets.trading.controls`) on its own: no client, only
what attaching hands it (a book lookup, a way to cancel everything, a clock)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.test_client import app
from txsmarkets.client.state import MarketBook
from txsmarkets.exceptions import OrderRefused
from txsmarkets.trading.account import Account
from txsmarkets.trading.controls import TradingControls
from txsmarkets.trading.exposure import CountedOrder
from txsmarkets.wire import seto_pb2

BUY, SELL = seto_pb2.SIDE_BUY, seto_pb2.SIDE_SELL


def create(side: int, price: int, quantity: int) -> seto_pb2.OrderCreate:
    return seto_pb2.OrderCreate(market_id=1, contract_id=11, side=side, price=price, quantity=quantity)


class CoreTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.book = MarketBook(1)
        quotes = seto_pb2.ContractQuotes(contract_id=11)
        quotes.offers.add(price=2500, quantity=100000)
        self.book.update(quotes)
        self.cancels: list[str] = []
        self.account = Account()

    def controls(self, **limits: Any) -> TradingControls:
        controls = TradingControls(**limits)
        controls.bind({1: self.book}.get, lambda: self.cancels.append("all"), lambda: 0.0, lambda: None)
        return controls

    def live(self, controls: TradingControls, price: int, quantity: int) -> None:
        """A create counted, sent and accepted as order 5."""
        entry = controls.check(create(BUY, price, quantity))
        assert isinstance(entry, CountedOrder)
        controls.sent(entry, 1)
        accepted = app(seto_pb2.PAYLOAD_ORDER_ACCEPTED, seq=1, order_id=5, market_id=1, contract_id=11, side=BUY, price=price, quantity=quantity)
        change = self.account.apply(accepted)
        assert change is not None
        controls.apply(change)

    def test_no_client(self) -> None:
        """The core checks against the book it is handed, and counts from the account's
        changes: no client anywhere."""
        controls = self.controls(price_collar_ticks=1, max_account_exposure=Decimal(1))
        refused = controls.check(create(BUY, 2597, 10000))
        assert isinstance(refused, OrderRefused)
        self.assertEqual(refused.control, "price_collar_ticks")
        self.live(controls, 2500, 20000)
        self.assertEqual((controls.live_orders, controls.account_exposure), (1, Decimal("0.5")))

    def test_replace_meets_the_same_checks(self) -> None:
        """A cancel-replace that raises risk is refused by the very checks a create meets:
        the order's liability, the collar, the exposure limits."""
        for limits, price, quantity, control in (
            ({"max_order_liability": Decimal(1)}, 2500, 50000, "max_order_liability"),
            ({"price_collar_ticks": 1}, 2597, 20000, "price_collar_ticks"),
            ({"max_market_exposure": Decimal(1)}, 2500, 50000, "max_market_exposure"),
            ({"max_order_quantity": 30000}, 2500, 40000, "max_order_quantity"),
        ):
            self.account = Account()
            controls = self.controls(**limits)
            self.live(controls, 2500, 20000)
            replace = seto_pb2.OrderCancelReplace(orig_order_id=5, price=price, quantity=quantity)
            refused = controls.check_replace(replace)
            assert isinstance(refused, OrderRefused), (limits, refused)
            self.assertEqual(refused.control, control)
            self.assertEqual(controls.refusals[control], 1)

    def test_halt_cancels_through_what_it_was_handed(self) -> None:
        controls = self.controls()
        controls.halt("enough")
        self.assertEqual(self.cancels, ["all"])
        refused = controls.check(create(BUY, 2500, 10000))
        assert isinstance(refused, OrderRefused)
        self.assertEqual(refused.control, "kill_switch")
        controls.unbind()
        self.assertIsNone(controls.halt("again"))
