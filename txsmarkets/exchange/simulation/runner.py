"""`Simulation`: the schedule of every simulated market, run on an `IReactorTime`.

Per market, from `Simulation.start`:

- every ``requote_interval`` seconds the fair value steps and the makers requote (only
  while the market trades); while live, a jump happens with probability
  ``jump_rate x requote_interval``: a ``runningball_notification`` (score, period) goes to
  the market's subscribers, the market halts for ``halt_seconds`` (``market_state``) and
  goes live again;
- takers arrive as a Poisson process of rate ``taker_rate``;
- at ``live_after`` the market goes live, at ``settle_after`` it settles on a contract drawn
  from the last fair value, and its simulation ends.

On a `twisted.internet.task.Clock` the same seed gives the same messages, as fast as
``clock.advance`` is called; on a real reactor it runs in real time.
"""

from __future__ import annotations

import random
from typing import Any, Iterable

from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from txsmarkets.exchange.simulation.config import SimulationSpec
from txsmarkets.exchange.simulation.fair import FairValue
from txsmarkets.exchange.simulation.traders import MarketMaker, Taker, open_account
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["MarketSimulation", "Simulation"]

_log = Logger()
_TRADING = ("open", "live")


class MarketSimulation:
    """The simulated traders and schedule of one market."""

    def __init__(self, engine: Any, clock: IReactorTime, market: Any, spec: SimulationSpec, seed: int) -> None:
        self.engine = engine
        self.clock = clock
        self.market_id: int = market.id
        self.event_id: int = market.event_id
        self.spec = spec
        self.contract_ids = [contract.id for contract in market.contracts]
        # One generator per market, seeded from the run's seed and the market's id: a market's
        # story does not depend on which other markets run.
        self.rng = random.Random(f"{seed}:{self.market_id}")
        initial = spec.initial or [100 / len(self.contract_ids)] * len(self.contract_ids)
        self.fair = FairValue(self.rng, initial, spec.volatility, spec.mean_reversion, spec.jump_size)
        self.makers = [
            MarketMaker(
                engine,
                open_account(engine, f"~sim-maker-{self.market_id}-{k}"),
                self.market_id,
                self.contract_ids,
                spec,
                k,
                self.rng,
            )
            for k in range(spec.makers)
        ]
        self.taker = Taker(
            engine, open_account(engine, f"~sim-taker-{self.market_id}"), self.market_id, self.contract_ids, spec
        )
        self.score = [0, 0]
        self.started_at = 0.0
        self.live_at: float | None = None
        self.winner: int | None = None
        self._calls: dict[str, IDelayedCall] = {}

    @property
    def state(self) -> str:
        state: str = self.engine.market(self.market_id).state
        return state

    def _later(self, name: str, delay: float, f: Any) -> None:
        self._calls[name] = self.clock.callLater(delay, self._run, name, f)

    def _run(self, name: str, f: Any) -> None:
        self._calls.pop(name, None)
        try:
            f()
        except Exception:
            # A bug here must not kill the reactor's loop, nor repeat in a tight loop.
            _log.failure("simulation of market {id} failed; it stops", id=self.market_id)
            self.stop()

    def start(self) -> None:
        """Open the market if it is new, quote it, and schedule everything else."""
        spec = self.spec
        self.started_at = self.clock.seconds()
        if self.state in ("settled", "voided"):
            return
        if self.state == "new":
            self.engine.set_market_state(self.market_id, "open")
        self._requote()
        self._later("step", spec.requote_interval, self._step)
        if spec.taker_rate > 0:
            self._later("take", self.rng.expovariate(spec.taker_rate), self._take)
        if spec.live_after is not None:
            self._later("live", spec.live_after, self._go_live)
        if spec.settle_after is not None:
            self._later("settle", spec.settle_after, self._settle)

    def stop(self) -> None:
        """Cancel everything still scheduled (the market's state and orders stay as they are)."""
        for call in self._calls.values():
            if call.active():
                call.cancel()
        self._calls.clear()

    def _requote(self) -> None:
        if self.state in _TRADING:
            probabilities = self.fair.probabilities
            for maker in self.makers:
                maker.requote(probabilities)

    def _step(self) -> None:
        spec = self.spec
        self._later("step", spec.requote_interval, self._step)
        self.fair.step(spec.requote_interval)
        if self.state == "live" and self.rng.random() < spec.jump_rate * spec.requote_interval:
            self._jump()
        self._requote()

    def _take(self) -> None:
        self._later("take", self.rng.expovariate(self.spec.taker_rate), self._take)
        if self.state in _TRADING:
            self.taker.arrive(self.rng, self.fair.probabilities)

    def _go_live(self) -> None:
        if self.state in _TRADING:
            self.live_at = self.clock.seconds()
            self.engine.set_market_state(self.market_id, "live")
            self._runningball(seto_pb2.RUNNINGBALL_STATE_SAFE, "kick-off")

    def _jump(self) -> None:
        index = self.fair.jump()
        if index == 0:
            self.score[0] += 1
        elif index == len(self.contract_ids) - 1:
            self.score[1] += 1
        self._runningball(seto_pb2.RUNNINGBALL_STATE_DANGER, f"goal: contract {self.contract_ids[index]}")
        if self.spec.halt_seconds > 0:
            self.engine.set_market_state(self.market_id, "halted")
            self._later("resume", self.spec.halt_seconds, self._resume)

    def _resume(self) -> None:
        if self.state == "halted":
            self.engine.set_market_state(self.market_id, "live")
            self._requote()

    def _period(self) -> int:
        spec = self.spec
        if self.live_at is None or spec.settle_after is None:
            return seto_pb2.RUNNINGBALL_PERIOD_FIRSTHALF
        half = (spec.settle_after - (self.live_at - self.started_at)) / 2
        if self.clock.seconds() - self.live_at < half:
            return seto_pb2.RUNNINGBALL_PERIOD_FIRSTHALF
        return seto_pb2.RUNNINGBALL_PERIOD_SECONDHALF

    def _runningball(self, state: int, details: str, period: int | None = None) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_RUNNINGBALL_NOTIFICATION)
        body = payload.runningball_notification
        body.event_id = self.event_id
        body.state = state  # type: ignore[assignment]
        body.details = details
        body.period = self._period() if period is None else period  # type: ignore[assignment]
        body.playtime = int(self.clock.seconds() - (self.live_at or self.clock.seconds()))
        body.score_home, body.score_away = self.score
        self.engine.announce(self.market_id, payload)

    def _settle(self) -> None:
        self.stop()
        if self.state in ("settled", "voided"):
            return
        self.winner = self.contract_ids[self.fair.draw_outcome()]
        self._runningball(
            seto_pb2.RUNNINGBALL_STATE_FINISHED, f"finished: contract {self.winner} wins",
            seto_pb2.RUNNINGBALL_PERIOD_FINISHED,
        )
        self.engine.settle_market(self.market_id, [self.winner])


class Simulation:
    """Simulated traders on the markets of an engine, on ``clock``.

    ``seed`` makes the run reproducible (None: a random one, kept as ``.seed``). Markets
    with a catalogue ``simulation`` object use it; the others use ``default`` (the
    `SimulationSpec` defaults when None). ``market_ids`` limits which markets run.
    """

    def __init__(
        self,
        engine: Any,
        clock: IReactorTime,
        seed: int | None = None,
        *,
        default: SimulationSpec | None = None,
        market_ids: Iterable[int] | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        default = default or SimulationSpec()
        chosen = set(market_ids) if market_ids is not None else None
        self.markets: dict[int, MarketSimulation] = {}
        for market in engine.catalogue.markets():
            if chosen is not None and market.id not in chosen:
                continue
            spec = market.simulation or default
            self.markets[market.id] = MarketSimulation(engine, clock, market, spec, self.seed)

    def start(self) -> None:
        """Start every market's simulation."""
        _log.info("simulation of {n} markets, seed {seed}", n=len(self.markets), seed=self.seed)
        for market in self.markets.values():
            market.start()

    def stop(self) -> None:
        """Stop every market's simulation."""
        for market in self.markets.values():
            market.stop()
