"""A session's state on disk, so that a restart resumes it with nothing lost or sent twice.

The state folder holds ``session.json`` (session id, both seqs, account sequence, the
journal position it was taken at, and the name of its replay file) and ``replay.N.bin``
(the replay store), each written atomically: to a temporary file, fsynced, renamed, and
the folder fsynced. Each snapshot writes a new replay file before the ``session.json``
that names it, and removes the old one after: a kill between the two leaves the old pair.
The journal (``journal/`` beside them) records every message from there on, so
`StateDirectory.restore` reads the snapshot and then replays the journal's tail over it: a
``kill -9`` between two snapshots loses nothing.

Given the client's `AccountState`, the snapshot also keeps the account (live orders with
what has filled of them, balance and exposure, in Decimal pounds), and
`StateDirectory.restore` brings it up to date from the journal's tail, each account
message applied once.
"""

from __future__ import annotations

import json
import os
import pathlib
import struct
from typing import Any

from twisted.logger import Logger

from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.persistence.journal import IN, Journal, read_journal
from txsmarkets.wire.messages import ACCOUNT_TYPES, NO_REPLAY, account_sequence
from txsmarkets.client.session import Session
from txsmarkets.session.sequencer import SequenceState
from txsmarkets.trading.account import Account
from txsmarkets.trading.controls import TradingControls

__all__ = ["StateDirectory", "StateError", "append_synced", "write_atomically"]

_log = Logger()
_ENTRY = struct.Struct(">QII")


