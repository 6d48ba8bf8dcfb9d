"""``twistd smarkets-exchange`` on faults, as real processes: one line on stderr and exit 1
for a port in use, a bad endpoint or a bad catalogue; exit 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from twisted.trial import unittest

from tests.support import inline
from tests.test_daemon import ROOT, TWISTD, until

_NAME = "twistd smarkets-exchange: "


class ExchangeDaemonFaultTests(unittest.TestCase):
    timeout = 60

    def run_exchange(self, *args: str) -> subprocess.Popen[bytes]:
        self.stderr_path = self.mktemp()
        stderr = open(self.stderr_path, "wb")
        process = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "--pidfile=", "-n", "smarkets-exchange", *args],
            cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        stderr.close()
        self.addCleanup(process.wait)
        self.addCleanup(lambda: process.poll() is None and process.kill())
        return process

    def stderr_lines(self) -> list[str]:
        with open(self.stderr_path, encoding="utf-8") as f:
            return [line for line in f.read().splitlines() if line.strip()]

    async def assertFailsWithOneLine(self, process: subprocess.Popen[bytes], *words: str) -> None:
        await until(lambda: process.poll() is not None, "the exchange to exit", timeout=30)
        self.assertEqual(process.returncode, 1)
        lines = self.stderr_lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith(_NAME), lines)
        for word in words:
            self.assertIn(word, lines[0])
        self.assertNotIn("Traceback", lines[0])

    @inline
    async def test_port_in_use(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            process = self.run_exchange("--endpoint", f"tcp:{port}:interface=127.0.0.1")
            await self.assertFailsWithOneLine(process, "cannot listen", str(port), "in use")

    @inline
    async def test_bad_endpoint(self) -> None:
        process = self.run_exchange("--endpoint", "nonsense:3701")
        await self.assertFailsWithOneLine(process, "cannot use the endpoint", "nonsense:3701")

    @inline
    async def test_bad_port_number(self) -> None:
        process = self.run_exchange("--endpoint", "tcp:notaport")
        await self.assertFailsWithOneLine(process, "cannot use the endpoint")

    @inline
    async def test_unknown_option_names_the_nearest(self) -> None:
        process = self.run_exchange("--catalouge", "x.json")
        await self.assertFailsWithOneLine(process, "unknown option --catalouge (did you mean --catalogue?)")

    @inline
    async def test_bad_catalogue(self) -> None:
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write("{not json")
        process = self.run_exchange("--catalogue", path)
        await self.assertFailsWithOneLine(process, "cannot load the catalogue", "JSON")

    @inline
    async def test_http_port_in_use(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            process = self.run_exchange(
                "--endpoint", "tcp:0:interface=127.0.0.1", "--http", f"tcp:{port}:interface=127.0.0.1"
            )
            await self.assertFailsWithOneLine(process, "cannot listen", str(port), "in use")

    @inline
    async def test_bad_http_endpoint(self) -> None:
        process = self.run_exchange("--endpoint", "tcp:0:interface=127.0.0.1", "--http", "nonsense:8080")
        await self.assertFailsWithOneLine(process, "cannot use the endpoint", "nonsense:8080")

    @inline
    async def test_bad_first_order_id(self) -> None:
        process = self.run_exchange("--first-order-id", "0")
        await self.assertFailsWithOneLine(process, "--first-order-id", "not 0")

    @inline
    async def test_missing_catalogue(self) -> None:
        process = self.run_exchange("--catalogue", os.path.abspath(self.mktemp()))
        await self.assertFailsWithOneLine(process, "cannot load the catalogue", "No such file")

    @inline
    async def test_sigterm_exits_zero(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        process = self.run_exchange("--endpoint", f"tcp:{port}:interface=127.0.0.1")

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        await until(listening, "the exchange to listen", timeout=30)
        process.send_signal(signal.SIGTERM)
        await until(lambda: process.poll() is not None, "the exchange to stop", timeout=30)
        self.assertEqual(process.returncode, 0)

    def test_sigterm_the_moment_it_listens(self) -> None:
        """The port opens before the reactor runs and installs its signal handlers: a
        SIGTERM in between stops the exchange with status 0 too (it was killed by the
        signal, status -15, more often than not when sent at once)."""
        for _ in range(5):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            process = self.run_exchange("--endpoint", f"tcp:{port}:interface=127.0.0.1")
            # Polled without a pause, so that the signal follows the listen at once.
            while process.poll() is None:
                with socket.socket() as s:
                    if s.connect_ex(("127.0.0.1", port)) == 0:
                        break
            process.send_signal(signal.SIGTERM)
            self.assertEqual(process.wait(timeout=30), 0)


class BacklogTests(unittest.TestCase):
    """Hundreds of clients connecting at once overflow Twisted's default listen backlog."""

    def test_endpoints_get_a_backlog(self) -> None:
        from txsmarkets.exchange.service import LISTEN_BACKLOG, with_backlog

        self.assertEqual(with_backlog("tcp:0:interface=127.0.0.1"), f"tcp:0:interface=127.0.0.1:backlog={LISTEN_BACKLOG}")
        self.assertEqual(with_backlog("ssl:3701:privateKey=k.pem"), f"ssl:3701:privateKey=k.pem:backlog={LISTEN_BACKLOG}")
        self.assertEqual(with_backlog("tcp:3701:backlog=5"), "tcp:3701:backlog=5")
        self.assertEqual(with_backlog("unix:/tmp/x"), "unix:/tmp/x")
