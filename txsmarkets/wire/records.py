"""The record format of journals and recordings: one message, its direction and its time.

A record is a 13-byte header (the direction, `IN` ``I`` or `OUT` ``O``; the time in epoch
seconds as a big-endian double; the payload's length as a big-endian uint32) and then the
serialised ``seto.Payload``. The session journal (`txsmarkets.persistence.journal`) writes
files of records, a recording (`txsmarkets.persistence.recording`) gzip streams of them,
and the exchange's replay (`txsmarkets.exchange.recorded`) reads both. The format is
written here once, below persistence and the exchange, so that the two layers cannot part.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

__all__ = ["HEADER", "IN", "OUT", "encode", "read_record_blocks", "read_records"]

#: The direction of a message received.
IN = b"I"
#: The direction of a message sent.
OUT = b"O"
#: The header: direction, time, payload length.
HEADER = struct.Struct(">cdI")


def encode(direction: bytes, when: float, data: bytes) -> bytes:
    """One record: the header of ``direction`` (`IN` or `OUT`), ``when`` (epoch seconds)
    and the length of ``data``, then ``data`` (a serialised ``seto.Payload``)."""
    return HEADER.pack(direction, when, len(data)) + data


def read_records(
    read: Callable[[int], bytes], block: int = 256 * 1024, not_records: Callable[[int], None] | None = None
) -> Iterator[tuple[bytes, float, bytes]]:
    """``(direction, time, data)`` of each whole record that ``read`` (a binary file's
    ``read``, or ``read1``) gives, in order: `read_record_blocks`, one record at a time."""
    for records in read_record_blocks(read, block, not_records):
        yield from records


def read_record_blocks(
    read: Callable[[int], bytes], block: int = 256 * 1024, not_records: Callable[[int], None] | None = None
) -> Iterator[list[tuple[bytes, float, bytes]]]:
    """The whole records that ``read`` (a binary file's ``read``, or ``read1``) gives, as
    ``(direction, time, data)``, in order: a list of them for each read that completes
    one or more.

    Ends at the end of the stream, at a record cut short (a process killed while writing
    it), or at a header whose direction is neither `IN` nor `OUT` (what follows is not
    records): ``not_records``, when given, is then called with the number of records given
    before it, so that a reader of a file can say that the file is damaged (or none). An
    error of ``read`` (a gzip stream cut short) is the caller's.

    The stream is read ``block`` bytes at a time (``read`` may give fewer), and the records
    are cut from each block: two reads a record cost more than the rest of the parsing, and
    a list a block lets a reader that goes through every record (a replay) walk a list,
    not resume a generator, for each. A record larger than a block is collected over
    several reads; a ``read1`` hands over what it has decompressed before an error, so
    every whole record before a cut is given.
    """
    size = HEADER.size
    unpack = HEADER.unpack_from
    buffer = b""
    pos = 0
    given = 0
    while True:
        chunk = read(block)
        if not chunk:
            return
        buffer = buffer[pos:] + chunk if pos < len(buffer) else chunk
        pos = 0
        end = len(buffer)
        records: list[tuple[bytes, float, bytes]] = []
        add = records.append
        while end - pos >= size:
            direction, when, length = unpack(buffer, pos)
            if direction != IN and direction != OUT:
                if records:
                    yield records
                if not_records is not None:
                    not_records(given + len(records))
                return
            following = pos + size + length
            if following > end:
                break
            add((direction, when, buffer[pos + size : following]))
            pos = following
        if records:
            given += len(records)
            yield records
