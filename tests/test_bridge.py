"""The bridge (`txsmarkets.bridge`): a streaming client trades through it on the embedded
exchange's HTTP API, over loopback TCP, as it would on today's Smarkets."""

from __future__ import annotations

import json
import pathlib
from typing import Any

from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.trial import unittest

from tests.daemons import until
from tests.support import close_client, global_reactor, inline
from tests.test_http_client_exchange import catalogue
from txsmarkets.backtest import run_backtest
from txsmarkets.bridge import RunningBridge, start_bridge
from txsmarkets.bridge.account import UpstreamAccount
from txsmarkets.bridge.state import BridgeState
from txsmarkets.client import BUY, IMMEDIATE_OR_CANCEL, SessionSettings, StreamingAPIClient, connect
from txsmarkets.exceptions import LoginError, OrderInvalid, OrderRejected, RequestRejected, RequestTimeout
from txsmarkets.exchange.catalogue import load_catalogue, parse_catalogue
from txsmarkets.exchange.recorded import read_recorded
from txsmarkets.exchange.service import RunningExchange, start_exchange
from txsmarkets.http_api import BUY as HTTP_BUY
from txsmarkets.http_api import SELL as HTTP_SELL
from txsmarkets.http_api import HTTPAPIClient
from txsmarkets.strategy import Strategy
from txsmarkets.testing import MemoryExchange
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

POLL = 0.05


class BridgeTestCase(unittest.TestCase):
    """An exchange serving the HTTP API (the upstream), a bridge in front of it, and
    streaming clients of the bridge; all closed at the end."""

    exchange: RunningExchange
    bridge: RunningBridge

    async def start(
        self, state_dir: str | None = None, endpoint: str = "tcp:0:interface=127.0.0.1", **exchange: Any
    ) -> None:
        self.exchange = await start_exchange(
            global_reactor(), catalogue=catalogue(), http="tcp:0:interface=127.0.0.1", **exchange
        )
        self.addCleanup(self.exchange.stop)
        await self.start_bridge(state_dir, endpoint)

    @property
    def upstream(self) -> str:
        return f"http://127.0.0.1:{self.exchange.http_port}/v3/"

    async def start_bridge(self, state_dir: str | None = None, endpoint: str = "tcp:0:interface=127.0.0.1") -> RunningBridge:
        self.bridge = await start_bridge(global_reactor(), self.upstream, endpoint, state_dir, poll_interval=POLL)
        self.addCleanup(self.bridge.stop)
        return self.bridge

    async def client(self, username: str = "trader", password: str | None = None, **options: Any) -> StreamingAPIClient:
        settings = SessionSettings(
            username, password or f"{username}-pw", host="127.0.0.1", port=self.bridge.port, ssl=False, **options
        )
        client = await connect(settings, global_reactor())
        client.session.settings.reconnect_initial_delay, client.session.settings.reconnect_jitter = 0.005, 0
        self.addCleanup(close_client, client)
        return client

    def upstream_client(self, username: str = "other") -> HTTPAPIClient:
        """A client of the upstream itself: the other side of the trades."""
        client = HTTPAPIClient(global_reactor(), username, f"{username}-pw", url=self.upstream)
        self.addCleanup(client.close)
        return client

    def account(self) -> UpstreamAccount:
        [account] = self.bridge.engine.accounts.values()
        return account

    async def polls(self, n: int = 3) -> None:
        """Wait for ``n`` more polls of the activity: whatever was to come has come."""
        account = self.account()
        target = account.polls + n
        await until(lambda: account.polls >= target, f"{n} polls")

    def collect(self, client: StreamingAPIClient, name: str) -> list[Any]:
        seen: list[Any] = []
        client.add_handler(name, lambda message: seen.append(message))
        return seen


