"""The daemon as a tree of services: the order its parts start and stop in is its
lifecycle (`InOrder`), the whole tree run against an in-memory exchange, and the cancels
at stop heard as they come (`cancel_everything`)."""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure
from twisted.trial import unittest

from txsmarkets.client import BUY
from txsmarkets.controls import Controls
from txsmarkets.daemon.cancels import cancel_everything
from txsmarkets.daemon.lifecycle import InOrder, StartError
from txsmarkets.daemon.service import SERVICE_ORDER, SmarketsService
from txsmarkets.daemon.storage import StateFolder
from txsmarkets.inmemory import MemoryExchange
from txsmarkets.persistence.journal import OUT, read_journal
from txsmarkets.strategy import Strategy
from txsmarkets.testing import ScriptedExchange
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.messages import eto_message, message_name


class Part(service.Service):
    """A child that notes its start and stop in ``events``; each may be made to wait."""

    def __init__(self, name: str, events: list[str]) -> None:
        self.setName(name)
        self.events = events
        self.start_with: Deferred[None] | Exception | None = None
        self.stop_with: Deferred[None] | None = None

    def startService(self) -> Deferred[None] | None:  # type: ignore[override]
        self.events.append(f"start {self.name}")
        if isinstance(self.start_with, Exception):
            raise self.start_with
        super().startService()
        return self.start_with

    def stopService(self) -> Deferred[None]:
        self.events.append(f"stop {self.name}")
        super().stopService()
        stopped = self.stop_with if self.stop_with is not None else succeed(None)
        return stopped.addCallback(lambda _: self.events.append(f"stopped {self.name}"))


class InOrderTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        self.events: list[str] = []
        self.failures: list[Failure] = []
        self.parent = InOrder(self.failures.append)
        self.parts = [Part(name, self.events) for name in ("a", "b", "c")]
        for part in self.parts:
            part.setServiceParent(self.parent)

    def test_each_waits_for_the_one_before(self) -> None:
        """A child starts once the one before it has; they stop in the reverse order,
        each once the one after it has stopped."""
        a, b, c = self.parts
        a.start_with = Deferred()
        c.stop_with = Deferred()
        self.parent.startService()
        self.assertEqual(self.events, ["start a"])
        a.start_with.callback(None)
        self.assertEqual(self.events, ["start a", "start b", "start c"])
        del self.events[:]
        stopped = self.parent.stopService()
        self.assertEqual(self.events, ["stop c"])
        self.assertNoResult(stopped)
        c.stop_with.callback(None)
        self.successResultOf(stopped)
        self.assertEqual(self.events, ["stop c", "stopped c", "stop b", "stopped b", "stop a", "stopped a"])

    def test_a_failed_start_starts_no_more_and_stops_the_started(self) -> None:
        self.parts[1].start_with = StartError("cannot use the folder", 1)
        self.parent.startService()
        self.assertEqual([f.getErrorMessage() for f in self.failures], ["cannot use the folder"])
        self.assertEqual(self.events, ["start a", "start b"])
        self.successResultOf(self.parent.stopService())
        self.assertEqual(self.events[2:], ["stop a", "stopped a"])

    def test_a_stop_during_a_start_waits_for_it(self) -> None:
        a = self.parts[0]
        a.start_with = Deferred()
        self.parent.startService()
        stopped = self.parent.stopService()
        self.assertNoResult(stopped)
        a.start_with.callback(None)
        self.successResultOf(stopped)
        self.assertEqual(self.events, ["start a", "stop a", "stopped a"])


class Notes(Strategy):
    """Places two resting orders at its start; notes what holds when it is stopped."""

    def __init__(self, svc: list[SmarketsService]) -> None:
        super().__init__()
        self.svc = svc
        self.at_stop: dict[str, Any] = {}

    def start(self) -> None:
        for _ in range(2):
            self.client.create_order(1, 11, BUY, 2000, 100000)

    def stop(self) -> None:
        svc = self.svc[0]
        self.at_stop = {
            "connected": svc.session.connected,
            "live orders": len(svc.client.account.orders),
            "state open": svc.state is not None,
        }


