"""Clients and servers joined in memory: no sockets.

`MemoryExchange` runs the real exchange (engine and server protocol) and any number of
real clients, which connect through its `MemoryReactor`, on one Clock: the client's
connector path, the server protocol and the transports are those of a live session, and
time moves only when told to. Backtests (`txsmarkets.backtest`) trade on one;
`txsmarkets.testing`, the test helpers, gives it to tests (see there for how to use it).

A `Link` is what joins the two protocols of one connection: two `MemoryTransport` ends,
and `Link.pump` to move what each side wrote. A `LiveLink` pumps itself on a live
reactor, and a `MemoryEndpoint` makes one for each connection a `Session` asks for: so a
daemon reaches a server running in its own process (``twistd smarkets --http-api``'s
bridge, ``--paper``'s exchange) with no port between them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar, cast

from twisted.internet.defer import Deferred, ensureDeferred, fail, succeed
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionRefusedError
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import (
    IConnector,
    IDelayedCall,
    IHostnameResolver,
    IHostResolution,
    IProtocolFactory,
    IReactorPluggableNameResolver,
    IReactorSSL,
    IReactorTCP,
    IReactorTime,
    IResolutionReceiver,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import ClientFactory
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from zope.interface import implementer

from txsmarkets.client import Session, SessionSettings, StreamingAPIClient, connect
from txsmarkets.clock import VirtualClock
from txsmarkets.exchange.catalogue import Catalogue
from txsmarkets.exchange.service import make_exchange

__all__ = ["HOST", "LOOPBACK", "PORT", "Link", "LiveLink", "MemoryEndpoint", "MemoryExchange", "MemoryReactor", "MemoryTransport"]

T = TypeVar("T")

#: Where a `MemoryExchange` pretends to listen.
HOST, PORT = "exchange.memory", 3701
#: The address that `HOST` resolves to in memory.
ADDRESS = "127.0.0.37"


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        """Resolved at once: nothing to cancel."""


@implementer(IHostnameResolver)
class _Resolver:
    """Resolves `HOST` (and `ADDRESS`) to `ADDRESS` at once; any other name to nothing."""

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Any = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        if hostName in (HOST, ADDRESS):
            resolutionReceiver.addressResolved(IPv4Address("TCP", ADDRESS, portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


class MemoryTransport(StringTransport):
    """One end of an in-memory connection: what its protocol writes waits in ``value()``
    until a `Link` moves it to the other end's protocol.

    The writes are kept as a list of chunks joined when taken (``value``), not copied into
    a buffer one by one: a backtest's exchange writes a frame per market update.
    """

    def __init__(self, host: Any, peer: Any) -> None:
        super().__init__(hostAddress=host, peerAddress=peer)
        self.aborted = False
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        """Keep ``data`` for the other end; TypeError unless it is bytes."""
        if not isinstance(data, bytes):
            # As a socket transport (and StringTransport) refuses it.
            raise TypeError("Data must be bytes")
        self._chunks.append(data)

    def writeSequence(self, data: Any) -> None:
        """Keep the bytes of ``data`` (an iterable of bytes), joined, for the other end."""
        self.write(b"".join(data))

    def value(self) -> bytes:
        """What was written and not yet taken (`clear`), as one bytes."""
        chunks = self._chunks
        if len(chunks) > 1:
            chunks[:] = [b"".join(chunks)]
        return chunks[0] if chunks else b""

    def clear(self) -> None:
        """Forget what was written: it has been taken."""
        self._chunks = []

    def abortConnection(self) -> None:
        """Close at once: what is waiting is not delivered."""
        self.aborted = True
        self.loseConnection()

    def setTcpNoDelay(self, enabled: bool) -> None:
        """Accepted and ignored: nothing is delayed in memory."""


class Link:
    """A client protocol and a server protocol joined in memory by two `MemoryTransport`
    ends (``client_end``, ``server_end``), both at ``address``: no socket, no port.

    Nothing moves by itself: `pump` delivers what each side wrote (a `MemoryExchange`
    pumps its links on its Clock; a `LiveLink` pumps itself on a live reactor).
    ``on_close`` is called with the reason once the connection closed, after both
    protocols were told.
    """

    def __init__(
        self, client: Any, server: Any, address: Any, on_close: Callable[[Failure], object] | None = None
    ) -> None:
        self.client, self.server = client, server
        self.on_close = on_close
        self.client_end = self._end(address)
        self.server_end = self._end(address)
        self.closed = False

    def _end(self, address: Any) -> MemoryTransport:
        """One end of the link (a subclass's ends may do more on a write)."""
        return MemoryTransport(address, address)

    def start(self) -> None:
        """Connect both protocols to their ends: the server first, as a listening port
        accepts before the client hears it connected."""
        self.server.makeConnection(self.server_end)
        self.client.makeConnection(self.client_end)

    def pump(self) -> bool:
        """Move what each side wrote to the other; close once a side asked to. Returns
        whether anything happened."""
        if self.closed:
            return False
        moved = False
        for source, target, target_end in (
            (self.client_end, self.server, self.server_end),
            (self.server_end, self.client, self.client_end),
        ):
            if source.aborted or target_end.producerState == "paused":
                continue
            data = source.value()
            if data:
                source.clear()
                target.dataReceived(data)
                moved = True
        ends = (self.client_end, self.server_end)
        if any(end.disconnecting for end in ends):
            aborted = any(end.aborted for end in ends)
            if aborted or not any(end.value() for end in ends):
                self.close(ConnectionAborted() if aborted else ConnectionDone())
                moved = True
        return moved

    def close(self, why: Exception) -> None:
        """End the connection now, as ``why``: both protocols lose it (once)."""
        if self.closed:
            return
        self.closed = True
        reason = Failure(why)
        self.server.connectionLost(reason)
        self.client.connectionLost(reason)
        if self.on_close is not None:
            self.on_close(reason)


#: What each end of a `LiveLink` calls its host and its peer.
LOOPBACK = IPv4Address("TCP", "127.0.0.1", 0)


class _LiveEnd(MemoryTransport):
    """One end of a `LiveLink`: tells the link whenever there is something to move (a
    write, a close, reading resumed)."""

    def __init__(self, link: LiveLink, address: Any) -> None:
        super().__init__(address, address)
        self._link = link

    def write(self, data: bytes) -> None:
        super().write(data)
        self._link.soon()

    def writeSequence(self, data: Any) -> None:
        super().writeSequence(data)
        self._link.soon()

    def loseConnection(self) -> None:
        super().loseConnection()
        self._link.soon()

    def resumeProducing(self) -> None:
        super().resumeProducing()
        self._link.soon()


class LiveLink(Link):
    """A `Link` on a live reactor: one round of delivery (`Link.pump`) on the reactor's
    next turn after either side wrote, so that no side's write re-enters the other's
    read. What joins a session to a server in the same process (`MemoryEndpoint`)."""

    def __init__(self, reactor: IReactorTime, client: Any, server: Any, address: Any = LOOPBACK) -> None:
        self._reactor = reactor
        self._due: IDelayedCall | None = None
        super().__init__(client, server, address)

    def _end(self, address: Any) -> MemoryTransport:
        return _LiveEnd(self, address)

    def soon(self) -> None:
        """Deliver on the reactor's next turn (once, however many writes come first)."""
        if self._due is None and not self.closed:
            self._due = self._reactor.callLater(0, self._deliver)

    def _deliver(self) -> None:
        self._due = None
        self.pump()


@implementer(IStreamClientEndpoint)
class MemoryEndpoint:
    """A client endpoint whose connections reach a server in this process in memory
    (a `LiveLink` on ``reactor``), with no socket: give it to a `Session` (its
    ``endpoint``) and the session's host, port and TLS are not used.

    ``server`` gives the server's protocol factory at each connection, or None while it
    takes none (not started yet, or stopped): the connection is then refused, as by a
    closed port, with ``refused`` as the reason, and a client retries as it would.
    """

    def __init__(
        self, reactor: IReactorTime, server: Callable[[], IProtocolFactory | None], refused: str = "nothing listens"
    ) -> None:
        self.reactor = reactor
        self.server = server
        self.refused = refused

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[Any]:
        """Connect a protocol of ``protocolFactory`` to a protocol of the server's factory;
        fires with it, connected, or fails with `ConnectionRefusedError`."""
        factory = self.server()
        if factory is None:
            return fail(ConnectionRefusedError(self.refused))
        client = protocolFactory.buildProtocol(LOOPBACK)
        server = factory.buildProtocol(LOOPBACK)
        if client is None or server is None:
            return fail(ConnectionRefusedError("the connection was not taken"))
        LiveLink(self.reactor, client, server).start()
        return succeed(client)


@implementer(IConnector)
class _Connector:
    """What ``connectTCP`` returns: connects its factory to the exchange, again on demand."""

    def __init__(self, exchange: MemoryExchange, factory: ClientFactory, host: str, port: int) -> None:
        self.exchange = exchange
        self.factory = factory
        self.host, self.port = host, port
        self.link: Link | None = None
        self.state = "disconnected"

    def connect(self) -> None:
        self.state = "connecting"
        self.factory.doStart()
        self.factory.startedConnecting(self)
        self.exchange.clock.callLater(0, self._arrive)

    def _arrive(self) -> None:
        if self.state != "connecting":
            return
        if not self.exchange.listening or self.host not in (HOST, ADDRESS) or self.port != PORT:
            self.state = "disconnected"
            self.factory.clientConnectionFailed(self, Failure(ConnectionRefusedError()))
            self.factory.doStop()
            return
        client = self.factory.buildProtocol(self.getDestination())
        server = self.exchange.factory.buildProtocol(self.getDestination())
        if client is None or server is None:
            self.state = "disconnected"
            return
        self.state = "connected"
        self.link = Link(client, server, self.getDestination(), self.lost)
        self.exchange.links.append(self.link)
        self.link.start()

    def lost(self, reason: Failure) -> None:
        self.state = "disconnected"
        self.link = None
        self.factory.clientConnectionLost(self, reason)
        self.factory.doStop()

    def stopConnecting(self) -> None:
        if self.state == "connecting":
            self.state = "disconnected"
            self.factory.clientConnectionFailed(self, Failure(ConnectionAborted("stopped connecting")))
            self.factory.doStop()

    def disconnect(self) -> None:
        if self.state == "connecting":
            self.stopConnecting()
        elif self.link is not None:
            self.link.client_end.loseConnection()

    def getDestination(self) -> Any:
        from twisted.internet.address import HostnameAddress

        return HostnameAddress(self.host.encode(), self.port)


@implementer(IReactorTime, IReactorTCP, IReactorSSL, IReactorPluggableNameResolver)
class MemoryReactor:
    """A reactor for clients of a `MemoryExchange`: its clock, connections to it, and a
    name resolver that knows its `HOST` (so that a `HostnameEndpoint` reaches it).

    ``connectSSL`` connects as ``connectTCP`` does (nothing is encrypted in memory).
    """

    def __init__(self, exchange: MemoryExchange) -> None:
        self._exchange = exchange
        self.nameResolver: IHostnameResolver = _Resolver()
        clock = exchange.clock
        self.seconds = clock.seconds
        self.callLater = clock.callLater
        self.getDelayedCalls = clock.getDelayedCalls

    def connectTCP(
        self, host: str, port: int, factory: Any, timeout: float = 30, bindAddress: Any = None
    ) -> IConnector:
        connector = _Connector(self._exchange, factory, host, port)
        connector.connect()
        return connector

    def connectSSL(
        self,
        host: str,
        port: int,
        factory: Any,
        contextFactory: Any,
        timeout: float = 30,
        bindAddress: Any = None,
    ) -> IConnector:
        return self.connectTCP(host, port, factory, timeout, bindAddress)

    def installNameResolver(self, resolver: IHostnameResolver) -> IHostnameResolver:
        old, self.nameResolver = self.nameResolver, resolver
        return old

    def listenTCP(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a MemoryReactor only connects to its MemoryExchange")

    def listenSSL(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a MemoryReactor only connects to its MemoryExchange")


class MemoryExchange:
    """The embedded exchange (its real engine and server protocol) on a `Clock` (a new
    `VirtualClock <txsmarkets.clock.VirtualClock>` unless ``clock`` is given), with the
    clients that connect through ``reactor``, all joined in memory.

    ``catalogue`` defaults to the demo catalogue (accounts ``demo``/``demo`` and
    ``demo2``/``demo2``); ``exchange_options`` go to the `ExchangeServerFactory`.
    """

    def __init__(self, catalogue: Catalogue | None = None, *, clock: Clock | None = None, **exchange_options: Any) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        self.factory = make_exchange(self.clock, catalogue, **exchange_options)
        #: The matching engine, for the operator's API (settle, halt, void ...).
        self.engine = self.factory.engine
        self.reactor = MemoryReactor(self)
        #: Whether connections are accepted (False: they are refused, as by a closed port).
        self.listening = True
        self.links: list[Link] = []

    def settings(self, username: str = "demo", password: str = "demo", **settings: Any) -> SessionSettings:
        """Settings that reach this exchange (plaintext; ``settings`` override the rest)."""
        options: dict[str, Any] = {"host": HOST, "port": PORT, "ssl": False}
        options.update(settings)
        return SessionSettings(username, password, **options)

    def connect(self, username: str = "demo", password: str = "demo", **settings: Any) -> Deferred[StreamingAPIClient]:
        """`txsmarkets.client.connect <txsmarkets.client.connect.connect>` to this exchange;
        fires with the logged-in client."""
        return connect(self.settings(username, password, **settings), reactor=self.reactor)

    def client(self, username: str = "demo", password: str = "demo", **settings: Any) -> StreamingAPIClient:
        """A client of this exchange, not yet logged in (``client.login()`` connects)."""
        session = Session(self.settings(username, password, **settings), reactor=self.reactor)
        return StreamingAPIClient(session)

    # -- time and delivery ----------------------------------------------------------------

    def flush(self, limit: int = 1_000_000) -> None:
        """Deliver everything written, and what that makes the other side write, and run
        what is due now, until nothing moves. ``limit`` rounds at most (a guard against two
        peers that would answer each other for ever)."""
        for _ in range(limit):
            moved = False
            for link in list(self.links):
                moved = link.pump() or moved
            self.links = [link for link in self.links if not link.closed]
            # A Clock keeps its calls sorted by time: the first says whether any is due.
            calls = self.clock.getDelayedCalls()
            if calls and calls[0].getTime() <= self.clock.seconds():
                self.clock.advance(0)
                moved = True
            if not moved:
                return
        raise RuntimeError(f"still busy after {limit} rounds of delivery")

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` on, stopping at every timer due on the way."""
        end = self.clock.seconds() + seconds
        self.flush()
        while True:
            upcoming = [call.getTime() for call in self.clock.getDelayedCalls()]
            step = min((t for t in upcoming if t <= end), default=None)
            if step is None:
                break
            self.clock.advance(max(0.0, step - self.clock.seconds()))
            self.flush()
        self.clock.advance(max(0.0, end - self.clock.seconds()))
        self.flush()

    def run(self, work: Deferred[T] | Coroutine[Any, Any, T] | Generator[Any, Any, T], timeout: float = 3600) -> T:
        """Drive ``work`` (a Deferred or a coroutine) to its end in virtual time and return
        its result, or raise its error. Raises `TimeoutError` if it has not ended when
        ``timeout`` virtual seconds have passed."""
        d: Deferred[T] = work if isinstance(work, Deferred) else ensureDeferred(cast(Any, work))
        outcome: list[Any] = []
        d.addBoth(outcome.append)
        deadline = self.clock.seconds() + timeout
        self.flush()
        while not outcome:
            upcoming = [call.getTime() for call in self.clock.getDelayedCalls()]
            if not upcoming or min(upcoming) > deadline:
                self.clock.advance(max(0.0, deadline - self.clock.seconds()))
                self.flush()
                if not outcome:
                    raise TimeoutError(f"not done after {timeout} virtual seconds")
                break
            self.clock.advance(max(0.0, min(upcoming) - self.clock.seconds()))
            self.flush()
        result = outcome[0]
        if isinstance(result, Failure):
            result.raiseException()
        return cast(T, result)

    # -- faults ---------------------------------------------------------------------------

    def cut(self, client: StreamingAPIClient | None = None) -> None:
        """Drop the connection of ``client`` (of every client when None) as a network
        failure would: both sides see it lost, and the client reconnects by itself."""
        for link in list(self.links):
            if client is None or client.session.raw_socket is link.client_end:
                link.close(ConnectionAborted("cut by the test"))
        self.links = [link for link in self.links if not link.closed]
