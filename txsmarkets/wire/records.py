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

__all__ = ["HEADER", "IN", "OUT", "encode", "read_records"]

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


def read_records(read: Callable[[int], bytes]) -> Iterator[tuple[bytes, float, bytes]]:
    """``(direction, time, data)`` of each whole record that ``read`` (a binary file's
    ``read``) gives, in order.

    Ends at the end of the stream, at a record cut short (a process killed while writing
    it), or at a header whose direction is neither `IN` nor `OUT` (what follows is not
    records). An error of ``read`` (a gzip stream cut short) is the caller's.
    """
    size = HEADER.size
    unpack = HEADER.unpack
    while True:
        header = read(size)
        if len(header) < size:
            return
        direction, when, length = unpack(header)
        if direction != IN and direction != OUT:
            return
        data = read(length)
        if len(data) < length:
            return
        yield direction, when, data
