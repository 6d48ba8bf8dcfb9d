"""One connection to the embedded exchange: its phase, login, requests and output.

`ExchangeServerProtocol` speaks the session protocol for the `ExchangeServerFactory`
(`txsmarkets.exchange.server`): it logs the peer in (the password check off the reactor
thread), reads its requests strictly and hands them to the engine, and watches its output:
a large answer waits while the transport's buffer is full, and a peer whose buffer stays
full has stopped reading. `ConnectionPhase` says where a connection stands.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Protocol, cast

from twisted.internet.defer import Deferred, DeferredSemaphore, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import connectionDone
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.exchange.interfaces import ExchangeAccount, IEventLookup, IExchangeEngine, LoginUnavailable
from txsmarkets.exchange.requests import ORDER_TYPES, REQUEST_TYPES, request_error
from txsmarkets.exchange.server_session import ServerSession
from txsmarkets.session.protocol import SessionProtocolMixin
from txsmarkets.session.rules import EXCHANGE_RULES
from txsmarkets.session.sequencer import SequenceState, Verdict
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.framing import ULEB128StringReceiver
from txsmarkets.wire.messages import SETO_FIELDS, account_sequence, bad_text, eto_message

__all__ = ["ConnectionPhase", "ExchangeServerProtocol", "SessionHost"]

_log = Logger()


class ConnectionPhase(enum.Enum):
    """Where a connection to the exchange stands."""

    #: Connected; no login yet (the login timeout runs, frames are at most a login's size).
    AWAITING_LOGIN = "awaiting login"
    #: A login arrived and its credentials are being checked (nothing more is read).
    AUTHENTICATING = "authenticating"
    #: Logged in to a session: requests are served.
    ESTABLISHED = "established"
    #: Refused, logged out or dropped: what is written still goes, nothing more is done.
    CLOSING = "closing"


_AWAITING = ConnectionPhase.AWAITING_LOGIN
_AUTHENTICATING = ConnectionPhase.AUTHENTICATING
_ESTABLISHED = ConnectionPhase.ESTABLISHED
_CLOSING = ConnectionPhase.CLOSING
_PRE_LOGIN = frozenset((_AWAITING, _AUTHENTICATING))

class _OutputWatch:
    """A push producer registered on the transport, to know when the peer stops reading.

    While the transport's buffer is full the watch is paused: a large answer waits (see
    `ExchangeServerFactory`), and if it stays paused for ``stall_timeout`` seconds the peer
    has really stopped reading and its connection is dropped.
    """

    paused = False
    _timer: IDelayedCall | None = None

    def __init__(self, protocol: ExchangeServerProtocol) -> None:
        self.protocol = protocol

    def pauseProducing(self) -> None:
        self.paused = True
        # Each write must now pass the back-pressure rule (`ExchangeServerProtocol.sendString`).
        self.protocol.directFrames = False
        if self._timer is None:
            factory = self.protocol.factory
            self._timer = factory.clock.callLater(factory.stall_timeout, self.protocol.stoppedReading)

    def resumeProducing(self) -> None:
        self.paused = False
        self.cancel()
        self.protocol.outputResumed()

    def stopProducing(self) -> None:
        self.paused = True
        self.protocol.directFrames = False
        self.cancel()

    def cancel(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class ExchangeServerProtocol(SessionProtocolMixin, ULEB128StringReceiver):
    """One connection to the exchange; its `phase` says where it stands."""

    factory: SessionHost
    #: A TCP or TLS transport: a consumer of producers, with ``abortConnection``.
    transport: Any
    rules = EXCHANGE_RULES
    session: ServerSession | None = None
    _loginTimer: IDelayedCall | None = None
    _backlog = 0
    _phase = _AWAITING

    @property
    def phase(self) -> ConnectionPhase:
        """The connection's `ConnectionPhase`."""
        return self._phase

    def _enter(self, phase: ConnectionPhase) -> None:
        old = self._phase
        if old is phase or old is _CLOSING:
            return
        self._phase = phase
        if old in _PRE_LOGIN and phase not in _PRE_LOGIN:
            self.factory.pending -= 1
        if phase is _ESTABLISHED:
            self.MAX_LENGTH = self.factory.max_frame

    @property
    def loggedIn(self) -> bool:  # type: ignore[override]
        # Logged in, or closing a session that was: what the peer sent before it saw the
        # end (an order in flight) is still acted on, and its answer is in the account
        # stream for the next session to resume from.
        return self.session is not None

    @property
    def _ended(self) -> bool:
        return self._phase is _CLOSING

    @property
    def blocked(self) -> bool:
        """Whether the peer is not taking what is written while the connection is open."""
        return self._watch.paused and not self._ended

    def replaced(self) -> None:
        """Its session has moved to another connection: close, leaving the session be."""
        self.session = None
        self._enter(_CLOSING)
        self.disconnect()

    def awaitingLogin(self) -> bool:
        return self._phase in _PRE_LOGIN

    def payloadBeforeLogin(self, payload: seto_pb2.Payload) -> None:
        """Anything but a login first: the session has not begun, the peer is refused."""
        if self._phase is _CLOSING:
            return  # what was read after the end
        self._refuse(eto_pb2.LOGOUT_UNAUTHORISED)

    def connectionMade(self) -> None:
        factory = self.factory
        self.clock = factory.clock
        self.sequence = SequenceState(1)
        self.heartbeatInterval = factory.heartbeat_interval
        self.heartbeatMisses = factory.heartbeat_misses
        self.closeTimeout = factory.close_timeout
        # Until the login, no frame larger than a login can be.
        self.MAX_LENGTH = factory.max_login_frame
        #: Fires when this connection has closed.
        self.closed: Deferred[None] = Deferred()
        #: The event_subscribes whose markets an `IEventLookup` engine is still looking up.
        self._event_lookups: dict[int, Deferred[list[int]]] = {}
        factory.connections.add(self)
        factory.pending += 1
        super().connectionMade()
        # The Smarkets framing, not paused: market data goes straight to the transport.
        self.directFrames = True
        self._watch = _OutputWatch(self)
        self.transport.registerProducer(self._watch, True)
        self._loginTimer = self.clock.callLater(factory.login_timeout, self._loginTimedOut)

    def sendString(self, string: bytes) -> None:
        if self._watch.paused:
            self._backlog += len(string)
            if self._backlog > self.factory.max_output_buffer:
                if not self._ended:
                    _log.warn(
                        "{session} stopped reading: over {limit} bytes waiting; dropping it",
                        session=self.session,
                        limit=self.factory.max_output_buffer,
                    )
                    self._drop()
                return
        elif not self.directFrames:
            # The first write since the output was paused: the count starts again, and
            # market data may go straight to the transport again (`sendEncoded`), as it
            # leaves the count at 0.
            self._backlog = 0
            self.directFrames = True
        super().sendString(string)

    def _drop(self) -> None:
        self._enter(_CLOSING)
        self._watch.cancel()
        if self.transport is not None:
            self.transport.abortConnection()

    def endSession(self, reason: int) -> None:
        """Log the peer out with ``reason`` and close: its session is over."""
        if self._ended:
            return
        self._enter(_CLOSING)
        self.sendLogout(reason)
        self.disconnect()

    def replayServed(self, first: int) -> None:
        """The peer asked for everything from ``first``: when the session no longer holds all
        of it, an account message may be among what is gone, and a gapfill must never stand
        for one. The session is ended instead (LOGOUT_UNKNOWN_SESSION): the client logs in
        to a new one and resumes the account stream from its last ``account_sequence_64``."""
        held_from = self.sequence.store.first if len(self.sequence.store) else self.sequence.outseq
        if first >= held_from or self.session is None or self._ended:
            return
        _log.warn(
            "{session}: replay from {first} asked, messages held only from {held}; ending the session",
            session=self.session,
            first=first,
            held=held_from,
        )
        session = self.session
        self.factory.end_session(session, failed=False)
        self.endSession(eto_pb2.LOGOUT_UNKNOWN_SESSION)

    def stoppedReading(self) -> None:
        """The transport's buffer stayed full for ``stall_timeout``: the peer is not reading."""
        self._watch._timer = None
        if not self._ended:
            _log.warn(
                "{session} stopped reading: nothing taken for {seconds}s; dropping it",
                session=self.session,
                seconds=self.factory.stall_timeout,
            )
            self._drop()

    def outputResumed(self) -> None:
        """The transport's buffer has room again: a large answer waiting for it goes on."""
        if self.session is not None:
            self.factory.wake(self.session.account.id)

    # -- login ------------------------------------------------------------------------------

    def _loginTimedOut(self) -> None:
        self._loginTimer = None
        self._refuse(eto_pb2.LOGOUT_LOGIN_TIMEOUT)

    def _refuse(self, reason: int) -> None:
        """Refuse the login with ``reason`` and close."""
        _log.info("login refused: {reason}", reason=eto_pb2.LogoutReason.Name(reason))
        self._stopLoginTimer()
        self._enter(_CLOSING)
        self.sendLogout(reason)
        self.disconnect()

    def _stopLoginTimer(self) -> None:
        if self._loginTimer is not None and self._loginTimer.active():
            self._loginTimer.cancel()
        self._loginTimer = None

    def loginReceived(self, payload: seto_pb2.Payload) -> None:
        phase = self._phase
        if phase is _CLOSING:
            return
        if phase is _ESTABLISHED:
            _log.warn("second login on {session}; dropping the connection", session=self.session)
            self._enter(_CLOSING)
            self.disconnect()
            return
        if phase is _AUTHENTICATING:
            _log.warn("login while a login is being checked; dropping the connection")
            self._enter(_CLOSING)
            self.disconnect()
            return
        # The login has come in time: how long it waits for the password check (behind a
        # crowd of others) is the exchange's business, not the peer's lateness.
        self._stopLoginTimer()
        self._enter(_AUTHENTICATING)
        engine = self.factory.engine
        login = payload.login
        check: Callable[..., Any]
        args: tuple[str | bytes, ...]
        if login.HasField("cookie"):
            check, args = engine.authenticate_token, (login.cookie,)
        else:
            check, args = engine.authenticate, (login.username, login.password)
        if getattr(engine, "authenticates_asynchronously", False):
            # An engine that asks elsewhere (a bridge's upstream) answers with a Deferred,
            # on the reactor's thread: no thread, and no queue behind the password checks.
            self.pauseProducing()
            asked: Deferred[Any] = maybeDeferred(check, *args)
            asked.addCallback(self._authenticated, payload)
            asked.addErrback(self._authenticationFailed)
            asked.addBoth(self._authenticationDone)
            return
        pool = getattr(self.clock, "getThreadPool", None)
        if pool is None:
            # A test clock has no threads: check in line.
            self._authenticated(cast(ExchangeAccount | None, check(*args)), payload)
            return
        # Password hashing takes tens of milliseconds: off the reactor thread, so that a
        # crowd of logins does not stall every session's heartbeats. Nothing more is read
        # from this connection until the answer is in.
        self.pauseProducing()

        def checkInThread() -> Deferred[ExchangeAccount | None]:
            if self._phase is not _AUTHENTICATING:
                return succeed(None)  # gone while queued: nothing to check
            return deferToThreadPool(self.clock, pool(), check, *args)  # type: ignore[arg-type]

        # At most ``login_threads`` checks at once: the rest queue here, so that the hashing
        # leaves a core to the reactor and the sessions already logged in keep heartbeating.
        d = self.factory.login_checks.run(checkInThread)
        d.addCallback(self._authenticated, payload)
        d.addErrback(self._authenticationFailed)
        d.addBoth(self._authenticationDone)

    def _authenticationFailed(self, failure: Failure) -> None:
        if failure.check(LoginUnavailable) and self._phase is _AUTHENTICATING:
            # The engine's back end is unwell, which the client can do nothing about but wait.
            _log.warn("a login could not be checked ({why}): refused for now", why=failure.value)
            self._enter(_CLOSING)
            self.sendLogout(eto_pb2.LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE)
            self.disconnect()
            return
        if not failure.check(LoginUnavailable):
            _log.failure("checking a login failed", failure)
        self._enter(_CLOSING)
        self.disconnect()

    def _authenticationDone(self, result: object) -> None:
        if self.transport is not None and not self.transport.disconnecting and not self._ended:
            self.resumeProducing()

    def _authenticated(self, account: ExchangeAccount | None, payload: seto_pb2.Payload) -> None:
        if self.transport is None or self._ended or self.transport.disconnecting:
            return
        factory = self.factory
        login = payload.login
        if account is None:
            self._refuse(eto_pb2.LOGOUT_UNAUTHORISED)
            return
        seq = payload.eto_payload.seq
        wanted = payload.eto_payload.login.session if payload.eto_payload.HasField("login") else ""
        if wanted:
            session = factory.sessions.get(wanted)
            if session is None or session.account.id != account.id:
                self._refuse(eto_pb2.LOGOUT_UNKNOWN_SESSION)
                return
            resumed = True
            factory.attach(session, self)
        else:
            if seq != 1:
                self._refuse(eto_pb2.LOGOUT_LOGIN_NOT_FIRST_SEQ)
                return
            resumed = False
            session = factory.new_session(account)
            factory.attach(session, self)
        self._stopLoginTimer()
        self.session = session
        self._enter(_ESTABLISHED)
        self.sequence = session.sequence
        self.sequence.new_connection()
        expected = self.sequence.inseq
        verdict = self.sequence.receive(payload)
        response = eto_pb2.LoginResponse(session=session.id, reset=max(seq + 1, expected))
        self.sendSession(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=response)
        if verdict is Verdict.GAP:
            self.askReplay()
        self.sendPayload(factory.throttle_limits())
        if not resumed and login.HasField("account_sequence_64"):
            start = factory.engine.account_log_start(account.id)
            if login.account_sequence_64 + 1 < start:
                _log.warn(
                    "{account} resumes its account stream after {seen}, but its history holds only "
                    "from {start}: {lost} messages are gone (account_log_size)",
                    account=account.username,
                    seen=login.account_sequence_64,
                    start=start,
                    lost=start - login.account_sequence_64 - 1,
                )
            for message in factory.engine.account_messages_since(account.id, login.account_sequence_64):
                # Only what the client can tell it has seen: the rest would come twice.
                if account_sequence(message) is not None:
                    self.sendPayload(message)
        _log.info(
            "{account} logged in: session {session} ({how})",
            account=account.username,
            session=session.id,
            how="resumed" if resumed else "new",
        )

    # -- messages ---------------------------------------------------------------------------

    def payloadReceived(self, payload: seto_pb2.Payload) -> None:
        session = self.session
        if session is None:
            return  # ended while this read was being handled
        kind = payload.type
        if kind == seto_pb2.PAYLOAD_ETO:
            return
        order = kind in ORDER_TYPES
        if order and bad_text(getattr(payload, SETO_FIELDS[kind])):
            # A label that is not UTF-8 could not be echoed back in any answer.
            self.invalidPayload(payload.SerializePartialToString(), "order text not UTF-8")
            return
        if not session.throttle.try_acquire():
            self._throttled(payload)
            return
        factory = self.factory
        if order:
            account_id = session.account.id
            error = factory.engine.submit(account_id, payload)
            if error is not None:
                self.invalidPayload(payload.SerializePartialToString(), error)
            elif factory.engine.has_work(account_id):
                factory.wake(account_id)
            return
        if kind in REQUEST_TYPES:
            error = request_error(payload)
            if error is not None:
                self.invalidPayload(payload.SerializePartialToString(), error)
                return
        if kind == seto_pb2.PAYLOAD_MARKET_SUBSCRIBE:
            factory.subscribe(session, payload.market_subscribe.market_id)
        elif kind == seto_pb2.PAYLOAD_MARKET_UNSUBSCRIBE:
            factory.unsubscribe(session, payload.market_unsubscribe.market_id)
        elif kind == seto_pb2.PAYLOAD_EVENT_SUBSCRIBE:
            self._eventSubscribe(session, payload.event_subscribe.event_id)
        elif kind == seto_pb2.PAYLOAD_EVENT_UNSUBSCRIBE:
            # A lookup under way for the event subscribes nothing when it comes.
            self._event_lookups.pop(payload.event_unsubscribe.event_id, None)
            for market_id in factory.engine.event_markets(payload.event_unsubscribe.event_id):
                factory.unsubscribe(session, market_id)
        else:
            _log.debug("ignoring {kind} from {session}", kind=seto_pb2.PayloadType.Name(kind), session=session)

    def _eventSubscribe(self, session: ServerSession, event_id: int) -> None:
        engine = self.factory.engine
        if not isinstance(engine, IEventLookup):
            for market_id in engine.event_markets(event_id):
                self.factory.subscribe(session, market_id)
            return
        looking = self._event_lookups[event_id] = engine.lookup_event_markets(event_id)
        looking.addCallbacks(
            lambda market_ids: self._eventFound(session, event_id, looking, market_ids),
            lambda failure: self._eventNotFound(event_id, looking, failure),
        )

    def _eventFound(self, session: ServerSession, event_id: int, looking: Deferred[list[int]], market_ids: list[int]) -> None:
        if self._event_lookups.get(event_id) is not looking:
            return  # unsubscribed meanwhile, or asked again (that answer subscribes)
        del self._event_lookups[event_id]
        if self.session is not session or session.protocol is not self or self._ended:
            return  # the client subscribes again when it resumes
        for market_id in market_ids:
            self.factory.subscribe(session, market_id)

    def _eventNotFound(self, event_id: int, looking: Deferred[list[int]], failure: Failure) -> None:
        if self._event_lookups.get(event_id) is looking:
            del self._event_lookups[event_id]
        _log.warn(
            "{session}: the markets of event {event} cannot be had ({error}): its subscription is not made",
            session=self.session, event=event_id, error=failure.getErrorMessage(),
        )  # fmt: skip

    def _throttled(self, payload: seto_pb2.Payload) -> None:
        if payload.type == seto_pb2.PAYLOAD_ORDER_CREATE and self.session is not None:
            # An order's answer, in the account stream like any other: numbered, kept in
            # the account's history, and so never lost with a connection.
            self.factory.engine.reject_order(
                self.session.account.id, payload, seto_pb2.ORDER_REJECTED_THROTTLE_EXCEEDED
            )
        else:
            self.sendPayload(eto_message(eto_pb2.PAYLOAD_THROTTLE_EXCEEDED))

    def logoutReceived(self, payload: seto_pb2.Payload) -> None:
        if self.session is not None:
            self.factory.end_session(self.session, failed=False)
        self._enter(_CLOSING)
        self.sendLogout(eto_pb2.LOGOUT_CONFIRMATION)
        self.disconnect()

    def peerSilent(self) -> None:
        _log.info("{session} silent; ending it", session=self.session)
        self._enter(_CLOSING)
        self.sendLogout(eto_pb2.LOGOUT_HEARTBEAT_TIMEOUT)
        if self.session is not None:
            self.factory.end_session(self.session, failed=True)
        self.disconnect()

    def invalidPayload(self, data: bytes, why: str) -> None:
        if self.awaitingLogin():
            # Not a streaming client at all, most likely (a TLS client on this plaintext
            # port, say): refused in the protocol's own words, which a TLS client reads as
            # bytes that are no TLS, and so can tell its user what is wrong.
            _log.warn(
                "invalid payload before login ({why}, {size} bytes): is the client speaking TLS to a plaintext port?",
                why=why,
                size=len(data),
            )
            self._refuse(eto_pb2.LOGOUT_UNAUTHORISED)
            return
        super().invalidPayload(data, why)
        self._enter(_CLOSING)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._stopLoginTimer()
        self._enter(_CLOSING)
        self._watch.cancel()
        super().connectionLost(reason)
        self.factory.connections.discard(self)
        if self.session is not None:
            self.factory.detach(self.session, self)
            # No longer a reader for the account's answers to wait for.
            self.factory.wake(self.session.account.id)
        self.closed.callback(None)


