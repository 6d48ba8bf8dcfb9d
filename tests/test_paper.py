"""Paper trading on polled prices (`txsmarkets.exchange.paper`) and catalogues of an
upstream's markets (`txsmarkets.exchange.upstream`, ``python -m
txsmarkets.exchange.fetch_catalogue``).

What polls mean (`PolledMarkets`) and the feed's schedule and back-off (`PaperFeed`) are
tested on a Clock with a stand-in client; the rest against a real upstream: the embedded
exchange with its HTTP API and simulated traders, on loopback, in this process and with
the paper exchange as a ``twistd`` process."""

from __future__ import annotations

import io
import json
import os
import pathlib
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial import unittest

from tests.daemons import free_port, until
from tests.http_support import tree_catalogue
from tests.support import global_reactor, inline
from tests.test_daemon import ROOT, TWISTD
from tests.test_replay import Fills
from txsmarkets.exceptions import ConnectionError as UpstreamDown
from txsmarkets.exceptions import ConnectionLost
from txsmarkets.exchange.catalogue import load_catalogue, parse_catalogue
from txsmarkets.exchange.fetch_catalogue import fetch, parser
from txsmarkets.exchange.paper import PaperFeed, PolledMarkets, RunningPaper, start_paper
from txsmarkets.exchange.replay import Replay
from txsmarkets.exchange.service import RunningExchange, start_exchange
from txsmarkets.exchange.upstream import UpstreamCatalogueError, markets_catalogue
from txsmarkets.http_api import BUY, AuthenticationError, HTTPAPIClient
from txsmarkets.http_api.models import Contract as HTTPContract
from txsmarkets.http_api.models import ContractQuotes
from txsmarkets.http_api.models import Event as HTTPEvent
from txsmarkets.http_api.models import LastExecutedPrice
from txsmarkets.http_api.models import Market as HTTPMarket
from txsmarkets.http_api.models import PriceLevel
from txsmarkets.http_api.units import structure
from txsmarkets.testing import MemoryExchange
from txsmarkets.wire import seto_pb2

T0 = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)
SIDE_SELL, SIDE_BUY = seto_pb2.SIDE_SELL, seto_pb2.SIDE_BUY


def book(bids: dict[int, int] | None = None, offers: dict[int, int] | None = None) -> ContractQuotes:
    """A contract's polled quotes."""
    return ContractQuotes(
        bids=[PriceLevel(p, q) for p, q in sorted((bids or {}).items(), reverse=True)],
        offers=[PriceLevel(p, q) for p, q in sorted((offers or {}).items())],
    )


def traded(contract_id: int, price: int | None, seconds: float) -> dict[int, list[LastExecutedPrice]]:
    """Last executed prices of market 1: ``contract_id`` at ``price``, ``seconds`` after T0."""
    return {1: [LastExecutedPrice(contract_id, price, T0 + timedelta(seconds=seconds))]}


def levels(quotes: seto_pb2.ContractQuotes) -> tuple[dict[int, int], dict[int, int]]:
    return {q.price: q.quantity for q in quotes.bids}, {q.price: q.quantity for q in quotes.offers}


def executions(payload: seto_pb2.Payload) -> list[tuple[int, int, int]]:
    return [(e.price, e.quantity, e.liquidity) for e in payload.contract_quotes.executions]


