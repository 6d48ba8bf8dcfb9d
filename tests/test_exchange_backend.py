"""The exchange's servers stand in front of any `IExchangeEngine`, and the engine is made of
parts: a back end that is no `MatchingEngine` serves sessions through the same server, and
the modules' imports say so."""

from __future__ import annotations

from collections.abc import Callable

import grimp
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from txsmarkets.exchange.catalogue import demo_catalogue
from txsmarkets.exchange.engine import MatchingEngine
from txsmarkets.exchange.server import ExchangeServerFactory
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.framing import frame_decode_all, frame_encode
from txsmarkets.wire.messages import new_payload


class BridgeAccount:
    id = 7
    username = "bridge"


class StubEngine:
    """A back end that is no `MatchingEngine`: one account, one market (1, of event 10),
    and every order accepted as order 42."""

    answer_chunk: int | None = None

    def __init__(self) -> None:
        self.on_account: Callable[[int, seto_pb2.Payload], None] = lambda account_id, payload: None
        self.on_market: Callable[[int, seto_pb2.Payload], None] = lambda market_id, payload: None
        self.market_watched: Callable[[int], bool] = lambda market_id: True
        self.submitted: list[tuple[int, seto_pb2.Payload]] = []
        self.failed: list[int] = []
        self.log: list[seto_pb2.Payload] = []

    def authenticate(self, username: str, password: str | bytes) -> BridgeAccount | None:
        return BridgeAccount() if (username, password) == ("bridge", "pw") else None

    def authenticate_token(self, token: bytes) -> BridgeAccount | None:
        return None

    def submit(self, account_id: int, payload: seto_pb2.Payload) -> str | None:
        self.submitted.append((account_id, payload))
        answer = new_payload(seto_pb2.PAYLOAD_ORDER_ACCEPTED)
        accepted = answer.order_accepted
        accepted.seq = payload.eto_payload.seq
        accepted.order_id = 42
        accepted.market_id = payload.order_create.market_id
        accepted.contract_id = payload.order_create.contract_id
        accepted.side = payload.order_create.side
        accepted.price = payload.order_create.price
        accepted.quantity = payload.order_create.quantity
        accepted.account_sequence_64 = accepted.account_sequence = len(self.log) + 1
        accepted.available_balance = accepted.exposure = 0.0
        self.log.append(answer)
        self.on_account(account_id, answer)
        return None

    def reject_order(self, account_id: int, payload: seto_pb2.Payload, reason: seto_pb2.OrderRejectedReason) -> None:
        raise AssertionError("not throttled in these tests")

    def session_failed(self, account_id: int) -> None:
        self.failed.append(account_id)

    def account_messages_since(self, account_id: int, account_sequence: int) -> list[seto_pb2.Payload]:
        return self.log[account_sequence:]

    def account_log_start(self, account_id: int) -> int:
        return 1

    def market_quotes(self, market_id: int) -> seto_pb2.Payload | None:
        if market_id != 1:
            return None
        snapshot = new_payload(seto_pb2.PAYLOAD_MARKET_QUOTES)
        snapshot.market_quotes.market_id = 1
        return snapshot

    def event_markets(self, event_id: int) -> list[int]:
        return [1] if event_id == 10 else []

    def has_work(self, account_id: int) -> bool:
        return False

    def continue_work(self, account_id: int) -> bool:
        return False


class Peer:
    """A client's side of one connection, on a StringTransport."""

    def __init__(self, factory: ExchangeServerFactory[StubEngine]) -> None:
        self.protocol = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self.seq = 0

    def send(self, payload: seto_pb2.Payload) -> None:
        self.seq += 1
        payload.eto_payload.seq = self.seq
        data = bytearray()
        frame_encode(data, payload.SerializeToString())
        self.protocol.dataReceived(bytes(data))

    def login(self, password: str = "pw") -> None:
        payload = new_payload(seto_pb2.PAYLOAD_LOGIN)
        payload.eto_payload.type = eto_pb2.PAYLOAD_LOGIN
        payload.login.username = "bridge"
        payload.login.password = password
        self.send(payload)

    def received(self) -> list[seto_pb2.Payload]:
        """What the server wrote since the last call."""
        frames, rest = frame_decode_all(self.transport.value())
        self.transport.clear()
        assert not rest
        return [seto_pb2.Payload.FromString(frame) for frame in frames]


def order_create() -> seto_pb2.Payload:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
    create = payload.order_create
    create.market_id = 1
    create.contract_id = 11
    create.side = seto_pb2.SIDE_BUY
    create.price = 2500
    create.quantity = 10000
    create.tif = seto_pb2.GOOD_TIL_CANCELLED
    return payload


