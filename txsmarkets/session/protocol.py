"""The session protocol shared by the client and the embedded exchange.

`SessionProtocolMixin` sits on any Twisted string receiver (the Smarkets ULEB128 framing, or
Twisted's own `Int32StringReceiver`): it turns each payload into a verdict of the
`SequenceState`, answers heartbeats, pings and replay requests, asks for replays of gaps,
and watches the peer for silence. What a payload means beyond the session is for the
subclass (`SessionProtocolMixin.payloadReceived`, `SessionProtocolMixin.loginReceived`,
`SessionProtocolMixin.loginResponseReceived`, `SessionProtocolMixin.logoutReceived`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, cast

from google.protobuf.message import DecodeError
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.framing import frame_payload
from txsmarkets.wire.messages import MAX_SEQ, bad_text, eto_message, parse_frames
from txsmarkets.wire.sendnow import send_now
from txsmarkets.session.rules import CLIENT_RULES, Action, Kind, Rules, kind_of
from txsmarkets.session.sequencer import ReplaySnapshot, SequenceState, Verdict

__all__ = ["SessionProtocolMixin"]

_ETO = seto_pb2.PAYLOAD_ETO
_SETO_LOGIN = seto_pb2.PAYLOAD_LOGIN
_HEARTBEAT = eto_pb2.PAYLOAD_HEARTBEAT
_PING = eto_pb2.PAYLOAD_PING
_LOGOUT = eto_pb2.PAYLOAD_LOGOUT
_DELIVER = Verdict.DELIVER
_CONSUMED = Verdict.CONSUMED
_parse = seto_pb2.Payload.FromString


def _replayed_copy(payload: seto_pb2.Payload) -> bytes:
    copy = seto_pb2.Payload()
    copy.CopyFrom(payload)
    copy.eto_payload.is_replay = True
    return copy.SerializeToString()


class SessionProtocolMixin:
    """Sequencing, heartbeats, ping and replay over a string receiver.

    Set ``clock`` and ``sequence`` before the connection is made (the factory does).
    """

    _log = Logger()

    if TYPE_CHECKING:
        # What the string receiver under the mixin provides.
        transport: Any
        paused: bool

        def sendString(self, string: bytes) -> None: ...

    #: The reactor's clock (any `IReactorTime`).
    clock: IReactorTime
    #: The session's sequence numbers and replay store; it outlives the connection.
    sequence: SequenceState
    #: Seconds of sending nothing before a heartbeat is sent.
    heartbeatInterval: float = 30.0
    #: Heartbeat intervals of hearing nothing before the peer is taken for dead.
    heartbeatMisses: int = 3
    #: Seconds to wait for a replay before asking again.
    replayTimeout: float = 10.0
    #: The session rules of this side (see `txsmarkets.session.rules`).
    rules: Rules = CLIENT_RULES
    #: False while payloads other than a login are not yet welcome (a server before login).
    loggedIn: bool = True

    #: Seconds a closing connection may take to send what is written before it is cut.
    closeTimeout: float = 5.0
    #: Frames of a replay sent in one turn of the reactor; the rest follow turn by turn.
    replayChunk: int = 5000
    #: Whether `sendEncoded` may write its frame to the transport itself: only for the
    #: Smarkets framing (`txsmarkets.wire.framing`), and while ``sendString`` would do
    #: nothing more than frame and write (a subclass that watches its output clears it
    #: while it must see each write).
    directFrames: bool = False

    #: Messages dropped on this connection for a seq below the expected one.
    duplicatesDropped = 0
    #: Seconds between two log lines about dropped duplicates.
    duplicateLogInterval: float = 60.0
    _duplicateLoggedAt: float | None = None
    _duplicatesLogged = 0

    _ticker: IDelayedCall | None = None
    _abortTimer: IDelayedCall | None = None
    _sent = 0
    _received = 0
    _lastSent = 0.0
    _lastReceived = 0.0
    _replayAskedAt: float | None = None
    # The seq the last replay was asked from, and since when it has been asked from it.
    _replayFrom = 0
    _replayFromSince = 0.0
    _replaying: Iterator[bytes] | None = None
    _replayCall: IDelayedCall | None = None
    # While a replay is under way: what it may send, and the messages sent meanwhile.
    _snapshot: ReplaySnapshot | None = None
    _heldBack: list[bytes] | None = None

    # -- connection ---------------------------------------------------------------------

    def connectionMade(self) -> None:
        super().connectionMade()  # type: ignore[misc]
        # Read for every message sent: the instance's own attribute is the quicker read.
        self._heldBack = None
        self.sequence.new_connection()
        self._lastSent = self._lastReceived = self.clock.seconds()
        self._ticker = self.clock.callLater(self.heartbeatInterval / 2, self._tick)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._stopTicker()
        self._replaying = self._heldBack = self._snapshot = None
        if self._replayCall is not None and self._replayCall.active():
            self._replayCall.cancel()
        self._replayCall = None
        if self._abortTimer is not None and self._abortTimer.active():
            self._abortTimer.cancel()
        self._abortTimer = None
        super().connectionLost(reason)  # type: ignore[misc]

    def _stopTicker(self) -> None:
        if self._ticker is not None and self._ticker.active():
            self._ticker.cancel()
        self._ticker = None

    def disconnect(self) -> None:
        """Close after what is written has gone; a peer that does not read is cut off."""
        self._stopTicker()
        transport = self.transport
        if self._heldBack is not None and transport is not None and not transport.disconnecting:
            # Not the rest of a replay, but what was held back (a logout, say) still goes.
            self._sent += self._endReplay()
        if transport is not None:
            transport.loseConnection()
            if self._abortTimer is None:
                self._abortTimer = self.clock.callLater(self.closeTimeout, transport.abortConnection)

    # -- sending ------------------------------------------------------------------------

    def sendPayload(self, payload: seto_pb2.Payload) -> int:
        """Number ``payload``, keep it for replay and send it; return its seq."""
        seq = self.sequence.outseq
        self._send(self.sequence.stamp(payload))
        return seq

    def sendEncoded(self, data: bytes) -> int:
        """`sendPayload` of a payload serialised unnumbered (`txsmarkets.wire.encoded`): the
        same bytes go out, numbered without being parsed; return its seq."""
        sequence = self.sequence
        seq = sequence.outseq
        if self.directFrames and self._heldBack is None:
            # What `_send` and `sendString` would do, in one go: the market data's path,
            # taken for every message of every subscriber.
            self.transport.write(sequence.stamp_encoded_frame(data))
            self._sent += 1
            self._lastSent = self.clock.seconds()
        else:
            self._send(sequence.stamp_encoded(data))
        return seq

    def _send(self, data: bytes) -> None:
        # A stamped payload's bytes, kept for replay already.
        if self._heldBack is not None:
            # A replay is under way: the peer would drop this as beyond its gap, and the
            # replay could only send a gapfill for a pong. It follows the replay instead.
            self._heldBack.append(data)
            return
        self.sendString(data)
        self._sent += 1
        self._lastSent = self.clock.seconds()

    def sendSession(self, kind: int, **fields: Any) -> int:
        """Send a session message of eto type ``kind``; return its seq."""
        return self.sendPayload(eto_message(kind, **fields))

    def sendLogout(self, reason: int = eto_pb2.LOGOUT_NONE) -> int:
        """Send ``eto.logout`` with ``reason``."""
        return self.sendSession(_LOGOUT, logout=eto_pb2.Logout(reason=cast(eto_pb2.LogoutReason, reason)))

    def ping(self) -> int:
        """Send ``eto.ping``; the peer answers ``eto.pong``."""
        return self.sendSession(_PING)

    # -- receiving ----------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        sent = self._sent
        received = self._received
        super().dataReceived(data)  # type: ignore[misc]
        if self._received != received:
            # Whole frames are signs of life, not bytes: a peer that drip-feeds one
            # unfinished frame is silent. Once a read, not once a message.
            self._lastReceived = self.clock.seconds()
        if self._sent != sent:
            # The answers to this read leave now, not on the reactor's next turn.
            send_now(self.transport)

    def stringReceived(self, data: bytes) -> None:
        try:
            payload = _parse(data)
        except DecodeError:
            self.invalidPayload(data, "not a seto.Payload")
            return
        seq = payload.eto_payload.seq
        if not seq:
            # No eto_payload, one without its seq, or seq 0: nothing can be judged by it.
            self.invalidPayload(data, "no seq")
            return
        self._received += 1
        kind = payload.type
        sequence = self.sequence
        if (
            seq == sequence.inseq
            and kind != _ETO
            and kind != _SETO_LOGIN
            and sequence.replay_asked is None
            and self.loggedIn
        ):
            # The common case, an application message in order, without the general path.
            sequence.inseq = seq + 1
            if sequence.journal is not None:
                sequence.journal.record_in(data)
            self.payloadReceived(payload)
            return
        if seq >= MAX_SEQ:
            self.invalidPayload(data, "absurd seq")
            return
        if kind == _SETO_LOGIN:
            if bad_text(payload):
                self.invalidPayload(data, "login text not UTF-8")
                return
            # Which session's seqs a login is judged by is for the login to say.
            self.loginReceived(payload)
            return
        if not self.loggedIn:
            self.payloadBeforeLogin(payload)
            return
        verdict = sequence.receive(payload)
        if sequence.journal is not None and (verdict is _DELIVER or verdict is _CONSUMED):
            # Recorded before anything acts on it: a kill after this loses nothing.
            if verdict is _CONSUMED and seq in sequence.held:
                # The gapfill in place of a login response that came beyond the gap: the
                # journal keeps the response itself, at its place, marked as sent again
                # (it was acted on when it came).
                data = _replayed_copy(sequence.held[seq])
            sequence.journal.record_in(data)
        if verdict is _DELIVER and kind != _ETO:
            self.payloadReceived(payload)
            return
        self._sessionPayload(payload, verdict)

    def framesReceived(self, frames: list[bytes]) -> int:
        """Take a read's run of small frames (the framing's
        `ULEB128StringReceiver.receivesFrames` path).

        With `directRoutes`, the frames are parsed in one go, and each application message
        that arrives in order goes straight to its route; anything else (a session message,
        a gap, a type without a route) takes the way of `stringReceived`.
        """
        routes = self.directRoutes()
        if routes is None:
            return super().framesReceived(frames)  # type: ignore[misc]
        try:
            payloads = parse_frames(frames)
        except DecodeError:
            # One by one, so that those before the bad one are still delivered.
            return super().framesReceived(frames)  # type: ignore[misc]
        sequence = self.sequence
        transport = self.transport
        pending = iter(payloads)
        taken = 0
        while True:
            start = expected = sequence.inseq
            slow = None
            if sequence.replay_asked is None and self.loggedIn:
                journal = sequence.journal
                offset = taken - start
                for payload in pending:
                    route = routes[payload.type]
                    if route is None or payload.eto_payload.seq != expected:
                        slow = payload
                        break
                    if journal is not None:
                        # Recorded before anything acts on it, as on the long way.
                        journal.record_in(frame_payload(frames[expected + offset]))
                    expected += 1
                    sequence.inseq = expected
                    route(payload)
                    if transport.disconnecting or self.paused:
                        break
                taken += expected - start
                self._received += expected - start
            else:
                slow = next(pending, None)
            if slow is None:
                return taken
            frame = frames[taken]
            taken += 1
            self.stringReceived(frame_payload(frame))
            if transport.disconnecting or self.paused:
                return taken

    def directRoutes(self) -> Mapping[int, Callable[[seto_pb2.Payload], None] | None] | None:
        """Where an in-order application message may go straight to, by seto type,
        instead of `SessionProtocolMixin.payloadReceived`: a type that maps to None takes
        the long way, and so do all when this returns None (the default)."""
        return None

    def _sessionPayload(self, payload: seto_pb2.Payload, verdict: Verdict) -> None:
        kind = kind_of(payload)
        if verdict is Verdict.DUPLICATE:
            self._duplicate(payload)
        if kind is Kind.LOGIN_RESPONSE or kind is Kind.REPLAYED_LOGIN_RESPONSE:
            response = payload.eto_payload.login_response
            # A reset may number us on past our next seq, but not by more than the replay
            # store holds: a replay asked from below it is answered with a gapfill for each
            # seq skipped, and a lying reset would have them sent by the billion, everything
            # we send held back behind them.
            if bad_text(payload) or (
                response.HasField("reset")
                and (
                    not 1 <= response.reset < MAX_SEQ
                    or response.reset > self.sequence.outseq + self.sequence.store.capacity
                )
            ):
                self.invalidPayload(payload.SerializePartialToString(), "unusable login response")
                return
        for action in self.rules.get((kind, verdict), ()):
            self._act(action, payload)

    def _duplicate(self, payload: seto_pb2.Payload) -> None:
        # Counted, and said (at most once a minute, with the count since): a peer stuck
        # numbering below what we expect would otherwise be dropped without a word.
        self.duplicatesDropped += 1
        now = self.clock.seconds()
        if self._duplicateLoggedAt is None or now - self._duplicateLoggedAt >= self.duplicateLogInterval:
            self._log.warn(
                "dropped {count} message(s) below the expected seq {expected} (latest: seq {seq})",
                count=self.duplicatesDropped - self._duplicatesLogged,
                expected=self.sequence.inseq,
                seq=payload.eto_payload.seq,
            )
            self._duplicateLoggedAt = now
            self._duplicatesLogged = self.duplicatesDropped

    @property
    def messagesSent(self) -> int:
        """Frames sent on this connection (replays included)."""
        return self._sent

    @property
    def messagesReceived(self) -> int:
        """Payloads received on this connection with a seq (duplicates included)."""
        return self._received

    def _act(self, action: Action, payload: seto_pb2.Payload) -> None:
        """Carry out one `Action` of the session rules for ``payload``."""
        if action is Action.DELIVER:
            self.payloadReceived(payload)
        elif action is Action.ASK_REPLAY:
            self.askReplay()
        elif action is Action.LOGIN:
            self.loginResponseReceived(payload)
        elif action is Action.LOGIN_DONE:
            self.loginCompleted(payload)
        elif action is Action.HOLD:
            self.sequence.held[payload.eto_payload.seq] = payload
        elif action is Action.RELEASE:
            held = self.sequence.held.pop(payload.eto_payload.seq, None)
            if held is not None:
                self.payloadReceived(held)
        elif action is Action.DELIVER_REPLAYED:
            # Its login was acted on when it first came, if it came (acting again on its
            # reset would number our messages backwards); the application gets it once.
            self.sequence.held.pop(payload.eto_payload.seq, None)
            self.payloadReceived(payload)
        elif action is Action.LOGOUT:
            self.logoutReceived(payload)
        elif action is Action.SERVE_REPLAY:
            self._serveReplay(payload.eto_payload.replay.seq)
        elif action is Action.ANSWER_HEARTBEAT:
            self.sendSession(_HEARTBEAT)
        elif action is Action.PONG:
            self.sendSession(eto_pb2.PAYLOAD_PONG)
        elif action is Action.WARN_UNKNOWN:
            self._log.warn("ignoring a payload of unknown type, seq {seq}", seq=payload.eto_payload.seq)

    def _serveReplay(self, first: int) -> None:
        # A new request replaces a replay still being sent: it asks from what is missing
        # now. Either way the replay ends where messages started to be held back.
        self._log.debug("replaying from seq {first}", first=first)
        if self._heldBack is None:
            self._heldBack = []
            self._snapshot = self.sequence.replay_snapshot(first)
        assert self._snapshot is not None
        self._replaying = self._snapshot.frames(first)
        self.replayServed(first)
        if self._replayCall is None:
            self._replayMore()

    def _replayMore(self) -> None:
        # replayChunk frames a turn of the reactor: a request for a long stretch must not
        # stall every other connection while it is answered.
        self._replayCall = None
        frames = self._replaying
        transport = self.transport
        if frames is None or transport is None or transport.disconnecting:
            return
        send = self.sendString
        sent = 0
        for frame in frames:
            send(frame)
            sent += 1
            if sent == self.replayChunk:
                self._replayCall = self.clock.callLater(0, self._replayMore)
                break
        else:
            sent += self._endReplay()
        self._sent += sent
        self._lastSent = self.clock.seconds()

    def _endReplay(self) -> int:
        """Stop replaying; send what was held back meanwhile; return how many that was."""
        held, self._heldBack = self._heldBack or [], None
        self._replaying = self._snapshot = None
        if self._replayCall is not None and self._replayCall.active():
            self._replayCall.cancel()
        self._replayCall = None
        send = self.sendString
        for frame in held:
            send(frame)
        return len(held)

    def askReplay(self) -> None:
        """Ask the peer to resend everything from the seq we expect."""
        request = self.sequence.replay_request()
        first = request.eto_payload.replay.seq
        if first != self._replayFrom:
            self._replayFrom, self._replayFromSince = first, self.clock.seconds()
        self._log.info("gap: expected seq {expected}; asking for a replay", expected=first)
        self._replayAskedAt = self.clock.seconds()
        self.sendPayload(request)

    def invalidPayload(self, data: bytes, why: str) -> None:
        """A frame that is no valid payload: a protocol error, the connection is dropped."""
        self._log.warn(
            "invalid payload ({why}, {size} bytes); dropping the connection", why=why, size=len(data)
        )
        self.disconnect()

    # -- time ---------------------------------------------------------------------------

    def _tick(self) -> None:
        # Twice an interval, so that an idle heartbeat is never more than half late.
        interval = self.heartbeatInterval
        self._ticker = self.clock.callLater(interval / 2, self._tick)
        now = self.clock.seconds()
        if self.awaitingLogin():
            # Until the login is answered its own timeout rules: no heartbeats either way.
            self._lastSent = self._lastReceived = now
            return
        if now - self._lastReceived >= interval * self.heartbeatMisses:
            self._stopTicker()
            self.peerSilent()
            return
        if now - self._lastSent >= interval:
            self.sendSession(_HEARTBEAT)
        if self.sequence.replay_asked is not None:
            if self._replayAskedAt is None:
                self._replayAskedAt = now
            elif now - self._replayAskedAt >= self.replayTimeout:
                if self.sequence.inseq == self._replayFrom and now - self._replayFromSince >= interval * self.heartbeatMisses:
                    # Nothing of the gap has come for as long as silence would be taken for
                    # death: a peer that keeps the connection alive but never fills it is as
                    # good as silent, and a new connection (a resume) is the way on.
                    self._log.warn(
                        "gap from seq {expected} unfilled for {seconds:.0f}s; dropping the connection",
                        expected=self._replayFrom,
                        seconds=now - self._replayFromSince,
                    )
                    self.disconnect()
                    return
                self.askReplay()

    # -- for subclasses -----------------------------------------------------------------

    def payloadReceived(self, payload: seto_pb2.Payload) -> None:
        """An in-order message for the application (session messages included)."""

    def loginReceived(self, payload: seto_pb2.Payload) -> None:
        """A ``seto.login`` arrived (the server's part); its seq is not judged yet."""
        self._log.warn("unexpected login from the peer; dropping the connection")
        self.disconnect()

    def loginResponseReceived(self, payload: seto_pb2.Payload) -> None:
        """An ``eto.login_response`` arrived (the client's part)."""
        self._log.warn("unexpected login response from the peer; dropping the connection")
        self.disconnect()

    def awaitingLogin(self) -> bool:
        """Whether the session has not begun yet (heartbeats wait for it)."""
        return False

    def replayServed(self, first: int) -> None:
        """The peer asked for everything from ``first``: it never acted on those messages."""

    def payloadBeforeLogin(self, payload: seto_pb2.Payload) -> None:
        """A payload other than a login while ``loggedIn`` is false: a protocol error."""
        self._log.warn("payload before the login; dropping the connection")
        self.disconnect()

    def loginCompleted(self, payload: seto_pb2.Payload) -> None:
        """The login response has been handled and handed to the application."""

    def logoutReceived(self, payload: seto_pb2.Payload) -> None:
        """The peer sent ``eto.logout``."""
        self.disconnect()

    def peerSilent(self) -> None:
        """Nothing heard for ``heartbeatMisses`` intervals: the connection is taken for dead."""
        self._log.warn(
            "nothing heard for {seconds:.0f}s; dropping the connection",
            seconds=self.heartbeatInterval * self.heartbeatMisses,
        )
        transport = self.transport
        if transport is not None:
            transport.abortConnection()
