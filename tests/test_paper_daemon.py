"""``twistd smarkets --paper URL --markets IDS``: the paper exchange in the daemon's process
(`txsmarkets.daemon.paper.PaperExchange`), and the daemon's options that say what it trades
on (``--demo``, ``--http-api``, ``--paper``), each refusing what it would ignore.

The upstream is the embedded exchange with its HTTP API and simulated traders on loopback
(`tests.test_paper.UpstreamTestCase`), which counts every request it answers: the proof that
no order, cancel or login reaches it."""

from __future__ import annotations

import os
import re
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Factory, Protocol
from twisted.trial import unittest

from tests.daemons import DaemonTestCase, until
from tests.support import global_reactor, inline
from tests.test_paper import UpstreamTestCase
from txsmarkets.client import BUY, StreamingAPIClient
from txsmarkets.daemon.service import SmarketsService
from txsmarkets.daemon.tap import Options, SetupError
from txsmarkets.exchange.recorded import read_recorded
from txsmarkets.odds import next_tick
from txsmarkets.wire.messages import message_name

URL = "http://127.0.0.1:1/v3/"


def parse(*args: str) -> Options:
    options = Options()
    options.parseOptions(list(args))
    return options


class PaperOptionsTests(unittest.SynchronousTestCase):
    """The tap: ``--paper`` and its ``--markets``; what ``--paper`` and ``--http-api`` refuse."""

    def setUp(self) -> None:
        self.saved = os.environ.pop("SMARKETS_PASSWORD", None)
        os.environ["SMARKETS_PASSWORD"] = "x"

    def tearDown(self) -> None:
        os.environ.pop("SMARKETS_PASSWORD", None)
        if self.saved is not None:
            os.environ["SMARKETS_PASSWORD"] = self.saved

    def refused(self, *args: str) -> str:
        """The one line a `SetupError` of ``args`` says."""
        error = self.assertRaises(SetupError, parse, *args)
        line = str(error.code)
        self.assertEqual(line.count("\n"), 0, line)
        self.assertTrue(line.startswith("twistd smarkets: "), line)
        return line

    def test_paper_trades_the_markets_as_the_demo_account(self) -> None:
        options = parse("--paper", "http://127.0.0.1:8080/v3", "--markets", "12345678,2,12345678")
        self.assertEqual(options["paper"], "http://127.0.0.1:8080/v3/")
        self.assertEqual(options["markets"], [12345678, 2])
        self.assertEqual(options["subscribe"], [12345678, 2])
        settings = options["settings"]
        self.assertEqual((settings.username, settings.password), ("demo", "demo"))
        self.assertIsNone(options["strategy"])
        # --subscribe says what the session subscribes to.
        self.assertEqual(parse("--paper", URL, "--markets", "1,2", "--subscribe", "2")["subscribe"], [2])

    def test_paper_needs_markets_and_markets_need_paper(self) -> None:
        self.assertIn("--paper needs --markets ID,ID,...", self.refused("--paper", URL))
        self.assertIn("--markets goes with --paper", self.refused("--username", "me", "--markets", "1"))
        self.assertIn("--poll-interval goes with --paper", self.refused("--username", "me", "--poll-interval", "5"))
        for interval in ("0", "-1", "nan", "inf", "soon"):
            line = self.refused("--paper", URL, "--markets", "1", "--poll-interval", interval)
            self.assertIn("--poll-interval must be a positive number of seconds", line)
        self.assertEqual(parse("--paper", URL, "--markets", "1", "--poll-interval", "5")["poll-interval"], 5.0)
        self.assertIn("--markets must be market ids separated by commas, not '1,a'", self.refused("--paper", URL, "--markets", "1,a"))
        self.assertIn("--paper must be an http:// or https:// URL, not 'ftp://x/'", self.refused("--paper", "ftp://x/", "--markets", "1"))

    def test_what_to_trade_on_is_one_of_three(self) -> None:
        for args, said in (
            (["--http-api", URL, "--paper", URL, "--markets", "1"], "--http-api and --paper cannot go together"),
            (["--paper", URL, "--markets", "1", "--demo"], "--paper and --demo cannot go together"),
            (["--http-api", URL, "--demo"], "--http-api and --demo cannot go together"),
        ):
            self.assertIn(said, self.refused("--username", "me", *args))

    def test_http_api_takes_no_token(self) -> None:
        """The bridge logs in upstream with a password: a token file is refused by name,
        not blamed on a password that was given."""
        token = self.mktemp()
        with open(token, "w") as f:
            f.write("tok")
        said = self.refused("--username", "me", "--http-api", URL, "--token-file", token)
        self.assertIn("--http-api and --token-file cannot go together", said)

    def test_in_process_modes_refuse_the_options_they_would_ignore(self) -> None:
        """Each option that says how to reach an exchange elsewhere, with ``--demo``,
        ``--paper`` or ``--http-api``, is one line naming both; several are all named."""
        cases = [
            (["--host", "example.com"], "--host"),
            (["--port", "3701"], "--port"),
            (["--no-tls"], "--no-tls"),
            (["--ca-file", "/etc/ssl/ca.pem"], "--ca-file"),
            (["--host", "example.com", "--no-tls"], "--host and --no-tls"),
        ]
        for mode, args, where in (
            ("--demo", ["--demo"], "the embedded exchange"),
            ("--paper", ["--paper", URL, "--markets", "1"], "the paper exchange"),
            ("--http-api", ["--http-api", URL, "--username", "me"], "the bridge"),
        ):
            for more, names in cases:
                line = self.refused(*args, *more)
                self.assertIn(f"{mode} and {names} cannot go together: the session reaches {where} in this process", line)

    def test_a_config_file_s_connection_options_are_refused_too(self) -> None:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("[smarkets]\nport = 3701\nno-tls = no\n")
        line = self.refused("--config", path, "--paper", URL, "--markets", "1")
        self.assertIn("--paper and --port cannot go together", line)
        # A flag a file turns off is not given.
        with open(path, "w") as f:
            f.write("[smarkets]\nno-tls = no\n")
        self.assertEqual(parse("--config", path, "--paper", URL, "--markets", "1")["markets"], [1])

    def test_paper_and_demo_log_in_as_the_demo_account_only(self) -> None:
        self.assertIn(
            "--paper and --username cannot go together: paper trades as the demo account",
            self.refused("--paper", URL, "--markets", "1", "--username", "me"),
        )
        self.assertIn(
            "--demo and --username and --token-file cannot go together: demo trades as the demo account",
            self.refused("--demo", "--username", "me", "--token-file", "/nonexistent"),
        )
        settings = parse("--demo")["settings"]
        self.assertEqual((settings.username, settings.password, settings.ssl), ("demo", "demo", False))

    def test_the_service_takes_one_of_three(self) -> None:
        from twisted.internet.task import Clock

        settings = parse("--paper", URL, "--markets", "1")["settings"]
        with self.assertRaises(ValueError):
            SmarketsService(settings, Clock(), demo=True, paper=URL, markets=(1,))


