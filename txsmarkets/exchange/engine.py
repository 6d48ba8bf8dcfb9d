"""The embedded exchange's matching engine: orders in, account and market messages out.

Pure logic with no I/O and no reactor: a session calls `MatchingEngine.submit` with each
decoded application message of a logged-in account, and the engine answers through two
listeners, each given a complete ``seto.Payload`` whose ``eto_payload.seq`` is 0 for the
session to stamp. The engine keeps no reference to what it hands out, so a listener may
change it::

    engine.on_account(account_id, payload)   # the account stream of one account
    engine.on_market(market_id, payload)     # contract_quotes and market_state of a market

Account stream
    Every message to an account takes the next number of that account's sequence (1, 2,
    ...): ``account_sequence_64`` is set on every message that has the field, and
    ``account_sequence`` too while the number fits a uint32; ``available_balance`` and
    ``exposure`` likewise where the message has them. order_invalid, settings_accepted and
    balance_changed have no sequence field but take their number all the same. The last
    ``account_log_size`` messages are kept for `account_messages_since`.

Orders
    An order_create is checked in this order, the first failure being the answer:
    price off the tick ladder and/or quantity 0 -> order_invalid (both reasons when both);
    unknown market -> MARKET_NOT_FOUND; contract not in it -> CONTRACT_NOT_FOUND; market
    not open or live -> MARKET_NOT_OPEN (new), MARKET_HALTED, MARKET_SETTLED (settled or
    voided); liability over the available balance -> INSUFFICIENT_FUNDS; would trade with
    one of the account's own resting orders before it is filled -> CROSSED_SELF (and
    nothing of it trades).
    Otherwise: order_accepted, then an order_executed to both sides per fill (the trade at
    the resting order's price, best price then oldest first), then the order rests.
    ``reference`` and ``label`` of the create come back on every answer about the order;
    an answer to a cancel or a reduce carries that request's ``reference`` if it set one.
    An order_cancel, order_quantity_reduce or order_cancel_replace naming another
    account's order is answered as for an unknown one. order_cancel_all is always
    accepted (an unknown market simply has none of the account's orders), and the
    order_cancelled that follow carry each order's own ``reference``.

Time in force
    GOOD_TIL_CANCELLED rests until cancelled, and is cancelled with TRADING_SUSPENDED when
    its market goes live. IMMEDIATE_OR_CANCEL never rests: its unfilled rest is cancelled
    with INSUFFICIENT_LIQUIDITY right after its fills. KEEP_IN_PLAY and GOOD_TILL_HALTED stay
    when the market goes live. Whatever its time in force, every live order of a market is
    cancelled with MARKET_HALTED when the market is halted, and with ADMIN_REQUESTED when
    it is settled or voided. Orders may be placed while a market is live.

Cancel-replace
    An unknown, foreign or done original -> order_cancel_replace_rejected TOO_LATE. A new
    price or quantity that is invalid -> order_invalid (the request's seq), and too little
    money for the new order (the original's liability counted as free) -> order_rejected
    INSUFFICIENT_FUNDS: the original stays in both cases. A market not trading ->
    MARKET_HALTED / MARKET_NOT_OPEN / MARKET_SETTLED, a self-cross -> CROSSED_SELF. Else
    order_pending_replace, then order_cancel_replace_accepted (``quantity_left`` is the new
    order's unfilled rest after matching), then the new order's fills. The original leaves
    the book with no order_cancelled; the new order has the same contract, side and time in
    force, a new id and a new place in the queue.

Money
    ``Decimal`` pounds; floats only in the protobuf fields. Trading moves no cash: it
    changes exposure (see `txsmarkets.exchange.accounts.Account`), so the sum of all
    balances is constant until settlement, which moves cash between winners and losers and
    keeps the sum. `settle_market` pays each of the winning contracts in full (exposure
    assumes exactly one winner; naming several is a dead heat paid in full, naming none
    makes every buyer lose its stake) and releases the market's exposure; `void_market`
    drops the market's matched bets as if never made.

Market data
    After each command (a `submit`, an operator call, `session_failed`), one
    contract_quotes per contract whose book or trades changed: the changed levels with
    their new totals (0 = gone), best first, the executions of the command (liquidity is
    the taker's side) and ``last_execution``. `market_quotes` gives a full snapshot.
"""

from __future__ import annotations

import time
from collections import deque
from decimal import Decimal
from collections.abc import Iterator
from typing import Any, Callable

from twisted.logger import Logger

