"""Simulated traders: engine operations a CPU second, and the CPU share of real time.

Usage: python bench/simulation.py [--json] [--quick]

- sim_ops_per_s: `MatchingEngine.submit` calls (creates and cancels of the simulated makers
  and takers) per CPU second, 10 simulated markets on a `Clock` advanced a second at a time
  (the fair values, quotes, schedule and the engine's own work are all counted);
  bare_ops_per_s is bench/matching.py's rest-and-cancel figure measured in the same run and
  ratio = sim_ops_per_s / bare_ops_per_s (aim >= 0.5).
- realtime_cpu_share: CPU seconds per wall second of the same 10 markets simulated in real
  time on the default reactor, measured over a few seconds (aim < 0.05 of one core).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import matching  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402

from txsmarkets.exchange import MatchingEngine, parse_catalogue  # noqa: E402
from txsmarkets.exchange.simulation import Simulation  # noqa: E402

MARKETS = 10


def catalogue() -> Any:
    """Ten three-way markets with the default simulation, never settling during the run."""
    markets = [
        {
            "id": m,
            "name": f"Bench {m}",
            "contracts": [{"id": m * 10 + c, "name": str(c)} for c in (1, 2, 3)],
            "simulation": {"live_after": 30, "settle_after": None, "taker_rate": 2.0},
        }
        for m in range(1, MARKETS + 1)
    ]
    return parse_catalogue({"accounts": [], "events": [{"id": 1, "name": "Bench", "markets": markets}]}, "bench")


def counted(engine: MatchingEngine) -> list[int]:
    """Count every submit (the operations) by wrapping the engine's method."""
    count = [0]
    submit = engine.submit

    def counting(account_id: int, payload: Any) -> None:
        count[0] += 1
        submit(account_id, payload)

    engine.submit = counting  # type: ignore[method-assign]
    return count


def on_clock(seconds: int) -> tuple[float, int, float]:
    """(ops per CPU second, ops, CPU seconds) for ``seconds`` simulated seconds."""
    clock = Clock()
    engine = MatchingEngine(catalogue(), now=clock.seconds)
    count = counted(engine)
    simulation = Simulation(engine, clock, 1)
    simulation.start()
    start = time.process_time()
    for _ in range(seconds):
        clock.advance(1)
    cpu = time.process_time() - start
    return count[0] / cpu, count[0], cpu


def realtime(seconds: float) -> float:
    """CPU seconds per wall second of the simulation in real time on the default reactor."""
    from twisted.internet import reactor

    engine = MatchingEngine(catalogue(), now=reactor.seconds)
    simulation = Simulation(engine, reactor, 1)
    marks: dict[str, float] = {}

    def begin() -> None:
        simulation.start()
        marks["cpu"], marks["wall"] = time.process_time(), time.monotonic()
        reactor.callLater(seconds, end)

    def end() -> None:
        marks["cpu"] = time.process_time() - marks["cpu"]
        marks["wall"] = time.monotonic() - marks["wall"]
        simulation.stop()
        reactor.stop()

    reactor.callWhenRunning(begin)
    reactor.run()
    return marks["cpu"] / marks["wall"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--quick", action="store_true", help="a short run that checks it works")
    args = parser.parse_args()
    repeat = 2 if args.quick else 3
    seconds = 300 if args.quick else 3000
    sim = max((on_clock(seconds) for _ in range(repeat)), key=lambda r: r[0])
    bare = max(matching.rest_and_cancel(5 if args.quick else 40)[0] for _ in range(repeat))
    share = realtime(2.0 if args.quick else 5.0)
    result = {
        "markets": MARKETS,
        "sim_ops_per_s": round(sim[0]),
        "sim_ops": sim[1],
        "simulated_seconds": seconds,
        "bare_ops_per_s": round(bare),
        "ratio": round(sim[0] / bare, 3),
        "realtime_cpu_share": round(share, 4),
        "target_ratio": 0.5,
        "target_realtime_cpu_share": 0.05,
    }
    print(f"simulated traders: {result['sim_ops_per_s']:,} engine ops per CPU second ({MARKETS} markets)")
    print(f"bare engine:       {result['bare_ops_per_s']:,} ops/s; ratio {result['ratio']} (aim >= 0.5)")
    print(f"real time:         {share:.2%} of one core (aim < 5%)")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
