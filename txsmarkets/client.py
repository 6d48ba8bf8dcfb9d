"""The Smarkets streaming client: settings, the session, and the Deferred-returning client.

The names are those of the 9.3 client (`SessionSettings`, `Session`,
`StreamingAPIClient`, `OrderCreate`, `BUY`, `SELL` ...). A `Session` holds what outlives a
connection (session id, sequence numbers, replay store, account sequence) and connects
through `SmarketsClientFactory`, a `ReconnectingClientFactory`; a `StreamingAPIClient`
keeps the handler registry and matches answers to requests.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from collections.abc import Callable, Mapping
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets import eto_pb2, seto_pb2
from txsmarkets.exceptions import (
    ConnectionError,
    ConnectionLost,
    InvalidCallbackError,
    LoginError,
    OrderInvalid,
    OrderRejected,
    PingLost,
    RequestRejected,
    RequestTimeout,
    SessionClosed,
)
from txsmarkets.messages import (
    ACCOUNT_TYPES,
    ALL_NAMES,
    SETO_NAMES,
    account_sequence,
    message_name,
    new_payload,
)
from txsmarkets.sendnow import send_now
from txsmarkets.session import SequenceState
from txsmarkets.signal import Signal
from txsmarkets.state import AccountState, LiveOrder, MarketBook
from txsmarkets.throttle import TokenBucket

__all__ = [
    "BUY",
    "GOOD_TILL_HALTED",
    "GOOD_TIL_CANCELLED",
    "IMMEDIATE_OR_CANCEL",
    "KEEP_IN_PLAY",
    "SELL",
    "OrderCreate",
    "Session",
    "SessionSettings",
    "StreamingAPIClient",
]

BUY = seto_pb2.SIDE_BUY
SELL = seto_pb2.SIDE_SELL
GOOD_TIL_CANCELLED = seto_pb2.GOOD_TIL_CANCELLED
IMMEDIATE_OR_CANCEL = seto_pb2.IMMEDIATE_OR_CANCEL
KEEP_IN_PLAY = seto_pb2.KEEP_IN_PLAY
GOOD_TILL_HALTED = seto_pb2.GOOD_TILL_HALTED

_log = Logger()

#: The share of the exchange's announced rate the client allows itself.
THROTTLE_MARGIN = 0.9

#: Logout reasons after which logging in again cannot help: the session stops for good.
FATAL_LOGOUTS = frozenset(
    {eto_pb2.LOGOUT_UNAUTHORISED, eto_pb2.LOGOUT_LOGIN_NOT_FIRST_SEQ, eto_pb2.LOGOUT_UNVERIFIED}
)
#: Logout reasons after which the client reconnects with backoff.
RETRYABLE_LOGOUTS = frozenset(
    {
        eto_pb2.LOGOUT_HEARTBEAT_TIMEOUT,
        eto_pb2.LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE,
        eto_pb2.LOGOUT_DOWNTIME,
        eto_pb2.LOGOUT_LOGIN_TIMEOUT,
        eto_pb2.LOGOUT_UNKNOWN_SESSION,
    }
)


def logout_reason_name(reason: int) -> str:
    """The enum name of an eto logout reason (``LOGOUT_UNAUTHORISED``)."""
    try:
        return eto_pb2.LogoutReason.Name(reason)
    except ValueError:
        return f"LOGOUT_{reason}"


class SessionSettings:
    """What a session needs to connect and log in.

    Give ``username`` and ``password``, or a ``token``. ``ssl`` is on by default, with the
    server's hostname verified against the system's trust store, or against ``ca_file``;
    ``ssl=False`` is plaintext, for a local exchange only. ``repr()`` never shows the
    password or token.
    """

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        token: bytes | str | None = None,
        host: str = "stream.smarkets.com",
        port: int = 3801,
        ssl: bool = True,
        socket_timeout: float = 30,
        ssl_kwargs: dict[str, Any] | None = None,
        tcp_nodelay: bool = True,
        *,
        ca_file: str | None = None,
        heartbeat_interval: float = 30.0,
        heartbeat_misses: int = 3,
        request_timeout: float = 30.0,
        replay_capacity: int = 10000,
        reconnect_max_delay: float = 30.0,
        framing: str = "uleb128",
    ) -> None:
        self.username = username
        self.password = password
        self.token = token.encode() if isinstance(token, str) else token
        self.host = host
        self.port = port
        self.ssl = ssl
        self.socket_timeout = socket_timeout
        self.ssl_kwargs = dict(ssl_kwargs or {})
        self.tcp_nodelay = tcp_nodelay
        self.ca_file = ca_file or self.ssl_kwargs.get("ca_certs") or self.ssl_kwargs.get("ca_file")
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_misses = heartbeat_misses
        self.request_timeout = request_timeout
        self.replay_capacity = replay_capacity
        self.reconnect_max_delay = reconnect_max_delay
        if framing not in ("uleb128", "int32"):
            raise ValueError(f"framing must be 'uleb128' or 'int32', not {framing!r}")
        self.framing = framing

    def __repr__(self) -> str:
        who = f"username={self.username!r}" if self.username else "token=<hidden>"
        secret = ", password=<hidden>" if self.password else ""
        scheme = "ssl" if self.ssl else "plaintext"
        return f"<SessionSettings {who}{secret} {scheme}://{self.host}:{self.port}>"


@dataclass
class OrderCreate:
    """An order to place, as in the 9.3 client: set the fields, then ``client.order(it)``.

    ``price`` is in hundredths of a percent (2500 = 25.00%), ``quantity`` the payout in
    ten-thousandths of a pound (400000 = £40.00).
    """

    market_id: int = 0
    contract_id: int = 0
    side: int = BUY
    price: int = 0
    quantity: int = 0
    tif: int = GOOD_TIL_CANCELLED
    reference: int | None = None
    label: str | None = None

    def to_payload(self) -> seto_pb2.Payload:
        """The ``seto.order_create`` payload for this order."""
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
        create = payload.order_create
        create.market_id = self.market_id
        create.contract_id = self.contract_id
        create.side = self.side
        create.price = self.price
        create.quantity = self.quantity
        create.tif = self.tif
        if self.reference is not None:
            create.reference = self.reference
        if self.label is not None:
            create.label = self.label
        return payload


class Session:
    """A streaming session: what outlives one connection, and the connection itself.

    Holds the settings, the session id, both sequence numbers and the replay store, and the
    last account sequence seen. `connect` connects (and reconnects, resuming the session)
    through a `SmarketsClientFactory`; the 9.3 members keep their meaning where Twisted
    gives them one: ``raw_socket`` is the transport, ``flush`` writes what is buffered.
    """

    def __init__(
        self,
        settings: SessionSettings,
        inseq: int = 1,
        outseq: int = 1,
        account_sequence: int | None = None,
        *,
        reactor: Any = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.settings = settings
        self.reactor = reactor
        self.sequence = SequenceState(settings.replay_capacity)
        self.sequence.inseq = inseq
        self.sequence.outseq = outseq
        self.account_sequence = account_sequence or 0
        self.session_id: str | None = None
        self.protocol: Any = None
        self.factory: Any = None
        self.logged_in = False
        self.closed = False
        #: Whether any login on this session has succeeded yet.
        self.ever_logged_in = False
        #: Called with each in-order application payload (the client sets it).
        self.on_payload: Callable[[seto_pb2.Payload], None] = lambda payload: None
        # (the on_payload they serve, the routes): see route_to.
        self._routes: tuple[Any, Mapping[int, Any]] | None = None
        #: Called with the login response after every (re)login.
        self.on_login: Callable[[seto_pb2.Payload, bool], None] = lambda payload, resumed: None
        #: Called with the first seq of each replay the peer asked of us.
        self.on_replay_served: Callable[[int], None] = lambda first: None
        #: Called with the reason when a connection ends.
        self.on_disconnect: Callable[[Failure], None] = lambda reason: None
        self._login_waiters: list[Deferred[seto_pb2.Payload]] = []
        self._logout_waiters: list[Deferred[None]] = []
        self._lost_waiters: dict[Any, list[Deferred[None]]] = {}
        self._logging_out = False

    def route_to(
        self,
        dispatch: Callable[[seto_pb2.Payload], None],
        routes: Mapping[int, Callable[[seto_pb2.Payload], None] | None],
    ) -> None:
        """Hand in-order application payloads to ``dispatch`` (as ``on_payload``), and let
        ``routes`` take those of a type it maps to a callable straight from the protocol:
        the callable must do what ``dispatch`` would. Setting ``on_payload`` to anything
        else turns the routes off."""
        self.on_payload = dispatch
        self._routes = (dispatch, routes)

    @property
    def direct_routes(self) -> Mapping[int, Callable[[seto_pb2.Payload], None] | None] | None:
        """The routes given with `route_to`, while ``on_payload`` is still their dispatch."""
        if self._routes is not None and self._routes[0] is self.on_payload:
            return self._routes[1]
        return None

    def __repr__(self) -> str:
        state = "connected" if self.connected else "disconnected"
        return (
            f"<Session {self.session_id or 'new'} {state} "
            f"inseq={self.sequence.inseq} outseq={self.sequence.outseq}>"
        )

    # -- 9.3 members ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a connection is up and logged in."""
        return self.protocol is not None and self.logged_in

    @property
    def raw_socket(self) -> Any:
        """The current connection's transport, or None."""
        return self.protocol.transport if self.protocol is not None else None

    def connect(self) -> Deferred[seto_pb2.Payload]:
        """Connect and log in if not connected; fires with the login response."""
        if self.closed:
            return fail(SessionClosed("the session has ended"))
        d: Deferred[seto_pb2.Payload] = Deferred()
        if self.connected:
            d.callback(self.last_login_response)
            return d
        self._login_waiters.append(d)
        if self.factory is None:
            from txsmarkets.factory import SmarketsClientFactory

            self.factory = SmarketsClientFactory(self)
            self.factory.connect()
        return d

    def send(self, payload: seto_pb2.Payload) -> int:
        """Number, keep and send ``payload`` (a seto.Payload); return its seq."""
        if self.protocol is None or not self.logged_in:
            raise ConnectionError("not connected")
        return self.protocol.sendPayload(payload)

    def flush(self) -> None:
        """Send what is buffered now, rather than on the reactor's next turn."""
        if self.protocol is not None:
            send_now(self.protocol.transport)

    def next_frame(self) -> None:
        """Not used with Twisted: received payloads are pushed to the handlers."""
        raise NotImplementedError("txsmarkets delivers payloads to handlers; see add_handler")

    def disconnect(self) -> None:
        """Drop the connection and stop reconnecting; the session can be resumed later.

        Requests waiting for answers fail with `ConnectionLost` at once.
        """
        if self.factory is not None:
            self.factory.stopTrying()
            self.factory = None
        if self.protocol is not None:
            self.logged_in = False
            self.on_disconnect(Failure(ConnectionLost("disconnected on request")))
            self.protocol.disconnect()

    def when_disconnected(self) -> Deferred[None]:
        """Fires when the current connection has closed (at once when there is none)."""
        if self.protocol is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._lost_waiters.setdefault(self.protocol, []).append(d)
        return d

    def logout(self) -> Deferred[None]:
        """Log out; fires once the exchange confirms and the connection closes."""
        d: Deferred[None] = Deferred()
        if self.protocol is None or not self.logged_in:
            self._end()
            d.callback(None)
            return d
        self._logout_waiters.append(d)
        self._logging_out = True
        if self.factory is not None:
            self.factory.stopTrying()
        self.protocol.sendLogout(eto_pb2.LOGOUT_NONE)
        return d

    # -- from the protocol ----------------------------------------------------------------

    def login_payload(self) -> seto_pb2.Payload:
        """The login to send on a new connection: a resume when a session id is known."""
        settings = self.settings
        payload = new_payload(seto_pb2.PAYLOAD_LOGIN)
        payload.eto_payload.type = eto_pb2.PAYLOAD_LOGIN
        if self.session_id is not None:
            payload.eto_payload.login.session = self.session_id
        else:
            self.sequence.reset()
        login = payload.login
        if settings.token is not None:
            login.cookie = settings.token
        else:
            if settings.username is not None:
                login.username = settings.username
            if settings.password is not None:
                login.password = settings.password
        if self.account_sequence:
            login.account_sequence_64 = self.account_sequence
        return payload

    def connection_made(self, protocol: Any) -> None:
        self.protocol = protocol
        self.logged_in = False

    def login_response(self, payload: seto_pb2.Payload) -> None:
        response = payload.eto_payload.login_response
        resumed = self.session_id == response.session
        self.session_id = response.session
        if response.HasField("reset"):
            self.sequence.renumber(response.reset)
        self.logged_in = True
        self.ever_logged_in = True
        self.last_login_response = payload
        if self.factory is not None:
            self.factory.resetDelay()
        _log.info(
            "logged in: session {session} ({how}), next seqs in {inseq} out {outseq}",
            session=self.session_id,
            how="resumed" if resumed else "new",
            inseq=self.sequence.inseq,
            outseq=self.sequence.outseq,
        )
        self.on_login(payload, resumed)

    def login_completed(self, payload: seto_pb2.Payload) -> None:
        """The login response has reached the handlers: whoever waits for the login may go."""
        waiters, self._login_waiters = self._login_waiters, []
        for d in waiters:
            d.callback(payload)

    def payload_received(self, payload: seto_pb2.Payload) -> None:
        if payload.type in ACCOUNT_TYPES:
            seen = account_sequence(payload)
            if seen is not None:
                if seen <= self.account_sequence:
                    # Sent again on a new session from the account stream: seen already.
                    return
                self.account_sequence = seen
        self.on_payload(payload)

    def logout_received(self, reason: int) -> None:
        name = logout_reason_name(reason)
        if reason == eto_pb2.LOGOUT_CONFIRMATION or self._logging_out:
            _log.info("logged out ({reason})", reason=name)
            self._end()
            return
        if reason == eto_pb2.LOGOUT_UNKNOWN_SESSION:
            _log.warn("the exchange no longer holds session {session}; starting a new one", session=self.session_id)
            self.session_id = None
            return
        if reason in FATAL_LOGOUTS or reason not in RETRYABLE_LOGOUTS:
            _log.error("logged out by the exchange: {reason}; not reconnecting", reason=name)
            self._end(LoginError(name))
            return
        # The exchange has ended the session: the next login starts a new one, and the
        # account stream resumes from the last account sequence seen.
        _log.warn("logged out by the exchange: {reason}; will reconnect", reason=name)
        self.session_id = None

    def connection_lost(self, reason: Failure, protocol: Any = None) -> None:
        lost = self._lost_waiters.pop(protocol if protocol is not None else self.protocol, [])
        if protocol is None or protocol is self.protocol:
            self._current_connection_lost(reason)
        # Otherwise a connection dropped on request, closing after its successor began.
        for d in lost:
            d.callback(None)

    def _current_connection_lost(self, reason: Failure) -> None:
        logged_in = self.logged_in
        self.protocol = None
        self.logged_in = False
        self.on_disconnect(reason)
        if self._logging_out:
            self._end()
        elif not self.ever_logged_in and not logged_in and not self.closed and self.session_id is None:
            # The very first connection closed before any login answer (a TLS certificate
            # refused, a plaintext peer, a server that hangs up): retrying will not help.
            self._end(ConnectionError(f"connection closed before login: {reason.getErrorMessage()}"))

    def connection_failed(self, reason: Failure) -> None:
        """A connection attempt failed before any login succeeded: give up and say why."""
        if not self.ever_logged_in and self.session_id is None and self._login_waiters:
            self._end(ConnectionError(f"cannot connect to {self.settings.host}:{self.settings.port}: {reason.value}"))

    def _end(self, error: Exception | None = None) -> None:
        """The session is over: stop reconnecting and answer everyone who waits."""
        if self.factory is not None:
            self.factory.stopTrying()
            # A later connect() begins afresh with a factory of its own.
            self.factory = None
        if error is not None:
            self.closed = True
            waiters, self._login_waiters = self._login_waiters, []
            for d in waiters:
                d.errback(error)
        else:
            login_waiters, self._login_waiters = self._login_waiters, []
            for d in login_waiters:
                d.errback(SessionClosed("logged out"))
            self.session_id = None
            if self.protocol is None:
                # Logged out and the connection is closed: the logout is done.
                self._logging_out = False
                waiters, self._logout_waiters = self._logout_waiters, []
                for w in waiters:
                    w.callback(None)
        if self.protocol is not None:
            self.protocol.disconnect()


