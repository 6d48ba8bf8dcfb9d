"""Order create and quotes read over the HTTP API, beside the streaming order round trip.

Usage: python bench/http_api.py [--json] [--quick]

The embedded exchange runs in a child process, serving the streaming protocol and the HTTP
API v3 (``start_exchange(..., http=...)``) on free loopback ports, with the rate limits of
both lifted (speed is measured here, not the venue's pacing). This process runs a
`txsmarkets.http_api.HTTPAPIClient` logged in as demo2 (plain HTTP on a persistent
connection) and a streaming `txsmarkets.client` session logged in as demo.

One at a time, in alternating blocks of 50 so that both see the same moments of the
machine:

- HTTP: ``create_order`` (a buy of 10,000 at 2000), from the call to the parsed
  `OrderCreated`: ``http_create_p50_us``/``http_create_p99_us``; its ``cancel_order``,
  timed apart (``http_cancel_p50_us``); and ``quotes([1])``, to the parsed books:
  ``http_quotes_p50_us``/``http_quotes_p99_us``;
- streaming: the same order, ``create_order`` to its ``order_accepted``:
  ``streaming_create_p50_us``/``streaming_create_p99_us``, then its cancel.

``http_create_over_streaming_p50`` is the ratio of the two creates' medians; the target is
4 or under. ``*_cpu_us_per_request`` is the CPU each process spent a request in each kind
of block (this process's ``client``, the child's ``exchange``): where the time goes.
"""

from __future__ import annotations

import pathlib
import socket
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import ChildServer, emit, parser, percentile, process_cpu_seconds, run_reactor  # noqa: E402

from txsmarkets.client import BUY, SessionSettings, StreamingAPIClient, connect  # noqa: E402
from txsmarkets.http_api import HTTPAPIClient  # noqa: E402

PRICE = 2000
QUANTITY = 10_000
MARKET, CONTRACT = 1, 11
BLOCK = 50


def free_port() -> int:
    """A loopback port nothing listens on (just now): the HTTP API's, named to the child."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def http_block(client: HTTPAPIClient, n: int, samples: dict[str, list[float]]) -> None:
    """``n`` HTTP creates (each cancelled) and quotes reads, one at a time."""
    for _ in range(n):
        start = time.perf_counter()
        created = await client.create_order(MARKET, CONTRACT, "buy", PRICE, QUANTITY)
        samples["http_create"].append(time.perf_counter() - start)
        start = time.perf_counter()
        await client.cancel_order(created.order_id)
        samples["http_cancel"].append(time.perf_counter() - start)
        start = time.perf_counter()
        books = await client.quotes([MARKET])
        samples["http_quotes"].append(time.perf_counter() - start)
        if CONTRACT not in books:
            raise AssertionError(f"no book for contract {CONTRACT}: {books!r}")


async def streaming_block(client: StreamingAPIClient, n: int, samples: dict[str, list[float]]) -> None:
    """``n`` streaming creates to their acceptance (each cancelled), one at a time."""
    for _ in range(n):
        start = time.perf_counter()
        accepted = await client.create_order(MARKET, CONTRACT, BUY, PRICE, QUANTITY)
        samples["streaming_create"].append(time.perf_counter() - start)
        await client.cancel_order(accepted.order_accepted.order_id)


async def bench(reactor: Any, port: int, http_port: int, exchange_pid: int, count: int) -> dict[str, Any]:
    """Every figure (see the module doc), after a warm-up of each side."""
    no_limits = {name: None for name in ("login", "logout", "quotes", "cancel_order", "cancel_all")}
    http = HTTPAPIClient(reactor, "demo2", "demo2", url=f"http://127.0.0.1:{http_port}/v3/", limits=no_limits)
    streaming = await connect(SessionSettings("demo", "demo", host="127.0.0.1", port=port, ssl=False), reactor)
    samples: dict[str, list[float]] = {"http_create": [], "http_cancel": [], "http_quotes": [], "streaming_create": []}
    try:
        await http.login()
        await http_block(http, min(100, count), {key: [] for key in samples})
        await streaming_block(streaming, min(100, count), {key: [] for key in samples})
        cpu = {"http_client": 0.0, "http_exchange": 0.0, "streaming_client": 0.0, "streaming_exchange": 0.0}
        for first in range(0, count, BLOCK):
            n = min(BLOCK, count - first)
            for side, block, client in (("http", http_block, http), ("streaming", streaming_block, streaming)):
                exchange_before, client_before = process_cpu_seconds(exchange_pid), time.process_time()
                await block(client, n, samples)  # type: ignore[operator]
                cpu[f"{side}_client"] += time.process_time() - client_before
                cpu[f"{side}_exchange"] += process_cpu_seconds(exchange_pid) - exchange_before
        account = await http.account()
        left = (await http.orders(state=["created", "partial"])).items
    finally:
        await http.close()
        lost = streaming.session.when_disconnected()
        streaming.session.disconnect()
        await lost
    if left:
        raise AssertionError(f"{len(left)} HTTP orders still live after their cancels")
    figures: dict[str, Any] = {}
    for key, values in samples.items():
        values.sort()
        figures[f"{key}_p50_us"] = round(1e6 * percentile(values, 50), 1)
        if key != "http_cancel":
            figures[f"{key}_p99_us"] = round(1e6 * percentile(values, 99), 1)
    figures["http_create_over_streaming_p50"] = round(
        percentile(samples["http_create"], 50) / percentile(samples["streaming_create"], 50), 2
    )
    # CPU a request costs each side: an HTTP block is a create, a cancel and a quotes read
    # each time; a streaming block a create and a cancel.
    for key, seconds in cpu.items():
        figures[f"{key}_cpu_us_per_request"] = round(1e6 * seconds / (count * (3 if key.startswith("http") else 2)), 1)
    figures["http_available_balance_after"] = str(account.available_balance)
    return figures


def main() -> None:
    args = parser(__doc__).parse_args()
    count = 200 if args.quick else 2000
    http_port = free_port()
    options: dict[str, Any] = {
        "http": f"tcp:{http_port}:interface=127.0.0.1",
        # Speed, not the venue's limits: none on either side.
        "http_rate_limits": {name: None for name in ("create_session", "get_quotes", "cancel_order", "cancel_orders")},
        "throttle_rate": 10_000_000,
        "throttle_burst": 10_000_000,
    }
    with ChildServer("exchange", **options) as exchange:
        figures = run_reactor(lambda reactor: bench(reactor, exchange.port, http_port, exchange.process.pid, count))
    result: dict[str, Any] = dict(figures)
    result["orders"] = count
    result["layout"] = "exchange in a child process; both clients in this one; loopback TCP, plain HTTP/1.1 kept alive"
    result["targets"] = {"http_create_over_streaming_p50": 4}
    emit(result, args.json)


if __name__ == "__main__":
    main()
