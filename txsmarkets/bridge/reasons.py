"""What the streaming protocol says for each answer of the HTTP API: the reasons of the
rejections, mapped from the ``error_type`` of an HTTP error (or from a request that got no
answer).

The mapping, documented in ``docs/guides/bridge.rst``:

- an ``ORDER_REJECTED_<X>`` is the streaming ``ORDER_REJECTED_<X>``; an
  ``ORDER_CANCELLED_MARKET_HALTED`` / ``_TRADING_SUSPENDED`` (an order ended at once) the
  rejection of the same name; an ``ORDER_INVALID_...`` an order_invalid with each reason it
  names; a 403 (not an API user, unverified, blocked) ``ORDER_REJECTED_ACCOUNT_SUSPENDED``;
  a 429 or a full rate-limit queue ``ORDER_REJECTED_THROTTLE_EXCEEDED``; anything else, and
  a request whose outcome is unknown (a timeout, a lost connection, a 5xx),
  ``ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE``.
- an ``ORDER_CANCEL_REJECTED_<X>`` is the streaming reason of the same name; anything
  else ``ORDER_CANCEL_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE``.
"""

from __future__ import annotations

from txsmarkets.exceptions import ConnectionError, ConnectionLost, RequestTimeout
from txsmarkets.http_api import APIError, HTTPOrderInvalid, QueueFull, RateLimitExceeded
from txsmarkets.wire import seto_pb2

__all__ = ["cancel_rejected_reason", "create_answer", "outcome_unknown", "upstream_failure"]

_UNAVAILABLE = seto_pb2.ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE
_ENDED_AT_ONCE = {
    "ORDER_CANCELLED_MARKET_HALTED": seto_pb2.ORDER_REJECTED_MARKET_HALTED,
    "ORDER_CANCELLED_TRADING_SUSPENDED": seto_pb2.ORDER_REJECTED_TRADING_SUSPENDED,
}


def _enum_value(enum: object, name: str) -> int | None:
    try:
        return int(enum.Value(name))  # type: ignore[attr-defined]
    except ValueError:
        return None


def create_answer(error: BaseException) -> tuple[int, list[int]]:
    """The answer to an order create the upstream did not accept: ``(PAYLOAD_ORDER_REJECTED,
    [reason])`` or ``(PAYLOAD_ORDER_INVALID, reasons)``."""
    if isinstance(error, HTTPOrderInvalid):
        reasons = [_enum_value(seto_pb2.OrderInvalidReason, name) for name in error.reasons]
        known = [reason for reason in reasons if reason is not None]
        if known:
            return seto_pb2.PAYLOAD_ORDER_INVALID, known
    if isinstance(error, (RateLimitExceeded, QueueFull)):
        return seto_pb2.PAYLOAD_ORDER_REJECTED, [seto_pb2.ORDER_REJECTED_THROTTLE_EXCEEDED]
    if isinstance(error, APIError):
        reason: int | None = _ENDED_AT_ONCE.get(error.error_type)
        if reason is None and error.error_type.startswith("ORDER_REJECTED_"):
            reason = _enum_value(seto_pb2.OrderRejectedReason, error.error_type)
        if reason is None and error.status == 403:
            reason = seto_pb2.ORDER_REJECTED_ACCOUNT_SUSPENDED
        return seto_pb2.PAYLOAD_ORDER_REJECTED, [reason if reason is not None else _UNAVAILABLE]
    return seto_pb2.PAYLOAD_ORDER_REJECTED, [_UNAVAILABLE]


def cancel_rejected_reason(error: BaseException) -> int:
    """The order_cancel_rejected reason for a cancel the upstream did not carry out."""
    if isinstance(error, APIError) and error.error_type.startswith("ORDER_CANCEL_REJECTED_"):
        reason = _enum_value(seto_pb2.OrderCancelRejectedReason, error.error_type)
        if reason is not None:
            return reason
    if isinstance(error, (RateLimitExceeded, QueueFull)):
        return seto_pb2.ORDER_CANCEL_REJECTED_THROTTLE_EXCEEDED
    return seto_pb2.ORDER_CANCEL_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE


def outcome_unknown(error: BaseException) -> bool:
    """Whether a request that failed with ``error`` may still have been carried out (no
    answer came: a timeout, or the connection lost after it went out)."""
    return isinstance(error, (RequestTimeout, ConnectionLost))


def upstream_failure(error: BaseException) -> bool:
    """Whether ``error`` says the upstream is unwell (no answer, no connection, a 5xx), as
    opposed to an answer about the request itself."""
    if isinstance(error, (RequestTimeout, ConnectionLost, ConnectionError)):
        return True
    return isinstance(error, APIError) and error.status >= 500
