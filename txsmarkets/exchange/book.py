"""The order book of one contract: resting orders in price-time priority, and matching.

Each side keeps a dict of price -> `Level` and a list of the prices, sorted with `bisect` so
that the best price is always the last item (bids by price, offers by minus the price):
best bid and offer are O(1), a new level costs one insertion into a list of at most the
ladder's 284 prices. A level holds its orders in a deque, oldest first, and the total of
their unfilled quantity.

Cancelling from the middle of a deque is O(n), so a removed order is only marked (its
``resting`` goes False) and skipped, then dropped when it reaches the front, when the level
empties, or when dead entries outnumber live ones and the level is compacted.

The book knows nothing of accounts or money: it moves quantities, and records which price
levels changed (`changed_bids`, ``changed_offers``) for the market data, until
`take_changes` is called.
"""

from __future__ import annotations

import bisect
from collections import deque
from decimal import Decimal
from typing import Iterator

__all__ = ["BUY", "SELL", "Book", "Level", "Order"]

#: The wire's ``seto.Side`` values.
BUY = 1
SELL = 2

_COMPACT_MIN_DEAD = 16


class Order:
    """An order on the exchange, live or done.

    ``quantity`` is what the order was created with, ``remaining`` its unfilled quantity
    (lowered by fills and reductions), ``executed`` and ``executed_value`` the sums of its
    fills' quantities and of their price x quantity. ``liability`` is the pounds its unfilled
    quantity risks. The book owns ``resting`` (whether it stands in a book); the engine owns
    ``live`` (whether it can still trade or be cancelled).
    """

    __slots__ = (
        "id",
        "account_id",
        "market_id",
        "contract_id",
        "side",
        "price",
        "quantity",
        "remaining",
        "executed",
        "executed_value",
        "tif",
        "reference",
        "label",
        "liability",
        "resting",
        "live",
    )

    def __init__(
        self,
        order_id: int,
        account_id: int,
        market_id: int,
        contract_id: int,
        side: int,
        price: int,
        quantity: int,
        tif: int = 1,
        reference: int | None = None,
        label: str | None = None,
        liability: Decimal = Decimal(0),
    ) -> None:
        self.id = order_id
        self.account_id = account_id
        self.market_id = market_id
        self.contract_id = contract_id
        self.side = side
        self.price = price
        self.quantity = quantity
        self.remaining = quantity
        self.executed = 0
        self.executed_value = 0
        self.tif = tif
        self.reference = reference
        self.label = label
        self.liability = liability
        self.resting = False
        self.live = True

    @property
    def executed_avg_price(self) -> int:
        """The quantity-weighted average price of the fills, to the nearest unit (0 if none)."""
        if not self.executed:
            return 0
        return (2 * self.executed_value + self.executed) // (2 * self.executed)

    def __repr__(self) -> str:
        side = "buy" if self.side == BUY else "sell"
        return (
            f"<Order {self.id} acct={self.account_id} {side} {self.remaining}/{self.quantity}"
            f" @{self.price} c={self.contract_id}{'' if self.live else ' done'}>"
        )


class Level:
    """The orders resting at one price on one side, oldest first."""

    __slots__ = ("price", "total", "count", "dead", "orders")

    def __init__(self, price: int) -> None:
        self.price = price
        #: Unfilled quantity of the resting orders.
        self.total = 0
        #: Resting orders in ``orders``; the other ``dead`` entries are removed ones.
        self.count = 0
        self.dead = 0
        self.orders: deque[Order] = deque()

    def live_orders(self) -> Iterator[Order]:
        """The resting orders, in time priority."""
        return (order for order in self.orders if order.resting)

    def compact(self) -> None:
        """Drop the entries of removed orders."""
        self.orders = deque(order for order in self.orders if order.resting)
        self.dead = 0

    def __repr__(self) -> str:
        return f"<Level {self.price} total={self.total} orders={self.count}>"


class _Side:
    """One side of a book: levels by price, and their sort keys with the best last."""

    __slots__ = ("levels", "keys", "sign")

    def __init__(self, sign: int) -> None:
        self.levels: dict[int, Level] = {}
        self.keys: list[int] = []
        # key = price * sign: bids keep +price (best = highest), offers -price (best = lowest).
        self.sign = sign

    def best(self) -> int | None:
        keys = self.keys
        return keys[-1] * self.sign if keys else None

    def drop_level(self, price: int) -> None:
        del self.levels[price]
        keys = self.keys
        key = price * self.sign
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect.bisect_left(keys, key)]

    def prices(self) -> Iterator[int]:
        """Prices best first."""
        sign = self.sign
        return (key * sign for key in reversed(self.keys))


