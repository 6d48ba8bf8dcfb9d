"""The daemon's status line: one log line every ``--status-interval`` seconds.

`StatusLine` is a `TimerService`: it logs a line when it starts and then every interval,
and each line sends a ping whose round trip the next line reports.
"""

from __future__ import annotations

from twisted.application.internet import TimerService
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from txsmarkets.client import StreamingAPIClient
from txsmarkets.client.controls import Controls
from txsmarkets.daemon.figures import Figures, to_the_penny

__all__ = ["StatusLine"]

_log = Logger()


class StatusLine(TimerService):
    """Logs ``client``'s status every ``interval`` seconds on ``clock``: connection,
    session, seqs, messages a second, ping, live orders, balance, exposure, ``figures``
    (fills, realised P&L, reconnects) and ``controls`` (refusals, halt)."""

    def __init__(
        self, interval: float, client: StreamingAPIClient, figures: Figures, controls: Controls, clock: IReactorTime
    ) -> None:
        if interval <= 0:
            raise ValueError(f"status_interval must be positive, not {interval!r}")
        super().__init__(interval, self.log_status)
        self.setName("status")
        self.clock = clock
        self.interval = interval
        self.client = client
        self.figures = figures
        self.controls = controls
        #: The round-trip time of the last ping, in seconds.
        self.last_rtt: float | None = None
        # (sent, received) messages at the last line.
        self._counts = (0, 0)

    def log_status(self) -> None:
        """Log one line, and send a ping if logged in."""
        client = self.client
        session = client.session
        if session.connected:
            client.ping().addCallbacks(self._pong, lambda failure: None)
        protocol = session.protocol
        sent, received = (protocol.messagesSent, protocol.messagesReceived) if protocol is not None else self._counts
        rate_in = (received - self._counts[1]) / self.interval
        rate_out = (sent - self._counts[0]) / self.interval
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

    def _pong(self, rtt: float) -> None:
        self.last_rtt = rtt
