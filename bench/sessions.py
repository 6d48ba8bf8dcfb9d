"""1,000 concurrent logged-in sessions with heartbeats in one process, against the embedded exchange.

Usage: python bench/sessions.py [--json] [--quick] [--sessions N] [--concurrency K]

The exchange (the demo catalogue: passwords hashed with PBKDF2, as served) and N
`txsmarkets.client` sessions (demo/demo) share this process over loopback TCP, both sides
with a heartbeat interval of one second. Logins go K at a time: each costs the exchange
one PBKDF2 check on the reactor thread (``pbkdf2_ms``, measured alone), and the reactor
must not stall for the three missed intervals after which a peer counts as dead.

Figures: the time to log every session in; RSS before, after the logins and at the end;
then, over ``run_s`` seconds with every session up, the heartbeats each side received, and
that no session was dropped (no client connection lost, every session still on its first
connection and still held by the exchange). ``dropped`` counts every session not up at the
end, a failed login included. ``--quick`` runs 30 sessions for 2.5 seconds.
"""

from __future__ import annotations

import pathlib
import sys
import time
from typing import Any, Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import emit, mib, parser, raise_open_files_limit, rss_bytes, run_reactor  # noqa: E402

from twisted.internet.defer import Deferred, DeferredSemaphore, gatherResults  # noqa: E402
from twisted.internet.task import deferLater  # noqa: E402

from txsmarkets.client import Session, SessionSettings, StreamingAPIClient  # noqa: E402

HEARTBEAT = 1.0


def counter(counts: list[int], index: int) -> Callable[..., None]:
    """A handler that counts into ``counts[index]``."""

    def count(message: Any) -> None:
        counts[index] += 1

    return count


class Watched:
    """A client session whose lost connections and received heartbeats are counted."""

    def __init__(self, index: int, settings: SessionSettings, reactor: Any, drops: list[int], beats: list[int]) -> None:
        self.session = Session(settings, reactor=reactor)
        self.client = StreamingAPIClient(self.session)
        self.client.add_handler("eto.heartbeat", counter(beats, index))

        def lost(reason: Any) -> None:
            drops[index] += 1

        self.session.on_disconnect.add(lost)
        self.protocol: Any = None
        #: Why the login failed, if it did.
        self.failure: str | None = None

    async def login(self) -> None:
        try:
            await self.client.login()
        except Exception as e:
            self.failure = f"{type(e).__name__}: {e}"
            return
        self.protocol = self.session.protocol


def pbkdf2_ms(engine: Any, repeat: int = 5) -> float:
    """Milliseconds one password check of the demo account costs (best of ``repeat``)."""
    account = engine.accounts.by_username("demo")
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        if not account.check_password("demo"):
            raise AssertionError("the demo password did not check")
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


async def bench(reactor: Any, n: int, concurrency: int, run_s: float, login_threads: int | None = None) -> dict[str, Any]:
    from txsmarkets.exchange.service import start_exchange

    rss_before = rss_bytes()
    exchange = await start_exchange(reactor, heartbeat_interval=HEARTBEAT, login_threads=login_threads)
    factory = exchange.factory
    watched: list[Watched] = []
    try:
        hash_ms = pbkdf2_ms(exchange.engine)
        settings = SessionSettings(
            "demo",
            "demo",
            host="127.0.0.1",
            port=exchange.port,
            ssl=False,
            heartbeat_interval=HEARTBEAT,
            # A crowd of logins queues for the password checks: each client waits its turn.
            socket_timeout=max(30.0, 4 * n * hash_ms / 1e3),
        )
        drops = [0] * n
        beats = [0] * n
        watched = [Watched(i, settings, reactor, drops, beats) for i in range(n)]
        gate = DeferredSemaphore(concurrency)
        start = time.perf_counter()
        await gatherResults([gate.run(w.login) for w in watched])
        login_s = time.perf_counter() - start
        rss_logged_in = rss_bytes()
        failures = [w.failure for w in watched if w.failure is not None]
        dropped_logging_in = sum(drop for w, drop in zip(watched, drops) if w.failure is None)
        up = [i for i, w in enumerate(watched) if w.failure is None]

        beats_before = list(beats)
        server_before = {p: p._received for p in factory.connections}
        await deferLater(reactor, run_s, lambda: None)  # a benchmark's run time, not a test's sleep
        client_beats = [beats[i] - beats_before[i] for i in up] or [0]
        # Per connection, on those that lasted the whole run.
        server_received = sum(p._received - server_before[p] for p in factory.connections if p in server_before)
        rss_end = rss_bytes()

        still_up = sum(
            1
            for w in watched
            if w.session.connected and w.session.protocol is w.protocol and w.session.session_id in factory.sessions
        )
        result = {
            "sessions": n,
            "login_concurrency": concurrency,
            "login_s": round(login_s, 2),
            "logins_per_s": round(n / login_s, 1),
            "login_failures": len(failures),
            "login_failure_kinds": sorted(set(failures)),
            "pbkdf2_ms": round(hash_ms, 2),
            "login_threads": factory.login_threads,
            "login_s_hashing_share": round(n * hash_ms / 1e3 / login_s, 2),
            "rss_before_mib": mib(rss_before),
            "rss_logged_in_mib": mib(rss_logged_in),
            "rss_end_mib": mib(rss_end),
            "kib_per_session": round((rss_logged_in - rss_before) / n / 1024, 1),
            "heartbeat_interval_s": HEARTBEAT,
            "run_s": run_s,
            "client_heartbeats_received_min": min(client_beats),
            "client_heartbeats_received_total": sum(client_beats),
            "server_messages_received": server_received,
            "still_up": still_up,
            "dropped": n - still_up,
            "dropped_while_logging_in": dropped_logging_in,
            "exchange_sessions": len(factory.sessions),
            "exchange_connections": len(factory.connections),
        }
    finally:
        lost: list[Deferred[None]] = []
        for w in watched:
            lost.append(w.session.when_disconnected())
            w.session.disconnect()
        await exchange.stop()
        await gatherResults(lost)
    return result


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sessions", type=int, default=None, help="sessions (default 1000; 30 with --quick)")
    p.add_argument("--concurrency", type=int, default=16, help="logins in flight at once")
    p.add_argument("--login-threads", type=int, default=None, help="the exchange's password checks at once")
    args = p.parse_args()
    n = args.sessions or (30 if args.quick else 1000)
    run_s = 2.5 if args.quick else 5.0
    soft, hard = raise_open_files_limit()
    if soft < 2 * n + 100:
        raise SystemExit(f"{2 * n} sockets need more open files than the limit of {soft}")
    result = run_reactor(lambda reactor: bench(reactor, n, args.concurrency, run_s, args.login_threads))
    result["open_files_limit"] = soft
    result["layout"] = "exchange and every client in one process, loopback TCP"
    emit(result, args.json)
    if result["dropped"] or result["client_heartbeats_received_min"] < 1:
        print("some sessions failed to log in, were dropped or heard no heartbeat", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
