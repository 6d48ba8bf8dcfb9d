"""The embedded exchange: catalogue, accounts and the matching engine's rules and messages."""

from __future__ import annotations

import json
import pathlib
from collections import namedtuple
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from txsmarkets.wire import seto_pb2
from txsmarkets.errors import Error
from txsmarkets.exchange import (
    BUY,
    SELL,
    AccountRegistry,
    CatalogueError,
    MatchingEngine,
    UnknownAccount,
    UnknownMarket,
    demo_catalogue,
    load_catalogue,
    parse_catalogue,
)
from txsmarkets.exchange.accounts import Credentials, MarketPosition
from txsmarkets.odds import buy_liability, sell_liability

Msg = namedtuple("Msg", "account kind body payload")

DEMO = 1  # account ids in the demo catalogue
DEMO2 = 2

# Fields of account-stream bodies the engine must fill in.
_SEQUENCED = {
    name
    for name, desc in seto_pb2.Payload.DESCRIPTOR.fields_by_name.items()
    if desc.message_type is not None and "account_sequence_64" in desc.message_type.fields_by_name
}


def kind_of(payload: seto_pb2.Payload) -> str:
    return seto_pb2.PayloadType.Name(payload.type)[len("PAYLOAD_") :].lower()


def three_accounts(balance: str = "1000.00") -> Any:
    return parse_catalogue(
        {
            "accounts": [
                {"username": name, "password": name, "balance": balance} for name in ("a", "b", "c")
            ],
            "events": [
                {
                    "id": 1,
                    "name": "Match",
                    "markets": [
                        {
                            "id": 1,
                            "name": "Winner",
                            "contracts": [
                                {"id": 11, "name": "Home"},
                                {"id": 12, "name": "Draw"},
                                {"id": 13, "name": "Away"},
                            ],
                        },
                        {
                            "id": 2,
                            "name": "Goals",
                            "contracts": [{"id": 21, "name": "Over"}, {"id": 22, "name": "Under"}],
                        },
                    ],
                }
            ],
        }
    )


_THREE = three_accounts()


class Exchange:
    """A MatchingEngine with recording listeners that check every message they are given."""

    def __init__(
        self, test: unittest.SynchronousTestCase, catalogue: Any = None, **kwargs: Any
    ) -> None:
        self.test = test
        self.clock = 1000.25
        self.engine = MatchingEngine(
            catalogue or demo_catalogue(), now=lambda: self.clock, **kwargs
        )
        self.engine.on_account = self._on_account
        self.engine.on_market = self._on_market
        self.account_log: list[Msg] = []
        self.market_log: list[Msg] = []
        self.sequences: dict[int, int] = {}
        self.seq = 0

    def _check_complete(self, payload: seto_pb2.Payload) -> str:
        kind = kind_of(payload)
        self.test.assertTrue(payload.IsInitialized(), payload)
        self.test.assertTrue(payload.HasField("eto_payload"))
        self.test.assertEqual(payload.eto_payload.seq, 0)
        self.test.assertTrue(payload.HasField(kind), kind)
        return kind

    def _on_account(self, account_id: int, payload: seto_pb2.Payload) -> None:
        kind = self._check_complete(payload)
        body = getattr(payload, kind)
        sequence = self.sequences.get(account_id, 0) + 1
        self.sequences[account_id] = sequence
        if kind in _SEQUENCED:
            self.test.assertEqual(body.account_sequence_64, sequence, kind)
            self.test.assertEqual(body.account_sequence, sequence, kind)
        account = self.engine.accounts[account_id]
        if "available_balance" in body.DESCRIPTOR.fields_by_name:
            self.test.assertEqual(body.available_balance, float(account.available_balance), kind)
            self.test.assertEqual(body.exposure, float(account.exposure), kind)
        self.account_log.append(Msg(account_id, kind, body, payload))

    def _on_market(self, market_id: int, payload: seto_pb2.Payload) -> None:
        kind = self._check_complete(payload)
        self.market_log.append(Msg(market_id, kind, getattr(payload, kind), payload))

    def take(self) -> tuple[list[Msg], list[Msg]]:
        """The account and market messages since the last take."""
        account, market = self.account_log, self.market_log
        self.account_log, self.market_log = [], []
        return account, market

    def submit(self, account_id: int, payload: seto_pb2.Payload) -> list[Msg]:
        self.seq += 1
        payload.eto_payload.seq = self.seq
        self.engine.submit(account_id, payload)
        return self.account_log[:]

    def create(
        self,
        account_id: int,
        side: int,
        price: int,
        quantity: int,
        contract_id: int = 11,
        market_id: int = 1,
        **fields: Any,
    ) -> list[Msg]:
        self.take()
        payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CREATE)
        create = payload.order_create
        create.side = side
        create.price = price
        create.quantity = quantity
        create.market_id = market_id
        create.contract_id = contract_id
        for name, value in fields.items():
            setattr(create, name, value)
        return self.submit(account_id, payload)

    def order_id(self, account_id: int, side: int, price: int, quantity: int, **kwargs: Any) -> int:
        """Place an order that must be accepted; its id."""
        msgs = self.create(account_id, side, price, quantity, **kwargs)
        self.test.assertEqual(msgs[0].kind, "order_accepted", msgs)
        return msgs[0].body.order_id

    def request(self, account_id: int, kind: str, **fields: Any) -> list[Msg]:
        self.take()
        payload = seto_pb2.Payload(type=getattr(seto_pb2, "PAYLOAD_" + kind.upper()))
        body = getattr(payload, kind)
        body.SetInParent()
        for name, value in fields.items():
            setattr(body, name, value)
        return self.submit(account_id, payload)

    def account(self, account_id: int) -> Any:
        return self.engine.accounts[account_id]


def kinds(msgs: list[Msg]) -> list[str]:
    return [m.kind for m in msgs]


