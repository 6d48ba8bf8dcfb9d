"""`Controls`: trading limits checked before an order create leaves the client.

A `Controls` is given to ``connect(settings, controls=...)`` or set as ``client.controls``.
Every create (``order``/``create_order``) is checked against it on the reactor thread; a
create that would break a limit fails its Deferred at once with `OrderRefused`, and
nothing is stamped, sent or journaled. Cancels, reductions and replaces are never checked.
``force=True`` on a create skips every control but the kill switch.

Exposure is the worst-case loss, in exact integer hundred-millionths of a pound (price x
quantity), of fills plus every live and in-flight order as if it filled (each order only
when its filling makes that outcome worse). A market's contracts are its outcomes and
exactly one wins; a contract we hold nothing on may be the winner, so that outcome is
always counted. An order counts from the moment it passes the controls, before it is even
sent, until the exchange answers it (rejected, or accepted and later filled, cancelled,
reduced or voided): two orders sent together cannot pass a limit that each passes alone.
An order whose answer was lost with a connection stays counted until the resumed session
brings the answer.

The controls follow the account as the exchange reports it, through handlers on the
client (`attach`), so an order placed and answered on any session of this client counts.
"""

from __future__ import annotations

import bisect
import collections
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Mapping

from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.client.exposure import FULL, CountedOrder, MarketExposure, pounds
from txsmarkets.client.limits import LIMITS, InvalidControls, check_limit, read_section
from txsmarkets.exceptions import OrderRefused
from txsmarkets.odds import (
    VALID_PRICES,
    buy_liability,
    is_valid_price,
    next_tick,
    previous_tick,
    sell_liability,
)
from txsmarkets.wire import seto_pb2

if TYPE_CHECKING:
    from txsmarkets.client.api import StreamingAPIClient

__all__ = ["CONTROL_NAMES", "Controls", "InvalidControls"]

_log = Logger()

_BUY = seto_pb2.SIDE_BUY
#: Price x quantity units in a pound.
_UNITS = 10**8

#: The names a refusal (and ``refusals``) gives each control.
CONTROL_NAMES = (
    "kill_switch",
    "tick_ladder",
    "max_order_quantity",
    "max_order_liability",
    "max_live_orders",
    "max_live_orders_per_market",
    "max_orders_per_second",
    "max_orders_per_minute",
    "duplicate_window",
    "price_collar_ticks",
    "max_contract_exposure",
    "max_market_exposure",
    "max_account_exposure",
)


