"""`HTTPAPIClient`: every operation of Smarkets' HTTP API v3, each returning a Deferred.

How a request goes: it gets the session's token (logging in first if it needs a session
and has none: `session <txsmarkets.http_api.session>`), waits its turn in its endpoint's rate-limit queue (`limits`),
goes out through treq (`transport`), and its answer is parsed into the attrs models
(`models`) or becomes an exception (`errors`). Along the way:

- a 401 to a request that carried a token (or needed one) logs in again, once, and sends
  the request once more (a 401 means it was refused, not carried out);
- a 429 is counted (``limits.bucket(name).rate_limited``) and logged as an error (the
  client keeps to its limits: one means they are not the API's), waits until the
  ``expiry`` its body names (``Retry-After`` otherwise), keeps the endpoint's queue
  waiting as long, and sends the request again, up to ``rate_limit_retries`` times and for
  waits of ``max_rate_limit_wait`` seconds at most; a 429 it does not wait out fails its
  request at once, and still keeps the endpoint's queue waiting until its expiry;
- a request that fails on its way (timeout, connection) is never sent again by the client:
  for an order create, the order may or may not have been placed.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Coroutine
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, ParamSpec, TypeVar

import attrs
from twisted.internet.defer import Deferred, FirstError, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.http_api.errors import AuthenticationError, error_for
from txsmarkets.http_api.limits import DEFAULT_QUEUE, RateLimits
from txsmarkets.http_api.models import (
    BUY,
    ORDER_TYPES,
    SELL,
    Account,
    ActivityPage,
    Competitor,
    Contract,
    ContractQuotes,
    Currency,
    EventsPage,
    EventState,
    FullcoverOrdersPage,
    LastExecutedPrice,
    Market,
    MarketsCount,
    OrderCreated,
    OrdersPage,
    SessionInfo,
    Volume,
)
from txsmarkets.http_api.pages import Pages, Query
from txsmarkets.http_api.query import CAPS, encode_query, id_chunks
from txsmarkets.http_api.session import SessionKeeper
from txsmarkets.http_api.transport import Answer, HTTPClient, Transport
from txsmarkets.http_api.units import Id, InvalidResponse, format_datetime, format_ids, parse_datetime, structure

__all__ = ["SMARKETS_URL", "HTTPAPIClient"]

_log = Logger()

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: Smarkets' API.
SMARKETS_URL = "https://api.smarkets.com/v3/"


@attrs.frozen
class _Endpoint:
    # name: its rate limit's and its query parameters'; path: under /v3/, "{}" for ids;
    # token: "never" sent, "optional" (sent if held), "required" (logged in for), "held"
    # (the one held, however old, and no login for it: a logout).
    name: str
    method: str
    path: str
    token: str = "required"


_ENDPOINTS = {
    e.name: e
    for e in (
        _Endpoint("login", "POST", "sessions/", "never"),
        _Endpoint("verify", "POST", "sessions/verify/", "never"),
        _Endpoint("logout", "DELETE", "sessions/", "held"),
        _Endpoint("events", "GET", "events/", "optional"),
        _Endpoint("markets_by_event", "GET", "events/{}/markets/", "optional"),
        _Endpoint("markets_count", "GET", "events/{}/markets_count/", "optional"),
        _Endpoint("competitors", "GET", "events/{}/competitors/", "optional"),
        _Endpoint("event_states", "GET", "events/{}/states/", "optional"),
        _Endpoint("markets", "GET", "markets/{}/", "optional"),
        _Endpoint("contracts", "GET", "markets/{}/contracts/", "optional"),
        _Endpoint("quotes", "GET", "markets/{}/quotes/", "optional"),
        _Endpoint("last_executed_prices", "GET", "markets/{}/last_executed_prices/", "optional"),
        _Endpoint("volumes", "GET", "markets/{}/volumes/"),
        _Endpoint("currency", "GET", "currencies/{}/", "optional"),
        _Endpoint("account", "GET", "accounts/"),
        _Endpoint("activity", "GET", "accounts/activity/"),
        _Endpoint("activity_csv", "GET", "account_activity_csv/{}/{}/"),
        _Endpoint("orders", "GET", "orders/"),
        _Endpoint("create_order", "POST", "orders/"),
        _Endpoint("cancel_order", "DELETE", "orders/{}/"),
        _Endpoint("cancel_all", "DELETE", "orders/"),
        _Endpoint("fullcover_orders", "GET", "orders/fullcover/"),
    )
}


def _deferred(f: Callable[_P, Coroutine[Any, Any, _R]]) -> Callable[_P, Deferred[_R]]:
    """An ``async def`` method as one returning a Deferred (bad arguments fail it too)."""

    @functools.wraps(f)
    def method(*args: _P.args, **kwargs: _P.kwargs) -> Deferred[_R]:
        return Deferred.fromCoroutine(f(*args, **kwargs))

    return method


def _field(answer: Any, key: str, kind: Any) -> Any:
    """``answer[key]`` as ``kind``; `InvalidResponse` if the answer has no such key."""
    if not isinstance(answer, dict) or key not in answer:
        raise InvalidResponse(f"the answer has no {key}")
    return structure(kind, answer[key], key)


def _first_error(failure: Failure) -> Failure:
    # gatherResults wraps the first failure of the requests of a split id list.
    return failure.value.subFailure if failure.check(FirstError) else failure


class HTTPAPIClient:
    """A client of Smarkets' HTTP API v3 (``url``, ``https://api.smarkets.com/v3/`` by
    default; a ``http://`` one for the embedded exchange), on ``reactor``.

    Logs in as ``username`` with ``password`` when a request first needs a session (or at
    `login`); ``second_factor``, a callable with no arguments returning the TOTP code (or a
    Deferred of it), is asked when the account wants one. With no credentials, only the
    public data can be read (events, markets, contracts, quotes ...).

    ``timeout`` is the seconds each HTTP exchange may take before it is cancelled
    (`RequestTimeout`). ``limits`` overrides the per-endpoint rate limits of
    `limits.DEFAULT_LIMITS` (endpoint -> ``(requests, seconds)`` or None), and
    ``order_limit`` is the account's order creates as ``(requests, seconds)`` (the document
    gives no figure: none by default); at most ``max_queue`` requests wait for one
    endpoint's limit. ``http`` is the treq client to use (by default one of its own, on a
    persistent connection pool of ``reactor`` whose agent verifies the server's certificate
    and hostname against the system's trust roots, or against those of ``ca_file``; `close`
    closes it).

    Every method returns a Deferred. Units are the API's: prices ints in basis points (5000
    is 50%), quantities ints in ten-thousandths of the currency, money `Decimal`, ids ints,
    datetimes aware UTC. A non-2xx answer fails the Deferred with an `errors.APIError`
    (order and cancel rejections with the streaming client's `OrderRejected`,
    `OrderInvalid`, `RequestRejected`); a request with no answer with `RequestTimeout`,
    `ConnectionLost` (its fate unknown) or `ConnectionError` (not sent).

    Attributes: ``clock`` (the reactor), ``session`` (the `SessionKeeper`: ``logged_in``,
    ``info``), ``limits`` (the `RateLimits`), ``transport``.
    """

    def __init__(
        self,
        reactor: IReactorTime,
        username: str | None = None,
        password: str | None = None,
        *,
        url: str = SMARKETS_URL,
        second_factor: Callable[[], Any] | None = None,
        timeout: float = 30.0,
        limits: Mapping[str, tuple[int, float] | None] | None = None,
        order_limit: tuple[int, float] | None = None,
        max_queue: int = DEFAULT_QUEUE,
        rate_limit_retries: int = 3,
        max_rate_limit_wait: float = 120.0,
        ca_file: str | None = None,
        http: HTTPClient | None = None,
    ) -> None:
        self.clock = reactor
        self._pool: Any = None
        if http is None:
            http = self._own_http(reactor, ca_file)
        self.transport = Transport(reactor, http, url, timeout)
        self.limits = RateLimits(reactor, {"create_order": order_limit, **(limits or {})}, max_queue)
        self.session = SessionKeeper(reactor, self._session_request, username, password, second_factor)
        self.rate_limit_retries = rate_limit_retries
        self.max_rate_limit_wait = max_rate_limit_wait

    def _own_http(self, reactor: IReactorTime, ca_file: str | None) -> HTTPClient:
        from treq.client import HTTPClient as TreqClient
        from twisted.internet.ssl import Certificate
        from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool

        self._pool = HTTPConnectionPool(reactor, persistent=True)
        # The browser-like policy checks the certificate and the hostname (the system's
        # trust roots, or those of ca_file).
        trust = None
        if ca_file is not None:
            with open(ca_file, "rb") as pem:
                trust = Certificate.loadPEM(pem.read())
        return TreqClient(Agent(reactor, BrowserLikePolicyForHTTPS(trust), pool=self._pool))

    def __repr__(self) -> str:
        state = "logged in" if self.session.logged_in else "not logged in"
        return f"<HTTPAPIClient {self.transport.url} as {self.session.username!r}: {state}>"

    # -- the requests ------------------------------------------------------------------------

    def _session_request(self, name: str, body: dict[str, Any]) -> Deferred[Any]:
        return Deferred.fromCoroutine(self._call(_ENDPOINTS[name], body=body))

    async def _call(
        self, endpoint: _Endpoint, path: str | None = None, query: Query | None = None, body: Any = None
    ) -> Any:
        """Send ``endpoint``'s request (its path filled in as ``path``) until answered: the
        decoded JSON of a 2xx answer, or the error of another."""
        answer = await self._answer(endpoint, path, query, body)
        return answer.json()

    async def _answer(
        self, endpoint: _Endpoint, path: str | None = None, query: Query | None = None, body: Any = None
    ) -> Answer:
        bucket = self.limits.bucket(endpoint.name)
        session = self.session
        again = relogged = False
        waits = 0
        while True:
            if endpoint.token in ("never", "held"):
                generation, token = session.held() if endpoint.token == "held" else (0, None)
            else:
                generation, token = await session.token(endpoint.token == "required")
            # The token is held until the answer: see `limits` for why.
            await bucket.acquire(first=again, hold=True)
            sent_at = self.clock.seconds()
            authorization = session.token_header(token) if token is not None else None
            try:
                answer = await self.transport.send(endpoint.method, path or endpoint.path, query, body, authorization)
            finally:
                bucket.release()
            status = answer.status
            if status == 429:
                bucket.refused()
            if token is not None and status != 401:
                session.used(generation, sent_at)
            if 200 <= status < 300:
                return answer
            if status == 401 and endpoint.token in ("optional", "required") and not relogged:
                if token is not None or session.has_credentials:
                    relogged = again = True
                    await session.expired(generation)
                    continue
            error = error_for(status, _json_or_none(answer), login=endpoint.token == "never")
            if status == 429:
                wait = self._rate_limit_wait(error.data, answer)
                # Honoured whether this request waits or fails: the next ones must not go
                # before the API said they may.
                bucket.pause_until(self.clock.seconds() + wait)
                if waits < self.rate_limit_retries and wait <= self.max_rate_limit_wait:
                    waits += 1
                    again = True
                    # The client keeps to its limits: a 429 means they are not the API's.
                    _log.error(
                        "HTTP API: {endpoint} rate limited (429) although the client keeps to its limits, which"
                        " are therefore not the API's (a bug; {count} so far): sent again in {wait:.1f} s",
                        endpoint=endpoint.name, count=bucket.rate_limited, wait=wait,
                    )
                    continue
            raise error

    def _rate_limit_wait(self, data: Any, answer: Answer) -> float:
        """Seconds a 429 asks to wait: until its ``expiry`` (a datetime, or a number of
        seconds), else its ``Retry-After`` header, else one second."""
        expiry = data.get("expiry") if isinstance(data, dict) else None
        retry_after = answer.headers.getRawHeaders(b"retry-after") or []
        for value in [expiry, *[v.decode("latin-1") for v in retry_after]]:
            if value is None:
                continue
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                pass
            try:
                return max(0.0, parse_datetime(value).timestamp() - self.clock.seconds())
            except ValueError:
                pass
        return 1.0

    async def _by_ids(self, name: str, ids: Iterable[Any], query: Query | None = None) -> list[Any]:
        """The answers of ``name`` for ``ids``, split into requests of at most its cap."""
        endpoint = _ENDPOINTS[name]
        requests = [
            Deferred.fromCoroutine(self._call(endpoint, endpoint.path.format(chunk), query))
            for chunk in id_chunks(ids, CAPS[name])
        ]
        return await gatherResults(requests, consumeErrors=True).addErrback(_first_error)

    async def _listed(self, name: str, ids: Iterable[Any], key: str, kind: Any, query: Any = None) -> list[Any]:
        answers = await self._by_ids(name, ids, encode_query(name, query or {}))
        return [item for answer in answers for item in _field(answer, key, list[kind])]

    async def _keyed(self, name: str, ids: Iterable[Any], key: str | None, kind: Any) -> dict[int, Any]:
        merged: dict[int, Any] = {}
        for answer in await self._by_ids(name, ids):
            merged.update(structure(dict[Id, kind], answer, name) if key is None else _field(answer, key, dict[Id, kind]))
        return merged

    def _pages(self, name: str, kind: type, filters: Mapping[str, Any]) -> Pages[Any]:
        endpoint = _ENDPOINTS[name]

        def fetch(query: Query) -> Deferred[Any]:
            return Deferred.fromCoroutine(self._call(endpoint, None, query)).addCallback(
                lambda answer: structure(kind, answer, name)
            )

        return Pages(fetch, encode_query(name, filters))

    # -- sessions ----------------------------------------------------------------------------

    def login(self) -> Deferred[SessionInfo]:
        """Log in now (again, if logged in), with the second factor if the account asks for
        one; fires with the `SessionInfo`. Not needed before other requests: those that need
        a session log in themselves. Fails with `errors.LoginRefused` (a `LoginError`)."""
        return self.session.login()

    @_deferred
    async def logout(self) -> None:
        """End the session (``DELETE /v3/sessions/``), if a token is held; fires with None.
        A session already expired (a 401) is as good as ended. A later request that needs a
        session logs in again."""
        if self.session.held()[1] is None:
            return
        try:
            await self._call(_ENDPOINTS["logout"])
        except AuthenticationError:
            pass
        finally:
            self.session.forget()

    @_deferred
    async def close(self) -> None:
        """Log out, and close the connections of the client's own pool; fires with None."""
        try:
            if self.session.logged_in:
                await self.logout()
        finally:
            if self._pool is not None:
                await self._pool.closeCachedConnections()

    # -- the catalogue -----------------------------------------------------------------------

    @_deferred
    async def events(self, **filters: Any) -> EventsPage:
        """A page of events (``GET /v3/events/``): an `EventsPage`, whose ``items`` are
        `Event` and ``next_page`` the next page's query string (None at the end).

        ``filters`` are the document's query parameters: ``id``, ``parent_id`` (lists of
        ids); ``state``, ``type``, ``type_domain``, ``type_scope`` (lists of strings: each
        repeats its key); ``with_new_type``, ``inplay_enabled``, ``include_hidden`` (bools);
        ``start_datetime_min``/``_max``, ``last_modified_min``/``_max`` (aware datetimes);
        ``sort``, ``limit`` (1..1000), ``jurisdiction``, ``platform``; and the cursor of the
        sort, ``pagination_last_id``, ``pagination_last_start_datetime``,
        ``pagination_last_display_order``, ``pagination_last_name``. An unknown one is a
        TypeError. `events_pages` follows the pages."""
        return structure(EventsPage, await self._call(_ENDPOINTS["events"], None, encode_query("events", filters)))

    def events_pages(self, **filters: Any) -> Pages[EventsPage]:
        """The pages of events with ``filters`` (as `events`): ``async for page in ...``;
        ``.collect()`` fires with every `Event` in one list."""
        return self._pages("events", EventsPage, filters)

    @_deferred
    async def markets_by_event(self, event_ids: Iterable[int], **filters: Any) -> list[Market]:
        """The markets of the events ``event_ids`` (``GET /v3/events/{ids}/markets/``, 50
        ids a request): a list of `Market`. ``filters``: ``sort``, ``limit_by_event``,
        ``popular``, ``market_types`` (a list of names), ``include_hidden``,
        ``jurisdiction``."""
        return await self._listed("markets_by_event", event_ids, "markets", Market, filters)

    @_deferred
    async def markets(self, market_ids: Iterable[int], **filters: Any) -> list[Market]:
        """The markets ``market_ids`` (``GET /v3/markets/{ids}/``, which the document does
        not list; 100 ids a request): a list of `Market`. ``filters``: ``with_volumes``,
        ``include_hidden``, ``jurisdiction``."""
        return await self._listed("markets", market_ids, "markets", Market, filters)

    @_deferred
    async def markets_count(self, event_ids: Iterable[int], **filters: Any) -> dict[int, int]:
        """How many markets each of the events ``event_ids`` has (50 ids a request): event id
        -> count. ``filters``: ``include_hidden``, ``jurisdiction``."""
        counts = await self._listed("markets_count", event_ids, "events", MarketsCount, filters)
        return {count.id: count.markets_count for count in counts}

    @_deferred
    async def contracts(self, market_ids: Iterable[int], **filters: Any) -> list[Contract]:
        """The contracts of the markets ``market_ids`` (100 ids a request): a list of
        `Contract`. ``filters``: ``include_hidden``, ``jurisdiction``."""
        return await self._listed("contracts", market_ids, "contracts", Contract, filters)

    @_deferred
    async def competitors(self, event_ids: Iterable[int]) -> list[Competitor]:
        """The competitors in the events ``event_ids`` (300 ids a request): a list of
        `Competitor`."""
        return await self._listed("competitors", event_ids, "competitors", Competitor)

    @_deferred
    async def event_states(self, event_ids: Iterable[int]) -> list[EventState]:
        """The live states (scores, clock) of the events ``event_ids`` (300 ids a request):
        a list of `EventState`."""
        return await self._listed("event_states", event_ids, "event_states", EventState)

    @_deferred
    async def currency(self, code: str) -> Currency:
        """The currency ``code`` (``EUR``) and its rate to the pound: a `Currency`."""
        if not (isinstance(code, str) and len(code) == 3 and code.isalpha() and code.isupper()):
            raise ValueError(f"a currency code is three capital letters, not {code!r}")
        endpoint = _ENDPOINTS["currency"]
        return structure(Currency, await self._call(endpoint, endpoint.path.format(code)))

    # -- market data -------------------------------------------------------------------------

    @_deferred
    async def quotes(self, market_ids: Iterable[int]) -> dict[int, ContractQuotes]:
        """The order books of the markets ``market_ids`` (200 ids a request, 50 requests a
        minute): contract id -> `ContractQuotes` (``bids`` and ``offers``, best first; price
        in basis points, quantity in ten-thousandths of the currency). Undelayed only with a
        session: the client's token is sent if it holds one."""
        return await self._keyed("quotes", market_ids, None, ContractQuotes)

    @_deferred
    async def last_executed_prices(self, market_ids: Iterable[int]) -> dict[int, list[LastExecutedPrice]]:
        """The last traded price of each contract of the markets ``market_ids`` (100 ids a
        request): market id -> a list of `LastExecutedPrice` (the price in basis points)."""
        return await self._keyed("last_executed_prices", market_ids, "last_executed_prices", list[LastExecutedPrice])

    @_deferred
    async def volumes(self, market_ids: Iterable[int]) -> list[Volume]:
        """The traded volume of the markets ``market_ids`` (300 ids a request): a list of
        `Volume`."""
        return await self._listed("volumes", market_ids, "volumes", Volume)

    # -- the account -------------------------------------------------------------------------

    @_deferred
    async def account(self) -> Account:
        """The account's balance, exposure and currency: an `Account` (money `Decimal`)."""
        return _field(await self._call(_ENDPOINTS["account"]), "account", Account)

    @_deferred
    async def activity(self, **filters: Any) -> ActivityPage:
        """A page of the account's statement (``GET /v3/accounts/activity/``): an
        `ActivityPage` of `ActivityRow`. ``filters``: ``timestamp_min``/``_max`` (aware
        datetimes), ``limit`` (0..500), ``market_id``, ``order_id`` (lists of ids),
        ``source`` (a list: ``order.execute`` ...), ``sort`` (``seq,subseq`` or the default
        ``-seq,-subseq``), the cursor ``pagination_last_seq`` and
        ``pagination_last_subseq`` (the last row's), ``event_info`` (bool).
        `activity_pages` follows the pages."""
        return structure(ActivityPage, await self._call(_ENDPOINTS["activity"], None, encode_query("activity", filters)))

    def activity_pages(self, **filters: Any) -> Pages[ActivityPage]:
        """The pages of the account's statement with ``filters`` (as `activity`)."""
        return self._pages("activity", ActivityPage, filters)

    @_deferred
    async def activity_csv(self, start: datetime, end: datetime) -> bytes:
        """The account's statement for the hour from ``start`` to ``end`` (aware datetimes on
        the hour, an hour apart) as CSV: its bytes, ungzipped."""
        endpoint = _ENDPOINTS["activity_csv"]
        path = endpoint.path.format(format_datetime(start), format_datetime(end))
        body = (await self._answer(endpoint, path)).body
        return gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body

    # -- orders ------------------------------------------------------------------------------

    @_deferred
    async def orders(self, **filters: Any) -> OrdersPage:
        """A page of the account's orders, open and recently settled (``GET /v3/orders/``):
        an `OrdersPage` of `AccountOrder`. ``filters``: ``id``, ``market_id`` (lists of ids),
        ``contract_id`` (an id), ``side`` (``buy``/``sell``), ``state`` (a list:
        ``created``, ``partial``, ``filled``, ``settled``), ``created_datetime_min``/``_max``
        (aware datetimes), ``sequence_number_min``/``_max``, ``sort`` (``id`` or ``-id``),
        ``limit`` (1..100), ``pagination_last_id``. `orders_pages` follows the pages."""
        return structure(OrdersPage, await self._call(_ENDPOINTS["orders"], None, encode_query("orders", filters)))

    def orders_pages(self, **filters: Any) -> Pages[OrdersPage]:
        """The pages of the account's orders with ``filters`` (as `orders`)."""
        return self._pages("orders", OrdersPage, filters)

    @_deferred
    async def create_order(
        self,
        market_id: int,
        contract_id: int,
        side: str,
        price: int,
        quantity: int,
        type: str | None = None,  # noqa: A002 - the API's name
        label: str | None = None,
        minimum_accepted_quantity: int | None = None,
    ) -> OrderCreated:
        """Place an order (``POST /v3/orders/``): ``side`` `BUY` or `SELL`, ``price`` in basis
        points (1..9999, on the tick ladder), ``quantity`` the total pot in ten-thousandths of
        the currency; ``type`` one of `ORDER_TYPES` (the API's default: good til halted),
        ``label`` a tag echoed on the order, ``minimum_accepted_quantity`` for an
        immediate-or-cancel. Fires with `OrderCreated`.

        Fails with `OrderRejected` (``reason`` ``ORDER_REJECTED_INSUFFICIENT_FUNDS`` ...) or
        `OrderInvalid` as the streaming client does; with ValueError, nothing sent, for a
        value out of range. An order whose request timed out (`RequestTimeout`) or lost its
        connection (`ConnectionLost`) may have been placed: it is not sent again (look for
        it with `orders`, by its label)."""
        if side not in (BUY, SELL):
            raise ValueError(f"side must be {BUY!r} or {SELL!r}, not {side!r}")
        body: dict[str, Any] = {
            "market_id": format_ids([market_id])[0],
            "contract_id": format_ids([contract_id])[0],
            "side": side,
            "price": _whole("price", price, 1, 9999),
            "quantity": _whole("quantity", quantity, 0, 2**32 - 1),
        }
        if type is not None:
            if type not in ORDER_TYPES:
                raise ValueError(f"type must be one of {', '.join(ORDER_TYPES)}, not {type!r}")
            body["type"] = type
        if label is not None:
            body["label"] = str(label)
        if minimum_accepted_quantity is not None:
            body["minimum_accepted_quantity"] = _whole("minimum_accepted_quantity", minimum_accepted_quantity, 0, 2**32 - 1)
        return structure(OrderCreated, await self._call(_ENDPOINTS["create_order"], body=body))

    @_deferred
    async def cancel_order(self, order_id: int) -> None:
        """Cancel the order ``order_id`` (``DELETE /v3/orders/{id}/``, 10 a second); fires
        with None. Fails with `RequestRejected` (``reason``
        ``ORDER_CANCEL_REJECTED_NOT_LIVE``, ``ORDER_CANCEL_REJECTED_NOT_FOUND`` ...)."""
        endpoint = _ENDPOINTS["cancel_order"]
        await self._call(endpoint, endpoint.path.format(format_ids([order_id])[0]))

    @_deferred
    async def cancel_all(self, market_id: int | None = None) -> None:
        """Cancel every live order of the account, of the market ``market_id`` only if given
        (``DELETE /v3/orders/``, once a minute); fires with None."""
        query = [("market_id", format_ids([market_id])[0])] if market_id is not None else None
        await self._call(_ENDPOINTS["cancel_all"], None, query)

    @_deferred
    async def fullcover_orders(self, **filters: Any) -> FullcoverOrdersPage:
        """A page of the account's multiples and accumulators (``GET /v3/orders/fullcover/``):
        a `FullcoverOrdersPage`. ``filters``: ``states`` (a list), ``limit`` (1..100),
        ``pagination_last_id``."""
        answer = await self._call(_ENDPOINTS["fullcover_orders"], None, encode_query("fullcover_orders", filters))
        return structure(FullcoverOrdersPage, answer)

    def fullcover_orders_pages(self, **filters: Any) -> Pages[FullcoverOrdersPage]:
        """The pages of the account's multiples and accumulators (as `fullcover_orders`)."""
        return self._pages("fullcover_orders", FullcoverOrdersPage, filters)


def _whole(name: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is an int in ``low..high``; ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low}..{high}, not {value!r}")
    return value


def _json_or_none(answer: Answer) -> Any:
    try:
        return answer.json()
    except InvalidResponse:
        return None

