"""What one save of the bridge's account state costs when the state is full.

Usage: python bench/bridge_state.py [--json] [--quick]

A `BridgeState` holding 10,000 kept messages and 10,000 orders (``--quick``: 1,000 of
each), as an account that has traded a while has, is saved after each new fill message
(the cursor moved, one live order changed): the way the bridge saves before it tells a
fill downstream. Measured in the same run, one after the other:

- append_save_cpu_ms: CPU per save as it is done, a line appended to the log (fsynced);
  append_bytes: that line's size;
- whole_save_cpu_ms: CPU per save if every save wrote the whole state again (as before
  0.2.0; the log's compaction does it every 1,000 saves); whole_bytes: the file's size;
- whole_over_append: the ratio of the two CPU figures (the aim: 20 or more at full size).
"""

from __future__ import annotations

import pathlib
import sys
import tempfile
import time
from decimal import Decimal

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _common import emit, parser  # noqa: E402

from txsmarkets.bridge import answers  # noqa: E402
from txsmarkets.bridge import state as state_module  # noqa: E402
from txsmarkets.bridge.state import BridgeOrder, BridgeState  # noqa: E402


def full_state(folder: pathlib.Path, kept: int) -> BridgeState:
    """A state with ``kept`` messages and orders (the last ten live), saved whole once."""
    state = BridgeState(1, folder / "account-1.json")
    for n in range(kept):
        order = BridgeOrder(id=n, market_id=1, contract_id=2, side=1, price=2500, quantity=10_000, tif=1,
                            live=n >= kept - 10)  # fmt: skip
        state.orders[n] = order
        state.number(*answers.order_executed(order, 2500, 1_000, Decimal("100.00"), Decimal("-5.00")))
    state.save()
    return state


def per_save(state: BridgeState, saves: int) -> float:
    """CPU seconds per save of a new fill of a live order."""
    live = state.orders[max(state.orders)]
    started = time.process_time()
    for n in range(saves):
        state.number(*answers.order_executed(live, 2500, 1_000, Decimal("100.00"), Decimal("-5.00")))
        state.cursor = (n + 1, 0)
        state.dirty.add(live.id)
        state.save()
    return (time.process_time() - started) / saves


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    kept, saves = (1_000, 50) if args.quick else (10_000, 200)
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(scratch)
        state = full_state(folder, kept)
        append = per_save(state, saves)
        assert state.log_path is not None
        append_bytes = len(state.log_path.read_bytes().splitlines()[-1])
        state_module.COMPACT_AFTER = 0  # every save writes the whole state
        whole = per_save(state, saves)
        whole_bytes = (folder / "account-1.json").stat().st_size
    emit(
        {
            "kept": kept,
            "append_save_cpu_ms": round(append * 1e3, 3),
            "append_bytes": append_bytes,
            "whole_save_cpu_ms": round(whole * 1e3, 3),
            "whole_bytes": whole_bytes,
            "whole_over_append": round(whole / append, 1),
        },
        args.json,
    )


if __name__ == "__main__":
    main()
