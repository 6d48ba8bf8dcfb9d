"""The Smarkets frame format: a ULEB128 length, the payload, zero padding to four bytes.

The functions keep the names of the original client's ``framing`` module; the
`ULEB128StringReceiver` is the Twisted protocol base for the wire, with the contract of
`twisted.protocols.basic.IntNStringReceiver` (``stringReceived``, ``sendString``,
``MAX_LENGTH``, ``lengthLimitExceeded``).
"""

from __future__ import annotations

from typing import Any

from twisted.internet import protocol
from twisted.logger import Logger

from txsmarkets.errors import Error

__all__ = [
    "IncompleteULEB128",
    "InvalidULEB128",
    "MAX_HEADER_LENGTH",
    "MIN_FRAME_LENGTH",
    "MIN_FRAME_SIZE",
    "ULEB128StringReceiver",
    "frame_decode_all",
    "frame_encode",
    "frame_payload",
    "split_frames",
    "uleb128_decode",
    "uleb128_encode",
]

#: A uint64 needs at most ten 7-bit groups; a longer header is a protocol error.
MAX_HEADER_LENGTH = 10
#: Frames shorter than this are padded with zero bytes (9.3's name).
MIN_FRAME_SIZE = 4
#: The same, under the name this package used first.
MIN_FRAME_LENGTH = MIN_FRAME_SIZE

# Past this size a partial frame is collected as a list of chunks and joined once, so that a
# large frame arriving in many small reads costs one copy, not one per read.
_COLLECT_THRESHOLD = 65536


class IncompleteULEB128(Error):
    """The buffer ends before the ULEB128 number does."""


class InvalidULEB128(Error):
    """A ULEB128 number runs longer than `MAX_HEADER_LENGTH` bytes."""


def uleb128_encode(value: int) -> bytearray:
    """Encode a non-negative integer as ULEB128 (7 bits a byte, low group first).

    Returns a new `bytearray`, as the 9.3 client's did (it compares equal to the same
    `bytes`). Raises `ValueError` for a negative number.
    """
    return bytearray(_uleb128_bytes(value))


