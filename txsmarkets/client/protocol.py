"""The client's protocols: the session rules of `txsmarkets.session` on a string receiver,
logging in first and handing everything else to the `Session`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IDelayedCall
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from txsmarkets.exceptions import LoginTimeout
from txsmarkets.session.protocol import SessionProtocolMixin
from txsmarkets.wire.framing import ULEB128StringReceiver

if TYPE_CHECKING:
    from txsmarkets.client.session import Session

__all__ = ["ClientSessionMixin", "Int32SmarketsClientProtocol", "PROTOCOLS", "SmarketsClientProtocol"]

_log = Logger()


class ClientSessionMixin(SessionProtocolMixin):
    """The client's side of the session: log in first, then hand payloads to the Session."""

    session: Session
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
        self.session.on_replay_served(first)

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
