"""An embedded Smarkets exchange: accounts, a catalogue of markets and a matching engine.

Pure logic, no I/O: a `MatchingEngine` built from a `Catalogue` (`load_catalogue` for a JSON
file, `demo_catalogue` for the built-in demo) takes decoded ``seto.Payload`` messages from
sessions through `MatchingEngine.submit` and answers through its ``on_account`` and
``on_market`` listeners. The servers in front of it (`txsmarkets.exchange.server` for the
streaming protocol, `txsmarkets.exchange.http` for the HTTP API) know it only by the
interfaces of `txsmarkets.exchange.interfaces`.
"""

from txsmarkets.exchange.accounts import Account, AccountRegistry, Credentials, MarketPosition
from txsmarkets.exchange.book import BUY, SELL, Book, Level, Order
from txsmarkets.exchange.catalogue import (
    MARKET_STATE_TYPES,
    MARKET_STATES,
    AccountSpec,
    Catalogue,
    CatalogueError,
    Contract,
    Event,
    Market,
    demo_catalogue,
    load_catalogue,
    parse_catalogue,
)
from txsmarkets.exchange.engine import MarketInfo, MatchingEngine, UnknownAccount, UnknownMarket

__all__ = [
    "BUY",
    "MARKET_STATE_TYPES",
    "MARKET_STATES",
    "SELL",
    "Account",
    "AccountRegistry",
    "AccountSpec",
    "Book",
    "Catalogue",
    "CatalogueError",
    "Contract",
    "Credentials",
    "Event",
    "Level",
    "Market",
    "MarketInfo",
    "MarketPosition",
    "MatchingEngine",
    "Order",
    "UnknownAccount",
    "UnknownMarket",
    "demo_catalogue",
    "load_catalogue",
    "parse_catalogue",
]
