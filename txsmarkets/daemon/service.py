"""The streaming session as a long-lived Twisted service (what ``twistd smarkets`` runs).

The service logs in and stays logged in (reconnecting forever with capped backoff unless
``settings.max_retries`` says otherwise), runs one `Strategy` through a `StrategyHost`,
keeps the session and the account in a state folder, and ends with an exit status that
says why (`EXIT_STATUSES`).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from typing import Any, Callable

from twisted.application import service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.task import LoopingCall, deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.client import Session, SessionSettings, SessionState, StreamingAPIClient
from txsmarkets.client.controls import Controls
from txsmarkets.exceptions import ConnectionError, LoginError, SessionClosed
from txsmarkets.persistence.state import StateDirectory
from txsmarkets.strategy import CallableStrategy, Strategy, StrategyError, StrategyHost, load_strategy
from txsmarkets.daemon.figures import Figures, to_the_penny
from txsmarkets.process import handle_signals, stop_on_signal, stop_reactor

__all__ = [
    "EXIT_CONFIG",
    "EXIT_GAVE_UP",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_STATUSES",
    "EXIT_STRATEGY",
    "SmarketsService",
    "exit_with_status",
    "plaintext_peer",
    "tls_verification_failed",
]

_log = Logger()

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_REFUSED = 2
EXIT_GAVE_UP = 3
EXIT_STRATEGY = 4

#: The exit statuses of ``twistd smarkets``, as the daemon guide and ``--help`` give them.
EXIT_STATUSES = (
    (EXIT_OK, "stopped by the operator (SIGTERM/SIGINT) after a clean logout"),
    (EXIT_CONFIG, "bad configuration or state before connecting (options, config file, state folder, CA file)"),
    (EXIT_REFUSED, "refused for good (UNAUTHORISED, LOGIN_NOT_FIRST_SEQ, UNVERIFIED, TLS verification failure, a plaintext exchange without --no-tls)"),
    (EXIT_GAVE_UP, "gave up reconnecting (--max-retries)"),
    (EXIT_STRATEGY, "the strategy failed, with --stop-on-strategy-error"),
)


def tls_verification_failed(reason: Failure) -> str | None:
    """What is wrong, if ``reason`` (a connection's end) is a failed TLS verification: a
    certificate no trusted authority signed, or one for another host name. Else None."""
    from OpenSSL import SSL
    from service_identity.exceptions import VerificationError

    if reason.check(SSL.Error) and "certificate verify failed" in str(reason.value):
        return "TLS verification failed: the exchange's certificate is not signed by a trusted CA (certificate verify failed)"
    if reason.check(VerificationError):
        return f"TLS verification failed: the exchange's certificate is for another host name ({reason.value})"
    return None


#: What OpenSSL says of a peer's first bytes when they are no TLS record at all.
_NOT_TLS = ("wrong version number", "packet length too long", "http request", "unknown protocol")


def plaintext_peer(reason: Failure) -> bool:
    """Whether ``reason`` (a connection's end) says the peer answered the TLS handshake
    with bytes that are no TLS: a plaintext server (the embedded exchange answers a TLS
    client with its protocol's logout)."""
    from OpenSSL import SSL

    return bool(reason.check(SSL.Error)) and any(words in str(reason.value) for words in _NOT_TLS)


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


def install_signal_handlers(reactor: Any, svc: SmarketsService) -> None:
    """From now on: SIGTERM and SIGINT stop the reactor (the service logs out, and the
    process exits 0, not "killed by a signal" as twistd would have it); SIGUSR1 halts
    trading (`Controls.halt`: every live order cancelled, no new creates) and SIGUSR2
    lifts the halt (`Controls.reset`). A signal that comes before the reactor runs is
    acted on once it does."""

    def halt(signum: int, frame: Any) -> None:
        reactor.callFromThread(svc.halt, "SIGUSR1 from the operator")

    def resume(signum: int, frame: Any) -> None:
        reactor.callFromThread(svc.resume_trading)

    svc.controls.halt_notices.resume_hint = f"kill -USR2 {os.getpid()} resumes trading"
    # From the start: the service listens for --metrics and --demo before the reactor runs.
    stop = stop_on_signal(reactor)
    handle_signals(reactor, {signal.SIGTERM: stop, signal.SIGINT: stop, signal.SIGUSR1: halt, signal.SIGUSR2: resume})


class SmarketsService(service.MultiService):
    """Logs in, stays logged in (reconnecting and resuming), and runs a strategy.

    ``subscribe`` lists market ids to subscribe to; ``strategy`` is a `Strategy`, a
    ``module:name`` string (loaded once, see `load_strategy`) or a callable taking the
    client (called once). ``demo`` starts the embedded exchange in this process first and
    connects to it. ``state_dir`` keeps the session, the account and a journal of every
    message on disk, so that a restart resumes the session with the account as it was.
    A status line is logged every ``status_interval`` seconds.

    ``cancel_on_exit`` cancels every live order at stop, waiting up to ``cancel_timeout``
    seconds for the cancels; ``cancel_on_disconnect`` asks the exchange, after each login,
    to cancel our orders if the session dies; ``stop_on_strategy_error`` stops (cancelling
    the orders, exit status 4) when a strategy hook raises. ``exit_status`` is what the
    process should exit with.
    """

    def __init__(
        self,
        settings: SessionSettings,
        reactor: Any,
        *,
        subscribe: tuple[int, ...] = (),
        strategy: Strategy | str | Callable[[StreamingAPIClient], Any] | None = None,
        demo: bool = False,
        status_interval: float = 60.0,
        state_dir: str | None = None,
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
        super().__init__()
        if status_interval <= 0:
            raise ValueError(f"status_interval must be positive, not {status_interval!r}")
        self.settings = settings
        self.reactor = reactor
        self.subscribe = subscribe
        if isinstance(strategy, str):
            strategy = load_strategy(strategy)
        elif strategy is not None and not isinstance(strategy, Strategy):
            strategy = CallableStrategy(strategy)
        self.strategy: Strategy = strategy if strategy is not None else Strategy()
        self.demo = demo
        self.status_interval = status_interval
        self.cancel_on_exit = cancel_on_exit
        self.cancel_on_disconnect = cancel_on_disconnect
        self.stop_on_strategy_error = stop_on_strategy_error
        self.cancel_timeout = cancel_timeout
        self.logout_timeout = logout_timeout
        self.metrics = metrics
        #: The trading controls every order passes (none set: only the kill switch).
        self.controls = controls if controls is not None else Controls()
        self._metrics_port: Any = None
        self.exchange: Any = None
        self.session: Session | None = None
        self.client: StreamingAPIClient | None = None
        self.host: StrategyHost | None = None
        self.state_dir = state_dir
        self.state: StateDirectory | None = None
        self.snapshot_interval = snapshot_interval
        self.journal_sync_interval = journal_sync_interval
        #: The status the process should exit with (see `EXIT_STATUSES`).
        self.exit_status = EXIT_OK
        self._ending = False
        self._cancel_at_stop = cancel_on_exit
        self._waiting_for_login = False
        self._loops: list[tuple[LoopingCall, float]] = []
        self._status = self._every(status_interval, self.log_status)
        self._starting: Deferred[None] = succeed(None)
        self._counts = (0, 0)
        #: The round-trip time of the last ping, in seconds.
        self.last_rtt: float | None = None
        #: The figures of the status line and of ``--metrics``.
        self.figures = Figures()

    def _every(self, interval: float, f: Callable[[], Any]) -> LoopingCall:
        loop = LoopingCall(f)
        loop.clock = self.reactor
        self._loops.append((loop, interval))
        return loop

    def startService(self) -> None:
        super().startService()
        # Kept, so that a stop that comes while the start is under way waits for it.
        self._starting = Deferred.fromCoroutine(self._start()).addErrback(self._start_failed)

    async def _start(self) -> None:
        if self.demo:
            from txsmarkets.exchange.service import start_exchange

            # The demo's market lives: simulated traders quote and take (issue 15).
            self.exchange = await start_exchange(self.reactor, simulate=True)
            if self._ending:
                return
            self.settings.host = "127.0.0.1"
            self.settings.port = self.exchange.port
            self.settings.ssl = False
            _log.info("embedded exchange listening on 127.0.0.1:{port}", port=self.exchange.port)
        if self.metrics is not None:
            from txsmarkets.daemon.metrics import listen_metrics

            try:
                self._metrics_port = await listen_metrics(self.reactor, self.metrics, self)
            except Exception as e:
                self.end(EXIT_CONFIG, f"cannot serve metrics on {self.metrics!r}: {e}")
                return
            if self._ending:
                return
        session = self.session = Session(self.settings, reactor=self.reactor)
        client = self.client = StreamingAPIClient(session)
        client.controls = self.controls
        if self.state_dir is not None:
            try:
                state = StateDirectory(self.state_dir)
            except OSError as e:
                self.end(EXIT_CONFIG, f"cannot use the state folder {self.state_dir!r}: {e.strerror or e}")
                return
            try:
                state.restore(session, client.account, self.controls)
            except (OSError, ValueError) as e:
                # Not kept: the stop would save this process's empty session over it.
                state.close()
                why = str(e) if isinstance(e, ValueError) else f"cannot use the state folder {self.state_dir!r}: {e.strerror or e}"
                self.end(EXIT_CONFIG, why)
                return
            self.state = state
            # The restored live orders count against the trading controls' limits.
            self.controls.adopt(client.account.orders.values())
            self.state.journal.on_rotate = lambda path: self._snapshot()
            self._every(self.snapshot_interval, self._snapshot)
            self._every(self.journal_sync_interval, self.state.journal.sync)
        self.figures.watch(client)
        self.host = StrategyHost(client, self.strategy, before_login=self._logged_in, on_error=self._strategy_failed)
        self.host.attach()
        try:
            self._start_recording()
        except OSError as e:
            self.end(EXIT_CONFIG, f"cannot record in {self.record_dir!r}: {e.strerror or e}")
            return
        # The client's observer runs first, then the host's, then ours.
        def disconnected(reason: Failure) -> None:
            tls = tls_verification_failed(reason)
            if tls is None and plaintext_peer(reason):
                tls = f"{self.settings.host}:{self.settings.port} does not speak TLS; --no-tls is for a local exchange"
            if tls is not None:
                self.end(EXIT_REFUSED, tls)

        session.on_disconnect.add(disconnected)
        session.on_state.add(lambda old, new: self._state_changed(new))
        for loop, interval in self._loops:
            if not loop.running:
                loop.start(interval, now=False)
        self._wait_for_login()

    def _wait_for_login(self) -> None:
        # A failure for good errbacks whoever waits for a login: the daemon always does,
        # so that it hears why.
        if self._waiting_for_login or self.session is None or self._ending:
            return
        self._waiting_for_login = True
        self.session.connect().addCallbacks(self._login_done, self._session_failed)

    def _login_done(self, _: Any) -> None:
        self._waiting_for_login = False

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

    def _state_changed(self, new: SessionState) -> None:
        if new is SessionState.WAITING_TO_RETRY:
            self._wait_for_login()
        elif new is SessionState.FAILED and not self._waiting_for_login:
            # Refused for good while logged in (an eto.logout with a fatal reason): nobody
            # waited for a login to hear why; the session has logged the reason.
            self.reactor.callLater(0, self.end, EXIT_REFUSED, "the exchange ended the session for good")

    def _session_failed(self, failure: Failure) -> None:
        self._waiting_for_login = False
        if failure.check(SessionClosed) or self._ending:
            return
        if failure.check(LoginError):
            self.end(EXIT_REFUSED, failure.getErrorMessage())
        elif failure.check(ConnectionError):
            self.end(EXIT_GAVE_UP, failure.getErrorMessage())
        else:
            self.end(EXIT_GAVE_UP, f"the session cannot go on: {failure.getErrorMessage()}")

    def _start_failed(self, failure: Failure) -> None:
        _log.failure("the daemon could not start", failure)
        self.end(EXIT_CONFIG, f"the daemon could not start: {failure.getErrorMessage()}")

    def _strategy_failed(self, error: StrategyError) -> None:
        if self.stop_on_strategy_error:
            self._cancel_at_stop = True
            self.end(EXIT_STRATEGY, str(error))

    def end(self, status: int, message: str) -> None:
        """Stop the daemon with exit ``status``, saying why in one line (once)."""
        if self._ending:
            return
        self._ending = True
        self.exit_status = status
        _log.error("twistd smarkets: {message} (exit status {status})", message=message, status=status)
        stop_reactor(self.reactor)

    def _snapshot(self) -> None:
        if self.state is not None and self.session is not None and self.client is not None:
            self.state.save(self.session, self.client.account, self.controls)

    def _logged_in(self, resumed: bool) -> None:
        client = self.client
        assert client is not None
        self._snapshot()
        if self.cancel_on_disconnect:
            client.settings(cancel_all_on_failure=True).addErrback(
                lambda f: _log.warn("cancel_all_on_failure not set: {e}", e=f.getErrorMessage())
            )
        for market_id in self.subscribe:
            if market_id not in client.subscriptions:
                client.subscribe(market_id).addErrback(self._subscribe_failed, market_id)

    @staticmethod
    def _subscribe_failed(failure: Failure, market_id: int) -> None:
        _log.warn("subscribing to {market} failed: {error}", market=market_id, error=failure.getErrorMessage())

    def log_status(self) -> None:
        """Log one line: connection, session, seqs, messages a second, ping, live orders,
        balance, exposure, fills, realised P&L and reconnects.

        Each line also sends a ping, whose round trip the next line reports.
        """
        session = self.session
        client = self.client
        if session is None or client is None:
            return
        if session.connected:
            client.ping().addCallbacks(self._pong, lambda failure: None)
        protocol = session.protocol
        sent, received = (protocol.messagesSent, protocol.messagesReceived) if protocol is not None else self._counts
        rate_in = (received - self._counts[1]) / self.status_interval
        rate_out = (sent - self._counts[0]) / self.status_interval
        self._counts = (sent, received)
        figures = self.figures
        _log.info(
            "status: {state} session={session} inseq={inseq} outseq={outseq} "
            "in={rate_in:.1f}/s out={rate_out:.1f}/s rtt={rtt} live_orders={orders} balance={balance} "
            "exposure={exposure} fills={fills} realised_pnl={pnl} reconnects={reconnects} "
            "refused={refused} halted={halted}",
            state="connected" if session.connected else "disconnected",
            session=session.session_id,
            inseq=session.sequence.inseq,
            outseq=session.sequence.outseq,
            rate_in=rate_in,
            rate_out=rate_out,
            rtt="-" if self.last_rtt is None else f"{self.last_rtt * 1000:.2f}ms",
            orders=len(client.account.orders),
            balance=to_the_penny(client.account.available_balance),
            exposure=to_the_penny(client.account.exposure),
            fills=figures.fills,
            pnl=to_the_penny(figures.realised_pnl),
            reconnects=figures.reconnects,
            refused=sum(self.controls.refusals.values()),
            halted=self.controls.halted or "no",
        )

    def halt(self, reason: str) -> None:
        """Halt trading: cancel every live order and refuse new creates until
        `resume_trading` (the kill switch of the trading controls)."""
        self.controls.halt(reason)

    def resume_trading(self) -> None:
        """Lift a halt: creates pass the controls again."""
        if self.controls.halted is None:
            _log.info("asked to resume trading, which is not halted")
        self.controls.reset()

    def _pong(self, rtt: float) -> None:
        self.last_rtt = rtt

    def stopService(self) -> Deferred[None]:
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        self._ending = True
        # What the start has begun, the stop undoes: it waits for the start to get that far.
        await self._starting
        for loop, _ in self._loops:
            if loop.running:
                loop.stop()
        client, session = self.client, self.session
        if self.host is not None:
            # The strategy stops first: nothing of it runs once orders are being cancelled.
            stopped = self.host.stop()
            stopped.addTimeout(self.cancel_timeout, self.reactor)
            try:
                await stopped
            except Exception as e:
                _log.warn("the strategy did not stop in time: {e}", e=e)
        if client is not None:
            client.refuse_orders("the daemon is stopping: no new orders")
            if self._cancel_at_stop and session is not None and session.connected:
                await self._cancel_everything(client)
        if session is not None and session.connected:
            logout = session.logout()
            logout.addTimeout(self.logout_timeout, self.reactor)
            try:
                await logout
            except Exception as e:
                _log.warn("logout did not complete: {e}", e=e)
        if session is not None:
            session.disconnect()
            if self.state is not None:
                self._snapshot()
                self.state.close()
        if self.exchange is not None:
            await self.exchange.stop()
        if self._metrics_port is not None:
            await self._metrics_port.stopListening()
        await super().stopService()

    async def _cancel_everything(self, client: StreamingAPIClient) -> None:
        """Cancel every live order and wait for each ``order_cancelled``, within
        ``cancel_timeout`` seconds; orders accepted meanwhile are cancelled too."""
        deadline = self.reactor.seconds() + self.cancel_timeout
        asked: set[int] = set()
        while client.account.orders and client.session.connected:
            left = deadline - self.reactor.seconds()
            if left <= 0:
                break
            todo = [order_id for order_id in client.account.orders if order_id not in asked]
            if not todo:
                # Cancels sent, answers not yet in: look again shortly.
                await deferLater(self.reactor, min(0.05, left))
                continue
            asked.update(todo)
            _log.info("cancelling {n} live orders", n=len(todo))
            cancels = DeferredList([client.cancel_order(order_id) for order_id in todo], consumeErrors=True)
            cancels.addTimeout(left, self.reactor)
            try:
                await cancels
            except Exception:
                break
        if client.account.orders:
            _log.warn(
                "{n} orders still live at logout: {ids}",
                n=len(client.account.orders),
                ids=sorted(client.account.orders),
            )
