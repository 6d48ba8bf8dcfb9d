"""``--metrics ENDPOINT``: the status line's figures for Prometheus, over twisted.web.

Needs the optional ``prometheus_client`` (``pip install -e '.[metrics]'`` in a clone of the
repository). Served as `txsmarkets.metrics` serves any collector: the page is rendered in
the reactor thread, so it reads the daemon's figures without locks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from twisted.application import service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort, IReactorTime

from txsmarkets.client import Session, StreamingAPIClient
from txsmarkets.client.controls import Controls
from txsmarkets.daemon.exits import EXIT_CONFIG
from txsmarkets.bridge.engine import BridgeEngine
from txsmarkets.bridge.metrics import BridgeCollector
from txsmarkets.daemon.figures import Figures
from txsmarkets.daemon.lifecycle import StartError
from txsmarkets.metrics import MetricsPage, available, serve_metrics

__all__ = ["DaemonCollector", "DaemonFigures", "MetricsPage", "MetricsService", "available", "listen_metrics"]


class DaemonFigures(Protocol):
    """What the metrics are read from: a `txsmarkets.daemon.service.SmarketsService`."""

    @property
    def session(self) -> Session:
        """The daemon's session."""

    @property
    def client(self) -> StreamingAPIClient:
        """Its client, with the account."""

    @property
    def figures(self) -> Figures:
        """Fills, realised P&L, reconnects."""

    @property
    def controls(self) -> Controls:
        """The trading controls: refusals and halt."""

    @property
    def last_rtt(self) -> float | None:
        """The round trip of the last ping, in seconds."""

    @property
    def bridge_engine(self) -> BridgeEngine | None:
        """The bridge the daemon trades through in its process (``--http-api``), else None."""


class DaemonCollector:
    """A prometheus_client collector of one daemon's figures."""

    def __init__(self, svc: DaemonFigures) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        svc = self.svc
        session, account = svc.session, svc.client.account
        yield GaugeMetricFamily("txsmarkets_connected", "1 while logged in", value=int(session.connected))
        yield GaugeMetricFamily("txsmarkets_inseq", "The next seq expected from the exchange", value=session.sequence.inseq)
        yield GaugeMetricFamily("txsmarkets_outseq", "The next seq we send", value=session.sequence.outseq)
        yield GaugeMetricFamily("txsmarkets_live_orders", "Our live orders", value=len(account.orders))
        # Prometheus values are floats: the Decimal pounds are converted here only.
        if account.available_balance is not None:
            yield GaugeMetricFamily("txsmarkets_balance_pounds", "Available balance", value=float(account.available_balance))
        if account.exposure is not None:
            yield GaugeMetricFamily("txsmarkets_exposure_pounds", "Exposure", value=float(account.exposure))
        figures = svc.figures
        yield CounterMetricFamily("txsmarkets_fills", "Fills received since start", value=figures.fills)
        yield GaugeMetricFamily(
            "txsmarkets_realised_pnl_pounds", "Realised P&L since start", value=float(figures.realised_pnl)
        )
        yield CounterMetricFamily("txsmarkets_reconnects", "Logins after the first", value=figures.reconnects)
        controls = svc.controls
        yield GaugeMetricFamily("txsmarkets_halted", "1 while trading is halted (the reason is in the log)", value=int(controls.halted is not None))
        refused = CounterMetricFamily(
            "txsmarkets_orders_refused", "Creates and replaces the trading controls refused", labels=["control"]
        )
        for control, count in sorted(controls.refusals.items()):
            refused.add_metric([control], count)
        yield refused
        if svc.last_rtt is not None:
            yield GaugeMetricFamily("txsmarkets_rtt_seconds", "Round trip of the last ping", value=svc.last_rtt)
        if svc.bridge_engine is not None:
            # With --http-api: what polling costs, as twistd smarkets-bridge --metrics says it.
            yield from BridgeCollector(svc.bridge_engine).collect()


async def listen_metrics(reactor: IReactorTime, endpoint: str, svc: DaemonFigures) -> IListeningPort:
    """Serve ``svc``'s figures on ``endpoint`` (a Twisted server endpoint string)."""
    return await serve_metrics(reactor, endpoint, DaemonCollector(svc))


class MetricsService(service.Service):
    """Serves ``svc``'s figures on ``endpoint`` while it runs; a port that cannot be
    listened on is a `StartError` (exit status 1)."""

    def __init__(self, reactor: IReactorTime, endpoint: str, svc: DaemonFigures) -> None:
        self.setName("metrics")
        self.reactor = reactor
        self.endpoint = endpoint
        self.svc = svc
        self._port: IListeningPort | None = None

    def startService(self) -> Deferred[None]:
        """Listen; fires once listening."""
        super().startService()
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        try:
            self._port = await listen_metrics(self.reactor, self.endpoint, self.svc)
        except Exception as e:
            raise StartError(f"cannot serve metrics on {self.endpoint!r}: {e}", EXIT_CONFIG) from None

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return succeed(None) if self._port is None else maybeDeferred(self._port.stopListening).addCallback(lambda _: None)