class OrdersTests(BridgeTestCase):
    @inline
    async def test_an_order_fills_once_and_is_cancelled(self) -> None:
        await self.start()
        client = await self.client()
        fills = self.collect(client, "seto.order_executed")
        cancels = self.collect(client, "seto.order_cancelled")
        accepted = await client.create_order(10, 101, BUY, 2500, 100_000, reference=7, label="rest")
        order_id = accepted.order_accepted.order_id
        # The HTTP order id is the order id.
        [upstream_order] = (await self.upstream_client("trader").orders(id=[order_id])).items
        self.assertEqual(upstream_order.price, 2500)
        self.assertRegex(upstream_order.label, r"^rest#txb-[0-9a-f]{12}$")  # its own, to find it by
        self.assertEqual((accepted.order_accepted.reference, accepted.order_accepted.label), (7, "rest"))
        self.assertEqual(accepted.order_accepted.available_balance, 997.5)
        # The other side sells into it upstream: one fill, told once.
        await self.upstream_client().create_order(10, 101, HTTP_SELL, 2500, 40_000, type="immediate_or_cancel")
        await until(lambda: fills, "the fill")
        await self.polls()
        [fill] = fills
        executed = fill.order_executed
        self.assertEqual(
            (executed.order_id, executed.price, executed.quantity, executed.total_executed_quantity,
             executed.available_quantity, executed.executed_avg_price, executed.label),
            (order_id, 2500, 40_000, 40_000, 60_000, 2500, "rest"),
        )  # fmt: skip
        self.assertIn(order_id, client.account.orders)
        cancelled = await client.cancel_order(order_id)
        self.assertEqual(cancelled.order_cancelled.reason, seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED)
        self.assertEqual((cancelled.order_cancelled.executed_quantity, cancelled.order_cancelled.reference), (40_000, 7))
        await self.polls()
        self.assertEqual((len(fills), len(cancels)), (1, 1))
        self.assertNotIn(order_id, client.account.orders)
        self.assertEqual((await self.upstream_client("trader").orders(id=[order_id])).items[0].quantity_unfilled, 0)
        # Once cancelled, a cancel is refused without asking upstream.
        with self.assertRaises(RequestRejected) as refused:
            await client.cancel_order(order_id)
        self.assertEqual(refused.exception.reason, "ORDER_CANCEL_REJECTED_NOT_LIVE")

    @inline
    async def test_a_taker_fills_at_once_and_in_order(self) -> None:
        await self.start()
        client = await self.client()
        names: list[str] = []
        client.add_global_handler(lambda name, message: names.append(name) if name.startswith("seto.order") else None)
        await self.upstream_client().create_order(10, 102, HTTP_SELL, 4000, 50_000)
        accepted = await client.create_order(10, 102, BUY, 4000, 80_000, tif=IMMEDIATE_OR_CANCEL)
        await until(lambda: "seto.order_cancelled" in names, "the rest cancelled")
        await self.polls()
        self.assertEqual(names, ["seto.order_accepted", "seto.order_executed", "seto.order_cancelled"])
        self.assertNotIn(accepted.order_accepted.order_id, client.account.orders)

    @inline
    async def test_cancel_all(self) -> None:
        await self.start()
        client = await self.client()
        cancels = self.collect(client, "seto.order_cancelled")
        first = await client.create_order(20, 201, BUY, 2000, 10_000)
        second = await client.create_order(20, 202, BUY, 2000, 10_000)
        elsewhere = await client.create_order(30, 301, BUY, 2000, 10_000)
        answer = await client.cancel_all(market_id=20)
        self.assertEqual(answer.type, seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_ACCEPTED)
        await until(lambda: len(cancels) == 2, "two cancels")
        self.assertEqual(
            sorted((c.order_cancelled.order_id, c.order_cancelled.reason) for c in cancels),
            sorted((a.order_accepted.order_id, seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED) for a in (first, second)),
        )
        self.assertEqual(list(client.account.orders), [elsewhere.order_accepted.order_id])

    @inline
    async def test_rejections(self) -> None:
        await self.start()
        client = await self.client()
        with self.assertRaises(OrderRejected) as rejected:
            await client.create_order(99, 991, BUY, 2500, 10_000)
        self.assertEqual(rejected.exception.reason, "ORDER_REJECTED_MARKET_NOT_FOUND")
        with self.assertRaises(OrderRejected) as rejected:
            await client.create_order(10, 101, BUY, 2500, 2**32 - 1)
        self.assertEqual(rejected.exception.reason, "ORDER_REJECTED_INSUFFICIENT_FUNDS")
        with self.assertRaises(OrderInvalid) as invalid:
            await client.create_order(10, 101, BUY, 2501, 10_000)  # off the ladder
        self.assertEqual(invalid.exception.reasons, ["ORDER_INVALID_INVALID_PRICE"])
        with self.assertRaises(OrderInvalid):
            await client.create_order(10, 101, BUY, 2500, 2**32)  # more than the API takes
        accepted = await client.create_order(10, 101, BUY, 2500, 10_000)
        order_id = accepted.order_accepted.order_id
        # What the HTTP API cannot do, refused with the nearest reason.
        with self.assertRaises(RequestRejected) as refused:
            await client.reduce_quantity(order_id, 5_000)
        self.assertEqual(refused.exception.reason, "ORDER_QUANTITY_REDUCE_REJECTED_INVALID_NEW_QUANTITY")
        with self.assertRaises(RequestRejected) as refused:
            await client.cancel_replace(order_id, 2439, 10_000, force=True)
        self.assertEqual(refused.exception.reason, "ORDER_CANCEL_REPLACE_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE")
        with self.assertRaises(RequestRejected) as refused:
            await client.cancel_order(123456789)
        self.assertEqual(refused.exception.reason, "ORDER_CANCEL_REJECTED_NOT_FOUND")
        self.assertIn(order_id, client.account.orders)

    @inline
    async def test_what_the_upstream_allows_is_announced(self) -> None:
        await self.start()
        client = await self.client()
        limits = self.bridge.factory.throttle_limits().throttle_limits_changed
        self.assertEqual((limits.average_rate_ps, limits.burst_size), (10, 10))
        await until(lambda: client.throttle.rate is not None, "the announced limits")
        self.assertLessEqual(client.throttle.rate, 10)

    @inline
    async def test_passwords_are_never_logged(self) -> None:
        from twisted.logger import formatEvent, globalLogPublisher

        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        await self.start()
        with self.assertRaises(LoginError):
            await self.client("other", "a-wrong-secret")
        client = await self.client()
        await client.create_order(10, 101, BUY, 2500, 10_000)
        await self.polls()
        text = "\n".join(formatEvent(event) + repr(event) for event in events)
        self.assertIn("trader logged in", text)
        self.assertNotIn("trader-pw", text)
        self.assertNotIn("a-wrong-secret", text)

    @inline
    async def test_a_refused_login(self) -> None:
        await self.start()
        with self.assertRaises(LoginError):
            await self.client("trader", "wrong")
        self.assertEqual(self.bridge.engine.accounts, {})

    @inline
    async def test_a_lost_upstream_rejects_orders_at_once(self) -> None:
        await self.start()
        client = await self.client()
        account = self.account()
        await self.polls(1)
        port = self.exchange.http_port
        await self.exchange.http_listening.stopListening()
        assert self.exchange.http_site is not None
        # HttpSite.close_connections finds no transport on twisted.web's channel wrapper:
        # the channel's own is aborted.
        for protocol in list(self.exchange.http_site.connections):
            protocol._channel.transport.abortConnection()
        await until(lambda: account.lost, "the upstream lost")
        self.assertIn("1 accounts (1 with the upstream lost)", self.bridge.engine.status())
        with self.assertRaises(OrderRejected) as rejected:
            await client.create_order(10, 101, BUY, 2500, 10_000)
        self.assertEqual(rejected.exception.reason, "ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE")
        # The downstream session stays up, and orders go again once the upstream is back.
        self.assertTrue(client.session.connected)
        again = await endpoints.serverFromString(global_reactor(), f"tcp:{port}:interface=127.0.0.1").listen(
            self.exchange.http_site
        )
        self.addCleanup(again.stopListening)
        await until(lambda: not account.lost, "the upstream back")
        accepted = await client.create_order(10, 101, BUY, 2500, 10_000)
        self.assertTrue(accepted.order_accepted.order_id)