class CreateTests(unittest.SynchronousTestCase):
    def test_accepted(self) -> None:
        ex = Exchange(self)
        msgs = ex.create(DEMO, BUY, 2500, 400000, reference=77, label="mine")
        self.assertEqual(kinds(msgs), ["order_accepted"])
        body = msgs[0].body
        self.assertEqual(msgs[0].account, DEMO)
        self.assertEqual(body.seq, ex.seq)
        self.assertEqual((body.price, body.quantity, body.side), (2500, 400000, BUY))
        self.assertEqual((body.market_id, body.contract_id), (1, 11))
        self.assertEqual((body.reference, body.label), (77, "mine"))
        self.assertEqual((body.account_sequence, body.account_sequence_64), (1, 1))
        self.assertEqual((body.available_balance, body.exposure), (990.0, 10.0))
        self.assertEqual(ex.account(DEMO).exposure, Decimal("10"))
        _, market = ex.take()
        self.assertEqual(kinds(market), ["contract_quotes"])
        quotes = market[0].body
        self.assertEqual((market[0].account, quotes.market_id, quotes.contract_id), (1, 1, 11))
        self.assertEqual([(q.price, q.quantity) for q in quotes.bids], [(2500, 400000)])
        self.assertEqual(len(quotes.offers), 0)
        self.assertEqual(len(quotes.executions), 0)

    def test_order_ids_differ(self) -> None:
        ex = Exchange(self)
        ids = {ex.order_id(DEMO, BUY, 2000, 100) for _ in range(5)}
        self.assertEqual(len(ids), 5)

    def test_invalid(self) -> None:
        ex = Exchange(self)
        for price, quantity, reasons in (
            (2400, 100, [seto_pb2.ORDER_INVALID_INVALID_PRICE]),
            (0, 100, [seto_pb2.ORDER_INVALID_INVALID_PRICE]),
            (10000, 100, [seto_pb2.ORDER_INVALID_INVALID_PRICE]),
            (2500, 0, [seto_pb2.ORDER_INVALID_INVALID_QUANTITY]),
            (
                2401,
                0,
                [seto_pb2.ORDER_INVALID_INVALID_PRICE, seto_pb2.ORDER_INVALID_INVALID_QUANTITY],
            ),
        ):
            msgs = ex.create(DEMO, BUY, price, quantity, reference=5)
            self.assertEqual(kinds(msgs), ["order_invalid"])
            self.assertEqual(list(msgs[0].body.reasons), reasons)
            self.assertEqual((msgs[0].body.seq, msgs[0].body.reference), (ex.seq, 5))
        self.assertEqual(ex.take()[1], [])

    def test_empty_create_body_is_refused(self) -> None:
        """No side, market or contract: nothing to answer with a reason, nothing done."""
        ex = Exchange(self)
        payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CREATE)
        payload.eto_payload.seq = 1
        self.assertEqual(ex.engine.submit(DEMO, payload), "order_create payload without its body")
        payload.order_create.SetInParent()
        self.assertEqual(ex.engine.submit(DEMO, payload), "order_create.side missing")
        self.assertEqual(ex.take(), ([], []))

    def _raw_create(self, ex: Exchange, extra: bytes = b"", **fields: Any) -> str | None:
        """Submit an order_create of ``fields`` (defaults: a valid buy), then ``extra`` raw
        bytes appended to its body (an enum value the schema does not know, say)."""
        ex.take()
        values = dict(side=BUY, price=2500, quantity=1000, market_id=1, contract_id=11)
        values.update(fields)
        create = seto_pb2.OrderCreate(**{k: v for k, v in values.items() if v is not None})
        body = seto_pb2.OrderCreate.FromString(create.SerializePartialToString() + extra)
        payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CREATE)
        payload.order_create.CopyFrom(body)
        ex.seq += 1
        payload.eto_payload.seq = ex.seq
        return ex.engine.submit(DEMO, payload)

    def test_required_fields_without_reason_are_refused(self) -> None:
        ex = Exchange(self)
        for field in ("side", "market_id", "contract_id"):
            self.assertEqual(self._raw_create(ex, **{field: None}), f"order_create.{field} missing")
            self.assertEqual(ex.take(), ([], []))

    def test_unknown_enum_values_without_reason_are_refused(self) -> None:
        """A side of 99 is not a buy, a tif of 99 not good-til-cancelled, a type of 99 not
        a limit order: each is refused and nothing trades."""
        ex = Exchange(self)
        self.assertEqual(
            self._raw_create(ex, extra=bytes([4 << 3, 99]), side=None),
            "order_create.side missing",
        )
        for number, name in ((10, "tif"), (1, "type")):
            self.assertEqual(
                self._raw_create(ex, extra=bytes([number << 3, 99])),
                f"order_create.{name} has a value this schema does not know",
            )
            self.assertEqual(ex.take(), ([], []))
        self.assertEqual(ex.engine.accounts[DEMO].orders, {})

    def test_missing_or_unknown_price_and_quantity_are_invalid(self) -> None:
        ex = Exchange(self)
        price, quantity = seto_pb2.ORDER_INVALID_INVALID_PRICE, seto_pb2.ORDER_INVALID_INVALID_QUANTITY
        for fields, extra, reasons in (
            ({"price": None}, b"", [price]),
            ({"quantity": None}, b"", [quantity]),
            ({"price": None, "quantity": None}, b"", [price, quantity]),
            ({}, bytes([7 << 3, 99]), [price]),  # price_type 99
            ({}, bytes([5 << 3, 99]), [quantity]),  # quantity_type 99
        ):
            self.assertIsNone(self._raw_create(ex, extra, **fields))
            msgs = ex.take()[0]
            self.assertEqual(kinds(msgs), ["order_invalid"], fields)
            self.assertEqual(list(msgs[0].body.reasons), reasons, fields)
        self.assertEqual(ex.engine.accounts[DEMO].orders, {})

    def test_unknown_fields_the_schema_does_not_declare_are_ignored(self) -> None:
        """A newer client's additions (field 99 here) do not make a request wrong."""
        ex = Exchange(self)
        self.assertIsNone(self._raw_create(ex, extra=bytes([0x98, 0x06, 1])))
        self.assertEqual(kinds(ex.take()[0]), ["order_accepted"])

    def test_other_requests_missing_required_fields_are_refused(self) -> None:
        ex = Exchange(self)
        for kind, field, missing in (
            (seto_pb2.PAYLOAD_ORDER_CANCEL, "order_cancel", "order_id"),
            (seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE, "order_quantity_reduce", "order_id"),
            (seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE, "order_cancel_replace", "orig_order_id"),
        ):
            payload = seto_pb2.Payload(type=kind)
            getattr(payload, field).SetInParent()
            payload.eto_payload.seq = 1
            self.assertEqual(ex.engine.submit(DEMO, payload), f"{field}.{missing} missing")
        self.assertEqual(ex.take(), ([], []))
        # A reduce with its order but no new quantity has a reason of its own.
        payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE)
        payload.order_quantity_reduce.order_id = 77
        payload.eto_payload.seq = 2
        self.assertIsNone(ex.engine.submit(DEMO, payload))
        self.assertEqual(kinds(ex.take()[0]), ["order_quantity_reduce_rejected"])

    def assertRejected(self, msgs: list[Msg], reason: int) -> None:
        self.assertEqual(kinds(msgs), ["order_rejected"])
        self.assertEqual(
            seto_pb2.OrderRejectedReason.Name(msgs[0].body.reason),
            seto_pb2.OrderRejectedReason.Name(reason),
        )

    def test_unknown_market_and_contract(self) -> None:
        ex = Exchange(self)
        msgs = ex.create(DEMO, BUY, 2500, 100, market_id=99, reference=3, label="l")
        self.assertRejected(msgs, seto_pb2.ORDER_REJECTED_MARKET_NOT_FOUND)
        self.assertEqual(
            (msgs[0].body.seq, msgs[0].body.reference, msgs[0].body.label), (ex.seq, 3, "l")
        )
        self.assertRejected(
            ex.create(DEMO, BUY, 2500, 100, contract_id=21),
            seto_pb2.ORDER_REJECTED_CONTRACT_NOT_FOUND,
        )
        self.assertRejected(
            ex.create(DEMO, BUY, 2500, 100, contract_id=99),
            seto_pb2.ORDER_REJECTED_CONTRACT_NOT_FOUND,
        )

    def test_market_states(self) -> None:
        ex = Exchange(self)
        ex.engine.set_market_state(1, "new")
        self.assertRejected(
            ex.create(DEMO, BUY, 2500, 100), seto_pb2.ORDER_REJECTED_MARKET_NOT_OPEN
        )
        ex.engine.set_market_state(1, "halted")
        self.assertRejected(ex.create(DEMO, BUY, 2500, 100), seto_pb2.ORDER_REJECTED_MARKET_HALTED)
        ex.engine.set_market_state(1, "live")
        self.assertEqual(kinds(ex.create(DEMO, BUY, 2500, 100)), ["order_accepted"])
        ex.engine.settle_market(1, [11])
        self.assertRejected(ex.create(DEMO, BUY, 2500, 100), seto_pb2.ORDER_REJECTED_MARKET_SETTLED)
        ex.engine.void_market(2)
        self.assertRejected(
            ex.create(DEMO, BUY, 2500, 100, 21, 2), seto_pb2.ORDER_REJECTED_MARKET_SETTLED
        )

    def test_insufficient_funds(self) -> None:
        ex = Exchange(self)
        # Exactly the whole balance: £1,000.00 at 50%.
        ex.order_id(DEMO, BUY, 5000, 20_000_000)
        self.assertEqual(ex.account(DEMO).available_balance, 0)
        self.assertRejected(
            ex.create(DEMO, BUY, 5000, 1), seto_pb2.ORDER_REJECTED_INSUFFICIENT_FUNDS
        )
        self.assertRejected(
            ex.create(DEMO2, SELL, 2500, 13_333_334, contract_id=12),
            seto_pb2.ORDER_REJECTED_INSUFFICIENT_FUNDS,
        )
        self.assertEqual(
            kinds(ex.create(DEMO2, SELL, 2500, 13_333_333, contract_id=12)), ["order_accepted"]
        )
        self.assertEqual(ex.account(DEMO2).exposure, Decimal("999.99997500"))

    def test_crossed_self(self) -> None:
        ex = Exchange(self)
        ex.order_id(DEMO, SELL, 2500, 100)
        msgs = ex.create(DEMO, BUY, 2500, 100, reference=1)
        self.assertRejected(msgs, seto_pb2.ORDER_REJECTED_CROSSED_SELF)
        self.assertEqual(ex.engine.book(11).depth(SELL), [(2500, 100)])
        self.assertEqual(ex.account(DEMO).exposure, sell_liability(2500, 100))

    def test_crossed_self_only_when_reached(self) -> None:
        ex = Exchange(self)
        theirs = ex.order_id(DEMO2, SELL, 2000, 100)
        ex.order_id(DEMO, SELL, 2500, 100)
        # Reaching its own order: rejected and nothing of it trades, not even the 100 at 2000.
        self.assertRejected(ex.create(DEMO, BUY, 2500, 150), seto_pb2.ORDER_REJECTED_CROSSED_SELF)
        self.assertEqual(ex.engine.book(11).depth(SELL), [(2000, 100), (2500, 100)])
        self.assertEqual(ex.take()[1], [])
        # Filled before reaching it: fine.
        msgs = ex.create(DEMO, BUY, 2500, 100)
        self.assertEqual(kinds(msgs), ["order_accepted", "order_executed", "order_executed"])
        self.assertEqual(msgs[2].body.order_id, theirs)

    def test_sell_crosses_self_too(self) -> None:
        ex = Exchange(self)
        ex.order_id(DEMO, BUY, 2500, 100)
        self.assertRejected(ex.create(DEMO, SELL, 2000, 1), seto_pb2.ORDER_REJECTED_CROSSED_SELF)


