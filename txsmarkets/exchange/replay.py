"""`Replay`: recorded markets re-created in the embedded exchange, with user orders matched
against the recorded book.

The recorded book stands in the engine as outside liquidity: the orders of an account of
its own (``~replay-book``), resting at the recorded prices with the recorded quantities
and changed when the recording says, at the recorded times (scaled by ``speed``). User
orders go through the real engine, so they get the real answers (order_accepted,
order_executed, ...) and the market data the subscribers see is the engine's: the recorded
book with the users' orders in it.

The queue model:

- A user order joins the back of its price level, behind the recorded quantity shown
  there. Recorded quantity that arrives at the level later queues behind it; recorded
  quantity that leaves the level without trading (a cancel) leaves from the back first.
- A recorded execution at a price consumes the level's queue from the front: the recorded
  quantity ahead of a user order first, then the user order, which is filled (a real
  order_executed, at its price) by whatever of the execution is left. A user order at a
  better price than a recorded execution is ahead of all the recorded quantity, so it is
  filled first.
- A user order that crosses the recorded book is filled at once, at the recorded prices;
  and when the recorded book moves through a resting user order, that order is filled.
- Liquidity a user order has taken is not offered again: the level shows the recorded
  quantity less what users took, until recorded executions at that price (which would
  have traded that quantity first) or the level falling below it use the difference up.

Recorded ``market_state`` changes go through the operator's API (so a halt cancels the
users' orders as it would); a recording does not say who won, so a recorded settlement
voids the market in the replay (its bets are given back). ``runningball_notification`` is
announced to the event's markets. Messages about markets the engine does not have are
skipped, with one warning per market.

Records come from any iterator of ``(time, seto.Payload)`` (`read_recorded` reads the
files) and are taken one at a time: a recording of any size replays in flat memory. One
delayed call is scheduled at a time on the injected `IReactorTime`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Protocol

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from txsmarkets.exchange.accounts import Account, AccountRegistry, Credentials
from txsmarkets.exchange.book import BUY, SELL, Book, Level, Order
from txsmarkets.exchange.market import _TRADING, _ZERO, _Market
from txsmarkets.exchange.market_data import MarketData
from txsmarkets.exchange.state import EngineState
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["Replay", "ReplayEngine"]

_log = Logger()

_BALANCE = Decimal("1000000000000")
_KIP = seto_pb2.KEEP_IN_PLAY
_STATES = {
    seto_pb2.MARKET_STATE_NEW: "new",
    seto_pb2.MARKET_STATE_OPEN: "open",
    seto_pb2.MARKET_STATE_LIVE: "live",
    seto_pb2.MARKET_STATE_HALTED: "halted",
    seto_pb2.MARKET_STATE_SETTLED: "settled",
    seto_pb2.MARKET_STATE_VOIDED: "voided",
}
_P_MARKET_QUOTES = seto_pb2.PAYLOAD_MARKET_QUOTES
_P_CONTRACT_QUOTES = seto_pb2.PAYLOAD_CONTRACT_QUOTES
_P_MARKET_STATE = seto_pb2.PAYLOAD_MARKET_STATE
_P_RUNNINGBALL = seto_pb2.PAYLOAD_RUNNINGBALL_NOTIFICATION

Key = tuple[int, int]  # (side of the resting orders, price)


class ReplayEngine(Protocol):
    """What a `Replay` needs of the engine it plays into (a `MatchingEngine` is one): the
    recorded book's orders go into the engine's books and trades directly, through its
    parts, and recorded market states through its operator's API."""

    @property
    def accounts(self) -> AccountRegistry: ...

    @property
    def state(self) -> EngineState: ...

    @property
    def market_data(self) -> MarketData: ...

    def set_market_state(self, market_id: int, state: str) -> None: ...

    def void_market(self, market_id: int) -> None: ...

    def event_markets(self, event_id: int) -> list[int]: ...

    def announce(self, market_id: int, payload: seto_pb2.Payload) -> None: ...


def _open_account(engine: ReplayEngine, username: str) -> Account:
    # Nobody logs in as it: a random password, hashed once.
    credentials = Credentials.create(os.urandom(16).hex(), iterations=1)
    account: Account = engine.accounts.add_credentials(username, credentials, _BALANCE)
    return account


