"""What the engine's parts share: the markets with their books, the orders, and the steps
that change them (open an order, match it, fill, retire, cancel)."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from txsmarkets.exchange.accounts import Account, AccountRegistry, MarketPosition
from txsmarkets.exchange.answers import EngineAnswers
from txsmarkets.exchange.book import BUY, Book, Order
from txsmarkets.exchange.market import _CANCELLED_LIQUIDITY, _FINAL, _IOC, _ZERO, UnknownMarket, _liability, _Market
from txsmarkets.exchange.market_data import MarketData
from txsmarkets.wire import seto_pb2

__all__ = ["EngineState"]


class EngineState:
    """The ``markets`` and the orders in them (a part of `MatchingEngine`).

    ``markets`` (by id) and ``books`` (by contract id) hold the running state; ``orders`` the live
    orders by id. Order ids count up from ``first_order_id``. The steps tell the accounts
    through ``answers`` and note changed books and trades in ``market_data``.

    Done orders are remembered, for `order` and `find` (a cancel of one is NOT_LIVE rather
    than NOT_FOUND, and the HTTP API lists them: its activity ledger keeps an order exactly
    as long as this does). This is the one place that rule lives:

    - an order done with fills is remembered while its market is neither settled nor
      voided. Its market's ``matched`` holds it until then anyway (to void its bets), so
      this costs an index entry, not an order; an account's open positions stay listed
      however many other orders it, or anyone, finishes.
    - any other done order (none of it filled, or its market settled or voided since) is
      remembered among the last ``done_orders_kept`` such orders of its account: per
      account, so that one account's flood of immediate-or-cancel orders cannot push out
      another's recently settled bets, and so that an account's memory is bounded by its
      own activity (at most ``done_orders_kept`` orders, like its message log).

    The accounts nobody logs in to (not ``attended``: simulated traders, a replay's) are
    not held to the first rule, and share one queue of ``done_orders_kept`` for all their
    done orders, as every account did before: nobody lists or cancels their old orders,
    there may be many such accounts, and they trade without end.
    """

    def __init__(
        self,
        markets: dict[int, _Market],
        accounts: AccountRegistry,
        answers: EngineAnswers,
        market_data: MarketData,
        *,
        done_orders_kept: int = 100_000,
        first_order_id: int = 1,
    ) -> None:
        if not 1 <= first_order_id < 2**64:
            raise ValueError(f"the first order id must be in 1..2**64 - 1, not {first_order_id!r}")
        self.markets = markets
        self.books: dict[int, Book] = {
            contract_id: book for market in markets.values() for contract_id, book in market.books.items()
        }
        self.accounts = accounts
        self.market_data = market_data
        self._answers = answers
        #: The live orders, by id.
        self.orders: dict[int, Order] = {}
        #: The id the next order takes.
        self.next_order_id = first_order_id
        #: Every remembered done order, by id.
        self._done: dict[int, Order] = {}
        # The done orders not held by an open market, oldest first: per attended account
        # id, and under None for the unattended ones.
        self._done_ids: dict[int | None, deque[int]] = {}
        self._done_kept = done_orders_kept

    def market(self, market_id: int) -> _Market:
        """The running state of a market; UnknownMarket for an unknown id."""
        market = self.markets.get(market_id)
        if market is None:
            raise UnknownMarket(f"no market {market_id!r}")
        return market

    def order(self, order_id: int) -> Order | None:
        """A live order, or a remembered done one, by id; None if unknown."""
        return self.orders.get(order_id) or self._done.get(order_id)

    def find(self, account: Account, order_id: int) -> tuple[Order | None, bool]:
        """``(order, live)`` for one of the account's orders; (None, False) if not found."""
        order = self.orders.get(order_id)
        if order is not None:
            return (order, True) if order.account_id == account.id else (None, False)
        order = self._done.get(order_id)
        if order is not None and order.account_id == account.id:
            return order, False
        return None, False

    def take_order_id(self) -> int:
        """A new order's id."""
        order_id = self.next_order_id
        self.next_order_id = order_id + 1
        return order_id

    def open_order(
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
        """A new live order of ``account`` in ``book`` (not matched nor resting yet), its
        ``liability`` held; see `execute`."""
        order = Order(
            self.take_order_id(),
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
        self.orders[order.id] = order
        account.orders[order.id] = order
        account.order_liability += liability
        return order

    def execute(self, account: Account, order: Order, market: _Market, book: Book) -> None:
        """Match a new order, then rest it, or cancel its rest if it is immediate-or-cancel."""
        if order.side == BUY:
            best = book.offers.keys
            crosses = best and -best[-1] <= order.price
        else:
            best = book.bids.keys
            crosses = best and best[-1] >= order.price
        touched = self.market_data.touched
        if crosses:
            touched[book] = None
            for maker, quantity, price in book.match(order):
                self.fill(account, order, maker, quantity, price, market, book)
        if not order.remaining:
            self.retire(account, order)
        elif order.tif == _IOC:
            self.cancel(account, order, _CANCELLED_LIQUIDITY)
        else:
            book.add(order)
            self.market_data.touched[book] = None

    def fill(
        self,
        taker_account: Account,
        taker: Order,
        maker: Order,
        quantity: int,
        price: int,
        market: _Market,
        book: Book,
    ) -> None:
        """One trade between ``taker`` and ``maker`` (already matched in ``book``): both
        orders, accounts and positions take it, and both accounts hear of it."""
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
        key = (taker.id, maker.id, price) if taker.id < maker.id else (maker.id, taker.id, price)
        market.trades[key] = market.trades.get(key, 0) + quantity
        if not maker.remaining:
            self.retire(maker_account, maker)
        self.market_data.trade(book, price, quantity, taker.side)
        answers = self._answers
        answers.order_executed(taker_account, taker, quantity, price)
        answers.order_executed(maker_account, maker, quantity, price)

    def retire(self, account: Account, order: Order) -> None:
        """The order is done: forget it as live, remember it for a while as done."""
        order.live = False
        del account.orders[order.id]
        del self.orders[order.id]
        self._done[order.id] = order
        if order.executed and account.attended and self.markets[order.market_id].state not in _FINAL:
            return  # held while its market is open: `market_final` queues it
        self._queue_done(account, order)

    def market_final(self, market: _Market) -> None:
        """The market is settled or voided, its bets paid or voided: its done orders with
        fills are no longer held by it, and take their place among their accounts'
        recently done ones. Clears the market's ``matched`` and its ``trades`` (no trade of
        it can be voided any more)."""
        for order in sorted(market.matched.values(), key=lambda o: o.id):
            account = self.accounts[order.account_id]
            if account.attended and not order.live and order.id in self._done:
                self._queue_done(account, order)
        market.matched.clear()
        market.trades.clear()

    def _queue_done(self, account: Account, order: Order) -> None:
        key = account.id if account.attended else None
        done_ids = self._done_ids.get(key)
        if done_ids is None:
            done_ids = self._done_ids[key] = deque()
        done_ids.append(order.id)
        if len(done_ids) > self._done_kept:
            del self._done[done_ids.popleft()]

    def take_off(self, account: Account, order: Order) -> None:
        """Take a live order out of its book and release its liability, and retire it."""
        if order.resting:
            book = self.markets[order.market_id].books[order.contract_id]
            book.remove(order)
            self.market_data.touched[book] = None
        account.order_liability -= order.liability
        order.liability = _ZERO
        self.retire(account, order)

    def cancel(
        self,
        account: Account,
        order: Order,
        reason: seto_pb2.OrderCancelledReason,
        reference: int | None = None,
    ) -> None:
        """Cancel a live order with ``reason``: `take_off`, and an order_cancelled."""
        self.take_off(account, order)
        self._answers.order_cancelled(account, order, reason, reference)