class TradingTests(unittest.SynchronousTestCase):
    def test_two_accounts_trade(self) -> None:
        ex = Exchange(self)
        s1 = ex.order_id(DEMO2, SELL, 2500, 300000, label="s1")
        s2 = ex.order_id(DEMO2, SELL, 2000, 200000, reference=9)
        ex.take()
        ex.clock = 2000.5
        msgs = ex.create(DEMO, BUY, 2500, 600000, label="b")
        self.assertEqual(
            [(m.account, m.kind) for m in msgs],
            [
                (DEMO, "order_accepted"),
                (DEMO, "order_executed"),
                (DEMO2, "order_executed"),
                (DEMO, "order_executed"),
                (DEMO2, "order_executed"),
            ],
        )
        buy_id = msgs[0].body.order_id
        t1, m1, t2, m2 = (m.body for m in msgs[1:])
        # Best price first, at the resting order's price.
        self.assertEqual((t1.order_id, t1.price, t1.quantity, t1.side), (buy_id, 2000, 200000, BUY))
        self.assertEqual((m1.order_id, m1.price, m1.quantity, m1.side), (s2, 2000, 200000, SELL))
        self.assertEqual((t2.order_id, t2.price, t2.quantity), (buy_id, 2500, 300000))
        self.assertEqual((m2.order_id, m2.price, m2.quantity, m2.label), (s1, 2500, 300000, "s1"))
        for body in (t1, m1, t2, m2):
            self.assertEqual((body.market_id, body.contract_id), (1, 11))
        self.assertEqual(
            (t1.total_executed_quantity, t1.executed_avg_price, t1.available_quantity),
            (200000, 2000, 400000),
        )
        self.assertEqual(
            (t2.total_executed_quantity, t2.executed_avg_price, t2.available_quantity),
            (500000, 2300, 100000),
        )
        self.assertEqual((t2.orig_price, t2.label), (2500, "b"))
        self.assertEqual((m1.total_executed_quantity, m1.available_quantity), (200000, 0))
        # Money: the buyer's unfilled 100000 at 2500 plus its worst case (Home loses) ...
        demo, demo2 = ex.account(DEMO), ex.account(DEMO2)
        self.assertEqual(demo.exposure, Decimal("2.5") + Decimal("4") + Decimal("7.5"))
        # ... and the seller loses 0.8*20 + 0.75*30 if Home wins.
        self.assertEqual(demo2.exposure, Decimal("16") + Decimal("22.5"))
        self.assertEqual(demo.balance + demo2.balance, Decimal("2000.00"))
        # Market data: the changed levels with their new totals, and the executions.
        _, market = ex.take()
        self.assertEqual(kinds(market), ["contract_quotes"])
        quotes = market[0].body
        self.assertEqual([(q.price, q.quantity) for q in quotes.bids], [(2500, 100000)])
        self.assertEqual([(q.price, q.quantity) for q in quotes.offers], [(2000, 0), (2500, 0)])
        self.assertEqual(
            [(e.price, e.quantity, e.liquidity, e.microseconds) for e in quotes.executions],
            [(2000, 200000, BUY, 2000500000), (2500, 300000, BUY, 2000500000)],
        )
        self.assertEqual(quotes.last_execution.price, 2500)
        snapshot = ex.engine.market_quotes(1).market_quotes
        self.assertEqual(snapshot.executed_volume, 500000)
        home = snapshot.contract_quotes[0]
        self.assertEqual([(q.price, q.quantity) for q in home.bids], [(2500, 100000)])
        self.assertEqual(len(home.offers), 0)

    def test_time_priority(self) -> None:
        ex = Exchange(self)
        first = ex.order_id(DEMO2, SELL, 2500, 100)
        second = ex.order_id(DEMO2, SELL, 2500, 100)
        msgs = ex.create(DEMO, BUY, 2500, 150)
        self.assertEqual([m.body.order_id for m in msgs if m.account == DEMO2], [first, second])
        self.assertEqual([m.body.quantity for m in msgs if m.account == DEMO2], [100, 50])

    def test_sell_taker_trades_at_bid_price(self) -> None:
        ex = Exchange(self)
        ex.order_id(DEMO2, BUY, 2500, 100)
        msgs = ex.create(DEMO, SELL, 2000, 100)
        self.assertEqual([m.body.price for m in msgs[1:]], [2500, 2500])
        _, market = ex.take()
        self.assertEqual(market[0].body.executions[0].liquidity, SELL)

    def test_positions_net_within_a_market(self) -> None:
        ex = Exchange(self)
        ex.order_id(DEMO2, SELL, 2500, 400000)
        ex.create(DEMO, BUY, 2500, 400000)
        self.assertEqual(ex.account(DEMO).exposure, Decimal("10"))
        # Selling it back at a better price leaves a profit whatever happens: no exposure.
        ex.order_id(DEMO2, BUY, 5000, 400000)
        ex.create(DEMO, SELL, 5000, 400000)
        self.assertEqual(ex.account(DEMO).exposure, 0)
        # demo2 bought at 50 what it sold at 25: it loses £10 whatever happens.
        self.assertEqual(ex.account(DEMO2).exposure, Decimal("10"))

    def test_ioc_partial(self) -> None:
        ex = Exchange(self)
        ex.order_id(DEMO2, SELL, 2500, 100)
        msgs = ex.create(DEMO, BUY, 2500, 300, tif=seto_pb2.IMMEDIATE_OR_CANCEL, reference=4)
        self.assertEqual(
            kinds(msgs), ["order_accepted", "order_executed", "order_executed", "order_cancelled"]
        )
        cancelled = msgs[3].body
        self.assertEqual(cancelled.reason, seto_pb2.ORDER_CANCELLED_INSUFFICIENT_LIQUIDITY)
        self.assertEqual(
            (cancelled.executed_quantity, cancelled.executed_avg_price, cancelled.reference),
            (100, 2500, 4),
        )
        self.assertEqual(ex.engine.book(11).depth(BUY), [])
        self.assertEqual(ex.account(DEMO).exposure, buy_liability(2500, 100))
        self.assertEqual(ex.account(DEMO).orders, {})

    def test_ioc_nothing_to_fill(self) -> None:
        ex = Exchange(self)
        msgs = ex.create(DEMO, BUY, 2500, 300, tif=seto_pb2.IMMEDIATE_OR_CANCEL)
        self.assertEqual(kinds(msgs), ["order_accepted", "order_cancelled"])
        self.assertEqual(ex.account(DEMO).exposure, 0)
        self.assertEqual(ex.take()[1], [])  # the book never changed


