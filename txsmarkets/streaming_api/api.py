"""The 9.3 ``smarkets.streaming_api.api`` module: everything a 9.3 program imports at once.

As in 9.3: the `eto` and `seto` modules, `StreamingAPIClient`, `Session`,
`SessionSettings`, the errors `ConnectionError`, `DecodeError`, `ParseError`,
`SocketDisconnected` and `InvalidCallbackError`, the times in force ``IMMEDIATE_OR_CANCEL``
and ``GOOD_TIL_CANCELLED``, and the sides ``SIDE_BID`` and ``SIDE_OFFER``. Beside them, the
names the 9.3 documentation imports from here (``BUY``, ``SELL``, `OrderCreate`), the
errors a Deferred of this package errbacks with and `BlockingCallError` (what 9.3's
blocking ``client.read()`` raises here)::

    from txsmarkets.streaming_api.api import (
        SIDE_BID, OrderCreate, Session, SessionSettings, StreamingAPIClient)
"""

from txsmarkets.client.orders import (
    BUY,
    GOOD_TIL_CANCELLED,
    GOOD_TILL_HALTED,
    IMMEDIATE_OR_CANCEL,
    KEEP_IN_PLAY,
    SELL,
    OrderCreate,
)
from txsmarkets.streaming_api import eto, seto
from txsmarkets.streaming_api.client import StreamingAPIClient
from txsmarkets.streaming_api.exceptions import (  # noqa: A004 - ConnectionError is 9.3's name
    BlockingCallError,
    ConnectionError,
    ConnectionLost,
    DecodeError,
    InvalidCallbackError,
    LoginError,
    LoginTimeout,
    OrderInvalid,
    OrderRejected,
    ParseError,
    RequestRejected,
    RequestTimeout,
    SessionClosed,
    SocketDisconnected,
)
from txsmarkets.streaming_api.session import Session, SessionSettings

#: 9.3's names for the sides: a bid buys (backs), an offer sells (lays).
SIDE_BID = seto.SIDE_BUY
SIDE_OFFER = seto.SIDE_SELL

__all__ = [
    "BUY",
    "BlockingCallError",
    "ConnectionError",
    "ConnectionLost",
    "DecodeError",
    "GOOD_TILL_HALTED",
    "GOOD_TIL_CANCELLED",
    "IMMEDIATE_OR_CANCEL",
    "InvalidCallbackError",
    "KEEP_IN_PLAY",
    "LoginError",
    "LoginTimeout",
    "OrderCreate",
    "OrderInvalid",
    "OrderRejected",
    "ParseError",
    "RequestRejected",
    "RequestTimeout",
    "SELL",
    "SIDE_BID",
    "SIDE_OFFER",
    "Session",
    "SessionClosed",
    "SessionSettings",
    "SocketDisconnected",
    "StreamingAPIClient",
    "eto",
    "seto",
]
