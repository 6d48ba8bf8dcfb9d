"""The streaming session as a long-lived Twisted service (what ``twistd smarkets`` runs)."""

from __future__ import annotations

import importlib
import signal
from typing import Any, Callable

from twisted.application import service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from txsmarkets.client import Session, SessionSettings, StreamingAPIClient
from txsmarkets.persistence.state import StateDirectory

__all__ = ["SmarketsService", "load_strategy"]

_log = Logger()

Strategy = Callable[[StreamingAPIClient], Any]


def load_strategy(spec: str, reload: bool = False) -> Strategy:
    """Import ``module:callable`` (afresh when ``reload``); ValueError when it cannot be had."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"a strategy is given as module:callable, not {spec!r}")
    try:
        module = importlib.import_module(module_name)
        if reload:
            module = importlib.reload(module)
    except Exception as e:
        raise ValueError(f"cannot import the strategy module {module_name!r}: {e}") from None
    strategy = getattr(module, name, None)
    if not callable(strategy):
        raise ValueError(f"{module_name} has no callable {name!r}")
    return strategy  # type: ignore[no-any-return]


class SmarketsService(service.MultiService):
    """Logs in, stays logged in (reconnecting and resuming), and runs a strategy.

    ``subscribe`` lists market ids to subscribe to; ``strategy`` is called with the client
    after every login (a reconnect included); given as a ``module:callable`` string, its
    module is reloaded before each call after the first. ``demo`` starts the embedded
    exchange in this process first and connects to it. ``state_dir`` keeps the session and a
    journal of every message on disk, so that a restart resumes the session. A status line
    is logged every ``status_interval`` seconds.
    """

    def __init__(
        self,
        settings: SessionSettings,
        reactor: Any,
        *,
        subscribe: tuple[int, ...] = (),
        strategy: Strategy | str | None = None,
        demo: bool = False,
        status_interval: float = 60.0,
        state_dir: str | None = None,
        snapshot_interval: float = 30.0,
        journal_sync_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.reactor = reactor
        self.subscribe = subscribe
        self.strategy = strategy
        self.demo = demo
        self.status_interval = status_interval
        self.exchange: Any = None
        self.session: Session | None = None
        self.client: StreamingAPIClient | None = None
        self.state_dir = state_dir
        self.state: StateDirectory | None = None
        self.snapshot_interval = snapshot_interval
        self.journal_sync_interval = journal_sync_interval
        self._logins = 0
        self._loops: list[tuple[LoopingCall, float]] = []
        self._status = self._every(status_interval, self.log_status)
        self._counts = (0, 0)
        #: The round-trip time of the last ping, in seconds.
        self.last_rtt: float | None = None

    def _every(self, interval: float, f: Callable[[], Any]) -> LoopingCall:
        loop = LoopingCall(f)
        loop.clock = self.reactor
        self._loops.append((loop, interval))
        return loop

    def startService(self) -> None:
        super().startService()
        Deferred.fromCoroutine(self._start()).addErrback(self._failed)

    async def _start(self) -> None:
        if self.demo:
            from txsmarkets.exchange.service import start_exchange

            # The demo's market lives: simulated traders quote and take (issue 15).
            self.exchange = await start_exchange(self.reactor, simulate=True)
            self.settings.host = "127.0.0.1"
            self.settings.port = self.exchange.port
            self.settings.ssl = False
            _log.info("embedded exchange listening on 127.0.0.1:{port}", port=self.exchange.port)
        self.session = Session(self.settings, reactor=self.reactor)
        if self.state_dir is not None:
            self.state = StateDirectory(self.state_dir)
            self.state.restore(self.session)
            self.state.journal.on_rotate = lambda path: self._snapshot()
            self._every(self.snapshot_interval, self._snapshot)
            self._every(self.journal_sync_interval, self.state.journal.sync)
        self.client = StreamingAPIClient(self.session)
        self.client.logged_in += self._logged_in
        self.client.add_global_handler(self._count_fill)
        self._start_recording()  # issue 15
        await self.client.login()
        for loop, interval in self._loops:
            if not loop.running:
                loop.start(interval, now=False)

    def _snapshot(self) -> None:
        if self.state is not None and self.session is not None:
            self.state.save(self.session)

    def _logged_in(self, message: Any, resumed: bool) -> None:
        assert self.client is not None
        self._logins += 1
        self._snapshot()
        for market_id in self.subscribe:
            if market_id not in self.client.subscriptions:
                self.client.subscribe(market_id).addErrback(
                    lambda f, m=market_id: _log.warn("subscribing to {m} failed: {f.value}", m=m, f=f)
                )
        strategy = self.strategy
        if isinstance(strategy, str):
            try:
                strategy = load_strategy(strategy, reload=self._logins > 1)
            except ValueError as e:
                _log.error("cannot load the strategy: {e}", e=e)
                return
        if strategy is not None:
            try:
                strategy(self.client)
            except Exception:
                _log.failure("the strategy raised")

    # -- fills on the status line (issue 15) --

    #: Fills (order_executed messages) seen since the service started.
    fills = 0

    def _count_fill(self, name: str, message: Any) -> None:
        if name != "seto.order_executed":
            return
        fill = message.order_executed
        self.fills += 1
        _log.info(
            "fill: order {id} {quantity} at {price}% (fills={fills})",
            id=fill.order_id,
            quantity=fill.quantity / 10000,
            price=fill.price / 100,
            fills=self.fills,
        )

    # -- end of fills --

    # -- recording market data (issue 15) --

    #: The folder ``--record`` writes market data to, or None.
    record_dir: str | None = None
    #: The `txsmarkets.persistence.recording.Recorder` while recording (a child service).
    recorder: Any = None

    def _start_recording(self) -> None:
        if self.record_dir is None or self.client is None or self.recorder is not None:
            return
        from txsmarkets.persistence.recording import Recorder

        self.recorder = Recorder(self.record_dir, self.reactor)
        self.recorder.attach(self.client)
        self.recorder.setServiceParent(self)
        _log.info("recording market data in {dir}", dir=self.record_dir)

    # -- end of recording --

    def _failed(self, failure: Any) -> None:
        _log.error("the session cannot go on: {error}", error=failure.getErrorMessage())
        if self.running:
            self.reactor.stop()

    def log_status(self) -> None:
        """Log one line: connection, session, seqs, messages a second, ping, live orders.

        Each line also sends a ping, whose round trip the next line reports.
        """
        session = self.session
        if session is None or self.client is None:
            return
        if session.connected:
            self.client.ping().addCallbacks(self._pong, lambda failure: None)
        protocol = session.protocol
        sent, received = (protocol._sent, protocol._received) if protocol is not None else self._counts
        rate_in = (received - self._counts[1]) / self.status_interval
        rate_out = (sent - self._counts[0]) / self.status_interval
        self._counts = (sent, received)
        _log.info(
            "status: {state} session={session} inseq={inseq} outseq={outseq} "
            "in={rate_in:.1f}/s out={rate_out:.1f}/s rtt={rtt} live_orders={orders} balance={balance} "
            "fills={fills}",
            state="connected" if session.connected else "disconnected",
            session=session.session_id,
            inseq=session.sequence.inseq,
            outseq=session.sequence.outseq,
            rate_in=rate_in,
            rate_out=rate_out,
            rtt="-" if self.last_rtt is None else f"{self.last_rtt * 1000:.2f}ms",
            orders=len(self.client.account.orders),
            balance=self.client.account.available_balance,
            fills=self.fills,
        )

    def _pong(self, rtt: float) -> None:
        self.last_rtt = rtt

    def stopService(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        for loop, _ in self._loops:
            if loop.running:
                loop.stop()
        if self.session is not None and self.session.connected:
            logout = self.session.logout()
            logout.addTimeout(5, self.reactor)
            try:
                await logout
            except Exception as e:
                _log.warn("logout did not complete: {e}", e=e)
        if self.session is not None:
            self.session.disconnect()
            if self.state is not None:
                self._snapshot()
                self.state.close()
        if self.exchange is not None:
            await self.exchange.stop()
        await super().stopService()
        # twistd ends a process stopped by SIGTERM or SIGINT by raising the signal again, so
        # its status says "killed"; ours logged out and flushed its journal: a clean exit 0.
        if getattr(self.reactor, "_exitSignal", None) in (signal.SIGTERM, signal.SIGINT):
            self.reactor._exitSignal = None
