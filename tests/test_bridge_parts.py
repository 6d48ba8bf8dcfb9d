"""The bridge's parts on a `Clock` with a scripted upstream: an account's orders and polls
(`UpstreamAccount`), its durable state (`BridgeState`), the reasons, and the market data's
pace (`BridgeMarketData`)."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial import unittest

from txsmarkets.bridge.account import UpstreamAccount
from txsmarkets.bridge.market_data import BridgeMarketData
from txsmarkets.bridge.reasons import cancel_rejected_reason, create_answer
from txsmarkets.bridge.state import BridgeState, PendingCreate, StateFileError
from txsmarkets.exceptions import ConnectionError, RequestTimeout
from txsmarkets.http_api import APIError, CancelRejected, HTTPOrderInvalid, HTTPOrderRejected, QueueFull
from txsmarkets.http_api.limits import RateLimits
from txsmarkets.http_api.models import (
    ActivityPage,
    ActivityRow,
    Contract,
    ContractQuotes,
    LastExecutedPrice,
    OrderCreated,
    PriceLevel,
)
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import SETO_FIELDS, new_payload

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


def row(seq: int, source: str, order_id: int | None = None, **fields: Any) -> ActivityRow:
    from datetime import datetime, timezone

    return ActivityRow(seq=seq, subseq=0, source=source, timestamp=datetime(2030, 1, 1, tzinfo=timezone.utc),
                       order_id=order_id, **fields)  # fmt: skip


class ScriptedUpstream:
    """An `HTTPAPIClient` whose answers the test gives: each call is noted with the
    Deferred it returned."""

    def __init__(self, clock: Clock) -> None:
        self.limits = RateLimits(clock)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any], Deferred[Any]]] = []
        #: The activity rows the upstream holds, oldest first.
        self.rows: list[ActivityRow] = []
        #: Fail every activity poll with this, if set.
        self.activity_error: Exception | None = None
        #: The orders the upstream lists (``id``, ``market_id``, ``label``).
        self.placed: list[SimpleNamespace] = []
        #: Fail the next look at the orders with this, if set.
        self.orders_error: Exception | None = None
        #: If set, the next activity request is answered when the test fires this.
        self.activity_paused: Deferred[ActivityPage] | None = None

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Deferred[Any]:
        d: Deferred[Any] = Deferred()
        self.calls.append((name, args, kwargs, d))
        return d

    def named(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any], Deferred[Any]]]:
        return [(a, k, d) for n, a, k, d in self.calls if n == name]

    def create_order(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        return self._call("create_order", *args, **kwargs)

    def cancel_order(self, order_id: int) -> Deferred[Any]:
        return self._call("cancel_order", order_id)

    def cancel_all(self, market_id: int | None = None) -> Deferred[Any]:
        return self._call("cancel_all", market_id)

    def activity(self, **filters: Any) -> Deferred[ActivityPage]:
        if self.activity_error is not None:
            error, self.activity_error = self.activity_error, None
            d: Deferred[ActivityPage] = Deferred()
            d.errback(error)
            return d
        if self.activity_paused is not None:
            paused, self.activity_paused = self.activity_paused, None
            return paused
        if filters.get("sort") == "-seq,-subseq":
            return succeed(ActivityPage(self.rows[-1:]))
        after = filters.get("pagination_last_seq", 0)
        return succeed(ActivityPage([r for r in self.rows if r.seq > after][: filters["limit"]]))

    def orders_pages(self, **filters: Any) -> AsyncIterator[SimpleNamespace]:
        self.calls.append(("orders_pages", (), filters, succeed(None)))
        error, self.orders_error = self.orders_error, None
        listed = [order for order in self.placed if order.market_id in filters["market_id"]]

        async def pages() -> AsyncIterator[SimpleNamespace]:
            if error is not None:
                raise error
            yield SimpleNamespace(items=listed)

        return pages()

    def close(self) -> Deferred[None]:
        return succeed(None)


def created(order_id: int, quantity: int = 100_000) -> OrderCreated:
    return OrderCreated(
        order_id=order_id, market_id=10, contract_id=101, side="buy", price=2500, quantity=quantity,
        available_quantity=quantity, total_executed_quantity=0, executed_avg_price=None, orig_price=None,
        available_balance=Decimal("997.50"), exposure=Decimal("-2.50"),
    )  # fmt: skip


def create(seq: int, tif: int = seto_pb2.GOOD_TIL_CANCELLED, price: int = 2500, quantity: int = 100_000,
           label: str | None = None) -> seto_pb2.Payload:  # fmt: skip
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
    payload.eto_payload.seq = seq
    body = payload.order_create
    body.market_id, body.contract_id, body.side, body.price, body.quantity, body.tif = (
        10, 101, seto_pb2.SIDE_BUY, price, quantity, tif,
    )
    if label is not None:
        body.label = label
    return payload


class AccountTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.upstream = ScriptedUpstream(self.clock)
        self.sent: list[seto_pb2.Payload] = []
        self.state = BridgeState(1, pathlib.Path(self.mktemp()))
        self.account = UpstreamAccount(self.clock, 1, "trader", self.state, lambda _, p: self.sent.append(p), poll_interval=1.0)
        self.account.opened(self.upstream)  # type: ignore[arg-type]  # the cursor: the newest row (none)
        self.account.add_client(self.upstream)  # type: ignore[arg-type]
        self.account.start()
        self.clock.advance(0)  # the first poll

    def kinds(self) -> list[str]:
        return [SETO_FIELDS[p.type] for p in self.sent]

    def test_rows_of_an_unanswered_create_wait_for_its_answer(self) -> None:
        self.account.submit(create(5))
        [(_, _, answer)] = self.upstream.named("create_order")
        # The upstream placed it and filled it; its answer is slow, the poll is not.
        self.upstream.rows = [row(1, "order.create", 77), row(2, "order.execute", 77, price=2500, quantity=40_000)]
        self.clock.advance(1)
        self.assertEqual(self.sent, [])
        self.assertEqual(self.state.cursor, (0, 0))
        answer.callback(created(77))
        self.clock.advance(0)
        self.assertEqual(self.kinds(), ["order_accepted", "order_executed"])
        executed = self.sent[1].order_executed
        self.assertEqual((executed.order_id, executed.quantity, executed.available_quantity), (77, 40_000, 60_000))
        self.assertEqual([p.order_accepted.account_sequence_64 for p in self.sent[:1]], [1])
        self.assertEqual(executed.account_sequence_64, 2)
        self.assertEqual(self.state.cursor, (2, 0))
        # Polled again: nothing twice.
        self.clock.advance(1)
        self.assertEqual(len(self.sent), 2)

    def test_a_create_without_an_answer_is_never_sent_again(self) -> None:
        self.account.submit(create(5))
        [(_, _, answer)] = self.upstream.named("create_order")
        answer.errback(RequestTimeout("no answer"))
        self.assertEqual(self.sent, [])  # held until it is looked for upstream
        self.assertTrue(self.account.lost)
        # While lost: rejected at once, nothing sent upstream.
        self.account.submit(create(6))
        self.assertEqual(len(self.upstream.named("create_order")), 1)
        self.assertEqual(self.sent[-1].order_rejected.reason, seto_pb2.ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE)
        self.flushLoggedErrors()
        # A poll answered: the upstream is back, and the create was not placed.
        self.clock.advance(1)
        self.assertFalse(self.account.lost)
        rejected = self.sent[-1]
        self.assertEqual((rejected.order_rejected.seq, rejected.order_rejected.reason),
                         (5, seto_pb2.ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE))
        self.assertEqual(len(self.upstream.named("create_order")), 1)

    def placed(self, order_id: int, label: str) -> None:
        """The upstream lists order ``order_id``, placed with ``label``."""
        self.upstream.placed.append(SimpleNamespace(id=order_id, market_id=10, label=label))

    def test_a_create_without_an_answer_that_was_placed_is_accepted_late(self) -> None:
        self.account.submit(create(5, label="scalp"))
        [(_, sent_with, answer)] = self.upstream.named("create_order")
        label = sent_with["label"]
        self.assertRegex(label, r"^scalp#txb-[0-9a-f]{12}$")
        # A poll while the create is under way: its rows wait, it is not looked for yet.
        self.upstream.rows = [row(1, "order.create", 77), row(2, "order.execute", 77, price=2500, quantity=40_000)]
        self.clock.advance(1)
        self.assertEqual(self.upstream.named("orders_pages"), [])
        # No answer came, but the upstream placed it, filled it in part, and lists it.
        answer.errback(RequestTimeout("no answer"))
        self.placed(77, label)
        self.assertEqual(self.sent, [])
        self.clock.advance(2)  # the next poll (backing off: the upstream was lost)
        self.assertEqual(self.kinds(), ["order_accepted", "order_executed"])
        accepted, executed = self.sent[0].order_accepted, self.sent[1].order_executed
        self.assertEqual((accepted.seq, accepted.order_id, accepted.label), (5, 77, "scalp"))
        self.assertEqual((executed.order_id, executed.quantity, executed.label), (77, 40_000, "scalp"))
        self.assertEqual(self.state.pending, {})
        # From now on an order like any other: told once, cancelled upstream; never sent again.
        self.clock.advance(5)
        self.assertEqual(len(self.sent), 2)
        cancel = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL)
        cancel.order_cancel.order_id = 77
        self.account.submit(cancel)
        self.assertEqual(self.upstream.named("cancel_order")[0][0], (77,))
        self.assertEqual(len(self.upstream.named("create_order")), 1)
        self.flushLoggedErrors()

    def test_rows_of_a_create_that_times_out_during_a_poll_wait_for_the_look(self) -> None:
        self.account.submit(create(5, label="scalp"))
        [(_, sent_with, answer)] = self.upstream.named("create_order")
        paused = self.upstream.activity_paused = Deferred()
        self.clock.advance(1)  # a poll asks for the activity; its answer is slow
        answer.errback(RequestTimeout("no answer"))  # meanwhile the create times out
        self.upstream.rows = [row(1, "order.create", 77), row(2, "order.execute", 77, price=2500, quantity=40_000)]
        paused.callback(ActivityPage(self.upstream.rows))
        self.assertEqual((self.sent, self.state.cursor), ([], (0, 0)))  # its rows wait
        self.placed(77, sent_with["label"])
        self.clock.advance(2)
        self.assertEqual(self.kinds(), ["order_accepted", "order_executed"])
        self.flushLoggedErrors()

    def test_a_create_found_by_its_label_in_the_activity(self) -> None:
        # An immediate-or-cancel the orders listing no longer shows: its activity rows do.
        self.account.submit(create(5, tif=seto_pb2.IMMEDIATE_OR_CANCEL))
        [(_, sent_with, answer)] = self.upstream.named("create_order")
        self.assertRegex(sent_with["label"], r"^#txb-[0-9a-f]{12}$")
        answer.errback(APIError(504, "ORDER_TIMEOUT"))
        self.upstream.rows = [row(1, "order.create", 78, label=sent_with["label"]),
                              row(2, "order.execute", 78, price=2500, quantity=100_000)]  # fmt: skip
        self.clock.advance(2)
        self.assertEqual(self.kinds(), ["order_accepted", "order_executed"])
        self.assertFalse(self.sent[0].order_accepted.HasField("label"))
        self.assertFalse(self.state.orders[78].live)
        self.flushLoggedErrors()

    def test_a_create_not_placed_is_rejected_after_a_whole_look(self) -> None:
        self.account.submit(create(5, label="scalp"))
        self.upstream.named("create_order")[0][2].errback(APIError(503, "ORDER_UNAVAILABLE"))
        # Another's order fills meanwhile: its row waits for the look.
        self.upstream.rows = [row(1, "order.execute", 99, price=2500, quantity=1_000)]
        self.upstream.orders_error = ConnectionError("refused")
        self.clock.advance(2)  # the look fails: still held, and said in the log
        self.assertEqual((self.sent, self.state.cursor), ([], (0, 0)))
        self.assertTrue(self.account.lost)
        self.assertEqual(len(self.upstream.named("orders_pages")), 1)
        self.clock.advance(4)  # backing off; the look is whole: not placed
        self.assertEqual(self.kinds(), ["order_rejected"])
        rejected = self.sent[0].order_rejected
        self.assertEqual((rejected.seq, rejected.reason, rejected.label),
                         (5, seto_pb2.ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE, "scalp"))  # fmt: skip
        self.assertEqual(self.upstream.named("orders_pages")[-1][1]["market_id"], [10])
        self.assertEqual(self.state.cursor, (1, 0))
        self.assertEqual(self.state.pending, {})
        self.assertEqual(len(self.upstream.named("create_order")), 1)
        self.flushLoggedErrors()

    def test_a_create_under_way_when_the_bridge_dies_is_resolved_after_the_restart(self) -> None:
        self.account.submit(create(5, label="scalp"))
        [(_, sent_with, _)] = self.upstream.named("create_order")
        # Killed (-9) before the answer: the create is in the state written before the POST.
        restored = BridgeState.load(1, self.state.path)
        [pending] = restored.pending.values()
        self.assertEqual((pending.label, pending.unknown), (sent_with["label"], True))
        upstream = ScriptedUpstream(self.clock)
        upstream.placed.append(SimpleNamespace(id=77, market_id=10, label=sent_with["label"]))
        upstream.rows = [row(1, "order.create", 77), row(2, "order.execute", 77, price=2500, quantity=40_000)]
        sent: list[seto_pb2.Payload] = []
        account = UpstreamAccount(self.clock, 1, "trader", restored, lambda _, p: sent.append(p))
        account.add_client(upstream)  # type: ignore[arg-type]
        account.start()
        self.clock.advance(0)
        self.assertEqual([SETO_FIELDS[p.type] for p in sent], ["order_accepted", "order_executed"])
        self.assertEqual((sent[0].order_accepted.seq, sent[0].order_accepted.order_id), (5, 77))
        self.assertEqual(upstream.named("create_order"), [])
        self.assertEqual(BridgeState.load(1, self.state.path).pending, {})
        self.account.stop()
        account.stop()

    def test_a_failing_poll_backs_off(self) -> None:
        self.upstream.activity_error = ConnectionError("refused")
        self.clock.advance(1)
        self.assertTrue(self.account.lost)
        self.assertEqual(self.account.polls, 2)  # the first, and the one that failed
        self.clock.advance(1.9)  # backing off: 2 s
        self.assertEqual(self.account.polls, 2)
        self.clock.advance(0.1)
        self.assertEqual(self.account.polls, 3)
        self.assertFalse(self.account.lost)

    def test_cancels_and_their_reasons(self) -> None:
        for seq, order_id, tif in ((5, 70, seto_pb2.GOOD_TIL_CANCELLED), (6, 71, seto_pb2.GOOD_TIL_CANCELLED),
                                   (7, 72, seto_pb2.IMMEDIATE_OR_CANCEL)):  # fmt: skip
            self.account.submit(create(seq, tif))
            self.upstream.named("create_order")[-1][2].callback(created(order_id))
        cancel = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL)
        cancel.order_cancel.order_id = 70
        self.account.submit(cancel)
        self.upstream.named("cancel_order")[0][2].callback(None)
        self.upstream.rows = [row(1, "order.book.cancel", 70), row(2, "order.book.cancel", 71),
                              row(3, "order.book.cancel", 72), row(4, "order.book.cancel", 99),
                              row(5, "market.settle", money=Decimal("1010.00"), exposure=Decimal("0.00"))]  # fmt: skip
        self.clock.advance(0)
        reasons = [p.order_cancelled.reason for p in self.sent if p.type == seto_pb2.PAYLOAD_ORDER_CANCELLED]
        self.assertEqual(reasons, [seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED, seto_pb2.ORDER_CANCELLED_MARKET_HALTED,
                                   seto_pb2.ORDER_CANCELLED_INSUFFICIENT_LIQUIDITY])  # fmt: skip
        self.assertEqual(self.sent[-1].balance_changed.available_balance, 1010.0)
        # A cancel refused upstream is refused downstream with its reason.
        self.account.submit(create(8))
        self.upstream.named("create_order")[-1][2].callback(created(73))
        cancel.order_cancel.order_id = 73
        self.account.submit(cancel)
        self.upstream.named("cancel_order")[-1][2].errback(CancelRejected(400, "ORDER_CANCEL_REJECTED_TOO_LATE"))
        self.assertEqual(self.sent[-1].order_cancel_rejected.reason, seto_pb2.ORDER_CANCEL_REJECTED_TOO_LATE)
        self.assertTrue(self.state.orders[73].live)
        self.assertFalse(self.state.orders[73].cancelling)

    def cancel_all(self) -> None:
        request = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_ALL)
        request.order_cancel_all.market_id = 10
        self.account.submit(request)

    def test_a_cancel_all_covers_a_create_sent_before_it_and_answered_after_it(self) -> None:
        self.account.submit(create(5))
        [(_, _, answer)] = self.upstream.named("create_order")
        self.cancel_all()
        self.upstream.named("cancel_all")[0][2].callback(None)
        self.assertEqual(self.kinds(), ["order_cancel_all_accepted"])
        self.assertTrue(self.state.pending[next(iter(self.state.pending))].cancel)
        # The upstream took the create after the cancel-all: it is live there, so it is cancelled.
        answer.callback(created(77))
        self.assertEqual([args for args, _, _ in self.upstream.named("cancel_order")], [(77,)])
        self.upstream.named("cancel_order")[0][2].callback(None)
        self.upstream.rows = [row(1, "order.book.cancel", 77)]
        self.clock.advance(0)
        self.assertEqual(self.kinds(), ["order_cancel_all_accepted", "order_accepted", "order_cancelled"])
        self.assertEqual(self.sent[-1].order_cancelled.reason, seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED)

    def test_a_create_answered_while_a_cancel_all_is_under_way_is_cancelled_once_it_is_accepted(self) -> None:
        self.account.submit(create(5))
        self.cancel_all()
        self.upstream.named("create_order")[0][2].callback(created(77))
        self.assertEqual(self.upstream.named("cancel_order"), [])  # not before the cancel-all is accepted
        self.upstream.named("cancel_all")[0][2].callback(None)
        self.assertEqual([args for args, _, _ in self.upstream.named("cancel_order")], [(77,)])
        # The cancel-all took it first: the order's own cancel is refused, and that is no failure.
        self.upstream.named("cancel_order")[0][2].errback(CancelRejected(400, "ORDER_CANCEL_REJECTED_NOT_LIVE"))
        self.assertFalse(self.account.lost)
        self.upstream.rows = [row(1, "order.book.cancel", 77)]
        self.clock.advance(1)
        self.assertEqual(self.sent[-1].order_cancelled.reason, seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED)

    def test_a_refused_cancel_all_covers_nothing(self) -> None:
        self.account.submit(create(5))
        self.cancel_all()
        self.upstream.named("create_order")[0][2].callback(created(77))
        self.upstream.named("cancel_all")[0][2].errback(APIError(429, "RATE_LIMIT_EXCEEDED"))
        self.assertEqual(self.upstream.named("cancel_order"), [])
        self.assertEqual(self.kinds(), ["order_accepted", "order_cancel_all_rejected"])
        self.assertTrue(self.state.orders[77].live)
        self.assertFalse(self.state.orders[77].cancelling)
        self.flushLoggedErrors()

    def test_a_cancel_all_covers_a_create_without_an_answer_found_placed_later(self) -> None:
        self.account.submit(create(5, label="scalp"))
        [(_, sent_with, answer)] = self.upstream.named("create_order")
        answer.errback(RequestTimeout("no answer"))
        self.clock.advance(2)  # a poll: the upstream answers again; not found yet, so not placed...
        self.assertEqual(self.kinds(), ["order_rejected"])
        # ... so a second one, placed this time, whose answer is lost too.
        self.account.submit(create(6, label="again"))
        [_, (_, sent_with, answer)] = self.upstream.named("create_order")
        answer.errback(RequestTimeout("no answer"))
        self.assertEqual(self.state.pending[sent_with["label"]].unknown, True)
        self.account.failures = 0  # the upstream answers again: a cancel-all can go
        self.cancel_all()
        self.upstream.named("cancel_all")[0][2].callback(None)
        self.assertTrue(BridgeState.load(1, self.state.path).pending[sent_with["label"]].cancel)  # durable
        self.placed(78, sent_with["label"])
        self.clock.advance(2)
        self.assertEqual(self.kinds(), ["order_rejected", "order_cancel_all_accepted", "order_accepted"])
        self.assertEqual([args for args, _, _ in self.upstream.named("cancel_order")], [(78,)])
        self.assertTrue(self.state.orders[78].cancelling)
        self.flushLoggedErrors()

    def test_a_state_that_cannot_be_saved_stops_the_account(self) -> None:
        lost: list[str] = []
        self.account._on_state_lost = lost.append
        self.account.submit(create(5))
        self.upstream.named("create_order")[0][2].callback(created(77))
        self.state.path = pathlib.Path(self.mktemp()) / "gone" / "account-1.json"
        self.upstream.rows = [row(1, "order.execute", 77, price=2500, quantity=40_000)]
        self.clock.advance(1)
        self.assertEqual(self.kinds(), ["order_accepted"])  # the fill is not told: it was not saved
        self.assertEqual(len(lost), 1)
        self.assertIn("cannot save the state of account 1", lost[0])
        self.assertEqual(self.account.broken, lost[0])
        # It stops: no poll, no order, nothing more told.
        polls = self.account.polls
        self.account.submit(create(6))
        self.clock.advance(10)
        self.assertEqual((self.account.polls, len(self.upstream.named("create_order")), len(self.sent)), (polls, 1, 1))
        self.flushLoggedErrors()

    def test_the_state_is_saved_before_a_message_is_sent(self) -> None:
        seen: list[int] = []

        def deliver(account_id: int, payload: seto_pb2.Payload) -> None:
            seen.append(BridgeState.load(1, self.state.path).sequence)

        self.account._deliver = deliver
        self.account.submit(create(5))
        self.upstream.named("create_order")[0][2].callback(created(77))
        self.assertEqual(seen, [1])
        restored = BridgeState.load(1, self.state.path)
        self.assertEqual((list(restored.orders), restored.cursor), ([77], (0, 0)))
        self.assertEqual([p.order_accepted.order_id for p in restored.messages_since(0)], [77])


class OpenedTests(unittest.TestCase):
    """A new account's cursor is set before any login of it is answered (`opened`)."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.upstream = ScriptedUpstream(self.clock)
        self.upstream.rows = [row(3, "order.execute", 40), row(4, "order.book.cancel", 40)]
        self.state = BridgeState(1, pathlib.Path(self.mktemp()))
        self.account = UpstreamAccount(self.clock, 1, "trader", self.state, lambda _, p: None)

    def test_logins_meanwhile_wait_for_the_one_read(self) -> None:
        self.upstream.activity_paused = paused = Deferred()
        first, second = self.account.opened(self.upstream), self.account.opened(self.upstream)  # type: ignore[arg-type]
        self.assertEqual((first.called, second.called, self.state.cursor), (False, False, None))
        paused.callback(ActivityPage(self.upstream.rows[-1:]))
        self.assertEqual((first.called, second.called, self.state.cursor), (True, True, (4, 0)))
        self.assertEqual(BridgeState.load(1, self.state.path).cursor, (4, 0))  # saved
        self.assertTrue(self.account.opened(self.upstream).called)  # type: ignore[arg-type]  # no read again

    def test_a_failed_read_fails_the_logins_and_the_next_reads_again(self) -> None:
        self.upstream.activity_error = ConnectionError("refused")
        failed = self.account.opened(self.upstream)  # type: ignore[arg-type]
        self.failureResultOf(failed, ConnectionError)
        self.assertIsNone(self.state.cursor)
        self.successResultOf(self.account.opened(self.upstream))  # type: ignore[arg-type]
        self.assertEqual(self.state.cursor, (4, 0))


