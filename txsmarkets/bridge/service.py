"""The bridge as a service: the exchange's streaming server in front of a `BridgeEngine`.

`make_bridge` makes the server factory; `start_bridge` starts one in this process (tests,
embedding) and `make_bridge_service` a twisted service for ``twistd smarkets-bridge``.
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Any

from twisted.application import service
from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from txsmarkets.bridge.engine import BridgeEngine
from txsmarkets.bridge.metrics import BridgeMetricsService
from txsmarkets.exchange.server import ExchangeServerFactory
from txsmarkets.exchange.service import ExchangeService, RunningServer, with_backlog

__all__ = ["DEFAULT_ENDPOINT", "UPSTREAM_THROTTLE", "BridgeService", "RunningBridge", "make_bridge", "make_bridge_service", "start_bridge"]

_log = Logger()

#: Where the bridge listens unless told: the streaming API's historic port, loopback only.
DEFAULT_ENDPOINT = "tcp:3701:interface=127.0.0.1"

_ENGINE_OPTIONS = ("poll_interval", "client_options", "market_data", "record")

#: The throttle each session is held to and that the bridge announces
#: (``throttle_limits_changed``) unless told otherwise: what the upstream allows for
#: orders, 10 requests a second (a cancel's documented limit; the create's is "per
#: account", reported as 10 a second), 10 at once.
UPSTREAM_THROTTLE = {"throttle_rate": 10, "throttle_burst": 10, "throttle_tick_ms": 1000}


def make_bridge(
    reactor: IReactorTime, upstream: str, state_dir: str | pathlib.Path | None = None, **options: Any
) -> ExchangeServerFactory[BridgeEngine]:
    """The streaming server of a bridge to the HTTP API at ``upstream``: ``state_dir`` (made
    if missing) keeps its accounts' state; ``poll_interval``, ``client_options``,
    ``market_data`` and ``record`` (a folder to record the polled market data in) go to
    the `BridgeEngine`, the other ``options`` to the
    `ExchangeServerFactory` (heartbeats, throttle: `UPSTREAM_THROTTLE` by default, ...)."""
    folder = None
    if state_dir is not None:
        folder = pathlib.Path(state_dir)
        folder.mkdir(parents=True, exist_ok=True)
    engine_options = {name: options.pop(name) for name in _ENGINE_OPTIONS if name in options}
    options = {**UPSTREAM_THROTTLE, **options}
    engine = BridgeEngine(reactor, upstream, folder, **engine_options)
    return ExchangeServerFactory(engine, reactor, **options)


@dataclass
class RunningBridge(RunningServer[BridgeEngine]):
    """A bridge running in this process (`start_bridge`; listening on no port: an
    `InProcessBridge <txsmarkets.bridge.inprocess.InProcessBridge>`'s). Its stop also stops
    polling and logs out upstream, once the connections are gone."""

    async def _stop_engine(self) -> None:
        await self.engine.stop()


async def _start(reactor: IReactorTime, upstream: str, endpoint: str, state_dir: Any, options: dict[str, Any]) -> RunningBridge:
    factory = make_bridge(reactor, upstream, state_dir, **options)
    listening = await endpoints.serverFromString(reactor, endpoint).listen(factory)
    return RunningBridge(factory, listening)


def start_bridge(
    reactor: IReactorTime,
    upstream: str,
    endpoint: str = "tcp:0:interface=127.0.0.1",
    state_dir: str | pathlib.Path | None = None,
    **options: Any,
) -> Deferred[RunningBridge]:
    """Start a bridge in this process (as `make_bridge`); fires with it once it listens.
    The default endpoint takes a free loopback port: read it from ``.port``."""
    return Deferred.fromCoroutine(_start(reactor, upstream, endpoint, state_dir, options))


class BridgeService(ExchangeService):
    """Serves a bridge on an endpoint (see `ExchangeService`), logs its status line
    (`BridgeEngine.status`) every ``status_interval`` seconds (None: never), serves its
    figures for Prometheus with ``metrics`` (a `BridgeMetricsService`, or None), and stops
    its engine (polls, upstream sessions) when stopped."""

    status_interval: float | None = None
    metrics: BridgeMetricsService | None = None
    _status: LoopingCall | None = None

    def startService(self) -> None:
        super().startService()
        if self.metrics is not None:
            # A metrics endpoint that cannot be listened on ends the process as the bridge's would.
            self.metrics.cannot_listen = lambda why: self.cannot_listen(why)
            self.metrics.startService()
        if self.status_interval:
            engine: BridgeEngine = self.factory.engine
            self._status = LoopingCall(lambda: _log.info("{status}", status=engine.status()))
            self._status.clock = self.reactor
            self._status.start(self.status_interval, now=False)

    def stopService(self) -> Deferred[None]:
        if self._status is not None and self._status.running:
            self._status.stop()
        stopped = super().stopService()
        metrics = self.metrics
        if metrics is not None and metrics.running:
            stopped.addBoth(lambda _: metrics.stopService())
        engine: BridgeEngine = self.factory.engine
        return stopped.addBoth(lambda _: engine.stop())


def make_bridge_service(
    reactor: IReactorTime,
    upstream: str,
    endpoint: str = DEFAULT_ENDPOINT,
    state_dir: str | None = None,
    status_interval: float | None = None,
    metrics: str | None = None,
    **options: Any,
) -> service.IService:
    """The service of ``twistd smarkets-bridge``, its status line every ``status_interval``
    seconds, its figures for Prometheus on the endpoint ``metrics`` (None: not served; needs
    prometheus_client); ValueError for an endpoint string that cannot be used."""
    factory = make_bridge(reactor, upstream, state_dir, **options)
    svc = BridgeService(reactor, endpoints.serverFromString(reactor, with_backlog(endpoint)), factory, endpoint)
    svc.status_interval = status_interval
    if metrics is not None:
        svc.metrics = BridgeMetricsService(reactor, metrics, factory.engine)
    return svc
