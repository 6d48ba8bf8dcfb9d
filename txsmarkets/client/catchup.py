"""`AccountCatchUp`: a client learns what its account holds before it places an order.

A client whose session has ``account_history`` set (trading controls set it when they are
attached) and has seen no account message yet asks, at its login, for the account's
history: ``account_sequence_64`` 0, the last account message seen being none, so the
exchange sends every account message it holds from the first again, right after its
login response. On any login that starts a new session the account stream resumes in the
same way after the last account message seen (controls or not, once one has been seen).

Until that stream has come in, the client is catching up (``client.catch_up.pending``):

- creates and cancel-replaces wait: they are checked against the controls, numbered and
  sent once the account is caught up, in the order they were made, so that none is
  checked against an account that lacks orders and fills it already has, and none is
  taken for an old order answered under the same seq by an earlier session. Cancels,
  reductions and everything else go at once.
- the history's messages are taken into ``client.account`` and the controls (live
  orders, fills, the exposure the exchange reported) and reach no handler, global
  handler or waiting request: a strategy never takes an old fill for a new one. It sees
  the account as it stands in ``client.account`` once caught up, and hears of its orders
  from the next message about each. (A stream resumed after the last message seen, on a
  new session after a reconnect or after a restart from a state folder, hands the
  handlers what happened while the client was away, as before.)

The end of the stream is told by a ping the client sends first thing after the login:
the exchange answers it in order, so its pong follows the account messages sent before
it. An exchange that does not answer within ``settings.request_timeout`` is taken to have
sent what it will: the creates go ahead, and a warning says so.

The client cannot know every account message came: the exchange keeps a bounded history,
and some account messages carry no sequence (an ``order_invalid``, a ``balance_changed``)
and are not sent again. A history whose first message is not number 1 is taken as cut
short, and one warning says that the per-market limits count only what the history and
this process show. The account limit holds all the same against the exposure the
exchange reports (`txsmarkets.client.controls`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.client.session import Session
from txsmarkets.exceptions import ConnectionError, ConnectionLost, PingLost, SessionClosed
from txsmarkets.trading.account import Account
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import ACCOUNT_TYPES, account_sequence

__all__ = ["AccountCatchUp"]

_log = Logger()
T = TypeVar("T")
Route = Callable[[seto_pb2.Payload], None]


class CatchingClient(Protocol):
    """What the catch-up reads of its client (`txsmarkets.client.api.StreamingAPIClient`)."""

    @property
    def session(self) -> Session: ...

    @property
    def account(self) -> Account: ...

    @property
    def controls(self) -> Any: ...

    def ping(self) -> Deferred[float]: ...

    def _build_routes(self) -> None: ...


class AccountCatchUp:
    """Whether the client is catching up with its account, and what waits for it to end
    (``client.catch_up``); see the module doc.

    ``pending`` is True from a login that resumes the account stream until its end has
    come; ``history`` is True while the messages coming are the account's history (no
    handler sees them). ``complete`` says whether the last history reached back to the
    account's first message (None before any history).
    """

    def __init__(self, client: CatchingClient) -> None:
        self.client = client
        self.pending = False
        self.history = False
        self.complete: bool | None = None
        # Whether a catch-up has ended: only the first brings history.
        self._done = False
        # The account sequence the stream was asked from, the first one that came.
        self._after = 0
        self._first: int | None = None
        self._marker: Deferred[float] | None = None
        self._waiters: list[Deferred[None]] = []

    def wait(self, then: Callable[[], Deferred[T]]) -> Deferred[T]:
        """``then()``'s result, once the account is caught up. Errbacks with
        `txsmarkets.exceptions.ConnectionError` (or `SessionClosed`) when the connection
        ends first: nothing was sent."""
        waiter: Deferred[None] = Deferred(self._forget)
        self._waiters.append(waiter)
        return waiter.addCallback(lambda _: then())

    def _forget(self, waiter: Deferred[None]) -> None:
        # Cancelled while it waited: it goes, and nothing is sent for it.
        if waiter in self._waiters:
            self._waiters.remove(waiter)

    # -- from the client ----------------------------------------------------------------------

    def logged_in(self, resumed: bool) -> None:
        """A login is answered: begin catching up if it resumed the account stream (a new
        session), or if the last catch-up never ended. Called before anything is sent
        on the new connection, so that the end marker goes first."""
        session = self.client.session
        if resumed and not self.pending:
            # A resumed session: its own replay brings what we missed, in order.
            return
        if not (session.account_history or session.account_sequence or self.pending):
            # The login asked for no account stream (nothing seen yet, no history wanted).
            return
        if not self.pending:
            self.pending = True
            self._after = session.account_sequence
            self._first = None
            self.history = not self._done and self._after == 0
            if self.history:
                self.client._build_routes()
        self._mark_the_end()

    def disconnected(self) -> None:
        """The connection closed: what waits fails (nothing of it was sent), and the
        catch-up goes on at the next login."""
        self._marker = None
        waiters, self._waiters = self._waiters, []
        if not waiters:
            return
        if self.client.session.closed:
            error: Exception = SessionClosed("the session ended before the account was caught up: nothing sent")
        else:
            error = ConnectionError("the connection closed before the account was caught up: nothing sent")
        for waiter in waiters:
            waiter.errback(error)

    def quieten(self, routes: dict[int, Route], internal: Mapping[int, Route]) -> None:
        """While the history comes: its account messages take only the client's own
        bookkeeping (``internal``) in ``routes``, noting the first one's number."""
        if not self.history:
            return
        for kind in ACCOUNT_TYPES:
            routes[kind] = self._quiet(internal.get(kind))

    def _quiet(self, own: Route | None) -> Route:
        def route(payload: seto_pb2.Payload) -> None:
            if self._first is None:
                self._first = account_sequence(payload)
            if own is not None:
                own(payload)

        return route

    # -- the end of the stream ----------------------------------------------------------------

    def _mark_the_end(self) -> None:
        marker = self._marker = self.client.ping()
        marker.addCallbacks(self._ended, self._unmarked, callbackArgs=(marker,), errbackArgs=(marker,))

    def _ended(self, rtt: float, marker: Deferred[float]) -> None:
        if marker is not self._marker:
            return
        first, after = self._first, self._after
        if not self.history or first is None or first == after + 1:
            # (a stream resumed after a reconnect may skip numbers: messages with no
            # sequence field take theirs, and are not sent again)
            self._finish(True, None)
        else:
            self._finish(False, f"its history from the exchange begins at account message {first}, not {after + 1}")

    def _unmarked(self, failure: Failure, marker: Deferred[float]) -> None:
        if marker is not self._marker or failure.check(ConnectionLost, SessionClosed):
            return  # the connection has gone: the next login marks the end again
        if failure.check(PingLost):
            if self.client.session.connected:
                self._mark_the_end()  # the exchange never read it: ask again
            return
        self._finish(False, f"no answer to the ping that marks the end of the account stream ({failure.getErrorMessage()})")

    def _finish(self, complete: bool, why: str | None) -> None:
        self._marker = None
        self.pending = False
        self._done = True
        history, self.history = self.history, False
        if history:
            self.complete = complete
            self.client._build_routes()
            self._report(why)
        elif why is not None:
            _log.warn("creates go ahead, the account stream perhaps not all in: {why}", why=why)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.callback(None)

    def _report(self, why: str | None) -> None:
        client = self.client
        controls: Any = client.controls
        counted = "" if controls is None else f"; the controls count {controls.account_exposure} of exposure"
        if why is None:
            _log.info(
                "caught up with the account's history: {orders} live orders{counted}, the exchange reports {exposure}",
                orders=len(client.account.orders),
                counted=counted,
                exposure=client.account.exposure,
            )
            return
        _log.warn(
            "the account may hold more than its history showed: {why}; per-market limits count only what the "
            "history and this process show{counted}; the account limit also holds against the exposure the exchange "
            "reports ({exposure})",
            why=why,
            counted=counted,
            exposure=client.account.exposure,
        )