class CancelTests(unittest.SynchronousTestCase):
    def test_cancel(self) -> None:
        ex = Exchange(self)
        ex.order_id(DEMO2, SELL, 2500, 100)
        order_id = ex.order_id(DEMO, BUY, 2500, 300, reference=8, label="x")
        ex.take()
        msgs = ex.request(DEMO, "order_cancel", order_id=order_id)
        self.assertEqual(kinds(msgs), ["order_cancelled"])
        body = msgs[0].body
        self.assertEqual(body.reason, seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED)
        self.assertEqual(
            (body.order_id, body.executed_quantity, body.executed_avg_price), (order_id, 100, 2500)
        )
        self.assertEqual(
            (body.reference, body.label, body.orig_price, body.side), (8, "x", 2500, BUY)
        )
        self.assertEqual(ex.account(DEMO).exposure, buy_liability(2500, 100))
        _, market = ex.take()
        self.assertEqual([(q.price, q.quantity) for q in market[0].body.bids], [(2500, 0)])
        # The cancel's own reference wins.
        other = ex.order_id(DEMO, BUY, 2000, 300, reference=8)
        self.assertEqual(
            ex.request(DEMO, "order_cancel", order_id=other, reference=99)[0].body.reference, 99
        )

    def test_cancel_rejected(self) -> None:
        ex = Exchange(self)
        theirs = ex.order_id(DEMO2, SELL, 2500, 100, label="secret")
        mine = ex.order_id(DEMO, BUY, 2000, 100)
        for order_id, reason in (
            (12345, seto_pb2.ORDER_CANCEL_REJECTED_NOT_FOUND),
            (theirs, seto_pb2.ORDER_CANCEL_REJECTED_NOT_FOUND),
        ):
            msgs = ex.request(DEMO, "order_cancel", order_id=order_id, reference=3)
            self.assertEqual(kinds(msgs), ["order_cancel_rejected"])
            self.assertEqual(
                (msgs[0].body.reason, msgs[0].body.order_id, msgs[0].body.reference),
                (reason, order_id, 3),
            )
            self.assertEqual(msgs[0].body.label, "")
        ex.request(DEMO, "order_cancel", order_id=mine)
        msgs = ex.request(DEMO, "order_cancel", order_id=mine)
        self.assertEqual(msgs[0].body.reason, seto_pb2.ORDER_CANCEL_REJECTED_NOT_LIVE)
        filled = ex.order_id(DEMO, BUY, 2500, 100)
        self.assertEqual(
            ex.request(DEMO, "order_cancel", order_id=filled)[0].body.reason,
            seto_pb2.ORDER_CANCEL_REJECTED_NOT_LIVE,
        )
        self.assertEqual(ex.engine.book(11).depth(SELL), [])

    def test_cancel_all(self) -> None:
        ex = Exchange(self)
        a = ex.order_id(DEMO, BUY, 2000, 100)
        b = ex.order_id(DEMO, SELL, 5000, 100, contract_id=21, market_id=2)
        c = ex.order_id(DEMO, BUY, 2500, 100, contract_id=12)
        ex.order_id(DEMO2, BUY, 2500, 100)
        msgs = ex.request(DEMO, "order_cancel_all", reference=6, market_id=1)
        self.assertEqual(
            kinds(msgs), ["order_cancel_all_accepted", "order_cancelled", "order_cancelled"]
        )
        self.assertEqual(msgs[0].body.reference, 6)
        self.assertEqual([m.body.order_id for m in msgs[1:]], [a, c])
        msgs = ex.request(DEMO, "order_cancel_all")
        self.assertEqual(kinds(msgs), ["order_cancel_all_accepted", "order_cancelled"])
        self.assertEqual(msgs[1].body.order_id, b)
        self.assertEqual(ex.account(DEMO).exposure, 0)
        self.assertEqual(len(ex.account(DEMO2).orders), 1)

    def test_reduce(self) -> None:
        ex = Exchange(self)
        first = ex.order_id(DEMO2, SELL, 2500, 1000, label="r")
        second = ex.order_id(DEMO2, SELL, 2500, 1000)
        ex.take()
        msgs = ex.request(DEMO2, "order_quantity_reduce", order_id=first, new_quantity=400)
        self.assertEqual(kinds(msgs), ["order_quantity_reduced"])
        body = msgs[0].body
        self.assertEqual(
            (body.order_id, body.new_quantity, body.label, body.orig_price), (first, 400, "r", 2500)
        )
        self.assertEqual(body.reason, seto_pb2.ORDER_QUANTITY_REDUCED_MEMBER_REQUESTED)
        self.assertEqual(ex.account(DEMO2).exposure, sell_liability(2500, 1400))
        _, market = ex.take()
        self.assertEqual([(q.price, q.quantity) for q in market[0].body.offers], [(2500, 1400)])
        # Still first in the queue.
        msgs = ex.create(DEMO, BUY, 2500, 500)
        self.assertEqual(
            [(m.body.order_id, m.body.quantity) for m in msgs if m.account == DEMO2],
            [(first, 400), (second, 100)],
        )

    def test_reduce_rejected(self) -> None:
        ex = Exchange(self)
        order_id = ex.order_id(DEMO2, SELL, 2500, 1000)
        theirs = ex.order_id(DEMO, BUY, 2000, 1000)
        invalid = seto_pb2.ORDER_QUANTITY_REDUCE_REJECTED_INVALID_NEW_QUANTITY
        for new_quantity in (0, 1000, 5000):
            msgs = ex.request(
                DEMO2, "order_quantity_reduce", order_id=order_id, new_quantity=new_quantity
            )
            self.assertEqual(kinds(msgs), ["order_quantity_reduce_rejected"])
            self.assertEqual(
                (msgs[0].body.reason, msgs[0].body.new_quantity), (invalid, new_quantity)
            )
        for target in (999999, theirs):
            msgs = ex.request(DEMO2, "order_quantity_reduce", order_id=target, new_quantity=1)
            self.assertEqual(msgs[0].body.reason, seto_pb2.ORDER_QUANTITY_REDUCE_REJECTED_NOT_FOUND)
        ex.request(DEMO2, "order_cancel", order_id=order_id)
        msgs = ex.request(DEMO2, "order_quantity_reduce", order_id=order_id, new_quantity=1)
        self.assertEqual(msgs[0].body.reason, seto_pb2.ORDER_QUANTITY_REDUCE_REJECTED_NOT_LIVE)


class ReplaceTests(unittest.SynchronousTestCase):
    def test_replace(self) -> None:
        ex = Exchange(self)
        orig = ex.order_id(DEMO, BUY, 2000, 1000, reference=5, label="q")
        ex.take()
        msgs = ex.request(
            DEMO, "order_cancel_replace", orig_order_id=orig, price=2500, quantity=600
        )
        self.assertEqual(kinds(msgs), ["order_pending_replace", "order_cancel_replace_accepted"])
        pending, accepted = msgs[0].body, msgs[1].body
        self.assertEqual(
            (pending.orig_order_id, pending.price, pending.quantity), (orig, 2500, 600)
        )
        self.assertEqual(pending.order_id, accepted.order_id)
        self.assertNotEqual(accepted.order_id, orig)
        self.assertEqual(
            (accepted.quantity_left, accepted.reference, accepted.label), (600, 5, "q")
        )
        self.assertEqual((accepted.market_id, accepted.contract_id, accepted.side), (1, 11, BUY))
        self.assertEqual(ex.engine.book(11).depth(BUY), [(2500, 600)])
        self.assertEqual(ex.account(DEMO).exposure, buy_liability(2500, 600))
        _, market = ex.take()
        self.assertEqual(
            [(q.price, q.quantity) for q in market[0].body.bids], [(2500, 600), (2000, 0)]
        )
        self.assertEqual(
            ex.request(DEMO, "order_cancel", order_id=orig)[0].body.reason,
            seto_pb2.ORDER_CANCEL_REJECTED_NOT_LIVE,
        )

    def test_replace_that_trades(self) -> None:
        ex = Exchange(self)
        ex.order_id(DEMO2, SELL, 2500, 200)
        orig = ex.order_id(DEMO, BUY, 2000, 1000)
        msgs = ex.request(
            DEMO, "order_cancel_replace", orig_order_id=orig, price=2500, quantity=500
        )
        self.assertEqual(
            kinds(msgs),
            [
                "order_pending_replace",
                "order_cancel_replace_accepted",
                "order_executed",
                "order_executed",
            ],
        )
        self.assertEqual(msgs[1].body.quantity_left, 300)
        self.assertEqual(msgs[2].body.order_id, msgs[1].body.order_id)
        self.assertEqual(ex.engine.book(11).depth(BUY), [(2500, 300)])

    def test_replace_rejected(self) -> None:
        ex = Exchange(self)
        too_late = seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_TOO_LATE
        msgs = ex.request(DEMO, "order_cancel_replace", orig_order_id=4242, price=2500, quantity=5)
        self.assertEqual(kinds(msgs), ["order_cancel_replace_rejected"])
        self.assertEqual((msgs[0].body.reason, msgs[0].body.orig_order_id), (too_late, 4242))
        theirs = ex.order_id(DEMO2, SELL, 3030, 100)
        msgs = ex.request(
            DEMO, "order_cancel_replace", orig_order_id=theirs, price=2500, quantity=5
        )
        self.assertEqual(msgs[0].body.reason, too_late)
        mine = ex.order_id(DEMO, BUY, 2000, 100, label="m")
        own_sell = ex.order_id(DEMO, SELL, 4000, 100)
        # Would fill 100 of theirs, then reach its own sell: rejected, the original stays.
        msgs = ex.request(
            DEMO, "order_cancel_replace", orig_order_id=mine, price=4000, quantity=200
        )
        self.assertEqual(kinds(msgs), ["order_cancel_replace_rejected"])
        self.assertEqual(msgs[0].body.reason, seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_CROSSED_SELF)
        self.assertEqual(
            (msgs[0].body.market_id, msgs[0].body.contract_id, msgs[0].body.label), (1, 11, "m")
        )
        self.assertEqual(ex.engine.book(11).depth(SELL), [(3030, 100), (4000, 100)])
        self.assertEqual(ex.engine.book(11).depth(BUY), [(2000, 100)])
        ex.request(DEMO, "order_cancel", order_id=own_sell)
        ex.request(DEMO2, "order_cancel", order_id=theirs)
        # Invalid price or quantity: order_invalid.
        msgs = ex.request(DEMO, "order_cancel_replace", orig_order_id=mine, price=2401, quantity=0)
        self.assertEqual(kinds(msgs), ["order_invalid"])
        self.assertEqual(msgs[0].body.seq, ex.seq)
        # Not enough money: order_rejected.
        msgs = ex.request(
            DEMO, "order_cancel_replace", orig_order_id=mine, price=5000, quantity=20_000_001
        )
        self.assertEqual(kinds(msgs), ["order_rejected"])
        self.assertEqual(msgs[0].body.reason, seto_pb2.ORDER_REJECTED_INSUFFICIENT_FUNDS)
        # The original's liability counts as free: the whole balance fits.
        msgs = ex.request(
            DEMO, "order_cancel_replace", orig_order_id=mine, price=5000, quantity=20_000_000
        )
        self.assertEqual(msgs[-1].kind, "order_cancel_replace_accepted")
        new = msgs[-1].body.order_id
        ex.engine.set_market_state(1, "new")
        msgs = ex.request(DEMO, "order_cancel_replace", orig_order_id=new, price=2000, quantity=1)
        self.assertEqual(
            msgs[0].body.reason, seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_MARKET_NOT_OPEN
        )
        msgs = ex.request(
            DEMO, "order_cancel_replace", orig_order_id=new, price=2000, quantity=1, market_id=2
        )
        self.assertEqual(
            msgs[0].body.reason, seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_MARKET_NOT_FOUND
        )
        self.assertEqual(list(ex.account(DEMO).orders), [new])


