"""Connecting: the client protocols, the reconnecting factory, and `connect`."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import ReconnectingClientFactory
from twisted.logger import Logger
from twisted.protocols.basic import Int32StringReceiver
from twisted.python.failure import Failure

from txsmarkets.client import Session, SessionSettings, StreamingAPIClient
from txsmarkets.errors import Error
from txsmarkets.exceptions import LoginTimeout
from txsmarkets.framing import ULEB128StringReceiver
from txsmarkets.protocol import SessionProtocolMixin

__all__ = [
    "Int32SmarketsClientProtocol",
    "SmarketsClientFactory",
    "SmarketsClientProtocol",
    "connect",
    "tls_options",
]

_log = Logger()


class _ClientSessionMixin(SessionProtocolMixin):
    """The client's side of the session: log in first, then hand payloads to the Session."""

    session: Session
    loginTimeout: float = 30.0
    _loginTimer: IDelayedCall | None = None

    def connectionMade(self) -> None:
        super().connectionMade()
        if self.session.settings.tcp_nodelay:
            try:
                self.transport.setTcpNoDelay(True)  # type: ignore[attr-defined]
            except (AttributeError, NotImplementedError):
                pass
        self.session.connection_made(self)
        self._loginTimer = self.clock.callLater(self.loginTimeout, self._loginTimedOut)
        self.sendPayload(self.session.login_payload())

    def _loginTimedOut(self) -> None:
        self._loginTimer = None
        _log.warn("{error}; dropping the connection", error=LoginTimeout("no login response in time"))
        self.transport.abortConnection()  # type: ignore[attr-defined]

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

    def connectionLost(self, reason: Failure) -> None:
        self._cancelLoginTimer()
        super().connectionLost(reason)
        self.session.connection_lost(reason, self)


class SmarketsClientProtocol(_ClientSessionMixin, ULEB128StringReceiver):
    """The client on the Smarkets wire: ULEB128 frames."""

    # A read's small frames are parsed in one go and go straight to the client.
    receivesFrames = True


class Int32SmarketsClientProtocol(_ClientSessionMixin, Int32StringReceiver):
    """The client on Twisted's own `Int32StringReceiver` framing."""

    MAX_LENGTH = ULEB128StringReceiver.MAX_LENGTH


PROTOCOLS = {"uleb128": SmarketsClientProtocol, "int32": Int32SmarketsClientProtocol}


def tls_options(settings: SessionSettings) -> Any:
    """TLS client options that verify the server's certificate and hostname.

    The system's trust store is used unless ``settings.ca_file`` names a PEM file of the
    certificate authority to trust instead.
    """
    from twisted.internet import ssl

    trust = None
    if settings.ca_file:
        try:
            with open(settings.ca_file, "rb") as pem:
                trust = ssl.Certificate.loadPEM(pem.read())
        except (OSError, ValueError) as e:
            raise Error(f"cannot read the CA file {settings.ca_file!r}: {e}") from None
    return ssl.optionsForClientTLS(settings.host, trustRoot=trust)


class SmarketsClientFactory(ReconnectingClientFactory):
    """Connects a `Session`, and reconnects it with backoff until it ends.

    Connects with ``reactor.connectSSL`` (or ``connectTCP`` when the settings ask for
    plaintext): a `ReconnectingClientFactory` reconnects only through a connector.
    """

    initialDelay = 0.5
    factor = 2.0
    jitter = 0.2

    def __init__(self, session: Session) -> None:
        self.session = session
        self.reactor = session.reactor
        self.clock = session.reactor
        self.maxDelay = session.settings.reconnect_max_delay
        self.protocol = PROTOCOLS[session.settings.framing]
        self.connector: Any = None

    def __repr__(self) -> str:
        return f"<SmarketsClientFactory for {self.session!r}>"

    def connect(self) -> Any:
        """Open the first connection; later ones follow by themselves."""
        settings = self.session.settings
        if settings.ssl:
            self.connector = self.reactor.connectSSL(
                settings.host, settings.port, self, tls_options(settings), timeout=settings.socket_timeout
            )
        else:
            self.connector = self.reactor.connectTCP(
                settings.host, settings.port, self, timeout=settings.socket_timeout
            )
        return self.connector

    def buildProtocol(self, addr: Any) -> Any:
        settings = self.session.settings
        protocol = self.protocol()
        protocol.factory = self
        protocol.session = self.session
        protocol.clock = self.reactor
        protocol.sequence = self.session.sequence
        protocol.heartbeatInterval = settings.heartbeat_interval
        protocol.heartbeatMisses = settings.heartbeat_misses
        protocol.loginTimeout = settings.socket_timeout
        return protocol

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        _log.warn("connection to {host}:{port} failed: {why}", host=self.session.settings.host,
                  port=self.session.settings.port, why=reason.getErrorMessage())
        self.session.connection_failed(reason)
        super().clientConnectionFailed(connector, reason)


def connect(settings: SessionSettings, reactor: Any = None) -> Deferred[StreamingAPIClient]:
    """Connect and log in; fires with the logged-in `StreamingAPIClient`.

    Errbacks with `LoginError` when the exchange refuses the login, or `ConnectionError`
    when the first connection cannot be made. Once logged in, the client reconnects and
    resumes the session by itself.
    """
    session = Session(settings, reactor=reactor)
    client = StreamingAPIClient(session)
    d = client.login()
    d.addCallback(lambda _: client)
    return d
