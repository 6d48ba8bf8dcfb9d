"""Paper trading on live prices: an upstream's public market data, polled, stands in the
embedded engine as outside liquidity; the users' orders trade against it locally.

``twistd smarkets-exchange --paper URL --markets ID,ID...`` (and `start_paper` in code)
takes the markets, their contracts, names and states from the upstream's public catalogue
endpoints (`txsmarkets.exchange.upstream`), then polls, with no account, the upstream's
quotes and last executed prices every ``interval`` seconds and the markets' states every
``state_interval`` seconds. What it polls becomes the recording messages a ``--replay``
plays (`PolledMarkets`), and they go through a `txsmarkets.exchange.replay.Replay`'s
`apply <txsmarkets.exchange.replay.Replay.apply>` as they arrive: the same queue model as a
replay, fed live. No order, cancel or login ever goes upstream: the client used has no
credentials, and only the public endpoints are asked.

What polling cannot see, said plainly:

- The prices are as old as the last poll (``interval`` seconds, plus the request's time;
  Smarkets also delays the quotes it shows without an API user's session). A user's order
  is filled against that picture, not the live book.
- The HTTP API gives a contract's last executed price and its time, not the trades: a new
  last executed price is read as trades at the levels it went through, of the quantity
  those levels lost since the poll before (`PolledMarkets`). Quantity that traded and was
  replaced between two polls, or a trade inside the spread, is not seen, and so does not
  move a user's order up its queue: paper fills are, if anything, fewer than live ones.
- The quotes' rate limit (50 requests a minute, 200 markets a request) bounds how often
  the books change: the client waits its turn rather than exceed it.

A lost upstream (errors, timeouts, 5xx) is said in the log and polled again after a
back-off that doubles up to ``max_backoff`` seconds; the books stay as last polled, the
sessions stay up, and the first poll that succeeds again replaces the books whole.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.application import service
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.exchange.catalogue import MARKET_STATE_TYPES, AccountSpec, Catalogue, demo_catalogue
from txsmarkets.exchange.recording_files import RecordingFiles
from txsmarkets.exchange.replay import Replay
from txsmarkets.exchange.service import RunningExchange, make_service, start_exchange
from txsmarkets.exchange.upstream import catalogue_text, check, market_state, markets_catalogue, write_catalogue
from txsmarkets.exchange.polled_trades import Books, LastPrices, Levels, TradeReader, by_contract
from txsmarkets.http_api import HTTPAPIClient
from txsmarkets.http_api.backoff import PollBackoff
from txsmarkets.http_api.models import ContractQuotes, LastExecutedPrice, Market
from txsmarkets.odds import is_valid_price
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["PaperFeed", "PaperService", "PolledMarkets", "RunningPaper", "paper_catalogue", "start_paper"]

_log = Logger()

#: How many markets a request of quotes carries.
QUOTES_CAP = 200


#: The prices one can trade at, decimal odds 1.01 to 1000 (Smarkets shows placeholders of
#: no one's at 1 and 9999).
_LOWEST, _HIGHEST = 10, 9901


def _levels(levels: Iterable[Any]) -> Levels:
    return {
        level.price: level.quantity
        for level in levels
        if level.quantity > 0 and _LOWEST <= level.price <= _HIGHEST and is_valid_price(level.price)
    }


def _quotes(body: seto_pb2.ContractQuotes, bids: Levels, offers: Levels) -> None:
    for price in sorted(bids, reverse=True):
        body.bids.add(price=price, quantity=bids[price])
    for price in sorted(offers):
        body.offers.add(price=price, quantity=offers[price])


class PolledMarkets:
    """What polls of the quotes and last executed prices of ``markets`` (market id -> its
    contract ids) mean as recording messages (`payloads`).

    The first poll (and the first after `resync`) is a ``market_quotes`` snapshot per
    market. Each later one is a ``contract_quotes`` per contract that changed: the levels
    that changed (0: gone) and the trades read from a new last executed price by
    ``trades``, a `TradeReader <txsmarkets.exchange.polled_trades.TradeReader>` (at or
    through the best offer of the poll before: buyers took the offers, each level for what
    it lost since; at or through the best bid: sellers; inside the spread: no trade that
    can be placed).
    """

    def __init__(self, markets: Mapping[int, Sequence[int]]) -> None:
        self.markets = {market_id: tuple(contracts) for market_id, contracts in markets.items()}
        self._books: dict[int, Books] = {}
        self.trades = TradeReader()
        self._synced = False

    @property
    def unplaced_trades(self) -> int:
        """New last executed prices that no level's loss could explain (not played)."""
        return self.trades.unplaced

    def resync(self) -> None:
        """The next poll is a snapshot: the books are replaced whole."""
        self._synced = False

    def payloads(
        self, quotes: Mapping[int, ContractQuotes], prices: Mapping[int, Sequence[LastExecutedPrice]]
    ) -> list[seto_pb2.Payload]:
        """The recording messages of one poll (``quotes`` by contract id, ``prices`` by
        market id, as the client gives them)."""
        last = by_contract(prices)
        out: list[seto_pb2.Payload] = []
        snapshot = not self._synced
        for market_id, contracts in self.markets.items():
            whole = None
            if snapshot:
                whole = new_payload(seto_pb2.PAYLOAD_MARKET_QUOTES)
                whole.market_quotes.market_id = market_id
            for contract_id in contracts:
                polled = quotes.get(contract_id)
                bids = _levels(polled.bids) if polled is not None else {}
                offers = _levels(polled.offers) if polled is not None else {}
                before = self._books.get(contract_id, ({}, {}))
                self._books[contract_id] = (bids, offers)
                executions = self.trades.read(contract_id, last.get(contract_id), before, (bids, offers), placed=not snapshot)
                if whole is not None:
                    body = whole.market_quotes.contract_quotes.add(market_id=market_id, contract_id=contract_id)
                    _quotes(body, bids, offers)
                    continue
                changed_bids = {p: bids.get(p, 0) for p in before[0].keys() | bids.keys() if before[0].get(p) != bids.get(p)}
                changed_offers = {
                    p: offers.get(p, 0) for p in before[1].keys() | offers.keys() if before[1].get(p) != offers.get(p)
                }
                if not (changed_bids or changed_offers or executions):
                    continue
                payload = new_payload(seto_pb2.PAYLOAD_CONTRACT_QUOTES)
                body = payload.contract_quotes
                body.market_id, body.contract_id = market_id, contract_id
                for price in sorted(changed_bids, reverse=True):
                    body.bids.add(price=price, quantity=changed_bids[price])
                for price in sorted(changed_offers):
                    body.offers.add(price=price, quantity=changed_offers[price])
                for execution in executions:
                    body.executions.add().CopyFrom(execution)
                if executions:
                    body.last_execution.CopyFrom(executions[-1])
                out.append(payload)
            if whole is not None:
                out.append(whole)
        self._synced = True
        return out

    def states(self, markets: Iterable[Market], known: dict[int, str]) -> list[seto_pb2.Payload]:
        """``market_state`` messages for the polled ``markets`` whose state differs from
        ``known`` (market id -> the embedded exchange's state name), which is updated."""
        out = []
        for market in markets:
            if market.id not in self.markets:
                continue
            state = market_state(market.state)
            if known.get(market.id) != state:
                known[market.id] = state
                payload = new_payload(seto_pb2.PAYLOAD_MARKET_STATE)
                payload.market_state.market_id = market.id
                payload.market_state.state = MARKET_STATE_TYPES[state]
                out.append(payload)
        return out


