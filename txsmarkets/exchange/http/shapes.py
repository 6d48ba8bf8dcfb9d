"""The JSON shapes of the HTTP API: the catalogue's objects, quotes, orders and the answer to
an order create, each as the document describes it (ids as decimal strings, money as
two-decimal strings, prices in basis points, quantities in ten-thousandths of a pound)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from txsmarkets.exchange.accounts import Account
from txsmarkets.exchange.book import BUY, SELL, Book, Order
from txsmarkets.exchange.catalogue import Contract, Event, Market, slugify
from txsmarkets.exchange.http.index import CatalogueIndex
from txsmarkets.exchange.http.units import ORDER_TYPES, exposure_text, money, side_name, timestamp

__all__ = [
    "account_shape",
    "book_shape",
    "contract_shape",
    "event_shape",
    "market_shape",
    "order_shape",
    "order_state",
    "placed_shape",
]


def event_shape(index: CatalogueIndex, event: Event, created: str, new_type: bool) -> dict[str, Any]:
    """An event object; its ``type`` is ``{domain, scope}`` when ``new_type`` is asked for
    and the catalogue gives them, else the legacy name."""
    start = event.start_datetime
    kind: Any = event.type
    if new_type and event.domain is not None:
        kind = {"domain": event.domain, "scope": event.scope}
    return {
        "id": str(event.id),
        "name": event.name,
        "short_name": event.short_name,
        "description": None,
        "slug": event.slug or slugify(event.name),
        "full_slug": index.full_slug(event),
        "parent_id": None if event.parent_id is None else str(event.parent_id),
        "state": index.event_state(event),
        "type": kind,
        "hidden": False,
        "bettable": bool(event.markets),
        "inplay_enabled": True,
        "display_order": event.display_order,
        "start_date": None if start is None else start.date().isoformat(),
        "start_datetime": None if start is None else start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "end_date": None,
        "created": created,
        "modified": created,
    }


def market_shape(index: CatalogueIndex, market: Market, created: str) -> dict[str, Any]:
    """A market object."""
    return {
        "id": str(market.id),
        "event_id": str(market.event_id),
        "name": market.name,
        "slug": market.slug or slugify(market.name),
        "state": index.market_state(market.id),
        "market_type": None if market.market_type is None else {"name": market.market_type},
        "bet_delay": market.bet_delay,
        "complete": True,
        "winner_count": market.winner_count,
        "hidden": False,
        "display_type": "default",
        "display_order": market.display_order,
        "cashout_enabled": False,
        "inplay_enabled": True,
        "created": created,
        "modified": created,
    }


def contract_shape(index: CatalogueIndex, contract: Contract, market_id: int, created: str) -> dict[str, Any]:
    """A contract object."""
    return {
        "id": str(contract.id),
        "market_id": str(market_id),
        "name": contract.name,
        "slug": contract.slug or slugify(contract.name),
        "state_or_outcome": index.contract_state(contract.id),
        "outcome_timestamp": None,
        "contract_type": None if contract.contract_type is None else {"name": contract.contract_type},
        "display_order": contract.display_order,
        "hidden": False,
        "created": created,
        "modified": created,
    }


def book_shape(book: Book) -> dict[str, Any]:
    """A contract's quotes: bids (resting buys, highest first) and offers (resting sells,
    lowest first), each level's price and total quantity."""
    return {
        "bids": [{"price": price, "quantity": total} for price, total in book.depth(BUY)],
        "offers": [{"price": price, "quantity": total} for price, total in book.depth(SELL)],
    }


def account_shape(account: Account) -> dict[str, Any]:
    """The account object: money as strings, exposure negative."""
    return {
        "account_id": str(account.id),
        "currency": "GBP",
        "balance": money(account.balance),
        "available_balance": money(account.available_balance),
        "exposure": exposure_text(account.exposure),
        "bonus_balance": "0.00",
        "commission_type": "0.00",
    }


def order_state(order: Order, market_state: str) -> str | None:
    """The API's state of an order: created (live, no fills), partial (live, some fills),
    filled (done with fills), settled (its market settled or voided); None for an order
    done without fills (cancelled), which the orders list leaves out."""
    if order.live:
        return "partial" if order.executed else "created"
    if not order.executed:
        return None
    return "settled" if market_state in ("settled", "voided") else "filled"


def _outcome(order: Order, index: CatalogueIndex) -> str | None:
    info = index.engine.market(order.market_id)
    if info is None or info.state not in ("settled", "voided"):
        return None
    if info.state == "voided":
        return "void"
    won = order.contract_id in info.winners
    if won and len(info.winners) > 1:
        return "deadheat"
    return "winner" if won == (order.side == BUY) else "loser"


def order_shape(
    index: CatalogueIndex, order: Order, state: str, created: float, modified: float, sequence: int
) -> dict[str, Any]:
    """An order object (quantities in the user's currency equal the pounds': GBP only)."""
    unfilled = order.remaining if order.live else 0
    return {
        "id": str(order.id),
        "market_id": str(order.market_id),
        "contract_id": str(order.contract_id),
        "original_order_id": None,
        "side": side_name(order.side),
        "state": state,
        "type": ORDER_TYPES.get(order.tif, "good_til_cancelled"),
        "label": order.label,
        "price": order.price,
        "average_price_matched": order.executed_avg_price,
        "quantity": order.quantity,
        "quantity_filled": order.executed,
        "quantity_filled_pending": 0,
        "quantity_unfilled": unfilled,
        "quantity_user_currency": order.quantity,
        "quantity_filled_user_currency": order.executed,
        "quantity_filled_pending_user_currency": 0,
        "quantity_unfilled_user_currency": unfilled,
        "quantity_traded_out_user_currency": 0,
        "stake_traded_out_user_currency": 0,
        "sequence_number": sequence,
        "created_datetime": timestamp(created),
        "last_modified_datetime": timestamp(modified),
        "token_used": {"bet_token_type": None, "boost_percent": None},
        "outcome": _outcome(order, index),
        "bonus_bet": False,
    }


def placed_shape(order: Order, available_balance: Decimal, exposure: Decimal) -> dict[str, Any]:
    """The answer to an order create: the order after its first matching."""
    executed = order.executed
    return {
        "order_id": str(order.id),
        "market_id": str(order.market_id),
        "contract_id": str(order.contract_id),
        "side": side_name(order.side),
        "price": order.price,
        "quantity": order.quantity,
        "available_quantity": order.remaining if order.live else 0,
        "total_executed_quantity": executed,
        "executed_avg_price": order.executed_avg_price if executed else None,
        "orig_price": order.price if executed else None,
        "available_balance": money(available_balance),
        "exposure": exposure_text(exposure),
    }
