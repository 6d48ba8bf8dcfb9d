"""``twistd smarkets --http-api URL``: the bridge the daemon trades through, in its own process.

`BridgeInProcess` is the service that holds an `InProcessBridge
<txsmarkets.bridge.inprocess.InProcessBridge>` to Smarkets' HTTP API: the session connects
to it in memory (its `endpoint`), and it stops (polls, upstream logins) after the session.
"""

from __future__ import annotations

from pathlib import Path

from twisted.application import service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.logger import Logger

from txsmarkets.bridge.inprocess import InProcessBridge

__all__ = ["BridgeInProcess"]

_log = Logger()


class BridgeInProcess(service.Service):
    """The bridge to the HTTP API at ``url``, in this process while the service runs (it
    takes the ``exchange`` place among the daemon's services); ``state_dir`` (None: none)
    keeps its accounts' state, in the ``bridge`` folder under it."""

    def __init__(self, reactor: IReactorTime, url: str, state_dir: str | None = None) -> None:
        self.setName("exchange")
        folder = Path(state_dir) / "bridge" if state_dir is not None else None
        self.bridge = InProcessBridge(reactor, url, folder)
        self.url = url

    def endpoint(self) -> IStreamClientEndpoint:
        """Where the session connects: the bridge, in memory."""
        return self.bridge.endpoint()

    def startService(self) -> None:
        super().startService()
        _log.info("trading on the HTTP API at {url} through a bridge in this process", url=self.url)

    def stopService(self) -> Deferred[None]:
        """Stop the bridge: its polls, its upstream logins."""
        super().stopService()
        return self.bridge.stop()