from txsmarkets.exchange.accounts import Account, AccountRegistry, MarketPosition
from txsmarkets.exchange.amend import OrderAmendments
from txsmarkets.exchange.answers import EngineAnswers, _set_execution
from txsmarkets.exchange.book import BUY, SELL, Book, Order
from txsmarkets.exchange.catalogue import Catalogue
from txsmarkets.exchange.market import (
    _CANCELLED_LIQUIDITY,
    _CANCELLED_MEMBER,
    _CREATE_STATE_REJECTS,
    _IOC,
    _P_CONTRACT_QUOTES,
    _TRADING,
    _UINT32_MAX,
    _ZERO,
    MarketInfo,
    UnknownAccount,
    UnknownMarket,
    _available,
    _liability,
    _Market,
    _noop,
    _Payload,
    _set_money,
)
from txsmarkets.exchange.operator import MarketOperator
from txsmarkets.exchange.requests import invalid_reasons, request_error
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["MarketInfo", "MatchingEngine", "UnknownAccount", "UnknownMarket"]

log = Logger()


class MatchingEngine(MarketOperator, OrderAmendments, EngineAnswers):
    """An in-process exchange for the markets and accounts of a `Catalogue`.

    See the module docstring for the rules. ``on_account`` and ``on_market`` are the
    listeners (no-ops until set); ``accounts`` is the `AccountRegistry`; `submit` takes
    the accounts' messages and the rest is the operator's API. Orders that are done are
    remembered (to answer NOT_LIVE rather than NOT_FOUND) up to ``done_orders_kept``.
    Order ids count up from ``first_order_id`` (above 2**53 to test that clients keep them
    exact; at most 2**64 - 1, the wire's uint64).
    """

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        now: Callable[[], float] = time.time,
        account_log_size: int = 100_000,
        done_orders_kept: int = 100_000,
        first_order_id: int = 1,
    ) -> None:
        self.on_account: Callable[[int, seto_pb2.Payload], None] = _noop
        self.on_market: Callable[[int, seto_pb2.Payload], None] = _noop
        #: Whether anyone listens to a market's contract_quotes: none are built for a market
        #: nobody watches (the server sets it; by default every market is watched).
        self.market_watched: Callable[[int], bool] = lambda market_id: True
        self.catalogue = catalogue
        self._now = now
        self.accounts = AccountRegistry(log_size=account_log_size)
        for spec in catalogue.accounts:
            self.accounts.add_credentials(spec.username, spec.credentials, spec.balance)
        self._markets: dict[int, _Market] = {}
        self._event_markets: dict[int, list[int]] = {}
        for event in catalogue.events:
            self._event_markets[event.id] = [market.id for market in event.markets]
            for market in event.markets:
                self._markets[market.id] = _Market(
                    market.id, market.name, event.id, market.state, market.contracts
                )
        self._books = {
            contract_id: book
            for market in self._markets.values()
            for contract_id, book in market.books.items()
        }
        #: Messages an order_cancel_all may produce in one go; the rest wait for
        #: `continue_work` (None: all at once, the default; the server sets it).
        self.answer_chunk: int | None = None
        # Per account, the unfinished cancel-alls: their orders still to go through.
        self._work: dict[int, list[Iterator[Order]]] = {}
        self._orders: dict[int, Order] = {}
        self._done: dict[int, Order] = {}
        self._done_ids: deque[int] = deque()
        self._done_kept = done_orders_kept
        if not 1 <= first_order_id < 2**64:
            raise ValueError(f"the first order id must be in 1..2**64 - 1, not {first_order_id!r}")
        self._next_order_id = first_order_id
        # Per command: books to publish, in order of first change, and their executions.
        self._touched: dict[Book, None] = {}
        self._executions: dict[int, list[tuple[int, int, int, int]]] = {}
        self._last_execution: dict[int, tuple[int, int, int, int]] = {}
        self._handlers: dict[int, Callable[[Account, seto_pb2.Payload], None]] = {
            seto_pb2.PAYLOAD_ORDER_CREATE: self._order_create,
            seto_pb2.PAYLOAD_ORDER_CANCEL: self._order_cancel,
            seto_pb2.PAYLOAD_ORDER_CANCEL_ALL: self._order_cancel_all,
            seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE: self._order_quantity_reduce,
            seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE: self._order_cancel_replace,
            seto_pb2.PAYLOAD_SETTINGS: self._settings,
        }

    # Queries

    def market(self, market_id: int) -> MarketInfo | None:
        """The market's catalogue entry and current state, or None for an unknown id."""
        market = self._markets.get(market_id)
        if market is None:
            return None
        return MarketInfo(
            market.id, market.name, market.event_id, market.state, market.contracts, market.winners
        )

    def market_ids(self) -> list[int]:
        """Every market's id, in catalogue order."""
        return list(self._markets)

    def event_markets(self, event_id: int) -> list[int]:
        """The ids of the event's markets ([] for an unknown event)."""
        return list(self._event_markets.get(event_id, ()))

    def order(self, order_id: int) -> Order | None:
        """A live order, or a remembered done one, by id; None if unknown. Do not change it."""
        return self._orders.get(order_id) or self._done.get(order_id)

    def last_execution(self, contract_id: int) -> tuple[int, int, int, int] | None:
        """The contract's last trade as ``(price, quantity, taker's side, microseconds since
        the epoch)``, or None if it has had none (or is unknown)."""
        return self._last_execution.get(contract_id)

    def market_volume(self, market_id: int) -> tuple[int, int] | None:
        """``(quantity, value)`` traded in the market so far: the sum of the trades'
        quantities and of their price x quantity (voided trades taken out); None for an
        unknown market."""
        market = self._markets.get(market_id)
        if market is None:
            return None
        return market.executed_volume, market.executed_value

    def book(self, contract_id: int) -> Book | None:
        """The order book of a contract, or None. For reading only."""
        return self._books.get(contract_id)

    def market_quotes(self, market_id: int) -> seto_pb2.Payload | None:
        """A ``market_quotes`` payload: every contract's bid and offer levels, best first,
        with the market's executed volume; None for an unknown market."""
        market = self._markets.get(market_id)
        if market is None:
            return None
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_QUOTES)
        quotes = payload.market_quotes
        quotes.market_id = market_id
        quotes.executed_volume = market.executed_volume
        for contract_id, book in market.books.items():
            contract = quotes.contract_quotes.add()
            contract.market_id = market_id
            contract.contract_id = contract_id
            for price, total in book.depth(BUY):
                contract.bids.add(price=price, quantity=total)
            for price, total in book.depth(SELL):
                contract.offers.add(price=price, quantity=total)
            last = self._last_execution.get(contract_id)
            if last is not None:
                _set_execution(contract.last_execution, last)
        return payload

    def account_messages_since(
        self, account_id: int, account_sequence: int
    ) -> list[seto_pb2.Payload]:
        """Fresh copies of the account-stream messages numbered after `account_sequence`.

        Only the last ``account_log_size`` messages are kept: past that bound the older
        ones are gone and the list starts at the oldest kept, with no error; compare
        ``account_sequence + 1`` with `account_log_start` to tell. UnknownAccount for an
        unknown account.
        """
        account = self._account(account_id)
        log_ = account.log
        if not log_:
            return []
        skip = max(0, account_sequence - log_[0][0] + 1)
        result = []
        for index in range(skip, len(log_)):
            result.append(_Payload.FromString(log_[index][1]))
        return result

    def account_log_start(self, account_id: int) -> int:
        """The oldest account sequence still held for resuming (next one if none is held)."""
        account = self._account(account_id)
        return account.log[0][0] if account.log else account.sequence + 1

    def _account(self, account_id: int) -> Account:
        account = self.accounts.get(account_id)
        if account is None:
            raise UnknownAccount(f"no account {account_id!r}")
        return account

    # Commands from sessions

    def submit(self, account_id: int, payload: seto_pb2.Payload) -> str | None:
        """Handle one application message of a logged-in account; never raises.

        Order messages and settings are answered through ``on_account``; other payload
        types (subscriptions are the session's business) are logged and ignored. A request
        with a required field missing or an enum value unknown that has no reason of its
        own (see `txsmarkets.exchange.requests`) is not acted on: what is wrong with it is
        returned, for the session to treat as a protocol error. Otherwise returns None.
        """
        try:
            account = self.accounts.get(account_id)
            if account is None:
                log.warn(
                    "ignoring a message from unknown account {account_id!r}",
                    account_id=account_id,
                )
                return None
            handler = self._handlers.get(payload.type)
            if handler is None:
                log.warn(
                    "ignoring payload type {type!r} from account {account_id}",
                    type=payload.type,
                    account_id=account_id,
                )
                return None
            error = request_error(payload)
            if error is not None:
                log.warn("refusing a request from account {account_id}: {error}", account_id=account_id, error=error)
                return error
            handler(account, payload)
        except Exception:
            log.failure(
                "matching engine failed on a message from account {account_id!r}",
                account_id=account_id,
            )
        finally:
            if self._touched:
                self._publish()
        return None

    def reject_order(
        self, account_id: int, payload: seto_pb2.Payload, reason: seto_pb2.OrderRejectedReason
    ) -> None:
        """Answer an order_create the session would not hand on (over the throttle, say)
        with ``order_rejected`` ``reason``, in the account stream. UnknownAccount for an
        unknown id."""
        account = self._account(account_id)
        create = payload.order_create
        reference = create.reference if create.HasField("reference") else None
        label = create.label if create.HasField("label") else None
        self._order_rejected(account, payload.eto_payload.seq, reason, reference, label)

    def session_failed(self, account_id: int) -> None:
        """The account's session died: cancel its live orders if its settings say so.

        The order_cancelled messages (MEMBER_REQUESTED) go to ``on_account`` like any
        others, for the next session to deliver. UnknownAccount for an unknown id.
        """
        account = self._account(account_id)
        if account.cancel_all_on_failure:
            for order in list(account.orders.values()):
                self._cancel(account, order, _CANCELLED_MEMBER)
            self._publish()

    # Operator API

    # -- Operator hooks for simulated markets (issue 15) --

    def announce(self, market_id: int, payload: seto_pb2.Payload) -> None:
        """Send a market-level message (a ``runningball_notification``, say) to the
        market's listeners as it is. UnknownMarket for an unknown id."""
        self._market(market_id)
        self._broadcast(market_id, payload)

    def void_execution(self, order_id: int, other_order_id: int, price: int, quantity: int) -> None:
        """Void one trade: ``quantity`` at ``price`` between two orders (as both sides'
        ``order_executed`` named it). Each side's fills and position lose it and each
        account gets an ``order_execute_voided``; the voided quantity is not offered again.
        ValueError when the two orders cannot have made that trade."""
        orders = [self._orders.get(i) or self._done.get(i) for i in (order_id, other_order_id)]
        first, second = orders
        if first is None or second is None:
            raise ValueError(f"no orders {order_id!r} and {other_order_id!r} to void a trade of")
        if (first.contract_id != second.contract_id or first.side == second.side or quantity <= 0
                or min(first.executed, second.executed) < quantity):
            raise ValueError(f"orders {order_id} and {other_order_id} made no trade of {quantity}")
        market = self._market(first.market_id)
        market.executed_volume -= quantity
        market.executed_value -= price * quantity
        for order in (first, second):
            account = self.accounts[order.account_id]
            order.executed -= quantity
            order.executed_value -= price * quantity
            position = account.positions.get(order.market_id)
            if position is not None:
                position.add(order.contract_id, order.side == BUY, price, -quantity)
                account.set_position_exposure(order.market_id, position.worst_case_loss())
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
            self._send(account, payload, body)

    # -- end of the operator hooks for simulated markets --

    def _order_create(self, account: Account, payload: seto_pb2.Payload) -> None:
        create = payload.order_create
        seq = payload.eto_payload.seq
        reference = create.reference if create.HasField("reference") else None
        label = create.label if create.HasField("label") else None
        price = create.price
        quantity = create.quantity
        reasons = invalid_reasons(create)
        if reasons:
            self._order_invalid(account, seq, reference, reasons)
            return
        market = self._markets.get(create.market_id)
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
            order = self._open_order(
                account, book, side, price, quantity, create.tif, reference, label, liability
            )
            self._order_accepted(account, order, seq)
            self._execute(account, order, market, book)
            return
        self._order_rejected(account, seq, reason, reference, label)

    def _open_order(
        self,
        account: Account,
        book: Book,
        side: int,
        price: int,
        quantity: int,
        tif: int,
        reference: int | None,
        label: str | None,
        liability: Decimal,
    ) -> Order:
        order_id = self._next_order_id
        self._next_order_id = order_id + 1
        order = Order(
            order_id,
            account.id,
            book.market_id,
            book.contract_id,
            side,
            price,
            quantity,
            tif,
            reference,
            label,
            liability,
        )
        self._orders[order_id] = order
        account.orders[order_id] = order
        account.order_liability += liability
        return order

    def _execute(self, account: Account, order: Order, market: _Market, book: Book) -> None:
        """Match a new order, then rest it, or cancel its rest if it is immediate-or-cancel."""
        if order.side == BUY:
            best = book.offers.keys
            crosses = best and -best[-1] <= order.price
        else:
            best = book.bids.keys
            crosses = best and best[-1] >= order.price
        if crosses:
            self._touched[book] = None
            for maker, quantity, price in book.match(order):
                self._fill(account, order, maker, quantity, price, market, book)
        if not order.remaining:
            self._retire(account, order)
        elif order.tif == _IOC:
            self._cancel(account, order, _CANCELLED_LIQUIDITY)
        else:
            book.add(order)
            self._touched[book] = None

    def _fill(
        self,
        taker_account: Account,
        taker: Order,
        maker: Order,
        quantity: int,
        price: int,
        market: _Market,
        book: Book,
    ) -> None:
        maker_account = self.accounts[maker.account_id]
        value = price * quantity
        market_id = market.id
        for account, order in ((taker_account, taker), (maker_account, maker)):
            order.executed += quantity
            order.executed_value += value
            liability = _liability(order.side, order.price, order.remaining)
            account.order_liability += liability - order.liability
            order.liability = liability
            position = account.positions.get(market_id)
            if position is None:
                position = account.positions[market_id] = MarketPosition(market.books)
            position.add(order.contract_id, order.side == BUY, price, quantity)
            account.set_position_exposure(market_id, position.worst_case_loss())
            market.matched[order.id] = order
        market.executed_volume += quantity
        market.executed_value += value
        if not maker.remaining:
            self._retire(maker_account, maker)
        execution = (price, quantity, taker.side, int(self._now() * 1_000_000))
        executions = self._executions.get(book.contract_id)
        if executions is None:
            self._executions[book.contract_id] = [execution]
        else:
            executions.append(execution)
        self._last_execution[book.contract_id] = execution
        self._order_executed(taker_account, taker, quantity, price)
        self._order_executed(maker_account, maker, quantity, price)

    def _retire(self, account: Account, order: Order) -> None:
        """The order is done: forget it as live, remember it for a while as done."""
        order.live = False
        del account.orders[order.id]
        del self._orders[order.id]
        self._done[order.id] = order
        done_ids = self._done_ids
        done_ids.append(order.id)
        if len(done_ids) > self._done_kept:
            del self._done[done_ids.popleft()]

    def _cancel(
        self,
        account: Account,
        order: Order,
        reason: seto_pb2.OrderCancelledReason,
        reference: int | None = None,
    ) -> None:
        if order.resting:
            book = self._markets[order.market_id].books[order.contract_id]
            book.remove(order)
            self._touched[book] = None
        account.order_liability -= order.liability
        order.liability = _ZERO
        self._retire(account, order)
        self._order_cancelled(account, order, reason, reference)

    def _find(self, account: Account, order_id: int) -> tuple[Order | None, bool]:
        """``(order, live)`` for one of the account's orders; (None, False) if not found."""
        order = self._orders.get(order_id)
        if order is not None:
            return (order, True) if order.account_id == account.id else (None, False)
        order = self._done.get(order_id)
        if order is not None and order.account_id == account.id:
            return order, False
        return None, False

    def _send(self, account: Account, payload: seto_pb2.Payload, body: Any) -> None:
        """Number an account-stream message, log it and hand it to ``on_account``."""
        sequence = account.sequence = account.sequence + 1
        body.account_sequence_64 = sequence
        if sequence <= _UINT32_MAX:
            body.account_sequence = sequence
        account.log.append((sequence, payload.SerializeToString()))
        self._deliver(account.id, payload)

    def _send_unnumbered(self, account: Account, payload: seto_pb2.Payload) -> None:
        """`_send` for a message with no account sequence field: it still takes a number."""
        sequence = account.sequence = account.sequence + 1
        account.log.append((sequence, payload.SerializeToString()))
        self._deliver(account.id, payload)

    def _deliver(self, account_id: int, payload: seto_pb2.Payload) -> None:
        # A failing listener must not leave a command half done.
        try:
            self.on_account(account_id, payload)
        except Exception:
            log.failure("on_account listener failed for account {id}", id=account_id)

    def _broadcast(self, market_id: int, payload: seto_pb2.Payload) -> None:
        try:
            self.on_market(market_id, payload)
        except Exception:
            log.failure("on_market listener failed for market {id}", id=market_id)

    def _publish(self) -> None:
        """Send the market data of the command: a contract_quotes per changed contract."""
        touched = self._touched
        self._touched = {}
        executions = self._executions
        self._executions = {}
        watched = self.market_watched
        for book in touched:
            bids, offers = book.take_changes()
            trades = executions.get(book.contract_id)
            if not (bids or offers or trades) or not watched(book.market_id):
                continue
            payload = new_payload(_P_CONTRACT_QUOTES)
            quotes = payload.contract_quotes
            quotes.market_id = book.market_id
            quotes.contract_id = book.contract_id
            for price, total in bids:
                quote = quotes.bids.add()
                quote.price = price
                quote.quantity = total
            for price, total in offers:
                quote = quotes.offers.add()
                quote.price = price
                quote.quantity = total
            if trades:
                for trade in trades:
                    _set_execution(quotes.executions.add(), trade)
            last = self._last_execution.get(book.contract_id)
            if last is not None:
                _set_execution(quotes.last_execution, last)
            self._broadcast(book.market_id, payload)

