"""The client: settings, orders, the session and its lifecycle, and `StreamingAPIClient`.

The names are those of the 9.3 client (`SessionSettings`, `Session`, `StreamingAPIClient`,
`OrderCreate`, ``BUY``, ``SELL`` ...). A `Session` holds what outlives a connection
(session id, sequence numbers, replay store, account sequence) and connects through a
`ClientService` whose `SmarketsClientFactory` builds its protocols; a `StreamingAPIClient`
keeps the handler registry and matches answers to requests.
`connect <txsmarkets.client.connect.connect>` does all three and logs in.
"""

from txsmarkets.client.api import StreamingAPIClient
from txsmarkets.client.connect import connect
from txsmarkets.client.factory import SmarketsClientFactory, tls_options
from txsmarkets.client.lifecycle import SessionState
from txsmarkets.client.orders import (
    BUY,
    GOOD_TIL_CANCELLED,
    GOOD_TILL_HALTED,
    IMMEDIATE_OR_CANCEL,
    KEEP_IN_PLAY,
    SELL,
    OrderCreate,
)
from txsmarkets.client.protocol import (
    Int32SmarketsClientProtocol,
    SmarketsClientProtocol,
)
from txsmarkets.client.session import Session
from txsmarkets.client.settings import SessionSettings

__all__ = [
    "BUY",
    "GOOD_TILL_HALTED",
    "GOOD_TIL_CANCELLED",
    "IMMEDIATE_OR_CANCEL",
    "Int32SmarketsClientProtocol",
    "KEEP_IN_PLAY",
    "SELL",
    "OrderCreate",
    "Session",
    "SessionSettings",
    "SessionState",
    "SmarketsClientFactory",
    "SmarketsClientProtocol",
    "StreamingAPIClient",
    "connect",
    "tls_options",
]
