"""The client session over StringTransport with a Clock: every session rule, one by one."""

from __future__ import annotations

from typing import Any

from twisted.python.failure import Failure
from twisted.internet.error import ConnectionDone
from twisted.trial import unittest

from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.client import BUY, OrderCreate, SessionSettings
from txsmarkets.exceptions import (
    ConnectionLost,
    InvalidCallbackError,
    LoginError,
    OrderInvalid,
    OrderRejected,
    PingLost,
    RequestTimeout,
)
from txsmarkets.client import SessionState
from txsmarkets.testing import MemoryExchange, ScriptedExchange
from txsmarkets.wire.framing import frame_encode
from txsmarkets.wire.messages import eto_message, message_name


# The exchange played by hand: the public helper users get.
FakeExchange = ScriptedExchange


def app(kind: int, **body: Any) -> seto_pb2.Payload:
    payload = seto_pb2.Payload(type=kind)
    payload.eto_payload.seq = 0
    field = message_name(payload).split(".")[1]
    for name, value in body.items():
        setattr(getattr(payload, field), name, value)
    return payload


def quotes(market_id: int, contract_id: int, bid: tuple[int, int]) -> seto_pb2.Payload:
    payload = app(seto_pb2.PAYLOAD_CONTRACT_QUOTES, market_id=market_id, contract_id=contract_id)
    payload.contract_quotes.bids.add(price=bid[0], quantity=bid[1])
    return payload


class LoginTests(unittest.TestCase):
    def test_new_session_login(self) -> None:
        ex = FakeExchange()
        d = ex.client.login()  # the factory is there already: this waits for the response
        login = ex.login()
        self.assertEqual(login.type, seto_pb2.PAYLOAD_LOGIN)
        self.assertEqual(login.eto_payload.type, eto_pb2.PAYLOAD_LOGIN)
        self.assertEqual(login.eto_payload.seq, 1)
        self.assertEqual((login.login.username, login.login.password), ("demo", "secret-pw"))
        self.assertFalse(login.eto_payload.HasField("login"))
        response = self.successResultOf(d)
        self.assertEqual(response.eto_payload.login_response.session, "s-1")
        self.assertTrue(ex.session.connected)
        self.assertEqual(ex.session.sequence.outseq, 2)

    def test_token_login(self) -> None:
        ex = FakeExchange()
        ex.settings.token = b"tok"
        ex.settings.username = ex.settings.password = None
        ex.connect()
        login = ex.sent()[0]
        self.assertEqual(login.login.cookie, b"tok")
        self.assertFalse(login.login.HasField("password"))

    def test_reset_renumbers(self) -> None:
        ex = FakeExchange()
        ex.login(reset=7)
        ex.client.ping()
        self.assertEqual(ex.sent()[0].eto_payload.seq, 7)

    def test_resume_carries_session_and_seqs(self) -> None:
        ex = FakeExchange()
        ex.login()
        ex.send(quotes(1, 11, (2500, 10)))
        ex.send(app(seto_pb2.PAYLOAD_ORDER_ACCEPTED, seq=2, order_id=9, account_sequence_64=42))
        ping = ex.client.ping()
        ex.proto.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(ping, ConnectionLost)
        ex.connect()
        login = ex.sent()[0]
        self.assertEqual(login.eto_payload.login.session, "s-1")
        self.assertEqual(login.eto_payload.seq, 3)
        self.assertEqual(login.login.account_sequence_64, 42)
        self.assertEqual(ex.session.sequence.inseq, 4)

    def test_resume_says_which_requests_never_reached_the_exchange(self) -> None:
        """The resumed session's exchange had our messages only up to the create: the create
        and the cancel after it are numbered again, not sent again. Their requests failed
        with ConnectionLost ("may yet reach the exchange"); one line now says they never
        will."""
        from twisted.logger import globalLogPublisher

        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        ex = FakeExchange()
        ex.login()
        create = ex.client.create_order(1, 11, BUY, 2500, 10000)
        cancel = ex.client.cancel_order(7)
        [sent_create, _] = ex.sent()
        ex.proto.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(create, ConnectionLost)
        self.failureResultOf(cancel, ConnectionLost)
        ex.connect()
        ex.sent()
        reset = sent_create.eto_payload.seq
        ex.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=eto_pb2.LoginResponse(session="s-1", reset=reset))
        [line] = [e for e in events if "never received" in e.get("log_format", "")]
        self.assertEqual((line["first"], line["what"]), (reset, "1 seto.order_cancel, 1 seto.order_create"))
        self.assertEqual(ex.session.sequence.outseq, reset)

    def test_resume_with_gap_asks_replay(self) -> None:
        ex = FakeExchange()
        ex.login()
        ex.proto.connectionLost(Failure(ConnectionDone()))
        ex.connect()
        ex.sent()
        ex.seq = 5  # the exchange sent 2..4 while we were away
        ex.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=eto_pb2.LoginResponse(session="s-1", reset=3))
        replay = ex.sent()
        self.assertEqual([p.eto_payload.type for p in replay], [eto_pb2.PAYLOAD_REPLAY])
        self.assertEqual(replay[0].eto_payload.replay.seq, 2)

    def test_unknown_session_starts_new(self) -> None:
        ex = FakeExchange()
        ex.login()
        ex.proto.connectionLost(Failure(ConnectionDone()))
        ex.connect()
        ex.sent()
        ex.seq = 1
        ex.logout(eto_pb2.LOGOUT_UNKNOWN_SESSION)
        self.assertIsNot(ex.session.state, SessionState.FAILED)
        ex.connect()
        login = ex.sent()[0]
        self.assertEqual(login.eto_payload.seq, 1)
        self.assertFalse(login.eto_payload.HasField("login"))

    def test_fatal_logouts_stop(self) -> None:
        for reason in (eto_pb2.LOGOUT_UNAUTHORISED, eto_pb2.LOGOUT_LOGIN_NOT_FIRST_SEQ, eto_pb2.LOGOUT_UNVERIFIED):
            ex = FakeExchange()
            d = ex.client.login()
            connector = ex.session.connector
            assert connector is not None
            ex.connect()
            ex.sent()
            ex.logout(reason)
            failure = self.failureResultOf(d, LoginError)
            self.assertEqual(failure.value.reason, eto_pb2.LogoutReason.Name(reason))
            self.assertFalse(connector.service.running)
            self.assertIsNone(ex.session.connector)
            self.assertNotIn("secret-pw", str(failure.value))

    def test_retryable_logouts_reconnect(self) -> None:
        for reason in (
            eto_pb2.LOGOUT_HEARTBEAT_TIMEOUT,
            eto_pb2.LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE,
            eto_pb2.LOGOUT_DOWNTIME,
            eto_pb2.LOGOUT_LOGIN_TIMEOUT,
        ):
            ex = FakeExchange()
            ex.client.login()
            ex.login()
            ex.logout(reason)
            self.assertIsNot(ex.session.state, SessionState.FAILED)
            connector = ex.session.connector
            self.assertTrue(connector is not None and connector.service.running)
            # The exchange ended the session: the next login begins a new one.
            self.assertIsNone(ex.session.session_id)
            ex.connect()
            login = ex.sent()[0]
            self.assertFalse(login.eto_payload.HasField("login"))
            self.assertEqual(login.eto_payload.seq, 1)

    def test_login_timeout_drops(self) -> None:
        ex = FakeExchange(socket_timeout=5)
        ex.connect()
        ex.clock.advance(5)
        self.assertTrue(ex.transport.disconnecting or ex.transport.disconnected)

    def test_settings_repr_hides_secrets(self) -> None:
        settings = SessionSettings("demo", "secret-pw", token="tok")
        self.assertNotIn("secret-pw", repr(settings))
        self.assertNotIn("tok", repr(settings).replace("token=<hidden>", ""))


