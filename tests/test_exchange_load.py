"""The embedded exchange under heavy load, over real loopback TCP: a large answer reaches a
reading client whole and at its pace while other clients are served."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from tests.support import global_reactor, inline
from tests.test_end_to_end import ExchangeTestCase
from txsmarkets.exchange import MatchingEngine
from txsmarkets.odds import VALID_PRICES
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload


def rest_orders(engine: MatchingEngine, username: str, count: int) -> None:
    """Rest ``count`` small buy orders of ``username`` in market 1, through the engine."""
    account_id = engine.accounts.by_username(username).id
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
    create = payload.order_create
    create.side = seto_pb2.SIDE_BUY
    create.market_id = 1
    create.contract_id = 11
    create.quantity = 100
    prices = [p for p in VALID_PRICES if p <= 2000]  # up to 20%: nothing on the other side
    for i in range(count):
        create.price = prices[i % len(prices)]
        payload.eto_payload.seq = i + 1
        engine.submit(account_id, payload)
    assert len(engine.accounts.by_username(username).orders) == count


class LargeAnswerTests(ExchangeTestCase):
    timeout = 120

    @inline
    async def test_cancel_all_reaches_a_reading_client_whole(self) -> None:
        """One order_cancel_all over many resting orders: produced a chunk at a time while
        the client's buffer has room, so that every order_cancelled arrives (though they far
        exceed ``max_output_buffer``) and another client's pings are answered meanwhile."""
        count = 20_000
        await self.start(max_output_buffer=256 * 1024, answer_chunk=500)
        rest_orders(self.exchange.engine, "demo", count)
        reader = await self.client("demo", "demo")
        pinger = await self.client("demo2", "demo2")
        cancelled: list[int] = []
        reader.add_handler("seto.order_cancelled", lambda message: cancelled.append(message.order_cancelled.order_id))
        accepted = reader.cancel_all()
        pings = 0
        while len(cancelled) < count:
            await pinger.ping()
            pings += 1
            if pings > 100_000:
                self.fail(f"only {len(cancelled)} of {count} cancellations came")
        await accepted
        self.assertEqual(len(cancelled), count)
        self.assertEqual(len(set(cancelled)), count)
        self.assertGreater(pings, 1)  # the pinger was served while the answer went out
        self.assertEqual(self.exchange.engine.accounts.by_username("demo").orders, {})
        self.assertTrue(reader.session.connected)
        self.assertFalse(self.exchange.engine.has_work(1))
