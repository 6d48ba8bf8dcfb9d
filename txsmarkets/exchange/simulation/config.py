"""The ``simulation`` object of a catalogue market: how its simulated traders behave.

Every key is optional; a missing one takes the default in `SimulationSpec`. Any other key is
refused (`SimulationSpecError`, which the catalogue loader turns into a `CatalogueError`
naming the place), so that a misspelt key is not silently ignored. Times are seconds of the
exchange's clock, quantities wire units (10000 = £1 of payout).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["SimulationSpec", "SimulationSpecError", "parse_simulation"]


class SimulationSpecError(ValueError):
    """A ``simulation`` object is malformed; the message names the key and the problem."""


@dataclass(frozen=True)
class SimulationSpec:
    """How one market is simulated (see "A living market" in ``docs/guides/exchange.rst``
    for each key)."""

    #: Starting probabilities of the contracts in percent, in catalogue order (None: equal).
    initial: tuple[float, ...] | None = None
    #: Standard deviation of the log-odds random walk per square-root second.
    volatility: float = 0.01
    #: Pull of the log-odds back toward the initial ones, per second (0: a pure random walk).
    mean_reversion: float = 0.0
    #: Jumps ("goals") per second while live, and their size in log-odds.
    jump_rate: float = 1 / 600
    jump_size: float = 1.0
    #: Market makers, the ladder levels each quotes per side, ticks from fair value to its
    #: first quote, quantity per level, and ticks its quotes move per ``skew_unit`` of inventory.
    makers: int = 2
    levels: int = 3
    spread_ticks: int = 2
    size: int = 50000
    skew_unit: int = 200000
    #: Seconds between fair-value steps (and requotes).
    requote_interval: float = 1.0
    #: Taker arrivals per second (Poisson), the share of them that is informed, their size.
    taker_rate: float = 0.5
    informed_share: float = 0.2
    taker_size: int = 30000
    #: Seconds from the start until the market goes live (None: never), the halt at each
    #: jump, and seconds from the start until it settles (None: never).
    live_after: float | None = 60.0
    halt_seconds: float = 5.0
    settle_after: float | None = 3600.0

    def check(self, contracts: int) -> None:
        """SimulationSpecError if the values cannot work for a market of ``contracts``."""
        if self.initial is not None:
            if len(self.initial) != contracts:
                raise SimulationSpecError(
                    f"initial: {len(self.initial)} probabilities for {contracts} contracts"
                )
            if any(p <= 0 for p in self.initial) or abs(sum(self.initial) - 100) > 1e-6:
                raise SimulationSpecError("initial: probabilities must be positive and sum to 100")
        for name in ("makers", "levels", "spread_ticks", "size", "taker_size", "skew_unit"):
            if getattr(self, name) < (0 if name == "makers" else 1):
                raise SimulationSpecError(f"{name}: {getattr(self, name)!r} is too small")
        if not 0 <= self.informed_share <= 1:
            raise SimulationSpecError("informed_share: must be in 0..1")
        if self.requote_interval <= 0:
            raise SimulationSpecError("requote_interval: must be positive")
        for name in ("volatility", "mean_reversion", "jump_rate", "jump_size", "taker_rate", "halt_seconds"):
            if getattr(self, name) < 0:
                raise SimulationSpecError(f"{name}: must not be negative")


_FIELDS = {field.name: field for field in dataclasses.fields(SimulationSpec)}
_INTS = {"makers", "levels", "spread_ticks", "size", "skew_unit", "taker_size"}
_OPTIONAL = {"initial", "live_after", "settle_after"}


def _number(key: str, value: Any, integer: bool) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "is_finite"):
        raise SimulationSpecError(f"{key}: must be a number, not {value!r}")
    if integer:
        if int(value) != value:
            raise SimulationSpecError(f"{key}: must be a whole number, not {value!r}")
        return int(value)
    return float(value)


def parse_simulation(value: Any, contracts: int) -> SimulationSpec:
    """A `SimulationSpec` from a decoded JSON object; SimulationSpecError if it is bad."""
    if not isinstance(value, Mapping):
        raise SimulationSpecError("must be a JSON object")
    options: dict[str, Any] = {}
    for key, item in value.items():
        if key not in _FIELDS:
            raise SimulationSpecError(f"unknown key {key!r} (known: {', '.join(sorted(_FIELDS))})")
        if item is None and key in _OPTIONAL and key != "initial":
            options[key] = None
        elif key == "initial":
            if not isinstance(item, list):
                raise SimulationSpecError("initial: must be an array of percents")
            options[key] = tuple(_number(key, p, False) for p in item)
        else:
            options[key] = _number(key, item, key in _INTS)
    spec = SimulationSpec(**options)
    spec.check(contracts)
    return spec
