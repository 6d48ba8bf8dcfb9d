"""The exchange's remaining messages over real loopback TCP: market states, settlement,
voiding, events, unsubscribe, throttling, raw refusals, and ``twistd smarkets-exchange``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from typing import Any

from twisted.internet import defer, protocol
from twisted.trial import unittest

from tests.support import global_reactor, inline
from tests.test_daemon import ROOT, TWISTD, until
from tests.test_end_to_end import ExchangeTestCase
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.client import BUY, SELL, SessionSettings
from txsmarkets.exceptions import OrderRejected
from txsmarkets.client import connect
from txsmarkets.wire.framing import ULEB128StringReceiver
from txsmarkets.wire.messages import message_name, new_payload


class Collect:
    """Keeps what a client's handlers receive, and fires Deferreds on what a test awaits."""

    def __init__(self, client: Any) -> None:
        self.messages: list[tuple[str, Any]] = []
        self._waiting: list[tuple[Any, defer.Deferred[Any]]] = []
        client.add_global_handler(self._seen)

    def _seen(self, name: str, message: Any) -> None:
        self.messages.append((name, message))
        for entry in list(self._waiting):
            test, d = entry
            if test(name, message):
                self._waiting.remove(entry)
                d.callback(message)

    def seen(self, test: Any) -> defer.Deferred[Any]:
        """Fires with the first message, already received or still to come, passing ``test``."""
        for name, message in self.messages:
            if test(name, message):
                return defer.succeed(message)
        return self.next(test)

    def next(self, test: Any) -> defer.Deferred[Any]:
        """Fires with the next message for which ``test(name, message)`` is true."""
        d: defer.Deferred[Any] = defer.Deferred()
        self._waiting.append((test, d))
        return d


class MarketLifecycleTests(ExchangeTestCase):
    @inline
    async def test_state_settlement_and_balances(self) -> None:
        await self.start()
        engine = self.exchange.engine
        buyer = await self.client("demo", "demo")
        seller = await self.client("demo2", "demo2")
        seen = Collect(buyer)
        await buyer.subscribe(1)
        await seller.create_order(1, 11, SELL, 2500, 400000)
        await buyer.create_order(1, 11, BUY, 2500, 400000)
        await buyer.create_order(1, 12, BUY, 2000, 100000)  # left resting: cancelled at settlement

        halted = seen.next(lambda n, m: n == "seto.market_state" and m.market_state.state == seto_pb2.MARKET_STATE_HALTED)
        engine.set_market_state(1, "halted")
        state = await halted
        self.assertEqual(state.market_state.market_id, 1)
        with self.assertRaises(OrderRejected) as caught:
            await buyer.create_order(1, 11, BUY, 2500, 1000)
        self.assertEqual(caught.exception.reason, "ORDER_REJECTED_MARKET_HALTED")

        settled = seen.next(lambda n, m: n == "seto.balance_changed")
        engine.settle_market(1, [11])
        change = await settled
        # The buyer's £10.00 at 25% won £30.00; the seller lost it.
        self.assertEqual(change.balance_changed.available_balance, 1030.0)
        self.assertEqual(buyer.account.available_balance, 1030.0)
        self.assertEqual(buyer.account.orders, {})
        names = [name for name, _ in seen.messages]
        self.assertIn("seto.order_cancelled", names)
        states = [m.market_state.state for n, m in seen.messages if n == "seto.market_state"]
        self.assertEqual(states, [seto_pb2.MARKET_STATE_HALTED, seto_pb2.MARKET_STATE_SETTLED])
        self.assertEqual(float(engine.accounts.by_username("demo2").balance), 970.0)

    @inline
    async def test_void_returns_stakes(self) -> None:
        await self.start()
        engine = self.exchange.engine
        buyer = await self.client("demo", "demo")
        seller = await self.client("demo2", "demo2")
        seen = Collect(buyer)
        await seller.create_order(2, 21, SELL, 5000, 200000)
        await buyer.create_order(2, 21, BUY, 5000, 200000)
        voided = seen.next(lambda n, m: n == "seto.order_voided")
        engine.void_market(2)
        message = await voided
        self.assertEqual(message.order_voided.market_id, 2)
        await seen.seen(lambda n, m: n == "seto.balance_changed")
        self.assertEqual(float(engine.accounts.by_username("demo").available_balance), 1000.0)
        self.assertEqual(float(engine.accounts.by_username("demo2").available_balance), 1000.0)

    @inline
    async def test_event_subscribe_and_unsubscribe(self) -> None:
        await self.start()
        watcher = await self.client("demo", "demo")
        trader = await self.client("demo2", "demo2")
        seen = Collect(watcher)
        both = defer.gatherResults(
            [
                seen.next(lambda n, m: n == "seto.market_quotes" and m.market_quotes.market_id == 1),
                seen.next(lambda n, m: n == "seto.market_quotes" and m.market_quotes.market_id == 2),
            ]
        )
        await watcher.subscribe_event(1)
        await both
        self.assertEqual(sorted(watcher.markets), [1, 2])
        quoted = seen.next(lambda n, m: n == "seto.contract_quotes" and m.contract_quotes.market_id == 2)
        await trader.create_order(2, 22, BUY, 4000, 100000)
        delta = await quoted
        self.assertEqual([(q.price, q.quantity) for q in delta.contract_quotes.bids], [(4000, 100000)])
        self.assertEqual(watcher.markets[2].contracts[22].best_bid, 4000)

        await watcher.unsubscribe(2)
        await watcher.ping()  # the unsubscribe has reached the exchange once its pong is back
        before = len(seen.messages)
        await trader.create_order(2, 22, BUY, 4000, 100000)
        marker = seen.next(lambda n, m: n == "seto.contract_quotes" and m.contract_quotes.market_id == 1)
        await trader.create_order(1, 11, BUY, 2000, 100000)
        await marker
        later = [m for n, m in seen.messages[before:] if n == "seto.contract_quotes"]
        self.assertEqual([m.contract_quotes.market_id for m in later], [1])


