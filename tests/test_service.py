"""twistd smarkets: its options, and the service running against the embedded exchange."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet import defer
from twisted.trial import unittest

from txsmarkets.daemon.service import SmarketsService
from txsmarkets.daemon.demo import DemoStrategy
from txsmarkets.daemon.tap import Options, SetupError
from txsmarkets.persistence.journal import IN, read_journal
from txsmarkets.wire.messages import message_name


def parse(*args: str) -> Options:
    options = Options()
    options.parseOptions(list(args))
    return options


class OptionsTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        self.saved = os.environ.pop("SMARKETS_PASSWORD", None)

    def tearDown(self) -> None:
        os.environ.pop("SMARKETS_PASSWORD", None)
        if self.saved is not None:
            os.environ["SMARKETS_PASSWORD"] = self.saved

    def test_password_file(self) -> None:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("s3cret\n")
        options = parse("--username", "me", "--password-file", path, "--subscribe", "5", "--subscribe", "6")
        settings = options["settings"]
        self.assertEqual((settings.username, settings.password, settings.ssl), ("me", "s3cret", True))
        self.assertEqual(options["subscribe"], [5, 6])
        self.assertNotIn("s3cret", repr(settings))

    def test_password_from_environment(self) -> None:
        os.environ["SMARKETS_PASSWORD"] = "from-env"
        options = parse("--username", "me", "--no-tls", "--host", "127.0.0.1", "--port", "3701")
        settings = options["settings"]
        self.assertEqual((settings.password, settings.ssl, settings.port), ("from-env", False, 3701))
        self.assertNotIn("SMARKETS_PASSWORD", os.environ)

    def test_no_child_inherits_the_environment_s_password(self) -> None:
        """Taken out of the environment whatever the session logs in with: a password
        file, a token, or the demo account."""
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("s3cret\n")
        for args in (("--username", "me", "--password-file", path), ("--token-file", path), ("--demo",)):
            os.environ["SMARKETS_PASSWORD"] = "from-env"
            settings = parse(*args)["settings"]
            self.assertNotIn("SMARKETS_PASSWORD", os.environ, args)
            self.assertNotEqual(settings.password, "from-env", args)

    def test_missing_password_file(self) -> None:
        error = self.assertRaises(SetupError, parse, "--username", "me", "--password-file", "/nonexistent/pw")
        # The option, not its value: that could be a password typed in its place.
        self.assertIn("--password-file", str(error))
        self.assertNotIn("/nonexistent/pw", str(error))
        self.assertEqual(error.code.count("\n"), 0)

    def test_both_plugins_raise_one_setup_error(self) -> None:
        """``twistd smarkets`` and ``twistd smarkets-exchange`` fail to start with the one
        `txsmarkets.process.SetupError`, each naming its program."""
        from txsmarkets.exchange.tap import Options as ExchangeOptions
        from txsmarkets.process import SetupError as ProcessSetupError

        daemon = self.assertRaises(ProcessSetupError, parse, "--subscribe", "one")
        exchange = self.assertRaises(ProcessSetupError, ExchangeOptions().parseOptions, ["--sped", "2"])
        self.assertEqual(
            [(e.program, e.message, e.code) for e in (daemon, exchange)],
            [
                ("twistd smarkets", "--subscribe takes a market id, not 'one'", "twistd smarkets: --subscribe takes a market id, not 'one'"),
                (
                    "twistd smarkets-exchange",
                    "unknown option --sped (did you mean --speed?)",
                    "twistd smarkets-exchange: unknown option --sped (did you mean --speed?)",
                ),
            ],
        )

    def test_no_credentials(self) -> None:
        error = self.assertRaises(SetupError, parse, "--username", "me")
        self.assertIn("--password-file", str(error))

    def test_bad_strategy(self) -> None:
        os.environ["SMARKETS_PASSWORD"] = "x"
        self.assertRaises(SetupError, parse, "--username", "me", "--strategy", "nonexistent_mod:f")
        self.assertRaises(SetupError, parse, "--username", "me", "--strategy", "nocolon")

    def test_bad_subscribe(self) -> None:
        self.assertRaises(SetupError, parse, "--subscribe", "one")

    def test_config_file_and_command_line_wins(self) -> None:
        folder = self.mktemp()
        os.makedirs(folder)
        with open(os.path.join(folder, "base.ini"), "w") as f:
            f.write("[smarkets]\nhost = base.example\nport = 4000\nusername = base\n")
        with open(os.path.join(folder, "main.ini"), "w") as f:
            f.write("[inherit]\nfrom = base.ini\n[smarkets]\nusername = fromfile\nsubscribe = 1 2\n")
        os.environ["SMARKETS_PASSWORD"] = "x"
        options = parse("--config", os.path.join(folder, "main.ini"), "--port", "5000")
        settings = options["settings"]
        self.assertEqual((settings.host, settings.port, settings.username), ("base.example", 5000, "fromfile"))
        self.assertEqual(options["subscribe"], [1, 2])

    def test_strategy_params(self) -> None:
        """``--param`` and ``[params]`` reach the strategy as a backtest's ``--param`` would:
        numbers as numbers, names as written; the command line wins over the file."""
        folder = self.mktemp()
        os.makedirs(folder)
        path = os.path.join(folder, "daemon.ini")
        with open(path, "w") as f:
            f.write("[smarkets]\nStatus-Interval = 30\n\n[params]\nMaxStake = 2.5\nperiod = 9\nmode = calm\n")
        options = parse("--demo", "--config", path, "--param", "period=2", "--param", "spread=0.25")
        self.assertEqual(options["strategy"].params, {"MaxStake": 2.5, "period": 2, "mode": "calm", "spread": 0.25})
        strategy = parse("--demo", "--strategy", "txsmarkets.daemon.demo:DemoStrategy", "--param", "period=3")["strategy"]
        self.assertEqual(strategy.params, {"period": 3})

    def test_bad_strategy_params(self) -> None:
        with self.assertRaises(SetupError) as caught:
            parse("--demo", "--param", "period")
        self.assertIn("--param: a parameter is given as NAME=VALUE, not 'period'", str(caught.exception))
        with self.assertRaises(SetupError) as caught:
            parse("--demo", "--param", "a=1", "--param", "a=2")
        self.assertIn("given twice", str(caught.exception))
        os.environ["SMARKETS_PASSWORD"] = "x"
        with self.assertRaises(SetupError) as caught:
            parse("--username", "me", "--param", "a=1")
        self.assertIn("--param sets the parameters of a --strategy", str(caught.exception))

    def test_bad_config(self) -> None:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("[smarkets]\nnonsense = 1\n")
        self.assertRaises(SetupError, parse, "--config", path)
        self.assertRaises(SetupError, parse, "--config", "/nonexistent.ini")

    def test_demo(self) -> None:
        options = parse("--demo")
        self.assertEqual(options["subscribe"], [1, 2])
        self.assertIsInstance(options["strategy"], DemoStrategy)
        self.assertEqual(options["status-interval"], 10.0)
        # An explicit interval is kept.
        self.assertEqual(parse("--demo", "--status-interval", "30")["status-interval"], 30.0)

    def test_strategy_spec_checked_and_kept(self) -> None:
        os.environ["SMARKETS_PASSWORD"] = "x"
        options = parse("--username", "me", "--strategy", "txsmarkets.daemon.demo:DemoStrategy")
        self.assertIsInstance(options["strategy"], DemoStrategy)


class ServiceTests(unittest.TestCase):
    def test_demo_service(self) -> None:
        """The service logs in to its own embedded exchange, subscribes, trades, logs out."""
        from twisted.internet import reactor

        options = parse("--demo")
        calls: list[Any] = []
        placed: defer.Deferred[Any] = defer.Deferred()

        def strategy(client: Any) -> None:
            calls.append(client)
            client.create_order(1, 11, 1, 2000, 100000).chainDeferred(placed)

        svc = SmarketsService(options["settings"], reactor, subscribe=(1, 2), strategy=strategy, demo=True)
        svc.startService()

        async def run() -> None:
            accepted = await placed
            self.assertTrue(accepted.order_accepted.order_id)
            client = svc.client
            assert client is not None
            self.assertEqual(calls, [client])
            self.assertTrue(client.session.connected)
            self.assertEqual(client.subscriptions, {1, 2})
            svc.log_status()
            await client.ping()  # behind the status line's own ping: that one has come back
            self.assertIsNotNone(svc.last_rtt)
            await svc.stopService()
            self.assertFalse(client.session.connected)

        return defer.Deferred.fromCoroutine(run())

    def test_demo_with_a_state_folder_twice(self) -> None:
        """``--demo --state-dir``: each start's embedded exchange is new, so the second run
        restores nothing of the first's session or account (its account stream numbers
        from 1 again: a restored account sequence would have every answer dropped as
        seen). Its orders are heard, and the journal goes on."""
        from twisted.internet import reactor

        folder = self.mktemp()

        async def one_run() -> tuple[int, list[int]]:
            placed: defer.Deferred[Any] = defer.Deferred()

            def strategy(client: Any) -> None:
                client.create_order(1, 11, 1, 2000, 100000).chainDeferred(placed)

            svc = SmarketsService(parse("--demo")["settings"], reactor, strategy=strategy, demo=True, state_dir=folder)
            svc.startService()
            try:
                accepted = await placed
                order_id = accepted.order_accepted.order_id
                await svc.client.ping()
                return order_id, sorted(svc.client.account.orders)
            finally:
                await svc.stopService()

        async def run() -> None:
            first, live = await one_run()
            self.assertEqual(live, [first])
            second, live = await one_run()
            self.assertEqual(live, [second])
            journal = [r for r in read_journal(os.path.join(folder, "journal")) if r.direction == IN]
            accepted = [r.payload() for r in journal if message_name(r.payload()) == "seto.order_accepted"]
            self.assertEqual([p.order_accepted.order_id for p in accepted], [first, second])

        return defer.Deferred.fromCoroutine(run())


class FreezeTests(unittest.SynchronousTestCase):
    def test_startup_objects_frozen(self) -> None:
        """What is alive when the daemon starts is moved out of the collector's sight;
        garbage is collected first, so none of it is kept for ever."""
        import gc
        import weakref

        from txsmarkets.process import freeze_long_lived

        class Node:
            pass

        cycle = Node()
        cycle.me = cycle  # type: ignore[attr-defined]
        dead = weakref.ref(cycle)
        del cycle
        self.addCleanup(gc.unfreeze)
        before = gc.get_freeze_count()
        freeze_long_lived()
        self.assertIsNone(dead())
        self.assertGreater(gc.get_freeze_count(), before)


class MoreOptionsTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        self.saved = os.environ.pop("SMARKETS_PASSWORD", None)
        os.environ["SMARKETS_PASSWORD"] = "x"

    def tearDown(self) -> None:
        os.environ.pop("SMARKETS_PASSWORD", None)
        if self.saved is not None:
            os.environ["SMARKETS_PASSWORD"] = self.saved

    def test_help_has_the_exit_statuses(self) -> None:
        usage = Options().getUsage()
        self.assertIn("Exit statuses:", usage)
        for status in range(5):
            self.assertIn(f"\n  {status}  ", usage)

    def test_every_option_in_the_config_file(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(os.path.join(folder, "secrets"))
        with open(os.path.join(folder, "secrets", "pw"), "w") as f:
            f.write("from-file\n")
        with open(os.path.join(folder, "daemon.ini"), "w") as f:
            f.write(
                "[smarkets]\nusername = me\npassword-file = secrets/pw\nstate-dir = state\n"
                "cancel-on-exit = yes\ncancel-on-disconnect = true\nstop-on-strategy-error = on\n"
                "no-tls = yes\nstatus-interval = 2.5\nmax-retries = 4\nsubscribe = 3 4\n"
                "strategy = txsmarkets.daemon.demo:DemoStrategy\n"
            )
        options = parse("--config", os.path.join(folder, "daemon.ini"))
        settings = options["settings"]
        self.assertEqual((settings.username, settings.password, settings.ssl), ("me", "from-file", False))
        self.assertEqual((settings.fail_fast, settings.max_retries), (False, 4))
        self.assertEqual(options["state-dir"], os.path.join(folder, "state"))
        self.assertTrue(os.path.isdir(os.path.join(folder, "state")))
        self.assertEqual((options["cancel-on-exit"], options["cancel-on-disconnect"], options["stop-on-strategy-error"]), (1, 1, 1))
        self.assertEqual((options["status-interval"], options["subscribe"]), (2.5, [3, 4]))
        self.assertIsInstance(options["strategy"], DemoStrategy)

    def test_demo_from_the_config_file(self) -> None:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("[smarkets]\ndemo = yes\nstatus-interval = 30\n")
        options = parse("--config", path)
        self.assertEqual((options["demo"], options["status-interval"]), (1, 30.0))

    def test_bad_values_one_line(self) -> None:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("[smarkets]\ncancel-on-exit = maybe\n")
        for args in (
            ("--config", path),
            ("--username", "me", "--status-interval", "0"),
            ("--username", "me", "--status-interval", "nan"),
            ("--username", "me", "--max-retries", "-1"),
            ("--username", "me", "--port", "http"),
        ):
            error = self.assertRaises(SetupError, parse, *args)
            self.assertEqual(str(error.code).count("\n"), 0, args)

    def test_service_refuses_a_bad_interval(self) -> None:
        from twisted.internet.task import Clock

        self.assertRaises(ValueError, SmarketsService, parse("--demo")["settings"], Clock(), status_interval=0)


class FiguresTests(unittest.SynchronousTestCase):
    def test_realised_pnl_at_average_cost(self) -> None:
        from decimal import Decimal

        from txsmarkets.client import BUY, SELL
        from txsmarkets.daemon.figures import Figures

        figures = Figures()
        figures.fill(1, 11, BUY, 2000, 100000)  # 10 GBP of payout at 20%
        figures.fill(1, 11, BUY, 3000, 100000)  # and at 30%: average 25%
        figures.fill(1, 11, SELL, 4000, 100000)  # half sold at 40%: 15% of 10 GBP
        self.assertEqual(figures.realised_pnl, Decimal("1.5"))
        figures.fill(1, 11, SELL, 2000, 200000)  # the rest at 20% (-0.5), then short 10 at 20%
        self.assertEqual(figures.realised_pnl, Decimal("1.0"))
        figures.fill(1, 11, BUY, 1000, 100000)  # short closed at 10%: +1
        self.assertEqual(figures.realised_pnl, Decimal("2.0"))
        self.assertEqual(figures.fills, 5)

    def test_realised_pnl_is_exact(self) -> None:
        """An average of 2000.666...% closed in thirds realises exactly the money's
        difference (it was a 28-digit quotient, 0.0297999...)."""
        from decimal import Decimal

        from txsmarkets.client import BUY, SELL
        from txsmarkets.daemon.figures import Figures

        figures = Figures()
        figures.fill(1, 11, BUY, 2000, 10000)
        figures.fill(1, 11, BUY, 2001, 20000)
        for _ in range(3):
            figures.fill(1, 11, SELL, 2100, 10000)
        self.assertEqual(figures.realised_pnl, Decimal("0.0298"))

    def _trade_twice(self, market_id: int = 1) -> tuple[Any, Any, Any]:
        """demo buys £10 of payout at 20% and sells it at 30.30% (+£1.03), demo2 the other
        side; demo's figures watch. Returns (exchange, demo, figures)."""
        from txsmarkets.client import BUY, SELL
        from txsmarkets.daemon.figures import Figures
        from txsmarkets.testing import MemoryExchange

        exchange = MemoryExchange()
        us = exchange.run(exchange.connect("demo", "demo"))
        them = exchange.run(exchange.connect("demo2", "demo2"))
        figures = Figures()
        figures.watch(us)
        contract_id = 11 if market_id == 1 else 21
        exchange.run(them.create_order(market_id, contract_id, SELL, 2000, 100_000))
        exchange.run(us.create_order(market_id, contract_id, BUY, 2000, 100_000))
        exchange.run(them.create_order(market_id, contract_id, BUY, 3030, 100_000))
        exchange.run(us.create_order(market_id, contract_id, SELL, 3030, 100_000))
        exchange.flush()
        return exchange, us, figures

    def test_a_voided_market_realised_nothing(self) -> None:
        """Its orders' order_voided take their fills out (the client need not follow the
        market): the figure the status line and the metric show drops its profit."""
        from decimal import Decimal

        exchange, _, figures = self._trade_twice()
        self.assertEqual(figures.realised_pnl, Decimal("1.03"))
        exchange.engine.void_market(1)
        exchange.flush()
        self.assertEqual(figures.realised_pnl, 0)
        self.assertEqual(figures.fills, 2)

    def test_a_voided_market_it_follows(self) -> None:
        """A market_state "voided" drops the market too; another market's figures stand."""
        from decimal import Decimal

        exchange, us, figures = self._trade_twice(2)
        exchange.run(us.subscribe(2))
        figures.fill(1, 11, 1, 2000, 100_000, order_id=999)
        figures.fill(1, 11, 2, 2500, 100_000, order_id=998)
        self.assertEqual(figures.realised_pnl, Decimal("1.53"))
        exchange.engine.set_market_state(2, "voided")
        exchange.flush()
        self.assertEqual(figures.realised_pnl, Decimal("0.5"))

    def test_a_settled_market_keeps_its_figure_not_its_fills(self) -> None:
        from decimal import Decimal

        from txsmarkets.daemon import figures as figures_module

        exchange, us, figures = self._trade_twice()
        exchange.run(us.subscribe(1))
        exchange.engine.settle_market(1, [11])
        exchange.flush()
        self.assertEqual(figures.realised_pnl, Decimal("1.03"))
        self.assertEqual(figures._logged, 0)
        self.assertIsInstance(figures_module.FILLS_KEPT, int)

    def test_a_voided_execution_is_taken_out(self) -> None:
        """One trade voided: the figures are made again from the fills that stand, in their
        order (average cost depends on it)."""
        from decimal import Decimal

        from txsmarkets.client import BUY, SELL
        from txsmarkets.daemon.figures import Figures

        figures = Figures()
        figures.fill(1, 11, BUY, 2000, 100000, order_id=1)
        figures.fill(1, 11, BUY, 3000, 100000, order_id=2)
        figures.fill(1, 11, SELL, 4000, 100000, order_id=3)
        self.assertEqual(figures.realised_pnl, Decimal("1.5"))
        figures.void_execution(1, 2, 3000, 100000)  # the buy at 30% never was
        self.assertEqual(figures.realised_pnl, Decimal("2.0"))
        figures.void_execution(1, 3, 2000, 100000)  # not its price: nothing to take out
        self.assertEqual(figures.realised_pnl, Decimal("2.0"))
        figures.void_execution(1, 3, 4000, 40000)  # in part: 6 of the 10 GBP sold stand
        self.assertEqual(figures.realised_pnl, Decimal("1.2"))
        figures.fill(1, 11, SELL, 2500, 40000, order_id=4)
        self.assertEqual(figures.realised_pnl, Decimal("1.4"))

    def test_an_execution_voided_by_the_exchange(self) -> None:
        """The exchange's order_execute_voided (`ChangeKind.EXECUTION_VOIDED`) takes the
        trade out."""
        exchange, us, figures = self._trade_twice()
        sell = max(us.account.history)
        taker = exchange.engine.order(sell)
        maker = next(i for i in range(1, sell) if (o := exchange.engine.order(i)) and o.price == 3030 and o is not taker)
        exchange.engine.void_execution(sell, maker, 3030, 100_000)
        exchange.flush()
        self.assertEqual(figures.realised_pnl, 0)

    def test_a_void_past_the_fills_kept_drops_the_market(self) -> None:
        """At most FILLS_KEPT fills are kept: the oldest market's go first, and a void in
        it then drops all of its figures."""
        from decimal import Decimal

        from txsmarkets.client import BUY, SELL
        from txsmarkets.daemon import figures as figures_module

        self.patch(figures_module, "FILLS_KEPT", 2)
        figures = figures_module.Figures()
        figures.fill(1, 11, BUY, 2000, 100000, order_id=1)
        figures.fill(1, 11, SELL, 3000, 100000, order_id=2)
        figures.fill(2, 21, BUY, 2000, 100000, order_id=3)
        figures.fill(2, 21, SELL, 2500, 100000, order_id=4)
        self.assertEqual(figures._logged, 2)
        self.assertEqual(figures.realised_pnl, Decimal("1.5"))
        figures.void_order(1, 1)
        self.assertEqual(figures.realised_pnl, Decimal("0.5"))
        figures.void_order(2, 4)
        self.assertEqual(figures.realised_pnl, 0)

    def test_fill_and_money_lines_say_their_units(self) -> None:
        """A fill's line names the side, the pounds of payout and the percent price; pounds
        in log lines are to the penny, the exact figure kept."""
        from decimal import Decimal

        from twisted.logger import capturedLogs, formatEvent

        from txsmarkets.client import BUY, SELL
        from txsmarkets.daemon.figures import Figures, to_the_penny
        from txsmarkets.testing import MemoryExchange

        exchange = MemoryExchange()
        us = exchange.run(exchange.connect("demo", "demo"))
        them = exchange.run(exchange.connect("demo2", "demo2"))
        figures = Figures()
        figures.watch(us)
        with capturedLogs() as events:
            exchange.run(them.create_order(1, 11, SELL, 2000, 20100))
            exchange.run(us.create_order(1, 11, BUY, 2000, 20100))
            exchange.advance(0)
        lines = [formatEvent(e) for e in events if e.get("log_format", "").startswith("fill:")]
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^fill: order \d+ buy £2\.01 of payout at 20\.00% \(fills=1\)$")
        self.assertEqual(to_the_penny(Decimal("-1.234999999999999999999999")), "-1.23")
        self.assertEqual(to_the_penny(Decimal("2.005")), "2.00")
        self.assertEqual(to_the_penny(None), "-")

