"""`Pings`: the client's pings waiting for their pongs, and which of them a replay lost."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from txsmarkets.client.session import Session
from txsmarkets.exceptions import ConnectionLost, PingLost, RequestTimeout

__all__ = ["Pings"]


class Pings:
    """The pings sent on ``session``'s connection, oldest first, each waiting for its pong.

    Pongs carry no reference: a pong answers the oldest ping still waiting. ``waiting``
    holds ``(seq, time sent, waiter)`` of each.
    """

    def __init__(self, session: Session, clock: IReactorTime) -> None:
        self._session = session
        self._clock = clock
        self.waiting: list[tuple[int, float, Deferred[float]]] = []
        # The outseq when we first served a replay on this connection: pings from it on
        # follow that replay.
        self._replayed_upto: int | None = None

    def send(self, protocol: Any) -> Deferred[float]:
        """Send ``eto.ping`` on ``protocol`` (the session's, logged in); returns a Deferred
        that fires with the round trip in seconds, or fails as `StreamingAPIClient.ping`
        says."""
        entry: list[tuple[int, float, Deferred[float]]] = []

        def forget(d: Deferred[float]) -> None:
            # A ping that gives up leaves the queue. Pongs carry no reference, so a pong that
            # comes later still will be taken for the next ping's; but a pong can also be
            # lost for good (a replay sends a gapfill for it), and a place kept for it would
            # then put every later ping a pong behind.
            if entry and entry[0] in self.waiting:
                self.waiting.remove(entry[0])

        d: Deferred[float] = Deferred(forget)
        entry.append((self._session.sequence.outseq, self._clock.seconds(), d))
        self.waiting.append(entry[0])
        timeout = self._session.settings.request_timeout
        if timeout:
            d.addTimeout(
                timeout,
                self._clock,
                onTimeoutCancel=lambda result, t: Failure(RequestTimeout(f"no pong within {t}s")),
            )
        protocol.ping()
        return d

    def pong(self) -> None:
        """A pong came: the oldest ping waiting has its round trip. Returns None."""
        if self.waiting:
            _, sent, d = self.waiting.pop(0)
            d.callback(self._clock.seconds() - sent)

    def replay_served(self, first: int) -> None:
        """We served the exchange a replay from ``first``: the pings it covers never reached
        the exchange (their waiters fail with `PingLost`). Returns None."""
        # A replay sends a gapfill in place of a ping: its pong will never come. But a ping
        # sent after the first replay on this connection follows that replay, so the peer
        # does act on it: a later request only means the first replay was slow to arrive
        # (the peer asks again at each of its replay timeouts), and it covers no ping the
        # first did not. The limit is the first replay's, not the one before this request:
        # that one may be a re-ask already, served after pings that were on their way.
        if self._replayed_upto is None:
            self._replayed_upto = self._session.sequence.outseq
        lost = [entry for entry in self.waiting if first <= entry[0] < self._replayed_upto]
        for entry in lost:
            self.waiting.remove(entry)
            entry[2].errback(PingLost(f"ping #{entry[0]} never reached the exchange"))

    def logged_in(self) -> None:
        """A new connection logged in: no replay served on it yet. Returns None."""
        self._replayed_upto = None

    def connection_lost(self, reason: Failure) -> None:
        """The connection ended: every ping waiting fails with `ConnectionLost`. Returns None."""
        pings, self.waiting = self.waiting, []
        for _, _, d in pings:
            d.errback(ConnectionLost(reason))