class PolledMarketsTests(unittest.TestCase):
    """What polls of the quotes and last executed prices become."""

    def setUp(self) -> None:
        self.polled = PolledMarkets({1: [11, 12, 13]})

    def test_first_poll_is_a_snapshot_without_trades(self) -> None:
        """The first poll is one market_quotes of every contract; placeholders off the
        ladder (Smarkets shows 1 and 9999) are left out; a price already traded is no
        trade of now."""
        quotes = {11: book({4000: 10, 1: 2147483646}, {5000: 20, 9999: 2147483646}), 12: book(offers={3030: 5})}
        [payload] = self.polled.payloads(quotes, traded(11, 5000, 0))
        self.assertEqual(payload.type, seto_pb2.PAYLOAD_MARKET_QUOTES)
        body = payload.market_quotes
        self.assertEqual(body.market_id, 1)
        shown = {c.contract_id: levels(c) for c in body.contract_quotes}
        self.assertEqual(shown, {11: ({4000: 10}, {5000: 20}), 12: ({}, {3030: 5}), 13: ({}, {})})
        self.assertFalse(any(c.executions for c in body.contract_quotes))

    def test_later_polls_are_the_changed_levels(self) -> None:
        """After the snapshot, a contract_quotes per contract that changed: the levels
        whose totals changed, 0 for a level gone; an unchanged contract says nothing."""
        self.polled.payloads({11: book({4000: 10}, {5000: 20}), 12: book({3000: 5})}, {})
        out = self.polled.payloads({11: book({4000: 10, 3906: 7}, {5102: 4}), 12: book({3000: 5})}, {})
        self.assertEqual([p.type for p in out], [seto_pb2.PAYLOAD_CONTRACT_QUOTES])
        self.assertEqual(out[0].contract_quotes.contract_id, 11)
        self.assertEqual(levels(out[0].contract_quotes), ({3906: 7}, {5000: 0, 5102: 4}))
        self.assertEqual(executions(out[0]), [])

    def test_a_new_price_at_the_offers_is_buyers_taking_what_the_levels_lost(self) -> None:
        """A last executed price at or above the best offer: buyers took the offers up to
        it, each level for what it lost; levels beyond the price are not trades."""
        self.polled.payloads({11: book({4000: 10}, {5000: 100, 5102: 50, 5208: 9})}, traded(11, 4000, 0))
        [out] = self.polled.payloads({11: book({4000: 10}, {5102: 20, 5208: 1})}, traded(11, 5102, 5))
        self.assertEqual(executions(out), [(5000, 100, SIDE_BUY), (5102, 30, SIDE_BUY)])
        self.assertEqual(out.contract_quotes.last_execution.price, 5102)
        self.assertEqual(out.contract_quotes.executions[0].microseconds, int((T0.timestamp() + 5) * 1_000_000))

    def test_a_new_price_at_the_bids_is_sellers(self) -> None:
        self.polled.payloads({11: book({4000: 10, 3906: 8}, {5000: 100})}, traded(11, 5000, 0))
        [out] = self.polled.payloads({11: book({3906: 3}, {5000: 100})}, traded(11, 3906, 1))
        self.assertEqual(executions(out), [(4000, 10, SIDE_SELL), (3906, 5, SIDE_SELL)])

    def test_what_cannot_be_placed_is_no_trade(self) -> None:
        """A price inside the spread, one whose levels lost nothing, or the same trade seen
        again, plays no execution; the first two are counted."""
        self.polled.payloads({11: book({4000: 10}, {5000: 100})}, traded(11, 4505, 0))
        self.assertEqual(self.polled.payloads({11: book({4000: 10}, {5000: 100})}, traded(11, 4505, 1)), [])
        self.assertEqual(self.polled.payloads({11: book({4000: 10}, {5000: 100})}, traded(11, 5000, 2)), [])
        self.assertEqual(self.polled.unplaced_trades, 2)
        [out] = self.polled.payloads({11: book({4000: 10}, {5000: 60})}, traded(11, 5000, 2))
        self.assertEqual(executions(out), [])

    def test_the_first_trade_of_a_contract_that_never_traded_is_read(self) -> None:
        """A contract polled before it ever traded (no price): its first price is a trade
        of now, not one of before the polls began."""
        never = {1: [LastExecutedPrice(11, None, None)]}
        self.polled.payloads({11: book({4000: 10}, {5000: 100})}, never)
        self.assertEqual(self.polled.payloads({11: book({4000: 10}, {5000: 100})}, never), [])
        [out] = self.polled.payloads({11: book({4000: 10}, {5000: 30})}, traded(11, 5000, 3))
        self.assertEqual(executions(out), [(5000, 70, SIDE_BUY)])

    def test_resync_gives_a_snapshot_again(self) -> None:
        self.polled.payloads({11: book({4000: 10})}, {})
        self.polled.resync()
        [payload] = self.polled.payloads({11: book({4000: 10})}, {})
        self.assertEqual(payload.type, seto_pb2.PAYLOAD_MARKET_QUOTES)

    def test_states_are_said_when_they_change(self) -> None:
        """A changed state is a market_state; unavailable is halted; other markets are
        not this feed's."""
        known = {1: "open"}
        market = _Market(1, "open")
        self.assertEqual(self.polled.states([market, _Market(2, "halted")], known), [])
        [payload] = self.polled.states([_Market(1, "unavailable")], known)
        self.assertEqual((payload.market_state.market_id, payload.market_state.state), (1, seto_pb2.MARKET_STATE_HALTED))
        self.assertEqual(known, {1: "halted"})


class _Market:
    """The part of a polled market that the feed reads."""

    def __init__(self, market_id: int, state: str) -> None:
        self.id = market_id
        self.state = state


class FakeUpstream:
    """What `PaperFeed` asks of its client, answered from attributes; ``down`` fails every
    request as a lost connection would. Counts the requests."""

    def __init__(self) -> None:
        self.quotes_now: dict[int, ContractQuotes] = {}
        self.prices_now: dict[int, list[LastExecutedPrice]] = {}
        self.states_now: dict[int, str] = {1: "open"}
        self.down = False
        self.prices_refused = False
        self.requests = 0
        #: As a client's `RateLimits`: no limit on the quotes.
        self.limits = _NoLimits()

    def _answer(self, value: Any) -> Deferred[Any]:
        self.requests += 1
        return fail(UpstreamDown("connection refused")) if self.down else succeed(value)

    def quotes(self, ids: list[int]) -> Deferred[Any]:
        return self._answer(dict(self.quotes_now))

    def last_executed_prices(self, ids: list[int]) -> Deferred[Any]:
        if self.prices_refused:
            self.requests += 1
            return fail(AuthenticationError(401, "AUTH_REQUIRED"))
        return self._answer(dict(self.prices_now))

    def markets(self, ids: list[int]) -> Deferred[Any]:
        return self._answer([_Market(i, s) for i, s in self.states_now.items()])


