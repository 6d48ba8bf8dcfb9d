"""Where a session connects: the endpoint its settings name, TLS by default."""

from __future__ import annotations

from typing import Any

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IStreamClientEndpoint, IReactorTime

from txsmarkets.client.settings import SessionSettings
from txsmarkets.errors import Error

__all__ = ["client_endpoint", "tls_options"]


def tls_options(settings: SessionSettings) -> IOpenSSLClientConnectionCreator:
    """TLS client options that verify the server's certificate and hostname.

    The system's trust store is used unless ``settings.ca_file`` names a PEM file of the
    certificate authority to trust instead. Raises `txsmarkets.errors.Error` when that
    file cannot be read.
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


def client_endpoint(reactor: IReactorTime, settings: SessionSettings) -> IStreamClientEndpoint:
    """The endpoint of ``settings.host`` and ``port`` on ``reactor``: TLS (`tls_options`)
    over TCP, or plain TCP when ``settings.ssl`` is False. A host name is resolved (a
    `HostnameEndpoint`); an IP address is connected to as it is. The connection attempt
    times out after ``settings.socket_timeout`` seconds."""
    host, port, timeout = settings.host, settings.port, settings.socket_timeout
    tcp: IStreamClientEndpoint
    if isIPAddress(host):
        tcp = TCP4ClientEndpoint(reactor, host, port, timeout=timeout)
    elif isIPv6Address(host):
        tcp = TCP6ClientEndpoint(reactor, host, port, timeout=timeout)
    else:
        tcp = HostnameEndpoint(reactor, host, port, timeout=timeout)
    if not settings.ssl:
        return tcp
    return wrapClientTLS(tls_options(settings), tcp)
