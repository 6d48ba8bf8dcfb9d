"""The fair value of a market: one probability per contract, summing to 1.

The process runs on log-odds: each step adds Gaussian noise (``volatility`` x sqrt(dt)), an
optional pull back toward the starting values (``mean_reversion``), and, at a jump, a
``jump_size`` push to one contract (a goal). Probabilities are the softmax of the log-odds,
so they stay positive and sum to 1 whatever the walk does.
"""

from __future__ import annotations

import math
import random
from typing import Sequence

__all__ = ["FairValue"]

#: No contract's probability goes below this (nor above 1 minus it): the ladder ends at 1%.
_FLOOR = 0.015


class FairValue:
    """The fair probabilities of one market's contracts, stepped by a seeded `random.Random`."""

    def __init__(
        self,
        rng: random.Random,
        initial: Sequence[float],
        volatility: float,
        mean_reversion: float = 0.0,
        jump_size: float = 1.0,
    ) -> None:
        """``initial`` are probabilities (any positive weights; they are normalised)."""
        total = sum(initial)
        self._rng = rng
        self._anchor = [math.log(p / total) for p in initial]
        self._log_odds = list(self._anchor)
        self.volatility = volatility
        self.mean_reversion = mean_reversion
        self.jump_size = jump_size
        self.probabilities: list[float] = []
        self._normalise()

    def _normalise(self) -> None:
        top = max(self._log_odds)
        weights = [math.exp(x - top) for x in self._log_odds]
        total = sum(weights)
        n = len(weights)
        probabilities = [w / total for w in weights]
        floor = min(_FLOOR, 0.5 / n)
        if min(probabilities) < floor:
            # Mixed with the uniform just enough to lift the smallest to the floor.
            mix = (floor - min(probabilities)) / (1 / n - min(probabilities))
            probabilities = [(1 - mix) * p + mix / n for p in probabilities]
        self.probabilities = probabilities

    def step(self, dt: float) -> None:
        """Move the walk on by ``dt`` seconds."""
        if len(self._log_odds) < 2:
            return
        sigma = self.volatility * math.sqrt(dt)
        pull = min(1.0, self.mean_reversion * dt)
        gauss = self._rng.gauss
        self._log_odds = [
            x + sigma * gauss(0.0, 1.0) + pull * (anchor - x)
            for x, anchor in zip(self._log_odds, self._anchor)
        ]
        self._normalise()

    def jump(self) -> int:
        """A jump toward one contract (drawn uniformly); returns its index."""
        index = self._rng.randrange(len(self._log_odds))
        self._log_odds[index] += self.jump_size
        self._normalise()
        return index

    def draw_outcome(self) -> int:
        """The index of a winning contract, drawn from the current probabilities."""
        return self._rng.choices(range(len(self.probabilities)), weights=self.probabilities)[0]
