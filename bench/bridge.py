"""What the bridge's polling costs: an order's round trip through it against direct HTTP,
the market data's age, and each endpoint's requests a minute against its limit, with the
upstream's rate limits on (a 429 is a bug: the count must be 0).

Usage: python bench/bridge.py [--json] [--quick] [--minutes M] [--markets N]

The upstream is the embedded exchange in a child process, serving the HTTP API v3 with its
documented rate limits (quotes 50 a minute, a cancel 10 a second, logins 10 a minute ...)
and simulated traders on ``N`` markets (50; 10 with ``--quick``), plus one quiet market
(no simulated traders) for the orders. In this process: a bridge (`start_bridge`, its
default options: the activity polled every second, quotes as often as their limit
allows) with a streaming client logged in through it as demo, subscribed to the ``N``
markets; and a direct `HTTPAPIClient` logged in as demo2, with the client's default
limits. For ``M`` minutes (10; 15 seconds with ``--quick``), every 0.25 s (each side first
every other time):

- through the bridge: ``create_order`` to its ``order_accepted``
  (``bridge_create_p50_us``/``_p99_us``), then its cancel to its ``order_cancelled``
  (``bridge_cancel_p50_us``, which waits for the activity poll that shows it);
- direct: the same order, ``create_order`` to the parsed answer
  (``direct_create_p50_us``/``_p99_us``), then ``cancel_order``;
  ``bridge_over_direct_create_p50``/``_p99`` are their ratios;
- the market data's age as the bridge hands it downstream, from its quotes request to the
  hand-over (``market_data_age_p50_ms``/``_p99_ms``, over every payload of the run), the
  rounds of quotes and their mean spacing (``quotes_round_interval_s``: what a subscriber's
  view may be older by, between two rounds);
- ``requests``: each endpoint's requests (scope ``bridge``: the bridge's own, limited per
  address; ``account``: the bridge's upstream account; ``direct``: the direct client),
  with the most seen in any sliding minute (sampled every second), its limit a minute, the
  most of its limit ever in use, and its 429s; ``rate_limited_429`` is every 429 of the run
  (must be 0).
"""

from __future__ import annotations

import json
import pathlib
import socket
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import ChildServer, emit, parser, percentile, run_reactor  # noqa: E402

from twisted.internet import task  # noqa: E402

from txsmarkets.bridge import start_bridge  # noqa: E402
from txsmarkets.bridge.figures import Ages  # noqa: E402
from txsmarkets.client import BUY, SessionSettings, connect  # noqa: E402
from txsmarkets.http_api import HTTPAPIClient  # noqa: E402
from txsmarkets.http_api.limits import EndpointFigures  # noqa: E402

PRICE = 2000
QUANTITY = 10_000
#: Seconds between two cycles of orders (one through the bridge, one direct).
CYCLE = 0.25
#: The simulated markets: busy, never going live nor settling during the run.
SIMULATION = {"live_after": None, "settle_after": None, "taker_rate": 2.0}
#: The orders' market: no simulated traders, and never halted (a market with no simulation
#: object of its own is simulated with the defaults, halts included).
QUIET = {"makers": 0, "taker_rate": 0, "jump_rate": 0, "live_after": None, "settle_after": None}


