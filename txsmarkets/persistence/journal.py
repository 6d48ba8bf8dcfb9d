"""The journal: every message in and out of a session, appended as it happens.

A journal is a folder of files ``journal.NNNNNN`` of records (`txsmarkets.wire.records`:
direction ``I`` or ``O``, the time, the length, the serialised ``seto.Payload``). Records
are written with one ``os.write`` each, before the message is handed to the handlers or to
the socket, so a process killed at any moment leaves every message it acted on in the
file; ``fsync`` runs in batches. Files rotate by size. Logins are recorded with their
password and token removed.

``python -m txsmarkets.persistence.journal PATH`` prints a journal (a file or the folder) as text, one
message a line. ``--type NAME`` and ``--market ID`` (each repeatable) keep only those messages
(an unknown name is an error that lists the names); ``--since`` and ``--until`` (ISO 8601
times, UTC unless a zone is given, or epoch seconds) a time range; ``--follow`` goes on
printing records as they are written; ``--summary`` prints counts by message name, the time
range and the sessions instead of the messages. A journal of 16 MiB or more gets a progress
bar on stderr when that is a terminal (``--progress``/``--no-progress`` to choose).
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import os
import pathlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Callable, TextIO

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from txsmarkets.progress import ProgressBar, mebibytes
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.messages import ALL_NAMES, SETO_FIELDS, message_name
from txsmarkets.wire.records import HEADER as _HEADER
from txsmarkets.wire.records import IN, OUT, encode, read_records

__all__ = ["IN", "OUT", "Journal", "Record", "Summary", "follow", "main", "parse_time", "read_journal"]

_PREFIX = "journal."


@dataclass(frozen=True)
class Record:
    """One journal record: ``direction`` is ``IN`` or ``OUT``."""

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
        os.write(self._fd, encode(direction, self._now(), data))
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
        for direction, when, data in read_records(f.read):
            offset += _HEADER.size + len(data)
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


# -- the reader: python -m txsmarkets.persistence.journal -----------------------------------

#: A journal at least this large (bytes) gets a progress bar on a terminal.
PROGRESS_BYTES = 16 * 1024 * 1024


def parse_time(text: str) -> float:
    """A ``--since``/``--until`` value as epoch seconds: epoch seconds (``1767225600.5``) or an
    ISO 8601 time (``2026-12-01T09:30``, ``2026-12-01 09:30:00+01:00``; UTC when no zone is
    given). Raises `ValueError` for anything else."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ValueError(f"{text!r} is neither an ISO 8601 time nor epoch seconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when.timestamp()


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)) + f".{int(when % 1 * 1e6):06d}Z"


def follow(
    path: str | os.PathLike[str],
    *,
    poll: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Record]:
    """Every record of a journal, then each new one as it is written (``tail -f``), across
    rotations, until ``stop()`` is true (checked after each poll of ``poll`` seconds).

    A record still being written (its tail not there yet) is read once it is whole.
    """
    path = pathlib.Path(path)
    position: tuple[pathlib.Path, int] | None = None
    while True:
        for record in read_journal(path, start=position):
            assert record.path is not None
            position = (record.path, record.end)
            yield record
        if position is None and path.is_dir():
            files = journal_files(path)
            if files:
                position = (files[0], 0)
        if stop():
            return
        sleep(poll)


