"""`BridgeMarketData`: the subscribed markets' order books, trades and states, polled upstream.

Quotes: every subscribed market's books in as few requests as the id cap allows (200
markets a ``GET /v3/markets/{ids}/quotes/``), one round of them no more often than the
quotes limit allows (50 requests a minute: a round of one request every 1.2 s; a round of
``n`` requests every ``n`` times that). A subscriber gets the books as last polled
(`snapshot`: a ``market_quotes``, empty before the first poll); each poll after it becomes
a ``contract_quotes`` of the levels that changed (quantity 0: the level is gone), every
level of a contract new to the bridge. A round that fails (the upstream's error, a 429
included, or no answer) is said in one line and the next backs off (`PollBackoff
<txsmarkets.http_api.backoff.PollBackoff>`: its pace doubled per failure, at most
``max_backoff`` seconds); the books stay as last polled. The contracts' markets come from ``GET /v3/markets/{ids}/contracts/`` once
a market (the quotes are keyed by contract only). The upstream's placeholder levels
(quantity 2^31-2 at the ends of the ladder) are left out.

Trades: each round also asks the markets' last executed prices (100 markets a
``GET /v3/markets/{ids}/last_executed_prices/``, an endpoint the document gives no limit,
asked alongside the quotes). A contract's new last executed price is read as trades at the
levels it went through, of the quantity those levels lost since the round before
(`TradeReader <txsmarkets.exchange.polled_trades.TradeReader>`, which the paper exchange
reads its trades with too): they are the ``executions`` of that round's ``contract_quotes``,
each told once in a run (a price seen again, as after a market was forgotten and polled
again, or the first one seen, is no new trade). The contract's last execution read is the
``last_execution`` of its later ``contract_quotes`` and of a snapshot.

States: every ``catalogue_interval`` seconds the markets' catalogue entries and their
contracts' states (``GET /v3/markets/{ids}/contracts/``, each ``state_or_outcome`` as its
``ContractStateType``: ``winner``, ``loser`` and ``deadheat`` are ``SETTLED``)
(``GET /v3/markets/{ids}/``); a market whose state changed gets a ``market_state``.

Events: `lookup_event` asks the public catalogue for an event's markets
(``GET /v3/events/{ids}/markets/``, the events asked in one turn of the reactor in one
request of up to 50 ids), and keeps the answer ``catalogue_interval`` seconds: the server
subscribes an ``event_subscribe``'s session to them (`IEventLookup
<txsmarkets.exchange.interfaces.IEventLookup>`).

The age of what is handed downstream: each ``contract_quotes`` and ``market_state``
published adds to `BridgeMarketData.ages` the seconds from its round's request (when the
quotes were asked for, an upper bound on their age: the upstream read its books between
the request and the answer) to the hand-over. The upstream's quotes carry no timestamp of
their own.

With a `BridgeRecording <txsmarkets.bridge.recording.BridgeRecording>`, what is polled is
recorded too: a ``market_quotes`` snapshot of a market at its first poll (and at its first
after it was forgotten), then the ``contract_quotes`` changes (their executions with them)
and every ``market_state`` (the first state seen included), followed by the recorded
markets' catalogue; a replay of it plays the executions into its queue model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred, FirstError, fail, gatherResults, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.bridge.figures import Ages
from txsmarkets.bridge.recording import BridgeRecording
from txsmarkets.exchange.catalogue import MARKET_STATE_TYPES
from txsmarkets.exchange.polled_trades import Books, LastPrices, Levels, TradeReader, by_contract
from txsmarkets.http_api import HTTPAPIClient
from txsmarkets.http_api.backoff import PollBackoff
from txsmarkets.http_api.limits import DEFAULT_LIMITS
from txsmarkets.http_api.models import ContractQuotes, LastExecutedPrice, Market, PriceLevel
from txsmarkets.http_api.query import CAPS
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["BridgeMarketData"]

_log = Logger()

#: The quantity of the upstream's placeholder levels, which are no liquidity.
_PLACEHOLDER = 2**31 - 2
#: The wire's ids are uint32: a market above it cannot be told downstream.
_UINT32_MAX = 0xFFFFFFFF


class BridgeMarketData:
    """Polls the quotes, trades and states of the markets subscribed to, through ``client``
    (no login needed), and tells ``publish`` ``(market id, payload)`` of each change while
    ``watched(market id)`` says someone subscribes. ``quotes_limit`` is the quotes
    endpoint's ``(requests, seconds)`` (the client's limit by default); ``recording``, when
    given, keeps what is polled; ``upstream`` names the upstream in the log; ``max_backoff``
    is the longest wait after failed rounds."""

    def __init__(
        self,
        clock: IReactorTime,
        client: HTTPAPIClient,
        publish: Callable[[int, seto_pb2.Payload], None],
        watched: Callable[[int], bool],
        *,
        quotes_limit: tuple[int, float] | None = None,
        catalogue_interval: float = 10.0,
        recording: BridgeRecording | None = None,
        upstream: str = "the upstream",
        max_backoff: float = 60.0,
    ) -> None:
        self.clock = clock
        self.client = client
        self.publish = publish
        self.watched = watched
        count, period = quotes_limit or client.limits.limits.get("quotes") or DEFAULT_LIMITS["quotes"]
        #: Seconds between two quotes requests, at the limit.
        self.request_interval = period / count
        #: The rounds failed in a row, and the wait they make (at most ``max_backoff`` s).
        self.backoff = PollBackoff(self.request_interval, max_backoff)
        self.catalogue_interval = catalogue_interval
        self.recording = recording
        #: The markets polled, and each one's contracts (None until known).
        self._markets: dict[int, list[int] | None] = {}
        self._books: dict[int, Books] = {}
        self._states: dict[int, str] = {}
        self._contract_states: dict[int, dict[int, str]] = {}
        #: Reads the trades from the last executed prices (and remembers, for the run, the
        #: last one seen of each contract: no trade is told twice).
        self.trades = TradeReader()
        #: Asks the last executed prices (until the upstream refuses them, if it does).
        self.prices = LastPrices(client, upstream, "bridge", "the market data carries no executions from now on")
        #: Each contract's last execution read, for its later contract_quotes and snapshots.
        self._last: dict[int, seto_pb2.Execution] = {}
        #: Executions read so far.
        self.executions = 0
        #: The events' markets looked up: event id -> (when asked, the market ids).
        self._events: dict[int, tuple[float, list[int]]] = {}
        #: Lookups waiting for the next request of events' markets, by event id.
        self._event_waiters: dict[int, list[Deferred[list[int]]]] = {}
        self._event_call: IDelayedCall | None = None
        #: When the last quotes answer came in (POSIX seconds), for the data's age.
        self.last_poll: float | None = None
        #: Rounds of quotes made.
        self.rounds = 0
        #: The age of each payload handed downstream: from its quotes request to the hand-over.
        self.ages = Ages()
        # When the quotes of the round under way were asked for.
        self._asked_at = 0.0
        self._timer: IDelayedCall | None = None
        #: The round of requests under way, if any.
        self._polling: Deferred[None] | None = None
        self._catalogue_at = 0.0
        self._stopped = False

    def snapshot(self, market_id: int) -> seto_pb2.Payload:
        """A new subscriber's ``market_quotes`` of the market (as last polled); the market is
        polled from now on."""
        payload = self._books_of(market_id)
        if market_id not in self._markets:
            self._markets[market_id] = None
            # Polled at once, unless a round is under way or due: the next takes it in. (A
            # round begun beside another would ask more often than the limit allows, and
            # could answer before it, its books then overwritten by older ones.)
            if self._timer is None and self._polling is None and not self._stopped:
                self._timer = self.clock.callLater(0, self._round)
        return payload

    def _books_of(self, market_id: int) -> seto_pb2.Payload:
        """The ``market_quotes`` of the market's books as last polled."""
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_QUOTES)
        quotes = payload.market_quotes
        quotes.market_id = market_id
        for contract_id in self._markets.get(market_id) or ():
            book = self._books.get(contract_id)
            if book is not None:
                body = quotes.contract_quotes.add()
                _fill(body, market_id, contract_id, book[0], book[1], last=self._last.get(contract_id))
        return payload

    # -- events ------------------------------------------------------------------------------

    def lookup_event(self, event_id: int) -> Deferred[list[int]]:
        """Fires with the ids of the event's markets as the upstream's catalogue has them
        ([] for an event it does not have; those asked less than ``catalogue_interval``
        seconds ago without asking again); fails with the client's error when they cannot
        be had."""
        known = self._events.get(event_id)
        if known is not None and self.clock.seconds() < known[0] + self.catalogue_interval:
            return succeed(list(known[1]))
        if self._stopped:
            return fail(RuntimeError("the bridge's market data has stopped"))
        d: Deferred[list[int]] = Deferred()
        self._event_waiters.setdefault(event_id, []).append(d)
        if self._event_call is None:
            # The events asked in this turn go in one request.
            self._event_call = self.clock.callLater(0, self._ask_events)
        return d

    def event_markets(self, event_id: int) -> list[int]:
        """The markets of the event as last looked up ([] if it never was): those an
        ``event_unsubscribe`` unsubscribes."""
        known = self._events.get(event_id)
        return [] if known is None else list(known[1])

    def _ask_events(self) -> None:
        self._event_call = None
        waiters, self._event_waiters = self._event_waiters, {}
        if not waiters:
            return
        asked = self.clock.seconds()
        d = self.client.markets_by_event(list(waiters))
        d.addCallbacks(lambda markets: self._events_found(waiters, asked, markets), lambda f: self._events_failed(waiters, f))

    def _events_found(self, waiters: dict[int, list[Deferred[list[int]]]], asked: float, markets: list[Market]) -> None:
        found: dict[int, list[int]] = {event_id: [] for event_id in waiters}
        for market in markets:
            if market.id > _UINT32_MAX:
                _log.warn("bridge: event {event}'s market {market} has an id the streaming protocol cannot carry",
                          event=market.event_id, market=market.id)  # fmt: skip
            elif market.event_id in found:
                found[market.event_id].append(market.id)
        for event_id, market_ids in found.items():
            self._events[event_id] = (asked, market_ids)
            for d in waiters[event_id]:
                d.callback(list(market_ids))

    def _events_failed(self, waiters: dict[int, list[Deferred[list[int]]]], failure: Failure) -> None:
        for ds in waiters.values():
            for d in ds:
                d.errback(failure)

    def stop(self) -> Deferred[None]:
        """Stop polling (and recording); fires when the round under way, if any, has ended
        (it asks nothing more) and the client is closed."""
        self._stopped = True
        if self.recording is not None:
            self.recording.close()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._event_call is not None and self._event_call.active():
            self._event_call.cancel()
        self._event_call = None
        waiters, self._event_waiters = self._event_waiters, {}
        for ds in waiters.values():
            for d in ds:
                d.errback(RuntimeError("the bridge's market data has stopped"))
        polling, self._polling = self._polling, None
        if polling is None:
            return self.client.close()
        # Closing the client under a request would leave its connection behind.
        ended: Deferred[None] = Deferred()
        polling.addBoth(lambda _: ended.callback(None))
        return ended.addCallback(lambda _: self.client.close())

    # -- polling -----------------------------------------------------------------------------

    def _round(self) -> None:
        self._timer = None
        for market_id in [m for m in self._markets if not self.watched(m) and self._markets[m] is not None]:
            self._forget(market_id)
        wanted = list(self._markets)
        if not wanted or self._stopped:
            return
        pace = max(1, math.ceil(len(wanted) / CAPS["quotes"])) * self.request_interval
        d = self._polling = Deferred.fromCoroutine(self._poll(wanted))
        d.addBoth(lambda result: self._polled(self._failed(result, pace) if isinstance(result, Failure) else self._answered(pace)))

    def _polled(self, delay: float) -> None:
        self._polling = None
        self._next(delay)

    def _answered(self, pace: float) -> float:
        failures = self.backoff.answered()
        if failures:
            _log.info("bridge: the market data is polled again after {failures} failed rounds", failures=failures)
        return pace

    def _next(self, delay: float) -> None:
        if not self._stopped and self._markets and self._timer is None:
            self._timer = self.clock.callLater(delay, self._round)

    def _failed(self, failure: Failure, pace: float) -> float:
        """A round failed: said in one line, and the next round backs off (`PollBackoff`)."""
        delay = max(pace, self.backoff.failed())
        self.backoff.say(
            _log, failure, "bridge: polling the market data failed ({error}; {failures} in a row); again in {delay:.1f} s",
            delay=delay,
        )
        return delay

    def _forget(self, market_id: int) -> None:
        # The trades' reader keeps what it saw: a market polled again tells no trade twice.
        for contract_id in self._markets.pop(market_id, None) or ():
            self._books.pop(contract_id, None)
        self._states.pop(market_id, None)
        self._contract_states.pop(market_id, None)

    async def _poll(self, market_ids: list[int]) -> None:
        unknown = [m for m in market_ids if self._markets.get(m) is None]
        if unknown:
            for contract in await self.client.contracts(unknown):
                contracts = self._markets.get(contract.market_id)
                if contracts is None:
                    contracts = self._markets[contract.market_id] = []
                contracts.append(contract.id)
            for market_id in unknown:
                if self._markets.get(market_id) is None:
                    self._markets[market_id] = []  # no contracts: nothing to quote
            if self._stopped:
                return
        # The trades are read against the books of the same round: both asked at once.
        self._asked_at = self.clock.seconds()
        asking: list[Deferred[Any]] = [self.client.quotes(market_ids), Deferred.fromCoroutine(self.prices.ask(market_ids))]
        answers = await gatherResults(asking, consumeErrors=True).addErrback(_first_error)
        quotes: dict[int, ContractQuotes] = answers[0]
        prices: Mapping[int, Sequence[LastExecutedPrice]] = answers[1]
        if self._stopped:
            return
        self.last_poll = self.clock.seconds()
        self.rounds += 1
        last = by_contract(prices)
        for market_id in market_ids:
            first = market_id in unknown
            for contract_id in self._markets.get(market_id) or ():
                self._update(market_id, contract_id, quotes.get(contract_id), last.get(contract_id), first)
            if market_id in unknown:
                # New to the recording: its books whole, not changes to books it never had.
                self._record(self._books_of(market_id))
        if self.clock.seconds() >= self._catalogue_at:
            self._catalogue_at = self.clock.seconds() + self.catalogue_interval
            asked: list[Deferred[Any]] = [self.client.markets(market_ids), self.client.contracts(market_ids)]
            markets, contracts = await gatherResults(asked, consumeErrors=True).addErrback(_first_error)
            if self._stopped:
                return
            by_market: dict[int, dict[int, str]] = {}
            for contract in contracts:
                by_market.setdefault(contract.market_id, {})[contract.id] = contract.state_or_outcome
            for market in markets:
                self._state(market.id, market.state, by_market.get(market.id, {}))
        if self.recording is not None:
            self.recording.flush()
            await self.recording.catalogue(market_ids)

    def _record(self, payload: seto_pb2.Payload) -> None:
        if self.recording is not None and not self._stopped:
            self.recording.record(payload)

    def _update(
        self, market_id: int, contract_id: int, quotes: ContractQuotes | None, last: LastExecutedPrice | None, first: bool
    ) -> None:
        """One contract's poll: its changes (and trades) told and recorded; ``first``: the
        market's first poll (recorded as a snapshot, its trades of before it untold)."""
        bids = _levels(quotes.bids if quotes is not None else [])
        offers = _levels(quotes.offers if quotes is not None else [])
        # A contract not seen before was in no snapshot: its levels are all news.
        old = self._books.get(contract_id) or ({}, {})
        now = self._books[contract_id] = (bids, offers)
        # Read whether or not anyone watches: a trade is seen once, when it is new.
        executions = self.trades.read(contract_id, last, old, now, placed=not first)
        if executions:
            self.executions += len(executions)
            self._last[contract_id] = executions[-1]
        record = not first
        watched = self.watched(market_id)
        if not watched and not (record and self.recording is not None):
            return
        bid_changes, offer_changes = _changes(old[0], bids), _changes(old[1], offers)
        if not bid_changes and not offer_changes and not executions:
            return
        payload = new_payload(seto_pb2.PAYLOAD_CONTRACT_QUOTES)
        body = payload.contract_quotes
        _fill(body, market_id, contract_id, bid_changes, offer_changes, executions, self._last.get(contract_id))
        if record:
            self._record(payload)
        if watched:
            self._publish(market_id, payload)

    def _publish(self, market_id: int, payload: seto_pb2.Payload) -> None:
        self.publish(market_id, payload)
        self.ages.add(self.clock.seconds() - self._asked_at)

    def _state(self, market_id: int, state: str, contracts: dict[int, str]) -> None:
        """The market's state and its contracts' as the catalogue has them now: a
        market_state (with every contract's state) if any changed."""
        old = self._states.get(market_id)
        old_contracts = self._contract_states.get(market_id)
        self._states[market_id] = state
        self._contract_states[market_id] = contracts
        # None for a state the wire has not (``unavailable``): nothing to tell.
        wire = MARKET_STATE_TYPES.get(state)
        if (old == state and old_contracts == contracts) or wire is None:
            return
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_STATE)
        payload.market_state.market_id = market_id
        payload.market_state.state = wire
        for contract_id, contract_state in sorted(contracts.items()):
            contract_wire = CONTRACT_STATE_TYPES.get(contract_state)
            if contract_wire is not None:
                payload.market_state.contracts.add(contract_id=contract_id, state=contract_wire)
        # The first state seen is recorded (the catalogue may be written later than it).
        self._record(payload)
        if old is not None and self.watched(market_id):
            self._publish(market_id, payload)