class _Contract:
    """The replay's view of one contract's book.

    ``recorded``: the quantity the recording shows per level; ``taken``: what users took
    of it; ``offered``: what the replay's orders rest there (as the replay last left
    them); ``orders``: those orders, oldest first.
    """

    __slots__ = ("market", "book", "recorded", "taken", "offered", "orders")

    def __init__(self, market: _Market, book: Book) -> None:
        self.market = market
        self.book = book
        self.recorded: dict[Key, int] = {}
        self.taken: dict[Key, int] = {}
        self.offered: dict[Key, int] = {}
        self.orders: dict[Key, list[Order]] = {}


class Replay:
    """Plays ``records`` (``(time, seto.Payload)``, oldest first) into ``engine`` on
    ``clock``: the first record at `start`, each later one ``(its time - the first's) /
    speed`` seconds after. ``done`` fires with the number of records played when the
    recording ends (or `stop` is called). ``batch`` bounds the records played in one turn
    of the reactor when they are late."""

    def __init__(
        self,
        engine: ReplayEngine,
        clock: IReactorTime,
        records: Iterable[tuple[float, seto_pb2.Payload]],
        *,
        speed: float = 1.0,
        batch: int = 1000,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"a replay speed must be above 0, not {speed!r}")
        self.engine = engine
        self.clock = clock
        self.speed = speed
        self.batch = batch
        self.book_account = _open_account(engine, "~replay-book")
        self.trades_account = _open_account(engine, "~replay-trades")
        #: Records played so far.
        self.played = 0
        self.done: Deferred[int] = Deferred()
        self._records: Iterator[tuple[float, seto_pb2.Payload]] = iter(records)
        self._next: tuple[float, seto_pb2.Payload] | None = None
        self._origin = 0.0
        self._base = 0.0
        self._call: IDelayedCall | None = None
        self._contracts: dict[int, _Contract] = {}
        self._unknown: set[int] = set()
        self._last_runningball = b""
        self._stopped = False

    # -- the schedule --

    def start(self) -> None:
        """Play the first record now and schedule the rest."""
        self._origin = self.clock.seconds()
        self._next = next(self._records, None)
        if self._next is None:
            self._finish(ended=True)
            return
        self._base = self._next[0]
        self._play()

    def stop(self) -> None:
        """Play no more (what has been played stays); fires ``done``."""
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        self._finish()

    def _play(self) -> None:
        self._call = None
        now = self.clock.seconds()
        records = self._records
        apply = self.apply
        contract_quotes = self._contract_quotes
        market_data = self.engine.market_data
        # A record is due at origin + (its time - base) / speed.
        origin, base, speed = self._origin, self._base, self.speed
        current = self._next
        for _ in range(self.batch):
            if current is None:
                self._next = None
                self._finish(ended=True)
                return
            due = origin + (current[0] - base) / speed
            if due > now:
                self._next = current
                self._call = self.clock.callLater(due - now, self._play)
                return
            payload = current[1]
            try:
                if payload.type == _P_CONTRACT_QUOTES:
                    # `apply` in line for nearly every record: a call less a record.
                    try:
                        contract_quotes(payload.contract_quotes, False)
                    finally:
                        if market_data.touched:
                            market_data.publish()
                else:
                    apply(payload)
            except Exception:
                # One bad record must not end the replay, nor repeat.
                _log.failure("replay: a record could not be played; skipped")
            self.played += 1
            current = next(records, None)
        self._next = current
        # Late by more than a batch: let the reactor do other work before going on.
        self._call = self.clock.callLater(0, self._play)

    def _finish(self, ended: bool = False) -> None:
        if not self._stopped:
            self._stopped = True
            self._next = None
            if ended:
                # Said, since nothing else changes that a user would see: the books stay as
                # the recording left them, and orders go on trading against them.
                _log.info(
                    "replay: the recording has ended after {played} records; the markets stay as they are",
                    played=self.played,
                )
            self.done.callback(self.played)

    # -- one record --

    def apply(self, payload: seto_pb2.Payload) -> None:
        """Play one recorded message into the engine now."""
        kind = payload.type
        engine = self.engine
        try:
            if kind == _P_CONTRACT_QUOTES:
                self._contract_quotes(payload.contract_quotes, False)
            elif kind == _P_MARKET_QUOTES:
                quotes = payload.market_quotes
                seen = set()
                for contract_quotes in quotes.contract_quotes:
                    seen.add(contract_quotes.contract_id)
                    self._contract_quotes(contract_quotes, True)
                market = engine.state.markets.get(quotes.market_id)
                if market is not None:
                    # A snapshot is the whole market: a contract it leaves out has no quotes.
                    for contract_id in market.books:
                        if contract_id not in seen:
                            self._clear(contract_id)
            elif kind == _P_MARKET_STATE:
                self._market_state(payload.market_state)
            elif kind == _P_RUNNINGBALL:
                self._runningball(payload)
        finally:
            if engine.market_data.touched:
                engine.market_data.publish()

    def _contract(self, market_id: int, contract_id: int) -> _Contract | None:
        contract = self._contracts.get(contract_id)
        if contract is not None:
            return contract
        market = self.engine.state.markets.get(market_id)
        book = market.books.get(contract_id) if market is not None else None
        if market is None or book is None:
            if market_id not in self._unknown:
                self._unknown.add(market_id)
                _log.warn(
                    "replay: market {market} contract {contract} is not in the catalogue; its messages are skipped",
                    market=market_id,
                    contract=contract_id,
                )
            return None
        contract = self._contracts[contract_id] = _Contract(market, book)
        return contract

    def _contract_quotes(self, quotes: seto_pb2.ContractQuotes, snapshot: bool) -> None:
        # Reading a recorded message's fields is much of the replay's cost: each is read
        # once, and a repeated field is only walked when it holds something.
        contract = self._contracts.get(quotes.contract_id)
        if contract is None:
            contract = self._contract(quotes.market_id, quotes.contract_id)
            if contract is None:
                return
        trading = contract.market.state in _TRADING
        if trading and not snapshot:
            executions = quotes.executions
            if executions:
                for execution in executions:
                    self._execution(contract, execution)
        recorded = contract.recorded
        changed: list[Key] = []
        if snapshot:
            changed.extend(recorded)
            recorded.clear()
        for side, levels in ((BUY, quotes.bids), (SELL, quotes.offers)):
            if not levels:
                continue
            for quote in levels:
                key = (side, quote.price)
                quantity = quote.quantity
                if quantity:
                    recorded[key] = quantity
                else:
                    recorded.pop(key, None)
                changed.append(key)
        if not trading:
            return
        if len(changed) == 1:
            # `_reconcile_all` of one level in the usual case, in line: one replay order
            # stands at the level as the replay left it, at the back of it, and the recorded
            # quantity moved to another above 0: that order takes the new quantity.
            key = changed[0]
            orders = contract.orders.get(key)
            if orders is not None and len(orders) == 1 and key not in contract.taken:
                only = orders[0]
                current = only.remaining
                target = recorded.get(key, 0)
                if only.resting and target and contract.offered.get(key) == current:
                    if target == current:
                        return
                    book = contract.book
                    if target < current:
                        book.reduce(only, target)
                        contract.offered[key] = target
                        self.engine.market_data.touched[book] = None
                        return
                    # Only the back of the level grows in place: quantity arriving queues last.
                    level = (book.bids if key[0] == BUY else book.offers).levels.get(key[1])
                    if level is not None and level.orders[-1] is only:
                        book.reduce(only, target)
                        if target > only.quantity:
                            only.quantity = target
                        contract.offered[key] = target
                        self.engine.market_data.touched[book] = None
                        return
        self._reconcile_all(contract, changed)

    def _clear(self, contract_id: int) -> None:
        contract = self._contracts.get(contract_id)
        if contract is not None and contract.recorded:
            changed = list(contract.recorded)
            contract.recorded.clear()
            if contract.market.state in _TRADING:
                self._reconcile_all(contract, changed)

    # -- the queue model --

    def _sync(self, contract: _Contract, key: Key) -> int:
        """What the replay rests at ``key`` now; what users took since it was set goes
        into ``taken``."""
        orders = contract.orders.get(key)
        current = 0
        if orders is None:
            pass
        elif len(orders) == 1:
            # The usual case: one order holds the level's recorded quantity.
            order = orders[0]
            if order.resting:
                current = order.remaining
            else:
                del contract.orders[key]
        else:
            live = [order for order in orders if order.resting]
            if len(live) != len(orders):
                if live:
                    contract.orders[key] = live
                else:
                    del contract.orders[key]
            for order in live:
                current += order.remaining
        offered = contract.offered.get(key, 0)
        if current != offered:
            if current < offered:
                contract.taken[key] = contract.taken.get(key, 0) + offered - current
            if current:
                contract.offered[key] = current
            else:
                del contract.offered[key]
        return current

    def _reconcile_all(self, contract: _Contract, keys: list[Key]) -> None:
        # Quantity leaves before any arrives, so that the replay's own orders never cross.
        targets = None
        recorded_ = contract.recorded
        orders_ = contract.orders
        offered_ = contract.offered
        sync = self._sync
        for key in dict.fromkeys(keys) if len(keys) > 2 else keys:
            # `_sync` in line for the usual levels, where nothing has changed since the
            # replay set them: no order of its own, or one order as it was left.
            orders = orders_.get(key)
            if orders is None:
                current = sync(contract, key) if key in offered_ else 0
            elif len(orders) == 1 and (only := orders[0]).resting and offered_.get(key) == only.remaining:
                current = only.remaining
            else:
                current = sync(contract, key)
            target = recorded_.get(key, 0)
            taken_ = contract.taken
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
                self._shrink(contract, key, current - target)
            elif target > current:
                if targets is None:
                    targets = [(key, target - current)]
                else:
                    targets.append((key, target - current))
        if targets is not None:
            for key, more in targets:
                self._grow(contract, key, more)

    def _shrink(self, contract: _Contract, key: Key, less: int) -> None:
        """Take ``less`` off the replay's orders at ``key``, newest first."""
        orders = contract.orders[key]
        book = contract.book
        self.engine.market_data.touched[book] = None
        while less:
            order = orders[-1]
            if order.remaining > less:
                book.reduce(order, order.remaining - less)
                less = 0
            else:
                less -= order.remaining
                book.remove(order)
                orders.pop()
                self._forget(order)
        if len(orders) == 1:
            contract.offered[key] = orders[0].remaining
        elif orders:
            contract.offered[key] = sum(order.remaining for order in orders)
        else:
            del contract.orders[key]
            contract.offered.pop(key, None)

    def _grow(self, contract: _Contract, key: Key, more: int) -> None:
        """Add ``more`` at ``key``: to the replay's last order if it is the back of the
        level, else as a new order at the back (filling the user orders it crosses)."""
        side, price = key
        book = contract.book
        engine = self.engine
        orders = contract.orders.get(key)
        if orders:
            level = (book.bids if side == BUY else book.offers).levels.get(price)
            last = orders[-1]
            if level is not None and (level.orders[-1] is last and last.resting or _back(level) is last):
                book.reduce(last, last.remaining + more)
                last.quantity = max(last.quantity, last.remaining)
                contract.offered[key] = contract.offered.get(key, 0) + more
                engine.market_data.touched[book] = None
                return
        order = engine.state.open_order(self.book_account, book, side, price, more, _KIP, None, None, _ZERO)
        engine.market_data.touched[book] = None
        # Swept only when it reaches the other side (as the recorded book seldom does).
        opposite = book.offers.keys if side == BUY else book.bids.keys
        crossed = 0
        if opposite and (-opposite[-1] <= price if side == BUY else opposite[-1] >= price):
            crossed = self._sweep(contract, order)
        if crossed:
            contract.taken[key] = contract.taken.get(key, 0) + crossed
        if order.remaining:
            book.add(order)
            contract.orders.setdefault(key, []).append(order)
            contract.offered[key] = contract.offered.get(key, 0) + order.remaining
        else:
            self._forget(order)

    def _execution(self, contract: _Contract, execution: seto_pb2.Execution) -> None:
        """A recorded trade: it uses up what users took at its price first, then trades
        the level's queue from the front (the users' orders in it being filled)."""
        taker_side = execution.liquidity
        price = execution.price
        quantity = execution.quantity
        resting = SELL if taker_side == BUY else BUY
        key = (resting, price)
        self._sync(contract, key)
        taken = contract.taken.get(key, 0)
        absorbed = min(quantity, taken)
        if absorbed:
            if taken > absorbed:
                contract.taken[key] = taken - absorbed
            else:
                del contract.taken[key]
        left = quantity - absorbed
        filled = 0
        if left:
            engine = self.engine
            taker = Order(
                engine.state.take_order_id(), self.trades_account.id, contract.market.id, contract.book.contract_id,
                taker_side, price, left, seto_pb2.IMMEDIATE_OR_CANCEL,
            )
            engine.market_data.touched[contract.book] = None
            filled = self._sweep(contract, taker)
        rest = quantity - filled
        if rest:
            # Touched even if it only used up what users took: else it could be dropped.
            self.engine.market_data.touched[contract.book] = None
            self.engine.market_data.trade(contract.book, price, rest, taker_side)

    def _sweep(self, contract: _Contract, taker: Order) -> int:
        """Trade ``taker`` (a replay order) through the book: the replay's own resting
        orders it meets are used up without a trade, the users' are filled by the real
        engine. Returns the quantity the users' orders filled."""
        state = self.engine.state
        book = contract.book
        market = contract.market
        book_id = self.book_account.id
        taker_account = self.book_account if taker.account_id == book_id else self.trades_account
        filled = 0
        for maker, quantity, price in book.match(taker):
            if maker.account_id == book_id:
                key = (maker.side, price)
                offered = contract.offered.get(key, 0) - quantity
                if offered > 0:
                    contract.offered[key] = offered
                else:
                    contract.offered.pop(key, None)
                if not maker.remaining:
                    self._forget(maker)
            else:
                state.fill(taker_account, taker, maker, quantity, price, market, book)
                filled += quantity
        return filled

    def _forget(self, order: Order) -> None:
        """A replay order is done: it is not kept as a done order (memory stays flat)."""
        order.live = False
        order.resting = False
        self.engine.state.orders.pop(order.id, None)
        self.book_account.orders.pop(order.id, None)

    # -- market states and news --

    def _market_state(self, body: seto_pb2.MarketState) -> None:
        engine = self.engine
        market = engine.state.markets.get(body.market_id)
        if market is None:
            return
        state = _STATES.get(body.state)
        if state is None or state == market.state or market.state in ("settled", "voided"):
            return
        contracts = [c for c in self._contracts.values() if c.market is market]
        for contract in contracts:
            for key in list(contract.offered):
                self._sync(contract, key)
        if state in ("settled", "voided"):
            engine.void_market(market.id)
        else:
            engine.set_market_state(market.id, state)
        # The engine may have cancelled the replay's orders with the users' (a halt does).
        for contract in contracts:
            for key in list(contract.orders):
                live = [order for order in contract.orders[key] if order.resting]
                if live:
                    contract.orders[key] = live
                    contract.offered[key] = sum(order.remaining for order in live)
                else:
                    del contract.orders[key]
                    contract.offered.pop(key, None)
            if market.state in _TRADING:
                self._reconcile_all(contract, list(contract.recorded) + list(contract.offered))

    def _runningball(self, payload: seto_pb2.Payload) -> None:
        # The exchange sends it on each market of the event, so a recording has a copy per
        # market subscribed: one is announced (to every market of the event).
        body = payload.runningball_notification
        data = body.SerializeToString()
        if data == self._last_runningball:
            return
        self._last_runningball = data
        engine = self.engine
        for market_id in engine.event_markets(body.event_id):
            # A fresh payload: the recorded one carries the recorded session's seq.
            fresh = new_payload(_P_RUNNINGBALL)
            fresh.runningball_notification.CopyFrom(body)
            engine.announce(market_id, fresh)


def _back(level: Level) -> Order | None:
    """The last resting order of a price level."""
    for order in reversed(level.orders):
        if order.resting:
            return order
    return None
