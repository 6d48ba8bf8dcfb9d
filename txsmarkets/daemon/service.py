"""The daemon (what ``twistd smarkets`` runs): a tree of Twisted services.

`SmarketsService` logs in and stays logged in (reconnecting forever with capped backoff
unless ``settings.max_retries`` says otherwise), runs one `Strategy` through a
`StrategyHost`, keeps the session and the account in a state folder, and ends with an exit
status that says why (`EXIT_STATUSES`). Each part is a service of its own, in
`SERVICE_ORDER`: their start and stop order is the daemon's lifecycle.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.client import Session, SessionSettings, StreamingAPIClient
from txsmarkets.client.controls import Controls
from txsmarkets.daemon.bridged import BridgeInProcess
from txsmarkets.daemon.demo import EmbeddedExchange
from txsmarkets.daemon.exits import (
    EXIT_CONFIG,
    EXIT_GAVE_UP,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STATUSES,
    EXIT_STRATEGY,
)
from txsmarkets.daemon.figures import Figures
from txsmarkets.daemon.lifecycle import InOrder, StartError
from txsmarkets.daemon.paper import PaperExchange
from txsmarkets.daemon.session_service import SessionService, plaintext_peer, tls_verification_failed
from txsmarkets.daemon.status import StatusLine
from txsmarkets.daemon.storage import MarketRecording, StateFolder
from txsmarkets.persistence.recording import Recorder
from txsmarkets.persistence.state import StateDirectory
from txsmarkets.strategy import CallableStrategy, Strategy, StrategyError, StrategyHost, load_strategy
from txsmarkets.process import handle_signals, stop_on_signal, stop_reactor

if TYPE_CHECKING:
    from txsmarkets.bridge.engine import BridgeEngine
    from txsmarkets.exchange.paper import RunningPaper
    from txsmarkets.exchange.service import RunningExchange

__all__ = [
    "EXIT_CONFIG",
    "EXIT_GAVE_UP",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_STATUSES",
    "EXIT_STRATEGY",
    "SERVICE_ORDER",
    "SmarketsService",
    "exit_with_status",
    "install_signal_handlers",
    "plaintext_peer",
    "tls_verification_failed",
]

_log = Logger()

#: The names of the daemon's services, in the order they start (they stop in the reverse
#: order, one after another); those not asked for are left out.
SERVICE_ORDER = ("exchange", "metrics", "state", "recording", "session", "status", "strategy")


def exit_with_status(svc: SmarketsService) -> None:
    """Make the process exit with ``svc.exit_status`` once twistd is done.

    twistd itself always exits 0 after its reactor stops; this runs at interpreter exit,
    after twistd has stopped its logging and removed its pid file.
    """

    def leave() -> None:
        if svc.exit_status:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(svc.exit_status)

    atexit.register(leave)


def install_signal_handlers(reactor: IReactorCore, svc: SmarketsService) -> None:
    """From now on: SIGTERM and SIGINT stop the reactor (the service logs out, and the
    process exits 0, not "killed by a signal" as twistd would have it); SIGUSR1 halts
    trading (`Controls.halt`: every live order cancelled, no new creates) and SIGUSR2
    lifts the halt (`Controls.reset`). A signal that comes before the reactor runs is
    acted on once it does."""

    def halt(signum: int, frame: Any) -> None:
        IReactorFromThreads(reactor).callFromThread(svc.halt, "SIGUSR1 from the operator")

    def resume(signum: int, frame: Any) -> None:
        IReactorFromThreads(reactor).callFromThread(svc.resume_trading)

    svc.controls.halt_notices.resume_hint = f"kill -USR2 {os.getpid()} resumes trading"
    # From the start: the service listens for --metrics and --demo before the reactor runs.
    stop = stop_on_signal(reactor)
    handle_signals(reactor, {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGUSR1: halt, signal.SIGUSR2: resume})


class SmarketsService(InOrder):
    """Logs in, stays logged in (reconnecting and resuming), and runs a strategy: the
    daemon, as a tree of services whose start and stop order is its lifecycle.

    ``subscribe`` lists market ids to subscribe to; ``strategy`` is a `Strategy`, a
    ``module:name`` string (loaded once, see `load_strategy`) or a callable taking the
    client (called once). ``demo`` starts the embedded exchange in this process first and
    connects to it; ``http_api`` (a URL: ``https://api.smarkets.com/v3/``) runs a bridge to
    Smarkets' HTTP API in this process and connects to it in memory; ``paper`` (a URL, as
    ``http_api``) runs a paper exchange on the ``markets`` of that HTTP API in this process
    (their public prices polled, the orders kept here; ``paper_options`` go to its
    `PaperExchange`: ``interval`` ...) and trades on it in memory as the demo account. One
    of the three at most (ValueError). ``state_dir`` keeps
    the session, the account and a journal of every message on disk (and, with
    ``http_api``, the bridge's state in its ``bridge`` folder), so that a restart resumes
    the session with the account as it was;
    ``record_dir`` records the market data (with ``paper``, what the paper exchange polls,
    with the markets' ``catalogue.json``). A status line is logged every
    ``status_interval`` seconds; ``metrics`` serves its figures for Prometheus.

    ``cancel_on_exit`` cancels every live order at stop, waiting up to ``cancel_timeout``
    seconds for the cancels; ``cancel_on_disconnect`` asks the exchange, after each login,
    to cancel our orders if the session dies; ``stop_on_strategy_error`` stops (cancelling
    the orders, exit status 4) when a strategy hook raises. ``exit_status`` is what the
    process should exit with.

    Its children (`SERVICE_ORDER`), started in this order and stopped one after another
    in the reverse order: ``exchange`` (with ``demo``: `EmbeddedExchange`; with ``http_api``:
    `BridgeInProcess`; with ``paper``: `PaperExchange`), ``metrics``
    (`MetricsService`), ``state`` (`StateFolder`), ``recording`` (`MarketRecording`),
    ``session`` (`SessionService`), ``status`` (`StatusLine`) and ``strategy`` (the
    `StrategyHost`); those not asked for are left out. A part that cannot start ends the
    process with one line and its exit status (`end`).
    """

    def __init__(
        self,
        settings: SessionSettings,
        reactor: IReactorTime,
        *,
        subscribe: tuple[int, ...] = (),
        strategy: Strategy | str | Callable[[StreamingAPIClient], Any] | None = None,
        demo: bool = False,
        http_api: str | None = None,
        paper: str | None = None,
        markets: Sequence[int] = (),
        paper_options: Mapping[str, Any] | None = None,
        status_interval: float = 60.0,
        state_dir: str | None = None,
        record_dir: str | None = None,
        snapshot_interval: float = 30.0,
        journal_sync_interval: float = 1.0,
        cancel_on_exit: bool = False,
        cancel_on_disconnect: bool = False,
        stop_on_strategy_error: bool = False,
        cancel_timeout: float = 10.0,
        logout_timeout: float = 5.0,
        metrics: str | None = None,
        controls: Controls | None = None,
    ) -> None:
        super().__init__(self._start_failed)
        if isinstance(strategy, str):
            strategy = load_strategy(strategy)
        elif strategy is not None and not isinstance(strategy, Strategy):
            strategy = CallableStrategy(strategy)
        self.settings = settings
        self.reactor = reactor
        self.strategy: Strategy = strategy if strategy is not None else Strategy()
        self.stop_on_strategy_error = stop_on_strategy_error
        self.state_dir = state_dir
        self.record_dir = record_dir
        #: The trading controls every order passes (none set: only the kill switch).
        self.controls = controls if controls is not None else Controls()
        #: The status the process should exit with (see `EXIT_STATUSES`).
        self.exit_status = EXIT_OK
        self._ending = False
        if sum((demo, http_api is not None, paper is not None)) > 1:
            raise ValueError("demo, http_api and paper are each what the session trades on: give one at most")
        # What the session trades on in this process is made first: it may connect
        # through that service's endpoint.
        self.bridged: BridgeInProcess | None = None
        self.embedded: EmbeddedExchange | None = None
        exchange: BridgeInProcess | EmbeddedExchange | None = None
        if demo:
            exchange = self.embedded = EmbeddedExchange(settings, reactor)
        elif paper is not None:
            # The paper exchange records what it polls: the upstream's markets, without
            # this session's own orders in them, as a backtest should replay them.
            exchange = self.embedded = PaperExchange(settings, reactor, paper, markets, record_dir, **(paper_options or {}))
            record_dir = None
        elif http_api is not None:
            exchange = self.bridged = BridgeInProcess(reactor, http_api, state_dir)
            # The bridge cannot keep its fills exactly once without its state: stop.
            self.bridged.bridge.engine.on_state_lost = lambda why: self.end(EXIT_CONFIG, why)
        endpoint = exchange.endpoint() if exchange is not None else None
        self.session = Session(settings, reactor=reactor, endpoint=endpoint)
        self.client = client = StreamingAPIClient(self.session)
        client.controls = self.controls
        #: The figures of the status line and of ``--metrics``.
        self.figures = Figures()
        self.figures.watch(client)
        self.status = StatusLine(status_interval, client, self.figures, self.controls, reactor)
        # The children, in their start order.
        if exchange is not None:
            exchange.setServiceParent(self)
        if metrics is not None:
            from txsmarkets.daemon.metrics import MetricsService

            MetricsService(reactor, metrics, self).setServiceParent(self)
        self.state_folder: StateFolder | None = None
        if state_dir is not None:
            self.state_folder = StateFolder(
                state_dir, client, self.controls, reactor,
                snapshot_interval=snapshot_interval, sync_interval=journal_sync_interval,
                # The embedded and paper exchanges begin anew at each start: nothing kept is theirs.
                fresh=self.embedded is not None,
            )  # fmt: skip
            self.state_folder.setServiceParent(self)
        self.recording: MarketRecording | None = None
        if record_dir is not None:
            self.recording = MarketRecording(record_dir, client, reactor)
            self.recording.setServiceParent(self)
        self.session_service = SessionService(
            client, reactor, self.end,
            subscribe=subscribe, cancel_on_disconnect=cancel_on_disconnect, cancel_at_stop=cancel_on_exit,
            cancel_timeout=cancel_timeout, logout_timeout=logout_timeout,
        )  # fmt: skip
        self.session_service.setServiceParent(self)
        self.status.setServiceParent(self)
        # The strategy stops first: nothing of it runs once orders are being cancelled.
        self.host = StrategyHost(client, self.strategy, on_error=self._strategy_failed, stop_timeout=cancel_timeout)
        self.host.setServiceParent(self)

    # -- what the children hold, as the daemon's own --

    @property
    def exchange(self) -> RunningExchange | None:
        """The embedded exchange (``demo``) or the paper exchange (``paper``) once it runs,
        else None."""
        return self.embedded.exchange if self.embedded is not None else None

    @property
    def paper(self) -> RunningPaper | None:
        """The paper exchange (``paper``: its feed, its recording) once it runs, else None."""
        return self.embedded.paper if isinstance(self.embedded, PaperExchange) else None

    @property
    def state(self) -> StateDirectory | None:
        """The state folder while it is open, else None."""
        return self.state_folder.state if self.state_folder is not None else None

    @property
    def recorder(self) -> Recorder | None:
        """The market-data `Recorder` (``record_dir``) once started, else None."""
        return self.recording.recorder if self.recording is not None else None

    @property
    def last_rtt(self) -> float | None:
        """The round-trip time of the last ping, in seconds."""
        return self.status.last_rtt

    @property
    def bridge_engine(self) -> BridgeEngine | None:
        """With ``http_api``: the engine of the bridge in this process (its figures are in
        the metrics), else None."""
        return None if self.bridged is None else self.bridged.bridge.engine

    def log_status(self) -> None:
        """Log the status line now (see `StatusLine`)."""
        self.status.log_status()

    # -- ending --

    def _start_failed(self, failure: Failure) -> None:
        if failure.check(StartError):
            error = failure.value
            assert isinstance(error, StartError)
            self.end(error.status, error.message)
            return
        _log.failure("the daemon could not start", failure)
        self.end(EXIT_CONFIG, f"the daemon could not start: {failure.getErrorMessage()}")

    def _strategy_failed(self, error: StrategyError) -> None:
        if self.stop_on_strategy_error:
            self.session_service.cancel_at_stop = True
            self.end(EXIT_STRATEGY, str(error))

    def end(self, status: int, message: str) -> None:
        """Stop the daemon with exit ``status``, saying why in one line (once; not once
        its stop has begun)."""
        if self._ending:
            return
        self._ending = True
        self.exit_status = status
        _log.error("twistd smarkets: {message} (exit status {status})", message=message, status=status)
        stop_reactor(IReactorCore(self.reactor))

    def stopService(self) -> Deferred[None]:
        self._ending = True
        return super().stopService()

    # -- the operator's kill switch --

    def halt(self, reason: str) -> None:
        """Halt trading: cancel every live order and refuse new creates until
        `resume_trading` (the kill switch of the trading controls)."""
        self.controls.halt(reason)

    def resume_trading(self) -> None:
        """Lift a halt: creates pass the controls again."""
        if self.controls.halted is None:
            _log.info("asked to resume trading, which is not halted")
        self.controls.reset()