class _NoLimits:
    limits: dict[str, Any] = {}


class PaperFeedTests(unittest.TestCase):
    """A `PaperFeed` playing a stand-in upstream into a demo exchange on a Clock, the
    demo account logged in."""

    def setUp(self) -> None:
        self.exchange = MemoryExchange()
        self.replay = Replay(self.exchange.engine, self.exchange.clock, ())
        self.upstream = FakeUpstream()
        self.played: list[seto_pb2.Payload] = []
        self.recorded: list[tuple[seto_pb2.Payload, float]] = []

        def play(payload: seto_pb2.Payload) -> None:
            self.played.append(payload)
            self.replay.apply(payload)

        self.feed = PaperFeed(
            self.upstream, self.exchange.clock, {1: [11, 12, 13]}, {1: "open"}, play,  # type: ignore[arg-type]
            record=lambda p, t: self.recorded.append((p, t)), interval=1.0, state_interval=5.0, max_backoff=8.0,
        )  # fmt: skip
        self.client = self.exchange.run(self.exchange.connect("demo", "demo"))
        self.fills = Fills(self.client)
        self.exchange.run(self.client.subscribe(1))
        self.log: list[str] = []
        observer = lambda event: self.log.append(formatEvent(event)) if "paper" in (formatEvent(event) or "") else None  # noqa: E731
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        self.addCleanup(self.feed.stop)

    def poll(self, n: int = 1, seconds: float = 1.0) -> None:
        for _ in range(n):
            self.exchange.advance(seconds)

    def test_polls_play_and_record_every_interval(self) -> None:
        self.upstream.quotes_now = {11: book(offers={5000: 100000})}
        self.feed.start()
        self.exchange.run(succeed(None))
        self.assertEqual(self.feed.polls, 1)
        self.assertEqual(self.client.markets[1].contracts[11].offers[5000], 100000)
        self.upstream.quotes_now = {11: book(offers={5000: 70000})}
        self.poll()
        self.assertEqual(self.feed.polls, 2)
        self.assertEqual(self.client.markets[1].contracts[11].offers[5000], 70000)
        self.assertEqual([p for p, _ in self.recorded], self.played)
        self.assertEqual(self.feed.age, 0.0)

    def test_order_queued_behind_polled_quantity_fills_when_trades_go_through_it(self) -> None:
        """The queue model, fed live: a lay at 5000 rests behind the 100000 shown there;
        50000 more arrive behind it; then buyers take 130000 at 5000 upstream (the level
        falls to 20000 and 5000 is the last executed price): the 100000 ahead trade first,
        then the user's 30000."""
        self.upstream.quotes_now = {11: book(offers={5000: 100000})}
        self.upstream.prices_now = traded(11, 4000, 0)
        self.feed.start()
        accepted = self.exchange.run(self.client.create_order(1, 11, SIDE_SELL, 5000, 30000))
        order_id = accepted.order_accepted.order_id
        self.upstream.quotes_now = {11: book(offers={5000: 150000})}
        self.poll()
        self.assertEqual(self.fills.executed, [])
        self.upstream.quotes_now = {11: book(offers={5000: 20000})}
        self.upstream.prices_now = traded(11, 5000, 10)
        self.poll()
        self.assertEqual(self.fills.executed, [(order_id, 5000, 30000)])
        self.assertEqual(self.client.markets[1].contracts[11].offers[5000], 20000)

    def test_a_trade_that_does_not_reach_the_order_leaves_it_queued(self) -> None:
        """The same, but buyers take only 80000 of the 100000 ahead: no fill."""
        self.upstream.quotes_now = {11: book(offers={5000: 100000})}
        self.upstream.prices_now = traded(11, 4000, 0)
        self.feed.start()
        self.exchange.run(self.client.create_order(1, 11, SIDE_SELL, 5000, 30000))
        self.upstream.quotes_now = {11: book(offers={5000: 20000})}
        self.upstream.prices_now = traded(11, 5000, 10)
        self.poll()
        self.assertEqual(self.fills.executed, [])

    def test_a_crossing_order_fills_at_the_polled_prices(self) -> None:
        self.upstream.quotes_now = {11: book(offers={5000: 100000})}
        self.feed.start()
        accepted = self.exchange.run(self.client.create_order(1, 11, SIDE_BUY, 5000, 40000))
        self.assertEqual(self.fills.executed, [(accepted.order_accepted.order_id, 5000, 40000)])
        # What was taken is not offered again until the upstream's level changes.
        self.assertEqual(self.client.markets[1].contracts[11].offers[5000], 60000)
        self.poll()
        self.assertEqual(self.client.markets[1].contracts[11].offers[5000], 60000)

    def test_a_polled_halt_cancels_the_users_orders(self) -> None:
        self.upstream.quotes_now = {11: book(offers={5000: 100000})}
        self.feed.start()
        accepted = self.exchange.run(self.client.create_order(1, 11, SIDE_BUY, 4000, 40000))
        self.upstream.states_now = {1: "unavailable"}
        self.poll(5)
        self.assertEqual(self.fills.cancelled, [accepted.order_accepted.order_id])
        self.assertEqual(self.exchange.engine.market(1).state, "halted")  # type: ignore[union-attr]

    def test_a_lost_upstream_backs_off_says_so_and_comes_back_whole(self) -> None:
        """Failed polls are said and tried again after 2, 4, 8, 8 ... seconds (interval
        doubled, up to max_backoff); the session stays up; the first poll that works again
        replaces the books with a snapshot and says so."""
        self.upstream.quotes_now = {11: book(offers={5000: 100000})}
        self.feed.start()
        self.upstream.down = True
        self.poll()
        self.assertEqual(self.feed.failures, 1)
        times = [self.exchange.clock.seconds()]
        for _ in range(50):
            before = self.upstream.requests
            self.poll(seconds=0.5)
            if self.upstream.requests != before:
                times.append(self.exchange.clock.seconds())
        self.assertEqual([b - a for a, b in zip(times, times[1:])], [2.0, 4.0, 8.0, 8.0])
        self.assertIn("lost", self.log[0])
        self.assertIn("stale", self.log[0])
        self.assertIn("polling again in 2 s", self.log[0])
        self.assertIn("still lost after 2 polls", self.log[1])
        # The session is up: it trades on the books as last polled.
        accepted = self.exchange.run(self.client.create_order(1, 11, SIDE_BUY, 5000, 1000))
        self.assertEqual(self.fills.executed, [(accepted.order_accepted.order_id, 5000, 1000)])
        played = len(self.played)
        self.upstream.down = False
        self.upstream.quotes_now = {11: book(offers={5102: 5})}
        for _ in range(10):
            if not self.feed.failures:
                break
            self.poll()
        self.assertEqual(self.feed.failures, 0)
        self.assertEqual(self.played[played].type, seto_pb2.PAYLOAD_MARKET_QUOTES)
        self.assertEqual(dict(self.client.markets[1].contracts[11].offers), {5102: 5})
        self.assertTrue(any("is back after 5 failed polls" in line for line in self.log), self.log)

    def test_last_executed_prices_refused_without_an_account(self) -> None:
        """Should the upstream want a session for its last executed prices (the document
        says so), the books alone move: said once, and not asked again."""
        self.upstream.prices_refused = True
        self.upstream.quotes_now = {11: book(offers={5000: 100000})}
        self.feed.start()
        self.upstream.quotes_now = {11: book(offers={5000: 90000})}
        self.poll(3)
        self.assertEqual(self.feed.failures, 0)
        self.assertEqual(self.feed.polls, 4)
        self.assertEqual(self.client.markets[1].contracts[11].offers[5000], 90000)
        self.assertEqual(len([line for line in self.log if "refuses its last executed prices" in line]), 1)
        self.assertEqual(self.upstream.requests, 4 + 1 + 1)  # quotes, prices once, states once

    def test_stop_polls_no_more(self) -> None:
        self.feed.start()
        self.feed.stop()
        before = self.upstream.requests
        self.poll(10)
        self.assertEqual(self.upstream.requests, before)