#: The wire's ``ContractStateType`` of each contract state the API gives (``unavailable``
#: has none: the contract is left out); a contract that won, lost or dead-heated is settled.
CONTRACT_STATE_TYPES: dict[str, int] = {
    "new": seto_pb2.CONTRACT_STATE_NEW,
    "open": seto_pb2.CONTRACT_STATE_OPEN,
    "live": seto_pb2.CONTRACT_STATE_LIVE,
    "halted": seto_pb2.CONTRACT_STATE_HALTED,
    "winner": seto_pb2.CONTRACT_STATE_SETTLED,
    "loser": seto_pb2.CONTRACT_STATE_SETTLED,
    "deadheat": seto_pb2.CONTRACT_STATE_SETTLED,
    "reduced": seto_pb2.CONTRACT_STATE_REDUCED,
    "voided": seto_pb2.CONTRACT_STATE_VOIDED,
}


def _first_error(failure: Failure) -> Failure:
    # gatherResults wraps the first of the round's failures: the log names that one.
    return failure.value.subFailure if failure.check(FirstError) else failure


def _levels(levels: list[PriceLevel]) -> Levels:
    return {level.price: level.quantity for level in levels if level.quantity != _PLACEHOLDER}


def _changes(old: Levels, new: Levels) -> Levels:
    changed = {price: quantity for price, quantity in new.items() if old.get(price) != quantity}
    changed.update({price: 0 for price in old if price not in new})
    return changed


def _fill(
    body: seto_pb2.ContractQuotes,
    market_id: int,
    contract_id: int,
    bids: Levels,
    offers: Levels,
    executions: Sequence[seto_pb2.Execution] = (),
    last: seto_pb2.Execution | None = None,
) -> None:
    body.market_id = market_id
    body.contract_id = contract_id
    for price in sorted(bids, reverse=True):
        body.bids.add(price=price, quantity=bids[price])
    for price in sorted(offers):
        body.offers.add(price=price, quantity=offers[price])
    body.executions.extend(executions)
    if last is not None:
        body.last_execution.CopyFrom(last)
