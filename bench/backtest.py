"""Backtests: recorded messages a second end to end, simulated time per wall time, sweeps.

Usage: python bench/backtest.py [--json] [--quick] [--workload default|anchor|all] [--instructions [--breakdown]]

The default workload:

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

The anchor workload (issue 26), the one measured beside other backtesting engines: the
simulation of 10 markets over 6,000 virtual seconds (``--quick``: 1 market, 300 s) recorded
to gzip files by the `Recorder` in a temporary folder, then replayed from them through the
whole backtest path by `Anchor`, a trivial strategy: it reads every runner's best prices on
every update, and every 100th update places a small order that cannot fill (a bid at the
lowest price), which it cancels 50 updates later. Only the replay is measured, in a fresh
process (so that its peak resident memory is the replay's own):

- anchor_updates_per_s: recorded updates (anchor_updates) per wall second of the backtest,
  reading the recording included (aim: 150,000);
- anchor_speed: virtual seconds per wall second of the same run;
- anchor_peak_rss_mib: the replaying process's peak resident memory (its VmHWM);
- anchor_orders / anchor_cancels: the strategy's orders and cancels (every one placed is
  cancelled but those placed in the last 50 updates).

``--workload anchor --instructions`` counts instead what an update costs in instructions,
which unlike time are the same on a busy machine (it needs valgrind): the 10 markets are
recorded for 150 and for 450 virtual seconds (``--quick``: 1 market, 100 and 300 s), each
replay of them is run alone under callgrind, and anchor_instructions_per_update is the
slope between the two (the start-up drops out). To compare two trees, run it from each.
With ``--breakdown`` it also counts the path cut after each of its stages (`STAGES`: the
recording read; replayed into the engine's books; its market data built; sent, framed,
received, parsed and sequenced by the client; the whole path), each a slope of its own:
anchor_instructions_to_stage gives them, anchor_instructions_of_part what each part
between two stages costs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import pathlib
import resource
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import callgrind_instructions, chunked, emit, frames, parser, quotes_payload  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402

import receive  # noqa: E402
from simulation import MARKETS, catalogue, recorded_simulation  # noqa: E402

from txsmarkets.backtest import grid, run_backtest, run_sweep  # noqa: E402
from txsmarkets.client import BUY  # noqa: E402
from txsmarkets.client.state import MarketBook  # noqa: E402
from txsmarkets.exchange.recorded import read_recorded  # noqa: E402
from txsmarkets.odds import VALID_PRICES  # noqa: E402
from txsmarkets.persistence.recording import Recorder  # noqa: E402
from txsmarkets.strategy import Strategy  # noqa: E402

class NoOp(Strategy):
    """Subscribes to the 10 markets and does nothing."""

    markets = tuple(range(1, MARKETS + 1))


class Anchor(Strategy):
    """The anchor workload's strategy, on markets 1 to ``params["markets"]``: reads every
    contract's best bid and offer on every update; every 100th update bids the lowest
    price (it cannot fill) and cancels that order 50 updates later."""

    #: A bid no seller takes, and a small one.
    PRICE, QUANTITY = min(VALID_PRICES), 10000

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.markets = tuple(range(1, int(self.params.get("markets", MARKETS)) + 1))
        self.updates = 0
        self.best: tuple[int | None, int | None] = (None, None)
        #: (the update to cancel at, order id), in the order placed.
        self.due: deque[tuple[int, int]] = deque()

    def on_market(self, book: MarketBook) -> None:
        for contract in book.contracts.values():
            self.best = (contract.best_bid, contract.best_offer)
        self.updates = n = self.updates + 1
        if n % 100 == 0 and book.contracts:
            d = self.client.create_order(book.market_id, min(book.contracts), BUY, self.PRICE, self.QUANTITY)
            d.addCallback(lambda accepted: self.due.append((n + 50, accepted.order_accepted.order_id)))
            d.addErrback(lambda failure: self.log.error("anchor: order failed: {f}", f=failure.getErrorMessage()))
        due = self.due
        while due and due[0][0] <= n:
            self.client.cancel_order(due.popleft()[1]).addErrback(
                lambda failure: self.log.error("anchor: cancel failed: {f}", f=failure.getErrorMessage())
            )


def anchor_replay(directory: str, markets: int) -> dict[str, Any]:
    """Replay the anchor recording in ``directory`` with `Anchor` (in a fresh process); its
    figures and this process's peak resident memory."""
    report = run_backtest(Anchor, replay=directory, catalogue=catalogue(None, markets), params={"markets": markets})
    if report.fills or report.errors:
        raise AssertionError(f"the anchor strategy filled {report.fills} or failed {report.errors} times")
    return {
        "wall_seconds": report.wall_seconds,
        "sim_seconds": report.sim_seconds,
        "messages": report.messages,
        "orders": report.orders,
        "cancels": report.cancels,
        "peak_rss_mib": peak_rss_mib(),
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB: Linux's VmHWM, which an exec starts afresh.
    Not ru_maxrss: Linux carries it over an exec, so that a pool's spawned process reported
    the peak of the process it was started from (the recording's, growing with its length)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    # Without /proc: ru_maxrss (in KiB where there is no /proc but on macOS, which gives bytes).
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def anchor(markets: int, seconds: int) -> dict[str, Any]:
    """The anchor workload: record ``markets`` simulated markets for ``seconds``, replay."""
    with tempfile.TemporaryDirectory(prefix="txsmarkets-anchor-") as folder:
        start = time.perf_counter()
        directory, updates = record(pathlib.Path(folder), markets, seconds)
        recording = time.perf_counter() - start
        # A new interpreter (spawn, not fork): none of the recording's memory in the figure.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            run = pool.submit(anchor_replay, directory, markets).result()
    return {
        "anchor_markets": markets,
        "anchor_seconds": seconds,
        "anchor_updates": updates,
        "anchor_record_s": round(recording, 3),
        "anchor_client_msgs": run["messages"],
        "anchor_orders": run["orders"],
        "anchor_cancels": run["cancels"],
        "anchor_wall_s": round(run["wall_seconds"], 3),
        "anchor_updates_per_s": round(updates / run["wall_seconds"]),
        "anchor_speed": round(run["sim_seconds"] / run["wall_seconds"], 1),
        "anchor_peak_rss_mib": run["peak_rss_mib"],
        "target_anchor_updates_per_s": 150_000,
    }


def record(folder: pathlib.Path, markets: int, seconds: int) -> tuple[str, int]:
    """Record ``markets`` simulated markets for ``seconds`` into ``folder``: its recording's
    directory and the updates recorded."""
    recorder = Recorder(folder / "recording", Clock())
    recorded_simulation(seconds, markets, lambda when, payload: recorder.record(payload, when))
    recorder.close()
    return str(recorder.directory), recorder.records


#: The stages of the path `--breakdown` counts, each the path up to it: reading the
#: recording; the replay into the engine's books; building the market data; sending it
#: (numbered, framed, through the in-memory transport, split, parsed and sequenced by the
#: client); and the whole path (the client's handlers, the strategy and its orders).
STAGES = ("read", "replay", "build", "send", "full")


def stop_after(stage: str) -> None:
    """Make this process's backtests go no further than ``stage`` (of `STAGES`, not
    ``read``): what follows it is replaced by a step that does nothing. For counting only:
    the difference between two stages' counts is what the parts between them cost."""
    from txsmarkets.client.protocol import ClientSessionMixin
    from txsmarkets.exchange.market_data import MarketData
    from txsmarkets.exchange.server import ExchangeServerFactory
    from txsmarkets.wire import seto_pb2

    if stage == "replay":

        def publish(self: MarketData) -> None:
            # The changes are dropped: nothing is built or sent.
            for book in self.touched:
                book.changed_bids.clear()
                book.changed_offers.clear()
            self.touched = {}
            self._executions = {}

        MarketData.publish = publish  # type: ignore[method-assign]
    elif stage == "build":
        ExchangeServerFactory._market_encoded = lambda self, market_id, data: None  # type: ignore[method-assign]
    elif stage == "send":
        direct = ClientSessionMixin.directRoutes
        kept: dict[int, Any] = {}

        def routes(self: ClientSessionMixin) -> Any:
            # The client's routes, but a contract_quotes goes nowhere once sequenced.
            given = direct(self)
            if given is None:
                return None
            cut = kept.get(id(given))
            if cut is None:
                cut = kept[id(given)] = list(given) if isinstance(given, (list, tuple)) else dict(given)
                cut[seto_pb2.PAYLOAD_CONTRACT_QUOTES] = lambda payload: None
            return cut

        ClientSessionMixin.directRoutes = routes  # type: ignore[method-assign]
    elif stage != "full":
        raise ValueError(f"no stage {stage!r} to stop after")


def read_only(directory: str) -> int:
    """Read the recording in ``directory`` as a replay does, and nothing more: the records read."""
    read = 0
    for _, payload in read_recorded(directory):
        payload.contract_quotes
        read += 1
    return read


def replay_instructions(directory: str, markets: int, stage: str = "full") -> int:
    """The instructions callgrind counts for a process that replays ``directory`` with
    `Anchor` (`anchor_replay`) up to ``stage`` (`STAGES`), start-up included."""
    return callgrind_instructions(__file__, "--replay", directory, "--markets", str(markets), "--stage", stage)


def anchor_instructions(markets: int, short: int, long: int, stages: tuple[str, ...] = ("full",)) -> dict[str, Any]:
    """The instructions an update of the anchor workload costs: the slope between replays
    of ``short`` and ``long`` virtual seconds of ``markets`` markets; for each of
    ``stages`` (`STAGES`) when there are more than the whole path, with what each part
    between them costs."""
    with tempfile.TemporaryDirectory(prefix="txsmarkets-anchor-") as folder:
        recorded = [record(pathlib.Path(folder) / str(seconds), markets, seconds) for seconds in (short, long)]
        # The runs two at a time: callgrind's counts are the same however busy the machine.
        with ThreadPoolExecutor(2) as pool:
            counts = {
                stage: [pool.submit(replay_instructions, directory, markets, stage) for directory, _ in recorded]
                for stage in stages
            }
            slopes = {}
            for stage, (few_count, many_count) in counts.items():
                few, many = (updates for _, updates in recorded)
                slopes[stage] = round((many_count.result() - few_count.result()) / (many - few))
    full = counts["full"]
    result: dict[str, Any] = {
        "anchor_markets": markets,
        "anchor_instruction_runs": [
            {"seconds": s, "updates": u, "instructions": i.result()} for s, (_, u), i in zip((short, long), recorded, full)
        ],
        "anchor_instructions_per_update": slopes["full"],
    }
    if len(stages) > 1:
        result["anchor_instructions_to_stage"] = slopes
        result["anchor_instructions_of_part"] = {
            stage: slopes[stage] - (slopes[before] if before else 0) for before, stage in zip((None,) + stages, stages)
        }
    return result


def default_workload(quick: bool) -> dict[str, Any]:
    """The replay rate, the simulation's speed and the sweep's speed-up."""
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
    return {
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


def main() -> None:
    p = parser(__doc__)
    p.add_argument(
        "--workload",
        choices=("default", "anchor", "all"),
        default="default",
        help="what to measure: the default figures, the anchor workload, or both (default: default)",
    )
    p.add_argument("--instructions", action="store_true", help="with --workload anchor: its instructions per update (callgrind)")
    p.add_argument(
        "--breakdown", action="store_true", help="with --instructions: also per stage of the path (read, replay, build, send)"
    )
    p.add_argument("--replay", metavar="DIR", help=argparse.SUPPRESS)  # one replay alone, for callgrind
    p.add_argument("--markets", type=int, default=MARKETS, help=argparse.SUPPRESS)
    p.add_argument("--stage", choices=STAGES, default="full", help=argparse.SUPPRESS)
    args = p.parse_args()
    quick = args.quick
    if args.replay:
        if args.stage == "read":
            emit({"records": read_only(args.replay)}, args.json)
        else:
            stop_after(args.stage)
            emit(anchor_replay(args.replay, args.markets), args.json)
        return
    result: dict[str, Any] = {}
    if args.breakdown and not args.instructions:
        p.error("--breakdown goes with --instructions")
    if args.instructions:
        if args.workload != "anchor":
            p.error("--instructions counts the anchor workload: give --workload anchor")
        stages = STAGES if args.breakdown else ("full",)
        result.update(anchor_instructions(1, 100, 300, stages) if quick else anchor_instructions(MARKETS, 150, 450, stages))
        emit(result, args.json)
        return
    if args.workload != "anchor":
        result.update(default_workload(quick))
    if args.workload != "default":
        result.update(anchor(1, 300) if quick else anchor(MARKETS, 6000))
    emit(result, args.json)


if __name__ == "__main__":
    main()
