"""The trading controls' core: limits checked before an order create leaves, as a list of
small checks (`txsmarkets.trading.checks`) over one exposure model
(`txsmarkets.trading.exposure`). It knows nothing of a client: attaching hands it a book
lookup (``books``), a way to cancel everything (``cancel_all``), a clock (``seconds``)
and the exposure the exchange reports (``reported``); what it has to say goes to its
``notices``. `txsmarkets.client.controls.Controls` is it attached to a client.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MethodType
from typing import Any, Protocol, Self

from txsmarkets.exceptions import OrderRefused
from txsmarkets.trading.checks import BookView, Check, Checks
from txsmarkets.trading.exposure import CountedOrder, Ledger, MarketExposure
from txsmarkets.trading.fusion import fused
from txsmarkets.trading.limits import LIMITS, InvalidControls, check_limit, read_section
from txsmarkets.trading.money import FULL, liability_units, pounds
from txsmarkets.trading.orders import OrderTerms
from txsmarkets.wire import seto_pb2

__all__ = ["CONTROL_NAMES", "ControlNotices", "InvalidControls", "SilentNotices", "TradingControls"]

_BUY = seto_pb2.SIDE_BUY
_SELL = seto_pb2.SIDE_SELL
_new_entry = object.__new__
# The duplicate window's record is pruned once it holds more than this (and twice what
# it held after the last pruning).
_RECENT_FLOOR = 1024

#: The names a refusal (and ``refusals``) gives each control.
CONTROL_NAMES = (
    "kill_switch", "tick_ladder", "max_order_quantity", "max_order_liability", "max_live_orders",
    "max_live_orders_per_market", "max_orders_per_second", "max_orders_per_minute", "duplicate_window",
    "price_collar_ticks", "max_contract_exposure", "max_market_exposure", "max_account_exposure",
)


class ControlNotices(Protocol):
    """What the controls tell the operator (`txsmarkets.client.halting.HaltNotices` logs
    it); ``resume_hint`` says how trading resumes after a halt."""

    resume_hint: str

    def order_refused(self, error: OrderRefused, create: OrderTerms) -> None:
        """A control refused ``create``."""

    def order_forced(self, what: str, create: OrderTerms) -> None:
        """A forced ``what`` (order, replace) skipped the controls."""

    def halted(self, reason: str) -> None:
        """A halt begins."""

    def restored(self, reason: str) -> str:
        """A halt survived a restart; returns ``reason``."""

    def refusal(self, reason: str, now: float) -> OrderRefused:
        """The kill switch's refusal of a create at ``now`` while halted for ``reason``."""

    def resumed(self, reason: str) -> None:
        """The halt for ``reason`` is lifted."""


class SilentNotices:
    """`ControlNotices` that say nothing (the core's own, when none are given)."""

    resume_hint = "reset() resumes trading"

    def order_refused(self, error: OrderRefused, create: OrderTerms) -> None:
        pass

    def order_forced(self, what: str, create: OrderTerms) -> None:
        pass

    def halted(self, reason: str) -> None:
        pass

    def restored(self, reason: str) -> str:
        return reason

    def refusal(self, reason: str, now: float) -> OrderRefused:
        return OrderRefused("kill_switch", None, reason, f"trading is halted ({reason}); {self.resume_hint}")

    def resumed(self, reason: str) -> None:
        pass


class _Replace:
    """A cancel-replace's new order as a create, for a refusal's log line."""

    __slots__ = ("market_id", "contract_id", "side", "price", "quantity")

    def __init__(self, market_id: int, contract_id: int, side: int, price: int, quantity: int) -> None:
        self.market_id, self.contract_id, self.side, self.price, self.quantity = market_id, contract_id, side, price, quantity


def _no_clock() -> float:
    return 0.0


def _no_books(market_id: int) -> BookView | None:
    return None


def _no_report() -> Decimal | None:
    return None


def _no_cancel() -> Any:
    return None


