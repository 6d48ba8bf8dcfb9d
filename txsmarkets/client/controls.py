"""`Controls`: trading limits checked before an order create leaves the client.

A `Controls` is given to ``connect(settings, controls=...)`` or set as ``client.controls``.
Every create (``order``/``create_order``) is checked against it on the reactor thread; a
create that would break a limit fails its Deferred at once with `OrderRefused`, and
nothing is stamped, sent or journaled. Cancels and reductions are never checked. A
cancel-replace (``cancel_replace``) is checked as the create of its new order less the
original it releases (`Controls.check_replace`): one to no more quantity at no worse a
price always passes. ``force=True`` skips every control but the kill switch.

Exposure is the worst-case loss, in exact integer hundred-millionths of a pound (price x
quantity), of fills plus every live and in-flight order as if it filled (each order only
when its filling makes that outcome worse). A market's contracts are its outcomes and
exactly one wins; a contract we hold nothing on may be the winner, so that outcome is
always counted. An order counts from the moment it passes the controls, before it is even
sent, until the exchange answers it (rejected, or accepted and later filled, cancelled,
reduced or voided): two orders sent together cannot pass a limit that each passes alone.
An order whose answer was lost with a connection stays counted until the resumed session
brings the answer.

The controls follow the account as the exchange reports it: the client hands them each
account message as it takes it into ``client.account``, before any handler sees it, so an
order placed and answered on any session of this client counts. Attached before the
login, they have the client learn the account's history before the first create
(`txsmarkets.client.catchup`). The account limit also holds against the exposure the
exchange last reported (``client.account.exposure``) and what our count added since.
"""

from __future__ import annotations

import bisect
import collections
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Mapping

from twisted.logger import Logger

from txsmarkets.client.halting import HaltNotices
from txsmarkets.client.exposure import CountedOrder, Ledger, MarketExposure
from txsmarkets.client.limits import LIMITS, InvalidControls, check_limit, read_section
from txsmarkets.exceptions import OrderRefused
from txsmarkets.odds import VALID_PRICES, next_tick, previous_tick
from txsmarkets.trading.money import liability_units, loss_units, one_winner_worst, pounds
from txsmarkets.wire import seto_pb2

if TYPE_CHECKING:
    from txsmarkets.client.api import StreamingAPIClient
    from txsmarkets.client.orders import OrderCreate

__all__ = ["CONTROL_NAMES", "Controls", "InvalidControls"]

_log = Logger()

_BUY = seto_pb2.SIDE_BUY
_SELL = seto_pb2.SIDE_SELL
_LADDER = frozenset(VALID_PRICES)
# The duplicate window's record is pruned once it holds more than this (and twice what
# it held after the last pruning).
_RECENT_FLOOR = 1024
# What a market the controls have counted nothing on looks like, for checking its first
# create (never changed: the market's own is made once the create passes).
_NOTHING = MarketExposure()


def _no_clock() -> float:
    return 0.0


class _Replace:
    """A cancel-replace's new order as a create, for a refusal's log line."""

    __slots__ = ("market_id", "contract_id", "side", "price", "quantity")

    def __init__(self, market_id: int, contract_id: int, side: int, price: int, quantity: int) -> None:
        self.market_id, self.contract_id, self.side, self.price, self.quantity = market_id, contract_id, side, price, quantity

#: The names a refusal (and ``refusals``) gives each control.
CONTROL_NAMES = (
    "kill_switch", "tick_ladder", "max_order_quantity", "max_order_liability", "max_live_orders",
    "max_live_orders_per_market", "max_orders_per_second", "max_orders_per_minute", "duplicate_window",
    "price_collar_ticks", "max_contract_exposure", "max_market_exposure", "max_account_exposure",
)