class FirstLoginTests(BridgeTestCase):
    @inline
    async def test_an_order_at_once_after_a_new_accounts_first_login_loses_no_fill(self) -> None:
        """A brand-new account's cursor is its newest row: a taker placed the moment its
        first login is answered fills after that row, and its fill is told; its past is not."""
        await self.start()
        past = await self.upstream_client("trader").create_order(10, 101, HTTP_BUY, 2000, 10_000)
        await self.upstream_client("trader").cancel_order(past.order_id)
        await self.upstream_client().create_order(10, 102, HTTP_SELL, 4000, 50_000)
        # If the bridge's first read of the account's activity comes after the login was
        # answered (the account has its client), it is held until an order has been placed
        # upstream: the order's fill is then among the rows taken for the account's past.
        # A read made before the login is answered goes at once.
        gate: Deferred[None] = Deferred()
        real_activity, real_create = HTTPAPIClient.activity, HTTPAPIClient.create_order
        reads: list[dict[str, Any]] = []

        def activity(client: HTTPAPIClient, **filters: Any) -> Any:
            reads.append(filters)
            answered = any(account.clients for account in self.bridge.engine.accounts.values())
            if len(reads) == 1 and answered:
                return gate.addCallback(lambda _: real_activity(client, **filters))
            return real_activity(client, **filters)

        def create_order(client: HTTPAPIClient, *args: Any, **kwargs: Any) -> Any:
            def placed(result: object) -> object:
                if not gate.called:
                    gate.callback(None)
                return result

            return real_create(client, *args, **kwargs).addCallback(placed)

        self.patch(HTTPAPIClient, "activity", activity)
        self.patch(HTTPAPIClient, "create_order", create_order)
        client = await self.client()
        names: list[str] = []
        client.add_global_handler(lambda name, message: names.append(name) if name.startswith("seto.order") else None)
        accepted = await client.create_order(10, 102, BUY, 4000, 80_000, tif=IMMEDIATE_OR_CANCEL)
        await until(lambda: "seto.order_cancelled" in names, "the rest cancelled")
        await self.polls()
        self.assertEqual(names, ["seto.order_accepted", "seto.order_executed", "seto.order_cancelled"])
        self.assertEqual(reads[0], {"sort": "-seq,-subseq", "limit": 1})
        self.assertNotIn(accepted.order_accepted.order_id, client.account.orders)