class TreeTests(unittest.TestCase):
    def test_children_in_the_documented_order(self) -> None:
        exchange = MemoryExchange()
        full = SmarketsService(
            exchange.settings(), exchange.reactor, demo=True, state_dir=self.mktemp(), record_dir=self.mktemp(),
            metrics="tcp:0:interface=127.0.0.1",
        )  # fmt: skip
        self.assertEqual(tuple(child.name for child in full), SERVICE_ORDER)
        bare = SmarketsService(exchange.settings(), exchange.reactor)
        self.assertEqual([child.name for child in bare], ["session", "status", "strategy"])

    def test_the_strategy_stops_before_the_cancels_and_the_journal_closes_last(self) -> None:
        """Run against an in-memory exchange: the strategy stops while logged in, then
        every order is cancelled and the session logs out, then the recording and the
        state folder close, each part once the one started after it has stopped."""
        exchange = MemoryExchange()
        demo = exchange.engine.accounts.by_username("demo")
        holder: list[SmarketsService] = []
        strategy = Notes(holder)
        state = self.mktemp()
        svc = SmarketsService(
            exchange.settings(), exchange.reactor, strategy=strategy, state_dir=state, record_dir=self.mktemp(),
            cancel_on_exit=True, status_interval=1,
        )  # fmt: skip
        holder.append(svc)
        events: list[str] = []
        for child in svc:
            events_of(child, events)
        svc.startService()
        exchange.advance(2)
        self.assertTrue(svc.session.connected)
        self.assertEqual(len(demo.orders), 2)
        self.assertEqual(events, [])
        exchange.run(svc.stopService())
        names = [child.name for child in svc]
        self.assertEqual(
            events, [f"{what} {name}" for name in reversed(names) for what in ("stop", "stopped")]
        )
        self.assertEqual(strategy.at_stop, {"connected": True, "live orders": 2, "state open": True})
        self.assertEqual(demo.orders, {})
        self.assertFalse(svc.session.connected)
        self.assertIsNone(svc.state)
        sent = [message_name(r.payload()) for r in read_journal(f"{state}/journal") if r.direction == OUT]
        # One cancel_all covers both; none is asked again.
        self.assertEqual((sent.count("seto.order_cancel_all"), sent.count("seto.order_cancel")), (1, 0))
        self.assertEqual(sent[-1], "eto.logout")
        self.assertEqual(svc.exit_status, 0)


def events_of(child: Any, events: list[str]) -> None:
    """Note when ``child``'s stop begins and ends."""
    stop = child.stopService

    def noted() -> Deferred[None]:
        events.append(f"stop {child.name}")
        d: Deferred[Any] = Deferred.fromCoroutine(_await(stop()))
        return d.addCallback(lambda _: events.append(f"stopped {child.name}"))

    child.stopService = noted


async def _await(result: Any) -> Any:
    if isinstance(result, Deferred):
        return await result
    return result


class CancelEverythingTests(unittest.TestCase):
    def setUp(self) -> None:
        self.exchange = MemoryExchange()
        self.client = self.exchange.run(self.exchange.connect())
        self.demo = self.exchange.engine.accounts.by_username("demo")
        for _ in range(3):
            self.exchange.run(self.client.create_order(1, 11, BUY, 2000, 100000))
        self.assertEqual(len(self.client.account.orders), 3)

    def test_fires_when_the_last_answer_comes(self) -> None:
        """Each live order cancelled once; it fires as the last order_cancelled comes, with
        no time passing (no polling)."""
        done = cancel_everything(self.client, self.exchange.clock, 10)
        self.assertNoResult(done)
        now = self.exchange.clock.seconds()
        self.exchange.flush()
        self.assertEqual(self.successResultOf(done), [])
        self.assertEqual(self.exchange.clock.seconds(), now)
        self.assertEqual(self.demo.orders, {})

    def test_orders_accepted_meanwhile_are_cancelled_too(self) -> None:
        late = self.client.create_order(1, 11, BUY, 2000, 100000)
        done = cancel_everything(self.client, self.exchange.clock, 10)
        self.exchange.flush()
        self.successResultOf(late)
        self.assertEqual(self.successResultOf(done), [])
        self.assertEqual(self.demo.orders, {})

    def test_bounded_in_time(self) -> None:
        """Answers that do not come in time: it fires with the orders still live."""
        left = sorted(self.client.account.orders)
        done = cancel_everything(self.client, self.exchange.clock, 10)
        self.exchange.clock.advance(9.9)  # the cancels stay unread: no answer comes
        self.assertNoResult(done)
        self.exchange.clock.advance(0.1)
        self.assertEqual(self.successResultOf(done), left)

    def test_ends_when_the_session_drops(self) -> None:
        """No answer can come once the connection is lost: it fires with the orders left."""
        done = cancel_everything(self.client, self.exchange.clock, 10)
        left = sorted(self.client.account.orders)
        self.exchange.cut(self.client)
        self.assertEqual(self.successResultOf(done), left)

    def test_nothing_live(self) -> None:
        """Nothing live: the cancel_all still goes (a create may be in flight); it fires
        on the answer."""
        self.exchange.run(self.client.cancel_all())
        self.exchange.flush()
        done = cancel_everything(self.client, self.exchange.clock, 10)
        self.assertNoResult(done)
        self.exchange.flush()
        self.assertEqual(self.successResultOf(done), [])

    def test_a_create_in_flight_with_nothing_live(self) -> None:
        """A create sent just before the stop, with no order live yet: its order is
        cancelled too (the cancel_all comes after it), and the round waits for it."""
        self.exchange.run(self.client.cancel_all())
        self.exchange.flush()
        late = self.client.create_order(1, 11, BUY, 2000, 100000)
        self.assertEqual((self.client.account.orders, self.client.creates_in_flight), ({}, 1))
        done = cancel_everything(self.client, self.exchange.clock, 10)
        self.exchange.flush()
        self.successResultOf(late)
        self.assertEqual(self.successResultOf(done), [])
        self.assertEqual(self.demo.orders, {})

    def test_a_cancel_all_refused(self) -> None:
        """The cancel_all refused (a bridge whose upstream is lost does): each live order
        is cancelled on its own, and the round fires once the last is gone."""
        ex = ScriptedExchange()
        ex.login()
        ex.sent()
        ex.client.create_order(1, 11, BUY, 2000, 100000)
        [create] = ex.sent()
        accepted = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_ACCEPTED)
        accepted.order_accepted.seq = create.eto_payload.seq
        accepted.order_accepted.order_id = 7
        ex.send(accepted)
        done = cancel_everything(ex.client, ex.clock, 10)
        [cancel_all] = ex.sent()
        refused = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_REJECTED)
        refused.order_cancel_all_rejected.reference = cancel_all.order_cancel_all.reference
        refused.order_cancel_all_rejected.reason = seto_pb2.ORDER_CANCEL_ALL_REJECTED_UNKNOWN_ERROR
        ex.send(refused)
        [cancel] = ex.sent()
        self.assertEqual(cancel.order_cancel.order_id, 7)
        self.assertNoResult(done)
        cancelled = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CANCELLED)
        cancelled.order_cancelled.order_id = 7
        cancelled.order_cancelled.reason = seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED
        ex.send(cancelled)
        self.assertEqual(self.successResultOf(done), [])


