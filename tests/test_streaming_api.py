"""The 9.3 compatibility package `txsmarkets.streaming_api`: its names, and 9.3 code run
against the embedded exchange with nothing changed but the top-level package's name and
the waiting (Deferreds driven by `MemoryExchange.run` in place of blocking reads)."""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any

from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial import unittest

import txsmarkets.client
import txsmarkets.exceptions
import txsmarkets.framing
from txsmarkets.client import BUY, OrderCreate
from txsmarkets.errors import Error
from txsmarkets.signal import Signal
from txsmarkets.testing import HOST, PORT, MemoryExchange
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.messages import message_name

MODULES = ("api", "session", "client", "framing", "exceptions", "eto", "seto")


class Handler:
    """A callable that counts its calls (as in 9.3's own client tests)."""

    call_count = 0

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.call_count += 1


class ModuleTests(unittest.SynchronousTestCase):
    """Each 9.3 module name holds what it held in 9.3, as this package's own objects."""

    def test_every_module_imports(self) -> None:
        for name in MODULES:
            module = importlib.import_module(f"txsmarkets.streaming_api.{name}")
            for exported in getattr(module, "__all__", ()):
                self.assertTrue(hasattr(module, exported), f"{name}.{exported}")

    def test_api_names(self) -> None:
        from txsmarkets.streaming_api import api

        # The client of txsmarkets.client, calling handlers as 9.3 did (HandlerCallTests).
        self.assertIs(api.StreamingAPIClient, importlib.import_module("txsmarkets.streaming_api.client").StreamingAPIClient)
        self.assertTrue(issubclass(api.StreamingAPIClient, txsmarkets.client.StreamingAPIClient))
        self.assertIs(api.Session, txsmarkets.client.Session)
        self.assertIs(api.SessionSettings, txsmarkets.client.SessionSettings)
        self.assertIs(api.OrderCreate, txsmarkets.client.OrderCreate)
        for error in ("ConnectionError", "DecodeError", "ParseError", "SocketDisconnected", "InvalidCallbackError"):
            self.assertIs(getattr(api, error), getattr(txsmarkets.exceptions, error))
        self.assertEqual(api.IMMEDIATE_OR_CANCEL, seto_pb2.IMMEDIATE_OR_CANCEL)
        self.assertEqual(api.GOOD_TIL_CANCELLED, seto_pb2.GOOD_TIL_CANCELLED)
        self.assertIs(api.eto, importlib.import_module("txsmarkets.streaming_api.eto"))
        self.assertIs(api.seto, importlib.import_module("txsmarkets.streaming_api.seto"))

    def test_sides(self) -> None:
        """SIDE_BID and SIDE_OFFER are 9.3's names for BUY and SELL."""
        from txsmarkets.streaming_api.api import BUY, SELL, SIDE_BID, SIDE_OFFER, seto

        self.assertEqual((SIDE_BID, SIDE_OFFER), (seto.SIDE_BUY, seto.SIDE_SELL))
        self.assertEqual((SIDE_BID, SIDE_OFFER), (BUY, SELL))
        self.assertNotEqual(SIDE_BID, SIDE_OFFER)

    def test_protobuf_modules(self) -> None:
        """eto and seto are the generated modules' names: messages, payload types, enums."""
        from txsmarkets.streaming_api import eto, seto

        self.assertIs(eto.Payload, eto_pb2.Payload)
        self.assertIs(seto.Payload, seto_pb2.Payload)
        self.assertEqual(eto.PAYLOAD_LOGIN_RESPONSE, eto_pb2.PAYLOAD_LOGIN_RESPONSE)
        self.assertEqual(eto.LOGOUT_NONE, eto_pb2.LOGOUT_NONE)
        self.assertEqual(seto.PAYLOAD_ORDER_CREATE, seto_pb2.PAYLOAD_ORDER_CREATE)
        # 9.3's own dummy login response.
        payload = seto.Payload()
        payload.type = seto.PAYLOAD_ETO
        payload.eto_payload.seq = 1
        payload.eto_payload.type = eto.PAYLOAD_LOGIN_RESPONSE
        payload.eto_payload.login_response.session = "session"
        payload.eto_payload.login_response.reset = 2
        self.assertEqual(seto.Payload.FromString(payload.SerializeToString()), payload)

    def test_session_module(self) -> None:
        from txsmarkets.streaming_api import session

        self.assertIs(session.Session, txsmarkets.client.Session)
        self.assertIs(session.SessionSettings, txsmarkets.client.SessionSettings)

    def test_client_module(self) -> None:
        from txsmarkets.streaming_api import client

        self.assertTrue(issubclass(client.StreamingAPIClient, txsmarkets.client.StreamingAPIClient))

    def test_framing_module(self) -> None:
        from txsmarkets.streaming_api import framing

        for name in ("frame_encode", "frame_decode_all", "uleb128_encode", "uleb128_decode", "IncompleteULEB128"):
            self.assertIs(getattr(framing, name), getattr(txsmarkets.framing, name))
        self.assertEqual(framing.MIN_FRAME_SIZE, 4)
        self.assertIsInstance(framing.uleb128_encode(624485), bytearray)
        frame = bytearray()
        framing.frame_encode(frame, b"a")
        self.assertEqual(frame_decode(framing, bytes(frame)), ([b"a"], b""))

    def test_exceptions_module(self) -> None:
        from txsmarkets.streaming_api import exceptions

        for name in txsmarkets.exceptions.__all__:
            self.assertIs(getattr(exceptions, name), getattr(txsmarkets.exceptions, name))
        for name in ("ConnectionError", "DecodeError", "DownloadError", "InvalidCallbackError",
                     "InvalidUrlError", "ParseError", "SocketDisconnected"):
            self.assertTrue(issubclass(getattr(exceptions, name), Error), name)


