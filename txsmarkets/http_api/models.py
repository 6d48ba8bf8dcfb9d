"""What the HTTP API answers, as frozen attrs classes: one a JSON object of the document.

A field keeps the document's name; its annotation says its unit (see `units`): ids are ints
(`Id`), prices ints in basis points (5000 is 50%), quantities ints in ten-thousandths of
the currency (the total pot), money `Decimal` (`Money`), datetimes aware UTC. A field with a
default is one the document lets the API leave out; a required one that is missing, or a
value of the wrong type, makes the answer an `InvalidResponse`. Fields the API adds beyond
these are ignored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from txsmarkets.http_api.units import Day, Id, Money, Percent, Rate, Time

__all__ = [
    "BUY",
    "GOOD_TIL_CANCELLED",
    "GOOD_TIL_HALTED",
    "IMMEDIATE_OR_CANCEL",
    "KEEP_IN_PLAY",
    "ORDER_TYPES",
    "SELL",
    "Account",
    "AccountOrder",
    "ActivityContract",
    "ActivityEvent",
    "ActivityMarket",
    "ActivityPage",
    "ActivityRow",
    "BestPrice",
    "Competitor",
    "Contract",
    "ContractQuotes",
    "ContractType",
    "Currency",
    "Event",
    "EventState",
    "EventType",
    "EventsPage",
    "FullcoverOrder",
    "FullcoverOrdersPage",
    "LastExecutedPrice",
    "Market",
    "MarketType",
    "MarketsCount",
    "OrderCreated",
    "OrdersPage",
    "OriginalContract",
    "Pagination",
    "PriceLevel",
    "SessionInfo",
    "TokenUsed",
    "Volume",
]

#: Backing a contract.
BUY = "buy"
#: Laying a contract.
SELL = "sell"
#: Cancelled when the market goes in play, is halted, or a reduction factor is applied.
GOOD_TIL_CANCELLED = "good_til_cancelled"
#: Kept when the market goes in play; cancelled when it is halted (the API's default).
GOOD_TIL_HALTED = "good_til_halted"
#: Kept in play and through a halt; cancelled when a reduction factor is applied.
KEEP_IN_PLAY = "keep_in_play"
#: Never rests: what cannot match at once is cancelled.
IMMEDIATE_OR_CANCEL = "immediate_or_cancel"
#: The order types an order may be created with.
ORDER_TYPES = (GOOD_TIL_CANCELLED, GOOD_TIL_HALTED, KEEP_IN_PLAY, IMMEDIATE_OR_CANCEL)


@attrs.frozen
class SessionInfo:
    """A session the API opened: ``stop`` is when its token expires unless used (the API's
    clock; each use pushes it 30 minutes on), ``factor`` ``complete`` once logged in.

    The token itself is kept by the client, out of every repr and log line."""

    stop: datetime | None
    factor: str | None = None


# -- the catalogue --------------------------------------------------------------------------


@attrs.frozen
class Pagination:
    """Where a listing goes on: ``next_page`` is a query string for the same path, None at
    the end."""

    next_page: str | None


_T = TypeVar("_T")


class _Paged(Generic[_T]):
    """A page of a listing: ``items`` (the field named by ``_ITEMS``) and ``next_page``."""

    _ITEMS: ClassVar[str]
    pagination: Pagination

    @property
    def items(self) -> list[_T]:
        """The items of this page."""
        return getattr(self, self._ITEMS)

    @property
    def next_page(self) -> str | None:
        """The next page's query string, None on the last page."""
        return self.pagination.next_page


@attrs.frozen
class EventType:
    """An event's type in the new form (``with_new_type``): ``domain`` (``football``) and
    ``scope`` (``single_event``)."""

    domain: str
    scope: str


@attrs.frozen
class Event:
    """An event: a sport, a competition, a match ... (``parent_id`` is the one above it).

    ``type`` is the legacy name (``football_match``) or an `EventType`; ``start_datetime``
    aware UTC; only a ``bettable`` (leaf) event has markets."""

    id: Id
    name: str
    short_name: str | None
    slug: str
    full_slug: str
    parent_id: Id | None
    state: str
    type: str | EventType
    hidden: bool
    start_date: Day | None
    start_datetime: Time | None
    end_date: Day | None
    created: Time
    modified: Time
    bettable: bool | None = None
    bet_allowed: bool | None = None
    inplay_enabled: bool | None = None
    display_order: int | None = None
    chart_time_period: str | None = None
    seo_description: str | None = None
    special_rules: str | None = None
    super_sub_enabled: bool | None = None
    venue: dict[str, Any] | None = None


@attrs.frozen
class EventsPage(_Paged[Event]):
    """A page of `Event` (``items``), and where the listing goes on."""

    _ITEMS = "events"

    events: list[Event]
    pagination: Pagination


@attrs.frozen
class MarketType:
    """What a market is about: ``name`` (``WINNER_3_WAY``), and its parameters."""

    name: str
    param: str | None = None
    params: dict[str, Any] | None = None


