"""What the ``twistd smarkets`` process tests share: spawning daemons, test strategies,
bounded waits, and reading what a daemon journalled."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
from typing import Any, Callable

from twisted.internet import task
from twisted.trial import unittest

from tests.support import global_reactor
from txsmarkets.persistence.journal import OUT, read_journal
from txsmarkets.wire.messages import message_name

ROOT = pathlib.Path(__file__).resolve().parent.parent
# twistd as a module of this interpreter (twisted.scripts.twistd has no __main__ block).
TWISTD = "import sys; sys.argv[0] = 'twistd'; from twisted.scripts.twistd import run; run()"

# Strategies the tests run, written to a folder on the daemon's PYTHONPATH. Each notes what
# it does in RECORD_FILE (one os.write a line, so a kill loses nothing noted) and writes the
# client's live orders to ORDERS_FILE (atomically) every 0.1 s.
STRATEGIES = '''
import json
import os

from txsmarkets.strategy import Strategy


def note(line):
    fd = os.open(os.environ["RECORD_FILE"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode() + b"\\n")
    finally:
        os.close(fd)


class Placer(Strategy):
    """Places ORDERS resting buys at 20% on contract 11 at start, unless orders are live."""

    def start(self):
        note("start")
        self.every(0.1, self.dump)
        if self.client.account.orders:
            note("restored %d" % len(self.client.account.orders))
            return
        for n in range(int(os.environ.get("ORDERS", "2"))):
            self.client.create_order(1, 11, 1, 2000, 100000).addCallback(self.accepted)

    def accepted(self, payload):
        note("accepted %d" % payload.order_accepted.order_id)

    def on_login(self, resumed):
        note("login %s" % resumed)

    def stop(self):
        note("stop")

    def dump(self):
        orders = {
            str(o.order_id): [o.quantity - o.filled, o.filled, o.avg_price]
            for o in self.client.account.orders.values()
        }
        path = os.environ["ORDERS_FILE"]
        with open(path + ".tmp", "w") as f:
            json.dump(orders, f)
        os.replace(path + ".tmp", path)


class Hammer(Placer):
    """Places its orders, then tries one more create every 0.02 s, noting refusals."""

    def start(self):
        super().start()
        self.every(0.02, self.again)

    def again(self):
        self.client.create_order(1, 11, 1, 2000, 100000).addErrback(lambda f: note("refused"))


class Broken(Placer):
    """Places its orders, then raises once the first is accepted."""

    def accepted(self, payload):
        super().accepted(payload)
        self.call_later(0, self.explode)

    def explode(self):
        raise RuntimeError("the model diverged")
'''


async def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for ``condition`` to hold, checking every 20 ms; fail after ``timeout`` seconds."""
    reactor = global_reactor()
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await task.deferLater(reactor, 0.02)


def free_port() -> int:
    """A loopback port nothing listens on (just now)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DaemonTestCase(unittest.TestCase):
    """Spawns ``twistd smarkets`` processes; kills what is left at the end."""

    timeout = 120

    def setUp(self) -> None:
        self.folder = pathlib.Path(self.mktemp()).resolve()
        (self.folder / "strategies").mkdir(parents=True)
        (self.folder / "strategies" / "teststrategies.py").write_text(STRATEGIES)
        self.state = self.folder / "state"
        self.record = self.folder / "record.txt"
        self.orders_file = self.folder / "orders.json"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[pathlib.Path] = []

    def tearDown(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()

    def spawn(self, *args: str, plugin: str = "smarkets", env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``twistd -n PLUGIN ARGS`` with the demo password in SMARKETS_PASSWORD."""
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(self.folder / "strategies")])
        environment["SMARKETS_PASSWORD"] = "demo"
        environment["RECORD_FILE"] = str(self.record)
        environment["ORDERS_FILE"] = str(self.orders_file)
        environment.update(env or {})
        log_path = self.folder / f"{plugin}-{len(self.processes)}.log"
        log = open(log_path, "wb")
        process = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "--pidfile=", "-n", plugin, *args],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.processes.append(process)
        self.logs.append(log_path)
        return process

    def busy_cores(self, n: int = 2) -> None:
        """Keep ``n`` cores busy with CPU-bound children until the test ends: what CI's
        machine may be doing beside the suite."""
        for _ in range(n):
            burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            self.addCleanup(burner.wait)
            self.addCleanup(burner.kill)

    async def first_line(self, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
        """Wait for ``process`` to log its first line."""
        path = self.logs[self.processes.index(process)]
        await until(lambda: path.stat().st_size > 0, "the first log line", timeout)

    def daemon_args(self, port: int, *more: str) -> list[str]:
        return [
            "--no-tls", "--host", "127.0.0.1", "--port", str(port), "--username", "demo",
            "--status-interval", "1", *more,
        ]  # fmt: skip

    async def exit_status(self, process: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
        await until(lambda: process.poll() is not None, "the daemon to exit", timeout)
        return process.returncode

    async def stop(self, process: subprocess.Popen[bytes]) -> int:
        process.send_signal(signal.SIGTERM)
        return await self.exit_status(process)

    def output(self, process: subprocess.Popen[bytes]) -> str:
        return self.logs[self.processes.index(process)].read_text()

    def recorded(self) -> list[str]:
        return self.record.read_text().splitlines() if self.record.exists() else []

    def client_orders(self) -> dict[int, list[int]]:
        """The daemon's ``client.account.orders`` as the Placer last wrote them."""
        if not self.orders_file.exists():
            return {}
        return {int(k): v for k, v in json.loads(self.orders_file.read_text()).items()}

    def assertOneLineError(self, output: str, *words: str) -> None:
        """The output says why in one line with ``words``, and has no traceback or usage."""
        self.assertNotIn("Traceback", output)
        self.assertNotIn("Usage:", output)
        lines = [line for line in output.splitlines() if all(word in line for word in words)]
        self.assertEqual(len(lines), 1, output)

    def sent(self) -> list[tuple[str, Any]]:
        """(name, payload) of every message the daemon journalled sending."""
        return [
            (message_name(r.payload()), r.payload())
            for r in read_journal(self.state / "journal")
            if r.direction == OUT
        ]

    def assertNothingSentAfterLogout(self) -> None:
        names = [name for name, _ in self.sent()]
        self.assertIn("eto.logout", names)
        self.assertEqual(names[-1], "eto.logout", names[names.index("eto.logout") :])
