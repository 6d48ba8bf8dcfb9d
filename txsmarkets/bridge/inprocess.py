"""The bridge in this process: streaming clients joined to it in memory, with no socket.

`InProcessBridge` makes a bridge (`make_bridge`) and an endpoint (`endpoint`: a
`txsmarkets.inmemory.MemoryEndpoint`) that joins a client's protocol to the bridge's
server protocol in memory, as the backtests join a client to the embedded exchange, but on
a live reactor: what one side writes reaches the other on the reactor's next turn.
`connect_http` is `connect <txsmarkets.client.connect.connect>` through one: the same
logged-in `StreamingAPIClient`, trading on Smarkets' HTTP API with the bridge running in
the caller's process.
"""

from __future__ import annotations

import pathlib
import weakref
from collections.abc import Callable
from typing import Any, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore, IReactorTime, IStreamClientEndpoint
from twisted.python.failure import Failure

from txsmarkets.bridge.engine import BridgeEngine
from txsmarkets.bridge.service import RunningBridge, make_bridge
from txsmarkets.client import Session, SessionSettings, StreamingAPIClient
from txsmarkets.client.controls import Controls
from txsmarkets.inmemory import MemoryEndpoint

__all__ = ["InProcessBridge", "connect_http", "stop_http"]


class InProcessBridge:
    """A bridge to the HTTP API at ``upstream`` in this process (`make_bridge`: ``state_dir``
    keeps its accounts' state, ``options`` as there), reached through `endpoint`."""

    def __init__(
        self, reactor: IReactorTime, upstream: str, state_dir: str | pathlib.Path | None = None, **options: Any
    ) -> None:
        self.reactor = reactor
        self.factory = make_bridge(reactor, upstream, state_dir, **options)
        self._running = RunningBridge(self.factory)

    @property
    def engine(self) -> BridgeEngine:
        """The bridge's engine (its accounts, its market data)."""
        return self.factory.engine

    @property
    def stopped(self) -> bool:
        """True once `stop` was called: new connections are refused."""
        return self._running.stopped

    def endpoint(self) -> IStreamClientEndpoint:
        """An endpoint whose connections reach this bridge in memory (refused once it
        stopped): give it to a `Session`."""
        return MemoryEndpoint(self.reactor, self._running.accepting, "the in-process bridge has stopped")

    def connect(self, settings: SessionSettings, controls: Controls | None = None) -> Deferred[StreamingAPIClient]:
        """Log in to this bridge with ``settings`` (their username and password log in
        upstream; their host, port and TLS are not used); fires with the logged-in client
        or fails as `connect <txsmarkets.client.connect.connect>` does."""
        client = StreamingAPIClient(Session(settings, reactor=self.reactor, endpoint=self.endpoint()))
        if controls is not None:
            client.controls = controls
        return client.login().addCallback(lambda _: client)

    def stop(self) -> Deferred[None]:
        """Refuse new connections, drop every connection, stop polling and log out
        upstream (a `RunningBridge`'s stop)."""
        return self._running.stop()


#: The bridge of each client that `connect_http` made, for `stop_http`, and how to stop it.
_bridges: weakref.WeakKeyDictionary[StreamingAPIClient, Callable[[], Deferred[None]]] = weakref.WeakKeyDictionary()


def connect_http(
    settings: SessionSettings,
    url: str,
    reactor: IReactorTime | None = None,
    controls: Controls | None = None,
    state_dir: str | pathlib.Path | None = None,
    **options: Any,
) -> Deferred[StreamingAPIClient]:
    """`connect <txsmarkets.client.connect.connect>` to Smarkets' HTTP API at ``url``
    (``https://api.smarkets.com/v3/``) through a bridge running in this process
    (`InProcessBridge`; ``state_dir`` and ``options`` go to it); fires with the logged-in
    `StreamingAPIClient`, or fails as `connect` does. ``settings``' username and password
    log in upstream. The bridge runs until `stop_http` or the reactor's shutdown."""
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        reactor = cast(IReactorTime, default_reactor)
    bridge = InProcessBridge(reactor, url, state_dir, **options)
    core = IReactorCore(reactor, None)
    trigger = core.addSystemEventTrigger("before", "shutdown", bridge.stop) if core is not None else None

    def stop() -> Deferred[None]:
        # Stopped before the shutdown: the reactor need not keep it for then.
        if core is not None:
            core.removeSystemEventTrigger(trigger)
        return bridge.stop()

    def connected(client: StreamingAPIClient) -> StreamingAPIClient:
        _bridges[client] = stop
        return client

    def failed(failure: Failure) -> Deferred[StreamingAPIClient]:
        # Nobody else could stop it: the caller gets no client.
        return stop().addCallback(lambda _: failure)

    return bridge.connect(settings, controls).addCallbacks(connected, failed)


def stop_http(client: StreamingAPIClient) -> Deferred[None]:
    """Log ``client`` (of `connect_http`) out, then stop its bridge; fires once both are
    done, with the logout's outcome."""
    stop = _bridges.pop(client, None)
    d = client.logout()
    if stop is not None:
        d.addBoth(lambda outcome: stop().addCallback(lambda _: outcome))
    return d
