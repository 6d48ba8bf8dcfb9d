"""The embedded exchange against hostile clients, over real loopback TCP: requests with
fields missing or unknown, oversize frames before login, too many connections, drip-fed
frames."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer, protocol

from tests.support import global_reactor, inline
from tests.test_daemon import until
from tests.test_end_to_end import ExchangeTestCase
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.framing import ULEB128StringReceiver
from txsmarkets.wire.messages import message_name, new_payload


class RawSession(ULEB128StringReceiver):
    """Speaks the wire by hand: logs in, then sends what our client never would."""

    def __init__(self) -> None:
        self.received: list[seto_pb2.Payload] = []
        self.closed: defer.Deferred[None] = defer.Deferred()
        self.seq = 0
        self._waiting: list[tuple[Any, defer.Deferred[seto_pb2.Payload]]] = []

    def stringReceived(self, string: bytes) -> None:
        payload = seto_pb2.Payload.FromString(string)
        self.received.append(payload)
        for entry in list(self._waiting):
            if entry[0](payload):
                self._waiting.remove(entry)
                entry[1].callback(payload)

    def connectionLost(self, reason: Any) -> None:
        self.closed.callback(None)

    def next(self, test: Any) -> defer.Deferred[seto_pb2.Payload]:
        """Fires with the next payload received that passes ``test``."""
        d: defer.Deferred[seto_pb2.Payload] = defer.Deferred()
        self._waiting.append((test, d))
        return d

    def names(self) -> list[str]:
        return [message_name(p) for p in self.received]

    def send(self, payload: seto_pb2.Payload, extra: bytes = b"") -> None:
        """Number and send ``payload``; ``extra`` raw bytes go at the end of its body."""
        self.seq += 1
        payload.eto_payload.seq = self.seq
        data = payload.SerializePartialToString()
        if extra:
            # The body's field is the payload's last one written: re-frame it with ``extra``.
            field = payload.DESCRIPTOR.fields_by_number
            name = [f.name for f in field.values() if f.message_type and payload.HasField(f.name) and f.name != "eto_payload"][0]
            body = getattr(payload, name)
            copy = seto_pb2.Payload()
            copy.CopyFrom(payload)
            copy.ClearField(name)  # type: ignore[arg-type]
            raw = body.SerializePartialToString() + extra
            number = payload.DESCRIPTOR.fields_by_name[name].number
            data = copy.SerializePartialToString() + _tag(number, 2) + _varint(len(raw)) + raw
        self.sendString(data)

    async def login(self, username: str = "demo", password: str = "demo") -> seto_pb2.Payload:
        payload = new_payload(seto_pb2.PAYLOAD_LOGIN)
        payload.eto_payload.type = eto_pb2.PAYLOAD_LOGIN
        payload.login.username = username
        payload.login.password = password
        answered = self.next(lambda p: message_name(p) == "seto.throttle_limits_changed")
        self.send(payload)
        return await answered


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def order_create(**fields: Any) -> seto_pb2.Payload:
    """An order_create of a valid buy, with ``fields`` changed (None: left out)."""
    values: dict[str, Any] = dict(side=seto_pb2.SIDE_BUY, price=2500, quantity=1000, market_id=1, contract_id=11)
    values.update(fields)
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
    for name, value in values.items():
        if value is not None:
            setattr(payload.order_create, name, value)
    payload.order_create.SetInParent()
    return payload


class HostileTestCase(ExchangeTestCase):
    timeout = 30  # every wait on the wire is bounded
    async def raw(self) -> RawSession:
        connected: defer.Deferred[RawSession] = protocol.ClientCreator(global_reactor(), RawSession).connectTCP(
            "127.0.0.1", self.exchange.port
        )
        client = await connected
        self.addCleanup(lambda: client.transport.abortConnection() if client.transport.connected else None)
        return client


class StrictInputTests(HostileTestCase):
    """Every required field and enum value of a request is checked, through the wire."""

    async def assertDropped(self, payload: seto_pb2.Payload, extra: bytes = b"") -> RawSession:
        client = await self.raw()
        await client.login()
        client.send(payload, extra)
        await client.closed
        self.assertNotIn("seto.order_accepted", client.names())
        self.assertEqual(self.exchange.engine.accounts.by_username("demo").orders, {})
        return client

    @inline
    async def test_missing_side_is_a_protocol_error(self) -> None:
        await self.start()
        await self.assertDropped(order_create(side=None))

    @inline
    async def test_unknown_side_is_a_protocol_error(self) -> None:
        await self.start()
        await self.assertDropped(order_create(side=None), extra=_tag(4, 0) + _varint(99))

    @inline
    async def test_unknown_time_in_force_is_a_protocol_error(self) -> None:
        await self.start()
        await self.assertDropped(order_create(), extra=_tag(10, 0) + _varint(99))

    @inline
    async def test_missing_market_or_contract_is_a_protocol_error(self) -> None:
        await self.start()
        await self.assertDropped(order_create(market_id=None))
        await self.assertDropped(order_create(contract_id=None))

    @inline
    async def test_missing_body_is_a_protocol_error(self) -> None:
        await self.start()
        await self.assertDropped(new_payload(seto_pb2.PAYLOAD_ORDER_CREATE))
        await self.assertDropped(new_payload(seto_pb2.PAYLOAD_MARKET_SUBSCRIBE))

    @inline
    async def test_subscribe_without_market_is_a_protocol_error(self) -> None:
        await self.start()
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_SUBSCRIBE)
        payload.market_subscribe.SetInParent()
        await self.assertDropped(payload)

    @inline
    async def test_missing_or_unknown_price_and_quantity_are_order_invalid(self) -> None:
        await self.start()
        client = await self.raw()
        await client.login()
        price, quantity = seto_pb2.ORDER_INVALID_INVALID_PRICE, seto_pb2.ORDER_INVALID_INVALID_QUANTITY
        for payload, extra, reasons in (
            (order_create(price=None), b"", [price]),
            (order_create(quantity=None), b"", [quantity]),
            (order_create(), _tag(7, 0) + _varint(99), [price]),
            (order_create(), _tag(5, 0) + _varint(99), [quantity]),
        ):
            answered = client.next(lambda p: message_name(p) == "seto.order_invalid")
            client.send(payload, extra)
            answer = await answered
            self.assertEqual(list(answer.order_invalid.reasons), reasons)
            self.assertEqual(answer.order_invalid.seq, client.seq)
        # Still connected and trading.
        accepted = client.next(lambda p: message_name(p) == "seto.order_accepted")
        client.send(order_create())
        await accepted


class PreLoginTests(HostileTestCase):
    """Before login a frame is no larger than a login can be, and connections are capped."""

    @inline
    async def test_oversize_frame_before_login_is_dropped(self) -> None:
        await self.start()
        client = await self.raw()
        limit = self.exchange.factory.max_login_frame
        # Only the header and part of the body: the exchange need not wait for the rest.
        client.transport.write(_varint(limit + 1) + b"x" * 100)
        await client.closed

    @inline
    async def test_connection_caps(self) -> None:
        """Past ``max_pending`` connections not yet logged in, or ``max_connections`` in
        all, a new connection is closed at once; a logged-in one frees its pending place."""
        await self.start(max_connections=3, max_pending=2)
        first = await self.raw()
        second = await self.raw()
        third = await self.raw()
        await third.closed  # the third waiting for its login is one too many
        await first.login()
        fourth = await self.raw()  # one pending again: room for it
        await fourth.login()
        fifth = await self.raw()  # three connections: no room at all
        await fifth.closed
        self.assertFalse(first.closed.called)
        self.assertFalse(second.closed.called)
        self.assertFalse(fourth.closed.called)


class DripFeedTests(HostileTestCase):
    @inline
    async def test_drip_fed_frame_is_not_a_sign_of_life(self) -> None:
        """A logged-in peer that sends one byte of an unfinished frame four times an interval
        is ended as silent: after ``heartbeat_misses`` (3) intervals of no whole frame, give
        or take the half interval between the exchange's checks, not ten intervals later.
        (Real time: the bound leaves room for a busy machine, well short of ten intervals.)"""
        interval = 0.4
        await self.start(heartbeat_interval=interval)
        client = await self.raw()
        await client.login()
        reactor = global_reactor()
        started = reactor.seconds()
        header = _varint(1000)
        state: dict[str, Any] = {"sent": 0, "call": None}

        def drip() -> None:
            if client.closed.called:
                return
            client.transport.write(header[:1] if state["sent"] == 0 else b"x")
            state["sent"] += 1
            state["call"] = reactor.callLater(interval / 4, drip)

        drip()
        self.addCleanup(lambda: state["call"].active() and state["call"].cancel())
        await until(lambda: client.closed.called, "the drip-fed connection to be ended", timeout=interval * 30)
        elapsed = reactor.seconds() - started
        self.assertLess(elapsed, interval * 7)
        self.assertGreater(state["sent"], 8)  # the bytes kept coming all along
        reasons = [
            eto_pb2.LogoutReason.Name(p.eto_payload.logout.reason) for p in client.received if message_name(p) == "eto.logout"
        ]
        self.assertEqual(reasons, ["LOGOUT_HEARTBEAT_TIMEOUT"])


class LoginCrowdTests(HostileTestCase):
    @inline
    async def test_time_queued_for_the_password_check_is_not_late(self) -> None:
        """Forty logins at once, each a PBKDF2 check of tens of milliseconds in the reactor's
        thread pool, with a login timeout shorter than the queue: every one logs in."""
        await self.start(login_timeout=0.3)
        clients = [await self.raw() for _ in range(40)]
        responses = await defer.gatherResults([defer.Deferred.fromCoroutine(c.login()) for c in clients])
        self.assertEqual(len(responses), 40)
        for client in clients:
            self.assertNotIn("eto.logout", client.names())
        self.assertEqual(len(self.exchange.factory.sessions), 40)
        self.assertEqual(self.exchange.factory.pending, 0)
