"""Backtests (issue 16): the demo strategy and the example market maker on a simulation and
on a recording, determinism (reports and journals), sweeps on a process pool and on a real
Dask LocalCluster, the command line (its one-line errors, rejections by reason, the log on
stderr), the plot, and the in-memory run against real TCP."""

from __future__ import annotations

import gzip
import io
import json
import pathlib
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTCP, IReactorTime
from twisted.internet.task import Clock, deferLater
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.trial import unittest
from zope.interface import implementer

from txsmarkets.backtest import BacktestError, grid, rank, run_backtest, run_sweep
from txsmarkets.backtest.cli import main
from txsmarkets.backtest.engine import PASSWORD, RESUME_KEPT, USERNAME, Drive, make_market
from txsmarkets.backtest.watch import Watcher
from txsmarkets.client import BUY, Session, SessionSettings, StreamingAPIClient
from txsmarkets.client.controls import Controls
from txsmarkets.exchange.catalogue import load_catalogue
from txsmarkets.persistence.recording import Recorder
from txsmarkets.strategy import Strategy, StrategyHost

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from examples.backtest_market_maker import MarketMaker  # noqa: E402

DEMO = "txsmarkets.daemon.demo:DemoStrategy"
MM = "examples.backtest_market_maker:MarketMaker"
ASKING = "tests.test_backtest:Asking"
FAILING = "tests.test_backtest:Failing"


def outcome(json_report: str) -> dict[str, Any]:
    """A ``--json`` report without its wall time."""
    data: dict[str, Any] = json.loads(json_report)
    del data["wall_seconds"], data["speed"]
    return data


class Asking(Strategy):
    """Asks at start for orders the exchange refuses, each for a known reason, and for one
    order twice (refused by a duplicate window, when the controls have one); logs each
    refusal with its own Logger."""

    def start(self) -> None:
        for price, quantity in (
            (2501, 10000),  # off the tick ladder
            (2501, 0),  # off the ladder, and no quantity
            (5000, 100_000_000),  # a 5000.00 GBP stake on a 1000.00 GBP account
            (1000, 10000),
            (1000, 10000),
        ):
            d = self.client.create_order(1, 11, BUY, price, quantity)
            d.addErrback(lambda failure: self.log.info("asking: refused: {error}", error=failure.getErrorMessage()))


class Failing(Strategy):
    """Logs a line, then raises, at start."""

    def start(self) -> None:
        self.log.info("failing: about to raise")
        raise RuntimeError("failing on purpose")


def record(test: unittest.TestCase, seconds: float = 120, seed: int = 3) -> pathlib.Path:
    """A recording of the demo markets' simulation, made by a subscribed client."""
    exchange = make_market(simulate=True, seed=seed)
    client = exchange.client(USERNAME, PASSWORD)
    recorder = Recorder(test.mktemp(), exchange.clock)
    recorder.startService()
    recorder.attach(client)
    exchange.run(client.login())
    exchange.run(client.subscribe(1))
    exchange.run(client.subscribe(2))
    exchange.advance(seconds)
    recorder.stopService()
    return recorder.directory


class StrategiesTests(unittest.TestCase):
    def test_demo_and_market_maker_on_a_simulation(self) -> None:
        demo = run_backtest(DEMO, simulate=True, seed=1, duration=120, params={"period": 2})
        self.assertGreater(demo.orders, 20)
        self.assertGreater(demo.cancels, 10)
        self.assertEqual(demo.sim_seconds, 120)
        self.assertGreater(demo.messages, 1000)
        mm = run_backtest(MarketMaker, simulate=True, seed=1, duration=120)
        self.assertGreater(mm.fills, 50)
        self.assertEqual(mm.fills, sum(m.fills for m in mm.markets.values()))
        self.assertEqual(mm.pnl, sum((m.marked for m in mm.markets.values()), mm.pnl * 0))
        self.assertGreater(mm.peak_exposure, 0)
        self.assertEqual(mm.errors, 0)

    def test_demo_and_market_maker_on_a_recording(self) -> None:
        recording = record(self)
        mm = run_backtest(MM, replay=recording)
        self.assertGreater(mm.messages, 500)
        self.assertGreater(mm.orders, 50)
        self.assertGreater(mm.fills, 0)  # recorded executions reached its queued quotes
        self.assertIn("replay of", mm.source)
        self.assertGreater(mm.sim_seconds, 100)
        demo = run_backtest(DEMO, replay=recording, params={"period": 2})
        self.assertGreater(demo.orders, 20)

    def test_controls_refusals_are_counted_by_control(self) -> None:
        path = pathlib.Path(self.mktemp())
        path.write_text("[controls]\nmax-order-quantity = 10000\n")
        report = run_backtest(MM, simulate=True, seed=1, duration=30, controls=str(path))
        self.assertEqual(report.orders, 0)
        self.assertGreater(report.refusals.get("max_order_quantity", 0), 10)
        self.assertEqual(report.to_dict()["refusals"], report.refusals)

    def test_no_market(self) -> None:
        self.assertRaises(BacktestError, run_backtest, DEMO)


