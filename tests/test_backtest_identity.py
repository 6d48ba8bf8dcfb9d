"""Backtests give the same output, byte for byte, as the code they were recorded with (issue 26).

A fixed recording of the demo markets (``tests/data/identity/recording``, made once with the
simulation) and its catalogue are backtested with `Prober`, a strategy that touches what a
faster backtest path could get wrong: it reads the best prices and the top of the book on
every market update, and places orders that rest and orders that cross the recorded book
(so fill at once), on both sides and at several prices, and cancels some of those that rest.
Three runs: the replay; the replay with a random latency (``uniform:0.01,0.1``, seeded); a
short simulation (fixed seed). Each run's report JSON, journal files and the digest of the
prices the strategy read are compared with the expected files under ``tests/data/identity``,
made with the code of commit 7fa15b8 (the reports' ``max_drawdown`` made again when it came
to be taken at every change of the marked P&L, not once a virtual second: the figures rose,
nothing else changed).

The expected files are regenerated with::

    python -m tests.test_backtest_identity --regenerate

run from the repository root. Regenerating is ONLY for a deliberate change of what a backtest
outputs (a new report field, a fixed fill rule, a changed message), and that change is noted
in CHANGES.rst; a speed-up must pass this test unchanged. ``--record`` makes the recording
again too (it is the input: only when the recording format or the simulation changes on
purpose; its gzip headers hold the wall time it was made at, so its bytes differ each time).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import lzma
import pathlib
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from google.protobuf import text_format
from twisted.trial import unittest

from txsmarkets.backtest import Report, run_backtest
from txsmarkets.backtest.engine import PASSWORD, USERNAME, make_market
from txsmarkets.client import BUY, SELL
from txsmarkets.client.state import LiveOrder, MarketBook
from txsmarkets.exchange.catalogue import load_catalogue
from txsmarkets.odds import next_tick, previous_tick
from txsmarkets.persistence.recording import Recorder
from txsmarkets.strategy import Strategy
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import message_name
from txsmarkets.wire.records import read_records

DATA = pathlib.Path(__file__).resolve().parent / "data" / "identity"
CATALOGUE = DATA / "catalogue.json"
RECORDING = DATA / "recording"

#: The report's fields that are wall-clock by nature, so left out of the comparison: the wall
#: seconds the run took and the speed (virtual seconds per wall second) made from them.
WALL_CLOCK_FIELDS = ("wall_seconds", "speed")

#: Each run: its name (the expected files' prefix) and the options of `run_backtest`.
RUNS: dict[str, dict[str, Any]] = {
    "replay": {"replay": RECORDING},
    "replay-latency": {"replay": RECORDING, "latency": "uniform:0.01,0.1", "seed": 7},
    "simulation": {"simulate": True, "seed": 5, "duration": 40},
}


#: Every how many market updates `Prober` places an order.
EVERY = 20
#: The virtual seconds `Prober` leaves a resting order before cancelling it (every other one).
CANCEL_AFTER = 4.0


class Prober(Strategy):
    """Reads the books on every update and trades on them, in a fixed, data-driven rhythm.

    On each update of a market it reads every contract's best bid and offer and the top three
    levels of each side and folds them, with the virtual time, into ``seen`` (a SHA-256). Every
    `EVERY` updates it places one order of 20000 on one of the market's contracts (taken in
    turn), its price by turns: two ticks behind the best bid (a buy that rests), two ticks
    behind the best offer (a sell that rests), at the best offer (a buy that crosses, filled
    against the recorded liquidity), at the best bid (a sell that crosses), and joining the
    best bid (a buy that may be filled by recorded executions). Every other order that is
    accepted and still live is cancelled `CANCEL_AFTER` virtual seconds later.
    """

    markets = (1, 2)

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.updates = 0
        self.placed = 0
        self.seen = hashlib.sha256()

    def on_market(self, book: MarketBook) -> None:
        self.updates += 1
        now = self.client.clock.seconds()
        line = [f"{now!r} {book.market_id}"]
        for contract_id, contract in sorted(book.contracts.items()):
            bids, offers = contract.depth(3)
            line.append(f"{contract_id}:{contract.best_bid}/{contract.best_offer}:{bids}:{offers}")
        self.seen.update(" ".join(line).encode() + b"\n")
        if self.updates % EVERY == 0 and book.contracts:
            self._place(book)

    def _place(self, book: MarketBook) -> None:
        contracts = sorted(book.contracts)
        turn = self.updates // EVERY
        contract_id = contracts[turn % len(contracts)]
        contract = book.contracts[contract_id]
        bid, offer = contract.best_bid, contract.best_offer
        side: int
        price: int | None
        kind = turn % 5
        if kind == 0:
            side, price = BUY, _ticks(bid, previous_tick, 2)
        elif kind == 1:
            side, price = SELL, _ticks(offer, next_tick, 2)
        elif kind == 2:
            side, price = BUY, offer
        elif kind == 3:
            side, price = SELL, bid
        else:
            side, price = BUY, bid
        if price is None:
            return
        self.placed += 1
        cancel = self.placed % 2 == 0
        d = self.client.create_order(book.market_id, contract_id, side, price, 20000, label="probe")

        def accepted(payload: Any) -> None:
            order_id = payload.order_accepted.order_id
            if cancel:
                self.call_later(CANCEL_AFTER, self._cancel, order_id)

        d.addCallbacks(accepted, lambda f: self.log.info("probe: refused: {error}", error=f.getErrorMessage()))

    def _cancel(self, order_id: int) -> None:
        order = self.client.account.orders.get(order_id)
        if order is not None and not order.done:
            d = self.client.cancel_order(order_id)
            d.addErrback(lambda f: self.log.info("probe: cancel refused: {error}", error=f.getErrorMessage()))

    def on_order(self, order: LiveOrder) -> None:
        # What the strategy is told of its orders goes into the digest too.
        line = f"order {order.order_id} {order.status.value} {order.filled} {order.avg_price} {order.reason}"
        self.seen.update(line.encode() + b"\n")


def _ticks(price: int | None, step: Callable[[int], int | None], count: int) -> int | None:
    """``price`` moved ``count`` ticks by ``step`` (`next_tick` or `previous_tick`), or None."""
    for _ in range(count):
        if price is None:
            return None
        price = step(price)
    return price


def run(name: str, journal: pathlib.Path) -> tuple[str, str]:
    """Run ``name`` of `RUNS` with its journal in ``journal``: its report JSON without the
    `WALL_CLOCK_FIELDS` (one line) and what its strategy saw (a line: updates, orders, digest)."""
    strategy = Prober()
    report: Report = run_backtest(strategy, catalogue=CATALOGUE, journal=str(journal), **RUNS[name])
    data = report.to_dict()
    for key in WALL_CLOCK_FIELDS:
        del data[key]
    seen = f"{strategy.updates} updates, {strategy.placed} orders placed, sha256 {strategy.seen.hexdigest()}"
    return json.dumps(data, sort_keys=False), seen


def journal_files(directory: pathlib.Path) -> dict[str, bytes]:
    """The journal files of ``directory`` by name, with their bytes."""
    return {path.name: path.read_bytes() for path in sorted(directory.glob("journal.*"))}


def first_difference(data: bytes, want: bytes) -> str:
    """Where journal bytes ``data`` first differ from the expected ``want``: the record (its
    number, time and message) in both."""
    got_records = list(read_records(io.BytesIO(data).read))
    want_records = list(read_records(io.BytesIO(want).read))
    for number, (a, b) in enumerate(itertools.zip_longest(got_records, want_records), 1):
        if a != b:
            return f"record {number} differs: got {_described(a)}, expected {_described(b)}"
    return f"the records are the same but the bytes not ({len(data)} bytes, expected {len(want)})"


def _described(record: tuple[bytes, float, bytes] | None) -> str:
    """One journal record as ``"I at 1.25 s: seto.order_accepted <its fields>"`` (or "none")."""
    if record is None:
        return "none (the journal ended)"
    direction, when, data = record
    payload = seto_pb2.Payload.FromString(data)
    fields = text_format.MessageToString(payload, as_one_line=True)
    return f"{direction.decode()} at {when!r} s: {message_name(payload)} {fields}"


def expected(name: str) -> tuple[str, str, dict[str, bytes]]:
    """The expected report line, seen line and journal files of run ``name``."""
    folder = DATA / name
    journals = {p.name[: -len(".xz")]: lzma.decompress(p.read_bytes()) for p in sorted(folder.glob("journal.*.xz"))}
    return (folder / "report.json").read_text().strip(), (folder / "seen.txt").read_text().strip(), journals


class IdentityTests(unittest.TestCase):
    """Each run's output is the expected one, byte for byte."""

    def check(self, name: str) -> None:
        journal = pathlib.Path(self.mktemp())
        report, seen = run(name, journal)
        want_report, want_seen, want_journals = expected(name)
        self.assertEqual(report, want_report)
        self.assertEqual(seen, want_seen)
        got = journal_files(journal)
        self.assertEqual(sorted(got), sorted(want_journals))
        for file_name, data in got.items():
            # Not assertEqual on the bytes: a diff of binary says nothing; say which record.
            if data != want_journals[file_name]:
                self.fail(f"{name}: {file_name}: {first_difference(data, want_journals[file_name])}")

    def test_replay(self) -> None:
        self.check("replay")

    def test_replay_with_latency(self) -> None:
        self.check("replay-latency")

    def test_simulation(self) -> None:
        self.check("simulation")

    def test_exercised(self) -> None:
        """The expected runs did what they are for: orders filled, and orders cancelled (so
        orders that rested)."""
        for name in RUNS:
            data = json.loads(expected(name)[0])
            self.assertGreater(data["fills"], 0, name)
            self.assertGreater(data["cancels"], 0, name)