def count_requests(exchange: RunningExchange) -> list[tuple[bytes, bytes, bool]]:
    """Every request the exchange's HTTP API answers from now on: (method, path, whether
    it carried a token)."""
    seen: list[tuple[bytes, bytes, bool]] = []
    site: Any = exchange.http_site
    site.log = lambda request: seen.append(
        (request.method, request.path, request.getHeader(b"authorization") is not None)
    )
    return seen


class UpstreamTestCase(unittest.TestCase):
    """An upstream: the embedded exchange with its HTTP API and simulated traders on the
    demo's markets (its quotes limit lifted, so that tests may poll fast)."""

    timeout = 120

    async def start_upstream(self, **options: Any) -> str:
        options.setdefault("simulate", True)
        options.setdefault("seed", 7)
        self.upstream = await start_exchange(
            global_reactor(), http="tcp:0:interface=127.0.0.1", http_rate_limits={"get_quotes": None}, **options
        )
        self.addCleanup(self.upstream.stop)
        self.requests = count_requests(self.upstream)
        return f"http://127.0.0.1:{self.upstream.http_port}/v3/"

    def quotes_requests(self) -> int:
        return sum(1 for _, path, _ in self.requests if path.endswith(b"/quotes/"))

    def assertNoOrderReachedUpstream(self) -> None:
        """Only public reads, with no token, reached the upstream: no order, cancel or login."""
        self.assertTrue(self.requests)
        self.assertEqual({method for method, _, _ in self.requests}, {b"GET"})
        self.assertFalse([path for _, path, _ in self.requests if b"/orders" in path or b"/sessions" in path])
        self.assertFalse([path for _, path, token in self.requests if token])


