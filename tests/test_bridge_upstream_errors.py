"""The bridge against an upstream that answers wrongly (a 200 that is not JSON, a 403, a
429 with a long expiry, a 5xx), through the HTTP client and the HTTP fake, on a Clock: its
activity and market-data polls back off with one line of the log each (no traceback), and
a login it cannot check is refused with ``LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE``."""

from __future__ import annotations

import pathlib
from typing import Any

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial import unittest

from tests.http_fake import URL, FakeAPI, make_client
from tests.test_bridge_parts import create
from tests.test_exchange_backend import Peer
from txsmarkets.bridge.account import UpstreamAccount
from txsmarkets.bridge.engine import BridgeEngine
from txsmarkets.bridge.market_data import BridgeMarketData
from txsmarkets.bridge.state import BridgeState
from txsmarkets.exchange.server import ExchangeServerFactory
from txsmarkets.wire import eto_pb2, seto_pb2

#: What a broken upstream answers, by name: (status, body[, headers]).
BROKEN: dict[str, Any] = {
    "garbage": (200, b"<html>a proxy's page</html>"),
    "403": (403, {"error_type": "FORBIDDEN", "data": "not an API user"}),
    "429": (429, {"error_type": "RATE_LIMIT_EXCEEDED", "data": {"count": 51, "limit": 50, "expiry": "600"}}),
    "500": (500, {"error_type": "INTERNAL_ERROR", "data": "oops"}),
}
EMPTY_ACTIVITY = {"account_activity": [], "pagination": {"next_page": None}}


def near(case: unittest.TestCase, times: list[float], gaps: list[float]) -> None:
    """The gaps between ``times`` are ``gaps`` (to the 0.1 s the test steps by)."""
    seen = [b - a for a, b in zip(times, times[1:])]
    case.assertEqual(len(seen), len(gaps), seen)
    for got, wanted in zip(seen, gaps):
        case.assertLessEqual(abs(got - wanted), 0.15, seen)


class LogLines:
    """The log's events at warn and above while a test runs."""

    def __init__(self, case: unittest.TestCase) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.observe)
        case.addCleanup(globalLogPublisher.removeObserver, self.observe)

    def observe(self, event: dict[str, Any]) -> None:
        if event.get("log_level") in (LogLevel.warn, LogLevel.error, LogLevel.critical):
            self.events.append(event)

    def tracebacks(self) -> int:
        return sum("log_failure" in event for event in self.events)


class ActivityPollTests(unittest.TestCase):
    """An account's activity polled from an upstream that breaks, then heals."""

    def setUp(self) -> None:
        self.fake = FakeAPI()
        self.fake.route("GET", "accounts/activity/", (200, EMPTY_ACTIVITY))
        self.client, _, self.clock = make_client(self.fake)
        self.sent: list[seto_pb2.Payload] = []
        state = BridgeState(1, pathlib.Path(self.mktemp()))
        self.account = UpstreamAccount(self.clock, 1, "trader", state, lambda _, p: self.sent.append(p), poll_interval=1.0)
        self.successResultOf(self.account.opened(self.client))
        self.account.add_client(self.client)
        self.account.start()
        self.clock.advance(0)
        self.log = LogLines(self)

    def polls(self) -> int:
        return len(self.fake.seen("GET", "accounts/activity/"))

    def poll_times(self, seconds: int) -> list[float]:
        """The clock's times of the polls made in the next ``seconds`` seconds."""
        times = []
        for _ in range(seconds * 10):
            before = self.polls()
            self.clock.advance(0.1)
            if self.polls() != before:
                times.append(round(self.clock.seconds(), 1))
        return times

    def check_backs_off(self, broken: str) -> None:
        self.fake.route("GET", "accounts/activity/", BROKEN[broken])
        start = self.clock.seconds()
        times = [t - start for t in self.poll_times(130)]
        # The poll at 1 s fails; then 2, 4, 8 ... seconds apart, at most a minute (a 429's
        # expiry of 600 s holds the next back longer: the client waits for it).
        if broken == "429":
            self.assertEqual(len(times), 1)
        else:
            near(self, times, [2.0, 4.0, 8.0, 16.0, 32.0, 60.0])
        # One line each, no traceback (a 5xx also says once that the upstream is lost).
        self.assertEqual(self.log.tracebacks(), 0)
        polled = [e for e in self.log.events if "polling the activity failed" in e["log_format"]]
        self.assertEqual(len(polled), len(times))
        self.assertEqual(len(self.log.events), len(times) + (broken == "500"))
        # Fills cannot be seen: a new order is rejected at once, not sent upstream.
        self.assertTrue(self.account.blind)
        self.account.submit(create(5))
        self.assertEqual(self.sent[-1].order_rejected.reason, seto_pb2.ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE)
        self.assertEqual(self.fake.seen("POST", "orders/"), [])
        # Healed: the next poll works, and orders are taken again.
        self.fake.route("GET", "accounts/activity/", (200, EMPTY_ACTIVITY))
        self.clock.advance(600)
        self.assertFalse(self.account.blind)
        polls = self.polls()
        self.clock.advance(1)
        self.assertEqual(self.polls(), polls + 1)

    def test_a_200_that_is_not_json(self) -> None:
        self.check_backs_off("garbage")

    def test_a_403(self) -> None:
        self.check_backs_off("403")

    def test_a_429_with_a_long_expiry(self) -> None:
        self.check_backs_off("429")

    def test_a_500(self) -> None:
        self.check_backs_off("500")


