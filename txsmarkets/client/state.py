"""What the client keeps for the user: live orders, balance, and order books of markets.

Everything here is fed the messages the session delivers, in order; nothing sends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from txsmarkets.trading.money import wire_pounds
from txsmarkets.wire import seto_pb2

__all__ = ["AccountState", "ContractBook", "LiveOrder", "MarketBook"]


@dataclass
class LiveOrder:
    """An order of ours the exchange holds, with what has filled of it.

    ``order_id`` is the exchange's id; ``side`` is ``BUY`` (1) or ``SELL`` (2); ``price`` (a
    wire price: hundredths of a percent, 2500 is 25.00%) is the order's limit;
    ``quantity`` is its whole size, filled part included, and ``filled`` what has
    executed, both in ten-thousandths of a pound of payout (10000 is £1 paid if it wins);
    ``avg_price`` is the average price of the fills (a wire price, 0 before any);
    ``reference`` and ``label`` are what the create gave, or None; ``done`` turns True once
    the order is no longer live (filled, cancelled, voided or replaced), when it also leaves
    ``AccountState.orders``.
    """

    order_id: int
    market_id: int
    contract_id: int
    side: int
    price: int
    quantity: int
    filled: int = 0
    avg_price: int = 0
    reference: int | None = None
    label: str | None = None
    #: True once the order is no longer live (filled, cancelled, voided or replaced).
    done: bool = False

    @property
    def unfilled(self) -> int:
        """The quantity still resting on the book (ten-thousandths of a pound of payout):
        ``quantity - filled``."""
        return self.quantity - self.filled


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


class MarketBook:
    """The order books of one subscribed market, built from market_quotes and deltas.

    ``market_id`` is the market's id; ``contracts`` maps each contract id to its
    `ContractBook`; ``last_execution`` is ``(price, quantity)`` of the market's last trade
    as the exchange reported it, or None before one. ``client.markets[market_id]``.
    """

    def __init__(self, market_id: int) -> None:
        self.market_id = market_id
        self.contracts: dict[int, ContractBook] = {}
        self.last_execution: tuple[int, int] | None = None

    def snapshot(self, quotes: seto_pb2.MarketQuotes) -> None:
        """Replace everything with a full ``market_quotes`` snapshot. Returns None."""
        self.contracts = {}
        for contract in quotes.contract_quotes:
            self.update(contract)

    def update(self, quotes: seto_pb2.ContractQuotes) -> None:
        """Apply a ``contract_quotes`` delta: each level given holds its new total (0: gone).
        Returns None."""
        book = self.contracts.get(quotes.contract_id)
        if book is None:
            book = self.contracts[quotes.contract_id] = ContractBook()
        for quote in quotes.bids:
            book.set_bid(quote.price, quote.quantity)
        for quote in quotes.offers:
            book.set_offer(quote.price, quote.quantity)
        if quotes.HasField("last_execution"):
            self.last_execution = (quotes.last_execution.price, quotes.last_execution.quantity)


@dataclass
class AccountState:
    """The account as the exchange last reported it, and our live orders.

    ``available_balance`` and ``exposure`` are `Decimal` pounds (None until a message
    carrying them arrives: an order answer, a fill, a cancellation or a
    ``balance_changed``); ``exposure`` is what the exchange holds against our orders and
    positions. ``orders`` maps each live order's id to its `LiveOrder`. ``client.account``.
    """

    #: Pounds, as `Decimal` (the wire's doubles are taken by their shortest repr).
    available_balance: Decimal | None = None
    exposure: Decimal | None = None
    orders: dict[int, LiveOrder] = field(default_factory=dict)

    def note_money(self, message: object) -> None:
        """Take balance and exposure (doubles of pounds on the wire, kept as `Decimal`)
        from a message that carries them. Returns None."""
        if message.HasField("available_balance"):  # type: ignore[attr-defined]
            self.available_balance = wire_pounds(message.available_balance)  # type: ignore[attr-defined]
        if message.HasField("exposure"):  # type: ignore[attr-defined]
            self.exposure = wire_pounds(message.exposure)  # type: ignore[attr-defined]

    def accepted(self, create: seto_pb2.OrderCreate | None, answer: seto_pb2.OrderAccepted) -> LiveOrder:
        """Record a newly accepted order; ``create`` is our request, when we have it.
        Returns the new `LiveOrder`."""
        source = create if create is not None else answer
        order = LiveOrder(
            order_id=answer.order_id,
            market_id=answer.market_id or source.market_id,
            contract_id=answer.contract_id or source.contract_id,
            side=answer.side or source.side,
            price=answer.price or source.price,
            quantity=answer.quantity or source.quantity,
            reference=answer.reference if answer.HasField("reference") else None,
            label=answer.label if answer.HasField("label") else None,
        )
        self.orders[order.order_id] = order
        return order

    def executed(self, fill: seto_pb2.OrderExecuted) -> None:
        """Apply a fill; an order with nothing left is no longer live (``done``, and out of
        ``orders``). A fill of an order we do not know is ignored. Returns None."""
        order = self.orders.get(fill.order_id)
        if order is None:
            return
        if fill.HasField("total_executed_quantity"):
            order.filled = fill.total_executed_quantity
        else:
            order.filled += fill.quantity
        if fill.HasField("executed_avg_price"):
            order.avg_price = fill.executed_avg_price
        if fill.HasField("available_quantity"):
            order.quantity = order.filled + fill.available_quantity
        if order.unfilled <= 0:
            order.done = True
            del self.orders[fill.order_id]

    def reduced(self, order_id: int, new_unfilled: int) -> None:
        """The order's unfilled quantity is now ``new_unfilled`` (ten-thousandths of a pound
        of payout). Returns None."""
        order = self.orders.get(order_id)
        if order is not None:
            order.quantity = order.filled + new_unfilled

    def done(self, order_id: int) -> None:
        """The order is cancelled, voided or replaced: no longer live (``done``, and out of
        ``orders``). Returns None."""
        order = self.orders.pop(order_id, None)
        if order is not None:
            order.done = True

    # -- snapshot and restore (the daemon's state folder) -----------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything here as JSON-ready data (money as strings of pounds); see `restore`."""
        return {
            "available_balance": None if self.available_balance is None else str(self.available_balance),
            "exposure": None if self.exposure is None else str(self.exposure),
            "orders": [asdict(order) for order in self.orders.values()],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace everything with what `snapshot` returned. Returns None; raises
        `ValueError` if ``data`` is malformed."""
        try:
            balance, exposure = data["available_balance"], data["exposure"]
            orders = [LiveOrder(**order) for order in data["orders"]]
            self.available_balance = None if balance is None else Decimal(balance)
            self.exposure = None if exposure is None else Decimal(exposure)
        except (KeyError, TypeError, ArithmeticError) as e:
            raise ValueError(f"malformed account snapshot: {e!r}") from None
        self.orders = {order.order_id: order for order in orders}

    def apply(self, payload: seto_pb2.Payload, create: seto_pb2.OrderCreate | None = None) -> LiveOrder | None:
        """Apply one account message (as the client does when it arrives); returns the order
        it concerned, if any. ``create`` is our request for an ``order_accepted``.

        Used to bring a restored account up to date from a journal.
        """
        kind = payload.type
        if kind == seto_pb2.PAYLOAD_ORDER_ACCEPTED:
            self.note_money(payload.order_accepted)
            return self.accepted(create, payload.order_accepted)
        if kind == seto_pb2.PAYLOAD_ORDER_EXECUTED:
            self.note_money(payload.order_executed)
            order = self.orders.get(payload.order_executed.order_id)
            self.executed(payload.order_executed)
            return order
        if kind in (seto_pb2.PAYLOAD_ORDER_CANCELLED, seto_pb2.PAYLOAD_ORDER_VOIDED):
            body = payload.order_cancelled if kind == seto_pb2.PAYLOAD_ORDER_CANCELLED else payload.order_voided
            if kind == seto_pb2.PAYLOAD_ORDER_CANCELLED:
                self.note_money(body)
            order = self.orders.get(body.order_id)
            self.done(body.order_id)
            return order
        if kind == seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCED:
            reduced = payload.order_quantity_reduced
            self.reduced(reduced.order_id, reduced.new_quantity)
            return self.orders.get(reduced.order_id)
        if kind == seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED:
            replaced = payload.order_cancel_replace_accepted
            old = self.orders.get(replaced.orig_order_id)
            self.done(replaced.orig_order_id)
            if replaced.quantity_left <= 0:
                return old
            order = self.orders[replaced.order_id] = LiveOrder(
                order_id=replaced.order_id,
                market_id=replaced.market_id,
                contract_id=replaced.contract_id,
                side=replaced.side,
                price=replaced.price,
                quantity=replaced.quantity_left,
                reference=replaced.reference if replaced.HasField("reference") else None,
                label=old.label if old is not None else None,
            )
            return order
        if kind == seto_pb2.PAYLOAD_BALANCE_CHANGED:
            self.note_money(payload.balance_changed)
        return None
