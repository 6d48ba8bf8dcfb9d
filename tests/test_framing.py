"""The ULEB128 frame format: reference vectors, golden frames, fuzzed streams, bad headers."""

from __future__ import annotations

import pathlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

import txsmarkets.framing
from txsmarkets.wire import framing as wire_framing
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.framing import (
    MIN_FRAME_LENGTH,
    MIN_FRAME_SIZE,
    IncompleteULEB128,
    InvalidULEB128,
    ULEB128StringReceiver,
    frame_decode_all,
    frame_encode,
    split_frames,
    uleb128_decode,
    uleb128_encode,
)

DATA = pathlib.Path(__file__).parent / "data"

ULEB_VECTORS = [
    (0, "00"),
    (127, "7f"),
    (128, "8001"),
    (624485, "e58e26"),
    (268435202, "82feff7f"),
]
FRAME_VECTORS = [
    (b"", "00000000"),
    (b"a", "01610000"),
    (b"ab", "02616200"),
    (b"abc", "03616263"),
    (b"abcd", "0461626364"),
]


def golden_frames() -> list[tuple[str, bytes]]:
    frames = []
    for line in (DATA / "golden-frames.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, hexframe, _ = line.split("\t")
        frames.append((name, bytes.fromhex(hexframe)))
    return frames


class Collector(ULEB128StringReceiver):
    """Keeps every payload it receives."""

    def __init__(self) -> None:
        self.strings: list[bytes] = []

    def stringReceived(self, string: bytes) -> None:
        self.strings.append(string)


class BulkCollector(Collector):
    """A `Collector` whose reads' small frames come through `framesReceived`."""

    receivesFrames = True


def connected(limit: int | None = None, receiver: type = Collector) -> tuple[Collector, StringTransport]:
    proto = receiver()
    if limit is not None:
        proto.MAX_LENGTH = limit
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


class ULEB128Tests(unittest.SynchronousTestCase):
    def test_vectors(self) -> None:
        for value, hexed in ULEB_VECTORS:
            self.assertEqual(uleb128_encode(value).hex(), hexed)
            self.assertEqual(uleb128_decode(bytes.fromhex(hexed)), (value, len(hexed) // 2))

    def test_negative(self) -> None:
        self.assertRaises(ValueError, uleb128_encode, -1)

    def test_incomplete(self) -> None:
        self.assertRaises(IncompleteULEB128, uleb128_decode, b"")
        self.assertRaises(IncompleteULEB128, uleb128_decode, b"\x80\x80\x80\x80")

    def test_too_long(self) -> None:
        self.assertRaises(InvalidULEB128, uleb128_decode, b"\x80" * 10 + b"\x01")
        self.assertEqual(uleb128_decode(b"\xff" * 9 + b"\x01"), (2**64 - 1, 10))

    @given(st.integers(min_value=0, max_value=2**64 - 1))
    def test_round_trip(self, value: int) -> None:
        encoded = uleb128_encode(value)
        self.assertEqual(uleb128_decode(encoded + b"junk"), (value, len(encoded)))


class NineThreeTests(unittest.SynchronousTestCase):
    """What 9.3 code relies on: its names, and `uleb128_encode` returning a bytearray."""

    def test_min_frame_size(self) -> None:
        self.assertEqual(MIN_FRAME_SIZE, 4)
        self.assertEqual(MIN_FRAME_LENGTH, MIN_FRAME_SIZE)
        frame = bytearray()
        frame_encode(frame, b"")
        self.assertEqual(len(frame), MIN_FRAME_SIZE)

    def test_encode_returns_a_bytearray(self) -> None:
        for value, hexed in ULEB_VECTORS:
            encoded = uleb128_encode(value)
            self.assertIs(type(encoded), bytearray)
            self.assertEqual(encoded, bytes.fromhex(hexed))
        # A new one each time: changing it changes no later result.
        first = uleb128_encode(5)
        first.append(1)
        self.assertEqual(uleb128_encode(5), bytearray(b"\x05"))

    def test_decode_takes_what_encode_gives(self) -> None:
        """9.3's own checks: every prefix of an encoding is incomplete; the whole decodes."""
        data = uleb128_encode(12345678)
        for i in range(len(data)):
            self.assertRaises(IncompleteULEB128, uleb128_decode, data[:i])
        self.assertEqual(uleb128_decode(data), (12345678, len(data)))
        for value in (*range(2**14 + 2), *range(2**14, 2**32, 7777777)):
            encoded = uleb128_encode(value)
            self.assertEqual(uleb128_decode(encoded), (value, len(encoded)))

    def test_frames_stay_bytes(self) -> None:
        """The send path joins bytes to bytes: a bytearray header would make every frame
        a bytearray, a copy more for the transport."""
        class Recording(StringTransport):
            def write(self, data: bytes) -> None:
                written.append(type(data))
                super().write(data)

        for size in (1, 3, 127, 128, 20000):
            written: list[type] = []
            proto = Collector()
            transport = Recording()
            proto.makeConnection(transport)
            proto.sendString(b"x" * size)
            self.assertEqual(written, [bytes])
            self.assertEqual(frame_decode_all(transport.value()), ([b"x" * size], b""))
            frame = bytearray()
            frame_encode(frame, b"x" * size)
            self.assertEqual(bytes(frame), transport.value())

    def test_top_level_alias(self) -> None:
        """`txsmarkets.framing` is the 9.3 module name for the same functions."""
        for name in wire_framing.__all__:
            self.assertIs(getattr(txsmarkets.framing, name), getattr(wire_framing, name), name)
        self.assertIn("MIN_FRAME_SIZE", txsmarkets.framing.__all__)


class FrameFunctionTests(unittest.SynchronousTestCase):
    def test_vectors(self) -> None:
        for payload, hexed in FRAME_VECTORS:
            frame = bytearray()
            frame_encode(frame, payload)
            self.assertEqual(frame.hex(), hexed)
            self.assertEqual(frame_decode_all(frame), ([payload], bytearray()))

    def test_two_frames(self) -> None:
        self.assertEqual(frame_decode_all(b"\x05abcde\x03abc"), ([b"abcde", b"abc"], b""))

    def test_padding_then_next(self) -> None:
        self.assertEqual(frame_decode_all(b"\x01a\x00\x00\x02xy\x00\x03"), ([b"a", b"xy"], b"\x03"))

    def test_incomplete_waits(self) -> None:
        self.assertEqual(frame_decode_all(b"\x05abc"), ([], b"\x05abc"))
        self.assertEqual(frame_decode_all(b"\x80\x80\x80\x80"), ([], b"\x80\x80\x80\x80"))
        self.assertEqual(frame_decode_all(b"\x01a\x00"), ([], b"\x01a\x00"))

    def test_golden_frames(self) -> None:
        """Each golden frame decodes to one payload that parses and re-encodes to the frame."""
        frames = golden_frames()
        self.assertEqual(len(frames), 11)
        for name, frame in frames:
            payloads, rest = frame_decode_all(frame)
            self.assertEqual(rest, b"", name)
            self.assertEqual(len(payloads), 1, name)
            message = seto_pb2.Payload.FromString(payloads[0])
            again = bytearray()
            frame_encode(again, message.SerializeToString())
            self.assertEqual(bytes(again), frame, name)

    def test_golden_meanings(self) -> None:
        frames = dict(golden_frames())
        login = seto_pb2.Payload.FromString(frame_decode_all(frames["login"])[0][0])
        self.assertEqual(login.eto_payload.seq, 1)
        self.assertEqual((login.login.username, login.login.password), ("demo", "demo"))
        accepted = seto_pb2.Payload.FromString(frame_decode_all(frames["order_accepted"])[0][0])
        self.assertEqual(
            (accepted.eto_payload.seq, accepted.order_accepted.seq, accepted.order_accepted.order_id),
            (3, 2, 987654321),
        )


# The receiver tests run once frame by frame and once in bulk: the same test function, on
# purpose, from two classes.
SHARED = [HealthCheck.differing_executors]


class ReceiverTests(unittest.SynchronousTestCase):
    """The receiver's contract, frame by frame (``receivesFrames`` unset)."""

    receiver: type = Collector

    def test_send_string(self) -> None:
        proto, transport = connected(receiver=self.receiver)
        for payload, hexed in FRAME_VECTORS:
            proto.sendString(payload)
        proto.sendString(b"x" * 300)
        expected = b"".join(bytes.fromhex(h) for _, h in FRAME_VECTORS) + b"\xac\x02" + b"x" * 300
        self.assertEqual(transport.value(), expected)

    def test_golden_stream_bytewise(self) -> None:
        proto, _ = connected(receiver=self.receiver)
        stream = b"".join(frame for _, frame in golden_frames())
        for i in range(len(stream)):
            proto.dataReceived(stream[i : i + 1])
        self.assertEqual(len(proto.strings), 11)

    def test_length_limit(self) -> None:
        """An oversize header drops the connection; nothing after it is dispatched."""
        proto, transport = connected(limit=10, receiver=self.receiver)
        proto.dataReceived(b"\x01a\x00\x00" + b"\x0bhello world" + b"\x01b\x00\x00")
        self.assertEqual(proto.strings, [b"a"])
        self.assertTrue(transport.disconnecting)

    def test_length_limit_before_body(self) -> None:
        """The limit is enforced on the header alone: the body is never buffered."""
        proto, transport = connected(receiver=self.receiver)
        proto.dataReceived(bytes(uleb128_encode(proto.MAX_LENGTH + 1)))
        self.assertTrue(transport.disconnecting)
        self.assertEqual(proto._unprocessed, b"")

    def test_header_too_long(self) -> None:
        proto, transport = connected(receiver=self.receiver)
        proto.dataReceived(b"\x80" * 4)
        self.assertFalse(transport.disconnecting)
        proto.dataReceived(b"\x80" * 5)
        self.assertFalse(transport.disconnecting)
        # A tenth continuation byte means an eleventh header byte: an error already.
        proto.dataReceived(b"\x80")
        self.assertTrue(transport.disconnecting)
        self.assertEqual(proto.strings, [])

    def test_large_frame_in_small_chunks(self) -> None:
        proto, _ = connected(receiver=self.receiver)
        payload = bytes(range(256)) * 4096
        frame = bytearray()
        frame_encode(frame, payload)
        frame_encode(frame, b"next")
        for i in range(0, len(frame), 1000):
            proto.dataReceived(bytes(frame[i : i + 1000]))
        self.assertEqual(proto.strings, [payload, b"next"])

    def test_pause_holds_frames(self) -> None:
        class Pausing(self.receiver):  # type: ignore[name-defined]
            def stringReceived(self, string: bytes) -> None:
                super().stringReceived(string)
                self.pauseProducing()

        proto = Pausing()
        proto.makeConnection(StringTransport())
        proto.dataReceived(b"\x01a\x00\x00\x01b\x00\x00")
        self.assertEqual(proto.strings, [b"a"])
        proto.resumeProducing()
        self.assertEqual(proto.strings, [b"a", b"b"])

    @settings(max_examples=200, deadline=None, suppress_health_check=SHARED)
    @given(
        st.lists(st.binary(max_size=300), max_size=20),
        st.lists(st.integers(min_value=1, max_value=64), min_size=1),
    )
    def test_random_chunks(self, payloads: list[bytes], cuts: list[int]) -> None:
        """Any payload list split at any chunk boundaries arrives whole and in order."""
        proto, _ = connected(receiver=self.receiver)
        stream = bytearray()
        for payload in payloads:
            frame_encode(stream, payload)
        pos = 0
        i = 0
        while pos < len(stream):
            size = cuts[i % len(cuts)]
            proto.dataReceived(bytes(stream[pos : pos + size]))
            pos += size
            i += 1
        self.assertEqual(proto.strings, payloads)
        self.assertEqual(frame_decode_all(stream), (payloads, bytearray()))

    @settings(max_examples=50, deadline=None, suppress_health_check=SHARED)
    @given(st.lists(st.binary(max_size=50), max_size=20))
    def test_one_byte_at_a_time(self, payloads: list[bytes]) -> None:
        proto, _ = connected(receiver=self.receiver)
        stream = bytearray()
        for payload in payloads:
            frame_encode(stream, payload)
        for i in range(len(stream)):
            proto.dataReceived(bytes(stream[i : i + 1]))
        self.assertEqual(proto.strings, payloads)

    @settings(max_examples=200, deadline=None, suppress_health_check=SHARED)
    @given(st.binary(max_size=2000))
    def test_random_bytes(self, junk: bytes) -> None:
        """Random bytes end in frames, a wait or a dropped connection; never an exception."""
        proto, transport = connected(limit=1024, receiver=self.receiver)
        proto.dataReceived(junk)
        self.assertLessEqual(len(proto._unprocessed), 1024 + 10 + 4)


class BulkReceiverTests(ReceiverTests):
    """The same contract when runs of small frames go through `framesReceived`."""

    receiver = BulkCollector

    def test_pause_in_a_run(self) -> None:
        """Frames after a pause wait, in order, with what followed them in the read."""

        class Pausing(BulkCollector):
            def stringReceived(self, string: bytes) -> None:
                super().stringReceived(string)
                if string == b"pause":
                    self.pauseProducing()

        proto = Pausing()
        proto.makeConnection(StringTransport())
        stream = bytearray()
        for payload in (b"one", b"pause", b"two", b"x" * 20000, b"three"):
            frame_encode(stream, payload)
        proto.dataReceived(bytes(stream[:-3]))
        self.assertEqual(proto.strings, [b"one", b"pause"])
        proto.dataReceived(bytes(stream[-3:]))
        self.assertEqual(proto.strings, [b"one", b"pause"])
        proto.resumeProducing()
        self.assertEqual(proto.strings, [b"one", b"pause", b"two", b"x" * 20000, b"three"])

    def test_close_in_a_run(self) -> None:
        """Nothing after the frame whose receiver closed the connection is dispatched."""

        class Closing(BulkCollector):
            def stringReceived(self, string: bytes) -> None:
                super().stringReceived(string)
                if string == b"close":
                    self.transport.loseConnection()

        proto = Closing()
        proto.makeConnection(StringTransport())
        stream = bytearray()
        for payload in (b"one", b"close", b"two"):
            frame_encode(stream, payload)
        proto.dataReceived(bytes(stream))
        self.assertEqual(proto.strings, [b"one", b"close"])


class SplitFramesTests(unittest.SynchronousTestCase):
    def test_run_stops_where_it_must(self) -> None:
        """The run ends at a padded frame, a large one, a long header or an incomplete one."""
        cases = [
            (b"ab", "padded"),
            (b"x" * 16384, "past 16 KiB"),
            (b"x" * 100, "within max_length"),
        ]
        for payload, why in cases:
            stream = bytearray()
            frame_encode(stream, b"abc")
            frame_encode(stream, payload)
            frames, end = split_frames(bytes(stream), max_length=50)
            self.assertEqual(frames, [b"\x03abc"], why)
            self.assertEqual(end, 4, why)
        self.assertEqual(split_frames(b"\x03abc\x05ab"), ([b"\x03abc"], 4))
        # A header longer than it needs to be is left to the frame-by-frame path.
        self.assertEqual(split_frames(b"\x03abc\x83\x00abc"), ([b"\x03abc"], 4))
        self.assertEqual(split_frames(b"\x80\x80\x01"), ([], 0))

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.binary(min_size=3, max_size=400), max_size=30), st.integers(0, 3))
    def test_run_is_the_frames(self, payloads: list[bytes], start: int) -> None:
        """A run of small frames is exactly their bytes, header and all, from any start."""
        stream = bytearray(b"z" * start)
        for payload in payloads:
            frame_encode(stream, payload)
        frames, end = split_frames(bytes(stream), start)
        self.assertEqual(end, len(stream))
        self.assertEqual(b"".join(frames), bytes(stream[start:]))
        self.assertEqual(frame_decode_all(b"".join(frames))[0], payloads)
