"""The embedded exchange's side of the streaming session.

`ExchangeServerFactory` serves the Smarkets protocol on any listening endpoint: it logs
accounts in (refusing bad credentials, non-first-seq new sessions, unknown sessions and
late logins with the reference's logout reasons), keeps each session for resume within a
window, throttles, fans market data out to subscribers and hands orders to the
`MatchingEngine`.
"""

from __future__ import annotations

import uuid
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.framing import ULEB128StringReceiver
from txsmarkets.wire.messages import SETO_FIELDS, account_sequence, bad_text, eto_message, new_payload
from txsmarkets.session.protocol import SessionProtocolMixin
from txsmarkets.session.rules import EXCHANGE_RULES
from txsmarkets.session.sequencer import SequenceState, Verdict
from txsmarkets.session.throttle import TokenBucket

__all__ = ["ExchangeServerFactory", "ExchangeServerProtocol", "ServerSession"]

_log = Logger()

# Messages the engine answers; the rest are the session's business.
_ORDER_TYPES = frozenset(
    {
        seto_pb2.PAYLOAD_ORDER_CREATE,
        seto_pb2.PAYLOAD_ORDER_CANCEL,
        seto_pb2.PAYLOAD_ORDER_CANCEL_ALL,
        seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE,
        seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE,
        seto_pb2.PAYLOAD_SETTINGS,
    }
)


class ServerSession:
    """One logged-in session as the exchange holds it; it outlives its connection."""

    def __init__(self, session_id: str, account: Any, replay_capacity: int, throttle: TokenBucket) -> None:
        self.id = session_id
        self.account = account
        self.sequence = SequenceState(replay_capacity)
        self.protocol: ExchangeServerProtocol | None = None
        self.markets: set[int] = set()
        self.throttle = throttle
        self.expiry: IDelayedCall | None = None

    def __repr__(self) -> str:
        return f"<ServerSession {self.id} account={self.account.id} attached={self.protocol is not None}>"

    def deliver(self, payload: seto_pb2.Payload) -> None:
        """Send ``payload`` now, or keep it for the replay that a resume will ask for."""
        if self.protocol is not None:
            self.protocol.sendPayload(payload)
        else:
            self.sequence.stamp(payload)


class _OutputWatch:
    """A push producer registered on the transport, to know when the peer stops reading."""

    paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.paused = True


