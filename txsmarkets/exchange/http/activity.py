"""The accounts' activity as the HTTP API shows it, kept as it happens.

`ActivityLedger` listens to the engine's account stream (beside the streaming sessions'
listener), so it sees every change of every account whichever protocol caused it: an
order placed over HTTP, a fill against a streaming session's order, a settlement. Each
message becomes one activity row whose ``seq`` is the message's number in the account
stream (``subseq`` 0), and the ledger notes when each order was created and last changed
and the ``seq`` of its last message (an order's ``sequence_number``). A settlement of its
market changes an order with fills too (it is ``settled`` from then on, with an
``outcome``): the account's ``balance_changed`` of it is that order's last message, so
that polling by ``sequence_number_min`` sees it.

The rows' ``source``, by message: order_accepted ``order.create``, order_executed
``order.execute``, order_cancelled ``order.book.cancel``, order_rejected
``order.reject.<reason>`` where the document has that reason (else ``order.book.reject``),
order_invalid ``order.reject.invalid_quantity`` or ``order.book.reject``,
order_cancel_rejected ``order.cancel.reject``, order_quantity_reduced
``order.book.reduce_qty``, order_pending_replace ``order.pending.replace``,
order_cancel_replace_accepted / _rejected ``order.cancel_replace.book.accept`` / ``.reject``,
order_execute_voided ``order.execute.void``, order_voided ``order.void``, balance_changed
``market.settle`` or ``market.void``. ``money`` is the balance after the change,
``money_change`` what the change moved, ``exposure`` the exposure after it (negative).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from txsmarkets.exchange.interfaces import IHttpEngine
from txsmarkets.exchange.http.units import exposure_text, money, side_name, timestamp
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import SETO_FIELDS

__all__ = ["ActivityLedger", "OrderTimes", "Row"]

_log = Logger()

_SOURCES: dict[int, str] = {
    seto_pb2.PAYLOAD_ORDER_ACCEPTED: "order.create",
    seto_pb2.PAYLOAD_ORDER_EXECUTED: "order.execute",
    seto_pb2.PAYLOAD_ORDER_CANCELLED: "order.book.cancel",
    seto_pb2.PAYLOAD_ORDER_CANCEL_REJECTED: "order.cancel.reject",
    seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED: "order.book.reduce_qty",
    seto_pb2.PAYLOAD_ORDER_PENDING_REPLACE: "order.pending.replace",
    seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED: "order.cancel_replace.book.accept",
    seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED: "order.cancel_replace.book.reject",
    seto_pb2.PAYLOAD_ORDER_EXECUTE_VOIDED: "order.execute.void",
    seto_pb2.PAYLOAD_ORDER_VOIDED: "order.void",
}
# Rejections the document has a source of its own for.
_REJECT_SOURCES: dict[int, str] = {
    seto_pb2.ORDER_REJECTED_INSUFFICIENT_FUNDS: "order.reject.insufficient_funds",
    seto_pb2.ORDER_REJECTED_LIMIT_EXCEEDED: "order.reject.limit_exceeded",
    seto_pb2.ORDER_REJECTED_MARKET_NOT_FOUND: "order.reject.market_not_found",
    seto_pb2.ORDER_REJECTED_ACCOUNT_SUSPENDED: "order.reject.account_suspended",
    seto_pb2.ORDER_REJECTED_STAKE_LIMIT_EXCEEDED: "order.reject.stake_limit_exceeded",
}
# Messages that make an order: the ledger starts keeping its times.
_NEW_ORDER = (seto_pb2.PAYLOAD_ORDER_ACCEPTED, seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED)
_SETTLED = re.compile(r"market (\d+) (settled|voided)\Z")


class Row:
    """One activity row, kept as raw values (the JSON is made only for rows read: many more
    are kept than shown). ``time`` is POSIX seconds, money is `Decimal` pounds."""

    __slots__ = (
        "seq", "time", "source", "order_id", "event_id", "market_id", "contract_id", "side", "price",
        "quantity", "quantity_change", "label", "balance", "money_change", "exposure",
    )  # fmt: skip

    def __init__(self, seq: int, time: float, source: str, order_id: int | None, label: str | None) -> None:
        self.seq = seq
        self.time = time
        self.source = source
        self.order_id = order_id
        self.label = label
        self.event_id: int | None = None
        self.market_id: int | None = None
        self.contract_id: int | None = None
        self.side: int | None = None
        self.price: int | None = None
        self.quantity: int | None = None
        self.quantity_change: int | None = None
        self.balance = Decimal(0)
        self.money_change = Decimal(0)
        self.exposure = Decimal(0)

    def shape(self) -> dict[str, Any]:
        """The row as the API shows it."""

        def text(value: int | None) -> str | None:
            return None if value is None else str(value)

        return {
            "seq": self.seq,
            "subseq": 0,
            "timestamp": timestamp(self.time),
            "source": self.source,
            "order_id": text(self.order_id),
            "event_id": text(self.event_id),
            "market_id": text(self.market_id),
            "contract_id": text(self.contract_id),
            "side": None if self.side is None else side_name(self.side),
            "price": self.price,
            "quantity": self.quantity,
            "quantity_change": self.quantity_change,
            "quantity_user_currency": self.quantity,
            "quantity_user_currency_change": self.quantity_change,
            "amount": money(self.money_change) if self.money_change else None,
            "money": money(self.balance),
            "money_change": money(self.money_change),
            "commission": None,
            "exposure": exposure_text(self.exposure),
            "bonus_change": None,
            "label": self.label,
            "extra": None,
            "bonus_bet": False,
            "bet_token_type": None,
        }


@dataclass
class OrderTimes:
    """When an order was created and last changed (POSIX seconds), and the account ``seq``
    of its last message."""

    created: float
    modified: float
    sequence: int


class ActivityLedger:
    """Activity rows and order times of every account of ``engine``, the last ``rows_kept``
    rows of each account kept."""

    def __init__(self, engine: IHttpEngine, clock: IReactorTime, rows_kept: int = 100_000) -> None:
        self.engine = engine
        self.clock = clock
        self.rows_kept = rows_kept
        self._rows: dict[int, deque[Row]] = {}
        self._balances: dict[int, Decimal] = {account.id: account.balance for account in engine.accounts}
        self._times: dict[int, OrderTimes] = {}
        #: Per account, the ids of its orders the ledger has seen made, oldest first.
        self._orders: dict[int, dict[int, None]] = {}
        # Order times are swept of orders the engine has forgotten past this many.
        self._sweep_at = 10_000
        listener = engine.on_account

        def both(account_id: int, payload: seto_pb2.Payload) -> None:
            # The ledger first, reading only: the other listener may change the payload.
            try:
                self.observe(account_id, payload)
            except Exception:
                _log.failure("the HTTP activity ledger failed on a message to account {id}", id=account_id)
            listener(account_id, payload)

        engine.on_account = both

    # Reading

    def rows(self, account_id: int) -> deque[Row]:
        """The account's rows, oldest first. Do not change them."""
        return self._rows.get(account_id, deque())

    def times(self, order_id: int) -> OrderTimes | None:
        """The order's times, or None for one the ledger has not seen made."""
        return self._times.get(order_id)

    def order_ids(self, account_id: int) -> list[int]:
        """The ids of the account's orders still known to the engine, oldest first (those
        it has forgotten are forgotten here too: how long a done order is remembered is
        the engine's rule, `txsmarkets.exchange.state.EngineState`, and the ledger follows
        it)."""
        mine = self._orders.get(account_id)
        if not mine:
            return []
        gone = [order_id for order_id in mine if self.engine.order(order_id) is None]
        for order_id in gone:
            del mine[order_id]
            self._times.pop(order_id, None)
        return list(mine)

    # Writing

    def observe(self, account_id: int, payload: seto_pb2.Payload) -> None:
        """Take in one message of the account's stream, just sent."""
        account = self.engine.accounts.get(account_id)
        if account is None:
            return
        sequence = account.sequence
        now = self.clock.seconds()
        kind = payload.type
        field = SETO_FIELDS.get(kind)
        if field is None:
            return
        body = getattr(payload, field)
        order_id = _field(body, "order_id") or 0
        if order_id:
            self._note_order(account_id, kind, order_id, now, sequence)
        elif kind == seto_pb2.PAYLOAD_BALANCE_CHANGED:
            self._note_settlement(account_id, body.reason, now, sequence)
        source = self._source(kind, body)
        if source is None:
            return
        row = Row(sequence, now, source, order_id or None, _field(body, "label"))
        row.balance = account.balance
        row.money_change = account.balance - self._balances.get(account_id, account.balance)
        self._balances[account_id] = account.balance
        row.exposure = account.exposure
        self._describe(row, kind, body)
        rows = self._rows.get(account_id)
        if rows is None:
            rows = self._rows[account_id] = deque(maxlen=self.rows_kept)
        rows.append(row)

    def _note_order(self, account_id: int, kind: int, order_id: int, now: float, sequence: int) -> None:
        times = self._times.get(order_id)
        if times is None:
            if kind not in _NEW_ORDER:
                return  # an answer about an order the account does not have
            self._times[order_id] = OrderTimes(now, now, sequence)
            self._orders.setdefault(account_id, {})[order_id] = None
            if len(self._times) > self._sweep_at:
                self._sweep()
            return
        times.modified = now
        times.sequence = sequence

    def _note_settlement(self, account_id: int, reason: str, now: float, sequence: int) -> None:
        """A market settled or voided: each of the account's orders with fills in it changed."""
        match = _SETTLED.match(reason)
        if match is None:
            return
        market_id = int(match.group(1))
        for order_id in self._orders.get(account_id, ()):
            order = self.engine.order(order_id)
            times = self._times.get(order_id)
            if order is not None and times is not None and order.market_id == market_id and order.executed:
                times.modified = now
                times.sequence = sequence

    def _sweep(self) -> None:
        """Forget the times of the orders the engine has forgotten."""
        for mine in self._orders.values():
            gone = [order_id for order_id in mine if self.engine.order(order_id) is None]
            for order_id in gone:
                del mine[order_id]
                del self._times[order_id]
        self._sweep_at = max(10_000, 2 * len(self._times))

    @staticmethod
    def _source(kind: int, body: Any) -> str | None:
        source = _SOURCES.get(kind)
        if source is not None:
            return source
        if kind == seto_pb2.PAYLOAD_ORDER_REJECTED:
            return _REJECT_SOURCES.get(body.reason, "order.book.reject")
        if kind == seto_pb2.PAYLOAD_ORDER_INVALID:
            if list(body.reasons) == [seto_pb2.ORDER_INVALID_INVALID_QUANTITY]:
                return "order.reject.invalid_quantity"
            return "order.book.reject"
        if kind == seto_pb2.PAYLOAD_BALANCE_CHANGED:
            match = _SETTLED.match(body.reason)
            if match is None:
                return "admin.credit"
            return "market.settle" if match.group(2) == "settled" else "market.void"
        return None  # cancel-all accepted, settings: nothing of the account changed

    def _describe(self, row: Row, kind: int, body: Any) -> None:
        """Fill in the market, contract, side, price and quantity the message gives."""
        market_id = _field(body, "market_id") or 0
        if kind == seto_pb2.PAYLOAD_BALANCE_CHANGED:
            match = _SETTLED.match(body.reason)
            market_id = int(match.group(1)) if match is not None else 0
        if market_id:
            row.market_id = market_id
            info = self.engine.market(market_id)
            if info is not None:
                row.event_id = info.event_id
        row.contract_id = _field(body, "contract_id") or None
        row.side = _field(body, "side")
        row.quantity, row.quantity_change, row.price = _QUANTITIES.get(kind, _nothing)(self.engine, body)


