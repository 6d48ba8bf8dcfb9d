"""The backtest's latency model: how long a frame takes between the client and the exchange.

Without it a backtest delivers every frame at the clock step it was written in, so an
order is answered at once. Live, each way takes a network trip. A `Latency` is that one-way
delay: a fixed number of seconds or a distribution, parsed from a spec by `parse_latency`:

=========================  =====================================================
``SECONDS``                a fixed delay (``0.05``; ``fixed:SECONDS`` too)
``uniform:LO,HI``          uniform between ``LO`` and ``HI`` seconds
``exponential:MEAN``       exponential with mean ``MEAN`` seconds
``normal:MEAN,SD``         normal; a draw below 0 counts as 0
``lognormal:MU,SIGMA``     log-normal: ``exp`` of a normal of mean ``MU`` and
                           deviation ``SIGMA`` (``lognormal:-3,0.5``: median 0.05)
=========================  =====================================================

`delay_connections` puts it on every connection an exchange's server factory makes: each
frame the client sends (requests) and each frame the server sends (answers, and market
data: everything the server writes goes over the same link) is drawn its own delay and
arrives at ``max(the previous frame's arrival that way, now + delay)``, on the exchange's
clock: frames keep their order each way, as on TCP. The draws come from a `random.Random`
seeded from the backtest's seed (`Latency.sampler`), so a seed gives the same run every time.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from twisted.internet.interfaces import IDelayedCall, IProtocol, IReactorTime
from twisted.python.failure import Failure
from zope.interface import directlyProvides, implementer, providedBy

from txsmarkets.wire.framing import MIN_FRAME_LENGTH, IncompleteULEB128, InvalidULEB128, uleb128_decode

__all__ = ["FORMS", "Latency", "delay_connections", "parse_latency"]

#: The spec's forms, for the messages that refuse a bad one.
FORMS = "SECONDS, uniform:LO,HI, exponential:MEAN, normal:MEAN,SD or lognormal:MU,SIGMA"

# Each distribution: its parameters' names, and a check of their values (None: fine, else
# what is wrong).
_DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], Callable[[tuple[float, ...]], str | None]]] = {
    "fixed": (("SECONDS",), lambda p: "SECONDS must be 0 or more" if p[0] < 0 else None),
    "uniform": (("LO", "HI"), lambda p: "it needs 0 <= LO <= HI" if not 0 <= p[0] <= p[1] else None),
    "exponential": (("MEAN",), lambda p: "MEAN must be over 0" if p[0] <= 0 else None),
    "normal": (("MEAN", "SD"), lambda p: "SD must be 0 or more" if p[1] < 0 else None),
    "lognormal": (("MU", "SIGMA"), lambda p: "SIGMA must be 0 or more" if p[1] < 0 else None),
}


def _number(value: float) -> str:
    """``value`` as the spec writes it: ``1`` rather than ``1.0``, else Python's shortest."""
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True)
class Latency:
    """A one-way delay: ``kind`` (``fixed`` or a distribution's name) and its ``params``."""

    kind: str
    params: tuple[float, ...]

    def __str__(self) -> str:
        """The spec, as `parse_latency` reads it (``0.05``, ``uniform:0.01,0.1``)."""
        numbers = ",".join(_number(p) for p in self.params)
        return numbers if self.kind == "fixed" else f"{self.kind}:{numbers}"

    def sampler(self, seed: int) -> Callable[[], float]:
        """A function that returns one delay (seconds, 0 or more) a call, drawn from a
        `random.Random` seeded by ``seed``: the same seed, the same delays."""
        if self.kind == "fixed":
            delay = self.params[0]
            return lambda: delay
        # A seed of its own: Random(seed) would draw the very numbers the simulation, seeded
        # the same, draws for its traders.
        rng = random.Random(f"txsmarkets.backtest.latency:{seed}")
        a, *rest = self.params
        b = rest[0] if rest else 0.0
        if self.kind == "uniform":
            return lambda: rng.uniform(a, b)
        if self.kind == "exponential":
            rate = 1 / a
            return lambda: rng.expovariate(rate)
        if self.kind == "normal":
            return lambda: max(0.0, rng.normalvariate(a, b))
        return lambda: rng.lognormvariate(a, b)


def parse_latency(spec: str | float | Latency) -> Latency:
    """The `Latency` a spec gives (see the module's table; a number is a fixed delay).

    Raises ValueError, one line naming the valid forms, for a spec that is none of them or
    a parameter that is no finite number or out of its range.
    """
    if isinstance(spec, Latency):
        return spec
    text = str(spec).strip()
    name, colon, values = text.partition(":")
    kind = name.strip().lower() if colon else "fixed"
    if not colon:
        values = name
    if kind not in _DISTRIBUTIONS:
        raise ValueError(f"latency {text!r}: no distribution {name.strip()!r}; the forms are {FORMS}")
    names, check = _DISTRIBUTIONS[kind]
    try:
        params = tuple(float(piece) for piece in values.split(","))
    except ValueError:
        params = ()
    if len(params) != len(names) or not all(math.isfinite(p) for p in params):
        form = ",".join(names) if not colon else f"{kind}:{','.join(names)}"
        numbers = "a finite number" if len(names) == 1 else "finite numbers"
        raise ValueError(f"latency {text!r}: {form} must be {numbers}; the forms are {FORMS}")
    wrong = check(params)
    if wrong is not None:
        raise ValueError(f"latency {text!r}: {wrong}; the forms are {FORMS}")
    return Latency(kind, params)


