"""``twistd smarkets`` as a process: killed hard mid-stream and restarted, it loses nothing."""

from __future__ import annotations

import io
import os
import pathlib
import signal
import subprocess
import sys

from twisted.internet import defer
from twisted.trial import unittest

from tests.daemons import DaemonTestCase, free_port, until
from tests.support import close_client, global_reactor, inline
from txsmarkets.client import IMMEDIATE_OR_CANCEL, SELL, SessionSettings, connect
from txsmarkets.wire import seto_pb2
from txsmarkets.exchange.service import RunningExchange, start_exchange
from txsmarkets.persistence.journal import IN, main as journal_main, read_journal
from txsmarkets.wire.messages import message_name, new_payload

ROOT = pathlib.Path(__file__).resolve().parent.parent
# twistd as a module of this interpreter (twisted.scripts.twistd has no __main__ block).
TWISTD = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"

# A strategy that appends the counter of every balance_changed its handler sees to a file,
# one os.write each, so that what the handlers saw survives a kill.
RECORDER = '''
import os

def start(client):
    if getattr(client, "_recorder", False):
        return
    client._recorder = True
    fd = os.open(os.environ["RECORD_FILE"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def on_balance(message):
        os.write(fd, message.balance_changed.reason.encode() + b"\\n")

    client.add_handler("seto.balance_changed", on_balance)
'''




