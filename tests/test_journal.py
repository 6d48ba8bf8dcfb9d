"""The journal and the state folder: what a restart finds on disk."""

from __future__ import annotations

import io
import os
import pathlib

from twisted.logger import capturedLogs, formatEvent
from twisted.trial import unittest

from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.client import Session, SessionSettings
from txsmarkets.persistence.journal import IN, OUT, Journal, main, read_journal
from txsmarkets.wire.messages import eto_message, new_payload
from txsmarkets.persistence.state import StateDirectory
from txsmarkets.session.sequencer import SequenceState


def quotes(seq: int, market: int = 1) -> bytes:
    payload = new_payload(seto_pb2.PAYLOAD_CONTRACT_QUOTES)
    payload.eto_payload.seq = seq
    payload.contract_quotes.market_id = market
    payload.contract_quotes.contract_id = 11
    return payload.SerializeToString()


def login(seq: int, session: str | None = None) -> seto_pb2.Payload:
    payload = new_payload(seto_pb2.PAYLOAD_LOGIN)
    payload.eto_payload.type = eto_pb2.PAYLOAD_LOGIN
    if session is not None:
        payload.eto_payload.login.session = session
    payload.login.username = "demo"
    payload.login.password = "hunter2-secret"
    payload.login.cookie = b"token-secret"
    return payload


class JournalTests(unittest.SynchronousTestCase):
    def test_round_trip(self) -> None:
        folder = self.mktemp()
        journal = Journal(folder, now=lambda: 1.5)
        journal.record_in(quotes(1))
        journal.record_out(quotes(2))
        journal.close()
        records = list(read_journal(folder))
        self.assertEqual([(r.direction, r.time, r.data) for r in records], [(IN, 1.5, quotes(1)), (OUT, 1.5, quotes(2))])

    def test_login_redacted(self) -> None:
        folder = self.mktemp()
        journal = Journal(folder)
        journal.record_out(login(1).SerializeToString(), is_login=True)
        journal.close()
        raw = b"".join(p.read_bytes() for p in pathlib.Path(folder).iterdir())
        self.assertNotIn(b"hunter2-secret", raw)
        self.assertNotIn(b"token-secret", raw)
        self.assertEqual(next(iter(read_journal(folder))).payload().login.username, "demo")

    def test_torn_tail_dropped_and_appends_continue(self) -> None:
        folder = self.mktemp()
        journal = Journal(folder)
        journal.record_in(quotes(1))
        journal.close()
        path = next(pathlib.Path(folder).iterdir())
        with open(path, "ab") as f:
            f.write(b"I\x00\x00\x00")  # a record cut short by a kill
        self.assertEqual(len(list(read_journal(folder))), 1)
        journal = Journal(folder)
        journal.record_in(quotes(2))
        journal.close()
        self.assertEqual([r.payload().eto_payload.seq for r in read_journal(folder)], [1, 2])

    def test_rotation(self) -> None:
        folder = self.mktemp()
        rotated: list[pathlib.Path] = []
        journal = Journal(folder, max_bytes=100)
        journal.on_rotate = rotated.append
        for seq in range(1, 21):
            journal.record_in(quotes(seq))
        journal.close()
        self.assertGreater(len(rotated), 2)
        self.assertEqual([r.payload().eto_payload.seq for r in read_journal(folder)], list(range(1, 21)))
        start = (rotated[0], 0)
        self.assertEqual(next(iter(read_journal(folder, start))).path, rotated[0])

    def test_command_line(self) -> None:
        folder = self.mktemp()
        journal = Journal(folder)
        journal.record_in(quotes(1, market=1))
        journal.record_in(quotes(2, market=2))
        heartbeat = eto_message(eto_pb2.PAYLOAD_HEARTBEAT)
        heartbeat.eto_payload.seq = 3
        journal.record_out(heartbeat.SerializeToString())
        journal.close()
        out = io.StringIO()
        self.assertEqual(main([folder], out=out), 0)
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertIn("<- #1 seto.contract_quotes", lines[0])
        self.assertIn("-> #3 eto.heartbeat", lines[2])
        out = io.StringIO()
        main([folder, "--market", "2"], out=out)
        self.assertEqual([line.split()[2] for line in out.getvalue().splitlines()], ["#2"])
        out = io.StringIO()
        main([folder, "--type", "eto.heartbeat"], out=out)
        self.assertEqual(len(out.getvalue().splitlines()), 1)
        self.assertEqual(main([folder + "-missing"], out=io.StringIO()), 2)


