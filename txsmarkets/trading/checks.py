"""The trading controls' checks: each one small, over the one exposure model.

A check takes a proposed order (a create, or a cancel-replace's new order) and returns the
`OrderRefused` that refuses it, or None. `Checks.checks_for` picks the configured ones, in
the order a refusal names them; a cancel-replace runs the same checks as a create, less
those that count creates (live orders, rates, duplicates): it adds no order.

The proposal is given as plain values (no object made per order: a check runs for every
create): ``market_id``, ``contract_id``, ``buy``, ``price``, ``quantity``; ``units``
what the order risks (`txsmarkets.trading.money.liability_units`); ``excess`` what it
risks beyond what it replaces (``units`` for a create); ``market`` the market's
`MarketExposure` (None: nothing counted there yet); ``create`` the request, for the
refusal's log line.
"""

from __future__ import annotations

import bisect
import collections
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Protocol

from txsmarkets.exceptions import OrderRefused
from txsmarkets.odds import VALID_PRICES, next_tick, previous_tick
from txsmarkets.trading.exposure import Ledger, MarketExposure
from txsmarkets.trading.money import loss_units, pounds
from txsmarkets.trading.orders import OrderTerms

__all__ = ["BookView", "Check", "Checks", "ContractView"]

_LADDER = frozenset(VALID_PRICES)
# What a market the controls have counted nothing on looks like, for checking its first
# create (never changed: the market's own is made once the create passes).
_NOTHING = MarketExposure()

#: A check: (market_id, contract_id, buy, price, quantity, units, excess, market, create)
#: -> the refusal, or None.
Check = Callable[[int, int, bool, int, int, int, int, "MarketExposure | None", Any], "OrderRefused | None"]


class ContractView(Protocol):
    """What the controls read of a contract's book: its best prices (None: that side empty)."""

    best_bid: int | None
    best_offer: int | None


class BookView(Protocol):
    """What the controls read of a market's book: its contracts' books by id."""

    @property
    def contracts(self) -> Mapping[int, ContractView]: ...


