"""The HTTP API client against the embedded exchange's HTTP API, over loopback HTTP (and
TLS): every operation, pages, a token expiring and the login again, a 429 and its wait,
order ids above 2**53, the second factor, rejections, and the certificate checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from urllib.parse import urlparse

from twisted.internet.defer import Deferred
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from tests.certs import make_certificates
from tests.daemons import until
from tests.http_document import check_response, have_document
from tests.support import global_reactor, inline
from txsmarkets.exceptions import ConnectionLost, OrderInvalid, OrderRejected, RequestRejected
from txsmarkets.exchange.catalogue import parse_catalogue
from txsmarkets.exchange.second_factor import totp
from txsmarkets.exchange.service import RunningExchange, start_exchange
from txsmarkets.http_api import BUY, SELL, HTTPAPIClient, LoginRefused
from txsmarkets.http_api.models import EventType

TOTP_SECRET = "JBSWY3DPEHPK3PXP"
MATCHES = range(1, 6)


def catalogue() -> Any:
    """A sport, a competition and five matches, each with a market of two contracts; a
    trader, a second trader, and an account with a second factor."""
    accounts = [
        {"username": "trader", "password": "trader-pw", "balance": "1000.00"},
        {"username": "other", "password": "other-pw", "balance": "1000.00"},
        {"username": "careful", "password": "careful-pw", "balance": "10.00", "totp_secret": TOTP_SECRET},
    ]
    events: list[dict[str, Any]] = [
        {"id": 100, "name": "Football", "type": "top_level_event"},
        {"id": 101, "name": "Premier League", "parent_id": 100, "type": "generic"},
    ]
    for n in MATCHES:
        events.append({
            "id": n, "name": f"Match {n}", "parent_id": 101, "type": "football_match", "domain": "football",
            "scope": "single_event", "start_datetime": f"2030-06-0{n}T19:45:00Z", "markets": [
                {"id": 10 * n, "name": f"Match {n}: winner", "market_type": "WINNER_2_WAY", "contracts": [
                    {"id": 100 * n + 1, "name": "Home", "contract_type": "HOME"},
                    {"id": 100 * n + 2, "name": "Away", "contract_type": "AWAY"}]}]})
    return parse_catalogue({"accounts": accounts, "events": events})


class DocumentCheckingHTTP:
    """A treq client whose every answer is checked against Smarkets' document
    (`tests.http_document.check_response`) before the client under test reads it."""

    def __init__(self, reactor: Any) -> None:
        from treq.client import HTTPClient
        from twisted.web.client import Agent, HTTPConnectionPool

        pool = HTTPConnectionPool(reactor)
        self.http = HTTPClient(Agent(reactor, pool=pool))
        self.close = pool.closeCachedConnections
        #: How many answers were checked.
        self.checked = 0

    def request(self, method: str, url: str, **options: Any) -> Deferred[Any]:
        # Buffered, so that the client under test reads the body after the check did.
        options["unbuffered"] = False
        return self.http.request(method, url, **options).addCallback(
            lambda response: Deferred.fromCoroutine(self._check(method, url, response))
        )

    async def _check(self, method: str, url: str, response: Any) -> Any:
        import treq

        body = await treq.content(response)
        content_type = response.headers.getRawHeaders(b"content-type", [b""])[0].decode()
        check_response(method, urlparse(url).path, response.code, body, content_type or None)
        self.checked += 1
        return response


class HTTPExchangeTestCase(unittest.TestCase):
    """An exchange serving the HTTP API per test, and clients of it closed at the end."""

    async def start(self, **options: Any) -> RunningExchange:
        options.setdefault("http", "tcp:0:interface=127.0.0.1")
        self.exchange = await start_exchange(global_reactor(), catalogue=catalogue(), **options)
        self.addCleanup(self.exchange.stop)
        return self.exchange

    def client(self, username: str | None = "trader", password: str | None = None, **options: Any) -> HTTPAPIClient:
        options.setdefault("url", f"http://127.0.0.1:{self.exchange.http_port}/v3/")
        if username is not None and password is None:
            password = f"{username}-pw"
        if have_document() and options["url"].startswith("http:") and "http" not in options:
            # Every answer the exchange gives these tests is checked against the document.
            checking = options["http"] = DocumentCheckingHTTP(global_reactor())
            self.addCleanup(checking.close)
            self.addCleanup(lambda: self.assertGreater(checking.checked, 0))
        client = HTTPAPIClient(global_reactor(), username, password, **options)
        self.addCleanup(client.close)
        return client

    def logged(self) -> list[str]:
        """The text of every log event from now on."""
        from twisted.logger import formatEvent

        lines: list[str] = []

        def observe(event: dict[str, Any]) -> None:
            lines.append(formatEvent(event))

        globalLogPublisher.addObserver(observe)
        self.addCleanup(globalLogPublisher.removeObserver, observe)
        return lines


class OperationsTests(HTTPExchangeTestCase):
    @inline
    async def test_the_catalogue_and_market_data(self) -> None:
        await self.start()
        client = self.client(None)  # public data: no session
        events = await client.events_pages(limit=2, type_scope=["single_event"], sort="start_datetime,id").collect()
        self.assertEqual([e.id for e in events], list(MATCHES))
        self.assertEqual((events[0].parent_id, events[0].start_datetime), (101, datetime(2030, 6, 1, 19, 45, tzinfo=timezone.utc)))
        typed = (await client.events(id=[1], with_new_type=True)).items[0]
        self.assertEqual(typed.type, EventType("football", "single_event"))
        markets = await client.markets_by_event(list(MATCHES))
        self.assertEqual([(m.id, m.event_id, m.market_type.name) for m in markets],  # type: ignore[union-attr]
                         [(10 * n, n, "WINNER_2_WAY") for n in MATCHES])
        self.assertEqual([m.id for m in await client.markets([20, 30])], [20, 30])
        self.assertEqual(await client.markets_count([1, 2, 101]), {1: 1, 2: 1, 101: 0})
        contracts = await client.contracts([10, 20])
        self.assertEqual([(c.id, c.market_id, c.contract_type.name) for c in contracts],  # type: ignore[union-attr]
                         [(101, 10, "HOME"), (102, 10, "AWAY"), (201, 20, "HOME"), (202, 20, "AWAY")])
        self.assertEqual([s.id for s in await client.event_states([1, 2])], [1, 2])
        self.assertIsInstance(await client.competitors([1]), list)
        self.assertEqual((await client.currency("EUR")).code, "EUR")
        self.assertEqual(set(await client.quotes([10, 20])), {101, 102, 201, 202})
        self.assertEqual(set(await client.last_executed_prices([10, 20])), {10, 20})

    @inline
    async def test_orders_and_the_account(self) -> None:
        await self.start()
        trader, other = self.client("trader"), self.client("other")
        created = await trader.create_order(10, 101, BUY, 2500, 100_000, label="rest")
        self.assertEqual((created.available_quantity, created.exposure, created.available_balance), (100_000, Decimal("-2.50"), Decimal("997.50")))
        books = await other.quotes([10])
        self.assertEqual([(level.price, level.quantity) for level in books[101].bids], [(2500, 100_000)])
        # The other account sells into it: a fill, seen in the orders and the activity.
        filled = await other.create_order(10, 101, SELL, 2500, 40_000, type="immediate_or_cancel")
        self.assertEqual((filled.total_executed_quantity, filled.executed_avg_price), (40_000, 2500))
        [order] = (await trader.orders(id=[created.order_id])).items
        self.assertEqual((order.state, order.quantity_filled, order.quantity_unfilled, order.label), ("partial", 40_000, 60_000, "rest"))
        self.assertEqual([p.last_executed_price for p in (await trader.last_executed_prices([10]))[10] if p.contract_id == 101], [2500])
        self.assertGreater((await trader.volumes([10]))[0].double_stake_volume, 0)
        account = await trader.account()
        self.assertEqual((account.currency, account.balance), ("GBP", Decimal("1000.00")))
        sources = [row.source for row in await trader.activity_pages(sort="seq,subseq", limit=1).collect()]
        self.assertIn("order.create", sources)
        self.assertIn("order.execute", sources)
        await trader.cancel_order(created.order_id)
        self.assertEqual((await trader.orders(id=[created.order_id])).items[0].quantity_unfilled, 0)
        await trader.create_order(20, 201, BUY, 2000, 50_000)
        await trader.cancel_all(market_id=20)
        self.assertEqual((await trader.quotes([20]))[201].bids, [])
        self.assertEqual((await trader.fullcover_orders()).items, [])
        hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        csv = await trader.activity_csv(hour, hour + timedelta(hours=1))
        self.assertTrue(csv.startswith(b"seq,"), csv[:40])
        await trader.logout()
        self.assertFalse(trader.session.logged_in)

    @inline
    async def test_orders_pages(self) -> None:
        await self.start()
        client = self.client()
        ids = [(await client.create_order(10 * n, 100 * n + 1, BUY, 2000, 10_000)).order_id for n in MATCHES]
        pages = [[o.id for o in page.items] async for page in client.orders_pages(limit=2)]
        self.assertEqual(pages, [ids[:2], ids[2:4], ids[4:]])

    @inline
    async def test_order_ids_above_2_to_the_53(self) -> None:
        first = 2**53 + 12_345
        await self.start(first_order_id=first)
        client = self.client()
        created = await client.create_order(10, 101, BUY, 2500, 10_000)
        self.assertEqual(created.order_id, first)
        self.assertEqual([o.id for o in (await client.orders(id=[first])).items], [first])
        await client.cancel_order(first)
        rows = (await client.activity(order_id=[first])).items
        self.assertTrue(rows and all(row.order_id == first for row in rows))

    @inline
    async def test_rejections_are_the_streaming_clients(self) -> None:
        await self.start()
        client = self.client()
        rejected = await self.assertFailure(client.create_order(10, 101, BUY, 2500, 10**9), OrderRejected)
        self.assertEqual((rejected.reason, rejected.status), ("ORDER_REJECTED_INSUFFICIENT_FUNDS", 400))
        invalid = await self.assertFailure(client.create_order(10, 101, BUY, 2501, 10_000), OrderInvalid)
        self.assertEqual(invalid.reasons, ["ORDER_INVALID_INVALID_PRICE"])
        refused = await self.assertFailure(client.cancel_order(77), RequestRejected)
        self.assertEqual((refused.reason, refused.status), ("ORDER_CANCEL_REJECTED_NOT_FOUND", 404))
        wrong = await self.assertFailure(self.client("trader", "not-the-password").account(), LoginRefused)
        self.assertEqual((wrong.status, wrong.reason), (401, "INVALID_CREDENTIALS"))


class SessionTests(HTTPExchangeTestCase):
    @inline
    async def test_the_second_factor(self) -> None:
        await self.start()
        reactor = global_reactor()
        asked: list[str] = []

        def code() -> str:
            asked.append("code")
            return totp(TOTP_SECRET, reactor.seconds())

        client = self.client("careful", second_factor=code)
        self.assertEqual((await client.account()).balance, Decimal("10.00"))
        self.assertEqual((asked, client.session.info.factor), (["code"], "complete"))  # type: ignore[union-attr]
        refused = await self.assertFailure(self.client("careful", second_factor=lambda: "000000").login(), LoginRefused)
        self.assertEqual(refused.reason, "INVALID_CREDENTIALS")

    @inline
    async def test_an_expired_token_logs_in_again_transparently(self) -> None:
        lifetime = 1.0
        await self.start(http_token_lifetime=lifetime)
        reactor = global_reactor()
        lines = self.logged()
        client = self.client()
        created = await client.create_order(10, 101, BUY, 2500, 10_000)
        # Its last use, as late as the exchange may have seen it.
        used = reactor.seconds()
        self.assertEqual(client.session.generation, 1)
        await until(lambda: reactor.seconds() > used + lifetime + 0.05, "the token's expiry on the exchange")
        # The client cannot know the exchange's shorter lifetime: its request gets a 401.
        await client.cancel_order(created.order_id)
        self.assertEqual(client.session.generation, 2)
        self.assertEqual([line for line in lines if "expired" in line], ["HTTP API session of trader expired: logging in again"])
        self.assertEqual((await client.quotes([10]))[101].bids, [])

    @inline
    async def test_a_429_is_waited_out(self) -> None:
        # The exchange allows two quotes reads a second; the client is told of no limit, so
        # the third gets a 429, which it waits out.
        await self.start(http_rate_limits={"get_quotes": (2, 1.0)})
        reactor = global_reactor()
        lines = self.logged()
        client = self.client(None, limits={"quotes": None})
        start = reactor.seconds()
        for _ in range(3):
            self.assertEqual(set(await client.quotes([10])), {101, 102})
        self.assertGreaterEqual(reactor.seconds() - start, 0.9)
        self.assertEqual(len([line for line in lines if "rate limited (429)" in line]), 1)
        # Counted where the client saw it: three quotes reads made, a fourth sent again.
        figures = client.limits.bucket("quotes").figures()
        self.assertEqual((figures.rate_limited, figures.requests, figures.last_minute), (1, 4, 4))


class TLSTests(HTTPExchangeTestCase):
    """TLS with the certificate and the hostname checked, by default."""

    async def tls_exchange(self) -> str:
        ca, server = make_certificates(self.mktemp(), "localhost")
        await self.start(http=f"ssl:0:interface=127.0.0.1:privateKey={server}")
        return ca

    @inline
    async def test_a_trusted_certificate_for_the_host(self) -> None:
        ca = await self.tls_exchange()
        client = self.client(None, url=f"https://localhost:{self.exchange.http_port}/v3/", ca_file=ca)
        self.assertEqual([m.id for m in await client.markets([10])], [10])

    @inline
    async def test_an_untrusted_certificate_or_another_host_is_refused(self) -> None:
        ca = await self.tls_exchange()
        port = self.exchange.http_port
        untrusted = self.client(None, url=f"https://localhost:{port}/v3/")
        await self.assertFailure(untrusted.markets([10]), ConnectionLost)
        wrong_host = self.client(None, url=f"https://127.0.0.1:{port}/v3/", ca_file=ca)
        await self.assertFailure(wrong_host.markets([10]), ConnectionLost)