class _Pending:
    """Requests waiting for their answers, keyed by what the answer will name.

    Each waits ``timeout`` seconds at most. They all wait as long, so they expire in the
    order they were made: one timer, set for the oldest, serves them all.
    """

    def __init__(self, clock: IReactorTime, timeout: float) -> None:
        self._clock = clock
        self.timeout = timeout
        self._waiting: dict[tuple[Any, ...], Deferred[Any]] = {}
        # key -> when it times out, oldest first.
        self._deadlines: dict[tuple[Any, ...], float] = {}
        self._timer: IDelayedCall | None = None
        self._expiring = False
        # seq of a request -> its key: an order_invalid or order_rejected names only the seq.
        self._by_seq: dict[int, tuple[Any, ...]] = {}
        self._seq_of: dict[tuple[Any, ...], int] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, key: tuple[Any, ...]) -> bool:
        return key in self._waiting

    def add(self, key: tuple[Any, ...], seq: int) -> Deferred[Any]:
        if key in self._waiting:
            return fail(ValueError(f"a request {key} is already waiting for its answer"))

        def forget(d: Deferred[Any]) -> None:
            self.pop(key)

        if key[0] != "order":
            self._by_seq[seq] = key
            self._seq_of[key] = seq

        d: Deferred[Any] = Deferred(forget)
        self._waiting[key] = d
        if self.timeout:
            self._deadlines[key] = self._clock.seconds() + self.timeout
            if self._timer is None and not self._expiring:
                self._timer = self._clock.callLater(self.timeout, self._expire)
        return d

    def _expire(self) -> None:
        self._timer = None
        now = self._clock.seconds()
        deadlines = self._deadlines
        # An errback may make a new request (a retry): the timer is set once, below.
        self._expiring = True
        try:
            while deadlines:
                key, deadline = next(iter(deadlines.items()))
                if deadline > now:
                    break
                d = self.pop(key)
                if d is not None:
                    d.errback(RequestTimeout(f"no answer to {key[0]} {key[1:]} within {self.timeout}s"))
        finally:
            self._expiring = False
        if deadlines and self._timer is None:
            deadline = next(iter(deadlines.values()))
            self._timer = self._clock.callLater(max(0.0, deadline - now), self._expire)

    def pop(self, key: tuple[Any, ...]) -> Deferred[Any] | None:
        if key[0] == "order" and key not in self._waiting:
            alias = self._by_seq.get(key[1])
            if alias is not None:
                key = alias
        seq = self._seq_of.pop(key, None)
        if seq is not None:
            del self._by_seq[seq]
        self._deadlines.pop(key, None)
        return self._waiting.pop(key, None)

    def fail_all(self, error: Exception) -> None:
        self._by_seq.clear()
        self._seq_of.clear()
        self._deadlines.clear()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        waiting, self._waiting = self._waiting, {}
        for d in waiting.values():
            d.errback(error)


