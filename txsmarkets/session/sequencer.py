"""Sequence numbers, the replay store and gap detection of one streaming session.

The same logic serves both sides: the client and the embedded exchange each keep a
`SequenceState` per session. It knows nothing of sockets or time: it stamps outgoing
payloads, judges incoming ones, and answers replay requests with the frames to resend.
"""

from __future__ import annotations

import enum
import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from twisted.logger import Logger

from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.encoded import frame_with_seq, with_seq
from txsmarkets.wire.messages import NO_REPLAY, eto_message

__all__ = ["ReplaySnapshot", "ReplayStore", "SequenceState", "Verdict"]

_log = Logger()

# The eto type of an application message (a seto one): nothing set, so the default.
_APPLICATION = eto_pb2.PAYLOAD_NONE


class Verdict(enum.Enum):
    """What to do with a received payload."""

    #: In order: hand it to the application.
    DELIVER = "deliver"
    #: In order, a gapfill: its seq is consumed, nothing is dispatched.
    CONSUMED = "consumed"
    #: Below the expected seq: already seen, dropped.
    DUPLICATE = "duplicate"
    #: Above the expected seq, and no replay is outstanding (or the one outstanding lost a
    #: frame on the way): ask for one.
    GAP = "gap"
    #: Above the expected seq while a replay is outstanding: held back, it will be resent.
    GAP_PENDING = "gap-pending"


class ReplayStore:
    """The last ``capacity`` messages sent, by seq, to answer the peer's replay requests.

    Seqs are contiguous, so the store is a deque that ends at the seq after the last
    message kept: a full deque drops its oldest by itself as the next is added.
    """

    def __init__(self, capacity: int = 10000) -> None:
        if capacity < 1:
            raise ValueError("the replay store needs room for at least one message")
        self._entries: deque[tuple[int, bytes]] = deque(maxlen=capacity)
        # The seq after the last message kept (where the next one lines up).
        self._end = 1

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def capacity(self) -> int:
        """How many messages are kept at most."""
        return self._entries.maxlen or 0

    @property
    def first(self) -> int:
        """The seq of the oldest message kept (when none is, the seq the next would have)."""
        return self._end - len(self._entries)

    def add(self, seq: int, kind: int, data: bytes) -> None:
        """Keep ``data`` (a serialised payload of eto type ``kind``) as message ``seq``."""
        self.add_entry(seq, (kind, data))

    def add_entry(self, seq: int, entry: tuple[int, bytes]) -> None:
        """`add` of a ``(kind, data)`` entry that other stores may hold too (kept once)."""
        if seq != self._end:
            # A jump (a reset by the peer): what was held no longer lines up with seqs.
            self._entries.clear()
        self._entries.append(entry)
        self._end = seq + 1

    def get(self, seq: int) -> tuple[int, bytes] | None:
        """The ``(kind, data)`` sent as ``seq``, or None when it is not held."""
        index = seq - self.first
        if 0 <= index < len(self._entries):
            return self._entries[index]
        return None

    def slice(self, first: int, end: int) -> list[tuple[int, bytes]]:
        """The ``(kind, data)`` of every message held from seq ``first`` up to ``end``."""
        entries = self._entries
        low = max(first - self.first, 0)
        high = min(end - self.first, len(entries))
        if high <= low:
            return []
        return list(itertools.islice(entries, low, high))

    def discard_from(self, seq: int) -> None:
        """Forget every message from ``seq`` on (the peer told us to number again from it)."""
        entries = self._entries
        while entries and self._end > seq:
            entries.pop()
            self._end -= 1

    def items(self) -> Iterator[tuple[int, int, bytes]]:
        """``(seq, kind, data)`` for every message held, oldest first."""
        first = self.first
        for offset, (kind, data) in enumerate(self._entries):
            yield first + offset, kind, data

    def load(self, items: Iterable[tuple[int, int, bytes]]) -> None:
        """Replace the contents with ``items`` as `items` gives them (for a restart)."""
        # Emptied, the store keeps its first seq (until a message lines up anew).
        self._end = self.first
        self._entries.clear()
        for seq, kind, data in items:
            self.add(seq, kind, data)


