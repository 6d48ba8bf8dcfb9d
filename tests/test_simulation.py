"""Simulated traders: through the wire on a real reactor, and reproducibly on a Clock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial import unittest

from tests.support import global_reactor, inline
from tests.test_end_to_end import ExchangeTestCase
from tests.test_exchange_wire import Collect
from txsmarkets.client import BUY
from txsmarkets.exchange import MatchingEngine, parse_catalogue
from txsmarkets.exchange.catalogue import CatalogueError, demo_catalogue
from txsmarkets.exchange.simulation import Simulation, SimulationSpec
from txsmarkets.exchange.tap import Options
from txsmarkets.odds import VALID_PRICES
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import message_name, new_payload


def catalogue(**simulation: Any) -> Any:
    """One account (demo/demo, £1,000) and a three-way market 1 simulated as given."""
    market: dict[str, Any] = {
        "id": 1,
        "name": "Sim: winner",
        "contracts": [{"id": 11, "name": "Home"}, {"id": 12, "name": "Draw"}, {"id": 13, "name": "Away"}],
    }
    if simulation:
        market["simulation"] = simulation
    return parse_catalogue(
        {
            "accounts": [{"username": "demo", "password": "demo", "balance": "1000.00"}],
            "events": [{"id": 1, "name": "Sim", "markets": [market]}],
        },
        "test",
    )


FAST = {
    "requote_interval": 0.05,
    "taker_rate": 40,
    "volatility": 0.3,
    "live_after": None,
    "settle_after": None,
}


class WireTests(ExchangeTestCase):
    @inline
    async def test_subscriber_sees_moving_quotes_and_executions(self) -> None:
        await self.start(catalogue=catalogue(**FAST), simulate=True, seed=3)
        client = await self.client()
        seen = Collect(client)
        await client.subscribe(1)
        execution = seen.seen(
            lambda n, m: n == "seto.contract_quotes" and len(m.contract_quotes.executions) > 0
        )
        best: set[int] = set()

        def quotes(name: str, message: Any) -> bool:
            if name == "seto.contract_quotes" and message.contract_quotes.contract_id == 11:
                for quote in message.contract_quotes.bids:
                    if quote.quantity:
                        best.add(quote.price)
                return len(best) > 6
            return False

        moved = seen.seen(quotes)
        both = defer.gatherResults([execution, moved])
        both.addTimeout(30, global_reactor())
        trade, _ = await both
        self.assertGreater(trade.contract_quotes.executions[0].quantity, 0)
        # A user order is filled by the simulated makers at their offer.
        offer = self.exchange.engine.book(11).best_offer()
        self.assertIsNotNone(offer)
        filled = seen.next(lambda n, m: n == "seto.order_executed")
        filled.addTimeout(30, global_reactor())
        await client.create_order(1, 11, BUY, VALID_PRICES[-1], 1000)
        executed = await filled
        self.assertEqual(executed.order_executed.quantity, 1000)


def record(seed: int, seconds: int = 1500, spec: Any = None) -> tuple[list[bytes], Simulation, MatchingEngine]:
    """Everything the engine sends (market and account streams) for a run on a Clock."""
    clock = Clock()
    engine = MatchingEngine(catalogue(**(spec or {})), now=clock.seconds)
    stream: list[bytes] = []
    engine.on_market = lambda market_id, payload: stream.append(b"M" + payload.SerializeToString())
    engine.on_account = lambda account_id, payload: stream.append(
        b"A%d:" % account_id + payload.SerializeToString()
    )
    simulation = Simulation(engine, clock, seed)
    simulation.start()
    for _ in range(seconds):
        clock.advance(1)
    return stream, simulation, engine


class ClockTests(unittest.TestCase):
    spec = {"live_after": 100, "settle_after": 1400, "jump_rate": 0.01, "taker_rate": 2}

    def test_same_seed_same_stream(self) -> None:
        first, _, _ = record(5, spec=self.spec)
        second, _, _ = record(5, spec=self.spec)
        other, _, _ = record(6, spec=self.spec)
        self.assertGreater(len(first), 1000)
        self.assertEqual(first, second)
        self.assertNotEqual(first, other)

    def test_schedule_messages(self) -> None:
        stream, simulation, engine = record(5, spec=self.spec)
        names = []
        for raw in stream:
            payload = seto_pb2.Payload.FromString(raw[1:]) if raw[:1] == b"M" else None
            if payload is not None:
                names.append((message_name(payload), payload))
        states = [p.market_state.state for n, p in names if n == "seto.market_state"]
        self.assertEqual(states[0], seto_pb2.MARKET_STATE_LIVE)
        self.assertIn(seto_pb2.MARKET_STATE_HALTED, states)
        self.assertEqual(states[-1], seto_pb2.MARKET_STATE_SETTLED)
        notes = [p.runningball_notification for n, p in names if n == "seto.runningball_notification"]
        goals = [n for n in notes if n.state == seto_pb2.RUNNINGBALL_STATE_DANGER]
        self.assertTrue(goals)
        self.assertEqual(notes[-1].period, seto_pb2.RUNNINGBALL_PERIOD_FINISHED)
        market = simulation.markets[1]
        self.assertEqual((notes[-1].score_home, notes[-1].score_away), tuple(market.score))
        self.assertEqual(engine.market(1).state, "settled")
        probabilities = market.fair.probabilities
        self.assertAlmostEqual(sum(probabilities), 1.0)
        trades = sum(len(p.contract_quotes.executions) for n, p in names if n == "seto.contract_quotes")
        self.assertGreater(trades, 100)

    def test_makers_quote_levels_deep_on_the_ladder(self) -> None:
        _, _, engine = record(2, seconds=3, spec={"taker_rate": 0, "levels": 4, "makers": 1})
        for contract_id in (11, 12, 13):
            book = engine.book(contract_id)
            self.assertEqual(len(book.depth(seto_pb2.SIDE_BUY)), 4)
            self.assertEqual(len(book.depth(seto_pb2.SIDE_SELL)), 4)
            self.assertLess(book.best_bid(), book.best_offer())

    def test_settlement_pays_out_from_the_simulated_outcome(self) -> None:
        clock = Clock()
        engine = MatchingEngine(catalogue(live_after=None, settle_after=50, taker_rate=1), now=clock.seconds)
        simulation = Simulation(engine, clock, 11)
        simulation.start()
        clock.advance(1)
        user = engine.accounts.by_username("demo")
        offer = engine.book(11).best_offer()
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
        body = payload.order_create
        body.market_id, body.contract_id, body.side, body.price, body.quantity = 1, 11, BUY, offer, 20000
        body.tif = seto_pb2.IMMEDIATE_OR_CANCEL
        payload.eto_payload.seq = 1
        engine.submit(user.id, payload)
        self.assertEqual(user.positions[1].net[11], 20000)
        for _ in range(60):
            clock.advance(1)
        winner = simulation.markets[1].winner
        self.assertIn(winner, (11, 12, 13))
        stake = Decimal(offer * 20000).scaleb(-8)
        expected = Decimal("1000.00") + (Decimal(2) - stake if winner == 11 else -stake)
        self.assertEqual(user.balance, expected)
        self.assertEqual(engine.market(1).state, "settled")

    def test_operator_voids_a_trade(self) -> None:
        clock = Clock()
        engine = MatchingEngine(catalogue(live_after=None, settle_after=None, taker_rate=0), now=clock.seconds)
        simulation = Simulation(engine, clock, 4)
        simulation.start()
        sent: list[seto_pb2.Payload] = []
        engine.on_account = lambda account_id, p: sent.append(p) if account_id == user.id else None
        user = engine.accounts.by_username("demo")
        offer = engine.book(11).best_offer()
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
        body = payload.order_create
        body.market_id, body.contract_id, body.side, body.price, body.quantity = 1, 11, BUY, offer, 10000
        payload.eto_payload.seq = 1
        engine.submit(user.id, payload)
        executed = [p.order_executed for p in sent if p.type == seto_pb2.PAYLOAD_ORDER_EXECUTED]
        self.assertEqual(len(executed), 1)
        mine = executed[0].order_id
        maker = simulation.markets[1].makers[0].account
        maker_order = next(
            o.id for o in list(maker.orders.values()) + [engine.order(i) for i in range(1, mine)]
            if o is not None and o.contract_id == 11 and o.executed == 10000
        )
        engine.void_execution(mine, maker_order, offer, 10000)
        voided = [p.order_execute_voided for p in sent if p.type == seto_pb2.PAYLOAD_ORDER_EXECUTE_VOIDED]
        self.assertEqual(len(voided), 1)
        self.assertEqual((voided[0].order_id, voided[0].quantity, voided[0].price), (mine, 10000, offer))
        self.assertEqual(user.positions[1].net[11], 0)
        self.assertEqual(user.available_balance, Decimal("1000.00"))
        with self.assertRaises(ValueError):
            engine.void_execution(mine, maker_order, offer, 10000)


class ConfigTests(unittest.TestCase):
    def test_unknown_key_refused(self) -> None:
        with self.assertRaises(CatalogueError) as caught:
            catalogue(taker_rat=3)
        self.assertIn("events[0].markets[0].simulation: unknown key 'taker_rat'", str(caught.exception))

    def test_bad_values_refused(self) -> None:
        for bad, words in (
            ({"initial": [50, 50]}, "2 probabilities for 3 contracts"),
            ({"initial": [50, 30, 30]}, "sum to 100"),
            ({"levels": 0}, "levels"),
            ({"makers": 1.5}, "whole number"),
            ({"taker_rate": "fast"}, "must be a number"),
        ):
            with self.assertRaises(CatalogueError) as caught:
                catalogue(**bad)
            self.assertIn(words, str(caught.exception))

    def test_spec_read(self) -> None:
        market = next(catalogue(initial=[20, 30, 50], settle_after=None).markets())
        self.assertEqual(market.simulation, SimulationSpec(initial=(20.0, 30.0, 50.0), settle_after=None))
        self.assertIsNotNone(next(demo_catalogue().markets()).simulation)

    def test_tap_options(self) -> None:
        options = Options()
        options.parseOptions(["--simulate", "--seed", "9"])
        self.assertEqual((options["simulate"], options["seed"]), (1, 9))


class DemoDaemonTests(unittest.TestCase):
    """``twistd smarkets --demo`` as a real process: its simulated market fills the demo."""

    timeout = 120

    @inline
    async def test_demo_gets_a_fill_within_60_seconds(self) -> None:
        import os
        import pathlib
        import subprocess
        import sys

        from tests.test_daemon import ROOT, TWISTD, until

        folder = pathlib.Path(self.mktemp()).resolve()
        folder.mkdir()
        log_path = folder / "daemon.log"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-c", TWISTD, "--pidfile=", "-n", "smarkets", "--demo", "--status-interval", "2"],
                cwd=folder,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        def stop() -> None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

        self.addCleanup(stop)
        await until(lambda: b"fill: order" in log_path.read_bytes() or process.poll() is not None, "a fill", 60)
        text = log_path.read_text()
        self.assertIn("fill: order", text, text[-3000:])
        await until(lambda: "fills=" in log_path.read_text() and "fills=0" not in log_path.read_text().split("status:")[-1], "a status line counting the fill", 15)
        stop()
        self.assertEqual(process.returncode, 0, log_path.read_text()[-3000:])
