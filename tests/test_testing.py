"""txsmarkets.testing: the real exchange and clients in memory, on a Clock."""

from __future__ import annotations

from twisted.trial import unittest

from txsmarkets.client import BUY, SELL, OrderCreate, SessionState
from txsmarkets.exceptions import ConnectionError, LoginError, OrderRejected
from txsmarkets.testing import MemoryExchange


class MemoryExchangeTests(unittest.TestCase):
    def test_the_backtests_in_memory_exchange(self) -> None:
        """The test helpers give the exchange backtests run on, from its own module (which
        production code imports instead of the test helpers)."""
        import txsmarkets.inmemory
        import txsmarkets.testing

        for name in ("MemoryExchange", "MemoryReactor", "HOST", "PORT"):
            self.assertIs(getattr(txsmarkets.testing, name), getattr(txsmarkets.inmemory, name))

    def test_connect_order_and_logout(self) -> None:
        exchange = MemoryExchange()
        client = exchange.run(exchange.connect())
        self.assertIs(client.session.state, SessionState.LOGGED_IN)
        accepted = exchange.run(client.order(OrderCreate(1, 11, BUY, 2500, 400000)))
        order_id = accepted.order_accepted.order_id
        self.assertIn(order_id, client.account.orders)
        exchange.run(client.logout())
        self.assertIs(client.session.state, SessionState.CLOSED)

    def test_two_accounts_trade(self) -> None:
        exchange = MemoryExchange()
        buyer = exchange.run(exchange.connect("demo", "demo"))
        seller = exchange.run(exchange.connect("demo2", "demo2"))
        executed: list[int] = []
        buyer.add_handler("seto.order_executed", lambda message: executed.append(message.order_executed.quantity))
        exchange.run(buyer.order(OrderCreate(1, 11, BUY, 2500, 400000)))
        exchange.run(seller.order(OrderCreate(1, 11, SELL, 2500, 100000)))
        exchange.flush()
        self.assertEqual(executed, [100000])
        self.assertEqual(next(iter(buyer.account.orders.values())).filled, 100000)

    def test_cut_reconnects_and_resumes_exactly_once(self) -> None:
        exchange = MemoryExchange()
        client = exchange.run(exchange.connect())
        seen: list[int] = []
        client.add_handler("seto.order_accepted", lambda message: seen.append(message.order_accepted.order_id))
        ids = []
        for n in range(5):
            ids.append(exchange.run(client.order(OrderCreate(1, 11, BUY, 2500, 10000 + n))).order_accepted.order_id)
            exchange.cut(client)
            self.assertIsNot(client.session.state, SessionState.LOGGED_IN)
            exchange.advance(60)
            self.assertIs(client.session.state, SessionState.LOGGED_IN)
        self.assertEqual(seen, ids)
        self.assertEqual(client.session.logins, 6)

    def test_refused_login_fails(self) -> None:
        exchange = MemoryExchange()
        with self.assertRaises(LoginError):
            exchange.run(exchange.connect("demo", "wrong"))

    def test_exchange_not_listening(self) -> None:
        exchange = MemoryExchange()
        exchange.listening = False
        with self.assertRaises(ConnectionError):
            exchange.run(exchange.connect())
        # A daemon-style client waits for the exchange to come up instead.
        waiting = exchange.connect(fail_fast=False)
        exchange.advance(5)
        self.assertNoResult(waiting)
        exchange.listening = True
        client = exchange.run(waiting)
        self.assertTrue(client.session.connected)

    def test_max_retries(self) -> None:
        exchange = MemoryExchange()
        exchange.listening = False
        with self.assertRaises(ConnectionError) as caught:
            exchange.run(exchange.connect(fail_fast=False, max_retries=3))
        self.assertIn("after 3 attempts", str(caught.exception))

    def test_rejected_order(self) -> None:
        exchange = MemoryExchange()
        client = exchange.run(exchange.connect())
        with self.assertRaises(OrderRejected):
            exchange.run(client.order(OrderCreate(999, 11, BUY, 2500, 10000)))

    def test_run_times_out(self) -> None:
        exchange = MemoryExchange()
        client = exchange.run(exchange.connect())
        never = client.session.when_disconnected()
        with self.assertRaises(TimeoutError):
            exchange.run(never, timeout=10)
