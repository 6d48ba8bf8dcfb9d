"""Quotes from the exchange to N subscribed clients (N = 1, 10, 100): messages delivered a second.

Usage: python bench/fanout.py [--json] [--quick]

The exchange and its clients share this one process (and so one core) over loopback TCP:
the figures are the whole system's, exchange and clients together. N `txsmarkets.client`
sessions log in (accounts hashed with one PBKDF2 round: logins are not what is measured
here), subscribe to market 1 and count ``seto.contract_quotes`` at their handlers. The
quotes come from the matching engine itself: ``engine.submit`` of a resting buy on
contract 11, then its cancel, each making one contract_quotes for every subscriber.

Updates are generated in turns of at most BATCH, while the slowest client is fewer than
WINDOW updates behind, so that output buffers stay small and nothing is dropped; at the
end every client must have seen every update. ``msgs_per_s_nN`` counts messages delivered
to handlers (N per update); ``updates_per_s_nN`` is updates a second, i.e. per client.
"""

from __future__ import annotations

import pathlib
import sys
import time
from typing import Any, Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    cheap_catalogue,
    emit,
    order_cancel,
    order_create,
    parser,
    raise_open_files_limit,
    run_reactor,
)

from twisted.internet.defer import Deferred, gatherResults  # noqa: E402

from txsmarkets.client import BUY, SessionSettings, StreamingAPIClient  # noqa: E402
from txsmarkets.client import connect  # noqa: E402
from txsmarkets.odds import VALID_PRICES  # noqa: E402

BATCH = 50
WINDOW = 1000
MARKET, CONTRACT = 1, 11
# Bids on the tick ladder, well below any offer: eight levels that come and go.
PRICES = tuple(sorted(p for p in VALID_PRICES if 1000 <= p <= 4000))[::4][:8]


def counter(counts: list[int], index: int) -> Callable[..., None]:
    """A handler that counts into ``counts[index]``."""

    def on_quotes(message: Any) -> None:
        counts[index] += 1

    return on_quotes


class QuoteMaker:
    """Makes one contract_quotes per `step`: alternately rests a buy and cancels it."""

    def __init__(self, engine: Any, account_id: int) -> None:
        self.engine = engine
        self.account_id = account_id
        self.seq = 0
        self.resting: int | None = None

    def step(self) -> None:
        self.seq += 1
        engine = self.engine
        if self.resting is None:
            self.resting = engine.state.next_order_id  # ids are handed out in order
            price = PRICES[self.seq % len(PRICES)]
            engine.submit(self.account_id, order_create(self.seq, BUY, price, 10_000, CONTRACT, MARKET))
            if engine.order(self.resting) is None:
                raise AssertionError("the quote maker's order was not accepted")
        else:
            engine.submit(self.account_id, order_cancel(self.seq, self.resting))
            self.resting = None


async def fanout(reactor: Any, port: int, maker: QuoteMaker, n: int, duration: float) -> dict[str, float]:
    """Connect ``n`` subscribed clients, pump quotes for ``duration`` seconds, count them."""
    settings = SessionSettings("viewer", "viewer", host="127.0.0.1", port=port, ssl=False)
    clients: list[StreamingAPIClient] = await gatherResults([connect(settings, reactor) for _ in range(n)])
    counts = [0] * n
    try:
        for index, client in enumerate(clients):
            client.add_handler("seto.contract_quotes", counter(counts, index))
        await gatherResults([client.subscribe(MARKET) for client in clients])
        done: Deferred[float] = Deferred()
        produced = 0
        start = time.perf_counter()
        stop_at = start + duration

        def pump() -> None:
            nonlocal produced
            try:
                slowest = min(counts)
                generating = time.perf_counter() < stop_at
                if not generating and slowest == produced:
                    done.callback(time.perf_counter() - start)
                    return
                if generating:
                    for _ in range(min(BATCH, WINDOW - (produced - slowest))):
                        maker.step()
                        produced += 1
                reactor.callLater(0, pump)
            except Exception:
                done.errback()

        reactor.callLater(0, pump)
        elapsed = await done
    finally:
        for client in clients:
            client.session.disconnect()
    if any(count != produced for count in counts):
        raise AssertionError(f"clients saw {sorted(set(counts))} updates of {produced}")
    delivered = produced * n
    return {"msgs_per_s": delivered / elapsed, "updates_per_s": produced / elapsed, "updates": produced}


def main() -> None:
    args = parser(__doc__).parse_args()
    raise_open_files_limit()
    duration = 0.4 if args.quick else 3.0
    sizes = (1, 10, 100)

    async def run(reactor: Any) -> dict[str, Any]:
        from txsmarkets.exchange.service import start_exchange

        exchange = await start_exchange(reactor, catalogue=cheap_catalogue(["maker", "viewer"]))
        try:
            maker_account = exchange.engine.accounts.by_username("maker")
            maker = QuoteMaker(exchange.engine, maker_account.id)
            out: dict[str, Any] = {}
            for n in sizes:
                figures = await fanout(reactor, exchange.port, maker, n, duration)
                out[f"msgs_per_s_n{n}"] = round(figures["msgs_per_s"])
                out[f"updates_per_s_n{n}"] = round(figures["updates_per_s"])
                out[f"updates_n{n}"] = figures["updates"]
            return out
        finally:
            await exchange.stop()

    result = run_reactor(run)
    result["seconds_generating"] = duration
    result["layout"] = "exchange and clients in one process (one core), loopback TCP"
    emit(result, args.json)


if __name__ == "__main__":
    main()