class StateFolderTests(unittest.TestCase):
    """The daemon's state folder across a ``kill -9``."""

    def start(self, folder: str) -> tuple[ScriptedExchange, Controls, StateFolder]:
        exchange = ScriptedExchange()
        controls = Controls()
        exchange.client.controls = controls
        state = StateFolder(folder, exchange.client, controls, exchange.clock)
        state.startService()
        return exchange, controls, state

    def rotate_on_a_replayed_acceptance(self, snapshot_taken: bool) -> None:
        """An order_accepted is resent in a replay (the session counts it before it is
        recorded) and begins a new journal file; then the process is killed, the rotation's
        snapshot taken or not; the restart must hold the live order."""
        folder = self.mktemp()
        exchange, _, state = self.start(folder)
        exchange.login("s-1")
        exchange.sent()
        placed = exchange.client.create_order(1, 11, BUY, 2500, 400000)
        [create] = exchange.sent()
        lost = exchange.seq
        accepted = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_ACCEPTED)
        body = accepted.order_accepted
        body.seq, body.order_id, body.account_sequence_64 = create.eto_payload.seq, 1001, 1
        body.market_id, body.contract_id, body.side, body.price, body.quantity = 1, 11, BUY, 2500, 400000
        exchange.send(accepted, seq=lost + 1)  # the message before it never came: a replay is asked
        exchange.sent()
        heartbeat = eto_message(eto_pb2.PAYLOAD_HEARTBEAT)
        heartbeat.eto_payload.is_replay = True
        exchange.send(heartbeat, seq=lost)
        assert state.state is not None
        journal = state.state.journal
        journal.max_bytes = journal.position[1] + 1  # full: the next record begins a file
        accepted.eto_payload.is_replay = True
        exchange.send(accepted, seq=lost + 1)
        self.assertEqual(self.successResultOf(placed).order_accepted.order_id, 1001)
        if snapshot_taken:
            exchange.clock.advance(0)
        journal.close()  # killed: no stop, no last snapshot
        again, controls, _ = self.start(folder)
        self.assertEqual(sorted(again.client.account.orders), [1001])
        self.assertEqual((again.session.sequence.inseq, again.session.account_sequence), (lost + 2, 1))
        self.assertEqual(controls.live_orders, 1)

    def test_the_rotation_s_snapshot_keeps_the_message_that_began_the_file(self) -> None:
        self.rotate_on_a_replayed_acceptance(snapshot_taken=True)

    def test_a_kill_before_the_rotation_s_snapshot(self) -> None:
        self.rotate_on_a_replayed_acceptance(snapshot_taken=False)
