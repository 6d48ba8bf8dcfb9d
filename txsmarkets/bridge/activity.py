"""The upstream account's activity as the bridge reads it: its pages after a cursor
(`rows_after`), and what each row tells downstream (`row_messages`).

Each row about an order placed through the bridge becomes its message, in the upstream's
order: ``order.execute`` an order_executed, ``order.execute.void`` an order_execute_voided,
``order.book.cancel`` an order_cancelled (``MEMBER_REQUESTED`` after a cancel of ours,
``INSUFFICIENT_LIQUIDITY`` for an immediate-or-cancel, else ``MARKET_HALTED``); a
settlement, void or other change of the balance a balance_changed. Rows of orders the
bridge did not place are passed over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from txsmarkets.bridge import answers
from txsmarkets.bridge.answers import Message
from txsmarkets.bridge.state import BridgeOrder
from txsmarkets.http_api import HTTPAPIClient
from txsmarkets.http_api.models import ActivityRow
from txsmarkets.wire import seto_pb2

__all__ = ["PAGE", "row_messages", "rows_after"]

#: Activity rows of a change of the balance that is no order's: a balance_changed.
_BALANCE_SOURCES = ("market.", "admin.", "bonus.", "deposit", "withdraw", "commission.")
#: Rows asked for at once (the API's most).
PAGE = 500


async def rows_after(
    client: HTTPAPIClient, cursor: tuple[int, int], stopped: Callable[[], bool]
) -> AsyncIterator[list[ActivityRow]]:
    """The pages of the activity after ``cursor``, oldest first, to the newest row (none
    more once ``stopped()``)."""
    while not stopped():
        filters: dict[str, Any] = {"sort": "seq,subseq", "limit": PAGE}
        if cursor != (0, 0):
            filters["pagination_last_seq"], filters["pagination_last_subseq"] = cursor
        page = await client.activity(**filters)
        yield page.items
        if len(page.items) < PAGE:
            return
        cursor = (page.items[-1].seq, page.items[-1].subseq)


def row_messages(row: ActivityRow, orders: Mapping[int, BridgeOrder]) -> list[Message]:
    """The downstream messages of ``row`` (none for most), updating the order of ``orders``
    it is about (its fills, whether it is live)."""
    available = row.money + row.exposure if row.money is not None and row.exposure is not None else None
    source = row.source
    order = orders.get(row.order_id) if row.order_id is not None else None
    if order is None:
        if source.startswith(_BALANCE_SOURCES) and available is not None:
            return [answers.balance_changed(source, available, row.exposure)]
        return []  # an order not placed through the bridge, or nothing to say
    quantity = abs(row.quantity_change if row.quantity_change else (row.quantity or 0))
    price = row.price or 0
    if source == "order.execute" and quantity and price:
        order.executed += quantity
        order.executed_value += price * quantity
        if order.executed >= order.quantity:
            order.live = False
        return [answers.order_executed(order, price, quantity, available, row.exposure)]
    if source == "order.execute.void" and quantity and price:
        order.executed = max(0, order.executed - quantity)
        order.executed_value = max(0, order.executed_value - price * quantity)
        return [answers.order_execute_voided(order, price, quantity, available, row.exposure)]
    if source == "order.book.cancel" and order.live:
        order.live = False
        if order.cancelling:
            reason = seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED
        elif order.tif == seto_pb2.IMMEDIATE_OR_CANCEL:
            reason = seto_pb2.ORDER_CANCELLED_INSUFFICIENT_LIQUIDITY
        else:
            reason = seto_pb2.ORDER_CANCELLED_MARKET_HALTED
        return [answers.order_cancelled(order, reason, available, row.exposure)]
    return []
