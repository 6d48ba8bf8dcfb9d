"""The simulated participants: market makers that quote the ladder, takers that hit them.

Each trader is a real account of the engine and trades only by `MatchingEngine.submit`,
the path a session's messages take; what it knows of its own orders it reads from its
`Account` (live orders, positions), as a client reads its order stream.
"""

from __future__ import annotations

import bisect
import os
import random
from typing import Any, Sequence

from txsmarkets.exchange.accounts import Account, Credentials
from txsmarkets.exchange.simulation.config import SimulationSpec
from txsmarkets.odds import VALID_PRICES
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["MarketMaker", "Taker", "open_account"]

#: A simulated account's money: enough never to be refused for funds.
_BALANCE = "1000000000.00"
_LAST = len(VALID_PRICES) - 1


def open_account(engine: Any, username: str) -> Account:
    """A new account for a simulated trader, not attended (``attended`` in `Account`: nobody logs
    in as it, so its answers are not built). Its password is random and never kept, and
    hashed once only."""
    credentials = Credentials.create(os.urandom(16).hex(), iterations=1)
    account: Account = engine.accounts.add_credentials(username, credentials, _BALANCE, attended=False)
    return account


class _Trader:
    """An account that submits orders through the engine, numbering them as a session would."""

    def __init__(self, engine: Any, account: Account, market_id: int) -> None:
        self.engine = engine
        self.account = account
        self.market_id = market_id
        self._seq = 0

    def _submit(self, payload: seto_pb2.Payload) -> None:
        self._seq += 1
        payload.eto_payload.seq = self._seq
        self.engine.submit(self.account.id, payload)

    def create(self, contract_id: int, side: int, price: int, quantity: int, tif: int) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
        body = payload.order_create
        body.market_id = self.market_id
        body.contract_id = contract_id
        body.side = side  # type: ignore[assignment]
        body.price = price
        body.quantity = quantity
        body.tif = tif  # type: ignore[assignment]
        self._submit(payload)

    def cancel(self, order_id: int) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL)
        payload.order_cancel.order_id = order_id
        self._submit(payload)


class MarketMaker(_Trader):
    """Quotes both sides of every contract around fair value, ``levels`` ticks deep.

    Its first bid is ``spread_ticks`` ticks below fair value and its first offer as many
    above (``offset`` more for the second and later makers, so they layer); every
    ``skew_unit`` of inventory in a contract moves both its quotes a tick against the
    inventory (long -> lower, to sell). A requote cancels only the orders whose price is no
    longer wanted (or that were mostly filled) and places only the missing ones.
    """

    def __init__(
        self,
        engine: Any,
        account: Account,
        market_id: int,
        contract_ids: Sequence[int],
        spec: SimulationSpec,
        offset: int,
        rng: random.Random,
    ) -> None:
        super().__init__(engine, account, market_id)
        self.contract_ids = tuple(contract_ids)
        self.spec = spec
        self.offset = offset
        self.size = max(100, int(spec.size * rng.uniform(0.75, 1.25)) // 100 * 100)

    def inventory(self, contract_id: int) -> int:
        """Bought minus sold quantity of the contract."""
        position = self.account.positions.get(self.market_id)
        return position.net[contract_id] if position is not None else 0

    def wanted(self, probabilities: Sequence[float]) -> dict[tuple[int, int, int], int]:
        """``{(contract, side, price): quantity}`` that this maker wants resting now."""
        spec = self.spec
        wanted: dict[tuple[int, int, int], int] = {}
        spread = spec.spread_ticks - 1 + self.offset
        for contract_id, probability in zip(self.contract_ids, probabilities):
            fair = probability * 10000
            skew = max(-spec.levels, min(spec.levels, round(self.inventory(contract_id) / spec.skew_unit)))
            below = bisect.bisect_left(VALID_PRICES, fair) - 1 - spread - skew
            above = bisect.bisect_right(VALID_PRICES, fair) + spread - skew
            for level in range(spec.levels):
                bid, offer = below - level, above + level
                if 0 <= bid <= _LAST:
                    wanted[(contract_id, seto_pb2.SIDE_BUY, VALID_PRICES[bid])] = self.size
                if 0 <= offer <= _LAST:
                    wanted[(contract_id, seto_pb2.SIDE_SELL, VALID_PRICES[offer])] = self.size
        return wanted

    def requote(self, probabilities: Sequence[float]) -> None:
        """Bring the resting quotes to what `wanted` says for these fair probabilities."""
        wanted = self.wanted(probabilities)
        stale = []
        for order in self.account.orders.values():
            if order.market_id != self.market_id:
                continue
            key = (order.contract_id, order.side, order.price)
            if key in wanted and order.remaining * 2 >= wanted[key]:
                del wanted[key]
            else:
                stale.append(order.id)
        # Stale orders go first, so that a new quote never meets this maker's old one.
        for order_id in stale:
            self.cancel(order_id)
        for (contract_id, side, price), quantity in wanted.items():
            self.create(contract_id, side, price, quantity, seto_pb2.KEEP_IN_PLAY)


class Taker(_Trader):
    """Takes the best quote with an immediate-or-cancel order when it arrives.

    An informed taker buys the contract whose best offer is furthest below fair value (or
    sells the one whose best bid is furthest above) and does nothing without an edge; an
    uninformed one picks a contract and a side at random.
    """

    def __init__(
        self, engine: Any, account: Account, market_id: int, contract_ids: Sequence[int], spec: SimulationSpec
    ) -> None:
        super().__init__(engine, account, market_id)
        self.contract_ids = tuple(contract_ids)
        self.spec = spec

    def arrive(self, rng: random.Random, probabilities: Sequence[float]) -> None:
        """One arrival: maybe one order, taking liquidity at the best price."""
        quantity = max(100, int(self.spec.taker_size * rng.uniform(0.2, 1.0)) // 100 * 100)
        informed = rng.random() < self.spec.informed_share
        if informed:
            best: tuple[float, int, int, int] | None = None
            for contract_id, probability in zip(self.contract_ids, probabilities):
                book = self.engine.book(contract_id)
                fair = probability * 10000
                offer, bid = book.best_offer(), book.best_bid()
                if offer is not None and (best is None or fair - offer > best[0]):
                    best = (fair - offer, contract_id, seto_pb2.SIDE_BUY, offer)
                if bid is not None and (best is None or bid - fair > best[0]):
                    best = (bid - fair, contract_id, seto_pb2.SIDE_SELL, bid)
            if best is None or best[0] <= 0:
                return
            _, contract_id, side, price = best
        else:
            contract_id = self.contract_ids[rng.randrange(len(self.contract_ids))]
            side = seto_pb2.SIDE_BUY if rng.random() < 0.5 else seto_pb2.SIDE_SELL
            book = self.engine.book(contract_id)
            found = book.best_offer() if side == seto_pb2.SIDE_BUY else book.best_bid()
            if found is None:
                return
            price = found
        self.create(contract_id, side, price, quantity, seto_pb2.IMMEDIATE_OR_CANCEL)