def _write_synced(path: str | os.PathLike[str], data: bytes, flags: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def append_synced(path: pathlib.Path, data: bytes) -> None:
    """Append ``data`` to the file at ``path`` (made if missing, mode 0600) and fsync it:
    on disk when this returns. OSError if it cannot be."""
    _write_synced(path, data, os.O_APPEND)


def _write_atomically(path: pathlib.Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    _write_synced(temporary, data, os.O_TRUNC)
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


#: Write a file atomically: to a temporary file, fsynced, renamed, and the folder fsynced.
write_atomically = _write_atomically


class StateError(ValueError):
    """The state folder cannot be used as it is (a corrupt ``session.json``, a missing
    replay file): start afresh on purpose, or mend it."""


class StateDirectory:
    """The state folder of one daemon: snapshot, replay store and journal."""

    def __init__(self, path: str | os.PathLike[str], *, journal_max_bytes: int = 64 * 1024 * 1024) -> None:
        self.path = pathlib.Path(path)
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.journal = Journal(self.path / "journal", max_bytes=journal_max_bytes)

    @property
    def _state(self) -> pathlib.Path:
        return self.path / "session.json"

    def _replay_files(self) -> list[pathlib.Path]:
        return sorted(self.path.glob("replay.*.bin"), key=lambda p: int(p.name.split(".")[1]))

    def reset(self) -> None:
        """Remove the snapshot, the replay files and the journal: the next start is afresh."""
        self.journal.close()
        for path in [self._state, *self._replay_files(), *sorted(self.journal.directory.glob("*"))]:
            path.unlink(missing_ok=True)
        self.journal = Journal(self.journal.directory, max_bytes=self.journal.max_bytes)

    def check(self) -> None:
        """Raise `StateError` unless `restore` can read the snapshot and its replay file."""
        if self._state.exists():
            state = self._read_state()
            if not (self.path / state["replay_file"]).exists():
                raise StateError(f"the replay file {self.path / state['replay_file']} named by {self._state} is missing")

    def _read_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self._state.read_text())
            checked = {
                "replay_file": pathlib.Path(state["replay_file"]).name,
                "session_id": state["session_id"],
                "inseq": int(state["inseq"]),
                "outseq": int(state["outseq"]),
                "account_sequence": int(state["account_sequence"]),
                "journal_file": pathlib.Path(state["journal_file"]).name,
                "journal_offset": int(state["journal_offset"]),
                "account": state.get("account"),
                "controls": state.get("controls"),
            }
            if checked["session_id"] is not None and not isinstance(checked["session_id"], str):
                raise TypeError("session_id is not a string")
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as e:
            raise StateError(f"unreadable session state in {self._state}: {e}") from None
        return checked

    def save(self, session: Session, account: Account | None = None, controls: TradingControls | None = None) -> None:
        """Snapshot ``session`` (a `txsmarkets.client.session.Session`) atomically, and
        ``account`` (the client's `AccountState`) and ``controls`` (its trading controls:
        their positions and halt) with it when given."""
        sequence: SequenceState = session.sequence
        self.journal.sync()
        journal_file, journal_offset = self.journal.position
        entries = []
        for seq, kind, data in sequence.store.items():
            # Session messages are never resent: their bytes (a login's password) stay off disk.
            body = b"" if kind in NO_REPLAY else data
            entries.append(_ENTRY.pack(seq, kind, len(body)) + body)
        earlier = self._replay_files()
        number = int(earlier[-1].name.split(".")[1]) + 1 if earlier else 1
        replay = self.path / f"replay.{number}.bin"
        _write_atomically(replay, b"".join(entries))
        state = {
            "replay_file": replay.name,
            "session_id": session.session_id,
            "inseq": sequence.inseq,
            "outseq": sequence.outseq,
            "account_sequence": session.account_sequence,
            "journal_file": journal_file.name,
            "journal_offset": journal_offset,
            "account": account.snapshot() if account is not None else None,
            "controls": controls.snapshot() if controls is not None else None,
        }
        _write_atomically(self._state, json.dumps(state).encode())
        for old in earlier:
            old.unlink(missing_ok=True)

    def restore(
        self, session: Session, account: Account | None = None, controls: TradingControls | None = None
    ) -> bool:
        """Bring ``session`` back to where the last process left it, and ``account`` (the
        client's `AccountState`) and ``controls`` (trading controls that have counted no
        fill yet) when given; True if there was state. The controls get the positions the
        fills left; the live orders are theirs to `adopt` from the account afterwards.

        Attaches the journal to the session's sequence either way. Raises `StateError`.
        """
        sequence: SequenceState = session.sequence
        found = False
        start = None
        if self._state.exists():
            state = self._read_state()
            session.session_id = state["session_id"]
            sequence.inseq = state["inseq"]
            sequence.outseq = state["outseq"]
            session.account_sequence = state["account_sequence"]
            start = (self.journal.directory / state["journal_file"], state["journal_offset"])
            if account is not None and state["account"] is not None:
                try:
                    account.restore(state["account"])
                except ValueError as e:
                    raise StateError(f"unreadable account in {self._state}: {e}") from None
            if controls is not None and state["controls"] is not None:
                try:
                    controls.restore(state["controls"])
                except ValueError as e:
                    raise StateError(f"unreadable trading controls in {self._state}: {e}") from None
            self._load_replay(sequence, self.path / state["replay_file"])
            found = True
        tail = 0
        creates: dict[int, Any] = {}
        for record in read_journal(self.journal.directory, start):
            tail += 1
            found = True
            self._apply(session, sequence, record.direction, record.data, account, controls, creates)
        sequence.journal = self.journal
        if found:
            _log.info(
                "restored {session}: inseq {inseq}, outseq {outseq} ({tail} journal records after the snapshot)"
                "{orders}",
                session=(
                    f"session {session.session_id} (resuming it)"
                    if session.session_id is not None
                    else "the account (the last session had ended: a new one starts)"
                ),
                inseq=sequence.inseq,
                outseq=sequence.outseq,
                tail=tail,
                orders="" if account is None else f"; {len(account.orders)} live orders",
            )
        return found

    def begin_afresh(self, session: Session) -> None:
        """Attach the journal to ``session``'s sequence and restore nothing: the exchange it
        trades on is new (one in this process), so no session, account or count kept here
        is its. The next snapshot replaces what the folder held; the journal goes on."""
        session.sequence.journal = self.journal

    def _load_replay(self, sequence: SequenceState, path: pathlib.Path) -> None:
        if not path.exists():
            raise StateError(f"the replay file {path} named by {self._state} is missing")
        data = path.read_bytes()
        items = []
        pos = 0
        while pos + _ENTRY.size <= len(data):
            seq, kind, length = _ENTRY.unpack_from(data, pos)
            pos += _ENTRY.size
            items.append((seq, kind, data[pos : pos + length]))
            pos += length
        sequence.store.load(items)

    @staticmethod
    def _apply(
        session: Session,
        sequence: SequenceState,
        direction: bytes,
        data: bytes,
        account: Account | None,
        controls: TradingControls | None,
        creates: dict[int, Any],
    ) -> None:
        payload = seto_pb2.Payload.FromString(data)
        eto = payload.eto_payload
        if direction == IN:
            sequence.inseq = eto.seq + 1
            # A login response resent in a replay was applied when it first came.
            if payload.type == seto_pb2.PAYLOAD_ETO and eto.type == eto_pb2.PAYLOAD_LOGIN_RESPONSE and not eto.is_replay:
                response = eto.login_response
                session.session_id = response.session
                if response.HasField("reset"):
                    sequence.renumber(response.reset)
            seen = account_sequence(payload)
            # As the session does: an account message seen already is not applied again.
            fresh = seen is None or seen > session.account_sequence
            if seen is not None and fresh:
                session.account_sequence = seen
            if account is not None and fresh and payload.type in ACCOUNT_TYPES:
                create = None
                if payload.type == seto_pb2.PAYLOAD_ORDER_ACCEPTED:
                    create = creates.pop(payload.order_accepted.seq, None)
                account.apply(payload, create)
            if controls is not None and fresh:
                controls.replay(payload)
            return
        if controls is not None:
            controls.replay(payload, sent=True)
        if payload.type == seto_pb2.PAYLOAD_ORDER_CREATE:
            creates[eto.seq] = payload.order_create
        if payload.type == seto_pb2.PAYLOAD_LOGIN and not eto.HasField("login"):
            # A new session began here: what came before belongs to the old one.
            session.session_id = None
            sequence.reset()
        sequence.store.add(eto.seq, eto.type, data)
        sequence.outseq = eto.seq + 1

    def close(self) -> None:
        """Close the journal."""
        self.journal.close()
