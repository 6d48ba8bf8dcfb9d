"""Orders a second through MatchingEngine.submit on one core: rest-and-cancel, and crossing.

Usage: python bench/matching.py [--json] [--quick]

- ops_per_s: creates of resting orders and their cancels (each counts as one operation),
  in batches of 1000 spread over the ladder so the books have depth.
- fills_per_s / crossing_orders_per_s: one account rests a sell, the other buys it whole;
  every pair of creates makes one fill (an order_executed to each side).

The payloads are built before the clock starts (the session decodes them, not the engine);
the listeners only count. Every figure is the best of several passes.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import order_cancel as cancel, order_create  # noqa: E402
from txsmarkets.wire import seto_pb2  # noqa: E402
from txsmarkets.exchange import MatchingEngine, parse_catalogue  # noqa: E402
from txsmarkets.odds import VALID_PRICES  # noqa: E402

BATCH = 1000
CONTRACTS = (11, 12, 13)


def catalogue():  # type: ignore[no-untyped-def]
    rich = "1000000000.00"
    return parse_catalogue(
        {
            "accounts": [
                {"username": "maker", "password": "maker", "balance": rich},
                {"username": "taker", "password": "taker", "balance": rich},
            ],
            "events": [
                {
                    "id": 1,
                    "name": "Bench",
                    "markets": [
                        {
                            "id": 1,
                            "name": "Bench: winner",
                            "contracts": [{"id": c, "name": str(c)} for c in CONTRACTS],
                        }
                    ],
                }
            ],
        },
        "bench",
    )


class Counter:
    """Listeners that count what they are given."""

    def __init__(self) -> None:
        self.account = 0
        self.market = 0

    def on_account(self, account_id: int, payload: seto_pb2.Payload) -> None:
        self.account += 1

    def on_market(self, market_id: int, payload: seto_pb2.Payload) -> None:
        self.market += 1


def engine() -> tuple[MatchingEngine, Counter]:
    matching = MatchingEngine(catalogue())
    counter = Counter()
    matching.on_account = counter.on_account
    matching.on_market = counter.on_market
    return matching, counter


def create(seq: int, side: int, price: int, quantity: int, contract_id: int) -> seto_pb2.Payload:
    return order_create(seq, side, price, quantity, contract_id)  # type: ignore[no-any-return]


def rest_and_cancel(batches: int) -> tuple[float, int]:
    """Operations a second (and their count) creating, then cancelling, resting orders."""
    matching, counter = engine()
    low = [p for p in VALID_PRICES if 1000 <= p < 4000]  # bids, never crossing the offers
    high = [p for p in VALID_PRICES if 6000 <= p < 9000]
    submit = matching.submit
    elapsed = 0.0
    ops = 0
    seq = 1
    for batch in range(batches):
        creates = []
        for i in range(BATCH):
            if i % 2:
                creates.append(
                    create(seq, 1, low[(i + batch) % len(low)], 10000 + i, CONTRACTS[i % 3])
                )
            else:
                creates.append(
                    create(seq, 2, high[(i + batch) % len(high)], 10000 + i, CONTRACTS[i % 3])
                )
            seq += 1
        first_id = matching.state.next_order_id  # ids are handed out in order
        start = time.perf_counter()
        for payload in creates:
            submit(1, payload)
        elapsed += time.perf_counter() - start
        # Cancel in a shuffled-ish order so that levels lose orders from the middle too.
        ids = list(range(first_id, first_id + BATCH))
        ids = ids[::3] + ids[1::3] + ids[2::3]
        cancels = [cancel(seq + n, order_id) for n, order_id in enumerate(ids)]
        seq += BATCH
        start = time.perf_counter()
        for payload in cancels:
            submit(1, payload)
        elapsed += time.perf_counter() - start
        ops += 2 * BATCH
    assert not matching.accounts[1].orders, "every order should be cancelled"
    assert counter.account == ops, (counter.account, ops)
    return ops / elapsed, ops


def crossing(pairs: int) -> tuple[float, float, int]:
    """Fills and orders a second when each resting sell is taken whole by a buy."""
    matching, counter = engine()
    prices = [p for p in VALID_PRICES if 2000 <= p <= 8000]
    submit = matching.submit
    payloads = []
    for i in range(pairs):
        price = prices[i % len(prices)]
        contract_id = CONTRACTS[i % 3]
        payloads.append((1, create(2 * i + 1, 2, price, 10000 + i % 100, contract_id)))
        payloads.append((2, create(2 * i + 2, 1, price, 10000 + i % 100, contract_id)))
    start = time.perf_counter()
    for account_id, payload in payloads:
        submit(account_id, payload)
    elapsed = time.perf_counter() - start
    fills = matching.market_quotes(1).market_quotes.executed_volume
    assert fills == sum(10000 + i % 100 for i in range(pairs)), fills
    assert not matching.accounts[1].orders and not matching.accounts[2].orders
    return pairs / elapsed, 2 * pairs / elapsed, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--quick", action="store_true", help="a short run that checks it works")
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    batches = 5 if args.quick else 40
    pairs = 5000 if args.quick else 50000
    ops_per_s = max(rest_and_cancel(batches)[0] for _ in range(repeat))
    fills_per_s, crossing_orders_per_s = 0.0, 0.0
    for _ in range(repeat):
        fills, orders, _ = crossing(pairs)
        if fills > fills_per_s:
            fills_per_s, crossing_orders_per_s = fills, orders
    result = {
        "ops_per_s": round(ops_per_s),
        "fills_per_s": round(fills_per_s),
        "crossing_orders_per_s": round(crossing_orders_per_s),
        "batch": BATCH,
        "rest_cancel_ops": 2 * BATCH * batches,
        "crossing_pairs": pairs,
        "target_ops_per_s": 50000,
    }
    print(f"rest+cancel: {result['ops_per_s']:,} ops/s (creates and cancels, target 50,000)")
    print(
        f"crossing:    {result['fills_per_s']:,} fills/s,"
        f" {result['crossing_orders_per_s']:,} orders/s"
    )
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