class StateTests(unittest.TestCase):
    def test_a_damaged_file_is_one_clear_error(self) -> None:
        path = pathlib.Path(self.mktemp())
        path.write_text("{not json")
        with self.assertRaises(StateFileError) as caught:
            BridgeState.load(1, path)
        self.assertIn(str(path), str(caught.exception))

    def test_a_damaged_pending_create_is_the_files_error(self) -> None:
        path = pathlib.Path(self.mktemp())
        state = BridgeState(1, path)
        state.pending["x#txb-0"] = PendingCreate("x#txb-0", b"\xff\xff")
        state.save()
        with self.assertRaises(StateFileError):
            BridgeState.load(1, path)

    def test_another_accounts_file_is_refused(self) -> None:
        path = pathlib.Path(self.mktemp())
        BridgeState(2, path).save()
        with self.assertRaises(StateFileError):
            BridgeState.load(1, path)


class ReasonsTests(unittest.TestCase):
    def test_create_errors(self) -> None:
        rejected, invalid = seto_pb2.PAYLOAD_ORDER_REJECTED, seto_pb2.PAYLOAD_ORDER_INVALID
        cases = [
            (HTTPOrderRejected(400, "ORDER_REJECTED_INSUFFICIENT_FUNDS"), (rejected, [seto_pb2.ORDER_REJECTED_INSUFFICIENT_FUNDS])),
            (HTTPOrderRejected(400, "ORDER_CANCELLED_MARKET_HALTED"), (rejected, [seto_pb2.ORDER_REJECTED_MARKET_HALTED])),
            (HTTPOrderInvalid(400, "ORDER_INVALID_INVALID_QUANTITY, ORDER_INVALID_INVALID_PRICE"),
             (invalid, [seto_pb2.ORDER_INVALID_INVALID_QUANTITY, seto_pb2.ORDER_INVALID_INVALID_PRICE])),
            (APIError(403, "FORBIDDEN"), (rejected, [seto_pb2.ORDER_REJECTED_ACCOUNT_SUSPENDED])),
            (QueueFull("create_order", 100), (rejected, [seto_pb2.ORDER_REJECTED_THROTTLE_EXCEEDED])),
            (APIError(503, "ORDER_UNAVAILABLE"), (rejected, [seto_pb2.ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE])),
            (RequestTimeout("none"), (rejected, [seto_pb2.ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE])),
        ]  # fmt: skip
        for error, answer in cases:
            self.assertEqual(create_answer(error), answer, error)

    def test_cancel_errors(self) -> None:
        self.assertEqual(cancel_rejected_reason(CancelRejected(404, "ORDER_CANCEL_REJECTED_NOT_FOUND")),
                         seto_pb2.ORDER_CANCEL_REJECTED_NOT_FOUND)  # fmt: skip
        self.assertEqual(cancel_rejected_reason(APIError(500, "INTERNAL_ERROR")),
                         seto_pb2.ORDER_CANCEL_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE)  # fmt: skip