class AnotherBackEndTests(unittest.TestCase):
    """The streaming server serves a back end that is only an `IExchangeEngine`."""

    def setUp(self) -> None:
        self.engine = StubEngine()
        self.clock = Clock()
        self.factory = ExchangeServerFactory(self.engine, self.clock)
        self.peer = Peer(self.factory)

    def test_login_and_order(self) -> None:
        self.peer.login()
        kinds = [payload.eto_payload.type for payload in self.peer.received()]
        self.assertEqual(kinds[0], eto_pb2.PAYLOAD_LOGIN_RESPONSE)
        self.peer.send(order_create())
        self.assertEqual([(account_id, p.order_create.price) for account_id, p in self.engine.submitted], [(7, 2500)])
        [answer] = self.peer.received()
        self.assertEqual((answer.type, answer.order_accepted.order_id), (seto_pb2.PAYLOAD_ORDER_ACCEPTED, 42))

    def test_bad_password_is_refused(self) -> None:
        self.peer.login(password="wrong")
        [logout] = self.peer.received()
        self.assertEqual(logout.eto_payload.logout.reason, eto_pb2.LOGOUT_UNAUTHORISED)
        self.assertEqual(self.factory.sessions, {})

    def test_market_data_to_subscribers(self) -> None:
        self.peer.login()
        self.peer.received()
        self.assertFalse(self.engine.market_watched(1))
        subscribe = new_payload(seto_pb2.PAYLOAD_EVENT_SUBSCRIBE)
        subscribe.event_subscribe.event_id = 10
        self.peer.send(subscribe)
        [snapshot] = self.peer.received()
        self.assertEqual((snapshot.type, snapshot.market_quotes.market_id), (seto_pb2.PAYLOAD_MARKET_QUOTES, 1))
        self.assertTrue(self.engine.market_watched(1))
        quotes = new_payload(seto_pb2.PAYLOAD_CONTRACT_QUOTES)
        quotes.contract_quotes.market_id = 1
        quotes.contract_quotes.contract_id = 11
        self.engine.on_market(1, quotes)
        [update] = self.peer.received()
        self.assertEqual(update.contract_quotes.contract_id, 11)

    def test_resume_from_the_account_log(self) -> None:
        self.peer.login()
        self.peer.send(order_create())
        self.peer.protocol.connectionLost()
        self.assertEqual(self.engine.failed, [7])
        again = Peer(self.factory)
        payload = new_payload(seto_pb2.PAYLOAD_LOGIN)
        payload.eto_payload.type = eto_pb2.PAYLOAD_LOGIN
        payload.login.username = "bridge"
        payload.login.password = "pw"
        payload.login.account_sequence_64 = 0
        again.send(payload)
        resumed = [p for p in again.received() if p.type == seto_pb2.PAYLOAD_ORDER_ACCEPTED]
        self.assertEqual([p.order_accepted.account_sequence_64 for p in resumed], [1])


class AsynchronousEngine(StubEngine):
    """A back end whose logins are answered later (a bridge asking its upstream)."""

    authenticates_asynchronously = True

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, Deferred[BridgeAccount | None]]] = []

    def authenticate(self, username: str, password: str | bytes) -> Deferred[BridgeAccount | None]:  # type: ignore[override]
        d: Deferred[BridgeAccount | None] = Deferred()
        self.asked.append((username, d))
        return d


class AsynchronousLoginTests(unittest.TestCase):
    """An engine may answer a login with a Deferred: the session waits for it, reading
    nothing more, on the reactor's thread."""

    def setUp(self) -> None:
        self.engine = AsynchronousEngine()
        # The reactor has a thread pool: the asynchronous engine is still asked in line.
        self.factory = ExchangeServerFactory(self.engine, Clock())
        self.peer = Peer(self.factory)

    def test_login_answered_later(self) -> None:
        self.peer.login()
        [(username, d)] = self.engine.asked
        self.assertEqual((username, self.peer.received()), ("bridge", []))
        d.callback(BridgeAccount())
        kinds = [payload.eto_payload.type for payload in self.peer.received()]
        self.assertEqual(kinds[0], eto_pb2.PAYLOAD_LOGIN_RESPONSE)
        self.assertEqual(len(self.factory.sessions), 1)

    def test_refused_later(self) -> None:
        self.peer.login()
        self.engine.asked[0][1].callback(None)
        [logout] = self.peer.received()
        self.assertEqual(logout.eto_payload.logout.reason, eto_pb2.LOGOUT_UNAUTHORISED)

    def test_failed_login_drops_the_connection(self) -> None:
        self.peer.login()
        self.engine.asked[0][1].errback(RuntimeError("upstream unreachable"))
        self.assertEqual(self.peer.received(), [])
        self.assertTrue(self.peer.transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class EngineMadeOfPartsTests(unittest.TestCase):
    """The engine owns its parts, and the servers know only the interface."""

    def setUp(self) -> None:
        self.graph = grimp.build_graph("txsmarkets", exclude_type_checking_imports=False)

    def test_no_import_cycle_in_the_exchange(self) -> None:
        """Not even through imports made for type checking only."""
        modules = sorted(m for m in self.graph.modules if m.startswith("txsmarkets.exchange."))
        cycles = [
            (a, b)
            for a in modules
            for b in self.graph.find_modules_directly_imported_by(a)
            if b.startswith("txsmarkets.exchange.") and self.graph.chain_exists(b, a)
        ]
        self.assertEqual(cycles, [])

    def test_servers_depend_on_the_interface_only(self) -> None:
        servers = ["txsmarkets.exchange.server", "txsmarkets.exchange.connection", "txsmarkets.exchange.server_session"]
        servers += sorted(m for m in self.graph.modules if m.startswith("txsmarkets.exchange.http."))
        engine = "txsmarkets.exchange.engine"
        self.assertEqual([m for m in servers if self.graph.chain_exists(m, engine)], [])

    def test_parts_are_owned_not_inherited(self) -> None:
        self.assertEqual(MatchingEngine.__mro__, (MatchingEngine, object))
        engine = MatchingEngine(demo_catalogue())
        parts = [engine.stream, engine.answers, engine.market_data, engine.state, engine.entry]
        parts += [engine.amendments, engine.operator]
        self.assertEqual(len({type(part) for part in parts}), 7)