class Checks(Ledger):
    """The checks, over the exposure `Ledger` counts; `txsmarkets.trading.controls.TradingControls`
    sets the limits (None: not checked) and ``books``, the book lookup."""

    tick_ladder: bool
    _max_quantity: int | None
    _max_liability: int | None
    _max_contract: int | None
    _max_market: int | None
    _max_account: int | None
    _max_live: int | None
    _max_live_market: int | None
    _per_second: int | None
    _per_minute: int | None
    _collar: int | None
    _window: float | None
    _now: float
    _second: collections.deque[float]
    _minute: collections.deque[float]
    _rates: list[tuple[int, collections.deque[float], float, str]]
    _recent: dict[tuple[int, int, bool, int, int], float]
    #: market id -> its book, or None (the client's ``markets.get``).
    books: Callable[[int], BookView | None]

    def _refuse(self, control: str, limit: Any, figure: Any, create: OrderTerms, detail: str = "") -> OrderRefused:
        raise NotImplementedError  # `Controls._refuse`

    def reported_exposure(self) -> Decimal | None:
        """The exposure the exchange last reported (None: none yet)."""
        return None

    def checks_for(self, replace: bool) -> list[Check]:
        """The configured checks, for a create or (``replace``) a cancel-replace."""
        checks: list[tuple[bool, Check]] = [
            (self.tick_ladder, self.check_tick),
            (self._max_quantity is not None, self.check_size),
            (self._max_liability is not None, self.check_liability),
            (not replace and (self._max_live is not None or self._max_live_market is not None), self.check_live),
            (not replace and (self._per_second is not None or self._per_minute is not None), self.check_rate),
            (not replace and self._window is not None, self.check_duplicate),
            (self._collar is not None, self.check_collar),
            (
                any(limit is not None for limit in (self._max_contract, self._max_market, self._max_account)),
                self.check_exposure,
            ),
        ]
        return [check for wanted, check in checks if wanted]

    # -- the checks ------------------------------------------------------------------------
    #
    # Each is written to be fused (`txsmarkets.trading.fusion`): it refuses with
    # ``return <the refusal>`` and passes by its last line, ``return None`` (never one
    # before), and assigns none of its arguments.

    def check_tick(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: MarketExposure | None, create: OrderTerms) -> OrderRefused | None:
        """A price on the exchange's tick ladder."""
        if price not in _LADDER:
            below, above = previous_tick(price), next_tick(price)
            return self._refuse("tick_ladder", "a price on the tick ladder", price, create, f"nearest ticks {below} and {above}")
        return None

    def check_size(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: MarketExposure | None, create: OrderTerms) -> OrderRefused | None:
        """``max_order_quantity``."""
        limit = self._max_quantity
        assert limit is not None
        if quantity > limit:
            return self._refuse("max_order_quantity", limit, quantity, create)
        return None

    def check_liability(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: MarketExposure | None, create: OrderTerms) -> OrderRefused | None:
        """``max_order_liability``: what the order risks, whole."""
        limit = self._max_liability
        assert limit is not None
        if units > limit:
            return self._refuse("max_order_liability", pounds(limit), pounds(units), create)
        return None

    def check_live(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: MarketExposure | None, create: OrderTerms) -> OrderRefused | None:
        """``max_live_orders`` (live, in flight and unsent) and ``max_live_orders_per_market``."""
        limit = self._max_live
        if limit is not None and self._orders >= limit:
            return self._refuse("max_live_orders", limit, self._orders + 1, create)
        limit = self._max_live_market
        if limit is not None and market is not None and market.live >= limit:
            return self._refuse("max_live_orders_per_market", limit, market.live + 1, create)
        return None

    def check_rate(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: MarketExposure | None, create: OrderTerms) -> OrderRefused | None:
        """``max_orders_per_second`` and ``max_orders_per_minute``: creates that passed in
        the last second, and minute (``_rates``: each its limit, its deque of times, the
        older ones dropped, its span and its name)."""
        for limit, times, span, control in self._rates:
            cutoff = self._now - span
            while times and times[0] <= cutoff:
                times.popleft()
            if len(times) >= limit:
                return self._refuse(control, limit, len(times) + 1, create, f"creates in {span:g}s")
        return None

    def check_duplicate(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: MarketExposure | None, create: OrderTerms) -> OrderRefused | None:
        """``duplicate_window``: the same create passed less than the window ago."""
        window = self._window
        assert window is not None
        last = self._recent.get((m, c, buy, price, quantity))
        if last is not None and last > self._now - window:
            return self._refuse("duplicate_window", window, self._now - last, create, "seconds since the same order")
        return None

    def check_collar(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: MarketExposure | None, create: OrderTerms) -> OrderRefused | None:
        """``price_collar_ticks``: how many ticks a create goes through the best opposite
        price of a subscribed market (one not through it is not measured)."""
        collar = self._collar
        assert collar is not None
        book = self.books(m)
        contract = book.contracts.get(c) if book is not None else None
        opposite = None if contract is None else (contract.best_offer if buy else contract.best_bid)
        if opposite is not None and (price > opposite if buy else price < opposite):
            low, high = (opposite, price) if buy else (price, opposite)
            ticks = bisect.bisect_right(VALID_PRICES, high) - bisect.bisect_right(VALID_PRICES, low)
            if ticks > collar:
                side = "offer" if buy else "bid"
                return self._refuse("price_collar_ticks", collar, ticks, create, f"ticks through the best {side} {opposite}")
        return None

    def check_exposure(self, m: int, c: int, buy: bool, price: int, quantity: int, units: int, excess: int, market: MarketExposure | None, create: OrderTerms) -> OrderRefused | None:
        """The contract, market and account exposure limits, with ``excess`` more counted
        on ``c`` as if it filled (nothing to check when it risks no more).

        The account limit holds against our worst case with it, and against the exposure
        the exchange last reported plus what our own figure has grown by since (it may
        count what ours lacks: orders from before a history cut short, or more than we
        do)."""
        if excess > 0:
            counted = market if market is not None else _NOTHING
            limit = self._max_contract
            if limit is not None:
                # (`MarketExposure.contract_worst`, inline: every create meets it.)
                win, lose = (0, excess) if buy else (excess, 0)
                own = counted.win.get(c, 0)
                worst = own + win
                other = own - counted.delta.get(c, 0) + lose
                if other > worst:
                    worst = other
                if worst > limit:
                    return self._refuse("max_contract_exposure", pounds(limit), pounds(worst), create)
            if self._max_market is not None or self._max_account is not None:
                worst = counted.worst_with(c, excess, -excess) if buy else counted.worst_with(c, 0, excess)
                limit = self._max_market
                if limit is not None and worst > limit:
                    return self._refuse("max_market_exposure", pounds(limit), pounds(worst), create)
                limit = self._max_account
                if limit is not None:
                    total = self._total - counted.worst + worst
                    reported = self.reported_exposure()
                    if reported is not self._reported:
                        # A new report (converted once: it changes far less often than we check).
                        self._reported, self._reported_at = reported, self._total
                        self._reported_units = 0 if reported is None else loss_units(reported)
                    figure = total
                    if reported is not None and self._reported_units - self._reported_at > 0:
                        figure += self._reported_units - self._reported_at
                    if figure > limit:
                        detail = "" if figure == total else f"the exchange reports {pounds(self._reported_units)} of exposure"
                        return self._refuse("max_account_exposure", pounds(limit), pounds(figure), create, detail)
        return None

    _reported: Decimal | None
    _reported_units: int
    _reported_at: int
