"""`Session`: what outlives a connection, and the lifecycle that connects and resumes it.

The session holds the settings, the session id, both sequence numbers with the replay
store, and the last account sequence seen. Its life is one `SessionState` at a time,
moved only by its `txsmarkets.client.lifecycle.Lifecycle` machine, whose outputs are the
session's actions below; ``session.state`` is public and is what tests and applications
look at. Its connection is a `twisted.application.internet.ClientService` on the endpoint
of its settings (`txsmarkets.client.factory.Reconnector`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, cast

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.client.endpoints import client_endpoint
from txsmarkets.client.factory import Backoff, Reconnector, SmarketsClientFactory
from txsmarkets.client.lifecycle import (
    FATAL_LOGOUTS,
    RETRYABLE_LOGOUTS,
    Lifecycle,
    SessionState,
    logout_reason_name,
)
from txsmarkets.client.observers import Observable
from txsmarkets.client.protocol import ClientSessionMixin
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
from txsmarkets.wire.messages import ACCOUNT_TYPES, NO_REPLAY, account_sequence, message_name, new_payload
from txsmarkets.wire.sendnow import send_now

__all__ = ["Session", "SessionState"]

_log = Logger()

Route = Callable[[seto_pb2.Payload], None]


class Session:
    """A streaming session: what outlives one connection, and the connection itself.

    `connect` connects (and reconnects, resuming the session) through a `ClientService`
    on ``endpoint`` (by default `txsmarkets.client.endpoints.client_endpoint` of the
    settings on ``reactor``: TLS unless ``settings.ssl`` is False). The 9.3 members keep
    their meaning where Twisted gives them one: ``raw_socket`` is the transport, ``flush``
    sends what is buffered.

    Its events are `txsmarkets.client.observers.Observers` that any number may join with
    ``add``: ``on_login``, ``on_disconnect``, ``on_state``, ``on_replay_served``,
    ``on_failed``.
    """

    #: Observers of each (re)login: called with the login response and whether it resumed.
    on_login: Observable[[seto_pb2.Payload, bool]] = Observable()
    #: Observers of each replay the peer asked of us: called with its first seq.
    on_replay_served: Observable[[int]] = Observable()
    #: Observers of each connection's end: called with the reason (a `Failure`).
    on_disconnect: Observable[[Failure]] = Observable()
    #: Observers of every change of state: called with the old and the new `SessionState`.
    on_state: Observable[[SessionState, SessionState]] = Observable()
    #: Observers of the session's end for good (FAILED): called with a `Failure` of why
    #: (`LoginError`: refused or logged out for good; `ConnectionError`: gave up).
    on_failed: Observable[[Failure]] = Observable()

    def __init__(
        self,
        settings: SessionSettings,
        inseq: int = 1,
        outseq: int = 1,
        account_sequence: int | None = None,
        *,
        reactor: IReactorTime | None = None,
        endpoint: IStreamClientEndpoint | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = cast(IReactorTime, default_reactor)
        self.settings = settings
        #: The reactor: its clock always, and what the default endpoint connects with.
        self.reactor: IReactorTime = reactor
        self._endpoint = endpoint
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
        #: The factory of the protocols while connecting, or None while not trying. Set
        #: before `connect`, the session makes no connection itself: it logs in on those
        #: handed to it (``factory.buildProtocol(addr).makeConnection(transport)``).
        self.factory: SmarketsClientFactory | None = None
        #: The `Reconnector` (its ``service`` a `ClientService`, its ``policy`` the
        #: `Backoff`) while connecting, or None.
        self.connector: Reconnector | None = None
        self._lifecycle = Lifecycle(self)
        #: Where the session is in its life (see `SessionState`): the lifecycle's state as
        #: last announced, so that what a move does before it announces (tell the
        #: ``on_disconnect`` observers, say) still sees the state it moves from.
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
        # When the last login was answered, and whether it resumed the session.
        self._logged_in_at = float("-inf")
        self._resumed = False
        # Whether this session's account stream has been checked against what was seen.
        self._stream_checked = False

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
        self._lifecycle.connect()
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
        self._lifecycle.disconnect()

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
        if self.state is SessionState.FAILED:
            d.callback(None)
            return d
        self._logout_waiters.append(d)
        self._lifecycle.logout()
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
        if self.session_id is not None:
            outputs = self._lifecycle.resume_sent(protocol)
        else:
            outputs = self._lifecycle.login_sent(protocol)
        return cast(bool, cast(list[object], outputs)[0])

    def login_response(self, payload: seto_pb2.Payload) -> None:
        """The exchange answered our login with ``payload`` (an ``eto.login_response``)."""
        self._lifecycle.login_answered(payload)

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
                    if self._stream_checked:
                        # Sent again on a new session from the account stream: seen already.
                        return
                    # A new session's stream resumes after the last message seen: one that
                    # begins at or below it is numbered anew (an exchange restarted without
                    # its state), and dropping its messages as seen would lose every answer
                    # and fill from now on.
                    _log.error(
                        "the exchange's account stream begins again at {seen}, below the {last} seen: "
                        "taking its messages from here; what this client held of the account before may be stale",
                        seen=seen,
                        last=self.account_sequence,
                    )
                self._stream_checked = True
                self.account_sequence = seen
        self.on_payload(payload)

    def replay_served(self, first: int) -> None:
        """The peer asked us for a replay from ``first``: the observers hear of it."""
        self.on_replay_served(first)

    def logout_received(self, reason: int) -> None:
        """The exchange sent ``eto.logout`` with ``reason``; the protocol closes next."""
        name = logout_reason_name(reason)
        if reason == eto_pb2.LOGOUT_CONFIRMATION or self.state is SessionState.LOGGING_OUT:
            _log.info("logged out ({reason})", reason=name)
            self._lifecycle.logged_out()
        elif reason in FATAL_LOGOUTS or reason not in RETRYABLE_LOGOUTS:
            _log.error("logged out by the exchange: {reason}; not reconnecting", reason=name)
            self._lifecycle.fail(LoginError(name))
        else:
            self._lifecycle.ended_by_exchange(reason)

    def connection_lost(self, reason: Failure, protocol: ClientSessionMixin | None = None) -> None:
        """A connection closed (``protocol`` is the one it carried)."""
        lost = self._lost_waiters.pop(protocol if protocol is not None else self.protocol, [])
        if protocol is None or protocol is self.protocol:
            self.protocol = None
            if self.state is SessionState.LOGGING_IN and self._first_attempts():
                if self._login_timed_out:
                    error: Exception = LoginTimeout(f"no login response within {self.settings.socket_timeout}s")
                else:
                    error = ConnectionError(f"connection closed before login: {reason.getErrorMessage()}")
                self._lifecycle.closed_before_login(reason, error)
            else:
                self._lifecycle.closed(reason)
        # Otherwise a connection dropped on request, closing after its successor began.
        for d in lost:
            d.callback(None)

    # -- from the connector (a `txsmarkets.client.factory.ConnectionWatcher`) -------------------

    def attempt_failed(self, reason: Failure) -> None:
        """A connection attempt failed: the next follows after the backoff."""
        self._lifecycle.attempt_failed()

    def first_attempt_failed(self, reason: Failure) -> None:
        """The first connection attempt failed, and ``settings.fail_fast`` is on."""
        if self._login_waiters and self.state in (SessionState.CONNECTING, SessionState.WAITING_TO_RETRY):
            host, port = self.settings.host, self.settings.port
            self._lifecycle.fail(ConnectionError(f"cannot connect to {host}:{port}: {reason.value}"))
        else:
            self._lifecycle.attempt_failed()

    def gave_up(self, attempts: int) -> None:
        """The connector has made its ``settings.max_retries`` attempts: the session fails."""
        host, port = self.settings.host, self.settings.port
        self._lifecycle.fail(ConnectionError(f"gave up reconnecting to {host}:{port} after {attempts} attempts"))

    def _first_attempts(self) -> bool:
        # Before any login succeeded, with fail_fast: a failure is the caller's to hear of.
        return self.settings.fail_fast and self.logins == 0 and self.session_id is None

    # -- the lifecycle's actions (a `txsmarkets.client.lifecycle.LifecycleActions`) ------------

    def announce(self) -> None:
        """Tell the ``on_state`` observers of a change of state since they last heard."""
        old, new = self.state, self._lifecycle.state
        if new is not old:
            self.state = new
            _log.debug("session {old} -> {new}", old=old.value, new=new.value)
            self.on_state(old, new)

    def start_connecting(self) -> None:
        """Connect through a `Reconnector` on the endpoint, unless a factory was set (the
        caller then hands the connections over)."""
        if self.factory is not None:
            return
        endpoint = self._endpoint if self._endpoint is not None else client_endpoint(self.reactor, self.settings)
        self.factory = SmarketsClientFactory(self)
        self.connector = Reconnector(endpoint, self.factory, Backoff(self.settings, self.reactor, self.gave_up), self.reactor, self)
        self.connector.start(fail_fast=self._first_attempts())

    def stop_trying(self) -> None:
        """Stop connecting; a later connect() begins afresh with a connector of its own."""
        connector, self.connector = self.connector, None
        if connector is not None:
            connector.stop()
        self.factory = None

    def take_connection(self, protocol: ClientSessionMixin) -> bool:
        """Make ``protocol`` the connection to log in on."""
        self.protocol = protocol
        self._login_timed_out = False
        return True

    def refuse_connection(self, protocol: ClientSessionMixin) -> bool:
        """An attempt that was under way when the session stopped: drop it."""
        protocol.disconnect()
        return False

    def take_login(self, payload: seto_pb2.Payload) -> None:
        """Take up the session id and the renumbering of a login's answer."""
        response = payload.eto_payload.login_response
        self._resumed = self.session_id == response.session
        self._stream_checked = self._resumed
        self.session_id = self._last_session_id = response.session
        if response.HasField("reset"):
            if self._resumed and response.reset < self.sequence.outseq:
                self._never_received(response.reset)
            self.sequence.renumber(response.reset)

    def _never_received(self, reset: int) -> None:
        """The resumed session's exchange had our messages up to ``reset`` only: those sent
        after it are numbered again, not sent again. Their requests failed with
        `ConnectionLost` ("may yet reach the exchange") when the connection dropped; now
        they never will, and this is the one place that knows it: said in one line."""
        sequence = self.sequence
        kinds: dict[str, int] = {}
        for seq in range(reset, sequence.outseq):
            entry = sequence.store.get(seq)
            if entry is not None and entry[0] not in NO_REPLAY:
                name = message_name(seto_pb2.Payload.FromString(entry[1]))
                kinds[name] = kinds.get(name, 0) + 1
        if not kinds:
            return  # heartbeats and the like: nothing was asked
        _log.warn(
            "the exchange never received our messages from seq {first} on ({what}): they are not sent again, "
            "and no request among them will be answered",
            first=reset,
            what=", ".join(f"{n} {name}" for name, n in sorted(kinds.items())),
        )

    def logged_in(self, payload: seto_pb2.Payload) -> None:
        """Count the login, start the backoff over, and tell the ``on_login`` observers."""
        self.logins += 1
        self._logged_in_at = self.reactor.seconds()
        self.last_login_response = payload
        if self.connector is not None:
            self.connector.policy.reset()
        _log.info(
            "logged in: session {session} ({how}), next seqs in {inseq} out {outseq}",
            session=self.session_id,
            how="resumed" if self._resumed else "new",
            inseq=self.sequence.inseq,
            outseq=self.sequence.outseq,
        )
        self.on_login(payload, self._resumed)

    def not_taken_up(self, payload: seto_pb2.Payload) -> None:
        """An answer to a login we gave up on (logout() came first): the connection is closing."""
        _log.info("login answered while {state}: not taken up", state=self.state.value)

    def forget_session(self, reason: int) -> None:
        """The exchange ended the session (a retryable ``reason``): the next login starts a
        new one, and the account stream resumes from the last account sequence seen."""
        policy = self.connector.policy if self.connector is not None else None
        if (
            policy is not None
            and reason != eto_pb2.LOGOUT_UNKNOWN_SESSION
            and self.reactor.seconds() - self._logged_in_at < self.settings.heartbeat_interval
        ):
            # Ended straight after a login whose answer reset the backoff: the backoff goes
            # on growing, or an exchange that logs us out at once would be hammered.
            policy.continue_backoff()
        if reason == eto_pb2.LOGOUT_UNKNOWN_SESSION:
            _log.warn("the exchange no longer holds session {session}; starting a new one now", session=self.session_id)
            if policy is not None:
                # Nothing is wrong with the exchange: backing off would only lose time.
                policy.at_once()
        else:
            _log.warn("logged out by the exchange: {reason}; will reconnect", reason=logout_reason_name(reason))
        self.session_id = None

    def send_logout(self) -> None:
        """Send our logout; the exchange confirms, and the connection closes."""
        if self.protocol is not None:
            self.protocol.sendLogout(eto_pb2.LOGOUT_NONE)

    def end_session(self) -> None:
        """Logged out (or never in): stop, and errback whoever waits for a login."""
        self.stop_trying()
        login_waiters, self._login_waiters = self._login_waiters, []
        for d in login_waiters:
            d.errback(SessionClosed("logged out"))
        self.session_id = None

    def drop_connection(self) -> None:
        """Close the connection; without one, whoever waits for the logout may go."""
        if self.protocol is not None:
            self.protocol.disconnect()
        else:
            self.answer_logout()

    def answer_logout(self) -> None:
        """Whoever waits for the logout may go."""
        waiters, self._logout_waiters = self._logout_waiters, []
        for d in waiters:
            d.callback(None)

    def tell_disconnect(self, reason: Failure) -> None:
        """Tell the ``on_disconnect`` observers that the connection ended."""
        self.on_disconnect(reason)

    def fail_waiters(self, error: Exception) -> None:
        """The session is over for good: errback whoever waits for a login."""
        waiters, self._login_waiters = self._login_waiters, []
        for d in waiters:
            d.errback(error)
        if self.state is SessionState.FAILED:
            # Said to the observers too: a session can fail with nobody waiting for a login.
            self.on_failed(Failure(error))

    def already_ended(self, error: Exception) -> None:
        """An error after the session had ended: only said."""
        _log.info("session already {state} when it failed: {error}", state=self.state.value, error=error)

    def let_go(self) -> None:
        """Let go of the connection now (its close, whenever it comes, concerns no later
        connection) and close it; whoever waits for an answer hears `ConnectionLost`."""
        protocol, self.protocol = self.protocol, None
        if protocol is not None:
            self.on_disconnect(Failure(ConnectionLost("disconnected on request")))
            protocol.disconnect()