@attrs.frozen
class Market:
    """A market of an event; ``state`` is ``new``, ``open`` (trading, not in play), ``live``
    (trading in play), ``halted``, ``settled``, ``voided`` or ``unavailable``; ``bet_delay``
    in seconds."""

    id: Id
    event_id: Id
    name: str
    slug: str
    state: str
    market_type: MarketType | None
    bet_delay: int
    complete: bool
    winner_count: int
    hidden: bool
    display_type: str
    cashout_enabled: bool
    created: Time
    modified: Time
    description: str | None = None
    display_order: int | None = None
    inplay_enabled: bool | None = None
    info: dict[str, Any] | None = None
    category: str | None = None
    categories: list[str] | None = None
    contract_selections: list[int] | None = None


@attrs.frozen
class MarketsCount:
    """How many markets an event has."""

    id: Id
    markets_count: int


@attrs.frozen
class ContractType:
    """A contract's stable identity within its market: ``name`` (``HOME``) and ``param``."""

    name: str | None = None
    param: str | None = None


@attrs.frozen
class Contract:
    """An outcome of a market; ``state_or_outcome`` is ``new``, ``open``, ``live``,
    ``halted``, ``winner``, ``loser``, ``deadheat``, ``reduced``, ``voided`` or
    ``unavailable``; ``reduction_factor`` a `Decimal`."""

    id: Id
    market_id: Id
    name: str
    slug: str
    state_or_outcome: str
    outcome_timestamp: Time | None
    created: Time
    modified: Time
    contract_type: ContractType | None = None
    competitor_id: int | None = None
    display_order: int | None = None
    hidden: bool | None = None
    reduction_factor: Rate | None = None
    info: dict[str, Any] | None = None


@attrs.frozen
class Competitor:
    """A competitor in an event (``id`` is the API's, unique per event type)."""

    id: str
    event_id: Id
    name: str
    short_name: str | None
    short_code: str | None
    slug: str
    country_code: str | None
    type: str | None
    info: dict[str, Any] | None = None


@attrs.frozen
class EventState:
    """An event's live state: ``scores`` (shaped by sport, as the API gives them), the
    ``clock``, the ``match_period``."""

    id: Id
    state: str
    hidden: bool | None
    instant_match: bool
    visualization: bool | None
    provider_metadata: dict[str, Any] | None
    scores: Any
    tennis_server: str | None
    actual_start_datetime: Time | None = None
    actual_end_datetime: Time | None = None
    aggregate: list[int] | None = None
    clock: dict[str, Any] | None = None
    has_league_table: bool | None = None
    info: dict[str, Any] | None = None
    match_period: str | None = None
    probable_pitcher: dict[str, Any] | None = None
    reversed: bool | None = None
    show_flags: bool | None = None


@attrs.frozen
class Currency:
    """A currency and its rate to the pound (a `Decimal`)."""

    code: str
    name: str
    rate_to_gbp: Rate | None = None


# -- market data ----------------------------------------------------------------------------


@attrs.frozen
class PriceLevel:
    """A price (basis points) and the quantity there (ten-thousandths of the currency)."""

    price: int
    quantity: int


@attrs.frozen
class ContractQuotes:
    """A contract's book: ``bids`` (resting buys) and ``offers`` (resting sells), each a list
    of `PriceLevel`, best first."""

    bids: list[PriceLevel] = attrs.field(factory=list)
    offers: list[PriceLevel] = attrs.field(factory=list)


@attrs.frozen
class LastExecutedPrice:
    """A contract's last traded price, in basis points (the API's percent string, read
    exactly), and when; both None if it never traded."""

    contract_id: Id
    last_executed_price: Percent | None
    timestamp: Time | None


@attrs.frozen
class Volume:
    """A market's traded volume as the API gives it (the document says whole pounds)."""

    market_id: Id
    volume: int
    double_stake_volume: int


# -- the account ----------------------------------------------------------------------------


@attrs.frozen
class Account:
    """The account: money as `Decimal`; ``exposure`` is negative, ``available_balance`` the
    balance less the exposure."""

    account_id: Id
    balance: Money
    available_balance: Money
    exposure: Money
    currency: str
    bonus_balance: Money | None = None
    commission_type: Rate | None = None
    signup_date: Time | None = None


@attrs.frozen
class ActivityRow:
    """A row of the account's statement, keyed by (``seq``, ``subseq``); ``source`` says what
    happened (``order.create``, ``order.execute`` ...); money `Decimal`, prices basis points,
    quantities ten-thousandths of the currency."""

    seq: int
    subseq: int
    source: str
    timestamp: Time
    order_id: Id | None = None
    event_id: Id | None = None
    market_id: Id | None = None
    contract_id: Id | None = None
    side: str | None = None
    price: int | None = None
    quantity: int | None = None
    quantity_change: int | None = None
    quantity_user_currency: int | None = None
    quantity_user_currency_change: int | None = None
    amount: Money | None = None
    money: Money | None = None
    money_change: Money | None = None
    commission: Money | None = None
    exposure: Money | None = None
    bonus_change: Money | None = None
    label: str | None = None
    extra: str | None = None
    bonus_bet: bool | None = None
    bet_token_type: str | None = None


