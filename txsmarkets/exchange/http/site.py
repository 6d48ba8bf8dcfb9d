"""The web site that serves the HTTP API, and what it needs to stop cleanly."""

from __future__ import annotations

from typing import Any, Mapping

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.web.server import Site

from txsmarkets.exchange.interfaces import IHttpEngine
from txsmarkets.exchange.http.ratelimits import Limit
from txsmarkets.exchange.http.routes import HttpApi
from txsmarkets.exchange.http.sessions import TOKEN_LIFETIME

__all__ = ["HttpSite", "make_http_site"]


class HttpSite(Site):
    """A `Site` for an `HttpApi` that keeps its connections, so that stopping the exchange
    can close them (clients keep HTTP connections open between requests)."""

    def __init__(self, api: HttpApi, **kwargs: Any) -> None:
        """Serve ``api``; ``kwargs`` go to `Site` (``reactor``, ``timeout``)."""
        super().__init__(api.resource(), **kwargs)
        self.api = api
        self.connections: set[Any] = set()
        # Access lines would be one a request: the exchange's log is for what matters.
        self.noisy = False

    def log(self, request: Any) -> None:
        pass

    def buildProtocol(self, addr: IAddress | None) -> Any:
        protocol = super().buildProtocol(addr)
        if protocol is None:
            return None
        connections = self.connections
        lost = protocol.connectionLost

        def connectionLost(reason: Any) -> None:
            connections.discard(protocol)
            lost(reason)

        protocol.connectionLost = connectionLost
        connections.add(protocol)
        return protocol

    def close_connections(self) -> None:
        """Drop every open connection."""
        for protocol in list(self.connections):
            # What buildProtocol gives is a proxy of the HTTP channel, with no transport of
            # its own: the channel has it.
            channel = getattr(protocol, "_channel", protocol)
            transport = getattr(channel, "transport", None)
            if transport is not None:
                transport.abortConnection()


def make_http_site(
    engine: IHttpEngine,
    clock: IReactorTime,
    *,
    rate_limits: Mapping[str, Limit | tuple[int, float] | None] | None = None,
    token_lifetime: float = TOKEN_LIFETIME,
) -> HttpSite:
    """A site serving the HTTP API v3 on ``engine`` (under ``/v3/``); see `HttpApi`."""
    api = HttpApi(engine, clock, rate_limits=rate_limits, token_lifetime=token_lifetime)
    return HttpSite(api, reactor=clock)
