"""The engine's market data: what changed in the books and the trades of a command, sent as
contract_quotes; and as queries, a market's full quotes, a contract's last trade, the volume
a market has traded."""

from __future__ import annotations

from collections.abc import Callable

from twisted.logger import Logger

from txsmarkets.exchange.book import BUY, SELL, Book
from txsmarkets.exchange.market import _Market, _noop, _Payload
from txsmarkets.wire import encoded, seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["Execution", "MarketData"]

log = Logger()

#: A trade as market data tells it: (price, quantity, the taker's side, microseconds since
#: the epoch).
Execution = tuple[int, int, int, int]


class MarketData:
    """The market data of ``markets`` (a part of `MatchingEngine`).

    The engine's parts note the books a command changed in ``touched`` and its trades with
    `trade`; `publish`, after the command, sends one contract_quotes per changed contract
    to ``on_market`` (a no-op until set), or serialised to ``on_market_encoded`` when that
    is set, for the markets ``market_watched`` says someone watches (every market by
    default). ``now`` gives the time of a trade, in seconds.
    """

    def __init__(self, markets: dict[int, _Market], now: Callable[[], float]) -> None:
        #: The listener: ``(market id, payload)`` for each message of a market.
        self.on_market: Callable[[int, seto_pb2.Payload], None] = _noop
        #: Whether anyone listens to a market's contract_quotes: none are built for a market
        #: nobody watches (the server sets it; by default every market is watched).
        self.market_watched: Callable[[int], bool] = lambda market_id: True
        #: The listener of the contract_quotes as bytes, if set: ``(market id, the payload
        #: serialised unnumbered)`` (`txsmarkets.wire.encoded`), in place of ``on_market``
        #: (which still hears every other message), so that a payload built once is sent to
        #: each subscriber without being parsed or serialised again.
        self.on_market_encoded: Callable[[int, bytes], None] | None = None
        #: The books the current command changed, in order of first change.
        self.touched: dict[Book, None] = {}
        self._markets = markets
        self._now = now
        # The command's trades, per contract, serialised (`encoded.execution`).
        self._executions: dict[int, list[bytes]] = {}
        self._last_execution: dict[int, Execution] = {}
        # The last trade of each contract serialised, as every later contract_quotes has it.
        self._last_encoded: dict[int, bytes] = {}

    def trade(self, book: Book, price: int, quantity: int, taker_side: int) -> None:
        """Note a trade in ``book`` now, for the command's market data (sent if the book is
        in ``touched``) and `last_execution`."""
        execution = (price, quantity, taker_side, int(self._now() * 1_000_000))
        contract_id = book.contract_id
        data = encoded.execution(*execution)
        executions = self._executions.get(contract_id)
        if executions is None:
            self._executions[contract_id] = [data]
        else:
            executions.append(data)
        self._last_execution[contract_id] = execution
        self._last_encoded[contract_id] = data

    def broadcast(self, market_id: int, payload: seto_pb2.Payload) -> None:
        """Hand a market's message to ``on_market``; a listener that raises is logged."""
        try:
            self.on_market(market_id, payload)
        except Exception:
            log.failure("on_market listener failed for market {id}", id=market_id)

    def publish(self) -> None:
        """Send the market data of the command: a contract_quotes per changed contract."""
        touched = self.touched
        self.touched = {}
        executions = self._executions
        if executions:
            # A fresh one only when it holds something: most commands trade nothing.
            self._executions = {}
        watched = self.market_watched
        send = self.on_market_encoded
        last_encoded = self._last_encoded
        for book in touched:
            bids, offers = book.take_changes()
            contract_id = book.contract_id
            trades = executions.get(contract_id)
            market_id = book.market_id
            if not (bids or offers or trades) or not watched(market_id):
                continue
            data = encoded.contract_quotes(market_id, contract_id, bids, offers, trades, last_encoded.get(contract_id))
            if send is None:
                self.broadcast(market_id, _Payload.FromString(data))
                continue
            try:
                send(market_id, data)
            except Exception:
                log.failure("on_market_encoded listener failed for market {id}", id=market_id)

    # Queries

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

    def last_execution(self, contract_id: int) -> Execution | None:
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


def _set_execution(target: seto_pb2.Execution, execution: Execution) -> None:
    price, quantity, liquidity, microseconds = execution
    target.price = price
    target.quantity = quantity
    target.liquidity = liquidity  # type: ignore[assignment]  # the taker's side, the wire's int
    target.microseconds = microseconds
