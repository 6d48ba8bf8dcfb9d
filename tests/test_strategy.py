"""`Strategy` and `StrategyHost` on a client over StringTransport with a Clock; loading a
strategy and reading its ``--param NAME=VALUE`` parameters."""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.trial import unittest

from tests.test_client import FakeExchange, app, quotes
from txsmarkets.client import BUY
from txsmarkets.client.state import LiveOrder, MarketBook
from txsmarkets.strategy import (
    CallableStrategy,
    Strategy,
    StrategyError,
    StrategyHost,
    load_strategy,
    parse_params,
)
from txsmarkets.wire import seto_pb2


class Recorder(Strategy):
    """Notes every hook it hears, in order."""

    markets = (1,)

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.events: list[Any] = []
        self.stopping: Deferred[None] | None = None

    def start(self) -> None:
        self.events.append("start")

    def on_login(self, resumed: bool) -> None:
        self.events.append(("login", resumed))

    def on_disconnect(self, reason: Failure) -> None:
        self.events.append("disconnect")

    def on_market(self, book: MarketBook) -> None:
        contract = book.contracts.get(11)
        self.events.append(("market", book.market_id, contract.best_bid if contract else None))

    def on_order(self, order: LiveOrder) -> None:
        self.events.append(("order", order.order_id, order.filled, order.done))

    def stop(self) -> Deferred[None] | None:
        self.events.append("stop")
        return self.stopping


def drop(ex: FakeExchange) -> None:
    ex.proto.connectionLost(Failure(ConnectionDone()))


class HostTests(unittest.TestCase):
    def setUp(self) -> None:
        self.ex = FakeExchange()
        self.strategy = Recorder({"edge": 2})
        self.errors: list[StrategyError] = []
        self.host = StrategyHost(self.ex.client, self.strategy, on_error=self.errors.append)
        self.host.attach()

    def test_started_once_logins_every_time(self) -> None:
        """start once, after the first login; on_login after each; markets subscribed once."""
        self.assertEqual(self.strategy.events, [])
        self.ex.login()
        self.assertEqual(self.strategy.events, ["start", ("login", False)])
        subscribes = [p for p in self.ex.sent() if p.type == seto_pb2.PAYLOAD_MARKET_SUBSCRIBE]
        self.assertEqual([p.market_subscribe.market_id for p in subscribes], [1])
        drop(self.ex)
        self.ex.login()
        self.assertEqual(self.strategy.events, ["start", ("login", False), "disconnect", ("login", True)])
        # The client renews the subscription itself: the host asks for nothing more.
        subscribes = [p for p in self.ex.sent() if p.type == seto_pb2.PAYLOAD_MARKET_SUBSCRIBE]
        self.assertEqual(len(subscribes), 1)
        self.assertEqual(self.host.reconnects, 1)
        self.assertEqual(self.strategy.params, {"edge": 2})
        self.assertIs(self.strategy.client, self.ex.client)
        self.assertIs(self.strategy.clock, self.ex.clock)

    def test_books_and_orders(self) -> None:
        self.ex.login()
        self.ex.send(app(seto_pb2.PAYLOAD_MARKET_QUOTES, market_id=1))
        self.ex.send(quotes(1, 11, (2500, 10)))
        self.ex.client.create_order(1, 11, BUY, 2500, 30000)
        seq = [p for p in self.ex.sent() if p.type == seto_pb2.PAYLOAD_ORDER_CREATE][0].eto_payload.seq
        self.ex.send(app(seto_pb2.PAYLOAD_ORDER_ACCEPTED, seq=seq, order_id=5))
        self.ex.send(app(
                seto_pb2.PAYLOAD_ORDER_EXECUTED,
                order_id=5, quantity=10000, price=2500, side=BUY, market_id=1, contract_id=11,
            ))
        self.ex.send(app(seto_pb2.PAYLOAD_ORDER_CANCELLED, order_id=5, reason=1))
        self.ex.send(app(seto_pb2.PAYLOAD_ORDER_CANCELLED, order_id=99, reason=1))  # not ours to know of
        self.assertEqual(
            self.strategy.events[2:],
            [("market", 1, None), ("market", 1, 2500), ("order", 5, 0, False), ("order", 5, 10000, False), ("order", 5, 10000, True)],
        )
        self.assertEqual(self.host.fills, 1)

    def test_owned_things_undone_at_stop(self) -> None:
        """What the strategy scheduled or registered stops with it; nothing runs after."""
        self.ex.login()
        ran: list[str] = []
        self.strategy.call_later(5, ran.append, "later")
        self.strategy.every(1, ran.append, "tick")
        self.strategy.add_handler("seto.contract_quotes", lambda message: ran.append("quote"))
        self.ex.clock.advance(1)
        self.ex.send(quotes(1, 11, (2500, 10)))
        self.assertEqual(ran, ["tick", "quote"])
        self.strategy.stopping = Deferred()
        stopped = self.host.stop()
        self.assertNoResult(stopped)  # waits for the strategy's own stop
        self.strategy.stopping.callback(None)
        self.successResultOf(stopped)
        self.successResultOf(self.host.stop())  # once only
        self.assertEqual(self.strategy.events.count("stop"), 1)
        self.ex.clock.advance(10)
        self.ex.send(quotes(1, 11, (2600, 10)))
        drop(self.ex)
        self.ex.login()
        self.assertEqual(ran, ["tick", "quote"])
        self.assertEqual(self.strategy.events[-1], "stop")
        # Only the session's own heartbeat timer is left on the clock.
        self.assertEqual([c.func.__name__ for c in self.ex.clock.getDelayedCalls()], ["_tick"])

    def test_raising_hook_logged_and_reported(self) -> None:
        def broken(resumed: bool) -> None:
            raise RuntimeError("boom")

        self.strategy.on_login = broken  # type: ignore[method-assign]
        self.strategy.call_later(1, lambda: 1 / 0)
        self.ex.login()
        self.ex.clock.advance(1)
        self.assertEqual([(e.strategy, e.hook) for e in self.errors], [("Recorder", "on_login"), ("Recorder", "<lambda>")])
        self.assertIn("boom", str(self.errors[0]))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError, ZeroDivisionError)), 2)
        # The session is unharmed: the strategy still hears of what follows.
        self.ex.send(app(seto_pb2.PAYLOAD_MARKET_QUOTES, market_id=1))
        self.ex.send(quotes(1, 11, (2500, 10)))
        self.assertEqual(self.strategy.events[-1], ("market", 1, 2500))

    def test_attach_while_logged_in_starts_at_once(self) -> None:
        ex = FakeExchange()
        ex.login()
        strategy = Recorder()
        StrategyHost(ex.client, strategy).attach()
        self.assertEqual(strategy.events, ["start", ("login", True)])

    def test_plain_callable_called_once(self) -> None:
        ex = FakeExchange()
        calls: list[Any] = []
        strategy = CallableStrategy(calls.append)
        StrategyHost(ex.client, strategy).attach()
        ex.login()
        drop(ex)
        ex.login()
        self.assertEqual(calls, [ex.client])