class SequenceState:
    """Both directions' sequence numbers of a session, and what was sent for replay.

    ``inseq`` is the seq expected next from the peer, ``outseq`` the seq the next message
    sent will carry.
    """

    def __init__(self, replay_capacity: int = 10000) -> None:
        self.inseq = 1
        self.outseq = 1
        self.store = ReplayStore(replay_capacity)
        #: The seq a replay was asked from, while one is outstanding.
        self.replay_asked: int | None = None
        #: The highest seq seen beyond the gap.
        self.gap_high = 0
        #: Login responses that came beyond a gap, by seq: handed on when it is filled.
        self.held: dict[int, seto_pb2.Payload] = {}
        # The expected seq a replay was last seen to skip.
        self._skipped: int | None = None
        #: Gaps seen and replay requests sent, for the record.
        self.gaps = 0
        self.replays_asked = 0
        #: Where every message in order and every message sent is recorded, if anywhere
        #: (a `txsmarkets.persistence.journal.Journal`).
        self.journal: Any = None

    def reset(self) -> None:
        """Start again from seq 1 both ways (a new session)."""
        self.inseq = 1
        self.outseq = 1
        self.store.load(())
        self.replay_asked = None
        self.gap_high = 0
        self._skipped = None
        self.held.clear()

    def restore(self, inseq: int, outseq: int) -> None:
        """Take up both sequence numbers where a saved or given session left them."""
        if inseq < 1 or outseq < 1:
            raise ValueError(f"sequence numbers start at 1, not inseq={inseq} outseq={outseq}")
        self.inseq = inseq
        self.outseq = outseq

    def new_connection(self) -> None:
        """A new connection: a replay asked on the old one will never be answered."""
        self.replay_asked = None
        self.gap_high = 0
        self._skipped = None

    def stamp(self, payload: seto_pb2.Payload) -> bytes:
        """Give ``payload`` the next outgoing seq, keep it for replay, return its bytes."""
        seq = self.outseq
        eto = payload.eto_payload
        eto.seq = seq
        data = payload.SerializeToString()
        if self.journal is not None:
            self.journal.record_out(data, is_login=payload.type == seto_pb2.PAYLOAD_LOGIN)
        # Logins carry their eto type too; application messages have PAYLOAD_NONE.
        self.store.add(seq, eto.type, data)
        self.outseq = seq + 1
        return data

    def stamp_encoded(self, data: bytes) -> bytes:
        """`stamp` for a payload serialised unnumbered (`txsmarkets.wire.encoded`): its bytes
        numbered with the next seq, the same ``stamp`` would give. The store keeps ``data``
        itself, unnumbered, as it keeps a message shared by many sessions (the replay numbers
        it): one copy serves every session it was sent to."""
        seq = self.outseq
        stamped = with_seq(data, seq)
        if self.journal is not None:
            self.journal.record_out(stamped)
        self.store.add_entry(seq, (_APPLICATION, data))
        self.outseq = seq + 1
        return stamped

    def stamp_encoded_frame(self, data: bytes) -> bytes:
        """`stamp_encoded`, returning the numbered bytes as a whole frame of the Smarkets
        wire (`frame_with_seq <txsmarkets.wire.encoded.frame_with_seq>`): what a ULEB128
        connection writes for them, the length and the seq spliced in at once."""
        seq = self.outseq
        frame = frame_with_seq(data, seq)
        if self.journal is not None:
            self.journal.record_out(with_seq(data, seq))
        self.store.add_entry(seq, (_APPLICATION, data))
        self.outseq = seq + 1
        return frame

    def renumber(self, seq: int) -> None:
        """Number outgoing messages from ``seq`` on, as the peer's login response asks."""
        if seq < self.outseq:
            self.store.discard_from(seq)
        self.outseq = seq

    def receive(self, payload: seto_pb2.Payload) -> Verdict:
        """Judge an incoming payload by its seq and advance ``inseq`` when it is in order."""
        eto = payload.eto_payload
        seq = eto.seq
        expected = self.inseq
        if seq == expected:
            self.inseq = expected + 1
            if self.replay_asked is not None and self.inseq > self.gap_high:
                self.replay_asked = None
            if eto.type == eto_pb2.PAYLOAD_GAPFILL:
                return Verdict.CONSUMED
            return Verdict.DELIVER
        if seq < expected:
            return Verdict.DUPLICATE
        if seq > self.gap_high:
            self.gap_high = seq
        if self.replay_asked is None:
            self.replay_asked = expected
            self.gaps += 1
            return Verdict.GAP
        if eto.is_replay and (expected > self.replay_asked or self._skipped != expected):
            # The replay skipped what we expect (it came this far since we asked, or its
            # very first frame is missing): a frame of it was lost on the way. Ask again
            # now rather than at the timeout; once for each seq, or every later frame of
            # the same replay would ask again.
            self._skipped = expected
            self.gaps += 1
            return Verdict.GAP
        return Verdict.GAP_PENDING

    def replay_request(self) -> seto_pb2.Payload:
        """The replay request for the outstanding gap (to send now, or again after a timeout)."""
        assert self.replay_asked is not None
        self.replays_asked += 1
        payload = eto_message(eto_pb2.PAYLOAD_REPLAY)
        # Ask from what is still missing: part of the gap may have been filled meanwhile.
        payload.eto_payload.replay.seq = self.inseq
        self.replay_asked = self.inseq
        return payload

    def replay(self, first: int, upto: int | None = None) -> Iterator[bytes]:
        """The serialised payloads that answer the peer's replay request from ``first``.

        Every message from ``first`` up to ``upto`` (by default, to the last one sent), with
        ``is_replay`` set; a session message that makes no sense twice, or one no longer
        held, is replaced by a gapfill. See `ReplaySnapshot`.
        """
        return self.replay_snapshot(first, upto).frames(first)

    def replay_snapshot(self, first: int, upto: int | None = None) -> ReplaySnapshot:
        """What the store holds now from ``first`` up to ``upto`` (by default, to the last
        message sent), to answer a replay request from it and any that replace it."""
        end = self.outseq if upto is None else min(upto, self.outseq)
        held_from = max(first, 1, self.store.first)
        return ReplaySnapshot(held_from, end, self.store.slice(held_from, end))


