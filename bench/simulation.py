"""Simulated traders: engine operations a CPU second, and the CPU share of real time.

Usage: python bench/simulation.py [--json] [--quick]

- sim_ops_per_s: `MatchingEngine.submit` calls (creates and cancels of the simulated makers
  and takers) per CPU second, 10 simulated markets on a `Clock` advanced a second at a time
  (the fair values, quotes, schedule and the engine's own work are all counted);
  bare_ops_per_s is bench/matching.py's rest-and-cancel figure measured in the same run and
  ratio = sim_ops_per_s / bare_ops_per_s (aim >= 0.5).
- realtime_cpu_share: CPU seconds per wall second of the same 10 markets simulated in real
  time on the default reactor, measured over a few seconds (aim < 0.05 of one core).
- replay_msgs_per_s: recorded messages (the market data of the 10 simulated markets,
  recorded from the engine) re-created per CPU second by `txsmarkets.exchange.replay` on
  a `Clock` (aim >= 100,000).
- replay_peak_kib_small / _large: tracemalloc's peak while a generated recording of
  ``replay_records_small`` / ``_large`` records (gzip files written by the `Recorder`, read
  lazily) replays: flat memory means the two are about the same.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time
from typing import Any, Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import matching  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402

from txsmarkets.exchange import MatchingEngine, parse_catalogue  # noqa: E402
from txsmarkets.exchange.simulation import Simulation  # noqa: E402
from txsmarkets.exchange.recorded import read_recorded  # noqa: E402
from txsmarkets.exchange.replay import Replay  # noqa: E402
from txsmarkets.odds import VALID_PRICES  # noqa: E402
from txsmarkets.wire import seto_pb2  # noqa: E402
from txsmarkets.wire.messages import new_payload  # noqa: E402

MARKETS = 10


#: The simulation of each market: the default, busier, never settling during the run.
SIMULATION = {"live_after": 30, "settle_after": None, "taker_rate": 2.0}


def catalogue(simulation: dict[str, Any] | None = SIMULATION, count: int = MARKETS) -> Any:
    """``count`` (ten) three-way markets, with ``simulation`` objects (none when None)."""
    markets = []
    for m in range(1, count + 1):
        market: dict[str, Any] = {"id": m, "name": f"Bench {m}", "contracts": [{"id": m * 10 + c, "name": str(c)} for c in (1, 2, 3)]}
        if simulation is not None:
            market["simulation"] = simulation
        markets.append(market)
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


def recorded_simulation(
    seconds: int, markets: int = MARKETS, sink: Callable[[float, Any], None] | None = None
) -> list[tuple[float, Any]]:
    """The market data of ``markets`` (10) simulated markets for ``seconds``, as a recording:
    a list of (time, payload), or, given a ``sink``, each record handed to it as made (the
    list stays empty: a long recording need not fit in memory)."""
    clock = Clock()
    engine = MatchingEngine(catalogue(count=markets), now=clock.seconds)
    records: list[tuple[float, Any]] = []
    add = sink if sink is not None else lambda when, payload: records.append((when, payload))
    engine.on_market = lambda market_id, payload: add(clock.seconds(), payload)
    for market_id in engine.market_ids():
        add(0.0, engine.market_quotes(market_id))
    simulation = Simulation(engine, clock, 1)
    simulation.start()
    for _ in range(seconds):
        clock.advance(1)
    return records


def replay_rate(records: list[tuple[float, Any]]) -> tuple[float, int]:
    """(recorded messages re-created per CPU second, messages) replaying ``records``."""
    clock = Clock()
    engine = MatchingEngine(catalogue(), now=clock.seconds)
    replay = Replay(engine, clock, records, batch=100_000)
    end = records[-1][0]
    start = time.process_time()
    replay.start()
    while not replay.done.called:
        clock.advance(max(1.0, end / 100))
    cpu = time.process_time() - start
    return replay.played / cpu, replay.played


def generated(count: int) -> Any:
    """``count`` made-up contract_quotes on the 10 markets, made as they are asked for."""
    prices = sorted(VALID_PRICES)
    middle = prices.index(5000)
    for i in range(count):
        market = i % MARKETS + 1
        payload = new_payload(seto_pb2.PAYLOAD_CONTRACT_QUOTES)
        body = payload.contract_quotes
        body.market_id = market
        body.contract_id = market * 10 + (i // MARKETS) % 3 + 1
        level = (i * 7919) % 5
        body.bids.add(price=prices[middle - 1 - level], quantity=(i * 104729) % 50 * 10000)
        body.offers.add(price=prices[middle + level], quantity=(i * 1299709) % 50 * 10000)
        if i % 10 == 0:
            body.executions.add(price=prices[middle], quantity=10000, liquidity=seto_pb2.SIDE_BUY, microseconds=i)
        yield i * 0.001, payload


def replay_peak(count: int, directory: pathlib.Path) -> int:
    """tracemalloc's peak (bytes) replaying ``count`` generated records from gzip files."""
    import tracemalloc

    from txsmarkets.persistence.recording import Recorder

    clock = Clock()
    recorder = Recorder(directory, clock, max_bytes=4 * 1024 * 1024)
    for when, payload in generated(count):
        recorder.record(payload, when)
    recorder.close()
    engine = MatchingEngine(catalogue(), now=clock.seconds)
    tracemalloc.start()
    replay = Replay(engine, clock, read_recorded(directory), batch=100_000)
    replay.start()
    while not replay.done.called:
        clock.advance(10)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert replay.played == count, (replay.played, count)
    return peak


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
    recording = recorded_simulation(60 if args.quick else 3000)
    replayed = max((replay_rate(recording) for _ in range(1 if args.quick else repeat)), key=lambda r: r[0])
    small, large = (2_000, 20_000) if args.quick else (100_000, 1_000_000)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        peaks = [replay_peak(n, pathlib.Path(folder) / str(n)) for n in (small, large)]
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
        "replay_msgs_per_s": round(replayed[0]),
        "replay_msgs": replayed[1],
        "target_replay_msgs_per_s": 100_000,
        "replay_records_small": small,
        "replay_records_large": large,
        "replay_peak_kib_small": peaks[0] // 1024,
        "replay_peak_kib_large": peaks[1] // 1024,
    }
    print(f"simulated traders: {result['sim_ops_per_s']:,} engine ops per CPU second ({MARKETS} markets)")
    print(f"bare engine:       {result['bare_ops_per_s']:,} ops/s; ratio {result['ratio']} (aim >= 0.5)")
    print(f"real time:         {share:.2%} of one core (aim < 5%)")
    print(f"replay:            {result['replay_msgs_per_s']:,} recorded messages per CPU second (aim >= 100,000)")
    print(f"replay memory:     peak {result['replay_peak_kib_small']:,} KiB for {small:,} records,"
          f" {result['replay_peak_kib_large']:,} KiB for {large:,}")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