class ExchangeServerProtocol(SessionProtocolMixin, ULEB128StringReceiver):
    """One connection to the exchange."""

    factory: ExchangeServerFactory
    rules = EXCHANGE_RULES
    session: ServerSession | None = None
    _loginTimer: IDelayedCall | None = None
    _backlog = 0
    _ended = False
    _authenticating = False

    @property
    def loggedIn(self) -> bool:  # type: ignore[override]
        return self.session is not None

    def awaitingLogin(self) -> bool:
        return self.session is None and not self._ended

    def payloadBeforeLogin(self, payload: seto_pb2.Payload) -> None:
        """Anything but a login first: the session has not begun, the peer is refused."""
        self._refuse(eto_pb2.LOGOUT_UNAUTHORISED)

    def connectionMade(self) -> None:
        factory = self.factory
        self.clock = factory.clock
        self.sequence = SequenceState(1)
        self.heartbeatInterval = factory.heartbeat_interval
        self.heartbeatMisses = factory.heartbeat_misses
        self.closeTimeout = factory.close_timeout
        self.MAX_LENGTH = factory.max_frame
        #: Fires when this connection has closed.
        self.closed: Deferred[None] = Deferred()
        super().connectionMade()
        self._watch = _OutputWatch()
        self.transport.registerProducer(self._watch, True)
        self._loginTimer = self.clock.callLater(factory.login_timeout, self._loginTimedOut)
        factory.connections.add(self)

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
                    self._ended = True
                    self.transport.abortConnection()
                return
        else:
            self._backlog = 0
        super().sendString(string)

    # -- login ------------------------------------------------------------------------------

    def _loginTimedOut(self) -> None:
        self._loginTimer = None
        self._refuse(eto_pb2.LOGOUT_LOGIN_TIMEOUT)

    def _refuse(self, reason: int) -> None:
        """Refuse the login with ``reason`` and close."""
        _log.info("login refused: {reason}", reason=eto_pb2.LogoutReason.Name(reason))
        self._stopLoginTimer()
        self._ended = True
        self.sendLogout(reason)
        self.disconnect()

    def _stopLoginTimer(self) -> None:
        if self._loginTimer is not None and self._loginTimer.active():
            self._loginTimer.cancel()
        self._loginTimer = None

    def loginReceived(self, payload: seto_pb2.Payload) -> None:
        if self._ended:
            return
        if self.session is not None:
            _log.warn("second login on {session}; dropping the connection", session=self.session)
            self.disconnect()
            return
        if self._authenticating:
            _log.warn("login while a login is being checked; dropping the connection")
            self.disconnect()
            return
        accounts = self.factory.engine.accounts
        login = payload.login
        if login.HasField("cookie"):
            check, args = accounts.authenticate_token, (login.cookie,)
        else:
            check, args = accounts.authenticate, (login.username, login.password)
        pool = getattr(self.clock, "getThreadPool", None)
        if pool is None:
            # A test clock has no threads: check in line.
            self._authenticated(check(*args), payload)
            return
        # Password hashing takes tens of milliseconds: off the reactor thread, so that a
        # crowd of logins does not stall every session's heartbeats. Nothing more is read
        # from this connection until the answer is in.
        self._authenticating = True
        self.pauseProducing()
        d = deferToThreadPool(self.clock, pool(), check, *args)
        d.addCallback(self._authenticated, payload)
        d.addErrback(lambda failure: _log.failure("checking a login failed", failure) or self.disconnect())
        d.addBoth(self._authenticationDone)

    def _authenticationDone(self, result: object) -> None:
        self._authenticating = False
        if self.transport is not None and not self.transport.disconnecting and not self._ended:
            self.resumeProducing()

    def _authenticated(self, account: Any, payload: seto_pb2.Payload) -> None:
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
        assert session is not None  # payloadBeforeLogin took care of the rest
        kind = payload.type
        if kind == seto_pb2.PAYLOAD_ETO:
            return
        if not session.throttle.try_acquire():
            self._throttled(payload)
            return
        factory = self.factory
        if kind in _ORDER_TYPES:
            if bad_text(getattr(payload, SETO_FIELDS[kind])):
                # A label that is not UTF-8 could not be echoed back in any answer.
                self.invalidPayload(payload.SerializePartialToString(), "order text not UTF-8")
                return
            factory.engine.submit(session.account.id, payload)
        elif kind == seto_pb2.PAYLOAD_MARKET_SUBSCRIBE:
            factory.subscribe(session, payload.market_subscribe.market_id)
        elif kind == seto_pb2.PAYLOAD_MARKET_UNSUBSCRIBE:
            factory.unsubscribe(session, payload.market_unsubscribe.market_id)
        elif kind == seto_pb2.PAYLOAD_EVENT_SUBSCRIBE:
            for market_id in factory.engine.event_markets(payload.event_subscribe.event_id):
                factory.subscribe(session, market_id)
        elif kind == seto_pb2.PAYLOAD_EVENT_UNSUBSCRIBE:
            for market_id in factory.engine.event_markets(payload.event_unsubscribe.event_id):
                factory.unsubscribe(session, market_id)
        else:
            _log.debug("ignoring {kind} from {session}", kind=seto_pb2.PayloadType.Name(kind), session=session)

    def _throttled(self, payload: seto_pb2.Payload) -> None:
        if payload.type == seto_pb2.PAYLOAD_ORDER_CREATE:
            answer = new_payload(seto_pb2.PAYLOAD_ORDER_REJECTED)
            rejected = answer.order_rejected
            rejected.seq = payload.eto_payload.seq
            rejected.reason = seto_pb2.ORDER_REJECTED_THROTTLE_EXCEEDED
            create = payload.order_create
            if create.HasField("reference"):
                rejected.reference = create.reference
            if create.HasField("label"):
                rejected.label = create.label
            self.sendPayload(answer)
        else:
            self.sendPayload(eto_message(eto_pb2.PAYLOAD_THROTTLE_EXCEEDED))

    def logoutReceived(self, payload: seto_pb2.Payload) -> None:
        if self.session is not None:
            self.factory.end_session(self.session, failed=False)
        self._ended = True
        self.sendLogout(eto_pb2.LOGOUT_CONFIRMATION)
        self.disconnect()

    def peerSilent(self) -> None:
        _log.info("{session} silent; ending it", session=self.session)
        self._ended = True
        self.sendLogout(eto_pb2.LOGOUT_HEARTBEAT_TIMEOUT)
        if self.session is not None:
            self.factory.end_session(self.session, failed=True)
        self.disconnect()

    def invalidPayload(self, data: bytes, why: str) -> None:
        super().invalidPayload(data, why)
        self._ended = True

    def connectionLost(self, reason: Failure) -> None:
        self._stopLoginTimer()
        super().connectionLost(reason)
        self.factory.connections.discard(self)
        if self.session is not None:
            self.factory.detach(self.session, self)
        self.closed.callback(None)


