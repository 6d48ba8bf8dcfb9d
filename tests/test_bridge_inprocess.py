"""`connect_http`: a streaming client trades on the embedded exchange's HTTP API through a
bridge in its own process, joined to it in memory (no socket between client and bridge)."""

from __future__ import annotations

from typing import Any

from twisted.trial import unittest

from tests.daemons import until
from tests.support import global_reactor, inline
from tests.test_http_client_exchange import catalogue
from txsmarkets.bridge import connect_http, stop_http
from txsmarkets.client import BUY, SessionSettings, StreamingAPIClient
from txsmarkets.exceptions import LoginError
from txsmarkets.exchange.service import RunningExchange, start_exchange
from txsmarkets.http_api import SELL as HTTP_SELL
from txsmarkets.http_api import HTTPAPIClient

POLL = 0.05


class ConnectHTTPTests(unittest.TestCase):
    exchange: RunningExchange

    async def start(self) -> None:
        self.exchange = await start_exchange(global_reactor(), catalogue=catalogue(), http="tcp:0:interface=127.0.0.1")
        self.addCleanup(self.exchange.stop)

    @property
    def upstream(self) -> str:
        return f"http://127.0.0.1:{self.exchange.http_port}/v3/"

    async def connect(self, username: str = "trader", password: str | None = None) -> StreamingAPIClient:
        # Host and port name nothing that listens: the client reaches the bridge in memory.
        settings = SessionSettings(username, password or f"{username}-pw", host="127.0.0.1", port=1, ssl=True)
        client = await connect_http(settings, self.upstream, global_reactor(), poll_interval=POLL)
        self.addCleanup(stop_http, client)
        return client

    @inline
    async def test_an_order_fills_once(self) -> None:
        await self.start()
        client = await self.connect()
        prices: list[Any] = []
        client.add_handler("seto.market_quotes", lambda message: prices.append(message))
        fills: list[Any] = []
        client.add_handler("seto.order_executed", lambda message: fills.append(message))
        await client.subscribe(10)
        await until(lambda: bool(prices), "the market's quotes")
        accepted = await client.create_order(10, 101, BUY, 2500, 100_000, label="inprocess")
        order_id = accepted.order_accepted.order_id
        other = HTTPAPIClient(global_reactor(), "other", "other-pw", url=self.upstream)
        self.addCleanup(other.close)
        await other.create_order(10, 101, HTTP_SELL, 2500, 40_000, type="immediate_or_cancel")
        await until(lambda: bool(fills), "the fill")
        # A second fill, polled later, comes alone: the first is not told again.
        await other.create_order(10, 101, HTTP_SELL, 2500, 10_000, type="immediate_or_cancel")
        await until(lambda: len(fills) == 2, "the second fill")
        self.assertEqual(
            [(f.order_executed.order_id, f.order_executed.quantity, f.order_executed.label) for f in fills],
            [(order_id, 40_000, "inprocess"), (order_id, 10_000, "inprocess")],
        )
        self.assertEqual(client.account.orders[order_id].filled, 50_000)

    @inline
    async def test_a_refused_login(self) -> None:
        await self.start()
        with self.assertRaises(LoginError):
            await self.connect(password="wrong")