class SettingsAndSessionTests(unittest.SynchronousTestCase):
    def test_settings_and_session_failure(self) -> None:
        ex = Exchange(self)
        order_id = ex.order_id(DEMO, BUY, 2000, 100)
        ex.take()
        ex.engine.session_failed(DEMO)
        self.assertEqual(ex.take()[0], [])
        msgs = ex.request(DEMO, "settings", cancel_all_on_failure=True)
        self.assertEqual(kinds(msgs), ["settings_accepted"])
        self.assertTrue(msgs[0].body.cancel_all_on_failure)
        self.assertTrue(ex.request(DEMO, "settings")[0].body.cancel_all_on_failure)  # unchanged
        ex.take()
        ex.engine.session_failed(DEMO)
        account, market = ex.take()
        self.assertEqual(kinds(account), ["order_cancelled"])
        self.assertEqual(account[0].body.order_id, order_id)
        self.assertEqual(kinds(market), ["contract_quotes"])
        self.assertFalse(
            ex.request(DEMO, "settings", cancel_all_on_failure=False)[0].body.cancel_all_on_failure
        )

    def test_unexpected_input_is_ignored(self) -> None:
        ex = Exchange(self)
        logged: list[dict] = []  # type: ignore[type-arg]
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        ex.submit(DEMO, seto_pb2.Payload(type=seto_pb2.PAYLOAD_MARKET_SUBSCRIBE))
        ex.submit(DEMO, seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_ACCEPTED))
        ex.submit(999, seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CREATE))
        self.assertEqual(ex.take(), ([], []))
        self.assertEqual(
            len([e for e in logged if e.get("log_namespace", "").startswith("txsmarkets")]), 3
        )

    def test_listener_failure_does_not_break_the_engine(self) -> None:
        ex = Exchange(self)

        def broken(account_id: int, payload: Any) -> None:
            raise RuntimeError("session bug")

        ex.engine.on_account = broken
        ex.engine.on_market = broken
        ex.create(DEMO2, SELL, 2500, 100)
        ex.create(DEMO, BUY, 2500, 100)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 6)
        self.assertEqual(ex.engine.book(11).depth(SELL), [])
        self.assertEqual(ex.account(DEMO).exposure, buy_liability(2500, 100))
        self.assertEqual(ex.account(DEMO).sequence, 2)


class MarketStateTests(unittest.SynchronousTestCase):
    def test_live_cancels_good_til_cancelled_only(self) -> None:
        ex = Exchange(self)
        gtc = ex.order_id(DEMO, BUY, 2000, 100)
        kip = ex.order_id(DEMO, BUY, 2000, 100, tif=seto_pb2.KEEP_IN_PLAY)
        gth = ex.order_id(DEMO, BUY, 2000, 100, tif=seto_pb2.GOOD_TILL_HALTED)
        other = ex.order_id(DEMO, BUY, 2000, 100, contract_id=21, market_id=2)
        ex.take()
        ex.engine.set_market_state(1, "live")
        account, market = ex.take()
        self.assertEqual(kinds(account), ["order_cancelled"])
        self.assertEqual(
            (account[0].body.order_id, account[0].body.reason),
            (gtc, seto_pb2.ORDER_CANCELLED_TRADING_SUSPENDED),
        )
        self.assertEqual(kinds(market), ["market_state", "contract_quotes"])
        self.assertEqual(
            (market[0].body.market_id, market[0].body.state), (1, seto_pb2.MARKET_STATE_LIVE)
        )
        self.assertEqual(ex.engine.market(1).state, "live")
        ex.engine.set_market_state(1, "halted")
        account, market = ex.take()
        self.assertEqual([(m.body.order_id, m.body.reason) for m in account], [(kip, 2), (gth, 2)])
        self.assertEqual(market[0].body.state, seto_pb2.MARKET_STATE_HALTED)
        self.assertEqual(list(ex.account(DEMO).orders), [other])
        ex.engine.set_market_state(1, "open")
        self.assertEqual(kinds(ex.take()[1]), ["market_state"])
        ex.engine.set_market_state(1, "open")
        self.assertEqual(ex.take(), ([], []))

    def test_operator_errors(self) -> None:
        ex = Exchange(self)
        for call in (
            lambda: ex.engine.set_market_state(99, "open"),
            lambda: ex.engine.settle_market(99, [1]),
            lambda: ex.engine.void_market(99),
        ):
            error = self.assertRaises(UnknownMarket, call)
            self.assertIsInstance(error, KeyError)
            self.assertIsInstance(error, Error)
            self.assertIn("99", str(error))
        self.assertRaises(ValueError, ex.engine.set_market_state, 1, "closed")
        self.assertRaises(ValueError, ex.engine.set_market_state, 1, "settled")
        self.assertRaises(ValueError, ex.engine.settle_market, 1, [21])
        ex.engine.settle_market(1, [11])
        self.assertRaises(ValueError, ex.engine.set_market_state, 1, "open")
        self.assertRaises(ValueError, ex.engine.void_market, 1)
        self.assertRaises(UnknownAccount, ex.engine.account_messages_since, 99, 0)

    def test_queries(self) -> None:
        ex = Exchange(self)
        self.assertEqual(ex.engine.event_markets(1), [1, 2])
        self.assertEqual(ex.engine.event_markets(9), [])
        info = ex.engine.market(2)
        self.assertEqual(
            (info.id, info.event_id, info.state, info.name),
            (2, 1, "open", "Demo match: total goals over 2.5"),
        )
        self.assertEqual([c.id for c in info.contracts], [21, 22])
        self.assertIsNone(ex.engine.market(3))
        self.assertIsNone(ex.engine.market_quotes(3))
        quotes = ex.engine.market_quotes(1)
        self.assertEqual(quotes.type, seto_pb2.PAYLOAD_MARKET_QUOTES)
        self.assertTrue(quotes.IsInitialized())
        self.assertEqual(
            [c.contract_id for c in quotes.market_quotes.contract_quotes], [11, 12, 13]
        )


class SettlementTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        self.ex = Exchange(self)
        # demo backs Home for £40 payout at 25% (stake £10); demo2 lays it (risk £30).
        self.ex.order_id(DEMO2, SELL, 2500, 400000)
        self.ex.create(DEMO, BUY, 2500, 400000)
        self.resting = self.ex.order_id(DEMO, BUY, 2000, 1000)
        self.ex.take()

    def balances(self) -> tuple[Decimal, Decimal]:
        return self.ex.account(DEMO).balance, self.ex.account(DEMO2).balance

    def test_settle_winner(self) -> None:
        self.ex.engine.settle_market(1, [11])
        self.assertEqual(self.balances(), (Decimal("1030.00"), Decimal("970.00")))
        account, market = self.ex.take()
        self.assertEqual(
            [(m.account, m.kind) for m in account],
            [(DEMO, "order_cancelled"), (DEMO, "balance_changed"), (DEMO2, "balance_changed")],
        )
        self.assertEqual(account[0].body.reason, seto_pb2.ORDER_CANCELLED_ADMIN_REQUESTED)
        self.assertEqual(
            (account[1].body.available_balance, account[1].body.exposure), (1030.0, 0.0)
        )
        self.assertEqual(kinds(market), ["market_state", "contract_quotes"])
        self.assertEqual(market[0].body.state, seto_pb2.MARKET_STATE_SETTLED)
        self.assertEqual(self.ex.account(DEMO).positions, {})

    def test_settle_loser(self) -> None:
        self.ex.engine.settle_market(1, [12])
        self.assertEqual(self.balances(), (Decimal("990.00"), Decimal("1010.00")))
        self.assertEqual(self.ex.account(DEMO2).exposure, 0)

    def test_other_market_untouched(self) -> None:
        self.ex.engine.settle_market(2, [21])
        self.assertEqual(self.balances(), (Decimal("1000.00"), Decimal("1000.00")))
        self.assertEqual(self.ex.account(DEMO2).exposure, Decimal("30"))

    def test_void(self) -> None:
        self.ex.engine.void_market(1)
        self.assertEqual(self.balances(), (Decimal("1000.00"), Decimal("1000.00")))
        account, market = self.ex.take()
        self.assertEqual(
            [(m.account, m.kind) for m in account],
            [
                (DEMO, "order_cancelled"),
                (DEMO2, "order_voided"),
                (DEMO, "order_voided"),
                (DEMO2, "balance_changed"),
                (DEMO, "balance_changed"),
            ],
        )
        voided = account[2].body
        self.assertEqual(
            (voided.quantity, voided.source_quantity, voided.contract_id), (400000, 400000, 11)
        )
        self.assertEqual(self.ex.account(DEMO).exposure, 0)
        self.assertEqual(self.ex.account(DEMO2).exposure, 0)
        self.assertEqual(self.ex.engine.market(1).state, "voided")
        self.assertEqual(market[0].body.state, seto_pb2.MARKET_STATE_VOIDED)

    def test_set_state_voided_is_void(self) -> None:
        self.ex.engine.set_market_state(1, "voided")
        self.assertEqual(self.ex.account(DEMO2).exposure, 0)

    def test_position_arithmetic(self) -> None:
        position = MarketPosition([1, 2, 3])
        position.add(1, True, 2500, 400000)  # back 1: +30 if 1 wins, -10 otherwise
        position.add(2, False, 5000, 100000)  # lay 2: -5 if 2 wins, +5 otherwise
        self.assertEqual(position.profit([1]), Decimal("35"))
        self.assertEqual(position.profit([2]), Decimal("-15"))
        self.assertEqual(position.profit([3]), Decimal("-5"))
        self.assertEqual(position.worst_case_loss(), Decimal("15"))