class Buying(Strategy):
    """Buys 10.00 GBP of market 1's contract 11 at 51.28% (the offer of `DrawdownTests`) at
    second 1."""

    markets = (1,)

    def start(self) -> None:
        self.call_later(1, self.buy)

    def buy(self) -> None:
        d = self.client.create_order(1, 11, BUY, 5128, 100000)
        d.addErrback(lambda failure: self.log.info("buying: refused: {error}", error=failure.getErrorMessage()))


class DrawdownTests(unittest.TestCase):
    def test_a_fall_that_begins_within_a_second_of_a_fill_is_counted(self) -> None:
        """The drawdown is taken at every change of the marked P&L: a fall of the mark half a
        second after a fill, undone a minute later, was never seen (the P&L was sampled at
        most once a virtual second), so the drawdown was the spread paid (0.113) and not the
        fall (1.128); the plotted curve keeps its one point a second."""
        from tests.test_replay import quotes, snapshot

        start = 100.0
        records = [
            (start, snapshot(quotes(11, bids=((4902, 100000),), offers=((5128, 100000),)), quotes(12), quotes(13))),
            (start + 1.5, quotes(11, bids=((4902, 0), (3968, 100000)), offers=((5128, 0), (4032, 100000)))),
            (start + 61.5, quotes(11, bids=((3968, 0), (4902, 100000)), offers=((4032, 0), (5128, 100000)))),
        ]
        report = run_backtest(Buying, replay=records, duration=70, series=True)
        self.assertEqual([(f.time, f.price, f.quantity) for f in report.fill_list], [(1.0, 5128, 100000)])
        # Marks: 50.15% after the fill (0.113 lost), 40.00% from 1.5 s (1.128), 50.15% again.
        self.assertEqual(report.pnl, Decimal("-0.113"))
        self.assertEqual(report.max_drawdown, Decimal("1.128"))
        assert report.series is not None
        self.assertEqual([when for when, _ in report.series.pnl], [1.0, 61.5, 61.5])