def _uleb128_bytes(value: int) -> bytes:
    """`uleb128_encode` as immutable `bytes`: what the send path joins to a payload
    (``bytes + bytes`` stays ``bytes``, which every transport takes without a copy)."""
    if value < 0:
        raise ValueError(f"ULEB128 cannot encode a negative number: {value}")
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def uleb128_decode(buf: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode the ULEB128 number at ``buf[pos:]``; return ``(value, bytes_used)``.

    Raises `IncompleteULEB128` when the buffer ends inside the number and `InvalidULEB128`
    when it is longer than `MAX_HEADER_LENGTH` bytes.
    """
    value = 0
    shift = 0
    end = len(buf)
    i = pos
    while i < end:
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if byte < 0x80:
            return value, i - pos
        if i - pos >= MAX_HEADER_LENGTH:
            raise InvalidULEB128(f"ULEB128 header longer than {MAX_HEADER_LENGTH} bytes")
        shift += 7
    raise IncompleteULEB128("buffer ends inside a ULEB128 number")


def _padding(total: int) -> bytes:
    return b"\x00" * (MIN_FRAME_LENGTH - total) if total < MIN_FRAME_LENGTH else b""


def frame_encode(frame: bytearray, payload: bytes) -> None:
    """Append ``payload`` to ``frame`` as one complete frame (header, payload, padding)."""
    header = _uleb128_bytes(len(payload))
    frame += header
    frame += payload
    frame += _padding(len(header) + len(payload))


def frame_decode_all(buf: bytes | bytearray) -> tuple[list[bytes], bytes | bytearray]:
    """Split ``buf`` into the payloads of its complete frames and the bytes left over."""
    payloads = []
    pos = 0
    end = len(buf)
    while pos < end:
        try:
            length, used = uleb128_decode(buf, pos)
        except IncompleteULEB128:
            break
        frame_end = pos + max(used + length, MIN_FRAME_LENGTH)
        if frame_end > end:
            break
        payloads.append(bytes(buf[pos + used : pos + used + length]))
        pos = frame_end
    return payloads, buf[pos:]


def split_frames(data: bytes, pos: int = 0, max_length: int = 16383) -> tuple[list[bytes], int]:
    """The run of whole frames at ``data[pos:]`` that need no padding, nor a header of more
    than two bytes, each with its header; and where the run ends.

    Such a frame's bytes are exactly a protobuf length-delimited value (the ULEB128 header
    is the varint length), which lets a read's frames be parsed in one go. The run stops at
    the first frame that is incomplete, padded (a payload under three bytes: no valid
    payload is), or with a payload longer than ``max_length`` or 16 KiB.
    """
    frames: list[bytes] = []
    add = frames.append
    end = len(data)
    small = min(max_length, 0x7F)
    while pos < end:
        length = data[pos]
        if 3 <= length <= small:
            following = pos + 1 + length
        elif length >= 0x80 and pos + 1 < end and data[pos + 1] < 0x80:
            length = (length & 0x7F) | (data[pos + 1] << 7)
            if length < 0x80 or length > max_length:
                # A header longer than it needs to be, or a frame too large: the
                # frame-by-frame path deals with it.
                break
            following = pos + 2 + length
        else:
            break
        if following > end:
            break
        add(data[pos:following])
        pos = following
    return frames, pos


def frame_payload(frame: bytes) -> bytes:
    """The payload of one of the frames `split_frames` gives."""
    return frame[1:] if frame[0] < 0x80 else frame[2:]


class ULEB128StringReceiver(protocol.Protocol):
    """A receiver of ULEB128-framed strings, the Smarkets wire format.

    Subclasses implement `stringReceived` and call `sendString`, as with Twisted's
    `twisted.protocols.basic.IntNStringReceiver`. Decoding is linear in the bytes received:
    each ``dataReceived`` walks its data once, and a frame larger than one read is collected
    without re-copying what has already arrived.
    """

    #: The largest payload accepted; a longer one drops the connection.
    MAX_LENGTH = 4 * 1024 * 1024
    #: Whether runs of small frames are handed to `ULEB128StringReceiver.framesReceived` a
    #: read at a time, rather than to `stringReceived` one by one.
    receivesFrames = False

    _log = Logger()
    paused = False
    # A TCP or TLS transport (with ``disconnecting`` and the producer methods), once made.
    transport: Any
    _unprocessed = b""
    # While a large frame is being collected: its chunks, their total size, the size wanted.
    _chunks: list[bytes] | None = None
    _collected = 0
    _wanted = 0

    def makeConnection(self, transport: Any) -> None:
        # An instance attribute: the dispatch loops read it after every frame, and an
        # instance's own attribute is the quicker read.
        self.paused = False
        super().makeConnection(transport)

    def stringReceived(self, string: bytes) -> None:
        """Override this for notification when each complete payload is received."""
        raise NotImplementedError

    def framesReceived(self, frames: list[bytes]) -> int:
        """Called, when `receivesFrames` is set, with a read's run of small frames, each
        with its one- or two-byte header (see `split_frames`); returns how many it took.

        This default hands each payload to `stringReceived`. It stops early, as an override
        must, only when the receiver pauses or the connection is closing: the frames not
        taken are then kept for `resumeProducing`.
        """
        taken = 0
        for frame in frames:
            taken += 1
            self.stringReceived(frame_payload(frame))
            if self.paused or self.transport is None or self.transport.disconnecting:
                break
        return taken

    def lengthLimitExceeded(self, length: int) -> None:
        """Called when a frame announces more than `MAX_LENGTH` bytes: drops the connection."""
        self._log.warn(
            "frame of {length} bytes exceeds the limit of {limit}; dropping the connection",
            length=length,
            limit=self.MAX_LENGTH,
        )
        self.transport.loseConnection()

    def headerInvalid(self) -> None:
        """Called when a frame header is longer than allowed: drops the connection."""
        self._log.warn("malformed frame header; dropping the connection")
        self.transport.loseConnection()

    def pauseProducing(self) -> None:
        """Stop dispatching frames until `resumeProducing`; the transport stops reading."""
        self.paused = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        """Dispatch what was held back and read again."""
        self.paused = False
        self.transport.resumeProducing()
        self.dataReceived(b"")

    def stopProducing(self) -> None:
        """Stop for good: the transport closes."""
        self.transport.stopProducing()

    def sendString(self, string: bytes) -> None:
        """Send ``string`` as one frame."""
        length = len(string)
        if length < 0x80:
            header = bytes((length,))
        else:
            header = _uleb128_bytes(length)
        if length + len(header) < MIN_FRAME_LENGTH:
            self.transport.write(header + string + _padding(length + len(header)))
        else:
            self.transport.write(header + string)

    def dataReceived(self, data: bytes) -> None:
        """Split the stream into frames and call `stringReceived` for each payload."""
        if self._chunks is not None:
            self._chunks.append(data)
            self._collected += len(data)
            if self._collected < self._wanted:
                return
            data = b"".join(self._chunks)
            self._chunks = None
        elif self._unprocessed:
            data = self._unprocessed + data
        self._unprocessed = b""

        pos = 0
        end = len(data)
        limit = self.MAX_LENGTH
        bulk = self.receivesFrames
        while pos < end and not self.paused:
            if bulk:
                frames, following = split_frames(data, pos, limit)
                if frames:
                    taken = self.framesReceived(frames)
                    if self.transport is None or self.transport.disconnecting:
                        return
                    if taken < len(frames):
                        # Paused part way: what is left waits for resumeProducing.
                        self._unprocessed = b"".join(frames[taken:]) + data[following:]
                        return
                    pos = following
                    if pos == end or self.paused:
                        break
            length = data[pos]
            used = 1
            if length >= 0x80:
                try:
                    length, used = uleb128_decode(data, pos)
                except IncompleteULEB128:
                    break
                except InvalidULEB128:
                    self.headerInvalid()
                    return
            if length > limit:
                self.lengthLimitExceeded(length)
                return
            frame_end = pos + used + length
            if frame_end - pos < MIN_FRAME_LENGTH:
                frame_end = pos + MIN_FRAME_LENGTH
            if frame_end > end:
                if frame_end - pos > _COLLECT_THRESHOLD:
                    self._chunks = [data[pos:]]
                    self._collected = end - pos
                    self._wanted = frame_end - pos
                    return
                break
            payload = data[pos + used : pos + used + length]
            pos = frame_end
            self.stringReceived(payload)
            if self.transport is None or self.transport.disconnecting:
                # The receiver chose to end the connection: nothing after it is dispatched.
                return
        self._unprocessed = data[pos:] if pos < end else b""
