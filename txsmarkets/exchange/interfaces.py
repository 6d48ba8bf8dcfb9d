"""What the exchange's servers need of the engine behind them, as `typing.Protocol` classes.

The streaming server (`txsmarkets.exchange.server`, `txsmarkets.exchange.connection`)
depends only on `IExchangeEngine`, and the HTTP API (`txsmarkets.exchange.http`) only on
`IHttpEngine`: `MatchingEngine` is one such engine, and another back end (a bridge to
another venue, say) can stand behind the same servers by providing the same methods.

An engine speaks in ``seto.Payload`` messages: the server hands it each request of a
logged-in account (`IExchangeEngine.submit`), and it answers through two listeners the
server sets: ``on_account`` with each message of an account's stream (numbered by the
engine with ``account_sequence_64``, ``eto_payload.seq`` left 0 for the session to stamp)
and ``on_market`` with the market data of the markets ``market_watched`` says someone
watches. Everything an engine tells an account is in that account's stream, and the engine
keeps the stream's last messages for a client resuming it (`account_messages_since`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from twisted.internet.defer import Deferred

from txsmarkets.exchange.accounts import AccountRegistry
from txsmarkets.exchange.book import Book, Order
from txsmarkets.exchange.catalogue import Catalogue
from txsmarkets.errors import Error
from txsmarkets.exchange.market import MarketInfo
from txsmarkets.wire import seto_pb2

__all__ = ["ExchangeAccount", "IEncodedMarketData", "IEventLookup", "IExchangeEngine", "IHttpEngine", "LoginUnavailable"]


class LoginUnavailable(Error):
    """An engine cannot check a login for now (the back end it asks is unwell: a bridge's
    upstream answering 5xx, 429 or nonsense): the login is refused with
    ``LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE``, said in one line of the log, and the client
    tries again later. The message says why."""


class ExchangeAccount(Protocol):
    """An account as the sessions know it: who logged in."""

    @property
    def id(self) -> int:
        """The account's id, which the engine's other methods take."""

    @property
    def username(self) -> str:
        """The name it logs in with (for the logs)."""


class IExchangeEngine(Protocol):
    """The engine behind the streaming server's sessions.

    The four attributes are set by the servers before any session (the HTTP API's
    activity ledger wraps the streaming server's ``on_account`` to listen beside it):
    ``on_account`` and ``on_market`` are the listeners (see the module docstring),
    ``market_watched`` says whether any session subscribes to a market (an engine need
    build no market data for one nobody watches), and ``answer_chunk`` how many messages a
    large answer (an order_cancel_all) may produce before the rest waits for
    `continue_work`.
    """

    # Properties with setters rather than plain attributes: an engine may keep them as
    # either (a protocol's callable attribute would only match a plain one).

    @property
    def on_account(self) -> Callable[[int, seto_pb2.Payload], None]:
        """The listener of the account streams: ``(account id, payload)``."""

    @on_account.setter
    def on_account(self, listener: Callable[[int, seto_pb2.Payload], None]) -> None: ...

    @property
    def on_market(self) -> Callable[[int, seto_pb2.Payload], None]:
        """The listener of the market data: ``(market id, payload)``."""

    @on_market.setter
    def on_market(self, listener: Callable[[int, seto_pb2.Payload], None]) -> None: ...

    @property
    def market_watched(self) -> Callable[[int], bool]:
        """Whether any session subscribes to a market, by id."""

    @market_watched.setter
    def market_watched(self, watched: Callable[[int], bool]) -> None: ...

    answer_chunk: int | None

    def authenticate(
        self, username: str, password: str | bytes
    ) -> ExchangeAccount | None | Deferred[ExchangeAccount | None]:
        """The account a username and password log in to, or None. Slow (a password
        hash): the server calls it off the reactor thread. An engine whose
        ``authenticates_asynchronously`` attribute is true (optional; a bridge asking its
        upstream) is called on the reactor's thread instead and may return a Deferred of
        the same. A `LoginUnavailable` failure refuses the login with
        ``LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE``; any other (a bug) drops the connection
        without a logout, its traceback in the log (the client tries again later)."""

    def authenticate_token(self, token: bytes) -> ExchangeAccount | None | Deferred[ExchangeAccount | None]:
        """The account a login cookie (a token) logs in to, or None. Slow, as above."""

    def submit(self, account_id: int, payload: seto_pb2.Payload) -> str | None:
        """Act on one request of a logged-in account (an order message or settings) and
        answer in its stream; never raises. What is wrong with a request that cannot be
        acted on (a required field missing), for the session to treat as a protocol error,
        or None."""

    def reject_order(
        self, account_id: int, payload: seto_pb2.Payload, reason: seto_pb2.OrderRejectedReason
    ) -> None:
        """Answer an order_create the session will not hand on (over its throttle) with an
        order_rejected ``reason`` in the account's stream."""

    def session_failed(self, account_id: int) -> None:
        """A session of the account ended without a logout: cancel its orders if its
        settings (cancel_all_on_failure) say so."""

    def account_messages_since(self, account_id: int, account_sequence: int) -> list[seto_pb2.Payload]:
        """The account's messages numbered after ``account_sequence``, from the oldest the
        engine still keeps (fresh copies, for a client resuming its account stream)."""

    def account_log_start(self, account_id: int) -> int:
        """The oldest account sequence the engine still keeps (the next one if none)."""

    def market_quotes(self, market_id: int) -> seto_pb2.Payload | None:
        """A new subscriber's snapshot: the market's full ``market_quotes``; None for a
        market the engine does not have."""

    def event_markets(self, event_id: int) -> list[int]:
        """The ids of an event's markets ([] for an unknown event): an event subscription."""

    def has_work(self, account_id: int) -> bool:
        """Whether a large answer to the account is still to be produced."""

    def continue_work(self, account_id: int) -> bool:
        """Produce the next ``answer_chunk`` of the account's unfinished answers; whether
        more remains."""


@runtime_checkable
class IEncodedMarketData(Protocol):
    """An engine that can hand its contract_quotes to the server already serialised, once
    for all the subscribers (the `MatchingEngine` can): the server sets the listener, and
    the engine then sends those through it instead of ``on_market``."""

    @property
    def on_market_encoded(self) -> Callable[[int, bytes], None] | None:
        """``(market id, a payload serialised unnumbered)``: see `txsmarkets.wire.encoded`."""

    @on_market_encoded.setter
    def on_market_encoded(self, listener: Callable[[int, bytes], None] | None) -> None: ...


@runtime_checkable
class IEventLookup(Protocol):
    """An engine that learns an event's markets by asking elsewhere (the bridge asks the
    upstream's catalogue): the server subscribes an ``event_subscribe``'s session to the
    markets when the answer comes, rather than to those `IExchangeEngine.event_markets`
    knows now (which an ``event_unsubscribe`` still unsubscribes)."""

    def lookup_event_markets(self, event_id: int) -> Deferred[list[int]]:
        """Fires with the ids of the event's markets ([] for an unknown event); fails when
        they cannot be had."""


class IHttpEngine(IExchangeEngine, Protocol):
    """The engine behind the HTTP API (`txsmarkets.exchange.http`): the streaming
    server's `IExchangeEngine`, and the catalogue, accounts, orders and books the HTTP
    API's routes read (as the embedded exchange keeps them)."""

    @property
    def catalogue(self) -> Catalogue:
        """The events, markets and accounts the engine was made with."""

    @property
    def accounts(self) -> AccountRegistry:
        """The accounts, with their balances and stream sequences."""

    def market(self, market_id: int) -> MarketInfo | None:
        """A market's catalogue entry and current state, or None."""

    def order(self, order_id: int) -> Order | None:
        """A live order or a remembered done one, or None; for reading only."""

    def book(self, contract_id: int) -> Book | None:
        """A contract's order book, or None; for reading only."""

    def last_execution(self, contract_id: int) -> tuple[int, int, int, int] | None:
        """The contract's last trade (price, quantity, taker's side, microseconds), or None."""

    def market_volume(self, market_id: int) -> tuple[int, int] | None:
        """``(quantity, value)`` traded in the market so far, or None."""

    def finish_work(self, account_id: int) -> None:
        """Produce every unfinished answer of the account at once."""
