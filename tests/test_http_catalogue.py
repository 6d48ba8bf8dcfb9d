"""What the catalogue gains for the HTTP API (names, slugs, types, start times, the events'
tree, second factors) and the second factor itself."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from twisted.trial import unittest

from txsmarkets.errors import Error
from txsmarkets.exchange.catalogue import CatalogueError, demo_catalogue, parse_catalogue
from txsmarkets.exchange.second_factor import SecondFactor, totp

# RFC 6238's test secret ("12345678901234567890") in base32.
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def catalogue(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "accounts": [{"username": "u", "password": "p", "balance": "1.00"}],
        "events": [
            {"id": 1, "name": "Sport"},
            {"id": 2, "name": "A v B", "parent_id": 1, "markets": [
                {"id": 3, "name": "Winner", "contracts": [{"id": 4, "name": "A"}, {"id": 5, "name": "B"}]}
            ]},
        ],
    }  # fmt: skip
    for path, value in changes.items():
        target: Any = data
        *parents, last = path.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    return data


class CatalogueTests(unittest.SynchronousTestCase):
    def assertBad(self, data: dict[str, Any], *fragments: str) -> None:
        error = self.assertRaises(CatalogueError, parse_catalogue, json.loads(json.dumps(data)), "c.json")
        self.assertIsInstance(error, Error)
        for fragment in fragments:
            self.assertIn(fragment, str(error))

    def test_defaults(self) -> None:
        parsed = parse_catalogue(catalogue())
        sport, match = parsed.events
        self.assertEqual((sport.markets, sport.slug, sport.type, sport.parent_id, sport.state), ((), "sport", "generic", None, None))
        self.assertEqual((match.slug, match.parent_id, match.domain, match.start_datetime), ("a-v-b", 1, None, None))
        market = match.markets[0]
        self.assertEqual((market.slug, market.market_type, market.winner_count, market.bet_delay), ("winner", None, 1, 0))
        self.assertEqual([c.slug for c in market.contracts], ["a", "b"])
        self.assertIsNone(parsed.accounts[0].second_factor)

    def test_given(self) -> None:
        parsed = parse_catalogue(
            catalogue(
                events__1__type="football_match",
                events__1__domain="football",
                events__1__scope="single_event",
                events__1__start_datetime="2030-06-01T20:45:00+01:00",
                events__1__state="live",
                events__1__slug="a-b",
            )
        )
        match = parsed.events[1]
        self.assertEqual((match.type, match.domain, match.scope, match.state, match.slug),
                         ("football_match", "football", "single_event", "live", "a-b"))  # fmt: skip
        self.assertEqual(match.start_datetime, datetime(2030, 6, 1, 19, 45, tzinfo=timezone.utc))

    def test_the_demo_fills_them_in(self) -> None:
        (event,) = demo_catalogue().events
        self.assertEqual((event.type, event.domain, event.scope), ("football_match", "football", "single_event"))
        self.assertIsNotNone(event.start_datetime)
        self.assertEqual([m.market_type for m in event.markets], ["WINNER_3_WAY", "OVER_UNDER"])
        self.assertEqual([c.contract_type for c in event.markets[0].contracts], ["HOME", "DRAW", "AWAY"])

    def test_errors(self) -> None:
        self.assertBad(catalogue(events__1__parent_id=9), "events[1].parent_id", "no event 9")
        self.assertBad(catalogue(events__0__parent_id=2), "events[0].parent_id", "its own ancestor")
        self.assertBad(catalogue(events__0__parent_id=1), "its own ancestor")
        self.assertBad(catalogue(events__1__type="football"), "events[1].type", "'football'")
        self.assertBad(catalogue(events__1__domain="football"), "events[1]", "both domain and scope")
        self.assertBad(catalogue(events__1__state="open"), "events[1].state")
        self.assertBad(catalogue(events__1__start_datetime="2030-06-01T20:45:00"), "start_datetime", "with a zone")
        self.assertBad(catalogue(events__1__start_datetime=5), "start_datetime")
        self.assertBad(catalogue(events__1__colour="red"), "unknown key 'colour'")
        self.assertBad(catalogue(events__1__markets__0__winner_count=0), "winner_count")
        self.assertBad(catalogue(events__1__markets__0__slug=""), "slug", "non-empty")
        self.assertBad(catalogue(accounts__0__totp_code="1", accounts__0__totp_secret=RFC_SECRET), "not both")
        self.assertBad(catalogue(accounts__0__totp_secret="not base32!"), "accounts[0].totp_secret", "base32")

    def test_secrets_are_not_shown(self) -> None:
        secret_catalogue = catalogue(accounts__0__totp_secret=RFC_SECRET)
        account = parse_catalogue(secret_catalogue).accounts[0]
        self.assertNotIn(RFC_SECRET, repr(account))
        self.assertEqual(repr(account.second_factor), "<SecondFactor (hidden)>")
        error = self.assertRaises(CatalogueError, parse_catalogue, catalogue(accounts__0__totp_secret="s3cr3t!!"))
        self.assertNotIn("s3cr3t", str(error))


class SecondFactorTests(unittest.SynchronousTestCase):
    def test_rfc_6238_vectors(self) -> None:
        # RFC 6238's SHA-1 vectors, their last six digits.
        for at, code in ((59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")):
            self.assertEqual(totp(RFC_SECRET, at), code)

    def test_the_steps_either_side(self) -> None:
        factor = SecondFactor.from_totp_secret(RFC_SECRET.lower())
        code = totp(RFC_SECRET, 1111111109)
        for at in (1111111109 - 30, 1111111109, 1111111109 + 30):
            self.assertTrue(factor.check(code, at), at)
        self.assertFalse(factor.check(code, 1111111109 + 90))
        self.assertFalse(factor.check("000000", 1111111109))

    def test_a_fixed_code(self) -> None:
        factor = SecondFactor.from_code("246810")
        self.assertTrue(factor.check("246810", 0))
        self.assertFalse(factor.check("246811", 0))
