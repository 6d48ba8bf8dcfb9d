"""What the bridge makes of a downstream order_create: the label it is placed with upstream
(`upstream_label`, its own: how a create without an answer is found there), its reference
and label as the client gave them, and the `BridgeOrder` it becomes once placed."""

from __future__ import annotations

import secrets
from typing import Any

from txsmarkets.bridge.state import BridgeOrder

__all__ = ["LABEL_SUFFIX", "create_label", "create_reference", "placed_order", "upstream_label"]

#: What the bridge adds to a create's label upstream, before its random part.
LABEL_SUFFIX = "#txb-"


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