class Controls:
    """Trading limits, each optional (None: not checked); see the module doc.

    Limits (keywords): ``max_order_quantity`` (an order's quantity, in the order's units:
    ten-thousandths of a pound of payout), ``max_order_liability`` (pounds an order
    risks), ``max_contract_exposure``, ``max_market_exposure``, ``max_account_exposure``
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
        self._max_liability: Decimal | None = (
            None if values["max_order_liability"] is None else pounds(values["max_order_liability"])
        )
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
        self.client: StreamingAPIClient | None = None
        self.checked = 0
        self.passed = 0
        self.forced = 0
        self.refusals: collections.Counter[str] = collections.Counter()
        self.halted: str | None = None
        self._markets: dict[int, MarketExposure] = {}
        self._total = 0  # the account's worst-case loss, the sum of the markets'
        self._unsent: set[CountedOrder] = set()
        self._inflight: dict[int, CountedOrder] = {}
        self._live: dict[int, CountedOrder] = {}
        # order id -> [market, contract, buy, quantity filled, price x quantity filled]
        self._fills: dict[int, list[Any]] = {}
        self._second: collections.deque[float] = collections.deque()
        self._minute: collections.deque[float] = collections.deque()
        self._recent: dict[tuple[int, int, int, int, int], float] = {}
        self._recent_order: collections.deque[tuple[float, tuple[int, int, int, int, int]]] = collections.deque()

    @classmethod
    def from_config(cls, section: Mapping[str, str]) -> Controls:
        """Controls from a config file section (``[controls]``): the keywords spelt with
        dashes (``max-order-quantity = 100``, ``max-account-exposure = 250.00``,
        ``duplicate-window = 2``, ``tick-ladder = no``). Raises `InvalidControls` naming the
        key for an unknown key or a bad value."""
        return cls(**read_section(section))

    # -- attaching to a client -------------------------------------------------------------

    def _handlers(self) -> list[tuple[str, Any]]:
        handlers = [
            ("seto.order_accepted", self._accepted),
            ("seto.order_rejected", self._rejected),
            ("seto.order_invalid", self._invalid),
            ("seto.order_executed", self._executed),
            ("seto.order_cancelled", self._cancelled),
            ("seto.order_quantity_reduced", self._reduced),
            ("seto.order_cancel_replace_accepted", self._replaced),
            ("seto.order_voided", self._voided),
        ]
        if self._loss_limit is not None:
            handlers += [("seto.market_quotes", self._quotes), ("seto.contract_quotes", self._quotes)]
        return handlers

    def attach(self, client: StreamingAPIClient) -> None:
        """Follow ``client``'s account (done by setting ``client.controls``)."""
        if self.client is not None and self.client is not client:
            raise RuntimeError("these controls already follow another client")
        self.client = client
        for name, handler in self._handlers():
            client.add_handler(name, handler)
        client.logged_in.add(self._logged_in)

    def detach(self) -> None:
        """Stop following the client (done by replacing ``client.controls``)."""
        client, self.client = self.client, None
        if client is not None:
            for name, handler in self._handlers():
                client.del_handler(name, handler)
            client.logged_in.remove(self._logged_in)

    # -- the check -------------------------------------------------------------------------

    def _refuse(self, control: str, limit: Any, figure: Any, create: seto_pb2.OrderCreate, detail: str = "") -> OrderRefused:
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

    def check(self, create: seto_pb2.OrderCreate, force: bool = False) -> OrderRefused | CountedOrder:
        """Check a create; the `OrderRefused` that refuses it, or the in-flight entry that
        now counts it (the client tells `sent` and `unsent` what became of it)."""
        self.checked += 1
        if self.halted is not None:
            return self._refuse("kill_switch", "halted", self.halted, create, "trading is halted until reset()")
        market_id, contract_id, price, quantity = create.market_id, create.contract_id, create.price, create.quantity
        buy = create.side == _BUY
        now = self.client.clock.seconds() if self.client is not None else 0.0
        if force:
            self.forced += 1
            _log.warn(
                "forced order skips the controls: market {market} contract {contract} side {side} price {price} quantity {quantity}",
                market=market_id,
                contract=contract_id,
                side=create.side,
                price=price,
                quantity=quantity,
            )
        else:
            refused = self._limits(create, market_id, contract_id, buy, price, quantity, now)
            if refused is not None:
                return refused
        self.passed += 1
        entry = CountedOrder(market_id, contract_id, buy, price, quantity)
        self._count(entry)
        self._unsent.add(entry)
        if self._per_second is not None:
            self._second.append(now)
        if self._per_minute is not None:
            self._minute.append(now)
        if self._window is not None:
            key = (market_id, contract_id, create.side, price, quantity)
            self._recent[key] = now
            self._recent_order.append((now, key))
        return entry

    def _limits(
        self, create: seto_pb2.OrderCreate, market_id: int, contract_id: int, buy: bool, price: int, quantity: int, now: float
    ) -> OrderRefused | None:
        if self.tick_ladder and not is_valid_price(price):
            below, above = previous_tick(price), next_tick(price)
            return self._refuse("tick_ladder", "a price on the tick ladder", price, create, f"nearest ticks {below} and {above}")
        if self._max_quantity is not None and quantity > self._max_quantity:
            return self._refuse("max_order_quantity", self._max_quantity, quantity, create)
        if self._max_liability is not None:
            liability = buy_liability(price, quantity) if buy else sell_liability(price, quantity)
            if liability > self._max_liability:
                return self._refuse("max_order_liability", self._max_liability, liability, create)
        market = self._markets.get(market_id)
        if self._max_live is not None:
            live = len(self._live) + len(self._inflight) + len(self._unsent)
            if live + 1 > self._max_live:
                return self._refuse("max_live_orders", self._max_live, live + 1, create)
        if self._max_live_market is not None:
            live = market.live if market is not None else 0
            if live + 1 > self._max_live_market:
                return self._refuse("max_live_orders_per_market", self._max_live_market, live + 1, create)
        for name, limit, times, span in (
            ("max_orders_per_second", self._per_second, self._second, 1.0),
            ("max_orders_per_minute", self._per_minute, self._minute, 60.0),
        ):
            if limit is not None:
                while times and times[0] <= now - span:
                    times.popleft()
                if len(times) + 1 > limit:
                    return self._refuse(name, limit, len(times) + 1, create, f"creates in {span:g}s")
        if self._window is not None:
            recent = self._recent_order
            while recent and recent[0][0] <= now - self._window:
                _, old = recent.popleft()
                if self._recent.get(old, now) <= now - self._window:
                    del self._recent[old]
            key = (market_id, contract_id, create.side, price, quantity)
            if key in self._recent:
                return self._refuse(
                    "duplicate_window", self._window, now - self._recent[key], create, "seconds since the same order"
                )
        if self._collar is not None and self.client is not None:
            refused = self._check_collar(create, market_id, contract_id, buy, price)
            if refused is not None:
                return refused
        if self._max_contract is not None or self._max_market is not None or self._max_account is not None:
            return self._check_exposure(create, market, contract_id, buy, price, quantity)
        return None

    def _check_collar(self, create: seto_pb2.OrderCreate, market_id: int, contract_id: int, buy: bool, price: int) -> OrderRefused | None:
        assert self.client is not None and self._collar is not None
        book = self.client.markets.get(market_id)
        contract = book.contracts.get(contract_id) if book is not None else None
        opposite = None if contract is None else (contract.best_offer if buy else contract.best_bid)
        if opposite is None:
            return None  # nothing to be a fat finger against
        through = price - opposite if buy else opposite - price
        if through <= 0:
            return None
        low, high = (opposite, price) if buy else (price, opposite)
        ticks = bisect.bisect_right(VALID_PRICES, high) - bisect.bisect_right(VALID_PRICES, low)
        if ticks > self._collar:
            return self._refuse(
                "price_collar_ticks", self._collar, ticks, create, f"ticks through the best {'offer' if buy else 'bid'} {opposite}"
            )
        return None

    def _check_exposure(
        self, create: seto_pb2.OrderCreate, market: MarketExposure | None, c: int, buy: bool, price: int, quantity: int
    ) -> OrderRefused | None:
        if market is None:
            market = MarketExposure()
        if buy:
            q = price * quantity
            base, delta, win, lose = q, -q, 0, q
        else:
            q = (FULL - price) * quantity
            base, delta, win, lose = 0, q, q, 0
        if self._max_contract is not None:
            worst = market.contract_worst(c, win, lose)
            if worst > self._max_contract:
                return self._refuse("max_contract_exposure", pounds(self._max_contract), pounds(worst), create)
        if self._max_market is not None or self._max_account is not None:
            worst = market.worst_with(c, base, delta)
            if self._max_market is not None and worst > self._max_market:
                return self._refuse("max_market_exposure", pounds(self._max_market), pounds(worst), create)
            total = self._total - market.worst + worst
            if self._max_account is not None and total > self._max_account:
                return self._refuse("max_account_exposure", pounds(self._max_account), pounds(total), create)
        return None

    # -- what became of a create -------------------------------------------------------------

    def sent(self, entry: CountedOrder, seq: int) -> None:
        """The create counted by ``entry`` went out as ``seq``: it counts till answered."""
        if entry in self._unsent:
            self._unsent.discard(entry)
            entry.seq = seq
            self._inflight[seq] = entry

    def unsent(self, failure: Failure, entry: CountedOrder) -> Failure:
        """The create's Deferred failed; if it never went out, it no longer counts.

        (One that went out stays counted: its answer may still come after a resume.)
        Returns ``failure``, so it can be an errback."""
        if entry in self._unsent:
            self._unsent.discard(entry)
            self._uncount(entry)
        return failure

    def _count(self, entry: CountedOrder, sign: int = 1) -> None:
        market = self._markets.get(entry.market_id)
        if market is None:
            market = self._markets[entry.market_id] = MarketExposure()
        before = market.worst
        market.order(entry.contract_id, entry.buy, entry.price, entry.quantity, sign)
        market.live += sign
        self._total += market.worst - before

    def _uncount(self, entry: CountedOrder) -> None:
        self._count(entry, -1)

    # -- the account, as the exchange reports it ---------------------------------------------

    def _accepted(self, message: seto_pb2.Payload) -> None:
        body = message.order_accepted
        entry = self._inflight.get(body.seq)
        if entry is not None and (
            (body.market_id and body.market_id != entry.market_id)
            or (body.contract_id and body.contract_id != entry.contract_id)
            or (body.price and body.price != entry.price)
        ):
            entry = None  # an answer from an earlier session, under a seq used again
        if entry is not None:
            del self._inflight[body.seq]
            if body.quantity and body.quantity != entry.quantity:
                self._uncount(entry)
                entry.quantity = body.quantity
                self._count(entry)
        elif body.order_id in self._live:
            return
        else:
            # An order this process did not count (sent before a restart): count it now.
            entry = CountedOrder(body.market_id, body.contract_id, body.side == _BUY, body.price, body.quantity)
            self._count(entry)
        entry.order_id = body.order_id
        self._live[body.order_id] = entry

    def _answered(self, seq: int) -> None:
        entry = self._inflight.pop(seq, None)
        if entry is not None:
            self._uncount(entry)

    def _rejected(self, message: seto_pb2.Payload) -> None:
        self._answered(message.order_rejected.seq)

    def _invalid(self, message: seto_pb2.Payload) -> None:
        self._answered(message.order_invalid.seq)

    def _executed(self, message: seto_pb2.Payload) -> None:
        body = message.order_executed
        entry = self._live.get(body.order_id)
        market = self._markets.get(body.market_id)
        if market is None:
            market = self._markets[body.market_id] = MarketExposure()
        before = market.worst
        buy = body.side == _BUY
        if entry is not None:
            filled = min(body.quantity, entry.quantity)
            market.order(entry.contract_id, entry.buy, entry.price, filled, -1)
            entry.quantity -= filled
            left = body.available_quantity if body.HasField("available_quantity") else entry.quantity
            if left != entry.quantity:
                market.order(entry.contract_id, entry.buy, entry.price, left - entry.quantity, 1)
                entry.quantity = left
            if entry.quantity <= 0:
                del self._live[body.order_id]
                market.live -= 1
        market.fill(body.contract_id, buy, body.quantity, body.price * body.quantity)
        record = self._fills.get(body.order_id)
        if record is None:
            record = self._fills[body.order_id] = [body.market_id, body.contract_id, buy, 0, 0]
        record[3] += body.quantity
        record[4] += body.price * body.quantity
        self._total += market.worst - before
        if self._loss_limit is not None:
            self._mark(body.market_id)

    def _done(self, order_id: int) -> None:
        entry = self._live.pop(order_id, None)
        if entry is not None:
            self._uncount(entry)

    def _cancelled(self, message: seto_pb2.Payload) -> None:
        self._done(message.order_cancelled.order_id)

    def _reduced(self, message: seto_pb2.Payload) -> None:
        body = message.order_quantity_reduced
        entry = self._live.get(body.order_id)
        if entry is not None:
            self._uncount(entry)
            entry.quantity = body.new_quantity
            if entry.quantity > 0:
                self._count(entry)
            else:
                del self._live[body.order_id]

    def _replaced(self, message: seto_pb2.Payload) -> None:
        body = message.order_cancel_replace_accepted
        self._done(body.orig_order_id)
        if body.quantity_left > 0:
            entry = CountedOrder(body.market_id, body.contract_id, body.side == _BUY, body.price, body.quantity_left)
            entry.order_id = body.order_id
            self._count(entry)
            self._live[body.order_id] = entry

    def _voided(self, message: seto_pb2.Payload) -> None:
        body = message.order_voided
        self._done(body.order_id)
        record = self._fills.pop(body.order_id, None)
        if record is None:
            return
        market_id, contract_id, buy, quantity, paid = record
        market = self._markets[market_id]
        before = market.worst
        market.fill(contract_id, buy, -quantity, -paid)
        self._total += market.worst - before
        if self._loss_limit is not None:
            self._mark(market_id)

    def _logged_in(self, message: seto_pb2.Payload, resumed: bool) -> None:
        if resumed or not self._inflight:
            return
        # A new session numbers from 1 again: the old seqs can no longer be matched. What
        # the exchange accepted of them it reports on the account stream, counted then.
        _log.warn("new session: {n} unanswered creates of the old one no longer counted", n=len(self._inflight))
        inflight, self._inflight = self._inflight, {}
        for entry in inflight.values():
            self._uncount(entry)

    # -- loss limit and kill switch ------------------------------------------------------------

    def _quotes(self, message: seto_pb2.Payload) -> None:
        body = message.market_quotes if message.type == seto_pb2.PAYLOAD_MARKET_QUOTES else message.contract_quotes
        if body.market_id in self._markets:
            self._mark(body.market_id)

    def _mark(self, market_id: int) -> None:
        market = self._markets[market_id]
        before = market.loss2
        market.loss2 = self._market_loss2(market_id, market)
        if market.loss2 != before and self.halted is None and self._loss_limit is not None:
            loss2 = sum(m.loss2 for m in self._markets.values())
            if loss2 >= 2 * self._loss_limit:
                self.halt(f"loss limit {pounds(self._loss_limit)} reached: loss {pounds(loss2) / 2}")

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
        return 2 * market.cost - value2

    @property
    def loss(self) -> Decimal:
        """Realised plus marked-to-market loss in pounds (negative: a profit)."""
        if self.client is not None:
            for market_id, market in self._markets.items():
                market.loss2 = self._market_loss2(market_id, market)
        return pounds(sum(market.loss2 for market in self._markets.values())) / 2

    def halt(self, reason: str) -> Any:
        """The kill switch: refuse every create until `reset`, and cancel every live order.

        Returns the ``cancel_all`` Deferred (None when not attached, or not logged in, when
        the exchange's own cancel-on-disconnect setting is what applies)."""
        first = self.halted is None
        self.halted = reason
        if first:
            _log.error("trading halted: {reason}", reason=reason)
        client = self.client
        if client is None or not client.session.connected:
            return None
        d = client.cancel_all()
        d.addErrback(lambda f: _log.failure("cancel_all after the halt failed", f))
        return d

    def reset(self) -> None:
        """Allow creates again after `halt` (or the loss limit)."""
        if self.halted is not None:
            _log.info("trading resumed after halt: {reason}", reason=self.halted)
        self.halted = None

    # -- what the controls count -----------------------------------------------------------

    @property
    def account_exposure(self) -> Decimal:
        """The account's worst-case loss in pounds, fills, live and in-flight orders."""
        return pounds(self._total)

    def market_exposure(self, market_id: int) -> Decimal:
        """One market's worst-case loss in pounds."""
        market = self._markets.get(market_id)
        return pounds(market.worst if market is not None else 0)

    def contract_exposure(self, market_id: int, contract_id: int) -> Decimal:
        """One contract's worst-case loss, on its own, in pounds."""
        market = self._markets.get(market_id)
        return pounds(market.contract_worst(contract_id) if market is not None else 0)

    @property
    def live_orders(self) -> int:
        """Orders counted: live, in flight and waiting to be sent."""
        return len(self._live) + len(self._inflight) + len(self._unsent)

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