class PaperFeed:
    """Polls ``client`` (an `HTTPAPIClient` with no credentials) for ``markets`` (market id
    -> contract ids, their states in ``states``) on ``clock``, and hands each message made
    of what it polls to ``play`` (a `Replay`'s ``apply``) and, when given, ``record``
    (``(payload, time)``: a `RecordingFiles`' ``record``).

    Figures for a status line: ``polls`` (successful), ``failures`` (in a row, 0 while the
    upstream answers), ``last_poll`` (the clock's time of the last successful one), `age`.
    """

    def __init__(
        self,
        client: HTTPAPIClient,
        clock: IReactorTime,
        markets: Mapping[int, Sequence[int]],
        states: Mapping[int, str],
        play: Callable[[seto_pb2.Payload], None],
        *,
        record: Callable[[seto_pb2.Payload, float], None] | None = None,
        interval: float = 2.0,
        state_interval: float = 10.0,
        max_backoff: float = 60.0,
        upstream: str = "the upstream",
    ) -> None:
        if not interval > 0 or not state_interval > 0 or not max_backoff > 0:
            raise ValueError("the poll intervals and the back-off must be above 0")
        self.client = client
        self.clock = clock
        self.polled = PolledMarkets(markets)
        self.states = dict(states)
        self.play = play
        self.record = record
        self.interval = interval
        self.state_interval = state_interval
        self.upstream = upstream
        self.polls = 0
        #: The failed polls in a row, and the wait they make: the rule of every poll upstream.
        self.backoff = PollBackoff(interval, max_backoff)
        self.last_poll: float | None = None
        #: Asks the last executed prices (without an account; until refused).
        self.prices = LastPrices(
            client, upstream, "paper", "no trades are read from now on, and orders queued behind others are not filled by them"
        )
        self._next_states = 0.0
        self._call: IDelayedCall | None = None
        self._request: Deferred[None] | None = None
        self._running = False
        self._lost_at = 0.0

    @property
    def failures(self) -> int:
        """Failed polls in a row (0 while the upstream answers)."""
        return self.backoff.failures

    @property
    def age(self) -> float | None:
        """Seconds since the last successful poll (None before the first)."""
        return None if self.last_poll is None else self.clock.seconds() - self.last_poll

    def start(self) -> None:
        """Poll now, and on from there."""
        self._running = True
        limit = self.client.limits.limits.get("quotes")
        if limit is not None:
            # The client keeps under the limit by waiting: say what that costs.
            count, period = limit
            fastest = period / count * math.ceil(len(self.polled.markets) / QUOTES_CAP)
            if self.interval < fastest:
                _log.warn(
                    "paper: polling every {interval:g} s would ask {upstream}'s quotes more often than its limit"
                    " ({count} in {period:g} s): the quotes come every {fastest:g} s instead",
                    interval=self.interval, upstream=self.upstream, count=count, period=period, fastest=fastest,
                )
        self._poll()

    def stop(self) -> None:
        """Poll no more (a request on its way is cancelled)."""
        self._running = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if self._request is not None:
            self._request.cancel()

    def _poll(self) -> None:
        self._call = None
        started = self.clock.seconds()
        self._request = Deferred.fromCoroutine(self._once())
        self._request.addCallbacks(lambda _: self._polled(started), self._failed)

    async def _once(self) -> None:
        ids = list(self.polled.markets)
        quotes = await self.client.quotes(ids)
        prices = await self.prices.ask(ids)
        markets = None
        if self.clock.seconds() >= self._next_states:
            markets = await self.client.markets(ids)
        now = self.clock.seconds()
        # States first: a halt takes the users' orders off before the book moves.
        payloads = self.polled.states(markets, self.states) if markets is not None else []
        if markets is not None:
            self._next_states = now + self.state_interval
        payloads += self.polled.payloads(quotes, prices)
        for payload in payloads:
            try:
                self.play(payload)
            except Exception:
                # One message that cannot be played must not end the feed.
                _log.failure("paper: a polled message could not be played; skipped")
            if self.record is not None:
                self.record(payload, now)

    @property
    def prices_refused(self) -> bool:
        """The upstream answered 401 or 403 to the last executed prices: they are not asked
        (the books alone move, as said once in the log)."""
        return self.prices.refused

    def _polled(self, started: float) -> None:
        self._request = None
        now = self.clock.seconds()
        failures = self.backoff.answered()
        if failures:
            _log.info(
                "paper: {upstream} is back after {failures} failed polls ({seconds:.0f} s without prices);"
                " the books are polled whole again",
                upstream=self.upstream, failures=failures, seconds=now - self._lost_at,
            )
        self.polls += 1
        self.last_poll = now
        self._again(max(0.0, self.interval - (now - started)))

    def _failed(self, failure: Failure) -> None:
        self._request = None
        if not self._running:
            # Stopped: the request was cancelled (however the client words it), and
            # nothing is polled again.
            return
        delay = self.backoff.failed()
        if self.failures == 1:
            self._lost_at = self.clock.seconds()
            _log.warn(
                "paper: lost {upstream} ({why}); the books stay as last polled, their prices now stale;"
                " polling again in {delay:g} s",
                upstream=self.upstream, why=failure.getErrorMessage(), delay=delay,
            )
        else:
            _log.warn(
                "paper: {upstream} still lost after {failures} polls ({why}); polling again in {delay:g} s",
                upstream=self.upstream, failures=self.failures, why=failure.getErrorMessage(), delay=delay,
            )
        # What changed while it was lost is not known: the next poll replaces the books.
        self.polled.resync()
        self._next_states = 0.0
        self._again(delay)

    def _again(self, delay: float) -> None:
        if self._running:
            self._call = self.clock.callLater(delay, self._poll)