class PaperLoopbackTests(UpstreamTestCase):
    @inline
    async def test_paper_fills_with_no_order_request_upstream(self) -> None:
        """A paper exchange on the upstream's markets 1 and 2, through its own HTTP API:
        the real names, a buy at the polled best offer filled here, and nothing but public
        reads upstream."""
        url = await self.start_upstream()
        client = HTTPAPIClient(global_reactor(), url=url, limits={"quotes": None})
        paper: RunningPaper = await start_paper(
            global_reactor(), url, [1, 2], client=client, http="tcp:0:interface=127.0.0.1", interval=0.1
        )
        self.addCleanup(paper.stop)
        self.assertEqual(sorted(paper.exchange.engine.market_ids()), [1, 2])
        user = HTTPAPIClient(global_reactor(), "demo", "demo", url=f"http://127.0.0.1:{paper.exchange.http_port}/v3/")
        self.addCleanup(user.close)
        self.assertEqual([m.name for m in await user.markets([1])], ["Demo match: winner"])
        book_11: Any = paper.exchange.engine.book(11)
        await until(lambda: bool(book_11.offers.levels), "polled offers on contract 11")
        best = (await user.quotes([1]))[11].offers[0]
        created = await user.create_order(1, 11, BUY, best.price, min(best.quantity, 10000))
        self.assertEqual(created.total_executed_quantity, min(best.quantity, 10000))
        self.assertGreater(paper.feed.polls, 0)
        self.assertNoOrderReachedUpstream()

    @inline
    async def test_lost_upstream_keeps_the_sessions_and_comes_back(self) -> None:
        """The upstream stops: the paper exchange says so and backs off, its user goes on
        trading on the stale books; the upstream starts again on its port: the polls go
        on, whole."""
        port = free_port()
        await self.start_upstream(seed=3)
        await self.upstream.stop()
        endpoint = f"tcp:{port}:interface=127.0.0.1"
        self.upstream = await start_exchange(global_reactor(), http=endpoint, simulate=True, seed=3)
        self.addCleanup(lambda: self.upstream.stop())
        url = f"http://127.0.0.1:{port}/v3/"
        said: list[str] = []
        observer = lambda event: said.append(formatEvent(event) or "")  # noqa: E731
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        client = HTTPAPIClient(global_reactor(), url=url, limits={"quotes": None}, timeout=2.0)
        paper = await start_paper(
            global_reactor(), url, [1], client=client, http="tcp:0:interface=127.0.0.1", interval=0.05, max_backoff=0.4
        )
        self.addCleanup(paper.stop)
        user = HTTPAPIClient(global_reactor(), "demo", "demo", url=f"http://127.0.0.1:{paper.exchange.http_port}/v3/")
        self.addCleanup(user.close)
        book_11: Any = paper.exchange.engine.book(11)
        await until(lambda: bool(book_11.offers.levels), "polled offers on contract 11")
        await self.upstream.stop()
        await until(lambda: paper.feed.failures >= 3, "three failed polls")
        self.assertTrue([line for line in said if line.startswith(f"paper: lost {url}") and "stale" in line], said)
        best = (await user.quotes([1]))[11].offers[0]
        created = await user.create_order(1, 11, BUY, best.price, min(best.quantity, 10000))
        self.assertEqual(created.total_executed_quantity, min(best.quantity, 10000))
        polls = paper.feed.polls
        self.upstream = await start_exchange(global_reactor(), http=endpoint, simulate=True, seed=4)
        await until(lambda: paper.feed.polls > polls + 2, "polls again")
        self.assertEqual(paper.feed.failures, 0)
        self.assertTrue([line for line in said if line.startswith(f"paper: {url} is back after")], said)

    @inline
    async def test_a_stopped_upstream_drops_its_kept_alive_connections(self) -> None:
        """`RunningExchange.stop` closes the HTTP connections a client keeps open between
        requests: a request on one fails (it went on being answered by the stopped
        exchange, whose HttpSite looked for the transport on the channel's proxy)."""
        url = await self.start_upstream(simulate=False)
        client = HTTPAPIClient(global_reactor(), url=url)
        self.addCleanup(client.close)
        await client.quotes([1])
        await self.upstream.stop()
        with self.assertRaises(Exception) as raised:
            await client.quotes([1])
        self.assertIsInstance(raised.exception, (UpstreamDown, ConnectionLost))

    @inline
    async def test_unknown_market_fails_to_start(self) -> None:
        url = await self.start_upstream(simulate=False)
        with self.assertRaises(UpstreamCatalogueError) as raised:
            await start_paper(global_reactor(), url, [1, 999])
        self.assertEqual(str(raised.exception), "the upstream has no market 999")


