"""Strict reading of the requests a client sends: nothing missing or unknown taken as a default.

The schema is proto2: a required field that is absent still reads as its default, and an
enum value this schema does not know is kept among the message's unknown fields while the
field reads as its default (a ``side`` of 99 reads as BUY, a ``tif`` of 99 as
GOOD_TIL_CANCELLED). Every request is therefore checked before it is acted on:

- a missing or unknown field that has an answer of its own (an order's price or quantity,
  their types, a reduce's new quantity) is answered with that reason (`invalid_reasons`,
  order_invalid; the engine answers a reduce with INVALID_NEW_QUANTITY);
- any other missing required field or unknown enum value, or a request without its body, is
  a protocol error (`request_error`): the exchange drops the connection.

Unknown fields whose numbers the schema does not declare are left alone (a newer client's
additions), as protobuf intends.
"""

from __future__ import annotations

from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from txsmarkets.odds import is_valid_price
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import SETO_FIELDS

__all__ = ["ORDER_TYPES", "REQUEST_TYPES", "invalid_reasons", "request_error", "unknown_values"]

#: The requests the matching engine answers (orders and the account's settings).
ORDER_TYPES = frozenset(
    {
        seto_pb2.PAYLOAD_ORDER_CREATE,
        seto_pb2.PAYLOAD_ORDER_CANCEL,
        seto_pb2.PAYLOAD_ORDER_CANCEL_ALL,
        seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE,
        seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE,
        seto_pb2.PAYLOAD_SETTINGS,
    }
)

#: The seto payload types a client may send after login that the exchange acts on.
REQUEST_TYPES = ORDER_TYPES | frozenset(
    {
        seto_pb2.PAYLOAD_MARKET_SUBSCRIBE,
        seto_pb2.PAYLOAD_MARKET_UNSUBSCRIBE,
        seto_pb2.PAYLOAD_EVENT_SUBSCRIBE,
        seto_pb2.PAYLOAD_EVENT_UNSUBSCRIBE,
    }
)

# Fields a missing or unknown value of which has an answer with a reason of its own.
_REASONED = frozenset(
    {
        "order_create.price",
        "order_create.price_type",
        "order_create.quantity",
        "order_create.quantity_type",
        "order_cancel_replace.price",
        "order_cancel_replace.price_type",
        "order_cancel_replace.quantity",
        "order_cancel_replace.quantity_type",
        "order_quantity_reduce.new_quantity",
    }
)


def _all_optional(field: str) -> bool:
    body: Message = getattr(seto_pb2.Payload(), field)
    return not any(f.is_required for f in body.DESCRIPTOR.fields)


# Request bodies with no required field (order_cancel_all, settings): absent is empty.
_EMPTY_ALLOWED = frozenset(SETO_FIELDS[kind] for kind in REQUEST_TYPES if _all_optional(SETO_FIELDS[kind]))


def unknown_values(body: Message) -> set[str]:
    """The names of ``body``'s declared fields that came only as unknown fields: an enum
    value this schema does not know (or a value of the wrong wire type)."""
    unknown = UnknownFieldSet(body)
    if not len(unknown):
        return set()
    by_number = body.DESCRIPTOR.fields_by_number
    numbers = {unknown[index].field_number for index in range(len(unknown))}
    return {by_number[number].name for number in numbers if number in by_number}


# seto type of a request -> the field of its body.
_REQUEST_FIELDS = {kind: SETO_FIELDS[kind] for kind in REQUEST_TYPES}


def request_error(payload: seto_pb2.Payload) -> str | None:
    """What makes ``payload`` (a request of one of `REQUEST_TYPES`) a protocol error, or
    None when every field without a reason of its own is present and known."""
    field = _REQUEST_FIELDS.get(payload.type)
    if field is None:
        return None
    if not payload.HasField(field):
        if field in _EMPTY_ALLOWED:
            return None  # all its fields are optional: an empty body may be left out
        return f"{field} payload without its body"
    body: Message = getattr(payload, field)
    initialized = body.IsInitialized()
    if initialized and not len(UnknownFieldSet(body)):
        return None  # the common case: one pass over each, no sets built
    if not initialized:
        for path in body.FindInitializationErrors():  # type: ignore[attr-defined]  # not in the stubs
            if f"{field}.{path}" not in _REASONED:
                return f"{field}.{path} missing"
    for name in sorted(unknown_values(body)):
        if f"{field}.{name}" not in _REASONED:
            return f"{field}.{name} has a value this schema does not know"
    return None


def invalid_reasons(
    body: seto_pb2.OrderCreate | seto_pb2.OrderCancelReplace,
) -> list[seto_pb2.OrderInvalidReason]:
    """The order_invalid reasons of an order_create or order_cancel_replace ([] if none):
    INVALID_PRICE for a price missing, off the tick ladder or of an unknown price type,
    INVALID_QUANTITY for a quantity missing, 0 or of an unknown quantity type."""
    price_ok = body.HasField("price") and is_valid_price(body.price)
    quantity_ok = body.quantity > 0
    if price_ok and quantity_ok and not len(UnknownFieldSet(body)):
        return []  # the common case, without building the set of names
    unknown = unknown_values(body)
    reasons: list[seto_pb2.OrderInvalidReason] = []
    if not price_ok or "price_type" in unknown:
        reasons.append(seto_pb2.ORDER_INVALID_INVALID_PRICE)
    if not quantity_ok or "quantity_type" in unknown:
        reasons.append(seto_pb2.ORDER_INVALID_INVALID_QUANTITY)
    return reasons
