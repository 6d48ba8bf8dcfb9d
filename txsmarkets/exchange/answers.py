"""The engine's answers: each message the exchange sends about an order, built in one place."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Concatenate, ParamSpec

from txsmarkets.exchange.accounts import Account
from txsmarkets.exchange.book import BUY, Order
from txsmarkets.exchange.market import (
    _P_ORDER_ACCEPTED,
    _P_ORDER_CANCELLED,
    _P_ORDER_EXECUTED,
    _P_ORDER_INVALID,
    _P_ORDER_REJECTED,
    _describe,
    _set_money,
    _set_reference,
)
from txsmarkets.exchange.stream import AccountStream
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["EngineAnswers"]

_P = ParamSpec("_P")
_Answer = Callable[Concatenate["EngineAnswers", Account, _P], None]


def _told(build: _Answer[_P]) -> _Answer[_P]:
    """An answer method (its first argument the account told) that builds nothing for an
    account no session reads (not ``attended``, `Account`): the message only takes its
    number. A simulated market's traders get an answer to every quote they place or cancel."""

    @functools.wraps(build)
    def answer(self: EngineAnswers, account: Account, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        if account.attended:
            build(self, account, *args, **kwargs)
        else:
            self._stream.pass_over(account)

    return answer


class EngineAnswers:
    """The builders of the engine's account messages (a part of `MatchingEngine`): each
    method, named for the message it sends, puts one answer about an order or an account
    in the account's stream (`AccountStream`)."""

    def __init__(self, stream: AccountStream) -> None:
        self._stream = stream

    @_told
    def order_invalid(
        self, account: Account, seq: int, reference: int | None, reasons: list[seto_pb2.OrderInvalidReason]
    ) -> None:
        payload = new_payload(_P_ORDER_INVALID)
        body = payload.order_invalid
        body.seq = seq
        body.reasons.extend(reasons)
        if reference is not None:
            body.reference = reference
        self._stream.send_unnumbered(account, payload)

    @_told
    def order_rejected(
        self, account: Account, seq: int, reason: seto_pb2.OrderRejectedReason, reference: int | None, label: str | None
    ) -> None:
        payload = new_payload(_P_ORDER_REJECTED)
        body = payload.order_rejected
        body.seq = seq
        body.reason = reason
        _set_reference(body, reference)
        if label is not None:
            body.label = label
        self._stream.send(account, payload, body)

    @_told
    def order_accepted(self, account: Account, order: Order, seq: int) -> None:
        payload = new_payload(_P_ORDER_ACCEPTED)
        body = payload.order_accepted
        body.seq = seq
        body.order_id = order.id
        body.price = order.price
        body.quantity = order.quantity
        _describe(body, order)
        _set_reference(body, None, order)
        _set_money(body, account)
        self._stream.send(account, payload, body)

    @_told
    def order_executed(self, account: Account, order: Order, quantity: int, price: int) -> None:
        payload = new_payload(_P_ORDER_EXECUTED)
        body = payload.order_executed
        body.order_id = order.id
        body.price = price
        body.quantity = quantity
        _describe(body, order)
        body.total_executed_quantity = order.executed
        body.executed_avg_price = order.executed_avg_price
        body.available_quantity = order.remaining
        body.orig_price = order.price
        _set_money(body, account)
        self._stream.send(account, payload, body)

    @_told
    def order_cancelled(self, account: Account, order: Order, reason: seto_pb2.OrderCancelledReason, reference: int | None) -> None:
        payload = new_payload(_P_ORDER_CANCELLED)
        body = payload.order_cancelled
        body.reason = reason
        body.order_id = order.id
        body.executed_quantity = order.executed
        if order.executed:
            body.executed_avg_price = order.executed_avg_price
        _describe(body, order)
        body.orig_price = order.price
        _set_reference(body, reference, order)
        _set_money(body, account)
        self._stream.send(account, payload, body)

    @_told
    def order_cancel_rejected(
        self,
        account: Account,
        order_id: int,
        reason: seto_pb2.OrderCancelRejectedReason,
        reference: int | None,
        order: Order | None,
    ) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_REJECTED)
        body = payload.order_cancel_rejected
        body.reason = reason
        body.order_id = order_id
        if order is not None:
            _describe(body, order)
        _set_reference(body, reference, order)
        self._stream.send(account, payload, body)

    @_told
    def order_quantity_reduced(self, account: Account, order: Order, reference: int | None) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED)
        body = payload.order_quantity_reduced
        body.order_id = order.id
        body.reason = seto_pb2.ORDER_QUANTITY_REDUCED_MEMBER_REQUESTED
        body.new_quantity = order.remaining
        _describe(body, order)
        body.orig_price = order.price
        body.executed_quantity = order.executed
        if order.executed:
            body.executed_avg_price = order.executed_avg_price
        _set_reference(body, reference, order)
        self._stream.send(account, payload, body)

    @_told
    def order_quantity_reduce_rejected(
        self,
        account: Account,
        order_id: int,
        new_quantity: int,
        reason: seto_pb2.OrderQuantityReduceRejectedReason,
        reference: int | None,
        order: Order | None,
    ) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE_REJECTED)
        body = payload.order_quantity_reduce_rejected
        body.order_id = order_id
        body.reason = reason
        body.new_quantity = new_quantity
        if order is not None and order.label is not None:
            body.label = order.label
        _set_reference(body, reference, order)
        self._stream.send(account, payload, body)

    @_told
    def replace_rejected(
        self,
        account: Account,
        request: seto_pb2.OrderCancelReplace,
        orig: Order | None,
        reason: seto_pb2.OrderCancelReplaceRejectedReason,
        reference: int | None,
        label: str | None,
    ) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED)
        body = payload.order_cancel_replace_rejected
        body.order_id = 0  # no new order was made
        body.orig_order_id = request.orig_order_id
        body.reason = reason
        if orig is not None:
            body.market_id = orig.market_id
            body.contract_id = orig.contract_id
            body.side = orig.side  # type: ignore[assignment]  # an order's side is the wire's int
        else:
            # Required fields with nothing to say: the request's market, no contract, buy.
            body.market_id = request.market_id
            body.contract_id = 0
            body.side = BUY  # type: ignore[assignment]
        _set_reference(body, reference)
        if label is not None:
            body.label = label
        self._stream.send(account, payload, body)

    @_told
    def replace_answer(
        self,
        account: Account,
        payload_type: int,
        order: Order,
        orig_id: int,
        quantity_left: int | None,
    ) -> None:
        payload = new_payload(payload_type)
        body: seto_pb2.OrderPendingReplace | seto_pb2.OrderCancelReplaceAccepted
        if quantity_left is None:
            body = payload.order_pending_replace
        else:
            body = payload.order_cancel_replace_accepted
            body.quantity_left = quantity_left
        body.order_id = order.id
        body.orig_order_id = orig_id
        body.price = order.price
        body.quantity = order.quantity
        _describe(body, order)
        _set_reference(body, None, order)
        self._stream.send(account, payload, body)

    @_told
    def order_voided(self, account: Account, order: Order) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_VOIDED)
        body = payload.order_voided
        body.order_id = order.id
        body.quantity = order.executed
        body.source_quantity = order.quantity
        _describe(body, order)
        body.orig_price = order.price
        body.executed_quantity = 0
        self._stream.send(account, payload, body)

    @_told
    def order_cancel_all_accepted(self, account: Account, reference: int | None) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_ALL_ACCEPTED)
        body = payload.order_cancel_all_accepted
        if reference is not None:
            body.reference = reference
        self._stream.send(account, payload, body)

    @_told
    def order_execute_voided(self, account: Account, order: Order, price: int, quantity: int) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_EXECUTE_VOIDED)
        body = payload.order_execute_voided
        body.order_id = order.id
        body.price = price
        body.quantity = quantity
        body.market_id = order.market_id
        body.contract_id = order.contract_id
        body.side = order.side  # type: ignore[assignment]
        body.orig_price = order.price
        body.executed_quantity = order.executed
        body.executed_avg_price = order.executed_avg_price
        body.available_quantity = order.remaining if order.live else 0
        if order.label is not None:
            body.label = order.label
        _set_money(body, account)
        self._stream.send(account, payload, body)

    @_told
    def settings_accepted(self, account: Account) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_SETTINGS_ACCEPTED)
        payload.settings_accepted.cancel_all_on_failure = account.cancel_all_on_failure
        self._stream.send_unnumbered(account, payload)

    @_told
    def balance_changed(self, account: Account, reason: str) -> None:
        payload = new_payload(seto_pb2.PAYLOAD_BALANCE_CHANGED)
        body = payload.balance_changed
        body.reason = reason
        _set_money(body, account)
        self._stream.send_unnumbered(account, payload)

