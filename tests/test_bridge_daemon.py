"""``twistd smarkets-bridge`` as a real process, in front of ``twistd smarkets-exchange
--http --simulate``: a streaming client trades through it, its fills come exactly once
(the upstream's own activity is the count), also across a kill -9 of the bridge and a
restart on the same state folder; bad options are one line and exit 1."""

from __future__ import annotations

import json
import signal
import subprocess
from typing import Any

from twisted.internet import task
from twisted.trial import unittest

from tests.daemons import ROOT, DaemonTestCase, free_port, until
from tests.support import close_client, global_reactor, inline
from txsmarkets.client import BUY, SessionSettings, StreamingAPIClient, connect
from txsmarkets.http_api import SELL as HTTP_SELL
from txsmarkets.http_api import HTTPAPIClient

_NAME = "twistd smarkets-bridge: "
PRICE = 2500


class BridgeDaemonTests(DaemonTestCase):
    timeout = 180

    async def start_exchange(self) -> str:
        """``twistd smarkets-exchange --http --simulate`` on the demo catalogue whose market
        2 has no simulated traders and no halts (only our seller trades there); its HTTP
        API's URL once it serves."""
        demo = json.loads((ROOT / "txsmarkets" / "exchange" / "demo.json").read_text())
        for event in demo["events"]:
            for market in event.get("markets", []):
                if market["id"] == 2:
                    market["simulation"] = {
                        "makers": 0, "taker_rate": 0, "jump_rate": 0, "live_after": None, "settle_after": None,
                    }  # fmt: skip
        catalogue = self.folder / "catalogue.json"
        catalogue.write_text(json.dumps(demo))
        http = free_port()
        exchange = self.spawn(
            "--endpoint", "tcp:0:interface=127.0.0.1", "--http", f"tcp:{http}:interface=127.0.0.1", "--simulate",
            "--catalogue", str(catalogue), plugin="smarkets-exchange",
        )  # fmt: skip
        await until(lambda: "HttpSite starting on" in self.output(exchange), "the exchange's HTTP API")
        return f"http://127.0.0.1:{http}/v3/"

    async def start_bridge(self, upstream: str, port: int) -> subprocess.Popen[bytes]:
        bridge = self.spawn(
            "--upstream", upstream, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
            "--state-dir", str(self.state), "--poll-interval", "0.1", "--status-interval", "0.5",
            plugin="smarkets-bridge",
        )  # fmt: skip
        await until(lambda: "ExchangeServerFactory starting on" in self.output(bridge), "the bridge to listen")
        return bridge

    async def client(self, port: int) -> StreamingAPIClient:
        client = await connect(SessionSettings("demo", "demo", host="127.0.0.1", port=port, ssl=False), global_reactor())
        client.session.settings.reconnect_initial_delay, client.session.settings.reconnect_jitter = 0.05, 0
        self.addCleanup(close_client, client)
        return client

    def upstream_client(self, upstream: str, username: str) -> HTTPAPIClient:
        client = HTTPAPIClient(global_reactor(), username, username, url=upstream)
        self.addCleanup(client.close)
        return client

    @inline
    async def test_trading_through_the_bridge_and_a_kill(self) -> None:
        upstream = await self.start_exchange()
        port = free_port()
        bridge = await self.start_bridge(upstream, port)
        client = await self.client(port)
        fills: list[Any] = []
        client.add_handler("seto.order_executed", lambda message: fills.append(message.order_executed))
        accepted = await client.create_order(2, 21, BUY, PRICE, 100_000, label="bridged")
        order_id = accepted.order_accepted.order_id
        seller = self.upstream_client(upstream, "demo2")
        await seller.create_order(2, 21, HTTP_SELL, PRICE, 10_000, type="immediate_or_cancel")
        await until(lambda: len(fills) == 1, "the first fill")
        # kill -9 mid-trading; the order fills again while the bridge is down.
        bridge.send_signal(signal.SIGKILL)
        await self.exit_status(bridge)
        await seller.create_order(2, 21, HTTP_SELL, PRICE, 20_000, type="immediate_or_cancel")
        bridge = await self.start_bridge(upstream, port)
        await until(lambda: len(fills) == 2, "the fill made while the bridge was dead")
        cancelled = await client.cancel_order(order_id)
        self.assertEqual(cancelled.order_cancelled.executed_quantity, 30_000)
        # Exactly the upstream's fills of the order, each once, in order.
        owner = self.upstream_client(upstream, "demo")
        rows = await owner.activity_pages(order_id=[order_id], sort="seq,subseq", limit=100).collect()
        upstream_fills = [(row.price, row.quantity) for row in rows if row.source == "order.execute"]
        self.assertEqual([(f.price, f.quantity) for f in fills], upstream_fills)
        self.assertEqual([f.total_executed_quantity for f in fills], [10_000, 30_000])
        await until(lambda: "bridge: 1 accounts (0 with the upstream lost)" in self.output(bridge), "a status line")
        self.assertEqual(await self.stop(bridge), 0)

    @inline
    async def test_a_state_that_cannot_be_saved_stops_the_bridge(self) -> None:
        """Without its state the bridge cannot keep fills exactly once: it exits 1 with one
        line rather than go on telling fills it could tell again after a restart."""
        upstream = await self.start_exchange()
        port = free_port()
        bridge = await self.start_bridge(upstream, port)
        client = await self.client(port)
        fills: list[Any] = []
        client.add_handler("seto.order_executed", lambda message: fills.append(message.order_executed))
        await client.create_order(2, 21, BUY, PRICE, 100_000)
        # The state folder becomes a file: no state can be written in it. Moved away in one
        # step, not emptied and removed: the bridge may write a file in it meanwhile (each
        # save opens its file by path, so the next one fails).
        self.state.rename(self.state.with_name(self.state.name + ".gone"))
        self.state.write_text("not a folder")
        await self.upstream_client(upstream, "demo2").create_order(2, 21, HTTP_SELL, PRICE, 10_000, type="immediate_or_cancel")
        self.assertEqual(await self.exit_status(bridge, timeout=120), 1)
        self.assertIn(f"{_NAME}cannot save the state of account ", self.output(bridge))
        self.assertEqual(fills, [])  # not told: it was not saved

    @inline
    async def test_bad_options_are_one_line(self) -> None:
        for args, words in [
            ([], "--upstream URL is required"),
            (["--upstream", "ftp://example.com/"], "must be an http:// or https:// URL"),
            (["--upstream", "http://127.0.0.1:1/v3/", "--endpoint", "nonsense:3701"], "cannot use the endpoint"),
            (["--upstream", "http://127.0.0.1:1/v3/", "--poll-interval", "0"], "--poll-interval must be above 0"),
            (["--upstream", "http://127.0.0.1:1/v3/", "--status-interval", "-1"], "--status-interval must be 0 or more"),
            (["--upstreem", "x"], "did you mean --upstream?"),
            (["--upstream", "http://127.0.0.1:1/v3/", "--record", "/proc/no/such"], "cannot make the recording folder"),
        ]:
            process = self.spawn(*args, plugin="smarkets-bridge")
            self.assertEqual(await self.exit_status(process), 1, args)
            lines = [line for line in self.output(process).splitlines() if line.strip()]
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith(_NAME), lines)
            self.assertIn(words, lines[0])

    @inline
    async def test_a_port_in_use(self) -> None:
        import socket

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            process = self.spawn("--upstream", "http://127.0.0.1:1/v3/", "--endpoint", f"tcp:{port}:interface=127.0.0.1",
                                 plugin="smarkets-bridge")
            self.assertEqual(await self.exit_status(process), 1)
            self.assertIn(f"{_NAME}cannot listen", self.output(process))


