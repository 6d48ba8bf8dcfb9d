"""What the client makes of each account and market message: the views it keeps for the
user (``client.account``, ``client.markets``), then the trading controls' count, then the
listeners of the account's changes (``client.account_changed``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Protocol

from txsmarkets.client.state import AccountState, MarketBook
from txsmarkets.signal import Signal
from txsmarkets.trading.account import ACCOUNT_MESSAGES, Account, Change, Reducer
from txsmarkets.wire import seto_pb2

if TYPE_CHECKING:
    from twisted.internet.interfaces import IReactorTime

__all__ = ["AccountFollower", "AccountTracking", "ChangeSignal"]

_ACCEPTED = seto_pb2.PAYLOAD_ORDER_ACCEPTED
_REJECTED = seto_pb2.PAYLOAD_ORDER_REJECTED
_INVALID = seto_pb2.PAYLOAD_ORDER_INVALID
_REPLACE_ACCEPTED = seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED


class ChangeSignal(Signal):
    """``client.account_changed``: a `Signal` (the client asks its ``_handlers`` whether it
    has any without the lock: it asks for every account message)."""


class _CatchUp(Protocol):
    #: True while the account's history comes (`txsmarkets.client.catchup`).
    history: bool


class AccountFollower(Protocol):
    """What follows the account beside ``client.account`` (the trading controls' exposure,
    `txsmarkets.trading.exposure`): it is handed each `Change` and each market's news."""

    #: Whether quotes move what it counts (then the client calls `quoted`).
    marking: bool

    def apply(self, change: Change) -> None:
        """Take in what an account message changed."""

    def market_state(self, market_id: int, state: int) -> None:
        """A market's state changed (a ``seto.MarketStateType``)."""

    def quoted(self, market_id: int) -> None:
        """A market's quotes changed (called only while ``marking``)."""


class AccountTracking:
    """The client's own handling of the messages that change the account or a market's
    book; it runs before any handler of the message. The client holds one
    (``client.tracking``) and shows what it keeps as its own views: ``account`` (the
    account's reducer, `AccountState`), ``markets`` (market id -> `MarketBook`) and
    ``changed`` (``client.account_changed``).

    ``clock`` dates the orders accepted (None: a client wired to no session, which hears
    no message); ``catch_up`` says whether the account's history is coming; ``creates``
    maps each create in flight's seq to its request (the client fills it as it sends).
    ``follower`` is what follows the account beside it (the trading controls), or None.
    """

    def __init__(
        self, clock: IReactorTime | None, catch_up: _CatchUp, creates: dict[int, seto_pb2.OrderCreate]
    ) -> None:
        self.account = AccountState()
        self.markets: dict[int, MarketBook] = {}
        self.changed = ChangeSignal()
        self.follower: AccountFollower | None = None
        #: The last ``contract_quotes`` taken into a book, as ``(payload, market id,
        #: contract id)``, or None before one: the client's own listeners of the same
        #: message (the strategy's host, a backtest's watcher) take the ids from here when
        #: ``payload`` is the message they are handed (``is``), rather than read them
        #: from the message again (most of what an update costs them).
        self.last_quotes: tuple[seto_pb2.Payload, int, int] | None = None
        self._clock = clock
        self._catch_up = catch_up
        self._creates = creates

    def routes(self) -> dict[int, Callable[[seto_pb2.Payload], None]]:
        """seto type -> the method that takes a message of that type in."""
        # Each account message straight to its step of the account's reducer (`Account.apply`
        # would look it up again, for every message).
        routes: dict[int, Callable[[seto_pb2.Payload], None]] = {
            kind: partial(self._account_message, reducer)
            for kind in ACCOUNT_MESSAGES
            if (reducer := Account.reducer(kind)) is not None
        }
        routes[seto_pb2.PAYLOAD_MARKET_QUOTES] = self._market_quotes
        routes[seto_pb2.PAYLOAD_CONTRACT_QUOTES] = self._contract_quotes
        routes[seto_pb2.PAYLOAD_MARKET_STATE] = self._market_state
        return routes

    # The account first, then the controls (before any handler, so that one reacting to the
    # message with a create is checked against the account as it now is), then the
    # listeners of the account's changes.

    def _account_message(self, reducer: Reducer, payload: seto_pb2.Payload) -> None:
        kind = payload.type
        create = None
        now = None
        if kind == _ACCEPTED:
            create = self._creates.pop(payload.order_accepted.seq, None)
            now = self._clock.seconds()  # type: ignore[union-attr]
        elif kind == _REPLACE_ACCEPTED:
            now = self._clock.seconds()  # type: ignore[union-attr]
        elif kind == _REJECTED:
            create = self._creates.pop(payload.order_rejected.seq, None)
        elif kind == _INVALID:
            create = self._creates.pop(payload.order_invalid.seq, None)
        change = reducer(self.account, payload, create, now)
        follower = self.follower
        if follower is not None:
            follower.apply(change)
        if self.changed._handlers and not self._catch_up.history:
            # (The account's history reaches no listener, as it reaches no handler.)
            self.changed.fire(change=change)

    def _market_state(self, payload: seto_pb2.Payload) -> None:
        body = payload.market_state
        book = self.markets.get(body.market_id)
        if book is not None:
            book.state = body.state
        follower = self.follower
        if follower is not None:
            follower.market_state(body.market_id, body.state)

    def _market_quotes(self, payload: seto_pb2.Payload) -> None:
        quotes = payload.market_quotes
        book = self.markets.get(quotes.market_id)
        if book is None:
            book = self.markets[quotes.market_id] = MarketBook(quotes.market_id)
        book.snapshot(quotes)
        follower = self.follower
        if follower is not None and follower.marking:
            follower.quoted(quotes.market_id)

    def _contract_quotes(self, payload: seto_pb2.Payload) -> None:
        # (Its route calls it only while a book is held: `HandlerRegistry`'s guard.)
        quotes = payload.contract_quotes
        market_id = quotes.market_id
        book = self.markets.get(market_id)
        if book is not None:
            self.last_quotes = (payload, market_id, book.update(quotes))
            follower = self.follower
            if follower is not None and follower.marking:
                follower.quoted(market_id)