class VoidExecutionTests(unittest.SynchronousTestCase):
    """`void_execution` takes back a trade the two orders made, and nothing else."""

    def setUp(self) -> None:
        self.ex = Exchange(self)
        # demo2 lays at 25% and 30.30%; demo's back at 30.30% takes both: two trades.
        self.lay25 = self.ex.order_id(DEMO2, SELL, 2500, 400000)
        self.lay30 = self.ex.order_id(DEMO2, SELL, 3030, 100000)
        self.back = self.ex.order_id(DEMO, BUY, 3030, 500000)
        self.ex.take()

    def balances(self) -> tuple[Decimal, Decimal]:
        return self.ex.account(DEMO).balance, self.ex.account(DEMO2).balance

    def test_voided_trade_moves_no_money_at_settlement(self) -> None:
        self.ex.engine.void_execution(self.back, self.lay25, 2500, 400000)
        self.ex.engine.void_execution(self.lay30, self.back, 3030, 100000)
        self.ex.engine.settle_market(1, [12])
        self.assertEqual(self.balances(), (Decimal("1000.00"), Decimal("1000.00")))

    def test_a_price_they_did_not_trade_at_is_refused(self) -> None:
        # Within both orders' limits (a back at 30.30%, lays at 25% and 30.30%), but the two
        # orders traded at 25%: voiding "at 30.30%" would unwind the wrong stake.
        for price in (100, 3030):
            with self.assertRaises(ValueError):
                self.ex.engine.void_execution(self.back, self.lay25, price, 400000)
        self.assertEqual(self.ex.take(), ([], []))
        self.assertEqual(self.ex.engine.order(self.back).executed, 500000)
        self.ex.engine.settle_market(1, [12])
        self.assertEqual(self.balances(), (Decimal("986.97"), Decimal("1013.03")))

    def test_more_than_they_traded_together_is_refused(self) -> None:
        # demo's back has 500000 executed, but only 100000 of it with the 30.30% lay.
        with self.assertRaises(ValueError):
            self.ex.engine.void_execution(self.back, self.lay30, 3030, 400000)

    def test_a_trade_is_voided_once_and_in_parts(self) -> None:
        self.ex.engine.void_execution(self.back, self.lay25, 2500, 300000)
        self.ex.engine.void_execution(self.lay25, self.back, 2500, 100000)
        with self.assertRaises(ValueError):
            self.ex.engine.void_execution(self.back, self.lay25, 2500, 1)
        self.assertEqual(self.ex.engine.order(self.back).executed, 100000)

    def test_orders_that_never_met_are_refused(self) -> None:
        with self.assertRaises(ValueError):
            self.ex.engine.void_execution(self.lay25, self.lay30, 2500, 1)

    def test_a_trade_of_orders_no_longer_remembered_as_done(self) -> None:
        # done_orders_kept=1: the done orders of accounts nobody logs in to (a simulated
        # trader's) share one queue, so a filled lay of one is forgotten while its market
        # still runs; its trade stands, and is voided all the same.
        ex = Exchange(self, done_orders_kept=1)
        trader = ex.engine.accounts.add_credentials(
            "~trader", Credentials.create("pw", b"tok", iterations=1), "1000", attended=False
        )
        ex.create(trader.id, SELL, 2500, 400000)
        back = ex.order_id(DEMO, BUY, 2500, 400000)
        [lay] = [o.id for o in ex.engine.state.markets[1].matched.values() if o.account_id == trader.id]
        ex.create(trader.id, SELL, 2500, 100)
        ex.create(DEMO, BUY, 2500, 100)
        self.assertIsNone(ex.engine.order(lay))
        ex.engine.void_execution(back, lay, 2500, 400000)
        self.assertEqual(ex.account(DEMO).positions[1].net[11], 100)

    def test_refused_once_the_market_is_settled(self) -> None:
        self.ex.engine.settle_market(1, [11])
        self.ex.take()
        with self.assertRaises(ValueError):
            self.ex.engine.void_execution(self.back, self.lay25, 2500, 400000)
        self.assertEqual(self.ex.take(), ([], []))
        self.assertEqual(self.balances(), (Decimal("1036.97"), Decimal("963.03")))

    def test_refused_once_the_market_is_voided(self) -> None:
        self.ex.engine.void_market(1)
        self.ex.take()
        with self.assertRaises(ValueError):
            self.ex.engine.void_execution(self.back, self.lay25, 2500, 400000)
        self.assertEqual(self.ex.take(), ([], []))


class AccountStreamTests(unittest.SynchronousTestCase):
    def test_sequences_and_resume(self) -> None:
        ex = Exchange(self)
        ex.create(DEMO, BUY, 2500, 100)  # 1 accepted
        ex.create(DEMO, BUY, 2401, 100)  # 2 invalid
        ex.request(DEMO, "settings", cancel_all_on_failure=True)  # 3
        ex.request(DEMO, "order_cancel_all")  # 4 accepted, 5 cancelled
        self.assertEqual(ex.account(DEMO).sequence, 5)
        since = ex.engine.account_messages_since(DEMO, 2)
        self.assertEqual(
            [kind_of(p) for p in since],
            ["settings_accepted", "order_cancel_all_accepted", "order_cancelled"],
        )
        self.assertEqual(since[2].order_cancelled.account_sequence_64, 5)
        self.assertEqual(since[2].eto_payload.seq, 0)
        self.assertEqual(len(ex.engine.account_messages_since(DEMO, 0)), 5)
        self.assertEqual(ex.engine.account_messages_since(DEMO, 5), [])
        self.assertEqual(ex.engine.account_messages_since(DEMO2, 0), [])
        # Copies: changing what was handed out changes nothing logged.
        since[2].eto_payload.seq = 77
        self.assertEqual(ex.engine.account_messages_since(DEMO, 4)[0].eto_payload.seq, 0)

    def test_bounded_log(self) -> None:
        ex = Exchange(self, account_log_size=3)
        for _ in range(5):
            ex.create(DEMO, BUY, 2000, 100)
        self.assertEqual(ex.engine.account_log_start(DEMO), 3)
        self.assertEqual(ex.engine.account_log_start(DEMO2), 1)
        self.assertEqual(
            [
                p.order_accepted.account_sequence_64
                for p in ex.engine.account_messages_since(DEMO, 0)
            ],
            [3, 4, 5],
        )

    def test_sequence_past_uint32(self) -> None:
        ex = Exchange(self)
        ex.account(DEMO).sequence = 0xFFFFFFFF
        body = ex.engine  # the harness checks account_sequence; look at the raw message
        got: list[seto_pb2.Payload] = []
        body.on_account = lambda account_id, payload: got.append(payload)
        ex.create(DEMO, BUY, 2000, 100)
        self.assertEqual(got[0].order_accepted.account_sequence_64, 0x100000000)
        self.assertFalse(got[0].order_accepted.HasField("account_sequence"))


