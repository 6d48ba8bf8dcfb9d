"""One HTTP exchange with the API: the request sent through treq, the whole answer read,
all within a timeout, and what can go wrong on the way as the txsmarkets errors.

The treq client given (by default one on a persistent connection pool of the given reactor,
whose agent checks the server's certificate and hostname) does the HTTP; `Transport` adds
the API's URL, headers and JSON, and the timeout: past it the request is cancelled (its
connection closed) and fails with `RequestTimeout`. A connection that fails before the
request went out is a `ConnectionError` (nothing was sent); one that fails after is a
`ConnectionLost` (the request may have been carried out).
"""

from __future__ import annotations

import json
from typing import Any, Protocol
from urllib.parse import urlencode

import attrs
from twisted.internet import error as internet_error
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure
from twisted.web import client as web_client
from twisted.web.http import PotentialDataLoss
from twisted.web.http_headers import Headers
from twisted.web.iweb import IResponse

from txsmarkets.exceptions import ConnectionError, ConnectionLost, RequestTimeout
from txsmarkets.http_api.units import InvalidResponse, loads

__all__ = ["Answer", "HTTPClient", "Transport"]

#: The most of an answer's body read: larger ones are refused (a listing is far smaller).
MAX_BODY = 64 * 1024 * 1024


class HTTPClient(Protocol):
    """What `Transport` needs of a treq client (``treq.client.HTTPClient``, or
    ``treq.testing.StubTreq`` in tests)."""

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Headers | None = None,
        data: Any = None,
        allow_redirects: bool = True,
        unbuffered: bool = False,
    ) -> Deferred[Any]: ...


@attrs.frozen
class Answer:
    """An answer: its ``status``, its ``body`` as bytes, and ``headers``."""

    status: int
    body: bytes = attrs.field(repr=False)
    headers: Headers = attrs.field(repr=False)

    def json(self) -> Any:
        """The body as JSON (see `units.loads`); `InvalidResponse` if it is not."""
        return loads(self.body)


class _Body(TwistedProtocol):
    """Reads a whole answer's body; cancelling stops it and closes the connection."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.done: Deferred[bytes] = Deferred(self._cancel)

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_BODY:
            self.chunks = []
            self.transport.stopProducing()  # type: ignore[union-attr]
            return
        self.chunks.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.done.called:
            return
        if self.size > MAX_BODY:
            self.done.errback(InvalidResponse(f"the answer is larger than {MAX_BODY} bytes: not read"))
        elif reason.check(web_client.ResponseDone, PotentialDataLoss):
            self.done.callback(b"".join(self.chunks))
        else:
            self.done.errback(reason)

    def _cancel(self, d: Deferred[bytes]) -> None:
        if self.transport is not None:
            self.transport.stopProducing()  # type: ignore[attr-defined]


def _read(response: IResponse) -> Deferred[Answer]:
    body = _Body()
    response.deliverBody(body)
    return body.done.addCallback(lambda data: Answer(response.code, data, response.headers))


# Failures before the request went out, and after: the request's fate known, or not.
_NOT_SENT = (
    internet_error.ConnectError,
    internet_error.DNSLookupError,
    web_client.RequestNotSent,
)
_UNKNOWN = (
    web_client.ResponseNeverReceived,
    web_client.RequestTransmissionFailed,
    web_client.ResponseFailed,
    internet_error.ConnectionLost,
    internet_error.ConnectionDone,
)


class Transport:
    """Sends requests to the API at ``url`` (its ``/v3/`` root, ending in ``/``) through
    ``http``, each answered or failed within ``timeout`` seconds of ``clock``."""

    def __init__(self, clock: IReactorTime, http: HTTPClient, url: str, timeout: float) -> None:
        self.clock = clock
        self.http = http
        self.url = url if url.endswith("/") else url + "/"
        self.timeout = timeout

    def send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        authorization: bytes | None = None,
    ) -> Deferred[Answer]:
        """Send ``method`` to ``path`` (under the root) with ``query`` and ``body`` (made
        JSON) and the Authorization header's value; fires with the `Answer`, whatever its
        status. Fails with `RequestTimeout`, `ConnectionError` or `ConnectionLost`."""
        url = self.url + path + ("?" + urlencode(query) if query else "")
        headers = {b"Accept": [b"application/json"]}
        if authorization is not None:
            headers[b"Authorization"] = [authorization]
        data = None
        if body is not None:
            headers[b"Content-Type"] = [b"application/json"]
            data = json.dumps(body, separators=(",", ":")).encode()
        # No redirect is followed: the API gives none, and one would take the token elsewhere.
        d = self.http.request(method, url, headers=Headers(headers), data=data, allow_redirects=False, unbuffered=True)
        d.addCallback(_read)
        # Past the timeout the request is cancelled: the agent then fails it with
        # ResponseNeverReceived (its connection aborted), told apart here by the flag.
        timer = self.clock.callLater(self.timeout, d.cancel)

        def settled(result: Any) -> Any:
            if timer.active():
                timer.cancel()
                return result
            if isinstance(result, Failure):
                return Failure(RequestTimeout(f"{method} {path}: no answer in {self.timeout:g} s; the request was cancelled"))
            return result

        return d.addBoth(settled).addErrback(self._failed, method, path)

    def _failed(self, failure: Failure, method: str, path: str) -> Failure:
        what = f"{method} {path}"
        if failure.check(RequestTimeout, CancelledError):
            return failure
        if failure.check(*_NOT_SENT):
            return Failure(ConnectionError(f"{what}: not sent ({failure.value.__class__.__name__}: {failure.value})"))
        if failure.check(*_UNKNOWN):
            return Failure(ConnectionLost(failure))
        return failure
        if failure.check(*_NOT_SENT):
            return Failure(ConnectionError(f"{what}: not sent ({failure.value.__class__.__name__}: {failure.value})"))
        if failure.check(*_UNKNOWN):
            return Failure(ConnectionLost(failure))
        return failure