class SessionReprTests(unittest.TestCase):
    def test_an_ended_session_names_the_last_one(self) -> None:
        exchange = MemoryExchange()
        client = exchange.run(exchange.connect("demo", "demo"))
        session_id = client.session.session_id
        self.assertTrue(repr(client.session).startswith(f"<Session {session_id} logged in "), repr(client.session))
        exchange.run(client.session.logout())
        self.assertTrue(repr(client.session).startswith(f"<Session (was {session_id}) closed "), repr(client.session))


class HandlerTests(unittest.TestCase):
    def test_named_and_global(self) -> None:
        ex = FakeExchange()
        seen: list[Any] = []
        ex.client.add_handler("eto.login_response", lambda message: seen.append(("named", message)))
        ex.client.add_global_handler(lambda name, message: seen.append((name, message.type)))
        ex.login()
        self.assertEqual(seen[0][0], "named")
        self.assertEqual(seen[1], ("eto.login_response", seto_pb2.PAYLOAD_ETO))

    def test_unknown_name(self) -> None:
        ex = FakeExchange()
        self.assertRaises(InvalidCallbackError, ex.client.add_handler, "seto.nonsense", print)
        self.assertRaises(InvalidCallbackError, ex.client.add_handler, "seto.order_accepted", 3)
        self.assertRaises(InvalidCallbackError, ex.client.del_handler, "seto.order_accepted", print)

    def test_raising_handler_logged_others_called(self) -> None:
        ex = FakeExchange()
        calls: list[str] = []

        def bad(message: Any) -> None:
            raise RuntimeError("boom")

        ex.client.add_handler("seto.contract_quotes", bad)
        ex.client.add_handler("seto.contract_quotes", lambda message: calls.append("second"))
        ex.login()
        ex.send(quotes(1, 11, (2500, 1)))
        self.assertEqual(calls, ["second"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_del_handler(self) -> None:
        ex = FakeExchange()
        calls: list[Any] = []

        def handler(message: Any) -> None:
            calls.append(message)

        ex.client.add_handler("seto.contract_quotes", handler)
        ex.client.del_handler("seto.contract_quotes", handler)
        ex.login()
        ex.send(quotes(1, 11, (2500, 1)))
        self.assertEqual(calls, [])
        self.assertRaises(InvalidCallbackError, ex.client.del_global_handler, print)


class SequencingTests(unittest.TestCase):
    def test_gap_one_replay_then_in_order(self) -> None:
        ex = FakeExchange()
        ex.login()  # server seq 1
        ex.received.clear()
        ex.send(quotes(1, 11, (2500, 2)), seq=2)
        ex.send(quotes(1, 11, (2500, 4)), seq=4)
        ex.send(quotes(1, 11, (2500, 5)), seq=5)
        requests = ex.sent()
        self.assertEqual([p.eto_payload.replay.seq for p in requests], [3])
        for seq in (3, 4, 5):
            payload = quotes(1, 11, (2500, seq))
            payload.eto_payload.is_replay = True
            ex.send(payload, seq=seq)
        ex.send(quotes(1, 11, (2500, 5)), seq=5)  # a duplicate
        self.assertEqual([p.contract_quotes.bids[0].quantity for p in ex.received], [2, 3, 4, 5])

    def test_replay_asked_again_after_timeout(self) -> None:
        ex = FakeExchange(heartbeat_interval=5)
        ex.login()
        ex.proto.replayTimeout = 5
        ex.send(quotes(1, 11, (2500, 1)), seq=3)
        self.assertEqual(len(ex.sent()), 1)
        ex.send(quotes(1, 11, (2500, 1)), seq=4)
        self.assertEqual(ex.sent(), [])
        ex.clock.advance(5)
        again = [p for p in ex.sent() if p.eto_payload.type == eto_pb2.PAYLOAD_REPLAY]
        self.assertEqual([p.eto_payload.replay.seq for p in again], [2])

    def test_a_gap_never_filled_drops_the_connection(self) -> None:
        """A peer that never fills a gap, and keeps the connection alive with heartbeats: once
        nothing of the gap has come for as long as silence would be taken for death (three
        heartbeat intervals), the connection is dropped (the session resumes on a new one)
        rather than staying up delivering nothing."""
        ex = FakeExchange(heartbeat_interval=5)
        ex.login()
        ex.proto.replayTimeout = 5
        ex.send(quotes(1, 11, (2500, 1)), seq=4)
        asked = [p.eto_payload.replay.seq for p in ex.sent() if p.eto_payload.type == eto_pb2.PAYLOAD_REPLAY]
        for seq in range(5, 11):
            ex.send(eto_message(eto_pb2.PAYLOAD_HEARTBEAT), seq=seq)  # past the gap: alive
            ex.clock.advance(2.5)
            asked += [p.eto_payload.replay.seq for p in ex.sent() if p.eto_payload.type == eto_pb2.PAYLOAD_REPLAY]
            self.assertEqual(ex.transport.disconnecting, ex.clock.seconds() >= 15)
        self.assertEqual(asked, [2, 2, 2])

    def test_a_gap_filling_slowly_is_asked_on(self) -> None:
        """Each request that brings part of the gap starts the count again."""
        ex = FakeExchange(heartbeat_interval=5)
        ex.login()
        ex.proto.replayTimeout = 5
        ex.send(quotes(1, 11, (2500, 1)), seq=10)
        for seq in range(2, 7):
            ex.clock.advance(5)
            payload = quotes(1, 11, (2500, seq))
            payload.eto_payload.is_replay = True
            ex.send(payload, seq=seq)
        self.assertFalse(ex.transport.disconnecting)

    def test_a_reset_far_past_our_next_seq_is_refused(self) -> None:
        """A login response whose reset jumps our numbering on by more than the replay store
        holds is no login (a replay from below it would be gapfills by the billion): the
        connection is dropped, and we do not number on from it."""
        ex = FakeExchange()
        ex.connect()
        login = ex.sent()[0]
        capacity = ex.session.sequence.store.capacity
        response = eto_pb2.LoginResponse(session="s-1", reset=login.eto_payload.seq + 2 + capacity)
        ex.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=response)
        self.assertTrue(ex.transport.disconnecting)
        self.assertEqual(ex.session.sequence.outseq, login.eto_payload.seq + 1)
        self.assertNotEqual(ex.session.state, SessionState.LOGGED_IN)

    def test_a_reset_of_0_is_refused(self) -> None:
        """Seqs begin at 1: a reset of 0 would have us number a message 0."""
        ex = FakeExchange()
        ex.connect()
        ex.sent()
        ex.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=eto_pb2.LoginResponse(session="s-1", reset=0))
        self.assertTrue(ex.transport.disconnecting)
        self.assertNotEqual(ex.session.state, SessionState.LOGGED_IN)

    def test_gapfill_not_dispatched(self) -> None:
        ex = FakeExchange()
        ex.login()
        ex.received.clear()
        gapfill = eto_message(eto_pb2.PAYLOAD_GAPFILL)
        gapfill.eto_payload.is_replay = True
        ex.send(gapfill)
        ex.send(quotes(1, 11, (2500, 1)))
        self.assertEqual([message_name(p) for p in ex.received], ["seto.contract_quotes"])
        self.assertEqual(ex.session.sequence.inseq, 4)

    def test_serves_replay(self) -> None:
        ex = FakeExchange()
        ex.login()
        order = ex.client.create_order(1, 11, BUY, 2500, 400000)
        ping = ex.client.ping()
        ex.sent()
        ex.send_eto(eto_pb2.PAYLOAD_REPLAY, replay=eto_pb2.Replay(seq=1))
        self.failureResultOf(ping, PingLost)
        self.assertNoResult(order)
        frames = ex.sent()
        self.assertEqual([p.eto_payload.seq for p in frames], [1, 2, 3])
        self.assertTrue(all(p.eto_payload.is_replay for p in frames))
        self.assertEqual(
            [message_name(p) for p in frames], ["eto.gapfill", "seto.order_create", "eto.gapfill"]
        )

    def test_invalid_protobuf_drops(self) -> None:
        ex = FakeExchange()
        ex.login()
        frame = bytearray()
        frame_encode(frame, b"\xff\xff\xff")
        ex.proto.dataReceived(bytes(frame))
        self.assertTrue(ex.transport.disconnecting)

    def test_unknown_type_consumes_seq(self) -> None:
        ex = FakeExchange()
        ex.login()
        ex.received.clear()
        # Field 1 (type) = 99, a payload type this schema lacks; field 2 = eto_payload, seq 2.
        eto = eto_pb2.Payload(seq=2).SerializeToString()
        raw = b"\x08\x63" + b"\x12" + bytes((len(eto),)) + eto
        frame = bytearray()
        frame_encode(frame, raw)
        ex.proto.dataReceived(bytes(frame))
        ex.seq = 3
        ex.send(quotes(1, 11, (2500, 1)))
        self.assertEqual([message_name(p) for p in ex.received], ["seto.contract_quotes"])
        self.assertFalse(ex.transport.disconnecting)


