"""The account reducer: what each account message does to our view of the account.

`Account.apply` takes one account message (as the exchange sent it, in order) and returns
a `Change` saying what it changed; the live client, a journal replay, the trading
controls' exposure, a strategy's host, the daemon's figures and a backtest all take the
account from here, so the rule "message -> effect" is written once. Nothing here sends,
reads a clock or does I/O: the time of a message is passed in (``now``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from txsmarkets.trading.money import wire_pounds
from txsmarkets.trading.orders import HISTORY_SIZE, LiveOrder, OrderHistory, OrderStatus, order_data, order_from_data
from txsmarkets.wire import seto_pb2

__all__ = ["ACCOUNT_MESSAGES", "Account", "Change", "ChangeKind", "Reducer", "rejection_reason"]


class ChangeKind(enum.Enum):
    """What an account message did (`Change.kind`)."""

    #: A create was accepted: a new live order (``seq`` is the create's).
    ACCEPTED = "accepted"
    #: A create was rejected or invalid (``seq`` is the create's; no order was made).
    REJECTED = "rejected"
    #: An order filled, in part or in full (``quantity`` at ``price``).
    EXECUTED = "executed"
    #: An order was cancelled.
    CANCELLED = "cancelled"
    #: An order's unfilled quantity became ``quantity``.
    REDUCED = "reduced"
    #: A cancel-replace was accepted: ``previous`` is done, ``order`` its successor.
    REPLACED = "replaced"
    #: A cancel-replace was rejected: the original (``order_id``) stands.
    REPLACE_REJECTED = "replace_rejected"
    #: The exchange voided an order (and its fills).
    VOIDED = "voided"
    #: The exchange voided one trade of an order: ``quantity`` at ``price`` taken back
    #: (the order's ``filled`` and ``avg_price`` are as the exchange now counts them).
    EXECUTION_VOIDED = "execution_voided"
    #: The balance or exposure changed, no order with it.
    BALANCE = "balance"


class Change(NamedTuple):
    """What one account message changed (immutable; the order in it is the account's own,
    as it stands after the message).

    ``order_id`` is the order concerned (0 when none); ``order`` our `LiveOrder` of it, or
    None for one the account does not know (a fill of an order from before a history cut
    short still counts for the exposure); ``seq`` the request an answer answers (0: none);
    ``quantity`` and ``price`` a fill's (``quantity`` a reduction's new unfilled
    quantity); ``money`` whether the message carried the balance or exposure;
    ``previous`` the order a cancel-replace replaced; ``reason`` why a create was rejected
    or an order cancelled (the protocol's name: ``ORDER_REJECTED_INSUFFICIENT_FUNDS``; an
    order_invalid's reasons joined by ``+``); ``body`` the message's body, for a consumer
    that reads more of it.
    """

    kind: ChangeKind
    order_id: int
    order: LiveOrder | None
    seq: int = 0
    quantity: int = 0
    price: int = 0
    money: bool = False
    previous: LiveOrder | None = None
    reason: str | None = None
    body: Any = None


# (Positional, by tuple.__new__: a Change is made for every account message.)
_new = tuple.__new__
_ACCEPTED, _REJECTED, _EXECUTED, _CANCELLED = ChangeKind.ACCEPTED, ChangeKind.REJECTED, ChangeKind.EXECUTED, ChangeKind.CANCELLED

# Reasons by number -> the protocol's name (a dict: a cancel follows most orders).
_CANCEL_REASONS = {number: name for name, number in seto_pb2.OrderCancelledReason.items()}

#: One account message's step: (account, payload, create, now) -> its `Change`.
Reducer = Callable[["Account", seto_pb2.Payload, "seto_pb2.OrderCreate | None", "float | None"], Change]


@dataclass
class Account:
    """The account as the exchange last reported it, our live orders and the finished ones.

    ``available_balance`` and ``exposure`` are `Decimal` pounds (None until a message
    carrying them arrives: an order answer, a fill, a cancellation or a
    ``balance_changed``); ``exposure`` is what the exchange holds against our orders and
    positions. ``orders`` maps each live order's id to its `LiveOrder`; ``history`` the
    finished ones' (an `OrderHistory`: the last ``history.size``, oldest first).
    ``client.account``.
    """

    #: Pounds, as `Decimal` (the wire's doubles are taken by their shortest repr).
    available_balance: Decimal | None = None
    exposure: Decimal | None = None
    orders: dict[int, LiveOrder] = field(default_factory=dict)
    history: OrderHistory = field(default_factory=lambda: OrderHistory(HISTORY_SIZE), repr=False, compare=False)

    def apply(
        self, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None = None, now: float | None = None
    ) -> Change | None:
        """Apply one account message; returns the `Change` it made, or None for a message
        that is not the account's. ``create`` is our request, for its answer (an
        ``order_accepted`` fills in what the answer leaves out from it; a rejected one
        gives the rejected order); ``now`` the time it came (a new order's
        ``placed_at``)."""
        reducer = _REDUCERS.get(payload.type)
        return None if reducer is None else reducer(self, payload, create, now)

    @staticmethod
    def reducer(kind: int) -> Reducer | None:
        """The function `apply` calls for a message of seto type ``kind`` (None: not an
        account message), for a caller that routes by type already: ``reducer(account,
        payload, create, now)`` is ``account.apply(payload, create, now)``."""
        return _REDUCERS.get(kind)

    # -- the steps (each one message's effect) ---------------------------------------------

    def note_money(self, message: Any) -> bool:
        """Take balance and exposure (doubles of pounds on the wire, kept as `Decimal`)
        from a message that carries them. Returns whether it carried either."""
        noted = False
        if message.HasField("available_balance"):
            self.available_balance = wire_pounds(message.available_balance)
            noted = True
        if message.HasField("exposure"):
            self.exposure = wire_pounds(message.exposure)
            noted = True
        return noted

    def accepted(
        self, create: seto_pb2.OrderCreate | None, answer: seto_pb2.OrderAccepted, now: float | None = None
    ) -> LiveOrder:
        """Record a newly accepted order; ``create`` is our request, when we have it, and
        ``now`` when it was accepted. Returns the new `LiveOrder`."""
        source = create if create is not None else answer
        order = LiveOrder(
            order_id=answer.order_id,
            market_id=answer.market_id or source.market_id,
            contract_id=answer.contract_id or source.contract_id,
            side=answer.side or source.side,
            price=answer.price or source.price,
            quantity=answer.quantity or source.quantity,
            reference=answer.reference if answer.HasField("reference") else None,
            label=answer.label if answer.HasField("label") else None,
            placed_at=now,
        )
        self.orders[order.order_id] = order
        return order

    def executed(self, fill: seto_pb2.OrderExecuted) -> None:
        """Apply a fill; an order with nothing left is no longer live (``done``, status
        ``FILLED``, out of ``orders`` into ``history``). A fill of an order we do not know
        is ignored. Returns None."""
        order = self.orders.get(fill.order_id)
        if order is None:
            return
        if fill.HasField("total_executed_quantity"):
            order.filled = fill.total_executed_quantity
        else:
            order.filled += fill.quantity
        if fill.HasField("executed_avg_price"):
            order.avg_price = fill.executed_avg_price
        if fill.HasField("available_quantity"):
            order.quantity = order.filled + fill.available_quantity
        if order.unfilled <= 0:
            self.done(fill.order_id, OrderStatus.FILLED)

    def reduced(self, order_id: int, new_unfilled: int) -> None:
        """The order's unfilled quantity is now ``new_unfilled`` (ten-thousandths of a pound
        of payout). Returns None."""
        order = self.orders.get(order_id)
        if order is not None:
            order.quantity = order.filled + new_unfilled

    def done(self, order_id: int, status: OrderStatus = OrderStatus.CANCELLED, reason: str | None = None) -> LiveOrder | None:
        """The order is no longer live (cancelled unless ``status`` says otherwise):
        ``done``, out of ``orders`` and into ``history``. Returns it (None if unknown)."""
        order = self.orders.pop(order_id, None)
        if order is not None:
            # (`LiveOrder.finish`, inline: most orders end here.)
            order.done, order.status, order.reason = True, status, reason
            self.history.keep(order)
        return order

    def order(self, order_id: int) -> LiveOrder | None:
        """The order ``order_id``, live or in the history; None if neither holds it."""
        order = self.orders.get(order_id)
        return order if order is not None else self.history.get(order_id)

    # -- snapshot and restore (the daemon's state folder) -----------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything here as JSON-ready data (money as strings of pounds); see `restore`."""
        return {
            "available_balance": None if self.available_balance is None else str(self.available_balance),
            "exposure": None if self.exposure is None else str(self.exposure),
            "orders": [order_data(order) for order in self.orders.values()],
            "history": [order_data(order) for order in self.history.values()],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace everything with what `snapshot` returned (an older snapshot, without
        statuses or history, too). Returns None; raises `ValueError` if ``data`` is
        malformed."""
        try:
            balance, exposure = data["available_balance"], data["exposure"]
            orders = [order_from_data(order) for order in data["orders"]]
            finished = [order_from_data(order) for order in data.get("history", ())]
            self.available_balance = None if balance is None else Decimal(balance)
            self.exposure = None if exposure is None else Decimal(exposure)
        except (KeyError, TypeError, ValueError, ArithmeticError) as e:
            raise ValueError(f"malformed account snapshot: {e!r}") from None
        self.orders = {order.order_id: order for order in orders}
        self.history.clear()
        for order in finished:
            self.history.keep(order)


def rejection_reason(message: seto_pb2.Payload) -> str:
    """Why an ``order_rejected`` or ``order_invalid`` refused an order, by the protocol's
    name: ``ORDER_REJECTED_INSUFFICIENT_FUNDS``; an order_invalid's reasons joined by
    ``+`` (``ORDER_INVALID_INVALID_PRICE+ORDER_INVALID_INVALID_QUANTITY``), so that each
    answer counts once."""
    if message.type == seto_pb2.PAYLOAD_ORDER_INVALID:
        names = [seto_pb2.OrderInvalidReason.Name(r) for r in message.order_invalid.reasons]
        return "+".join(names) or "ORDER_INVALID"
    return seto_pb2.OrderRejectedReason.Name(message.order_rejected.reason)


# -- each account message's reducer ----------------------------------------------------------


def _accepted(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    answer = payload.order_accepted
    money = account.note_money(answer)
    order = account.accepted(create, answer, now)
    return _new(Change, (_ACCEPTED, order.order_id, order, answer.seq, 0, 0, money, None, None, answer))


def _rejected(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    body: Any = payload.order_invalid if payload.type == seto_pb2.PAYLOAD_ORDER_INVALID else payload.order_rejected
    reason = rejection_reason(payload)
    order = None
    if create is not None:
        order = LiveOrder(
            0, create.market_id, create.contract_id, create.side, create.price, create.quantity,
            reference=create.reference if create.HasField("reference") else None,
            label=create.label if create.HasField("label") else None,
        )
        order.finish(OrderStatus.REJECTED, reason)
    return _new(Change, (_REJECTED, 0, order, body.seq, 0, 0, False, None, reason, body))


def _executed(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    fill = payload.order_executed
    money = account.note_money(fill)
    order = account.orders.get(fill.order_id)
    account.executed(fill)
    return _new(Change, (_EXECUTED, fill.order_id, order, 0, fill.quantity, fill.price, money, None, None, fill))


def _cancelled(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    body = payload.order_cancelled
    money = account.note_money(body)
    reason = _CANCEL_REASONS.get(body.reason)
    order = account.done(body.order_id, OrderStatus.CANCELLED, reason)
    return _new(Change, (_CANCELLED, body.order_id, order, 0, 0, 0, money, None, reason, body))


def _voided(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    body = payload.order_voided
    order = account.done(body.order_id, OrderStatus.VOIDED)
    if order is None:
        # Its fills are voided too: a filled order is in the history.
        order = account.history.get(body.order_id)
        if order is not None:
            order.finish(OrderStatus.VOIDED)
    return Change(ChangeKind.VOIDED, body.order_id, order, body=body)


def _execute_voided(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    body = payload.order_execute_voided
    money = account.note_money(body)
    order = account.order(body.order_id)
    if order is not None:
        order.filled = body.executed_quantity if body.HasField("executed_quantity") else max(0, order.filled - body.quantity)
        if body.HasField("executed_avg_price"):
            order.avg_price = body.executed_avg_price
        if not order.done and body.HasField("available_quantity"):
            # The quantity voided is not offered again: the order is that much smaller.
            order.quantity = order.filled + body.available_quantity
    return Change(ChangeKind.EXECUTION_VOIDED, body.order_id, order, quantity=body.quantity, price=body.price, money=money, body=body)


def _reduced(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    body = payload.order_quantity_reduced
    account.reduced(body.order_id, body.new_quantity)
    return Change(ChangeKind.REDUCED, body.order_id, account.orders.get(body.order_id), quantity=body.new_quantity, body=body)


def _replaced(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    body = payload.order_cancel_replace_accepted
    old = account.done(body.orig_order_id, OrderStatus.REPLACED)
    # Live even when nothing of it is left unfilled: its fills follow, and finish it.
    order = account.orders[body.order_id] = LiveOrder(
        order_id=body.order_id,
        market_id=body.market_id,
        contract_id=body.contract_id,
        side=body.side,
        price=body.price,
        # The whole of it: what filled at once comes in the fills that follow.
        quantity=body.quantity,
        reference=body.reference if body.HasField("reference") else None,
        label=body.label if body.HasField("label") else (old.label if old is not None else None),
        placed_at=now,
    )
    return Change(ChangeKind.REPLACED, body.order_id, order, previous=old, body=body)


def _replace_rejected(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    body = payload.order_cancel_replace_rejected
    return Change(ChangeKind.REPLACE_REJECTED, body.orig_order_id, account.orders.get(body.orig_order_id), body=body)


def _balance(account: Account, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None, now: float | None) -> Change:
    body = payload.balance_changed
    return Change(ChangeKind.BALANCE, 0, None, money=account.note_money(body), body=body)


_REDUCERS: dict[int, Reducer] = {
    seto_pb2.PAYLOAD_ORDER_ACCEPTED: _accepted,
    seto_pb2.PAYLOAD_ORDER_REJECTED: _rejected,
    seto_pb2.PAYLOAD_ORDER_INVALID: _rejected,
    seto_pb2.PAYLOAD_ORDER_EXECUTED: _executed,
    seto_pb2.PAYLOAD_ORDER_CANCELLED: _cancelled,
    seto_pb2.PAYLOAD_ORDER_VOIDED: _voided,
    seto_pb2.PAYLOAD_ORDER_EXECUTE_VOIDED: _execute_voided,
    seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED: _reduced,
    seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED: _replaced,
    seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED: _replace_rejected,
    seto_pb2.PAYLOAD_BALANCE_CHANGED: _balance,
}

#: The seto payload types `Account.apply` takes.
ACCOUNT_MESSAGES = frozenset(_REDUCERS)
