"""What the bridge keeps of one upstream account, and keeps across a restart.

`BridgeState` is the account stream the downstream sessions read (its last number and
its last messages, for a client resuming it), the orders placed through the bridge (the
id map: the upstream's order id, which is the downstream order id too, with what each
answer about the order must say: its market, side, price, quantity, label, reference and
fills so far), the creates sent upstream and not answered yet (`PendingCreate`: each is
written before its ``POST`` goes, so that one whose answer never came, a crash included, is
looked for upstream by its label and never forgotten), and the cursor of the upstream's
account activity (the ``seq`` and ``subseq`` of the last row taken in).

With a file (``--state-dir``) it is saved each time it changes, and always before the
downstream messages of the change are sent: after a crash (kill -9 included) the bridge
starts from the last state saved, polls the activity after its cursor, and a client
resuming its account stream gets what it had not seen from the kept messages. No fill is
lost or told twice.

A save costs what changed, not what is kept: the file (``account-<id>.json``) is the whole
state, written atomically (a temporary file, fsynced, renamed); each save after it appends
one line to ``account-<id>.log`` (fsynced): the new messages, the cursor, the creates not
answered, and the orders that are live or changed. Every `COMPACT_AFTER` lines the whole
state is written again and the log emptied. Each save has a number: reading back, the log's
lines that the whole state already holds are passed over, and a last line cut short by a
crash is dropped (it was never fsynced, so nothing of it went downstream).
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from google.protobuf.message import DecodeError

from txsmarkets.persistence.state import append_synced, write_atomically
from txsmarkets.wire import seto_pb2

__all__ = ["BridgeState", "BridgeOrder", "PendingCreate", "StateFileError"]

#: How many of the account stream's last messages are kept for a client resuming it.
LOG_SIZE = 10_000
#: How many done orders are remembered (for a late void of one of their fills).
DONE_KEPT = 10_000
#: Lines appended to the log before the whole state is written again.
COMPACT_AFTER = 1_000
_VERSION = 1


class StateFileError(ValueError):
    """A state file that cannot be read (not the bridge's, or damaged): move it away to
    start that account afresh."""


@dataclass
class BridgeOrder:
    """An order placed through the bridge, as its answers describe it. ``side`` and ``tif``
    are the wire's values; ``executed_value`` is the sum of price times quantity of its
    fills (for their average price)."""

    id: int
    market_id: int
    contract_id: int
    side: int
    price: int
    quantity: int
    tif: int
    label: str | None = None
    reference: int | None = None
    executed: int = 0
    executed_value: int = 0
    live: bool = True
    #: A cancel of it (or a cancel-all of its market) was accepted upstream: its leaving
    #: the book is the member's doing.
    cancelling: bool = False

    @property
    def executed_avg_price(self) -> int:
        """The quantity-weighted average price of its fills, to the nearest unit (0 if none)."""
        if not self.executed:
            return 0
        return (2 * self.executed_value + self.executed) // (2 * self.executed)

    @property
    def available(self) -> int:
        """What is left of it on the book (0 once it is done)."""
        return max(0, self.quantity - self.executed) if self.live else 0


@dataclass
class PendingCreate:
    """An order_create sent upstream (or about to be) and not answered downstream yet:
    ``label`` is the label it was placed with upstream (unique: how it is found there),
    ``request`` the downstream ``seto.Payload`` serialised. ``unknown``: its ``POST`` got
    no answer (or the bridge restarted meanwhile), so it may or may not have been placed."""

    label: str
    request: bytes
    unknown: bool = False
    #: A cancel-all of its market (or of every market) was accepted upstream while it was
    #: unanswered: sent before that cancel-all, it is to be cancelled if it was placed.
    cancel: bool = False

    @property
    def payload(self) -> seto_pb2.Payload:
        """The downstream order_create, parsed afresh."""
        return seto_pb2.Payload.FromString(self.request)


class BridgeState:
    """The bridge's state of one upstream account (``account_id``), saved to ``path`` if
    given (see the module docstring). `load` reads one back."""

    def __init__(self, account_id: int, path: pathlib.Path | None = None) -> None:
        self.account_id = account_id
        self.path = path
        #: The last account sequence given to a message.
        self.sequence = 0
        #: The activity row last taken in, ``(seq, subseq)``; None before the first poll.
        self.cursor: tuple[int, int] | None = None
        #: The orders placed through the bridge, by id, oldest first.
        self.orders: dict[int, BridgeOrder] = {}
        #: The creates not answered yet, by their upstream label, oldest first.
        self.pending: dict[str, PendingCreate] = {}
        #: The last messages of the account stream, ``(sequence, serialised payload)``.
        self.log: deque[tuple[int, bytes]] = deque(maxlen=LOG_SIZE)
        #: Orders changed since the last save that may not be live (their fills, voids,
        #: their end): a save keeps them with the live ones.
        self.dirty: set[int] = set()
        #: The number of the last save; the sequence of the last message saved.
        self._saves = 0
        self._saved_sequence = 0
        #: Whether the whole state is in the file, and the lines appended to the log since.
        self._whole = False
        self._appended = 0

    @classmethod
    def load(cls, account_id: int, path: pathlib.Path | None) -> BridgeState:
        """The state saved at ``path`` and in its log (a fresh one if there is no such file,
        or no path); `StateFileError` if the file or the log cannot be read."""
        state = cls(account_id, path)
        if path is None:
            return state
        try:
            if path.exists():
                saved = json.loads(path.read_bytes())
                if saved.get("version") != _VERSION or saved.get("account_id") != account_id:
                    raise ValueError("not a state file of this account")
                state._apply(saved)
                state._whole = True
            state._replay_log()
        except (OSError, ValueError, KeyError, TypeError, IndexError, DecodeError) as e:
            raise StateFileError(f"cannot read the bridge state {path}: {e}") from None
        state._saved_sequence = state.sequence
        state._forget_done()
        return state

    @property
    def log_path(self) -> pathlib.Path | None:
        """The file the saves between two whole writes are appended to (None without a path)."""
        return None if self.path is None else self.path.with_suffix(".log")

    def _apply(self, saved: dict[str, Any]) -> None:
        """Take in a whole state or one line of the log: each holds the figures whole, the
        orders that are live or changed, and the messages new since the save before."""
        self._saves = int(saved.get("saves", 0))
        self.sequence = int(saved["sequence"])
        cursor = saved["cursor"]
        self.cursor = None if cursor is None else (int(cursor[0]), int(cursor[1]))
        for fields in saved["orders"]:
            order = BridgeOrder(**fields)
            self.orders[order.id] = order
        self.pending.clear()
        for label, request, *cancel in saved.get("pending", []):
            # Its POST may have been made before the bridge stopped: its outcome is unknown.
            pending = PendingCreate(str(label), base64.b64decode(request), unknown=True, cancel=bool(cancel and cancel[0]))
            pending.payload  # noqa: B018 - parsed now: a damaged one is the file's error
            self.pending[pending.label] = pending
        last = self.log[-1][0] if self.log else 0
        for sequence, data in saved["log"]:
            if int(sequence) > last:
                self.log.append((int(sequence), base64.b64decode(data)))

    def _replay_log(self) -> None:
        log_path = self.log_path
        assert log_path is not None
        try:
            data = log_path.read_bytes()
        except FileNotFoundError:
            return
        good = 0
        for line in data.splitlines(keepends=True):
            if not line.endswith(b"\n"):
                break  # cut short by a crash: never fsynced, so never told
            saved = json.loads(line)
            if int(saved["saves"]) > self._saves:
                self._apply(saved)
                self._appended += 1
            good += len(line)
        if good < len(data):
            os.truncate(log_path, good)  # the next line starts on a line of its own

    def save(self) -> None:
        """Save the state (nothing without a path): a line appended to the log, or the whole
        state written again every `COMPACT_AFTER` lines. OSError if it cannot be."""
        if self.path is None:
            return
        self._saves += 1
        if not self._whole or self._appended >= COMPACT_AFTER:
            self._write_whole()
        else:
            self._append()
        self.dirty.clear()
        self._saved_sequence = self.sequence

    def _write_whole(self) -> None:
        assert self.path is not None and self.log_path is not None
        self._forget_done()
        saved: dict[str, Any] = {
            "version": _VERSION,
            "account_id": self.account_id,
            **self._figures(self.orders.values(), self.log),
        }
        write_atomically(self.path, json.dumps(saved, separators=(",", ":")).encode())
        # The log's lines are in the whole state now (and numbered below it, if a crash
        # comes before this empties it).
        with open(self.log_path, "wb"):
            pass
        self._whole = True
        self._appended = 0

    def _append(self) -> None:
        assert self.log_path is not None
        orders = [order for order in self.orders.values() if order.live or order.id in self.dirty]
        new: list[tuple[int, bytes]] = []
        for entry in reversed(self.log):
            if entry[0] <= self._saved_sequence:
                break
            new.append(entry)
        new.reverse()
        append_synced(self.log_path, json.dumps(self._figures(orders, new), separators=(",", ":")).encode() + b"\n")
        self._appended += 1

    def _figures(self, orders: Any, log: Any) -> dict[str, Any]:
        return {
            "saves": self._saves,
            "sequence": self.sequence,
            "cursor": None if self.cursor is None else list(self.cursor),
            "orders": [asdict(order) for order in orders],
            "pending": [[p.label, base64.b64encode(p.request).decode("ascii"), p.cancel] for p in self.pending.values()],
            "log": [[sequence, base64.b64encode(data).decode("ascii")] for sequence, data in log],
        }

    def _forget_done(self) -> None:
        done = [order_id for order_id, order in self.orders.items() if not order.live]
        for order_id in done[: max(0, len(done) - DONE_KEPT)]:
            del self.orders[order_id]

    def number(self, payload: seto_pb2.Payload, body: Any | None) -> None:
        """Give ``payload`` the account stream's next number (in ``body``'s sequence fields,
        if it has them) and keep it for a client resuming the stream."""
        sequence = self.sequence = self.sequence + 1
        if body is not None:
            body.account_sequence_64 = sequence
            if sequence < 2**32:
                body.account_sequence = sequence
        self.log.append((sequence, payload.SerializeToString()))

    def messages_since(self, account_sequence: int) -> list[seto_pb2.Payload]:
        """Fresh copies of the kept messages numbered after ``account_sequence``."""
        return [seto_pb2.Payload.FromString(data) for sequence, data in self.log if sequence > account_sequence]

    def log_start(self) -> int:
        """The oldest account sequence still kept (the next one if none is)."""
        return self.log[0][0] if self.log else self.sequence + 1
