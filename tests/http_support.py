"""What the HTTP API's tests share: a catalogue with a tree of events and accounts with
second factors, and a client over loopback that checks every answer against Smarkets'
document (`tests.http_document.check_response`) as it comes."""

from __future__ import annotations

import json
from typing import Any

import treq
from twisted.web.client import Agent, HTTPConnectionPool

from tests.http_document import check_response, have_document
from tests.support import global_reactor
from tests.test_end_to_end import ExchangeTestCase
from txsmarkets.exchange.catalogue import Catalogue, parse_catalogue

#: The base32 TOTP secret of the account ``totp``; ``fixed`` takes the code ``FIXED_CODE``.
TOTP_SECRET = "JBSWY3DPEHPK3PXP"
FIXED_CODE = "246810"
#: Matches: events 1..MATCHES, each with market i (contracts 10i+1..10i+3).
MATCHES = 25


def tree_catalogue() -> Catalogue:
    """Accounts demo/demo and demo2/demo2 (£1,000 each), ``totp`` and ``fixed`` (with a
    second factor, password ``pw``); a sport (event 100), a competition (101) and
    `MATCHES` matches under it, starting an hour apart from 2030-06-01 12:00 UTC, each with
    a three-way winner market of the same id."""
    matches = [
        {
            "id": i,
            "name": f"Match {i:02d}",
            "parent_id": 101,
            "type": "football_match",
            "domain": "football",
            "scope": "single_event",
            "start_datetime": f"2030-06-{1 + (11 + i) // 24:02d}T{(11 + i) % 24:02d}:00:00Z",
            "markets": [
                {
                    "id": i,
                    "name": f"Match {i:02d}: winner",
                    "market_type": "WINNER_3_WAY",
                    "contracts": [
                        {"id": 10 * i + 1, "name": "Home", "contract_type": "HOME"},
                        {"id": 10 * i + 2, "name": "Draw", "contract_type": "DRAW"},
                        {"id": 10 * i + 3, "name": "Away", "contract_type": "AWAY"},
                    ],
                }
            ],
        }
        for i in range(1, MATCHES + 1)
    ]
    data = {
        "accounts": [
            {"username": "demo", "password": "demo", "balance": "1000.00"},
            {"username": "demo2", "password": "demo2", "balance": "1000.00"},
            {"username": "totp", "password": "pw", "balance": "10.00", "totp_secret": TOTP_SECRET},
            {"username": "fixed", "password": "pw", "balance": "10.00", "totp_code": FIXED_CODE},
        ],
        "events": [
            {"id": 100, "name": "Football", "type": "top_level_event", "domain": "football", "scope": "root"},
            {"id": 101, "name": "Demo League", "parent_id": 100, "domain": "football", "scope": "category"},
            *matches,
        ],
    }
    return parse_catalogue(data, "tree")


class HttpClient:
    """Requests to one exchange's HTTP API; every answer is checked against the document."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        # Not persistent: nothing stays open once a test is over.
        pool = HTTPConnectionPool(global_reactor(), persistent=False)
        self.client = treq.client.HTTPClient(Agent(global_reactor(), pool=pool))
        #: How many answers were checked against the document.
        self.checked = 0

    async def raw(
        self, method: str, path: str, data: bytes | None = None, token: str | None = None
    ) -> tuple[int, bytes, Any]:
        """``(status, body, headers)`` of a request to ``/v3/`` + ``path``."""
        headers = {b"content-type": [b"application/json"]} if data is not None else {}
        if token is not None:
            headers[b"authorization"] = [f"Session-Token {token}".encode()]
        response: Any = await self.client.request(method, self.base + "/v3/" + path, data=data, headers=headers)
        body: bytes = await response.content()
        if have_document():
            content_type = response.headers.getRawHeaders(b"content-type", [b""])[0].decode()
            check_response(method, "/v3/" + path, response.code, body, content_type or None)
            self.checked += 1
        return response.code, body, response.headers

    async def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
        """``(status, decoded JSON)`` of a request, with ``body`` sent as JSON."""
        data = None if body is None else json.dumps(body).encode()
        status, raw, _ = await self.raw(method, path, data, token)
        return status, json.loads(raw)

    async def login(self, username: str = "demo", password: str = "demo") -> str:
        """A complete session's token."""
        status, answer = await self.call("POST", "sessions/", {"username": username, "password": password})
        assert status == 201 and answer["factor"] == "complete", (status, answer)
        return str(answer["token"])

    async def place(self, token: str, **order: Any) -> tuple[int, Any]:
        """Create an order: market 1, contract 11, a buy of 100000 at 5000 unless told."""
        body = {"market_id": "1", "contract_id": "11", "side": "buy", "price": 5000, "quantity": 100000}
        body.update(order)
        return await self.call("POST", "orders/", body, token)


#: An order id above 2**53, for exchanges that start their ids there.
BIG = 2**60 + 7


class HttpTestCase(ExchangeTestCase):
    """Starts an exchange with its HTTP API on a free loopback port."""

    http: HttpClient

    async def start_http(self, **options: Any) -> HttpClient:
        options.setdefault("catalogue", tree_catalogue())
        await self.start(http="tcp:0:interface=127.0.0.1", **options)
        self.http = HttpClient(self.exchange.http_port)
        if have_document():
            self.addCleanup(lambda: self.assertGreater(self.http.checked, 0))
        return self.http
