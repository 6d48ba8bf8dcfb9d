"""Frames decoded a second by ULEB128StringReceiver: a 64 KiB-chunked stream and 1 MiB bursts.

Usage: python bench/framing.py [--json] [--quick]

The two figures are per frame, from the same run: decoding must not slow down when a whole
megabyte arrives in one read (the ratio should stay within 0.8-1.25).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from twisted.internet.testing import StringTransport  # noqa: E402

from _common import quotes_payload  # noqa: E402
from txsmarkets.wire.framing import ULEB128StringReceiver, frame_encode  # noqa: E402


class Counter(ULEB128StringReceiver):
    count = 0

    def stringReceived(self, string: bytes) -> None:
        self.count += 1


def quotes_stream(size: int) -> tuple[bytes, int]:
    """About ``size`` bytes of contract_quotes frames; returns the stream and its frame count."""
    stream = bytearray()
    seq = 1
    while len(stream) < size:
        frame_encode(stream, quotes_payload(seq))
        seq += 1
    return bytes(stream), seq - 1


def run(stream: bytes, frames: int, chunk: int, repeat: int) -> float:
    """Best frames/second over ``repeat`` passes of ``stream`` fed in ``chunk``-byte reads."""
    chunks = [stream[i : i + chunk] for i in range(0, len(stream), chunk)]
    best = 0.0
    for _ in range(repeat):
        proto = Counter()
        proto.makeConnection(StringTransport())
        start = time.perf_counter()
        for data in chunks:
            proto.dataReceived(data)
        elapsed = time.perf_counter() - start
        assert proto.count == frames, (proto.count, frames)
        best = max(best, frames / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--quick", action="store_true", help="a short run that checks it works")
    args = parser.parse_args()
    stream, frames = quotes_stream(1024 * 1024 if not args.quick else 128 * 1024)
    repeat = 2 if args.quick else 7
    chunked = run(stream, frames, 64 * 1024, repeat)
    burst = run(stream, frames, len(stream), repeat)
    result = {
        "frames": frames,
        "stream_bytes": len(stream),
        "chunked_64k_frames_per_s": round(chunked),
        "burst_1m_frames_per_s": round(burst),
        "burst_over_chunked": round(burst / chunked, 3),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