class TradingControls(Checks):
    """Trading limits, each optional (None: not checked); see `txsmarkets.client.controls`
    for what each means. Raises `InvalidControls` for a bad value.

    Public counters, for a status line: ``checked``, ``passed``, ``forced`` and
    ``refusals`` (a Counter by control name); ``halted`` is the kill switch's reason
    (None while trading is allowed).
    """

    def __init__(self, *, tick_ladder: bool = True, notices: ControlNotices | None = None, **limits: Any) -> None:
        unknown = sorted(set(limits) - set(LIMITS))
        if unknown:
            raise InvalidControls(f"unknown control {unknown[0]!r} (known: {', '.join(LIMITS)})")
        values = {name: None for name in LIMITS}
        for name, value in limits.items():
            if value is not None:
                values[name] = check_limit(name, value)
        #: The limits as given: pounds as Decimal.
        self.limits: dict[str, Any] = {
            name: (limits[name] if LIMITS[name] == "pounds" and values[name] is not None else values[name])
            for name in LIMITS
        }
        self.tick_ladder = bool(tick_ladder)
        self._max_quantity = values["max_order_quantity"]
        self._max_liability = values["max_order_liability"]
        self._max_contract = values["max_contract_exposure"]
        self._max_market = values["max_market_exposure"]
        self._max_account = values["max_account_exposure"]
        self._max_live = values["max_live_orders"]
        self._max_live_market = values["max_live_orders_per_market"]
        self._per_second = values["max_orders_per_second"]
        self._per_minute = values["max_orders_per_minute"]
        self._collar = values["price_collar_ticks"]
        self._window = values["duplicate_window"]
        self._loss_limit: int | None = values["loss_limit"]
        # The exposure the exchange last reported (pounds), it in units, and our own
        # figure when it came.
        self._reported = None
        self._reported_units = self._reported_at = 0
        #: What the controls tell the operator (a halt's notice says how to resume).
        self.notices: ControlNotices = notices if notices is not None else SilentNotices()
        self.books = _no_books
        #: Whether the controls follow a venue (`bind`).
        self.bound = False
        self.seconds: Callable[[], float] = _no_clock
        self._cancel_all: Callable[[], Any] = _no_cancel
        self.passed = 0
        self.forced = 0
        self.refusals: collections.Counter[str] = collections.Counter()
        self.halted: str | None = None
        Ledger.__init__(self)
        self._marks_quotes = self._loss_limit is not None
        self._loss2 = 0  # twice the marked loss, the sum of the markets'
        self._now = 0.0
        self._second: collections.deque[float] = collections.deque()
        self._minute: collections.deque[float] = collections.deque()
        # The rate limits configured: (limit, the times of the creates that passed, span, name).
        self._rates = []
        if self._per_second is not None:
            self._rates.append((self._per_second, self._second, 1.0, "max_orders_per_second"))
        if self._per_minute is not None:
            self._rates.append((self._per_minute, self._minute, 60.0, "max_orders_per_minute"))
        # (market, contract, buy, price, quantity) -> when the last such create passed;
        # older than the window is as good as absent, and pruned now and then.
        self._recent: dict[tuple[int, int, bool, int, int], float] = {}
        self._recent_prune = _RECENT_FLOOR
        # Whether a create needs the time (a rate or the duplicate window).
        self._timed = any(values[name] is not None for name in ("max_orders_per_second", "max_orders_per_minute", "duplicate_window"))
        # The checks a create and a replace meet (the same ones, less those of creates).
        self._checks: list[Check] = self.checks_for(replace=False)
        self._replace_checks: list[Check] = self.checks_for(replace=True)
        # `check` and `check_replace` with their loops unrolled into these checks (the
        # methods as written stay the reference: ``TradingControls.check(controls, ...)``).
        self.check = MethodType(fused(type(self).check, "_checks", self._checks), self)  # type: ignore[method-assign]
        self.check_replace = MethodType(fused(type(self).check_replace, "_replace_checks", self._replace_checks), self)  # type: ignore[method-assign]

    @classmethod
    def from_config(cls, section: Mapping[str, str]) -> Self:
        """Controls from a config file section (``[controls]``): the keywords spelt with
        dashes (``max-order-quantity = 1000000``: £100 of payout, in ten-thousandths of a
        pound as the order's quantity is; ``max-account-exposure = 250.00``,
        ``duplicate-window = 2``, ``tick-ladder = no``). Raises `InvalidControls` naming the
        key for an unknown key or a bad value."""
        return cls(**read_section(section))

    # -- what attaching hands them ---------------------------------------------------------

    def bind(
        self,
        books: Callable[[int], BookView | None],
        cancel_all: Callable[[], Any],
        seconds: Callable[[], float],
        reported: Callable[[], Decimal | None],
    ) -> None:
        """Follow a venue: ``books`` looks up a market's book (None: not subscribed),
        ``cancel_all`` cancels every live order (its result is `halt`'s; None when it
        cannot), ``seconds`` tells the time, ``reported`` the exposure the exchange last
        reported. Returns None."""
        # (``reported_exposure`` the callable itself: the account limit asks it every create.)
        self.books, self._cancel_all, self.seconds, self.reported_exposure = books, cancel_all, seconds, reported  # type: ignore[method-assign]
        self.bound = books is not _no_books

    def unbind(self) -> None:
        """Follow no venue any more. Returns None."""
        self.bind(_no_books, _no_cancel, _no_clock, _no_report)

    # -- the check -------------------------------------------------------------------------

    @property
    def checked(self) -> int:
        """Creates and replaces checked: each passed or was refused by one control."""
        return self.passed + sum(self.refusals.values())

    def _refuse(self, control: str, limit: Any, figure: Any, create: OrderTerms, detail: str = "") -> OrderRefused:
        self.refusals[control] += 1
        error = OrderRefused(control, limit, figure, detail)
        self.notices.order_refused(error, create)
        return error

    def check(self, create: OrderTerms, force: bool = False) -> OrderRefused | CountedOrder:
        """Check a create (an `OrderCreate` or its payload's ``order_create``); the
        `OrderRefused` that refuses it, or the entry that now counts it (the client tells
        `Ledger.sent` and `Ledger.unsent` what became of it). ``force`` skips every check
        but the kill switch."""
        if self.halted is not None:
            self.refusals["kill_switch"] += 1
            return self.notices.refusal(self.halted, self.seconds())
        m = create.market_id
        c = create.contract_id
        price = create.price
        quantity = create.quantity
        buy = create.side == _BUY
        # (`liability_units`, inline: every create.)
        units = price * quantity if buy else (FULL - price) * quantity
        timed = self._timed
        if timed:
            self._now = self.seconds()
        market = self._markets.get(m)
        if force:
            self.forced += 1
            self.notices.order_forced("order", create)
        else:
            # (Unrolled in the controls' own `check`: see `txsmarkets.trading.fusion`.)
            for check in self._checks:
                refused = check(m, c, buy, price, quantity, units, units, market, create)
                if refused is not None:
                    return refused
        self.passed += 1
        if market is None:
            market = self._markets[m] = MarketExposure()
        # A `CountedOrder`, made without its ``__init__`` (a call of its own, every create).
        entry = _new_entry(CountedOrder)
        entry.market_id, entry.contract_id, entry.buy, entry.price, entry.quantity = m, c, buy, price, quantity
        entry.units, entry.market, entry.seq, entry.order_id, entry.replaces = units, market, None, None, None
        entry.order = entry.waiting = True
        self._total += market.order(c, buy, units)
        market.live += 1
        self._orders += 1
        if timed:
            # The rates and the duplicate window count it.
            now = self._now
            if self._per_second is not None:
                self._second.append(now)
            if self._per_minute is not None:
                self._minute.append(now)
            if self._window is not None:
                recent = self._recent
                recent[m, c, buy, price, quantity] = now
                if len(recent) > self._recent_prune:
                    self._prune_recent(now, self._window)
        return entry

    def _prune_recent(self, now: float, window: float) -> None:
        """Forget the creates older than the duplicate window; done when the record has
        doubled since the last time, so each create costs it O(1) on average."""
        recent = self._recent
        cutoff = now - window
        for old in [k for k, last in recent.items() if last <= cutoff]:
            del recent[old]
        self._recent_prune = max(_RECENT_FLOOR, 2 * len(recent))

    def check_replace(self, replace: seto_pb2.OrderCancelReplace, force: bool = False) -> OrderRefused | CountedOrder | None:
        """Check a cancel-replace as the create of its new order less the original it
        releases, by the same checks as a create (less the live-order counts, rates and
        duplicate window: it adds no order). Returns the `OrderRefused` that refuses it;
        None when it needs no counting (no more quantity at no worse a price; or the new
        order risks no more than the original); or the entry that counts the new order's
        excess over the original till the exchange answers (`Ledger.sent`/`Ledger.unsent`
        as for a create). ``force`` skips all but the kill switch."""
        orig = self._live.get(replace.orig_order_id)
        price, quantity = replace.price, replace.quantity
        if orig is None or (quantity <= orig.quantity and not (price > orig.price if orig.buy else price < orig.price)):
            # A reduction or a better price lowers risk; an order we do not count is
            # unknown or done, and the exchange will answer TOO_LATE.
            self.passed += 1
            return None
        if self.halted is not None:
            self.refusals["kill_switch"] += 1
            return self.notices.refusal(self.halted, self.seconds())
        buy = orig.buy
        c = orig.contract_id
        create = _Replace(orig.market_id, c, _BUY if buy else _SELL, price, quantity)
        units = liability_units(buy, price, quantity)
        excess = units - orig.units
        market = orig.market
        if force:
            self.forced += 1
            self.notices.order_forced("replace", create)
        else:
            # (Unrolled in the controls' own `check_replace`, as `check`'s loop.)
            for check in self._replace_checks:
                refused = check(orig.market_id, c, buy, price, quantity, units, excess, market, create)
                if refused is not None:
                    return refused
        self.passed += 1
        if excess <= 0:
            return None
        # The original may still fill before the exchange reads the replace; till the
        # answer, count the original's rest and the new order's excess over it: the worse
        # of the two.
        entry = CountedOrder(orig.market_id, c, buy, price, quantity, market)
        entry.replaces = replace.orig_order_id
        entry.order = False
        entry.units = excess
        entry.waiting = True
        self._total += market.order(c, buy, excess)
        return entry

    # -- loss limit and kill switch ------------------------------------------------------------

    def _marked(self, market_id: int) -> None:
        if self._loss_limit is not None:
            self._mark(market_id)

    def quoted(self, market_id: int) -> None:
        # Only a market whose fills leave a position has marks that move with its quotes
        # (with none, its loss is what its fills realised, marked when they came); the
        # client calls this only while one does (``marking``).
        market = self._markets.get(market_id)
        if market is not None and market.held:
            self._mark(market_id)

    def _settling(self, market_id: int) -> None:
        market = self._markets[market_id]
        market.settled2 = self._market_loss2(market_id, market)

    def _mark(self, market_id: int) -> None:
        market = self._markets[market_id]
        loss2 = self._market_loss2(market_id, market)
        if loss2 == market.loss2:
            return
        self._loss2 += loss2 - market.loss2
        market.loss2 = loss2
        if self.halted is None and self._loss_limit is not None and self._loss2 >= 2 * self._loss_limit:
            self.halt(f"loss limit {pounds(self._loss_limit)} reached: loss {pounds(self._loss2) / 2}")

    def _market_loss2(self, market_id: int, market: MarketExposure) -> int:
        """Twice the fills' loss if closed at the marks: the mid of the subscribed book,
        else the one side it has, else no unrealised loss (the contract at what it cost)."""
        book = self.books(market_id)
        value2 = 0
        for c, net in market.net.items():
            if not net:
                continue
            contract = book.contracts.get(c) if book is not None else None
            bid = contract.best_bid if contract is not None else None
            offer = contract.best_offer if contract is not None else None
            if bid is not None and offer is not None:
                value2 += net * (bid + offer)
            elif bid is not None:
                value2 += 2 * net * bid
            elif offer is not None:
                value2 += 2 * net * offer
            else:
                value2 += 2 * market.paid[c]
        return 2 * market.cost - value2 + market.settled2

    @property
    def loss(self) -> Decimal:
        """Realised plus marked-to-market loss in pounds (negative: a profit)."""
        if not self.bound:
            return pounds(self._loss2) / 2
        for market_id, market in self._markets.items():
            loss2 = self._market_loss2(market_id, market)
            self._loss2 += loss2 - market.loss2
            market.loss2 = loss2
        return pounds(self._loss2) / 2

    def halt(self, reason: str) -> Any:
        """The kill switch: refuse every create until `reset`, and cancel every live order.

        Returns what ``cancel_all`` returned (the client's: a Deferred; None when not
        attached, or not logged in, when the exchange's own cancel-on-disconnect setting
        is what applies)."""
        if self.halted is None:
            self.notices.halted(reason)
        self.halted = reason
        return self._cancel_all()

    def halt_refusal(self) -> OrderRefused:
        """The kill switch's refusal of a create (or a replace that adds risk) that passed
        the checks before the halt and has not gone out: the client refuses it unsent. Not
        counted again in ``refusals``: it was counted as passed. Only while halted."""
        assert self.halted is not None
        return self.notices.refusal(self.halted, self.seconds())

    def logged_in(self, message: seto_pb2.Payload, resumed: bool) -> int:
        """`Ledger.logged_in`, and a halt kept on: what the exchange holds is cancelled
        again (a cancel_all lost, a halted restart)."""
        dropped = Ledger.logged_in(self, message, resumed)
        if self.halted is not None:
            self.halt(self.halted)
        return dropped

    def snapshot(self) -> dict[str, Any]:
        """`Ledger.snapshot`, and the kill switch's reason: a restored halt stays on."""
        return {**Ledger.snapshot(self), "halted": self.halted}

    def restore(self, data: dict[str, Any]) -> None:
        """`Ledger.restore`, and the halt the snapshot was taken under (if any)."""
        Ledger.restore(self, data)
        if data.get("halted") is not None:
            self.halted = self.notices.restored(str(data["halted"]))

    def reset(self) -> None:
        """Allow creates again after `halt` (or the loss limit)."""
        if self.halted is not None:
            self.notices.resumed(self.halted)
        self.halted = None

    # -- what the controls count (their figures are `Ledger`'s) ------------------------------

    def status(self) -> dict[str, Any]:
        """The figures for a status line."""
        return {
            "checked": self.checked,
            "passed": self.passed,
            "forced": self.forced,
            "refused": sum(self.refusals.values()),
            "refusals": dict(self.refusals),
            "halted": self.halted,
            "live_orders": self.live_orders,
            "account_exposure": str(self.account_exposure),
            "loss": str(self.loss),
        }

    def __repr__(self) -> str:
        set_ = ", ".join(f"{k}={v}" for k, v in self.limits.items() if v is not None)
        return f"<Controls {set_ or 'none'}{' HALTED' if self.halted else ''}>"
