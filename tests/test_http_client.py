"""The HTTP API client's own rules, through its public interface, on a Clock, against the
scripted stand-in of tests/http_fake.py behind treq's StubTreq: units, parsing, id lists,
pagination, rate limits and 429s, sessions and 401s, errors, timeouts, and secrets."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web import server

from tests.http_fake import (
    PASSWORD,
    STAMP,
    TOKEN_PREFIX,
    USERNAME,
    FakeAPI,
    event,
    make_client,
    market,
    order,
    order_created,
)
from txsmarkets.exceptions import (
    ConnectionLost,
    LoginError,
    OrderInvalid,
    OrderRejected,
    RequestRejected,
    RequestTimeout,
)
from txsmarkets.http_api import (
    APIError,
    AuthenticationError,
    InvalidResponse,
    LoginRefused,
    QueueFull,
    RateLimitExceeded,
)
from txsmarkets.http_api.limits import TokenBucket
from txsmarkets.http_api.models import Event, EventType, LastExecutedPrice, Market, OrderCreated
from txsmarkets.http_api.pages import follow
from txsmarkets.http_api.units import format_datetime, loads, parse_datetime, structure

BIG = 202547466272702478  # an order id of the bot tutorial: above 2**53
assert BIG > 2**53 and float(BIG) != BIG


class UnitsTests(unittest.SynchronousTestCase):
    def test_big_ids_and_money_never_pass_through_a_float(self) -> None:
        body = json.dumps({"order_id": str(BIG), "raw": BIG, "fraction": 0.1}).encode()
        decoded = loads(body)
        self.assertEqual((decoded["raw"], decoded["fraction"]), (BIG, Decimal("0.1")))
        created = structure(OrderCreated, order_created(BIG))
        self.assertEqual(created.order_id, BIG)
        self.assertEqual((created.available_balance, created.exposure), (Decimal("997.50"), Decimal("-2.50")))

    def test_last_executed_price_percent_string_is_basis_points(self) -> None:
        for text, bp in (("23.45", 2345), ("23.4", 2340), ("5", 500), ("0.01", 1), ("99.99", 9999)):
            price = structure(LastExecutedPrice, {"contract_id": "1", "last_executed_price": text, "timestamp": STAMP})
            self.assertEqual(price.last_executed_price, bp)
        for bad in ("23.456", "1e3", "-1", 23.45):
            with self.assertRaises(InvalidResponse):
                structure(LastExecutedPrice, {"contract_id": "1", "last_executed_price": bad, "timestamp": None})

    def test_datetimes_are_aware_utc(self) -> None:
        utc = timezone.utc
        self.assertEqual(parse_datetime(STAMP), datetime(2017, 12, 16, 0, 16, 25, 936519, utc))
        # Without a zone (session stop, activity timestamps in the document's examples): UTC.
        self.assertEqual(parse_datetime("2017-12-16T00:16:25"), datetime(2017, 12, 16, 0, 16, 25, tzinfo=utc))
        moment = parse_datetime("2017-12-16T01:16:25+01:00")
        self.assertEqual((moment, moment.tzinfo), (datetime(2017, 12, 16, 0, 16, 25, tzinfo=utc), utc))
        self.assertEqual(format_datetime(datetime(2017, 12, 16, 1, 0, tzinfo=timezone(timedelta(hours=1)))), "2017-12-16T00:00:00Z")
        with self.assertRaises(ValueError):
            format_datetime(datetime(2017, 12, 16))

    def test_models_by_their_annotations(self) -> None:
        parsed = structure(Event, event(7, type={"domain": "football", "scope": "single_event"}, surprise=1))
        self.assertEqual((parsed.id, parsed.type, parsed.bettable), (7, EventType("football", "single_event"), None))
        self.assertEqual(parsed.start_datetime, datetime(2017, 12, 22, 15, 40, tzinfo=timezone.utc))
        self.assertEqual(structure(Event, event(7)).type, "football_match")
        missing = market(1, 7)
        del missing["bet_delay"]
        with self.assertRaisesRegex(InvalidResponse, r"^Market: bet_delay is missing$"):
            structure(Market, missing)
        with self.assertRaisesRegex(InvalidResponse, r"^Market.event_id: not an id: '7.5'$"):
            structure(Market, dict(market(1, 7), event_id="7.5"))
        with self.assertRaisesRegex(InvalidResponse, r"^Market.hidden: bool expected, not int$"):
            structure(Market, dict(market(1, 7), hidden=0))
        with self.assertRaisesRegex(InvalidResponse, r"not JSON"):
            loads(b"<html>")


class Harness(unittest.TestCase):
    """A client of a fresh FakeAPI on a Clock."""

    def setUp(self) -> None:
        self.fake = FakeAPI()
        self.client, self.stub, self.clock = make_client(self.fake)

    def remake(self, **options: Any) -> None:
        self.client, self.stub, self.clock = make_client(self.fake, **options)

    def sent(self, method: str, path: str) -> list[Any]:
        return self.fake.seen(method, path)


class RequestShapeTests(Harness):
    def test_array_parameters_repeat_their_key(self) -> None:
        self.fake.route("GET", "events/", (200, {"events": [event(1)], "pagination": {"next_page": None}}))
        since = datetime(2017, 12, 1, tzinfo=timezone.utc)
        page = self.successResultOf(
            self.client.events(state=["new", "live"], id=[5, 6, 5], inplay_enabled=True, start_datetime_min=since, sort="start_datetime,id")
        )
        self.assertEqual([e.id for e in page.items], [1])
        [seen] = self.sent("GET", "events/")
        self.assertEqual(
            seen.query,
            [("state", "new"), ("state", "live"), ("id", "5"), ("id", "6"), ("inplay_enabled", "true"),
             ("start_datetime_min", "2017-12-01T00:00:00Z"), ("sort", "start_datetime,id")],
        )

    def test_bad_parameters_fail_before_anything_is_sent(self) -> None:
        self.failureResultOf(self.client.events(states=["new"]), TypeError)  # the legacy plural name
        self.failureResultOf(self.client.events(limit="20"), ValueError)
        self.failureResultOf(self.client.orders(id=[-1]), ValueError)
        self.failureResultOf(self.client.create_order(1, 11, "back", 2500, 100000), ValueError)
        self.failureResultOf(self.client.create_order(1, 11, "buy", 10000, 100000), ValueError)
        self.failureResultOf(self.client.create_order(1, 11, "buy", 2500, 1.5), ValueError)  # type: ignore[arg-type]
        self.failureResultOf(self.client.create_order(1, 11, "buy", 2500, 100, type="fill_or_kill"), ValueError)
        self.failureResultOf(self.client.quotes([]), ValueError)
        self.assertEqual(self.fake.requests, [])

    def test_ids_split_under_each_endpoints_cap(self) -> None:
        def quotes(seen: Any) -> Any:
            ids = seen.path.split("/")[1].split(",")
            return 200, {str(int(i) * 10): {"bids": [{"price": 2500, "quantity": int(i)}]} for i in ids}

        self.fake.route("GET", "markets/*/quotes/", quotes)
        ids = list(range(1, 451)) + [3, 4]  # duplicates go once
        books = self.successResultOf(self.client.quotes(ids))
        paths = [s.path.split("/")[1].split(",") for s in self.fake.requests]
        self.assertEqual([len(p) for p in paths], [200, 200, 50])
        self.assertEqual([int(i) for p in paths for i in p], list(range(1, 451)))
        self.assertEqual(len(books), 450)
        self.assertEqual(books[4500].bids[0].quantity, 450)


class PaginationTests(Harness):
    def setUp(self) -> None:
        super().setUp()
        pages = {None: ([1, 2], "?limit=2&pagination_last_id=2"), "2": ([3, 4], "?limit=2&pagination_last_id=4"), "4": ([5], None)}

        def events(seen: Any) -> Any:
            query = dict(seen.query)
            ids, next_page = pages[query.get("pagination_last_id")]
            return 200, {"events": [event(i) for i in ids], "pagination": {"next_page": next_page}}

        self.fake.route("GET", "events/", events)

    def test_an_async_iterator_over_pages(self) -> None:
        async def walk() -> list[list[int]]:
            return [[e.id for e in page.items] async for page in self.client.events_pages(state=["live"], limit=2)]

        self.assertEqual(self.successResultOf(Deferred.fromCoroutine(walk())), [[1, 2], [3, 4], [5]])
        # The filters go with every page, beside the API's cursor.
        self.assertEqual(
            [s.query for s in self.sent("GET", "events/")][1:],
            [[("state", "live"), ("limit", "2"), ("pagination_last_id", "2")],
             [("state", "live"), ("limit", "2"), ("pagination_last_id", "4")]],
        )

    def test_collect_all(self) -> None:
        events = self.successResultOf(self.client.events_pages(limit=2).collect())
        self.assertEqual([e.id for e in events], [1, 2, 3, 4, 5])

    def test_follow_keeps_the_filters_the_next_page_leaves_out(self) -> None:
        query = [("state", "new"), ("state", "live"), ("limit", "20"), ("pagination_last_id", "1")]
        self.assertEqual(
            follow(query, "?limit=20&pagination_last_id=9"),
            [("state", "new"), ("state", "live"), ("limit", "20"), ("pagination_last_id", "9")],
        )


class RateLimitTests(Harness):
    def test_bucket_serves_in_order_and_refuses_past_its_queue(self) -> None:
        clock = Clock()
        bucket = TokenBucket(clock, "quotes", 3, 10.0, max_queue=2)
        fired: list[int] = []
        for n in range(3):
            bucket.acquire().addCallback(lambda _, n=n: fired.append(n))
        waiting = [bucket.acquire(), bucket.acquire()]
        for n, d in enumerate(waiting, 3):
            d.addCallback(lambda _, n=n: fired.append(n))
        self.failureResultOf(bucket.acquire(), QueueFull)
        self.assertEqual((fired, bucket.waiting), ([0, 1, 2], 2))
        clock.advance(9.9)
        self.assertEqual(fired, [0, 1, 2])
        clock.advance(0.1)  # each token back a whole period after it was taken
        self.assertEqual(fired, [0, 1, 2, 3, 4])

    def test_no_more_than_the_limit_in_any_period(self) -> None:
        clock = Clock()
        bucket = TokenBucket(clock, "quotes", 50, 60.0, max_queue=1000)
        times: list[float] = []
        for _ in range(200):
            bucket.acquire().addCallback(lambda _: times.append(clock.seconds()))
        for _ in range(400):
            clock.advance(0.5)
        self.assertEqual(len(times), 200)
        self.assertLessEqual(max(sum(1 for t in times if start <= t < start + 60) for start in times), 50)

    def test_a_held_token_comes_back_a_period_after_its_release(self) -> None:
        # The API counts a request when it arrives: a token held until the answer is back
        # a whole period after the API could have counted it, however slow the request.
        clock = Clock()
        bucket = TokenBucket(clock, "cancel_order", 1, 1.0)
        self.successResultOf(bucket.acquire(hold=True))
        second = bucket.acquire(hold=True)
        clock.advance(5)  # a slow answer: the token is still out
        self.assertNoResult(second)
        bucket.release()
        clock.advance(0.99)
        self.assertNoResult(second)
        clock.advance(0.01)
        self.successResultOf(second)
        bucket.release()
        self.assertRaises(RuntimeError, bucket.release)
        self.assertEqual((bucket.requests, bucket.peak), (2, 1))

    def test_requests_are_counted_over_a_sliding_minute(self) -> None:
        clock = Clock()
        bucket = TokenBucket(clock, "quotes", 50, 60.0, max_queue=1000)
        unlimited = TokenBucket(clock, "activity", None, 1.0)
        for _ in range(120):
            bucket.acquire(hold=True).addCallback(lambda _: bucket.release())
            self.successResultOf(unlimited.acquire())
            clock.advance(1.0)
        figures = bucket.figures()
        # 50 a minute at most: the 120 asked for over two minutes have not all gone yet.
        self.assertEqual((figures.limit, figures.period, figures.per_minute), (50, 60.0, 50.0))
        self.assertLessEqual(figures.last_minute, 50)
        self.assertEqual(figures.peak, 50)
        # 50 at 0..49 s, one a second from 60 s (each back a minute after its release).
        self.assertEqual((figures.requests, bucket.waiting), (101, 19))
        activity = unlimited.figures()
        # At 120 s: those of 61..119 s.
        self.assertEqual((activity.requests, activity.last_minute, activity.per_minute, activity.peak), (120, 59, None, 0))
        clock.advance(30)
        self.assertEqual(unlimited.last_minute, 29)
        clock.advance(30)
        self.assertEqual(unlimited.last_minute, 0)
        self.assertEqual(bucket.rate_limited, 0)
        bucket.refused()
        self.assertEqual(bucket.figures().rate_limited, 1)

    def test_cancel_all_waits_its_minute(self) -> None:
        self.fake.route("DELETE", "orders/", (200, {}))
        self.successResultOf(self.client.cancel_all(market_id=1))
        second = self.client.cancel_all()
        self.assertNoResult(second)
        self.assertEqual(len(self.sent("DELETE", "orders/")), 1)
        self.clock.advance(60)
        self.successResultOf(second)
        self.assertEqual([s.query for s in self.sent("DELETE", "orders/")], [[("market_id", "1")], []])

    def test_order_limit_is_configurable(self) -> None:
        self.remake(order_limit=(2, 1.0), max_queue=1)
        self.fake.route("POST", "orders/", lambda seen: (200, order_created(1)))
        creates = [self.client.create_order(1, 11, "buy", 2500, 100000) for _ in range(3)]
        self.successResultOf(creates[0])
        self.successResultOf(creates[1])
        self.assertNoResult(creates[2])
        self.failureResultOf(self.client.create_order(1, 11, "buy", 2500, 100000), QueueFull)
        self.clock.advance(1)
        self.successResultOf(creates[2])

    def test_a_429_waits_for_its_expiry_and_sends_again(self) -> None:
        answers = iter([
            (429, {"error_type": "RATE_LIMIT_EXCEEDED", "data": {"count": 51, "limit": 50, "expiry": "1970-01-01T00:00:30Z"}}),
            (200, {"5": {"bids": [], "offers": [{"price": 4000, "quantity": 10}]}}),
        ])
        self.fake.route("GET", "markets/1/quotes/", lambda seen: next(answers))
        self.clock.advance(10)
        d = self.client.quotes([1])
        other = self.client.quotes([1])  # queued behind it until the expiry too
        self.assertNoResult(d)
        self.clock.advance(19.9)
        self.assertEqual(len(self.sent("GET", "markets/1/quotes/")), 1)
        self.fake.route("GET", "markets/1/quotes/", lambda seen: next(answers, (200, {})))
        self.clock.advance(0.1)
        self.assertEqual(self.successResultOf(d)[5].offers[0].price, 4000)
        self.assertEqual(self.successResultOf(other), {})

    def test_429s_are_bounded(self) -> None:
        self.remake(rate_limit_retries=2)
        self.fake.route("GET", "markets/1/quotes/", (429, {"error_type": "RATE_LIMIT_EXCEEDED", "data": {"count": 9, "limit": 1, "expiry": "2"}}))
        d = self.client.quotes([1])
        self.clock.advance(2)
        self.clock.advance(2)
        error = self.failureResultOf(d, RateLimitExceeded).value
        self.assertEqual((error.status, error.data["limit"]), (429, 1))
        self.assertEqual(len(self.sent("GET", "markets/1/quotes/")), 3)

    def test_a_429_too_long_to_wait_fails_at_once(self) -> None:
        self.fake.route("POST", "sessions/", (429, {"error_type": "RATE_LIMIT_EXCEEDED", "data": {"count": 11, "limit": 10, "expiry": "600"}}))
        self.failureResultOf(self.client.login(), RateLimitExceeded)

    def test_a_429_that_fails_its_request_still_holds_the_next_back_until_its_expiry(self) -> None:
        """A 429 too long to wait out fails its request at once, and the endpoint's next
        request goes only once the expiry has passed (not at once, into another 429); so
        after the retries run out."""
        refused = (429, {"error_type": "RATE_LIMIT_EXCEEDED", "data": {"count": 51, "limit": 50, "expiry": "600"}})
        self.fake.route("GET", "markets/1/quotes/", refused)
        self.failureResultOf(self.client.quotes([1]), RateLimitExceeded)
        self.fake.route("GET", "markets/1/quotes/", (200, {}))
        d = self.client.quotes([1])
        self.clock.advance(599.9)
        self.assertNoResult(d)
        self.assertEqual(len(self.sent("GET", "markets/1/quotes/")), 1)
        self.clock.advance(0.1)
        self.assertEqual(self.successResultOf(d), {})
        self.remake(rate_limit_retries=0)
        self.fake.route("GET", "markets/1/quotes/", (429, {"error_type": "RATE_LIMIT_EXCEEDED", "data": {"expiry": "5"}}))
        self.failureResultOf(self.client.quotes([1]), RateLimitExceeded)
        self.fake.route("GET", "markets/1/quotes/", (200, {}))
        d = self.client.quotes([1])
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.assertEqual(self.successResultOf(d), {})


class SessionTests(Harness):
    def test_a_request_that_needs_a_session_logs_in_and_carries_the_token(self) -> None:
        self.fake.route("GET", "accounts/", (200, {"account": {"account_id": "77", "balance": "150.00", "available_balance": "100.00", "exposure": "-50.00", "currency": "GBP"}}))
        account = self.successResultOf(self.client.account())
        self.assertEqual((account.account_id, account.exposure, account.available_balance), (77, Decimal("-50.00"), Decimal("100.00")))
        login, get = self.fake.requests
        self.assertEqual((login.method, login.path, login.token), ("POST", "sessions/", None))
        self.assertEqual(get.authorization, f"Session-Token {TOKEN_PREFIX}1")
        self.assertEqual(self.client.session.info.factor, "complete")  # type: ignore[union-attr]

    def test_public_reads_need_no_credentials(self) -> None:
        self.remake(username=None, password=None)
        self.fake.route("GET", "markets/1/contracts/", (200, {"contracts": []}))
        self.assertEqual(self.successResultOf(self.client.contracts([1])), [])
        self.assertEqual([s.authorization for s in self.fake.requests], [None])

    def test_the_second_factor_from_the_users_callable(self) -> None:
        self.fake.totp = "123456"
        codes: list[str] = []
        self.remake(second_factor=lambda: codes.append("asked") or "123456")
        info = self.successResultOf(self.client.login())
        self.assertEqual((info.factor, codes), ("complete", ["asked"]))
        self.assertEqual(self.sent("POST", "sessions/verify/")[0].body, {"token": "pending-totp-token", "code": "123456"})
        self.assertTrue(self.client.session.logged_in)

    def test_a_second_factor_without_a_callable_or_refused(self) -> None:
        self.fake.totp = "123456"
        self.failureResultOf(self.client.login(), LoginError)
        self.remake(second_factor=lambda: "000000")
        error = self.failureResultOf(self.client.login(), LoginRefused).value
        self.assertEqual((error.status, error.reason), (400, "INVALID_TOKEN"))
        self.assertIsInstance(error, LoginError)

    def test_bad_credentials(self) -> None:
        self.remake(password="wrong")
        error = self.failureResultOf(self.client.account(), LoginRefused).value
        self.assertEqual((error.status, error.error_type), (401, "INVALID_CREDENTIALS"))
        self.assertEqual(len(self.fake.requests), 1)

    def test_a_401_logs_in_again_once_shared_and_sends_again(self) -> None:
        empty = {"orders": [], "pagination": {"next_page": None}}
        self.fake.route("GET", "orders/", (200, empty))
        self.successResultOf(self.client.orders())
        held: list[Any] = []
        self.fake.route("GET", "orders/", lambda seen: held.append(seen) or server.NOT_DONE_YET)
        both = [self.client.orders(), self.client.orders()]
        self.fake.route("GET", "orders/", (200, empty))
        self.fake.expire_all()
        for seen in held:  # both in flight with the first token: both get a 401
            self.fake.finish(seen, 401, {"error_type": "AUTH_REQUIRED", "data": "expired"})
        self.stub.flush()
        for d in both:
            self.assertEqual(self.successResultOf(d).items, [])
        self.assertEqual(self.fake.logins, 2)  # one login again, for both
        self.assertEqual(
            [(s.method, s.path, s.token) for s in self.fake.requests[-5:]],
            [("GET", "orders/", f"{TOKEN_PREFIX}1"), ("GET", "orders/", f"{TOKEN_PREFIX}1"), ("POST", "sessions/", None),
             ("GET", "orders/", f"{TOKEN_PREFIX}2"), ("GET", "orders/", f"{TOKEN_PREFIX}2")],
        )

    def test_an_order_refused_with_401_is_sent_again_after_the_login(self) -> None:
        # A 401 means the API refused the request: sending it again repeats nothing.
        self.fake.private.add("orders/")
        self.fake.route("POST", "orders/", lambda seen: (200, order_created(BIG)) if seen.token in self.fake.live_tokens else (401, {"error_type": "AUTH_REQUIRED", "data": ""}))
        self.successResultOf(self.client.login())
        self.fake.expire_all()
        created = self.successResultOf(self.client.create_order(1, 11, "buy", 2500, 100000))
        self.assertEqual(created.order_id, BIG)
        self.assertEqual(len(self.sent("POST", "orders/")), 2)

    def test_only_once(self) -> None:
        self.fake.route("GET", "accounts/", (401, {"error_type": "AUTH_REQUIRED", "data": "no"}))
        self.fake.private.discard("accounts/")
        error = self.failureResultOf(self.client.account(), AuthenticationError).value
        self.assertEqual(error.error_type, "AUTH_REQUIRED")
        self.assertEqual((self.fake.logins, len(self.sent("GET", "accounts/"))), (2, 2))

    def test_a_token_unused_for_its_life_is_replaced_before_use(self) -> None:
        self.fake.route("GET", "orders/", (200, {"orders": [], "pagination": {"next_page": None}}))
        self.successResultOf(self.client.orders())
        self.clock.advance(29 * 60 - 61)  # used within its life: kept alive by use
        self.successResultOf(self.client.orders())
        self.clock.advance(29 * 60 - 61)
        self.successResultOf(self.client.orders())
        self.assertEqual(self.fake.logins, 1)
        self.clock.advance(30 * 60)  # unused for 30 minutes: logged in again first, no 401
        self.successResultOf(self.client.orders())
        self.assertEqual(self.fake.logins, 2)
        self.assertEqual(self.sent("GET", "orders/")[-1].token, f"{TOKEN_PREFIX}2")
        self.assertNotIn(401, [getattr(s.request, "code", 200) for s in self.fake.requests])

    def test_logout(self) -> None:
        self.successResultOf(self.client.login())
        self.successResultOf(self.client.logout())
        self.assertEqual(self.sent("DELETE", "sessions/")[0].token, f"{TOKEN_PREFIX}1")
        self.assertFalse(self.client.session.logged_in)
        self.successResultOf(self.client.logout())  # nothing held: nothing sent
        self.assertEqual(len(self.sent("DELETE", "sessions/")), 1)


class ErrorTests(Harness):
    def reject(self, path: str, method: str, status: int, error_type: str) -> None:
        self.fake.route(method, path, (status, {"error_type": error_type, "data": "said the API"}))

    def test_order_rejections_are_the_streaming_clients(self) -> None:
        self.reject("orders/", "POST", 400, "ORDER_REJECTED_INSUFFICIENT_FUNDS")
        error = self.failureResultOf(self.client.create_order(1, 11, "buy", 2500, 100000), OrderRejected).value
        self.assertEqual((error.reason, error.status, error.error_type, error.data), ("ORDER_REJECTED_INSUFFICIENT_FUNDS", 400, "ORDER_REJECTED_INSUFFICIENT_FUNDS", "said the API"))
        self.reject("orders/", "POST", 400, "ORDER_INVALID_INVALID_QUANTITY, ORDER_INVALID_INVALID_PRICE")
        error = self.failureResultOf(self.client.create_order(1, 11, "buy", 2501, 3), OrderInvalid).value
        self.assertEqual(error.reasons, ["ORDER_INVALID_INVALID_QUANTITY", "ORDER_INVALID_INVALID_PRICE"])
        self.reject("orders/9/", "DELETE", 404, "ORDER_CANCEL_REJECTED_NOT_FOUND")
        error = self.failureResultOf(self.client.cancel_order(9), RequestRejected).value
        self.assertEqual((error.reason, error.status), ("ORDER_CANCEL_REJECTED_NOT_FOUND", 404))
        self.assertIsInstance(error, APIError)

    def test_every_other_status_is_an_api_error(self) -> None:
        self.reject("markets/1/contracts/", "GET", 503, "EVENTS_UNAVAILABLE")
        error = self.failureResultOf(self.client.contracts([1]), APIError).value
        self.assertEqual((error.status, error.error_type, error.data), (503, "EVENTS_UNAVAILABLE", "said the API"))
        self.fake.route("GET", "markets/2/contracts/", (502, b"<html>bad gateway</html>"))
        error = self.failureResultOf(self.client.contracts([2]), APIError).value
        self.assertEqual((error.status, error.error_type, error.data), (502, "HTTP_502", None))
        self.fake.route("GET", "markets/3/contracts/", (200, {"contracts": [{"id": "x"}]}))
        self.failureResultOf(self.client.contracts([3]), InvalidResponse)

    def test_a_timeout_cancels_the_request_and_an_order_is_never_sent_twice(self) -> None:
        self.remake(timeout=5.0)
        self.fake.route("POST", "orders/", lambda seen: server.NOT_DONE_YET)
        d = self.client.create_order(1, 11, "buy", 2500, 100000)
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.clock.advance(0.1)
        self.failureResultOf(d, RequestTimeout)
        [seen] = self.sent("POST", "orders/")
        finished = seen.request.notifyFinish()
        self.stub.flush()
        self.failureResultOf(finished)  # the connection was closed under the request
        self.clock.advance(3600)
        self.assertEqual(len(self.sent("POST", "orders/")), 1)

    def test_a_connection_lost_after_sending_an_order_is_not_sent_again(self) -> None:
        self.fake.route("POST", "orders/", lambda seen: (seen.request.channel.transport.loseConnection(), server.NOT_DONE_YET)[1])
        d = self.client.create_order(1, 11, "buy", 2500, 100000)
        self.stub.flush()
        self.failureResultOf(d, ConnectionLost)
        self.assertEqual(len(self.sent("POST", "orders/")), 1)


class SecretTests(Harness):
    """The password and the token: on the wire, never in a log line, a repr or a traceback."""

    def test_never_logged_repr_or_traced(self) -> None:
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        failures: list[Failure] = []
        self.remake(timeout=5.0)
        self.fake.route("GET", "orders/", (200, {"orders": [order(BIG)], "pagination": {"next_page": None}}))
        self.assertEqual(self.successResultOf(self.client.orders()).items[0].id, BIG)
        self.fake.expire_all()  # a 401, a login again
        self.successResultOf(self.client.orders())
        self.fake.route("GET", "accounts/", lambda seen: server.NOT_DONE_YET)
        d = self.client.account()
        self.clock.advance(5)
        failures.append(self.failureResultOf(d, RequestTimeout))
        self.fake.route("POST", "orders/", (400, {"error_type": "ORDER_REJECTED_LIMIT_EXCEEDED", "data": {}}))
        failures.append(self.failureResultOf(self.client.create_order(1, 11, "sell", 2500, 100000), OrderRejected))
        wrong = make_client(self.fake, password=PASSWORD + "x")[0]
        failures.append(self.failureResultOf(wrong.login(), LoginRefused))
        self.assertTrue(self.fake.logins >= 2 and events)
        tokens = [f"{TOKEN_PREFIX}{n}" for n in range(1, self.fake.logins + 1)]
        texts = [repr(self.client), repr(self.client.session), repr(self.client.session.info), repr(wrong), str(self.client.session._password)]
        texts += [f.getTraceback() for f in failures] + [f.getTraceback(detail="verbose") for f in failures]
        texts += [repr(f.value) for f in failures] + [json.dumps(e, default=repr) for e in events]
        for secret in [PASSWORD, *tokens]:
            self.assertFalse([t for t in texts if secret in t], secret)
        # ... and on the wire, where they belong.
        self.assertEqual(self.sent("POST", "sessions/")[0].body["password"], PASSWORD)
        self.assertIn(USERNAME, repr(self.client))


class OperationsTests(Harness):
    """Every operation of the document: its method, path and query, and its typed result."""

    def call(self, method: str, path: str, request: Deferred[Any]) -> Any:
        result = self.successResultOf(request)
        seen = self.fake.requests[-1]
        self.assertEqual((seen.method, seen.path), (method, path))
        return result

    def test_catalogue(self) -> None:
        f = self.fake
        f.route("GET", "events/1,2/markets/", (200, {"markets": [market(5, 1)]}))
        self.assertEqual(self.call("GET", "events/1,2/markets/", self.client.markets_by_event([1, 2], market_types=["WINNER_3_WAY", "OVER_UNDER"])), [structure(Market, market(5, 1))])
        self.assertEqual(f.requests[-1].query, [("market_types", "WINNER_3_WAY,OVER_UNDER")])
        f.route("GET", "markets/5/", (200, {"markets": [market(5, 1)]}))
        self.assertEqual(self.call("GET", "markets/5/", self.client.markets([5], with_volumes=True))[0].event_id, 1)
        f.route("GET", "events/1/markets_count/", (200, {"events": [{"id": "1", "markets_count": 222}]}))
        self.assertEqual(self.call("GET", "events/1/markets_count/", self.client.markets_count([1])), {1: 222})
        contract = {"id": "11", "market_id": "5", "name": "Home", "slug": "home", "state_or_outcome": "open", "outcome_timestamp": None,
                    "created": STAMP, "modified": STAMP, "contract_type": {"name": "HOME"}, "reduction_factor": "0.25"}
        f.route("GET", "markets/5/contracts/", (200, {"contracts": [contract]}))
        [parsed] = self.call("GET", "markets/5/contracts/", self.client.contracts([5]))
        self.assertEqual((parsed.id, parsed.contract_type.name, parsed.reduction_factor), (11, "HOME", Decimal("0.25")))  # type: ignore[union-attr]
        competitor = {"id": "c1", "event_id": "1", "name": "Arsenal", "short_name": None, "short_code": "ARS", "slug": "arsenal", "country_code": "GB", "type": "home"}
        f.route("GET", "events/1/competitors/", (200, {"competitors": [competitor]}))
        self.assertEqual(self.call("GET", "events/1/competitors/", self.client.competitors([1]))[0].short_code, "ARS")
        state = {"id": "1", "state": "live", "hidden": False, "instant_match": False, "visualization": None, "provider_metadata": None,
                 "scores": {"current": [1, 0]}, "tennis_server": None, "actual_start_datetime": STAMP, "match_period": "first_half"}
        f.route("GET", "events/1/states/", (200, {"event_states": [state]}))
        [parsed_state] = self.call("GET", "events/1/states/", self.client.event_states([1]))
        self.assertEqual((parsed_state.scores, parsed_state.match_period), ({"current": [1, 0]}, "first_half"))
        f.route("GET", "currencies/EUR/", (200, {"code": "EUR", "name": "Euro", "rate_to_gbp": "1.14"}))
        self.assertEqual(self.call("GET", "currencies/EUR/", self.client.currency("EUR")).rate_to_gbp, Decimal("1.14"))
        self.failureResultOf(self.client.currency("eur"), ValueError)

    def test_market_data(self) -> None:
        f = self.fake
        f.route("GET", "markets/5/last_executed_prices/", (200, {"last_executed_prices": {"5": [
            {"contract_id": "11", "last_executed_price": "23.45", "timestamp": STAMP},
            {"contract_id": "12", "last_executed_price": None, "timestamp": None}]}}))
        prices = self.call("GET", "markets/5/last_executed_prices/", self.client.last_executed_prices([5]))
        self.assertEqual([(p.contract_id, p.last_executed_price) for p in prices[5]], [(11, 2345), (12, None)])
        f.route("GET", "markets/5/volumes/", (200, {"volumes": [{"market_id": "5", "volume": 1234, "double_stake_volume": 99}]}))
        self.assertEqual(self.call("GET", "markets/5/volumes/", self.client.volumes([5]))[0].volume, 1234)
        self.assertIsNotNone(f.requests[-1].token)  # volumes need a session

    def test_account_and_orders(self) -> None:
        f = self.fake
        row = {"seq": 12, "subseq": 1, "source": "order.execute", "timestamp": "2017-12-16T00:16:25", "order_id": str(BIG),
               "price": 2500, "money_change": "-2.50", "amount": None}
        f.route("GET", "accounts/activity/", (200, {"account_activity": [row], "pagination": {"next_page": None}}))
        page = self.call("GET", "accounts/activity/", self.client.activity(source=["order.execute"], pagination_last_seq=13, pagination_last_subseq=0))
        [parsed] = page.items
        self.assertEqual((parsed.order_id, parsed.money_change, parsed.timestamp.tzinfo), (BIG, Decimal("-2.50"), timezone.utc))
        self.assertEqual(f.requests[-1].query, [("source", "order.execute"), ("pagination_last_seq", "13"), ("pagination_last_subseq", "0")])
        self.assertEqual([r.seq for r in self.successResultOf(self.client.activity_pages().collect())], [12])
        hour = datetime(2024, 1, 1, 10, tzinfo=timezone.utc)
        f.route("GET", "account_activity_csv/*/", (200, gzip.compress(b"seq,source\n12,order.execute\n")))
        csv = self.call("GET", "account_activity_csv/2024-01-01T10:00:00Z/2024-01-01T11:00:00Z/", self.client.activity_csv(hour, hour + timedelta(hours=1)))
        self.assertEqual(csv, b"seq,source\n12,order.execute\n")
        f.route("GET", "orders/", (200, {"orders": [order(BIG, label="s1")], "otc_available": False, "pagination": {"next_page": None}}))
        [parsed_order] = self.call("GET", "orders/", self.client.orders(state=["created", "partial"], market_id=[1], limit=100)).items
        self.assertEqual((parsed_order.id, parsed_order.label, parsed_order.stake_traded_out_user_currency), (BIG, "s1", Decimal("0.0")))
        self.assertEqual(f.requests[-1].query, [("state", "created"), ("state", "partial"), ("market_id", "1"), ("limit", "100")])
        f.route("POST", "orders/", lambda seen: (200, dict(order_created(BIG), **{k: seen.body[k] for k in ("side", "price", "quantity")})))
        created = self.call("POST", "orders/", self.client.create_order(1, 11, "sell", 2500, 100000, type="immediate_or_cancel", label="s1", minimum_accepted_quantity=50000))
        self.assertEqual((created.order_id, created.side), (BIG, "sell"))
        self.assertEqual(f.requests[-1].body, {"market_id": "1", "contract_id": "11", "side": "sell", "price": 2500, "quantity": 100000,
                                               "type": "immediate_or_cancel", "label": "s1", "minimum_accepted_quantity": 50000})
        f.route("DELETE", f"orders/{BIG}/", (200, {}))
        self.assertIsNone(self.call("DELETE", f"orders/{BIG}/", self.client.cancel_order(BIG)))
        fullcover = {"reference_id": "r1", "fullcover_type": "doubles", "number_of_bets": 1, "original_contracts": [{"contract_id": "11"}],
                     "stake": 7.5, "returned_amount": 0, "cashed_out_amount": 0.0, "cashed_out_quantity": 0, "to_return": 15.0,
                     "price": 5000, "side": "buy", "state": "created", "created_datetime": STAMP, "last_modified_datetime": STAMP}
        f.route("GET", "orders/fullcover/", (200, {"orders": [fullcover], "pagination": {"next_page": None}}))
        [parsed_fullcover] = self.call("GET", "orders/fullcover/", self.client.fullcover_orders(states=["created"])).items
        self.assertEqual((parsed_fullcover.stake, parsed_fullcover.returned_amount), (Decimal("7.5"), Decimal(0)))


class QueueTests(unittest.SynchronousTestCase):
    def test_a_cancelled_waiter_leaves_the_queue(self) -> None:
        clock = Clock()
        bucket = TokenBucket(clock, "cancel_all", 1, 60.0, max_queue=1)
        self.successResultOf(bucket.acquire())
        first = bucket.acquire()
        first.cancel()
        self.failureResultOf(first)
        second = bucket.acquire()  # the queue's one place is free again
        clock.advance(60)
        self.successResultOf(second)
        self.assertEqual(bucket.waiting, 0)
