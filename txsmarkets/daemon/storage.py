"""What the daemon keeps on disk, as services: the state folder (``--state-dir``: the
snapshot and the journal) and the market-data recording (``--record``).

Both start before the session logs in and stop after it has logged out, so that they
hold every message of the session; a folder that cannot be used is a `StartError` with
exit status 1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application import service
from twisted.application.internet import TimerService
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from txsmarkets.client import StreamingAPIClient
from txsmarkets.client.controls import Controls
from txsmarkets.daemon.exits import EXIT_CONFIG
from txsmarkets.daemon.lifecycle import StartError
from txsmarkets.persistence.recording import Recorder
from txsmarkets.persistence.state import StateDirectory
from txsmarkets.wire import seto_pb2

__all__ = ["MarketRecording", "StateFolder"]

_log = Logger()


def _timer(interval: float, f: Callable[[], object], clock: IReactorTime, name: str) -> TimerService:
    timer = TimerService(interval, f)
    timer.clock = clock
    timer.setName(name)
    return timer


class StateFolder(service.MultiService):
    """The state folder ``path`` of ``client``'s session, account and ``controls``.

    Its start restores them from the folder (and has the controls adopt the live orders
    restored) and attaches the journal; with ``fresh`` (the exchange is one in this process,
    new at each start: ``--demo``, ``--paper``) it restores nothing and only attaches the
    journal; a snapshot is then saved at each login, after each
    new journal file begins (once the message being recorded is through) and every
    ``snapshot_interval`` seconds, and the journal is synced every
    ``sync_interval`` seconds (its two `TimerService` children). Its stop saves the last
    snapshot and closes the journal.
    """

    def __init__(
        self,
        path: str,
        client: StreamingAPIClient,
        controls: Controls,
        clock: IReactorTime,
        *,
        snapshot_interval: float = 30.0,
        sync_interval: float = 1.0,
        fresh: bool = False,
    ) -> None:
        super().__init__()
        self.fresh = fresh
        self.setName("state")
        self.path = path
        self.clock = clock
        self.client = client
        self.controls = controls
        #: The open state folder while the service runs, else None.
        self.state: StateDirectory | None = None
        self._rotation: IDelayedCall | None = None
        _timer(snapshot_interval, self.snapshot, clock, "snapshots").setServiceParent(self)
        _timer(sync_interval, self._sync, clock, "journal sync").setServiceParent(self)

    def startService(self) -> None:
        try:
            state = StateDirectory(self.path)
        except OSError as e:
            raise StartError(f"cannot use the state folder {self.path!r}: {e.strerror or e}", EXIT_CONFIG) from None
        client = self.client
        if self.fresh:
            _log.info("the exchange is new at each start: the state folder's session and account are not restored")
            state.begin_afresh(client.session)
        else:
            try:
                state.restore(client.session, client.account, self.controls)
            except (OSError, ValueError) as e:
                # Not kept: a stop would save this process's empty session over it.
                state.close()
                why = str(e) if isinstance(e, ValueError) else f"cannot use the state folder {self.path!r}: {e.strerror or e}"
                raise StartError(why, EXIT_CONFIG) from None
            # The restored live orders count against the trading controls' limits.
            self.controls.adopt(client.account.orders.values())
        self.state = state
        state.journal.on_rotate = self._rotated
        client.logged_in.add(self._logged_in)
        super().startService()

    def _rotated(self, path: object) -> None:
        # A new journal file begins while a message is being recorded, before the account
        # has taken it in (but perhaps after the session counted it): a snapshot now would
        # say it was had and not keep it. Taken once the message is through: until then the
        # last snapshot's journal position, in an older file, still covers it.
        if self._rotation is None or not self._rotation.active():
            self._rotation = self.clock.callLater(0, self.snapshot)

    def _logged_in(self, message: seto_pb2.Payload, resumed: bool) -> None:
        self.snapshot()

    def snapshot(self) -> None:
        """Save the session, the account and the controls in the folder (if open)."""
        if self.state is not None:
            self.state.save(self.client.session, self.client.account, self.controls)

    def _sync(self) -> None:
        if self.state is not None:
            self.state.journal.sync()

    def stopService(self) -> Deferred[None]:
        d: Deferred[Any] = super().stopService()

        def close(_: Any) -> None:
            if self._logged_in in self.client.logged_in.handlers:
                self.client.logged_in.remove(self._logged_in)
            if self._rotation is not None and self._rotation.active():
                self._rotation.cancel()
            if self.state is not None:
                self.snapshot()
                self.state.close()
                self.state = None

        return d.addCallback(close)


class MarketRecording(service.Service):
    """Records the market data ``client`` receives in the folder ``directory`` while it
    runs (a `Recorder`, made at the start)."""

    def __init__(self, directory: str, client: StreamingAPIClient, clock: IReactorTime) -> None:
        self.setName("recording")
        self.directory = directory
        self.client = client
        self.clock = clock
        #: The recorder while the service runs, else None.
        self.recorder: Recorder | None = None

    def startService(self) -> None:
        try:
            recorder = Recorder(self.directory, self.clock)
        except OSError as e:
            raise StartError(f"cannot record in {self.directory!r}: {e.strerror or e}", EXIT_CONFIG) from None
        recorder.attach(self.client)
        recorder.startService()
        self.recorder = recorder
        super().startService()
        _log.info("recording market data in {dir}", dir=self.directory)

    def stopService(self) -> None:
        super().stopService()
        if self.recorder is not None:
            # It closes its file, after the last message: the session has logged out.
            self.recorder.stopService()