class BridgeMetricsTests(DaemonTestCase):
    """``twistd smarkets-bridge --metrics``: what polling costs, scraped by Prometheus."""

    timeout = 180
    start_exchange = BridgeDaemonTests.start_exchange
    client = BridgeDaemonTests.client

    def setUp(self) -> None:
        from txsmarkets.metrics import available

        if not available():
            raise unittest.SkipTest("prometheus_client is not installed")
        super().setUp()

    @inline
    async def test_metrics_served(self) -> None:
        from twisted.web.client import Agent, readBody

        reactor = global_reactor()
        upstream = await self.start_exchange()
        port, metrics = free_port(), free_port()
        bridge = self.spawn(
            "--upstream", upstream, "--endpoint", f"tcp:{port}:interface=127.0.0.1",
            "--metrics", f"tcp:{metrics}:interface=127.0.0.1", "--poll-interval", "0.1", "--status-interval", "0.5",
            plugin="smarkets-bridge",
        )  # fmt: skip
        await until(lambda: "ExchangeServerFactory starting on" in self.output(bridge), "the bridge to listen")
        client = await self.client(port)
        await client.subscribe(1)  # simulated traders: its quotes change
        accepted = await client.create_order(2, 21, BUY, PRICE, 10_000)
        await client.cancel_order(accepted.order_accepted.order_id)

        async def scrape() -> dict[str, float]:
            response = await Agent(reactor).request(b"GET", f"http://127.0.0.1:{metrics}/metrics".encode())
            body = (await readBody(response)).decode()
            return {
                line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in body.splitlines() if line and not line.startswith("#")
            }

        scraped: dict[str, float] = {}

        async def two_rounds() -> bool:
            scraped.update(await scrape())
            return scraped.get('txsmarkets_bridge_requests_total{endpoint="quotes",scope="bridge"}', 0) >= 2 and any(
                key.startswith("txsmarkets_bridge_market_data_age_seconds") for key in scraped
            )

        deadline = reactor.seconds() + 60
        while not await two_rounds():
            self.assertLess(reactor.seconds(), deadline, "two rounds of quotes and an age in the metrics")
            await task.deferLater(reactor, 0.1)
        [account] = {key.split('scope="account ')[1].split('"')[0] for key in scraped if 'scope="account ' in key}
        self.assertEqual(scraped["txsmarkets_bridge_accounts"], 1.0)
        self.assertEqual(scraped["txsmarkets_bridge_accounts_lost"], 0.0)
        self.assertEqual(scraped['txsmarkets_bridge_request_limit_per_minute{endpoint="quotes",scope="bridge"}'], 50.0)
        self.assertEqual(scraped['txsmarkets_bridge_rate_limit{endpoint="quotes",scope="bridge"}'], 50.0)
        self.assertLessEqual(scraped['txsmarkets_bridge_requests_last_minute{endpoint="quotes",scope="bridge"}'], 50.0)
        self.assertEqual(scraped['txsmarkets_bridge_requests_total{endpoint="login",scope="bridge"}'], 1.0)
        scope = f'scope="account {account}"'
        self.assertEqual(scraped[f'txsmarkets_bridge_requests_total{{endpoint="create_order",{scope}}}'], 1.0)
        self.assertEqual(scraped[f'txsmarkets_bridge_requests_total{{endpoint="cancel_order",{scope}}}'], 1.0)
        self.assertEqual(scraped[f'txsmarkets_bridge_request_limit_per_minute{{endpoint="cancel_order",{scope}}}'], 600.0)
        self.assertGreaterEqual(scraped[f'txsmarkets_bridge_requests_total{{endpoint="activity",{scope}}}'], 1.0)
        self.assertGreaterEqual(scraped["txsmarkets_bridge_quotes_rounds_total"], 1.0)
        self.assertGreaterEqual(scraped["txsmarkets_bridge_market_data_published_total"], 1.0)
        p50 = scraped['txsmarkets_bridge_market_data_age_seconds{quantile="0.5"}']
        p99 = scraped['txsmarkets_bridge_market_data_age_seconds{quantile="0.99"}']
        self.assertTrue(0 < p50 <= p99 < 30, (p50, p99))
        # Not one 429: the bridge keeps to the upstream's limits.
        limited = {key: value for key, value in scraped.items() if key.startswith("txsmarkets_bridge_rate_limited_total")}
        self.assertTrue(limited)
        self.assertEqual(set(limited.values()), {0.0})
        await until(lambda: "; 429s 0" in self.output(bridge), "a status line")
        self.assertEqual(await self.stop(bridge), 0)

    @inline
    async def test_a_metrics_port_in_use(self) -> None:
        import socket

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            process = self.spawn("--upstream", "http://127.0.0.1:1/v3/", "--endpoint", f"tcp:{free_port()}:interface=127.0.0.1",
                                 "--metrics", f"tcp:{port}:interface=127.0.0.1", plugin="smarkets-bridge")  # fmt: skip
            self.assertEqual(await self.exit_status(process), 1)
            self.assertIn(f"{_NAME}cannot serve metrics on", self.output(process))


