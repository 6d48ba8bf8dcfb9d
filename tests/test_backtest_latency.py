"""The backtest's latency model (issue 26): an order's answer comes a round trip late, from
Python and from the command line; the draws follow the seed; bad specs are one line; frames
keep their order each way and a close waits for the frames before it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from txsmarkets.backtest import BacktestError, run_backtest
from txsmarkets.backtest.latency import FORMS, Latency, delay_connections, parse_latency
from txsmarkets.client import BUY
from txsmarkets.client.state import LiveOrder
from txsmarkets.strategy import Strategy
from txsmarkets.wire.framing import frame_encode

from tests.test_backtest import MM, ROOT, record

TIMING = "tests.test_backtest_latency:Timing"


class Timing(Strategy):
    """Places an order that cannot fill (a 10% bid) every 7 virtual seconds from second 5;
    keeps, and logs, when each was placed and when its first answer came."""

    markets = (1,)

    def start(self) -> None:
        self.placed: list[float] = []
        self.answered: dict[int, float] = {}
        self.every(7, self.place)

    def place(self) -> None:
        self.placed.append(self.clock.seconds())
        self.log.info("placed")
        self.client.create_order(1, 11, BUY, 1000, 10000)

    def on_order(self, order: LiveOrder) -> None:
        if order.order_id not in self.answered:
            self.answered[order.order_id] = self.clock.seconds()
            self.log.info("answered")


class RoundTripTests(unittest.TestCase):
    def round_trips(self, latency: Any) -> list[float]:
        strategy = Timing()
        report = run_backtest(strategy, simulate=True, seed=2, duration=60, latency=latency)
        self.assertEqual(report.orders, len(strategy.placed))
        answered = sorted(strategy.answered.values())
        self.assertEqual(len(answered), len(strategy.placed))
        return [a - p for p, a in zip(strategy.placed, answered)]

    def test_an_answer_comes_a_round_trip_late(self) -> None:
        """With a fixed latency of L, each order's answer comes 2 L of virtual time after it
        was placed (the request L on its way, the answer L on its way back); without one, in
        the same instant."""
        self.assertEqual(set(self.round_trips(None)), {0.0})
        for latency in (0.25, "0.25", Latency("fixed", (0.25,))):
            trips = self.round_trips(latency)
            self.assertEqual(len(trips), 8)
            for trip in trips:
                self.assertGreaterEqual(trip, 0.5)
                self.assertLess(trip, 0.5 + 1e-6)

    def test_a_distribution_draws_each_frame_its_own_delay(self) -> None:
        trips = self.round_trips("uniform:0.1,0.4")
        self.assertTrue(all(0.2 <= trip <= 0.8 for trip in trips), trips)
        self.assertGreater(len(set(trips)), 1)

    def test_market_data_is_delayed_too(self) -> None:
        """A strategy that only watches sees each market update of the simulation (the same
        without orders of its own) a quarter of a second later with a latency of 0.25."""
        seen: list[float] = []

        class Watching(Strategy):
            markets = (1,)

            def on_market(self, book: Any) -> None:
                seen.append(self.clock.seconds())

        run_backtest(Watching, simulate=True, seed=2, duration=30)
        plain = [t for t in seen if 5 <= t < 25]
        seen.clear()
        run_backtest(Watching, simulate=True, seed=2, duration=30, latency=0.25)
        late = [t - 0.25 for t in seen if 5.25 <= t < 25.25]
        self.assertGreater(len(plain), 100)
        self.assertEqual(len(late), len(plain))
        for was, now in zip(plain, late):
            self.assertAlmostEqual(was, now, places=9)


    def test_a_latency_too_long_to_log_in(self) -> None:
        """Past the exchange's login timeout (10 s) the login is refused, as it would be
        live: one line saying so, no traceback."""
        with self.assertRaises(BacktestError) as caught:
            run_backtest(MM, simulate=True, duration=60, latency=12)
        self.assertEqual(
            str(caught.exception),
            "the backtest's client could not log in (connection closed before login: Connection was"
            " aborted locally using ITCPTransport.abortConnection.); is the latency 12 near the exchange's"
            " login timeout of 10 s?",
        )


class EndTests(unittest.TestCase):
    def test_no_fill_is_made_after_the_end(self) -> None:
        """The market stops trading at the end of ``duration``: the strategy's stop and the
        logout after it take virtual time (four one-way latencies), in which the simulated
        traders went on filling its orders (fills made after the end were counted). With a
        constant latency each fill is heard one latency after the exchange made it, so
        none may be heard later than the end plus that latency."""
        for seed in (0, 1):
            report = run_backtest(MM, simulate=True, seed=seed, duration=120, latency=2)
            self.assertEqual(report.sim_seconds, 120.0)
            self.assertTrue(report.fill_list)
            late = [fill.time for fill in report.fill_list if fill.time > report.sim_seconds + 2 + 1e-9]
            self.assertEqual(late, [], seed)


class SeedTests(unittest.TestCase):
    def test_the_seed_draws_the_same_delays(self) -> None:
        """On one recording: the same seed gives the same report, another seed another; the
        report says the latency and the seed."""
        recording = record(self, seconds=60)
        runs = [run_backtest(MM, replay=recording, latency="exponential:0.3", seed=seed) for seed in (1, 1, 2)]
        # The trading, not the seed the report names.
        outcomes = [{k: v for k, v in run.outcome().items() if k != "seed"} for run in runs]
        self.assertEqual(outcomes[0], outcomes[1])
        self.assertNotEqual(outcomes[0], outcomes[2])
        self.assertEqual((runs[0].latency, runs[0].seed, runs[2].seed), ("exponential:0.3", 1, 2))
        self.assertEqual(runs[0].to_dict()["latency"], "exponential:0.3")
        self.assertIn("  latency:       exponential:0.3\n", runs[0].text())
        plain = run_backtest(MM, replay=recording)
        self.assertEqual((plain.latency, plain.seed, plain.to_dict()["latency"]), (None, None, None))
        self.assertIn("  latency:       none\n", plain.text())


class SpecTests(unittest.TestCase):
    def test_forms(self) -> None:
        for spec, kind, params, text in (
            ("0.05", "fixed", (0.05,), "0.05"),
            (0.05, "fixed", (0.05,), "0.05"),
            ("fixed:1", "fixed", (1.0,), "1"),
            (" Uniform:0.01, 0.1 ", "uniform", (0.01, 0.1), "uniform:0.01,0.1"),
            ("exponential:0.05", "exponential", (0.05,), "exponential:0.05"),
            ("normal:0.05,0.02", "normal", (0.05, 0.02), "normal:0.05,0.02"),
            ("lognormal:-3,0.5", "lognormal", (-3.0, 0.5), "lognormal:-3,0.5"),
        ):
            latency = parse_latency(spec)
            self.assertEqual((latency.kind, latency.params, str(latency)), (kind, params, text))
            self.assertEqual(parse_latency(str(latency)), latency)

    def test_draws(self) -> None:
        """Each distribution's draws are 0 or more, follow the seed, and (but a fixed delay)
        differ from another seed's."""
        for spec in ("uniform:0.01,0.1", "exponential:0.05", "normal:0.01,0.05", "lognormal:-3,0.5"):
            latency = parse_latency(spec)
            one, again, other = (latency.sampler(seed) for seed in (1, 1, 2))
            draws = [one() for _ in range(200)]
            self.assertTrue(all(d >= 0 for d in draws), spec)
            self.assertEqual(draws, [again() for _ in range(200)], spec)
            self.assertNotEqual(draws, [other() for _ in range(200)], spec)
        self.assertIn(0.0, [parse_latency("normal:0.01,0.05").sampler(3)() for _ in range(100)])
        self.assertEqual({parse_latency("0.05").sampler(seed)() for seed in range(5)}, {0.05})

    def test_bad_specs(self) -> None:
        for spec, why in (
            ("fast", "SECONDS must be a finite number"),
            ("", "SECONDS must be a finite number"),
            ("nan", "SECONDS must be a finite number"),
            ("-0.1", "SECONDS must be 0 or more"),
            ("gamma:1,2", "no distribution 'gamma'"),
            ("uniform:0.1", "uniform:LO,HI must be finite numbers"),
            ("uniform:0.2,0.1", "it needs 0 <= LO <= HI"),
            ("uniform:0,inf", "uniform:LO,HI must be finite numbers"),
            ("exponential:0", "MEAN must be over 0"),
            ("normal:0.1,-1", "SD must be 0 or more"),
            ("lognormal:a,b", "lognormal:MU,SIGMA must be finite numbers"),
        ):
            with self.assertRaises(ValueError) as caught:
                parse_latency(spec)
            self.assertEqual(str(caught.exception), f"latency {spec.strip()!r}: {why}; the forms are {FORMS}")
            self.assertRaises(BacktestError, run_backtest, MM, simulate=True, duration=1, latency=spec)


