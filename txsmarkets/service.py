"""The streaming session as a long-lived Twisted service (what ``twistd smarkets`` runs)."""

from __future__ import annotations

import importlib
from typing import Any, Callable

from twisted.application import service
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from txsmarkets.client import Session, SessionSettings, StreamingAPIClient

__all__ = ["SmarketsService", "load_strategy"]

_log = Logger()

Strategy = Callable[[StreamingAPIClient], Any]


def load_strategy(spec: str) -> Strategy:
    """Import ``module:callable``; ValueError with a clear message when it cannot be had."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"a strategy is given as module:callable, not {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import the strategy module {module_name!r}: {e}") from None
    strategy = getattr(module, name, None)
    if not callable(strategy):
        raise ValueError(f"{module_name} has no callable {name!r}")
    return strategy  # type: ignore[no-any-return]


class SmarketsService(service.MultiService):
    """Logs in, stays logged in (reconnecting and resuming), and runs a strategy.

    ``subscribe`` lists market ids to subscribe to; ``strategy`` is called with the client
    after every login (a reconnect included). ``demo`` starts the embedded exchange in this
    process first and connects to it. A status line is logged every ``status_interval``
    seconds.
    """

    def __init__(
        self,
        settings: SessionSettings,
        reactor: Any,
        *,
        subscribe: tuple[int, ...] = (),
        strategy: Strategy | None = None,
        demo: bool = False,
        status_interval: float = 60.0,
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
        self._status = LoopingCall(self.log_status)
        self._status.clock = reactor
        self._counts = (0, 0)

    def startService(self) -> None:
        super().startService()
        Deferred.fromCoroutine(self._start()).addErrback(self._failed)

    async def _start(self) -> None:
        if self.demo:
            from txsmarkets.exchange.service import start_exchange

            self.exchange = await start_exchange(self.reactor)
            self.settings.host = "127.0.0.1"
            self.settings.port = self.exchange.port
            self.settings.ssl = False
            _log.info("embedded exchange listening on 127.0.0.1:{port}", port=self.exchange.port)
        self.session = Session(self.settings, reactor=self.reactor)
        self.client = StreamingAPIClient(self.session)
        self.client.add_handler("eto.login_response", self._logged_in)
        await self.client.login()
        self._status.start(self.status_interval, now=False)

    def _logged_in(self, message: Any) -> None:
        assert self.client is not None
        for market_id in self.subscribe:
            if market_id not in self.client.subscriptions:
                self.client.subscribe(market_id).addErrback(
                    lambda f, m=market_id: _log.warn("subscribing to {m} failed: {f.value}", m=m, f=f)
                )
        if self.strategy is not None:
            try:
                self.strategy(self.client)
            except Exception:
                _log.failure("the strategy raised")

    def _failed(self, failure: Any) -> None:
        _log.error("the session cannot go on: {error}", error=failure.getErrorMessage())
        if self.running:
            self.reactor.stop()

    def log_status(self) -> None:
        """Log one line: connection, session, seqs, messages a second, live orders."""
        session = self.session
        if session is None or self.client is None:
            return
        protocol = session.protocol
        sent, received = (protocol._sent, protocol._received) if protocol is not None else self._counts
        rate_in = (received - self._counts[1]) / self.status_interval
        rate_out = (sent - self._counts[0]) / self.status_interval
        self._counts = (sent, received)
        _log.info(
            "status: {state} session={session} inseq={inseq} outseq={outseq} "
            "in={rate_in:.1f}/s out={rate_out:.1f}/s live_orders={orders} balance={balance}",
            state="connected" if session.connected else "disconnected",
            session=session.session_id,
            inseq=session.sequence.inseq,
            outseq=session.sequence.outseq,
            rate_in=rate_in,
            rate_out=rate_out,
            orders=len(self.client.account.orders),
            balance=self.client.account.available_balance,
        )

    def stopService(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self._status.running:
            self._status.stop()
        if self.session is not None and self.session.connected:
            logout = self.session.logout()
            logout.addTimeout(5, self.reactor)
            try:
                await logout
            except Exception as e:
                _log.warn("logout did not complete: {e}", e=e)
        if self.session is not None:
            self.session.disconnect()
        if self.exchange is not None:
            await self.exchange.stop()
        await super().stopService()
