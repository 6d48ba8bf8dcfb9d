"""Order create -> order_accepted over loopback TCP, against the exchange in another process.

Usage: python bench/roundtrip.py [--json] [--quick] [--profile]

The embedded exchange (``start_exchange`` on a free loopback port) runs in a child
process; this process runs a `txsmarkets.client` session logged in as demo/demo. In the
same run, a bare Twisted TCP echo between two processes is the floor of any Twisted
request/response over loopback.

- One at a time: ``create_order`` (a buy of 10,000 at 2000, risking £0.20), its latency to
  the ``order_accepted``, then ``cancel_order`` (timed apart) so the exposure is released.
  ``p50_us``/``p99_us`` against ``echo_p50_us``/``echo_p99_us``: 32-byte messages echoed
  one at a time. The two alternate in blocks of 100, so both see the same machine.
- Pipelined: 100 creates in flight, a new one sent as each is accepted, and a
  ``cancel_all`` every 100 acceptances. ``orders_per_s`` is creates accepted a second;
  ``echo_pipelined_msgs_per_s`` is the echo with 100 messages in flight.
  ``client_cpu_us_per_order`` and ``exchange_cpu_us_per_order`` are the CPU each process
  spent a create in that phase: the one nearer to 1e6 / orders_per_s is the bottleneck.

The one-at-a-time figures are measured under each placement of the processes, the echo's
the same as the exchange's, and given for each in ``by_placement``: ``free`` leaves it to the
scheduler; ``same`` pins them all to one CPU, so that a round trip is the CPU both sides
spend on it; ``split`` pins this process to one CPU and both servers to another, so that
every message crosses between CPUs. On a virtual machine the placement moves both
latencies by a factor of two or more, and left free the scheduler does not place the two
pairs alike: it keeps the idle echo pair on one CPU and spreads the busy exchange pair. So
the top-level one-at-a-time figures are ``split``'s, the placement the scheduler chooses for
the exchange pair, now imposed on the echo pair too. ``--placement`` (repeatable) measures
only the ones named.

The controls' cost is measured where users pay it, in the pipelined phase: on a second
account subscribed to the market (so the collar and the marks have a book), with all the
processes on one CPU (an order's wall time is then the CPU both sides spend on it, and the
client's CPU is not slowed by a busy neighbour CPU, which a virtual machine's may share a
core with), the same load runs in rounds of three blocks on one connection: with every
control on (`txsmarkets.controls.Controls`, limits the orders stay within), with the default
``Controls()`` (the tick ladder alone: what the daemon has when none is configured), and
with none; which block goes first turns; each order has its own quantity (the duplicate
control). ``controls_us_per_order`` is the median over the rounds of the client CPU an
order costs more with every control on than with none (``controls_bare_us_per_order`` the
same for the default), and ``controls_share_of_pipelined_order`` is that over the median
per-order wall time of the blocks with none (``controls_off_us_per_order``); the blocks of
a round see the same moments of a shared machine. ``controls_isolated_us_per_order`` is
the same work in a tight loop (a create checked, sent, accepted and cancelled): a floor,
with warm caches, that the pipelined figure is two to four times.

Targets: controls_share_of_pipelined_order < 0.05, p50 <= 2x echo p50, p99 <= 1 ms, >= 10,000 orders a second pipelined.
``--profile`` profiles both processes during the run and prints the top of each.
"""

from __future__ import annotations

import cProfile
import os
import pathlib
import sys
import tempfile
import time
from decimal import Decimal
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    ChildServer,
    emit,
    parser,
    percentile,
    process_cpu_seconds,
    run_reactor,
    top_of_profile,
)

from twisted.internet import protocol  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402

from txsmarkets.client import BUY, SessionSettings, StreamingAPIClient  # noqa: E402
from txsmarkets.client import OrderCreate, connect  # noqa: E402
from txsmarkets.client.state import LiveOrder  # noqa: E402
from txsmarkets.trading.account import Change, ChangeKind  # noqa: E402
from txsmarkets.controls import Controls  # noqa: E402