class LostAnswerTests(BridgeTestCase):
    def lose_create_answers(self, placed: bool) -> list[dict[str, Any]]:
        """Make the upstream's answers to order creates go missing (a timeout), each create
        placed first if ``placed``: the creates sent, each its arguments."""
        upstream = self.account().client
        real = upstream.create_order
        sent: list[dict[str, Any]] = []

        def create_order(*args: Any, **kwargs: Any) -> Any:
            sent.append(kwargs)
            if placed:
                d = real(*args, **kwargs)
            else:
                d = Deferred()
                d.callback(None)

            def lost(_: object) -> None:
                raise RequestTimeout("no answer")

            return d.addCallback(lost)

        upstream.create_order = create_order  # type: ignore[method-assign]
        return sent

    @inline
    async def test_a_create_placed_whose_answer_is_lost_is_accepted_late_then_filled_once(self) -> None:
        await self.start()
        client = await self.client()
        fills = self.collect(client, "seto.order_executed")
        sent = self.lose_create_answers(placed=True)
        accepted = await client.create_order(10, 101, BUY, 2500, 100_000, reference=9, label="late")
        order_id = accepted.order_accepted.order_id
        self.assertEqual((accepted.order_accepted.reference, accepted.order_accepted.label), (9, "late"))
        [upstream_order] = (await self.upstream_client("trader").orders(id=[order_id])).items
        self.assertEqual(upstream_order.label, sent[0]["label"])
        await self.upstream_client().create_order(10, 101, HTTP_SELL, 2500, 40_000, type="immediate_or_cancel")
        await until(lambda: fills, "the fill")
        await self.polls()
        self.assertEqual([(f.order_executed.order_id, f.order_executed.quantity) for f in fills], [(order_id, 40_000)])
        self.assertEqual(len(sent), 1)
        self.flushLoggedErrors()

    @inline
    async def test_a_create_not_placed_whose_answer_is_lost_is_rejected_after_the_look(self) -> None:
        await self.start()
        client = await self.client()
        sent = self.lose_create_answers(placed=False)
        with self.assertRaises(OrderRejected) as rejected:
            await client.create_order(10, 101, BUY, 2500, 100_000, label="never")
        self.assertEqual(rejected.exception.reason, "ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE")
        self.assertEqual(self.account().state.pending, {})
        self.assertEqual(len(sent), 1)
        self.flushLoggedErrors()


class DurableTests(BridgeTestCase):
    @inline
    async def test_no_fill_lost_or_doubled_across_a_restart(self) -> None:
        state_dir = self.mktemp()
        await self.start(state_dir)
        client = await self.client()
        fills = self.collect(client, "seto.order_executed")
        accepted = await client.create_order(10, 101, BUY, 2500, 100_000)
        order_id = accepted.order_accepted.order_id
        seller = self.upstream_client()
        await seller.create_order(10, 101, HTTP_SELL, 2500, 10_000, type="immediate_or_cancel")
        await until(lambda: len(fills) == 1, "the first fill")
        port = self.bridge.port
        saved = BridgeState.load(self.account().id, self.bridge.engine.state_dir / f"account-{self.account().id}.json")  # type: ignore[operator]
        self.assertEqual(list(saved.orders), [order_id])
        await self.bridge.stop()
        # While the bridge is down the order fills again upstream.
        await seller.create_order(10, 101, HTTP_SELL, 2500, 20_000, type="immediate_or_cancel")
        await self.start_bridge(state_dir, f"tcp:{port}:interface=127.0.0.1")
        await until(lambda: len(fills) == 2, "the fill made while the bridge was down")
        await self.polls()
        self.assertEqual([(f.order_executed.quantity, f.order_executed.total_executed_quantity) for f in fills],
                         [(10_000, 10_000), (20_000, 30_000)])
        # The order is still the client's, and can be cancelled through the new bridge.
        cancelled = await client.cancel_order(order_id)
        self.assertEqual(cancelled.order_cancelled.executed_quantity, 30_000)


    @inline
    async def test_a_create_under_way_when_the_bridge_stops_is_resolved_after_the_restart(self) -> None:
        state_dir = self.mktemp()
        await self.start(state_dir)
        client = await self.client()
        # One answer seen: the client resumes its account stream after it.
        await client.create_order(10, 101, BUY, 2000, 10_000)
        accepted = self.collect(client, "seto.order_accepted")
        fills = self.collect(client, "seto.order_executed")
        upstream = self.account().client
        real = upstream.create_order
        placed: list[Any] = []

        def create_order(*args: Any, **kwargs: Any) -> Deferred[Any]:
            # Placed upstream; its answer never comes before the bridge goes.
            real(*args, **kwargs).addCallback(placed.append)
            return Deferred()

        upstream.create_order = create_order  # type: ignore[method-assign]
        answer = client.create_order(10, 101, BUY, 2500, 100_000, label="restart")
        answer.addErrback(lambda _: None)  # the session ends with the bridge
        await until(lambda: placed, "the order placed upstream")
        port = self.bridge.port
        await self.bridge.stop()
        await self.start_bridge(state_dir, f"tcp:{port}:interface=127.0.0.1")
        await until(lambda: accepted, "the late order_accepted")
        [late] = accepted
        self.assertEqual((late.order_accepted.order_id, late.order_accepted.label), (placed[0].order_id, "restart"))
        await self.upstream_client().create_order(10, 101, HTTP_SELL, 2500, 40_000, type="immediate_or_cancel")
        await until(lambda: fills, "the fill")
        await self.polls()
        self.assertEqual([(f.order_executed.order_id, f.order_executed.quantity) for f in fills],
                         [(placed[0].order_id, 40_000)])  # fmt: skip
        self.assertEqual(len(accepted), 1)


