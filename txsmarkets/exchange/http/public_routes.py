"""The HTTP API's public routes: sessions, the catalogue, currencies and prices. They
answer without a token (quotes and last executed prices take one if given, for the rate
limit), as working clients find the real service does."""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator

from twisted.internet.defer import Deferred
from twisted.web.iweb import IRequest

from txsmarkets.exchange.event_types import EVENT_DOMAINS, EVENT_SCOPES, EVENT_STATES, EVENT_TYPES
from txsmarkets.exchange.http.base import ApiBase, page_link, posix
from txsmarkets.exchange.http.errors import ApiError, invalid
from txsmarkets.exchange.http.params import Query, id_list, parse_datetime
from txsmarkets.exchange.http.shapes import book_shape, contract_shape, event_shape, market_shape
from txsmarkets.exchange.http.units import percent, timestamp

__all__ = ["PublicRoutes"]

_JURISDICTIONS = ("CDG", "CFTC", "DGA", "IGC", "IRGC", "MGA", "SGA", "UKGC")
_EVENT_SORTS = {
    "id": ("id",),
    "start_datetime,id": ("start_datetime", "id"),
    "start_datetime,name": ("start_datetime", "name"),
    "display_order,start_datetime,id": ("display_order", "start_datetime", "id"),
    "display_order,start_datetime,name": ("display_order", "start_datetime", "name"),
}
_CURRENCIES = {
    "AUD": "Australian Dollar",
    "BRL": "Brazilian Real",
    "CAD": "Canadian Dollar",
    "CHF": "Swiss Franc",
    "CZK": "Czech Koruna",
    "DKK": "Danish Krone",
    "EUR": "Euro",
    "GBP": "Pound Sterling",
    "HKD": "Hong Kong Dollar",
    "HUF": "Hungarian Forint",
    "JPY": "Japanese Yen",
    "NOK": "Norwegian Krone",
    "PLN": "Polish Zloty",
    "SEK": "Swedish Krona",
    "USD": "US Dollar",
}

# The login body's fields, as the document has them (it allows no others); the options are
# booleans this exchange takes and ignores. The username is not checked to be an email
# address, as the document's is: a catalogue's accounts may have any name.
_LOGIN_OPTIONS = ("remember", "use_auth_v2", "create_social_member", "reopen_account")
_LOGIN_FIELDS = ("username", "password", *_LOGIN_OPTIONS)

# The routes below are added to the app of ApiBase.
_app = ApiBase.app


