"""Simulated traders for the embedded exchange: a living market on any `IReactorTime`.

`Simulation` drives accounts of its own through the real `MatchingEngine` (by
`MatchingEngine.submit`, exactly as sessions do), so every quote, delta and execution a
client sees is genuine. Each market with a catalogue ``simulation`` object (or every
market, with ``all_markets``) gets a fair-value process (`FairValue`), market makers and
Poisson takers (`traders`), and a schedule (open, live, halts at jumps, settled). Same
seed, same clock -> same messages.
"""

from txsmarkets.exchange.simulation.config import SimulationSpec, SimulationSpecError, parse_simulation
from txsmarkets.exchange.simulation.fair import FairValue
from txsmarkets.exchange.simulation.runner import MarketSimulation, Simulation

__all__ = [
    "FairValue",
    "MarketSimulation",
    "Simulation",
    "SimulationSpec",
    "SimulationSpecError",
    "parse_simulation",
]