class MarketDataTests(BridgeTestCase):
    @inline
    async def test_quotes_snapshot_then_changes(self) -> None:
        await self.start()
        client = await self.client()
        changes = self.collect(client, "seto.contract_quotes")
        snapshot = await client.subscribe(40)
        self.assertEqual(snapshot.market_quotes.market_id, 40)
        await self.upstream_client().create_order(40, 401, HTTP_SELL, 2000, 70_000)
        await until(
            lambda: any(q.price == 2000 and q.quantity == 70_000 for c in changes for q in c.contract_quotes.offers),
            "the offer in the quotes",
        )
        self.assertEqual({c.contract_quotes.market_id for c in changes}, {40})


class MarketStateTests(BridgeTestCase):
    @inline
    async def test_market_and_contract_states_from_the_catalogue(self) -> None:
        self.exchange = await start_exchange(global_reactor(), catalogue=catalogue(), http="tcp:0:interface=127.0.0.1")
        self.addCleanup(self.exchange.stop)
        self.bridge = await start_bridge(global_reactor(), self.upstream, market_data={"catalogue_interval": 0.1})
        self.addCleanup(self.bridge.stop)
        client = await self.client()
        states = self.collect(client, "seto.market_state")
        await client.subscribe(40)
        data = self.bridge.engine.market_data
        rounds = data.rounds
        await until(lambda: data.rounds >= rounds + 2, "the first states seen")
        self.exchange.engine.set_market_state(40, "halted")
        await until(lambda: states, "the halt")
        halted = states[0].market_state
        self.assertEqual(halted.state, seto_pb2.MARKET_STATE_HALTED)
        self.assertEqual({c.state for c in halted.contracts}, {seto_pb2.CONTRACT_STATE_HALTED})
        self.assertEqual(client.markets[40].state, seto_pb2.MARKET_STATE_HALTED)
        winner = halted.contracts[0].contract_id
        self.exchange.engine.settle_market(40, [winner])
        await until(lambda: len(states) == 2, "the settlement")
        settled = states[1].market_state
        self.assertEqual(settled.state, seto_pb2.MARKET_STATE_SETTLED)
        self.assertEqual({c.state for c in settled.contracts}, {seto_pb2.CONTRACT_STATE_SETTLED})
        self.assertEqual(len(settled.contracts), len(halted.contracts))