class FetchCatalogueTests(UpstreamTestCase):
    """The catalogue of an upstream's markets, as ``fetch_catalogue`` writes it."""

    async def fetched(self, *argv: str) -> Any:
        url = await self.start_upstream(simulate=False, catalogue=tree_catalogue())
        text = await fetch(global_reactor(), parser().parse_args(["--upstream", url, "-o", "-", *argv]))
        data = json.loads(text)
        parse_catalogue(data)
        self.assertNoOrderReachedUpstream()
        return data

    @staticmethod
    def markets(data: Any) -> dict[int, list[int]]:
        return {e["id"]: [m["id"] for m in e["markets"]] for e in data["events"] if "markets" in e}

    @inline
    async def test_filters_and_the_tree_above(self) -> None:
        """A sport, a start window and a limit: the matches' real ids, names, types and
        markets, the competition and sport above them, and the demo's accounts."""
        data = await self.fetched(
            "--event-type", "football", "--start-after", "2030-06-01T14:00:00Z",
            "--start-before", "2030-06-02T00:00:00Z", "--limit", "3",
        )  # fmt: skip
        self.assertEqual(self.markets(data), {3: [3], 4: [4], 5: [5]})
        events = {e["id"]: e for e in data["events"]}
        self.assertEqual(sorted(events), [3, 4, 5, 100, 101])
        self.assertEqual(events[3]["name"], "Match 03")
        self.assertEqual(events[3]["parent_id"], 101)
        self.assertEqual(events[101]["parent_id"], 100)
        self.assertEqual(events[3]["type"], "football_match")
        market = events[3]["markets"][0]
        self.assertEqual((market["name"], market["market_type"], market["state"]), ("Match 03: winner", "WINNER_3_WAY", "open"))
        self.assertEqual([(c["id"], c["name"]) for c in market["contracts"]], [(31, "Home"), (32, "Draw"), (33, "Away")])
        self.assertEqual([a["username"] for a in data["accounts"]], ["demo", "demo2"])

    @inline
    async def test_event_ids_types_and_states(self) -> None:
        data = await self.fetched("--event-ids", "7,9", "--event-type", "football_match", "--state", "upcoming")
        self.assertEqual(self.markets(data), {7: [7], 9: [9]})
        none = json.loads(await fetch(global_reactor(), parser().parse_args(
            ["--upstream", f"http://127.0.0.1:{self.upstream.http_port}/v3/", "-o", "-", "--state", "settled", "--no-accounts"])))  # fmt: skip
        self.assertEqual(none, {"accounts": [], "events": []})

    @inline
    async def test_market_ids(self) -> None:
        data = await self.fetched("--market-ids", "12,2")
        self.assertEqual(self.markets(data), {2: [2], 12: [12]})


NOW = "2030-06-01T12:00:00Z"


def http_event(event_id: str, parent: str | None, kind: Any, state: str = "upcoming") -> HTTPEvent:
    return structure(HTTPEvent, {
        "id": event_id, "name": f"Event {event_id}", "short_name": None, "slug": f"e-{event_id}",
        "full_slug": f"/e/{event_id}", "parent_id": parent, "state": state, "type": kind, "hidden": False,
        "start_date": None, "start_datetime": NOW, "end_date": None, "created": NOW, "modified": NOW,
    })  # fmt: skip


def http_market(market_id: str, event_id: str, state: str = "open") -> HTTPMarket:
    return structure(HTTPMarket, {
        "id": market_id, "event_id": event_id, "name": f"Market {market_id}", "slug": f"m-{market_id}",
        "state": state, "market_type": {"name": "WINNER_2_WAY"}, "bet_delay": 0, "complete": True,
        "winner_count": 1, "hidden": False, "display_type": "default", "cashout_enabled": False,
        "created": NOW, "modified": NOW,
    })  # fmt: skip


def http_contract(contract_id: str, market_id: str) -> HTTPContract:
    return structure(HTTPContract, {
        "id": contract_id, "market_id": market_id, "name": f"Contract {contract_id}", "slug": f"c-{contract_id}",
        "state_or_outcome": "open", "outcome_timestamp": None, "created": NOW, "modified": NOW,
    })  # fmt: skip


class _Pages:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def collect(self) -> Deferred[list[Any]]:
        return succeed(self.items)


