"""Where a session connects: the endpoint its settings name, TLS by default."""

from __future__ import annotations

import unicodedata
from typing import Any

# Twisted's own IDNA encoding (the idna package, else the standard library's), which
# HostnameEndpoint and the TLS options apply: check_host then refuses what they would.
from twisted.internet._idna import _idnaBytes
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator, IStreamClientEndpoint, IReactorTime

from txsmarkets.client.settings import SessionSettings
from txsmarkets.errors import Error

__all__ = ["check_host", "client_endpoint", "load_ca_file", "tls_options"]


def tls_options(settings: SessionSettings) -> IOpenSSLClientConnectionCreator:
    """TLS client options that verify the server's certificate and hostname.

    The system's trust store is used unless ``settings.ca_file`` names a PEM file of the
    certificate authority to trust instead. Raises `txsmarkets.errors.Error` when that
    file cannot be read or holds no PEM certificate (`load_ca_file`).
    """
    from twisted.internet import ssl

    trust = load_ca_file(settings.ca_file) if settings.ca_file else None
    return ssl.optionsForClientTLS(settings.host, trustRoot=trust)


def load_ca_file(path: str) -> Any:
    """The certificate (a `twisted.internet.ssl.Certificate`) in the PEM file ``path``:
    the certificate authority `tls_options` trusts. Raises `txsmarkets.errors.Error`, in
    one line naming the file, when it cannot be read or holds no PEM certificate."""
    from OpenSSL import crypto
    from twisted.internet import ssl

    try:
        with open(path, "rb") as pem:
            data = pem.read()
    except OSError as e:
        raise Error(f"cannot read the CA file {path!r}: {e.strerror or e}") from None
    try:
        return ssl.Certificate.loadPEM(data)
    except (crypto.Error, ValueError):
        # OpenSSL's reason ("no start line") says less than this.
        raise Error(f"the CA file {path!r} holds no PEM certificate") from None


def check_host(host: str) -> None:
    """Check that ``host`` can be connected to: an IP address, or a name that IDNA can
    encode, as `client_endpoint` and `tls_options` will encode it (an empty name, a space,
    an empty or overlong label cannot). Raises ValueError, in one line, if not."""
    if not host:
        raise ValueError("the host name is empty")
    # HostnameEndpoint takes the NFC form; an IPv6 address is not IDNA.
    text = unicodedata.normalize("NFC", host)
    if isIPAddress(text) or isIPv6Address(text):
        return
    try:
        _idnaBytes(text)
    except UnicodeError as e:
        raise ValueError(f"{host!r} is no host name or IP address: {e}") from None


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
