"""Trades read from polls of the HTTP API: what a contract's new last executed price says.

The HTTP API gives each contract's last executed price and its time
(``GET /v3/markets/{ids}/last_executed_prices/``), not the trades. `TradeReader` reads a
new one (its time later than the last one seen for the contract) against the books polled
before and after it: at or above the best offer of the poll before, buyers took the offers
up to its price, each level for the quantity it lost since (liquidity buy); at or below
the best bid, sellers took the bids down to it (liquidity sell). A price inside the spread,
or one whose levels lost nothing, is a trade that cannot be placed: no execution, counted
in ``unplaced``. Quantity that traded and was replaced between two polls is not seen.

Each trade is read once. The reader keeps, per contract, the time of the last price seen,
for as long as it lives: a price seen again (in the next poll, when a market is polled
again after a pause, after a lost upstream) is no trade; the first price seen of a contract
is a trade of before the polls began, and no trade either; a contract that had never
traded when first polled (no price) has its first trade read.

`LastPrices` asks for the prices, and stops asking, said once in the log, if the upstream
refuses them without an account. The paper exchange (`txsmarkets.exchange.paper`) and the
bridge's market data (``txsmarkets.bridge.market_data``) both read trades with these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone

from twisted.logger import Logger

from txsmarkets.http_api import APIError, HTTPAPIClient
from txsmarkets.http_api.models import LastExecutedPrice
from txsmarkets.wire import seto_pb2

__all__ = ["Books", "LastPrices", "Levels", "TradeReader", "by_contract"]

_log = Logger()

#: A side of a contract's book: price -> quantity.
Levels = dict[int, int]
#: A contract's book: (bids, offers).
Books = tuple[Levels, Levels]

#: The time "seen" for a contract polled before it ever traded: any trade is later.
_NEVER = datetime.min.replace(tzinfo=timezone.utc)


def by_contract(prices: Mapping[int, Sequence[LastExecutedPrice]]) -> dict[int, LastExecutedPrice]:
    """The client's last executed prices (by market id) by contract id."""
    return {p.contract_id: p for entries in prices.values() for p in entries}


def _microseconds(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class TradeReader:
    """Reads trades from new last executed prices, each once (see the module)."""

    def __init__(self) -> None:
        #: The time of the last price seen, per contract (`_NEVER`: polled, never traded).
        self._seen: dict[int, datetime] = {}
        #: New last executed prices that no level's loss could explain (no execution).
        self.unplaced = 0

    def read(
        self, contract_id: int, last: LastExecutedPrice | None, before: Books, now: Books, *, placed: bool = True
    ) -> list[seto_pb2.Execution]:
        """The executions a poll of ``contract_id`` shows: ``last`` its last executed price
        (None: the poll had none for it), ``before`` and ``now`` its books at the poll
        before and at this one. ``placed`` False: ``before`` is not known (the contract's
        first poll, or the first after a gap): the price is noted as seen, and no trade is
        read from it."""
        if last is None:
            return []
        seen = self._seen.get(contract_id)
        if last.timestamp is None or last.last_executed_price is None:
            if seen is None:
                self._seen[contract_id] = _NEVER
            return []
        if seen is not None and last.timestamp <= seen:
            return []
        self._seen[contract_id] = last.timestamp
        if seen is None or not placed:
            return []
        price = last.last_executed_price
        (bids, offers), (bids_now, offers_now) = before, now
        if offers and price >= min(offers):
            side, taken = seto_pb2.SIDE_BUY, [p for p in sorted(offers) if p <= price]
            levels, levels_now = offers, offers_now
        elif bids and price <= max(bids):
            side, taken = seto_pb2.SIDE_SELL, [p for p in sorted(bids, reverse=True) if p >= price]
            levels, levels_now = bids, bids_now
        else:
            self.unplaced += 1
            return []
        when = _microseconds(last.timestamp)
        executions = []
        for level in taken:
            lost = levels[level] - levels_now.get(level, 0)
            if lost > 0:
                executions.append(seto_pb2.Execution(price=level, quantity=lost, liquidity=side, microseconds=when))
        if not executions:
            self.unplaced += 1
        return executions


class LastPrices:
    """Asks ``client`` (no account needed) for the last executed prices, unless the
    upstream (``upstream``, for the log) has refused them without an account (the document
    says they need one; in practice they have not): then they are asked no more, and
    ``refused`` is True. ``who`` begins the log line, ``without`` says what is lost."""

    def __init__(self, client: HTTPAPIClient, upstream: str, who: str, without: str) -> None:
        self.client = client
        self.upstream = upstream
        self.who = who
        self.without = without
        #: The upstream answered 401 or 403: the prices are not asked.
        self.refused = False

    async def ask(self, market_ids: Iterable[int]) -> Mapping[int, Sequence[LastExecutedPrice]]:
        """The last executed prices of ``market_ids`` by market id (as few requests as the
        endpoint's id cap allows); {} once refused. Other errors are the client's."""
        if self.refused:
            return {}
        try:
            return await self.client.last_executed_prices(market_ids)
        except APIError as e:
            if e.status not in (401, 403):
                raise
            self.refused = True
            _log.warn(
                "{who}: {upstream} refuses its last executed prices without an account ({why}): {without}",
                who=self.who, upstream=self.upstream, why=str(e), without=self.without,
            )  # fmt: skip
            return {}