class UnattendedAccountTests(unittest.SynchronousTestCase):
    """An account opened ``attended=False`` (a simulated trader's) trades as any other, but
    its answers are not built, kept or delivered, and nobody logs in to it."""

    def test_trades_without_answers(self) -> None:
        ex = Exchange(self)
        trader = ex.engine.accounts.add_credentials(
            "~trader", Credentials.create("pw", b"tok", iterations=1), "1000", attended=False
        )
        account_msgs = ex.create(trader.id, SELL, 2500, 1000)
        self.assertEqual(account_msgs, [])
        self.assertEqual(len(trader.orders), 1)
        # The market still hears of its order, and a user trading with it is answered.
        self.assertEqual([m.kind for m in ex.market_log], ["contract_quotes"])
        msgs = ex.create(DEMO, BUY, 2500, 400)
        self.assertEqual(kinds(msgs), ["order_accepted", "order_executed"])
        self.assertEqual([m.account for m in msgs], [DEMO, DEMO])
        (order,) = trader.orders.values()
        self.assertEqual(order.remaining, 600)
        self.assertEqual(ex.engine.accounts[trader.id].positions[1].net[11], -400)
        # Each message it was not sent still took its number; none was kept.
        self.assertEqual(trader.sequence, 2)
        self.assertEqual(ex.engine.account_messages_since(trader.id, 0), [])
        self.assertEqual(ex.sequences.get(trader.id), None)

    def test_done_orders_share_one_queue(self) -> None:
        """Nobody lists an unattended account's old orders: all of them, filled ones too,
        share one queue of ``done_orders_kept``, and none is held by its open market (an
        attended account's filled orders are; `EngineState`)."""
        ex = Exchange(self, done_orders_kept=2)
        traders = [
            ex.engine.accounts.add_credentials(
                f"~trader{i}", Credentials.create("pw", b"tok%d" % i, iterations=1), "1000", attended=False
            )
            for i in range(2)
        ]
        for trader in traders:
            ex.create(DEMO, BUY, 2500, 100)  # orders 1 and 3
            ex.create(trader.id, SELL, 2500, 100)  # 2 and 4: fill DEMO's and are done, filled
        ex.create(traders[0].id, SELL, 2500, 100, tif=seto_pb2.IMMEDIATE_OR_CANCEL)  # 5: done, unfilled
        self.assertEqual([ex.engine.order(order_id) is not None for order_id in (2, 4, 5)], [False, True, True])
        # DEMO's filled orders are held by their open market.
        self.assertEqual([ex.engine.order(order_id) is not None for order_id in (1, 3)], [True, True])

    def test_no_login(self) -> None:
        registry = AccountRegistry()
        registry.add_credentials("~trader", Credentials.create("pw", b"tok", iterations=1), "1", attended=False)
        self.assertIsNone(registry.authenticate("~trader", "pw"))
        self.assertIsNone(registry.authenticate_token(b"tok"))


class AccountTests(unittest.SynchronousTestCase):
    def test_authenticate(self) -> None:
        registry = AccountRegistry()
        account = registry.add("alice", "pw", "12.50", token=b"tok")
        self.assertEqual(account.id, 1)
        self.assertEqual(account.balance, Decimal("12.50"))
        self.assertIs(registry.authenticate("alice", "pw"), account)
        self.assertIsNone(registry.authenticate("alice", "PW"))
        self.assertIsNone(registry.authenticate("bob", "pw"))
        self.assertIs(registry.authenticate_token(b"tok"), account)
        self.assertIsNone(registry.authenticate_token(b"tok2"))
        self.assertIsNone(registry.authenticate_token(b""))
        self.assertRaises(ValueError, registry.add, "alice", "x", "1")
        self.assertRaises(ValueError, registry.add, "carol", "x", 1.5)
        self.assertRaises(ValueError, registry.add, "carol", "x", "-1")
        self.assertEqual(registry.add("carol", "x", 0).id, 2)

    def test_secrets_not_shown(self) -> None:
        registry = AccountRegistry()
        account = registry.add("alice", "hunter2-password", "1", token=b"cookie-token-value")
        shown = repr(account) + repr(account._credentials) + repr(registry)
        self.assertNotIn("hunter2", shown)
        self.assertNotIn("cookie-token", shown)
        for secret in (account._credentials.password, account._credentials.token):
            for slot in type(secret).__slots__:
                self.assertNotIn(
                    getattr(secret, slot), (b"hunter2-password", b"cookie-token-value")
                )
        self.assertNotIn("hunter2", repr(account._credentials.password))

    def test_demo_accounts(self) -> None:
        engine = MatchingEngine(demo_catalogue())
        demo = engine.accounts.authenticate("demo", "demo")
        demo2 = engine.accounts.authenticate("demo2", "demo2")
        self.assertEqual((demo.id, demo2.id), (DEMO, DEMO2))
        self.assertEqual((demo.balance, demo2.balance), (Decimal("1000.00"), Decimal("1000.00")))
        self.assertIsNone(engine.accounts.authenticate("demo", "demo2"))


class CatalogueTests(unittest.SynchronousTestCase):
    def write(self, data: Any) -> str:
        path = self.mktemp()
        pathlib.Path(path).write_text(data if isinstance(data, str) else json.dumps(data))
        return path

    def valid(self) -> dict[str, Any]:
        return {
            "accounts": [{"username": "u", "password": "p", "token": "t", "balance": "5.25"}],
            "events": [
                {
                    "id": 7,
                    "name": "E",
                    "markets": [
                        {
                            "id": 70,
                            "name": "M",
                            "state": "halted",
                            "contracts": [{"id": 701, "name": "C"}],
                        },
                        {"id": 71, "name": "N", "contracts": [{"id": 711, "name": "D"}]},
                    ],
                }
            ],
        }

    def test_demo(self) -> None:
        catalogue = demo_catalogue()
        self.assertEqual([a.username for a in catalogue.accounts], ["demo", "demo2"])
        self.assertEqual([a.balance for a in catalogue.accounts], [Decimal("1000.00")] * 2)
        self.assertEqual([(e.id, e.name) for e in catalogue.events], [(1, "Demo match")])
        markets = list(catalogue.markets())
        self.assertEqual(
            [(m.id, m.name, m.state, [(c.id, c.name) for c in m.contracts]) for m in markets],
            [
                (1, "Demo match: winner", "open", [(11, "Home"), (12, "Draw"), (13, "Away")]),
                (2, "Demo match: total goals over 2.5", "open", [(21, "Over"), (22, "Under")]),
            ],
        )

    def test_load(self) -> None:
        catalogue = load_catalogue(self.write(self.valid()))
        engine = MatchingEngine(catalogue)
        self.assertEqual(engine.market(70).state, "halted")
        self.assertEqual(engine.market(71).state, "open")
        account = engine.accounts.authenticate_token(b"t")
        self.assertEqual((account.username, account.balance), ("u", Decimal("5.25")))
        self.assertNotIn("'p'", repr(catalogue))

    def test_number_balance_is_exact(self) -> None:
        data = self.valid()
        text = json.dumps(data).replace('"5.25"', "1000.10")
        self.assertEqual(load_catalogue(self.write(text)).accounts[0].balance, Decimal("1000.10"))

    def assertBad(self, data: Any, *fragments: str) -> None:
        path = self.write(data)
        error = self.assertRaises(CatalogueError, load_catalogue, path)
        self.assertIsInstance(error, Error)
        for fragment in fragments:
            self.assertIn(fragment, str(error))

    def test_errors(self) -> None:
        def changed(change: Any) -> dict[str, Any]:
            data = self.valid()
            change(data)
            return data

        market = lambda d: d["events"][0]["markets"][0]  # noqa: E731
        self.assertBad("{not json", "not JSON")
        self.assertBad([], "catalogue", "JSON object")
        self.assertBad(changed(lambda d: d.pop("accounts")), "missing key 'accounts'")
        self.assertBad(
            changed(lambda d: d["events"][0].pop("name")), "events[0]", "missing key 'name'"
        )
        self.assertBad(
            changed(lambda d: market(d).pop("contracts")), "events[0].markets[0]", "'contracts'"
        )
        self.assertBad(
            changed(lambda d: market(d).update(state="opne")),
            "events[0].markets[0].state",
            "'opne'",
        )
        self.assertBad(changed(lambda d: market(d).update(colour=1)), "unknown key 'colour'")
        self.assertBad(changed(lambda d: market(d).update(contracts=[])), "at least one contract")
        self.assertBad(changed(lambda d: market(d).update(id=71)), "duplicate market 71")
        self.assertBad(changed(lambda d: market(d).update(id="70")), "markets[0].id", "integer")
        self.assertBad(changed(lambda d: market(d).update(id=0)), "markets[0].id")
        self.assertBad(
            changed(lambda d: d["events"][0]["markets"][1]["contracts"][0].update(id=701)),
            "duplicate contract 701",
        )
        self.assertBad(
            changed(lambda d: d["events"].append(dict(d["events"][0], markets=[]))),
            "duplicate event 7",
        )
        self.assertBad(
            changed(lambda d: d["accounts"].append(d["accounts"][0])),
            "accounts[1].username",
            "duplicate",
        )
        self.assertBad(
            changed(lambda d: d["accounts"].append(dict(d["accounts"][0], username="v"))),
            "accounts[1].token",
        )
        for balance in ("-1", "abc", "NaN", True, None):
            self.assertBad(
                changed(lambda d: d["accounts"][0].update(balance=balance)), "accounts[0].balance"
            )
        self.assertBad(
            changed(lambda d: d["accounts"][0].update(password="")), "accounts[0].password"
        )
        error = self.assertRaises(CatalogueError, load_catalogue, self.mktemp())
        self.assertIn("cannot read", str(error))
        # The message never shows a token.
        error = self.assertRaises(
            CatalogueError,
            parse_catalogue,
            changed(
                lambda d: (
                    d["accounts"][0].update(token="s3cret"),
                    d["accounts"].append(dict(d["accounts"][0], username="v")),
                )
            ),
        )
        self.assertIn("duplicate token", str(error))
        self.assertNotIn("s3cret", str(error))


