"""The bridge's durable state (`txsmarkets.bridge.state`): a save costs what changed (a
line appended to the log), and what is read back after a crash at any save is the state
as last saved, whole writes and logs cut short included."""

from __future__ import annotations

import base64
import pathlib
import shutil

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from txsmarkets.bridge import state as state_module
from txsmarkets.bridge.state import BridgeOrder, BridgeState, PendingCreate, StateFileError
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload


def message(n: int) -> seto_pb2.Payload:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_ACCEPTED)
    payload.order_accepted.seq = n
    payload.order_accepted.order_id = n
    return payload


def order(order_id: int) -> BridgeOrder:
    return BridgeOrder(id=order_id, market_id=10, contract_id=101, side=seto_pb2.SIDE_BUY, price=2500,
                       quantity=100_000, tif=seto_pb2.GOOD_TIL_CANCELLED)  # fmt: skip


def create_request(n: int) -> bytes:
    payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
    body = payload.order_create
    body.market_id, body.contract_id, body.side, body.price, body.quantity = n, 101, seto_pb2.SIDE_BUY, 2500, 10_000
    return payload.SerializeToString()


def snapshot(state: BridgeState) -> tuple[object, ...]:
    """What a restart must find: every figure of the state."""
    return (
        state.sequence, state.cursor, {i: vars(o) for i, o in state.orders.items()},
        {label: (p.request, p.cancel) for label, p in state.pending.items()}, list(state.log),
    )  # fmt: skip


#: One change to the state: a message numbered, the cursor moved, an order placed, an order's
#: fill or end, a create held or answered.
changes = st.lists(
    st.tuples(st.sampled_from(["message", "cursor", "order", "fill", "end", "hold", "answer"]), st.integers(0, 5)),
    max_size=40,
)


class StateLogTests(unittest.TestCase):
    def setUp(self) -> None:
        self.folder = pathlib.Path(self.mktemp())
        self.folder.mkdir()
        self.path = self.folder / "account-1.json"

    def test_a_save_costs_what_changed_not_what_is_kept(self) -> None:
        state = BridgeState(1, self.path)
        for n in range(3_000):
            state.number(message(n), None)
            state.orders[n] = order(n)
            state.orders[n].live = False
        state.save()
        whole = self.path.stat().st_size
        state.cursor = (5, 0)
        state.orders[1].executed = 1_000
        state.dirty.add(1)
        state.number(message(9_999), None)
        state.save()
        assert state.log_path is not None
        line = state.log_path.read_bytes()
        self.assertLess(len(line), whole / 100)
        self.assertEqual(self.path.stat().st_size, whole)  # not written again
        restored = BridgeState.load(1, self.path)
        self.assertEqual(snapshot(restored), snapshot(state))
        self.assertEqual(restored.orders[1].executed, 1_000)

    def test_the_whole_state_is_written_again_every_so_many_lines(self) -> None:
        self.patch(state_module, "COMPACT_AFTER", 3)
        state = BridgeState(1, self.path)
        sizes = []
        for n in range(8):
            state.number(message(n), None)
            state.save()
            assert state.log_path is not None
            sizes.append(len(state.log_path.read_bytes().splitlines()) if state.log_path.exists() else 0)
        self.assertEqual(sizes, [0, 1, 2, 3, 0, 1, 2, 3])
        self.assertEqual(snapshot(BridgeState.load(1, self.path)), snapshot(state))

    def test_a_line_cut_short_by_a_crash_is_dropped(self) -> None:
        state = BridgeState(1, self.path)
        state.save()
        state.number(message(1), None)
        state.save()
        before = snapshot(state)
        state.number(message(2), None)
        state.cursor = (9, 0)
        state.save()
        assert state.log_path is not None
        data = state.log_path.read_bytes()
        state.log_path.write_bytes(data[:-7])  # the last line's end never reached the disk
        restored = BridgeState.load(1, self.path)
        self.assertEqual(snapshot(restored), before)
        # The next save starts a line of its own.
        restored.number(message(3), None)
        restored.save()
        self.assertEqual(snapshot(BridgeState.load(1, self.path)), snapshot(restored))

    def test_a_crash_between_a_whole_write_and_emptying_the_log(self) -> None:
        self.patch(state_module, "COMPACT_AFTER", 2)
        state = BridgeState(1, self.path)
        for n in range(3):
            state.number(message(n), None)
            state.save()
        assert state.log_path is not None
        old_lines = state.log_path.read_bytes()
        state.cursor = (1, 0)  # the whole write comes now, then the log is emptied
        state.save()
        state.log_path.write_bytes(old_lines)  # as if the crash came before it was emptied
        self.assertEqual(snapshot(BridgeState.load(1, self.path)), snapshot(state))

    def test_a_damaged_line_is_the_files_error(self) -> None:
        state = BridgeState(1, self.path)
        state.save()
        state.save()
        assert state.log_path is not None
        state.log_path.write_bytes(b"{nonsense\n" + state.log_path.read_bytes())
        with self.assertRaises(StateFileError):
            BridgeState.load(1, self.path)

    def test_a_file_of_the_earlier_format_reads(self) -> None:
        self.path.write_text(
            '{"version":1,"account_id":1,"sequence":4,"cursor":[7,1],"orders":[],'
            '"pending":[["a#txb-0","' + base64.b64encode(create_request(3)).decode() + '"]],"log":[]}'
        )
        restored = BridgeState.load(1, self.path)
        self.assertEqual((restored.sequence, restored.cursor, list(restored.pending)), (4, (7, 1), ["a#txb-0"]))
        self.assertTrue(restored.pending["a#txb-0"].unknown)

    @settings(max_examples=100, deadline=None)
    @given(changes, st.integers(1, 4), st.data())
    def test_read_back_after_any_save_is_the_state_saved(self, steps: list[tuple[str, int]], compact: int, data: st.DataObject) -> None:
        folder = pathlib.Path(self.mktemp())
        folder.mkdir()
        path = folder / "account-1.json"
        self.patch(state_module, "COMPACT_AFTER", compact)
        state = BridgeState(1, path)
        next_id = 1
        for kind, n in steps:
            if kind == "message":
                state.number(message(n), None)
            elif kind == "cursor":
                state.cursor = (n + (state.cursor or (0, 0))[0], 0)
            elif kind == "order":
                state.orders[next_id] = order(next_id)
                next_id += 1
            elif kind in ("fill", "end") and state.orders:
                changed = state.orders[sorted(state.orders)[n % len(state.orders)]]
                if kind == "fill":
                    changed.executed += 1_000
                else:
                    changed.live = False
                state.dirty.add(changed.id)
            elif kind == "hold":
                state.pending[f"l{n}#txb-0"] = PendingCreate(f"l{n}#txb-0", create_request(n), cancel=n % 2 == 0)
            elif kind == "answer" and state.pending:
                del state.pending[sorted(state.pending)[n % len(state.pending)]]
            state.save()
            if data.draw(st.booleans()):
                restored = BridgeState.load(1, path)
                self.assertEqual(snapshot(restored), snapshot(state))
                if data.draw(st.booleans()):
                    state = restored  # the restart goes on from what it read
        shutil.rmtree(folder)