class StateDirectoryTests(unittest.SynchronousTestCase):
    def session(self) -> Session:
        return Session(SessionSettings("demo", "hunter2-secret"), reactor=object())

    def test_snapshot_and_journal_tail(self) -> None:
        folder = self.mktemp()
        state = StateDirectory(folder)
        session = self.session()
        state.restore(session)
        sequence = session.sequence
        sequence.stamp(login(0))
        session.session_id = "s-1"
        sequence.inseq = 2
        for _ in range(3):
            sequence.stamp(new_payload(seto_pb2.PAYLOAD_MARKET_SUBSCRIBE))
        state.save(session)
        # After the snapshot, only the journal knows: two messages in, one out.
        for seq in (2, 3):
            payload = seto_pb2.Payload.FromString(quotes(seq))
            self.assertEqual(sequence.receive(payload).value, "deliver")
            sequence.journal.record_in(payload.SerializeToString())
        accepted = new_payload(seto_pb2.PAYLOAD_ORDER_ACCEPTED)
        accepted.eto_payload.seq = 4
        accepted.order_accepted.seq = 5
        accepted.order_accepted.order_id = 1
        accepted.order_accepted.account_sequence_64 = 77
        sequence.receive(accepted)
        sequence.journal.record_in(accepted.SerializeToString())
        sequence.stamp(new_payload(seto_pb2.PAYLOAD_MARKET_SUBSCRIBE))
        state.close()  # then a kill: no second snapshot

        again = self.session()
        self.assertTrue(StateDirectory(folder).restore(again))
        self.assertEqual(again.session_id, "s-1")
        self.assertEqual((again.sequence.inseq, again.sequence.outseq), (5, 6))
        self.assertEqual(again.account_sequence, 77)
        self.assertEqual([seq for seq, _, _ in again.sequence.store.items()], [1, 2, 3, 4, 5])
        # The login was never written with its password.
        raw = b"".join(p.read_bytes() for p in pathlib.Path(folder).rglob("*") if p.is_file())
        self.assertNotIn(b"hunter2-secret", raw)
        self.assertNotIn(b"token-secret", raw)
        # What is replayed after a restart is what was sent before it.
        replayed = [seto_pb2.Payload.FromString(d) for d in again.sequence.replay(2)]
        self.assertEqual([p.eto_payload.seq for p in replayed], [2, 3, 4, 5])

    def test_new_session_in_tail(self) -> None:
        folder = self.mktemp()
        state = StateDirectory(folder)
        session = self.session()
        state.restore(session)
        session.session_id = "old"
        session.sequence.outseq = 40
        state.save(session)
        session.sequence.reset()
        session.sequence.stamp(login(0))
        state.close()
        again = self.session()
        with capturedLogs() as events:
            StateDirectory(folder).restore(again)
        self.assertIsNone(again.session_id)
        self.assertEqual(again.sequence.outseq, 2)
        # Said so, not "restored session None".
        said = [formatEvent(e) for e in events if "restored" in e.get("log_format", "")]
        self.assertEqual(len(said), 1, said)
        self.assertIn("restored the account (the last session had ended: a new one starts)", said[0])
        self.assertEqual(repr(again), "<Session new idle inseq=1 outseq=2>")

    def test_nothing_there(self) -> None:
        session = self.session()
        self.assertFalse(StateDirectory(self.mktemp()).restore(session))
        self.assertEqual((session.sequence.inseq, session.sequence.outseq), (1, 1))

    def test_unreadable_state(self) -> None:
        folder = self.mktemp()
        os.makedirs(folder)
        with open(os.path.join(folder, "session.json"), "w") as f:
            f.write("{not json")
        self.assertRaises(ValueError, StateDirectory(folder).restore, self.session())

    def test_sequence_without_journal(self) -> None:
        self.assertIsNone(SequenceState().journal)

    def test_replayed_login_response_not_reapplied(self) -> None:
        folder = self.mktemp()
        state = StateDirectory(folder)
        session = self.session()
        state.restore(session)
        session.session_id = "s-1"
        session.sequence.outseq = 10
        state.save(session)
        response = eto_message(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=eto_pb2.LoginResponse(session="s-1", reset=4))
        response.eto_payload.seq = 1
        response.eto_payload.is_replay = True
        session.sequence.journal.record_in(response.SerializeToString())
        state.close()
        again = self.session()
        StateDirectory(folder).restore(again)
        self.assertEqual(again.sequence.outseq, 10)

    def test_snapshot_pairs_survive_a_kill_between_files(self) -> None:
        """A replay file written by a snapshot that was killed before its session.json is
        ignored: the restore reads the replay file the last complete snapshot names."""
        folder = self.mktemp()
        state = StateDirectory(folder)
        session = self.session()
        state.restore(session)
        session.session_id = "s-1"
        for _ in range(3):
            session.sequence.stamp(new_payload(seto_pb2.PAYLOAD_MARKET_SUBSCRIBE))
        state.save(session)
        state.save(session)
        self.assertEqual([p.name for p in pathlib.Path(folder).glob("replay.*.bin")], ["replay.2.bin"])
        (pathlib.Path(folder) / "replay.3.bin").write_bytes(b"half a snapshot")
        state.close()
        again = self.session()
        StateDirectory(folder).restore(again)
        self.assertEqual([seq for seq, _, _ in again.sequence.store.items()], [1, 2, 3])