def frame_decode(framing: Any, data: bytes) -> tuple[list[bytes], bytes]:
    payloads, rest = framing.frame_decode_all(data)
    return payloads, bytes(rest)


class InvalidCallbackErrorTests(unittest.SynchronousTestCase):
    def test_is_a_value_error(self) -> None:
        from txsmarkets.streaming_api.exceptions import InvalidCallbackError

        self.assertTrue(issubclass(InvalidCallbackError, ValueError))
        self.assertTrue(issubclass(InvalidCallbackError, Error))

    def test_bad_handler(self) -> None:
        """9.3 code catches ValueError for a handler that is not callable."""
        from txsmarkets.streaming_api.api import StreamingAPIClient

        client = StreamingAPIClient(MemoryExchange().client().session)
        for bad in (50, "foo", False, True, 1.2, 1):
            self.assertRaises(ValueError, client.add_handler, "eto.pong", bad)
            self.assertRaises(ValueError, client.add_global_handler, bad)

    def test_unknown_name(self) -> None:
        from txsmarkets.streaming_api.api import InvalidCallbackError, StreamingAPIClient

        client = StreamingAPIClient("_")  # type: ignore[arg-type]
        handler = Handler()
        self.assertRaises(InvalidCallbackError, client.add_handler, "foo", handler)
        self.assertRaises(InvalidCallbackError, client.del_handler, "foo", handler)
        self.assertRaises(ValueError, client.add_handler, "foo", handler)


class ConstructionTests(unittest.SynchronousTestCase):
    """A client is made before any connection, and of anything at all, as in 9.3."""

    def test_of_anything(self) -> None:
        """9.3's own test: each client its own callbacks, though made of no session."""
        from txsmarkets.streaming_api.api import StreamingAPIClient

        client_a, client_b = (StreamingAPIClient("_") for _ in range(2))  # type: ignore[arg-type]
        handler = Handler()
        client_a.add_handler("seto.order_accepted", handler)
        self.assertEqual(handler.call_count, 0)
        client_a.callbacks["seto.order_accepted"]("irrelevant")
        self.assertEqual(handler.call_count, 1)
        client_b.callbacks["seto.order_accepted"]("also irrelevant")
        self.assertEqual(handler.call_count, 1)
        self.assertIsInstance(client_a.global_callback, Signal)
        self.assertIsNot(client_a.global_callback, client_b.global_callback)
        client_a.del_handler("seto.order_accepted", handler)
        self.assertEqual(len(client_a.callbacks["seto.order_accepted"]), 0)

    def test_of_no_session_cannot_log_in(self) -> None:
        from txsmarkets.streaming_api.api import StreamingAPIClient

        client = StreamingAPIClient(object())  # type: ignore[arg-type]
        failure = self.failureResultOf(client.login(), TypeError)
        self.assertIn("give it a Session", str(failure.value))

    def test_session_with_the_global_reactor(self) -> None:
        """``Session(settings)`` as 9.3 wrote it: the global reactor, nothing connected."""
        from twisted.internet import reactor

        from txsmarkets.streaming_api.api import ConnectionError, Session, SessionSettings, StreamingAPIClient
        from txsmarkets.streaming_api.session import SessionState

        session = Session(SessionSettings("username", "password"))
        self.assertIs(session.reactor, reactor)
        client = StreamingAPIClient(session)
        self.assertIs(session.state, SessionState.IDLE)
        self.assertFalse(session.connected)
        # Nothing was sent, nor could be: a request before login says why at once.
        self.failureResultOf(client.subscribe(1), ConnectionError)
        self.assertIsNone(session.protocol)

    def test_session_arguments(self) -> None:
        """9.3's ``Session(settings, inseq, outseq, account_sequence)``."""
        from txsmarkets.streaming_api.session import Session, SessionSettings

        exchange = MemoryExchange()
        session = Session(SessionSettings("demo", "demo"), 5, 7, 42, reactor=exchange.reactor)
        self.assertEqual((session.sequence.inseq, session.sequence.outseq), (5, 7))
        self.assertEqual(session.account_sequence, 42)


