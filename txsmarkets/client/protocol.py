"""The client's protocols: the session rules of `txsmarkets.session` on a string receiver,
logging in first and handing everything else to the `Session`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from txsmarkets.exceptions import LoginTimeout
from txsmarkets.client.settings import SessionSettings
from txsmarkets.session.protocol import SessionProtocolMixin
from txsmarkets.session.sequencer import SequenceState
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.framing import ULEB128StringReceiver

__all__ = ["ClientSessionMixin", "Int32SmarketsClientProtocol", "PROTOCOLS", "SessionPeer", "SmarketsClientProtocol"]

_log = Logger()

Route = Callable[[seto_pb2.Payload], None]


class SessionPeer(Protocol):
    """What a client protocol needs of its session (a `txsmarkets.client.session.Session`):
    the protocol reports its connection's events here and takes its settings from it."""

    settings: SessionSettings
    reactor: IReactorTime
    sequence: SequenceState

    @property
    def protocol(self) -> ClientSessionMixin | None:
        """The session's current connection's protocol, or None."""

    @property
    def direct_routes(self) -> Mapping[int, Route | None] | None:
        """Payload types that may go straight to a handler (see ``Session.route_to``)."""

    def connection_made(self, protocol: ClientSessionMixin) -> bool:
        """A connection is up; returns whether to log in on it."""

    def login_payload(self) -> seto_pb2.Payload:
        """The login to send on a new connection."""

    def login_timed_out(self) -> None:
        """No login response came in time; the connection is dropped next."""

    def login_response(self, payload: seto_pb2.Payload) -> None:
        """The exchange answered the login."""

    def login_completed(self, payload: seto_pb2.Payload) -> None:
        """The login response has reached the handlers."""

    def replay_served(self, first: int) -> None:
        """The peer asked us for a replay from ``first``."""

    def payload_received(self, payload: seto_pb2.Payload) -> None:
        """An in-order application payload."""

    def logout_received(self, reason: int) -> None:
        """The exchange sent a logout with ``reason``; the connection closes next."""

    def connection_lost(self, reason: Failure, protocol: ClientSessionMixin | None = None) -> None:
        """A connection closed (``protocol`` is the one it carried)."""


class ClientSessionMixin(SessionProtocolMixin):
    """The client's side of the session: log in first, then hand payloads to the Session."""

    session: SessionPeer
    loginTimeout: float = 30.0
    _loginTimer: IDelayedCall | None = None

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.session.settings.tcp_nodelay:
            try:
                self.transport.setTcpNoDelay(True)
            except (AttributeError, NotImplementedError):
                pass
        if not self.session.connection_made(self):
            return
        self._loginTimer = self.clock.callLater(self.loginTimeout, self._loginTimedOut)
        self.sendPayload(self.session.login_payload())

    def dataReceived(self, data: bytes) -> None:
        if self.session.protocol is not self:
            # A connection the session has let go of (disconnect(), or a successor): what
            # still arrives on it is not read, so that the session's seqs stay those of
            # what reached the handlers; the next connection's replay brings it.
            return
        super().dataReceived(data)

    def _loginTimedOut(self) -> None:
        self._loginTimer = None
        _log.warn("{error}; dropping the connection", error=LoginTimeout("no login response in time"))
        self.session.login_timed_out()
        self.transport.abortConnection()

    def awaitingLogin(self) -> bool:
        # Before the login is answered, the login timeout is the judge, not the heartbeats.
        return self._loginTimer is not None and self._loginTimer.active()

    def _cancelLoginTimer(self) -> None:
        if self._loginTimer is not None and self._loginTimer.active():
            self._loginTimer.cancel()
        self._loginTimer = None

    def loginResponseReceived(self, payload: Any) -> None:
        self._cancelLoginTimer()
        self.session.login_response(payload)

    def replayServed(self, first: int) -> None:
        self.session.replay_served(first)

    def loginCompleted(self, payload: Any) -> None:
        self.session.login_completed(payload)

    def payloadReceived(self, payload: Any) -> None:
        self.session.payload_received(payload)

    def directRoutes(self) -> Any:
        return self.session.direct_routes

    def logoutReceived(self, payload: Any) -> None:
        self.session.logout_received(payload.eto_payload.logout.reason)
        self.disconnect()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancelLoginTimer()
        super().connectionLost(reason)
        self.session.connection_lost(reason, self)


class SmarketsClientProtocol(ClientSessionMixin, ULEB128StringReceiver):
    """The client on the Smarkets wire: ULEB128 frames."""

    # A read's small frames are parsed in one go and go straight to the client.
    receivesFrames = True


class Int32SmarketsClientProtocol(ClientSessionMixin, Int32StringReceiver):
    """The client on Twisted's own `Int32StringReceiver` framing."""

    MAX_LENGTH = ULEB128StringReceiver.MAX_LENGTH


PROTOCOLS = {"uleb128": SmarketsClientProtocol, "int32": Int32SmarketsClientProtocol}
