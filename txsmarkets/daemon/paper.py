"""``twistd smarkets --paper URL --markets IDS``: paper trading on live prices, in the
daemon's own process.

`PaperExchange` is the ``--demo`` `EmbeddedExchange` with the paper exchange instead
(`txsmarkets.exchange.paper.start_paper`): the upstream's markets and their polled public
prices stand in its engine as outside liquidity, and the session trades there as the demo
account, reaching it in memory (a `txsmarkets.inmemory.MemoryEndpoint`, no port). No order,
cancel or login goes upstream: only the public endpoints are asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IProtocolFactory, IReactorTime, IStreamClientEndpoint

from txsmarkets.client import SessionSettings
from txsmarkets.daemon.demo import EmbeddedExchange
from txsmarkets.daemon.exits import EXIT_CONFIG
from txsmarkets.daemon.lifecycle import StartError
from txsmarkets.inmemory import MemoryEndpoint

if TYPE_CHECKING:
    from txsmarkets.exchange.paper import RunningPaper

__all__ = ["PaperExchange"]


class PaperExchange(EmbeddedExchange):
    """The paper exchange on the markets ``market_ids`` of the HTTP API at ``upstream``, in
    this process while the service runs (it takes the ``exchange`` place among the
    daemon's services); the session reaches it through `endpoint`. ``record`` (a folder;
    None: none) keeps what it polls as a recording, with the markets' ``catalogue.json``;
    ``options`` go to `start_paper <txsmarkets.exchange.paper.start_paper>` (``interval``,
    ``state_interval``, ``timeout`` ...).

    Its start fails with a `StartError` (exit status 1) when the upstream cannot give the
    markets: one it does not have, or an upstream that does not answer."""

    def __init__(
        self,
        settings: SessionSettings,
        reactor: IReactorTime,
        upstream: str,
        market_ids: Sequence[int],
        record: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(settings, reactor)
        self.upstream = upstream
        self.market_ids = tuple(market_ids)
        self.record = record
        self.options = options
        #: The paper exchange (its feed, its recording) once it runs, else None.
        self.paper: RunningPaper | None = None

    def endpoint(self) -> IStreamClientEndpoint:
        """Where the session connects: the paper exchange, in memory (refused while it
        does not run)."""
        return MemoryEndpoint(self.reactor, self._accepting, "the paper exchange is not running")

    def _accepting(self) -> IProtocolFactory | None:
        return self.exchange.accepting() if self.exchange is not None else None

    async def _start(self) -> None:
        from txsmarkets.exchange.paper import start_paper

        try:
            self.paper = paper = await start_paper(
                self.reactor, self.upstream, self.market_ids, None, record=self.record, **self.options
            )
        except CancelledError:
            raise
        except Exception as e:
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise StartError(f"cannot have the markets from {self.upstream}: {why}", EXIT_CONFIG) from None
        self.exchange = paper.exchange

    def _stop(self) -> Deferred[None]:
        return self.paper.stop() if self.paper is not None else succeed(None)
