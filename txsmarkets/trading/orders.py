"""Our orders as the account reports them: `LiveOrder`, its `OrderStatus`, and the bounded
history of the orders that are no longer live (`OrderHistory`)."""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Protocol

__all__ = ["HISTORY_SIZE", "LiveOrder", "OrderHistory", "OrderStatus", "OrderTerms", "order_data", "order_from_data"]

#: How many finished orders an account keeps readable, by default.
HISTORY_SIZE = 5000


class OrderTerms(Protocol):
    """What the trading controls read of an order to check: a client's ``OrderCreate``, a
    payload's ``order_create`` or a cancel-replace's new terms."""

    @property
    def market_id(self) -> int: ...

    @property
    def contract_id(self) -> int: ...

    @property
    def side(self) -> int: ...

    @property
    def price(self) -> int: ...

    @property
    def quantity(self) -> int: ...


class OrderStatus(enum.Enum):
    """Where an order stands: ``LIVE`` on the book (perhaps partly filled), or finished:
    ``FILLED`` in full, ``CANCELLED`` (``LiveOrder.reason`` says why), ``REJECTED`` by the
    exchange (never live: the reason too), ``VOIDED`` by the exchange, ``REPLACED`` by a
    cancel-replace (its successor is a new order)."""

    LIVE = "live"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    VOIDED = "voided"
    REPLACED = "replaced"


@dataclass(slots=True)
class LiveOrder:
    """An order of ours the exchange holds, or held, with what has filled of it.

    ``order_id`` is the exchange's id (0 for a rejected create: the exchange gave it none);
    ``side`` is ``BUY`` (1) or ``SELL`` (2); ``price`` (a wire price: hundredths of a
    percent, 2500 is 25.00%) is the order's limit; ``quantity`` is its whole size, filled
    part included, and ``filled`` what has executed, both in ten-thousandths of a pound of
    payout (10000 is £1 paid if it wins); ``avg_price`` is the average price of the fills
    (a wire price, 0 before any); ``reference`` and ``label`` are what the create gave, or
    None; ``done`` turns True once the order is no longer live (filled, cancelled, voided
    or replaced), when it also leaves ``AccountState.orders`` for ``AccountState.history``.

    ``status`` says where it stands (an `OrderStatus`), ``reason`` why it was cancelled or
    rejected (the protocol's name: ``ORDER_CANCELLED_MEMBER_REQUESTED``), and
    ``placed_at`` when the client heard it was accepted (seconds on the client's clock;
    None when not known, as for an order restored from an older snapshot).
    """

    order_id: int
    market_id: int
    contract_id: int
    side: int
    price: int
    quantity: int
    filled: int = 0
    avg_price: int = 0
    reference: int | None = None
    label: str | None = None
    #: True once the order is no longer live (filled, cancelled, voided or replaced).
    done: bool = False
    status: OrderStatus = OrderStatus.LIVE
    reason: str | None = None
    placed_at: float | None = None

    @property
    def unfilled(self) -> int:
        """The quantity still resting on the book (ten-thousandths of a pound of payout):
        ``quantity - filled``."""
        return self.quantity - self.filled

    def finish(self, status: OrderStatus, reason: str | None = None) -> None:
        """Mark the order no longer live: ``done``, with its ``status`` and ``reason``."""
        self.done = True
        self.status = status
        self.reason = reason


def order_data(order: LiveOrder) -> dict[str, Any]:
    """``order`` as JSON-ready data (its status by value); see `order_from_data`."""
    data = asdict(order)
    data["status"] = order.status.value
    return data


def order_from_data(data: dict[str, Any]) -> LiveOrder:
    """The `LiveOrder` that `order_data` gave ``data`` for (or an older snapshot's, with no
    status: live unless ``done``). Raises `TypeError`, `KeyError` or `ValueError` when
    malformed."""
    data = dict(data)
    status = data.pop("status", None)
    order = LiveOrder(**data)
    if status is not None:
        order.status = OrderStatus(status)
    return order


class OrderHistory(OrderedDict[int, LiveOrder]):
    """The finished orders, order id -> `LiveOrder`, oldest first: at most ``size`` of them
    (the oldest goes when a new one would pass it)."""

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        super().__init__()
        self.size = size

    def keep(self, order: LiveOrder) -> None:
        """Keep a finished order (the newest), forgetting the oldest beyond ``size``."""
        if self.size <= 0:
            return
        self[order.order_id] = order
        if len(self) > self.size:
            self.popitem(last=False)
