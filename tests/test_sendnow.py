"""Answers written while handling a read leave at once, not on the reactor's next turn."""

from __future__ import annotations

from typing import Any

from twisted.internet.abstract import FileDescriptor
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import optionsForClientTLS
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactor, StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial import unittest

from txsmarkets.wire import eto_pb2
from txsmarkets.wire.framing import ULEB128StringReceiver, frame_encode
from txsmarkets.wire.messages import eto_message
from txsmarkets.session.protocol import SessionProtocolMixin
from txsmarkets.wire.sendnow import send_now
from txsmarkets.session.sequencer import SequenceState


class Socket(FileDescriptor):
    """A file descriptor transport whose socket takes ``room`` bytes a call."""

    def __init__(self, room: int = 1 << 20) -> None:
        self.reactor = MemoryReactor()
        super().__init__(self.reactor)
        self.connected = 1
        self.room = room
        self.sent: list[bytes] = []

    def writeSomeData(self, data: bytes) -> int:
        taken = bytes(data[: self.room])
        self.sent.append(taken)
        return len(taken)


def tls_over_socket() -> tuple[Socket, Any]:
    """A client TLS layer (as connectSSL makes) over a `Socket`, its ClientHello written."""
    factory = TLSMemoryBIOFactory(
        optionsForClientTLS("localhost"), True, Factory.forProtocol(Protocol)
    )
    tls = factory.buildProtocol(None)
    socket = Socket()
    socket.getPeer = socket.getHost = lambda: None  # type: ignore[method-assign]
    tls.makeConnection(socket)
    return socket, tls


class Producer:
    paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        pass


class SendNowTests(unittest.SynchronousTestCase):
    def test_sends_what_is_buffered(self) -> None:
        socket = Socket()
        socket.write(b"answer")
        self.assertIn(socket, socket.reactor.writers)
        send_now(socket)
        self.assertEqual(socket.sent, [b"answer"])
        self.assertNotIn(socket, socket.reactor.writers)

    def test_what_the_socket_refuses_waits_for_the_reactor(self) -> None:
        socket = Socket(room=2)
        socket.write(b"answer")
        send_now(socket)
        self.assertEqual(socket.sent, [b"an"])
        self.assertIn(socket, socket.reactor.writers)

    def test_not_while_closing(self) -> None:
        socket = Socket()
        socket.write(b"bye")
        socket.loseConnection()
        send_now(socket)
        self.assertEqual(socket.sent, [])

    def test_not_past_a_paused_or_pull_producer(self) -> None:
        for streaming, paused in ((True, True), (False, False)):
            socket = Socket()
            producer = Producer()
            socket.registerProducer(producer, streaming)
            socket.producerPaused = paused
            socket.write(b"x")
            send_now(socket)
            self.assertEqual(socket.sent, [], (streaming, paused))
        socket = Socket()
        socket.registerProducer(Producer(), True)
        socket.write(b"x")
        send_now(socket)
        self.assertEqual(socket.sent, [b"x"])

    def test_under_tls(self) -> None:
        """Under a TLS layer, the socket beneath is the one that sends."""
        socket, tls = tls_over_socket()
        self.assertIn(socket, socket.reactor.writers)  # the ClientHello, buffered
        send_now(tls)
        self.assertEqual(len(socket.sent), 1)
        self.assertNotIn(socket, socket.reactor.writers)

    def test_not_when_tls_closes_the_socket(self) -> None:
        """TLS may close the socket under it (the peer's close_notify, a TLS error) while
        its own layer is not closing: the socket's last write is left to the reactor."""
        socket, tls = tls_over_socket()
        tls._tlsShutdownFinished(None)
        self.assertTrue(socket.disconnecting)
        send_now(tls)
        self.assertEqual(socket.sent, [])
        self.assertIn(socket, socket.reactor.writers)

    def test_other_transports_are_left_alone(self) -> None:
        transport = StringTransport()
        transport.write(b"x")
        send_now(transport)
        self.assertEqual(transport.value(), b"x")


class Echo(SessionProtocolMixin, ULEB128StringReceiver):
    """A session that answers pings (with pongs) and counts the rest."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.sequence = SequenceState()


class SessionSendsNowTests(unittest.SynchronousTestCase):
    def test_answer_leaves_within_the_read(self) -> None:
        socket = Socket()
        proto = Echo()
        proto.makeConnection(socket)
        ping = eto_message(eto_pb2.PAYLOAD_PING)
        ping.eto_payload.seq = 1
        frame = bytearray()
        frame_encode(frame, ping.SerializeToString())
        proto.dataReceived(bytes(frame))
        self.assertEqual(len(socket.sent), 1)
        self.assertNotIn(socket, socket.reactor.writers)

    def test_nothing_written_nothing_sent(self) -> None:
        socket = Socket()
        proto = Echo()
        proto.makeConnection(socket)
        proto.dataReceived(b"\x10")  # part of a frame: nothing to answer yet
        self.assertEqual(socket.sent, [])
