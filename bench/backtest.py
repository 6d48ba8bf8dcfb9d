"""Backtests: recorded messages a second end to end, simulated time per wall time, sweeps.

Usage: python bench/backtest.py [--json] [--quick]

- replay_records_per_s: recorded messages (the market data of 10 simulated markets) played
  per wall second through the whole backtest path in one process: the replay into the
  engine, the server protocol and framing, the in-memory transport, the client's receive
  path and a no-op strategy subscribed to every market; client_msgs_per_s is what the client
  received per second on that run. receive_msgs_per_s is bench/receive.py's client receive
  path measured in the same run, and ratio = client_msgs_per_s / receive_msgs_per_s
  (aim: replay_records_per_s >= 100,000).
- sim_speed: simulated seconds per wall second of the default simulation (`SimulationSpec`
  defaults) of 10 markets with the no-op strategy (aim >= 1,000).
- sweep_speedup: 8 backtests on a pool of 2 processes against the same 8 one after another.
"""

from __future__ import annotations

import pathlib
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import chunked, emit, frames, parser, quotes_payload  # noqa: E402

import receive  # noqa: E402
from simulation import MARKETS, catalogue, recorded_simulation  # noqa: E402

from txsmarkets.backtest import grid, run_backtest, run_sweep  # noqa: E402
from txsmarkets.strategy import Strategy  # noqa: E402

class NoOp(Strategy):
    """Subscribes to the 10 markets and does nothing."""

    markets = tuple(range(1, MARKETS + 1))


def main() -> None:
    args = parser(__doc__).parse_args()
    quick = args.quick
    records = recorded_simulation(30 if quick else 600)
    plain = catalogue(None)
    best: Any = None
    for _ in range(1 if quick else 3):
        report = run_backtest(NoOp, replay=records, catalogue=plain)
        if best is None or report.wall_seconds < best.wall_seconds:
            best = report
    count = 20_000 if quick else 150_000
    chunks = chunked(frames([quotes_payload(seq) for seq in range(2, count + 2)]))
    receive_best = min(receive.client_pass(chunks, count) for _ in range(2 if quick else 5))
    receive_rate = count / receive_best
    client_rate = best.messages / best.wall_seconds
    sim = run_backtest(NoOp, simulate=True, catalogue=plain, seed=1, duration=300 if quick else 3600)
    runs = grid({"period": [1, 2, 3, 4, 5, 6, 7, 8]})
    options = dict(simulate=True, seed=1, duration=60 if quick else 1800)
    start = time.perf_counter()
    one_by_one = run_sweep("txsmarkets.daemon.demo:DemoStrategy", runs, workers=1, **options)
    sequential = time.perf_counter() - start
    start = time.perf_counter()
    pooled = run_sweep("txsmarkets.daemon.demo:DemoStrategy", runs, workers=2, **options)
    parallel = time.perf_counter() - start
    if [r.outcome() for r in one_by_one] != [r.outcome() for r in pooled]:
        raise AssertionError("the pool's reports differ from the one-by-one reports")
    result = {
        "replay_records": len(records),
        "replay_records_per_s": round(len(records) / best.wall_seconds),
        "client_msgs": best.messages,
        "client_msgs_per_s": round(client_rate),
        "receive_msgs_per_s": round(receive_rate),
        "ratio": round(client_rate / receive_rate, 3),
        "target_replay_records_per_s": 100_000,
        "sim_markets": MARKETS,
        "sim_seconds": sim.sim_seconds,
        "sim_wall_seconds": round(sim.wall_seconds, 3),
        "sim_speed": round(sim.speed, 1),
        "target_sim_speed": 1000,
        "sweep_runs": len(runs),
        "sweep_sequential_s": round(sequential, 3),
        "sweep_2_workers_s": round(parallel, 3),
        "sweep_speedup": round(sequential / parallel, 3),
    }
    emit(result, args.json)


if __name__ == "__main__":
    main()