class _Buyer:
    """A strategy (a callable of the client) that, once market 1's contract 11 shows an
    offer, buys 1 GBP of payout a tick across it; ``filled`` fires with the first
    ``order_executed``."""

    def __init__(self) -> None:
        self.filled: Deferred[Any] = Deferred()
        self.client: StreamingAPIClient | None = None

    def __call__(self, client: StreamingAPIClient) -> None:
        self.client = client
        client.add_handler("seto.market_quotes", self.look)
        client.add_handler("seto.contract_quotes", self.look)
        client.add_handler("seto.order_executed", self.executed)

    def look(self, message: Any) -> None:
        client = self.client
        assert client is not None
        book = client.markets.get(1)
        contract = book.contracts.get(11) if book is not None else None
        if self.filled.called or contract is None or contract.best_offer is None or client.account.orders:
            return
        price = next_tick(contract.best_offer) or contract.best_offer
        client.create_order(1, 11, BUY, price, 10_000)

    def executed(self, message: Any) -> None:
        if not self.filled.called:
            self.filled.callback(message.order_executed)


class PaperServiceTests(UpstreamTestCase):
    @inline
    async def test_the_daemon_trades_paper_in_memory(self) -> None:
        """`SmarketsService` with ``paper``: the session logs in to the paper exchange in
        this process, with no port; an order across the polled offers fills there, and
        nothing but public reads reaches the upstream."""
        url = await self.start_upstream()
        settings = parse("--paper", url, "--markets", "1")["settings"]
        buyer = _Buyer()
        svc = SmarketsService(settings, global_reactor(), subscribe=(1,), strategy=buyer, paper=url, markets=(1,))
        assert svc.embedded is not None
        # Refused, as by a closed port, while the paper exchange does not run.
        await self.assertFailure(svc.embedded.endpoint().connect(Factory.forProtocol(Protocol)), ConnectionRefusedError)
        svc.startService()
        self.addCleanup(lambda: svc.running and svc.stopService())
        executed = await buyer.filled
        self.assertGreater(executed.total_executed_quantity, 0)
        self.assertLessEqual(executed.total_executed_quantity, 10_000)
        paper = svc.paper
        assert paper is not None and svc.exchange is paper.exchange
        self.assertGreater(paper.feed.polls, 0)
        with self.assertRaises(ValueError):
            paper.exchange.port  # noqa: B018 (it listens on none)
        await svc.stopService()
        self.assertFalse(svc.client.session.connected)
        self.assertTrue(paper.exchange.stopped)
        await self.assertFailure(svc.embedded.endpoint().connect(Factory.forProtocol(Protocol)), ConnectionRefusedError)
        self.assertNoOrderReachedUpstream()


