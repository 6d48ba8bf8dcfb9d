"""The embedded exchange's HTTP API: Smarkets' HTTP API v3 on the same engine and accounts
as the streaming protocol.

`make_http_site` makes the web site to listen with (`start_exchange(..., http=ENDPOINT)`
and ``twistd smarkets-exchange --http ENDPOINT`` do); its modules each have one job:
`routes` (the operations), `shapes` and `units` (the JSON and its units), `params` (reading
parameters), `sessions` (logins and tokens), `ratelimits`, `activity` (the accounts'
activity, kept as it happens), `index` (the catalogue's lookups) and `errors`.
"""

from txsmarkets.exchange.http.ratelimits import DEFAULT_RATE_LIMITS, Limit
from txsmarkets.exchange.http.routes import HttpApi
from txsmarkets.exchange.http.sessions import TOKEN_LIFETIME
from txsmarkets.exchange.http.site import HttpSite, make_http_site

__all__ = ["DEFAULT_RATE_LIMITS", "TOKEN_LIFETIME", "HttpApi", "HttpSite", "Limit", "make_http_site"]
