"""The 9.3 ``smarkets.streaming_api.framing`` module: ULEB128 frames.

`frame_encode` (``frame_encode(frame, payload)`` appends to a bytearray), `frame_decode_all`,
`uleb128_encode` (returns a bytearray), `uleb128_decode`, `IncompleteULEB128` and
`MIN_FRAME_SIZE`, with this package's Twisted receiver `ULEB128StringReceiver`: all from
`txsmarkets.framing`.
"""

from txsmarkets.framing import (
    MAX_HEADER_LENGTH,
    MIN_FRAME_LENGTH,
    MIN_FRAME_SIZE,
    IncompleteULEB128,
    InvalidULEB128,
    ULEB128StringReceiver,
    frame_decode_all,
    frame_encode,
    uleb128_decode,
    uleb128_encode,
)

__all__ = [
    "IncompleteULEB128",
    "InvalidULEB128",
    "MAX_HEADER_LENGTH",
    "MIN_FRAME_LENGTH",
    "MIN_FRAME_SIZE",
    "ULEB128StringReceiver",
    "frame_decode_all",
    "frame_encode",
    "uleb128_decode",
    "uleb128_encode",
]