class HeartbeatTests(unittest.TestCase):
    def test_answers_heartbeat(self) -> None:
        ex = FakeExchange()
        ex.login()
        ex.sent()
        ex.send_eto(eto_pb2.PAYLOAD_HEARTBEAT)
        self.assertEqual([p.eto_payload.type for p in ex.sent()], [eto_pb2.PAYLOAD_HEARTBEAT])

    def test_idle_heartbeat(self) -> None:
        ex = FakeExchange(heartbeat_interval=10)
        ex.login()
        ex.sent()
        ex.clock.advance(10)
        self.assertEqual([p.eto_payload.type for p in ex.sent()], [eto_pb2.PAYLOAD_HEARTBEAT])

    def test_silence_drops(self) -> None:
        ex = FakeExchange(heartbeat_interval=10, heartbeat_misses=3)
        ex.login()
        ex.clock.advance(10)
        ex.clock.advance(10)
        self.assertFalse(ex.transport.disconnecting)
        ex.clock.advance(10)
        self.assertTrue(ex.transport.disconnecting)

    def test_ping_rtt(self) -> None:
        ex = FakeExchange()
        ex.login()
        d = ex.client.ping()
        ex.clock.advance(0.25)
        ex.send_eto(eto_pb2.PAYLOAD_PONG)
        self.assertEqual(self.successResultOf(d), 0.25)

    def test_answers_ping(self) -> None:
        ex = FakeExchange()
        ex.login()
        ex.sent()
        ex.send_eto(eto_pb2.PAYLOAD_PING)
        self.assertEqual([p.eto_payload.type for p in ex.sent()], [eto_pb2.PAYLOAD_PONG])


