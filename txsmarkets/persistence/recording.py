"""Recording market data as it arrives: what ``twistd smarkets --record DIR`` writes.

A recording is a folder of files ``recording.NNNNNN.gz``. Each is a gzip stream of records
in the journal's format (`txsmarkets.wire.records`: direction ``I``, the receive time, the
length, the serialised ``seto.Payload``), holding market data only:
``market_quotes`` snapshots, ``contract_quotes`` deltas with their executions,
``market_state`` and ``runningball_notification``. Nothing about the account (orders, fills,
balances, the login) is written. A file is closed and the next begun once its compressed
size passes ``max_bytes``; a recorder started on a folder that already has files begins a
new one after them, so that an earlier recording is never rewritten.

The compressed stream is flushed every ``flush_interval`` seconds, so that a killed
process loses at most that much; `txsmarkets.exchange.recorded` reads a file cut short up
to the cut. ``twistd smarkets-exchange --replay DIR`` plays a recording back.

The session journal (``--state-dir``) is a separate writer and goes on recording every
message; a recording is for keeping and replaying markets, small and shareable.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.application import service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from txsmarkets.exchange.recording_files import RecordingFiles
from txsmarkets.wire import seto_pb2

__all__ = ["RECORDED_NAMES", "Recorder"]

_log = Logger()

#: The messages a recording keeps, by their handler names.
RECORDED_NAMES = (
    "seto.market_quotes",
    "seto.contract_quotes",
    "seto.market_state",
    "seto.runningball_notification",
)


class Recorder(RecordingFiles, service.Service):
    """Writes the market data a client receives to the recording folder ``directory``.

    `attach` hooks it to a client (one handler per recorded message name); `record
    <txsmarkets.exchange.recording_files.RecordingFiles.record>` writes one payload (its
    files are those of a `RecordingFiles`). As a service (a child of the
    daemon's), it starts flushing when started and closes its file when stopped. ``clock``
    gives the receive time and runs the flushes.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        clock: IReactorTime,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        flush_interval: float = 1.0,
        compresslevel: int = 6,
    ) -> None:
        RecordingFiles.__init__(self, directory, clock, max_bytes=max_bytes, compresslevel=compresslevel)
        self.flush_interval = flush_interval
        self._flusher = LoopingCall(self.flush)
        self._flusher.clock = clock
        self._clients: list[Any] = []

    # -- hooking to a client --

    def attach(self, client: Any) -> None:
        """Record the market data ``client`` (a `StreamingAPIClient`) receives from now on."""
        for name in RECORDED_NAMES:
            client.add_handler(name, self._handle)
        self._clients.append(client)

    def detach(self, client: Any) -> None:
        """Stop recording what ``client`` receives."""
        if client in self._clients:
            self._clients.remove(client)
            for name in RECORDED_NAMES:
                client.del_handler(name, self._handle)

    def _handle(self, message: seto_pb2.Payload) -> None:
        self.record(message)

    # -- as a service --

    def startService(self) -> None:
        super().startService()
        if self.flush_interval > 0 and not self._flusher.running:
            self._flusher.start(self.flush_interval, now=False)

    def stopService(self) -> None:
        super().stopService()
        if self._flusher.running:
            self._flusher.stop()
        for client in list(self._clients):
            self.detach(client)
        self.close()
        _log.info("recording: {n} records in {dir}", n=self.records, dir=str(self.directory))