class MarketLifecycleOverTLSTests(MarketLifecycleTests):
    tls = True


class ThrottleTests(ExchangeTestCase):
    @inline
    async def test_client_waits_its_turn(self) -> None:
        """With the exchange's limits announced, the client paces itself: nothing rejected."""
        await self.start(throttle_rate=20, throttle_burst=5)
        client = await self.client()
        await client.ping()  # the limits follow the login response; the pong follows them
        self.assertEqual(client.throttle.rate, 18.0)  # 90% of the exchange's 20
        answers = await defer.gatherResults([client.create_order(1, 11, BUY, 2000, 1000) for _ in range(15)])
        self.assertEqual(len(answers), 15)

    @inline
    async def test_exchange_rejects_over_the_limit(self) -> None:
        await self.start(throttle_rate=1, throttle_burst=2)
        client = await self.client()
        client.throttle.set_limits(None, 1)  # a client that ignores the announced limits
        results = await defer.DeferredList(
            [client.create_order(1, 11, BUY, 2000, 1000) for _ in range(4)], consumeErrors=True
        )
        reasons = [r.value.reason for ok, r in results if not ok]
        self.assertEqual(reasons, ["ORDER_REJECTED_THROTTLE_EXCEEDED"] * 2)
        seen = Collect(client)
        exceeded = seen.next(lambda n, m: n == "eto.throttle_exceeded")
        client.subscribe(1).addErrback(lambda f: None)
        await exceeded


class RawClient(ULEB128StringReceiver):
    """Speaks the wire by hand, to send what our client never would."""

    def __init__(self) -> None:
        self.received: list[seto_pb2.Payload] = []
        self.closed: defer.Deferred[None] = defer.Deferred()

    def stringReceived(self, string: bytes) -> None:
        self.received.append(seto_pb2.Payload.FromString(string))

    def connectionLost(self, reason: Any) -> None:
        self.closed.callback(None)

    def login(self, seq: int, password: str = "demo") -> None:
        payload = new_payload(seto_pb2.PAYLOAD_LOGIN)
        payload.eto_payload.seq = seq
        payload.eto_payload.type = eto_pb2.PAYLOAD_LOGIN
        payload.login.username = "demo"
        payload.login.password = password
        self.sendString(payload.SerializeToString())


class RefusalTests(ExchangeTestCase):
    async def raw(self) -> RawClient:
        reactor = global_reactor()
        factory = protocol.ClientFactory.forProtocol(RawClient)
        connected: defer.Deferred[RawClient] = protocol.ClientCreator(reactor, RawClient).connectTCP(
            "127.0.0.1", self.exchange.port
        )
        del factory
        return await connected

    def logout_reasons(self, client: RawClient) -> list[str]:
        return [
            eto_pb2.LogoutReason.Name(p.eto_payload.logout.reason)
            for p in client.received
            if message_name(p) == "eto.logout"
        ]

    @inline
    async def test_not_first_seq(self) -> None:
        await self.start()
        client = await self.raw()
        client.login(5)
        await client.closed
        self.assertEqual(self.logout_reasons(client), ["LOGOUT_LOGIN_NOT_FIRST_SEQ"])

    @inline
    async def test_login_timeout(self) -> None:
        await self.start(login_timeout=0.2)
        client = await self.raw()
        await client.closed
        self.assertEqual(self.logout_reasons(client), ["LOGOUT_LOGIN_TIMEOUT"])

    @inline
    async def test_heartbeat_timeout(self) -> None:
        await self.start(heartbeat_interval=0.1, heartbeat_misses=2)
        client = await self.raw()
        client.login(1)
        await client.closed
        self.assertEqual(self.logout_reasons(client), ["LOGOUT_HEARTBEAT_TIMEOUT"])
        self.assertIn("eto.heartbeat", [message_name(p) for p in client.received])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ExchangePluginTests(unittest.TestCase):
    def test_twistd_smarkets_exchange(self) -> None:
        """``twistd -n smarkets-exchange`` serves the demo: our client logs in and trades."""
        return defer.Deferred.fromCoroutine(self._serve_and_trade())

    async def _serve_and_trade(self) -> None:
        port = _free_port()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        log = open(self.mktemp(), "wb")
        process = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "--pidfile=", "-n", "smarkets-exchange", "--endpoint", f"tcp:{port}:interface=127.0.0.1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.addCleanup(process.wait)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        settings = SessionSettings("demo", "demo", host="127.0.0.1", port=port, ssl=False)

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        await until(listening, "the exchange to listen", timeout=30)
        client = await connect(settings, global_reactor())
        accepted = await client.create_order(1, 11, BUY, 2500, 400000)
        self.assertTrue(accepted.order_accepted.order_id)
        await client.logout()
        process.send_signal(signal.SIGTERM)
        await until(lambda: process.poll() is not None, "the exchange to stop", timeout=30)
