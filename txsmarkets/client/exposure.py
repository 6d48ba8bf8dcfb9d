"""What the trading controls count: now `txsmarkets.trading.exposure` (kept importable here)."""

from __future__ import annotations

from txsmarkets.trading.exposure import CountedOrder, Ledger, MarketExposure
from txsmarkets.trading.money import FULL, UNITS, liability_units, loss_units, pounds

__all__ = ["FULL", "UNITS", "CountedOrder", "Ledger", "MarketExposure", "liability_units", "loss_units", "pounds"]
