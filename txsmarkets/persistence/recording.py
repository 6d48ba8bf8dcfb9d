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

import gzip
import os
import pathlib
from typing import Any

from twisted.application import service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from txsmarkets.wire import seto_pb2
from txsmarkets.wire.records import IN, encode

__all__ = ["RECORDED_NAMES", "Recorder"]

_log = Logger()

#: The messages a recording keeps, by their handler names.
RECORDED_NAMES = (
    "seto.market_quotes",
    "seto.contract_quotes",
    "seto.market_state",
    "seto.runningball_notification",
)

_PREFIX = "recording."
_SUFFIX = ".gz"


class Recorder(service.Service):
    """Writes the market data a client receives to the recording folder ``directory``.

    `attach` hooks it to a client (one handler per recorded message name); `record` writes
    one payload. As a service (a child of the daemon's), it starts flushing when started
    and closes its file when stopped. ``clock`` gives the receive time and runs the flushes.
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
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.max_bytes = max_bytes
        self.flush_interval = flush_interval
        self.compresslevel = compresslevel
        #: Records written since the recorder was made.
        self.records = 0
        self._raw: Any = None
        self._gzip: gzip.GzipFile | None = None
        self.path: pathlib.Path | None = None
        numbers = [
            int(p.name[len(_PREFIX) : -len(_SUFFIX)])
            for p in self.directory.glob(f"{_PREFIX}*{_SUFFIX}")
            if p.name[len(_PREFIX) : -len(_SUFFIX)].isdigit()
        ]
        self._number = max(numbers, default=0)
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

    # -- writing --

    def record(self, payload: seto_pb2.Payload, when: float | None = None) -> None:
        """Append one payload, received at ``when`` (default: now on the clock)."""
        data = payload.SerializeToString()
        stamp = self.clock.seconds() if when is None else when
        if self._gzip is None:
            self._open_next()
        assert self._gzip is not None
        self._gzip.write(encode(IN, stamp, data))
        self.records += 1
        if self._raw.tell() >= self.max_bytes:
            self._close_file()

    def _open_next(self) -> None:
        self._number += 1
        self.path = self.directory / f"{_PREFIX}{self._number:06d}{_SUFFIX}"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._raw = os.fdopen(fd, "wb")
        self._gzip = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=self.compresslevel)

    def flush(self) -> None:
        """Push what is buffered to the file, in a form a reader can decompress."""
        if self._gzip is not None:
            self._gzip.flush()
            self._raw.flush()

    def _close_file(self) -> None:
        if self._gzip is not None:
            self._gzip.close()
            self._raw.close()
            self._gzip = None
            self._raw = None

    def close(self) -> None:
        """Finish the current file; the next record, if any, begins a new one."""
        self._close_file()

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