async def paper_catalogue(
    client: HTTPAPIClient, market_ids: Sequence[int], accounts: Sequence[AccountSpec] | None = None
) -> tuple[Catalogue, dict[str, Any]]:
    """The catalogue of the paper exchange: the upstream's markets ``market_ids`` (see
    `txsmarkets.exchange.upstream.markets_catalogue`) and ``accounts`` (the demo's by
    default); and the catalogue's JSON without the accounts (what a recording keeps)."""
    data = await markets_catalogue(client, market_ids)
    markets = check(data, client.transport.url)
    return Catalogue(tuple(accounts) if accounts is not None else demo_catalogue().accounts, markets.events), data


def _say_trading(catalogue: Catalogue, upstream: str, feed: PaperFeed) -> None:
    names = ", ".join(f"{m.id} {m.name!r}" for m in catalogue.markets())
    _log.info(
        "paper: trading {names} on prices polled from {upstream} every {interval:g} s; orders stay here",
        names=names, upstream=upstream, interval=feed.interval,
    )  # fmt: skip


def _flush_every_second(reactor: IReactorTime, files: RecordingFiles) -> LoopingCall:
    """Flushes the recording every second: a kill loses a second of it at most."""
    flusher = LoopingCall(files.flush)
    flusher.clock = reactor
    flusher.start(1.0, now=False)
    return flusher


