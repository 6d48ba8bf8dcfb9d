"""A small stand-in of the HTTP API v3 for the client's unit tests: a twisted.web resource
that answers as the document says (the shapes, statuses and error bodies), scripted by each
test, behind ``treq.testing.StubTreq``.

Not the embedded exchange (txsmarkets.exchange.http is): this one answers what a test
tells it to, including what no real server can be made to do on cue (a 429 now, a 401 for a
token that should be good, an answer that never comes).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

import attrs
from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.web import resource, server

from txsmarkets.http_api import HTTPAPIClient

USERNAME = "trader@example.com"
PASSWORD = "pa55-word-never-logged"
TOKEN_PREFIX = "tok3n-never-logged-"
URL = "https://api.example.test/v3/"

STAMP = "2017-12-16T00:16:25.936519Z"


@attrs.define
class Seen:
    """A request the fake got: method, path under /v3/, query pairs, headers, JSON body."""

    method: str
    path: str
    query: list[tuple[str, str]]
    authorization: str | None
    body: Any
    request: Any = attrs.field(repr=False)

    @property
    def token(self) -> str | None:
        if self.authorization and self.authorization.startswith("Session-Token "):
            return self.authorization[len("Session-Token ") :]
        return None


#: What a route answers: (status, JSON body), or server.NOT_DONE_YET to answer never.
Handler = Callable[[Seen], Any]


class FakeAPI(resource.Resource):
    """Routes by (method, path); logs in ``USERNAME``/``PASSWORD`` with a new token each time
    (``TOKEN_PREFIX`` + n); a route in ``private`` wants a live token, or answers 401."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[Seen] = []
        self.routes: dict[tuple[str, str], Handler] = {}
        self.live_tokens: set[str] = set()
        self.logins = 0
        self.totp: str | None = None
        self.private: set[str] = {"accounts/", "orders/", "accounts/activity/", "sessions/"}
        self.route("POST", "sessions/", self.login)
        self.route("POST", "sessions/verify/", self.verify)
        self.route("DELETE", "sessions/", self.logout)

    def route(self, method: str, path: str, handler: Handler | tuple[int, Any]) -> None:
        """Answer ``method path`` (``*`` matches any part: ``markets/*/quotes/``) with
        ``handler`` (a function of the `Seen`, or a fixed (status, body[, headers]))."""
        self.routes[(method, path)] = handler if callable(handler) else (lambda seen: handler)

    def seen(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.requests if (s.method, s.path) == (method, path)]

    def render(self, request: server.Request) -> Any:
        uri = urlsplit(request.uri.decode())
        path = uri.path.split("/v3/", 1)[1]
        raw = request.content.read() if request.content is not None else b""
        authorization = request.getHeader("authorization")
        seen = Seen(request.method.decode(), path, parse_qsl(uri.query), authorization, json.loads(raw) if raw else None, request)
        self.requests.append(seen)
        handler = self.routes.get((seen.method, path)) or next(
            (h for (m, p), h in self.routes.items() if m == seen.method and fnmatch.fnmatchcase(path, p)), None
        )
        if seen.method != "POST" and path in self.private and seen.token not in self.live_tokens:
            answer: Any = (401, {"error_type": "AUTH_REQUIRED", "data": "no session"})
        elif handler is None:
            answer = (404, {"error_type": "NOT_FOUND", "data": path})
        else:
            answer = handler(seen)
        if answer is server.NOT_DONE_YET:
            return answer
        return self.encode(request, *answer)

    @staticmethod
    def encode(request: server.Request, status: int, body: Any, headers: dict[str, str] | None = None) -> bytes:
        request.setResponseCode(status)
        for name, value in (headers or {}).items():
            request.setHeader(name, value)
        if isinstance(body, bytes):
            return body
        request.setHeader("content-type", "application/json")
        return json.dumps(body).encode()

    def finish(self, seen: Seen, status: int, body: Any) -> None:
        """Answer a request its route left waiting (NOT_DONE_YET)."""
        seen.request.write(self.encode(seen.request, status, body))
        seen.request.finish()

    def new_token(self) -> str:
        self.logins += 1
        token = f"{TOKEN_PREFIX}{self.logins}"
        self.live_tokens.add(token)
        return token

    def login(self, seen: Seen) -> Any:
        if seen.body != {"username": USERNAME, "password": PASSWORD}:
            return 401, {"error_type": "INVALID_CREDENTIALS", "data": "bad username or password"}
        if self.totp is not None:
            return 201, {"token": "pending-totp-token", "stop": STAMP, "factor": "totp", "verify": True}
        return 201, {"token": self.new_token(), "stop": STAMP, "factor": "complete"}

    def verify(self, seen: Seen) -> Any:
        if seen.body != {"token": "pending-totp-token", "code": self.totp}:
            return 400, {"error_type": "INVALID_TOKEN", "data": "wrong code"}
        return 201, {"token": self.new_token(), "stop": STAMP, "factor": "complete"}

    def logout(self, seen: Seen) -> Any:
        self.live_tokens.discard(seen.token or "")
        return 200, {"success": True}

    def expire_all(self) -> None:
        """Every token dies, as after 30 minutes unused."""
        self.live_tokens.clear()


