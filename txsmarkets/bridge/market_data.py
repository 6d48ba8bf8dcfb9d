"""`BridgeMarketData`: the subscribed markets' order books and states, polled upstream.

Quotes: every subscribed market's books in as few requests as the id cap allows (200
markets a ``GET /v3/markets/{ids}/quotes/``), one round of them no more often than the
quotes limit allows (50 requests a minute: a round of one request every 1.2 s; a round of
``n`` requests every ``n`` times that). A subscriber gets the books as last polled
(`snapshot`: a ``market_quotes``, empty before the first poll); each poll after it becomes
a ``contract_quotes`` of the levels that changed (quantity 0: the level is gone), every
level of a contract new to the bridge. The contracts' markets come from ``GET /v3/markets/{ids}/contracts/`` once
a market (the quotes are keyed by contract only). The upstream's placeholder levels
(quantity 2^31-2 at the ends of the ladder) are left out.

States: every ``catalogue_interval`` seconds the markets' catalogue entries
(``GET /v3/markets/{ids}/``); a market whose state changed gets a ``market_state``.

The age of what is handed downstream: each ``contract_quotes`` and ``market_state``
published adds to `BridgeMarketData.ages` the seconds from its round's request (when the
quotes were asked for, an upper bound on their age: the upstream read its books between
the request and the answer) to the hand-over. The upstream's quotes carry no timestamp of
their own.

With a `BridgeRecording <txsmarkets.bridge.recording.BridgeRecording>`, what is polled is
recorded too: a ``market_quotes`` snapshot of a market at its first poll (and at its first
after it was forgotten), then the ``contract_quotes`` changes and every ``market_state``
(the first state seen included), followed by the recorded markets' catalogue.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.bridge.figures import Ages
from txsmarkets.bridge.recording import BridgeRecording
from txsmarkets.http_api import HTTPAPIClient
from txsmarkets.http_api.limits import DEFAULT_LIMITS
from txsmarkets.http_api.models import ContractQuotes, PriceLevel
from txsmarkets.http_api.query import CAPS
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["BridgeMarketData"]

_log = Logger()

#: The quantity of the upstream's placeholder levels, which are no liquidity.
_PLACEHOLDER = 2**31 - 2
Levels = dict[int, int]


class BridgeMarketData:
    """Polls the quotes and states of the markets subscribed to, through ``client`` (no
    login needed), and tells ``publish`` ``(market id, payload)`` of each change while
    ``watched(market id)`` says someone subscribes. ``quotes_limit`` is the quotes
    endpoint's ``(requests, seconds)`` (the client's limit by default); ``recording``, when
    given, keeps what is polled."""

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
    ) -> None:
        self.clock = clock
        self.client = client
        self.publish = publish
        self.watched = watched
        count, period = quotes_limit or client.limits.limits.get("quotes") or DEFAULT_LIMITS["quotes"]
        #: Seconds between two quotes requests, at the limit.
        self.request_interval = period / count
        self.catalogue_interval = catalogue_interval
        self.recording = recording
        #: The markets polled, and each one's contracts (None until known).
        self._markets: dict[int, list[int] | None] = {}
        self._books: dict[int, tuple[Levels, Levels]] = {}
        self._states: dict[int, str] = {}
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
                _fill(quotes.contract_quotes.add(), market_id, contract_id, book[0], book[1])
        return payload

    def event_markets(self, event_id: int) -> list[int]:
        """[]: the bridge does not look an event's markets up (subscribe to each market)."""
        return []

    def stop(self) -> Deferred[None]:
        """Stop polling (and recording); fires when the round under way, if any, has ended
        (it asks nothing more) and the client is closed."""
        self._stopped = True
        if self.recording is not None:
            self.recording.close()
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
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
        d = self._polling = Deferred.fromCoroutine(self._poll(wanted))
        d.addErrback(self._failed)
        requests = max(1, math.ceil(len(wanted) / CAPS["quotes"]))
        d.addBoth(lambda _: self._polled(requests * self.request_interval))

    def _polled(self, delay: float) -> None:
        self._polling = None
        self._next(delay)

    def _next(self, delay: float) -> None:
        if not self._stopped and self._markets and self._timer is None:
            self._timer = self.clock.callLater(delay, self._round)

    def _failed(self, failure: Failure) -> None:
        _log.warn("polling the market data failed: {error}", error=failure.value)

    def _forget(self, market_id: int) -> None:
        for contract_id in self._markets.pop(market_id, None) or ():
            self._books.pop(contract_id, None)
        self._states.pop(market_id, None)

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
        self._asked_at = self.clock.seconds()
        quotes = await self.client.quotes(market_ids)
        if self._stopped:
            return
        self.last_poll = self.clock.seconds()
        self.rounds += 1
        for market_id in market_ids:
            for contract_id in self._markets.get(market_id) or ():
                self._update(market_id, contract_id, quotes.get(contract_id), record=market_id not in unknown)
            if market_id in unknown:
                # New to the recording: its books whole, not changes to books it never had.
                self._record(self._books_of(market_id))
        if self.clock.seconds() >= self._catalogue_at:
            self._catalogue_at = self.clock.seconds() + self.catalogue_interval
            markets = await self.client.markets(market_ids)
            if self._stopped:
                return
            for market in markets:
                self._state(market.id, market.state)
        if self.recording is not None:
            self.recording.flush()
            await self.recording.catalogue(market_ids)

    def _record(self, payload: seto_pb2.Payload) -> None:
        if self.recording is not None and not self._stopped:
            self.recording.record(payload)

    def _update(self, market_id: int, contract_id: int, quotes: ContractQuotes | None, record: bool) -> None:
        bids = _levels(quotes.bids if quotes is not None else [])
        offers = _levels(quotes.offers if quotes is not None else [])
        # A contract not seen before was in no snapshot: its levels are all news.
        old = self._books.get(contract_id) or ({}, {})
        self._books[contract_id] = (bids, offers)
        watched = self.watched(market_id)
        if not watched and not (record and self.recording is not None):
            return
        bid_changes, offer_changes = _changes(old[0], bids), _changes(old[1], offers)
        if not bid_changes and not offer_changes:
            return
        payload = new_payload(seto_pb2.PAYLOAD_CONTRACT_QUOTES)
        _fill(payload.contract_quotes, market_id, contract_id, bid_changes, offer_changes)
        if record:
            self._record(payload)
        if watched:
            self._publish(market_id, payload)

    def _publish(self, market_id: int, payload: seto_pb2.Payload) -> None:
        self.publish(market_id, payload)
        self.ages.add(self.clock.seconds() - self._asked_at)

    def _state(self, market_id: int, state: str) -> None:
        old = self._states.get(market_id)
        self._states[market_id] = state
        wire = _market_state(state)
        if old == state or wire is None:
            return
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_STATE)
        payload.market_state.market_id = market_id
        payload.market_state.state = wire  # type: ignore[assignment]  # the wire's int
        # The first state seen is recorded (the catalogue may be written later than it).
        self._record(payload)
        if old is not None and self.watched(market_id):
            self._publish(market_id, payload)


def _market_state(state: str) -> int | None:
    """The wire's state of a catalogue state (``open`` is MARKET_STATE_OPEN), or None for
    one the wire has not (``unavailable``)."""
    try:
        return int(seto_pb2.MarketStateType.Value(f"MARKET_STATE_{state.upper()}"))
    except ValueError:
        return None


def _levels(levels: list[PriceLevel]) -> Levels:
    return {level.price: level.quantity for level in levels if level.quantity != _PLACEHOLDER}


def _changes(old: Levels, new: Levels) -> Levels:
    changed = {price: quantity for price, quantity in new.items() if old.get(price) != quantity}
    changed.update({price: 0 for price in old if price not in new})
    return changed


def _fill(body: seto_pb2.ContractQuotes, market_id: int, contract_id: int, bids: Levels, offers: Levels) -> None:
    body.market_id = market_id
    body.contract_id = contract_id
    for price in sorted(bids, reverse=True):
        body.bids.add(price=price, quantity=bids[price])
    for price in sorted(offers):
        body.offers.add(price=price, quantity=offers[price])