class RequestTests(unittest.TestCase):
    def test_order_accepted_by_seq(self) -> None:
        ex = FakeExchange()
        ex.login()
        first = ex.client.order(OrderCreate(1, 11, BUY, 2500, 400000, reference=7))
        second = ex.client.create_order(1, 12, BUY, 2000, 100000)
        creates = ex.sent()
        self.assertEqual([c.order_create.contract_id for c in creates], [11, 12])
        # Answers out of order: each is matched by the seq of its create.
        ex.send(app(seto_pb2.PAYLOAD_ORDER_ACCEPTED, seq=creates[1].eto_payload.seq, order_id=2))
        ex.send(app(seto_pb2.PAYLOAD_ORDER_ACCEPTED, seq=creates[0].eto_payload.seq, order_id=1, reference=7))
        self.assertEqual(self.successResultOf(first).order_accepted.order_id, 1)
        self.assertEqual(self.successResultOf(second).order_accepted.order_id, 2)
        self.assertEqual(sorted(ex.client.account.orders), [1, 2])
        self.assertEqual(ex.client.account.orders[1].reference, 7)

    def test_rejected_and_invalid(self) -> None:
        ex = FakeExchange()
        ex.login()
        rejected = ex.client.create_order(1, 11, BUY, 2500, 1)
        invalid = ex.client.create_order(1, 11, BUY, 2501, 0)
        seqs = [p.eto_payload.seq for p in ex.sent()]
        ex.send(app(seto_pb2.PAYLOAD_ORDER_REJECTED, seq=seqs[0], reason=seto_pb2.ORDER_REJECTED_INSUFFICIENT_FUNDS))
        bad = app(seto_pb2.PAYLOAD_ORDER_INVALID, seq=seqs[1])
        bad.order_invalid.reasons.extend([seto_pb2.ORDER_INVALID_INVALID_PRICE, seto_pb2.ORDER_INVALID_INVALID_QUANTITY])
        ex.send(bad)
        self.assertEqual(self.failureResultOf(rejected, OrderRejected).value.reason, "ORDER_REJECTED_INSUFFICIENT_FUNDS")
        self.assertEqual(
            self.failureResultOf(invalid, OrderInvalid).value.reasons,
            ["ORDER_INVALID_INVALID_PRICE", "ORDER_INVALID_INVALID_QUANTITY"],
        )

    def test_timeout(self) -> None:
        ex = FakeExchange(request_timeout=5, heartbeat_interval=100)
        ex.login()
        d = ex.client.cancel_order(5)
        ex.clock.advance(5)
        self.failureResultOf(d, RequestTimeout)
        self.assertEqual(len(ex.client._pending), 0)

    def test_timeouts_in_order_of_sending(self) -> None:
        """Each request times out its own timeout after it was sent, on one timer."""
        ex = FakeExchange(request_timeout=5, heartbeat_interval=100)
        ex.login()
        first = ex.client.cancel_order(1)
        ex.clock.advance(2)
        second = ex.client.cancel_order(2)
        ex.clock.advance(3)
        self.failureResultOf(first, RequestTimeout)
        self.assertNoResult(second)
        ex.clock.advance(1.9)
        self.assertNoResult(second)
        ex.clock.advance(0.1)
        self.failureResultOf(second, RequestTimeout)

    def test_retry_on_timeout_keeps_one_timer(self) -> None:
        """A request made again from the timeout's errback gets its own timeout, and the
        timers do not pile up."""
        ex = FakeExchange(request_timeout=5, heartbeat_interval=100)
        ex.login()
        outcomes: list[Any] = []

        def retry(failure: Failure, left: int) -> None:
            failure.trap(RequestTimeout)
            outcomes.append(left)
            if left:
                ex.client.cancel_order(7).addErrback(retry, left - 1)

        ex.client.cancel_order(7).addErrback(retry, 5)
        timers = []
        for _ in range(6):
            ex.clock.advance(5)
            timers.append(sum(1 for call in ex.clock.getDelayedCalls() if call.func == ex.client._pending._expire))
        self.assertEqual(outcomes, [5, 4, 3, 2, 1, 0])
        self.assertEqual(timers, [1, 1, 1, 1, 1, 0])

    def test_connection_lost_errbacks_all(self) -> None:
        ex = FakeExchange()
        ex.login()
        orders = [ex.client.create_order(1, 11, BUY, 2500, 10) for _ in range(3)]
        ping = ex.client.ping()
        ex.proto.connectionLost(Failure(ConnectionDone()))
        for d in orders:
            self.failureResultOf(d, ConnectionLost)
        self.failureResultOf(ping, ConnectionLost)

    def test_cancel_reduce_replace_cancel_all(self) -> None:
        ex = FakeExchange()
        ex.login()
        cancel = ex.client.cancel_order(5)
        reduce = ex.client.reduce_quantity(6, 100)
        replace = ex.client.cancel_replace(7, 2600, 200)
        everything = ex.client.cancel_all(market_id=1)
        settings = ex.client.settings(True)
        sent = ex.sent()
        reference = sent[3].order_cancel_all.reference
        ex.send(app(seto_pb2.PAYLOAD_ORDER_CANCEL_REJECTED, order_id=5, reason=seto_pb2.ORDER_CANCEL_REJECTED_NOT_FOUND))
        ex.send(app(seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED, order_id=6, new_quantity=100,
                    reason=seto_pb2.ORDER_QUANTITY_REDUCED_MEMBER_REQUESTED))
        ex.send(app(seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED, order_id=8, orig_order_id=7, price=2600,
                    quantity=200, quantity_left=200, market_id=1, contract_id=11, side=BUY))
        ex.send(app(seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_ACCEPTED, reference=reference))
        ex.send(app(seto_pb2.PAYLOAD_SETTINGS_ACCEPTED, cancel_all_on_failure=True))
        self.assertEqual(self.failureResultOf(cancel).value.reason, "ORDER_CANCEL_REJECTED_NOT_FOUND")
        self.assertEqual(self.successResultOf(reduce).order_quantity_reduced.new_quantity, 100)
        self.assertEqual(self.successResultOf(replace).order_cancel_replace_accepted.order_id, 8)
        self.successResultOf(everything)
        self.successResultOf(settings)
        self.assertEqual(ex.client.account.orders[8].price, 2600)

    def test_replaced_order_is_done(self) -> None:
        from txsmarkets.testing import MemoryExchange

        exchange = MemoryExchange()
        client = exchange.run(exchange.connect())
        first = exchange.run(client.create_order(1, 11, BUY, 2500, 10000, label="mine")).order_accepted.order_id
        old = client.account.orders[first]
        new = exchange.run(client.cancel_replace(first, 2564, 20000)).order_cancel_replace_accepted.order_id
        self.assertTrue(old.done)
        self.assertEqual(list(client.account.orders), [new])
        replaced = client.account.orders[new]
        self.assertEqual((replaced.price, replaced.quantity, replaced.label, replaced.done), (2564, 20000, "mine", False))

    def test_throttle_makes_orders_wait(self) -> None:
        ex = FakeExchange(heartbeat_interval=1000)
        ex.login()
        ex.send(app(seto_pb2.PAYLOAD_THROTTLE_LIMITS_CHANGED, average_rate_ps=10, burst_size=3, tick_ms=1000))
        ex.sent()
        # The client allows itself 90% of the rate and one less than the burst: 9 a second,
        # 2 at once.
        ds = [ex.client.create_order(1, 11, BUY, 2500, 10) for _ in range(4)]
        self.assertEqual(len(ex.sent()), 2)
        ex.clock.advance(0.1)
        self.assertEqual(len(ex.sent()), 0)
        ex.clock.advance(0.012)
        self.assertEqual(len(ex.sent()), 1)
        ex.clock.advance(0.112)
        self.assertEqual(len(ex.sent()), 1)
        self.assertEqual(len(ds), 4)

    def test_subscribe_snapshot_and_deltas(self) -> None:
        ex = FakeExchange()
        ex.login()
        d = ex.client.subscribe(1)
        self.assertEqual(ex.sent()[0].market_subscribe.market_id, 1)
        snapshot = app(seto_pb2.PAYLOAD_MARKET_QUOTES, market_id=1)
        c = snapshot.market_quotes.contract_quotes.add(market_id=1, contract_id=11)
        c.bids.add(price=2500, quantity=10)
        c.bids.add(price=2400, quantity=5)
        c.offers.add(price=2600, quantity=7)
        ex.send(snapshot)
        self.successResultOf(d)
        book = ex.client.markets[1].contracts[11]
        self.assertEqual((book.best_bid, book.best_offer), (2500, 2600))
        ex.send(quotes(1, 11, (2500, 0)))
        self.assertEqual(book.best_bid, 2400)
        self.assertEqual(book.depth(), ([(2400, 5)], [(2600, 7)]))

    def test_subscriptions_renewed_after_reconnect(self) -> None:
        ex = FakeExchange()
        ex.login()
        d = ex.client.subscribe(1)
        ex.proto.connectionLost(Failure(ConnectionDone()))
        self.failureResultOf(d, ConnectionLost)
        ex.connect()
        ex.sent()
        ex.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=eto_pb2.LoginResponse(session="s-1", reset=4))
        renewed = [p.market_subscribe.market_id for p in ex.sent() if p.type == seto_pb2.PAYLOAD_MARKET_SUBSCRIBE]
        self.assertEqual(renewed, [1])

    def test_logout_confirmed(self) -> None:
        ex = FakeExchange()
        ex.client.login()
        connector = ex.session.connector
        assert connector is not None
        ex.login()
        d = ex.client.logout()
        self.assertEqual(ex.sent()[0].eto_payload.logout.reason, eto_pb2.LOGOUT_NONE)
        ex.logout(eto_pb2.LOGOUT_CONFIRMATION)
        self.successResultOf(d)
        self.assertFalse(connector.service.running)


