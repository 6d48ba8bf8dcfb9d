"""The trading controls' cost per order in one process: the real client and exchange in memory.

Usage: python bench/controls.py [--json] [--quick] [--mode MODE --orders N] [--instructions]

`txsmarkets.testing.MemoryExchange` joins a real client (demo2, market 1 subscribed) to the
real exchange on a `Clock`, so an order's cost is all CPU in this one thread: the client's
work and the exchange's, with no system calls and no other process between them. The load
is ``bench/roundtrip.py``'s pipelined one (100 creates in flight, a new one as each is
accepted, a ``cancel_all`` every 100), each order its own quantity. Rounds of three blocks
run on one client, in turn: with every control on (``roundtrip.every_control()``), with the
default ``Controls()`` (the tick ladder alone: the daemon's when none is configured), and
with none. ``us_per_order_*`` are the medians of each mode's CPU per order;
``extra_us_per_order_every`` and ``_bare`` the medians over the rounds of what an order
costs more than with none, and ``share_every``/``share_bare`` those over the cost with none.

``--mode MODE --orders N`` runs one mode for N orders and prints nothing but its figure:
for counting instructions, which unlike time are the same on a busy machine. The cost of
one order is the slope between two runs, say::

    for n in 1000 3000; do valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python bench/controls.py --mode bare --orders $n 2>&1 | grep Collected; done

(instructions at 3000 less those at 1000, over 2000), mode by mode. ``--instructions`` does
just that for every mode (``--orders`` the larger count, a third of it the smaller) and
reports ``instructions_per_order_MODE`` and ``instruction_share_every``/``_bare``: what
the controls add to an order, over an order with none (every run with ``PYTHONHASHSEED=0``,
so that two sittings count alike).
"""

from __future__ import annotations

import pathlib
import sys
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import callgrind_instructions, emit, parser, percentile  # noqa: E402
from roundtrip import MARKET, every_control, pipelined  # noqa: E402

from txsmarkets.controls import Controls  # noqa: E402
from txsmarkets.testing import MemoryExchange  # noqa: E402

MODES = ("every", "bare", "none")


def controls_for(mode: str) -> Controls | None:
    """The controls a block of ``mode`` runs with."""
    return {"every": every_control, "bare": Controls, "none": lambda: None}[mode]()


def setup() -> tuple[MemoryExchange, Any]:
    """An exchange in memory and a logged-in client subscribed to the benchmark's market."""
    exchange = MemoryExchange(throttle_rate=10_000_000, throttle_burst=10_000_000)
    client = exchange.run(exchange.connect("demo2", "demo2"))
    exchange.run(client.subscribe(MARKET))
    return exchange, client


def block(exchange: MemoryExchange, client: Any, orders: int) -> float:
    """CPU seconds for ``orders`` pipelined orders, then a cancel_all (not timed); the clock
    moves half a second on, past the duplicate window."""
    cpu = time.process_time()
    exchange.run(pipelined(client, orders, vary=True))
    cpu = time.process_time() - cpu
    exchange.run(client.cancel_all())
    exchange.advance(0.5)
    return cpu


def one_mode(mode: str, orders: int) -> None:
    exchange, client = setup()
    client.controls = controls_for(mode)
    block(exchange, client, 300)  # warm up
    cpu = block(exchange, client, orders)
    print(f"{mode}: {orders} orders, {1e6 * cpu / orders:.1f} us of CPU an order")


def instructions(mode: str, orders: int) -> int:
    """The instructions callgrind counts for a run of ``mode`` alone, ``orders`` orders."""
    return callgrind_instructions(__file__, "--mode", mode, "--orders", str(orders))


def count_instructions(orders: int) -> dict[str, Any]:
    """Per order, the slope of each mode's instructions between ``orders // 3`` and
    ``orders`` orders, and the controls' share of an order with none."""
    fewer = orders // 3
    per_order = {mode: (instructions(mode, orders) - instructions(mode, fewer)) / (orders - fewer) for mode in MODES}
    result: dict[str, Any] = {f"instructions_per_order_{mode}": round(per_order[mode]) for mode in MODES}
    for mode in ("every", "bare"):
        result[f"instruction_share_{mode}"] = round(per_order[mode] / per_order["none"] - 1, 4)
    result.update(orders=(fewer, orders), layout="client and exchange in this process, in memory; callgrind")
    return result


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--mode", choices=MODES, help="run this mode alone (for valgrind)")
    p.add_argument("--orders", type=int, default=2000, help="orders of --mode (of --instructions: the larger count)")
    p.add_argument("--instructions", action="store_true", help="count each mode's instructions per order with callgrind")
    args = p.parse_args()
    if args.mode:
        one_mode(args.mode, args.orders)
        return
    if args.instructions:
        emit(count_instructions(args.orders), args.json)
        return
    rounds, orders = (6, 300) if args.quick else (30, 500)
    exchange, client = setup()
    controls = {mode: controls_for(mode) for mode in MODES}
    for mode in MODES:  # a block of each first, to warm every path up
        client.controls = controls[mode]
        block(exchange, client, orders)
    cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
    extra: dict[str, list[float]] = {"every": [], "bare": []}
    for round_ in range(rounds):
        spent = {}
        for mode in MODES[round_ % 3 :] + MODES[: round_ % 3]:  # each goes first in turn
            client.controls = controls[mode]
            spent[mode] = block(exchange, client, orders) / orders
            cpu[mode].append(spent[mode])
        for mode in extra:
            extra[mode].append(spent[mode] - spent["none"])
    client.controls = None
    every = controls["every"]
    assert every is not None
    if every.refusals:
        raise AssertionError(f"the controls refused orders: {dict(every.refusals)}")
    median = {mode: percentile(sorted(values), 50) for mode, values in cpu.items()}
    more = {mode: percentile(sorted(values), 50) for mode, values in extra.items()}
    result: dict[str, Any] = {f"us_per_order_{mode}": round(1e6 * median[mode], 1) for mode in MODES}
    for mode in extra:
        result[f"extra_us_per_order_{mode}"] = round(1e6 * more[mode], 1)
        result[f"share_{mode}"] = round(more[mode] / median["none"], 3)
    result.update(rounds=rounds, orders_per_block=orders, layout="client and exchange in this process, in memory")
    emit(result, args.json)


if __name__ == "__main__":
    main()