class KillAndResumeTests(unittest.TestCase):
    timeout = 240

    def setUp(self) -> None:
        self.folder = pathlib.Path(self.mktemp()).resolve()
        (self.folder / "strategies").mkdir(parents=True)
        (self.folder / "strategies" / "recorder.py").write_text(RECORDER)
        self.state = self.folder / "state"
        self.record = self.folder / "handled.txt"
        self.processes: list[subprocess.Popen[bytes]] = []

    def tearDown(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()

    def spawn(self, port: int) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(self.folder / "strategies")])
        env["SMARKETS_PASSWORD"] = "demo"
        env["RECORD_FILE"] = str(self.record)
        log = open(self.folder / f"daemon-{len(self.processes)}.log", "wb")
        process = subprocess.Popen(
            [
                sys.executable, "-c", TWISTD, "--pidfile=", "-n", "smarkets",
                "--no-tls", "--host", "127.0.0.1", "--port", str(port), "--username", "demo",
                "--state-dir", str(self.state), "--strategy", "recorder:start", "--status-interval", "1",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        return process

    def attached(self, exchange: RunningExchange) -> bool:
        sessions = list(exchange.factory.sessions.values())
        return len(sessions) == 1 and sessions[0].protocol is not None

    def logins_journalled(self) -> int:
        """How many login responses the daemon has recorded (it knows its session from then on)."""
        if not (self.state / "journal").exists():
            return 0
        return sum(
            1
            for record in read_journal(self.state / "journal")
            if record.direction == IN and message_name(record.payload()) == "eto.login_response"
        )

    def journalled(self) -> list[int]:
        counters = []
        for record in read_journal(self.state / "journal"):
            if record.direction == IN:
                payload = record.payload()
                if payload.type == seto_pb2.PAYLOAD_BALANCE_CHANGED:
                    counters.append(int(payload.balance_changed.reason))
        return counters

    def test_kill_nine_and_restart(self) -> None:
        return defer.Deferred.fromCoroutine(self._kill_nine_and_restart())

    async def _kill_nine_and_restart(self) -> None:
        reactor = global_reactor()
        exchange = await start_exchange(reactor, heartbeat_interval=5)
        self.addCleanup(exchange.stop)
        account_id = exchange.engine.accounts.by_username("demo").id
        total, kills = 100_000, 3

        def push(start: int, end: int) -> None:
            for n in range(start, end):
                payload = new_payload(seto_pb2.PAYLOAD_BALANCE_CHANGED)
                payload.balance_changed.reason = str(n)
                payload.balance_changed.available_balance = 1000.0
                exchange.factory._account_message(account_id, payload)

        daemon = self.spawn(exchange.port)
        # Killed before it has recorded its login response, a daemon cannot know the session
        # it had begun: the kills come after it.
        await until(lambda: self.attached(exchange) and self.logins_journalled() == 1, "the daemon to log in")
        session_id = next(iter(exchange.factory.sessions))
        step = total // (kills + 1)
        for round_ in range(kills + 1):
            start = round_ * step
            end = total if round_ == kills else start + step
            # Half of each batch goes while the daemon is up, half while it is being killed.
            push(start, (start + end) // 2)
            if round_ < kills:
                daemon.send_signal(signal.SIGKILL)
                daemon.wait()
                push((start + end) // 2, end)
                await until(lambda: not self.attached(exchange), "the exchange to see the kill")
                daemon = self.spawn(exchange.port)
                logins = round_ + 2
                await until(
                    lambda: self.attached(exchange) and self.logins_journalled() == logins, "the daemon to resume"
                )
            else:
                push((start + end) // 2, end)
        await until(lambda: len(self.journalled()) >= total, "every message in the journal")
        daemon.send_signal(signal.SIGTERM)
        await until(lambda: daemon.poll() is not None, "the daemon to stop")
        self.assertEqual(daemon.returncode, 0)

        # One session all along: resumed after each kill, never begun anew.
        self.assertEqual(list(exchange.factory.sessions) or [session_id], [session_id])
        self.assertEqual(self.journalled(), list(range(total)))
        handled = [int(line) for line in self.record.read_text().split()]
        self.assertEqual(len(handled), len(set(handled)), "a message reached the handlers twice")
        self.assertEqual(handled, sorted(handled))
        # A kill can land between a message's journal record and its handler: at most one a kill.
        self.assertLessEqual(total - len(handled), kills)
        # The journal reads back as text, with the login's password removed.
        out = io.StringIO()
        self.assertEqual(journal_main([str(self.state / "journal"), "--type", "seto.balance_changed"], out=out), 0)
        self.assertEqual(len(out.getvalue().splitlines()), total)
        everything = b"".join(p.read_bytes() for p in self.state.rglob("*") if p.is_file())
        self.assertNotIn(b"\x12\x04demo", everything.replace(b"\n\x04demo", b""))
        logins = [r.payload() for r in read_journal(self.state / "journal") if message_name(r.payload()) == "seto.login"]
        self.assertEqual(len(logins), kills + 1)
        self.assertTrue(all(not p.login.password for p in logins))


class AccountSurvivesKillTests(DaemonTestCase):
    """kill -9 with orders resting: the restarted daemon knows them, fills included once."""

    timeout = 180

    @inline
    async def test_live_orders_restored_and_brought_up_to_date(self) -> None:
        reactor = global_reactor()
        exchange = await start_exchange(reactor)
        self.addCleanup(exchange.stop)
        demo = exchange.engine.accounts.by_username("demo")

        def exchange_view() -> dict[int, list[int]]:
            return {order.id: [order.remaining, order.executed] for order in demo.orders.values()}

        def client_view() -> dict[int, list[int]]:
            return {order_id: v[:2] for order_id, v in self.client_orders().items()}

        args = self.daemon_args(exchange.port, "--state-dir", str(self.state), "--strategy", "teststrategies:Placer")
        daemon = self.spawn(*args, env={"ORDERS": "3"})
        await until(lambda: len(demo.orders) == 3 and len(client_view()) == 3, "three live orders")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        await until(lambda: not any(s.protocol for s in exchange.factory.sessions.values()), "the exchange to see the kill")
        # While the daemon is down, another account fills half of the oldest order and
        # the whole of the next one.
        other = await connect(SessionSettings("demo2", "demo2", host="127.0.0.1", port=exchange.port, ssl=False), reactor)
        self.addCleanup(close_client, other)
        await other.create_order(1, 11, SELL, 2000, 150000, tif=IMMEDIATE_OR_CANCEL)
        expected = exchange_view()
        self.assertEqual(sorted(v[1] for v in expected.values()), [0, 50000])
        self.assertEqual(len(expected), 2)
        self.orders_file.unlink()
        daemon = self.spawn(*args, env={"ORDERS": "3"})
        await until(lambda: client_view() == expected, "the restarted daemon's orders to match the exchange's", 60)
        self.assertEqual(self.recorded().count("start"), 2)
        self.assertIn("restored 3", self.recorded())  # from the state folder, before the resume
        self.assertEqual([name for name, _ in self.sent()].count("seto.order_create"), 3)
        self.assertEqual(await self.stop(daemon), 0)
        self.assertEqual(exchange_view(), expected)  # a clean stop leaves them resting


class ExchangeRestartTests(DaemonTestCase):
    """The exchange restarted under a running daemon: the strategy is not started again and
    no order goes out twice."""

    timeout = 180

    @inline
    async def test_strategy_started_once_no_order_doubled(self) -> None:
        port = free_port()

        def listening() -> bool:
            import socket

            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        endpoint = f"tcp:{port}:interface=127.0.0.1"
        exchange = self.spawn("--endpoint", endpoint, plugin="smarkets-exchange")
        await until(listening, "the exchange to listen", 30)
        daemon = self.spawn(*self.daemon_args(port, "--state-dir", str(self.state), "--strategy", "teststrategies:Placer"))
        await until(lambda: self.recorded().count("login False") == 1 and len(self.client_orders()) == 2, "two orders")
        exchange.send_signal(signal.SIGKILL)
        exchange.wait()
        exchange = self.spawn("--endpoint", endpoint, plugin="smarkets-exchange")
        await until(lambda: len(self.recorded()) > 4 and self.recorded()[-1].startswith("login"), "the daemon to log in again", 90)
        recorded = self.recorded()
        self.assertEqual(recorded.count("start"), 1, recorded)
        self.assertEqual(sum(1 for line in recorded if line.startswith("accepted")), 2)
        self.assertEqual(sum(1 for line in recorded if line.startswith("login")), 2)
        self.assertEqual([name for name, _ in self.sent()].count("seto.order_create"), 2)
        self.assertEqual(await self.stop(daemon), 0)
        self.assertNothingSentAfterLogout()
        exchange.send_signal(signal.SIGTERM)
        await self.exit_status(exchange)


class StartsKnowingTheAccountTests(DaemonTestCase):
    """Issue 22: with no state folder, the daemon learns what the account already holds
    before its strategy's first create, and the account limit holds against it."""

    timeout = 120

    @inline
    async def test_account_limit_counts_orders_placed_before_the_start(self) -> None:
        reactor = global_reactor()
        exchange = await start_exchange(reactor)
        self.addCleanup(exchange.stop)
        demo = exchange.engine.accounts.by_username("demo")
        # Another client of the same account stakes £20 on each of two contracts: £40.
        other = await connect(SessionSettings("demo", "demo", host="127.0.0.1", port=exchange.port, ssl=False), reactor)
        self.addCleanup(close_client, other)
        for contract in (11, 12):
            await other.create_order(1, contract, seto_pb2.SIDE_BUY, 5000, 400000)
        config = self.folder / "daemon.conf"
        config.write_text("[smarkets]\ncancel-on-exit = no\n\n[controls]\nmax-account-exposure = 30.00\n")
        # Placer creates two buys of £2 each at its start, right after the login.
        process = self.spawn(
            *self.daemon_args(exchange.port, "--config", str(config), "--strategy", "teststrategies:Placer"),
            env={"ORDERS": "2"},
        )
        await until(
            lambda: "refused=2" in self.output(process) or any(line.startswith("accepted") for line in self.recorded()),
            "the strategy's two creates to be refused or answered",
        )
        output = self.output(process)
        self.assertNotIn("accepted", " ".join(self.recorded()))
        self.assertEqual(len(demo.orders), 2)
        self.assertEqual(output.count("order refused (max_account_exposure"), 2, output)
        self.assertIn("caught up with the account's history: 2 live orders", output)
        self.assertEqual(await self.stop(process), 0)
        self.assertEqual(len(demo.orders), 2)