class MarketDataPollTests(unittest.TestCase):
    """The subscribed markets' quotes polled from an upstream that breaks."""

    def test_failed_rounds_back_off_with_one_line_each(self) -> None:
        fake = FakeAPI()
        fake.route("GET", "markets/*/contracts/", (200, {"contracts": []}))
        fake.route("GET", "markets/*/last_executed_prices/", (200, {"last_executed_prices": {}}))
        fake.route("GET", "markets/*/quotes/", BROKEN["403"])
        client, _, clock = make_client(fake, username=None, password=None)
        log = LogLines(self)
        data = BridgeMarketData(clock, client, lambda m, p: None, lambda m: True, max_backoff=20.0)
        data.snapshot(1)
        times = []
        for _ in range(700):
            before = len(fake.seen("GET", "markets/1/quotes/"))
            clock.advance(0.1)
            if len(fake.seen("GET", "markets/1/quotes/")) != before:
                times.append(round(clock.seconds(), 1))
        # Its pace (1.2 s) doubled per failure, at most max_backoff.
        near(self, times, [2.4, 4.8, 9.6, 19.2, 20.0])
        self.assertEqual(log.tracebacks(), 0)
        self.assertEqual(len(log.events), len(times))
        self.assertEqual(data.backoff.failures, len(times))
        fake.route("GET", "markets/*/quotes/", (200, {}))
        fake.route("GET", "markets/1/", (200, {"markets": []}))
        clock.advance(20)
        self.assertEqual((data.backoff.failures, data.rounds), (0, 1))

    def test_a_429_expiry_holds_the_next_round_back(self) -> None:
        fake = FakeAPI()
        fake.route("GET", "markets/*/contracts/", (200, {"contracts": []}))
        fake.route("GET", "markets/*/last_executed_prices/", (200, {"last_executed_prices": {}}))
        fake.route("GET", "markets/*/quotes/", BROKEN["429"])
        client, _, clock = make_client(fake, username=None, password=None)
        data = BridgeMarketData(clock, client, lambda m, p: None, lambda m: True)
        data.snapshot(1)
        clock.advance(0)
        clock.advance(599.9)
        self.assertEqual(len(fake.seen("GET", "markets/1/quotes/")), 1)
        clock.advance(0.2)
        self.assertEqual(len(fake.seen("GET", "markets/1/quotes/")), 2)


class LoginCheckTests(unittest.TestCase):
    """A downstream login the upstream cannot answer is refused for now, said in one line."""

    def check_refused_for_now(self, broken: str) -> None:
        fake = FakeAPI()
        fake.route("POST", "sessions/", BROKEN[broken])
        clock = Clock()
        engine = BridgeEngine(clock, URL, client_options={"http": StubTreq(fake), "rate_limit_retries": 0})
        factory = ExchangeServerFactory(engine, clock)
        log = LogLines(self)
        for attempt in range(3):
            peer = Peer(factory)
            peer.login()
            clock.advance(0)
            [logout] = peer.received()
            self.assertEqual(logout.eto_payload.logout.reason, eto_pb2.LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE)
            self.assertTrue(peer.transport.disconnecting)
            clock.advance(600)  # a 429's expiry
        self.assertEqual(log.tracebacks(), 0)
        self.assertEqual(len(log.events), 3)
        self.assertIn("could not be checked", log.events[0]["log_format"])

    def test_a_500(self) -> None:
        self.check_refused_for_now("500")

    def test_an_answer_that_is_not_json(self) -> None:
        self.check_refused_for_now("garbage")

    def test_a_429(self) -> None:
        self.check_refused_for_now("429")
