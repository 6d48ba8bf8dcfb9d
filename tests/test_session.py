"""SequenceState and ReplayStore: the symmetric sequencing rules, without any I/O."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from txsmarkets import eto_pb2, seto_pb2
from txsmarkets.messages import eto_message
from txsmarkets.session import ReplayStore, SequenceState, Verdict


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
        self.assertEqual(state.replay(9), [])

    def test_renumber(self) -> None:
        state = SequenceState()
        for _ in range(5):
            state.stamp(app(0))
        state.renumber(3)
        self.assertEqual(state.outseq, 3)
        self.assertIsNone(state.store.get(3))
        state.renumber(10)
        self.assertEqual(state.outseq, 10)