def _feed(
    reactor: IReactorTime,
    client: HTTPAPIClient,
    catalogue: Catalogue,
    engine: Any,
    record: RecordingFiles | None,
    options: Mapping[str, Any],
) -> tuple[PaperFeed, Replay]:
    replay = Replay(engine, reactor, ())
    markets = {m.id: [c.id for c in m.contracts] for m in catalogue.markets()}
    states = {m.id: m.state for m in catalogue.markets()}
    feed = PaperFeed(
        client, reactor, markets, states, replay.apply,
        record=record.record if record is not None else None, upstream=client.transport.url, **options,
    )  # fmt: skip
    return feed, replay


def _paper_client(reactor: IReactorTime, upstream: str, timeout: float) -> HTTPAPIClient:
    # No credentials: only the public endpoints can be asked, and no order can go out.
    return HTTPAPIClient(reactor, url=upstream, timeout=timeout)


@dataclass
class RunningPaper:
    """A paper exchange running in this process: ``exchange`` (a `RunningExchange`),
    ``feed`` (its `PaperFeed`), ``replay`` (the `Replay` the feed plays into), ``record``
    (the `RecordingFiles`, None without one, flushed every second)."""

    exchange: RunningExchange
    feed: PaperFeed
    replay: Replay
    client: HTTPAPIClient
    record: RecordingFiles | None = None
    _stopped: bool = field(default=False)
    _flusher: LoopingCall | None = None

    def stop(self) -> Deferred[None]:
        """Stop polling and the exchange; fires when done."""
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.feed.stop()
        if self._flusher is not None and self._flusher.running:
            self._flusher.stop()
        if self.record is not None:
            self.record.close()
        await self.exchange.stop()
        await self.client.close()


