"""A Twisted application: the client, a strategy, and a web status page beside them.

One reactor runs everything: the embedded exchange with its simulated traders (in a real
deployment, Smarkets itself), a logged-in `StreamingAPIClient`, the market maker of
``market_maker.py`` run by a `StrategyHost`, and a ``twisted.web`` site whose page shows
the session (state, session id, seqs), the account (balance, exposure, live orders), the
positions with their average prices and the P&L: realised at average cost, and unrealised
marked at the mid of the subscribed book. The page is rendered on the reactor thread
from the client's own views, so it needs no locks.

    python examples/status_page.py [--port 8080] [--seconds N]

Ctrl-C (or ``--seconds``) stops the strategy, cancels its quotes, logs out and exits 0:
the clean-up runs as a "before shutdown" trigger, so it finishes before the reactor stops.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
from decimal import Decimal
from typing import Any

from twisted.internet import endpoints, task
from twisted.internet.defer import Deferred
from twisted.web import resource, server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from market_maker import MarketMaker, make_controls  # noqa: E402 - the example beside this one

from txsmarkets.client import BUY, SessionSettings, StreamingAPIClient, connect  # noqa: E402
from txsmarkets.exchange.service import start_exchange  # noqa: E402
from txsmarkets.strategy import StrategyHost  # noqa: E402

#: Wire units: a price of 10,000 is 100%; a quantity of 10,000 is £1 of payout.
UNIT = Decimal(10_000)


class Positions:
    """Net position, average price and realised P&L per contract, from our fills.

    A position is the payout we hold (positive: bought, negative: sold) in wire units;
    ``average`` its average price. A fill that reduces a position realises the difference
    between its price and the average, in pounds.
    """

    def __init__(self, client: StreamingAPIClient) -> None:
        self.client = client
        #: (market, contract) -> [net quantity, average price]
        self.held: dict[tuple[int, int], list[Any]] = {}
        self.realised = Decimal(0)
        self.fills = 0
        client.add_handler("seto.order_executed", self.executed)

    def executed(self, message: Any) -> None:
        fill = message.order_executed
        self.fills += 1
        key = (fill.market_id, fill.contract_id)
        held, average = self.held.get(key, [0, Decimal(0)])
        signed = fill.quantity if fill.side == BUY else -fill.quantity
        if held == 0 or (held > 0) == (signed > 0):
            total = held + signed
            self.held[key] = [total, (average * abs(held) + Decimal(fill.price) * fill.quantity) / abs(total)]
            return
        closed = min(abs(held), fill.quantity)
        per_unit = (Decimal(fill.price) - average) if held > 0 else (average - Decimal(fill.price))
        self.realised += per_unit / UNIT * closed / UNIT
        total = held + signed
        if total == 0:
            del self.held[key]
        else:
            self.held[key] = [total, average if (total > 0) == (held > 0) else Decimal(fill.price)]

    def mid(self, market_id: int, contract_id: int) -> Decimal | None:
        """The mid of the contract's best bid and offer (a price), or None without both."""
        book = self.client.markets.get(market_id)
        contract = book.contracts.get(contract_id) if book is not None else None
        if contract is None or contract.best_bid is None or contract.best_offer is None:
            return None
        return Decimal(contract.best_bid + contract.best_offer) / 2

    def unrealised(self) -> Decimal:
        """Pounds the open positions would make if closed at the mid."""
        total = Decimal(0)
        for (market_id, contract_id), (held, average) in self.held.items():
            mid = self.mid(market_id, contract_id)
            if mid is not None:
                total += (mid - average) / UNIT * held / UNIT
        return total


class StatusPage(resource.Resource):
    """``GET /``: the session, the account, the positions and the P&L as an HTML page."""

    isLeaf = True

    def __init__(self, client: StreamingAPIClient, positions: Positions) -> None:
        super().__init__()
        self.client = client
        self.positions = positions

    def render_GET(self, request: Any) -> bytes:
        client, session, account = self.client, self.client.session, self.client.account
        rows = []
        for (market_id, contract_id), (held, average) in sorted(self.positions.held.items()):
            mid = self.positions.mid(market_id, contract_id)
            rows.append(
                f"<tr><td>{market_id}</td><td>{contract_id}</td><td>{Decimal(held) / UNIT:.2f}</td>"
                f"<td>{average / 100:.2f}%</td><td>{'-' if mid is None else f'{mid / 100:.2f}%'}</td></tr>"
            )
        fields = [
            ("session", session.state.value),
            ("session id", session.session_id or "-"),
            ("seqs in/out", f"{session.sequence.inseq}/{session.sequence.outseq}"),
            ("subscriptions", " ".join(map(str, sorted(client.subscriptions))) or "-"),
            ("balance", f"{account.available_balance} GBP"),
            ("exposure", f"{account.exposure} GBP"),
            ("live orders", str(len(account.orders))),
            ("fills", str(self.positions.fills)),
            ("realised P&L", f"{self.positions.realised:.2f} GBP"),
            ("unrealised P&L", f"{self.positions.unrealised():.2f} GBP"),
        ]
        table = "".join(f"<tr><th>{html.escape(name)}</th><td>{html.escape(value)}</td></tr>" for name, value in fields)
        page = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='2'>"
            "<title>txsmarkets status</title></head><body><h1>txsmarkets status</h1>"
            f"<table>{table}</table><h2>Positions</h2><table><tr><th>market</th><th>contract</th>"
            f"<th>payout (GBP)</th><th>average</th><th>mid</th></tr>{''.join(rows)}</table></body></html>"
        )
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return page.encode()


async def main(reactor: Any, port: int, seconds: float | None, seed: int) -> None:
    exchange = await start_exchange(reactor, simulate=True, seed=seed)
    settings = SessionSettings("demo", "demo", host="127.0.0.1", port=exchange.port, ssl=False)
    client = await connect(settings, reactor, controls=make_controls())
    positions = Positions(client)
    host = StrategyHost(client, MarketMaker())
    host.attach()
    site = server.Site(StatusPage(client, positions))
    listening = await endpoints.TCP4ServerEndpoint(reactor, port, interface="127.0.0.1").listen(site)

    async def shut_down() -> None:
        await host.stop()
        await client.logout()
        await listening.stopListening()
        await exchange.stop()

    # Ctrl-C stops the reactor: this runs first, and the reactor waits for it.
    reactor.addSystemEventTrigger("before", "shutdown", lambda: Deferred.fromCoroutine(shut_down()))
    print(f"status page: http://127.0.0.1:{listening.getHost().port}/", flush=True)
    if seconds is not None:
        reactor.callLater(seconds, reactor.stop)
    await Deferred()  # runs until the reactor stops


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="the status page's port (0: any free one)")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)")
    parser.add_argument("--seed", type=int, default=7, help="the simulation's seed")
    args = parser.parse_args()
    task.react(lambda reactor: Deferred.fromCoroutine(main(reactor, args.port, args.seconds, args.seed)))
