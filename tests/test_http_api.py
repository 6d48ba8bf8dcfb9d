"""The embedded exchange's HTTP API v3 over loopback: each route, its shapes, units, status
codes and error types, on the same engine as the streaming side. Every answer is checked
against Smarkets' document as it comes (`tests.http_support.HttpClient`)."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from urllib.parse import parse_qs

from tests.daemons import until
from tests.http_support import FIXED_CODE, MATCHES, TOTP_SECRET, HttpTestCase
from tests.support import global_reactor, inline
from txsmarkets.client import BUY, SELL, OrderCreate
from txsmarkets.exchange.second_factor import totp

class SessionTests(HttpTestCase):
    @inline
    async def test_login_and_logout(self) -> None:
        http = await self.start_http()
        status, answer = await http.call("POST", "sessions/", {"username": "demo", "password": "demo", "remember": True})
        self.assertEqual((status, answer["factor"]), (201, "complete"))
        self.assertRegex(answer["stop"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        stop = datetime.fromisoformat(answer["stop"])
        self.assertLess(abs(stop.timestamp() - global_reactor().seconds() - 1800), 5)
        token = answer["token"]
        self.assertEqual((await http.call("GET", "accounts/", token=token))[0], 200)
        self.assertEqual(await http.call("DELETE", "sessions/", token=token), (200, {"success": True}))
        status, answer = await http.call("GET", "accounts/", token=token)
        self.assertEqual((status, answer["error_type"]), (401, "AUTH_REQUIRED"))
        # Ending a session already over is no error.
        self.assertEqual((await http.call("DELETE", "sessions/", token=token))[0], 200)

    @inline
    async def test_bad_logins(self) -> None:
        http = await self.start_http()
        for body in ({"username": "demo", "password": "wrong"}, {"username": "nobody", "password": "demo"}):
            status, answer = await http.call("POST", "sessions/", body)
            self.assertEqual((status, answer["error_type"]), (401, "INVALID_CREDENTIALS"))
        for raw in (b"{not json", b"[]", b'{"username": "demo"}', b'{"username": 1, "password": "x"}', b"NaN"):
            status, body, _ = await http.raw("POST", "sessions/", raw)
            self.assertEqual((status, json.loads(body)["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), raw)

    @inline
    async def test_session_bodies_as_the_document_has_them(self) -> None:
        """The document's login and verify bodies allow no other fields and type the login
        options boolean: anything else is 400 ``REQUEST_VALIDATION_ERROR``, as Smarkets
        would refuse it."""
        http = await self.start_http()
        login = {"username": "demo", "password": "demo"}
        for body in (
            {**login, "remember": "yes"},
            {**login, "use_auth_v2": 1},
            {**login, "reopen_account": None},
            {**login, "api_key": "x"},
        ):
            status, answer = await http.call("POST", "sessions/", body)
            self.assertEqual((status, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), body)
        options = {"remember": True, "use_auth_v2": False, "create_social_member": False, "reopen_account": False}
        status, answer = await http.call("POST", "sessions/", {**login, **options})
        self.assertEqual((status, answer["factor"]), (201, "complete"))
        status, half = await http.call("POST", "sessions/", {"username": "fixed", "password": "pw"})
        for body in ({"token": half["token"], "code": FIXED_CODE, "remember": True}, {"code": FIXED_CODE}):
            status, answer = await http.call("POST", "sessions/verify/", body)
            self.assertEqual((status, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), body)

    @inline
    async def test_no_token_or_a_bad_one(self) -> None:
        http = await self.start_http()
        private = [
            ("GET", "accounts/"),
            ("GET", "accounts/activity/"),
            ("GET", "orders/"),
            ("POST", "orders/"),
            ("DELETE", "orders/"),
            ("DELETE", "orders/1/"),
            ("GET", "orders/fullcover/"),
            ("GET", "markets/1/volumes/"),
            ("GET", "account_activity_csv/2030-01-01T00:00:00Z/2030-01-01T01:00:00Z/"),
        ]
        for token in (None, "not-a-token"):
            for method, path in private:
                status, answer = await http.call(method, path, {} if method == "POST" else None, token)
                self.assertEqual((status, answer["error_type"]), (401, "AUTH_REQUIRED"), (method, path))
        status, _, _ = await http.raw("GET", "accounts/", token=None)
        self.assertEqual(status, 401)

    @inline
    async def test_public_routes_need_no_token(self) -> None:
        http = await self.start_http()
        for path in ("events/", "events/1/markets/", "markets/1/", "events/1/markets_count/", "markets/1/contracts/",
                     "markets/1/quotes/", "markets/1/last_executed_prices/", "events/1/competitors/",
                     "events/1/states/", "currencies/GBP/"):  # fmt: skip
            self.assertEqual((await http.call("GET", path))[0], 200, path)

    @inline
    async def test_fixed_second_factor(self) -> None:
        http = await self.start_http()
        status, half = await http.call("POST", "sessions/", {"username": "fixed", "password": "pw"})
        self.assertEqual((status, half["factor"]), (201, "totp"))
        # Half a session is no session.
        self.assertEqual((await http.call("GET", "accounts/", token=half["token"]))[0], 401)
        status, answer = await http.call("POST", "sessions/verify/", {"token": half["token"], "code": "000000"})
        self.assertEqual((status, answer["error_type"]), (401, "INVALID_CREDENTIALS"))
        status, answer = await http.call("POST", "sessions/verify/", {"token": "nonsense", "code": FIXED_CODE})
        self.assertEqual((status, answer["error_type"]), (400, "INVALID_TOKEN"))
        status, answer = await http.call("POST", "sessions/verify/", {"token": None, "code": FIXED_CODE})
        self.assertEqual((status, answer["error_type"]), (400, "INVALID_TOKEN"))
        status, full = await http.call("POST", "sessions/verify/", {"token": half["token"], "code": FIXED_CODE})
        self.assertEqual((status, full["factor"]), (201, "complete"))
        self.assertNotEqual(full["token"], half["token"])
        status, account = await http.call("GET", "accounts/", token=full["token"])
        self.assertEqual((status, account["account"]["balance"]), (200, "10.00"))
        # The half session is spent.
        status, answer = await http.call("POST", "sessions/verify/", {"token": half["token"], "code": FIXED_CODE})
        self.assertEqual((status, answer["error_type"]), (400, "INVALID_TOKEN"))

    @inline
    async def test_totp_second_factor(self) -> None:
        http = await self.start_http()
        status, half = await http.call("POST", "sessions/", {"username": "totp", "password": "pw"})
        self.assertEqual(half["factor"], "totp")
        code = totp(TOTP_SECRET, global_reactor().seconds())
        status, full = await http.call("POST", "sessions/verify/", {"token": half["token"], "code": code})
        self.assertEqual((status, full["factor"]), (201, "complete"))
        self.assertEqual((await http.call("GET", "accounts/", token=full["token"]))[0], 200)

    @inline
    async def test_wrong_codes_end_the_half_session(self) -> None:
        http = await self.start_http()
        _, half = await http.call("POST", "sessions/", {"username": "fixed", "password": "pw"})
        for _ in range(5):
            status, _ = await http.call("POST", "sessions/verify/", {"token": half["token"], "code": "1"})
            self.assertEqual(status, 401)
        status, answer = await http.call("POST", "sessions/verify/", {"token": half["token"], "code": FIXED_CODE})
        self.assertEqual((status, answer["error_type"]), (400, "INVALID_TOKEN"))


class CatalogueTests(HttpTestCase):
    @inline
    async def test_events_and_their_pages(self) -> None:
        http = await self.start_http()
        status, first = await http.call("GET", "events/?limit=10")
        self.assertEqual(status, 200)
        self.assertEqual([e["id"] for e in first["events"]], [str(i) for i in range(1, 11)])
        seen = [e["id"] for e in first["events"]]
        page = first
        while page["pagination"]["next_page"] is not None:
            status, page = await http.call("GET", "events/" + page["pagination"]["next_page"])
            seen += [e["id"] for e in page["events"]]
        # The sport and the competition are upcoming too: they follow no markets.
        self.assertEqual(seen, [str(i) for i in range(1, MATCHES + 1)] + ["100", "101"])
        match = first["events"][0]
        self.assertEqual(
            {k: match[k] for k in ("name", "slug", "full_slug", "parent_id", "type", "state", "start_datetime")},
            {
                "name": "Match 01",
                "slug": "match-01",
                "full_slug": "/football/demo-league/match-01",
                "parent_id": "101",
                "type": "football_match",
                "state": "upcoming",
                "start_datetime": "2030-06-01T12:00:00.000000Z",
            },
        )

    @inline
    async def test_event_filters_and_sorts(self) -> None:
        http = await self.start_http()

        async def ids(query: str) -> list[str]:
            status, answer = await http.call("GET", "events/?" + query)
            self.assertEqual(status, 200, answer)
            return [e["id"] for e in answer["events"]]

        self.assertEqual(await ids("id=3&id=5&id=100"), ["3", "5", "100"])
        self.assertEqual(await ids("id[]=3,5"), ["3", "5"])
        self.assertEqual(await ids("parent_id=100"), ["101"])
        self.assertEqual(await ids("type_scope=root&type_scope=category"), ["100", "101"])
        self.assertEqual(await ids("type=top_level_event"), ["100"])
        self.assertEqual(await ids("type_domain=tennis"), [])
        self.assertEqual(await ids("state=live"), [])
        self.assertEqual(
            await ids("start_datetime_min=2030-06-02T10:00:00Z&start_datetime_max=2030-06-02T11:30:00Z"), ["23", "24"]
        )
        self.assertEqual(await ids("sort=start_datetime,id&limit=3"), ["100", "101", "1"])
        # A page cursor carries the filters and the sort on.
        status, answer = await http.call("GET", "events/?sort=start_datetime,name&limit=2&parent_id=101&states=ignored")
        next_page = answer["pagination"]["next_page"]
        query = parse_qs(next_page[1:])
        self.assertEqual(query["parent_id"], ["101"])
        self.assertEqual(query["pagination_last_start_datetime"], ["2030-06-01T13:00:00.000000Z"])
        self.assertEqual(await ids(next_page[1:]), ["3", "4"])
        _, answer = await http.call("GET", "events/?id=1&with_new_type=true")
        self.assertEqual(answer["events"][0]["type"], {"domain": "football", "scope": "single_event"})

    @inline
    async def test_bad_event_parameters(self) -> None:
        http = await self.start_http()
        for query in ("limit=0", "limit=1001", "limit=x", "state=open", "sort=name", "id=abc",
                      "start_datetime_min=tomorrow", "with_new_type=maybe", "jurisdiction=XX"):  # fmt: skip
            status, answer = await http.call("GET", "events/?" + query)
            self.assertEqual((status, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), query)
        # Unknown parameters are ignored: the working clients send some.
        self.assertEqual((await http.call("GET", "events/?states=upcoming&types=football_match"))[0], 200)

    @inline
    async def test_values_beyond_python_s_reach(self) -> None:
        """Numbers too long for int() and times that leave the calendar in UTC are bad
        values (400), not failures of the server."""
        http = await self.start_http()
        token = await http.login()
        long = "9" * 5000
        for method, path in (
            ("GET", f"events/{long}/markets/"),
            ("GET", f"events/?id={long}"),
            ("GET", f"events/?limit={long}"),
            ("GET", "events/?start_datetime_min=0001-01-01T00:00:00%2B01:00"),
            ("GET", "events/?sort=start_datetime,id&pagination_last_start_datetime=0001-01-01T00:00:00%2B01:00"),
            ("DELETE", f"orders/{long}/"),
            ("GET", f"orders/?sequence_number_min={long}"),
        ):
            status, answer = await http.call(method, path, token=token)
            self.assertEqual((status, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), path)

    @inline
    async def test_markets_contracts_counts_states(self) -> None:
        http = await self.start_http()
        status, answer = await http.call("GET", "events/2,1,999/markets/")
        self.assertEqual([m["id"] for m in answer["markets"]], ["2", "1"])
        market = answer["markets"][1]
        self.assertEqual(
            {k: market[k] for k in ("event_id", "name", "slug", "state", "market_type", "winner_count")},
            {"event_id": "1", "name": "Match 01: winner", "slug": "match-01-winner", "state": "open",
             "market_type": {"name": "WINNER_3_WAY"}, "winner_count": 1},
        )  # fmt: skip
        _, answer = await http.call("GET", "events/1/markets/?market_types=OVER_UNDER")
        self.assertEqual(answer["markets"], [])
        _, answer = await http.call("GET", "markets/3,1/")
        self.assertEqual([m["id"] for m in answer["markets"]], ["3", "1"])
        _, answer = await http.call("GET", "markets/1/contracts/")
        self.assertEqual(
            [(c["id"], c["market_id"], c["name"], c["contract_type"], c["state_or_outcome"]) for c in answer["contracts"]],
            [("11", "1", "Home", {"name": "HOME"}, "open"), ("12", "1", "Draw", {"name": "DRAW"}, "open"),
             ("13", "1", "Away", {"name": "AWAY"}, "open")],
        )  # fmt: skip
        _, answer = await http.call("GET", "events/1,100/markets_count/")
        self.assertEqual(answer["events"], [{"id": "1", "markets_count": 1}, {"id": "100", "markets_count": 0}])
        self.assertEqual(await http.call("GET", "events/1/competitors/"), (200, {"competitors": []}))
        _, answer = await http.call("GET", "events/1/states/")
        self.assertEqual([(s["id"], s["state"]) for s in answer["event_states"]], [("1", "upcoming")])
        status, answer = await http.call("GET", "events/999/states/")
        self.assertEqual((status, answer["error_type"]), (404, "NO_RESULTS_FOUND"))

    @inline
    async def test_id_caps(self) -> None:
        http = await self.start_http()

        def many(n: int) -> str:
            return ",".join(str(i) for i in range(1, n + 1))

        for path, cap, status in (
            ("events/{}/markets/", 50, 414),
            ("events/{}/markets_count/", 50, 414),
            ("events/{}/competitors/", 300, 414),
            ("events/{}/states/", 300, 414),
            ("markets/{}/contracts/", 100, 414),
            ("markets/{}/", 100, 414),
            # The document gives these two no 414: past the cap is a validation error.
            ("markets/{}/quotes/", 200, 400),
            ("markets/{}/last_executed_prices/", 100, 400),
        ):
            self.assertEqual((await http.call("GET", path.format(many(cap))))[0], 200, path)
            code, answer = await http.call("GET", path.format(many(cap + 1)))
            expected = "REQUEST_TOO_LARGE" if status == 414 else "REQUEST_VALIDATION_ERROR"
            self.assertEqual((code, answer["error_type"]), (status, expected), path)
        token = await http.login()
        self.assertEqual((await http.call("GET", f"markets/{many(300)}/volumes/", token=token))[0], 200)
        self.assertEqual((await http.call("GET", f"markets/{many(301)}/volumes/", token=token))[0], 414)
        for path in ("markets/1,x/contracts/", "events/-1/markets/", "markets/1.5/quotes/"):
            code, answer = await http.call("GET", path)
            self.assertEqual((code, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), path)

    @inline
    async def test_currencies(self) -> None:
        http = await self.start_http()
        self.assertEqual(await http.call("GET", "currencies/GBP/"), (200, {"code": "GBP", "name": "Pound Sterling", "rate_to_gbp": "1"}))
        self.assertEqual(await http.call("GET", "currencies/EUR/"), (200, {"code": "EUR", "name": "Euro"}))
        status, answer = await http.call("GET", "currencies/XYZ/")
        self.assertEqual((status, answer["error_type"]), (400, "REQUEST_VALIDATION_ERROR"))

    @inline
    async def test_unknown_paths_and_methods(self) -> None:
        http = await self.start_http()
        status, body, _ = await http.raw("GET", "nothing/here/")
        self.assertEqual((status, json.loads(body)["error_type"]), (404, "NOT_FOUND"))
        status, body, _ = await http.raw("PUT", "events/")
        self.assertEqual((status, json.loads(body)["error_type"]), (405, "METHOD_NOT_ALLOWED"))

    @inline
    async def test_paths_a_slash_away_are_not_found(self) -> None:
        """Every path ends with one slash: without it, or with a doubled one, a path is 404
        ``NOT_FOUND`` in the document's error shape (werkzeug's redirect is no 500, and
        nothing is logged: trial fails a test that logs a traceback)."""
        http = await self.start_http()
        token = await http.login()
        order = {"market_id": "1", "contract_id": "11", "side": "buy", "price": 5000, "quantity": 100000}
        for method, path, body in (
            ("GET", "events", None),
            ("GET", "events/1/markets", None),
            ("GET", "currencies/GBP", None),
            ("GET", "accounts", None),
            ("POST", "orders", order),
            ("DELETE", "orders", None),
            ("DELETE", "orders/1", None),
            ("POST", "sessions", {"username": "demo", "password": "demo"}),
            ("GET", "/events/", None),
            ("GET", "events//", None),
        ):
            data = None if body is None else json.dumps(body).encode()
            status, raw, headers = await http.raw(method, path, data, token)
            self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"], (method, path))
            self.assertEqual((status, json.loads(raw)["error_type"]), (404, "NOT_FOUND"), (method, path))

    @inline
    async def test_a_path_not_utf8_is_a_validation_error(self) -> None:
        """A percent-encoded path that is not UTF-8 is 400 ``REQUEST_VALIDATION_ERROR`` in
        JSON (klein answered it in text and logged a traceback)."""
        http = await self.start_http()
        for path in ("events/%ff/markets/", "%c3%28/", "markets/1/quotes/%80/"):
            status, raw, headers = await http.raw("GET", path)
            self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/json"], path)
            self.assertEqual((status, json.loads(raw)["error_type"]), (400, "REQUEST_VALIDATION_ERROR"), path)


class PriceTests(HttpTestCase):
    @inline
    async def test_quotes_best_first_and_last_executed_prices(self) -> None:
        http = await self.start_http()
        buyer, seller = await http.login(), await http.login("demo2", "demo2")
        for price in (2000, 2500, 2273):
            self.assertEqual((await http.place(buyer, price=price, quantity=10000))[0], 200)
        for price in (5000, 4000):
            self.assertEqual((await http.place(seller, price=price, quantity=20000, side="sell"))[0], 200)
        self.assertEqual((await http.place(buyer, contract_id="12", price=2500, quantity=30000))[0], 200)
        status, quotes = await http.call("GET", "markets/1,2/quotes/")
        self.assertEqual(status, 200)
        self.assertEqual(sorted(quotes), ["11", "12", "13", "21", "22", "23"])
        self.assertEqual(
            quotes["11"],
            {
                "bids": [{"price": 2500, "quantity": 10000}, {"price": 2273, "quantity": 10000}, {"price": 2000, "quantity": 10000}],
                "offers": [{"price": 4000, "quantity": 20000}, {"price": 5000, "quantity": 20000}],
            },
        )
        _, prices = await http.call("GET", "markets/1/last_executed_prices/")
        self.assertEqual([p["last_executed_price"] for p in prices["last_executed_prices"]["1"]], [None, None, None])
        # A sell at 22.73% fills against the best bid, 25.00%: a trade at the bid's price.
        status, placed = await http.place(seller, price=2273, quantity=5000, side="sell")
        self.assertEqual((placed["total_executed_quantity"], placed["executed_avg_price"]), (5000, 2500))
        _, prices = await http.call("GET", "markets/1/last_executed_prices/")
        row = prices["last_executed_prices"]["1"][0]
        self.assertEqual((row["contract_id"], row["last_executed_price"]), ("11", "25.00"))
        self.assertIsNotNone(row["timestamp"])
        status, volumes = await http.call("GET", "markets/1,2/volumes/", token=buyer)
        # £0.50 of pot traded; twice the back stake is £0.25: whole pounds, both 0.
        self.assertEqual(volumes["volumes"], [{"market_id": "1", "volume": 0, "double_stake_volume": 0},
                                              {"market_id": "2", "volume": 0, "double_stake_volume": 0}])  # fmt: skip


class StreamingTests(HttpTestCase):
    """One engine, two protocols."""

    @inline
    async def test_an_http_order_fills_against_a_streaming_one(self) -> None:
        http = await self.start_http()
        client = await self.client("demo2", "demo2")
        await client.subscribe(1)
        order = OrderCreate()
        order.market_id, order.contract_id, order.side, order.price, order.quantity = 1, 11, SELL, 5000, 200000
        accepted = await client.order(order)
        streaming_id = accepted.order_accepted.order_id
        token = await http.login()
        # The streaming order rests in the book the HTTP API shows.
        _, quotes = await http.call("GET", "markets/1/quotes/")
        self.assertEqual(quotes["11"]["offers"], [{"price": 5000, "quantity": 200000}])
        status, placed = await http.place(token, quantity=50000)
        self.assertEqual((status, placed["total_executed_quantity"], placed["available_quantity"]), (200, 50000, 0))
        # The streaming session hears of its fill.
        await until(lambda: client.account.orders.get(streaming_id) is not None
                    and client.account.orders[streaming_id].filled == 50000, "the streaming fill")  # fmt: skip
        # A streaming buy fills against an HTTP sell; the HTTP account's activity shows it.
        _, placed = await http.place(token, side="sell", price=4000, quantity=30000, label="lay")
        order = OrderCreate()
        order.market_id, order.contract_id, order.side, order.price, order.quantity = 1, 11, BUY, 4000, 30000
        await client.order(order)  # the engine matched it before it answered
        _, activity = await http.call("GET", f"accounts/activity/?order_id={placed['order_id']}&sort=seq,subseq", token=token)
        rows = activity["account_activity"]
        self.assertEqual([r["source"] for r in rows], ["order.create", "order.execute"], rows)
        fill = rows[1]
        self.assertEqual((fill["price"], fill["quantity"], fill["side"], fill["label"]), (4000, 30000, "sell", "lay"))
        self.assertEqual((fill["market_id"], fill["contract_id"], fill["event_id"]), ("1", "11", "1"))

    @inline
    async def test_streaming_orders_show_in_the_http_orders(self) -> None:
        http = await self.start_http()
        client = await self.client()
        order = OrderCreate()
        order.market_id, order.contract_id, order.side, order.price, order.quantity = 1, 12, BUY, 2500, 40000
        accepted = await client.order(order)
        token = await http.login()
        _, orders = await http.call("GET", "orders/", token=token)
        self.assertEqual([o["id"] for o in orders["orders"]], [str(accepted.order_accepted.order_id)])
        self.assertEqual(orders["orders"][0]["type"], "good_til_cancelled")


class TimeTests(HttpTestCase):
    @inline
    async def test_dates_are_utc(self) -> None:
        http = await self.start_http()
        _, answer = await http.call("GET", "events/?id=1")
        created = datetime.fromisoformat(answer["events"][0]["created"])
        self.assertEqual(created.tzinfo, timezone.utc)


class CsvTests(HttpTestCase):
    @inline
    async def test_activity_csv(self) -> None:
        http = await self.start_http()
        token = await http.login()
        await http.place(token)
        hour = int(global_reactor().seconds() // 3600 * 3600)
        start = datetime.fromtimestamp(hour, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        end = datetime.fromtimestamp(hour + 3600, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        status, body, headers = await http.raw("GET", f"account_activity_csv/{start}/{end}/", token=token)
        self.assertEqual(status, 200)
        self.assertEqual(headers.getRawHeaders(b"content-type"), [b"application/gzip"])
        lines = gzip.decompress(body).decode().splitlines()
        self.assertTrue(lines[0].startswith("seq,subseq,timestamp,source,"), lines)
        self.assertIn(",order.create,", lines[1])
        status, answer = await http.call("GET", f"account_activity_csv/{end}/{start}/", token=token)
        self.assertEqual((status, answer["error_type"]), (400, "INVALID_DATETIMES"))
        status, answer = await http.call(
            "GET", "account_activity_csv/2020-01-01T00:00:00Z/2020-01-01T01:00:00Z/", token=token
        )
        self.assertEqual((status, answer["error_type"]), (404, "NO_CSV_AVAILABLE"))