def make_client(fake: FakeAPI, clock: Clock | None = None, **options: Any) -> tuple[HTTPAPIClient, StubTreq, Clock]:
    """A client of ``fake`` (through StubTreq) on a Clock, logged in as USERNAME when needed."""
    clock = clock or Clock()
    stub = StubTreq(fake)
    options.setdefault("username", USERNAME)
    options.setdefault("password", PASSWORD)
    client = HTTPAPIClient(clock, url=URL, http=stub, **options)
    return client, stub, clock


# -- JSON as the document shapes it --------------------------------------------------------


def event(event_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(event_id), "name": f"Event {event_id}", "short_name": None, "slug": f"event-{event_id}",
        "full_slug": f"/sport/football/event-{event_id}", "parent_id": None, "state": "upcoming",
        "type": "football_match", "hidden": False, "start_date": "2017-12-22",
        "start_datetime": "2017-12-22T15:40:00Z", "end_date": None, "created": STAMP, "modified": STAMP,
        **extra,
    }


def market(market_id: int, event_id: int) -> dict[str, Any]:
    return {
        "id": str(market_id), "event_id": str(event_id), "name": "Full-time result", "slug": "winner",
        "state": "open", "market_type": {"name": "WINNER_3_WAY"}, "bet_delay": 0, "complete": True,
        "winner_count": 1, "hidden": False, "display_type": "default", "cashout_enabled": False,
        "created": STAMP, "modified": STAMP,
    }


def order(order_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(order_id), "market_id": "1", "contract_id": "11", "original_order_id": None, "side": "buy",
        "state": "created", "price": 2500, "average_price_matched": 0, "quantity": 100000,
        "quantity_filled": 0, "quantity_filled_pending": 0, "quantity_unfilled": 100000,
        "quantity_user_currency": 100000, "quantity_filled_user_currency": 0,
        "quantity_filled_pending_user_currency": 0, "quantity_unfilled_user_currency": 100000,
        "quantity_traded_out_user_currency": 0, "stake_traded_out_user_currency": 0.0, "sequence_number": 7,
        "created_datetime": STAMP, "last_modified_datetime": STAMP,
        "token_used": {"bet_token_type": None, "boost_percent": None}, "type": "good_til_halted", **extra,
    }


def order_created(order_id: int | str) -> dict[str, Any]:
    return {
        "order_id": str(order_id), "market_id": "1", "contract_id": "11", "side": "buy", "price": 2500,
        "quantity": 100000, "available_quantity": 100000, "total_executed_quantity": 0,
        "executed_avg_price": None, "orig_price": None, "available_balance": "997.50", "exposure": "-2.50",
    }