class QuickstartTests(unittest.SynchronousTestCase):
    """The 9.3 quickstart, as its documentation writes it, against the embedded exchange."""

    def setUp(self) -> None:
        self.exchange = MemoryExchange()

    def test_quickstart(self) -> None:
        from txsmarkets.streaming_api.api import (
            BUY,
            SIDE_BID,
            SIDE_OFFER,
            OrderCreate,
            Session,
            SessionSettings,
            StreamingAPIClient,
            eto,
            seto,
        )
        from txsmarkets.streaming_api.session import SessionState

        exchange = self.exchange
        username = "demo"
        password = "demo"
        settings = SessionSettings(username, password)
        settings.host = HOST
        settings.port = PORT
        settings.ssl = False
        session = Session(settings, reactor=exchange.reactor)
        client = StreamingAPIClient(session)

        login_responses: list[Any] = []
        received: list[str] = []
        executed: list[Any] = []

        def login_response_callback(message: Any) -> None:
            login_responses.append(message)

        def global_callback(name: str, message: Any) -> None:
            received.append(name)

        client.add_handler("eto.login_response", login_response_callback)
        client.add_global_handler(global_callback)
        client.add_handler("seto.order_executed", lambda message: executed.append(message.order_executed))

        response = exchange.run(client.login())
        self.assertIs(session.state, SessionState.LOGGED_IN)
        self.assertEqual(response.eto_payload.type, eto.PAYLOAD_LOGIN_RESPONSE)
        self.assertEqual([m.eto_payload.type for m in login_responses], [eto.PAYLOAD_LOGIN_RESPONSE])
        self.assertEqual(received[0], "eto.login_response")

        rtt = client.ping()
        client.flush()
        seconds: float = exchange.run(rtt)
        self.assertGreaterEqual(seconds, 0)
        self.assertIn("eto.pong", received)

        order = OrderCreate()
        order.quantity = 400000  # 40.0000 GBP payout
        order.price = 2500  # 25.00%
        order.side = SIDE_BID
        order.market_id = 1
        order.contract_id = 11
        self.assertEqual(order.side, BUY)
        accepted = client.order(order)
        client.flush()
        accepted_payload = exchange.run(accepted)
        self.assertEqual(accepted_payload.type, seto.PAYLOAD_ORDER_ACCEPTED)
        order_id = accepted_payload.order_accepted.order_id
        self.assertIn(order_id, client.account.orders)
        self.assertEqual(client.account.orders[order_id].side, SIDE_BID)
        self.assertIn("seto.order_accepted", received)

        # A second 9.3 program lays into the bid: the first hears its order executed.
        other = StreamingAPIClient(Session(exchange.settings("demo2", "demo2"), reactor=exchange.reactor))
        exchange.run(other.login())
        offer = OrderCreate()
        offer.quantity = 400000
        offer.price = 2500
        offer.side = SIDE_OFFER
        offer.market_id = 1
        offer.contract_id = 11
        exchange.run(other.order(offer))
        exchange.flush()
        self.assertEqual([(e.order_id, e.quantity, e.price) for e in executed], [(order_id, 400000, 2500)])
        self.assertNotIn(order_id, client.account.orders)

        exchange.run(client.logout())
        exchange.run(other.logout())
        self.assertIs(session.state, SessionState.CLOSED)
        self.assertFalse(session.connected)

    def test_refused_login(self) -> None:
        """A wrong password errbacks with LoginError, from the 9.3 exceptions module."""
        from txsmarkets.streaming_api.api import Session, StreamingAPIClient
        from txsmarkets.streaming_api.exceptions import LoginError

        client = StreamingAPIClient(Session(self.exchange.settings("demo", "wrong"), reactor=self.exchange.reactor))
        with self.assertRaises(LoginError) as caught:
            self.exchange.run(client.login())
        self.assertTrue(caught.exception.reason)

    def test_del_handler(self) -> None:
        """A handler removed with del_handler is no longer called."""
        from txsmarkets.streaming_api.api import Session, StreamingAPIClient

        client = StreamingAPIClient(Session(self.exchange.settings(), reactor=self.exchange.reactor))
        pongs = Handler()
        client.add_handler("eto.pong", pongs)
        self.exchange.run(client.login())
        self.exchange.run(client.ping())
        client.del_handler("eto.pong", pongs)
        self.exchange.run(client.ping())
        self.assertEqual(pongs.call_count, 1)
        self.exchange.run(client.logout())


