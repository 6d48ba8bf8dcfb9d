"""Every script of ``examples/`` runs: as a real process against the embedded exchange, each
with a bound, and the market maker in process on a `MemoryExchange` too."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import sys
from decimal import Decimal
from typing import Any

from twisted.internet import protocol, task
from twisted.internet.defer import Deferred
from twisted.trial import unittest
from twisted.web.client import Agent, readBody

from txsmarkets.odds import is_valid_price
from txsmarkets.strategy import StrategyHost
from txsmarkets.testing import MemoryExchange

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def global_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


class Example(protocol.ProcessProtocol):
    """One example running as a process: its output so far, and ``ended`` (its exit code)."""

    def __init__(self) -> None:
        self.out = b""
        self.ended: Deferred[int] = Deferred()
        self.running = True

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.out += data

    def processEnded(self, reason: Any) -> None:
        self.running = False
        self.ended.callback(reason.value.exitCode)

    @property
    def text(self) -> str:
        return self.out.decode(errors="replace")


async def until(condition: Any, what: str, timeout: float) -> None:
    """Wait for ``condition()`` to hold, checking every 50 ms; fail after ``timeout`` seconds."""
    reactor = global_reactor()
    deadline = reactor.seconds() + timeout
    while not condition():
        if reactor.seconds() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await task.deferLater(reactor, 0.05)


class ProcessTests(unittest.TestCase):
    timeout = 180

    def setUp(self) -> None:
        self.pids: dict[Example, int] = {}

    def spawn(self, script: str, *args: str) -> Example:
        example = Example()
        env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
        transport = global_reactor().spawnProcess(
            example, sys.executable, [sys.executable, str(EXAMPLES / script), *args], env=env, path=str(ROOT)
        )

        def kill() -> Deferred[int]:
            if example.running:
                transport.signalProcess("KILL")
            return example.ended

        self.addCleanup(kill)
        self.pids[example] = transport.pid
        return example

    async def finish(self, example: Example, timeout: float = 90) -> int:
        await until(lambda: not example.running, "the example to end", timeout)
        return await example.ended

    def test_quickstart_is_the_readme_s(self) -> None:
        """examples/quickstart.py is README.rst's Quickstart, word for word."""
        readme = (ROOT / "README.rst").read_text()
        start = readme.index("::\n\n", readme.index("The original client's quickstart")) + 4
        end = readme.index("\nAgainst Smarkets itself", start)
        code = "\n".join(line[4:] for line in readme[start:end].strip("\n").splitlines()) + "\n"
        script = (EXAMPLES / "quickstart.py").read_text()
        self.assertTrue(script.endswith("\n\n" + code), "examples/quickstart.py differs from README's quickstart")

    async def test_quickstart(self) -> None:
        example = self.spawn("quickstart.py")
        self.assertEqual(await self.finish(example), 0, example.text)
        self.assertRegex(example.text, r"ping [0-9.e-]+ s")
        self.assertIn("order_accepted {", example.text)
        self.assertIn("[global] seto.order_accepted", example.text)
        self.assertIn("[global] seto.order_cancelled", example.text)
        self.assertIn("[global] eto.logout", example.text)

    async def test_http_quickstart(self) -> None:
        """The standard-library bot against ``twistd smarkets-exchange --http``."""
        import socket
        import subprocess

        from tests.daemons import free_port
        from tests.test_daemon import TWISTD

        port = free_port()
        log = open(self.mktemp(), "wb")
        exchange = subprocess.Popen(
            [sys.executable, "-c", TWISTD, "--pidfile=", "-n", "smarkets-exchange", "--endpoint",
             "tcp:0:interface=127.0.0.1", "--http", f"tcp:{port}:interface=127.0.0.1",
             "--first-order-id", str(2**60)],
            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        self.addCleanup(exchange.wait)
        self.addCleanup(lambda: exchange.poll() is None and exchange.kill())

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return exchange.poll() is not None
            return True

        await until(listening, "the HTTP API to listen", 60)
        self.assertIsNone(exchange.poll(), "the exchange ended")
        example = self.spawn("http_quickstart.py", f"http://127.0.0.1:{port}")
        self.assertEqual(await self.finish(example), 0, example.text)
        self.assertRegex(example.text, r"logged in until \d{4}-")
        self.assertIn("event 1 Demo match 2030-06-01T19:45:00.000000Z", example.text)
        self.assertIn("market 1 Demo match: winner open", example.text)
        self.assertIn("contract 11 Home", example.text)
        self.assertIn("quotes 11 bid None offer None", example.text)
        self.assertIn(f"placed {2**60} exposure -10.00 available 990.00", example.text)
        self.assertIn(f"listed [('{2**60}', 'created', 400000)]", example.text)
        self.assertIn(f"cancelled {2**60}", example.text)
        self.assertIn("balance 1000.00", example.text)
        self.assertIn("logged out", example.text)
        exchange.send_signal(signal.SIGTERM)
        await until(lambda: exchange.poll() is not None, "the exchange to stop", 60)
        self.assertEqual(exchange.returncode, 0)

    async def test_backtest_sweep(self) -> None:
        example = self.spawn("backtest_sweep.py", "--duration", "30", "--workers", "2")
        self.assertEqual(await self.finish(example, timeout=150), 0, example.text)
        rows = re.findall(r"^\s+(\d)\s+(improve=\d, size=\d+)\s+(-?[0-9.]+)\s+(\d+)", example.text, re.M)
        self.assertEqual([int(r[0]) for r in rows], [1, 2, 3, 4], example.text)
        self.assertEqual(len({r[1] for r in rows}), 4)
        pnls = [float(r[2]) for r in rows]
        self.assertEqual(pnls, sorted(pnls, reverse=True))

    async def test_best_prices(self) -> None:
        example = self.spawn("best_prices.py", "--seconds", "3")
        self.assertEqual(await self.finish(example), 0, example.text)
        for contract in (11, 12, 13):
            self.assertRegex(example.text, rf"contract {contract}: bid [0-9.]+% \([0-9.]+\)  offer [0-9.]+% .*\(snapshot\)")
        changes = int(re.search(r"(\d+) changes in 3 s", example.text).group(1))  # type: ignore[union-attr]
        self.assertGreater(changes, 0)
        moved = [line for line in example.text.splitlines() if line.startswith("contract ") and "snapshot" not in line]
        self.assertEqual(len(moved), changes)

    async def test_market_maker(self) -> None:
        example = self.spawn("market_maker.py", "--seconds", "4")
        self.assertEqual(await self.finish(example), 0, example.text)
        figures = re.search(r"placed (\d+), moved (\d+), filled (\d+).*live (\d+)", example.text)
        assert figures is not None, example.text
        self.assertGreater(int(figures.group(1)), 0)
        # Its stop() took every quote down before the logout.
        self.assertEqual(int(figures.group(4)), 0)

    async def test_status_page(self) -> None:
        """The application serves its page over loopback; Ctrl-C logs out and exits 0."""
        example = self.spawn("status_page.py", "--port", "0", "--seconds", "120")
        await until(lambda: "status page: http://" in example.text or not example.running, "the page's address", 60)
        url = re.search(r"status page: (http://\S+)", example.text)
        assert url is not None, example.text
        agent = Agent(global_reactor())
        page = ""

        async def fetch() -> str:
            response: Any = await agent.request(b"GET", url.group(1).encode())
            self.assertEqual(response.code, 200)
            self.assertIn(b"text/html", response.headers.getRawHeaders(b"content-type")[0])
            return (await readBody(response)).decode()

        deadline = global_reactor().seconds() + 60
        while True:
            page = await fetch()
            fills = re.search(r"<th>fills</th><td>(\d+)</td>", page)
            if fills and int(fills.group(1)) > 0 and "<td>1</td><td>1" in page:
                break
            self.assertLess(global_reactor().seconds(), deadline, page)
            await task.deferLater(global_reactor(), 0.2)
        self.assertIn("<th>session</th><td>logged in</td>", page)
        self.assertRegex(page, r"<th>balance</th><td>[0-9.]+ GBP</td>")
        self.assertRegex(page, r"<th>realised P&amp;L</th><td>-?[0-9.]+ GBP</td>")
        self.assertRegex(page, r"<th>unrealised P&amp;L</th><td>-?[0-9.]+ GBP</td>")
        # A position row: market 1, contract 1x, its payout, average and mid.
        self.assertRegex(page, r"<tr><td>1</td><td>1[123]</td><td>-?[0-9.]+</td><td>[0-9.]+%</td>")
        os.kill(self.pids[example], signal.SIGINT)
        self.assertEqual(await self.finish(example, 60), 0, example.text)


class MarketMakerInMemoryTests(unittest.SynchronousTestCase):
    """The market maker on a `MemoryExchange`'s simulated market, in virtual time."""

    def setUp(self) -> None:
        sys.path.insert(0, str(EXAMPLES))
        self.addCleanup(sys.path.remove, str(EXAMPLES))
        import market_maker

        self.module = market_maker

    def test_quotes_fill_and_the_controls_hold(self) -> None:
        exchange = MemoryExchange(simulate=True, seed=3)
        client = exchange.run(exchange.connect())
        client.controls = self.module.make_controls()
        maker = self.module.MarketMaker()
        host = StrategyHost(client, maker)
        host.attach()
        prices: set[int] = set()
        worst = Decimal(0)
        for _ in range(60):
            exchange.advance(10)
            prices.update(order.price for order in client.account.orders.values())
            worst = max(worst, client.controls.market_exposure(1))
            self.assertLessEqual(len(client.account.orders), 6)
        self.assertGreater(maker.placed, 10)
        self.assertGreater(maker.filled, 10)
        # The exposure cap was reached and held: creates past it were refused, never sent.
        self.assertGreater(client.controls.refusals["max_market_exposure"], 0)
        self.assertEqual(maker.refused, sum(client.controls.refusals.values()))
        self.assertLessEqual(worst, 25)
        self.assertTrue(prices and all(is_valid_price(p) for p in prices))
        exchange.run(host.stop())
        exchange.run(client.logout())
        self.assertEqual(client.account.orders, {})
