"""Reading recorded market data, lazily: what `txsmarkets.exchange.replay` plays back.

Two sources are read, both as files of records (`txsmarkets.wire.records`: direction ``I``
or ``O``, the time, the length, the serialised ``seto.Payload``):

- a recording made by ``twistd smarkets --record DIR`` (`txsmarkets.persistence.recording`):
  files ``recording.NNNNNN.gz``, gzip-compressed, holding received market data only;
- the journal of ``twistd smarkets --state-dir DIR``: files ``journal.NNNNNN`` (in
  ``DIR/journal/``), every message in and out, of which the received market data is kept.

`read_recorded` takes a file or a folder (a state folder, its ``journal/``, or a recording
folder) and yields ``(time, payload)`` one record at a time, oldest first, reading the
files in blocks (`txsmarkets.wire.records.read_record_blocks`): however large the
recording, only a block's records and the one in hand are in memory.
"""

from __future__ import annotations

import gzip
import io
import pathlib
import zlib
from collections.abc import Iterator

from twisted.logger import Logger

from txsmarkets.wire import seto_pb2
from txsmarkets.wire.records import HEADER as RECORD_HEADER
from txsmarkets.wire.records import IN, read_record_blocks

__all__ = ["MARKET_DATA_TYPES", "RECORD_HEADER", "RecordingError", "read_recorded", "recorded_files"]

_log = Logger()

#: The payload types a recording holds and a replay plays back.
MARKET_DATA_TYPES = frozenset(
    (
        seto_pb2.PAYLOAD_MARKET_QUOTES,
        seto_pb2.PAYLOAD_CONTRACT_QUOTES,
        seto_pb2.PAYLOAD_MARKET_STATE,
        seto_pb2.PAYLOAD_RUNNINGBALL_NOTIFICATION,
    )
)

_RECORDING = "recording."
_JOURNAL = "journal."


class RecordingError(ValueError):
    """There is no recording or journal where one was named."""


def _numbered(directory: pathlib.Path, prefix: str, suffix: str) -> list[pathlib.Path]:
    files = []
    for path in directory.glob(f"{prefix}*{suffix}"):
        number = path.name[len(prefix) : len(path.name) - len(suffix)]
        if number.isdigit():
            files.append((int(number), path))
    return [path for _, path in sorted(files)]


def recorded_files(path: str | pathlib.Path) -> list[pathlib.Path]:
    """The files to read for ``path``, oldest first: the file itself, a folder's
    ``recording.NNNNNN.gz`` files, or else its journal files (in the folder or in its
    ``journal/``). RecordingError when there are none."""
    path = pathlib.Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RecordingError(f"no recording or journal at {str(path)!r}")
    for directory in (path, path / "journal"):
        files = _numbered(directory, _RECORDING, ".gz") or _numbered(directory, _JOURNAL, "")
        if files:
            return files
    raise RecordingError(f"{str(path)!r} holds no recording.NNNNNN.gz or journal.NNNNNN files")


def _open(path: pathlib.Path) -> gzip.GzipFile | io.BufferedReader:
    if path.name.endswith(".gz"):
        return gzip.GzipFile(path, "rb")
    return open(path, "rb")


def read_recorded(path: str | pathlib.Path, notes: list[str] | None = None) -> Iterator[tuple[float, seto_pb2.Payload]]:
    """``(receive time, payload)`` of every market-data message received in the recording
    or journal at ``path``, oldest first, read as they are asked for. RecordingError (at
    once, before any is read) when ``path`` holds none.

    A damaged file is read up to the damage and the reading goes on with the next file: one
    cut short (a process killed while recording), one with a header that is no record (from
    there on it is not records: a damaged file, or no recording at all), and records that do
    not decode (skipped). Each is a warning in the log and, with ``notes``, a line appended
    to it naming the file and how many records it held (for a notice a user always sees)."""
    files = recorded_files(path)
    return _payloads(files, notes)


def _damaged(notes: list[str] | None, path: pathlib.Path, what: str, held: int) -> None:
    """Say that ``path`` is damaged (``what``), after ``held`` records: a warning, and a line
    of ``notes``."""
    if held == 0:
        line = f"{path}: {what} (no record at its start); the file is skipped"
    else:
        line = f"{path}: {what} after {held} records; the rest of the file is skipped"
    _log.warn("{line}", line=line)
    if notes is not None:
        notes.append(line)


def _payloads(files: list[pathlib.Path], notes: list[str] | None) -> Iterator[tuple[float, seto_pb2.Payload]]:
    # One generator from the blocks to the payloads (a block's records are a list): each
    # generator more would be a resume a record.
    parse = seto_pb2.Payload.FromString
    wanted = MARKET_DATA_TYPES
    for path in files:
        held = 0
        undecoded = 0

        def not_records(count: int, path: pathlib.Path = path) -> None:
            _damaged(notes, path, "not a recording or journal" if count == 0 else "a header that is not a record", count)

        with _open(path) as f:
            try:
                # read1: what was decompressed before a cut comes out before the error does.
                for records in read_record_blocks(f.read1, not_records=not_records):
                    held += len(records)
                    for direction, when, data in records:
                        if direction != IN:
                            continue
                        try:
                            payload = parse(data)
                        except Exception:
                            undecoded += 1
                            continue
                        if payload.type in wanted:
                            yield when, payload
            except (EOFError, OSError, zlib.error) as e:
                # A process killed while recording leaves its last file cut short: what was
                # written before the cut is good, the rest of the file is skipped.
                _damaged(notes, path, f"cut short ({e})", held)
        if undecoded:
            line = f"{path}: {undecoded} of its {held} records do not decode; skipped"
            _log.warn("{line}", line=line)
            if notes is not None:
                notes.append(line)