class QuotesUpstream:
    """Quotes, last executed prices, contracts and events' markets for the market data,
    counting the requests (the id lists split under each endpoint's cap, as the client
    splits them)."""

    def __init__(self, clock: Clock) -> None:
        self.limits = RateLimits(clock)
        self.books: dict[int, ContractQuotes] = {}
        self.states: dict[int, str] = {}
        #: The contracts' states (``state_or_outcome``), "open" if not given.
        self.contract_states: dict[int, str] = {}
        self.requests: list[float] = []
        #: Last executed prices by contract id: (price, seconds after T0), or None.
        self.traded: dict[int, tuple[int, float] | None] = {}
        self.price_requests: list[float] = []
        #: The events' markets the catalogue has, and the lookups asked (their event ids).
        self.event_markets: dict[int, list[int]] = {}
        self.event_requests: list[list[int]] = []
        #: If set, the next lookup of events' markets is answered when the test fires it.
        self.events_paused: Deferred[None] | None = None
        self.clock = clock

    def contracts(self, market_ids: list[int]) -> Deferred[list[Contract]]:
        from datetime import datetime, timezone

        when = datetime(2030, 1, 1, tzinfo=timezone.utc)
        return succeed([Contract(id=10 * m + n, market_id=m, name="c", slug="c",
                                 state_or_outcome=self.contract_states.get(10 * m + n, "open"),
                                 outcome_timestamp=None, created=when, modified=when)
                        for m in market_ids for n in (1, 2)])  # fmt: skip

    #: Seconds each quotes request takes to be answered.
    delay = 0.0

    def quotes(self, market_ids: list[int]) -> Deferred[dict[int, ContractQuotes]]:
        for _ in range(0, len(market_ids), 200):
            self.requests.append(self.clock.seconds())
        if not self.delay:
            return succeed(dict(self.books))
        answer: Deferred[dict[int, ContractQuotes]] = Deferred()
        self.clock.callLater(self.delay, lambda books: answer.callback(books), dict(self.books))
        return answer

    def last_executed_prices(self, market_ids: list[int]) -> Deferred[dict[int, list[LastExecutedPrice]]]:
        from datetime import timedelta

        for _ in range(0, len(market_ids), 100):
            self.price_requests.append(self.clock.seconds())
        prices: dict[int, list[LastExecutedPrice]] = {}
        for contract_id, trade in self.traded.items():
            market_id = contract_id // 10
            if market_id in market_ids:
                when = None if trade is None else T0 + timedelta(seconds=trade[1])
                prices.setdefault(market_id, []).append(
                    LastExecutedPrice(contract_id, None if trade is None else trade[0], when)
                )
        return succeed(prices)

    def markets_by_event(self, event_ids: list[int]) -> Deferred[list[Any]]:
        self.event_requests.append(list(event_ids))
        found = [SimpleNamespace(id=m, event_id=e) for e in event_ids for m in self.event_markets.get(e, ())]
        if self.events_paused is None:
            return succeed(found)
        paused, self.events_paused = self.events_paused, None
        return paused.addCallback(lambda _: found)

    def markets(self, market_ids: list[int]) -> Deferred[list[Any]]:
        from types import SimpleNamespace

        return succeed([SimpleNamespace(id=m, state=self.states[m]) for m in market_ids if m in self.states])

    def close(self) -> Deferred[None]:
        return succeed(None)


