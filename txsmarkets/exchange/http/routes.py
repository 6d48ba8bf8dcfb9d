"""The HTTP API v3 of the embedded exchange: every operation of Smarkets' document (and
the markets-by-id route working clients use), as klein routes on one engine.

Each route reads its parameters (`txsmarkets.exchange.http.params`), checks the session and
the rate limit where the operation has them, asks the engine or the activity ledger, and
answers JSON in the document's shapes (`txsmarkets.exchange.http.shapes`); what they share
is in `txsmarkets.exchange.http.base`.
"""

from __future__ import annotations

from txsmarkets.exchange.http.account_routes import AccountRoutes
from txsmarkets.exchange.http.public_routes import PublicRoutes

__all__ = ["HttpApi"]


class HttpApi(PublicRoutes, AccountRoutes):
    """The HTTP API of one engine (an `IHttpEngine`, such as the `MatchingEngine`);
    `resource` is what a `Site` serves (see `ApiBase` for the arguments)."""