class Int32FramingTests(unittest.TestCase):
    def test_session_on_int32(self) -> None:
        ex = FakeExchange(framing="int32")
        ex.login()
        d = ex.client.ping()
        ex.send_eto(eto_pb2.PAYLOAD_PONG)
        self.successResultOf(d)
        self.assertTrue(ex.session.connected)


class ReplayedLoginResponseTests(unittest.TestCase):
    def test_replayed_login_response_not_reapplied(self) -> None:
        """A login response resent in a replay reaches the handlers once and renumbers nothing."""
        ex = FakeExchange()
        ex.login()
        ex.proto.connectionLost(Failure(ConnectionDone()))
        ex.connect()
        ex.sent()
        seen: list[str] = []
        ex.client.add_handler("eto.login_response", lambda message: seen.append("login"))
        # The exchange sent 2 and 3 while we were away; its login response is seq 4.
        response = eto_pb2.LoginResponse(session="s-1", reset=3)
        ex.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, seq=4, login_response=response)
        self.assertEqual(seen, [])
        ex.client.ping()
        ex.client.ping()
        sent = ex.sent()
        self.assertEqual([p.eto_payload.seq for p in sent], [3, 4, 5])  # replay request, pings
        for seq in (2, 3):
            payload = quotes(1, 11, (2500, seq))
            payload.eto_payload.is_replay = True
            ex.send(payload, seq=seq)
        again = eto_message(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=response)
        again.eto_payload.is_replay = True
        ex.send(again, seq=4)
        self.assertEqual(seen, ["login"])
        self.assertEqual(ex.session.sequence.outseq, 6)
        ex.client.ping()
        self.assertEqual([p.eto_payload.seq for p in ex.sent()], [6])