class Controls(Ledger):
    """Trading limits, each optional (None: not checked); see the module doc.

    Limits (keywords): ``max_order_quantity`` (an order's quantity in the order's own
    units, as on the wire: ten-thousandths of a pound of payout, whatever the price; so
    1_000_000 allows at most £100 paid if the bet wins, e.g. a buy at 2500 (25%) staking
    £25), ``max_order_liability`` (pounds an order risks), ``max_contract_exposure``, ``max_market_exposure``, ``max_account_exposure``
    (worst-case loss in pounds), ``max_live_orders``, ``max_live_orders_per_market``
    (live plus in flight), ``max_orders_per_second``, ``max_orders_per_minute`` (creates
    that passed, forced ones too), ``price_collar_ticks`` (how many ticks a create may go
    through the best opposite price of a subscribed market), ``duplicate_window``
    (seconds in which the same market, contract, side, price and quantity is refused),
    ``loss_limit`` (pounds of realised plus marked-to-market loss that halt trading).
    ``tick_ladder`` (default True) refuses a price off the exchange's tick ladder.
    Pounds are `Decimal` or int, never float. Raises `InvalidControls` for a bad value.

    Public counters, for a status line: ``checked``, ``passed``, ``forced`` and
    ``refusals`` (a Counter by control name); ``halted`` is the kill switch's reason
    (None while trading is allowed).
    """

    def __init__(self, *, tick_ladder: bool = True, **limits: Any) -> None:
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
        self._max_quantity: int | None = values["max_order_quantity"]
        self._max_liability: int | None = values["max_order_liability"]
        self._max_contract: int | None = values["max_contract_exposure"]
        self._max_market: int | None = values["max_market_exposure"]
        self._max_account: int | None = values["max_account_exposure"]
        self._max_live: int | None = values["max_live_orders"]
        self._max_live_market: int | None = values["max_live_orders_per_market"]
        self._per_second: int | None = values["max_orders_per_second"]
        self._per_minute: int | None = values["max_orders_per_minute"]
        self._collar: int | None = values["price_collar_ticks"]
        self._window: float | None = values["duplicate_window"]
        self._loss_limit: int | None = values["loss_limit"]
        self._exposure = any(values[name] is not None for name in ("max_contract_exposure", "max_market_exposure", "max_account_exposure"))
        # The exposure the exchange last reported (pounds), it in units, and our own
        # figure when it came.
        self._reported: Decimal | None = None
        self._reported_units = self._reported_at = 0
        # Whether any check runs at all (the kill switch aside).
        self._any = self.tick_ladder or any(value is not None for value in values.values())
        self.client: StreamingAPIClient | None = None
        self._seconds: Callable[[], float] = _no_clock
        self.passed = 0
        self.forced = 0
        self.refusals: collections.Counter[str] = collections.Counter()
        self.halted: str | None = None
        #: What the operator is told of a halt (its ``resume_hint`` says how to resume).
        self.halt_notices = HaltNotices()
        Ledger.__init__(self)
        self._marks_quotes = self._loss_limit is not None
        self._loss2 = 0  # twice the marked loss, the sum of the markets'
        self._second: collections.deque[float] = collections.deque()
        self._minute: collections.deque[float] = collections.deque()
        # (market, contract, buy, price, quantity) -> when the last such create passed;
        # older than the window is as good as absent, and pruned now and then.
        self._recent: dict[tuple[int, int, bool, int, int], float] = {}
        self._recent_prune = _RECENT_FLOOR
        # Whether a create needs the time (a rate or the duplicate window).
        self._timed = any(values[name] is not None for name in ("max_orders_per_second", "max_orders_per_minute", "duplicate_window"))

    @classmethod
    def from_config(cls, section: Mapping[str, str]) -> Controls:
        """Controls from a config file section (``[controls]``): the keywords spelt with
        dashes (``max-order-quantity = 1000000``: £100 of payout, in ten-thousandths of a
        pound as the order's quantity is; ``max-account-exposure = 250.00``,
        ``duplicate-window = 2``, ``tick-ladder = no``). Raises `InvalidControls` naming the
        key for an unknown key or a bad value."""
        return cls(**read_section(section))

    # -- attaching to a client -------------------------------------------------------------

    def attach(self, client: StreamingAPIClient) -> None:
        """Follow ``client``'s account (done by setting ``client.controls``)."""
        if self.client is not None and self.client is not client:
            raise RuntimeError("these controls already follow another client")
        self.client = client
        self._seconds = client.clock.seconds
        session: Any = getattr(client, "session", None)
        if hasattr(session, "account_history"):
            session.account_history = True  # know the account before the first create
        client.logged_in.add(self._logged_in)
        # Orders it already holds count from now (see `adopt` after a restore).
        self.adopt(client.account.orders.values())

    def detach(self) -> None:
        """Stop following the client (done by replacing ``client.controls``)."""
        client, self.client = self.client, None
        self._seconds = _no_clock
        if client is not None:
            client.logged_in.remove(self._logged_in)

    # -- the check -------------------------------------------------------------------------

    @property
    def checked(self) -> int:
        """Creates and replaces checked: each passed or was refused by one control."""
        return self.passed + sum(self.refusals.values())

    def _refuse(self, control: str, limit: Any, figure: Any, create: Any, detail: str = "") -> OrderRefused:
        self.refusals[control] += 1
        error = OrderRefused(control, limit, figure, detail)
        _log.warn(
            "order refused ({error}): market {market} contract {contract} side {side} price {price} quantity {quantity}",
            error=str(error),
            market=create.market_id,
            contract=create.contract_id,
            side=create.side,
            price=create.price,
            quantity=create.quantity,
        )
        return error

    def _forced(self, what: str, create: Any) -> None:
        self.forced += 1
        _log.warn(
            f"forced {what} skips the controls:"
            " market {market} contract {contract} side {side} price {price} quantity {quantity}",
            market=create.market_id,
            contract=create.contract_id,
            side=create.side,
            price=create.price,
            quantity=create.quantity,
        )

    def check(self, create: seto_pb2.OrderCreate | OrderCreate, force: bool = False) -> OrderRefused | CountedOrder:
        """Check a create (an `OrderCreate` or its payload's ``order_create``); the
        `OrderRefused` that refuses it, or the entry that now counts it (the client tells
        `Ledger.sent` and `Ledger.unsent` what became of it)."""
        # One straight pass over plain ints and locals: this runs for every create (see
        # bench/roundtrip.py, controls_share_of_pipelined_order).
        if self.halted is not None:
            self.refusals["kill_switch"] += 1
            return self.halt_notices.refusal(self.halted, self._seconds())
        market_id = create.market_id
        contract_id = create.contract_id
        price = create.price
        quantity = create.quantity
        buy = create.side == _BUY
        units = liability_units(buy, price, quantity)
        now = self._seconds() if self._timed else 0.0
        market = self._markets.get(market_id)
        key = None
        worst = base = -1  # the market's worst case and base with this create, when worked out
        if force:
            self._forced("order", create)
        elif self._any:
            if self.tick_ladder and price not in _LADDER:
                return self._refuse_tick(price, create)
            limit: Any = self._max_quantity
            if limit is not None and quantity > limit:
                return self._refuse("max_order_quantity", limit, quantity, create)
            limit = self._max_liability
            if limit is not None and units > limit:
                return self._refuse("max_order_liability", pounds(limit), pounds(units), create)
            limit = self._max_live
            if limit is not None and self._orders >= limit:
                return self._refuse("max_live_orders", limit, self._orders + 1, create)
            limit = self._max_live_market
            if limit is not None and market is not None and market.live >= limit:
                return self._refuse("max_live_orders_per_market", limit, market.live + 1, create)
            limit = self._per_second
            if limit is not None:
                times = self._second
                cutoff = now - 1.0
                while times and times[0] <= cutoff:
                    times.popleft()
                if len(times) >= limit:
                    return self._refuse("max_orders_per_second", limit, len(times) + 1, create, "creates in 1s")
            limit = self._per_minute
            if limit is not None:
                times = self._minute
                cutoff = now - 60.0
                while times and times[0] <= cutoff:
                    times.popleft()
                if len(times) >= limit:
                    return self._refuse("max_orders_per_minute", limit, len(times) + 1, create, "creates in 60s")
            window = self._window
            if window is not None:
                key = (market_id, contract_id, buy, price, quantity)
                last = self._recent.get(key)
                if last is not None and last > now - window:
                    return self._refuse("duplicate_window", window, now - last, create, "seconds since the same order")
            if self._collar is not None:
                client = self.client
                book = client.markets.get(market_id) if client is not None else None
                contract = book.contracts.get(contract_id) if book is not None else None
                if contract is not None:
                    opposite = contract.best_offer if buy else contract.best_bid
                    # Only a create through the best opposite price is measured.
                    if opposite is not None and (price > opposite if buy else price < opposite):
                        refused = self._check_collar(create, opposite, buy, price)
                        if refused is not None:
                            return refused
            if self._exposure:
                if market is None:
                    refused = self._check_exposure(create, _NOTHING, contract_id, buy, units)
                    if refused is not None:
                        return refused
                else:
                    # Inline for a create (check_replace has its own, `_check_exposure`). The
                    # market's figures with this create counted; put back if it is refused.
                    limit = self._max_contract
                    if limit is not None:
                        figure = (market.lose.get(contract_id, 0) + units) if buy else (market.win.get(contract_id, 0) + units)
                        other = market.win.get(contract_id, 0) if buy else market.lose.get(contract_id, 0)
                        if other > figure:
                            figure = other
                        if figure > limit:
                            return self._refuse("max_contract_exposure", pounds(limit), pounds(figure), create)
                    if self._max_market is not None or self._max_account is not None:
                        delta = market.delta
                        before = delta.get(contract_id, 0)
                        base = market.base + units if buy else market.base
                        delta[contract_id] = before - units if buy else before + units
                        worst = one_winner_worst(base, delta.values())
                        limit = self._max_market
                        if limit is not None and worst > limit:
                            delta[contract_id] = before
                            return self._refuse("max_market_exposure", pounds(limit), pounds(worst), create)
                        if self._max_account is not None:
                            refused = self._check_account(self._total - market.worst + worst, create)
                            if refused is not None:
                                delta[contract_id] = before
                                return refused
        self.passed += 1
        if market is None:
            market = self._markets[market_id] = MarketExposure()
        entry = CountedOrder(market_id, contract_id, buy, price, quantity, market, units)
        entry.waiting = True
        if worst < 0:
            self._total += market.order(contract_id, buy, units)
        else:
            # The check counted it in ``delta`` and worked out the worst case: the rest.
            market.base = base
            if buy:
                lose = market.lose
                lose[contract_id] = lose.get(contract_id, 0) + units
            else:
                win = market.win
                win[contract_id] = win.get(contract_id, 0) + units
            self._total += worst - market.worst
            market.worst = worst
        market.live += 1
        self._orders += 1
        if self._timed:
            if self._per_second is not None:
                self._second.append(now)
            if self._per_minute is not None:
                self._minute.append(now)
            if self._window is not None:
                recent = self._recent
                recent[key or (market_id, contract_id, buy, price, quantity)] = now
                if len(recent) > self._recent_prune:
                    self._prune_recent(now)
        return entry

    def _prune_recent(self, now: float) -> None:
        """Forget the creates older than the duplicate window; done when the record has
        doubled since the last time, so each create costs it O(1) on average."""
        assert self._window is not None
        cutoff = now - self._window
        recent = self._recent
        for key in [key for key, last in recent.items() if last <= cutoff]:
            del recent[key]
        self._recent_prune = max(_RECENT_FLOOR, 2 * len(recent))

    def _refuse_tick(self, price: int, create: Any) -> OrderRefused:
        below, above = previous_tick(price), next_tick(price)
        return self._refuse("tick_ladder", "a price on the tick ladder", price, create, f"nearest ticks {below} and {above}")

    def _check_collar(self, create: Any, opposite: int, buy: bool, price: int) -> OrderRefused | None:
        """The collar for a create at ``price`` through the best ``opposite`` price; the
        refusal, or None."""
        assert self._collar is not None
        low, high = (opposite, price) if buy else (price, opposite)
        ticks = bisect.bisect_right(VALID_PRICES, high) - bisect.bisect_right(VALID_PRICES, low)
        if ticks > self._collar:
            return self._refuse(
                "price_collar_ticks", self._collar, ticks, create, f"ticks through the best {'offer' if buy else 'bid'} {opposite}"
            )
        return None

    def _check_exposure(self, create: Any, market: MarketExposure, c: int, buy: bool, units: int) -> OrderRefused | None:
        """Whether counting ``units`` more (fewer when negative) on ``c`` breaks an
        exposure limit; the refusal if so."""
        if buy:
            base, delta, win, lose = units, -units, 0, units
        else:
            base, delta, win, lose = 0, units, units, 0
        limit = self._max_contract
        if limit is not None:
            worst = market.contract_worst(c, win, lose)
            if worst > limit:
                return self._refuse("max_contract_exposure", pounds(limit), pounds(worst), create)
        if self._max_market is not None or self._max_account is not None:
            worst = market.worst_with(c, base, delta)
            limit = self._max_market
            if limit is not None and worst > limit:
                return self._refuse("max_market_exposure", pounds(limit), pounds(worst), create)
            if self._max_account is not None:
                return self._check_account(self._total - market.worst + worst, create)
        return None

    def _check_account(self, total: int, create: Any) -> OrderRefused | None:
        """The account limit for a create that makes our worst case ``total``: it holds
        against that, and against the exposure the exchange last reported plus what our
        own figure has grown by since (it may count what ours lacks: orders from before a
        history cut short, or more than we do). The refusal if either is over, or None."""
        limit = self._max_account
        assert limit is not None
        reported = self.client.account.exposure if self.client is not None else None
        if reported is not self._reported:
            # A new report (converted once: it changes far less often than we check).
            self._reported, self._reported_at = reported, self._total
            self._reported_units = 0 if reported is None else loss_units(reported)
        figure = total if reported is None else max(total, self._reported_units + total - self._reported_at)
        if figure <= limit:
            return None
        detail = "" if figure == total else f"the exchange reports {pounds(self._reported_units)} of exposure"
        return self._refuse("max_account_exposure", pounds(limit), pounds(figure), create, detail)

    def check_replace(self, replace: seto_pb2.OrderCancelReplace, force: bool = False) -> OrderRefused | CountedOrder | None:
        """Check a cancel-replace as the create of its new order less the original it
        releases. Returns the `OrderRefused` that refuses it; None when it needs no
        counting (it raises no risk: no more quantity, no worse price; or the new order
        risks no more than the original); or the entry that counts the new order's excess
        over the original till the exchange answers (`Ledger.sent`/`Ledger.unsent` as for a create).

        A replace that raises risk meets the kill switch, the tick ladder, the order size
        and liability, the collar and the exposure limits; it adds no live order, so the
        live-order counts, rates and duplicate window (which count creates) do not apply.
        ``force`` skips all but the kill switch."""
        orig = self._live.get(replace.orig_order_id)
        price, quantity = replace.price, replace.quantity
        if orig is not None:
            worse = price > orig.price if orig.buy else price < orig.price
            if quantity <= orig.quantity and not worse:
                self.passed += 1
                return None  # a reduction or a better price: it lowers risk
        else:
            # Not an order we count: unknown, or already done, and the exchange will
            # answer TOO_LATE (an order's id is known only once its acceptance is).
            self.passed += 1
            return None
        create = _Replace(orig.market_id, orig.contract_id, _BUY if orig.buy else _SELL, price, quantity)
        if self.halted is not None:
            self.refusals["kill_switch"] += 1
            return self.halt_notices.refusal(self.halted, self._seconds())
        buy = orig.buy
        units = liability_units(buy, price, quantity)
        excess = units - orig.units
        market = orig.market
        if force:
            self._forced("replace", create)
        elif self._any:
            if self.tick_ladder and price not in _LADDER:
                return self._refuse_tick(price, create)
            if self._max_quantity is not None and quantity > self._max_quantity:
                return self._refuse("max_order_quantity", self._max_quantity, quantity, create)
            if self._max_liability is not None and units > self._max_liability:
                return self._refuse("max_order_liability", pounds(self._max_liability), pounds(units), create)
            if self._collar is not None and self.client is not None:
                book = self.client.markets.get(orig.market_id)
                contract = book.contracts.get(orig.contract_id) if book is not None else None
                opposite = None if contract is None else (contract.best_offer if buy else contract.best_bid)
                if opposite is not None and (price > opposite if buy else price < opposite):
                    refused = self._check_collar(create, opposite, buy, price)
                    if refused is not None:
                        return refused
            if self._exposure and excess > 0:
                refused = self._check_exposure(create, market, orig.contract_id, buy, excess)
                if refused is not None:
                    return refused
        self.passed += 1
        if excess <= 0:
            return None
        # The original may still fill before the exchange reads the replace; till the
        # answer, count the original's rest and the new order's excess over it: the worse
        # of the two.
        entry = CountedOrder(orig.market_id, orig.contract_id, buy, price, quantity, market)
        entry.replaces = replace.orig_order_id
        entry.order = False
        entry.units = excess
        entry.waiting = True
        self._total += market.order(orig.contract_id, buy, excess)
        return entry

    # -- loss limit and kill switch ------------------------------------------------------------

    def _marked(self, market_id: int) -> None:
        if self._loss_limit is not None:
            self._mark(market_id)

    def _quoted(self, market_id: int) -> None:
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
        book = self.client.markets.get(market_id) if self.client is not None else None
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
        if self.client is not None:
            for market_id, market in self._markets.items():
                loss2 = self._market_loss2(market_id, market)
                self._loss2 += loss2 - market.loss2
                market.loss2 = loss2
        return pounds(self._loss2) / 2

    def halt(self, reason: str) -> Any:
        """The kill switch: refuse every create until `reset`, and cancel every live order.

        Returns the ``cancel_all`` Deferred (None when not attached, or not logged in, when
        the exchange's own cancel-on-disconnect setting is what applies)."""
        if self.halted is None:
            self.halt_notices.halted(reason)
        self.halted = reason
        client = self.client
        if client is None or not client.session.connected:
            return None
        return client.cancel_all().addErrback(lambda f: _log.failure("cancel_all after the halt failed", f))

    def _logged_in(self, message: seto_pb2.Payload, resumed: bool) -> None:
        Ledger._logged_in(self, message, resumed)
        if self.halted is not None:
            # Still halted: what the exchange holds goes (a cancel_all lost, a halted restart).
            self.halt(self.halted)

    def snapshot(self) -> dict[str, Any]:
        """`Ledger.snapshot`, and the kill switch's reason: a restored halt stays on."""
        return {**Ledger.snapshot(self), "halted": self.halted}

    def restore(self, data: dict[str, Any]) -> None:
        """`Ledger.restore`, and the halt the snapshot was taken under (if any)."""
        Ledger.restore(self, data)
        if data.get("halted") is not None:
            self.halted = self.halt_notices.restored(str(data["halted"]))

    def reset(self) -> None:
        """Allow creates again after `halt` (or the loss limit)."""
        if self.halted is not None:
            self.halt_notices.resumed(self.halted)
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