ECHO_SIZE = 32
WINDOW = 100
PRICE = 2000
QUANTITY = 10_000
MARKET, CONTRACT = 1, 11
PLACEMENTS = ("free", "same", "split")


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _rounded(v) for key, v in value.items()}
    if isinstance(value, float):
        # Shares and ratios under 1 keep three places: 0.05 is a target.
        return round(value, 3) if value < 1 else round(value, 2) if value < 10 else round(value, 1)
    return value


class EchoClient(protocol.Protocol):
    """Sends fixed-size messages to an echo server and times their return.

    `one_at_a_time` sends the next message when the last has come back; `pipelined` keeps
    ``window`` messages in flight.
    """

    def __init__(self) -> None:
        self.connected_d: Deferred[None] = Deferred()
        self.message = b"x" * ECHO_SIZE
        self._pending = 0  # bytes still to come back for the current message(s)
        self._received = 0
        self._left = 0
        self._total = 0
        self._sent_at = 0.0
        self.samples: list[float] = []
        self._done: Deferred[None] | None = None
        self._mode = ""

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)  # type: ignore[union-attr]
        self.connected_d.callback(None)

    def one_at_a_time(self, count: int) -> Deferred[None]:
        self._mode, self._left, self.samples = "serial", count, []
        self._done = Deferred()
        self._send_one()
        return self._done

    def _send_one(self) -> None:
        self._left -= 1
        self._pending = ECHO_SIZE
        self._sent_at = time.perf_counter()
        self.transport.write(self.message)  # type: ignore[union-attr]

    def pipelined(self, count: int, window: int) -> Deferred[None]:
        self._mode, self._received = "pipelined", 0
        self._left = count
        self._total = count
        self._done = Deferred()
        burst = min(window, count)
        self._left -= burst
        self.transport.write(self.message * burst)  # type: ignore[union-attr]
        return self._done

    def dataReceived(self, data: bytes) -> None:
        if self._mode == "serial":
            self._pending -= len(data)
            if self._pending > 0:
                return
            self.samples.append(time.perf_counter() - self._sent_at)
            if self._left:
                self._send_one()
            else:
                self._finish()
            return
        before = self._received // ECHO_SIZE
        self._received += len(data)
        back = self._received // ECHO_SIZE - before
        more = min(back, self._left)
        if more:
            self._left -= more
            self.transport.write(self.message * more)  # type: ignore[union-attr]
        if self._received >= self._total * ECHO_SIZE:
            self._finish()

    def _finish(self) -> None:
        done, self._done, self._mode = self._done, None, ""
        assert done is not None
        done.callback(None)


async def echo_connection(reactor: Any, port: int) -> EchoClient:
    """A connected `EchoClient`."""
    from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol

    client = EchoClient()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), client)
    await client.connected_d
    return client


async def orders_one_at_a_time(
    client: StreamingAPIClient, count: int, creates: list[float], cancels: list[float]
) -> None:
    """Add ``count`` create -> accepted latencies, and as many cancel -> cancelled ones."""
    for _ in range(count):
        start = time.perf_counter()
        accepted = await client.create_order(MARKET, CONTRACT, BUY, PRICE, QUANTITY)
        creates.append(time.perf_counter() - start)
        start = time.perf_counter()
        await client.cancel_order(accepted.order_accepted.order_id)
        cancels.append(time.perf_counter() - start)


def pipelined(client: StreamingAPIClient, count: int, vary: bool = False) -> Deferred[list[float]]:
    """Keep WINDOW creates in flight until ``count`` are accepted; cancel_all every WINDOW.

    Fires with the sorted create -> accepted latencies under that load.
    """
    done: Deferred[list[float]] = Deferred()
    latencies: list[float] = []
    state = {"sent": 0, "accepted": 0}

    def fail(failure: Any) -> None:
        if not done.called:
            done.errback(failure)

    def send() -> None:
        state["sent"] += 1
        # With the controls on, no two orders are the same (the duplicate control).
        quantity = QUANTITY + state["sent"] if vary else QUANTITY
        d = client.create_order(MARKET, CONTRACT, BUY, PRICE, quantity)
        d.addCallbacks(accepted, fail, callbackArgs=(time.perf_counter(),))

    def accepted(payload: Any, sent_at: float) -> None:
        latencies.append(time.perf_counter() - sent_at)
        state["accepted"] += 1
        if state["accepted"] % WINDOW == 0:
            client.cancel_all(market_id=MARKET).addErrback(fail)
        if state["sent"] < count:
            send()
        elif state["accepted"] == count and not done.called:
            done.callback(sorted(latencies))

    for _ in range(min(WINDOW, count)):
        send()
    return done


