"""The limits `Controls` takes: now `txsmarkets.trading.limits` (kept importable here)."""

from __future__ import annotations

from txsmarkets.trading.limits import LIMITS, InvalidControls, check_limit, read_section

__all__ = ["LIMITS", "InvalidControls", "check_limit", "read_section"]