class PublicRoutes(ApiBase):
    """The routes anyone may call (a part of `HttpApi`)."""

    # -- sessions ---------------------------------------------------------------------------

    @_app.route("/v3/sessions/", methods=["POST"])
    def create_session(self, request: IRequest) -> Deferred[bytes]:
        self.limits.check("create_session", self._caller(request)[1])
        body = self._body(request)
        self._only_fields(body, _LOGIN_FIELDS)
        for option in _LOGIN_OPTIONS:
            self._bool_field(body, option)
        username = self._text_field(body, "username")
        password = self._text_field(body, "password")
        assert username is not None and password is not None
        if not password:
            raise invalid("password: must not be empty")
        return self.sessions.login(username, password).addCallback(lambda answer: self._json(request, answer, 201))

    @_app.route("/v3/sessions/verify/", methods=["POST"])
    def verify(self, request: IRequest) -> bytes:
        self.limits.check("verify", self._caller(request)[1])
        body = self._body(request)
        self._only_fields(body, ("token", "code"))
        if "token" not in body:
            raise invalid("token: required (null if there is none)")
        code = self._text_field(body, "code")
        token = self._text_field(body, "token", required=False)
        assert code is not None
        if token is None:
            raise ApiError(400, "INVALID_TOKEN", "the token is not one awaiting a code")
        return self._json(request, self.sessions.verify(token, code), 201)

    @_app.route("/v3/sessions/", methods=["DELETE"])
    def delete_current_session(self, request: IRequest) -> bytes:
        header = self._header(request, b"authorization")
        self.limits.check("delete_current_session", self._caller(request)[1])
        # Ending a session that is already over is no error: it is over.
        self.sessions.logout(header)
        return self._json(request, {"success": True})

    # -- the catalogue ----------------------------------------------------------------------

    def _catalogue_options(self, query: Query) -> None:
        """Check the options every catalogue route takes and this exchange ignores."""
        query.boolean("include_hidden")
        query.choice("jurisdiction", _JURISDICTIONS)

    @_app.route("/v3/events/", methods=["GET"])
    def get_events(self, request: IRequest) -> bytes:
        self.limits.check("get_events", self._caller(request)[1])
        query = Query(request.args)
        self._catalogue_options(query)
        query.choice("platform", ("exchange", "sbk"))
        ids = set(query.ids("id"))
        states = query.choices("state", EVENT_STATES) or ["new", "upcoming", "live"]
        types = set(query.choices("type", EVENT_TYPES))
        domains = set(query.choices("type_domain", EVENT_DOMAINS))
        scopes = set(query.choices("type_scope", EVENT_SCOPES))
        parents = set(query.ids("parent_id"))
        inplay = query.boolean("inplay_enabled")
        start_min, start_max = query.moment("start_datetime_min"), query.moment("start_datetime_max")
        modified_min, modified_max = query.moment("last_modified_min"), query.moment("last_modified_max")
        new_type = bool(query.boolean("with_new_type", False))
        sort = query.choice("sort", tuple(_EVENT_SORTS), "id")
        assert sort is not None
        limit = query.integer("limit", 1, 1000, 20)
        assert limit is not None
        fields = _EVENT_SORTS[sort]
        after = self._events_after(query, fields)
        created = parse_datetime(self.created, "created")

        def wanted(event: Any) -> bool:
            start = event.start_datetime
            return (
                (not ids or event.id in ids)
                and self.index.event_state(event) in states
                and (not types or event.type in types)
                and (not domains or event.domain in domains)
                and (not scopes or event.scope in scopes)
                and (not parents or event.parent_id in parents)
                and inplay is not False
                and (start_min is None or (start is not None and start >= start_min))
                and (start_max is None or (start is not None and start <= start_max))
                and (modified_min is None or created >= modified_min)
                and (modified_max is None or created <= modified_max)
            )

        key = _event_key(fields)
        events = sorted((e for e in self.index.events.values() if wanted(e)), key=key)
        if after is not None:
            events = [event for event in events if key(event) > after]
        page = events[:limit]
        next_page = None
        if len(events) > limit:
            last = page[-1]
            pairs = query.carried(("limit", "sort") + tuple(f"pagination_last_{f}" for f in fields))
            pairs += [("limit", str(limit)), ("sort", sort)]
            pairs += _event_cursor(last, fields)
            next_page = page_link(pairs)
        return self._json(
            request,
            {
                "events": [event_shape(self.index, event, self.created, new_type) for event in page],
                "pagination": {"next_page": next_page},
            },
        )

    @staticmethod
    def _events_after(query: Query, fields: tuple[str, ...]) -> tuple[Any, ...] | None:
        """The sort key of the last event of the previous page, or None on the first page."""
        # Each is checked, whether or not the sort uses it.
        last_id = query.an_id("pagination_last_id")
        moment = query.moment("pagination_last_start_datetime")
        order = query.integer("pagination_last_display_order")
        given = {f: query.text(f"pagination_last_{f}") for f in fields}
        if all(value is None for value in given.values()):
            return None
        parts: list[Any] = []
        for field in fields:
            if field == "id":
                parts.append(0 if last_id is None else last_id)
            elif field == "name":
                parts.append(given["name"] or "")
            elif field == "start_datetime":
                parts.append((0, 0.0) if moment is None else (1, posix(moment)))
            else:
                parts.append((0, 0) if order is None else (1, order))
        return tuple(parts)

    @_app.route("/v3/events/<event_ids>/markets/", methods=["GET"])
    def get_markets_by_event_ids(self, request: IRequest, event_ids: str) -> bytes:
        self.limits.check("get_markets_by_event_ids", self._caller(request)[1])
        ids = id_list(event_ids, "event_ids", 50)
        query = Query(request.args)
        self._catalogue_options(query)
        query.text("sort")  # one sort only: by event, then display order
        query.boolean("popular")
        per_event = query.integer("limit_by_event")
        types = set(filter(None, (query.text("market_types") or "").split(",")))
        markets = []
        for event_id in ids:
            event = self.index.events.get(event_id)
            if event is None:
                continue
            mine = [m for m in _by_display_order(event.markets) if not types or m.market_type in types]
            if per_event is not None:
                mine = mine[: max(per_event, 0)]
            markets.extend(mine)
        return self._json(request, {"markets": [market_shape(self.index, m, self.created) for m in markets]})

    @_app.route("/v3/markets/<market_ids>/", methods=["GET"])
    def get_markets(self, request: IRequest, market_ids: str) -> bytes:
        # Not in the document; working clients use it: the markets by their ids.
        self.limits.check("get_markets", self._caller(request)[1])
        ids = id_list(market_ids, "market_ids", 100)
        Query(request.args).boolean("with_volumes")
        markets = [self.index.markets[i] for i in ids if i in self.index.markets]
        return self._json(request, {"markets": [market_shape(self.index, m, self.created) for m in markets]})

    @_app.route("/v3/events/<event_ids>/markets_count/", methods=["GET"])
    def get_markets_count_by_event_ids(self, request: IRequest, event_ids: str) -> bytes:
        self.limits.check("get_markets_count_by_event_ids", self._caller(request)[1])
        ids = id_list(event_ids, "event_ids", 50)
        self._catalogue_options(Query(request.args))
        counts = [
            {"id": str(i), "markets_count": len(self.index.events[i].markets)} for i in ids if i in self.index.events
        ]
        return self._json(request, {"events": counts})

    @_app.route("/v3/events/<event_ids>/competitors/", methods=["GET"])
    def get_competitors(self, request: IRequest, event_ids: str) -> bytes:
        # Competitors are not modelled: every event has none.
        self.limits.check("get_competitors", self._caller(request)[1])
        id_list(event_ids, "event_ids", 300)
        return self._json(request, {"competitors": []})

    @_app.route("/v3/events/<event_ids>/states/", methods=["GET"])
    def get_event_states(self, request: IRequest, event_ids: str) -> bytes:
        self.limits.check("get_event_states", self._caller(request)[1])
        ids = id_list(event_ids, "event_ids", 300)
        states = [
            {
                "id": str(event.id),
                "state": self.index.event_state(event),
                "hidden": False,
                "instant_match": False,
                "visualization": None,
                "provider_metadata": None,
                "scores": None,
                "tennis_server": None,
            }
            for event in (self.index.events.get(i) for i in ids)
            if event is not None
        ]
        if not states:
            raise ApiError(404, "NO_RESULTS_FOUND", "no such events")
        return self._json(request, {"event_states": states})

    @_app.route("/v3/markets/<market_ids>/contracts/", methods=["GET"])
    def get_contracts_by_market_ids(self, request: IRequest, market_ids: str) -> bytes:
        self.limits.check("get_contracts_by_market_ids", self._caller(request)[1])
        ids = id_list(market_ids, "market_ids", 100)
        self._catalogue_options(Query(request.args))
        contracts = [
            contract_shape(self.index, contract, market.id, self.created)
            for market in (self.index.markets.get(i) for i in ids)
            if market is not None
            for contract in _by_display_order(market.contracts)
        ]
        return self._json(request, {"contracts": contracts})

    @_app.route("/v3/currencies/<code>/", methods=["GET"])
    def get_currency(self, request: IRequest, code: str) -> bytes:
        self.limits.check("get_currency", self._caller(request)[1])
        name = _CURRENCIES.get(code)
        if name is None:
            raise invalid(f"code: {code!r} is not one of the currencies")
        answer = {"code": code, "name": name}
        if code == "GBP":
            # No exchange rates are modelled: only the pound's own is known.
            answer["rate_to_gbp"] = "1"
        return self._json(request, answer)

    # -- prices -----------------------------------------------------------------------------

    @_app.route("/v3/markets/<market_ids>/quotes/", methods=["GET"])
    def get_quotes(self, request: IRequest, market_ids: str) -> bytes:
        # Without a token the real service answers delayed prices; here they are live.
        self.limits.check("get_quotes", self._caller(request)[1])
        ids = id_list(market_ids, "market_ids", 200, too_large=400)
        quotes: dict[str, Any] = {}
        for market_id in ids:
            market = self.index.markets.get(market_id)
            if market is None:
                continue
            for contract in market.contracts:
                book = self.engine.book(contract.id)
                if book is not None:
                    quotes[str(contract.id)] = book_shape(book)
        return self._json(request, quotes)

    @_app.route("/v3/markets/<market_ids>/last_executed_prices/", methods=["GET"])
    def get_last_executed_prices_by_market(self, request: IRequest, market_ids: str) -> bytes:
        self.limits.check("get_last_executed_prices_by_market", self._caller(request)[1])
        ids = id_list(market_ids, "market_ids", 100, too_large=400)
        prices: dict[str, list[dict[str, Any]]] = {}
        for market_id in ids:
            market = self.index.markets.get(market_id)
            if market is None:
                continue
            rows = prices[str(market_id)] = []
            for contract in market.contracts:
                last = self.engine.last_execution(contract.id)
                rows.append(
                    {
                        "contract_id": str(contract.id),
                        "last_executed_price": None if last is None else percent(last[0]),
                        "timestamp": None if last is None else timestamp(last[3] / 1_000_000),
                    }
                )
        return self._json(request, {"last_executed_prices": prices})

    @_app.route("/v3/markets/<market_ids>/volumes/", methods=["GET"])
    def get_volumes_by_market_ids(self, request: IRequest, market_ids: str) -> bytes:
        account_id = self._account_id(request)
        self.limits.check("get_volumes_by_market_ids", account_id)
        ids = id_list(market_ids, "market_ids", 300)
        volumes = []
        for market_id in ids:
            traded = self.engine.market_volume(market_id)
            if traded is None:
                continue
            quantity, value = traded
            volumes.append(
                {
                    "market_id": str(market_id),
                    # Whole pounds: the pots traded (back stake plus lay liability), and twice
                    # the back stakes.
                    "volume": quantity // 10_000,
                    "double_stake_volume": 2 * value // 100_000_000,
                }
            )
        return self._json(request, {"volumes": volumes})