async def serial_phase(
    echo: EchoClient, client: StreamingAPIClient, exchange_pid: int, serial: int
) -> dict[str, float]:
    """Echo and orders one at a time, interleaved in blocks of 100 so that both see the same
    moments of a shared machine."""
    block = 100
    echoes: list[float] = []
    creates: list[float] = []
    cancels: list[float] = []
    client_cpu = exchange_cpu = 0.0
    for first in range(0, serial, block):
        n = min(block, serial - first)
        await echo.one_at_a_time(n)
        echoes.extend(echo.samples)
        exchange_before, client_before = process_cpu_seconds(exchange_pid), time.process_time()
        await orders_one_at_a_time(client, n, creates, cancels)
        client_cpu += time.process_time() - client_before
        exchange_cpu += process_cpu_seconds(exchange_pid) - exchange_before
    echoes.sort()
    creates.sort()
    cancels.sort()
    return {
        "p50_us": 1e6 * percentile(creates, 50),
        "p99_us": 1e6 * percentile(creates, 99),
        "max_us": 1e6 * creates[-1],
        "cancel_p50_us": 1e6 * percentile(cancels, 50),
        # CPU each side spends a request (a create or a cancel) one at a time.
        "serial_client_cpu_us_per_request": 1e6 * client_cpu / (2 * serial),
        "serial_exchange_cpu_us_per_request": 1e6 * exchange_cpu / (2 * serial),
        "echo_p50_us": 1e6 * percentile(echoes, 50),
        "echo_p99_us": 1e6 * percentile(echoes, 99),
        "p50_over_echo_p50": percentile(creates, 50) / percentile(echoes, 50),
    }


async def bench(
    reactor: Any,
    echo_port: int,
    exchange_port: int,
    servers: list[int],
    sizes: dict[str, int],
    placements: list[str],
    profiler: Any,
) -> dict[str, Any]:
    """Every figure: echo and orders one at a time under each placement; then each
    pipelined, placed freely."""
    exchange_pid = servers[1]
    echo = await echo_connection(reactor, echo_port)
    settings = SessionSettings("demo", "demo", host="127.0.0.1", port=exchange_port, ssl=False)
    client = await connect(settings, reactor)
    try:
        serial = sizes["serial"]
        by_placement = {}
        for placement in placements:
            place(placement, servers)
            await echo.one_at_a_time(min(500, serial))  # warm both up, as placed
            await orders_one_at_a_time(client, min(500, serial), [], [])
            by_placement[placement] = await serial_phase(echo, client, exchange_pid, serial)
        place("free", servers)

        start = time.perf_counter()
        await echo.pipelined(sizes["echo_pipelined"], WINDOW)
        echo_rate = sizes["echo_pipelined"] / (time.perf_counter() - start)

        piped = sizes["pipelined"]
        if profiler is not None:
            profiler.enable()
        exchange_cpu = process_cpu_seconds(exchange_pid)
        client_cpu = time.process_time()
        start = time.perf_counter()
        loaded = await pipelined(client, piped)
        elapsed = time.perf_counter() - start
        client_cpu = time.process_time() - client_cpu
        exchange_cpu = process_cpu_seconds(exchange_pid) - exchange_cpu
        if profiler is not None:
            profiler.disable()
        await client.cancel_all()
        left = len(client.account.orders)
        balance = client.account.available_balance
        # On one CPU, an order's wall time is the CPU both sides spend on it, and the client's
        # CPU is not that of a CPU beside a busy one (which a virtual machine's may be).
        place("same", servers)
        controlled = await with_controls(reactor, exchange_port, sizes["rounds"], sizes["block"])
        place("free", servers)
    finally:
        echo.transport.loseConnection()  # type: ignore[union-attr]
        lost = client.session.when_disconnected()
        client.session.disconnect()
        await lost
    if left:
        raise AssertionError(f"{left} orders still live after the last cancel_all")
    headline = "split" if "split" in by_placement else placements[0]
    return {
        **by_placement[headline],
        "placement": headline,
        "orders_per_s": piped / elapsed,
        "pipelined_p50_us": 1e6 * percentile(loaded, 50),
        "pipelined_p99_us": 1e6 * percentile(loaded, 99),
        # CPU a pipelined create costs each side (with its share of the cancel_alls).
        "client_cpu_us_per_order": 1e6 * client_cpu / piped,
        "exchange_cpu_us_per_order": 1e6 * exchange_cpu / piped,
        "available_balance_after": float(balance) if balance is not None else -1.0,
        "echo_pipelined_msgs_per_s": echo_rate,
        **controlled,
        "by_placement": by_placement,
    }