class PingTests(unittest.TestCase):
    def test_ping_times_out(self) -> None:
        ex = FakeExchange(request_timeout=5, heartbeat_interval=100)
        ex.login()
        d = ex.client.ping()
        ex.clock.advance(5)
        self.failureResultOf(d, RequestTimeout)
        # A late pong is matched to nothing and does no harm.
        ex.send_eto(eto_pb2.PAYLOAD_PONG)
        later = ex.client.ping()
        ex.send_eto(eto_pb2.PAYLOAD_PONG)
        self.successResultOf(later)

    def test_lost_pong_does_not_shift_later_pings(self) -> None:
        """A ping whose pong never comes (a replay sends a gapfill for it) times out alone:
        the next ping is matched to its own pong."""
        ex = FakeExchange(request_timeout=5, heartbeat_interval=100)
        ex.login()
        first = ex.client.ping()
        ex.clock.advance(5)
        self.failureResultOf(first, RequestTimeout)
        second = ex.client.ping()
        ex.clock.advance(0.25)
        ex.send_eto(eto_pb2.PAYLOAD_PONG)
        self.assertEqual(self.successResultOf(second), 0.25)
        third = ex.client.ping()
        ex.clock.advance(0.5)
        ex.send_eto(eto_pb2.PAYLOAD_PONG)
        self.assertEqual(self.successResultOf(third), 0.5)

    def test_ping_lost_in_a_gap(self) -> None:
        """The exchange asks for a replay from a ping: it never saw it, and says so."""
        ex = FakeExchange()
        ex.login()
        before = ex.client.ping()
        ex.send_eto(eto_pb2.PAYLOAD_PONG)
        self.successResultOf(before)
        lost = ex.client.ping()
        ex.sent()
        ex.send_eto(eto_pb2.PAYLOAD_REPLAY, replay=eto_pb2.Replay(seq=3))
        self.failureResultOf(lost, PingLost)
        self.assertEqual([message_name(p) for p in ex.sent()], ["eto.gapfill"])


