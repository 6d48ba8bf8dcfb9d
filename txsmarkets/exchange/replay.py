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
skipped, with one warning per market; the replay's ``markets_skipped`` names them (and
``markets_played`` those it played), for a caller to tell its user.

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
from txsmarkets.exchange.market_data import MarketData
from txsmarkets.exchange.replay_queue import ContractQueue
from txsmarkets.exchange.state import EngineState
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["Replay", "ReplayEngine"]

_log = Logger()

_BALANCE = Decimal("1000000000000")
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
    # Nobody logs in as it (not attended: its answers are not built): a random password,
    # hashed once.
    credentials = Credentials.create(os.urandom(16).hex(), iterations=1)
    account: Account = engine.accounts.add_credentials(username, credentials, _BALANCE, attended=False)
    return account


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
        self._contracts: dict[int, ContractQueue] = {}
        #: The recorded markets played (the engine has them), and those skipped (it has not).
        self.markets_played: set[int] = set()
        self.markets_skipped: set[int] = set()
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
        contracts = self._contracts
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
                    quotes = payload.contract_quotes
                    try:
                        contract = contracts.get(quotes.contract_id)
                        if contract is None:
                            contract = self._contract(quotes.market_id, quotes.contract_id)
                        if contract is not None:
                            contract.quotes(quotes)
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
                quotes = payload.contract_quotes
                contract = self._contract(quotes.market_id, quotes.contract_id)
                if contract is not None:
                    contract.quotes(quotes)
            elif kind == _P_MARKET_QUOTES:
                snapshot = payload.market_quotes
                seen = set()
                for quotes in snapshot.contract_quotes:
                    seen.add(quotes.contract_id)
                    contract = self._contract(quotes.market_id, quotes.contract_id)
                    if contract is not None:
                        contract.snapshot(quotes)
                market = engine.state.markets.get(snapshot.market_id)
                if market is not None:
                    # A snapshot is the whole market: a contract it leaves out has no quotes.
                    for contract_id in market.books:
                        if contract_id not in seen and (contract := self._contracts.get(contract_id)) is not None:
                            contract.clear()
            elif kind == _P_MARKET_STATE:
                self._market_state(payload.market_state)
            elif kind == _P_RUNNINGBALL:
                self._runningball(payload)
        finally:
            if engine.market_data.touched:
                engine.market_data.publish()

    def _contract(self, market_id: int, contract_id: int) -> ContractQueue | None:
        """The queue of a recorded contract, made on its first record; None (and a warning
        for its market, once) for a contract the engine does not have."""
        contract = self._contracts.get(contract_id)
        if contract is not None:
            return contract
        market = self.engine.state.markets.get(market_id)
        book = market.books.get(contract_id) if market is not None else None
        if market is None or book is None:
            if market_id not in self.markets_skipped:
                self.markets_skipped.add(market_id)
                _log.warn(
                    "replay: market {market} contract {contract} is not in the catalogue; its messages are skipped",
                    market=market_id,
                    contract=contract_id,
                )
            return None
        self.markets_played.add(market_id)
        engine = self.engine
        contract = self._contracts[contract_id] = ContractQueue(
            market, book, engine.state, engine.market_data, self.book_account, self.trades_account
        )
        return contract

    # -- market states and news --

    def _market_state(self, body: seto_pb2.MarketState) -> None:
        engine = self.engine
        market = engine.state.markets.get(body.market_id)
        if market is None:
            self.markets_skipped.add(body.market_id)
            return
        self.markets_played.add(body.market_id)
        state = _STATES.get(body.state)
        if state is None or state == market.state or market.state in ("settled", "voided"):
            return
        contracts = [c for c in self._contracts.values() if c.market is market]
        for contract in contracts:
            contract.settle_levels()
        if state in ("settled", "voided"):
            engine.void_market(market.id)
        else:
            engine.set_market_state(market.id, state)
        # The engine may have cancelled the replay's orders with the users' (a halt does).
        for contract in contracts:
            contract.after_state_change()

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

