"""`Report`: what one backtest did, as figures, text and JSON.

Money is `Decimal` pounds in the report and a decimal string in its JSON (``"12.34"``), so
that nothing is rounded through a float on the way to a spreadsheet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from txsmarkets.backtest.watch import Fill, Series

__all__ = ["MarketFigures", "Report"]

#: Money in a report is given to a hundredth of a penny (average prices make long decimals).
_PLACE = Decimal("0.0001")


def money(value: Decimal) -> str:
    """Pounds as a decimal string to a hundredth of a penny, at least to the penny."""
    text = format(value.quantize(_PLACE).normalize(), "f")
    if "." not in text:
        return text + ".00"
    whole, fraction = text.split(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def _counted(counts: dict[str, int]) -> str:
    """Counts by name for the text report: ``"A 3, B 1"`` in the names' order, or ``"none"``."""
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"


@dataclass(frozen=True)
class MarketFigures:
    """One market's P&L: realised, marked to market, fills and volume traded."""

    realised: Decimal
    marked: Decimal
    fills: int
    volume: int
    #: contract -> signed quantity held at the end
    positions: dict[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "realised": money(self.realised),
            "marked": money(self.marked),
            "fills": self.fills,
            "volume": self.volume,
            "positions": {str(k): v for k, v in sorted(self.positions.items())},
        }


@dataclass
class Report:
    """The outcome of one backtest (see
    `txsmarkets.backtest.run_backtest <txsmarkets.backtest.runner.run_backtest>`).

    ``pnl`` is the total marked-to-market P&L and ``realised_pnl`` its realised part;
    ``markets`` each market's figures. ``max_drawdown`` is the deepest fall of the P&L
    curve from its peak; ``peak_exposure`` the trading controls' highest worst-case loss of
    the account. ``rejected`` counts the creates the exchange refused and ``rejections``
    the same by reason (`txsmarkets.trading.account.rejection_reason`: the protocol's name,
    ``ORDER_REJECTED_INSUFFICIENT_FUNDS``); ``refusals`` counts the creates our own trading
    controls refused before sending them, by control (``max_order_quantity``).
    ``messages`` is what the client received; ``sim_seconds`` the virtual time run,
    ``wall_seconds`` what it took. ``fill_list`` holds every fill (not in the JSON but its
    count). ``errors`` counts the strategy's hooks that raised. ``latency`` is the latency
    spec it ran with (``"0.05"``, ``"uniform:0.01,0.1"``), None without. ``notes`` says what
    was wrong with the inputs that the figures stand on (a recording file damaged or cut
    short, the recording's markets missing from the catalogue), a line each.
    """

    strategy: str
    params: dict[str, Any]
    source: str
    seed: int | None
    orders: int
    rejected: int
    fills: int
    cancels: int
    refusals: dict[str, int]
    pnl: Decimal
    realised_pnl: Decimal
    markets: dict[int, MarketFigures]
    max_drawdown: Decimal
    peak_exposure: Decimal
    messages: int
    sim_seconds: float
    wall_seconds: float
    errors: int = 0
    rejections: dict[str, int] = field(default_factory=dict)
    latency: str | None = None
    #: What the user must know of the inputs (a damaged recording, markets skipped), a line
    #: each; in the JSON and the text only when there are some.
    notes: list[str] = field(default_factory=list)
    fill_list: list[Fill] = field(default_factory=list, repr=False, compare=False)
    series: Series | None = field(default=None, repr=False, compare=False)

    @property
    def speed(self) -> float:
        """Virtual seconds per wall second."""
        return self.sim_seconds / self.wall_seconds if self.wall_seconds > 0 else float("inf")

    def outcome(self) -> dict[str, Any]:
        """What must be the same on every run of the same inputs: the JSON without the
        wall time (for the determinism test and for comparing runs)."""
        data = self.to_dict()
        data.pop("wall_seconds")
        data.pop("speed")
        return data

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (money as decimal strings); ``notes`` only when
        there are some."""
        data: dict[str, Any] = {
            "strategy": self.strategy,
            "params": self.params,
            "source": self.source,
            "seed": self.seed,
            "latency": self.latency,
            "orders": self.orders,
            "rejected": self.rejected,
            "rejections": dict(sorted(self.rejections.items())),
            "fills": self.fills,
            "cancels": self.cancels,
            "refusals": dict(sorted(self.refusals.items())),
            "pnl": money(self.pnl),
            "realised_pnl": money(self.realised_pnl),
            "markets": {str(k): v.to_dict() for k, v in sorted(self.markets.items())},
            "max_drawdown": money(self.max_drawdown),
            "peak_exposure": money(self.peak_exposure),
            "messages": self.messages,
            "sim_seconds": round(self.sim_seconds, 6),
            "wall_seconds": round(self.wall_seconds, 6),
            "speed": round(self.speed, 1) if self.wall_seconds > 0 else None,
            "errors": self.errors,
        }
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(self.to_dict(), sort_keys=False)

    def text(self) -> str:
        """A summary for a terminal."""
        lines = [
            f"backtest of {self.strategy} on {self.source}" + (f" (seed {self.seed})" if self.seed is not None else ""),
            f"  params:        {self.params or '{}'}",
            f"  latency:       {self.latency or 'none'}",
            f"  orders:        {self.orders} accepted, {self.rejected} rejected, {self.cancels} cancelled",
            f"  rejections:    {_counted(self.rejections)}",
            f"  fills:         {self.fills}",
            f"  refusals:      {_counted(self.refusals)}",
            f"  P&L:           {money(self.pnl)} GBP marked to market ({money(self.realised_pnl)} realised)",
            f"  max drawdown:  {money(self.max_drawdown)} GBP",
            f"  peak exposure: {money(self.peak_exposure)} GBP",
            f"  messages:      {self.messages:,}",
            f"  time:          {self.sim_seconds:,.0f} s simulated in {self.wall_seconds:.2f} s"
            f" ({self.speed:,.0f}x real time)",
        ]
        if self.errors:
            lines.append(f"  strategy errors: {self.errors} (see the log)")
        lines.extend(f"  note: {note}" for note in self.notes)
        for market_id, figures in sorted(self.markets.items()):
            lines.append(
                f"  market {market_id}: {money(figures.marked)} marked, {money(figures.realised)} realised,"
                f" {figures.fills} fills, positions {figures.positions or '{}'}"
            )
        return "\n".join(lines)
