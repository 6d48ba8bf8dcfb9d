"""What the bridge makes of a downstream order_create: the label it is placed with upstream
(`upstream_label`, its own: how a create without an answer is found there, `find_placed`),
its time in force as the API names it, its reference and label as the client gave them, and
the `BridgeOrder` it becomes once placed."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

from txsmarkets.bridge.activity import rows_after
from txsmarkets.bridge.state import BridgeOrder, PendingCreate
from txsmarkets.http_api import HTTPAPIClient
from txsmarkets.wire import seto_pb2

__all__ = [
    "LABEL_SUFFIX", "TIF_NAMES", "create_label", "create_reference", "find_placed", "placed_order", "upstream_label",
]

#: What the bridge adds to a create's label upstream, before its random part.
LABEL_SUFFIX = "#txb-"
#: Orders asked for at once (the API's most).
_ORDERS_PAGE = 100
#: The API's name of each time in force.
TIF_NAMES = {
    seto_pb2.GOOD_TIL_CANCELLED: "good_til_cancelled",
    seto_pb2.IMMEDIATE_OR_CANCEL: "immediate_or_cancel",
    seto_pb2.KEEP_IN_PLAY: "keep_in_play",
    seto_pb2.GOOD_TILL_HALTED: "good_til_halted",
}


def upstream_label(label: str | None) -> str:
    """The label an order is placed with upstream: the downstream ``label`` (if any), then
    `LABEL_SUFFIX` and 12 random hexadecimal digits, which make it the order's own (it is
    how a create without an answer is found upstream). ``"scalp"`` becomes, say,
    ``"scalp#txb-5f0c2a9e71d4"``; no label, ``"#txb-5f0c2a9e71d4"``."""
    return f"{label or ''}{LABEL_SUFFIX}{secrets.token_hex(6)}"


def placed_order(order_id: int, create: Any) -> BridgeOrder:
    """The `BridgeOrder` of ``create`` placed upstream as ``order_id``."""
    return BridgeOrder(
        id=order_id,
        market_id=create.market_id,
        contract_id=create.contract_id,
        side=create.side,
        price=create.price,
        quantity=create.quantity,
        tif=create.tif,
        label=create_label(create),
        reference=create_reference(create),
    )


def create_reference(create: Any) -> int | None:
    """The client's reference of ``create`` (None if it gave none)."""
    return create.reference if create.HasField("reference") else None


def create_label(create: Any) -> str | None:
    """The client's label of ``create`` (None if it gave none)."""
    return create.label if create.HasField("label") else None


async def find_placed(
    client: HTTPAPIClient, creates: Iterable[PendingCreate], cursor: tuple[int, int], stopped: Callable[[], bool]
) -> dict[str, int]:
    """The upstream order ids of those of ``creates`` that were placed, by label: looked for
    in their markets' orders, then in the account's activity after ``cursor``. Fails if a
    request fails (the look must be whole for a create not found to be taken as not placed)."""
    wanted = {pending.label for pending in creates}
    found: dict[str, int] = {}
    markets = sorted({pending.payload.order_create.market_id for pending in creates})
    async for orders in client.orders_pages(market_id=markets, limit=_ORDERS_PAGE):
        for placed in orders.items:
            if placed.label in wanted:
                found[placed.label] = placed.id
    async for rows in rows_after(client, cursor, stopped):
        for row in rows:
            if row.label in wanted and row.order_id is not None:
                found.setdefault(row.label, row.order_id)
    return found