class MarketDataTests(unittest.TestCase):
    def test_snapshot_then_changes_within_the_quotes_limit(self) -> None:
        clock = Clock()
        upstream = QuotesUpstream(clock)
        published: list[seto_pb2.Payload] = []
        watched = {5}
        data = BridgeMarketData(clock, upstream, lambda m, p: published.append(p), watched.__contains__)  # type: ignore[arg-type]
        upstream.books = {51: ContractQuotes([PriceLevel(2500, 10_000)], [PriceLevel(9999, 2**31 - 2)])}
        self.assertEqual(list(data.snapshot(5).market_quotes.contract_quotes), [])
        clock.advance(0)
        # Contract 51 is news: every level; the placeholder offer is no liquidity.
        [first] = published
        self.assertEqual([(q.price, q.quantity) for q in first.contract_quotes.bids], [(2500, 10_000)])
        self.assertEqual(list(first.contract_quotes.offers), [])
        self.assertEqual([(q.price, q.quantity) for q in data.snapshot(5).market_quotes.contract_quotes[0].bids],
                         [(2500, 10_000)])  # fmt: skip
        upstream.books = {51: ContractQuotes([PriceLevel(2439, 5_000)], [])}
        for _ in range(600):
            clock.advance(0.1)
        # 50 requests a minute at most: one every 1.2 s.
        self.assertEqual(len([t for t in upstream.requests if t < 60 - 1e-6]), 50)
        gaps = [b - a for a, b in zip(upstream.requests, upstream.requests[1:])]
        self.assertGreaterEqual(min(gaps), 1.2 - 1e-9)
        change = published[1].contract_quotes
        self.assertEqual(sorted((q.price, q.quantity) for q in change.bids), [(2439, 5_000), (2500, 0)])
        self.assertEqual(len(published), 2)
        # The catalogue, every 10 s: a change of the market's state is a market_state.
        upstream.states[5] = "open"
        clock.advance(10)
        upstream.states[5] = "halted"
        clock.advance(10)
        states = [p.market_state for p in published if p.type == seto_pb2.PAYLOAD_MARKET_STATE]
        self.assertEqual([(s.market_id, s.state) for s in states], [(5, seto_pb2.MARKET_STATE_HALTED)])
        # Nobody watches it any more: no more requests.
        watched.clear()
        clock.advance(5)
        count = len(upstream.requests)
        clock.advance(60)
        self.assertEqual(len(upstream.requests), count)


    def test_contract_states_are_in_the_market_state(self) -> None:
        """A change of the market's state, or of one of its contracts' alone, is a
        market_state with every contract's state; a settled market's winners and losers
        are settled."""
        clock, upstream, data, published = self.market_data({5})
        upstream.states[5] = "open"
        data.snapshot(5)
        clock.advance(0)

        def told() -> list[tuple[int, list[tuple[int, int]]]]:
            return [
                (p.market_state.state, [(c.contract_id, c.state) for c in p.market_state.contracts])
                for p in published if p.type == seto_pb2.PAYLOAD_MARKET_STATE
            ]  # fmt: skip

        clock.advance(10)
        self.assertEqual(told(), [])  # the first states seen are no change
        upstream.contract_states[52] = "voided"
        clock.advance(10)
        open_, voided = seto_pb2.CONTRACT_STATE_OPEN, seto_pb2.CONTRACT_STATE_VOIDED
        self.assertEqual(told(), [(seto_pb2.MARKET_STATE_OPEN, [(51, open_), (52, voided)])])
        upstream.states[5] = "settled"
        upstream.contract_states.update({51: "winner", 52: "unavailable"})
        clock.advance(10)
        self.assertEqual(told()[1:], [(seto_pb2.MARKET_STATE_SETTLED, [(51, seto_pb2.CONTRACT_STATE_SETTLED)])])
        clock.advance(10)
        self.assertEqual(len(told()), 2)

    def market_data(self, watched: set[int]) -> tuple[Clock, QuotesUpstream, BridgeMarketData, list[seto_pb2.Payload]]:
        clock = Clock()
        upstream = QuotesUpstream(clock)
        published: list[seto_pb2.Payload] = []
        data = BridgeMarketData(clock, upstream, lambda m, p: published.append(p), watched.__contains__)  # type: ignore[arg-type]
        return clock, upstream, data, published

    def test_executions_are_told_once(self) -> None:
        """A new last executed price is the trades of the levels it went through, in the
        round's contract_quotes and then as the contract's last execution; a price seen
        before, even after the market was forgotten and polled again, is told no more."""
        watched = {5}
        clock, upstream, data, published = self.market_data(watched)
        upstream.books = {51: ContractQuotes([PriceLevel(4000, 10_000)], [PriceLevel(5000, 100_000), PriceLevel(5102, 50_000)])}
        upstream.traded = {51: None, 52: (4000, 0)}  # 51 never traded; 52 did, before the polls began
        data.snapshot(5)
        clock.advance(0)
        self.assertEqual([list(p.contract_quotes.executions) for p in published], [[]])
        # Buyers take all of 5000 and some of 5102.
        upstream.books = {51: ContractQuotes([PriceLevel(4000, 10_000)], [PriceLevel(5102, 20_000)])}
        upstream.traded[51] = (5102, 5)
        published.clear()
        clock.advance(1.2)
        [change] = published
        quotes = change.contract_quotes
        self.assertEqual([(e.price, e.quantity, e.liquidity) for e in quotes.executions],
                         [(5000, 100_000, seto_pb2.SIDE_BUY), (5102, 30_000, seto_pb2.SIDE_BUY)])  # fmt: skip
        self.assertEqual(quotes.executions[0].microseconds, int((T0.timestamp() + 5) * 1_000_000))
        self.assertEqual((quotes.last_execution.price, quotes.last_execution.quantity), (5102, 30_000))
        self.assertEqual(sorted((q.price, q.quantity) for q in quotes.offers), [(5000, 0), (5102, 20_000)])
        self.assertEqual(data.executions, 2)
        # The same price again: nothing new. A level change carries the last execution.
        published.clear()
        clock.advance(1.2)
        self.assertEqual(published, [])
        upstream.books[51] = ContractQuotes([PriceLevel(4000, 10_000)], [PriceLevel(5102, 25_000)])
        clock.advance(1.2)
        [change] = published
        self.assertEqual(list(change.contract_quotes.executions), [])
        self.assertEqual(change.contract_quotes.last_execution.price, 5102)
        # A new subscriber's snapshot has it too.
        [book] = [c for c in data.snapshot(5).market_quotes.contract_quotes if c.contract_id == 51]
        self.assertEqual((book.last_execution.price, book.last_execution.quantity), (5102, 30_000))
        # Forgotten, then polled again: the price it saw is not told again.
        watched.clear()
        clock.advance(1.2)
        watched.add(5)
        published.clear()
        data.snapshot(5)
        clock.advance(1.2)
        self.assertEqual([list(p.contract_quotes.executions) for p in published if p.contract_quotes.executions], [])
        self.assertEqual(data.executions, 2)

    def test_the_prices_are_asked_with_each_round_in_as_few_requests_as_the_cap_allows(self) -> None:
        """150 markets: one quotes request (200 a request) and two of last executed prices
        (100 a request) a round, the rounds at the quotes' pace."""
        markets = set(range(1, 151))
        clock, upstream, data, published = self.market_data(markets)
        for market_id in sorted(markets):
            data.snapshot(market_id)
        for _ in range(600):
            clock.advance(0.1)
        self.assertEqual(len([t for t in upstream.requests if t < 60 - 1e-6]), 50)
        self.assertEqual(len(upstream.price_requests), 2 * len(upstream.requests))
        self.assertEqual(sorted(set(upstream.price_requests)), sorted(set(upstream.requests)))

    def test_refused_prices_are_asked_no_more(self) -> None:
        """An upstream that refuses the last executed prices without an account: the quotes
        go on, the prices are not asked again."""
        clock, upstream, data, published = self.market_data({5})

        def refuse(market_ids: list[int]) -> Deferred[Any]:
            upstream.price_requests.append(clock.seconds())
            return Deferred.fromCoroutine(_raise(APIError(401, "AUTH_REQUIRED")))

        upstream.last_executed_prices = refuse  # type: ignore[method-assign]
        upstream.books = {51: ContractQuotes([PriceLevel(4000, 10_000)], [])}
        data.snapshot(5)
        for _ in range(5):
            clock.advance(1.2)
        self.assertTrue(data.prices.refused)
        self.assertEqual(len(upstream.price_requests), 1)
        self.assertEqual(len(upstream.requests), 5)
        self.assertEqual(len(published), 1)  # the book, told all the same

    def test_events_looked_up_together_and_kept_a_while(self) -> None:
        """The events asked in one turn are one request; an answer is kept for the catalogue
        interval; an event the upstream has not has no markets."""
        clock, upstream, data, published = self.market_data(set())
        upstream.event_markets = {7: [70, 71], 8: [80]}
        found: list[tuple[int, list[int]]] = []
        for event_id in (7, 8, 9):
            data.lookup_event(event_id).addCallback(lambda ids, e=event_id: found.append((e, ids)))
        self.assertEqual(found, [])
        clock.advance(0)
        self.assertEqual(upstream.event_requests, [[7, 8, 9]])
        self.assertEqual(sorted(found), [(7, [70, 71]), (8, [80]), (9, [])])
        self.assertEqual(data.event_markets(7), [70, 71])
        data.lookup_event(7).addCallback(lambda ids: found.append((7, ids)))
        self.assertEqual((len(upstream.event_requests), found[-1]), (1, (7, [70, 71])))
        clock.advance(10)
        upstream.event_markets[7] = [70, 71, 72]
        data.lookup_event(7).addCallback(lambda ids: found.append((7, ids)))
        clock.advance(0)
        self.assertEqual((len(upstream.event_requests), found[-1]), (2, (7, [70, 71, 72])))

    def test_a_lookup_under_way_when_it_stops_fails(self) -> None:
        clock, upstream, data, published = self.market_data(set())
        waiting = data.lookup_event(7)
        data.stop()
        self.failureResultOf(waiting, RuntimeError)
        self.failureResultOf(data.lookup_event(8), RuntimeError)
        clock.advance(1)
        self.assertEqual(upstream.event_requests, [])