class ReplaySnapshot:
    """The messages a replay may send, taken from the store when the request came, so that
    messages sent while the replay is under way cannot push them out of it.

    The gapfills for what was no longer held, however many, are made one at a time.
    """

    def __init__(self, held_from: int, end: int, held: list[tuple[int, bytes]]) -> None:
        self.held_from = held_from
        self.end = end
        self._held = held

    def frames(self, first: int) -> Iterator[bytes]:
        """The replay from ``first``: what a request from it is answered with."""
        start = max(first, 1)
        gap_end = min(self.held_from, self.end)
        if gap_end > start:
            _log.warn(
                "replay from {first}: {missing} messages are no longer held; sending gapfills",
                first=first,
                missing=gap_end - start,
            )
        return self._frames(start, gap_end)

    def _frames(self, start: int, gap_end: int) -> Iterator[bytes]:
        for seq in range(start, gap_end):
            yield _gapfill(seq)
        skip = max(start - self.held_from, 0)
        seq = self.held_from + skip
        for kind, data in itertools.islice(self._held, skip, None):
            if kind in NO_REPLAY:
                yield _gapfill(seq)
            else:
                payload = seto_pb2.Payload.FromString(data)
                payload.eto_payload.is_replay = True
                # A message held once for many sessions is kept without a seq of its own.
                payload.eto_payload.seq = seq
                yield payload.SerializeToString()
            seq += 1


def _gapfill(seq: int) -> bytes:
    payload = eto_message(eto_pb2.PAYLOAD_GAPFILL)
    payload.eto_payload.seq = seq
    payload.eto_payload.is_replay = True
    return payload.SerializeToString()