#: A strategy for ``twistd smarkets --http-api``: one resting buy on market 2, each fill said.
BUYER = '''
from txsmarkets.strategy import Strategy


class Buyer(Strategy):
    def start(self):
        d = self.client.create_order(2, 21, 1, %d, 100000, label="http-api")
        d.addCallback(lambda p: self.log.info("buyer: order {id} accepted", id=p.order_accepted.order_id))

    def on_order(self, order):
        if order.filled:
            self.log.info("buyer: order {id} filled {filled}", id=order.order_id, filled=order.filled)
''' % PRICE


class HTTPAPIDaemonTests(DaemonTestCase):
    """``twistd smarkets --http-api URL``: the daemon runs the bridge in its own process."""

    timeout = 180
    start_exchange = BridgeDaemonTests.start_exchange
    upstream_client = BridgeDaemonTests.upstream_client

    @inline
    async def test_a_strategy_order_fills(self) -> None:
        upstream = await self.start_exchange()
        (self.folder / "strategies" / "httpbuyer.py").write_text(BUYER)
        metrics = free_port()
        daemon = self.spawn(
            "--http-api", upstream, "--username", "demo", "--strategy", "httpbuyer:Buyer",
            "--state-dir", str(self.state), "--status-interval", "0.5",
            "--metrics", f"tcp:{metrics}:interface=127.0.0.1",
        )  # fmt: skip
        await until(lambda: "buyer: order" in self.output(daemon) and "accepted" in self.output(daemon), "the order")
        seller = self.upstream_client(upstream, "demo2")
        await seller.create_order(2, 21, HTTP_SELL, PRICE, 10_000, type="immediate_or_cancel")
        await until(lambda: "filled 10000" in self.output(daemon), "the fill, told to the strategy")
        await until(lambda: "live_orders=1" in self.output(daemon), "a status line")
        # The daemon's metrics have the bridge's figures beside its own.
        from twisted.web.client import Agent, readBody

        response = await Agent(global_reactor()).request(b"GET", f"http://127.0.0.1:{metrics}/metrics".encode())
        scraped = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in (await readBody(response)).decode().splitlines() if line and not line.startswith("#")
        }  # fmt: skip
        self.assertEqual((scraped["txsmarkets_live_orders"], scraped["txsmarkets_bridge_accounts"]), (1.0, 1.0))
        created = [value for key, value in scraped.items() if key.startswith('txsmarkets_bridge_requests_total{endpoint="create_order"')]
        self.assertEqual(created, [1.0])
        self.assertEqual(await self.stop(daemon), 0)
        self.assertEqual(self.output(daemon).count("filled 10000"), 1)
        # A restart on the same state folder (the bridge's in it) trades on, the order restored.
        again = self.spawn(
            "--http-api", upstream, "--username", "demo", "--strategy", "httpbuyer:Buyer",
            "--state-dir", str(self.state), "--status-interval", "0.5",
        )  # fmt: skip
        await until(lambda: "status: connected" in self.output(again), "the restarted daemon logged in")
        self.assertEqual(await self.stop(again), 0)

    @inline
    async def test_bad_options_are_one_line(self) -> None:
        for args, words in [
            (["--http-api", "ftp://example.com/"], "must be an http:// or https:// URL"),
            (["--http-api", "http://127.0.0.1:1/v3/", "--demo"], "--http-api and --demo cannot go together"),
            (["--http-api", "http://127.0.0.1:1/v3/", "--host", "example.com"], "--http-api and --host cannot go together"),
        ]:
            process = self.spawn("--username", "demo", *args)
            self.assertEqual(await self.exit_status(process), 1, args)
            lines = [line for line in self.output(process).splitlines() if line.strip()]
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith("twistd smarkets: "), lines)
            self.assertIn(words, lines[0])
