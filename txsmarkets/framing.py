"""The 9.3 client's ``framing`` module, kept under its name: see `txsmarkets.wire.framing`."""

from txsmarkets.wire.framing import (
    MAX_HEADER_LENGTH,
    MIN_FRAME_LENGTH,
    MIN_FRAME_SIZE,
    IncompleteULEB128,
    InvalidULEB128,
    ULEB128StringReceiver,
    frame_decode_all,
    frame_encode,
    frame_payload,
    split_frames,
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
    "frame_payload",
    "split_frames",
    "uleb128_decode",
    "uleb128_encode",
]