class Book:
    """The bids and offers of one contract."""

    __slots__ = ("contract_id", "market_id", "bids", "offers", "changed_bids", "changed_offers")

    def __init__(self, contract_id: int, market_id: int = 0) -> None:
        self.contract_id = contract_id
        self.market_id = market_id
        self.bids = _Side(1)
        self.offers = _Side(-1)
        #: Prices whose level changed since the last `take_changes`.
        self.changed_bids: set[int] = set()
        self.changed_offers: set[int] = set()

    # Reading

    def best_bid(self) -> int | None:
        """The highest bid price, or None."""
        keys = self.bids.keys
        return keys[-1] if keys else None

    def best_offer(self) -> int | None:
        """The lowest offer price, or None."""
        keys = self.offers.keys
        return -keys[-1] if keys else None

    def _side(self, side: int) -> _Side:
        return self.bids if side == BUY else self.offers

    def level_total(self, side: int, price: int) -> int:
        """Unfilled quantity resting on ``side`` at ``price`` (0 if none)."""
        level = self._side(side).levels.get(price)
        return level.total if level is not None else 0

    def depth(self, side: int, limit: int | None = None) -> list[tuple[int, int]]:
        """``(price, total quantity)`` of ``side``'s levels, best first, at most ``limit``."""
        half = self._side(side)
        levels = half.levels
        result: list[tuple[int, int]] = []
        for price in half.prices():
            if limit is not None and len(result) >= limit:
                break
            result.append((price, levels[price].total))
        return result

    def orders(self, side: int) -> Iterator[Order]:
        """The resting orders of ``side`` in priority: best price first, then oldest."""
        half = self._side(side)
        for price in half.prices():
            yield from half.levels[price].live_orders()

    def __len__(self) -> int:
        return sum(level.count for level in self.bids.levels.values()) + sum(
            level.count for level in self.offers.levels.values()
        )

    # Changing

    def _changing(self, side: int, price: int) -> _Side:
        """The half of the book for ``side``, its level at ``price`` noted as changed."""
        if side == BUY:
            self.changed_bids.add(price)
            return self.bids
        self.changed_offers.add(price)
        return self.offers

    def add(self, order: Order) -> None:
        """Rest ``order`` (its ``remaining`` > 0) at the back of its price level."""
        price = order.price
        half = self._changing(order.side, price)
        level = half.levels.get(price)
        if level is None:
            level = half.levels[price] = Level(price)
            keys = half.keys
            key = price * half.sign
            if not keys or key > keys[-1]:
                keys.append(key)
            else:
                bisect.insort(keys, key)
        level.orders.append(order)
        level.total += order.remaining
        level.count += 1
        order.resting = True

    def remove(self, order: Order) -> None:
        """Take a resting ``order`` out of the book."""
        price = order.price
        half = self._changing(order.side, price)
        level = half.levels[price]
        order.resting = False
        level.total -= order.remaining
        level.count -= 1
        if not level.count:
            half.drop_level(price)
            return
        orders = level.orders
        # Create-then-cancel removes the newest; matching empties the front: both are cheap.
        if orders[-1] is order:
            orders.pop()
        elif orders[0] is order:
            orders.popleft()
        else:
            level.dead += 1
            if level.dead > _COMPACT_MIN_DEAD and level.dead > level.count:
                level.compact()
        while not orders[0].resting:
            orders.popleft()
            level.dead -= 1

    def reduce(self, order: Order, remaining: int) -> None:
        """Lower a resting ``order``'s unfilled quantity to ``remaining`` (> 0), keeping its place."""
        half = self.bids if order.side == BUY else self.offers
        (self.changed_bids if order.side == BUY else self.changed_offers).add(order.price)
        half.levels[order.price].total -= order.remaining - remaining
        order.remaining = remaining

    def crossing(self, side: int, price: int, quantity: int, account_id: int) -> tuple[int, bool]:
        """What an order would fill without changing anything: ``(quantity filled, crossed
        self)``; crossed self is True when it would reach one of ``account_id``'s own orders,
        and the quantity is then what it would fill before that order."""
        if side == BUY:
            half = self.offers
            keys = half.keys
            if not keys or -keys[-1] > price:
                return 0, False
        else:
            half = self.bids
            keys = half.keys
            if not keys or keys[-1] < price:
                return 0, False
        levels = half.levels
        sign = half.sign
        left = quantity
        for key in reversed(keys):
            level_price = key * sign
            if (level_price > price) if side == BUY else (level_price < price):
                break
            for order in levels[level_price].orders:
                if not order.resting:
                    continue
                if order.account_id == account_id:
                    return quantity - left, True
                left -= order.remaining
                if left <= 0:
                    return quantity, False
        return quantity - left, False

    def match(self, taker: Order) -> Iterator[tuple[Order, int, int]]:
        """Trade ``taker`` against the resting orders it crosses, best price then oldest first.

        Yields ``(maker, quantity, price)`` per fill, the price being the maker's, after
        lowering both orders' ``remaining``; a filled maker leaves the book. The taker is
        not added to the book. Check `crossing` first: self-trades are not prevented here.
        """
        limit = taker.price
        if taker.side == BUY:
            half = self.offers
            changed = self.changed_offers
        else:
            half = self.bids
            changed = self.changed_bids
        keys = half.keys
        levels = half.levels
        sign = half.sign
        is_buy = taker.side == BUY
        while taker.remaining and keys:
            price = keys[-1] * sign
            if (price > limit) if is_buy else (price < limit):
                return
            level = levels[price]
            orders = level.orders
            changed.add(price)
            while taker.remaining and level.count:
                maker = orders[0]
                if not maker.resting:
                    orders.popleft()
                    level.dead -= 1
                    continue
                quantity = min(taker.remaining, maker.remaining)
                maker.remaining -= quantity
                taker.remaining -= quantity
                level.total -= quantity
                if not maker.remaining:
                    orders.popleft()
                    maker.resting = False
                    level.count -= 1
                yield maker, quantity, price
            if not level.count:
                del levels[price]
                keys.pop()

    def take_changes(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """``(bids, offers)``: each changed level as ``(price, new total)`` (0 = gone), best
        first; the record of changes starts afresh."""
        # Most commands change one side at one price: an empty side costs nothing, and one
        # price is read without a comprehension (a call of its own).
        bids: list[tuple[int, int]] = []
        offers: list[tuple[int, int]] = []
        changed = self.changed_bids
        if changed:
            levels = self.bids.levels
            if len(changed) == 1:
                (price,) = changed
                bids = [(price, level.total if (level := levels.get(price)) else 0)]
            else:
                bids = [
                    (price, level.total if (level := levels.get(price)) else 0)
                    for price in sorted(changed, reverse=True)
                ]
            changed.clear()
        changed = self.changed_offers
        if changed:
            levels = self.offers.levels
            if len(changed) == 1:
                (price,) = changed
                offers = [(price, level.total if (level := levels.get(price)) else 0)]
            else:
                offers = [(price, level.total if (level := levels.get(price)) else 0) for price in sorted(changed)]
            changed.clear()
        return bids, offers

    # Checking

    def check(self) -> None:
        """Raise AssertionError unless the book is consistent: levels' totals and counts
        match their orders, the sorted prices match the levels, and the book is not crossed."""
        for side, half in ((BUY, self.bids), (SELL, self.offers)):
            prices = sorted(half.levels)
            expected_keys = sorted(price * half.sign for price in prices)
            assert half.keys == expected_keys, (side, half.keys, expected_keys)
            for price, level in half.levels.items():
                live = list(level.live_orders())
                assert level.price == price
                assert live, f"empty level {price} on side {side}"
                assert level.count == len(live), (price, level.count, len(live))
                assert level.dead == len(level.orders) - len(live), (price, level.dead)
                assert level.total == sum(o.remaining for o in live), (price, level.total)
                for order in live:
                    assert order.remaining > 0 and order.price == price and order.side == side
                    assert order.live, order
        bid, offer = self.best_bid(), self.best_offer()
        assert bid is None or offer is None or bid < offer, f"crossed book: {bid} >= {offer}"

    def __repr__(self) -> str:
        return f"<Book contract={self.contract_id} bid={self.best_bid()} offer={self.best_offer()}>"