#: A strategy for ``twistd smarkets --paper``: once contract 11 shows an offer, one buy of 1
#: GBP of payout a tick across it; each fill said.
PAPER_BUYER = '''
from txsmarkets.odds import next_tick
from txsmarkets.strategy import Strategy


class Buyer(Strategy):
    markets = (1,)
    placed = False

    def on_market(self, book):
        contract = book.contracts.get(11)
        if self.placed or contract is None or contract.best_offer is None:
            return
        self.placed = True
        price = next_tick(contract.best_offer) or contract.best_offer
        d = self.client.create_order(1, 11, 1, price, 10000, label="paper")
        d.addCallback(lambda p: self.log.info("buyer: order {id} accepted", id=p.order_accepted.order_id))

    def on_order(self, order):
        if order.filled:
            self.log.info("buyer: order {id} filled {filled}", id=order.order_id, filled=order.filled)
'''


class PaperDaemonTests(DaemonTestCase):
    """``twistd -n smarkets --paper URL`` as a process, on an upstream in this one."""

    timeout = 180
    start_upstream = UpstreamTestCase.start_upstream
    assertNoOrderReachedUpstream = UpstreamTestCase.assertNoOrderReachedUpstream

    @inline
    async def test_a_strategy_order_fills_and_nothing_goes_upstream(self) -> None:
        url = await self.start_upstream()
        (self.folder / "strategies" / "paperbuyer.py").write_text(PAPER_BUYER)
        record = self.folder / "recorded"
        daemon = self.spawn(
            "--paper", url, "--markets", "1,2", "--strategy", "paperbuyer:Buyer", "--state-dir", str(self.state),
            "--record", str(record), "--status-interval", "0.5", "--cancel-on-exit", "--poll-interval", "1.5",
        )  # fmt: skip
        await until(lambda: "buyer: order" in self.output(daemon) and "filled" in self.output(daemon), "the fill", 90)
        self.assertIn("paper: trading 1 'Demo match: winner', 2 ", self.output(daemon))
        self.assertIn(f"on prices polled from {url} every 1.5 s", self.output(daemon))
        await until(lambda: "status: connected" in self.output(daemon), "a status line")
        self.assertEqual(await self.stop(daemon), 0)
        output = self.output(daemon)
        # Each fill said once, the filled quantity growing, never past the order's.
        filled = [int(n) for n in re.findall(r"buyer: order \d+ filled (\d+)", output)]
        self.assertTrue(filled, output)
        self.assertEqual(filled, sorted(set(filled)), output)
        self.assertLessEqual(filled[-1], 10_000)
        self.assertNotIn("Traceback", output)
        self.assertNoOrderReachedUpstream()
        # The state folder's journal has the session; the recording is what was polled,
        # with the markets' catalogue, and reads back.
        names = [name for name, _ in self.sent()]
        self.assertIn("seto.order_create", names)
        self.assertEqual(names[-1], "eto.logout")
        self.assertTrue((record / "catalogue.json").is_file())
        recorded = [message_name(payload) for _, payload in read_recorded(record)]
        self.assertEqual(recorded[0], "seto.market_quotes", recorded[:5])

    @inline
    async def test_bad_options_are_one_line(self) -> None:
        for args, words in [
            (["--paper", URL], "--paper needs --markets"),
            (["--paper", URL, "--markets", "1", "--port", "3701"], "--paper and --port cannot go together"),
            (["--http-api", URL, "--username", "demo", "--no-tls"], "--http-api and --no-tls cannot go together"),
            (["--demo", "--port", "3701"], "--demo and --port cannot go together"),
        ]:
            process = self.spawn(*args)
            self.assertEqual(await self.exit_status(process), 1, args)
            lines = [line for line in self.output(process).splitlines() if line.strip()]
            self.assertEqual(len(lines), 1, lines)
            self.assertTrue(lines[0].startswith("twistd smarkets: "), lines)
            self.assertIn(words, lines[0])

    @inline
    async def test_an_unknown_market_is_one_line_and_status_1(self) -> None:
        url = await self.start_upstream(simulate=False)
        daemon = self.spawn("--paper", url, "--markets", "1,404")
        self.assertEqual(await self.exit_status(daemon), 1)
        self.assertOneLineError(self.output(daemon), "cannot have the markets from", "no market 404")
