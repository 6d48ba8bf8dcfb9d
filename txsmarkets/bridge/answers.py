"""The bridge's messages to an account, built in one place: each function makes one
``seto.Payload`` about an order placed through the bridge (a `BridgeOrder`), returned with
the body whose sequence fields the account stream fills in (None for a message without
them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from txsmarkets.bridge.state import BridgeOrder
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = [
    "balance_changed",
    "order_accepted",
    "order_cancel_all_accepted",
    "order_cancel_all_rejected",
    "order_cancel_rejected",
    "order_cancel_replace_rejected",
    "order_cancelled",
    "order_execute_voided",
    "order_executed",
    "order_invalid",
    "order_quantity_reduce_rejected",
    "order_rejected",
    "settings_accepted",
]

Message = tuple[seto_pb2.Payload, Any]


def _money(body: Any, available_balance: Decimal | None, exposure: Decimal | None) -> None:
    # The wire carries money as doubles; the exposure positive, as the exchange sends it.
    if available_balance is not None:
        body.available_balance = float(available_balance)
    if exposure is not None:
        body.exposure = float(abs(exposure))


def _echo(body: Any, order: BridgeOrder | None, reference: int | None = None) -> None:
    if reference is None and order is not None:
        reference = order.reference
    if reference is not None:
        body.reference = reference
    if order is not None and order.label is not None:
        body.label = order.label


def _describe(body: Any, order: BridgeOrder) -> None:
    body.market_id = order.market_id
    body.contract_id = order.contract_id
    body.side = order.side


def order_accepted(
    order: BridgeOrder, seq: int, available_balance: Decimal | None, exposure: Decimal | None
) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_ACCEPTED)
    body = payload.order_accepted
    body.seq = seq
    body.order_id = order.id
    body.price = order.price
    body.quantity = order.quantity
    _describe(body, order)
    _echo(body, order)
    _money(body, available_balance, exposure)
    return payload, body


def order_rejected(seq: int, reason: int, reference: int | None, label: str | None) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_REJECTED)
    body = payload.order_rejected
    body.seq = seq
    body.reason = reason  # type: ignore[assignment]  # the wire's int
    if reference is not None:
        body.reference = reference
    if label is not None:
        body.label = label
    return payload, body


def order_invalid(seq: int, reasons: list[int], reference: int | None) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_INVALID)
    body = payload.order_invalid
    body.seq = seq
    body.reasons.extend(reasons)  # type: ignore[arg-type]
    if reference is not None:
        body.reference = reference
    return payload, None


def _fill(
    body: Any, order: BridgeOrder, price: int, quantity: int, available_balance: Decimal | None, exposure: Decimal | None
) -> None:
    """What an order_executed and an order_execute_voided both say of the fill and the order."""
    body.order_id = order.id
    body.price = price
    body.quantity = quantity
    _describe(body, order)
    body.executed_avg_price = order.executed_avg_price
    body.available_quantity = order.available
    body.orig_price = order.price
    if order.label is not None:
        body.label = order.label
    _money(body, available_balance, exposure)


def order_executed(
    order: BridgeOrder, price: int, quantity: int, available_balance: Decimal | None, exposure: Decimal | None
) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_EXECUTED)
    body = payload.order_executed
    _fill(body, order, price, quantity, available_balance, exposure)
    body.total_executed_quantity = order.executed
    return payload, body


def order_execute_voided(
    order: BridgeOrder, price: int, quantity: int, available_balance: Decimal | None, exposure: Decimal | None
) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_EXECUTE_VOIDED)
    body = payload.order_execute_voided
    _fill(body, order, price, quantity, available_balance, exposure)
    body.executed_quantity = order.executed
    return payload, body


def order_cancelled(
    order: BridgeOrder, reason: int, available_balance: Decimal | None, exposure: Decimal | None
) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCELLED)
    body = payload.order_cancelled
    body.reason = reason  # type: ignore[assignment]
    body.order_id = order.id
    body.executed_quantity = order.executed
    if order.executed:
        body.executed_avg_price = order.executed_avg_price
    _describe(body, order)
    body.orig_price = order.price
    _echo(body, order)
    _money(body, available_balance, exposure)
    return payload, body


def order_cancel_rejected(order_id: int, reason: int, reference: int | None, order: BridgeOrder | None) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_REJECTED)
    body = payload.order_cancel_rejected
    body.reason = reason  # type: ignore[assignment]
    body.order_id = order_id
    if order is not None:
        _describe(body, order)
    _echo(body, order, reference)
    return payload, body


def order_cancel_all_accepted(reference: int | None) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_ACCEPTED)
    body = payload.order_cancel_all_accepted
    if reference is not None:
        body.reference = reference
    return payload, body


def order_cancel_all_rejected(reference: int | None) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_REJECTED)
    body = payload.order_cancel_all_rejected
    body.reason = seto_pb2.ORDER_CANCEL_ALL_REJECTED_UNKNOWN_ERROR
    if reference is not None:
        body.reference = reference
    return payload, body


def order_cancel_replace_rejected(
    request: seto_pb2.OrderCancelReplace, order: BridgeOrder | None, reason: int
) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED)
    body = payload.order_cancel_replace_rejected
    body.order_id = 0  # no new order was made
    body.orig_order_id = request.orig_order_id
    body.reason = reason  # type: ignore[assignment]
    if order is not None:
        _describe(body, order)
    else:
        # Required fields with nothing to say: the request's market, no contract, buy.
        body.market_id = request.market_id
        body.contract_id = 0
        body.side = seto_pb2.SIDE_BUY
    if request.HasField("reference"):
        body.reference = request.reference
    if request.HasField("label"):
        body.label = request.label
    return payload, body


def order_quantity_reduce_rejected(
    request: seto_pb2.OrderQuantityReduce, order: BridgeOrder | None, reason: int
) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE_REJECTED)
    body = payload.order_quantity_reduce_rejected
    body.order_id = request.order_id
    body.reason = reason  # type: ignore[assignment]
    body.new_quantity = request.new_quantity
    _echo(body, order, request.reference if request.HasField("reference") else None)
    return payload, body


def settings_accepted(cancel_all_on_failure: bool) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_SETTINGS_ACCEPTED)
    payload.settings_accepted.cancel_all_on_failure = cancel_all_on_failure
    return payload, None


def balance_changed(reason: str, available_balance: Decimal, exposure: Decimal | None) -> Message:
    payload = new_payload(seto_pb2.PAYLOAD_BALANCE_CHANGED)
    body = payload.balance_changed
    body.reason = reason
    _money(body, available_balance, exposure)
    return payload, None
