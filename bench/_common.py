"""Helpers shared by the benchmarks: output, memory, percentiles, frames, a logged-in client
over StringTransport, and servers (the embedded exchange, a bare echo) in child processes.

Not a benchmark itself. The benchmarks import it as ``_common`` (their own directory is on
``sys.path`` when they run as scripts).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import re
import select
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any, Callable, Iterable

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from twisted.internet.task import Clock  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402

from txsmarkets.wire import eto_pb2, seto_pb2  # noqa: E402
from txsmarkets.client import Session, SessionSettings, StreamingAPIClient  # noqa: E402
from txsmarkets.wire.framing import frame_encode  # noqa: E402
from txsmarkets.wire.messages import eto_message  # noqa: E402
from txsmarkets.process import freeze_long_lived  # noqa: E402

CHUNK = 64 * 1024


# -- instructions ------------------------------------------------------------------------------


def callgrind_instructions(*command: str) -> int:
    """The instructions callgrind counts for ``python command...`` (a run of this
    interpreter), start-up included; valgrind must be installed."""
    # One hash seed for every run: the strings' hashes lay out the dicts, and with them
    # the count of a run.
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, *command],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    found = re.search(r"Collected\s*:\s*(\d+)", run.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from callgrind: {run.stderr[-500:]}")
    return int(found.group(1))


# -- command line and output -----------------------------------------------------------------


def parser(doc: str) -> argparse.ArgumentParser:
    """The benchmarks' common arguments: ``--json`` and ``--quick``."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON object last")
    p.add_argument("--quick", action="store_true", help="a short run that checks it works")
    return p


def emit(result: dict[str, Any], as_json: bool) -> None:
    """Print the figures one a line, then (with ``--json``) the JSON object on the last line."""
    width = max(len(key) for key in result)
    for key, value in result.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value)
        print(f"{key:{width}}  {value}")
    sys.stdout.flush()
    if as_json:
        print(json.dumps(result))


def rss_bytes() -> int:
    """This process's resident memory (VmRSS), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def mib(n: float) -> float:
    """Bytes as MiB, rounded for printing."""
    return round(n / (1024 * 1024), 2)


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of an already sorted list, nearest rank."""
    if not ordered:
        raise ValueError("no samples")
    rank = math.ceil(q / 100 * len(ordered)) - 1
    return ordered[max(0, min(len(ordered) - 1, rank))]


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by process ``pid`` (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may hold spaces: the fields we want come after its closing ")".
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat
    return ticks / os.sysconf("SC_CLK_TCK")


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft open-files limit to the hard one; return ``(soft, hard)`` after."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


# -- frames ----------------------------------------------------------------------------------


def quotes_payload(seq: int) -> bytes:
    """A serialised ``seto.contract_quotes`` with eto seq ``seq`` (the shape framing.py uses)."""
    payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_CONTRACT_QUOTES)
    payload.eto_payload.seq = seq
    quotes = payload.contract_quotes
    quotes.market_id = 123
    quotes.contract_id = 456 + seq % 7
    quotes.bids.add(price=2500 + seq % 50, quantity=400000 + seq)
    quotes.offers.add(price=2600 + seq % 50, quantity=0)
    return payload.SerializeToString()


def frames(payloads: Iterable[bytes]) -> bytes:
    """The payloads as one stream of frames."""
    stream = bytearray()
    for data in payloads:
        frame_encode(stream, data)
    return bytes(stream)


def chunked(stream: bytes, size: int = CHUNK) -> list[bytes]:
    """``stream`` cut into reads of ``size`` bytes (frames straddle the cuts)."""
    return [stream[i : i + size] for i in range(0, len(stream), size)]


# -- a logged-in client over StringTransport ------------------------------------------------


class FedClient:
    """A logged-in `SmarketsClientProtocol` whose bytes are fed by hand, as a test's
    FakeExchange does: Session + StreamingAPIClient + SmarketsClientFactory.buildProtocol
    on a StringTransport, driven by a Clock. The exchange's next seq is ``next_seq``.
    """

    def __init__(self, **settings: Any) -> None:
        from txsmarkets.client.factory import SmarketsClientFactory

        self.clock = Clock()
        self.settings = SessionSettings(
            "bench", "bench", host="exchange.test", port=3701, ssl=False, **settings
        )
        self.session = Session(self.settings, reactor=self.clock)
        self.client = StreamingAPIClient(self.session)
        self.factory = SmarketsClientFactory(self.session)
        self.session.factory = self.factory
        self.transport = StringTransport()
        self.proto = self.factory.buildProtocol(None)
        self.proto.makeConnection(self.transport)
        self.transport.clear()  # the login
        response = eto_message(
            eto_pb2.PAYLOAD_LOGIN_RESPONSE,
            login_response=eto_pb2.LoginResponse(session="bench-session", reset=2),
        )
        response.eto_payload.seq = 1
        self.proto.dataReceived(frames([response.SerializeToString()]))
        if not self.session.connected:
            raise RuntimeError("the fed client did not log in")
        self.next_seq = 2


# -- servers in child processes --------------------------------------------------------------

_CHILD = """
import sys
sys.path.insert(0, {bench!r})
from _common import serve
serve({kind!r}, {options!r})
"""