async def _raise(error: Exception) -> Any:
    raise error


    def test_the_age_of_what_is_handed_downstream(self) -> None:
        # Each quotes answer takes 0.25 s: what it changes is handed downstream 0.25 s
        # after its request, the age of each payload published.
        clock = Clock()

        def run(seconds: float) -> None:
            # Small steps (exact in binary): a Clock runs what a step's calls schedule from
            # the step's end.
            for _ in range(round(seconds * 32)):
                clock.advance(1 / 32)

        upstream = QuotesUpstream(clock)
        upstream.delay = 0.25
        published: list[seto_pb2.Payload] = []
        data = BridgeMarketData(clock, upstream, lambda m, p: published.append(p), {5, 6}.__contains__)  # type: ignore[arg-type]
        self.assertEqual((data.ages.percentile(50), data.ages.count), (None, 0))
        data.snapshot(5)
        run(0.125)
        # A market subscribed to while a round is under way waits for the next round: no
        # second round beside the first.
        data.snapshot(6)
        run(0.0625)
        self.assertEqual(upstream.requests, [1 / 32])
        for n in range(1, 11):
            upstream.books = {51: ContractQuotes([PriceLevel(2500, 10_000 * n)], []), 61: ContractQuotes([], [PriceLevel(3000, n)])}
            run(1.45)
        # The next round 1.2 s after the answer: 0.25 + 1.2 s after the request (to a step).
        gaps = [b - a for a, b in zip(upstream.requests, upstream.requests[1:])]
        self.assertTrue(all(1.45 - 1e-6 <= gap <= 1.45 + 1 / 32 + 1e-6 for gap in gaps), gaps)
        run(3)  # the last books polled
        # One age a payload handed downstream (both contracts change at most rounds).
        self.assertGreaterEqual(len(published), 16)
        self.assertEqual(data.ages.count, len(published))
        self.assertEqual((data.ages.percentile(50), data.ages.percentile(99)), (0.25, 0.25))
        # No change, nothing handed downstream: no age.
        run(10)
        self.assertEqual(data.ages.count, len(published))

    def test_ages_are_a_bounded_sample(self) -> None:
        from txsmarkets.bridge.figures import Ages

        ages = Ages(size=100)
        for n in range(1, 1001):
            ages.add(n / 1000)
        # The last 100 (0.901 .. 1.0) are kept; every one is counted.
        self.assertEqual((ages.count, ages.percentile(50), ages.percentile(99), ages.percentile(0)), (1000, 0.95, 0.999, 0.901))


class ClientsTests(unittest.TestCase):
    def test_each_login_its_own_client_sharing_the_accounts_limits(self) -> None:
        from txsmarkets.bridge.account import MAX_CLIENTS

        clock = Clock()
        account = UpstreamAccount(clock, 1, "trader", BridgeState(1), lambda _, p: None)
        closed: list[int] = []
        clients = []
        for n in range(MAX_CLIENTS + 1):
            client = ScriptedUpstream(clock)
            client.close = lambda n=n: closed.append(n) or succeed(None)  # type: ignore[method-assign]
            clients.append(client)
            account.add_client(client)  # type: ignore[arg-type]
        self.assertIs(account.client, clients[-1])
        self.assertEqual(closed, [0])  # the oldest login's upstream session is logged out
        self.assertEqual({id(c.limits) for c in account.clients}, {id(clients[0].limits)})
