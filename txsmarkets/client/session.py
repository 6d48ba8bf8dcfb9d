"""`Session`: what outlives a connection, and the lifecycle that connects and resumes it.

The session holds the settings, the session id, both sequence numbers with the replay
store, and the last account sequence seen. Its life is one `SessionState` at a time,
moved only through the table in `txsmarkets.client.lifecycle`; ``session.state`` is public
and is what tests and applications look at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.client.lifecycle import (
    FATAL_LOGOUTS,
    RETRYABLE_LOGOUTS,
    TRANSITIONS,
    Event,
    SessionState,
    logout_reason_name,
    next_state,
)
from txsmarkets.client.observers import Observable
from txsmarkets.client.settings import SessionSettings
from txsmarkets.exceptions import (
    ConnectionError,
    ConnectionLost,
    LoginError,
    LoginTimeout,
    SessionClosed,
)
from txsmarkets.session.sequencer import SequenceState
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.messages import ACCOUNT_TYPES, account_sequence, new_payload
from txsmarkets.wire.sendnow import send_now

if TYPE_CHECKING:
    from txsmarkets.client.factory import SmarketsClientFactory
    from txsmarkets.client.protocol import ClientSessionMixin

__all__ = ["Session", "SessionState"]

_log = Logger()

Route = Callable[[seto_pb2.Payload], None]


class Session:
    """A streaming session: what outlives one connection, and the connection itself.

    `connect` connects (and reconnects, resuming the session) through a
    `SmarketsClientFactory`. The 9.3 members keep their meaning where Twisted gives them
    one: ``raw_socket`` is the transport, ``flush`` sends what is buffered.
    """

    #: Observers of each (re)login: called with the login response and whether it resumed.
    on_login: Observable[[seto_pb2.Payload, bool]] = Observable()
    #: Observers of each replay the peer asked of us: called with its first seq.
    on_replay_served: Observable[[int]] = Observable()
    #: Observers of each connection's end: called with the reason (a `Failure`).
    on_disconnect: Observable[[Failure]] = Observable()
    #: Observers of every change of state: called with the old and the new `SessionState`.
    on_state: Observable[[SessionState, SessionState]] = Observable()

    def __init__(
        self,
        settings: SessionSettings,
        inseq: int = 1,
        outseq: int = 1,
        account_sequence: int | None = None,
        *,
        reactor: IReactorTime | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = cast(IReactorTime, default_reactor)
        self.settings = settings
        #: The reactor: its clock always, and `IReactorTCP`/`IReactorSSL` to connect.
        self.reactor: IReactorTime = reactor
        self.sequence = SequenceState(settings.replay_capacity)
        self.sequence.restore(inseq, outseq)
        #: The ``account_sequence_64`` of the last account message seen.
        self.account_sequence = account_sequence or 0
        #: Whether a login that has seen no account message asks for the account's history
        #: (``account_sequence_64`` 0: every account message from the first). Set by trading
        #: controls, which must not start blind; see `txsmarkets.client.catchup`.
        self.account_history = False
        #: The session id the exchange gave at the last login, or None before one.
        self.session_id: str | None = None
        self._last_session_id: str | None = None
        #: The current connection's protocol, or None.
        self.protocol: ClientSessionMixin | None = None
        #: The factory that connects and reconnects, or None while not trying.
        self.factory: SmarketsClientFactory | None = None
        #: Where the session is in its life (see `SessionState`).
        self.state = SessionState.IDLE
        #: How many logins have succeeded on this session object.
        self.logins = 0
        #: The login response of the last successful login.
        self.last_login_response: seto_pb2.Payload | None = None
        #: Called with each in-order application payload (the client sets it).
        self.on_payload: Route = lambda payload: None
        # (the on_payload they serve, the routes): see route_to.
        self._routes: tuple[Route, Mapping[int, Route | None]] | None = None
        self._login_waiters: list[Deferred[seto_pb2.Payload]] = []
        self._logout_waiters: list[Deferred[None]] = []
        self._lost_waiters: dict[Any, list[Deferred[None]]] = {}
        # Why the current login attempt ended without an answer, if it timed out.
        self._login_timed_out = False
        # When the last login was answered.
        self._logged_in_at = float("-inf")

    def _advance(self, event: Event) -> None:
        old = self.state
        self.state = new = next_state(old, event)
        if new is not old:
            _log.debug("session {old} -> {new} ({event})", old=old.value, new=new.value, event=event.value)
            self.on_state(old, new)

    def _can(self, event: Event) -> bool:
        return (self.state, event) in TRANSITIONS

    def route_to(self, dispatch: Route, routes: Mapping[int, Route | None]) -> None:
        """Hand in-order application payloads to ``dispatch`` (as ``on_payload``), and let
        ``routes`` take those of a type it maps to a callable straight from the protocol:
        the callable must do what ``dispatch`` would. Setting ``on_payload`` to anything
        else turns the routes off."""
        self.on_payload = dispatch
        self._routes = (dispatch, routes)

    @property
    def direct_routes(self) -> Mapping[int, Route | None] | None:
        """The routes given with `route_to`, while ``on_payload`` is still their dispatch."""
        if self._routes is not None and self._routes[0] is self.on_payload:
            return self._routes[1]
        return None

    def restore(self, session_id: str | None, account_sequence: int) -> None:
        """Take up a session saved earlier (the state folder's): its id and account
        sequence; the sequence numbers and store are restored on ``sequence``."""
        if self.state is not SessionState.IDLE:
            raise RuntimeError(f"cannot restore a session that is {self.state.value}")
        self.session_id = session_id
        self.account_sequence = account_sequence

    def _name(self) -> str:
        if self.session_id is not None:
            return self.session_id
        # Ended (logged out, or dropped by the exchange): a new login starts a new one.
        return f"(was {self._last_session_id})" if self._last_session_id is not None else "new"

    def __repr__(self) -> str:
        return (
            f"<Session {self._name()} {self.state.value} "
            f"inseq={self.sequence.inseq} outseq={self.sequence.outseq}>"
        )

    # -- 9.3 members ----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while a connection is up and logged in."""
        return self.state is SessionState.LOGGED_IN and self.protocol is not None

    @property
    def closed(self) -> bool:
        """True once the session has failed for good (see `SessionState.FAILED`)."""
        return self.state is SessionState.FAILED

    @property
    def raw_socket(self) -> Any:
        """The current connection's transport, or None."""
        return self.protocol.transport if self.protocol is not None else None

    def connect(self) -> Deferred[seto_pb2.Payload]:
        """Connect and log in if not connected; fires with the login response.

        Errbacks with `LoginError` (refused, naming the reason), `LoginTimeout`,
        `ConnectionError` (the first connection could not be made, or retrying gave up)
        or `SessionClosed` (the session had already failed, or a logout came first).
        """
        state = self.state
        if state is SessionState.FAILED:
            return fail(SessionClosed("the session has ended"))
        if state is SessionState.LOGGED_IN and self.last_login_response is not None:
            return succeed(self.last_login_response)
        d: Deferred[seto_pb2.Payload] = Deferred()
        self._login_waiters.append(d)
        if state in (SessionState.IDLE, SessionState.CLOSED):
            self._advance(Event.CONNECT)
            if self.factory is None:
                from txsmarkets.client.factory import SmarketsClientFactory

                self.factory = SmarketsClientFactory(self)
                self.factory.connect()
        return d

    def send(self, payload: seto_pb2.Payload) -> int:
        """Number, keep and send ``payload`` (a seto.Payload); return its seq.

        Raises `ConnectionError` unless logged in: nothing is numbered or kept then.
        """
        if self.state is not SessionState.LOGGED_IN or self.protocol is None:
            raise ConnectionError(f"not logged in ({self.state.value})")
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
        self._stop_trying()
        if self.state in (SessionState.LOGGING_OUT, SessionState.CLOSED, SessionState.FAILED):
            return
        self._advance(Event.DISCONNECT)
        protocol = self.protocol
        if protocol is not None:
            # Let go of it now: its close, whenever it comes, concerns no later connection.
            self.protocol = None
            self.on_disconnect(Failure(ConnectionLost("disconnected on request")))
            protocol.disconnect()

    def when_disconnected(self) -> Deferred[None]:
        """Fires when the current connection has closed (at once when there is none)."""
        if self.protocol is None:
            return succeed(None)
        d: Deferred[None] = Deferred()
        self._lost_waiters.setdefault(self.protocol, []).append(d)
        return d

    def logout(self) -> Deferred[None]:
        """Log out; fires once the exchange confirms and the connection closes.

        From the moment it is called nothing more can be sent (`send` raises).
        """
        d: Deferred[None] = Deferred()
        state = self.state
        if state is SessionState.FAILED:
            d.callback(None)
            return d
        self._logout_waiters.append(d)
        if state is SessionState.LOGGING_OUT:
            return d
        if state is SessionState.LOGGED_IN and self.protocol is not None:
            self._advance(Event.LOGOUT)
            self._stop_trying()
            self.protocol.sendLogout(eto_pb2.LOGOUT_NONE)
            return d
        if self.protocol is not None:
            # Connected but not logged in: there is no session to log out of; close.
            self._advance(Event.LOGOUT)
        self._end_cleanly()
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
        if self.account_sequence or self.account_history:
            # The last account message seen: the exchange sends those after it again, all
            # of them when it is 0 (none seen yet).
            login.account_sequence_64 = self.account_sequence
        return payload

    def connection_made(self, protocol: ClientSessionMixin) -> bool:
        """A connection is up; returns whether to log in on it (False: it is dropped)."""
        if self.state not in (SessionState.IDLE, SessionState.CONNECTING, SessionState.WAITING_TO_RETRY):
            # An attempt that was under way when the session stopped.
            protocol.disconnect()
            return False
        self.protocol = protocol
        self._login_timed_out = False
        self._advance(Event.RESUME_SENT if self.session_id is not None else Event.LOGIN_SENT)
        return True

    def login_response(self, payload: seto_pb2.Payload) -> None:
        """The exchange answered our login with ``payload`` (an ``eto.login_response``)."""
        if not self._can(Event.LOGGED_IN):
            # An answer to a login we gave up on (logout() came first): nothing of it is
            # taken up; the connection is closing.
            _log.info("login answered while {state}: not taken up", state=self.state.value)
            return
        response = payload.eto_payload.login_response
        resumed = self.session_id == response.session
        self.session_id = self._last_session_id = response.session
        if response.HasField("reset"):
            self.sequence.renumber(response.reset)
        self._advance(Event.LOGGED_IN)
        self.logins += 1
        self._logged_in_at = self.reactor.seconds()
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

    def login_timed_out(self) -> None:
        """No login response came in time; the protocol drops the connection next."""
        self._login_timed_out = True

    def payload_received(self, payload: seto_pb2.Payload) -> None:
        """An in-order application payload: past the account stream's filter, to the client."""
        if payload.type in ACCOUNT_TYPES:
            seen = account_sequence(payload)
            if seen is not None:
                if seen <= self.account_sequence:
                    # Sent again on a new session from the account stream: seen already.
                    return
                self.account_sequence = seen
        self.on_payload(payload)

    def logout_received(self, reason: int) -> None:
        """The exchange sent ``eto.logout`` with ``reason``; the protocol closes next."""
        name = logout_reason_name(reason)
        if reason == eto_pb2.LOGOUT_CONFIRMATION or self.state is SessionState.LOGGING_OUT:
            _log.info("logged out ({reason})", reason=name)
            if self._can(Event.LOGOUT):
                self._advance(Event.LOGOUT)
            self._end_cleanly()
            return
        if reason in FATAL_LOGOUTS or reason not in RETRYABLE_LOGOUTS:
            _log.error("logged out by the exchange: {reason}; not reconnecting", reason=name)
            self._fail(LoginError(name))
            return
        if (
            self.factory is not None
            and reason != eto_pb2.LOGOUT_UNKNOWN_SESSION
            and self.reactor.seconds() - self._logged_in_at < self.settings.heartbeat_interval
        ):
            # Ended straight after a login whose answer reset the backoff: the backoff goes
            # on growing, or an exchange that logs us out at once would be hammered.
            self.factory.continue_backoff()
        if reason == eto_pb2.LOGOUT_UNKNOWN_SESSION:
            _log.warn(
                "the exchange no longer holds session {session}; starting a new one now",
                session=self.session_id,
            )
            if self.factory is not None:
                # Nothing is wrong with the exchange: backing off would only lose time.
                self.factory.retry_at_once()
        else:
            # The exchange has ended the session: the next login starts a new one, and the
            # account stream resumes from the last account sequence seen.
            _log.warn("logged out by the exchange: {reason}; will reconnect", reason=name)
        self.session_id = None
        if self.state is not SessionState.WAITING_TO_RETRY:
            self._advance(Event.LOST)

    def connection_lost(self, reason: Failure, protocol: Any = None) -> None:
        """A connection closed (``protocol`` is the one it carried)."""
        lost = self._lost_waiters.pop(protocol if protocol is not None else self.protocol, [])
        if protocol is None or protocol is self.protocol:
            self._current_connection_lost(reason)
        # Otherwise a connection dropped on request, closing after its successor began.
        for d in lost:
            d.callback(None)

    def _current_connection_lost(self, reason: Failure) -> None:
        self.protocol = None
        state = self.state
        if state in (SessionState.IDLE, SessionState.CLOSED, SessionState.FAILED):
            # Dropped on request, or after the session ended: nothing left to do but say so.
            self.on_disconnect(reason)
            self._answer_logout_waiters()
            return
        self.on_disconnect(reason)
        if state is SessionState.LOGGING_OUT:
            self._end_cleanly()
        elif state is SessionState.LOGGING_IN and self._first_attempts():
            # The very first connection closed before any login answer (a TLS certificate
            # refused, a plaintext peer, a server that hangs up, no answer in time):
            # retrying will not help.
            if self._login_timed_out:
                self._fail(LoginTimeout(f"no login response within {self.settings.socket_timeout}s"))
            else:
                self._fail(ConnectionError(f"connection closed before login: {reason.getErrorMessage()}"))
        elif state is not SessionState.WAITING_TO_RETRY:
            self._advance(Event.LOST)

    def connection_failed(self, reason: Failure) -> None:
        """A connection attempt failed."""
        if self.state in (SessionState.IDLE, SessionState.CLOSED, SessionState.FAILED, SessionState.LOGGING_OUT):
            return
        if self._first_attempts() and self._login_waiters:
            self._fail(ConnectionError(f"cannot connect to {self.settings.host}:{self.settings.port}: {reason.value}"))
        else:
            self._advance(Event.LOST)

    def gave_up(self, attempts: int) -> None:
        """The factory has made its ``settings.max_retries`` attempts: the session fails."""
        self._fail(ConnectionError(f"gave up reconnecting to {self.settings.host}:{self.settings.port} after {attempts} attempts"))

    def _first_attempts(self) -> bool:
        # Before any login succeeded, with fail_fast: a failure is the caller's to hear of.
        return self.settings.fail_fast and self.logins == 0 and self.session_id is None

    # -- ending ---------------------------------------------------------------------------

    def _stop_trying(self) -> None:
        if self.factory is not None:
            self.factory.stopTrying()
            # A later connect() begins afresh with a factory of its own.
            self.factory = None

    def _fail(self, error: Exception) -> None:
        """The session is over for good: stop, and errback whoever waits for a login."""
        self._stop_trying()
        if self._can(Event.FAIL):
            self._advance(Event.FAIL)
        else:
            _log.info("session already {state} when it failed: {error}", state=self.state.value, error=error)
        waiters, self._login_waiters = self._login_waiters, []
        for d in waiters:
            d.errback(error)
        if self.protocol is not None:
            self.protocol.disconnect()
        else:
            self._answer_logout_waiters()

    def _end_cleanly(self) -> None:
        """Logged out (or never in): stop; the logout is done once the connection closes."""
        self._stop_trying()
        login_waiters, self._login_waiters = self._login_waiters, []
        for d in login_waiters:
            d.errback(SessionClosed("logged out"))
        self.session_id = None
        if self.protocol is None:
            if self._can(Event.LOGGED_OUT):
                self._advance(Event.LOGGED_OUT)
            self._answer_logout_waiters()
        else:
            self.protocol.disconnect()

    def _answer_logout_waiters(self) -> None:
        waiters, self._logout_waiters = self._logout_waiters, []
        for d in waiters:
            d.callback(None)
