"""``twistd smarkets`` processes end with the exit status that says why (the table of
``docs/guides/daemon.rst``)."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess

from twisted.internet import task
from twisted.internet.defer import Deferred, gatherResults
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
    async def test_unknown_option_names_the_nearest(self) -> None:
        await self.assertSetupFails("--stategy", "x:Y", words=("unknown option --stategy (did you mean --strategy?)",))

    @inline
    async def test_unknown_config_key_names_the_nearest(self) -> None:
        config = self.folder / "daemon.conf"
        config.write_text("[smarkets]\ncancel-on-exits = yes\n")
        await self.assertSetupFails("--config", str(config), words=("unknown key cancel-on-exits (did you mean cancel-on-exit?)",))

    @inline
    async def test_missing_ca_file(self) -> None:
        await self.assertSetupFails("--ca-file", str(self.folder / "nope.pem"), words=("no CA file",))

    @inline
    async def test_ca_file_that_is_no_pem_certificate(self) -> None:
        """With TLS (as the daemon_args have not): not OpenSSL's traceback as the session
        starts."""
        ca = self.folder / "ca.pem"
        ca.write_text("not a certificate\n")
        args = ("--host", "127.0.0.1", "--port", str(free_port()), "--username", "demo", "--ca-file", str(ca))
        process = self.spawn(*args)
        self.assertEqual(await self.exit_status(process), 1)
        self.assertOneLineError(self.output(process), "twistd smarkets:", "holds no PEM certificate")

    @inline
    async def test_a_password_typed_on_the_command_line_is_not_shown(self) -> None:
        """``--password`` is no abbreviation of ``--password-file``: the password is never
        read as a file's name, nor shown in the error."""
        output = await self.assertSetupFails(
            "--password", "hunter2", words=("twistd smarkets: unknown option --password (did you mean --password-file?)",)
        )
        self.assertNotIn("hunter2", output)

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


class StartFailureTests(DaemonTestCase):
    """Status 1 for a start-up that cannot go on: the process ends (it used to say "exit
    status 1" and go on running, not logged in), in one line without a traceback."""

    async def assertEnds(self, *args: str, words: tuple[str, ...]) -> None:
        process = self.spawn(*args)
        self.assertEqual(await self.exit_status(process), 1)
        self.assertOneLineError(self.output(process), *words)

    @inline
    async def test_metrics_port_taken(self) -> None:
        from txsmarkets.daemon.metrics import available

        if not available():
            raise unittest.SkipTest("prometheus_client is not installed")
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            await self.assertEnds("--demo", "--metrics", f"tcp:{port}:interface=127.0.0.1",
                                  words=("cannot serve metrics", "exit status 1"))  # fmt: skip

    @inline
    async def test_recording_folder_unusable(self) -> None:
        await self.assertEnds("--demo", "--record", "/dev/null/x", words=("cannot record in", "/dev/null/x"))

    @inline
    async def test_state_folder_unusable(self) -> None:
        await self.assertEnds("--demo", "--state-dir", "/dev/null/x", words=("cannot use the state folder", "/dev/null/x"))

    @inline
    async def test_strategy_module_missing(self) -> None:
        await self.assertEnds("--demo", "--strategy", "nosuchmodule:Nothing", words=("cannot import the strategy module",))

    @inline
    async def test_strategy_module_raises(self) -> None:
        (self.folder / "strategies" / "raising.py").write_text("raise RuntimeError('no model file')\n")
        await self.assertEnds("--demo", "--strategy", "raising:S", words=("cannot import the strategy module", "no model file"))

    @inline
    async def test_strategy_constructor_raises(self) -> None:
        (self.folder / "strategies" / "fussy.py").write_text(
            "from txsmarkets.strategy import Strategy\n"
            "class Fussy(Strategy):\n"
            "    def __init__(self, params=None):\n"
            "        raise KeyError('threshold')\n"
        )
        await self.assertEnds("--demo", "--strategy", "fussy:Fussy", words=("cannot make the strategy", "threshold"))


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
        self.assertNotIn("login refused: login refused", self.output(process))

    @inline
    async def test_tls_to_a_plaintext_exchange_named(self) -> None:
        """Forgetting --no-tls against a local plaintext exchange is a configuration error,
        said in one line (it was retried for ever)."""
        exchange = await self.exchange()
        process = self.spawn("--host", "127.0.0.1", "--port", str(exchange.port), "--username", "demo")
        self.assertEqual(await self.exit_status(process), 2)
        self.assertOneLineError(
            self.output(process), f"127.0.0.1:{exchange.port} does not speak TLS; --no-tls is for a local exchange",
            "exit status 2",
        )  # fmt: skip

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
        # One cancel_all took the three; the strategy stopped before it, and it went before
        # the logout.
        self.assertEqual((names.count("seto.order_cancel_all"), names.count("seto.order_cancel")), (1, 0))
        self.assertLess(names.index("seto.order_cancel_all"), names.index("eto.logout"))
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