class AccountStateTests(unittest.SynchronousTestCase):
    """The account in the state folder: snapshot, then the journal's tail, each once."""

    def session(self) -> Session:
        return Session(SessionSettings("demo", "pw"), reactor=object())

    def test_account_restored_from_snapshot_and_tail(self) -> None:
        from decimal import Decimal

        from txsmarkets.client.state import AccountState, LiveOrder

        folder = self.mktemp()
        state = StateDirectory(folder)
        session = self.session()
        state.restore(session)
        session.session_id = "s-1"
        account = AccountState(available_balance=Decimal("998.00"), exposure=Decimal("2.0"))
        account.orders[1] = LiveOrder(1, 1, 11, 1, 2000, 100000, filled=20000, avg_price=2000, label="a")
        state.save(session, account)
        journal = session.sequence.journal
        assert journal is not None

        create = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
        create.eto_payload.seq = 7
        body = create.order_create
        body.market_id, body.contract_id, body.side, body.price, body.quantity = 1, 12, 1, 3000, 50000
        journal.record_out(create.SerializeToString())
        accepted = new_payload(seto_pb2.PAYLOAD_ORDER_ACCEPTED)
        accepted.eto_payload.seq = 2
        answer = accepted.order_accepted
        answer.seq, answer.order_id, answer.account_sequence_64 = 7, 2, 10
        answer.available_balance, answer.exposure = 996.5, 3.5
        journal.record_in(accepted.SerializeToString())
        fill = new_payload(seto_pb2.PAYLOAD_ORDER_EXECUTED)
        fill.eto_payload.seq = 3
        executed = fill.order_executed
        executed.order_id, executed.market_id, executed.contract_id, executed.side = 1, 1, 11, 1
        executed.price, executed.quantity, executed.account_sequence_64 = 2000, 30000, 11
        journal.record_in(fill.SerializeToString())
        # The same fill again on a new session's account stream: seen already.
        fill.eto_payload.seq = 4
        journal.record_in(fill.SerializeToString())
        cancelled = new_payload(seto_pb2.PAYLOAD_ORDER_CANCELLED)
        cancelled.eto_payload.seq = 5
        cancelled.order_cancelled.order_id = 99
        cancelled.order_cancelled.reason = 1
        cancelled.order_cancelled.account_sequence_64 = 12
        journal.record_in(cancelled.SerializeToString())
        state.close()  # a kill: no second snapshot

        again = self.session()
        restored = AccountState()
        self.assertTrue(StateDirectory(folder).restore(again, restored))
        self.assertEqual(sorted(restored.orders), [1, 2])
        first, second = restored.orders[1], restored.orders[2]
        self.assertEqual((first.filled, first.unfilled, first.avg_price, first.label), (50000, 50000, 2000, "a"))
        self.assertEqual((second.contract_id, second.price, second.quantity), (12, 3000, 50000))
        self.assertEqual((restored.available_balance, restored.exposure), (Decimal("996.5"), Decimal("3.5")))
        self.assertIsInstance(restored.available_balance, Decimal)
        self.assertEqual(again.account_sequence, 12)

    def test_corrupt_state_is_a_state_error(self) -> None:
        from txsmarkets.persistence.state import StateError

        folder = pathlib.Path(self.mktemp())
        state = StateDirectory(folder)
        (folder / "session.json").write_text('{"replay_file": 3}')
        self.assertRaises(StateError, state.check)
        self.assertRaises(StateError, state.restore, self.session())
        state.reset()
        state.check()
        self.assertFalse((folder / "session.json").exists())
