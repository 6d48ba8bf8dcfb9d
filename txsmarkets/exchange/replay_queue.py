"""`ContractQueue`: the bookkeeping of the replay's queue model for one contract (see
`txsmarkets.exchange.replay` for the model).

The recorded book stands in the engine as the orders of the replay's book account. Per price
level the queue keeps the quantity the recording shows, what users took of it and the
replay's orders there (with the quantity they rest, as the queue last left them), and
brings the level's orders to what the recording says when a record changes it.

Nearly every record changes one level of a book that holds the replay's order there as the
queue left it (or none): such a level is handled in place, at the cost of that order alone,
and anything else (users' orders in the way, quantity taken, a level crossing the book,
several levels at once) by the general path. Both leave the engine in the same state and
take the same order ids.
"""

from __future__ import annotations

from txsmarkets.exchange.accounts import Account
from txsmarkets.exchange.book import BUY, SELL, Book, Level, Order
from txsmarkets.exchange.market import _TRADING, _ZERO, _Market
from txsmarkets.exchange.market_data import MarketData
from txsmarkets.exchange.state import EngineState
from txsmarkets.wire import seto_pb2

__all__ = ["ContractQueue", "Key"]

#: A price level of the book: its price for the bids, ``~price`` (below 0) for the offers.
#: An int, not a (side, price) tuple: it is made and hashed a few times a record.
Key = int

_KIP = seto_pb2.KEEP_IN_PLAY
_IOC = seto_pb2.IMMEDIATE_OR_CANCEL


