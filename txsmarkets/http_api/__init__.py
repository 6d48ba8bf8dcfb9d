"""A Twisted client of Smarkets' HTTP API v3: `HTTPAPIClient`, every method a Deferred.

The streaming protocol the rest of txsmarkets speaks is closed to all but market makers;
today's Smarkets is its HTTP API (``https://api.smarkets.com/v3/``). This package is its
client, beside the wire: it imports nothing of the streaming client, the exchange or the
daemon, and raises the same rejections (`txsmarkets.exceptions`) so that a strategy handles
both alike.

Its modules, each with one job: `client <txsmarkets.http_api.client>` (the operations),
`session <txsmarkets.http_api.session>` (the login and the token's life), `transport`
(one HTTP exchange through treq, with its timeout), `limits` (the per-endpoint rate
limits), `pages` (paginated listings), `query` (what is sent), `units` (what is received:
ids, prices, money, times, and the parsing into) `models`, and `errors`.
"""

from __future__ import annotations

from txsmarkets.http_api.client import SMARKETS_URL, HTTPAPIClient
from txsmarkets.http_api.errors import (
    APIError,
    AuthenticationError,
    CancelRejected,
    HTTPOrderInvalid,
    HTTPOrderRejected,
    LoginRefused,
    NoCredentials,
    QueueFull,
    RateLimitExceeded,
    upstream_error,
)
from txsmarkets.http_api.limits import DEFAULT_LIMITS
from txsmarkets.http_api.models import (
    BUY,
    GOOD_TIL_CANCELLED,
    GOOD_TIL_HALTED,
    IMMEDIATE_OR_CANCEL,
    KEEP_IN_PLAY,
    SELL,
)
from txsmarkets.http_api.pages import Pages, collect
from txsmarkets.http_api.units import InvalidResponse

__all__ = [
    "APIError",
    "AuthenticationError",
    "BUY",
    "CancelRejected",
    "DEFAULT_LIMITS",
    "GOOD_TIL_CANCELLED",
    "GOOD_TIL_HALTED",
    "HTTPAPIClient",
    "HTTPOrderInvalid",
    "HTTPOrderRejected",
    "IMMEDIATE_OR_CANCEL",
    "InvalidResponse",
    "KEEP_IN_PLAY",
    "LoginRefused",
    "NoCredentials",
    "Pages",
    "QueueFull",
    "RateLimitExceeded",
    "SELL",
    "SMARKETS_URL",
    "collect",
    "upstream_error",
]
