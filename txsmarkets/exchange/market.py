"""What the engine's parts share: a market's running state, the operator's errors, the
answers' fixed values, and the small money helpers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from txsmarkets.errors import Error
from txsmarkets.exchange.accounts import Account
from txsmarkets.exchange.book import BUY, Book, Order
from txsmarkets.exchange.catalogue import Catalogue, Contract
from txsmarkets.trading.money import liability_units, pounds
from txsmarkets.wire import seto_pb2

_ZERO = Decimal(0)
_UINT32_MAX = 0xFFFFFFFF

_Payload = seto_pb2.Payload

_TRADING = frozenset(("open", "live"))
_FINAL = frozenset(("settled", "voided"))

# Why an order cannot go into a market in a given state, per answer.
_CREATE_STATE_REJECTS = {
    "new": seto_pb2.ORDER_REJECTED_MARKET_NOT_OPEN,
    "halted": seto_pb2.ORDER_REJECTED_MARKET_HALTED,
    "settled": seto_pb2.ORDER_REJECTED_MARKET_SETTLED,
    "voided": seto_pb2.ORDER_REJECTED_MARKET_SETTLED,
}
_REPLACE_STATE_REJECTS = {
    "new": seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_MARKET_NOT_OPEN,
    "halted": seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_MARKET_HALTED,
    "settled": seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_MARKET_SETTLED,
    "voided": seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_MARKET_SETTLED,
}

_GTC = seto_pb2.GOOD_TIL_CANCELLED
_IOC = seto_pb2.IMMEDIATE_OR_CANCEL

_CANCELLED_MEMBER = seto_pb2.ORDER_CANCELLED_MEMBER_REQUESTED
_CANCELLED_HALTED = seto_pb2.ORDER_CANCELLED_MARKET_HALTED
_CANCELLED_LIQUIDITY = seto_pb2.ORDER_CANCELLED_INSUFFICIENT_LIQUIDITY
_CANCELLED_ADMIN = seto_pb2.ORDER_CANCELLED_ADMIN_REQUESTED
_CANCELLED_SUSPENDED = seto_pb2.ORDER_CANCELLED_TRADING_SUSPENDED

_P_ORDER_ACCEPTED = seto_pb2.PAYLOAD_ORDER_ACCEPTED
_P_ORDER_REJECTED = seto_pb2.PAYLOAD_ORDER_REJECTED
_P_ORDER_INVALID = seto_pb2.PAYLOAD_ORDER_INVALID
_P_ORDER_EXECUTED = seto_pb2.PAYLOAD_ORDER_EXECUTED
_P_ORDER_CANCELLED = seto_pb2.PAYLOAD_ORDER_CANCELLED
_P_CONTRACT_QUOTES = seto_pb2.PAYLOAD_CONTRACT_QUOTES
_P_PENDING_REPLACE = seto_pb2.PAYLOAD_ORDER_PENDING_REPLACE
_P_REPLACE_ACCEPTED = seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED


class UnknownMarket(Error, KeyError):
    """The operator named a market the exchange does not have."""

    def __str__(self) -> str:
        return Exception.__str__(self)


class UnknownAccount(Error, KeyError):
    """An account id the exchange does not have."""

    def __str__(self) -> str:
        return Exception.__str__(self)


@dataclass(frozen=True)
class MarketInfo:
    """A market as it stands: its catalogue entry and its current state name."""

    id: int
    name: str
    event_id: int
    state: str
    contracts: tuple[Contract, ...]
    #: The winning contracts of a settled market (several: a dead heat); () otherwise.
    winners: tuple[int, ...] = ()


class _Market:
    """A market's running state: its books, state and matched orders."""

    __slots__ = (
        "id",
        "name",
        "event_id",
        "state",
        "contracts",
        "books",
        "executed_volume",
        "executed_value",
        "matched",
        "trades",
        "winners",
    )

    def __init__(
        self, market_id: int, name: str, event_id: int, state: str, contracts: tuple[Contract, ...]
    ) -> None:
        self.id = market_id
        self.name = name
        self.event_id = event_id
        self.state = state
        self.contracts = contracts
        self.books = {contract.id: Book(contract.id, market_id) for contract in contracts}
        self.executed_volume = 0
        #: Sum of price x quantity of the trades (hundred-millionths of a pound of back stake).
        self.executed_value = 0
        self.winners: tuple[int, ...] = ()
        #: Orders with fills, by id: their matched bets are voided with the market.
        self.matched: dict[int, Order] = {}
        #: The trades not voided, for `MarketOperator.void_execution` to check a void
        #: against: (lower order id, higher order id, price) -> quantity. One entry per
        #: fill, and every fill finishes one of its orders, so no more entries than
        #: ``matched`` has orders; both go when the market is settled or voided.
        self.trades: dict[tuple[int, int, int], int] = {}


def running_markets(catalogue: Catalogue) -> tuple[dict[int, _Market], dict[int, list[int]]]:
    """The running state of the catalogue's markets, by id, and the ids of each event's
    markets, by event id (both in catalogue order)."""
    markets: dict[int, _Market] = {}
    event_markets: dict[int, list[int]] = {}
    for event in catalogue.events:
        event_markets[event.id] = [market.id for market in event.markets]
        for market in event.markets:
            markets[market.id] = _Market(market.id, market.name, event.id, market.state, market.contracts)
    return markets, event_markets


def _noop(key: int, payload: seto_pb2.Payload) -> None:
    pass


def _liability(side: int, price: int, quantity: int) -> Decimal:
    return pounds(liability_units(side == BUY, price, quantity))


def _available(account: Account) -> Decimal:
    return account.balance - account.order_liability - account.position_exposure_total


def _set_money(body: Any, account: Account) -> None:
    """Fill in a message's ``available_balance`` and ``exposure``."""
    exposure = account.order_liability + account.position_exposure_total
    body.available_balance = float(account.balance - exposure)
    body.exposure = float(exposure)


def _describe(body: Any, order: Order) -> None:
    """Fill in what every answer about ``order`` says of it: where it rests, its label."""
    body.market_id = order.market_id
    body.contract_id = order.contract_id
    body.side = order.side
    if order.label is not None:
        body.label = order.label


def _set_reference(body: Any, reference: int | None, order: Order | None = None) -> None:
    """Echo the request's ``reference``, or else the one ``order`` was created with."""
    if reference is None and order is not None:
        reference = order.reference
    if reference is not None:
        body.reference = reference