class ExecutionsTests(BridgeTestCase):
    """Trades upstream become executions in the bridge's market data, once, recorded so
    that a replay plays them."""

    timeout = 120

    @inline
    async def test_a_trade_upstream_is_one_execution_downstream_and_in_the_recording(self) -> None:
        self.exchange = await start_exchange(
            global_reactor(), catalogue=catalogue(), http="tcp:0:interface=127.0.0.1", http_rate_limits={"get_quotes": None}
        )
        self.addCleanup(self.exchange.stop)
        folder = pathlib.Path(self.mktemp()) / "recorded"
        self.bridge = await start_bridge(
            global_reactor(), self.upstream, record=folder,
            client_options={"limits": {"quotes": None}}, market_data={"quotes_limit": (20, 1.0)},
        )  # fmt: skip
        self.addCleanup(self.bridge.stop)
        client = await self.client()
        changes = self.collect(client, "seto.contract_quotes")
        await client.subscribe(40)
        await self.upstream_client().create_order(40, 401, HTTP_SELL, 2000, 70_000)
        await until(lambda: any(q.price == 2000 for c in changes for q in c.contract_quotes.offers), "the offer")
        # Someone takes 30,000 of it upstream.
        await self.upstream_client("trader").create_order(40, 401, HTTP_BUY, 2000, 30_000, type="immediate_or_cancel")
        data = self.bridge.engine.market_data
        await until(lambda: data.executions, "the execution")
        rounds = data.rounds
        await until(lambda: data.rounds >= rounds + 3, "three more rounds")
        told = [(e.price, e.quantity, e.liquidity) for c in changes for e in c.contract_quotes.executions]
        self.assertEqual(told, [(2000, 30_000, seto_pb2.SIDE_BUY)])
        [traded] = [c.contract_quotes for c in changes if c.contract_quotes.executions]
        self.assertEqual([(q.price, q.quantity) for q in traded.offers], [(2000, 40_000)])
        self.assertEqual((traded.last_execution.price, traded.last_execution.quantity), (2000, 30_000))
        self.assertEqual(client.markets[40].last_execution, (2000, 30_000))
        self.assertIn(", 1 executions read, ", self.bridge.engine.status())
        await until(lambda: 40 in recorded_markets(folder), "the recording's catalogue")
        await self.bridge.stop()
        # The recording holds it; a replay of the recording plays it.
        records = list(read_recorded(folder))
        recorded = [(e.price, e.quantity, e.liquidity) for _, p in records for e in p.contract_quotes.executions]
        self.assertEqual(recorded, [(2000, 30_000, seto_pb2.SIDE_BUY)])
        # Slowed down, so that its client has subscribed before the trade plays.
        speed = 0.01
        replay = MemoryExchange(load_catalogue(folder / "catalogue.json"), replay=records, speed=speed)
        watcher = replay.run(replay.connect("demo", "demo"))
        replayed = self.collect(watcher, "seto.contract_quotes")
        replay.run(watcher.subscribe(40))
        replay.advance((records[-1][0] - records[0][0]) / speed + 1)
        played = [(e.price, e.quantity, e.liquidity) for c in replayed for e in c.contract_quotes.executions]
        self.assertEqual(played, [(2000, 30_000, seto_pb2.SIDE_BUY)])
        self.assertEqual(replay.engine.last_execution(401)[:3], (2000, 30_000, seto_pb2.SIDE_BUY))


def event_catalogue() -> Any:
    """Event 7 with two markets, event 8 with one; the accounts trader and other."""
    accounts = [{"username": name, "password": f"{name}-pw", "balance": "1000.00"} for name in ("trader", "other")]
    events: list[dict[str, Any]] = [{"id": 100, "name": "Football", "type": "top_level_event"}]
    for event_id, market_ids in ((7, (70, 71)), (8, (80,))):
        events.append({
            "id": event_id, "name": f"Match {event_id}", "parent_id": 100, "type": "football_match",
            "markets": [{"id": m, "name": f"Market {m}", "contracts": [
                {"id": 10 * m + 1, "name": "Home"}, {"id": 10 * m + 2, "name": "Away"}]} for m in market_ids]})
    return parse_catalogue({"accounts": accounts, "events": events})


class EventSubscribeTests(BridgeTestCase):
    """An event_subscribe on the bridge subscribes the markets the upstream's catalogue
    has for the event."""

    async def start_events(self) -> StreamingAPIClient:
        self.exchange = await start_exchange(global_reactor(), catalogue=event_catalogue(), http="tcp:0:interface=127.0.0.1")
        self.addCleanup(self.exchange.stop)
        await self.start_bridge()
        return await self.client()

    @inline
    async def test_an_events_markets_are_subscribed(self) -> None:
        client = await self.start_events()
        snapshots = self.collect(client, "seto.market_quotes")
        changes = self.collect(client, "seto.contract_quotes")
        await client.subscribe_event(7)
        await until(lambda: len(snapshots) >= 2, "the event's markets' snapshots")
        self.assertEqual(sorted(s.market_quotes.market_id for s in snapshots), [70, 71])
        await self.upstream_client().create_order(71, 711, HTTP_SELL, 2500, 50_000)
        await until(lambda: any(c.contract_quotes.market_id == 71 for c in changes), "the offer in market 71")
        self.assertEqual({c.contract_quotes.market_id for c in changes}, {71})
        self.assertEqual(sorted(s.market_quotes.market_id for s in snapshots), [70, 71])

    @inline
    async def test_an_event_unsubscribed_before_its_markets_come_subscribes_nothing(self) -> None:
        client = await self.start_events()
        snapshots = self.collect(client, "seto.market_quotes")
        for kind, field in ((seto_pb2.PAYLOAD_EVENT_SUBSCRIBE, "event_subscribe"),
                            (seto_pb2.PAYLOAD_EVENT_UNSUBSCRIBE, "event_unsubscribe")):  # fmt: skip
            payload = new_payload(kind)
            getattr(payload, field).event_id = 7
            client.session.send(payload)
        data = self.bridge.engine.market_data
        await until(lambda: data.event_markets(7), "the event's markets looked up")
        # Anything sent for the event went before the answer to this.
        await client.subscribe(80)
        self.assertEqual([s.market_quotes.market_id for s in snapshots], [80])


