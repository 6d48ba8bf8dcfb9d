"""`StreamingAPIClient`: the 9.3 handler registry, and requests that return Deferreds.

The client of a `Session`: it keeps the handlers by message name, matches each answer to
the request waiting for it, and keeps the account and order book views up to date.
"""

from __future__ import annotations

import itertools
from functools import partial
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from txsmarkets.client.answers import ANSWERS
from txsmarkets.client.catchup import AccountCatchUp
from txsmarkets.client.handlers import GlobalHandler, HandlerRegistry, MessageHandler, callable_handler, handler_failed
from txsmarkets.client.lifecycle import SessionState
from txsmarkets.client.orders import GOOD_TIL_CANCELLED, OrderCreate
from txsmarkets.client.pending import PendingRequests
from txsmarkets.client.pings import Pings
from txsmarkets.client.session import Session
from txsmarkets.client.state import AccountState, MarketBook
from txsmarkets.client.tracking import AccountTracking, ChangeSignal
from txsmarkets.exceptions import (
    ConnectionError,
    ConnectionLost,
    SessionClosed,
)
from txsmarkets.session.throttle import TokenBucket
from txsmarkets.signal import Signal
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.messages import ACCOUNT_TYPES, new_payload

if TYPE_CHECKING:
    from txsmarkets.client.controls import Controls

__all__ = ["StreamingAPIClient", "THROTTLE_MARGIN"]

_log = Logger()

#: The share of the exchange's announced rate the client allows itself.
THROTTLE_MARGIN = 0.9


def _order_key(seq: int) -> tuple[str, int]:
    return ("order", seq)