def record(directory: pathlib.Path, seconds: float = 120, seed: int = 3) -> None:
    """Make the recording: ``seconds`` of the catalogue's simulated markets, as a subscribed
    client records them (`Recorder`)."""
    exchange = make_market(load_catalogue(CATALOGUE), simulate=True, seed=seed)
    client = exchange.client(USERNAME, PASSWORD)
    recorder = Recorder(directory, exchange.clock)
    recorder.startService()
    recorder.attach(client)
    exchange.run(client.login())
    for market_id in Prober.markets:
        exchange.run(client.subscribe(market_id))
    exchange.advance(seconds)
    recorder.stopService()
    simulation = getattr(exchange.factory, "simulation", None)
    if simulation is not None:
        simulation.stop()


def regenerate() -> None:
    """Write the expected files of every run from the code as it is."""
    for name in RUNS:
        folder = DATA / name
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("journal.*.xz"):
            old.unlink()
        with tempfile.TemporaryDirectory() as journal:
            report, seen = run(name, pathlib.Path(journal))
            for file_name, data in journal_files(pathlib.Path(journal)).items():
                # xz: the smallest in the standard library (the files are committed).
                (folder / f"{file_name}.xz").write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
        (folder / "report.json").write_text(report + "\n")
        (folder / "seen.txt").write_text(seen + "\n")
        print(f"{name}: {report}\n  {seen}")


def main(argv: list[str] | None = None) -> int:
    """``--regenerate``: write the expected files (only for a deliberate change of output,
    noted in CHANGES.rst); ``--record``: make the recording first."""
    parser = argparse.ArgumentParser(prog="python -m tests.test_backtest_identity", description=__doc__.split("\n")[0])
    parser.add_argument("--regenerate", action="store_true", help="write the expected files from the code as it is")
    parser.add_argument("--record", action="store_true", help="make the recording again first (implies --regenerate)")
    options = parser.parse_args(argv)
    if not (options.regenerate or options.record):
        parser.error("nothing to do: give --regenerate (or --record)")
    if options.record:
        for old in RECORDING.glob("recording.*.gz"):
            old.unlink()
        record(RECORDING)
    regenerate()
    return 0


if __name__ == "__main__":
    # Through the module's own name, so that the strategy is named as the tests name it
    # (tests.test_backtest_identity:Prober, not __main__:Prober) in the reports.
    from tests.test_backtest_identity import main as _main

    sys.exit(_main())