class PollingCostTests(BridgeTestCase):
    """What polling costs is counted: each endpoint's requests against its limit, the 429s,
    the market data's age (the status line and `BridgeEngine.figures`)."""

    @inline
    async def test_requests_against_their_limits_and_the_age_of_the_market_data(self) -> None:
        await self.start()
        client = await self.client()
        changes = self.collect(client, "seto.contract_quotes")
        await client.subscribe(40)
        await self.upstream_client().create_order(40, 401, HTTP_SELL, 2000, 70_000)
        await until(lambda: changes, "a change of the quotes")
        accepted = await client.create_order(10, 101, BUY, 2500, 10_000)
        await client.cancel_order(accepted.order_accepted.order_id)
        engine = self.bridge.engine
        figures = engine.figures()
        by = {(e.scope, e.figures.endpoint): e.figures for e in figures.endpoints}
        scope = f"account {self.account().id}"
        quotes = by["bridge", "quotes"]
        self.assertEqual((quotes.limit, quotes.period, quotes.per_minute), (50, 60.0, 50.0))
        self.assertGreaterEqual(quotes.requests, 1)
        self.assertLessEqual(quotes.last_minute, 50)
        # The login is the bridge's (limited per address); the orders the account's.
        self.assertEqual((by["bridge", "login"].requests, by["bridge", "login"].per_minute), (1, 10.0))
        self.assertEqual((by[scope, "create_order"].requests, by[scope, "create_order"].per_minute), (1, None))
        self.assertEqual((by[scope, "cancel_order"].requests, by[scope, "cancel_order"].per_minute), (1, 600.0))
        self.assertGreaterEqual(by[scope, "activity"].last_minute, 1)
        self.assertEqual(figures.rate_limited, 0)
        # Each change handed downstream has its age: from its quotes request to the hand-over.
        self.assertGreaterEqual(figures.published, len(changes))
        assert figures.age_p50 is not None and figures.age_p99 is not None
        self.assertTrue(0 < figures.age_p50 <= figures.age_p99 < 30, figures)
        self.assertRegex(
            engine.status(),
            r"^bridge: 1 accounts \(0 with the upstream lost\), \d+ activity polls, \d+ quotes rounds every 1.2 s or more,"
            r" \d+ executions read, market data \d+\.\d s old, its age from request to downstream p50 \d+ ms p99 \d+ ms;"
            r" requests in the last minute \(against the limit\): bridge: account 1, contracts \d+, last_executed_prices \d+, login 1/10,"
            r" markets \d+, quotes \d+/50; account \d+: activity \d+, cancel_order 1/600, create_order 1; 429s 0$",
        )

    @inline
    async def test_a_429_from_the_upstream_is_counted_and_logged_as_a_bug(self) -> None:
        from twisted.logger import formatEvent, globalLogPublisher

        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        # An upstream stricter than the limit the bridge knows: 2 quotes in 3 s.
        await self.start(http_rate_limits={"get_quotes": (2, 3.0)})
        client = await self.client()
        await client.subscribe(40)
        engine = self.bridge.engine
        await until(lambda: engine.figures().rate_limited >= 1, "a 429")
        self.assertRegex(engine.status(), r"; 429s [1-9]\d*$")
        errors = [formatEvent(e) for e in events if e.get("log_level") is not None and e["log_level"].name == "error"]
        self.assertTrue(any("quotes rate limited (429)" in line and "(a bug;" in line for line in errors), errors)


class Watching(Strategy):
    """Subscribes to the demo's market 1 and keeps the best offer each change shows."""

    markets = (1,)

    def __init__(self) -> None:
        super().__init__()
        self.offers: list[int] = []

    def on_market(self, book: Any) -> None:
        self.offers.extend(c.best_offer for c in book.contracts.values() if c.best_offer is not None)