def every_control() -> Controls:
    """Every control on, with limits this benchmark's orders stay within."""
    return Controls(
        max_order_quantity=10**7,
        max_order_liability=Decimal(100),
        max_contract_exposure=Decimal(900),
        max_market_exposure=Decimal(900),
        max_account_exposure=Decimal(900),
        max_live_orders=10**6,
        max_live_orders_per_market=10**6,
        max_orders_per_second=10**7,
        max_orders_per_minute=10**8,
        price_collar_ticks=100,
        duplicate_window=Decimal("0.01"),
        loss_limit=Decimal(900),
    )


async def with_controls(reactor: Any, port: int, rounds: int, block: int) -> dict[str, float]:
    """The controls' cost per pipelined order (see the module doc): ``rounds`` rounds of
    a ``block`` of orders with every control on, one with the default `Controls()` (the
    tick ladder alone), and one with none, in turn; then the isolated loop."""
    settings = SessionSettings("demo2", "demo2", host="127.0.0.1", port=port, ssl=False)
    every = every_control()
    modes: dict[str, Controls | None] = {"every": every, "bare": Controls(), "none": None}
    client = await connect(settings, reactor)
    cpu_per_order: dict[str, list[float]] = {mode: [] for mode in modes}
    extra: dict[str, list[float]] = {"every": [], "bare": []}
    walls: list[float] = []
    try:
        await client.subscribe(MARKET)
        for controls in modes.values():  # a block of each first, to warm every path up
            client.controls = controls
            await pipelined(client, block, vary=True)
            await client.cancel_all()
        order = list(modes)
        for round_ in range(rounds):
            spent = {}
            for mode in order[round_ % 3 :] + order[: round_ % 3]:  # each goes first in turn
                client.controls = modes[mode]
                cpu, start = time.process_time(), time.perf_counter()
                await pipelined(client, block, vary=True)
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                await client.cancel_all()
                spent[mode] = cpu / block
                cpu_per_order[mode].append(cpu / block)
                if mode == "none":
                    walls.append(wall / block)
            for mode in extra:
                extra[mode].append(spent[mode] - spent["none"])
        client.controls = None
        if every.refusals:
            raise AssertionError(f"the controls refused orders: {dict(every.refusals)}")
        isolated = isolated_controls(client, block)
    finally:
        lost = client.session.when_disconnected()
        client.session.disconnect()
        await lost
    cost, bare, wall = (percentile(sorted(values), 50) for values in (extra["every"], extra["bare"], walls))
    return {
        "controls_us_per_order": 1e6 * cost,
        "controls_share_of_pipelined_order": cost / wall,
        "controls_bare_us_per_order": 1e6 * bare,
        "controls_off_us_per_order": 1e6 * wall,
        **{
            f"controls_{mode}_client_cpu_us_per_order": 1e6 * percentile(sorted(values), 50)
            for mode, values in cpu_per_order.items()
        },
        "controls_isolated_us_per_order": 1e6 * isolated,
        "controls_rounds": rounds,
        "controls_block": block,
    }


def isolated_controls(client: StreamingAPIClient, n: int) -> float:
    """Seconds a create costs the controls in a tight loop: checked, sent, accepted and
    cancelled, through the calls the client makes (the best of three passes)."""
    controls = every_control()
    client.controls = controls
    try:
        order_ids = range(10**9, 10**9 + n)
        best = float("inf")
        for round_ in range(3):
            # Each create its own (market, contract, side, price, quantity): one the same as
            # another within the duplicate window would be refused, a path no order here takes.
            creates = [OrderCreate(MARKET, CONTRACT, BUY, PRICE, QUANTITY + round_ * n + i) for i in range(n)]
            # What the client's account makes of each acceptance, made beforehand: not the
            # controls' cost.
            orders = [LiveOrder(i, MARKET, CONTRACT, BUY, PRICE, create.quantity) for i, create in zip(order_ids, creates)]
            changes = [(Change(ChangeKind.ACCEPTED, o.order_id, o, o.order_id), Change(ChangeKind.CANCELLED, o.order_id, o)) for o in orders]
            start = time.perf_counter()
            controls_loop(controls, creates, changes)
            best = min(best, time.perf_counter() - start)
        if controls.refusals:
            raise AssertionError(f"the controls refused orders: {dict(controls.refusals)}")
    finally:
        client.controls = None
    return best / n


