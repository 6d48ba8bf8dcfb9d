"""The account reducer (`txsmarkets.trading.account`): one `apply` per account message,
orders with their status, time placed and bounded history; and what the client, a
strategy and a restored snapshot make of it."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from twisted.trial import unittest

from tests.test_client import FakeExchange, app, quotes
from tests.test_strategy import Recorder
from txsmarkets.client import BUY
from txsmarkets.client.state import AccountState, MarketBook
from txsmarkets.strategy import StrategyHost
from txsmarkets.trading.account import Account, Change, ChangeKind
from txsmarkets.trading.orders import LiveOrder, OrderStatus
from txsmarkets.wire import seto_pb2


def accepted(order_id: int, seq: int = 1, **body: Any) -> seto_pb2.Payload:
    return app(
        seto_pb2.PAYLOAD_ORDER_ACCEPTED, seq=seq, order_id=order_id, market_id=1, contract_id=11, side=BUY,
        price=2500, quantity=30000, **body,
    )


def executed(order_id: int, quantity: int, **body: Any) -> seto_pb2.Payload:
    return app(
        seto_pb2.PAYLOAD_ORDER_EXECUTED, order_id=order_id, quantity=quantity, price=2500, side=BUY, market_id=1,
        contract_id=11, **body,
    )


class ReducerTests(unittest.SynchronousTestCase):
    def test_accepted(self) -> None:
        """An acceptance makes a live order, placed at ``now``; the change says so."""
        account = Account()
        change = account.apply(accepted(5, available_balance=990.0), now=12.5)
        assert change is not None and change.order is not None
        self.assertEqual((change.kind, change.order_id, change.seq, change.money), (ChangeKind.ACCEPTED, 5, 1, True))
        self.assertIs(change.order, account.orders[5])
        self.assertEqual((change.order.status, change.order.placed_at), (OrderStatus.LIVE, 12.5))
        self.assertEqual(account.available_balance, Decimal("990.0"))

    def test_filled_in_full(self) -> None:
        """A fill of the whole order finishes it: status filled, into the history."""
        account = Account()
        account.apply(accepted(5))
        part = account.apply(executed(5, 10000))
        assert part is not None
        self.assertEqual((part.kind, part.quantity, part.price), (ChangeKind.EXECUTED, 10000, 2500))
        self.assertEqual(account.orders[5].status, OrderStatus.LIVE)
        account.apply(executed(5, 20000))
        self.assertNotIn(5, account.orders)
        order = account.history[5]
        self.assertEqual((order.status, order.done, order.filled), (OrderStatus.FILLED, True, 30000))
        self.assertIs(account.order(5), order)

    def test_cancelled_with_its_reason(self) -> None:
        """A cancellation says why."""
        account = Account()
        account.apply(accepted(5))
        change = account.apply(app(seto_pb2.PAYLOAD_ORDER_CANCELLED, order_id=5, reason=seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED))
        assert change is not None and change.order is not None
        self.assertEqual(change.order.status, OrderStatus.CANCELLED)
        self.assertEqual(change.order.reason, "ORDER_CANCELLED_MEMBER_REQUESTED")
        self.assertEqual(change.reason, "ORDER_CANCELLED_MEMBER_REQUESTED")
        self.assertIs(account.history[5], change.order)

    def test_rejected(self) -> None:
        """A rejected create gives a rejected order (no id) in the change, and no live one."""
        account = Account()
        create = seto_pb2.OrderCreate(market_id=1, contract_id=11, side=BUY, price=2500, quantity=30000)
        payload = app(seto_pb2.PAYLOAD_ORDER_REJECTED, seq=3, reason=seto_pb2.ORDER_REJECTED_INSUFFICIENT_FUNDS)
        change = account.apply(payload, create)
        assert change is not None and change.order is not None
        self.assertEqual((change.kind, change.seq, change.reason), (ChangeKind.REJECTED, 3, "ORDER_REJECTED_INSUFFICIENT_FUNDS"))
        self.assertEqual((change.order.status, change.order.price), (OrderStatus.REJECTED, 2500))
        self.assertEqual(account.orders, {})

    def test_voided_and_replaced(self) -> None:
        """A void finishes an order (a filled one's status too); a replace finishes the
        original and makes its successor live."""
        account = Account()
        account.apply(accepted(5))
        account.apply(executed(5, 30000))
        account.apply(app(seto_pb2.PAYLOAD_ORDER_VOIDED, order_id=5, quantity=30000, source_quantity=30000))
        self.assertEqual(account.history[5].status, OrderStatus.VOIDED)
        account.apply(accepted(6, seq=2, label="x"))
        change = account.apply(app(
            seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED, orig_order_id=6, order_id=7, market_id=1, contract_id=11,
            side=BUY, price=2600, quantity_left=30000,
        ), now=3.0)
        assert change is not None and change.previous is not None and change.order is not None
        self.assertEqual((change.previous.status, change.order.label, change.order.placed_at), (OrderStatus.REPLACED, "x", 3.0))
        self.assertEqual(list(account.orders), [7])

    def test_history_bounded(self) -> None:
        """The history keeps the newest finished orders, up to its size."""
        account = Account()
        account.history.size = 2
        for order_id in (1, 2, 3):
            account.apply(accepted(order_id, seq=order_id))
            account.apply(app(seto_pb2.PAYLOAD_ORDER_CANCELLED, order_id=order_id, reason=1))
        self.assertEqual(list(account.history), [2, 3])

    def test_not_an_account_message(self) -> None:
        self.assertIsNone(Account().apply(app(seto_pb2.PAYLOAD_MARKET_QUOTES, market_id=1)))

    def test_snapshot_round_trip_and_old_format(self) -> None:
        """A snapshot (JSON) restores statuses and history; an older one, without them,
        still reads."""
        account = Account()
        account.apply(accepted(5), now=1.0)
        account.apply(accepted(6, seq=2))
        account.apply(app(seto_pb2.PAYLOAD_ORDER_CANCELLED, order_id=6, reason=1))
        restored = AccountState()
        restored.restore(json.loads(json.dumps(account.snapshot())))
        self.assertEqual(restored.orders, account.orders)
        self.assertEqual(restored.history[6].status, OrderStatus.CANCELLED)
        old = {
            "available_balance": "10", "exposure": None,
            "orders": [{
                "order_id": 1, "market_id": 1, "contract_id": 11, "side": 1, "price": 2000, "quantity": 100000,
                "filled": 0, "avg_price": 0, "reference": None, "label": None, "done": False,
            }],
        }
        restored.restore(old)
        self.assertEqual(restored.orders[1], LiveOrder(1, 1, 11, 1, 2000, 100000))
        self.assertEqual(len(restored.history), 0)
        with self.assertRaises(ValueError):
            restored.restore({**old, "orders": [{"order_id": 1, "status": "bogus"}]})


class ClientTests(unittest.TestCase):
    def setUp(self) -> None:
        self.ex = FakeExchange()
        self.strategy = Recorder()
        self.states: list[Any] = []
        self.strategy.on_market_state = lambda book: self.states.append((book.market_id, book.state_name))  # type: ignore[method-assign]
        StrategyHost(self.ex.client, self.strategy).attach()
        self.changes: list[Change] = []
        self.ex.client.account_changed.add(lambda change: self.changes.append(change))
        self.ex.login()

    def test_placed_at_and_changes(self) -> None:
        """The client's account stamps an order with its clock's time when accepted, and
        hands each change to ``account_changed``."""
        self.ex.clock.advance(42)
        self.ex.client.create_order(1, 11, BUY, 2500, 30000)
        seq = [p for p in self.ex.sent() if p.type == seto_pb2.PAYLOAD_ORDER_CREATE][0].eto_payload.seq
        self.ex.send(app(seto_pb2.PAYLOAD_ORDER_ACCEPTED, seq=seq, order_id=5))
        self.assertEqual(self.ex.client.account.orders[5].placed_at, 42)
        self.ex.send(app(seto_pb2.PAYLOAD_ORDER_CANCELLED, order_id=5, reason=seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED))
        self.assertEqual([c.kind for c in self.changes], [ChangeKind.ACCEPTED, ChangeKind.CANCELLED])
        self.assertEqual(self.ex.client.account.history[5].status, OrderStatus.CANCELLED)

    def test_market_state(self) -> None:
        """A book knows its market's state; the strategy hears of each change."""
        self.ex.send(app(seto_pb2.PAYLOAD_MARKET_QUOTES, market_id=1))
        self.ex.send(quotes(1, 11, (2500, 10)))
        book: MarketBook = self.ex.client.markets[1]
        self.assertIsNone(book.state)
        self.ex.send(app(seto_pb2.PAYLOAD_MARKET_STATE, market_id=1, state=seto_pb2.MARKET_STATE_LIVE))
        self.assertEqual(book.state, seto_pb2.MARKET_STATE_LIVE)
        self.ex.send(app(seto_pb2.PAYLOAD_MARKET_STATE, market_id=1, state=seto_pb2.MARKET_STATE_HALTED))
        self.ex.send(app(seto_pb2.PAYLOAD_MARKET_STATE, market_id=2, state=seto_pb2.MARKET_STATE_HALTED))  # no book
        self.assertEqual(self.states, [(1, "live"), (1, "halted")])


class ExchangeFollowTests(unittest.SynchronousTestCase):
    """The account view and the controls against the embedded exchange, where what it says
    of a trade or an order is more than the usual answers."""

    def setUp(self) -> None:
        from txsmarkets.testing import MemoryExchange

        self.exchange = MemoryExchange()
        self.us = self.exchange.run(self.exchange.connect("demo", "demo"))
        self.them = self.exchange.run(self.exchange.connect("demo2", "demo2"))

    def test_a_voided_trade_leaves_the_account_and_the_controls(self) -> None:
        """``order_execute_voided``: the exchange takes one trade back. The account (the
        order's fill, balance and exposure) and the controls stop counting it: a create
        the void makes room for passes."""
        from txsmarkets.client import SELL
        from txsmarkets.controls import Controls

        exchange, us = self.exchange, self.us
        us.controls = controls = Controls(max_market_exposure=Decimal(30))
        seen: list[ChangeKind] = []
        us.account_changed.add(lambda change: seen.append(change.kind))
        sold = exchange.run(self.them.create_order(1, 11, SELL, 2500, 1_000_000)).order_accepted.order_id
        bought = exchange.run(us.create_order(1, 11, BUY, 2500, 1_000_000)).order_accepted.order_id
        exchange.flush()
        self.assertEqual((us.account.exposure, controls.market_exposure(1)), (Decimal(25), Decimal(25)))
        exchange.engine.void_execution(bought, sold, 2500, 1_000_000)
        exchange.flush()
        self.assertIn(ChangeKind.EXECUTION_VOIDED, seen)
        order = us.account.order(bought)
        assert order is not None
        self.assertEqual((order.filled, us.account.exposure, controls.market_exposure(1)), (0, 0, 0))
        self.assertEqual(us.account.available_balance, exchange.engine.accounts.by_username("demo").available_balance)
        exchange.run(us.create_order(1, 12, BUY, 2500, 400_000))  # £10: within £30 now

    def test_a_replace_that_fills_at_once(self) -> None:
        """A cancel-replace whose new order fills in full at once: the new order is in the
        account (filled, in the history), not lost with its fills."""
        from txsmarkets.client import SELL

        exchange, us = self.exchange, self.us
        exchange.run(self.them.create_order(1, 11, SELL, 2500, 100_000))
        original = exchange.run(us.create_order(1, 11, BUY, 2000, 100_000, label="mine")).order_accepted.order_id
        answer = exchange.run(us.cancel_replace(original, 2500, 100_000)).order_cancel_replace_accepted
        exchange.flush()
        self.assertEqual(answer.quantity_left, 0)
        order = us.account.order(answer.order_id)
        assert order is not None
        self.assertEqual(
            (order.filled, order.quantity, order.status, order.done, order.label),
            (100_000, 100_000, OrderStatus.FILLED, True, "mine"),
        )
        self.assertEqual(us.account.orders, {})