class SessionHost(Protocol):
    """What a connection needs of the server that made it (an `ExchangeServerFactory`):
    its settings, the engine, and the sessions it keeps."""

    clock: IReactorTime
    heartbeat_interval: float
    heartbeat_misses: int
    close_timeout: float
    login_timeout: float
    stall_timeout: float
    max_login_frame: int
    max_frame: int
    max_output_buffer: int
    #: Password checks at once (the rest queue).
    login_checks: DeferredSemaphore
    #: Connections not yet logged in.
    pending: int
    connections: set[ExchangeServerProtocol]
    sessions: dict[str, ServerSession]

    @property
    def engine(self) -> IExchangeEngine:
        """The engine behind the sessions."""

    def throttle_limits(self) -> seto_pb2.Payload:
        """The throttle_limits_changed announced at each login."""

    def new_session(self, account: ExchangeAccount) -> ServerSession:
        """A new session of ``account``."""

    def attach(self, session: ServerSession, protocol: ExchangeServerProtocol) -> None:
        """``protocol`` now serves ``session``."""

    def detach(self, session: ServerSession, protocol: ExchangeServerProtocol) -> None:
        """``protocol``'s connection is gone; ``session`` waits to be resumed."""

    def end_session(self, session: ServerSession, failed: bool) -> None:
        """``session`` is over (``failed``: without a logout)."""

    def wake(self, account_id: int) -> None:
        """Give the account's unfinished answers a turn, if they have any."""

    def subscribe(self, session: ServerSession, market_id: int) -> None:
        """Send ``session`` the market's data."""

    def unsubscribe(self, session: ServerSession, market_id: int) -> None:
        """Stop sending ``session`` the market's data."""
