"""The journal: every message in and out of a session, appended as it happens.

A journal is a folder of files ``journal.NNNNNN``. Each record is a 13-byte header
(direction ``I`` or ``O``, the time as a big-endian double, the payload length as a uint32)
and the serialised ``seto.Payload``. Records are written with one ``os.write`` each, before
the message is handed to the handlers or to the socket, so a process killed at any moment
leaves every message it acted on in the file; ``fsync`` runs in batches. Files rotate by
size. Logins are recorded with their password and token removed.

``python -m txsmarkets.persistence.journal PATH`` prints a journal (a file or the folder) as text, one
message a line; ``--type NAME`` and ``--market ID`` filter it.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Callable, TextIO

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import SETO_FIELDS, message_name

__all__ = ["IN", "OUT", "Journal", "Record", "main", "read_journal"]

IN = b"I"
OUT = b"O"
_HEADER = struct.Struct(">cdI")
_PREFIX = "journal."


@dataclass(frozen=True)
class Record:
    """One journal record: ``direction`` is `IN` or `OUT`."""

    direction: bytes
    time: float
    data: bytes
    #: The file it was read from and the offset just past it.
    path: pathlib.Path | None = None
    end: int = 0

    def payload(self) -> seto_pb2.Payload:
        """The message, parsed."""
        return seto_pb2.Payload.FromString(self.data)


def _redacted(data: bytes) -> bytes:
    payload = seto_pb2.Payload.FromString(data)
    if payload.login.HasField("password"):
        payload.login.password = ""
    if payload.login.HasField("cookie"):
        payload.login.cookie = b""
    return payload.SerializeToString()


class Journal:
    """Appends records to the files of ``directory``, rotating past ``max_bytes``."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        max_bytes: int = 64 * 1024 * 1024,
        sync_every: int = 1000,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.sync_every = sync_every
        self._now = now
        self._unsynced = 0
        #: Called with the new file's path after each rotation (to take a snapshot).
        self.on_rotate: Callable[[pathlib.Path], None] = lambda path: None
        files = journal_files(self.directory)
        self.path = files[-1] if files else self.directory / f"{_PREFIX}{1:06d}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        if files:
            # A record cut short by a kill is dropped, so that appends stay readable.
            good = _valid_length(self.path)
            if good != self._size:
                os.ftruncate(self._fd, good)
                self._size = good

    @property
    def position(self) -> tuple[pathlib.Path, int]:
        """The current file and its length: where the next record goes."""
        return self.path, self._size

    def record_in(self, data: bytes) -> None:
        """Record a message received (before it is dispatched)."""
        self._write(IN, data)

    def record_out(self, data: bytes, is_login: bool = False) -> None:
        """Record a message sent (before it is written to the socket)."""
        self._write(OUT, _redacted(data) if is_login else data)

    def _write(self, direction: bytes, data: bytes) -> None:
        os.write(self._fd, _HEADER.pack(direction, self._now(), len(data)) + data)
        self._size += _HEADER.size + len(data)
        self._unsynced += 1
        if self._unsynced >= self.sync_every:
            self.sync()
        if self._size >= self.max_bytes:
            self._rotate()

    def sync(self) -> None:
        """fsync what has been written."""
        if self._unsynced:
            os.fsync(self._fd)
            self._unsynced = 0

    def _rotate(self) -> None:
        self.sync()
        os.close(self._fd)
        number = int(self.path.name[len(_PREFIX) :]) + 1
        self.path = self.directory / f"{_PREFIX}{number:06d}"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0
        self.on_rotate(self.path)

    def close(self) -> None:
        """Sync and close."""
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1


def journal_files(directory: pathlib.Path) -> list[pathlib.Path]:
    """The journal files of ``directory``, oldest first."""
    return sorted(p for p in directory.glob(f"{_PREFIX}*") if p.name[len(_PREFIX) :].isdigit())


def _records(path: pathlib.Path, start: int = 0) -> Iterator[Record]:
    with open(path, "rb") as f:
        f.seek(start)
        offset = start
        while True:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                return
            direction, when, length = _HEADER.unpack(header)
            data = f.read(length)
            if len(data) < length or direction not in (IN, OUT):
                return
            offset += _HEADER.size + length
            yield Record(direction, when, data, path, offset)


def _valid_length(path: pathlib.Path) -> int:
    end = 0
    for record in _records(path):
        end = record.end
    return end


def read_journal(path: str | os.PathLike[str], start: tuple[pathlib.Path, int] | None = None) -> Iterator[Record]:
    """Every record of a journal file or folder, oldest first; a torn last record is skipped.

    ``start`` (a file and offset, as `Journal.position` gives) skips what came before it.
    """
    path = pathlib.Path(path)
    files = journal_files(path) if path.is_dir() else [path]
    for file in files:
        offset = 0
        if start is not None:
            if file.name < start[0].name:
                continue
            if file.name == start[0].name:
                offset = start[1]
        yield from _records(file, offset)


def _market_of(payload: seto_pb2.Payload) -> int | None:
    field = SETO_FIELDS.get(payload.type)
    if field is None:
        return None
    body = getattr(payload, field)
    if "market_id" in body.DESCRIPTOR.fields_by_name and body.HasField("market_id"):
        return int(body.market_id)
    return None


def format_record(record: Record) -> str:
    """One line of text for a record: time, direction, seq, name and the message."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.time)) + f".{int(record.time % 1 * 1e6):06d}Z"
    try:
        payload = record.payload()
    except DecodeError:
        return f"{stamp} {record.direction.decode()} <undecodable {len(record.data)} bytes>"
    text = text_format.MessageToString(payload, as_one_line=True)
    arrow = "<-" if record.direction == IN else "->"
    return f"{stamp} {arrow} #{payload.eto_payload.seq} {message_name(payload)} {text}"


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Print a journal as text."""
    parser = argparse.ArgumentParser(prog="python -m txsmarkets.persistence.journal", description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a journal file, or the folder of a journal")
    parser.add_argument("--type", help="only messages of this name (seto.order_accepted, eto.heartbeat)")
    parser.add_argument("--market", type=int, help="only messages about this market id")
    args = parser.parse_args(argv)
    path = pathlib.Path(args.path)
    if not path.exists():
        print(f"no journal at {path}", file=sys.stderr)
        return 2
    for record in read_journal(path):
        if args.type or args.market is not None:
            try:
                payload = record.payload()
            except DecodeError:
                continue
            if args.type and message_name(payload) != args.type:
                continue
            if args.market is not None and _market_of(payload) != args.market:
                continue
        try:
            print(format_record(record), file=out)
        except BrokenPipeError:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