def free_port() -> int:
    """A loopback port nothing listens on (just now): the HTTP API's, named to the child."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_catalogue(folder: pathlib.Path, markets: int) -> tuple[pathlib.Path, int, int]:
    """A catalogue of ``markets`` simulated markets (ids 1..N, contracts 10m+1..3) and a quiet
    one for the orders; its path, and the quiet market's and contract's ids."""
    quiet = markets + 1
    entries: list[dict[str, Any]] = []
    for m in range(1, quiet + 1):
        entry: dict[str, Any] = {"id": m, "name": f"Bench {m}", "contracts": [{"id": m * 10 + c, "name": str(c)} for c in (1, 2, 3)]}
        entry["simulation"] = QUIET if m == quiet else SIMULATION
        entries.append(entry)
    accounts = [
        {"username": name, "password": name, "balance": "1000000.00"} for name in ("demo", "demo2")
    ]
    path = folder / "catalogue.json"
    path.write_text(json.dumps({"accounts": accounts, "events": [{"id": 1, "name": "Bench", "markets": entries}]}))
    return path, quiet, quiet * 10 + 1


def _sampled(peaks: dict[tuple[str, str], int], scope: str, figures: list[EndpointFigures]) -> None:
    for f in figures:
        key = (scope, f.endpoint)
        peaks[key] = max(peaks.get(key, 0), f.last_minute)


def _requests(peaks: dict[tuple[str, str], int], scope: str, figures: list[EndpointFigures]) -> dict[str, Any]:
    return {
        f.endpoint: {
            "requests": f.requests,
            "last_minute_max": peaks.get((scope, f.endpoint), f.last_minute),
            "limit_per_minute": f.per_minute,
            "peak_in_use": f.peak,
            "limit": f.limit,
            "rate_limited_429": f.rate_limited,
        }
        for f in figures
    }


async def bench(reactor: Any, http_port: int, markets: int, quiet: tuple[int, int], seconds: float) -> dict[str, Any]:
    """Every figure (see the module doc)."""
    upstream = f"http://127.0.0.1:{http_port}/v3/"
    market, contract = quiet
    bridge = await start_bridge(reactor, upstream)
    engine = bridge.engine
    # Every age of the run, not the last thousand the status line reads.
    engine.market_data.ages = ages = Ages(size=10**7)
    direct = HTTPAPIClient(reactor, "demo2", "demo2", url=upstream)
    client = await connect(SessionSettings("demo", "demo", host="127.0.0.1", port=bridge.port, ssl=False), reactor)
    samples: dict[str, list[float]] = {"bridge_create": [], "bridge_cancel": [], "direct_create": [], "direct_cancel": []}
    peaks: dict[tuple[str, str], int] = {}

    def sample() -> None:
        _sampled(peaks, "bridge", engine.market_data.client.limits.figures())
        for account in engine.accounts.values():
            if account.clients:
                _sampled(peaks, "account", account.client.limits.figures())
        _sampled(peaks, "direct", direct.limits.figures())

    sampler = task.LoopingCall(sample)
    sampler.clock = reactor
    try:
        await direct.login()
        for m in range(1, markets + 1):
            await client.subscribe(m)
        sampler.start(1.0)

        async def bridged() -> None:
            t = time.perf_counter()
            accepted = await client.create_order(market, contract, BUY, PRICE, QUANTITY)
            samples["bridge_create"].append(time.perf_counter() - t)
            t = time.perf_counter()
            await client.cancel_order(accepted.order_accepted.order_id)
            samples["bridge_cancel"].append(time.perf_counter() - t)

        async def direct_order() -> None:
            t = time.perf_counter()
            created = await direct.create_order(market, contract, "buy", PRICE, QUANTITY)
            samples["direct_create"].append(time.perf_counter() - t)
            t = time.perf_counter()
            await direct.cancel_order(created.order_id)
            samples["direct_cancel"].append(time.perf_counter() - t)

        start = reactor.seconds()
        rounds_before = engine.market_data.rounds
        orders = 0
        while reactor.seconds() - start < seconds:
            cycle = reactor.seconds()
            # Each side first every other cycle: the one second follows the other's cancel,
            # whose activity poll the upstream may still be answering.
            for side in (bridged, direct_order) if orders % 2 == 0 else (direct_order, bridged):
                await side()
            orders += 1
            left = CYCLE - (reactor.seconds() - cycle)
            if left > 0:
                await task.deferLater(reactor, left)
        elapsed = reactor.seconds() - start
        rounds = engine.market_data.rounds - rounds_before
        sampler.stop()
        sample()
        figures = engine.figures()
        [account] = engine.accounts.values()
        requests = {
            "bridge": _requests(peaks, "bridge", engine.market_data.client.limits.figures()),
            "account": _requests(peaks, "account", account.client.limits.figures()),
            "direct": _requests(peaks, "direct", direct.limits.figures()),
        }
        rate_limited = figures.rate_limited + sum(f.rate_limited for f in direct.limits.figures())
        live = (await direct.orders(state=["created", "partial"])).items
        account_live = (await account.client.orders(state=["created", "partial"])).items
    finally:
        if sampler.running:
            sampler.stop()
        await direct.close()
        lost = client.session.when_disconnected()
        client.session.disconnect()
        await lost
        await bridge.stop()
    if live or account_live:
        raise AssertionError(f"{len(live) + len(account_live)} orders still live after their cancels")
    result: dict[str, Any] = {}
    for key, values in samples.items():
        values.sort()
        result[f"{key}_p50_us"] = round(1e6 * percentile(values, 50), 1)
        result[f"{key}_p99_us"] = round(1e6 * percentile(values, 99), 1)
    for q in (50, 99):
        result[f"bridge_over_direct_create_p{q}"] = round(
            percentile(samples["bridge_create"], q) / percentile(samples["direct_create"], q), 2
        )
    p50, p99 = ages.percentile(50), ages.percentile(99)
    if p50 is None or p99 is None:
        raise AssertionError("no market data was handed downstream")
    result["market_data_age_p50_ms"] = round(1e3 * p50, 2)
    result["market_data_age_p99_ms"] = round(1e3 * p99, 2)
    result["market_data_payloads"] = ages.count
    result["quotes_rounds"] = rounds
    result["quotes_round_interval_s"] = round(elapsed / max(1, rounds), 3)
    result["requests"] = requests
    result["rate_limited_429"] = rate_limited
    result["orders"] = orders
    result["seconds"] = round(elapsed, 1)
    result["status_line"] = figures.status()
    return result


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--minutes", type=float, default=None, help="how long to run (10; 0.25 with --quick)")
    p.add_argument("--markets", type=int, default=None, help="simulated markets subscribed to (50; 10 with --quick)")
    args = p.parse_args()
    minutes = args.minutes if args.minutes is not None else (0.25 if args.quick else 10.0)
    markets = args.markets if args.markets is not None else (10 if args.quick else 50)
    http_port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        path, quiet_market, quiet_contract = write_catalogue(pathlib.Path(folder), markets)
        options: dict[str, Any] = {
            "http": f"tcp:{http_port}:interface=127.0.0.1",
            "catalogue_file": str(path),
            "simulate": True,
            "seed": 1,
        }
        with ChildServer("exchange", **options):
            figures = run_reactor(
                lambda reactor: bench(reactor, http_port, markets, (quiet_market, quiet_contract), 60 * minutes)
            )
    result: dict[str, Any] = {"minutes": minutes, "markets": markets}
    result.update(figures)
    result["layout"] = (
        "upstream: the embedded exchange (HTTP API, its rate limits on, simulated traders) in a child process;"
        " the bridge, its streaming client and the direct HTTP client in this one; loopback TCP"
    )
    emit(result, args.json)


if __name__ == "__main__":
    main()
