"""The HTTP API's orders, account and activity over loopback, and its clock-bound rules
(token lifetime, rate limits) on a `Clock`. Every loopback answer is checked against
Smarkets' document as it comes."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial import unittest

from tests.support import inline
from tests.http_support import BIG, HttpTestCase
from txsmarkets.exchange import MatchingEngine
from txsmarkets.exchange.http import HttpApi, Limit
from txsmarkets.exchange.http.site import HttpSite
from txsmarkets.exchange.catalogue import demo_catalogue
from txsmarkets.odds import sell_liability


class OrderTests(HttpTestCase):
    @inline
    async def test_create_answers_the_order(self) -> None:
        http = await self.start_http(first_order_id=BIG)
        token = await http.login()
        status, placed = await http.place(token, label="first", reference_id="1700000000", extra={"x": 1})
        self.assertEqual(status, 200)
        self.assertEqual(
            placed,
            {
                "order_id": str(BIG),
                "market_id": "1",
                "contract_id": "11",
                "side": "buy",
                "price": 5000,
                "quantity": 100000,
                "available_quantity": 100000,
                "total_executed_quantity": 0,
                "executed_avg_price": None,
                "orig_price": None,
                "available_balance": "995.00",
                "exposure": "-5.00",
            },
        )
        _, orders = await http.call("GET", "orders/", token=token)
        (order,) = orders["orders"]
        self.assertEqual((order["id"], order["label"], order["state"], order["type"]), (str(BIG), "first", "created", "good_til_halted"))
        # Ids above 2**53 are exact all the way: in a filter and in a cancel.
        _, found = await http.call("GET", f"orders/?id={BIG}", token=token)
        self.assertEqual(len(found["orders"]), 1)
        self.assertEqual(await http.call("DELETE", f"orders/{BIG}/", token=token), (200, {}))
        status, answer = await http.call("DELETE", f"orders/{BIG}/", token=token)
        self.assertEqual((status, answer["error_type"]), (400, "ORDER_CANCEL_REJECTED_NOT_LIVE"))
        status, answer = await http.call("DELETE", f"orders/{BIG + 1}/", token=token)
        self.assertEqual((status, answer["error_type"]), (404, "ORDER_CANCEL_REJECTED_NOT_FOUND"))
        status, answer = await http.call("DELETE", f"orders/{2**64}/", token=token)
        self.assertEqual((status, answer["error_type"]), (404, "ORDER_CANCEL_REJECTED_NOT_FOUND"))
        # A cancelled order without fills has no state of the document's: it leaves the list.
        _, orders = await http.call("GET", "orders/", token=token)
        self.assertEqual(orders["orders"], [])

    @inline
    async def test_rejections_and_invalid_orders(self) -> None:
        http = await self.start_http()
        token = await http.login()
        for order, error in (
            ({"price": 5001}, "ORDER_INVALID_INVALID_PRICE"),
            ({"quantity": 0}, "ORDER_INVALID_INVALID_QUANTITY"),
            ({"price": 5001, "quantity": 0}, "ORDER_INVALID_INVALID_PRICE, ORDER_INVALID_INVALID_QUANTITY"),
            ({"market_id": "999"}, "ORDER_REJECTED_MARKET_NOT_FOUND"),
            ({"market_id": str(2**40)}, "ORDER_REJECTED_MARKET_NOT_FOUND"),
            ({"contract_id": "21"}, "ORDER_REJECTED_CONTRACT_NOT_FOUND"),
            ({"contract_id": str(2**40)}, "ORDER_REJECTED_CONTRACT_NOT_FOUND"),
            ({"quantity": 4_000_000_000}, "ORDER_REJECTED_INSUFFICIENT_FUNDS"),
        ):
            status, answer = await http.place(token, **order)
            self.assertEqual((status, answer["error_type"]), (400, error), order)
        for order in (
            {"price": 0},
            {"price": 10000},
            {"price": 5000.0},
            {"price": "5000"},
            {"price": True},
            {"quantity": -1},
            {"quantity": 2**32},
            {"side": "back"},
            {"type": "fill_or_kill"},
            {"type": ["good_til_cancelled"]},
            {"side": {"buy": 1}},
            {"market_id": "1a"},
            {"market_id": None},
            {"label": 7},
            {"minimum_accepted_quantity": -5},
        ):
            status, answer = await http.place(token, **order)
            self.assertEqual((status, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), order)
        for raw in (b"", b"{", b'"order"', b"[1]"):
            status, body, _ = await http.raw("POST", "orders/", raw, token)
            self.assertEqual((status, json.loads(body)["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), raw)
        # Nothing of these reached the book.
        _, account = await http.call("GET", "accounts/", token=token)
        self.assertEqual(account["account"]["exposure"], "0.00")

    @inline
    async def test_self_cross_and_closed_markets(self) -> None:
        http = await self.start_http()
        token = await http.login()
        await http.place(token, side="sell", price=5000)
        status, answer = await http.place(token, side="buy", price=5000)
        self.assertEqual((status, answer["error_type"]), (400, "ORDER_REJECTED_CROSSED_SELF"))
        engine = self.exchange.engine
        engine.set_market_state(2, "halted")
        status, answer = await http.place(token, market_id="2", contract_id="21")
        self.assertEqual(answer["error_type"], "ORDER_REJECTED_MARKET_HALTED")
        engine.settle_market(3, [31])
        status, answer = await http.place(token, market_id="3", contract_id="31")
        self.assertEqual(answer["error_type"], "ORDER_REJECTED_MARKET_SETTLED")
        _, contracts = await http.call("GET", "markets/3/contracts/")
        self.assertEqual([c["state_or_outcome"] for c in contracts["contracts"]], ["winner", "loser", "loser"])
        _, events = await http.call("GET", "events/?id=3&state=settled")
        self.assertEqual([e["state"] for e in events["events"]], ["settled"])

    @inline
    async def test_immediate_or_cancel(self) -> None:
        http = await self.start_http()
        maker, taker = await http.login("demo2", "demo2"), await http.login()
        await http.place(maker, side="sell", price=5000, quantity=30000)
        ioc = {"type": "immediate_or_cancel", "price": 5000, "quantity": 50000}
        status, answer = await http.place(taker, minimum_accepted_quantity=40000, **ioc)
        self.assertEqual((status, answer["error_type"]), (400, "ORDER_CANCELLED_INSUFFICIENT_LIQUIDITY"))
        status, placed = await http.place(taker, minimum_accepted_quantity=30000, **ioc)
        self.assertEqual((placed["total_executed_quantity"], placed["available_quantity"]), (30000, 0))
        self.assertEqual((placed["executed_avg_price"], placed["orig_price"]), (5000, 5000))
        # Nothing left to fill: it ends at once, unfilled.
        status, placed = await http.place(taker, **ioc)
        self.assertEqual((status, placed["total_executed_quantity"], placed["available_quantity"]), (200, 0, 0))
        _, orders = await http.call("GET", "orders/", token=taker)
        self.assertEqual([(o["state"], o["type"], o["quantity_unfilled"]) for o in orders["orders"]],
                         [("filled", "immediate_or_cancel", 0)])  # fmt: skip

    @inline
    async def test_what_ends_each_order_type(self) -> None:
        http = await self.start_http()
        token = await http.login()
        placed = {}
        for kind in ("good_til_cancelled", "good_til_halted", "keep_in_play"):
            _, answer = await http.place(token, type=kind, price=2000, quantity=10000)
            placed[answer["order_id"]] = kind
        engine = self.exchange.engine
        engine.set_market_state(1, "live")
        _, activity = await http.call("GET", "accounts/activity/?source=order.book.cancel", token=token)
        self.assertEqual([placed[r["order_id"]] for r in activity["account_activity"]], ["good_til_cancelled"])
        _, markets = await http.call("GET", "events/1/markets/")
        self.assertEqual(markets["markets"][0]["state"], "live")
        _, events = await http.call("GET", "events/?id=1&state=live")
        self.assertEqual([e["state"] for e in events["events"]], ["live"])
        # A halt ends the rest here (the engine's rule for both protocols; see the guide).
        engine.set_market_state(1, "halted")
        _, activity = await http.call("GET", "accounts/activity/?source=order.book.cancel&sort=seq,subseq", token=token)
        self.assertEqual(
            [placed[r["order_id"]] for r in activity["account_activity"]],
            ["good_til_cancelled", "good_til_halted", "keep_in_play"],
        )

    @inline
    async def test_order_list_filters_and_pages(self) -> None:
        http = await self.start_http()
        token, other = await http.login(), await http.login("demo2", "demo2")
        ids = []
        for i in range(25):
            _, answer = await http.place(token, market_id=str(1 + i % 2), contract_id=str(11 + 10 * (i % 2)), price=2000, quantity=10000)
            ids.append(answer["order_id"])
        await http.place(other, price=2000)
        # Fill one of them in part.
        await http.place(other, side="sell", price=2000, quantity=4000)
        seen, path = [], "orders/?limit=10"
        while True:
            status, page = await http.call("GET", path, token=token)
            self.assertEqual(status, 200)
            seen += [o["id"] for o in page["orders"]]
            if page["pagination"]["next_page"] is None:
                break
            self.assertLessEqual(len(page["orders"]), 10)
            path = "orders/" + page["pagination"]["next_page"]
        self.assertEqual(seen, ids)
        _, page = await http.call("GET", "orders/?sort=-id&limit=3", token=token)
        self.assertEqual([o["id"] for o in page["orders"]], ids[::-1][:3])
        _, page = await http.call("GET", "orders/?state=partial", token=token)
        (partial,) = page["orders"]
        self.assertEqual((partial["id"], partial["quantity_filled"], partial["quantity_unfilled"]), (ids[0], 4000, 6000))
        self.assertEqual(partial["average_price_matched"], 2000)
        _, page = await http.call("GET", "orders/?market_id=2&limit=100", token=token)
        self.assertEqual([o["id"] for o in page["orders"]], ids[1::2])
        _, page = await http.call("GET", "orders/?contract_id=21&side=sell", token=token)
        self.assertEqual(page["orders"], [])
        _, page = await http.call("GET", f"orders/?sequence_number_min={partial['sequence_number']}", token=token)
        self.assertEqual([o["id"] for o in page["orders"]], [ids[0]])
        for query in ("limit=0", "limit=101", "state=cancelled", "sort=price", "side=back", "id=x", "created_datetime_min=x"):
            status, answer = await http.call("GET", "orders/?" + query, token=token)
            self.assertEqual((status, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), query)

    @inline
    async def test_cancel_all(self) -> None:
        # Lifted: more than one cancel-all a minute.
        http = await self.start_http(http_rate_limits={"cancel_orders": None})
        token = await http.login()
        for market in (1, 1, 2):
            await http.place(token, market_id=str(market), contract_id=str(10 * market + 1), price=2000)
        self.assertEqual(await http.call("DELETE", "orders/?market_id=1", token=token), (200, {}))
        _, orders = await http.call("GET", "orders/", token=token)
        self.assertEqual([o["market_id"] for o in orders["orders"]], ["2"])
        status, answer = await http.call("DELETE", "orders/?market_id=x", token=token)
        self.assertEqual((status, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"))

    @inline
    async def test_cancel_all_of_many(self) -> None:
        """More orders than the engine cancels in one chunk: all are gone by the answer."""
        http = await self.start_http(answer_chunk=10)
        token = await http.login()
        for _ in range(25):
            await http.place(token, price=2000, quantity=1000)
        self.assertEqual(await http.call("DELETE", "orders/", token=token), (200, {}))
        self.assertEqual(self.exchange.engine.accounts[1].orders, {})


class AccountTests(HttpTestCase):
    @inline
    async def test_account_money(self) -> None:
        http = await self.start_http()
        token = await http.login()
        # A lay of 12345 at 20%: a liability of £0.9876, shown to the penny above; what is
        # left, £999.0124, to the penny below.
        self.assertEqual(sell_liability(2000, 12345), Decimal("0.9876"))
        await http.place(token, side="sell", price=2000, quantity=12345)
        status, answer = await http.call("GET", "accounts/", token=token)
        self.assertEqual(status, 200)
        account = answer["account"]
        self.assertEqual(
            {k: account[k] for k in ("account_id", "currency", "balance", "available_balance", "exposure")},
            {"account_id": "1", "currency": "GBP", "balance": "1000.00", "available_balance": "999.01", "exposure": "-0.99"},
        )

    @inline
    async def test_activity_rows_and_pages(self) -> None:
        http = await self.start_http()
        token, other = await http.login(), await http.login("demo2", "demo2")
        _, first = await http.place(token, price=2500, quantity=40000, label="mm")
        await http.place(other, side="sell", price=2500, quantity=40000)
        await http.place(token, price=2000, quantity=10000)
        await http.place(token, price=5001)  # invalid
        await http.call("DELETE", f"orders/{first['order_id']}/", token=token)  # filled: NOT_LIVE
        self.exchange.engine.settle_market(1, [11])
        _, answer = await http.call("GET", "accounts/activity/?sort=seq,subseq&event_info=true", token=token)
        rows = answer["account_activity"]
        self.assertEqual(
            [r["source"] for r in rows],
            ["order.create", "order.execute", "order.create", "order.book.reject", "order.cancel.reject",
             "order.book.cancel", "market.settle"],
        )  # fmt: skip
        self.assertEqual([r["seq"] for r in rows], list(range(1, 8)))
        execute = rows[1]
        self.assertEqual((execute["price"], execute["quantity"], execute["label"], execute["money_change"]), (2500, 40000, "mm", "0.00"))
        self.assertEqual(execute["exposure"], "-1.00")
        settle = rows[-1]
        # Won £4.00 of pot on a £1.00 stake: £3.00 more cash.
        self.assertEqual((settle["market_id"], settle["money_change"], settle["money"], settle["amount"]), ("1", "3.00", "1003.00", "3.00"))
        self.assertEqual(answer["events"][0]["name"], "Match 01")
        self.assertEqual(answer["markets"], [{"name": "Match 01: winner", "market_type": {"name": "WINNER_3_WAY"}, "contract_selections": None}])
        self.assertEqual([c["state_or_outcome"] for c in answer["contracts"]], ["winner"])
        # Newest first by default, in pages whose cursor is the last row's (seq, subseq).
        seen, path = [], "accounts/activity/?limit=3"
        while path:
            _, page = await http.call("GET", path, token=token)
            seen += [r["seq"] for r in page["account_activity"]]
            next_page = page["pagination"]["next_page"]
            path = None if next_page is None else "accounts/activity/" + next_page
        self.assertEqual(seen, list(range(7, 0, -1)))
        _, page = await http.call("GET", "accounts/activity/?source=order.execute&source=market.settle", token=token)
        self.assertEqual([r["source"] for r in page["account_activity"]], ["market.settle", "order.execute"])
        _, page = await http.call("GET", "accounts/activity/?limit=0", token=token)
        self.assertEqual(page["account_activity"], [])
        for query in ("limit=501", "source=order.nothing", "sort=seq", "pagination_last_seq=x", "timestamp_min=x"):
            status, answer = await http.call("GET", "accounts/activity/?" + query, token=token)
            self.assertEqual((status, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), query)


class LoopbackRateLimitTests(HttpTestCase):
    @inline
    async def test_429_with_count_expiry_and_limit(self) -> None:
        http = await self.start_http(http_rate_limits={"get_quotes": (2, 60.0), "create_order": Limit(1, 60.0)})
        for _ in range(2):
            self.assertEqual((await http.call("GET", "markets/1/quotes/"))[0], 200)
        status, body, headers = await http.raw("GET", "markets/1/quotes/")
        answer = json.loads(body)
        self.assertEqual((status, answer["error_type"]), (429, "RATE_LIMIT_EXCEEDED"))
        self.assertEqual((answer["data"]["count"], answer["data"]["limit"]), (2, 2))
        self.assertRegex(answer["data"]["expiry"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertIn(int(headers.getRawHeaders(b"retry-after")[0]), range(58, 61))
        token = await http.login()
        self.assertEqual((await http.place(token))[0], 200)
        status, answer = await http.place(token)
        self.assertEqual((status, answer["error_type"]), (429, "RATE_LIMIT_EXCEEDED"))
        # The refused create never reached the book.
        self.assertEqual(len(self.exchange.engine.accounts[1].orders), 1)


def _stub(clock: Clock, engine_options: dict[str, Any] | None = None, **options: Any) -> tuple[StubTreq, MatchingEngine]:
    engine = MatchingEngine(demo_catalogue(), now=clock.seconds, **(engine_options or {}))
    site = HttpSite(HttpApi(engine, clock, **options), reactor=clock)
    return StubTreq(site.resource), engine


class StubTestCase(unittest.TestCase):
    """Calls to the HTTP API through an in-memory client."""

    def call(self, stub: StubTreq, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Session-Token {token}"} if token else {}
        data = None if body is None else json.dumps(body).encode()
        d = stub.request(method, "http://exchange/v3/" + path, data=data, headers=headers)
        stub.flush()
        response = self.successResultOf(d)
        content = self.successResultOf(response.content())
        return response.code, json.loads(content), response.headers

    def login(self, stub: StubTreq, username: str = "demo") -> str:
        status, answer, _ = self.call(stub, "POST", "sessions/", {"username": username, "password": username})
        self.assertEqual(status, 201)
        return str(answer["token"])


class ClockTests(StubTestCase):
    """The rules that depend on time, on a `Clock` through an in-memory client."""

    def test_tokens_live_thirty_minutes_from_their_last_use(self) -> None:
        clock = Clock()
        clock.advance(1_800_000_000)
        stub, _ = _stub(clock)
        token = self.login(stub)
        for _ in range(3):
            clock.advance(29 * 60)
            self.assertEqual(self.call(stub, "GET", "accounts/", token=token)[0], 200)
        clock.advance(30 * 60)
        status, answer, _ = self.call(stub, "GET", "accounts/", token=token)
        self.assertEqual((status, answer["error_type"]), (401, "AUTH_REQUIRED"))

    def test_a_short_token_lifetime(self) -> None:
        clock = Clock()
        stub, _ = _stub(clock, token_lifetime=5.0)
        token = self.login(stub)
        clock.advance(5.0)
        self.assertEqual(self.call(stub, "GET", "orders/", token=token)[0], 401)

    def test_a_refused_request_is_not_counted(self) -> None:
        clock = Clock()
        clock.advance(1_800_000_000)
        stub, _ = _stub(clock)
        for _ in range(10):
            self.assertEqual(self.call(stub, "POST", "sessions/", {"username": "demo", "password": "x"})[0], 401)
            clock.advance(1)
        status, answer, headers = self.call(stub, "POST", "sessions/", {"username": "demo", "password": "demo"})
        self.assertEqual((status, answer["error_type"]), (429, "RATE_LIMIT_EXCEEDED"))
        self.assertEqual(answer["data"], {"count": 10, "expiry": "2027-01-15T08:01:00.000000Z", "limit": 10})
        self.assertEqual(headers.getRawHeaders(b"retry-after"), [b"50"])
        clock.advance(49)
        self.assertEqual(self.call(stub, "POST", "sessions/", {"username": "demo", "password": "demo"})[0], 429)
        clock.advance(1)
        self.assertEqual(self.call(stub, "POST", "sessions/", {"username": "demo", "password": "demo"})[0], 201)

    def test_limits_name_operations(self) -> None:
        error = self.assertRaises(ValueError, _stub, Clock(), rate_limits={"get_quote": (1, 1.0)})
        self.assertIn("no such operation to limit: get_quote", str(error))

    def test_cancel_limits_per_account(self) -> None:
        clock = Clock()
        stub, _ = _stub(clock)
        token = self.login(stub)
        for _ in range(10):
            self.assertEqual(self.call(stub, "DELETE", "orders/1/", token=token)[0], 404)
        self.assertEqual(self.call(stub, "DELETE", "orders/1/", token=token)[0], 429)
        clock.advance(1)
        self.assertEqual(self.call(stub, "DELETE", "orders/1/", token=token)[0], 404)
        self.assertEqual(self.call(stub, "DELETE", "orders/", token=token)[0], 200)
        self.assertEqual(self.call(stub, "DELETE", "orders/", token=token)[0], 429)


class RetentionTests(StubTestCase):
    """How long done orders stay listed: with fills, while their market is open; the others
    (and those once their market is settled), the last ``done_orders_kept`` of each
    account. Here 3 are kept."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.stub, self.engine = _stub(self.clock, {"done_orders_kept": 3}, rate_limits={"create_order": None})
        self.demo, self.demo2 = self.login(self.stub), self.login(self.stub, "demo2")

    def place(self, token: str, **order: Any) -> Any:
        body = {"market_id": "1", "contract_id": "11", "side": "buy", "price": 5000, "quantity": 100000, **order}
        status, answer, _ = self.call(self.stub, "POST", "orders/", body, token)
        self.assertEqual(status, 200, answer)
        return answer

    def flood(self, token: str, count: int) -> list[str]:
        """``count`` immediate-or-cancel orders of the account that fill nothing: done at once."""
        ids = []
        for _ in range(count):
            placed = self.place(token, market_id="2", contract_id="22", price=1000, type="immediate_or_cancel")
            self.assertEqual(placed["total_executed_quantity"], 0)
            ids.append(placed["order_id"])
        return ids

    def listed(self, token: str) -> list[tuple[str, str]]:
        status, answer, _ = self.call(self.stub, "GET", "orders/", token=token)
        self.assertEqual(status, 200)
        return [(order["id"], order["state"]) for order in answer["orders"]]

    def filled(self) -> str:
        """A demo order that is done, fully filled, in market 1 (open)."""
        self.place(self.demo2, side="sell")
        placed = self.place(self.demo, type="immediate_or_cancel")
        self.assertEqual(placed["total_executed_quantity"], 100000)
        return str(placed["order_id"])

    def test_a_filled_order_stays_listed_while_its_market_is_open(self) -> None:
        order_id = self.filled()
        self.flood(self.demo, 5)
        self.flood(self.demo2, 5)
        self.assertEqual(self.listed(self.demo), [(order_id, "filled")])
        status, answer, _ = self.call(self.stub, "DELETE", f"orders/{order_id}/", token=self.demo)
        self.assertEqual((status, answer["error_type"]), (400, "ORDER_CANCEL_REJECTED_NOT_LIVE"))

    def test_settled_orders_stay_among_the_account_s_recent_ones(self) -> None:
        order_id = self.filled()
        self.engine.settle_market(1, [11])
        # Another account's orders do not push it out...
        self.flood(self.demo2, 5)
        self.assertEqual(self.listed(self.demo), [(order_id, "settled")])
        # ... the account's own do, past the 3 kept.
        self.flood(self.demo, 2)
        self.assertEqual(self.listed(self.demo), [(order_id, "settled")])
        self.flood(self.demo, 1)
        self.assertEqual(self.listed(self.demo), [])

    def test_each_account_remembers_a_bounded_number_of_done_orders(self) -> None:
        ids = self.flood(self.demo2, 10)
        remembered = [order_id for order_id in ids if self.engine.order(int(order_id)) is not None]
        self.assertEqual(remembered, ids[-3:])
        status, answer, _ = self.call(self.stub, "DELETE", f"orders/{ids[0]}/", token=self.demo2)
        self.assertEqual((status, answer["error_type"]), (404, "ORDER_CANCEL_REJECTED_NOT_FOUND"))

    def test_settling_or_voiding_changes_the_orders(self) -> None:
        """A settlement (or a void) is the last change of each order with fills in the
        market: its ``sequence_number`` (the activity row's ``seq``) and
        ``last_modified_datetime`` move, so that polling by ``sequence_number_min`` sees it."""
        for market_id, contract_id, end in (("1", "11", "settle"), ("2", "21", "void")):
            self.place(self.demo2, market_id=market_id, contract_id=contract_id, side="sell")
            order_id = self.place(self.demo, market_id=market_id, contract_id=contract_id)["order_id"]
            status, answer, _ = self.call(self.stub, "GET", f"orders/?id={order_id}", token=self.demo)
            [before] = answer["orders"]
            self.clock.advance(5)
            if end == "settle":
                self.engine.settle_market(1, [11])
            else:
                self.engine.void_market(2)
            polled = f"orders/?sequence_number_min={before['sequence_number'] + 1}"
            status, answer, _ = self.call(self.stub, "GET", polled, token=self.demo)
            [after] = answer["orders"]
            self.assertEqual((after["id"], after["state"]), (order_id, "settled"), end)
            self.assertGreater(after["last_modified_datetime"], before["last_modified_datetime"], end)
            status, activity, _ = self.call(self.stub, "GET", "accounts/activity/?limit=1", token=self.demo)
            [row] = activity["account_activity"]
            self.assertEqual((row["source"], row["seq"]), (f"market.{end}", after["sequence_number"]), end)
