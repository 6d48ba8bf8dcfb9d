"""New orders: an order_create checked, then matched and rested, or answered with why not."""

from __future__ import annotations

from txsmarkets.exchange.accounts import Account
from txsmarkets.exchange.answers import EngineAnswers
from txsmarkets.exchange.market import _CREATE_STATE_REJECTS, _TRADING, _available, _liability
from txsmarkets.exchange.requests import invalid_reasons
from txsmarkets.exchange.state import EngineState
from txsmarkets.wire import seto_pb2

__all__ = ["OrderEntry"]


class OrderEntry:
    """Takes the accounts' order_create requests into ``state`` (a part of `MatchingEngine`);
    the checks and their order are in `txsmarkets.exchange.engine`'s docstring."""

    def __init__(self, state: EngineState, answers: EngineAnswers) -> None:
        self._state = state
        self._answers = answers

    def order_create(self, account: Account, payload: seto_pb2.Payload) -> None:
        """Handle an account's order_create: each answer goes to the account's stream."""
        create = payload.order_create
        seq = payload.eto_payload.seq
        reference = create.reference if create.HasField("reference") else None
        label = create.label if create.HasField("label") else None
        price = create.price
        quantity = create.quantity
        reasons = invalid_reasons(create)
        if reasons:
            self._answers.order_invalid(account, seq, reference, reasons)
            return
        state = self._state
        market = state.markets.get(create.market_id)
        book = market.books.get(create.contract_id) if market is not None else None
        side = create.side
        liability = _liability(side, price, quantity)
        if market is None:
            reason = seto_pb2.ORDER_REJECTED_MARKET_NOT_FOUND
        elif book is None:
            reason = seto_pb2.ORDER_REJECTED_CONTRACT_NOT_FOUND
        elif market.state not in _TRADING:
            reason = _CREATE_STATE_REJECTS[market.state]
        elif liability > _available(account):
            reason = seto_pb2.ORDER_REJECTED_INSUFFICIENT_FUNDS
        elif book.crossing(side, price, quantity, account.id)[1]:
            reason = seto_pb2.ORDER_REJECTED_CROSSED_SELF
        else:
            order = state.open_order(account, book, side, price, quantity, create.tif, reference, label, liability)
            self._answers.order_accepted(account, order, seq)
            state.execute(account, order, market, book)
            return
        self._answers.order_rejected(account, seq, reason, reference, label)

    def reject(self, account: Account, payload: seto_pb2.Payload, reason: seto_pb2.OrderRejectedReason) -> None:
        """Answer an order_create with ``order_rejected`` ``reason`` without looking at it."""
        create = payload.order_create
        reference = create.reference if create.HasField("reference") else None
        label = create.label if create.HasField("label") else None
        self._answers.order_rejected(account, payload.eto_payload.seq, reason, reference, label)