@dataclass
class Summary:
    """What ``--summary`` reports: counts by message name, the time range and the sessions."""

    records: int = 0
    received: int = 0
    sent: int = 0
    undecodable: int = 0
    first: float | None = None
    last: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    #: Session id -> how many logins were answered for it (one per connection).
    sessions: dict[str, int] = field(default_factory=dict)

    def add(self, record: Record, payload: seto_pb2.Payload | None) -> None:
        """Count one record (``payload`` None when it does not parse)."""
        self.records += 1
        if record.direction == IN:
            self.received += 1
        else:
            self.sent += 1
        self.first = record.time if self.first is None else min(self.first, record.time)
        self.last = record.time if self.last is None else max(self.last, record.time)
        if payload is None:
            self.undecodable += 1
            return
        name = message_name(payload)
        self.counts[name] = self.counts.get(name, 0) + 1
        if record.direction == IN and payload.eto_payload.type == eto_pb2.PAYLOAD_LOGIN_RESPONSE:
            session = payload.eto_payload.login_response.session
            self.sessions[session] = self.sessions.get(session, 0) + 1

    def lines(self) -> list[str]:
        """The report, as lines of text."""
        out = [f"records: {self.records} ({self.received} received, {self.sent} sent)"]
        if self.undecodable:
            out.append(f"undecodable: {self.undecodable}")
        if self.first is not None and self.last is not None:
            out.append(f"from {_stamp(self.first)} to {_stamp(self.last)} ({self.last - self.first:.3f} s)")
        out.append(f"sessions: {len(self.sessions)}")
        for session, logins in self.sessions.items():
            out.append(f"  {session}: {logins} login{'s' if logins != 1 else ''}")
        out.append("by type:")
        width = max((len(name) for name in self.counts), default=0)
        for name, count in sorted(self.counts.items(), key=lambda item: (-item[1], item[0])):
            out.append(f"  {name:<{width}}  {count}")
        return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m txsmarkets.persistence.journal",
        description="Print a journal (a file, or the folder of a --state-dir journal) as text, one message a line.",
    )
    parser.add_argument("path", help="a journal file, or the folder of a journal")
    parser.add_argument(
        "--type", action="append", default=[], metavar="NAME",
        help="only messages of this name (seto.order_accepted, eto.heartbeat); repeatable",
    )
    parser.add_argument(
        "--market", action="append", type=int, default=[], metavar="ID",
        help="only messages about this market id; repeatable",
    )
    parser.add_argument("--since", metavar="TIME", help="only records at or after TIME (ISO 8601, UTC by default, or epoch seconds)")
    parser.add_argument("--until", metavar="TIME", help="only records before TIME (ISO 8601 or epoch seconds)")
    parser.add_argument("--follow", "-f", action="store_true", help="keep printing records as they are written (Ctrl-C stops)")
    parser.add_argument("--summary", action="store_true", help="print counts by type, the time range and the sessions instead")
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help=f"a progress bar on stderr (default: on a terminal, for journals of {PROGRESS_BYTES // 2**20} MiB or more)",
    )
    return parser


def main(
    argv: list[str] | None = None,
    out: TextIO = sys.stdout,
    *,
    err: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Print a journal as text; returns the exit status (0, or 2 for a bad argument or a
    missing journal, said in one line on ``err``). ``sleep`` and ``stop`` drive ``--follow``
    (see `follow`)."""
    err = sys.stderr if err is None else err
    args = _parser().parse_args(argv)
    unknown = sorted(set(args.type) - ALL_NAMES)
    if unknown:
        print(
            f"unknown --type {', '.join(map(repr, unknown))}; the names are: {' '.join(sorted(ALL_NAMES))}",
            file=err,
        )
        return 2
    try:
        since = None if args.since is None else parse_time(args.since)
        until = None if args.until is None else parse_time(args.until)
    except ValueError as e:
        print(f"--since/--until: {e}", file=err)
        return 2
    path = pathlib.Path(args.path)
    if not path.exists():
        print(f"no journal at {path}", file=err)
        return 2
    types = frozenset(args.type)
    markets = frozenset(args.market)
    files = journal_files(path) if path.is_dir() else [path]
    progress: ProgressBar | None = None
    before: dict[pathlib.Path, int] = {}
    show = args.progress
    if show is None:
        # Lines printed to the terminal are progress enough: the bar is for output that
        # goes elsewhere, or for a summary that comes only at the end.
        show = (
            not args.follow
            and err.isatty()
            and (args.summary or not out.isatty())
            and sum(f.stat().st_size for f in files) >= PROGRESS_BYTES
        )
    if show and not args.follow:
        sizes = [f.stat().st_size for f in files]
        # The bytes of the files before each: a record's offset then says how far the whole is.
        before = dict(zip(files, itertools.accumulate(sizes, initial=0)))
        progress = ProgressBar(err, interval=None, blank=" ", detail=mebibytes)
        progress.begin(max(sum(sizes), 1), "bytes")
    summary = Summary() if args.summary else None
    records = follow(path, sleep=sleep, stop=stop) if args.follow else read_journal(path)
    try:
        for record in records:
            if progress is not None and record.path is not None:
                progress.update(before.get(record.path, progress.total) + record.end)
            if since is not None and record.time < since:
                continue
            if until is not None and record.time >= until:
                continue
            payload: seto_pb2.Payload | None = None
            if types or markets or summary is not None:
                try:
                    payload = record.payload()
                except DecodeError:
                    if types or markets:
                        continue
                if types and (payload is None or message_name(payload) not in types):
                    continue
                if markets and (payload is None or _market_of(payload) not in markets):
                    continue
            if summary is not None:
                summary.add(record, payload)
                continue
            print(format_record(record), file=out)
            if args.follow:
                out.flush()
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        pass
    finally:
        if progress is not None:
            progress.clear()
    if summary is not None:
        try:
            for line in summary.lines():
                print(line, file=out)
        except BrokenPipeError:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
