"""Requests that change resting orders: cancel, cancel all, reduce, cancel-replace, settings."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from txsmarkets.exchange.accounts import Account
from txsmarkets.exchange.answers import EngineAnswers
from txsmarkets.exchange.book import Order
from txsmarkets.exchange.market import (
    _CANCELLED_MEMBER,
    _P_PENDING_REPLACE,
    _P_REPLACE_ACCEPTED,
    _REPLACE_STATE_REJECTS,
    _TRADING,
    _available,
    _liability,
)
from txsmarkets.exchange.market_data import MarketData
from txsmarkets.exchange.requests import invalid_reasons
from txsmarkets.exchange.state import EngineState
from txsmarkets.wire import seto_pb2

__all__ = ["OrderAmendments"]


class OrderAmendments:
    """Cancels, reductions, cancel-replaces and settings (a part of `MatchingEngine`): each
    handler takes an account's request, changes ``state`` and answers in the account's
    stream.

    ``answer_chunk`` is how many messages an order_cancel_all may produce in one go; the
    rest wait for `continue_work` (None: all at once, the default; the server sets it).
    """

    def __init__(self, state: EngineState, answers: EngineAnswers, market_data: MarketData) -> None:
        self._state = state
        self._answers = answers
        self._market_data = market_data
        #: Messages an order_cancel_all may produce in one go (None: all at once).
        self.answer_chunk: int | None = None
        # Per account, the unfinished cancel-alls: their orders still to go through.
        self._work: dict[int, list[Iterator[Order]]] = {}

    def order_cancel(self, account: Account, payload: seto_pb2.Payload) -> None:
        request = payload.order_cancel
        reference = request.reference if request.HasField("reference") else None
        order, live = self._state.find(account, request.order_id)
        if live and order is not None:
            self._state.cancel(account, order, _CANCELLED_MEMBER, reference)
        elif order is not None:
            reason = seto_pb2.ORDER_CANCEL_REJECTED_NOT_LIVE
            self._answers.order_cancel_rejected(account, request.order_id, reason, reference, order)
        else:
            reason = seto_pb2.ORDER_CANCEL_REJECTED_NOT_FOUND
            self._answers.order_cancel_rejected(account, request.order_id, reason, reference, None)

    def order_cancel_all(self, account: Account, payload: seto_pb2.Payload) -> None:
        request = payload.order_cancel_all
        market_id = request.market_id if request.HasField("market_id") else None
        reference = request.reference if request.HasField("reference") else None
        self._answers.order_cancel_all_accepted(account, reference)
        # The orders live now; one placed meanwhile is not among them, one done meanwhile
        # is passed over. With ``answer_chunk`` set, a chunk is cancelled now and the rest
        # waits for `continue_work`, so that a large answer can follow the reader's pace.
        orders = [o for o in account.orders.values() if market_id is None or o.market_id == market_id]
        work = iter(orders)
        if self.answer_chunk is None or not self._cancel_some(account, work, self.answer_chunk):
            for order in work:
                if order.live:
                    self._state.cancel(account, order, _CANCELLED_MEMBER)
            return
        self._work.setdefault(account.id, []).append(work)

    def _cancel_some(self, account: Account, work: Iterator[Order], count: int) -> bool:
        """Cancel up to ``count`` of ``work``'s orders still live; whether any are left."""
        for order in itertools.islice(work, count):
            if order.live:
                self._state.cancel(account, order, _CANCELLED_MEMBER)
        peek = next(work, None)
        if peek is None:
            return False
        if peek.live:
            self._state.cancel(account, peek, _CANCELLED_MEMBER)
        return True

    def has_work(self, account_id: int) -> bool:
        """Whether an answer to the account (a chunked cancel-all) is still to be produced."""
        return account_id in self._work

    def continue_work(self, account_id: int) -> bool:
        """Produce the next ``answer_chunk`` of the account's unfinished answers, with their
        market data; return whether more remains. Nothing to do is False."""
        queue = self._work.get(account_id)
        if not queue:
            return False
        account = self._state.accounts[account_id]
        try:
            if not self._cancel_some(account, queue[0], self.answer_chunk or 1000):
                queue.pop(0)
        finally:
            if self._market_data.touched:
                self._market_data.publish()
        if not queue:
            del self._work[account_id]
            return False
        return True

    def finish_work(self, account_id: int) -> None:
        """Produce every unfinished answer of the account at once."""
        while self.continue_work(account_id):
            pass

    def order_quantity_reduce(self, account: Account, payload: seto_pb2.Payload) -> None:
        request = payload.order_quantity_reduce
        reference = request.reference if request.HasField("reference") else None
        new_quantity = request.new_quantity
        order, live = self._state.find(account, request.order_id)
        if not live or order is None:
            reason = (
                seto_pb2.ORDER_QUANTITY_REDUCE_REJECTED_NOT_LIVE
                if order
                else seto_pb2.ORDER_QUANTITY_REDUCE_REJECTED_NOT_FOUND
            )
            self._answers.order_quantity_reduce_rejected(
                account, request.order_id, new_quantity, reason, reference, order
            )
            return
        if not 0 < new_quantity < order.remaining:
            self._answers.order_quantity_reduce_rejected(
                account,
                order.id,
                new_quantity,
                seto_pb2.ORDER_QUANTITY_REDUCE_REJECTED_INVALID_NEW_QUANTITY,
                reference,
                order,
            )
            return
        book = self._state.markets[order.market_id].books[order.contract_id]
        book.reduce(order, new_quantity)
        self._market_data.touched[book] = None
        liability = _liability(order.side, order.price, new_quantity)
        account.order_liability += liability - order.liability
        order.liability = liability
        self._answers.order_quantity_reduced(account, order, reference)

    def order_cancel_replace(self, account: Account, payload: seto_pb2.Payload) -> None:
        request = payload.order_cancel_replace
        seq = payload.eto_payload.seq
        orig, live = self._state.find(account, request.orig_order_id)
        reference = request.reference if request.HasField("reference") else None
        label = request.label if request.HasField("label") else None
        if orig is not None:
            reference = orig.reference if reference is None else reference
            label = orig.label if label is None else label
        if not live or orig is None:
            reason = seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_TOO_LATE
            self._answers.replace_rejected(account, request, orig, reason, reference, label)
            return
        price = request.price
        quantity = request.quantity
        reasons = invalid_reasons(request)
        if reasons:
            self._answers.order_invalid(account, seq, reference, reasons)
            return
        market = self._state.markets[orig.market_id]
        if request.HasField("market_id") and request.market_id != orig.market_id:
            reason = seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_MARKET_NOT_FOUND
            self._answers.replace_rejected(account, request, orig, reason, reference, label)
            return
        if market.state not in _TRADING:
            reason = _REPLACE_STATE_REJECTS[market.state]
            self._answers.replace_rejected(account, request, orig, reason, reference, label)
            return
        liability = _liability(orig.side, price, quantity)
        if liability > _available(account) + orig.liability:
            self._answers.order_rejected(account, seq, seto_pb2.ORDER_REJECTED_INSUFFICIENT_FUNDS, reference, label)
            return
        book = market.books[orig.contract_id]
        filled, crossed = book.crossing(orig.side, price, quantity, account.id)
        if crossed:
            reason = seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_CROSSED_SELF
            self._answers.replace_rejected(account, request, orig, reason, reference, label)
            return
        self._state.take_off(account, orig)
        order = self._state.open_order(
            account, book, orig.side, price, quantity, orig.tif, reference, label, liability
        )
        self._answers.replace_answer(account, _P_PENDING_REPLACE, order, orig.id, None)
        self._answers.replace_answer(account, _P_REPLACE_ACCEPTED, order, orig.id, quantity - filled)
        self._state.execute(account, order, market, book)

    def settings(self, account: Account, payload: seto_pb2.Payload) -> None:
        request = payload.settings
        if request.HasField("cancel_all_on_failure"):
            account.cancel_all_on_failure = request.cancel_all_on_failure
        self._answers.settings_accepted(account)