MODULE = '''
import txsmarkets.strategy

IMPORTS = globals().setdefault("IMPORTS", 0) + 1

class Mine(txsmarkets.strategy.Strategy):
    pass

def plain(client):
    pass
'''


class LoadTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        folder = os.path.abspath(self.mktemp())
        os.makedirs(folder)
        with open(os.path.join(folder, "mystrategy_under_test.py"), "w") as f:
            f.write(MODULE)
        cwd = os.getcwd()
        os.chdir(folder)
        path = list(sys.path)

        def restore() -> None:
            os.chdir(cwd)
            sys.path[:] = path
            sys.modules.pop("mystrategy_under_test", None)

        self.addCleanup(restore)

    def test_class_from_the_working_directory_imported_once(self) -> None:
        first = load_strategy("mystrategy_under_test:Mine", {"a": 1})
        second = load_strategy("mystrategy_under_test:Mine")
        self.assertIsInstance(first, Strategy)
        self.assertEqual(first.params, {"a": 1})
        self.assertIsNot(first, second)
        self.assertEqual(sys.modules["mystrategy_under_test"].IMPORTS, 1)

    def test_callable_wrapped(self) -> None:
        strategy = load_strategy("mystrategy_under_test:plain")
        self.assertIsInstance(strategy, CallableStrategy)
        self.assertEqual(strategy.name, "plain")

    def test_errors(self) -> None:
        for spec in ("nocolon", "no_such_module_here:x", "mystrategy_under_test:missing", "mystrategy_under_test:IMPORTS"):
            self.assertRaises(ValueError, load_strategy, spec)


class ParseParamsTests(unittest.SynchronousTestCase):
    def test_values(self) -> None:
        """An int, else a finite float, else the text; stripped; a comma or an ``=`` after the
        first is part of the value."""
        self.assertEqual(
            parse_params(["a=1", "b=x", " c = 0.5 ", "d=1,2", "e=-3", "f=nan", "g=inf", "h=x=y", "i=1e3"]),
            {"a": 1, "b": "x", "c": 0.5, "d": "1,2", "e": -3, "f": "nan", "g": "inf", "h": "x=y", "i": 1000.0},
        )
        self.assertEqual(parse_params([]), {})

    def test_errors_one_line(self) -> None:
        for texts, said in (
            (["a"], "a parameter is given as NAME=VALUE, not 'a'"),
            (["=1"], "not '=1'"),
            (["a= "], "not 'a= '"),
            (["a=1", "a=2"], "the parameter 'a' is given twice"),
        ):
            with self.assertRaises(ValueError) as caught:
                parse_params(texts)
            self.assertIn(said, str(caught.exception))
            self.assertEqual(len(str(caught.exception).splitlines()), 1)
