"""The errors of the streaming API: those of the original client and the session's own."""

from __future__ import annotations

from typing import Any

from txsmarkets.errors import Error

__all__ = [
    "ConnectionError",
    "ConnectionLost",
    "DecodeError",
    "DownloadError",
    "InvalidCallbackError",
    "InvalidUrlError",
    "LoginError",
    "LoginTimeout",
    "OrderInvalid",
    "OrderRefused",
    "OrderRejected",
    "ParseError",
    "PingLost",
    "RequestRejected",
    "RequestTimeout",
    "SessionClosed",
    "SocketDisconnected",
]


class ConnectionError(Error):  # noqa: A001 - the 9.3 name
    """TCP connection-related error."""


class DecodeError(Error):
    """A frame header could not be decoded."""


class DownloadError(Error):
    """A URL could not be fetched."""


class InvalidCallbackError(Error, ValueError):
    """A handler was registered for a message name that does not exist, or is not callable.

    Also a `ValueError`: 9.3 raised that for a handler that is not callable, and its code
    catches it.
    """


class InvalidUrlError(Error):
    """A URL is invalid."""


class ParseError(Error):
    """A message or frame could not be parsed."""


class SocketDisconnected(Error):
    """The connection was closed while a message was awaited."""


class ConnectionLost(SocketDisconnected):
    """The connection ended while a request waited for its answer.

    ``reason`` is the `Failure` the transport gave. For an order the outcome is unknown:
    the answer, if the exchange got the order, still arrives through the handlers once the
    session resumes.
    """

    def __init__(self, reason: Any = None) -> None:
        super().__init__(f"connection lost: {getattr(reason, 'value', reason)!r}")
        self.reason = reason


class SessionClosed(Error):
    """The session has ended (logged out or refused); requests can no longer be made."""


class LoginError(Error):
    """The exchange refused the login; ``reason`` is the eto logout reason's name."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"login refused: {reason}")
        self.reason = reason


class LoginTimeout(Error):
    """No login response arrived in time."""


class PingLost(Error):
    """A ping never reached the exchange (it was lost in a gap): no pong will come."""


class RequestTimeout(Error):
    """A request got no answer within its timeout."""


class RequestRejected(Error):
    """The exchange answered a request with a rejection.

    ``message`` is the protobuf answer; ``reason`` the rejection reason's enum name.
    """

    def __init__(self, reason: str, message: Any = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


class OrderRejected(RequestRejected):
    """An order create was answered with ``seto.order_rejected``."""


class OrderInvalid(RequestRejected):
    """An order create was answered with ``seto.order_invalid``; ``reasons`` lists why."""

    def __init__(self, reasons: list[str], message: Any = None) -> None:
        super().__init__(", ".join(reasons), message)
        self.reasons = reasons


class OrderRefused(RequestRejected):
    """The client's trading controls refused an order create: it was never sent.

    ``control`` is the control's name (``max_account_exposure``, ``kill_switch`` ...),
    ``limit`` its limit and ``figure`` what the order would have reached (pounds as
    `Decimal`); ``detail`` says more where a figure alone would not. The kill switch has
    no limit (None): its ``figure`` is the halt's reason.
    """

    def __init__(self, control: str, limit: Any, figure: Any, detail: str = "") -> None:
        if limit is None:
            # No figure to compare (the kill switch): the detail says it all.
            text = f"{control}: {detail}"
        else:
            text = f"{control}: limit {limit}, the order would reach {figure}"
            text = f"{text} ({detail})" if detail else text
        super().__init__(text)
        self.control = control
        self.limit = limit
        self.figure = figure
        self.detail = detail
