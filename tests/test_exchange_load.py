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
    assert len(engine.accounts.by_username(username).orders) >= count


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


class ResumeBeyondTheStoreTests(ExchangeTestCase):
    timeout = 60

    @inline
    async def test_account_messages_are_never_gapfilled(self) -> None:
        """While a session waits to be resumed, more account messages come than its replay
        store holds. On resume the exchange ends the session rather than send gapfills in
        their place; the client logs in anew and the account stream is resumed from its
        ``account_sequence_64`` out of the account's own history: every one arrives once."""
        from tests.test_daemon import until

        await self.start(replay_capacity=100)
        engine = self.exchange.engine
        factory = self.exchange.factory
        client = await self.client()
        first_session = client.session.session_id
        accepted: list[int] = []
        client.add_handler("seto.order_accepted", lambda message: accepted.append(message.order_accepted.order_id))
        await client.create_order(1, 11, seto_pb2.SIDE_BUY, 2000, 1000)  # an account sequence seen
        client.session.settings.reconnect_initial_delay = 0.25
        session = factory.sessions[first_session]
        for protocol in list(factory.connections):
            protocol.transport.abortConnection()
        await until(lambda: session.protocol is None, "the session to wait for its resume", timeout=10)
        count = 500
        rest_orders(engine, "demo", count)
        self.assertLess(len(session.sequence.store), count)  # most are no longer held
        await until(lambda: len(accepted) >= count + 1, f"{count + 1} order_accepted", timeout=30)
        self.assertEqual(sorted(accepted), sorted(engine.accounts.by_username("demo").orders))
        self.assertEqual(len(set(accepted)), count + 1)
        self.assertNotEqual(client.session.session_id, first_session)
        self.assertNotIn(first_session, factory.sessions)


class SessionMemoryTests(ExchangeTestCase):
    @inline
    async def test_resumable_sessions_are_capped_and_share_bytes(self) -> None:
        """Twelve sessions of one account dropped: only ``max_resumable_per_account`` (8)
        wait to be resumed, the oldest ended first, and an account message kept for all of
        them is one bytes object."""
        from tests.test_daemon import until

        await self.start(max_resumable_per_account=8)
        factory = self.exchange.factory
        clients = [await self.client() for _ in range(12)]
        ids = [c.session.session_id for c in clients]
        for c in clients:
            c.session.disconnect()
        await until(lambda: not factory.connections, "every connection to close", timeout=10)
        self.assertEqual(sorted(factory.sessions), sorted(ids[4:]))
        rest_orders(self.exchange.engine, "demo", 1)
        held = [factory.sessions[i].sequence.store.get(factory.sessions[i].sequence.outseq - 1) for i in ids[4:]]
        self.assertEqual(len({id(entry) for entry in held if entry is not None}), 1)


class StalledReaderTests(ExchangeTestCase):
    timeout = 60

    @inline
    async def test_reader_that_stops_is_dropped_and_the_cancel_all_completes(self) -> None:
        """A client that stops reading in the middle of a large answer is dropped once its
        buffer has stayed full for ``stall_timeout``; the cancel-all it asked for is carried
        out all the same (an accepted cancel-all never leaves orders live)."""
        import socket

        from tests.test_daemon import until
        from tests.test_exchange_hostile import RawSession

        await self.start(stall_timeout=0.5, answer_chunk=200)
        engine = self.exchange.engine
        rest_orders(engine, "demo", 20_000)
        client: RawSession = await protocol_client(self.exchange.port)
        self.addCleanup(lambda: client.transport.abortConnection() if client.transport.connected else None)
        await client.login()
        (server,) = list(self.exchange.factory.connections)
        # Small socket buffers, so that the answer cannot hide in the kernel.
        client.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        server.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        client.transport.pauseProducing()  # reads nothing more
        client.send(new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_ALL))
        await until(lambda: server.closed.called, "the stalled reader to be dropped", timeout=30)
        await until(lambda: not engine.has_work(1), "the cancel-all to complete", timeout=30)
        self.assertEqual(engine.accounts.by_username("demo").orders, {})


async def protocol_client(port: int) -> Any:
    from twisted.internet import protocol

    from tests.test_exchange_hostile import RawSession

    return await protocol.ClientCreator(global_reactor(), RawSession).connectTCP("127.0.0.1", port)