class FakeCatalogueUpstream:
    """The catalogue endpoints `upstream` asks, answered from lists."""

    def __init__(self, events: list[HTTPEvent], markets: list[HTTPMarket], contracts: list[HTTPContract]) -> None:
        self.events, self.markets_, self.contracts_ = events, markets, contracts

    def markets(self, ids: list[int]) -> Deferred[list[HTTPMarket]]:
        return succeed([m for m in self.markets_ if m.id in ids])

    def contracts(self, ids: list[int]) -> Deferred[list[HTTPContract]]:
        return succeed([c for c in self.contracts_ if c.market_id in ids])

    def events_pages(self, id: list[int], **filters: Any) -> _Pages:  # noqa: A002 - the API's name
        return _Pages([e for e in self.events if e.id in id])


class UpstreamCatalogueTests(unittest.TestCase):
    """What the embedded exchange cannot hold is changed or left out, never guessed at."""

    def catalogue(self, fake: FakeCatalogueUpstream, ids: list[int]) -> Any:
        return markets_catalogue(fake, ids)  # type: ignore[arg-type]

    @inline
    async def test_states_and_types_it_does_not_have(self) -> None:
        """``unavailable`` is halted; an unknown legacy type, an unknown event state and a
        market without contracts are left out; the tree above is followed."""
        fake = FakeCatalogueUpstream(
            [http_event("1", "2", "darts_league_night", state="postponed"), http_event("2", None, "top_level_event")],
            [http_market("10", "1", state="unavailable"), http_market("11", "1")],
            [http_contract("101", "10"), http_contract("102", "10")],
        )
        with self.assertRaises(UpstreamCatalogueError) as raised:
            await self.catalogue(fake, [10, 11])
        self.assertEqual(str(raised.exception), "the upstream's market 11 has no contracts")
        data = await self.catalogue(fake, [10])
        catalogue = parse_catalogue(data)
        [event, root] = sorted(catalogue.events, key=lambda e: e.id)
        self.assertEqual((event.type, event.state, event.parent_id), ("generic", None, 2))
        self.assertEqual(root.type, "top_level_event")
        [market] = event.markets
        self.assertEqual((market.id, market.state, [c.id for c in market.contracts]), (10, "halted", [101, 102]))

    @inline
    async def test_ids_above_the_wire_s_are_refused(self) -> None:
        big = str(2**32)
        fake = FakeCatalogueUpstream([http_event("1", None, "generic")], [http_market("10", "1")], [http_contract(big, "10")])
        with self.assertRaises(UpstreamCatalogueError) as raised:
            await self.catalogue(fake, [10])
        self.assertEqual(str(raised.exception), f"contract id {big} does not fit the embedded exchange's ids (1..4294967295)")