def recorded_markets(folder: pathlib.Path) -> dict[int, str]:
    """The names of the markets in a recording's catalogue, by id (none before it is written)."""
    path = folder / "catalogue.json"
    events = json.loads(path.read_text())["events"] if path.exists() else []
    return {m["id"]: m["name"] for e in events for m in e.get("markets", ())}


class RecordingTests(BridgeTestCase):
    """The upstream: the demo's markets with simulated traders, its quotes limit lifted."""

    timeout = 120

    async def start_simulated(self) -> None:
        self.exchange = await start_exchange(
            global_reactor(), http="tcp:0:interface=127.0.0.1", simulate=True, seed=7, http_rate_limits={"get_quotes": None}
        )
        self.addCleanup(self.exchange.stop)

    async def record(self, folder: pathlib.Path, market_id: int, changes: int = 20) -> list[Any]:
        """Record in ``folder`` through a new bridge while a client subscribes to
        ``market_id``, until the client has had ``changes`` changes of it and the catalogue
        has it; then stop the bridge. The changes the client had."""
        self.bridge = await start_bridge(
            global_reactor(), self.upstream, record=folder,
            client_options={"limits": {"quotes": None}}, market_data={"quotes_limit": (20, 1.0)},
        )  # fmt: skip
        self.addCleanup(self.bridge.stop)
        client = await self.client("demo", "demo")
        seen = self.collect(client, "seto.contract_quotes")
        await client.subscribe(market_id)
        await until(lambda: len(seen) >= changes and market_id in recorded_markets(folder), "polled changes")
        await self.bridge.stop()
        return seen

    @inline
    async def test_a_recording_through_the_bridge_backtests(self) -> None:
        """The bridge records what a client's subscription makes it poll; a backtest plays
        it, with the real names, and its strategy sees the polled prices."""
        await self.start_simulated()
        folder = pathlib.Path(self.mktemp()) / "recorded"
        changes = await self.record(folder, 1)
        self.assertEqual(recorded_markets(folder), {1: "Demo match: winner"})
        strategy = Watching()
        report = run_backtest(strategy, replay=folder, catalogue=folder / "catalogue.json")
        self.assertGreater(report.messages, 20)
        offered = {q.price for change in changes for q in change.contract_quotes.offers if q.quantity}
        # The first book it saw is the first poll's, which the bridge's client saw too.
        self.assertTrue(strategy.offers)
        self.assertIn(strategy.offers[0], offered)

    @inline
    async def test_a_second_recording_in_the_folder_keeps_the_first_markets(self) -> None:
        """A second bridge recording in the same folder adds its own file, and its catalogue
        holds the markets of both recordings."""
        await self.start_simulated()
        folder = pathlib.Path(self.mktemp()) / "recorded"
        await self.record(folder, 1, changes=1)
        first = sorted(folder.glob("recording.*.gz"))
        await self.record(folder, 2, changes=1)
        self.assertEqual(sorted(recorded_markets(folder)), [1, 2])
        files = sorted(folder.glob("recording.*.gz"))
        self.assertEqual((len(first), len(files)), (1, 2))


class Porting93Tests(BridgeTestCase):
    @inline
    async def test_the_9_3_quickstart_through_the_bridge(self) -> None:
        """9.3 code, written with the compatibility package as the porting guide says,
        trades on the HTTP API through the bridge."""
        from txsmarkets.streaming_api.api import SIDE_BID, OrderCreate, Session, SessionSettings, StreamingAPIClient

        await self.start()
        settings = SessionSettings("trader", "trader-pw")
        settings.host = "127.0.0.1"
        settings.port = self.bridge.port
        settings.ssl = False
        client = StreamingAPIClient(Session(settings, reactor=global_reactor()))
        self.addCleanup(close_client, client)
        executed: list[Any] = []
        client.add_handler("seto.order_executed", lambda message: executed.append(message.order_executed))
        await client.login()
        order = OrderCreate()
        order.quantity = 400000  # 40.0000 GBP payout
        order.price = 2500  # 25.00%
        order.side = SIDE_BID
        order.market_id = 10
        order.contract_id = 101
        accepted = client.order(order)
        client.flush()
        order_id = (await accepted).order_accepted.order_id
        await self.upstream_client().create_order(10, 101, HTTP_SELL, 2500, 400000, type="immediate_or_cancel")
        await until(lambda: executed, "the fill")
        self.assertEqual([(e.order_id, e.quantity, e.price) for e in executed], [(order_id, 400000, 2500)])
        self.assertNotIn(order_id, client.account.orders)
        await client.logout()