class DeterminismTests(unittest.TestCase):
    def run_twice(self, **options: Any) -> None:
        journals = [pathlib.Path(self.mktemp()) for _ in range(2)]
        reports = [run_backtest(MM, journal=str(j), **options) for j in journals]
        self.assertEqual(reports[0].outcome(), reports[1].outcome())
        self.assertEqual(reports[0].fill_list, reports[1].fill_list)
        self.assertGreater(len(reports[0].fill_list), 0)
        files = [sorted(j.glob("journal.*")) for j in journals]
        self.assertEqual([f.name for f in files[0]], [f.name for f in files[1]])
        self.assertGreater(files[0][0].stat().st_size, 1000)
        for a, b in zip(*files):
            self.assertEqual(a.read_bytes(), b.read_bytes())

    def test_simulation_twice(self) -> None:
        self.run_twice(simulate=True, seed=4, duration=90)

    def test_recording_twice(self) -> None:
        self.run_twice(replay=record(self, 60))

    def test_marks_made_when_asked_change_no_figure(self) -> None:
        # Without a series a Watcher makes the marks of contracts no position is held in only
        # when a fill opens one or the market settles; with one it makes every mark as the
        # quotes come. Both watch one client: their figures agree after every step.
        catalogue = json.loads((ROOT / "tests" / "data" / "identity" / "catalogue.json").read_text())
        for event in catalogue["events"]:
            for market in event["markets"]:
                market["simulation"].update(live_after=20, settle_after=150, taker_rate=2)
        path = pathlib.Path(self.mktemp())
        path.write_text(json.dumps(catalogue))
        exchange = make_market(load_catalogue(path), simulate=True, seed=6)
        client = exchange.client(USERNAME, PASSWORD)
        client.controls = Controls(tick_ladder=False)
        markets = exchange.factory.simulation.markets

        def winners(market_id: int) -> list[int]:
            return [markets[market_id].winner]

        plain, plotted = (
            Watcher(client, exchange.clock.seconds, series=series, winners=winners) for series in (False, True)
        )
        StrategyHost(client, MarketMaker({"improve": 1, "interval": 0.5})).attach()
        exchange.run(client.login())

        def same(change: object = None) -> None:
            self.assertEqual(plain.positions.marked(), plotted.positions.marked())
            self.assertEqual((plain.peak_pnl, plain.max_drawdown), (plotted.peak_pnl, plotted.max_drawdown))

        # After each account message (a fill: before the quotes it moved come) and each step.
        client.account_changed.add(same)
        Drive(exchange, same).until(200)
        self.assertGreater(len(plain.fills), 50)
        settled = [m for m in plain.positions.markets.values() if m.positions and set(m.marks.values()) <= {0, 10000}]
        self.assertTrue(settled)  # held at the settlement: marked at 100% or 0 since

    def test_another_seed_differs(self) -> None:
        a = run_backtest(MM, simulate=True, seed=1, duration=60)
        b = run_backtest(MM, simulate=True, seed=2, duration=60)
        self.assertNotEqual(a.fill_list, b.fill_list)


class ResumeKeptTests(unittest.TestCase):
    def test_a_backtest_keeps_for_resumes_within_bounds(self) -> None:
        """What the exchange keeps for a client to resume from is bounded by `RESUME_KEPT`
        in a backtest (not the live 100,000 frames and messages), so that its memory does
        not grow with the recording's length; a resume is still served."""
        exchange = make_market(simulate=True, seed=1)
        client = exchange.client(USERNAME, PASSWORD)
        exchange.run(client.login())
        (session,) = exchange.factory.sessions.values()
        self.assertEqual(session.sequence.store.capacity, RESUME_KEPT["replay_capacity"])
        account = exchange.engine.accounts.get(session.account.id)
        assert account is not None
        self.assertEqual(account.log.maxlen, RESUME_KEPT["account_log_size"])

        small = make_market(simulate=True, seed=1, exchange_options={"replay_capacity": 50, "account_log_size": 20})
        client = small.client(USERNAME, PASSWORD)
        small.run(client.login())
        small.run(client.subscribe(1))
        small.advance(30)
        (session,) = small.factory.sessions.values()
        self.assertGreater(session.sequence.outseq, 200)
        self.assertEqual(len(session.sequence.store), 50)
        for _ in range(30):
            accepted = small.run(client.create_order(1, 11, BUY, 1000, 10000))
            small.run(client.cancel_order(accepted.order_accepted.order_id))
        self.assertEqual(len(small.engine.accounts.get(session.account.id).log), 20)  # type: ignore[union-attr]
        # A cut: the client resumes and goes on trading.
        small.cut(client)
        small.advance(5)
        self.assertTrue(client.session.connected)
        accepted = small.run(client.create_order(1, 11, BUY, 1000, 10000))
        self.assertGreater(accepted.order_accepted.order_id, 0)