def serve(kind: str, options: dict[str, Any]) -> None:
    """In a child process: serve ``kind`` ("exchange" or "echo") on a free loopback port,
    print ``PORT <n>``, and stop when stdin closes (the parent ended, however it ended).
    """
    import threading

    from twisted.internet import protocol, reactor

    profile = options.pop("profile", None)
    if kind == "exchange":
        from txsmarkets.exchange.service import start_exchange

        # A catalogue travels as its file's path: the options are written into the child's code.
        catalogue_file = options.pop("catalogue_file", None)
        if catalogue_file is not None:
            from txsmarkets.exchange.catalogue import load_catalogue

            options["catalogue"] = load_catalogue(catalogue_file)
        d = start_exchange(reactor, "tcp:0:interface=127.0.0.1", **options)
        d.addCallback(lambda running: _announce(running.port))
    elif kind == "echo":

        class Echo(protocol.Protocol):
            def connectionMade(self) -> None:
                self.transport.setTcpNoDelay(True)  # type: ignore[attr-defined]

            def dataReceived(self, data: bytes) -> None:
                self.transport.write(data)  # type: ignore[union-attr]

        factory = protocol.Factory.forProtocol(Echo)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined]
        _announce(port.getHost().port)
    else:
        raise SystemExit(f"unknown server {kind!r}")

    def watch_stdin() -> None:
        sys.stdin.buffer.read()  # returns at EOF: the parent closed the pipe or died
        reactor.callFromThread(reactor.stop)  # type: ignore[attr-defined]

    threading.Thread(target=watch_stdin, daemon=True).start()
    # As the twistd plugins do: startup's objects out of the collector's sight.
    reactor.callWhenRunning(freeze_long_lived)  # type: ignore[attr-defined]
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.runcall(reactor.run)  # type: ignore[attr-defined]
        profiler.dump_stats(profile)
    else:
        reactor.run()  # type: ignore[attr-defined]


def _announce(port: int) -> None:
    print(f"PORT {port}", flush=True)


class ChildServer:
    """A server in another process (see `serve`); ``port`` is where it listens.

    Use as a context manager: it is always killed on the way out.
    """

    def __init__(self, kind: str, timeout: float = 30.0, **options: Any) -> None:
        code = _CHILD.format(bench=str(ROOT / "bench"), kind=kind, options=options)
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(ROOT),
        )
        try:
            self.port = self._read_port(timeout)
        except BaseException:
            self.stop()
            raise

    def _read_port(self, timeout: float) -> int:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        line = b""
        fd = self.process.stdout.fileno()
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError("the child server did not announce its port in time")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                byte = os.read(fd, 1)
                if not byte:
                    raise RuntimeError(f"the child server exited: {self.process.wait()}")
                line += byte
        word, port = line.split()
        assert word == b"PORT", line
        return int(port)

    def stop(self, wait: float = 10.0) -> None:
        """Close its stdin (it stops by itself, writing any profile), then kill it if needed."""
        process = self.process
        if process.poll() is None:
            try:
                assert process.stdin is not None
                process.stdin.close()
                process.wait(wait)
            except (subprocess.TimeoutExpired, OSError, BrokenPipeError):
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()

    def __enter__(self) -> ChildServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- an exchange whose logins are cheap ------------------------------------------------------


def cheap_catalogue(usernames: Iterable[str], balance: str = "1000000000.00") -> Any:
    """The demo markets with accounts whose password is their username, hashed with one
    PBKDF2 round: for benchmarks that measure something other than the cost of logging in.
    """
    from txsmarkets.exchange.accounts import Credentials
    from txsmarkets.exchange.catalogue import AccountSpec, Catalogue, demo_catalogue

    accounts = tuple(
        AccountSpec(name, Credentials.create(name, iterations=1), Decimal(balance))
        for name in usernames
    )
    return Catalogue(accounts, demo_catalogue().events)


def order_create(seq: int, side: int, price: int, quantity: int, contract_id: int, market_id: int = 1) -> Any:
    """A ``seto.order_create`` payload, ready for ``engine.submit``."""
    payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CREATE)
    payload.eto_payload.seq = seq
    order = payload.order_create
    order.side = side
    order.price = price
    order.quantity = quantity
    order.market_id = market_id
    order.contract_id = contract_id
    return payload


def order_cancel(seq: int, order_id: int) -> Any:
    """A ``seto.order_cancel`` payload, ready for ``engine.submit``."""
    payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_CANCEL)
    payload.eto_payload.seq = seq
    payload.order_cancel.order_id = order_id
    return payload


def run_reactor(main: Callable[[Any], Any]) -> Any:
    """Run the coroutine function ``main(reactor)`` under the global reactor; return its
    result (or raise its exception) once the reactor has stopped.
    """
    from twisted.internet import reactor
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

    outcome: list[Any] = []

    def start() -> None:
        d = Deferred.fromCoroutine(main(reactor))
        d.addBoth(outcome.append)
        d.addBoth(lambda _: reactor.stop())  # type: ignore[attr-defined]

    # As the twistd plugins do: startup's objects out of the collector's sight.
    reactor.callWhenRunning(freeze_long_lived)  # type: ignore[attr-defined]
    reactor.callWhenRunning(start)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    if not outcome:
        raise RuntimeError("the reactor stopped before the benchmark ended")
    if isinstance(outcome[0], Failure):
        outcome[0].raiseException()
    return outcome[0]


def top_of_profile(path_or_profiler: Any, lines: int = 20) -> str:
    """The top of a cProfile (a stats file or a Profile), by own time."""
    import io
    import pstats

    out = io.StringIO()
    stats = pstats.Stats(path_or_profiler, stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    return out.getvalue()


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """``fn()`` and the seconds it took."""
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start