class StreamingAPIClient:
    """The client of a `Session`: handlers for incoming messages and Deferred requests.

    Handlers are registered by message name (``eto.login_response``,
    ``seto.order_accepted``) and called with ``message=`` the seto payload; global handlers
    with ``name=`` and ``message=``. The client keeps them in its `HandlerRegistry`
    (``registry``); ``callbacks``, ``global_callback`` and the 9.3 methods
    (`add_handler`, ...) are the registry's. A handler that raises is logged; the others
    still run.

    Requests return Deferreds matched to their answers by seq, order id or reference; each
    times out after ``settings.request_timeout`` seconds, and all are errbacked with
    `ConnectionLost` when the connection drops (for an order, the outcome is then unknown
    until the session resumes and the answer arrives through the handlers).

    Every request may also errback with `ConnectionLost` (the connection dropped while it
    waited: it may or may not have reached the exchange), `RequestTimeout` (no answer in
    ``settings.request_timeout`` seconds), `SessionClosed` (logged out or FAILED, or after
    `refuse_orders`: nothing sent) or `ConnectionError` (not logged in now: nothing sent);
    all are in `txsmarkets.exceptions`. Units are the wire's: a price is in hundredths of a
    percent on the tick ladder (2500 is 25.00%, decimal 4.0; `txsmarkets.odds`), a quantity
    the payout in ten-thousandths of a pound (10000 is £1 paid if the bet wins).

    Attributes (read on the reactor thread; nothing in them sends):

    - ``session``: the `Session` (``state``, a `SessionState`; ``session_id``; seqs).
    - ``clock``: the session's reactor as an `IReactorTime` (``clock.seconds()``).
    - ``account``: an `AccountState`: ``available_balance`` and ``exposure`` (`Decimal`
      pounds, None until reported), ``orders``, live orders by id (`LiveOrder`, with its
      ``status`` and ``placed_at``), and ``history``, the last finished ones by id.
    - ``account_changed``: a `Signal` fired with ``change=`` (a
      `txsmarkets.trading.account.Change`: kind, order, fill) for each account message.
    - ``markets``: market id -> `MarketBook` of each subscribed market once its snapshot
      came; ``markets[m].contracts[c]`` is a `ContractBook` (``bids``, ``offers``,
      ``best_bid``, ``best_offer``: prices or None; ``depth()``); ``markets[m].state``
      the market's state (a ``seto.MarketStateType``, None until told).
    - ``subscriptions``: market ids subscribed to, renewed after every reconnect
      (``event_subscriptions``: the same for events).
    - ``logged_in``: a `Signal` fired with ``message=`` (the login response) and
      ``resumed=`` after every login, before that connection's messages reach the handlers.
    - ``controls``: the trading controls checked before each create, or None;
      ``orders_refused``: why orders are refused (`refuse_orders`), or None; ``throttle``:
      the `txsmarkets.session.throttle.TokenBucket` pacing requests to the exchange's announced rate.
    - ``tracking``: the `txsmarkets.client.tracking.AccountTracking` that keeps
      ``account``, ``markets`` and ``account_changed`` up to date.
    - ``catch_up``: an `AccountCatchUp`: whether creates wait for the account's history
      (``pending``), and whether the history came whole (``complete``).

    The views are up to date before the handlers of the message that changed them run.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.catch_up: AccountCatchUp = AccountCatchUp(self)
        self._creates: dict[int, seto_pb2.OrderCreate] = {}
        self._reference = itertools.count(1)
        #: The account's and the books' keeper (`AccountTracking`): ``account``,
        #: ``markets`` and ``account_changed`` are its.
        self.tracking = AccountTracking(
            session.reactor if isinstance(session, Session) else None, self.catch_up, self._creates
        )
        self.account: AccountState = self.tracking.account
        self.markets: dict[int, MarketBook] = self.tracking.markets
        self.subscriptions: set[int] = set()
        self.event_subscriptions: set[int] = set()
        self._controls: Controls | None = None
        #: Why new orders are refused at once (see `refuse_orders`), or None.
        self.orders_refused: str | None = None
        # The throttle's turns of the requests that add risk (creates; replaces the
        # controls counted), by whether each is a create: a halt or `refuse_orders` takes
        # them back before they go.
        self._queued: dict[Deferred[None], bool] = {}
        #: Fired with ``message=`` (the login response) and ``resumed=`` at each login, before
        #: any message of the new connection reaches the handlers: the place to add them.
        self.logged_in = Signal()
        #: Fired with ``change=`` (a `txsmarkets.trading.account.Change`) for each account
        #: message, once ``account`` and the controls have taken it in and before any
        #: handler of it runs; never for the account's history (see ``catch_up``).
        self.account_changed: ChangeSignal = self.tracking.changed
        self._internal: dict[int, Callable[[seto_pb2.Payload], None]] = {
            **self.tracking.routes(),
            seto_pb2.PAYLOAD_THROTTLE_LIMITS_CHANGED: self._throttle_limits,
            seto_pb2.PAYLOAD_ETO: self._eto,
        }
        #: The `HandlerRegistry`: handlers by message name and global ones, and their routes.
        self.registry = HandlerRegistry(
            self._internal,
            self._resolve,
            self.markets,
            caller=self._caller,
            global_caller=self._global_caller,
            changed=self._build_routes,
        )
        # 9.3 made a client of anything and touched it only to log in (its own tests give
        # '_' or a mock): the handler registry works without a session, and a client of
        # something that is not a `Session` is wired to nothing and cannot log in.
        if isinstance(session, Session):
            self.clock: IReactorTime = session.reactor
            self._pending = PendingRequests(self.clock, session.settings.request_timeout)
            self.throttle = TokenBucket(self.clock)
            self._pings = Pings(session, self.clock)
            self._build_routes()
            session.route_to(self.registry.dispatch, self.registry.direct)
            session.on_login.add(self._logged_in)
            session.on_disconnect.add(self._disconnected)
            session.on_replay_served.add(self._pings.replay_served)

    def _build_routes(self) -> None:
        # A client of no session has no routes to build: its handlers wait in `callbacks`.
        if isinstance(self.session, Session):
            self.registry.build_routes(self.session.payload_received)
            self.catch_up.quieten(self.registry.routes, self._internal)

    # -- handlers (the 9.3 registry's, by delegation) -------------------------------------------

    @property
    def callbacks(self) -> dict[str, Signal]:
        """Message name -> the `Signal` of its handlers (9.3 code may change it directly)."""
        return self.registry.callbacks  # type: ignore[return-value]

    @property
    def global_callback(self) -> Signal:
        """The `Signal` of the handlers of every message (9.3 code may change it directly)."""
        return self.registry.global_callback

    @global_callback.setter
    def global_callback(self, signal: Signal) -> None:
        # ``client.global_callback += handler`` adds to the signal, then assigns it back.
        if signal is not self.registry.global_callback:
            raise TypeError("global_callback cannot be replaced: add handlers to it")

    def add_handler(self, name: str, callback: MessageHandler) -> None:
        """Call ``callback(message=payload)`` for every message called ``name`` (once,
        however often it is added). Raises `InvalidCallbackError` for a name no message
        has, or a callback that is not callable."""
        self.registry.add_handler(name, callback)

    def del_handler(self, name: str, callback: MessageHandler) -> None:
        """Stop calling ``callback`` for ``name``; `InvalidCallbackError` if it was not."""
        self.registry.del_handler(name, callback)

    def add_global_handler(self, callback: GlobalHandler) -> None:
        """Call ``callback(name=name, message=payload)`` for every message. Raises
        `InvalidCallbackError` for a callback that is not callable."""
        self.registry.add_global_handler(callback)

    def del_global_handler(self, callback: GlobalHandler) -> None:
        """Stop calling a global handler; `InvalidCallbackError` if it was not one."""
        self.registry.del_global_handler(callback)

    def _caller(self, handler: Callable[..., Any]) -> MessageHandler:
        """What the routes call, as ``caller(message=payload)``, for ``handler`` of one
        message name: here the handler itself. Raises `InvalidCallbackError` when it
        cannot be a handler (it is not callable), and it is then not added. (The 9.3
        package's client calls its handlers otherwise.)"""
        return callable_handler(handler)

    def _global_caller(self, handler: Callable[..., Any]) -> GlobalHandler:
        """What the routes call, as ``caller(name=name, message=payload)``, for the global
        ``handler``: here the handler itself (see ``_caller``)."""
        return callable_handler(handler)

    # -- session ---------------------------------------------------------------------------

    def login(self) -> Deferred[seto_pb2.Payload]:
        """Connect and log in; fires with the ``eto.login_response`` payload.

        Errbacks with `LoginError` (refused; ``reason`` names why), `LoginTimeout` (no
        answer within ``settings.socket_timeout`` seconds) or `ConnectionError` (the first
        connection failed with ``settings.fail_fast``, or ``settings.max_retries`` attempts
        did); `SessionClosed` once the session has FAILED; `TypeError` when the client was
        made of something not a `Session`.
        """
        if not isinstance(self.session, Session):
            return fail(TypeError(f"a client of {self.session!r} cannot log in: give it a Session"))
        return self.session.connect()

    def logout(self) -> Deferred[None]:
        """Log out and close; fires with None once the exchange confirms and the connection
        has closed. From the call on, every request fails at once with `SessionClosed`
        and nothing more is sent."""
        return self.session.logout()

    def flush(self) -> None:
        """Send what is buffered now, rather than on the reactor's next turn (requests made
        while handling a message are sent when that read is done, without it)."""
        self.session.flush()

    def ping(self) -> Deferred[float]:
        """Send ``eto.ping``; fires with the round-trip time in seconds (a float).

        Errbacks with `RequestTimeout` after ``request_timeout`` seconds, `PingLost` when
        the exchange never received it (it asked for a replay from it), `ConnectionLost`;
        at once, with nothing sent, with `ConnectionError` (or `SessionClosed`) when not
        logged in, as every request does.
        """
        if not self.session.connected:
            return fail(self._not_logged_in())
        return self._pings.send(self.session.protocol)

    def _not_logged_in(self) -> Exception:
        """Why a request cannot be sent now."""
        state = self.session.state
        if state is SessionState.FAILED:
            return SessionClosed("the session has ended")
        if state is SessionState.LOGGING_OUT or state is SessionState.CLOSED:
            return SessionClosed("logged out: no more requests are sent")
        return ConnectionError(f"not logged in ({state.value})")

    def _send(self, payload: seto_pb2.Payload) -> int:
        return self.session.send(payload)

    def _request(
        self,
        payload: seto_pb2.Payload,
        key: Callable[[int], tuple[Any, ...]],
        controls: Controls | None = None,
        entry: Any = None,
    ) -> Deferred[Any]:
        """Send ``payload`` when the throttle allows; fires with its matched answer.

        A request the controls counted as ``entry`` is counted as sent once it is numbered
        (``controls.sent(entry, seq)``: the controls themselves, not a callback made per
        request), and uncounted if it fails before it goes out (``controls.unsent``)."""
        try:
            if not self.session.connected:
                d: Deferred[Any] = fail(self._not_logged_in())
            elif self.throttle.try_acquire():
                d = self._send_now(payload, key, controls, entry)
            else:
                d = self.throttle.acquire()
                if entry is not None or payload.type == seto_pb2.PAYLOAD_ORDER_CREATE:
                    self._queued[d] = payload.type == seto_pb2.PAYLOAD_ORDER_CREATE
                    d.addBoth(self._unqueue, d)
                d.addCallback(lambda _: self._send_now(payload, key, controls, entry))
        except BaseException:
            if controls is not None:
                controls.unsent(Failure(), entry)
            raise
        if controls is not None and entry.waiting:
            # Not gone out yet (waiting for the throttle, or failed): uncount it if it
            # fails before it does. One that went out stays counted till answered.
            d.addErrback(controls.unsent, entry)
        return d

    def _send_now(
        self,
        payload: seto_pb2.Payload,
        key: Callable[[int], tuple[Any, ...]],
        controls: Controls | None = None,
        entry: Any = None,
    ) -> Deferred[Any]:
        if not self.session.connected:
            # It waited for the throttle while the session logged out or dropped.
            return fail(self._not_logged_in())
        if entry is not None or payload.type == seto_pb2.PAYLOAD_ORDER_CREATE:
            # Checked when asked for; it may have waited since (for the throttle, the
            # catch-up) while trading was halted or orders refused.
            refusal = self._refusal(payload.type == seto_pb2.PAYLOAD_ORDER_CREATE, controls)
            if refusal is not None:
                return fail(refusal)
        seq = self.session.sequence.outseq
        if key(seq) in self._pending:
            # Nothing is sent: the answer could not be told from the first one's.
            return fail(ValueError(f"a request {key(seq)} is already waiting for its answer"))
        d = self._pending.add(key(seq), seq)
        if payload.type == seto_pb2.PAYLOAD_ORDER_CREATE:
            self._creates[seq] = payload.order_create
        try:
            self._send(payload)
        except Exception:
            self._pending.pop(key(seq))
            self._creates.pop(seq, None)
            raise
        if controls is not None:
            controls.sent(entry, seq)
        return d

    # -- orders ----------------------------------------------------------------------------

    @property
    def controls(self) -> Controls | None:
        """The trading controls every create is checked against (None: none); see
        `txsmarkets.controls`. Setting them makes them follow this client's account."""
        return self._controls

    @controls.setter
    def controls(self, controls: Controls | None) -> None:
        if self._controls is not None:
            self._controls.detach()
        self._controls = self.tracking.follower = controls
        if controls is not None:
            controls.attach(self)

    def order(self, order: OrderCreate, force: bool = False) -> Deferred[seto_pb2.Payload]:
        """Place an order; fires with the ``seto.order_accepted`` payload (its
        ``order_accepted.order_id`` is the new order's id).

        Errbacks with `OrderRejected` or `OrderInvalid` carrying the reasons (a price off
        the ladder: ``['ORDER_INVALID_INVALID_PRICE']``); with `ConnectionLost` when the
        connection drops first (the order may yet reach the exchange, and its answer the
        handlers, after the resume: do not send it again) or `RequestTimeout`; at once, with
        nothing stamped or sent, with `OrderRefused` when the trading controls refuse it
        (``force=True`` skips all but the kill switch), `SessionClosed` after
        `refuse_orders` or our logout, `ConnectionError` while not logged in. While the
        client catches up with its account (``catch_up.pending``), the order waits, and is
        checked and sent once the account is in.
        """
        refused = self.orders_refused
        if refused is not None:
            return fail(SessionClosed(refused))
        if not self.session.connected:
            return fail(self._not_logged_in())
        if self.catch_up.pending:
            return self.catch_up.wait(partial(self.order, order, force))
        payload = order.to_payload()
        controls = self._controls
        if controls is None:
            return self._request(payload, _order_key)
        # (checked as given: the payload has already vetted its values)
        entry = controls.check(order, force)
        if isinstance(entry, Exception):
            return fail(entry)
        return self._request(payload, _order_key, controls, entry)

    @property
    def creates_in_flight(self) -> int:
        """How many creates were sent on this connection and are not answered yet."""
        return len(self._creates)

    def refuse_orders(self, reason: str) -> None:
        """From now on, refuse every new order at once with `SessionClosed` (``reason``);
        cancels still go. Creates still waiting for the throttle are refused too, unsent.
        A strategy host calls this when its strategy has stopped. Returns None."""
        self.orders_refused = reason
        self.withdraw_waiting(lambda: SessionClosed(reason), creates_only=True)

    def withdraw_waiting(self, error: Callable[[], Exception], creates_only: bool = False) -> int:
        """Take back the requests that add risk and still wait for the throttle (creates,
        and replaces the trading controls counted; only creates if ``creates_only``): each
        errbacks with ``error()`` and is never sent. The kill switch calls this, so that
        its cancel_all does not wait behind them. Returns how many were taken back."""
        taken = [turn for turn, create in self._queued.items() if create or not creates_only]
        for turn in taken:
            self.throttle.drop(turn, error())
        return len(taken)

    def _unqueue(self, result: Any, turn: Deferred[None]) -> Any:
        del self._queued[turn]
        return result

    def _refusal(self, create: bool, controls: Controls | None) -> Exception | None:
        """Why a request that adds risk, checked when it was asked for, must not go now."""
        if create and self.orders_refused is not None:
            return SessionClosed(self.orders_refused)
        if controls is not None and controls.halted is not None:
            return controls.halt_refusal()
        return None

    def create_order(
        self,
        market_id: int,
        contract_id: int,
        side: int,
        price: int,
        quantity: int,
        tif: int = GOOD_TIL_CANCELLED,
        reference: int | None = None,
        label: str | None = None,
        force: bool = False,
    ) -> Deferred[seto_pb2.Payload]:
        """Place an order from its fields (``price`` in hundredths of a percent,
        ``quantity`` in ten-thousandths of a pound of payout, ``side`` ``BUY`` or ``SELL``,
        ``tif`` a time in force); fires and errbacks as `order` does."""
        return self.order(OrderCreate(market_id, contract_id, side, price, quantity, tif, reference, label), force)

    def cancel_order(self, order_id: int) -> Deferred[seto_pb2.Payload]:
        """Cancel an order; fires with the ``seto.order_cancelled`` payload; errbacks with
        `RequestRejected` (not live, not ours ...) or as every request (see the class)."""
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL)
        payload.order_cancel.order_id = order_id
        return self._request(payload, lambda seq: ("cancel", order_id))

    def cancel_all(self, market_id: int | None = None) -> Deferred[seto_pb2.Payload]:
        """Cancel every live order (of ``market_id`` only, if given); fires with the
        ``seto.order_cancel_all_accepted`` payload (before each order's ``order_cancelled``);
        errbacks with `RequestRejected` or as every request."""
        reference = next(self._reference)
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_ALL)
        payload.order_cancel_all.reference = reference
        if market_id is not None:
            payload.order_cancel_all.market_id = market_id
        return self._request(payload, lambda seq: ("cancel_all", reference))

    def reduce_quantity(self, order_id: int, new_quantity: int) -> Deferred[seto_pb2.Payload]:
        """Reduce an order's unfilled quantity to ``new_quantity`` (ten-thousandths of a
        pound); fires with ``seto.order_quantity_reduced``; errbacks `RequestRejected`."""
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE)
        payload.order_quantity_reduce.order_id = order_id
        payload.order_quantity_reduce.new_quantity = new_quantity
        return self._request(payload, lambda seq: ("reduce", order_id))

    def cancel_replace(self, order_id: int, price: int, quantity: int, force: bool = False) -> Deferred[seto_pb2.Payload]:
        """Replace an order by one at a new price and quantity.

        Fires with ``order_cancel_replace_accepted`` (its ``order_id`` is the new order's).
        ``price`` is in hundredths of a percent, ``quantity`` in ten-thousandths of a pound
        of payout. With trading controls, one that raises risk is checked as a create of the
        new order less the original (errbacks at once with `OrderRefused`, nothing sent);
        ``force=True`` skips every control but the kill switch. Errbacks with
        `RequestRejected` when the exchange refuses it, or as every request. It waits
        while the client catches up with its account, as `order` does.
        """
        if not self.session.connected:
            return fail(self._not_logged_in())
        if self.catch_up.pending:
            return self.catch_up.wait(partial(self.cancel_replace, order_id, price, quantity, force))
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE)
        replace = payload.order_cancel_replace
        replace.orig_order_id = order_id
        replace.price = price
        replace.quantity = quantity
        key = lambda seq: ("replace", order_id)  # noqa: E731
        controls = self._controls
        if controls is None:
            return self._request(payload, key)
        entry = controls.check_replace(replace, force)
        if entry is None:
            return self._request(payload, key)
        if isinstance(entry, Exception):
            return fail(entry)
        return self._request(payload, key, controls, entry)

    def settings(self, cancel_all_on_failure: bool) -> Deferred[seto_pb2.Payload]:
        """Set whether the exchange cancels our orders when the session dies; fires with
        the exchange's ``seto.settings_accepted`` payload. Errbacks as every request."""
        payload = new_payload(seto_pb2.PAYLOAD_SETTINGS)
        payload.settings.cancel_all_on_failure = cancel_all_on_failure
        return self._request(payload, lambda seq: ("settings", cancel_all_on_failure))

    # -- market data -----------------------------------------------------------------------

    def subscribe(self, market_id: int) -> Deferred[seto_pb2.Payload]:
        """Subscribe to a market; fires with its ``seto.market_quotes`` snapshot, by which
        time ``client.markets[market_id]`` holds the book.

        Renewed after every reconnect. Errbacks as every request (`RequestTimeout` for a
        market the embedded exchange does not know: it answers nothing).
        """
        self.subscriptions.add(market_id)
        return self._request(self._subscribe_payload(market_id), lambda seq: ("subscribe", market_id))

    def _subscribe_payload(self, market_id: int) -> seto_pb2.Payload:
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_SUBSCRIBE)
        payload.market_subscribe.market_id = market_id
        return payload

    def unsubscribe(self, market_id: int) -> Deferred[int]:
        """Stop the market's quotes and forget its book; fires with the request's seq once
        sent (no answer comes), or errbacks at once (`ConnectionError`, `SessionClosed`)."""
        self.subscriptions.discard(market_id)
        self.markets.pop(market_id, None)
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_UNSUBSCRIBE)
        payload.market_unsubscribe.market_id = market_id
        return self._send_unanswered(payload)

    def subscribe_event(self, event_id: int) -> Deferred[int]:
        """Subscribe to an event's markets; fires with the request's seq once it is sent.

        The markets' snapshots arrive as ``seto.market_quotes`` messages. Errbacks at once
        with `ConnectionError` or `SessionClosed` when it cannot be sent.
        """
        self.event_subscriptions.add(event_id)
        payload = new_payload(seto_pb2.PAYLOAD_EVENT_SUBSCRIBE)
        payload.event_subscribe.event_id = event_id
        return self._send_unanswered(payload)

    def _send_unanswered(self, payload: seto_pb2.Payload) -> Deferred[int]:
        try:
            return succeed(self._send(payload))
        except Exception:
            return fail()

    # -- answers ---------------------------------------------------------------------------

    def _resolve(self, payload: seto_pb2.Payload) -> None:
        if self.catch_up.pending and payload.type in ACCOUNT_TYPES:
            # Before its end marker the resumed account stream brings the old session's
            # answers: no request waiting now is answered there (one of this session's
            # numbered with the same seq would be taken for it).
            return
        matched = ANSWERS[payload.type](payload)
        if matched is None:
            return
        key, error = matched
        d = self._pending.pop(key)
        if d is None:
            return
        if error is None:
            d.callback(payload)
        else:
            d.errback(error)

    def _throttle_limits(self, payload: seto_pb2.Payload) -> None:
        limits = payload.throttle_limits_changed
        # A margin under the exchange's own bucket: requests sent evenly can still arrive
        # bunched up (the network, the exchange's reads), and must not be refused for it.
        self.throttle.set_limits(
            float(limits.average_rate_ps) * THROTTLE_MARGIN, max(1, limits.burst_size - 1)
        )

    def _eto(self, payload: seto_pb2.Payload) -> None:
        if payload.eto_payload.type == eto_pb2.PAYLOAD_PONG:
            self._pings.pong()

    # -- connection events -----------------------------------------------------------------

    def _logged_in(self, payload: seto_pb2.Payload, resumed: bool) -> None:
        self._pings.logged_in()
        # First, so that the mark of the account stream's end goes before any request.
        self.catch_up.logged_in(resumed)
        # A reconnect: quotes may have moved while we were away, so ask for them afresh.
        for market_id in sorted(self.subscriptions):
            self.session.send(self._subscribe_payload(market_id))
        for event_id in sorted(self.event_subscriptions):
            subscribe = new_payload(seto_pb2.PAYLOAD_EVENT_SUBSCRIBE)
            subscribe.event_subscribe.event_id = event_id
            self.session.send(subscribe)
        # Each handler on its own: one that raises is logged, and the session (and the
        # other handlers) carry on; 9.3's Signal itself lets the exception through.
        for handler in list(self.logged_in):
            try:
                handler(message=payload, resumed=resumed)
            except Exception:
                handler_failed(handler, "logged_in")

    def _disconnected(self, reason: Failure) -> None:
        error: Exception = ConnectionLost(reason)
        if self.session.closed:
            error = SessionClosed("the session has ended")
        self._pending.fail_all(error)
        self._creates.clear()
        self.catch_up.disconnected()
        self._pings.connection_lost(reason)
        self.throttle.clear(error)


