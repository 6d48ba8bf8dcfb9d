"""The embedded exchange's side of the streaming session.

`ExchangeServerFactory` serves the Smarkets protocol on any listening endpoint: it logs
accounts in (refusing bad credentials, non-first-seq new sessions, unknown sessions and
late logins with the reference's logout reasons), keeps each session for resume within a
window, throttles, fans market data out to subscribers and hands orders to the engine: any
`IExchangeEngine` (`txsmarkets.exchange.interfaces`), such as the `MatchingEngine`. Each
connection is an `ExchangeServerProtocol` (`txsmarkets.exchange.connection`), each session
a `ServerSession` (`txsmarkets.exchange.server_session`).
"""

from __future__ import annotations

import os
import uuid
from typing import Generic, TypeVar, cast

from twisted.internet.defer import DeferredSemaphore
from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.internet.protocol import Protocol, ServerFactory
from twisted.logger import Logger

from txsmarkets.exchange.connection import ConnectionPhase, ExchangeServerProtocol
from txsmarkets.exchange.interfaces import ExchangeAccount, IEncodedMarketData, IExchangeEngine
from txsmarkets.exchange.server_session import ServerSession
from txsmarkets.session.throttle import TokenBucket
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["DEFAULTS", "ConnectionPhase", "ExchangeServerFactory", "ExchangeServerProtocol", "ServerSession"]

_log = Logger()

#: The factory's limits unless told otherwise; see "Limits" in ``docs/guides/exchange.rst``.
#: Sized for a small host (2 cores, 24 GiB): ``max_connections`` connections each with a
#: full ``max_output_buffer`` is 16 GiB, ``max_pending`` logins each parking a
#: ``max_login_frame`` frame 32 MiB.
DEFAULTS: dict[str, int] = {
    "max_connections": 4096,
    "max_pending": 2048,
    "max_login_frame": 16 * 1024,
    "max_frame": 1024 * 1024,
    "max_output_buffer": 4 * 1024 * 1024,
    # Order entry as a retail venue allows it, not a load generator: 50 requests a second
    # on average, 100 at once, announced with a one-second tick.
    "throttle_rate": 50,
    "throttle_burst": 100,
    "throttle_tick_ms": 1000,
}


#: The engine behind a server.
EngineT = TypeVar("EngineT", bound=IExchangeEngine)


