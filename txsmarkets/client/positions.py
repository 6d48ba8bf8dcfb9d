"""Positions at average cost: now `txsmarkets.trading.positions` (kept importable here)."""

from __future__ import annotations

from txsmarkets.trading.positions import apply_fill

__all__ = ["apply_fill"]
