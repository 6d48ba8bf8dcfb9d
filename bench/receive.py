"""The client's whole receive path: contract_quotes a second to a handler, beside a bare parse.

Usage: python bench/receive.py [--json] [--quick] [--profile]

A logged-in `SmarketsClientProtocol` (built as tests/test_client.py's FakeExchange builds
it: Session, StreamingAPIClient, SmarketsClientFactory.buildProtocol, StringTransport,
Clock) is fed 64 KiB reads of contract_quotes frames whose seqs follow the login
response's; each message reaches a handler added with ``add_handler('seto.contract_quotes')``
that counts. Beside it, in the same run, a plain loop of ``seto_pb2.Payload.FromString``
over the same payloads: ``ratio`` is the first over the second (target >= 0.4), i.e. how
much of the time goes to parsing rather than to the session and the dispatch.

``with_book_msgs_per_s`` is the same path when the client holds the market's book (as after
``subscribe``), so every update is also applied to a `MarketBook`. ``layers_us_per_msg``
splits the path without a profiler's distortion, each layer timed alone: the framing
(`ULEB128StringReceiver` handing each read's run of frames to ``framesReceived``), framing
and the one-call parse of a run (`parse_frames`), the session (`SessionProtocolMixin` with
a direct route that counts), and the whole client. ``frame_by_frame_us_per_msg`` is the
client with ``receivesFrames`` off: each frame parsed alone and taken through
``payloadReceived``, the path before the bulk one. ``--profile`` prints the cProfile of one
pass, by own time.
"""

from __future__ import annotations

import cProfile
import io
import pathlib
import pstats
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import FedClient, chunked, emit, frames, parser, quotes_payload  # noqa: E402

from twisted.internet.task import Clock  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from txsmarkets.wire import seto_pb2  # noqa: E402
from txsmarkets.wire.framing import ULEB128StringReceiver  # noqa: E402
from txsmarkets.wire.messages import parse_frames  # noqa: E402
from txsmarkets.session.protocol import SessionProtocolMixin  # noqa: E402
from txsmarkets.session.sequencer import SequenceState  # noqa: E402
from txsmarkets.client.state import MarketBook  # noqa: E402


class FramesOnly(ULEB128StringReceiver):
    """The framing layer alone: counts the frames of each run."""

    receivesFrames = True
    count = 0

    def framesReceived(self, frames: list[bytes]) -> int:
        self.count += len(frames)
        return len(frames)


class FramesAndParse(ULEB128StringReceiver):
    """Framing, then the one-call parse of each run: counts the payloads."""

    receivesFrames = True
    count = 0

    def framesReceived(self, frames: list[bytes]) -> int:
        for _ in parse_frames(frames):
            self.count += 1
        return len(frames)


class SessionOnly(SessionProtocolMixin, ULEB128StringReceiver):
    """Framing, parse and the session layer (seq checks, liveness), its direct route
    counting what it delivers."""

    receivesFrames = True
    count = 0

    def directRoutes(self) -> dict[int, object]:
        return {seto_pb2.PAYLOAD_CONTRACT_QUOTES: self.counted}

    def counted(self, payload: seto_pb2.Payload) -> None:
        self.count += 1


def layer_pass(cls: type, chunks: list[bytes], count: int) -> float:
    """Seconds for one fresh ``cls`` protocol to receive every chunk; checks the count."""
    proto = cls()
    if isinstance(proto, SessionProtocolMixin):
        proto.clock = Clock()
        proto.sequence = SequenceState()
    proto.makeConnection(StringTransport())
    if isinstance(proto, SessionProtocolMixin):
        proto.sequence.inseq = 2  # as if logged in: the login response was seq 1
    receive = proto.dataReceived
    start = time.perf_counter()
    for data in chunks:
        receive(data)
    elapsed = time.perf_counter() - start
    if proto.count != count:
        raise AssertionError(f"{cls.__name__} saw {proto.count} messages of {count}")
    return elapsed


def client_pass(chunks: list[bytes], count: int, with_book: bool = False, bulk: bool = True) -> float:
    """Seconds for one fresh logged-in client to receive every chunk; checks the count."""
    fed = FedClient()
    fed.proto.receivesFrames = bulk
    seen = [0]

    def on_quotes(message: seto_pb2.Payload) -> None:
        seen[0] += 1

    fed.client.add_handler("seto.contract_quotes", on_quotes)
    if with_book:
        fed.client.markets[123] = MarketBook(123)
    receive = fed.proto.dataReceived
    start = time.perf_counter()
    for data in chunks:
        receive(data)
    elapsed = time.perf_counter() - start
    if seen[0] != count:
        raise AssertionError(f"the handler saw {seen[0]} messages of {count}")
    if fed.session.sequence.inseq != count + 2 or not fed.session.connected:
        raise AssertionError("the session lost its place or its connection")
    if with_book and not fed.client.markets[123].contracts:
        raise AssertionError("the book was not updated")
    return elapsed


def parse_pass(payloads: list[bytes]) -> float:
    """Seconds for a bare ``Payload.FromString`` over every payload."""
    parse = seto_pb2.Payload.FromString
    start = time.perf_counter()
    for data in payloads:
        parse(data)
    return time.perf_counter() - start


def profile(chunks: list[bytes], count: int) -> str:
    """The top of a cProfile of one client pass, by own time."""
    profiler = cProfile.Profile()
    profiler.runcall(client_pass, chunks, count)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(18)
    return out.getvalue()


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--profile", action="store_true", help="print a cProfile of one pass")
    args = p.parse_args()
    count = 20_000 if args.quick else 150_000
    repeat = 2 if args.quick else 7
    payloads = [quotes_payload(seq) for seq in range(2, count + 2)]
    chunks = chunked(frames(payloads))
    client_best = parse_best = book_best = float("inf")
    # Interleaved, so that both sides see the same state of a shared, noisy machine.
    for _ in range(repeat):
        client_best = min(client_best, client_pass(chunks, count))
        parse_best = min(parse_best, parse_pass(payloads))
        book_best = min(book_best, client_pass(chunks, count, with_book=True))
    layers = {}
    for name, cls in (("framing", FramesOnly), ("framing+parse", FramesAndParse), ("+session", SessionOnly)):
        best = min(layer_pass(cls, chunks, count) for _ in range(max(2, repeat // 2)))
        layers[name] = round(1e6 * best / count, 3)
    layers["+client dispatch"] = round(1e6 * client_best / count, 3)
    frame_by_frame = min(client_pass(chunks, count, bulk=False) for _ in range(max(2, repeat // 2)))
    msgs_per_s = count / client_best
    pure = count / parse_best
    result = {
        "msgs_per_s": round(msgs_per_s),
        "pure_parse_msgs_per_s": round(pure),
        "ratio": round(msgs_per_s / pure, 3),
        "with_book_msgs_per_s": round(count / book_best),
        "client_us_per_msg": round(1e6 * client_best / count, 3),
        "parse_us_per_msg": round(1e6 * parse_best / count, 3),
        "layers_us_per_msg": layers,
        "frame_by_frame_us_per_msg": round(1e6 * frame_by_frame / count, 3),
        "messages": count,
        "stream_bytes": sum(len(c) for c in chunks),
        "chunk_bytes": len(chunks[0]),
        "passes": repeat,
        "target_ratio": 0.4,
    }
    if args.profile:
        print(profile(chunks, count))
    emit(result, args.json)


if __name__ == "__main__":
    main()
