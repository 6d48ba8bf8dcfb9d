"""Memory of dropped sessions waiting to be resumed: 50 sessions of one account, 4 MB of answers.

Usage: python bench/resumable.py [--json] [--quick] [--sessions N] [--orders M] [--cap K]

N sessions of one account log in (loopback TCP, this process) and drop their connections
without logging out: the exchange keeps each for resume. Then M orders of the account are
placed through the engine; each order_accepted goes to every session waiting, which keeps it
for the replay. The exchange keeps a message's bytes once however many sessions hold it,
and at most K (``max_resumable_per_account``, default the exchange's) sessions wait.

Figures: the bytes of the answers, the sessions still held, the resident memory growth
while they are held, and the same for one session (the floor). ``--quick``: 10 sessions,
2,000 orders.
"""

from __future__ import annotations

import gc
import pathlib
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import cheap_catalogue, emit, mib, order_create, parser, rss_bytes, run_reactor  # noqa: E402

from twisted.internet.task import deferLater  # noqa: E402

from txsmarkets.client import SessionSettings, connect  # noqa: E402
from txsmarkets.odds import VALID_PRICES  # noqa: E402
from txsmarkets.wire import seto_pb2  # noqa: E402


async def held(reactor: Any, sessions: int, orders: int, cap: int | None) -> dict[str, Any]:
    from txsmarkets.exchange.service import start_exchange

    options: dict[str, Any] = {"replay_capacity": orders + 100}
    if cap is not None:
        options["max_resumable_per_account"] = cap
    exchange = await start_exchange(reactor, catalogue=cheap_catalogue(["trader"]), **options)
    factory = exchange.factory
    settings = SessionSettings("trader", "trader", host="127.0.0.1", port=exchange.port, ssl=False)
    try:
        for _ in range(sessions):
            client = await connect(settings, reactor)
            client.session.stop_trying()
            lost = client.session.when_disconnected()
            client.session.protocol.transport.abortConnection()  # dropped, not logged out
            await lost
        while factory.connections:
            await deferLater(reactor, 0.01, lambda: None)
        gc.collect()
        before = rss_bytes()
        engine = exchange.engine
        account_id = engine.accounts.by_username("trader").id
        answers = [0]
        engine_deliver = factory._account_message

        def counted(account: int, payload: Any) -> None:
            answers[0] += payload.ByteSize()
            engine_deliver(account, payload)

        engine.on_account = counted
        prices = [p for p in VALID_PRICES if p <= 2000]
        for i in range(orders):
            engine.submit(account_id, order_create(i + 1, seto_pb2.SIDE_BUY, prices[i % len(prices)], 100, 11))
        gc.collect()
        after = rss_bytes()
        return {
            "answer_bytes": answers[0],
            "sessions_held": len(factory.sessions),
            "rss_growth_mib": mib(after - before),
        }
    finally:
        await exchange.stop()


async def bench(reactor: Any, sessions: int, orders: int, cap: int | None) -> dict[str, Any]:
    one = await held(reactor, 1, orders, cap)
    many = await held(reactor, sessions, orders, cap)
    return {
        "sessions_dropped": sessions,
        "orders": orders,
        "answers_mib": mib(many["answer_bytes"]),
        "sessions_held": many["sessions_held"],
        "rss_growth_mib": many["rss_growth_mib"],
        "rss_growth_one_session_mib": one["rss_growth_mib"],
        "max_resumable_per_account": cap if cap is not None else "default",
    }


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--sessions", type=int, default=None, help="sessions dropped (default 50; 10 with --quick)")
    p.add_argument("--orders", type=int, default=None, help="orders placed meanwhile (default 90,000: about 4 MB; 2,000 with --quick)")
    p.add_argument("--cap", type=int, default=None, help="max_resumable_per_account (default the exchange's)")
    args = p.parse_args()
    sessions = args.sessions or (10 if args.quick else 50)
    orders = args.orders or (2000 if args.quick else 90_000)
    emit(run_reactor(lambda reactor: bench(reactor, sessions, orders, args.cap)), args.json)


if __name__ == "__main__":
    main()
