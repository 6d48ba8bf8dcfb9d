"""SequenceState and ReplayStore: the symmetric sequencing rules, without any I/O; and how
the session protocol serves a replay."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest

from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.framing import ULEB128StringReceiver, frame_decode_all, frame_encode
from txsmarkets.wire.messages import eto_message, message_name
from txsmarkets.session.protocol import SessionProtocolMixin
from txsmarkets.session.sequencer import ReplayStore, SequenceState, Verdict


def app(seq: int) -> seto_pb2.Payload:
    payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_MARKET_SUBSCRIBE)
    payload.eto_payload.seq = seq
    payload.market_subscribe.market_id = seq
    return payload


def session_message(kind: int, seq: int) -> seto_pb2.Payload:
    payload = eto_message(kind)
    payload.eto_payload.seq = seq
    return payload


class ReplayStoreTests(unittest.SynchronousTestCase):
    def test_bounded(self) -> None:
        store = ReplayStore(3)
        for seq in range(1, 6):
            store.add(seq, 0, b"%d" % seq)
        self.assertEqual(len(store), 3)
        self.assertIsNone(store.get(2))
        self.assertEqual(store.get(3), (0, b"3"))
        self.assertEqual([s for s, _, _ in store.items()], [3, 4, 5])

    def test_jump_restarts(self) -> None:
        store = ReplayStore(10)
        store.add(1, 0, b"a")
        store.add(5, 0, b"e")
        self.assertIsNone(store.get(1))
        self.assertEqual(store.get(5), (0, b"e"))

    def test_discard_from(self) -> None:
        store = ReplayStore(10)
        for seq in range(1, 6):
            store.add(seq, 0, b"x")
        store.discard_from(3)
        self.assertEqual([s for s, _, _ in store.items()], [1, 2])

    def test_capacity_must_be_positive(self) -> None:
        self.assertRaises(ValueError, ReplayStore, 0)


class ReceiveTests(unittest.SynchronousTestCase):
    def test_in_order(self) -> None:
        state = SequenceState()
        self.assertEqual([state.receive(app(s)) for s in (1, 2, 3)], [Verdict.DELIVER] * 3)
        self.assertEqual(state.inseq, 4)

    def test_duplicate(self) -> None:
        state = SequenceState()
        state.receive(app(1))
        self.assertIs(state.receive(app(1)), Verdict.DUPLICATE)
        self.assertEqual(state.inseq, 2)

    def test_one_replay_request_per_gap(self) -> None:
        state = SequenceState()
        state.receive(app(1))
        self.assertIs(state.receive(app(3)), Verdict.GAP)
        self.assertEqual(state.replay_request().eto_payload.replay.seq, 2)
        self.assertIs(state.receive(app(4)), Verdict.GAP_PENDING)
        self.assertIs(state.receive(app(5)), Verdict.GAP_PENDING)
        # The replay: 2..5 again, then new messages in order.
        for seq in (2, 3, 4, 5, 6):
            self.assertIs(state.receive(app(seq)), Verdict.DELIVER)
        self.assertIsNone(state.replay_asked)
        self.assertIs(state.receive(app(8)), Verdict.GAP)
        self.assertEqual(state.gaps, 2)

    def test_replay_that_loses_a_frame_is_asked_again(self) -> None:
        """A replayed frame beyond the expected seq, once the replay has made progress,
        means the replay lost one: a new request, at once, from what is missing."""
        state = SequenceState()
        state.receive(app(1))
        self.assertIs(state.receive(app(5)), Verdict.GAP)
        self.assertEqual(state.replay_request().eto_payload.replay.seq, 2)

        def replayed(seq: int) -> seto_pb2.Payload:
            payload = app(seq)
            payload.eto_payload.is_replay = True
            return payload

        self.assertIs(state.receive(replayed(2)), Verdict.DELIVER)
        # 3 was lost on the way: 4 says so.
        self.assertIs(state.receive(replayed(4)), Verdict.GAP)
        self.assertEqual(state.replay_request().eto_payload.replay.seq, 3)
        # The rest of the first replay adds nothing: no progress since the new request.
        self.assertIs(state.receive(replayed(5)), Verdict.GAP_PENDING)
        for seq in (3, 4, 5):
            self.assertIs(state.receive(replayed(seq)), Verdict.DELIVER)
        self.assertIsNone(state.replay_asked)
        self.assertEqual((state.gaps, state.replays_asked), (2, 2))

    def test_live_frames_during_a_replay_wait(self) -> None:
        """Frames beyond the gap that are not replays are the live stream: they wait."""
        state = SequenceState()
        state.receive(app(1))
        state.receive(app(4))
        state.replay_request()
        replayed = app(2)
        replayed.eto_payload.is_replay = True
        state.receive(replayed)
        self.assertIs(state.receive(app(6)), Verdict.GAP_PENDING)
        self.assertEqual(state.gaps, 1)

    def test_gapfill_consumes(self) -> None:
        state = SequenceState()
        self.assertIs(state.receive(session_message(eto_pb2.PAYLOAD_GAPFILL, 1)), Verdict.CONSUMED)
        self.assertEqual(state.inseq, 2)
        self.assertIs(state.receive(session_message(eto_pb2.PAYLOAD_GAPFILL, 1)), Verdict.DUPLICATE)
        self.assertIs(state.receive(session_message(eto_pb2.PAYLOAD_GAPFILL, 5)), Verdict.GAP)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.integers(min_value=1, max_value=30), max_size=80))
    def test_each_seq_delivered_once_in_order(self, seqs: list[int]) -> None:
        """Whatever order seqs arrive in, what is delivered is 1, 2, 3 ... with no repeat."""
        state = SequenceState()
        delivered = []
        for seq in seqs:
            if state.receive(app(seq)) is Verdict.DELIVER:
                delivered.append(seq)
        self.assertEqual(delivered, list(range(1, len(delivered) + 1)))


class SendAndReplayTests(unittest.SynchronousTestCase):
    def test_stamp_numbers_and_keeps(self) -> None:
        state = SequenceState()
        data = state.stamp(app(0))
        self.assertEqual(seto_pb2.Payload.FromString(data).eto_payload.seq, 1)
        self.assertEqual(state.outseq, 2)
        self.assertEqual(state.store.get(1), (eto_pb2.PAYLOAD_NONE, data))

    def test_replay_marks_and_gapfills(self) -> None:
        state = SequenceState()
        state.stamp(session_message(eto_pb2.PAYLOAD_LOGIN, 0))
        state.stamp(app(0))
        state.stamp(session_message(eto_pb2.PAYLOAD_HEARTBEAT, 0))
        state.stamp(app(0))
        state.stamp(session_message(eto_pb2.PAYLOAD_LOGOUT, 0))
        frames = [seto_pb2.Payload.FromString(f) for f in state.replay(1)]
        self.assertEqual([f.eto_payload.seq for f in frames], [1, 2, 3, 4, 5])
        self.assertTrue(all(f.eto_payload.is_replay for f in frames))
        kinds = [f.eto_payload.type if f.type == seto_pb2.PAYLOAD_ETO else "app" for f in frames]
        self.assertEqual(
            kinds,
            [eto_pb2.PAYLOAD_GAPFILL, "app", eto_pb2.PAYLOAD_GAPFILL, "app", eto_pb2.PAYLOAD_LOGOUT],
        )

    def test_replay_beyond_store(self) -> None:
        state = SequenceState(replay_capacity=2)
        for _ in range(4):
            state.stamp(app(0))
        frames = [seto_pb2.Payload.FromString(f) for f in state.replay(1)]
        self.assertEqual([f.eto_payload.type for f in frames[:2]], [eto_pb2.PAYLOAD_GAPFILL] * 2)
        self.assertEqual([f.type for f in frames[2:]], [seto_pb2.PAYLOAD_MARKET_SUBSCRIBE] * 2)
        self.assertEqual(list(state.replay(9)), [])

    def test_renumber(self) -> None:
        state = SequenceState()
        for _ in range(5):
            state.stamp(app(0))
        state.renumber(3)
        self.assertEqual(state.outseq, 3)
        self.assertIsNone(state.store.get(3))
        state.renumber(10)
        self.assertEqual(state.outseq, 10)


class Peer(SessionProtocolMixin, ULEB128StringReceiver):
    """A bare session protocol over StringTransport, driven by a Clock."""

    def __init__(self, capacity: int) -> None:
        self.clock = Clock()
        self.sequence = SequenceState(capacity)


def replay_request(seq: int, first: int) -> bytes:
    payload = eto_message(eto_pb2.PAYLOAD_REPLAY, replay=eto_pb2.Replay(seq=first))
    payload.eto_payload.seq = seq
    frame = bytearray()
    frame_encode(frame, payload.SerializeToString())
    return bytes(frame)


class ServeReplayTests(unittest.SynchronousTestCase):
    """A replay of a long stretch is sent a chunk per turn of the reactor, never built whole."""

    def setUp(self) -> None:
        self.peer = Peer(capacity=100)
        self.peer.replayChunk = 1000
        self.transport = StringTransport()
        self.peer.makeConnection(self.transport)
        for seq in range(1, 10_001):
            self.peer.sequence.stamp(app(seq))
        self.transport.clear()

    def sent(self) -> list[seto_pb2.Payload]:
        payloads, rest = frame_decode_all(self.transport.value())
        self.transport.clear()
        self.assertEqual(rest, b"")
        return [seto_pb2.Payload.FromString(p) for p in payloads]

    def test_chunk_a_turn(self) -> None:
        self.peer.dataReceived(replay_request(1, 1))
        first = self.sent()
        self.assertEqual([p.eto_payload.seq for p in first], list(range(1, 1001)))
        self.assertTrue(all(p.eto_payload.type == eto_pb2.PAYLOAD_GAPFILL for p in first))
        seqs = []
        while self.peer._replayCall is not None:
            self.peer.clock.advance(0)
            seqs.extend(p.eto_payload.seq for p in self.sent())
        self.assertEqual(seqs, list(range(1001, 10_001)))
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_latest_request_wins(self) -> None:
        """A second request mid-way starts again from where it asks; nothing is sent twice
        beyond that."""
        self.peer.dataReceived(replay_request(1, 1))
        self.sent()
        self.peer.dataReceived(replay_request(2, 9_950))
        self.peer.clock.advance(0)
        again = [p.eto_payload.seq for p in self.sent()]
        self.assertEqual(again, list(range(9_950, 10_001)))
        self.assertIsNone(self.peer._replayCall)
        self.peer.clock.advance(0)
        self.assertEqual(self.sent(), [])

    def test_messages_sent_meanwhile_follow_the_replay(self) -> None:
        """A message sent while a replay is under way would be dropped by the peer, which
        waits for its gap: it is held back and sent once, as it is, after the replay. A
        pong stays a pong (a replay could only send a gapfill for it)."""
        self.peer.dataReceived(replay_request(1, 1))
        self.peer.sendPayload(app(0))
        self.peer.sendSession(eto_pb2.PAYLOAD_PONG)
        while self.peer._replayCall is not None:
            self.peer.clock.advance(0)
        sent = self.sent()
        self.assertEqual([p.eto_payload.seq for p in sent], list(range(1, 10_003)))
        live = sent[-2:]
        self.assertEqual([message_name(p) for p in live], ["seto.market_subscribe", "eto.pong"])
        self.assertFalse(any(p.eto_payload.is_replay for p in live))
        self.peer.sendPayload(app(0))
        self.assertEqual([p.eto_payload.seq for p in self.sent()], [10_003])

    def test_what_was_held_is_sent_whatever_is_sent_meanwhile(self) -> None:
        """Messages sent during a long replay cannot push the ones it is to send out of a
        full store: those are taken when the request comes."""
        held = list(range(self.peer.sequence.store.first, 10_001))
        self.peer.dataReceived(replay_request(1, 1))
        while self.peer._replayCall is not None:
            for _ in range(200):
                self.peer.sendPayload(app(0))
            self.peer.clock.advance(0)
        replayed = {p.eto_payload.seq: p for p in self.sent() if p.eto_payload.is_replay}
        self.assertEqual([message_name(replayed[seq]) for seq in held], ["seto.market_subscribe"] * len(held))

    def test_a_request_that_replaces_keeps_what_was_held(self) -> None:
        """A request that replaces a replay under way is answered from what the store held
        when the first one came, whatever has been sent since."""
        peer = Peer(capacity=10)
        peer.replayChunk = 1
        transport = StringTransport()
        peer.makeConnection(transport)
        for seq in range(1, 11):
            peer.sendPayload(app(seq))
        transport.clear()
        peer.dataReceived(replay_request(1, 1))
        for seq in range(11, 16):
            peer.sendPayload(app(seq))  # held back; the store now starts at 6
        peer.dataReceived(replay_request(2, 2))
        while peer._replayCall is not None:
            peer.clock.advance(0)
        payloads, _ = frame_decode_all(transport.value())
        sent = [seto_pb2.Payload.FromString(p) for p in payloads]
        self.assertEqual([p.eto_payload.seq for p in sent], [1] + list(range(2, 16)))
        self.assertEqual({message_name(p) for p in sent}, {"seto.market_subscribe"})

    def test_closing_sends_what_was_held_back(self) -> None:
        """Closing during a replay drops the rest of it, but what was held back (a logout,
        say) is still sent before the close."""
        self.peer.replayChunk = 2
        self.peer.dataReceived(replay_request(1, 9_990))
        self.peer.sendLogout(eto_pb2.LOGOUT_CONFIRMATION)
        self.peer.disconnect()
        sent = self.sent()
        self.assertEqual([p.eto_payload.seq for p in sent], [9_990, 9_991, 10_001])
        self.assertEqual(message_name(sent[-1]), "eto.logout")
        self.assertIsNone(self.peer._replayCall)
        self.assertTrue(self.transport.disconnecting)

    def test_stops_with_the_connection(self) -> None:
        self.peer.dataReceived(replay_request(1, 1))
        self.peer.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(self.peer._replayCall)
        self.assertEqual(self.peer.clock.getDelayedCalls(), [])