class SweepTests(unittest.TestCase):
    combinations = grid({"size": [10000, 30000], "improve": [0, 1]})

    def expected(self) -> list[dict[str, Any]]:
        return [r.outcome() for r in run_sweep(MM, self.combinations, workers=1, simulate=True, seed=2, duration=40)]

    def test_grid_and_rank(self) -> None:
        self.assertEqual(len(self.combinations), 4)
        self.assertEqual(self.combinations[1], {"size": 10000, "improve": 1})
        reports = run_sweep(MM, self.combinations, workers=1, simulate=True, seed=2, duration=40)
        ranked = rank(reports)
        self.assertEqual([r.pnl for r in ranked], sorted((r.pnl for r in reports), reverse=True))
        self.assertEqual([r.params for r in reports], self.combinations)

    def test_process_pool(self) -> None:
        reports = run_sweep(MM, self.combinations, workers=2, simulate=True, seed=2, duration=40)
        self.assertEqual([r.outcome() for r in reports], self.expected())

    def test_dask_local_cluster(self) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise unittest.SkipTest("distributed is not installed (the cluster extra)")
        cluster = LocalCluster(n_workers=2, processes=False, dashboard_address=None)
        self.addCleanup(cluster.close)
        client = Client(cluster)
        self.addCleanup(client.close)
        # By address, as the command line does, and with the client.
        by_address = run_sweep(MM, self.combinations, dask=cluster.scheduler_address, simulate=True, seed=2, duration=40)
        self.assertEqual([r.outcome() for r in by_address], self.expected())
        with_client = run_sweep(MM, self.combinations[:2], dask=client, simulate=True, seed=2, duration=40)
        self.assertEqual([r.outcome() for r in with_client], self.expected()[:2])
        self.assertEqual(len(client.scheduler_info()["workers"]), 2)