def _ignore(payload: seto_pb2.Payload) -> None:
    """The route of a message nothing is registered for."""


def _handler_failed(handler: Callable[..., Any], name: str) -> None:
    _log.failure("handler {handler!r} raised on {name}", handler=handler, name=name)


class StreamingAPIClient:
    """The client of a `Session`: handlers for incoming messages and Deferred requests.

    Handlers are registered by message name (``eto.login_response``,
    ``seto.order_accepted``) and called with ``message=`` the seto payload; global handlers
    with ``name=`` and ``message=``. A handler that raises is logged; the others still run.

    Requests return Deferreds matched to their answers by seq, order id or reference; each
    times out after ``settings.request_timeout`` seconds, and all are errbacked with
    `ConnectionLost` when the connection drops (for an order, the outcome is then unknown
    until the session resumes and the answer arrives through the handlers).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.clock: IReactorTime = session.reactor
        self._handlers: dict[str, list[Callable[..., Any]]] = {}
        self._global_handlers: list[Callable[..., Any]] = []
        # seto type -> what an in-order message of that type sets off, built again whenever
        # the handlers change; and the same for the session's direct path, with None for
        # the types that must not take it.
        self._routes: dict[int, Callable[[seto_pb2.Payload], None]] = {}
        self._direct: dict[int, Callable[[seto_pb2.Payload], None] | None] = {}
        self._pending = _Pending(self.clock, session.settings.request_timeout)
        self._creates: dict[int, seto_pb2.OrderCreate] = {}
        # The outseq when we last served a replay on this connection.
        self._replayed_upto: int | None = None
        # (seq, time sent, waiter) of each ping awaiting its pong, oldest first.
        self._pings: list[tuple[int, float, Deferred[float]]] = []
        self._reference = itertools.count(1)
        self.throttle = TokenBucket(self.clock)
        self.account = AccountState()
        self.markets: dict[int, MarketBook] = {}
        self.subscriptions: set[int] = set()
        self.event_subscriptions: set[int] = set()
        #: Fired with ``message=`` (the login response) and ``resumed=`` at each login, before
        #: any message of the new connection reaches the handlers: the place to add them.
        self.logged_in = Signal()
        self._internal: dict[int, Callable[[seto_pb2.Payload], None]] = {
            seto_pb2.PAYLOAD_ORDER_ACCEPTED: self._order_accepted,
            seto_pb2.PAYLOAD_ORDER_REJECTED: self._order_rejected,
            seto_pb2.PAYLOAD_ORDER_INVALID: self._order_invalid,
            seto_pb2.PAYLOAD_ORDER_EXECUTED: self._order_executed,
            seto_pb2.PAYLOAD_ORDER_CANCELLED: self._order_cancelled,
            seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED: self._reduced,
            seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED: self._replace_accepted,
            seto_pb2.PAYLOAD_ORDER_VOIDED: self._order_voided,
            seto_pb2.PAYLOAD_MARKET_QUOTES: self._market_quotes,
            seto_pb2.PAYLOAD_CONTRACT_QUOTES: self._contract_quotes,
            seto_pb2.PAYLOAD_BALANCE_CHANGED: self._balance_changed,
            seto_pb2.PAYLOAD_THROTTLE_LIMITS_CHANGED: self._throttle_limits,
            seto_pb2.PAYLOAD_ETO: self._eto,
        }
        self._build_routes()
        session.route_to(self._dispatch, self._direct)
        session.on_login = self._logged_in
        session.on_disconnect = self._disconnected
        session.on_replay_served = self._pings_lost

    # -- handlers (9.3 API) ----------------------------------------------------------------

    def add_handler(self, name: str, callback: Callable[..., Any]) -> None:
        """Call ``callback(message=payload)`` for every message called ``name``."""
        if name not in ALL_NAMES:
            raise InvalidCallbackError(f"no message is called {name!r}")
        if not callable(callback):
            raise InvalidCallbackError(f"{callback!r} is not callable")
        self._handlers.setdefault(name, []).append(callback)
        self._build_routes()

    def del_handler(self, name: str, callback: Callable[..., Any]) -> None:
        """Stop calling ``callback`` for ``name``."""
        if name not in ALL_NAMES:
            raise InvalidCallbackError(f"no message is called {name!r}")
        try:
            self._handlers.get(name, []).remove(callback)
        except ValueError:
            raise InvalidCallbackError(f"{callback!r} is not a handler of {name!r}") from None
        self._build_routes()

    def add_global_handler(self, callback: Callable[..., Any]) -> None:
        """Call ``callback(name=name, message=payload)`` for every message."""
        if not callable(callback):
            raise InvalidCallbackError(f"{callback!r} is not callable")
        self._global_handlers.append(callback)
        self._build_routes()

    def del_global_handler(self, callback: Callable[..., Any]) -> None:
        """Stop calling a global handler."""
        try:
            self._global_handlers.remove(callback)
        except ValueError:
            raise InvalidCallbackError(f"{callback!r} is not a global handler") from None
        self._build_routes()

    def _dispatch(self, payload: seto_pb2.Payload) -> None:
        kind = payload.type
        if kind == seto_pb2.PAYLOAD_ETO:
            # Session messages differ by their eto type: their routes are not kept.
            self._compile(kind, message_name(payload))(payload)
        else:
            self._routes[kind](payload)

    def _build_routes(self) -> None:
        # In place: the protocol holds the direct table.
        resolve = self._resolve
        to_session = self.session.payload_received
        for kind, name in SETO_NAMES.items():
            route = self._routes[kind] = self._compile(kind, name, resolve)
            if kind in ACCOUNT_TYPES:
                # Past the session, which drops account messages it has already seen.
                self._direct[kind] = to_session
            else:
                self._direct[kind] = route
        self._direct[seto_pb2.PAYLOAD_ETO] = self._direct[seto_pb2.PAYLOAD_LOGIN] = None

    def _compile(
        self, kind: int, name: str, resolver: Callable[[seto_pb2.Payload], None] | None = None
    ) -> Callable[[seto_pb2.Payload], None]:
        """The function that hands a message of seto type ``kind`` (called ``name``) to
        the client's own bookkeeping, the handlers, the global handlers and the request
        it answers (through ``resolver``, by default `_resolve`)."""
        internal = self._internal.get(kind)
        handlers = tuple(self._handlers.get(name, ()))
        global_handlers = tuple(self._global_handlers)
        resolve = (resolver or self._resolve) if kind in _ANSWERS else None
        if internal is None and not handlers and not global_handlers and resolve is None:
            # Most types, most of the time: one function for all, not one each per client.
            return _ignore
        # Whether to call ``internal``: quote updates only matter to a book held for their
        # market, so with none held the call is skipped (this is the busiest type of all).
        # ``self.markets`` is never replaced, only changed.
        guard: Any = internal is not None
        if guard and kind == seto_pb2.PAYLOAD_CONTRACT_QUOTES:
            guard = self.markets

        if global_handlers or resolve is not None or len(handlers) > 1:

            def route(payload: seto_pb2.Payload) -> None:
                if guard:
                    internal(payload)
                for handler in handlers:
                    try:
                        handler(message=payload)
                    except Exception:
                        _handler_failed(handler, name)
                for handler in global_handlers:
                    try:
                        handler(name=name, message=payload)
                    except Exception:
                        _handler_failed(handler, name)
                if resolve is not None:
                    resolve(payload)

            return route

        # The usual case, one handler or none: no loops, for the busy types' sake.
        handler = handlers[0] if handlers else None

        def lean_route(payload: seto_pb2.Payload) -> None:
            if guard:
                internal(payload)
            if handler is not None:
                try:
                    handler(message=payload)
                except Exception:
                    _handler_failed(handler, name)

        return lean_route

    # -- session ---------------------------------------------------------------------------

    def login(self) -> Deferred[seto_pb2.Payload]:
        """Connect and log in; fires with the ``eto.login_response`` payload."""
        return self.session.connect()

    def logout(self) -> Deferred[None]:
        """Log out and close; fires once the exchange confirms."""
        return self.session.logout()

    def flush(self) -> None:
        """Send what is buffered now, rather than on the reactor's next turn (requests made
        while handling a message are sent when that read is done, without it)."""
        self.session.flush()

    def ping(self) -> Deferred[float]:
        """Send ``eto.ping``; fires with the round-trip time in seconds.

        Errbacks with `RequestTimeout` after ``request_timeout``, and with `PingLost` when
        the exchange turns out never to have received it (it asked for a replay from it).
        """
        protocol = self._protocol()
        entry: list[Any] = []

        def forget(d: Deferred[float]) -> None:
            # A ping that gives up leaves the queue. Pongs carry no reference, so a pong that
            # comes later still will be taken for the next ping's; but a pong can also be
            # lost for good (a replay sends a gapfill for it), and a place kept for it would
            # then put every later ping a pong behind.
            if entry and entry[0] in self._pings:
                self._pings.remove(entry[0])

        d: Deferred[float] = Deferred(forget)
        entry.append((self.session.sequence.outseq, self.clock.seconds(), d))
        self._pings.append(entry[0])
        timeout = self.session.settings.request_timeout
        if timeout:
            d.addTimeout(
                timeout,
                self.clock,
                onTimeoutCancel=lambda result, t: Failure(RequestTimeout(f"no pong within {t}s")),
            )
        protocol.ping()
        return d

    def _pings_lost(self, first: int) -> None:
        # A replay sends a gapfill in place of a ping: its pong will never come. But a ping
        # sent after an earlier replay on this connection follows that replay, so the peer
        # does act on it (a second request only means the first was slow to arrive).
        limit = self._replayed_upto if self._replayed_upto is not None else self.session.sequence.outseq
        self._replayed_upto = self.session.sequence.outseq
        lost = [entry for entry in self._pings if first <= entry[0] < limit]
        for entry in lost:
            self._pings.remove(entry)
            entry[2].errback(PingLost(f"ping #{entry[0]} never reached the exchange"))

    def _protocol(self) -> Any:
        if self.session.protocol is None or not self.session.logged_in:
            raise ConnectionError("not logged in")
        return self.session.protocol

    def _send(self, payload: seto_pb2.Payload) -> int:
        return self.session.send(payload)

    def _request(self, payload: seto_pb2.Payload, key: Callable[[int], tuple[Any, ...]]) -> Deferred[Any]:
        """Send ``payload`` when the throttle allows; fires with its matched answer."""
        if self.session.closed:
            return fail(SessionClosed("the session has ended"))
        if not self.session.connected:
            return fail(ConnectionError("not logged in"))
        if self.throttle.try_acquire():
            return self._send_now(payload, key)
        waited = self.throttle.acquire()
        waited.addCallback(lambda _: self._send_now(payload, key))
        return waited

    def _send_now(self, payload: seto_pb2.Payload, key: Callable[[int], tuple[Any, ...]]) -> Deferred[Any]:
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
        return d

    # -- orders ----------------------------------------------------------------------------

    def order(self, order: OrderCreate) -> Deferred[seto_pb2.Payload]:
        """Place an order; fires with the ``seto.order_accepted`` payload.

        Errbacks with `OrderRejected` or `OrderInvalid` carrying the reasons.
        """
        return self._request(order.to_payload(), lambda seq: ("order", seq))

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
    ) -> Deferred[seto_pb2.Payload]:
        """Place an order from its fields; see `order`."""
        return self.order(OrderCreate(market_id, contract_id, side, price, quantity, tif, reference, label))

    def cancel_order(self, order_id: int) -> Deferred[seto_pb2.Payload]:
        """Cancel an order; fires with ``seto.order_cancelled``, errbacks `RequestRejected`."""
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL)
        payload.order_cancel.order_id = order_id
        return self._request(payload, lambda seq: ("cancel", order_id))

    def cancel_all(self, market_id: int | None = None) -> Deferred[seto_pb2.Payload]:
        """Cancel every live order (of one market); fires with ``order_cancel_all_accepted``."""
        reference = next(self._reference)
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_ALL)
        payload.order_cancel_all.reference = reference
        if market_id is not None:
            payload.order_cancel_all.market_id = market_id
        return self._request(payload, lambda seq: ("cancel_all", reference))

    def reduce_quantity(self, order_id: int, new_quantity: int) -> Deferred[seto_pb2.Payload]:
        """Reduce an order's unfilled quantity; fires with ``order_quantity_reduced``."""
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE)
        payload.order_quantity_reduce.order_id = order_id
        payload.order_quantity_reduce.new_quantity = new_quantity
        return self._request(payload, lambda seq: ("reduce", order_id))

    def cancel_replace(self, order_id: int, price: int, quantity: int) -> Deferred[seto_pb2.Payload]:
        """Replace an order by one at a new price and quantity.

        Fires with ``order_cancel_replace_accepted`` (its ``order_id`` is the new order's).
        """
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE)
        replace = payload.order_cancel_replace
        replace.orig_order_id = order_id
        replace.price = price
        replace.quantity = quantity
        return self._request(payload, lambda seq: ("replace", order_id))

    def settings(self, cancel_all_on_failure: bool) -> Deferred[seto_pb2.Payload]:
        """Set whether the exchange cancels our orders when the session dies."""
        payload = new_payload(seto_pb2.PAYLOAD_SETTINGS)
        payload.settings.cancel_all_on_failure = cancel_all_on_failure
        return self._request(payload, lambda seq: ("settings", cancel_all_on_failure))

    # -- market data -----------------------------------------------------------------------

    def subscribe(self, market_id: int) -> Deferred[seto_pb2.Payload]:
        """Subscribe to a market; fires with its ``market_quotes`` snapshot.

        The subscription is renewed after every reconnect.
        """
        self.subscriptions.add(market_id)
        return self._request(self._subscribe_payload(market_id), lambda seq: ("subscribe", market_id))

    def _subscribe_payload(self, market_id: int) -> seto_pb2.Payload:
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_SUBSCRIBE)
        payload.market_subscribe.market_id = market_id
        return payload

    def unsubscribe(self, market_id: int) -> Deferred[int]:
        """Stop the market's quotes; fires with the seq of the request once it is sent."""
        self.subscriptions.discard(market_id)
        self.markets.pop(market_id, None)
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_UNSUBSCRIBE)
        payload.market_unsubscribe.market_id = market_id
        return self._send_unanswered(payload)

    def subscribe_event(self, event_id: int) -> Deferred[int]:
        """Subscribe to an event's markets; fires with the request's seq once it is sent.

        The markets' snapshots arrive as ``seto.market_quotes`` messages.
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
        matched = _ANSWERS[payload.type](payload)
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

    # -- state -----------------------------------------------------------------------------

    def _order_accepted(self, payload: seto_pb2.Payload) -> None:
        answer = payload.order_accepted
        self.account.note_money(answer)
        self.account.accepted(self._creates.pop(answer.seq, None), answer)

    def _order_rejected(self, payload: seto_pb2.Payload) -> None:
        self._creates.pop(payload.order_rejected.seq, None)

    def _order_invalid(self, payload: seto_pb2.Payload) -> None:
        self._creates.pop(payload.order_invalid.seq, None)

    def _order_executed(self, payload: seto_pb2.Payload) -> None:
        self.account.note_money(payload.order_executed)
        self.account.executed(payload.order_executed)

    def _order_cancelled(self, payload: seto_pb2.Payload) -> None:
        self.account.note_money(payload.order_cancelled)
        self.account.done(payload.order_cancelled.order_id)

    def _reduced(self, payload: seto_pb2.Payload) -> None:
        body = payload.order_quantity_reduced
        self.account.reduced(body.order_id, body.new_quantity)

    def _replace_accepted(self, payload: seto_pb2.Payload) -> None:
        body = payload.order_cancel_replace_accepted
        old = self.account.orders.pop(body.orig_order_id, None)
        if body.quantity_left <= 0:
            return
        self.account.orders[body.order_id] = LiveOrder(
            order_id=body.order_id,
            market_id=body.market_id,
            contract_id=body.contract_id,
            side=body.side,
            price=body.price,
            quantity=body.quantity_left,
            reference=body.reference if body.HasField("reference") else None,
            label=old.label if old is not None else None,
        )

    def _order_voided(self, payload: seto_pb2.Payload) -> None:
        self.account.done(payload.order_voided.order_id)

    def _balance_changed(self, payload: seto_pb2.Payload) -> None:
        self.account.note_money(payload.balance_changed)

    def _market_quotes(self, payload: seto_pb2.Payload) -> None:
        quotes = payload.market_quotes
        book = self.markets.get(quotes.market_id)
        if book is None:
            book = self.markets[quotes.market_id] = MarketBook(quotes.market_id)
        book.snapshot(quotes)

    def _contract_quotes(self, payload: seto_pb2.Payload) -> None:
        if not self.markets:
            return
        quotes = payload.contract_quotes
        book = self.markets.get(quotes.market_id)
        if book is not None:
            book.update(quotes)

    def _throttle_limits(self, payload: seto_pb2.Payload) -> None:
        limits = payload.throttle_limits_changed
        # A margin under the exchange's own bucket: requests sent evenly can still arrive
        # bunched up (the network, the exchange's reads), and must not be refused for it.
        self.throttle.set_limits(
            float(limits.average_rate_ps) * THROTTLE_MARGIN, max(1, limits.burst_size - 1)
        )

    def _eto(self, payload: seto_pb2.Payload) -> None:
        if payload.eto_payload.type == eto_pb2.PAYLOAD_PONG and self._pings:
            _, sent, d = self._pings.pop(0)
            d.callback(self.clock.seconds() - sent)

    # -- connection events -----------------------------------------------------------------

    def _logged_in(self, payload: seto_pb2.Payload, resumed: bool) -> None:
        self._replayed_upto = None
        # A reconnect: quotes may have moved while we were away, so ask for them afresh.
        for market_id in sorted(self.subscriptions):
            self.session.send(self._subscribe_payload(market_id))
        for event_id in sorted(self.event_subscriptions):
            subscribe = new_payload(seto_pb2.PAYLOAD_EVENT_SUBSCRIBE)
            subscribe.event_subscribe.event_id = event_id
            self.session.send(subscribe)
        self.logged_in.fire(message=payload, resumed=resumed)

    def _disconnected(self, reason: Failure) -> None:
        error: Exception = ConnectionLost(reason)
        if self.session.closed:
            error = SessionClosed("the session has ended")
        self._pending.fail_all(error)
        self._creates.clear()
        pings, self._pings = self._pings, []
        for _, _, d in pings:
            d.errback(ConnectionLost(reason))
        self.throttle.clear(error)


# -- answers: how each answer names the request it answers --------------------------------

_Match = Callable[[seto_pb2.Payload], "tuple[tuple[Any, ...], Exception | None] | None"]


def _accepts(request: str, field: str, attribute: str) -> _Match:
    """An answer that fires the request named by ``field.attribute``."""

    def match(payload: seto_pb2.Payload) -> tuple[tuple[Any, ...], None]:
        return (request, getattr(getattr(payload, field), attribute)), None

    return match


def _refuses(request: str, field: str, attribute: str, reasons: Any, error: type[RequestRejected]) -> _Match:
    """An answer that errbacks the request named by ``field.attribute`` with its reason."""

    def match(payload: seto_pb2.Payload) -> tuple[tuple[Any, ...], Exception]:
        body = getattr(payload, field)
        return (request, getattr(body, attribute)), error(reasons.Name(body.reason), payload)

    return match


def _invalid(payload: seto_pb2.Payload) -> tuple[tuple[Any, ...], Exception]:
    body = payload.order_invalid
    names = [seto_pb2.OrderInvalidReason.Name(r) for r in body.reasons]
    return ("order", body.seq), OrderInvalid(names, payload)


def _cancelled(payload: seto_pb2.Payload) -> tuple[tuple[Any, ...], None] | None:
    # Only a cancel we asked for answers a request; the exchange cancels for other reasons.
    body = payload.order_cancelled
    if body.reason == seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED:
        return ("cancel", body.order_id), None
    return None


_ANSWERS: dict[int, _Match] = {
    seto_pb2.PAYLOAD_ORDER_ACCEPTED: _accepts("order", "order_accepted", "seq"),
    seto_pb2.PAYLOAD_ORDER_REJECTED: _refuses(
        "order", "order_rejected", "seq", seto_pb2.OrderRejectedReason, OrderRejected
    ),
    seto_pb2.PAYLOAD_ORDER_INVALID: _invalid,
    seto_pb2.PAYLOAD_ORDER_CANCELLED: _cancelled,
    seto_pb2.PAYLOAD_ORDER_CANCEL_REJECTED: _refuses(
        "cancel", "order_cancel_rejected", "order_id", seto_pb2.OrderCancelRejectedReason, RequestRejected
    ),
    seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_ACCEPTED: _accepts("cancel_all", "order_cancel_all_accepted", "reference"),
    seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_REJECTED: _refuses(
        "cancel_all", "order_cancel_all_rejected", "reference", seto_pb2.OrderCancelAllRejectedReason, RequestRejected
    ),
    seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED: _accepts("reduce", "order_quantity_reduced", "order_id"),
    seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE_REJECTED: _refuses(
        "reduce",
        "order_quantity_reduce_rejected",
        "order_id",
        seto_pb2.OrderQuantityReduceRejectedReason,
        RequestRejected,
    ),
    seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED: _accepts(
        "replace", "order_cancel_replace_accepted", "orig_order_id"
    ),
    seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED: _refuses(
        "replace",
        "order_cancel_replace_rejected",
        "orig_order_id",
        seto_pb2.OrderCancelReplaceRejectedReason,
        RequestRejected,
    ),
    seto_pb2.PAYLOAD_SETTINGS_ACCEPTED: _accepts("settings", "settings_accepted", "cancel_all_on_failure"),
    seto_pb2.PAYLOAD_MARKET_QUOTES: _accepts("subscribe", "market_quotes", "market_id"),
}