def start_paper(
    reactor: IReactorTime,
    upstream: str,
    market_ids: Sequence[int],
    endpoint: str | None = "tcp:0:interface=127.0.0.1",
    *,
    accounts: Sequence[AccountSpec] | None = None,
    client: HTTPAPIClient | None = None,
    record: str | None = None,
    timeout: float = 10.0,
    interval: float = 2.0,
    state_interval: float = 10.0,
    max_backoff: float = 60.0,
    **options: Any,
) -> Deferred[RunningPaper]:
    """Start a paper exchange in this process on ``endpoint`` (None: on no port, reached
    in memory as ``twistd smarkets --paper`` does; ``options`` as for `start_exchange`:
    ``http=`` ...) trading the markets ``market_ids`` of the HTTP API at
    ``upstream`` (``client``: the `HTTPAPIClient` to ask it with, one with no credentials
    by default); ``record`` is a folder to write what is polled to, as a recording (with
    the markets' ``catalogue.json``). Fires once it listens and has asked the catalogue;
    fails with `UpstreamCatalogueError` or the client's error when it cannot have it."""
    feed_options = {"interval": interval, "state_interval": state_interval, "max_backoff": max_backoff}

    async def start() -> RunningPaper:
        asking = client if client is not None else _paper_client(reactor, upstream, timeout)
        try:
            catalogue, data = await paper_catalogue(asking, market_ids, accounts)
            running = await start_exchange(reactor, endpoint, catalogue, **options)
        except BaseException:
            await asking.close()
            raise
        files = RecordingFiles(record, reactor) if record is not None else None
        if record is not None:
            write_catalogue(pathlib.Path(record) / "catalogue.json", catalogue_text(data))
        feed, replay = _feed(reactor, asking, catalogue, running.engine, files, feed_options)
        _say_trading(catalogue, upstream, feed)
        feed.start()
        flusher = _flush_every_second(reactor, files) if files is not None else None
        return RunningPaper(running, feed, replay, asking, files, _flusher=flusher)

    return Deferred.fromCoroutine(start())


class PaperService(service.MultiService):
    """``twistd smarkets-exchange --paper``: asks the upstream for the catalogue when it
    starts, then serves the exchange (`make_service` with ``options``) and runs the
    `PaperFeed`. ``cannot_listen`` is called with one line when it cannot start (the
    catalogue cannot be had, an endpoint cannot be listened on)."""

    def __init__(
        self,
        reactor: IReactorTime,
        upstream: str,
        market_ids: Sequence[int],
        endpoint: str,
        *,
        accounts: Sequence[AccountSpec] | None,
        record: str | None,
        timeout: float,
        feed_options: Mapping[str, Any],
        options: Mapping[str, Any],
    ) -> None:
        super().__init__()
        self.reactor = reactor
        self.upstream = upstream
        self.market_ids = list(market_ids)
        self.endpoint = endpoint
        self.accounts = accounts
        self.record_dir = record
        self.timeout = timeout
        self.feed_options = dict(feed_options)
        self.options = dict(options)
        self.cannot_listen: Callable[[str], None] = lambda why: None
        self.feed: PaperFeed | None = None
        self.files: RecordingFiles | None = None
        self.client: HTTPAPIClient | None = None
        self._flusher: Any = None
        self._starting: Deferred[None] | None = None

    def startService(self) -> None:
        super().startService()
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addErrback(self._cannot_start)

    async def _start(self) -> None:
        self.client = _paper_client(self.reactor, self.upstream, self.timeout)
        _log.info("paper: asking {upstream} for the markets {ids}", upstream=self.upstream, ids=self.market_ids)
        catalogue, data = await paper_catalogue(self.client, self.market_ids, self.accounts)
        exchange = make_service(self.reactor, self.endpoint, catalogue, **self.options)
        exchange.cannot_listen = self.cannot_listen
        # Added while this runs: it listens at once.
        exchange.setServiceParent(self)
        if self.record_dir is not None:
            self.files = RecordingFiles(self.record_dir, self.reactor)
            write_catalogue(pathlib.Path(self.record_dir) / "catalogue.json", catalogue_text(data))
            self._flusher = _flush_every_second(self.reactor, self.files)
        streaming: Any = exchange.services[0] if isinstance(exchange, service.MultiService) else exchange
        factory = streaming.factory
        self.feed, _ = _feed(self.reactor, self.client, catalogue, factory.engine, self.files, self.feed_options)
        _say_trading(catalogue, self.upstream, self.feed)
        self.feed.start()

    def _cannot_start(self, failure: Failure) -> None:
        if failure.check(CancelledError):
            return
        self.cannot_listen(f"cannot have the markets from {self.upstream}: {failure.getErrorMessage()}")

    def stopService(self) -> Deferred[None] | None:
        if self._starting is not None and not self._starting.called:
            self._starting.cancel()
        if self.feed is not None:
            self.feed.stop()
        if self._flusher is not None and self._flusher.running:
            self._flusher.stop()
        if self.files is not None:
            self.files.close()
            _log.info("paper: recorded {n} messages in {dir}", n=self.files.records, dir=self.record_dir)
        stopped: Deferred[None] | None = super().stopService()
        return stopped