class Recording(Protocol):
    """What the wrapped exchange protocol received, when, and whether it was closed."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.received: list[tuple[float, bytes]] = []
        self.lost = -1.0

    def dataReceived(self, data: bytes) -> None:
        self.received.append((self.clock.seconds(), data))

    def connectionLost(self, reason: Any = None) -> None:
        self.lost = self.clock.seconds()


def framed(payload: bytes) -> bytes:
    """``payload`` as one frame."""
    frame = bytearray()
    frame_encode(frame, payload)
    return bytes(frame)


class WireTests(unittest.TestCase):
    """`delay_connections` on a bare factory, with delays chosen for each frame."""

    def connection(self, delays: list[float]) -> tuple[Clock, Recording, Any, StringTransport]:
        clock = Clock()
        factory = Factory.forProtocol(lambda: Recording(clock))
        draws = iter(delays)
        delay_connections(factory, clock, lambda: next(draws))
        delayed = factory.buildProtocol(None)
        transport = StringTransport()
        delayed.makeConnection(transport)
        inner = delayed.wrapped
        self.assertIs(inner.transport, delayed)
        return clock, inner, delayed, transport

    def test_frames_keep_their_order(self) -> None:
        """A frame drawn a shorter delay than the one before it arrives with it, not before;
        several frames in one read each draw their own; a partial frame waits for its end."""
        frames = [framed(bytes([n]) * (n * 50)) for n in range(1, 6)]
        clock, inner, delayed, _ = self.connection([0.5, 0.125, 0.75, 0.875, 0.25])
        delayed.dataReceived(frames[0] + frames[1] + frames[2][:10])
        clock.advance(0.25)
        delayed.dataReceived(frames[2][10:] + frames[3][:1])
        delayed.dataReceived(frames[3][1:] + frames[4])
        self.assertEqual(inner.received, [])
        while clock.getDelayedCalls():
            clock.advance(clock.getDelayedCalls()[0].getTime() - clock.seconds())
        self.assertEqual(
            inner.received, [(0.5, frames[0] + frames[1]), (1.0, frames[2]), (1.125, frames[3] + frames[4])]
        )

    def test_answers_keep_their_order_and_the_close_waits_for_them(self) -> None:
        clock, inner, _, transport = self.connection([0.5, 0.25, 0.375])
        frames = [framed(b"answer %d" % n) for n in range(3)]
        inner.transport.write(frames[0])
        inner.transport.writeSequence([frames[1], frames[2]])
        inner.transport.loseConnection()
        self.assertEqual((transport.value(), transport.disconnecting), (b"", False))
        clock.advance(0.25)
        self.assertEqual((transport.value(), transport.disconnecting), (b"", False))
        clock.advance(0.25)
        self.assertEqual((transport.value(), transport.disconnecting), (b"".join(frames), True))

    def test_requests_on_their_way_arrive_before_the_close(self) -> None:
        clock, inner, delayed, _ = self.connection([0.5, 0.5])
        delayed.dataReceived(framed(b"logout"))
        delayed.connectionLost(None)
        self.assertEqual((inner.received, inner.lost), ([], -1.0))
        inner.transport.write(framed(b"lost"))  # after the close: never sent
        clock.advance(0.5)
        self.assertEqual((inner.received, inner.lost), ([(0.5, framed(b"logout"))], 0.5))
        self.assertEqual(clock.getDelayedCalls(), [])


class CommandLineTests(unittest.TestCase):
    def backtest(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "txsmarkets.backtest", "--simulate", "--duration", "30", *argv],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def test_the_process(self) -> None:
        """``--latency 0.25``: the log's virtual times show each answer half a second after
        its order; the report names the latency; a bad spec is one line and status 2."""
        run = self.backtest("--strategy", TIMING, "--latency", "0.25", "--json", "--seed", "3", "-v")
        self.assertEqual(run.returncode, 0, run.stderr)
        report = json.loads(run.stdout)
        self.assertEqual((report["latency"], report["seed"], report["orders"]), ("0.25", 3, 4))
        placed = re.findall(r"^ *([\d.]+) \[txsmarkets\.strategy\.Timing#info\] placed$", run.stderr, re.M)
        answered = re.findall(r"^ *([\d.]+) \[txsmarkets\.strategy\.Timing#info\] answered$", run.stderr, re.M)
        # The login took a round trip too: the strategy started at 0.5, its orders every 7 s.
        self.assertEqual(placed, ["7.500", "14.500", "21.500", "28.500"], run.stderr)
        self.assertEqual(answered, ["8.000", "15.000", "22.000", "29.000"], run.stderr)
        bad = self.backtest("--strategy", TIMING, "--latency", "uniform:1")
        self.assertEqual(bad.returncode, 2)
        self.assertEqual(bad.stdout, "")
        self.assertEqual(bad.stderr, f"backtest: latency 'uniform:1': uniform:LO,HI must be finite numbers; the forms are {FORMS}\n")
