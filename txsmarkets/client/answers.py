"""How each answer names the request it answers: seto type -> (request key, error or None)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from txsmarkets.exceptions import OrderInvalid, OrderRejected, RequestRejected
from txsmarkets.wire import seto_pb2

__all__ = ["ANSWERS", "Match"]

Match = Callable[[seto_pb2.Payload], "tuple[tuple[Any, ...], Exception | None] | None"]


def _accepts(request: str, field: str, attribute: str) -> Match:
    """An answer that fires the request named by ``field.attribute``."""

    def match(payload: seto_pb2.Payload) -> tuple[tuple[Any, ...], None]:
        return (request, getattr(getattr(payload, field), attribute)), None

    return match


def _refuses(request: str, field: str, attribute: str, reasons: Any, error: type[RequestRejected]) -> Match:
    """An answer that errbacks the request named by ``field.attribute`` with its reason."""

    def match(payload: seto_pb2.Payload) -> tuple[tuple[Any, ...], Exception]:
        body = getattr(payload, field)
        return (request, getattr(body, attribute)), error(reasons.Name(body.reason), payload)

    return match


def _invalid(payload: seto_pb2.Payload) -> tuple[tuple[Any, ...], Exception]:
    body = payload.order_invalid
    names = [seto_pb2.OrderInvalidReason.Name(r) for r in body.reasons]
    return ("order", body.seq), OrderInvalid(names, payload)


def _cancelled(payload: seto_pb2.Payload) -> tuple[tuple[Any, ...], None] | None:
    # Only a cancel we asked for answers a request; the exchange cancels for other reasons.
    body = payload.order_cancelled
    if body.reason == seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED:
        return ("cancel", body.order_id), None
    return None


ANSWERS: dict[int, Match] = {
    seto_pb2.PAYLOAD_ORDER_ACCEPTED: _accepts("order", "order_accepted", "seq"),
    seto_pb2.PAYLOAD_ORDER_REJECTED: _refuses(
        "order", "order_rejected", "seq", seto_pb2.OrderRejectedReason, OrderRejected
    ),
    seto_pb2.PAYLOAD_ORDER_INVALID: _invalid,
    seto_pb2.PAYLOAD_ORDER_CANCELLED: _cancelled,
    seto_pb2.PAYLOAD_ORDER_CANCEL_REJECTED: _refuses(
        "cancel", "order_cancel_rejected", "order_id", seto_pb2.OrderCancelRejectedReason, RequestRejected
    ),
    seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_ACCEPTED: _accepts("cancel_all", "order_cancel_all_accepted", "reference"),
    seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_REJECTED: _refuses(
        "cancel_all", "order_cancel_all_rejected", "reference", seto_pb2.OrderCancelAllRejectedReason, RequestRejected
    ),
    seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED: _accepts("reduce", "order_quantity_reduced", "order_id"),
    seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE_REJECTED: _refuses(
        "reduce",
        "order_quantity_reduce_rejected",
        "order_id",
        seto_pb2.OrderQuantityReduceRejectedReason,
        RequestRejected,
    ),
    seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED: _accepts(
        "replace", "order_cancel_replace_accepted", "orig_order_id"
    ),
    seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED: _refuses(
        "replace",
        "order_cancel_replace_rejected",
        "orig_order_id",
        seto_pb2.OrderCancelReplaceRejectedReason,
        RequestRejected,
    ),
    seto_pb2.PAYLOAD_SETTINGS_ACCEPTED: _accepts("settings", "settings_accepted", "cancel_all_on_failure"),
    seto_pb2.PAYLOAD_MARKET_QUOTES: _accepts("subscribe", "market_quotes", "market_id"),
}
