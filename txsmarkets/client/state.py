"""What the client keeps for the user: the account (live orders, balance: the trading
core's `txsmarkets.trading.account.Account`, here as `AccountState`), and order books of
markets.

Everything here is fed the messages the session delivers, in order; nothing sends.
"""

from __future__ import annotations

from collections.abc import Iterable

from txsmarkets.trading.account import Account
from txsmarkets.trading.orders import LiveOrder, OrderStatus
from txsmarkets.wire import seto_pb2

__all__ = ["AccountState", "ContractBook", "LiveOrder", "MarketBook", "OrderStatus"]

# Documented where users import it from (the trading core owns it): its reference page,
# its links and its pickles name this module, which holds the same class.
LiveOrder.__module__ = __name__


class ContractBook:
    """The bid and offer levels of one contract: price -> total quantity.

    ``bids`` and ``offers`` map each price with quantity on it (a wire price: hundredths
    of a percent, 2500 is 25.00%) to the total quantity there (ten-thousandths of a pound
    of payout, everyone's orders together, ours included).

    ``best_bid`` is the highest bid price and ``best_offer`` the lowest offer price, or
    None while that side is empty: an int price, read in O(1) (they are kept as levels
    change; a level emptied at the top costs one pass over the levels). The best bid is
    below the best offer whenever both exist (a crossing order trades at once). The book is
    ``client.markets[market_id].contracts[contract_id]`` and is up to date before the
    handlers of the message that changed it run.
    """

    __slots__ = ("bids", "offers", "best_bid", "best_offer")

    def __init__(self) -> None:
        self.bids: dict[int, int] = {}
        self.offers: dict[int, int] = {}
        self.best_bid: int | None = None
        self.best_offer: int | None = None

    def set_bid(self, price: int, quantity: int) -> None:
        """Set a bid level's total quantity (0 removes it); keeps ``best_bid``. Returns None."""
        bids = self.bids
        if quantity:
            bids[price] = quantity
            if self.best_bid is None or price > self.best_bid:
                self.best_bid = price
        elif bids.pop(price, None) is not None and price == self.best_bid:
            self.best_bid = max(bids) if bids else None

    def set_offer(self, price: int, quantity: int) -> None:
        """Set an offer level's total quantity (0 removes it); keeps ``best_offer``. Returns None."""
        offers = self.offers
        if quantity:
            offers[price] = quantity
            if self.best_offer is None or price < self.best_offer:
                self.best_offer = price
        elif offers.pop(price, None) is not None and price == self.best_offer:
            self.best_offer = min(offers) if offers else None

    def depth(self, levels: int = 5) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The best ``levels`` bids (highest first) and offers (lowest first), as two lists
        of ``(price, quantity)``: ``([(2439, 200000)], [(2564, 100000)])``."""
        bids = sorted(self.bids.items(), reverse=True)[:levels]
        offers = sorted(self.offers.items())[:levels]
        return bids, offers


def _apply_levels(levels: dict[int, int], best: int | None, quotes: Iterable[seto_pb2.Quote], bids: bool) -> int | None:
    """What `ContractBook.set_bid` (``bids``) or `ContractBook.set_offer` does for each of
    ``quotes``, with the side's best price kept in a local; returns the new best price.
    (`MarketBook.update` calls it for every quote update the client receives.)"""
    for quote in quotes:
        price = quote.price
        quantity = quote.quantity
        if quantity:
            levels[price] = quantity
            if best is None or (price > best if bids else price < best):
                best = price
        elif levels.pop(price, None) is not None and price == best:
            best = (max(levels) if bids else min(levels)) if levels else None
    return best


class MarketBook:
    """The order books of one subscribed market, built from market_quotes and deltas.

    ``market_id`` is the market's id; ``contracts`` maps each contract id to its
    `ContractBook`; ``last_execution`` is ``(price, quantity)`` of the market's last trade
    as the exchange reported it, or None before one; ``state`` is the market's state as
    the last ``seto.market_state`` since the book came said (``seto_pb2.MARKET_STATE_OPEN``,
    ``_LIVE`` in play, ``_HALTED``, ``_SETTLED``, ``_VOIDED``...), or None before one
    (`state_name` spells it). ``client.markets[market_id]``.
    """

    def __init__(self, market_id: int) -> None:
        self.market_id = market_id
        self.contracts: dict[int, ContractBook] = {}
        self.last_execution: tuple[int, int] | None = None
        self.state: int | None = None

    @property
    def state_name(self) -> str | None:
        """The market's state in lower case (``"open"``, ``"live"`` in play, ``"halted"``,
        ``"settled"``, ``"voided"``), or None while not known."""
        if self.state is None:
            return None
        return seto_pb2.MarketStateType.Name(self.state).removeprefix("MARKET_STATE_").lower()

    def snapshot(self, quotes: seto_pb2.MarketQuotes) -> None:
        """Replace everything with a full ``market_quotes`` snapshot. Returns None."""
        self.contracts = {}
        for contract in quotes.contract_quotes:
            self.update(contract)

    def update(self, quotes: seto_pb2.ContractQuotes) -> int:
        """Apply a ``contract_quotes`` delta: each level given holds its new total (0: gone).
        Returns the contract's id (so that the caller need not read it from the message
        again)."""
        contract_id = quotes.contract_id
        book = self.contracts.get(contract_id)
        if book is None:
            book = self.contracts[contract_id] = ContractBook()
        # A side's one level (the usual update) is taken by index (iterating a repeated
        # field costs more than the rest of the work on it) and applied here, as
        # `ContractBook.set_bid` and `set_offer` apply it: a call would cost more than its
        # work (tests.test_receive_path.BookUpdateTests holds the two alike). An empty side
        # is skipped.
        bids = quotes.bids
        count = len(bids)
        if count == 1:
            quote = bids[0]
            price = quote.price
            quantity = quote.quantity
            levels = book.bids
            if quantity:
                levels[price] = quantity
                best = book.best_bid
                if best is None or price > best:
                    book.best_bid = price
            elif levels.pop(price, None) is not None and price == book.best_bid:
                book.best_bid = max(levels) if levels else None
        elif count:
            book.best_bid = _apply_levels(book.bids, book.best_bid, bids, True)
        offers = quotes.offers
        count = len(offers)
        if count == 1:
            quote = offers[0]
            price = quote.price
            quantity = quote.quantity
            levels = book.offers
            if quantity:
                levels[price] = quantity
                best = book.best_offer
                if best is None or price < best:
                    book.best_offer = price
            elif levels.pop(price, None) is not None and price == book.best_offer:
                book.best_offer = min(levels) if levels else None
        elif count:
            book.best_offer = _apply_levels(book.offers, book.best_offer, offers, False)
        # An absent last_execution reads as zeros: only zeros need asking whether it came
        # (most updates carry the last trade).
        execution = quotes.last_execution
        price = execution.price
        quantity = execution.quantity
        if price or quantity or quotes.HasField("last_execution"):
            self.last_execution = (price, quantity)
        return contract_id


#: The account view (``client.account``): `txsmarkets.trading.account.Account`.
AccountState = Account
