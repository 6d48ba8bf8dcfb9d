"""Connecting: the reconnecting factory that a `Session` drives, and its TLS options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from twisted.internet.interfaces import IReactorSSL, IReactorTCP
from twisted.internet.protocol import ReconnectingClientFactory
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.client.protocol import PROTOCOLS
from txsmarkets.client.settings import SessionSettings
from txsmarkets.errors import Error

if TYPE_CHECKING:
    from txsmarkets.client.protocol import ClientSessionMixin
    from txsmarkets.client.session import Session

__all__ = ["SmarketsClientFactory", "tls_options"]

_log = Logger()


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
    _at_once = False
    _before_reset: tuple[float, int] | None = None

    def __init__(self, session: Session) -> None:
        self.session = session
        self.reactor = session.reactor
        self.clock = session.reactor  # type: ignore[assignment]
        # Twisted infers these attributes' types from their defaults (int, None, Protocol).
        self.maxDelay = session.settings.reconnect_max_delay  # type: ignore[assignment]
        self.maxRetries = session.settings.max_retries  # type: ignore[assignment]
        self.protocol = PROTOCOLS[session.settings.framing]  # type: ignore[assignment]
        self.connector: Any = None

    def __repr__(self) -> str:
        return f"<SmarketsClientFactory for {self.session!r}>"

    def connect(self) -> Any:
        """Open the first connection; later ones follow by themselves."""
        settings = self.session.settings
        if settings.ssl:
            self.connector = cast(IReactorSSL, self.reactor).connectSSL(
                settings.host,
                settings.port,
                self,
                tls_options(settings),
                timeout=settings.socket_timeout,
                bindAddress=None,
            )
        else:
            self.connector = cast(IReactorTCP, self.reactor).connectTCP(
                settings.host, settings.port, self, timeout=settings.socket_timeout, bindAddress=None
            )
        return self.connector

    def buildProtocol(self, addr: Any) -> Any:
        settings = self.session.settings
        protocol = cast("type[ClientSessionMixin]", self.protocol)()
        protocol.factory = self  # type: ignore[attr-defined]
        protocol.session = self.session
        protocol.clock = self.reactor
        protocol.sequence = self.session.sequence
        protocol.heartbeatInterval = settings.heartbeat_interval
        protocol.heartbeatMisses = settings.heartbeat_misses
        protocol.loginTimeout = settings.socket_timeout
        return protocol

    def resetDelay(self) -> None:
        """Back to the initial delay (at a login); `continue_backoff` can undo it."""
        self._before_reset = (self.delay, self.retries)
        super().resetDelay()

    def continue_backoff(self) -> None:
        """Take the backoff up where the last `resetDelay` found it: the login it reset for
        was ended by the exchange at once, so it proved nothing."""
        if self._before_reset is not None:
            self.delay, self.retries = self._before_reset
            self._before_reset = None

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self.continueTrying:
            # Stopped on request (stopTrying() cancels an attempt under way): the session
            # asked for it and has nothing to learn from it.
            super().clientConnectionFailed(connector, reason)
            return
        _log.warn("connection to {host}:{port} failed: {why}", host=self.session.settings.host,
                  port=self.session.settings.port, why=reason.getErrorMessage())
        self.session.connection_failed(reason)
        super().clientConnectionFailed(connector, reason)

    def retry(self, connector: Any = None) -> None:
        """Connect again after the backoff; past ``maxRetries`` attempts the session fails."""
        if self.continueTrying and self.maxRetries is not None and self.retries >= self.maxRetries:
            self.stopTrying()
            self.session.gave_up(self.retries)
            return
        at_once, self._at_once = self._at_once, False
        if at_once:
            self.delay = 0.0
        super().retry(connector)
        if at_once:
            # Only the one attempt is made at once: should it fail, the backoff resumes.
            self.delay = self.initialDelay

    def retry_at_once(self) -> None:
        """Make the next attempt without a backoff (the exchange asked for a new session)."""
        self._at_once = True