@attrs.frozen
class ActivityContract:
    """A contract's display data beside an activity page (``event_info``)."""

    name: str
    state_or_outcome: str


@attrs.frozen
class ActivityEvent:
    """An event's display data beside an activity page (``event_info``)."""

    name: str
    slug: str
    full_slug: str
    parent_id: Id | None
    state: str
    type: str | EventType


@attrs.frozen
class ActivityMarket:
    """A market's display data beside an activity page (``event_info``)."""

    name: str
    market_type: MarketType | None
    contract_selections: list[int] | None


@attrs.frozen
class ActivityPage(_Paged[ActivityRow]):
    """A page of `ActivityRow` (``items``), the display data asked for with ``event_info``,
    and where the listing goes on."""

    _ITEMS = "account_activity"

    account_activity: list[ActivityRow]
    pagination: Pagination = Pagination(None)
    contracts: list[ActivityContract] = attrs.field(factory=list)
    events: list[ActivityEvent] = attrs.field(factory=list)
    markets: list[ActivityMarket] = attrs.field(factory=list)


# -- orders ---------------------------------------------------------------------------------


@attrs.frozen
class OrderCreated:
    """What an order create answers: the new ``order_id``, what matched at once
    (``total_executed_quantity`` at ``executed_avg_price``), what is left to match
    (``available_quantity``), and the account's ``available_balance`` and ``exposure``."""

    order_id: Id
    market_id: Id
    contract_id: Id
    side: str
    price: int
    quantity: int
    available_quantity: int
    total_executed_quantity: int
    executed_avg_price: int | None
    orig_price: int | None
    available_balance: Money
    exposure: Money


@attrs.frozen
class TokenUsed:
    """The bet token an order used, if any."""

    bet_token_type: str | None
    boost_percent: Decimal | None


@attrs.frozen
class BestPrice:
    """A better price an order got, and where from."""

    price: int
    source: str


@attrs.frozen
class AccountOrder:
    """An order of the account, as the orders listing gives it: ``state`` is ``created``
    (nothing filled), ``partial``, ``filled`` or ``settled``; quantities in ten-thousandths
    of the currency (``quantity_unfilled`` is what still rests), prices in basis points;
    ``sequence_number`` its place in the account activity."""

    id: Id
    market_id: Id
    contract_id: Id
    original_order_id: Id | None
    side: str
    state: str
    price: int
    average_price_matched: int
    quantity: int
    quantity_filled: int
    quantity_filled_pending: int
    quantity_unfilled: int
    quantity_user_currency: int
    quantity_filled_user_currency: int
    quantity_filled_pending_user_currency: int
    quantity_unfilled_user_currency: int
    quantity_traded_out_user_currency: int
    stake_traded_out_user_currency: Decimal
    sequence_number: int
    created_datetime: Time
    last_modified_datetime: Time
    token_used: TokenUsed
    type: str | None = None
    label: str | None = None
    outcome: str | None = None
    best_price: BestPrice | None = None
    bonus_bet: bool | None = None
    otc_available: bool | None = None


@attrs.frozen
class OrdersPage(_Paged[AccountOrder]):
    """A page of `AccountOrder` (``items``), and where the listing goes on."""

    _ITEMS = "orders"

    orders: list[AccountOrder]
    pagination: Pagination
    otc_available: bool | None = None


@attrs.frozen
class OriginalContract:
    """A contract a fullcover order is made of."""

    contract_id: Id


@attrs.frozen
class FullcoverOrder:
    """A multiple or accumulator; its amounts as the API gives them (numbers, read as
    `Decimal`)."""

    reference_id: str
    fullcover_type: str
    number_of_bets: int
    original_contracts: list[OriginalContract]
    stake: Decimal
    returned_amount: Decimal
    cashed_out_amount: Decimal
    cashed_out_quantity: int
    to_return: Decimal
    price: int
    side: str
    state: str
    created_datetime: Time
    last_modified_datetime: Time
    buy_reference_id: str | None = None
    potential_returns: Decimal | None = None


@attrs.frozen
class FullcoverOrdersPage(_Paged[FullcoverOrder]):
    """A page of `FullcoverOrder` (``items``), and where the listing goes on."""

    _ITEMS = "orders"

    orders: list[FullcoverOrder]
    pagination: Pagination


# attrs gives each __init__ the docstring "Method generated by attrs": the reference shows
# the class's own instead.
for _model in list(globals().values()):
    if isinstance(_model, type) and attrs.has(_model):
        _model.__init__.__doc__ = None
del _model
