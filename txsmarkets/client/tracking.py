"""What the client makes of each account and market message: the views it keeps for the
user (``client.account``, ``client.markets``), then the trading controls' count."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from txsmarkets.client.state import AccountState, MarketBook
from txsmarkets.wire import seto_pb2

if TYPE_CHECKING:
    from txsmarkets.client.controls import Controls

__all__ = ["AccountTracking"]


class AccountTracking:
    """The client's own handling of the messages that change the account or a market's
    book (``_tracking_routes``); it runs before any handler of the message."""

    if TYPE_CHECKING:
        # What the client using it provides.
        account: AccountState
        markets: dict[int, MarketBook]
        _creates: dict[int, seto_pb2.OrderCreate]
        _controls: Controls | None

    def _tracking_routes(self) -> dict[int, Callable[[seto_pb2.Payload], None]]:
        """seto type -> the method that takes a message of that type in."""
        return {
            seto_pb2.PAYLOAD_ORDER_ACCEPTED: self._order_accepted,
            seto_pb2.PAYLOAD_ORDER_REJECTED: self._order_rejected,
            seto_pb2.PAYLOAD_ORDER_INVALID: self._order_invalid,
            seto_pb2.PAYLOAD_ORDER_EXECUTED: self._order_executed,
            seto_pb2.PAYLOAD_ORDER_CANCELLED: self._order_cancelled,
            seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED: self._reduced,
            seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED: self._replace_accepted,
            seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED: self._replace_rejected,
            seto_pb2.PAYLOAD_ORDER_VOIDED: self._order_voided,
            seto_pb2.PAYLOAD_MARKET_QUOTES: self._market_quotes,
            seto_pb2.PAYLOAD_CONTRACT_QUOTES: self._contract_quotes,
            seto_pb2.PAYLOAD_BALANCE_CHANGED: self._balance_changed,
            seto_pb2.PAYLOAD_MARKET_STATE: self._market_state,
        }

    # The account first, then the controls (before any handler, so that one reacting to the
    # message with a create is checked against the account as it now is).

    def _order_accepted(self, payload: seto_pb2.Payload) -> None:
        answer = payload.order_accepted
        seq = answer.seq
        self.account.note_money(answer)
        order = self.account.accepted(self._creates.pop(seq, None), answer)
        controls = self._controls
        if controls is not None:
            controls._accepted(seq, order)

    def _order_rejected(self, payload: seto_pb2.Payload) -> None:
        seq = payload.order_rejected.seq
        self._creates.pop(seq, None)
        if self._controls is not None:
            self._controls._answered(seq)

    def _order_invalid(self, payload: seto_pb2.Payload) -> None:
        seq = payload.order_invalid.seq
        self._creates.pop(seq, None)
        if self._controls is not None:
            self._controls._answered(seq)

    def _order_executed(self, payload: seto_pb2.Payload) -> None:
        fill = payload.order_executed
        self.account.note_money(fill)
        self.account.executed(fill)
        if self._controls is not None:
            self._controls._executed(fill)

    def _order_cancelled(self, payload: seto_pb2.Payload) -> None:
        body = payload.order_cancelled
        order_id = body.order_id
        self.account.note_money(body)
        self.account.done(order_id)
        controls = self._controls
        if controls is not None:
            controls._cancelled(order_id)

    def _reduced(self, payload: seto_pb2.Payload) -> None:
        body = payload.order_quantity_reduced
        self.account.reduced(body.order_id, body.new_quantity)
        if self._controls is not None:
            self._controls._reduced(body.order_id, body.new_quantity)

    def _replace_rejected(self, payload: seto_pb2.Payload) -> None:
        if self._controls is not None:
            self._controls._replace_answered(payload.order_cancel_replace_rejected.orig_order_id)

    def _replace_accepted(self, payload: seto_pb2.Payload) -> None:
        if self._controls is not None:
            self._controls._replaced(payload.order_cancel_replace_accepted)
        # The original is done (``done``, out of ``orders``); the new order takes its place.
        self.account.apply(payload)

    def _order_voided(self, payload: seto_pb2.Payload) -> None:
        order_id = payload.order_voided.order_id
        self.account.done(order_id)
        if self._controls is not None:
            self._controls._voided(order_id)

    def _market_state(self, payload: seto_pb2.Payload) -> None:
        if self._controls is not None:
            body = payload.market_state
            self._controls._market_state(body.market_id, body.state)

    def _balance_changed(self, payload: seto_pb2.Payload) -> None:
        self.account.note_money(payload.balance_changed)

    def _market_quotes(self, payload: seto_pb2.Payload) -> None:
        quotes = payload.market_quotes
        book = self.markets.get(quotes.market_id)
        if book is None:
            book = self.markets[quotes.market_id] = MarketBook(quotes.market_id)
        book.snapshot(quotes)
        controls = self._controls
        if controls is not None and controls._marking:
            controls._quoted(quotes.market_id)

    def _contract_quotes(self, payload: seto_pb2.Payload) -> None:
        if not self.markets:
            return
        quotes = payload.contract_quotes
        book = self.markets.get(quotes.market_id)
        if book is not None:
            book.update(quotes)
            controls = self._controls
            if controls is not None and controls._marking:
                controls._quoted(quotes.market_id)
