"""The engine's market data as queries: a market's full quotes, a contract's last trade, the
volume a market has traded."""

from __future__ import annotations

from txsmarkets.exchange.answers import _set_execution
from txsmarkets.exchange.book import BUY, SELL
from txsmarkets.exchange.market import EngineState
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["MarketData"]


class MarketData(EngineState):
    """Queries of the markets' data (a part of `MatchingEngine`)."""

    def market_quotes(self, market_id: int) -> seto_pb2.Payload | None:
        """A ``market_quotes`` payload: every contract's bid and offer levels, best first,
        with the market's executed volume; None for an unknown market."""
        market = self._markets.get(market_id)
        if market is None:
            return None
        payload = new_payload(seto_pb2.PAYLOAD_MARKET_QUOTES)
        quotes = payload.market_quotes
        quotes.market_id = market_id
        quotes.executed_volume = market.executed_volume
        for contract_id, book in market.books.items():
            contract = quotes.contract_quotes.add()
            contract.market_id = market_id
            contract.contract_id = contract_id
            for price, total in book.depth(BUY):
                contract.bids.add(price=price, quantity=total)
            for price, total in book.depth(SELL):
                contract.offers.add(price=price, quantity=total)
            last = self._last_execution.get(contract_id)
            if last is not None:
                _set_execution(contract.last_execution, last)
        return payload

    def last_execution(self, contract_id: int) -> tuple[int, int, int, int] | None:
        """The contract's last trade as ``(price, quantity, taker's side, microseconds since
        the epoch)``, or None if it has had none (or is unknown)."""
        return self._last_execution.get(contract_id)

    def market_volume(self, market_id: int) -> tuple[int, int] | None:
        """``(quantity, value)`` traded in the market so far: the sum of the trades'
        quantities and of their price x quantity (voided trades taken out); None for an
        unknown market."""
        market = self._markets.get(market_id)
        if market is None:
            return None
        return market.executed_volume, market.executed_value