_RANDOM_CATALOGUE = three_accounts("50.00")
_PRICES = [2000, 2174, 2273, 2381, 2500, 2632, 2778]
_CONTRACTS = {11: 1, 12: 1, 21: 2}
_TIFS = [seto_pb2.GOOD_TIL_CANCELLED, seto_pb2.IMMEDIATE_OR_CANCEL, seto_pb2.KEEP_IN_PLAY]


@st.composite
def _operation(draw: Any) -> tuple[Any, ...]:
    # Mostly creates, so that books fill up and cross.
    name = draw(st.sampled_from(["create"] * 7 + ["cancel", "reduce", "replace", "cancel_all"]))
    account_id = draw(st.integers(1, 3))
    index = draw(st.integers(0, 100))
    quantity = draw(st.integers(1, 2_000_000))
    price = draw(st.sampled_from(_PRICES))
    if name == "create":
        contract_id = draw(st.sampled_from(sorted(_CONTRACTS)))
        side = draw(st.sampled_from([BUY, SELL]))
        price = draw(st.sampled_from(_PRICES + [2401]))
        return (name, account_id, contract_id, side, price, quantity, draw(st.sampled_from(_TIFS)))
    if name == "cancel":
        return (name, account_id, index)
    if name == "reduce":
        return (name, account_id, index, quantity)
    if name == "replace":
        return (name, account_id, index, price, quantity)
    return (name, account_id, draw(st.sampled_from([None, 1, 2])))


_operations = st.lists(_operation(), min_size=10, max_size=80)


class RandomTradingTests(unittest.SynchronousTestCase):
    """Random order flow keeps the books, the market data and the money consistent."""

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_operations, st.sampled_from([11, 12, 13]))
    def test_consistent(self, operations: list[tuple[Any, ...]], winner: int) -> None:
        ex = Exchange(self, _RANDOM_CATALOGUE)
        engine = ex.engine
        total = sum(account.balance for account in engine.accounts)
        # What a client would know from the messages alone.
        levels: dict[tuple[int, int, int], int] = {}
        nets: dict[tuple[int, int], dict[int, int]] = {}
        costs: dict[tuple[int, int], int] = {}
        order_ids: list[int] = []
        for operation in operations:
            name, account_id = operation[0], operation[1]
            pick = lambda index: order_ids[index % len(order_ids)] if order_ids else 1  # noqa: E731
            if name == "create":
                _, _, contract_id, side, price, quantity, tif = operation
                ex.create(
                    account_id, side, price, quantity, contract_id, _CONTRACTS[contract_id], tif=tif
                )
            elif name == "cancel":
                ex.request(account_id, "order_cancel", order_id=pick(operation[2]))
            elif name == "reduce":
                ex.request(
                    account_id,
                    "order_quantity_reduce",
                    order_id=pick(operation[2]),
                    new_quantity=operation[3],
                )
            elif name == "replace":
                ex.request(
                    account_id,
                    "order_cancel_replace",
                    orig_order_id=pick(operation[2]),
                    price=operation[3],
                    quantity=operation[4],
                )
            else:
                fields = {} if operation[2] is None else {"market_id": operation[2]}
                ex.request(account_id, "order_cancel_all", **fields)
            account_msgs, market_msgs = ex.take()
            fills = []
            for msg in account_msgs:
                if msg.kind in ("order_accepted", "order_cancel_replace_accepted"):
                    order_ids.append(msg.body.order_id)
                if msg.kind == "order_executed":
                    body = msg.body
                    fills.append((body.price, body.quantity, body.contract_id))
                    key = (msg.account, body.market_id)
                    if key not in nets:
                        nets[key] = {
                            contract.id: 0 for contract in engine.market(body.market_id).contracts
                        }
                    net = nets[key]
                    sign = 1 if body.side == BUY else -1
                    net[body.contract_id] += sign * body.quantity
                    costs[key] = costs.get(key, 0) + sign * body.price * body.quantity
            # Every fill is reported to both sides.
            self.assertEqual(sorted(fills[::2]), sorted(fills[1::2]))
            executions = []
            for msg in market_msgs:
                quotes = msg.body
                for side, quotes_side in ((BUY, quotes.bids), (SELL, quotes.offers)):
                    for quote in quotes_side:
                        levels[(quotes.contract_id, side, quote.price)] = quote.quantity
                executions.extend(
                    (e.price, e.quantity, quotes.contract_id) for e in quotes.executions
                )
            self.assertEqual(sorted(executions), sorted(fills[::2]))
            self.check(ex, levels, nets, costs, total)
        # Settling and voiding keep the money too, and free every exposure.
        engine.settle_market(1, [winner])
        engine.void_market(2)
        self.assertEqual(sum(account.balance for account in engine.accounts), total)
        for account in engine.accounts:
            self.assertEqual(account.exposure, 0)
            self.assertEqual(account.orders, {})
            self.assertGreaterEqual(account.balance, 0)

    def check(
        self,
        ex: Exchange,
        levels: dict[tuple[int, int, int], int],
        nets: dict[tuple[int, int], dict[int, int]],
        costs: dict[tuple[int, int], int],
        total: Decimal,
    ) -> None:
        engine = ex.engine
        self.assertEqual(sum(account.balance for account in engine.accounts), total)
        for contract_id in _CONTRACTS:
            book = engine.book(contract_id)
            book.check()
            for side in (BUY, SELL):
                shown = sorted(
                    (price, quantity)
                    for (c, s, price), quantity in levels.items()
                    if c == contract_id and s == side and quantity
                )
                self.assertEqual(shown, sorted(book.depth(side)))
        for account in engine.accounts:
            liability = Decimal(0)
            for order in account.orders.values():
                self.assertTrue(order.live and order.resting)
                self.assertEqual(
                    order.liability,
                    (buy_liability if order.side == BUY else sell_liability)(
                        order.price, order.remaining
                    ),
                )
                liability += order.liability
            self.assertEqual(account.order_liability, liability)
            worst = Decimal(0)
            for (account_id, market_id), net in nets.items():
                if account_id == account.id:
                    loss = costs[(account_id, market_id)] - min(net.values()) * 10000
                    worst += max(Decimal(loss).scaleb(-8), Decimal(0))
            self.assertEqual(account.exposure, liability + worst)
            self.assertGreaterEqual(account.available_balance, 0)


class ChunkedCancelAllTests(unittest.SynchronousTestCase):
    """With ``answer_chunk`` set (the server sets it), an order_cancel_all is produced a
    chunk at a time by `continue_work`."""

    def cancel_all(self, ex: Exchange) -> None:
        payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CANCEL_ALL)
        payload.order_cancel_all.reference = 9
        ex.submit(DEMO, payload)

    def test_chunks(self) -> None:
        ex = Exchange(self)
        ex.engine.answer_chunk = 10
        ids = [ex.create(DEMO, BUY, 2000, 1000)[0].body.order_id for _ in range(35)]
        ex.take()
        self.cancel_all(ex)
        first = ex.take()[0]
        self.assertEqual(kinds(first), ["order_cancel_all_accepted"] + ["order_cancelled"] * 11)
        self.assertTrue(ex.engine.has_work(DEMO))
        # Meanwhile one is cancelled by hand and one placed: the first is passed over, the
        # second was not live when the cancel-all came and stays.
        payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CANCEL)
        payload.order_cancel.order_id = ids[20]
        ex.submit(DEMO, payload)
        placed = ex.create(DEMO, BUY, 2000, 1000)[0].body.order_id
        ex.take()
        while ex.engine.continue_work(DEMO):
            pass
        rest = ex.take()[0]
        self.assertEqual(kinds(rest), ["order_cancelled"] * 23)
        cancelled = [m.body.order_id for m in first[1:] + rest]
        self.assertEqual(sorted(cancelled + [ids[20]]), ids)
        self.assertEqual(list(ex.engine.accounts[DEMO].orders), [placed])
        self.assertFalse(ex.engine.has_work(DEMO))
        self.assertFalse(ex.engine.continue_work(DEMO))

    def test_all_at_once_by_default(self) -> None:
        ex = Exchange(self)
        for _ in range(5):
            ex.create(DEMO, BUY, 2000, 1000)
        ex.take()
        self.cancel_all(ex)
        self.assertEqual(kinds(ex.take()[0]), ["order_cancel_all_accepted"] + ["order_cancelled"] * 5)
        self.assertFalse(ex.engine.has_work(DEMO))

    def test_throttle_rejection_is_in_the_account_stream(self) -> None:
        ex = Exchange(self)
        payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CREATE)
        payload.eto_payload.seq = 7
        payload.order_create.reference = 3
        ex.engine.reject_order(DEMO, payload, seto_pb2.ORDER_REJECTED_THROTTLE_EXCEEDED)
        msgs = ex.take()[0]
        self.assertEqual(kinds(msgs), ["order_rejected"])
        self.assertEqual((msgs[0].body.seq, msgs[0].body.reference), (7, 3))
        self.assertEqual(msgs[0].body.account_sequence_64, 1)  # numbered, kept in the history