class ExchangeServerFactory(ServerFactory):
    """Serves the streaming protocol for one `MatchingEngine`.

    ``resume_window`` is how long, in seconds, a session whose connection dropped may be
    resumed; ``max_output_buffer`` how many bytes may wait for a client that stopped
    reading before its connection is dropped.
    """

    protocol = ExchangeServerProtocol

    def __init__(
        self,
        engine: Any,
        clock: IReactorTime,
        *,
        heartbeat_interval: float = 30.0,
        heartbeat_misses: int = 3,
        login_timeout: float = 10.0,
        resume_window: float = 300.0,
        max_output_buffer: int = 8 * 1024 * 1024,
        max_frame: int = 1024 * 1024,
        replay_capacity: int = 100000,
        throttle_rate: int = 100000,
        throttle_burst: int = 100000,
        throttle_tick_ms: int = 1000,
        close_timeout: float = 5.0,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_misses = heartbeat_misses
        self.login_timeout = login_timeout
        self.resume_window = resume_window
        self.max_output_buffer = max_output_buffer
        self.max_frame = max_frame
        self.replay_capacity = replay_capacity
        self.throttle_rate = throttle_rate
        self.throttle_burst = throttle_burst
        self.throttle_tick_ms = throttle_tick_ms
        self.close_timeout = close_timeout
        self.sessions: dict[str, ServerSession] = {}
        self.connections: set[ExchangeServerProtocol] = set()
        self._by_account: dict[int, set[ServerSession]] = {}
        self._subscribers: dict[int, set[ServerSession]] = {}
        engine.on_account = self._account_message
        engine.on_market = self._market_message
        engine.market_watched = self._subscribers.__contains__

    def throttle_limits(self) -> seto_pb2.Payload:
        """The ``seto.throttle_limits_changed`` announced at each login."""
        payload = new_payload(seto_pb2.PAYLOAD_THROTTLE_LIMITS_CHANGED)
        limits = payload.throttle_limits_changed
        limits.average_rate_ps = self.throttle_rate
        limits.burst_size = self.throttle_burst
        limits.tick_ms = self.throttle_tick_ms
        return payload

    # -- sessions ---------------------------------------------------------------------------

    # -- session ids (issue 16) --
    def session_id(self) -> str:
        """The id of a new session: a random UUID. A backtest sets its own (a counter), so
        that its journal, which holds the login response, is the same on every run."""
        return str(uuid.uuid4())

    # -- end of session ids --

    def new_session(self, account: Any) -> ServerSession:
        throttle = TokenBucket(self.clock, float(self.throttle_rate), self.throttle_burst)
        session = ServerSession(self.session_id(), account, self.replay_capacity, throttle)
        self.sessions[session.id] = session
        self._by_account.setdefault(account.id, set()).add(session)
        return session

    def attach(self, session: ServerSession, protocol: ExchangeServerProtocol) -> None:
        if session.expiry is not None and session.expiry.active():
            session.expiry.cancel()
        session.expiry = None
        old = session.protocol
        if old is not None and old is not protocol:
            # The client came back on a new connection before we noticed the old one die.
            old.session = None
            old.disconnect()
        session.protocol = protocol

    def detach(self, session: ServerSession, protocol: ExchangeServerProtocol) -> None:
        if session.protocol is not protocol:
            return
        session.protocol = None
        if session.id not in self.sessions:
            return
        self.engine.session_failed(session.account.id)
        session.expiry = self.clock.callLater(self.resume_window, self.end_session, session, False)

    def end_session(self, session: ServerSession, failed: bool) -> None:
        """Forget ``session``: it can no longer be resumed."""
        if self.sessions.pop(session.id, None) is None:
            return
        if session.expiry is not None and session.expiry.active():
            session.expiry.cancel()
        session.expiry = None
        for market_id in list(session.markets):
            self.unsubscribe(session, market_id)
        mine = self._by_account.get(session.account.id)
        if mine is not None:
            mine.discard(session)
            if not mine:
                del self._by_account[session.account.id]
        if failed:
            self.engine.session_failed(session.account.id)

    # -- market data ------------------------------------------------------------------------

    def subscribe(self, session: ServerSession, market_id: int) -> None:
        snapshot = self.engine.market_quotes(market_id)
        if snapshot is None:
            _log.info("{session} asked for unknown market {market}", session=session, market=market_id)
            return
        session.markets.add(market_id)
        self._subscribers.setdefault(market_id, set()).add(session)
        session.deliver(snapshot)

    def unsubscribe(self, session: ServerSession, market_id: int) -> None:
        session.markets.discard(market_id)
        subscribers = self._subscribers.get(market_id)
        if subscribers is not None:
            subscribers.discard(session)
            if not subscribers:
                del self._subscribers[market_id]

    def _market_message(self, market_id: int, payload: seto_pb2.Payload) -> None:
        for session in self._subscribers.get(market_id, ()):
            # Market data is not kept for a detached session: it resubscribes on return.
            # One payload serves every session: stamping serialises it at once.
            if session.protocol is not None:
                session.protocol.sendPayload(payload)

    def _account_message(self, account_id: int, payload: seto_pb2.Payload) -> None:
        sessions = self._by_account.get(account_id)
        if not sessions:
            return
        for session in sessions:
            session.deliver(payload)