def _field(body: Any, name: str) -> Any:
    """The value of ``body``'s field ``name``, or None if it has no such field or it is unset."""
    if name in body.DESCRIPTOR.fields_by_name and body.HasField(name):
        return getattr(body, name)
    return None


def _nothing(engine: IHttpEngine, body: Any) -> tuple[int | None, int | None, int | None]:
    return None, None, None


def _created(engine: IHttpEngine, body: Any) -> tuple[int | None, int | None, int | None]:
    return body.quantity, body.quantity, body.price


def _executed(engine: IHttpEngine, body: Any) -> tuple[int | None, int | None, int | None]:
    return body.quantity, body.quantity, body.price


def _voided_execution(engine: IHttpEngine, body: Any) -> tuple[int | None, int | None, int | None]:
    return body.quantity, -body.quantity, body.price


def _cancelled(engine: IHttpEngine, body: Any) -> tuple[int | None, int | None, int | None]:
    # The order keeps its unfilled quantity when it is cancelled: that is what went.
    order = engine.order(body.order_id)
    left = order.remaining if order is not None else None
    return left, None if left is None else -left, body.orig_price


def _reduced(engine: IHttpEngine, body: Any) -> tuple[int | None, int | None, int | None]:
    return body.new_quantity, None, body.orig_price


def _order_voided(engine: IHttpEngine, body: Any) -> tuple[int | None, int | None, int | None]:
    return body.quantity, -body.quantity, body.orig_price


_QUANTITIES: dict[int, Callable[[IHttpEngine, Any], tuple[int | None, int | None, int | None]]] = {
    seto_pb2.PAYLOAD_ORDER_ACCEPTED: _created,
    seto_pb2.PAYLOAD_ORDER_EXECUTED: _executed,
    seto_pb2.PAYLOAD_ORDER_EXECUTE_VOIDED: _voided_execution,
    seto_pb2.PAYLOAD_ORDER_CANCELLED: _cancelled,
    seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED: _reduced,
    seto_pb2.PAYLOAD_ORDER_VOIDED: _order_voided,
    seto_pb2.PAYLOAD_ORDER_PENDING_REPLACE: _created,
    seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED: _created,
}
