"""Real sessions over loopback TCP and TLS against the embedded exchange."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from twisted.internet import defer
from twisted.trial import unittest

from tests.certs import make_certificates
from tests.support import close_client, global_reactor, inline
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.encoded import contract_quotes
from txsmarkets.client import BUY, SELL, OrderCreate, SessionSettings, StreamingAPIClient
from txsmarkets.exceptions import ConnectionError, LoginError, OrderInvalid, OrderRejected
from txsmarkets.exchange.service import RunningExchange, start_exchange
from txsmarkets.client import connect


class ExchangeTestCase(unittest.TestCase):
    """Starts an exchange per test and closes everything it opened."""

    exchange: RunningExchange
    #: Run the tests of this class over TLS (a throwaway CA and a certificate for localhost).
    tls = False
    _ca: str | None = None

    async def start(self, endpoint: str = "tcp:0:interface=127.0.0.1", **options: Any) -> RunningExchange:
        if self.tls and endpoint.startswith("tcp:"):
            self._ca, server = make_certificates(self.mktemp(), "localhost")
            endpoint = "ssl:" + endpoint[len("tcp:") :] + f":privateKey={server}"
        self.exchange = await start_exchange(global_reactor(), endpoint, **options)
        self.addCleanup(self.exchange.stop)
        return self.exchange

    def settings(self, username: str = "demo", password: str = "demo", **options: Any) -> SessionSettings:
        if self._ca is not None:
            options.setdefault("ssl", True)
            options.setdefault("host", "localhost")
            options.setdefault("ca_file", self._ca)
        options.setdefault("ssl", False)
        options.setdefault("host", "127.0.0.1")
        return SessionSettings(username, password, port=self.exchange.port, **options)

    async def client(self, username: str = "demo", password: str = "demo", **options: Any) -> StreamingAPIClient:
        client = await connect(self.settings(username, password, **options), global_reactor())
        client.session.settings.reconnect_initial_delay, client.session.settings.reconnect_jitter = 0.005, 0
        self.addCleanup(close_client, client)
        return client


class QuickstartTests(ExchangeTestCase):
    @inline
    async def test_quickstart(self) -> None:
        """The 9.3 quickstart in Twisted form: login, handlers, ping, a buy, logout."""
        await self.start()
        settings = self.settings()
        from txsmarkets.client import Session

        session = Session(settings, reactor=global_reactor())
        client = StreamingAPIClient(session)
        self.addCleanup(close_client, client)
        seen: list[str] = []
        client.add_handler("eto.login_response", lambda message: seen.append("login_response"))
        client.add_global_handler(lambda name, message: seen.append(name))
        response = await client.login()
        self.assertTrue(response.eto_payload.login_response.session)
        self.assertEqual(seen[:2], ["login_response", "eto.login_response"])
        rtt = await client.ping()
        self.assertGreaterEqual(rtt, 0)
        order = OrderCreate()
        order.quantity = 400000
        order.price = 2500
        order.side = BUY
        order.market_id = 1
        order.contract_id = 11
        accepted = await client.order(order)
        self.assertEqual(accepted.order_accepted.price, 2500)
        self.assertIn(accepted.order_accepted.order_id, client.account.orders)
        self.assertEqual(client.account.available_balance, 990.0)
        await client.logout()
        self.assertFalse(session.connected)
        self.assertIn("seto.order_accepted", seen)
        self.assertIn("eto.pong", seen)

    @inline
    async def test_every_order_message(self) -> None:
        await self.start()
        client = await self.client()
        a = await client.create_order(1, 11, BUY, 2500, 400000, reference=1, label="a")
        order_id = a.order_accepted.order_id
        self.assertEqual((a.order_accepted.reference, a.order_accepted.label), (1, "a"))
        reduced = await client.reduce_quantity(order_id, 100000)
        self.assertEqual(reduced.order_quantity_reduced.new_quantity, 100000)
        replaced = await client.cancel_replace(order_id, 2439, 200000)
        new_id = replaced.order_cancel_replace_accepted.order_id
        self.assertEqual(client.account.orders[new_id].price, 2439)
        with self.assertRaises(OrderInvalid):
            await client.cancel_replace(new_id, 2400, 200000)
        cancelled = await client.cancel_order(new_id)
        self.assertEqual(cancelled.order_cancelled.order_id, new_id)
        self.assertEqual(client.account.orders, {})
        with self.assertRaises(Exception):
            await client.cancel_order(new_id)
        await client.create_order(1, 12, BUY, 2000, 100000)
        await client.create_order(2, 21, SELL, 5000, 100000)
        await client.cancel_all(market_id=1)
        await client.settings(True)
        with self.assertRaises(OrderInvalid):
            await client.create_order(1, 11, BUY, 2501, 0)
        with self.assertRaises(OrderRejected):
            await client.create_order(99, 11, BUY, 2500, 1)
        with self.assertRaises(OrderRejected):
            await client.create_order(1, 11, BUY, 2500, 10**12)

    @inline
    async def test_two_accounts_trade(self) -> None:
        await self.start()
        buyer = await self.client("demo", "demo")
        seller = await self.client("demo2", "demo2")
        snapshot = await buyer.subscribe(1)
        self.assertEqual(snapshot.market_quotes.market_id, 1)
        fills: list[Any] = []
        filled = defer.Deferred()

        def on_fill(message: Any) -> None:
            fills.append(message.order_executed)
            if len(fills) == 1:
                filled.callback(None)

        buyer.add_handler("seto.order_executed", on_fill)
        offer_gone: defer.Deferred[None] = defer.Deferred()

        def on_quotes(message: Any) -> None:
            quotes = message.contract_quotes
            if any(q.price == 2500 and q.quantity == 0 for q in quotes.offers) and not offer_gone.called:
                offer_gone.callback(None)

        buyer.add_handler("seto.contract_quotes", on_quotes)
        resting = await seller.create_order(1, 11, SELL, 2500, 400000)
        taking = await buyer.create_order(1, 11, BUY, 2500, 400000)
        await filled
        self.assertEqual(fills[0].price, 2500)
        self.assertEqual(fills[0].quantity, 400000)
        self.assertEqual(fills[0].order_id, taking.order_accepted.order_id)
        self.assertNotIn(taking.order_accepted.order_id, buyer.account.orders)
        # The buyer risks £10.00, the seller £30.00, both out of £1,000.00.
        engine = self.exchange.engine
        self.assertEqual(float(engine.accounts.by_username("demo").available_balance), 990.0)
        self.assertEqual(float(engine.accounts.by_username("demo2").available_balance), 970.0)
        await offer_gone
        self.assertNotIn(2500, buyer.markets[1].contracts[11].offers)
        self.assertTrue(resting.order_accepted.order_id)


class QuickstartOverTLSTests(QuickstartTests):
    tls = True


class FailureTests(ExchangeTestCase):
    @inline
    async def test_bad_credentials(self) -> None:
        await self.start()
        with self.assertRaises(LoginError) as caught:
            await connect(self.settings("demo", "wrong"), global_reactor())
        self.assertEqual(caught.exception.reason, "LOGOUT_UNAUTHORISED")
        self.assertNotIn("wrong", str(caught.exception))

    @inline
    async def test_nothing_listening(self) -> None:
        await self.start()
        port = self.exchange.port
        await self.exchange.stop()
        settings = SessionSettings("demo", "demo", host="127.0.0.1", port=port, ssl=False)
        with self.assertRaises(ConnectionError):
            await connect(settings, global_reactor())

    @inline
    async def test_tls_required_by_default(self) -> None:
        """A client with default settings will not speak plaintext to a plaintext server."""
        await self.start()
        settings = SessionSettings("demo", "demo", host="127.0.0.1", port=self.exchange.port)
        with self.assertRaises(ConnectionError):
            await connect(settings, global_reactor())


class TLSTests(ExchangeTestCase):
    @inline
    async def test_tls_session(self) -> None:
        ca, server = make_certificates(self.mktemp(), "localhost")
        await self.start(f"ssl:0:interface=127.0.0.1:privateKey={server}")
        client = await self.client(ssl=True, host="localhost", ca_file=ca)
        accepted = await client.create_order(1, 11, BUY, 2500, 400000)
        self.assertTrue(accepted.order_accepted.order_id)
        self.assertIsNotNone(client.session.raw_socket)

    @inline
    async def test_wrong_hostname_refused(self) -> None:
        ca, server = make_certificates(self.mktemp(), "elsewhere.example")
        await self.start(f"ssl:0:interface=127.0.0.1:privateKey={server}")
        settings = self.settings(ssl=True, host="localhost", ca_file=ca)
        with self.assertRaises(ConnectionError):
            await connect(settings, global_reactor())


class ResumeTests(ExchangeTestCase):
    @inline
    async def test_stream_survives_cuts(self) -> None:
        """10,000 account-stream messages, the connection cut at random points: each one
        reaches the handlers exactly once, in order."""
        await self.start()
        client = await self.client()
        account_id = self.exchange.engine.accounts.by_username("demo").id
        total = 10000
        got: list[int] = []
        done: defer.Deferred[None] = defer.Deferred()

        def on_balance(message: Any) -> None:
            got.append(int(message.balance_changed.reason))
            if len(got) == total:
                done.callback(None)

        client.add_handler("seto.balance_changed", on_balance)
        rng = random.Random(20261125)
        cuts = sorted(rng.sample(range(1, total), 12))
        reactor = global_reactor()
        sessions_before = set(self.exchange.factory.sessions)

        logins: list[int] = []
        resume_at: list[int] = []

        def on_login(message: Any) -> None:
            logins.append(len(got))
            if resume_at:
                reactor.callLater(0, produce, resume_at.pop())

        client.add_handler("eto.login_response", on_login)

        def produce(start: int) -> None:
            end = min(total, start + 250)
            for n in range(start, end):
                payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_BALANCE_CHANGED)
                payload.eto_payload.seq = 0
                payload.balance_changed.reason = str(n)
                payload.balance_changed.available_balance = 1000.0
                self.exchange.factory._account_message(account_id, payload)
                if cuts and n == cuts[0]:
                    cuts.pop(0)
                    # Alternate which side drops the connection; go on once logged in again,
                    # so that every cut hits a live session.
                    if n % 2:
                        client.session.protocol.transport.abortConnection()
                    else:
                        for protocol in list(self.exchange.factory.connections):
                            protocol.transport.abortConnection()
                    resume_at.append(n + 1)
                    return
            if end < total:
                reactor.callLater(0, produce, end)

        produce(0)
        await done
        self.assertEqual(got, list(range(total)))
        self.assertEqual(len(logins), 12)
        # The same session throughout: resumed, never started anew.
        self.assertEqual(set(self.exchange.factory.sessions), sessions_before)
        self.assertGreater(client.session.sequence.gaps, 0)

    @inline
    async def test_unknown_session_starts_anew(self) -> None:
        await self.start()
        client = await self.client()
        old = client.session.session_id
        for session in list(self.exchange.factory.sessions.values()):
            self.exchange.factory.end_session(session, failed=False)
        relogged: defer.Deferred[None] = defer.Deferred()
        client.add_handler("eto.login_response", lambda message: relogged.called or relogged.callback(None))
        client.session.protocol.transport.abortConnection()
        await relogged
        self.assertNotEqual(client.session.session_id, old)
        self.assertTrue(client.session.connected)


class ResumeOverTLSTests(ResumeTests):
    tls = True


class SlowClientTests(ExchangeTestCase):
    @inline
    async def test_client_that_stops_reading_is_dropped(self) -> None:
        """The exchange does not buffer without bound for a client that stopped reading."""
        await self.start(max_output_buffer=256 * 1024)
        client = await self.client()
        factory = self.exchange.factory
        (server_side,) = list(factory.connections)
        client.session.protocol.transport.pauseProducing()
        account_id = self.exchange.engine.accounts.by_username("demo").id
        payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_BALANCE_CHANGED)
        payload.eto_payload.seq = 0
        payload.balance_changed.reason = "x" * 1000
        payload.balance_changed.available_balance = 1.0
        await self.flood(client, server_side, lambda: factory._account_message(account_id, payload))

    async def flood(self, client: Any, server_side: Any, send: Callable[[], None]) -> None:
        """``send`` until the exchange drops ``server_side``, whose client has stopped
        reading; then the client reads again and hears the connection lost."""
        sent = 0
        # Far more than the socket buffers on both sides hold; bounded all the same.
        while not server_side._ended and sent < 200_000:
            send()
            sent += 1
        self.assertTrue(server_side._ended)
        self.assertLess(sent, 200_000)
        await server_side.closed
        lost = client.session.when_disconnected()
        client.session.protocol.transport.resumeProducing()
        await lost

    @inline
    async def test_client_that_stops_reading_market_data_is_dropped(self) -> None:
        """Market data, which goes straight to the transport while the client reads, is held
        to the same bound once it stops."""
        await self.start(max_output_buffer=256 * 1024)
        client = await self.client()
        factory = self.exchange.factory
        (server_side,) = list(factory.connections)
        assert server_side.session is not None
        market_id = next(iter(self.exchange.engine.market_ids()))
        factory.subscribe(server_side.session, market_id)
        client.session.protocol.transport.pauseProducing()
        levels = [(price, 1000) for price in range(1000, 1100)]
        data = contract_quotes(market_id, 1, levels, levels, None, None)
        await self.flood(client, server_side, lambda: factory._market_encoded(market_id, data))
