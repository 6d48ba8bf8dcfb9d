"""The HTTP API's units as text: money, percentages, dates and times, order types.

Money is two-decimal strings, cut down to the penny (a balance is never shown as more than
it is) and exposure negative (so cut down, it is never shown as less than it is). A last
executed price is a percentage string with two decimals (basis points / 100). Times are ISO
8601 in UTC with microseconds and a ``Z``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import ROUND_FLOOR, Decimal

from txsmarkets.exchange.book import BUY
from txsmarkets.wire import seto_pb2

__all__ = [
    "ORDER_TYPES",
    "TIFS",
    "exposure_text",
    "money",
    "percent",
    "side_name",
    "timestamp",
]

_PENNY = Decimal("0.01")

#: The API's order types by the wire's time in force, and back.
TIFS: dict[str, seto_pb2.TimeInForceType] = {
    "good_til_cancelled": seto_pb2.GOOD_TIL_CANCELLED,
    "good_til_halted": seto_pb2.GOOD_TILL_HALTED,
    "keep_in_play": seto_pb2.KEEP_IN_PLAY,
    "immediate_or_cancel": seto_pb2.IMMEDIATE_OR_CANCEL,
}
ORDER_TYPES: dict[int, str] = {tif: name for name, tif in TIFS.items()}


def money(amount: Decimal) -> str:
    """Pounds as a two-decimal string, rounded down to the penny."""
    # Adding 0 turns a negative zero into a plain one.
    return str(amount.quantize(_PENNY, rounding=ROUND_FLOOR) + 0)


def exposure_text(exposure: Decimal) -> str:
    """An exposure (pounds at risk, not negative) as the API shows it: negative."""
    return money(-exposure)


def percent(price: int) -> str:
    """Basis points as a percentage string with two decimals: 2345 -> ``"23.45"``."""
    return f"{price // 100}.{price % 100:02d}"


def timestamp(seconds: float) -> str:
    """POSIX seconds as an ISO 8601 UTC time with microseconds and ``Z``."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def side_name(side: int) -> str:
    """``buy`` (back) or ``sell`` (lay) for the wire's side."""
    return "buy" if side == BUY else "sell"