class CommandLineTests(unittest.TestCase):
    def test_json(self) -> None:
        out = io.StringIO()
        status = main(["--strategy", MM, "--simulate", "--duration", "30", "--seed", "1", "--json"], out)
        self.assertEqual(status, 0)
        data = json.loads(out.getvalue().strip().splitlines()[-1])
        for key in ("orders", "fills", "pnl", "max_drawdown", "peak_exposure", "messages", "sim_seconds", "wall_seconds"):
            self.assertIn(key, data)
        self.assertIsInstance(data["pnl"], str)
        self.assertEqual(data["sim_seconds"], 30)
        self.assertEqual(data, {**data, **run_backtest(MM, simulate=True, seed=1, duration=30).to_dict(), "wall_seconds": data["wall_seconds"], "speed": data["speed"]})

    def test_sweep_ranked(self) -> None:
        out = io.StringIO()
        status = main(["--strategy", MM, "--simulate", "--duration", "20", "--param", "size=10000,30000", "--workers", "1", "--json"], out)
        self.assertEqual(status, 0)
        runs = json.loads(out.getvalue())["runs"]
        self.assertEqual(sorted(r["params"]["size"] for r in runs), [10000, 30000])
        from decimal import Decimal

        self.assertGreaterEqual(Decimal(runs[0]["pnl"]), Decimal(runs[1]["pnl"]))
        text = io.StringIO()
        main(["--strategy", MM, "--simulate", "--duration", "20", "--param", "size=10000,30000", "--workers", "1"], text)
        self.assertIn("rank", text.getvalue())

    def test_bad_input_one_line(self) -> None:
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        self.assertEqual(main(["--strategy", "nosuch:Thing", "--simulate"], io.StringIO()), 2)
        self.assertEqual(len(err.getvalue().strip().splitlines()), 1)
        self.assertEqual(main(["--strategy", DEMO, "--replay", self.mktemp()], io.StringIO()), 2)

    def run_main(self, *argv: str) -> tuple[int, str, str]:
        """``main(argv)``: its status, stdout and stderr."""
        out, err = io.StringIO(), io.StringIO()
        self.patch(sys, "stderr", err)
        status = main(list(argv), out)
        return status, out.getvalue(), err.getvalue()

    def test_bad_controls_file_one_line(self) -> None:
        """A bad --controls file is one line naming the file and status 2, as every other
        input error (it was the InvalidControls traceback)."""
        for text, said in (
            ("[controls]\nmax-live-order = 3\n", "unknown control 'max-live-order'"),
            ("[controls]\nmax-order-quantity = abc\n", "max-order-quantity must be a number"),
            ("hello\n", "not a valid INI file: File contains no section headers."),
        ):
            path = pathlib.Path(self.mktemp())
            path.write_text(text)
            status, out, err = self.run_main("--strategy", DEMO, "--simulate", "--duration", "5", "--controls", str(path))
            self.assertEqual((status, out), (2, ""))
            self.assertTrue(err.startswith(f"backtest: the controls file {str(path)!r}"), err)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(said, err)

    def test_other_bad_input_one_line(self) -> None:
        catalogue = pathlib.Path(self.mktemp())
        catalogue.write_text("{")
        for argv, said in (
            (["--balance", "abc"], "a balance is a number of pounds, not 'abc'"),
            (["--duration", "nan"], "a duration is a finite number of virtual seconds, 0 or more, not nan"),
            (["--duration", "-1"], "0 or more, not -1.0"),
            (["--catalogue", str(catalogue)], "not JSON"),
            (["--param", "size=,"], "a parameter is given as NAME=V1,V2,..., not 'size=,'"),
        ):
            status, out, err = self.run_main("--strategy", MM, "--simulate", "--duration", "5", *argv)
            self.assertEqual((status, out), (2, ""), argv)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(said, err)

    def test_rejections_by_reason(self) -> None:
        """The exchange's rejections by their protocol names, and our controls' refusals by
        control, in the text and the JSON."""
        controls = pathlib.Path(self.mktemp())
        controls.write_text("[controls]\ntick-ladder = no\nduplicate-window = 60\n")
        argv = ["--strategy", ASKING, "--simulate", "--duration", "5", "--controls", str(controls)]
        status, out, _ = self.run_main(*argv, "--json")
        self.assertEqual(status, 0)
        data = json.loads(out)
        rejections = {
            "ORDER_INVALID_INVALID_PRICE": 1,
            "ORDER_INVALID_INVALID_PRICE+ORDER_INVALID_INVALID_QUANTITY": 1,
            "ORDER_REJECTED_INSUFFICIENT_FUNDS": 1,
        }
        self.assertEqual(data["rejections"], rejections)
        self.assertEqual((data["orders"], data["rejected"]), (1, 3))
        self.assertEqual(data["refusals"], {"duplicate_window": 1})
        status, out, _ = self.run_main(*argv)
        self.assertEqual(status, 0)
        self.assertIn(
            "  rejections:    ORDER_INVALID_INVALID_PRICE 1, ORDER_INVALID_INVALID_PRICE+ORDER_INVALID_INVALID_QUANTITY 1,"
            " ORDER_REJECTED_INSUFFICIENT_FUNDS 1\n",
            out,
        )
        self.assertIn("  refusals:      duplicate_window 1\n", out)
        self.assertIn("  rejections:    none\n", run_backtest(MM, simulate=True, seed=1, duration=5).text())

    def test_log_level(self) -> None:
        """--log-level info (and -v) writes the strategy's log to stderr, one line an event
        stamped with the virtual seconds; without it nothing; the report is the same."""
        argv = ["--strategy", ASKING, "--simulate", "--duration", "5", "--json"]
        status, quiet, nothing = self.run_main(*argv)
        self.assertEqual((status, nothing), (0, ""))
        for flags in (["--log-level", "info"], ["--log-level", "INFO"], ["-v"]):
            status, out, err = self.run_main(*argv, *flags)
            self.assertEqual(status, 0)
            self.assertEqual(outcome(out), outcome(quiet))
            self.assertIn(
                "     0.000 [txsmarkets.strategy.Asking#info] asking: refused: ORDER_REJECTED_INSUFFICIENT_FUNDS\n", err
            )
            self.assertIn("[txsmarkets.client.session#info] logged in: session backtest-1", err)
        status, _, err = self.run_main(*argv, "--log-level", "warn")
        self.assertEqual(status, 0)
        self.assertNotIn("asking:", err)

    def test_log_of_a_sweep(self) -> None:
        """A sweep's runs log with the wall time (no one clock): those in this process here;
        on two worker processes it runs as well."""
        argv = ["--strategy", ASKING, "--simulate", "--duration", "5", "--param", "n=1,2", "-v"]
        status, out, err = self.run_main(*argv, "--workers", "1")
        self.assertEqual(status, 0)
        self.assertIn("rank", out)
        self.assertEqual(err.count("[txsmarkets.strategy.Asking#info] asking: refused: ORDER_REJECTED_INSUFFICIENT_FUNDS"), 2)
        self.assertNotIn("     0.000 [", err)
        status, out, _ = self.run_main(*argv, "--workers", "2")
        self.assertEqual(status, 0)
        self.assertIn("rank", out)
        # The pool's workers, started afresh, write their log to their own stderr.
        run = subprocess.run(
            [sys.executable, "-m", "txsmarkets.backtest", *argv, "--workers", "2"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr.count("[txsmarkets.strategy.Asking#info] asking: refused: ORDER_REJECTED_INSUFFICIENT_FUNDS"), 2, run.stderr)

    def test_log_of_the_process(self) -> None:
        """The command as a process: a hook that raised is written once (critical, with
        its traceback) with or without --log-level; the strategy's info lines only with it;
        the report alone on stdout."""
        for flags, info in (([], False), (["-v"], True)):
            run = subprocess.run(
                [sys.executable, "-m", "txsmarkets.backtest", "--strategy", FAILING, "--simulate", "--duration", "5", *flags],
                cwd=ROOT, capture_output=True, text=True, timeout=120,
            )
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertTrue(run.stdout.startswith(f"backtest of {FAILING} on simulation"), run.stdout)
            self.assertIn("strategy errors: 1", run.stdout)
            self.assertEqual(run.stderr.count("raised in start"), 1, run.stderr)
            self.assertIn("     0.000 [txsmarkets.strategy#critical] strategy Failing raised in start\n", run.stderr)
            self.assertIn("builtins.RuntimeError: failing on purpose", run.stderr)
            self.assertEqual("failing: about to raise" in run.stderr, info, run.stderr)

    def test_plot(self) -> None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise unittest.SkipTest("matplotlib is not installed (the plots extra)")
        path = pathlib.Path(self.mktemp() + ".png")
        self.assertEqual(main(["--strategy", MM, "--simulate", "--duration", "30", "--plot", str(path)], io.StringIO()), 0)
        self.assertEqual(path.read_bytes()[:8], b"\x89PNG\r\n\x1a\n")


def write_recording(path: pathlib.Path, records: list[tuple[float, Any]], after: int = -1, junk: bytes = b"") -> str:
    """``records`` (time, payload) written to ``path`` as a file of received records, gzipped
    when its name ends in ``.gz``, with ``junk`` after the first ``after`` of them (a damaged
    file); its path."""
    from txsmarkets.wire.records import IN, encode

    data = b""
    for number, (when, payload) in enumerate(records):
        if number == after:
            data += junk
        data += encode(IN, when, payload.SerializeToString())
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return str(path)


def write_catalogue(path: pathlib.Path, *market_ids: int) -> str:
    """A catalogue file of ``market_ids`` (contracts ``10 * id + 1`` to ``+ 3``); its path."""
    markets = [
        {"id": m, "name": f"market {m}", "contracts": [{"id": 10 * m + c, "name": f"c{c}"} for c in (1, 2, 3)]}
        for m in market_ids
    ]
    data = {
        "accounts": [{"username": "demo", "password": "demo", "balance": "1000.00"}],
        "events": [{"id": 1, "name": "Event", "markets": markets}],
    }
    path.write_text(json.dumps(data))
    return str(path)


class RecordingInputTests(unittest.TestCase):
    """What the command line says of the recording it is given: one that is none or holds
    no market data, or none of whose markets the catalogue has, is one line and status 2; a
    damaged one, or one some of whose markets the catalogue lacks, is replayed as far as it
    goes, with a warning line whatever the log level and a note in the report (these were
    silent, or a warning only at --log-level warn, with exit 0)."""

    def setUp(self) -> None:
        from tests.test_replay import quotes, snapshot

        book = snapshot(quotes(11, bids=((4902, 100000),), offers=((5128, 100000),)), quotes(12), quotes(13))
        self.records = [(100.0 + n, book) for n in range(5)]
        self.other = (101.5, quotes(market_id=99, contract_id=991, offers=((5000, 2000),)))

    def run_main(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        self.patch(sys, "stderr", err)
        status = main(["--strategy", "tests.test_backtest:Buying", *argv], out)
        return status, out.getvalue(), err.getvalue()

    def test_a_good_recording_has_no_notes(self) -> None:
        path = write_recording(pathlib.Path(self.mktemp() + ".gz"), self.records)
        status, out, err = self.run_main("--replay", path, "--json")
        self.assertEqual((status, err), (0, ""))
        self.assertNotIn("notes", json.loads(out))
        self.assertEqual(json.loads(out)["fills"], 1)

    def test_no_recording_is_one_line(self) -> None:
        folder = pathlib.Path(self.mktemp())
        folder.mkdir()
        text = folder / "notes.txt"
        text.write_bytes(b"this is no recording\n" * 10)
        garbage = folder / "garbage.gz"
        garbage.write_bytes(gzip.compress(b"this is no recording\n" * 10))
        empty = folder / "empty.gz"
        empty.write_bytes(gzip.compress(b""))
        unzipped = folder / "plain.gz"
        unzipped.write_bytes(b"this is no gzip file\n" * 10)
        for path, why in (
            (text, f" ({text}: not a recording or journal (no record at its start); the file is skipped)"),
            (garbage, f" ({garbage}: not a recording or journal (no record at its start); the file is skipped)"),
            (empty, ""),
            (unzipped, f" ({unzipped}: cut short (Not a gzipped file (b'th')) (no record at its start); the file is skipped)"),
        ):
            status, out, err = self.run_main("--replay", str(path))
            self.assertEqual((status, out), (2, ""), path)
            self.assertEqual(err, f"backtest: {str(path)!r} holds no recorded market data{why}\n")

    def test_a_damaged_recording_is_said_whatever_the_log_level(self) -> None:
        path = write_recording(pathlib.Path(self.mktemp() + ".gz"), self.records, after=3, junk=b"X" * 20)
        note = f"{path}: a header that is not a record after 3 records; the rest of the file is skipped"
        status, out, err = self.run_main("--replay", path, "--json")
        self.assertEqual((status, err), (0, f"backtest: warning: {note}\n"))
        report = json.loads(out)
        self.assertEqual(report["notes"], [note])
        self.assertEqual(report["sim_seconds"], 2.0)  # the records before the damage
        status, out, err = self.run_main("--replay", path)
        self.assertEqual((status, err), (0, f"backtest: warning: {note}\n"))
        self.assertIn(f"\n  note: {note}\n", out)
        cut = pathlib.Path(self.mktemp() + ".gz")
        cut.write_bytes(pathlib.Path(path).read_bytes()[:-30])
        status, out, err = self.run_main("--replay", str(cut), "--json")
        self.assertEqual(status, 0)
        self.assertRegex(err, rf"^backtest: warning: {cut}: cut short \(.*\) after \d records; the rest of the file is skipped\n$")

    def test_markets_not_in_the_catalogue(self) -> None:
        path = write_recording(pathlib.Path(self.mktemp()), [*self.records[:2], self.other, *self.records[2:]])
        some = write_catalogue(pathlib.Path(self.mktemp()), 1)
        status, out, err = self.run_main("--replay", path, "--catalogue", some, "--json")
        note = "the recording's market 99 is not in the catalogue; its records were skipped"
        self.assertEqual((status, err), (0, f"backtest: warning: {note}\n"))
        self.assertEqual(json.loads(out)["notes"], [note])
        none = write_catalogue(pathlib.Path(self.mktemp()), 7)
        status, out, err = self.run_main("--replay", path, "--catalogue", none, "--json")
        self.assertEqual((status, out), (2, ""))
        self.assertEqual(err, "backtest: none of the recording's markets (1, 99) is in the catalogue\n")

    def test_a_parameter_given_twice_is_refused(self) -> None:
        """As the daemon's --param refuses it: the last one was taken silently."""
        status, out, err = self.run_main("--simulate", "--duration", "1", "--param", "size=10000", "--param", "size=20000")
        self.assertEqual((status, out, err), (2, "", "backtest: the parameter 'size' is given twice\n"))


class _Counting(ProtocolWrapper):
    """Counts the bytes its protocol writes and is given."""

    def write(self, data: bytes) -> None:
        self.factory.counts[self.factory.side + "_out"] += len(data)  # type: ignore[attr-defined]
        super().write(data)

    def writeSequence(self, data: Any) -> None:
        for chunk in data:
            self.write(chunk)

    def dataReceived(self, data: bytes) -> None:
        self.factory.counts[self.factory.side + "_in"] += len(data)  # type: ignore[attr-defined]
        super().dataReceived(data)


class _CountingFactory(WrappingFactory):
    protocol = _Counting

    def __init__(self, wrapped: Any, counts: dict[str, int], side: str) -> None:
        super().__init__(wrapped)
        self.counts, self.side = counts, side


@implementer(IReactorTime, IReactorTCP)
class _ClockOverTCP:
    """Time from a Clock, connections over the real reactor's loopback TCP."""

    def __init__(self, clock: Clock, counts: dict[str, int]) -> None:
        self.seconds = clock.seconds
        self.callLater = clock.callLater
        self.getDelayedCalls = clock.getDelayedCalls
        self.counts = counts

    def connectTCP(self, host: str, port: int, factory: Any, timeout: float = 30, bindAddress: Any = None) -> Any:
        return reactor.connectTCP(host, port, _CountingFactory(factory, self.counts, "client"), timeout)  # type: ignore[attr-defined]


class LoopbackTCPTests(unittest.TestCase):
    """The same seed over real loopback TCP: the exchange's and the client's timers on one
    Clock stepped by the test exactly as the backtest steps it, the bytes on sockets; each
    step waits (bounded) until every byte written has been read."""

    async def tcp_fills(self, seed: int, duration: float) -> list[Any]:
        clock = Clock()
        market = make_market(simulate=True, seed=seed, clock=clock)
        counts = {"server_in": 0, "server_out": 0, "client_in": 0, "client_out": 0}
        port = reactor.listenTCP(0, _CountingFactory(market.factory, counts, "server"), interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        settings = SessionSettings(USERNAME, PASSWORD, host="127.0.0.1", port=port.getHost().port, ssl=False)
        client = StreamingAPIClient(Session(settings, reactor=_ClockOverTCP(clock, counts)))
        client.controls = Controls(tick_ladder=False)
        watcher = Watcher(client, clock.seconds)
        host = StrategyHost(client, MarketMaker())
        host.attach()
        deadline = time.monotonic() + 60

        async def settle() -> None:
            while True:
                if time.monotonic() > deadline:
                    raise AssertionError(f"bytes still in flight: {counts}")
                due = [c for c in clock.getDelayedCalls() if c.getTime() <= clock.seconds()]
                balanced = counts["server_out"] == counts["client_in"] and counts["client_out"] == counts["server_in"]
                if balanced and not due:
                    return
                if balanced:
                    clock.advance(0)
                else:
                    await deferLater(reactor, 0.0002)

        async def until(d: Deferred[Any]) -> None:
            while not d.called:
                if time.monotonic() > deadline:
                    raise AssertionError("not done in time")
                await deferLater(reactor, 0.001)
                await settle()

        await until(client.login())
        await settle()
        while True:
            calls = clock.getDelayedCalls()
            if not calls or calls[0].getTime() > duration:
                break
            clock.advance(max(0.0, calls[0].getTime() - clock.seconds()))
            await settle()
        await until(host.stop())
        await until(client.logout())
        market.factory.simulation.stop()  # type: ignore[attr-defined]
        return watcher.fills

    def test_same_fills_in_memory_and_over_tcp(self) -> Deferred[None]:
        async def check() -> None:
            over_tcp = await self.tcp_fills(seed=6, duration=30)
            in_memory = run_backtest(MarketMaker, simulate=True, seed=6, duration=30).fill_list
            self.assertGreater(len(in_memory), 20)
            self.assertEqual(over_tcp, in_memory)

        return Deferred.fromCoroutine(check())