def _by_display_order(items: Iterable[Any]) -> list[Any]:
    """Items with a display order first, by it; the others after, in catalogue order."""
    return sorted(items, key=lambda item: (item.display_order is None, item.display_order or 0))


def _event_key(fields: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The sort key of events for a sort's fields (events without a start or a display
    order first)."""

    def key(event: Any) -> tuple[Any, ...]:
        parts: list[Any] = []
        for field in fields:
            if field == "id":
                parts.append(event.id)
            elif field == "name":
                parts.append(event.name)
            elif field == "start_datetime":
                start = event.start_datetime
                parts.append((0, 0.0) if start is None else (1, start.timestamp()))
            else:
                order = event.display_order
                parts.append((0, 0) if order is None else (1, order))
        return tuple(parts)

    return key


def _event_cursor(event: Any, fields: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """The ``pagination_last_*`` parameters that start the page after ``event``."""
    for field in fields:
        if field == "id":
            yield "pagination_last_id", str(event.id)
        elif field == "name":
            yield "pagination_last_name", event.name
        elif field == "start_datetime" and event.start_datetime is not None:
            yield "pagination_last_start_datetime", timestamp(event.start_datetime.timestamp())
        elif field == "display_order" and event.display_order is not None:
            yield "pagination_last_display_order", str(event.display_order)
