"""The limits `Controls` takes: their names, kinds, checks, and a config file's spelling."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from txsmarkets.errors import Error
from txsmarkets.trading.money import UNITS

__all__ = ["LIMITS", "InvalidControls", "check_limit", "read_section"]

#: Every limit: its keyword, and what kind of value it takes.
LIMITS: dict[str, str] = {
    "max_order_quantity": "count",
    "max_order_liability": "pounds",
    "max_contract_exposure": "pounds",
    "max_market_exposure": "pounds",
    "max_account_exposure": "pounds",
    "max_live_orders": "count",
    "max_live_orders_per_market": "count",
    "max_orders_per_second": "count",
    "max_orders_per_minute": "count",
    "price_collar_ticks": "ticks",
    "duplicate_window": "seconds",
    "loss_limit": "pounds",
}

class InvalidControls(Error):
    """A limit given to `Controls` (or in a ``[controls]`` section) is unknown or bad."""


def check_limit(name: str, value: Any) -> Any:
    """``value`` as the limit ``name`` keeps it (pounds as integer units); InvalidControls."""
    kind = LIMITS[name]
    if kind in ("count", "ticks"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidControls(f"{name} must be a whole number, not {value!r}")
        if value < (0 if kind == "ticks" else 1):
            raise InvalidControls(f"{name} must be {'0 or more' if kind == 'ticks' else 'at least 1'}, not {value}")
        return value
    if kind == "seconds":
        seconds = float(value) if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) else 0.0
        if not (math.isfinite(seconds) and seconds > 0):
            raise InvalidControls(f"{name} must be a number of seconds above 0, not {value!r}")
        return seconds
    # Pounds: exact, so never a float.
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise InvalidControls(f"{name} must be pounds as a Decimal or an int, not {value!r}")
    units = Decimal(value) * UNITS
    if not units.is_finite() or units <= 0 or units != units.to_integral_value():
        raise InvalidControls(f"{name} must be a positive amount of pounds (to 8 places), not {value!r}")
    return int(units)




_YES = ("yes", "true", "on", "1")
_NO = ("no", "false", "off", "0")


def read_section(section: Mapping[str, str]) -> dict[str, Any]:
    """The keywords of `Controls` from a ``[controls]`` section's keys spelt with dashes;
    InvalidControls naming the key for an unknown key or a bad value.

    Counts are whole numbers, pounds decimals (``max-account-exposure = 250.00``),
    seconds numbers, ``tick-ladder`` yes or no. ``max-order-quantity`` is in the order's
    own units, ten-thousandths of a pound of payout: ``max-order-quantity = 1000000``
    allows an order paying at most £100 if it wins (a buy at 2500, 25%, stakes £25)."""
    limits: dict[str, Any] = {}
    for key, text in section.items():
        name = key.strip().lower().replace("-", "_")
        text = text.strip()
        if name == "tick_ladder":
            if text.lower() not in _YES + _NO:
                raise InvalidControls(f"[controls] tick-ladder must be yes or no, not {text!r}")
            limits[name] = text.lower() in _YES
            continue
        kind = LIMITS.get(name)
        if kind is None:
            known = ", ".join(n.replace("_", "-") for n in [*LIMITS, "tick_ladder"])
            raise InvalidControls(f"unknown control {key!r} in [controls] (known: {known})")
        try:
            value: Any = int(text) if kind in ("count", "ticks") else Decimal(text)
        except (ValueError, InvalidOperation):
            raise InvalidControls(f"[controls] {key} must be a number, not {text!r}") from None
        try:
            check_limit(name, value)
        except InvalidControls as e:
            raise InvalidControls(f"[controls] {key}: {e}") from None
        limits[name] = value
    return limits
