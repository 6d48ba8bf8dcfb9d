"""The HTTP API's errors: every answer outside 2xx as an exception, and the client's own.

Every non-2xx answer is an `APIError` carrying its ``status``, the body's ``error_type`` and
``data`` (``{"error_type": ..., "data": ...}``, the document's envelope). Order and cancel
rejections raise the streaming client's classes as well (`txsmarkets.exceptions`), so that a
strategy handles both venues alike: an order refused by the exchange is an `OrderRejected`
whose ``reason`` is the ``ORDER_REJECTED_...`` name (an ``ORDER_CANCELLED_...`` one for an
order ended at once, as an immediate-or-cancel that could not match); a price or quantity
off the ladder is an `OrderInvalid` listing the ``ORDER_INVALID_...`` reasons; a refused
cancel is a `RequestRejected` with the ``ORDER_CANCEL_REJECTED_...`` reason.

A request that gets no answer is not an `APIError`: `RequestTimeout` (no answer in time;
the request was cancelled), `ConnectionLost` (the connection failed after the request went
out: its fate is unknown, and an order is never sent again for it) or `ConnectionError`
(nothing was sent), all from `txsmarkets.exceptions`.
"""

from __future__ import annotations

from typing import Any

from txsmarkets.errors import Error
from txsmarkets.exceptions import (
    ConnectionError,
    ConnectionLost,
    LoginError,
    OrderInvalid,
    OrderRejected,
    RequestRejected,
    RequestTimeout,
)
from txsmarkets.http_api.units import InvalidResponse

__all__ = [
    "APIError",
    "AuthenticationError",
    "CancelRejected",
    "HTTPOrderInvalid",
    "HTTPOrderRejected",
    "LoginRefused",
    "NoCredentials",
    "QueueFull",
    "RateLimitExceeded",
    "error_for",
    "upstream_error",
]


def _summary(data: Any) -> str:
    text = data if isinstance(data, str) else repr(data)
    return text if len(text) <= 200 else text[:197] + "..."


class APIError(Error):
    """The API answered with a status outside 2xx: ``status`` (int), ``error_type`` (the
    body's, ``HTTP_<status>`` when the body has none) and ``data`` (the body's, a string or
    an object; None if absent)."""

    def __init__(self, status: int, error_type: str, data: Any = None) -> None:
        super().__init__(_api_text(status, error_type, data))
        self.status = status
        self.error_type = error_type
        self.data = data


class AuthenticationError(APIError):
    """A 401: no valid session (``AUTH_REQUIRED``, even after logging in again once), or
    the login refused (``INVALID_CREDENTIALS``, ``PASSWORD_RESET_NEEDED``)."""


class RateLimitExceeded(APIError):
    """A 429 that waiting did not cure: the retries ran out, or the wait it asked for was
    longer than the client will wait. ``data`` holds ``count``, ``limit`` and ``expiry``."""


def _api_text(status: int, error_type: str, data: Any) -> str:
    return f"{status} {error_type}" + (f": {_summary(data)}" if data not in (None, "", {}) else "")


class _Rejection(APIError):
    """An `APIError` that is one of the streaming client's rejections too: ``reason`` is
    the ``error_type`` and ``message`` the ``data``, as `RequestRejected` keeps them."""

    def __init__(self, status: int, error_type: str, data: Any = None) -> None:
        # Not the parents' __init__s: theirs take other arguments, and call each other.
        Exception.__init__(self, _api_text(status, error_type, data))
        self.status = status
        self.error_type = error_type
        self.data = data
        self.reason = error_type
        self.message = data


class HTTPOrderRejected(_Rejection, OrderRejected):
    """An order create the exchange refused (a 400 ``ORDER_REJECTED_...`` or
    ``ORDER_CANCELLED_...``): an `OrderRejected` whose ``reason`` is that name."""


class HTTPOrderInvalid(_Rejection, OrderInvalid):
    """An order create with an invalid price or quantity (a 400 ``ORDER_INVALID_...``): an
    `OrderInvalid` whose ``reasons`` list each ``ORDER_INVALID_...`` name."""

    def __init__(self, status: int, error_type: str, data: Any = None) -> None:
        super().__init__(status, error_type, data)
        # The API may name two reasons in one error_type: "ORDER_INVALID_INVALID_QUANTITY,
        # ORDER_INVALID_INVALID_PRICE".
        self.reasons = [reason.strip() for reason in error_type.split(",")]


class CancelRejected(_Rejection, RequestRejected):
    """A cancel the exchange refused (``ORDER_CANCEL_REJECTED_...``, a 404 for an unknown
    order): a `RequestRejected` whose ``reason`` is that name, as the streaming client's."""


class LoginRefused(_Rejection, LoginError):
    """The API refused a login or its second factor (``INVALID_CREDENTIALS``,
    ``USER_SUSPENDED``, ``INVALID_TOKEN`` ...): a `LoginError` whose ``reason`` is the
    ``error_type``, as the streaming client's."""


class QueueFull(Error):
    """A request found its endpoint's rate-limit queue full: nothing was sent.

    ``endpoint`` names the limit (``quotes``, ``create_order`` ...), ``waiting`` how many
    requests were already queued for it."""

    def __init__(self, endpoint: str, waiting: int) -> None:
        super().__init__(
            f"{waiting} requests already wait for the {endpoint} rate limit: this one was not sent"
        )
        self.endpoint = endpoint
        self.waiting = waiting


class NoCredentials(Error):
    """A request needs a session, and the client was given no username and password."""


def error_for(status: int, body: Any, login: bool = False) -> APIError:
    """The exception for an answer of ``status`` with the decoded JSON ``body`` (anything,
    even None for a body that was not JSON); ``login`` for an answer to a login or its
    second factor, which a 4xx other than 429 refuses (`LoginRefused`)."""
    if isinstance(body, dict) and isinstance(body.get("error_type"), str):
        error_type, data = body["error_type"], body.get("data")
    else:
        error_type, data = f"HTTP_{status}", None
    if error_type.startswith(("ORDER_REJECTED_", "ORDER_CANCELLED_")):
        return HTTPOrderRejected(status, error_type, data)
    if error_type.startswith("ORDER_INVALID_"):
        return HTTPOrderInvalid(status, error_type, data)
    if error_type.startswith("ORDER_CANCEL_REJECTED_"):
        return CancelRejected(status, error_type, data)
    if login and 400 <= status < 500 and status != 429:
        return LoginRefused(status, error_type, data)
    if status == 401:
        return AuthenticationError(status, error_type, data)
    if status == 429:
        return RateLimitExceeded(status, error_type, data)
    return APIError(status, error_type, data)


#: What the client raises for an upstream that answers wrongly or not at all.
_UPSTREAM_ERRORS = (APIError, InvalidResponse, QueueFull, RequestTimeout, ConnectionLost, ConnectionError)


def upstream_error(error: BaseException) -> bool:
    """Whether ``error`` is one the client raises for what the upstream did (an answer
    outside 2xx, one that is not what the API documents, none in time, no connection, a
    full rate-limit queue): said in one line of the log, no traceback, by those who poll
    or ask it. Anything else is a bug, worth its traceback."""
    return isinstance(error, _UPSTREAM_ERRORS)
