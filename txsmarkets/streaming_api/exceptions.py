"""The 9.3 ``smarkets.streaming_api.exceptions`` module: the errors of the streaming API.

The 9.3 classes (`ConnectionError`, `DecodeError`, `DownloadError`, `InvalidCallbackError`,
`InvalidUrlError`, `ParseError`, `SocketDisconnected`) and this package's own, which a
Deferred errbacks with (`LoginError`, `LoginTimeout`, `ConnectionLost`, `RequestTimeout`,
`OrderRejected` ...): all from `txsmarkets.exceptions`. And `BlockingCallError`, this
package's own: what a 9.3 blocking call that has no counterpart raises.
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
from txsmarkets.errors import Error

__all__ = [
    "BlockingCallError",
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


class BlockingCallError(Error):
    """A 9.3 call that waited on the socket, which has no counterpart under Twisted
    (``client.read()``; ``flush()`` of a client made of no `Session`).

    Nothing blocks here: the reactor delivers every message to the handlers as it arrives,
    and each request returns a Deferred. The message says what to do instead.
    """
