"""One order_cancel_all over 250,000 resting orders, while another client pings.

Usage: python bench/cancel_all.py [--json] [--quick] [--orders N]

The exchange (in this process, loopback TCP, default options) holds N resting orders of
the demo account (placed through the engine before the clients log in). The demo client
sends one ``order_cancel_all``; the demo2 client pings one ping at a time until the demo
client's handlers have seen every ``order_cancelled``. The exchange produces the answer a
chunk a turn while the reader's buffer has room, so the pings are answered in between.

Figures: the cancellations the client's handlers counted (must be N), the seconds until the
last, the pings answered meanwhile and their round trip p50/p99/max, the exchange's chunks
that waited for the reader, and resident memory before and after. ``--quick``: 5,000 orders.
"""

from __future__ import annotations

import pathlib
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import cheap_catalogue, emit, mib, order_create, parser, percentile, rss_bytes, run_reactor  # noqa: E402

from txsmarkets.client import SessionSettings, connect  # noqa: E402
from txsmarkets.odds import VALID_PRICES  # noqa: E402
from txsmarkets.wire import seto_pb2  # noqa: E402


async def bench(reactor: Any, n: int) -> dict[str, Any]:
    from txsmarkets.exchange.service import start_exchange

    exchange = await start_exchange(reactor, catalogue=cheap_catalogue(["reader", "pinger"]))
    engine = exchange.engine
    reader_id = engine.accounts.by_username("reader").id
    prices = [p for p in VALID_PRICES if p <= 2000]
    start = time.perf_counter()
    for i in range(n):
        engine.submit(reader_id, order_create(i + 1, seto_pb2.SIDE_BUY, prices[i % len(prices)], 100, 11))
    place_s = time.perf_counter() - start
    assert len(engine.accounts[reader_id].orders) == n
    rss_before = rss_bytes()

    def settings(name: str) -> SessionSettings:
        return SessionSettings(name, name, host="127.0.0.1", port=exchange.port, ssl=False)

    reader = await connect(settings("reader"), reactor)
    pinger = await connect(settings("pinger"), reactor)
    try:
        cancelled = [0]

        def count(message: Any) -> None:
            cancelled[0] += 1

        reader.add_handler("seto.order_cancelled", count)
        rtts: list[float] = []
        start = time.perf_counter()
        accepted = reader.cancel_all()
        while cancelled[0] < n:
            rtts.append(await pinger.ping())
            if time.perf_counter() - start > 600:
                break
        elapsed = time.perf_counter() - start
        await accepted
        rss_after = rss_bytes()
        rtts.sort()
        result = {
            "orders": n,
            "place_s": round(place_s, 2),
            "cancelled_seen": cancelled[0],
            "complete": cancelled[0] == n,
            "reader_connected": reader.session.connected,
            "cancel_all_s": round(elapsed, 2),
            "cancelled_per_s": round(cancelled[0] / elapsed),
            "pings": len(rtts),
            "ping_p50_ms": round(1e3 * percentile(rtts, 0.50), 2),
            "ping_p99_ms": round(1e3 * percentile(rtts, 0.99), 2),
            "ping_max_ms": round(1e3 * rtts[-1], 2),
            "answer_chunk": exchange.factory.answer_chunk,
            "rss_before_mib": mib(rss_before),
            "rss_after_mib": mib(rss_after),
        }
    finally:
        for client in (reader, pinger):
            lost = client.session.when_disconnected()
            client.session.disconnect()
            await lost
        await exchange.stop()
    return result


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--orders", type=int, default=None, help="resting orders (default 250,000; 5,000 with --quick)")
    args = p.parse_args()
    n = args.orders or (5000 if args.quick else 250_000)
    result = run_reactor(lambda reactor: bench(reactor, n))
    emit(result, args.json)
    if not result["complete"] or not result["reader_connected"]:
        print("the reader did not get every cancellation", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
