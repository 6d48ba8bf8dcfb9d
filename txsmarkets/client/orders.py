"""Orders as the 9.3 client wrote them: `OrderCreate` and the side and time-in-force names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = [
    "BUY",
    "GOOD_TILL_HALTED",
    "GOOD_TIL_CANCELLED",
    "IMMEDIATE_OR_CANCEL",
    "KEEP_IN_PLAY",
    "SELL",
    "OrderCreate",
]

BUY = seto_pb2.SIDE_BUY
SELL = seto_pb2.SIDE_SELL
GOOD_TIL_CANCELLED = seto_pb2.GOOD_TIL_CANCELLED
IMMEDIATE_OR_CANCEL = seto_pb2.IMMEDIATE_OR_CANCEL
KEEP_IN_PLAY = seto_pb2.KEEP_IN_PLAY
GOOD_TILL_HALTED = seto_pb2.GOOD_TILL_HALTED


@dataclass
class OrderCreate:
    """An order to place, as in the 9.3 client: set the fields, then ``client.order(it)``.

    ``price`` is in hundredths of a percent (2500 = 25.00%), ``quantity`` the payout in
    ten-thousandths of a pound (400000 = £40.00).
    """

    market_id: int = 0
    contract_id: int = 0
    side: int = BUY
    price: int = 0
    quantity: int = 0
    tif: int = GOOD_TIL_CANCELLED
    reference: int | None = None
    label: str | None = None

    def to_payload(self) -> seto_pb2.Payload:
        """The ``seto.order_create`` payload for this order."""
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
        create = payload.order_create
        create.market_id = self.market_id
        create.contract_id = self.contract_id
        create.side = cast(seto_pb2.Side, self.side)
        create.price = self.price
        create.quantity = self.quantity
        create.tif = cast(seto_pb2.TimeInForceType, self.tif)
        if self.reference is not None:
            create.reference = self.reference
        if self.label is not None:
            create.label = self.label
        return payload
