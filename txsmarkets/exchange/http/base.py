"""What the HTTP API's routes share: the klein app they are routes of, answering JSON and
errors, and reading requests (sessions, bodies, fields).

An `ApiError` a route raises becomes its status and error body; anything else is logged and
answered 500 ``INTERNAL_ERROR``, so a client never sees a traceback. A path that is no
route, even one only a slash away from one (every path ends with ``/``), is 404
``NOT_FOUND``; a path that is not UTF-8 is 400 ``REQUEST_VALIDATION_ERROR``: what a client
sends makes no 500 and no log line. Orders go to the
engine as the streaming sessions' do (`IExchangeEngine.submit`, with ``seq`` 0, which no
streaming request has), and the engine's first answer in the account stream is the HTTP
answer (``ApiBase._submit``).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping
from urllib.parse import urlencode

from klein import Klein
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from txsmarkets.exchange.interfaces import IHttpEngine
from txsmarkets.exchange.http.activity import ActivityLedger
from txsmarkets.exchange.http.errors import ApiError, invalid
from txsmarkets.exchange.http.index import CatalogueIndex
from txsmarkets.exchange.http.params import parse_id
from txsmarkets.exchange.http.ratelimits import DEFAULT_RATE_LIMITS, Limit, RateLimits
from txsmarkets.exchange.http.sessions import TOKEN_LIFETIME, HttpSessions, second_factors
from txsmarkets.exchange.http.units import timestamp
from txsmarkets.wire import seto_pb2

__all__ = ["ApiBase", "page_link", "posix"]

_log = Logger()

def _reject(value: str) -> Any:
    raise ValueError(f"{value} is not a number JSON allows")


def posix(moment: datetime) -> float:
    """A datetime as POSIX seconds."""
    return moment.timestamp()


def page_link(pairs: list[tuple[str, str]]) -> str:
    """A ``next_page``: a query string to append to the same path."""
    return "?" + urlencode(pairs)


class ApiBase:
    """What the routes share: the engine, the catalogue's index, the activity ledger, the
    sessions and the rate limits; answering JSON and errors; reading requests.

    ``rate_limits`` (operation id -> `Limit`, or None to lift one) is laid over
    `DEFAULT_RATE_LIMITS`; ``token_lifetime`` is how long a token lives unused. Create it
    once the engine's other listeners are set: its activity ledger listens beside them.
    """

    #: The routes (`txsmarkets.exchange.http.routes.HttpApi` serves them).
    app = Klein()

    def __init__(
        self,
        engine: IHttpEngine,
        clock: IReactorTime,
        *,
        rate_limits: Mapping[str, Limit | tuple[int, float] | None] | None = None,
        token_lifetime: float = TOKEN_LIFETIME,
        login_threads: int = 1,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.index = CatalogueIndex(engine.catalogue, engine)
        self.ledger = ActivityLedger(engine, clock)
        self.sessions = HttpSessions(
            clock,
            engine.accounts,
            second_factors(engine.catalogue.accounts),
            lifetime=token_lifetime,
            login_threads=login_threads,
        )
        limits: dict[str, Limit | None] = dict(DEFAULT_RATE_LIMITS)
        for name, limit in (rate_limits or {}).items():
            limits[name] = Limit(*limit) if isinstance(limit, tuple) else limit
        self.limits = RateLimits(clock, limits)
        #: When the catalogue's objects were made, as the API shows it.
        self.created = timestamp(clock.seconds())

    def resource(self) -> Any:
        """The root resource to serve (the routes are under ``/v3/``)."""
        return _Utf8Paths(self.app.resource())

    # -- answering --------------------------------------------------------------------------

    @staticmethod
    def _json(request: IRequest, body: Any, status: int = 200) -> bytes:
        request.setResponseCode(status)
        request.setHeader(b"content-type", b"application/json")
        return json.dumps(body, separators=(",", ":")).encode("utf-8")

    @app.handle_errors(ApiError)
    def _api_error(self, request: IRequest, failure: Failure) -> bytes:
        error = failure.value
        assert isinstance(error, ApiError)
        for name, value in error.headers.items():
            request.setHeader(name.encode("ascii"), value.encode("ascii"))
        return self._json(request, error.body(), error.status)

    @app.handle_errors(NotFound)
    def _not_found(self, request: IRequest, failure: Failure) -> bytes:
        return self._json(request, {"error_type": "NOT_FOUND", "data": "no such path"}, 404)

    @app.handle_errors(RequestRedirect)
    def _not_canonical(self, request: IRequest, failure: Failure) -> bytes:
        # werkzeug would redirect to the path with its slash (or without the doubled one);
        # the document has no redirects, and a client should send the path it documents.
        data = "no such path (a path ends with one /, and has no //)"
        return self._json(request, {"error_type": "NOT_FOUND", "data": data}, 404)

    @app.handle_errors(MethodNotAllowed)
    def _not_allowed(self, request: IRequest, failure: Failure) -> bytes:
        return self._json(request, {"error_type": "METHOD_NOT_ALLOWED", "data": "no such operation"}, 405)

    @app.handle_errors(Exception)
    def _bug(self, request: IRequest, failure: Failure) -> bytes:
        _log.failure("the HTTP API failed on {method} {path}", failure, method=request.method, path=request.path)
        return self._json(request, {"error_type": "INTERNAL_ERROR", "data": {}}, 500)

    # -- reading requests -------------------------------------------------------------------

    @staticmethod
    def _header(request: IRequest, name: bytes) -> str | None:
        value = request.getHeader(name)
        return None if value is None else value.decode("latin-1")

    def _account_id(self, request: IRequest) -> int:
        return self.sessions.require(self._header(request, b"authorization"))

    def _caller(self, request: IRequest) -> tuple[int | None, object]:
        """``(account id or None, rate-limit key)`` of a route that takes a token if given."""
        account_id = self.sessions.account_id(self._header(request, b"authorization"))
        if account_id is not None:
            return account_id, account_id
        address = request.getClientAddress()
        return None, getattr(address, "host", "local")

    @staticmethod
    def _body(request: IRequest) -> dict[str, Any]:
        raw = request.content.read() if request.content is not None else b""
        try:
            body = json.loads(raw, parse_float=Decimal, parse_constant=_reject)
        except (ValueError, RecursionError):
            raise invalid("the body is not JSON") from None
        if not isinstance(body, dict):
            raise invalid("the body must be a JSON object")
        return body

    @staticmethod
    def _only_fields(body: Mapping[str, Any], names: tuple[str, ...]) -> None:
        """Refuse (400 ``REQUEST_VALIDATION_ERROR``) a body with a field not in ``names``:
        for the bodies whose schema in the document allows no others."""
        unknown = sorted(name for name in body if name not in names)
        if unknown:
            shown = ", ".join(name[:40] for name in unknown[:5])
            raise invalid(f"unknown fields: {shown}{', ...' if len(unknown) > 5 else ''}")

    @staticmethod
    def _bool_field(body: Mapping[str, Any], name: str) -> bool | None:
        """An optional boolean field (None when absent); 400 for any other value, null too."""
        if name not in body:
            return None
        value = body[name]
        if not isinstance(value, bool):
            raise invalid(f"{name}: a boolean is required")
        return value

    @staticmethod
    def _text_field(body: Mapping[str, Any], name: str, required: bool = True) -> str | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise invalid(f"{name}: a string is required")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(f"{name}: not valid text") from None
        return value

    @staticmethod
    def _int_field(body: Mapping[str, Any], name: str, low: int, high: int, required: bool = True) -> int | None:
        value = body.get(name)
        if value is None and not required:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise invalid(f"{name}: an integer in {low}..{high} is required")
        return value

    @staticmethod
    def _id_field(body: Mapping[str, Any], name: str) -> int:
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if not isinstance(value, str):
            raise invalid(f"{name}: an id (a decimal string) is required")
        return parse_id(value, name)

    def _submit(self, account_id: int, payload: seto_pb2.Payload) -> seto_pb2.Payload:
        """Hand a request to the engine; its first answer in the account stream."""
        before = self.engine.accounts[account_id].sequence
        problem = self.engine.submit(account_id, payload)
        if problem is not None:
            raise invalid(problem)
        answers = self.engine.account_messages_since(account_id, before)
        if not answers:
            raise RuntimeError(f"the engine did not answer a request of account {account_id}")
        return answers[0]


class _Utf8Paths(Resource):
    """The API's resource (``inner``) for paths that are UTF-8; any other is answered 400
    ``REQUEST_VALIDATION_ERROR`` here, as klein would answer it in text and log a
    traceback."""

    isLeaf = True

    def __init__(self, inner: IResource) -> None:
        super().__init__()
        self.inner = inner

    def render(self, request: IRequest) -> Any:
        """The inner resource's answer, or the 400 (bytes)."""
        try:
            for segment in request.postpath:
                segment.decode("utf-8")
            request.getRequestHostname().decode("utf-8")
        except UnicodeDecodeError:
            return ApiBase._json(request, invalid("the path is not UTF-8").body(), 400)
        return self.inner.render(request)