class ContractQueue:
    """The replay's view of one contract's book, and the steps that keep the engine's book
    as the recording says.

    ``recorded``: the quantity the recording shows per level; ``taken``: what users took
    of it; ``offered``: what the replay's orders rest there (as the replay last left
    them); ``orders``: those orders, oldest first. The replay's orders belong to
    ``book_account``; its recorded trades are taken by orders of ``trades_account``.
    """

    __slots__ = (
        "market",
        "book",
        "state",
        "market_data",
        "book_account",
        "trades_account",
        "recorded",
        "taken",
        "offered",
        "orders",
    )

    def __init__(
        self,
        market: _Market,
        book: Book,
        state: EngineState,
        market_data: MarketData,
        book_account: Account,
        trades_account: Account,
    ) -> None:
        self.market = market
        self.book = book
        self.state = state
        self.market_data = market_data
        self.book_account = book_account
        self.trades_account = trades_account
        self.recorded: dict[Key, int] = {}
        self.taken: dict[Key, int] = {}
        self.offered: dict[Key, int] = {}
        self.orders: dict[Key, list[Order]] = {}

    # -- records --

    def quotes(self, quotes: seto_pb2.ContractQuotes) -> None:
        """Play a recorded contract_quotes (an update, not a snapshot's)."""
        # Reading a recorded message's fields is much of the replay's cost: each is read
        # once, and a repeated field is only walked when it holds something.
        trading = self.market.state in _TRADING
        if trading:
            executions = quotes.executions
            if executions:
                for execution in executions:
                    self.execution(execution)
        # Nearly every record changes one level: it is read without a loop.
        bids = quotes.bids
        if bids:
            if len(bids) != 1 or quotes.offers:
                self._levels(quotes, trading)
                return
            quote = bids[0]
            side = BUY
            price = quote.price
            key = price
        else:
            offers = quotes.offers
            if len(offers) != 1:
                if offers:
                    self._levels(quotes, trading)
                return
            quote = offers[0]
            side = SELL
            price = quote.price
            key = ~price
        target = quote.quantity
        if target:
            self.recorded[key] = target
        else:
            self.recorded.pop(key, None)
        if not trading:
            return
        # `reconcile` of one level, in line for the usual cases: the level holds no order
        # of the replay's, or one order as the replay left it; and users took nothing there.
        taken = self.taken
        if not taken or key not in taken:
            orders = self.orders.get(key)
            if orders is None:
                if key not in self.offered:
                    if target:
                        book = self.book
                        # A new order at the back of the level, unless it reaches the other
                        # side of the book (which the recorded book seldom does).
                        if side == BUY:
                            opposite = book.offers.keys
                            crosses = opposite and -opposite[-1] <= price
                        else:
                            opposite = book.bids.keys
                            crosses = opposite and opposite[-1] >= price
                        if crosses:
                            self.grow(key, target)
                            return
                        order = self.state.open_order(
                            self.book_account, book, side, price, target, _KIP, None, None, _ZERO
                        )
                        self.market_data.touched[book] = None
                        book.add(order)
                        self.orders[key] = [order]
                        self.offered[key] = target
                    return
            elif len(orders) == 1:
                only = orders[0]
                current = only.remaining
                if only.resting and self.offered.get(key) == current:
                    if target == current:
                        return
                    book = self.book
                    if not target:
                        # The level's recorded quantity is gone: so is the order (`forget`
                        # in line).
                        self.market_data.touched[book] = None
                        book.remove(only)
                        only.live = False
                        self.state.orders.pop(only.id, None)
                        self.book_account.orders.pop(only.id, None)
                        del self.orders[key]
                        del self.offered[key]
                        return
                    if target < current:
                        book.reduce(only, target)
                        self.offered[key] = target
                        self.market_data.touched[book] = None
                        return
                    # Only the back of the level grows in place: quantity arriving queues last.
                    level = (book.bids if side == BUY else book.offers).levels.get(price)
                    if level is not None and level.orders[-1] is only:
                        book.reduce(only, target)
                        if target > only.quantity:
                            only.quantity = target
                        self.offered[key] = target
                        self.market_data.touched[book] = None
                        return
        self.reconcile([key])

    def _levels(self, quotes: seto_pb2.ContractQuotes, trading: bool) -> None:
        # A record of several levels: each one's recorded quantity, then all of them
        # reconciled together.
        recorded = self.recorded
        changed = _quoted_levels(quotes)
        for key, quantity in changed:
            if quantity:
                recorded[key] = quantity
            else:
                recorded.pop(key, None)
        if trading:
            self.reconcile([key for key, _ in changed])

    def snapshot(self, quotes: seto_pb2.ContractQuotes) -> None:
        """Play a contract's quotes from a recorded market_quotes: the levels it leaves out
        have no recorded quantity."""
        recorded = self.recorded
        changed: list[Key] = list(recorded)
        recorded.clear()
        for key, quantity in _quoted_levels(quotes):
            if quantity:
                recorded[key] = quantity
            changed.append(key)
        if self.market.state in _TRADING:
            self.reconcile(changed)

    def clear(self) -> None:
        """The recording shows no quantity at any level (a snapshot left the contract out)."""
        if self.recorded:
            changed = list(self.recorded)
            self.recorded.clear()
            if self.market.state in _TRADING:
                self.reconcile(changed)

    # -- the queue model --

    def sync(self, key: Key) -> int:
        """What the replay rests at ``key`` now; what users took since it was set goes
        into ``taken``."""
        orders = self.orders.get(key)
        current = 0
        if orders is None:
            pass
        elif len(orders) == 1:
            # The usual case: one order holds the level's recorded quantity.
            order = orders[0]
            if order.resting:
                current = order.remaining
            else:
                del self.orders[key]
        else:
            live = [order for order in orders if order.resting]
            if len(live) != len(orders):
                if live:
                    self.orders[key] = live
                else:
                    del self.orders[key]
            for order in live:
                current += order.remaining
        offered = self.offered.get(key, 0)
        if current != offered:
            if current < offered:
                self.taken[key] = self.taken.get(key, 0) + offered - current
            if current:
                self.offered[key] = current
            else:
                del self.offered[key]
        return current

    def reconcile(self, keys: list[Key]) -> None:
        """Bring the replay's orders at ``keys`` to the recorded quantity less what users
        took there."""
        # Quantity leaves before any arrives, so that the replay's own orders never cross.
        targets = None
        recorded_ = self.recorded
        orders_ = self.orders
        offered_ = self.offered
        sync = self.sync
        for key in dict.fromkeys(keys) if len(keys) > 2 else keys:
            # `sync` in line for the usual levels, where nothing has changed since the
            # replay set them: no order of its own, or one order as it was left.
            orders = orders_.get(key)
            if orders is None:
                current = sync(key) if key in offered_ else 0
            elif len(orders) == 1 and (only := orders[0]).resting and offered_.get(key) == only.remaining:
                current = only.remaining
            else:
                current = sync(key)
            target = recorded_.get(key, 0)
            taken_ = self.taken
            if taken_:
                taken = taken_.get(key, 0)
                if taken > target:
                    taken = target
                    if taken:
                        taken_[key] = taken
                    else:
                        taken_.pop(key, None)
                target -= taken
            if target < current:
                self.shrink(key, current - target)
            elif target > current:
                if targets is None:
                    targets = [(key, target - current)]
                else:
                    targets.append((key, target - current))
        if targets is not None:
            for key, more in targets:
                self.grow(key, more)

    def shrink(self, key: Key, less: int) -> None:
        """Take ``less`` off the replay's orders at ``key``, newest first."""
        orders = self.orders[key]
        book = self.book
        self.market_data.touched[book] = None
        while less:
            order = orders[-1]
            if order.remaining > less:
                book.reduce(order, order.remaining - less)
                less = 0
            else:
                less -= order.remaining
                book.remove(order)
                orders.pop()
                self.forget(order)
        if len(orders) == 1:
            self.offered[key] = orders[0].remaining
        elif orders:
            self.offered[key] = sum(order.remaining for order in orders)
        else:
            del self.orders[key]
            self.offered.pop(key, None)

    def grow(self, key: Key, more: int) -> None:
        """Add ``more`` at ``key``: to the replay's last order if it is the back of the
        level, else as a new order at the back (filling the user orders it crosses)."""
        side, price = (BUY, key) if key >= 0 else (SELL, ~key)
        book = self.book
        orders = self.orders.get(key)
        if orders:
            level = (book.bids if side == BUY else book.offers).levels.get(price)
            last = orders[-1]
            if level is not None and (level.orders[-1] is last and last.resting or _back(level) is last):
                book.reduce(last, last.remaining + more)
                last.quantity = max(last.quantity, last.remaining)
                self.offered[key] = self.offered.get(key, 0) + more
                self.market_data.touched[book] = None
                return
        order = self.state.open_order(self.book_account, book, side, price, more, _KIP, None, None, _ZERO)
        self.market_data.touched[book] = None
        # Swept only when it reaches the other side (as the recorded book seldom does).
        opposite = book.offers.keys if side == BUY else book.bids.keys
        crossed = 0
        if opposite and (-opposite[-1] <= price if side == BUY else opposite[-1] >= price):
            crossed = self.sweep(order)
        if crossed:
            self.taken[key] = self.taken.get(key, 0) + crossed
        if order.remaining:
            book.add(order)
            self.orders.setdefault(key, []).append(order)
            self.offered[key] = self.offered.get(key, 0) + order.remaining
        else:
            self.forget(order)

    def execution(self, execution: seto_pb2.Execution) -> None:
        """A recorded trade: it uses up what users took at its price first, then trades
        the level's queue from the front (the users' orders in it being filled)."""
        taker_side = execution.liquidity
        price = execution.price
        quantity = execution.quantity
        # The resting side is the taker's other side.
        key = ~price if taker_side == BUY else price
        self.sync(key)
        taken = self.taken.get(key, 0)
        absorbed = min(quantity, taken)
        if absorbed:
            if taken > absorbed:
                self.taken[key] = taken - absorbed
            else:
                del self.taken[key]
        left = quantity - absorbed
        filled = 0
        book = self.book
        if left:
            taker = Order(
                self.state.take_order_id(), self.trades_account.id, self.market.id, book.contract_id,
                taker_side, price, left, _IOC,
            )
            self.market_data.touched[book] = None
            filled = self.sweep(taker)
        rest = quantity - filled
        if rest:
            # Touched even if it only used up what users took: else it could be dropped.
            self.market_data.touched[book] = None
            self.market_data.trade(book, price, rest, taker_side)

    def sweep(self, taker: Order) -> int:
        """Trade ``taker`` (a replay order) through the book: the replay's own resting
        orders it meets are used up without a trade, the users' are filled by the real
        engine. Returns the quantity the users' orders filled."""
        state = self.state
        book = self.book
        market = self.market
        book_id = self.book_account.id
        taker_account = self.book_account if taker.account_id == book_id else self.trades_account
        filled = 0
        for maker, quantity, price in book.match(taker):
            if maker.account_id == book_id:
                key = price if maker.side == BUY else ~price
                offered = self.offered.get(key, 0) - quantity
                if offered > 0:
                    self.offered[key] = offered
                else:
                    self.offered.pop(key, None)
                if not maker.remaining:
                    self.forget(maker)
            else:
                state.fill(taker_account, taker, maker, quantity, price, market, book)
                filled += quantity
        return filled

    def forget(self, order: Order) -> None:
        """A replay order is done: it is not kept as a done order (memory stays flat)."""
        order.live = False
        order.resting = False
        self.state.orders.pop(order.id, None)
        self.book_account.orders.pop(order.id, None)

    # -- market states --

    def settle_levels(self) -> None:
        """Before the market's state changes: what users took is noted, level by level."""
        for key in list(self.offered):
            self.sync(key)

    def after_state_change(self) -> None:
        """After the market's state changed: the orders the engine cancelled (a halt cancels
        the replay's with the users') are dropped, and if the market trades, every level is
        brought back to the recording."""
        orders_ = self.orders
        for key in list(orders_):
            live = [order for order in orders_[key] if order.resting]
            if live:
                orders_[key] = live
                self.offered[key] = sum(order.remaining for order in live)
            else:
                del orders_[key]
                self.offered.pop(key, None)
        if self.market.state in _TRADING:
            self.reconcile(list(self.recorded) + list(self.offered))


def _quoted_levels(quotes: seto_pb2.ContractQuotes) -> list[tuple[Key, int]]:
    """The levels of a recorded contract_quotes, as ``(key, recorded quantity)``: the bids,
    then the offers."""
    levels = []
    bids = quotes.bids
    if bids:
        for quote in bids:
            levels.append((quote.price, quote.quantity))
    offers = quotes.offers
    if offers:
        for quote in offers:
            levels.append((~quote.price, quote.quantity))
    return levels


def _back(level: Level) -> Order | None:
    """The last resting order of a price level."""
    for order in reversed(level.orders):
        if order.resting:
            return order
    return None