class ExchangeServerFactory(ServerFactory, Generic[EngineT]):
    """Serves the streaming protocol for one engine (an `IExchangeEngine`).

    ``resume_window`` is how long, in seconds, a session whose connection dropped may be
    resumed; ``max_output_buffer`` how many bytes may wait for a client that stopped
    reading before its connection is dropped.
    """

    protocol = ExchangeServerProtocol  # type: ignore[assignment]  # Factory's is generic

    def __init__(
        self,
        engine: EngineT,
        clock: IReactorTime,
        *,
        heartbeat_interval: float = 30.0,
        heartbeat_misses: int = 3,
        login_timeout: float = 10.0,
        resume_window: float = 300.0,
        max_output_buffer: int = DEFAULTS["max_output_buffer"],
        max_frame: int = DEFAULTS["max_frame"],
        max_login_frame: int = DEFAULTS["max_login_frame"],
        max_connections: int = DEFAULTS["max_connections"],
        max_pending: int = DEFAULTS["max_pending"],
        replay_capacity: int = 100000,
        throttle_rate: int = DEFAULTS["throttle_rate"],
        throttle_burst: int = DEFAULTS["throttle_burst"],
        throttle_tick_ms: int = DEFAULTS["throttle_tick_ms"],
        close_timeout: float = 5.0,
        login_threads: int | None = None,
        answer_chunk: int = 1000,
        stall_timeout: float | None = None,
        max_resumable_per_account: int = 8,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_misses = heartbeat_misses
        self.login_timeout = login_timeout
        self.resume_window = resume_window
        self.max_output_buffer = max_output_buffer
        self.max_frame = max_frame
        self.max_login_frame = max_login_frame
        self.max_connections = max_connections
        self.max_pending = max_pending
        self.replay_capacity = replay_capacity
        self.throttle_rate = throttle_rate
        self.throttle_burst = throttle_burst
        self.throttle_tick_ms = throttle_tick_ms
        self.close_timeout = close_timeout
        #: Password checks run at once in the reactor's thread pool (by default one fewer
        #: than the CPUs, at least one); the rest wait their turn, not against the timeout.
        self.login_threads = login_threads or max(1, (os.cpu_count() or 2) - 1)
        self.login_checks = DeferredSemaphore(self.login_threads)
        #: Sessions without a connection, waiting to be resumed, an account may hold; one more
        #: ends the oldest of them.
        self.max_resumable_per_account = max_resumable_per_account
        #: Messages of a large answer (an order_cancel_all) produced per turn of the reactor.
        self.answer_chunk = answer_chunk
        engine.answer_chunk = answer_chunk
        #: Seconds a connection's output may stay blocked before the peer is taken for
        #: one that stopped reading (by default the heartbeat timeout).
        self.stall_timeout = stall_timeout if stall_timeout is not None else heartbeat_interval * heartbeat_misses
        # Accounts whose unfinished answers have a turn of the reactor coming.
        self._working: dict[int, IDelayedCall] = {}
        #: Connections not yet logged in (awaiting their login or its check).
        self.pending = 0
        #: Connections refused at once for the caps, for the record.
        self.refused = 0
        self.sessions: dict[str, ServerSession] = {}
        self.connections: set[ExchangeServerProtocol] = set()
        # Per account, its sessions, oldest first.
        self._by_account: dict[int, dict[ServerSession, None]] = {}
        self._subscribers: dict[int, set[ServerSession]] = {}
        engine.on_account = self._account_message
        engine.on_market = self._market_message
        engine.market_watched = self._subscribers.__contains__
        if isinstance(engine, IEncodedMarketData):
            engine.on_market_encoded = self._market_encoded

    def buildProtocol(self, addr: IAddress | None) -> Protocol | None:
        """A protocol for a new connection, or None (Twisted closes it at once) when
        ``max_connections`` are open or ``max_pending`` have not logged in yet."""
        if len(self.connections) >= self.max_connections or self.pending >= self.max_pending:
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                _log.warn(
                    "refusing connections: {connections} open, {pending} not logged in "
                    "({refused} refused so far)",
                    connections=len(self.connections),
                    pending=self.pending,
                    refused=self.refused,
                )
            return None
        connection = cast(ExchangeServerProtocol, super().buildProtocol(addr))
        # Set by Twisted already, untyped: set again for the type checker to prove that
        # this factory is the `SessionHost` its connections take it for.
        connection.factory = self
        return connection

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

    def new_session(self, account: ExchangeAccount) -> ServerSession:
        """A new session of ``account``, kept until it ends."""
        throttle = TokenBucket(self.clock, float(self.throttle_rate), self.throttle_burst)
        session = ServerSession(self.session_id(), account, self.replay_capacity, throttle)
        mine = self._by_account.setdefault(account.id, {})
        self.sessions[session.id] = session
        mine[session] = None
        return session

    def attach(self, session: ServerSession, protocol: ExchangeServerProtocol) -> None:
        """``protocol`` now serves ``session`` (new or resumed)."""
        if session.expiry is not None and session.expiry.active():
            session.expiry.cancel()
        session.expiry = None
        old = session.protocol
        if old is not None and old is not protocol:
            # The client came back on a new connection before we noticed the old one die.
            old.replaced()
        session.protocol = protocol

    def detach(self, session: ServerSession, protocol: ExchangeServerProtocol) -> None:
        """``protocol``'s connection is gone: ``session`` waits to be resumed."""
        if session.protocol is not protocol:
            return
        session.protocol = None
        if session.id not in self.sessions:
            return
        self.engine.session_failed(session.account.id)
        session.expiry = self.clock.callLater(self.resume_window, self.end_session, session, False)
        waiting = [s for s in self._by_account.get(session.account.id, ()) if s.protocol is None]
        for oldest in waiting[: max(0, len(waiting) - self.max_resumable_per_account)]:
            _log.info(
                "{account} has {n} sessions waiting to be resumed: ending the oldest, {session}",
                account=session.account.username,
                n=len(waiting),
                session=oldest.id,
            )
            self.end_session(oldest, failed=False)

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
            mine.pop(session, None)
            if not mine:
                del self._by_account[session.account.id]
        if failed:
            self.engine.session_failed(session.account.id)

    # -- large answers ----------------------------------------------------------------------

    def wake(self, account_id: int) -> None:
        """Give the account's unfinished answers a turn of the reactor, if they have any."""
        if account_id in self._working or not self.engine.has_work(account_id):
            return
        self._working[account_id] = self.clock.callLater(0, self._produce, account_id)

    def _produce(self, account_id: int) -> None:
        # One chunk a turn, so that every other connection is served in between; none while
        # a connection of the account has a full buffer (it wakes us when it drains). A
        # detached session keeps them for replay, within its bounds.
        del self._working[account_id]
        for session in self._by_account.get(account_id, ()):
            protocol = session.protocol
            if protocol is not None and protocol.blocked:
                return
        if self.engine.continue_work(account_id):
            self.wake(account_id)

    def stop_producing(self) -> None:
        """Stop giving turns to unfinished answers (the exchange is stopping)."""
        for call in self._working.values():
            if call.active():
                call.cancel()
        self._working.clear()

    # -- market data ------------------------------------------------------------------------

    def subscribe(self, session: ServerSession, market_id: int) -> None:
        """Send ``session`` the market's data: its snapshot now, its changes as they come."""
        snapshot = self.engine.market_quotes(market_id)
        if snapshot is None:
            _log.info("{session} asked for unknown market {market}", session=session, market=market_id)
            return
        session.markets.add(market_id)
        self._subscribers.setdefault(market_id, set()).add(session)
        session.deliver(snapshot)

    def unsubscribe(self, session: ServerSession, market_id: int) -> None:
        """Stop sending ``session`` the market's data."""
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

    def _market_encoded(self, market_id: int, data: bytes) -> None:
        # `_market_message` for a payload serialised once: each session splices its seq in.
        for session in self._subscribers.get(market_id, ()):
            protocol = session.protocol
            if protocol is not None:
                protocol.sendEncoded(data)

    def _account_message(self, account_id: int, payload: seto_pb2.Payload) -> None:
        sessions = self._by_account.get(account_id)
        if not sessions:
            return
        shared = None
        for session in sessions:
            if session.protocol is None and shared is None:
                eto = payload.eto_payload
                seq, eto.seq = eto.seq, 0
                shared = (eto.type, payload.SerializeToString())
                eto.seq = seq
            session.deliver(payload, shared)
