"""``twistd smarkets`` processes end with the exit status that says why (the table of
``docs/guides/daemon.rst``)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess

from twisted.trial import unittest

from tests.certs import make_certificates
from tests.daemons import DaemonTestCase, free_port, until
from tests.support import global_reactor, inline
from txsmarkets.exchange.service import RunningExchange, start_exchange


class ConfigurationExitTests(DaemonTestCase):
    """Status 1: anything wrong before connecting, in one line without a traceback."""

    async def assertSetupFails(self, *args: str, words: tuple[str, ...] = ("twistd smarkets:",)) -> str:
        process = self.spawn(*self.daemon_args(free_port()), *args)
        self.assertEqual(await self.exit_status(process), 1)
        output = self.output(process)
        self.assertOneLineError(output, *words)
        return output

    @inline
    async def test_status_interval_must_be_positive(self) -> None:
        await self.assertSetupFails("--status-interval", "-5", words=("--status-interval must be a positive number",))
        await self.assertSetupFails("--status-interval", "0", words=("--status-interval must be a positive number",))

    @inline
    async def test_not_an_ini_file(self) -> None:
        config = self.folder / "daemon.conf"
        config.write_text("this is not\nan ini file\n")
        await self.assertSetupFails("--config", str(config), words=("not a valid INI file",))

    @inline
    async def test_missing_ca_file(self) -> None:
        await self.assertSetupFails("--ca-file", str(self.folder / "nope.pem"), words=("no CA file",))

    @inline
    async def test_corrupt_session_json_and_reset_state(self) -> None:
        self.state.mkdir()
        (self.state / "session.json").write_text("{not json")
        await self.assertSetupFails("--state-dir", str(self.state), words=("unreadable session state", "--reset-state"))
        # --reset-state starts afresh on purpose: past the state, it only lacks an exchange.
        process = self.spawn(*self.daemon_args(free_port(), "--state-dir", str(self.state), "--reset-state", "--max-retries", "0"))
        self.assertEqual(await self.exit_status(process), 3)
        self.assertFalse((self.state / "session.json").exists() and "not json" in (self.state / "session.json").read_text())

    @inline
    async def test_missing_replay_file(self) -> None:
        self.state.mkdir()
        state = {
            "replay_file": "replay.7.bin", "session_id": "s", "inseq": 1, "outseq": 1,
            "account_sequence": 0, "journal_file": "journal.000001", "journal_offset": 0,
        }  # fmt: skip
        (self.state / "session.json").write_text(json.dumps(state))
        await self.assertSetupFails("--state-dir", str(self.state), words=("replay file", "is missing"))


class SessionExitTests(DaemonTestCase):
    """Statuses 2 and 3: refused for good, or given up reconnecting."""

    async def exchange(self, endpoint: str = "tcp:0:interface=127.0.0.1") -> RunningExchange:
        exchange = await start_exchange(global_reactor(), endpoint)
        self.addCleanup(exchange.stop)
        return exchange

    @inline
    async def test_wrong_password(self) -> None:
        exchange = await self.exchange()
        process = self.spawn(*self.daemon_args(exchange.port), env={"SMARKETS_PASSWORD": "wrong"})
        self.assertEqual(await self.exit_status(process), 2)
        self.assertOneLineError(self.output(process), "login refused", "LOGOUT_UNAUTHORISED", "exit status 2")

    @inline
    async def test_tls_verification_failure_named(self) -> None:
        ca, server = make_certificates(str(self.folder / "certs"), "elsewhere.example")
        exchange = await self.exchange(f"ssl:0:interface=127.0.0.1:privateKey={server}")
        args = ["--host", "localhost", "--port", str(exchange.port), "--username", "demo", "--ca-file", ca]
        process = self.spawn(*args)
        self.assertEqual(await self.exit_status(process), 2)
        self.assertOneLineError(self.output(process), "TLS verification failed", "another host name", "exit status 2")
        self.assertEqual(exchange.factory.sessions, {})

    @inline
    async def test_untrusted_certificate_named(self) -> None:
        _, server = make_certificates(str(self.folder / "certs"), "localhost")
        other_ca, _ = make_certificates(str(self.folder / "other"), "localhost")
        exchange = await self.exchange(f"ssl:0:interface=127.0.0.1:privateKey={server}")
        process = self.spawn("--host", "localhost", "--port", str(exchange.port), "--username", "demo", "--ca-file", other_ca)
        self.assertEqual(await self.exit_status(process), 2)
        self.assertOneLineError(self.output(process), "TLS verification failed", "certificate verify failed", "exit status 2")

    @inline
    async def test_gives_up_after_max_retries(self) -> None:
        process = self.spawn(*self.daemon_args(free_port(), "--max-retries", "1"))
        self.assertEqual(await self.exit_status(process), 3)
        self.assertOneLineError(self.output(process), "gave up reconnecting", "exit status 3")

    @inline
    async def test_waits_for_an_exchange_not_up_yet(self) -> None:
        """By default the daemon keeps trying from the first attempt: it logs in once the
        exchange is up, and SIGINT then ends it with 0."""
        port = free_port()
        process = self.spawn(*self.daemon_args(port, "--state-dir", str(self.state)))
        await until(lambda: "cannot connect" in self.output(process) or "Connection refused" in self.output(process),
                    "a refused attempt", 30)  # fmt: skip
        self.assertIsNone(process.poll())
        exchange = await self.exchange(f"tcp:{port}:interface=127.0.0.1")
        await until(lambda: len(exchange.factory.sessions) == 1, "the daemon to log in", 60)
        process.send_signal(signal.SIGINT)  # as SIGTERM: a clean logout, status 0
        self.assertEqual(await self.exit_status(process), 0)
        self.assertNothingSentAfterLogout()


class StrategyExitTests(DaemonTestCase):
    """Status 4, and 0: the strategy fails; the operator stops the daemon."""

    @inline
    async def test_strategy_error_cancels_logs_out_exits_4(self) -> None:
        exchange = await start_exchange(global_reactor())
        self.addCleanup(exchange.stop)
        demo = exchange.engine.accounts.by_username("demo")
        process = self.spawn(
            *self.daemon_args(exchange.port, "--state-dir", str(self.state), "--strategy", "teststrategies:Broken",
                              "--stop-on-strategy-error"))  # fmt: skip
        self.assertEqual(await self.exit_status(process), 4)
        # The strategy's own traceback is logged (it is the strategy author's to read); the
        # daemon says why it stopped in one line.
        output = self.output(process).replace("Traceback", "")
        self.assertOneLineError(output, "strategy Broken failed in explode", "the model diverged", "exit status 4")
        self.assertEqual(demo.orders, {})
        self.assertIn("accepted", " ".join(self.recorded()))
        self.assertNothingSentAfterLogout()

    @inline
    async def test_sigterm_cancels_live_orders_then_logs_out(self) -> None:
        exchange = await start_exchange(global_reactor())
        self.addCleanup(exchange.stop)
        demo = exchange.engine.accounts.by_username("demo")
        process = self.spawn(
            *self.daemon_args(exchange.port, "--state-dir", str(self.state), "--strategy", "teststrategies:Placer",
                              "--cancel-on-exit", "--cancel-on-disconnect"),
            env={"ORDERS": "3"},
        )  # fmt: skip
        await until(lambda: len(demo.orders) == 3 and len(self.client_orders()) == 3, "three live orders")
        self.assertEqual(await self.stop(process), 0)
        self.assertEqual(demo.orders, {})
        self.assertEqual(self.recorded()[-1], "stop")
        names = [name for name, _ in self.sent()]
        self.assertEqual(names.count("seto.order_create"), 3)
        self.assertEqual(names.count("seto.order_cancel"), 3)
        # The strategy stopped before the cancels, and the cancels went before the logout.
        self.assertLess(max(i for i, n in enumerate(names) if n == "seto.order_cancel"), names.index("eto.logout"))
        settings = [p for name, p in self.sent() if name == "seto.settings"]
        self.assertEqual([p.settings.cancel_all_on_failure for p in settings], [True])
        self.assertNothingSentAfterLogout()


class MetricsTests(DaemonTestCase):
    """``--metrics`` serves the status line's figures for Prometheus."""

    def setUp(self) -> None:
        from txsmarkets.daemon.metrics import available

        if not available():
            raise unittest.SkipTest("prometheus_client is not installed")
        super().setUp()

    @inline
    async def test_metrics_served(self) -> None:
        from twisted.web.client import Agent, readBody

        reactor = global_reactor()
        exchange = await start_exchange(reactor)
        self.addCleanup(exchange.stop)
        port = free_port()
        process = self.spawn(
            *self.daemon_args(exchange.port, "--strategy", "teststrategies:Placer",
                              "--metrics", f"tcp:{port}:interface=127.0.0.1"))  # fmt: skip
        await until(lambda: len(self.client_orders()) == 2, "two orders")
        response = await Agent(reactor).request(b"GET", f"http://127.0.0.1:{port}/metrics".encode())
        body = (await readBody(response)).decode()
        self.assertIn("txsmarkets_connected 1.0", body)
        self.assertIn("txsmarkets_live_orders 2.0", body)
        self.assertIn("txsmarkets_exposure_pounds 4.0", body)
        self.assertIn("txsmarkets_fills_total 0.0", body)
        self.assertIn("txsmarkets_reconnects_total 0.0", body)
        self.assertIn("txsmarkets_realised_pnl_pounds 0.0", body)
        self.assertEqual(await self.stop(process), 0)


