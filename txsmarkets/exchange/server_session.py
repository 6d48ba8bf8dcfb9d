"""A session of the embedded exchange's streaming server, as the server holds it.

A `ServerSession` outlives its connection (a client may resume it on another one within
the resume window); `SessionConnection` is what it needs of the connection it is attached
to. The server (`txsmarkets.exchange.server`) makes them, and each connection
(`txsmarkets.exchange.connection`) serves one.
"""

from __future__ import annotations

from typing import Protocol

from twisted.internet.interfaces import IDelayedCall

from txsmarkets.exchange.interfaces import ExchangeAccount
from txsmarkets.session.sequencer import SequenceState
from txsmarkets.session.throttle import TokenBucket
from txsmarkets.wire import seto_pb2

__all__ = ["ServerSession", "SessionConnection"]


class SessionConnection(Protocol):
    """The connection a `ServerSession` is attached to, as the session and the server use it."""

    @property
    def blocked(self) -> bool:
        """Whether the peer is not taking what is written (its transport's buffer is
        full) while the connection is still open: a large answer should wait."""

    def sendPayload(self, payload: seto_pb2.Payload) -> object:
        """Number ``payload`` in the session's sequence, keep it for replay and send it."""

    def sendEncoded(self, data: bytes) -> object:
        """`sendPayload` of a payload serialised unnumbered (`txsmarkets.wire.encoded`)."""

    def replaced(self) -> None:
        """The session has moved to another connection: close this one, without ending
        the session."""


class ServerSession:
    """One logged-in session as the exchange holds it; it outlives its connection."""

    def __init__(
        self, session_id: str, account: ExchangeAccount, replay_capacity: int, throttle: TokenBucket
    ) -> None:
        self.id = session_id
        self.account = account
        self.sequence = SequenceState(replay_capacity)
        #: The connection it is attached to, or None while it waits to be resumed.
        self.protocol: SessionConnection | None = None
        self.markets: set[int] = set()
        self.throttle = throttle
        self.expiry: IDelayedCall | None = None

    def __repr__(self) -> str:
        return f"<ServerSession {self.id} account={self.account.id} attached={self.protocol is not None}>"

    def deliver(self, payload: seto_pb2.Payload, shared: tuple[int, bytes] | None = None) -> None:
        """Send ``payload`` now, or keep it for the replay that a resume will ask for.

        ``shared`` is the replay store entry ``(eto type, bytes without a seq)`` of the
        payload, to keep for a detached session instead of bytes of its own: the many
        sessions of one account hold one copy (the replay gives each its seq)."""
        if self.protocol is not None:
            self.protocol.sendPayload(payload)
        elif shared is None:
            self.sequence.stamp(payload)
        else:
            sequence = self.sequence
            seq = sequence.outseq
            sequence.store.add_entry(seq, shared)
            sequence.outseq = seq + 1
