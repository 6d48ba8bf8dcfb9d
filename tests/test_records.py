"""The record format of journals and recordings (`txsmarkets.wire.records`), owned once."""

from __future__ import annotations

import io
import struct

from twisted.trial import unittest

from txsmarkets.exchange.recorded import RECORD_HEADER
from txsmarkets.persistence.journal import _HEADER
from txsmarkets.wire.records import HEADER, IN, OUT, encode, read_record_blocks, read_records


class RecordTests(unittest.SynchronousTestCase):
    def test_round_trip(self) -> None:
        records = [(IN, 1767225600.25, b"\x08\x01payload"), (OUT, 1767225601.5, b""), (IN, 0.0, b"x" * 70000)]
        stream = io.BytesIO(b"".join(encode(*record) for record in records))
        self.assertEqual(list(read_records(stream.read)), records)

    def test_layout(self) -> None:
        """13 bytes of header: the direction, the time as a big-endian double, the length
        as a big-endian uint32; then the payload."""
        self.assertEqual(encode(OUT, 2.5, b"abc"), b"O" + struct.pack(">d", 2.5) + b"\x00\x00\x00\x03abc")
        self.assertEqual(HEADER.size, 13)

    def test_ends_at_a_torn_record_or_at_what_is_not_a_record(self) -> None:
        whole = encode(IN, 1.0, b"first")
        second = encode(IN, 2.0, b"second")
        # A record cut short in its payload or in its header, and a header of no direction
        # followed by good records: what comes after it is not read as records.
        for tail in (second[:-1], second[:5], b"X" + second[1:] + whole):
            stream = io.BytesIO(whole + tail)
            self.assertEqual(list(read_records(stream.read)), [(IN, 1.0, b"first")], tail)

    def test_what_is_not_a_record_is_told(self) -> None:
        """``not_records`` hears how many records came before a header that is not one
        (for a reader to say that its file is damaged); a torn last record and a clean
        end are not that."""
        whole = encode(IN, 1.0, b"first")
        second = encode(IN, 2.0, b"second")
        for data, told in (
            (whole + b"X" + second[1:], [1]),
            (b"not records at all", [0]),
            (whole + second, []),
            (whole + second[:-1], []),
        ):
            heard: list[int] = []
            for block in (1, 1000):
                heard.clear()
                list(read_records(io.BytesIO(data).read, block, heard.append))
                self.assertEqual(heard, told, (data, block))

    def test_blocks(self) -> None:
        """A list of the whole records each read completes, whatever the reads' sizes: in
        all, the records `read_records` gives, up to a record that is not one."""
        records = [(IN, float(n), bytes(range(n))) for n in range(40)] + [(OUT, 0.5, b"x" * 300)]
        data = b"".join(encode(*record) for record in records)
        for block in (1, 7, 13, 64, 1000, len(data) + 1):
            blocks = list(read_record_blocks(io.BytesIO(data).read, block))
            self.assertTrue(all(blocks), block)
            self.assertEqual([record for got in blocks for record in got], records, block)
            self.assertEqual(list(read_records(io.BytesIO(data).read, block)), records, block)
        self.assertEqual(len(list(read_record_blocks(io.BytesIO(data).read, len(data) + 1))), 1)
        cut = data + b"X" + encode(IN, 1.0, b"after")[1:]
        self.assertEqual([r for got in read_record_blocks(io.BytesIO(cut).read, 1000) for r in got], records)

    def test_one_owner(self) -> None:
        """The journal and the exchange's reader use this module's header, not copies."""
        self.assertIs(_HEADER, HEADER)
        self.assertIs(RECORD_HEADER, HEADER)