class EarlySignalTests(DaemonTestCase):
    """Signals the moment the daemon's first port (``--metrics``) opens, before the reactor
    runs: each does what it says, as later (it was killed by the signal, every time)."""

    def setUp(self) -> None:
        from txsmarkets.daemon.metrics import available

        if not available():
            raise unittest.SkipTest("prometheus_client is not installed")
        super().setUp()

    def started(self) -> subprocess.Popen[bytes]:
        port = free_port()
        process = self.spawn(*self.daemon_args(free_port(), "--metrics", f"tcp:{port}:interface=127.0.0.1"))
        # Polled without a pause, so that the signal follows the listen at once.
        while process.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
        return process

    @inline
    async def test_sigterm_stops_with_status_zero(self) -> None:
        for _ in range(3):
            process = self.started()
            process.send_signal(signal.SIGTERM)
            self.assertEqual(await self.exit_status(process), 0)

    @inline
    async def test_sigusr1_halts(self) -> None:
        process = self.started()
        process.send_signal(signal.SIGUSR1)
        await until(lambda: "trading halted: SIGUSR1 from the operator" in self.output(process), "the halt")
        self.assertIsNone(process.poll())
        self.assertEqual(await self.stop(process), 0)


class ControlsTests(DaemonTestCase):
    """The config file's ``[controls]`` section, and SIGUSR1 as the operator's kill switch."""

    @inline
    async def test_controls_refuse_and_sigusr1_halts(self) -> None:
        exchange = await start_exchange(global_reactor())
        self.addCleanup(exchange.stop)
        demo = exchange.engine.accounts.by_username("demo")
        config = self.folder / "daemon.conf"
        config.write_text("[smarkets]\ncancel-on-exit = no\n\n[controls]\nmax-live-orders = 1\n")
        process = self.spawn(
            *self.daemon_args(exchange.port, "--config", str(config), "--state-dir", str(self.state),
                              "--strategy", "teststrategies:Placer"),
            env={"ORDERS": "3"},
        )  # fmt: skip
        await until(lambda: "refused=2" in self.output(process), "two creates refused by the controls")
        self.assertEqual(len(demo.orders), 1)
        names = [name for name, _ in self.sent()]
        self.assertEqual(names.count("seto.order_create"), 1)
        process.send_signal(signal.SIGUSR1)
        await until(lambda: not demo.orders, "the live order cancelled by the halt")
        await until(lambda: "halted=SIGUSR1" in self.output(process), "the status line to show the halt")
        self.assertIn("trading halted: SIGUSR1 from the operator", self.output(process))
        self.assertEqual(await self.stop(process), 0)
        self.assertNothingSentAfterLogout()

    @inline
    async def test_bad_controls_section_is_one_line(self) -> None:
        config = self.folder / "daemon.conf"
        config.write_text("[smarkets]\n\n[controls]\nmax-live-order = 1\n")
        process = self.spawn(*self.daemon_args(free_port(), "--config", str(config)))
        self.assertEqual(await self.exit_status(process), 1)
        self.assertOneLineError(self.output(process), "[controls]", "max-live-order")
