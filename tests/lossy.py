"""A seeded lossy link for tests: a TCP proxy that drops whole Smarkets frames.

`LossyProxy` listens on a loopback port and forwards each connection to a target port. It
splits both directions into frames (`frame_decode_all`) and drops each frame with a given
probability, decided by a seeded `random.Random`, except the first ``keep_first`` frames of
each direction of each connection: the login and its response, so that sessions start.
What survives is forwarded as whole frames, in order. TCP never loses a frame in the middle
of a connection; this proxy does, so that gap detection, replay requests, replays and their
timeouts can be tested on real connections.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from twisted.internet import protocol
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred
from twisted.logger import Logger

from txsmarkets.wire import seto_pb2
from txsmarkets.wire.framing import frame_decode_all, frame_encode
from txsmarkets.wire.messages import message_name

__all__ = ["LossyProxy"]

_log = Logger()

#: The two directions, as the counters name them.
UP, DOWN = "up", "down"


def _name(payload: bytes) -> str:
    """The message name of a frame's payload, for the record ("?" when it is no payload)."""
    try:
        message = seto_pb2.Payload.FromString(payload)
    except Exception:
        return "?"
    name = message_name(message)
    if message.eto_payload.is_replay:
        name += " (replay)"
    return name


class _Side(protocol.Protocol):
    """One end of a proxied connection; frames it receives go to its peer, or are dropped."""

    direction: str
    proxy: LossyProxy
    peer: _Side | None = None

    def __init__(self) -> None:
        self._buffer = b""
        self._held: list[bytes] = []
        self._seen = 0
        self.closed: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        self.proxy._open.add(self)

    def dataReceived(self, data: bytes) -> None:
        payloads, rest = frame_decode_all(self._buffer + data)
        self._buffer = bytes(rest)
        for payload in payloads:
            index = self._seen
            self._seen += 1
            if index >= self.proxy.keep_first and self.proxy.rng.random() < self.proxy.drop:
                self.proxy.dropped[self.direction] += 1
                self.proxy.dropped_names[self.direction][_name(payload)] += 1
                continue
            self.proxy.forwarded[self.direction] += 1
            frame = bytearray()
            frame_encode(frame, payload)
            if self.peer is None or self.peer.transport is None:
                self._held.append(bytes(frame))
            else:
                self.peer.transport.write(bytes(frame))

    def link(self, peer: _Side) -> None:
        """Join ``peer``: from now on what this side receives is written to it."""
        self.peer = peer
        held, self._held = self._held, []
        for frame in held:
            peer.transport.write(frame)

    def connectionLost(self, reason: Any) -> None:
        self.proxy._open.discard(self)
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.loseConnection()
        self.closed.callback(None)


class _Downstream(_Side):
    """The side the client connected to: it opens the connection to the target."""

    direction = UP

    def connectionMade(self) -> None:
        super().connectionMade()
        self.proxy.connections += 1
        self.proxy.reactor.connectTCP("127.0.0.1", self.proxy.target_port, _UpstreamFactory(self))


class _Upstream(_Side):
    """The side connected to the target: joined to its downstream side as it connects."""

    direction = DOWN

    def connectionMade(self) -> None:
        super().connectionMade()
        downstream = self.peer
        assert downstream is not None
        if downstream.transport is None or not downstream.transport.connected:
            self.transport.loseConnection()
            return
        downstream.link(self)


class _UpstreamFactory(protocol.ClientFactory):
    """Connects one downstream side to the target."""

    def __init__(self, downstream: _Downstream) -> None:
        self.downstream = downstream

    def buildProtocol(self, addr: Any) -> _Upstream:
        side = _Upstream()
        side.proxy = self.downstream.proxy
        side.peer = self.downstream
        return side

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        _log.info("lossy proxy: cannot reach the target: {why}", why=reason.getErrorMessage())
        self.downstream.transport.loseConnection()


class LossyProxy(protocol.ServerFactory):
    """Forwards loopback connections to ``target_port``, dropping frames at random.

    ``drop`` is the probability that a frame is dropped, ``seed`` seeds the choice, and the
    first ``keep_first`` frames each way of each connection always pass. ``dropped`` and
    ``forwarded`` count frames per direction (``"up"`` is client to target), and
    ``dropped_names`` counts the dropped ones by message name.
    """

    def __init__(self, reactor: Any, target_port: int, drop: float = 0.2, seed: int = 0, keep_first: int = 1) -> None:
        self.reactor = reactor
        self.target_port = target_port
        self.drop = drop
        self.rng = random.Random(seed)
        self.keep_first = keep_first
        self.dropped: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.dropped_names: dict[str, Counter[str]] = {UP: Counter(), DOWN: Counter()}
        self.connections = 0
        self._open: set[_Side] = set()
        self._port: Any = None

    def buildProtocol(self, addr: Any) -> _Downstream:
        side = _Downstream()
        side.proxy = self
        return side

    def listen(self) -> int:
        """Listen on a free loopback port; return it."""
        self._port = self.reactor.listenTCP(0, self, interface="127.0.0.1")
        return self._port.getHost().port  # type: ignore[no-any-return]

    def stop(self) -> Deferred[Any]:
        """Stop listening and close every proxied connection; fires when all are closed."""
        closing = [side.closed for side in self._open]
        for side in list(self._open):
            side.transport.abortConnection()
        waits = [maybeDeferred(self._port.stopListening)] if self._port is not None else []
        return gatherResults(waits + closing)
