"""One million messages through one client session: resident memory before and after.

Usage: python bench/soak.py [--json] [--quick]

A logged-in client protocol (as in receive.py) holding the market's book is fed
contract_quotes frames in 64 KiB reads, the seqs following on from the login response,
built batch by batch so that the benchmark's own data never piles up. Between batches
the Clock moves on half a second: the session's ticker runs and the client heartbeats
(every second), its writes are thrown away as a socket would send them.

``rss_*_mib`` are VmRSS from /proc/self/status: before the first message, after the first
5% (the allocator's pools are warm by then), and at the end; target growth under 20 MiB.
``gc_objects_*`` count the objects the collector tracks: a leak of Python objects shows
there whatever the allocator does. ``--quick`` sends 50,000 messages.
"""

from __future__ import annotations

import gc
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import FedClient, chunked, emit, frames, mib, parser, quotes_payload, rss_bytes  # noqa: E402

from txsmarkets.wire import seto_pb2  # noqa: E402
from txsmarkets.client.state import MarketBook  # noqa: E402

BATCH = 10_000


def main() -> None:
    args = parser(__doc__).parse_args()
    total = 50_000 if args.quick else 1_000_000
    fed = FedClient(heartbeat_interval=1.0)
    seen = [0]

    def on_quotes(message: seto_pb2.Payload) -> None:
        seen[0] += 1

    fed.client.add_handler("seto.contract_quotes", on_quotes)
    fed.client.markets[123] = MarketBook(123)
    receive = fed.proto.dataReceived
    gc.collect()
    rss_start = rss_bytes()
    objects_start = len(gc.get_objects())
    rss_warm = objects_warm = 0
    warm_after = max(BATCH, total // 20)
    seq = fed.next_seq
    sent = 0
    busy = 0.0
    while sent < total:
        count = min(BATCH, total - sent)
        chunks = chunked(frames([quotes_payload(s) for s in range(seq, seq + count)]))
        start = time.perf_counter()
        for data in chunks:
            receive(data)
        busy += time.perf_counter() - start
        del chunks
        seq += count
        sent += count
        fed.clock.advance(0.5)
        fed.transport.clear()
        if not rss_warm and sent >= warm_after:
            rss_warm = rss_bytes()
            objects_warm = len(gc.get_objects())
    rss_end = rss_bytes()
    gc.collect()
    objects_end = len(gc.get_objects())
    if seen[0] != total:
        raise AssertionError(f"the handler saw {seen[0]} messages of {total}")
    if not fed.session.connected or fed.session.sequence.inseq != seq:
        raise AssertionError("the session lost its connection or its place")
    sent_by_client = fed.session.sequence.outseq - 2  # everything after the login
    result = {
        "messages": total,
        "rss_start_mib": mib(rss_start),
        "rss_warm_mib": mib(rss_warm),
        "rss_end_mib": mib(rss_end),
        "rss_growth_mib": mib(rss_end - rss_start),
        "rss_growth_after_warm_mib": mib(rss_end - rss_warm),
        "gc_objects_start": objects_start,
        "gc_objects_warm": objects_warm,
        "gc_objects_end": objects_end,
        "msgs_per_s": round(total / busy),
        "client_heartbeats_sent": sent_by_client,
        "replay_store_len": len(fed.session.sequence.store),
        "target_growth_mib": 20,
    }
    if sent_by_client < 1:
        raise AssertionError("the client never heartbeat: the ticker did not run")
    emit(result, args.json)


if __name__ == "__main__":
    main()
