"""The operator's side of the engine: market states, settlement and voiding."""

from __future__ import annotations

from typing import Iterable

from txsmarkets.exchange.accounts import Account
from txsmarkets.exchange.answers import EngineAnswers
from txsmarkets.exchange.book import BUY, SELL, Order
from txsmarkets.exchange.catalogue import MARKET_STATE_TYPES, MARKET_STATES
from txsmarkets.exchange.market import (
    _CANCELLED_ADMIN,
    _CANCELLED_HALTED,
    _CANCELLED_SUSPENDED,
    _FINAL,
    _GTC,
    _ZERO,
    _Market,
)
from txsmarkets.exchange.market_data import MarketData
from txsmarkets.exchange.state import EngineState
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["MarketOperator"]


class MarketOperator:
    """The operator's API (a part of `MatchingEngine`): market states, settlement,
    voiding, and market-level announcements; each changes ``state``, answers the accounts
    concerned and sends the market data."""

    def __init__(self, state: EngineState, answers: EngineAnswers, market_data: MarketData) -> None:
        self._state = state
        self._answers = answers
        self._market_data = market_data

    def announce(self, market_id: int, payload: seto_pb2.Payload) -> None:
        """Send a market-level message (a ``runningball_notification``, say) to the
        market's listeners as it is. UnknownMarket for an unknown id."""
        self._state.market(market_id)
        self._market_data.broadcast(market_id, payload)

    def void_execution(self, order_id: int, other_order_id: int, price: int, quantity: int) -> None:
        """Void one trade: ``quantity`` at ``price`` between two orders (as both sides'
        ``order_executed`` named it; either order first). Each side's fills and position
        lose it and each account gets an ``order_execute_voided``; the voided quantity is
        not offered again. A trade may be voided in parts, but no more of it than was
        traded.

        ValueError when the two orders made no such trade (not that price, or less than
        ``quantity`` of it left unvoided), or their market is settled or voided (its
        money has moved, or its bets are void already)."""
        state = self._state
        first, second = self._matched_order(order_id), self._matched_order(other_order_id)
        if first is None or second is None:
            raise ValueError(f"no orders {order_id!r} and {other_order_id!r} to void a trade of")
        market = state.market(first.market_id)
        self._check_not_final(market)
        # Checked against the trade as the engine made it: any other price or quantity
        # would unwind stakes nobody staked, and move that money at settlement.
        key = (first.id, second.id, price) if first.id < second.id else (second.id, first.id, price)
        traded = market.trades.get(key, 0) if first.market_id == second.market_id else 0
        if quantity <= 0 or traded < quantity:
            raise ValueError(f"orders {order_id} and {other_order_id} made no trade of {quantity!r} at {price!r}")
        if traded == quantity:
            del market.trades[key]
        else:
            market.trades[key] = traded - quantity
        market.executed_volume -= quantity
        market.executed_value -= price * quantity
        for order in (first, second):
            account = state.accounts[order.account_id]
            order.executed -= quantity
            order.executed_value -= price * quantity
            position = account.positions.get(order.market_id)
            if position is not None:
                position.add(order.contract_id, order.side == BUY, price, -quantity)
                account.set_position_exposure(order.market_id, position.worst_case_loss())
            self._answers.order_execute_voided(account, order, price, quantity)

    def set_market_state(self, market_id: int, state: str) -> None:
        """Move a market to ``state`` (one of `MARKET_STATES`), cancelling the orders that
        state ends (see the module docstring) and announcing ``market_state``.

        "voided" is `void_market`; "settled" needs the winners, so use `settle_market`.
        ValueError for an unknown state or a market already settled or voided.
        """
        market = self._state.market(market_id)
        if state not in MARKET_STATE_TYPES:
            raise ValueError(f"{state!r} is not a market state ({', '.join(MARKET_STATES)})")
        if state == "voided":
            self.void_market(market_id)
            return
        if state == "settled":
            raise ValueError("settling needs the winners: use settle_market(market_id, winners)")
        self._check_not_final(market)
        if state == market.state:
            return
        market.state = state
        self._announce_state(market)
        if state == "halted":
            self._cancel_market_orders(market, _CANCELLED_HALTED)
        elif state == "live":
            self._cancel_market_orders(market, _CANCELLED_SUSPENDED, only_tif=_GTC)
        self._market_data.publish()

    def settle_market(self, market_id: int, winner_contract_ids: Iterable[int]) -> None:
        """Settle a market: cancel its live orders, pay each winning contract's holders and
        take from its sellers, release the market's exposure, announce "settled".

        Every account with matched bets in it gets a ``balance_changed``. ValueError for a
        winner not in the market or a market already settled or voided.
        """
        market = self._state.market(market_id)
        self._check_not_final(market)
        winners = list(dict.fromkeys(winner_contract_ids))  # a contract pays once
        for contract_id in winners:
            if contract_id not in market.books:
                raise ValueError(f"contract {contract_id!r} is not in market {market_id}")
        self._cancel_market_orders(market, _CANCELLED_ADMIN)
        market.state = "settled"
        market.winners = tuple(winners)
        self._announce_state(market)
        for account in self._state.accounts:
            position = account.positions.pop(market_id, None)
            if position is None:
                continue
            account.balance += position.profit(winners)
            account.set_position_exposure(market_id, _ZERO)
            self._answers.balance_changed(account, f"market {market_id} settled")
        self._state.market_final(market)
        self._market_data.publish()

    def void_market(self, market_id: int) -> None:
        """Void a market: cancel its live orders, void every matched bet (an
        ``order_voided`` per order with fills, then a ``balance_changed`` per account),
        announce "voided". No cash moves, since trading moved none: the bets' exposure is
        released. ValueError for a market already settled or voided."""
        market = self._state.market(market_id)
        self._check_not_final(market)
        self._cancel_market_orders(market, _CANCELLED_ADMIN)
        market.state = "voided"
        self._announce_state(market)
        affected: dict[int, Account] = {}
        for order in sorted(market.matched.values(), key=lambda o: o.id):
            account = self._state.accounts[order.account_id]
            affected[account.id] = account
            self._answers.order_voided(account, order)
        for account in affected.values():
            account.positions.pop(market_id, None)
            account.set_position_exposure(market_id, _ZERO)
            self._answers.balance_changed(account, f"market {market_id} voided")
        self._state.market_final(market)
        self._market_data.publish()

    def _matched_order(self, order_id: int) -> Order | None:
        """An order by id: live, remembered done, or else with fills in a running market
        (a done order is forgotten past ``done_orders_kept``, but its trades still stand)."""
        order = self._state.order(order_id)
        if order is None:
            for market in self._state.markets.values():
                order = market.matched.get(order_id)
                if order is not None:
                    break
        return order

    @staticmethod
    def _check_not_final(market: _Market) -> None:
        if market.state in _FINAL:
            raise ValueError(f"market {market.id} is {market.state}: its state is final")

    def _cancel_market_orders(
        self, market: _Market, reason: seto_pb2.OrderCancelledReason, only_tif: int | None = None
    ) -> None:
        orders = [
            order
            for book in market.books.values()
            for side in (BUY, SELL)
            for order in book.orders(side)
            if only_tif is None or order.tif == only_tif
        ]
        orders.sort(key=lambda o: o.id)
        for order in orders:
            self._state.cancel(self._state.accounts[order.account_id], order, reason)

    def _announce_state(self, market: _Market) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_STATE)
        body = payload.market_state
        body.market_id = market.id
        body.state = MARKET_STATE_TYPES[market.state]
        self._market_data.broadcast(market.id, payload)