def run_module(module: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


class FetchCatalogueCommandTests(UpstreamTestCase):
    """``python -m txsmarkets.exchange.fetch_catalogue`` as a process."""

    async def finished(self, process: subprocess.Popen[bytes]) -> tuple[int, str]:
        await until(lambda: process.poll() is not None, "the command to finish")
        assert process.stderr is not None
        return process.returncode, process.stderr.read().decode()

    @inline
    async def test_writes_a_catalogue_the_exchange_loads(self) -> None:
        url = await self.start_upstream(simulate=False, catalogue=tree_catalogue())
        out = pathlib.Path(self.mktemp()).resolve()
        status, err = await self.finished(
            run_module("txsmarkets.exchange.fetch_catalogue", "--upstream", url, "--market-ids", "4", "-o", str(out))
        )
        self.assertEqual((status, err), (0, ""))
        catalogue = load_catalogue(out)
        self.assertEqual([(m.id, m.name) for m in catalogue.markets()], [(4, "Match 04: winner")])

    @inline
    async def test_bad_input_is_one_line_and_status_2(self) -> None:
        for args, said in (
            (["--event-type", "footbal"], "'footbal' is neither a sport"),
            (["--start-after", "tomorrow"], "not an ISO 8601 date and time with a zone"),
            (["--market-ids", "1,x"], "not a list of ids"),
            (["--limit", "0"], "must be a whole number above 0"),
            (["--start-after", "2030-01-02T00:00:00Z", "--start-before", "2030-01-01T00:00:00Z"], "later than"),
        ):
            process = run_module("txsmarkets.exchange.fetch_catalogue", "--upstream", "http://127.0.0.1:1/v3/", "-o", "-", *args)
            status, err = await self.finished(process)
            self.assertEqual(status, 2, err)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(said, err)

    @inline
    async def test_upstream_down_is_one_line_and_status_1(self) -> None:
        url = f"http://127.0.0.1:{free_port()}/v3/"
        status, err = await self.finished(run_module("txsmarkets.exchange.fetch_catalogue", "--upstream", url, "-o", "-"))
        self.assertEqual(status, 1, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertIn(f"cannot read the catalogue from {url}", err)


class PaperDaemonTests(UpstreamTestCase):
    """``twistd smarkets-exchange --paper`` as a process, on an upstream in this one."""

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self.log_path = pathlib.Path(self.mktemp())
        self.err_path = pathlib.Path(self.mktemp())
        with open(self.log_path, "wb") as log, open(self.err_path, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-c", TWISTD, "--pidfile=", "-n", "smarkets-exchange", *args],
                cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=log, stderr=err,
            )  # fmt: skip
        self.addCleanup(process.wait)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        return process

    async def one_line_failure(self, process: subprocess.Popen[bytes], *words: str) -> None:
        await until(lambda: process.poll() is not None, "the exchange to exit")
        self.assertEqual(process.returncode, 1)
        lines = [line for line in self.err_path.read_text().splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, lines)
        for word in words:
            self.assertIn(word, lines[0])

    @inline
    async def test_paper_fills_locally_and_its_recording_replays_in_a_backtest(self) -> None:
        url = await self.start_upstream()
        port = free_port()
        record = pathlib.Path(self.mktemp()).resolve()
        process = self.spawn(
            "--paper", url, "--markets", "1,2", "--endpoint", "tcp:0:interface=127.0.0.1",
            "--http", f"tcp:{port}:interface=127.0.0.1", "--poll-interval", "0.5", "--record", str(record),
        )  # fmt: skip
        await until(lambda: "paper: trading" in self.log_path.read_text(), "the paper exchange to start")
        self.assertIn("1 'Demo match: winner'", self.log_path.read_text())
        user = HTTPAPIClient(global_reactor(), "demo", "demo", url=f"http://127.0.0.1:{port}/v3/")
        best = None
        while best is None:
            # Each time the paper exchange has polled the upstream once more.
            polled = self.quotes_requests()
            await until(lambda: self.quotes_requests() > polled, "a poll")
            quotes = await user.quotes([1])
            if quotes.get(11) and quotes[11].offers:
                best = quotes[11].offers[0]
        created = await user.create_order(1, 11, BUY, best.price, min(best.quantity, 10000))
        self.assertEqual(created.total_executed_quantity, min(best.quantity, 10000))
        self.assertNoOrderReachedUpstream()
        # Some seconds of the simulated traders' prices in the recording.
        await user.close()
        polled = self.quotes_requests()
        await until(lambda: self.quotes_requests() > polled + 10, "more polls")
        process.send_signal(signal.SIGTERM)
        await until(lambda: process.poll() is not None, "the paper exchange to stop")
        self.assertEqual(process.returncode, 0)
        self.assertIn("paper: recorded", self.log_path.read_text())

        from txsmarkets.backtest.cli import main

        out = io.StringIO()
        self.patch(sys, "stderr", io.StringIO())
        status = main(
            ["--strategy", "examples.backtest_market_maker:MarketMaker", "--replay", str(record),
             "--catalogue", str(record / "catalogue.json"), "--json"], out,
        )  # fmt: skip
        self.assertEqual(status, 0, sys.stderr.getvalue())
        report = json.loads(out.getvalue())
        self.assertGreater(report["messages"], 10)
        self.assertGreater(report["orders"], 0)

    @inline
    async def test_unknown_market_is_one_line(self) -> None:
        url = await self.start_upstream(simulate=False)
        process = self.spawn("--paper", url, "--markets", "1,404", "--endpoint", "tcp:0:interface=127.0.0.1")
        await self.one_line_failure(process, "cannot have the markets from", "no market 404")

    @inline
    async def test_upstream_down_at_start_is_one_line(self) -> None:
        url = f"http://127.0.0.1:{free_port()}/v3/"
        process = self.spawn("--paper", url, "--markets", "1", "--endpoint", "tcp:0:interface=127.0.0.1")
        await self.one_line_failure(process, "cannot have the markets from", url)

    @inline
    async def test_bad_paper_options_are_one_line(self) -> None:
        for args, said in (
            (["--paper", "http://127.0.0.1:1/v3/"], "--paper needs --markets"),
            (["--paper", "ftp://x", "--markets", "1"], "http:// or https://"),
            (["--paper", "http://127.0.0.1:1/v3/", "--markets", "1,a"], "--markets must be market ids"),
            (["--markets", "1"], "--markets goes with --paper"),
            (["--paper", "http://127.0.0.1:1/v3/", "--markets", "1", "--simulate"], "not with --replay or --simulate"),
            (["--paper", "http://127.0.0.1:1/v3/", "--markets", "1", "--poll-interval", "0"], "--poll-interval must be above 0"),
            (["--paper", "http://127.0.0.1:1/v3/", "--markets", "1", "--record", "/proc/no/such"], "cannot make the recording folder /proc/no/such"),
            (["--paper", "http://127.0.0.1:1/v3/", "--markets", "1", "--endpoint", "nonsense:1"], "cannot use the endpoint 'nonsense:1'"),
        ):
            process = self.spawn(*args)
            await self.one_line_failure(process, said)
