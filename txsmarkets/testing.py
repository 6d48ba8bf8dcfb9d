"""Test helpers for code that uses txsmarkets: no sockets, no threads, no waiting.

`MemoryExchange`
    The real embedded exchange and any number of real clients, joined in memory on one
    `twisted.internet.task.Clock`. Clients connect through ``MemoryExchange.reactor``, which
    resolves the exchange's name and connects to it as a reactor would, so the client's
    service, cuts, refusals and reconnects go through the same code as on a network. Time
    moves only when you say: `MemoryExchange.flush` delivers what is written,
    `MemoryExchange.advance` moves the clock and `MemoryExchange.run` drives a Deferred or
    coroutine to its end in virtual time::

        exchange = MemoryExchange()
        client = exchange.run(exchange.connect("demo", "demo"))
        accepted = exchange.run(client.order(OrderCreate(1, 11, BUY, 2500, 400000)))

    (Defined in `txsmarkets.inmemory`, where backtests take it from too.)

`ScriptedExchange`
    A peer played by hand: a real client on a `StringTransport`; you read what the client
    wrote (`ScriptedExchange.sent`) and write to it payloads of your choosing, seqs and all
    (`ScriptedExchange.send`), to test how your code meets what a live exchange rarely does.
    The client connects through its endpoint (`ScriptedEndpoint`): each attempt waits
    until the test hands it a connection.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.address import HostnameAddress
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.interfaces import IProtocol, IProtocolFactory, IStreamClientEndpoint
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from txsmarkets.client import Session, SessionSettings, SmarketsClientFactory, StreamingAPIClient
from txsmarkets.inmemory import HOST, PORT, MemoryExchange, MemoryReactor
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.framing import frame_decode_all, frame_encode
from txsmarkets.wire.messages import eto_message

__all__ = ["MemoryExchange", "MemoryReactor", "ScriptedEndpoint", "ScriptedExchange"]


@implementer(IStreamClientEndpoint)
class ScriptedEndpoint:
    """An endpoint whose connection attempts wait for the test: `accept` connects the
    oldest one to a transport, `refuse` fails it. ``attempts`` counts every attempt made."""

    def __init__(self, address: HostnameAddress) -> None:
        self.address = address
        self.attempts = 0
        self._waiting: list[tuple[IProtocolFactory, Deferred[IProtocol]]] = []

    @property
    def waiting(self) -> int:
        """How many attempts wait for `accept` or `refuse`."""
        return len(self._waiting)

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        self.attempts += 1

        def cancel(d: Deferred[IProtocol]) -> None:
            self._waiting = [(f, w) for f, w in self._waiting if w is not d]

        d: Deferred[IProtocol] = Deferred(cancel)
        self._waiting.append((protocolFactory, d))
        return d

    def accept(self, transport: StringTransport) -> IProtocol:
        """Connect the oldest waiting attempt on ``transport``; returns its protocol."""
        factory, d = self._waiting.pop(0)
        protocol = factory.buildProtocol(self.address)
        assert protocol is not None
        protocol.makeConnection(transport)
        d.callback(protocol)
        return protocol

    def refuse(self, reason: Exception | None = None) -> None:
        """Fail the oldest waiting attempt (by default as a refused connection)."""
        factory, d = self._waiting.pop(0)
        d.errback(Failure(reason if reason is not None else ConnectionRefusedError()))


class ScriptedExchange:
    """A real client whose exchange is played by the test, on a `StringTransport`.

    ``settings`` go to `SessionSettings`; the session and client are ``session`` and
    ``client``, on ``clock``; the session connects through ``endpoint``, a
    `ScriptedEndpoint`. `connect` hands the client a new connection (it sends its
    login): the attempt its session is making, or else one it did not ask for; `sent`
    returns what it wrote; `send` writes a payload to it, numbered by the exchange's own
    count unless ``seq`` is given; `login` answers the login (and the ping of a client
    catching up with its account: this exchange holds no history); ``received`` lists
    what reached the client's handlers.
    """

    def __init__(self, framing: str = "uleb128", **settings: Any) -> None:
        self.clock = Clock()
        options: dict[str, Any] = {"host": "exchange.test", "port": PORT, "ssl": False, "framing": framing}
        options.update(settings)
        self.settings = SessionSettings(options.pop("username", "demo"), options.pop("password", "secret-pw"), **options)
        self.endpoint = ScriptedEndpoint(HostnameAddress(self.settings.host.encode(), self.settings.port))
        self.session = Session(self.settings, reactor=self.clock, endpoint=self.endpoint)
        self.client = StreamingAPIClient(self.session)
        #: What builds the connections the session did not ask for.
        self.factory = SmarketsClientFactory(self.session)
        self.seq = 1
        self.framing = framing
        self.proto: Any = None
        self.transport = StringTransport()
        #: Every message the client's handlers were given, in order.
        self.received: list[seto_pb2.Payload] = []
        self.client.add_global_handler(lambda name, message: self.received.append(message))

    def connect(self) -> None:
        """A new connection: the client sends its login on it."""
        self.transport = StringTransport()
        if self.endpoint.waiting:
            self.proto = self.endpoint.accept(self.transport)
        else:
            self.proto = self.factory.buildProtocol(self.endpoint.address)
            self.proto.makeConnection(self.transport)

    def sent(self) -> list[seto_pb2.Payload]:
        """Everything the client wrote since the last call, decoded."""
        data = self.transport.value()
        self.transport.clear()
        return self._decode(data)

    def _decode(self, data: bytes) -> list[seto_pb2.Payload]:
        if self.framing == "int32":
            out = []
            while data:
                n = int.from_bytes(data[:4], "big")
                out.append(seto_pb2.Payload.FromString(data[4 : 4 + n]))
                data = data[4 + n :]
            return out
        payloads, rest = frame_decode_all(data)
        if rest:
            raise AssertionError(f"the client wrote a partial frame: {rest!r}")
        return [seto_pb2.Payload.FromString(p) for p in payloads]

    def send(self, payload: seto_pb2.Payload, seq: int | None = None) -> None:
        """Write ``payload`` to the client with ``seq`` (by default the next of ours)."""
        if seq is None:
            seq = self.seq
            self.seq += 1
        payload.eto_payload.seq = seq
        self.proto.dataReceived(self._frame(payload.SerializeToString()))

    def _frame(self, data: bytes) -> bytes:
        if self.framing == "int32":
            return len(data).to_bytes(4, "big") + data
        frame = bytearray()
        frame_encode(frame, data)
        return bytes(frame)

    def send_eto(self, kind: int, seq: int | None = None, **fields: Any) -> None:
        """Write a session message of eto type ``kind`` (``fields`` as for `eto_message`)."""
        self.send(eto_message(kind, **fields), seq)

    def login(self, session_id: str = "s-1", reset: int | None = None) -> seto_pb2.Payload:
        """Connect, answer the client's login, and return that login."""
        self.connect()
        login = self.sent()[0]
        response = eto_pb2.LoginResponse(session=session_id)
        response.reset = reset if reset is not None else login.eto_payload.seq + 1
        self.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=response)
        if self.client.catch_up.pending:
            self._end_account_stream()
        return login

    def _end_account_stream(self) -> None:
        """Answer the ping that the client, catching up with its account, sent first after
        the login: the account stream has nothing more. What it wrote after the ping stays
        for `sent`."""
        frames = self._decode(self.transport.value())
        if not frames or frames[0].eto_payload.type != eto_pb2.PAYLOAD_PING:
            return
        self.transport.clear()
        self.transport.write(b"".join(self._frame(payload.SerializeToString()) for payload in frames[1:]))
        self.send_eto(eto_pb2.PAYLOAD_PONG)

    def logout(self, reason: int) -> None:
        """Send ``eto.logout`` with ``reason`` and close the connection."""
        self.send_eto(eto_pb2.PAYLOAD_LOGOUT, logout=eto_pb2.Logout(reason=cast(eto_pb2.LogoutReason, reason)))
        self.proto.connectionLost(Failure(ConnectionDone()))
