"""The 9.3 compatibility package `txsmarkets.streaming_api`: its names, and 9.3 code run
against the embedded exchange with nothing changed but the top-level package's name and
the waiting (Deferreds driven by `MemoryExchange.run` in place of blocking reads)."""

from __future__ import annotations

import importlib
from typing import Any

from twisted.trial import unittest

import txsmarkets.client
import txsmarkets.exceptions
import txsmarkets.framing
from txsmarkets.errors import Error
from txsmarkets.signal import Signal
from txsmarkets.testing import HOST, PORT, MemoryExchange
from txsmarkets.wire import eto_pb2, seto_pb2

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

        self.assertIs(api.StreamingAPIClient, txsmarkets.client.StreamingAPIClient)
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

        self.assertIs(client.StreamingAPIClient, txsmarkets.client.StreamingAPIClient)

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
