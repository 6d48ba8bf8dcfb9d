"""`RecordingFiles`: the files of a recording, written one payload at a time.

A recording is a folder of files ``recording.NNNNNN.gz``, each a gzip stream of records in
the journal's format (`txsmarkets.wire.records`: direction ``I``, the receive time, the
length, the serialised ``seto.Payload``). A file is closed and the next begun once its
compressed size passes ``max_bytes``; files written on a folder that already has some
begin after them, so that an earlier recording is never rewritten. `RecordingFiles.flush`
makes what is written readable (`txsmarkets.exchange.recorded` reads a file cut short up to
the cut).

Whoever has market data to keep writes through it: a client's `Recorder
<txsmarkets.persistence.recording.Recorder>` (``twistd smarkets --record``), the paper
exchange's polls (``twistd smarkets-exchange --paper URL --record DIR``) and the bridge's
(``twistd smarkets-bridge --record DIR``).
"""

from __future__ import annotations

import gzip
import os
import pathlib
from typing import Any

from twisted.internet.interfaces import IReactorTime

from txsmarkets.wire import seto_pb2
from txsmarkets.wire.records import IN, encode

__all__ = ["RecordingFiles"]

_PREFIX = "recording."
_SUFFIX = ".gz"


class RecordingFiles:
    """Writes payloads to the recording folder ``directory`` (made if missing); ``clock``
    gives the time of a payload written without one. ``records`` counts what was written,
    ``path`` is the file being written (None before the first)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        clock: IReactorTime,
        *,
        max_bytes: int = 64 * 1024 * 1024,
        compresslevel: int = 6,
    ) -> None:
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.max_bytes = max_bytes
        self.compresslevel = compresslevel
        #: Records written since the writer was made.
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