class SilenceBeforeLoginTests(unittest.TestCase):
    def test_login_timeout_not_heartbeats_before_login(self) -> None:
        ex = FakeExchange(heartbeat_interval=1, socket_timeout=30)
        ex.connect()
        ex.clock.advance(3)
        self.assertFalse(ex.transport.disconnecting)
        ex.clock.advance(27)
        self.assertTrue(ex.transport.disconnecting or ex.transport.disconnected)

    def test_no_heartbeats_before_login(self) -> None:
        ex = FakeExchange(heartbeat_interval=1, socket_timeout=30)
        ex.connect()
        ex.sent()
        ex.clock.advance(5)
        self.assertEqual(ex.sent(), [])


class ReviewRegressionTests(unittest.TestCase):
    def test_connect_after_logout_connects_again(self) -> None:
        ex = FakeExchange()
        ex.login()
        d = ex.client.logout()
        ex.logout(eto_pb2.LOGOUT_CONFIRMATION)
        self.successResultOf(d)
        self.assertIsNone(ex.session.factory)

    def test_disconnect_fails_requests_and_is_not_connected(self) -> None:
        ex = FakeExchange()
        ex.login()
        order = ex.client.create_order(1, 11, BUY, 2500, 10)
        old = ex.proto
        ex.session.disconnect()
        self.failureResultOf(order, ConnectionLost)
        self.assertFalse(ex.session.connected)
        # A new connection begins before the old one has closed; the old one's end later
        # does not disturb it.
        ex.login()
        pending = ex.client.create_order(1, 11, BUY, 2500, 10)
        old.connectionLost(Failure(ConnectionDone()))
        self.assertTrue(ex.session.connected)
        self.assertNoResult(pending)

    def test_same_request_twice_sends_once(self) -> None:
        ex = FakeExchange()
        ex.login()
        first = ex.client.cancel_order(5)
        second = ex.client.cancel_order(5)
        self.assertEqual(len(ex.sent()), 1)
        self.failureResultOf(second, ValueError)
        self.assertNoResult(first)

    def test_answered_requests_leave_nothing_behind(self) -> None:
        ex = FakeExchange()
        ex.login()
        for _ in range(20):
            d = ex.client.cancel_order(7)
            ex.sent()
            ex.send(app(seto_pb2.PAYLOAD_ORDER_CANCEL_REJECTED, order_id=7, reason=seto_pb2.ORDER_CANCEL_REJECTED_NOT_FOUND))
            self.failureResultOf(d)
        self.assertEqual((ex.client._pending._by_seq, ex.client._pending._seq_of), ({}, {}))

    def test_failed_reconnect_does_not_end_a_session_that_logged_in(self) -> None:
        ex = FakeExchange()
        ex.client.login()
        ex.login()
        ex.logout(eto_pb2.LOGOUT_DOWNTIME)
        waiting = ex.client.login()
        assert ex.session.connector is not None
        ex.clock.advance(ex.session.connector.policy.delay)
        self.assertEqual(ex.endpoint.waiting, 1)
        ex.endpoint.refuse(ConnectionRefusedError())
        self.assertIsNot(ex.session.state, SessionState.FAILED)
        self.assertNoResult(waiting)

    def test_abort_when_a_closing_peer_does_not_read(self) -> None:
        ex = FakeExchange(heartbeat_interval=1000)
        ex.login()
        frame = bytearray()
        frame_encode(frame, b"\xff\xff\xff")
        ex.proto.dataReceived(bytes(frame))
        self.assertTrue(ex.transport.disconnecting)
        ex.clock.advance(ex.proto.closeTimeout)
        self.assertTrue(ex.transport.disconnected)