class SignalUnderLoadTests(DaemonTestCase):
    """SIGTERM at any moment of a daemon's start, on a machine whose cores are all busy,
    goes through the daemon's own stop: never the default action, nor the reactor's bare
    handler (which made twistd end the process by the signal)."""

    timeout = 900

    async def run_once(self, delay: float) -> str:
        """Start a ``--demo`` daemon, SIGTERM it ``delay`` seconds after its first log line;
        what went wrong, or an empty string."""
        record = self.folder / f"record-{len(self.processes)}.txt"
        process = self.spawn("--demo", "--strategy", "teststrategies:Placer", "--cancel-on-exit",
                             env={"RECORD_FILE": str(record)})  # fmt: skip
        await self.first_line(process, 120)
        await task.deferLater(global_reactor(), delay)
        process.send_signal(signal.SIGTERM)
        status = await self.exit_status(process, 120)
        output = self.output(process)
        noted = record.read_text().splitlines() if record.exists() else []
        if "Received SIGTERM" in output:
            return f"the reactor's own handler took the signal ({delay:.3f} s)"
        if status == 1:
            # A start stopped before it got far enough to log in: it says so in one line.
            self.assertOneLineError(output, "exit status 1")
        elif status != 0:
            return f"exit status {status} ({delay:.3f} s)"
        if "start" in noted:
            if "stop" not in noted:
                return f"the strategy did not stop: {noted} ({delay:.3f} s)"
            # After its stop, the strategy hears of nothing; only the answers to orders it
            # placed before may still fire its own Deferreds (a signal between a create and
            # its answer).
            after = noted[noted.index("stop") + 1 :]
            if any(not line.startswith("accepted ") for line in after):
                return f"the strategy heard of something after its stop: {noted} ({delay:.3f} s)"
        return ""

    @inline
    async def test_sigterm_at_random_moments_under_load(self) -> None:
        self.busy_cores(2)
        rng = random.Random()
        # Half of the moments within the first half-second, when the reactor is starting.
        delays = [rng.uniform(0, 0.5) for _ in range(16)] + [rng.uniform(0, 3) for _ in range(16)]
        problems: list[str] = []
        for batch in range(0, len(delays), 4):
            runs = [Deferred.fromCoroutine(self.run_once(d)) for d in delays[batch : batch + 4]]
            problems.extend(p for p in await gatherResults(runs) if p)
        self.assertEqual(problems, [])


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
    async def test_halt_in_metrics_and_logged_once(self) -> None:
        """The halt and the refusals by control are in ``--metrics``; the halt is one log
        line that says how to resume, and creates refused while halted are not a line each."""
        from txsmarkets.daemon.metrics import available

        if not available():
            raise unittest.SkipTest("prometheus_client is not installed")
        from twisted.web.client import Agent, readBody

        reactor = global_reactor()
        exchange = await start_exchange(reactor)
        self.addCleanup(exchange.stop)
        config = self.folder / "daemon.conf"
        config.write_text("[smarkets]\n\n[controls]\nmax-live-orders = 1\n")
        port = free_port()
        process = self.spawn(
            *self.daemon_args(exchange.port, "--config", str(config), "--strategy", "teststrategies:Hammer",
                              "--metrics", f"tcp:{port}:interface=127.0.0.1"))  # fmt: skip

        async def metrics() -> str:
            response = await Agent(reactor).request(b"GET", f"http://127.0.0.1:{port}/metrics".encode())
            return (await readBody(response)).decode()

        await until(lambda: self.recorded().count("refused") >= 3, "creates refused by max-live-orders")
        body = await metrics()
        self.assertIn("txsmarkets_halted 0.0", body)
        self.assertIn('txsmarkets_orders_refused_total{control="max_live_orders"}', body)
        process.send_signal(signal.SIGUSR1)
        await until(lambda: "trading halted:" in self.output(process), "the halt")
        halted_at = self.recorded().count("refused")
        await until(lambda: self.recorded().count("refused") >= halted_at + 50, "fifty creates refused while halted")
        body = await metrics()
        self.assertIn("txsmarkets_halted 1.0", body)
        self.assertIn('txsmarkets_orders_refused_total{control="kill_switch"}', body)
        output = self.output(process)
        halt_lines = [line for line in output.splitlines() if "trading halted" in line]
        self.assertEqual(len(halt_lines), 1, output)
        self.assertIn(f"kill -USR2 {process.pid} resumes trading", halt_lines[0])
        self.assertLess(output.count("trading is halted"), 5, output)
        process.send_signal(signal.SIGUSR2)
        await until(lambda: "trading resumed after halt" in self.output(process), "the resume")
        self.assertEqual(await self.stop(process), 0)

    @inline
    async def test_bad_controls_section_is_one_line(self) -> None:
        config = self.folder / "daemon.conf"
        config.write_text("[smarkets]\n\n[controls]\nmax-live-order = 1\n")
        process = self.spawn(*self.daemon_args(free_port(), "--config", str(config)))
        self.assertEqual(await self.exit_status(process), 1)
        self.assertOneLineError(self.output(process), "[controls]", "max-live-order")
