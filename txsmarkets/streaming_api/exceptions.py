"""The 9.3 ``smarkets.streaming_api.exceptions`` module: the errors of the streaming API.

The 9.3 classes (`ConnectionError`, `DecodeError`, `DownloadError`, `InvalidCallbackError`,
`InvalidUrlError`, `ParseError`, `SocketDisconnected`) and this package's own, which a
Deferred errbacks with (`LoginError`, `LoginTimeout`, `ConnectionLost`, `RequestTimeout`,
`OrderRejected` ...): all from `txsmarkets.exceptions`.
"""

from txsmarkets.exceptions import (  # noqa: A004 - ConnectionError is 9.3's name
    ConnectionError,
    ConnectionLost,
    DecodeError,
    DownloadError,
    InvalidCallbackError,
    InvalidUrlError,
    LoginError,
    LoginTimeout,
    OrderInvalid,
    OrderRefused,
    OrderRejected,
    ParseError,
    PingLost,
    RequestRejected,
    RequestTimeout,
    SessionClosed,
    SocketDisconnected,
)

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
