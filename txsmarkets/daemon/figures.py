"""The daemon's running figures: fills, realised profit and loss, reconnects.

They are counted from the account's changes as the client's reducer makes them
(``client.account_changed``), from the process's start. Realised
P&L is in Decimal pounds, per contract at average cost: a fill that reduces a position
realises the difference between its price and the position's average price. Prices are
in basis points of a pound (2500 is 25%) and quantities in ten-thousandths of a pound of
payout (100000 is a 10.00 GBP payout), as on the wire.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from twisted.logger import Logger

from txsmarkets.client import StreamingAPIClient
from txsmarkets.trading.account import Change, ChangeKind
from txsmarkets.trading.money import FULL
from txsmarkets.trading.positions import apply_fill
from txsmarkets.wire import seto_pb2

__all__ = ["Figures", "to_the_penny"]

_UNIT = Decimal(FULL)
_PENNY = Decimal("0.01")


def to_the_penny(pounds: Decimal | None) -> str:
    """Pounds as a log line shows them: rounded (half to even) to the penny, ``-`` for
    None. The exact figure stays in the `Decimal`."""
    return "-" if pounds is None else f"{pounds.quantize(_PENNY):f}"
_log = Logger()


class Figures:
    """Fills, realised P&L and reconnects of one client (see `watch`)."""

    def __init__(self) -> None:
        self.fills = 0
        self.reconnects = 0
        self.realised_pnl = Decimal(0)
        self._logins = 0
        # (market, contract) -> (signed quantity, average price)
        self._positions: dict[tuple[int, int], tuple[int, Decimal]] = {}

    def watch(self, client: StreamingAPIClient) -> None:
        """Count what ``client`` receives from now on."""
        client.account_changed.add(self._changed)
        client.logged_in.add(self._logged_in)

    def _logged_in(self, message: Any, resumed: bool) -> None:
        self._logins += 1
        if self._logins > 1:
            self.reconnects += 1

    def _changed(self, change: Change) -> None:
        if change.kind is not ChangeKind.EXECUTED:
            return
        fill = change.body
        self.fill(fill.market_id, fill.contract_id, fill.side, change.price, change.quantity)
        _log.info(
            "fill: order {id} {side} £{payout} of payout at {price}% (fills={fills})",
            id=fill.order_id,
            side="buy" if fill.side == seto_pb2.SIDE_BUY else "sell",
            payout=to_the_penny(Decimal(fill.quantity) / _UNIT),
            price=f"{Decimal(fill.price) / 100:.2f}",
            fills=self.fills,
        )

    def fill(self, market_id: int, contract_id: int, side: int, price: int, quantity: int) -> None:
        """Apply one fill: ``side`` BUY or SELL, ``quantity`` at ``price``."""
        self.fills += 1
        self.realised_pnl += apply_fill(self._positions, (market_id, contract_id), side, price, quantity)