class LoginResponseBeyondGapTests(unittest.TestCase):
    """A login response that arrives beyond a gap is acted on at once, and reaches the
    handlers once, in its place, when the replay fills its seq with a gapfill."""

    def test_gapfilled_login_response_dispatched_once_in_order(self) -> None:
        ex = FakeExchange()
        seen: list[str] = []
        ex.client.add_global_handler(lambda name, message: seen.append(name))
        ex.login()
        ex.seq = 2
        ex.proto.connectionLost(Failure(ConnectionDone()))
        ex.connect()
        ex.sent()
        seen.clear()
        # The exchange sent 2 and 3 while the client was away; its login response is 4.
        ex.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, seq=4, login_response=eto_pb2.LoginResponse(session="s-1", reset=3))
        self.assertTrue(ex.session.connected)
        self.assertEqual(seen, [])
        ex.send(quotes(1, 11, (2500, 10)), seq=2)
        ex.send(quotes(1, 11, (2600, 10)), seq=3)
        gapfill = eto_message(eto_pb2.PAYLOAD_GAPFILL)
        gapfill.eto_payload.is_replay = True
        ex.send(gapfill, seq=4)
        self.assertEqual(seen, ["seto.contract_quotes", "seto.contract_quotes", "eto.login_response"])
        # Nothing is held any more, and the next message is in order.
        self.assertEqual(ex.session.sequence.held, {})
        ex.send(quotes(1, 11, (2700, 10)), seq=5)
        self.assertEqual(seen[-1], "seto.contract_quotes")


class DuplicateLogTests(unittest.TestCase):
    def test_duplicates_counted_and_logged_rate_limited(self) -> None:
        from twisted.logger import globalLogPublisher

        logged: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)
        ex = FakeExchange()
        ex.login()
        for _ in range(5):
            ex.send_eto(eto_pb2.PAYLOAD_HEARTBEAT, seq=1)
        self.assertEqual(ex.proto.duplicatesDropped, 5)
        lines = [e for e in logged if "below the expected seq" in e.get("log_format", "")]
        self.assertEqual(len(lines), 1)
        ex.clock.advance(61)
        ex.send_eto(eto_pb2.PAYLOAD_HEARTBEAT, seq=1)
        lines = [e for e in logged if "below the expected seq" in e.get("log_format", "")]
        self.assertEqual([e["count"] for e in lines], [1, 5])