def controls_loop(controls: Controls, creates: list[OrderCreate], changes: list[tuple[Change, Change]]) -> None:
    """Each create checked, sent, accepted and cancelled, as the client has the controls do
    (``changes``: what the account's reducer makes of each acceptance and cancel)."""
    for create, (accepted, cancelled) in zip(creates, changes):
        entry = controls.check(create)
        controls.sent(entry, accepted.order_id)  # type: ignore[arg-type]
        controls.apply(accepted)
        controls.apply(cancelled)


# The CPUs this process may use when it starts: what "free" gives back.
CPUS = sorted(os.sched_getaffinity(0))


def place(placement: str, servers: list[int]) -> None:
    """Pin this process and the ``servers`` as ``placement`` says (see the module doc)."""
    cpus = CPUS
    if placement == "free":
        mine = theirs = set(cpus)
    elif placement == "same":
        mine = theirs = {cpus[0]}
    else:
        mine, theirs = {cpus[0]}, {cpus[1]}
    os.sched_setaffinity(0, mine)
    for pid in servers:
        os.sched_setaffinity(pid, theirs)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--profile", action="store_true", help="profile both processes, print the top")
    p.add_argument(
        "--placement",
        choices=PLACEMENTS,
        action="append",
        help="measure one at a time only with this placement (may be repeated; default: all)",
    )
    args = p.parse_args()
    placements = args.placement or list(PLACEMENTS)
    if "split" in placements and len(CPUS) < 2:
        placements.remove("split")
        if not placements:
            raise SystemExit("--placement split needs two CPUs")
    sizes = {
        "serial": 300 if args.quick else 5000,
        "pipelined": 2000 if args.quick else 50_000,
        "echo_pipelined": 5000 if args.quick else 100_000,
        # Short blocks, many rounds: the blocks of a round see the same machine.
        "rounds": 24 if args.quick else 80,
        "block": 500,
    }
    exchange_profile = None
    client_profiler = cProfile.Profile() if args.profile else None
    if args.profile:
        fd, exchange_profile = tempfile.mkstemp(suffix=".prof", prefix="bench-exchange-")
        os.close(fd)
    options: dict[str, Any] = {"profile": exchange_profile} if exchange_profile else {}
    # Speed, not the venue's order limits: the exchange's default throttle would pace it.
    options.update(throttle_rate=10_000_000, throttle_burst=10_000_000)

    async def run(reactor: Any) -> dict[str, Any]:
        servers = [echo.process.pid, exchange.process.pid]
        return await bench(reactor, echo.port, exchange.port, servers, sizes, placements, client_profiler)

    with ChildServer("echo") as echo, ChildServer("exchange", **options) as exchange:
        figures = run_reactor(run)
    result: dict[str, Any] = {key: _rounded(value) for key, value in figures.items()}
    result["one_at_a_time_orders"] = sizes["serial"]
    result["pipelined_orders"] = sizes["pipelined"]
    result["window"] = WINDOW
    result["layout"] = "exchange in a child process; client in this one; loopback TCP"
    result["targets"] = {
        "p50_over_echo_p50": 2,
        "p99_us": 1000,
        "orders_per_s": 10000,
        "controls_share_of_pipelined_order": 0.05,
    }
    if args.profile:
        assert client_profiler is not None and exchange_profile is not None
        print("== client process, pipelined phase ==")
        print(top_of_profile(client_profiler, 25))
        print("== exchange process, whole run ==")
        print(top_of_profile(exchange_profile, 25))
        os.unlink(exchange_profile)
    emit(result, args.json)


if __name__ == "__main__":
    main()