def _split(buffer: bytes) -> tuple[list[bytes], bytes]:
    """The whole frames at the start of ``buffer``, each with its header and padding, and
    the bytes left over (a frame not yet complete)."""
    frames: list[bytes] = []
    pos, end = 0, len(buffer)
    while pos < end:
        try:
            length, used = uleb128_decode(buffer, pos)
        except IncompleteULEB128:
            break
        except InvalidULEB128:
            # No frame: handed on as it is, for the protocol to refuse.
            frames.append(buffer[pos:])
            return frames, b""
        following = pos + max(used + length, MIN_FRAME_LENGTH)
        if following > end:
            break
        frames.append(buffer[pos:following])
        pos = following
    return frames, buffer[pos:]


class _Way:
    """One direction of a delayed connection: the frames on their way, each with the time
    it arrives, and the one clock call that hands the next of them to ``deliver``."""

    def __init__(self, clock: IReactorTime, draw: Callable[[], float], deliver: Callable[[bytes], None]) -> None:
        self._clock = clock
        self._draw = draw
        self._deliver = deliver
        self._partial = b""
        # (arrival, frame), arrivals never decreasing: the queue is in order by making.
        self._frames: deque[tuple[float, bytes]] = deque()
        self._last = -math.inf
        self._call: IDelayedCall | None = None
        self._due = 0.0
        #: Called once, when nothing is on its way any more (a close that waits for the data).
        self.then: Callable[[], None] | None = None

    @property
    def idle(self) -> bool:
        """Whether no whole frame is on its way."""
        return not self._frames

    def send(self, data: bytes) -> None:
        """Put ``data``'s frames on their way (a partial frame waits for its end)."""
        frames, self._partial = _split(self._partial + data if self._partial else data)
        if not frames:
            return
        now = self._clock.seconds()
        last = self._last
        for frame in frames:
            last = max(last, now + self._draw())
            self._frames.append((last, frame))
        self._last = last
        if self._call is None:
            self._schedule(now)

    def _schedule(self, now: float) -> None:
        self._due = self._frames[0][0]
        self._call = self._clock.callLater(max(0.0, self._due - now), self._arrive)

    def _arrive(self) -> None:
        # Compared with the time the call was made for, not the clock's: the clock's sum of
        # steps may differ from it in the last bit.
        self._call = None
        frames, due = self._frames, self._due
        arrived = []
        while frames and frames[0][0] <= due:
            arrived.append(frames.popleft()[1])
        if frames:
            self._schedule(self._clock.seconds())
        self._deliver(b"".join(arrived))
        if not frames and self.then is not None:
            then, self.then = self.then, None
            then()

    def stop(self) -> None:
        """Drop what is on its way (the connection is gone)."""
        self._frames.clear()
        self._partial = b""
        self.then = None
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None


@implementer(IProtocol)
class _Delayed:
    """The exchange's protocol for one connection behind the latency: to the link it is the
    protocol (requests arrive late), to the protocol it is the transport (answers leave late).

    What the transport does not delay (producers, addresses, aborting) is passed on.
    """

    def __init__(self, protocol: Any, clock: IReactorTime, draw: Callable[[], float]) -> None:
        self.wrapped = protocol
        self.transport: Any = None
        self.disconnecting = False
        self._requests = _Way(clock, draw, protocol.dataReceived)
        self._answers = _Way(clock, draw, self._write)
        self._gone = False

    def __getattr__(self, name: str) -> Any:
        # Only what this class lacks: the transport's other methods and attributes.
        if name == "transport":
            raise AttributeError(name)
        return getattr(self.transport, name)

    # -- the link's side: the protocol ------------------------------------------------------

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        # Whatever the transport provides (ITCPTransport ...), the protocol sees provided.
        directlyProvides(self, providedBy(transport))
        self.wrapped.makeConnection(self)

    def dataReceived(self, data: bytes) -> None:
        self._requests.send(data)

    def connectionLost(self, reason: Failure) -> None:
        # The answers on their way go with the connection; the requests on their way were
        # sent before the peer closed, and arrive first (as the data before a FIN).
        self._gone = True
        self._answers.stop()
        if self._requests.idle:
            self.wrapped.connectionLost(reason)
        else:
            self._requests.then = lambda: self.wrapped.connectionLost(reason)

    # -- the protocol's side: the transport -------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self._gone:
            self._answers.send(data)

    def writeSequence(self, data: Iterable[bytes]) -> None:
        self.write(b"".join(data))

    def _write(self, data: bytes) -> None:
        self.transport.write(data)

    def loseConnection(self) -> None:
        # Closed after the last answer on its way, as TCP sends its FIN after the data.
        self.disconnecting = True
        if self._answers.idle:
            self.transport.loseConnection()
        else:
            self._answers.then = self.transport.loseConnection

    def abortConnection(self) -> None:
        self._answers.stop()
        self.transport.abortConnection()


def delay_connections(factory: Any, clock: IReactorTime, draw: Callable[[], float]) -> None:
    """Delay each frame of every connection ``factory`` (a server factory) makes from now
    on by ``draw()`` seconds (see `Latency.sampler`) on ``clock``, both ways, in order."""
    build = factory.buildProtocol

    def buildProtocol(addr: Any) -> Any:
        protocol = build(addr)
        return None if protocol is None else _Delayed(protocol, clock, draw)

    # On the instance: the exchange's other users (its simulation, replay, operator) keep
    # the factory itself, which a wrapping factory would hide from them.
    factory.buildProtocol = buildProtocol
