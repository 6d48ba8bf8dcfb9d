"""Print the best bid and offer of each contract of a market as they move.

The embedded exchange runs here with its simulated traders (``simulate=True``): market
makers quote the demo markets and takers trade with them, so the prices move as on a real
market. The client keeps an order book per subscribed market
(``client.markets[market_id].contracts[contract_id]``); a handler for
``seto.contract_quotes`` runs after the book has taken the delta in.

    python examples/best_prices.py [--seconds 10] [--market 1] [--seed 7]
"""

from __future__ import annotations

import argparse
from typing import Any

from twisted.internet import task
from twisted.internet.defer import Deferred

from txsmarkets.client import SessionSettings, StreamingAPIClient, connect
from txsmarkets.exchange.service import start_exchange
from txsmarkets.odds import Odds


def show(price: int | None) -> str:
    """A wire price as percent and decimal odds: ``'25.00% (4.0)'``; ``'-'`` for no quote."""
    if price is None:
        return "-"
    odds = Odds.from_price(price)
    return f"{odds.percent}% ({odds.decimal_str})"


class BestPrices:
    """Prints a contract's best bid and offer whenever either changes."""

    def __init__(self, client: StreamingAPIClient, market_id: int) -> None:
        self.client = client
        self.market_id = market_id
        self.last: dict[int, tuple[int | None, int | None]] = {}
        self.changes = 0

    def contract_quotes(self, message: Any) -> None:
        quotes = message.contract_quotes
        if quotes.market_id != self.market_id:
            return
        book = self.client.markets[quotes.market_id].contracts[quotes.contract_id]
        best = (book.best_bid, book.best_offer)
        if self.last.get(quotes.contract_id) != best:
            self.last[quotes.contract_id] = best
            self.changes += 1
            print(f"contract {quotes.contract_id}: bid {show(best[0])}  offer {show(best[1])}", flush=True)


async def main(reactor: Any, seconds: float, market_id: int, seed: int) -> None:
    exchange = await start_exchange(reactor, simulate=True, seed=seed)
    settings = SessionSettings("demo", "demo", host="127.0.0.1", port=exchange.port, ssl=False)
    client = await connect(settings, reactor)
    printer = BestPrices(client, market_id)
    client.add_handler("seto.contract_quotes", printer.contract_quotes)
    await client.subscribe(market_id)  # fires with the market_quotes snapshot
    for contract_id, book in sorted(client.markets[market_id].contracts.items()):
        print(f"contract {contract_id}: bid {show(book.best_bid)}  offer {show(book.best_offer)}  (snapshot)")
    await task.deferLater(reactor, seconds)
    print(f"{printer.changes} changes in {seconds:g} s", flush=True)
    await client.logout()
    await exchange.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to watch")
    parser.add_argument("--market", type=int, default=1, help="the market id (the demo has 1 and 2)")
    parser.add_argument("--seed", type=int, default=7, help="the simulation's seed")
    args = parser.parse_args()
    task.react(lambda reactor: Deferred.fromCoroutine(main(reactor, args.seconds, args.market, args.seed)))