class HandlerCallTests(unittest.SynchronousTestCase):
    """9.3 handlers run unchanged: called positionally, each with a frame whose
    ``.protobuf`` is the payload, against the embedded exchange."""

    def setUp(self) -> None:
        from txsmarkets.streaming_api.api import Session, StreamingAPIClient

        self.exchange = MemoryExchange()
        self.client = StreamingAPIClient(Session(self.exchange.settings(), reactor=self.exchange.reactor))

    def trade(self) -> int:
        """Log in, ping, place an order; the order's id."""
        self.exchange.run(self.client.login())
        self.exchange.run(self.client.ping())
        accepted = self.exchange.run(self.client.order(OrderCreate(1, 11, BUY, 2500, 400000)))
        self.exchange.flush()
        order_id: int = accepted.order_accepted.order_id
        return order_id

    def test_global_handler_gets_every_message(self) -> None:
        """The 9.3 documentation's ``global_callback(message_name, message)`` with
        ``message.protobuf``, for every message the session received, in order."""
        from google.protobuf import text_format

        seen: list[tuple[str, seto_pb2.Payload]] = []
        printed: list[str] = []

        def global_callback(message_name: str, message: Any) -> None:
            seen.append((message_name, message.protobuf))
            printed.append(text_format.MessageToString(message.protobuf))

        self.client.add_global_handler(global_callback)
        self.trade()
        self.assertEqual([p.eto_payload.seq for _, p in seen], list(range(1, self.client.session.sequence.inseq)))
        self.assertEqual([name for name, _ in seen], [message_name(p) for _, p in seen])
        names = [name for name, _ in seen]
        for name in ("eto.login_response", "eto.pong", "seto.order_accepted"):
            self.assertIn(name, names)
        self.assertEqual(printed, [text_format.MessageToString(p) for _, p in seen])

    def test_called_positionally(self) -> None:
        """Handlers that take anything get what 9.3 documented: positional arguments."""
        from txsmarkets.streaming_api.session import Frame

        named: list[tuple[Any, ...]] = []
        every: list[tuple[Any, ...]] = []

        def on_accepted(*args: Any, **kwargs: Any) -> None:
            named.append((args, kwargs))

        def on_any(*args: Any, **kwargs: Any) -> None:
            every.append((args, kwargs))

        self.client.add_handler("seto.order_accepted", on_accepted)
        self.client.add_global_handler(on_any)
        order_id = self.trade()
        [(args, kwargs)] = named
        self.assertEqual(kwargs, {})
        [frame] = args
        self.assertIsInstance(frame, Frame)
        self.assertIsInstance(frame.protobuf, seto_pb2.Payload)
        self.assertEqual(frame.protobuf.order_accepted.order_id, order_id)
        self.assertTrue(every)
        for args, kwargs in every:
            self.assertEqual(kwargs, {})
            name, frame = args
            self.assertEqual(name, message_name(frame.protobuf))

    def test_message_handler_reads_the_payload(self) -> None:
        """A per-message handler has ``.protobuf``, and reads as the payload itself, as the
        9.3 documentation's ``login_response_callback(message)`` does."""
        from google.protobuf import text_format

        accepted: list[Any] = []
        logins: list[tuple[str, str]] = []

        def login_response_callback(message: Any) -> None:
            logins.append((text_format.MessageToString(message), text_format.MessageToString(message.protobuf)))

        self.client.add_handler("eto.login_response", login_response_callback)
        self.client.add_handler("seto.order_accepted", lambda msg: accepted.append(msg))
        order_id = self.trade()
        [(printed, printed_protobuf)] = logins
        self.assertEqual(printed, printed_protobuf)
        self.assertIn("login_response", printed)
        [message] = accepted
        self.assertEqual(message.order_accepted.order_id, order_id)
        self.assertEqual(message.protobuf.order_accepted.order_id, order_id)
        self.assertEqual(message.type, seto_pb2.PAYLOAD_ORDER_ACCEPTED)
        self.assertEqual(message, message.protobuf)
        copy = seto_pb2.Payload()
        copy.CopyFrom(message.protobuf)
        self.assertEqual(message, copy)

    def test_handlers_added_to_the_signals(self) -> None:
        """9.3 code may add to ``callbacks[name]`` and ``global_callback`` directly."""
        pongs: list[int] = []
        names: list[str] = []
        self.client.callbacks["eto.pong"] += lambda message: pongs.append(message.protobuf.eto_payload.type)
        self.client.global_callback += lambda message_name, message: names.append(message_name)
        self.trade()
        self.assertEqual(pongs, [eto_pb2.PAYLOAD_PONG])
        self.assertIn("eto.pong", names)

    def test_keyword_handlers(self) -> None:
        """9.3's client itself passed ``name=`` and ``message=``: a handler naming its
        parameters so gets each in its place, whatever their order."""
        seen: list[tuple[str, int]] = []
        every: list[str] = []

        def reversed_handler(message: Any, name: str) -> None:
            seen.append((name, message.protobuf.type))

        self.client.add_global_handler(reversed_handler)
        self.client.add_global_handler(lambda **kwargs: every.append(kwargs["name"]))
        self.client.add_handler("eto.pong", lambda *, message: every.append(message_name(message.protobuf)))
        self.trade()
        self.assertIn(("seto.order_accepted", seto_pb2.PAYLOAD_ORDER_ACCEPTED), seen)
        self.assertEqual(every.count("eto.pong"), 2)

    def test_raising_handler_logged_by_its_name(self) -> None:
        """A 9.3 handler that raises is logged as itself, and the others still run."""
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        after: list[str] = []

        def failing_pong_handler(message: Any) -> None:
            raise RuntimeError("boom")

        self.client.add_handler("eto.pong", failing_pong_handler)
        self.client.add_handler("eto.pong", lambda message: after.append("second"))
        self.trade()
        self.assertEqual(after, ["second"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        [logged] = [formatEvent(event) for event in events if "log_failure" in event]
        self.assertIn("failing_pong_handler", logged)
        self.assertIn("eto.pong", logged)


class HandlerRefusalTests(unittest.SynchronousTestCase):
    """A handler that cannot be called as 9.3 called it is refused when it is added."""

    def setUp(self) -> None:
        from txsmarkets.streaming_api.api import Session, StreamingAPIClient

        self.exchange = exchange = MemoryExchange()
        self.clients = [
            StreamingAPIClient(Session(exchange.settings(), reactor=exchange.reactor)),
            StreamingAPIClient("_"),  # type: ignore[arg-type]
        ]

    def assertRefused(self, add: Any, handler: Any, *why: str) -> None:
        from txsmarkets.streaming_api.exceptions import InvalidCallbackError

        with self.assertRaises(InvalidCallbackError) as caught:
            add(handler)
        message = str(caught.exception)
        for part in why:
            self.assertIn(part, message)
        self.assertNotIn("\n", message)

    def test_message_handler_arity(self) -> None:
        for client in self.clients:
            add = partial(client.add_handler, "seto.order_accepted")
            self.assertRefused(add, lambda: None, "handler(message)", "too many positional arguments")
            self.assertRefused(add, lambda name, message: None, "handler(message)", "missing a required argument: 'message'")
            self.assertRefused(add, lambda *, protobuf: None, "handler(message)")
            self.assertEqual(len(client.callbacks["seto.order_accepted"]), 0)

    def test_global_handler_arity(self) -> None:
        for client in self.clients:
            add = client.add_global_handler
            self.assertRefused(add, lambda message: None, "handler(message_name, message)", "too many positional arguments")
            self.assertRefused(add, lambda a, b, c: None, "handler(message_name, message)", "missing a required argument: 'c'")
            self.assertEqual(len(client.global_callback), 0)

    def test_added_to_the_signals(self) -> None:
        """``callbacks[name] += handler`` refuses as add_handler does, and adds nothing."""
        for client in self.clients:
            signal = client.callbacks["eto.pong"]
            self.assertRefused(signal.add, lambda: None, "handler(message)")
            self.assertRefused(client.global_callback.add, lambda message: None, "handler(message_name, message)")
            self.assertEqual((len(signal), len(client.global_callback)), (0, 0))

    def test_not_callable(self) -> None:
        for client in self.clients:
            self.assertRefused(partial(client.add_handler, "eto.pong"), 3, "not callable")
            self.assertRefused(client.add_global_handler, "foo", "not callable")

    def test_refused_handler_is_not_called(self) -> None:
        """A refused handler is not a handler: the messages go to the others."""
        from txsmarkets.streaming_api.exceptions import InvalidCallbackError

        client = self.clients[0]
        pongs: list[Any] = []
        client.add_handler("eto.pong", pongs.append)
        self.assertRaises(InvalidCallbackError, client.add_handler, "eto.pong", lambda: None)
        self.exchange.run(client.login())
        self.exchange.run(client.ping())
        self.assertEqual(len(pongs), 1)


class BlockingCallTests(unittest.SynchronousTestCase):
    """9.3's blocking calls say what to do instead."""

    def test_read(self) -> None:
        from txsmarkets.streaming_api.api import BlockingCallError, Session, StreamingAPIClient

        exchange = MemoryExchange()
        clients = [StreamingAPIClient("_"), StreamingAPIClient(Session(exchange.settings(), reactor=exchange.reactor))]  # type: ignore[arg-type]
        exchange.run(clients[1].login())
        for client in clients:
            for call in (client.read, partial(client.read, 1), partial(client.read, read_mode=3, limit=5)):
                with self.assertRaises(BlockingCallError) as caught:
                    call()
                message = str(caught.exception)
                self.assertIn("reactor", message)
                self.assertIn("handlers", message)
                self.assertNotIn("\n", message)
        self.assertTrue(issubclass(BlockingCallError, Error))
        self.assertFalse(issubclass(BlockingCallError, AttributeError))

    def test_flush_of_no_session(self) -> None:
        from txsmarkets.streaming_api.api import BlockingCallError, StreamingAPIClient

        with self.assertRaises(BlockingCallError) as caught:
            StreamingAPIClient("_").flush()  # type: ignore[arg-type]
        message = str(caught.exception)
        self.assertIn("Session(settings", message)
        self.assertIn("login()", message)

    def test_flush_of_a_session(self) -> None:
        """With a session, flush() sends at once, logged in or not, as before."""
        from txsmarkets.streaming_api.api import Session, StreamingAPIClient

        exchange = MemoryExchange()
        client = StreamingAPIClient(Session(exchange.settings(), reactor=exchange.reactor))
        client.flush()
        exchange.run(client.login())
        pong = client.ping()
        client.flush()
        self.assertGreaterEqual(exchange.run(pong), 0)


class FrameTests(unittest.SynchronousTestCase):
    def test_reads_as_its_payload(self) -> None:
        from txsmarkets.streaming_api.session import Frame

        payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_ACCEPTED)
        payload.eto_payload.seq = 7
        payload.order_accepted.order_id = 42
        payload.order_accepted.seq = 3
        frame = Frame(payload)
        self.assertIs(frame.protobuf, payload)
        self.assertEqual(frame.order_accepted.order_id, 42)
        self.assertEqual(frame.SerializeToString(), payload.SerializeToString())
        self.assertEqual(frame, payload)
        self.assertEqual(frame, Frame(payload))
        self.assertNotEqual(frame, seto_pb2.Payload())
        self.assertEqual(str(frame), str(payload))
        self.assertEqual(repr(frame), "<Frame seto.order_accepted seq 7>")
        self.assertRaises(AttributeError, getattr, frame, "nonsense")
        self.assertRaises(TypeError, hash, frame)
