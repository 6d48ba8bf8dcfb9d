"""Real events, markets and contracts, read from an HTTP API v3 upstream (Smarkets' own, or
another embedded exchange's ``--http``), as the embedded exchange's catalogue.

Only the public catalogue endpoints are asked (no account): ``GET /v3/events/``,
``/v3/events/{ids}/markets/``, ``/v3/markets/{ids}/`` and ``/v3/markets/{ids}/contracts/``,
through `txsmarkets.http_api.client.HTTPAPIClient`, which splits id lists under each endpoint's
cap and keeps to its rate limits. What they answer becomes the JSON of
`txsmarkets.exchange.catalogue` (with the upstream's ids, names, slugs, types, start
times and states), checked by `parse_catalogue` before it is handed out, so that a
recording of those markets replays with their real ids and names.

`markets_catalogue` reads the markets named by id (what ``--paper`` trades);
`events_catalogue` the events a filter selects, with all their markets (what
``python -m txsmarkets.exchange.fetch_catalogue`` writes). Both add the events above them
(competition, sport), so that the events' tree is whole.

What the embedded exchange cannot hold is changed or left out, never guessed at: a market
state it does not have (``unavailable``) becomes ``halted``; an event type, domain or state
it does not know is left out (the type then is ``generic``, the state follows the
markets'); a market without contracts is left out. An id above the wire's uint32
(4294967295) is an `UpstreamCatalogueError`.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from txsmarkets.errors import Error
from txsmarkets.exchange.catalogue import DEMO_PATH, MARKET_STATES, Catalogue, CatalogueError, parse_catalogue
from txsmarkets.exchange.event_types import EVENT_DOMAINS, EVENT_SCOPES, EVENT_STATES, EVENT_TYPES
from txsmarkets.http_api import HTTPAPIClient
from txsmarkets.http_api.models import Contract as HTTPContract
from txsmarkets.http_api.models import Event as HTTPEvent
from txsmarkets.http_api.models import EventType
from txsmarkets.http_api.models import Market as HTTPMarket

__all__ = [
    "UpstreamCatalogueError",
    "catalogue_of_markets",
    "catalogue_text",
    "check",
    "events_catalogue",
    "market_state",
    "markets_catalogue",
    "parse_market_ids",
    "write_catalogue",
]

_MAX_ID = 0xFFFFFFFF
#: Every event state: ancestors are asked for whatever their state.
_ALL_EVENT_STATES = list(EVENT_STATES)
#: How many levels of parents are followed up the events' tree (Smarkets has three).
_MAX_DEPTH = 8


class UpstreamCatalogueError(Error):
    """What the upstream answered cannot be a catalogue (a market it does not have, an id
    too large for the embedded exchange, ...); the message says which."""


def market_state(state: str) -> str:
    """The embedded exchange's market state for the HTTP API's ``state``: the same name,
    but ``unavailable`` (and any other it does not have) is ``halted``."""
    return state if state in MARKET_STATES else "halted"


def _ident(value: int, what: str) -> int:
    if not 1 <= value <= _MAX_ID:
        raise UpstreamCatalogueError(f"{what} id {value} does not fit the embedded exchange's ids (1..{_MAX_ID})")
    return value


def _put(entry: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key`` only when the upstream gave something the catalogue takes."""
    if value is not None and value != "":
        entry[key] = value


def _event_entry(event: HTTPEvent) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": _ident(event.id, "event"), "name": event.name or str(event.id)}
    _put(entry, "slug", event.slug)
    _put(entry, "short_name", event.short_name)
    _put(entry, "parent_id", event.parent_id)
    if isinstance(event.type, EventType):
        if event.type.domain in EVENT_DOMAINS and event.type.scope in EVENT_SCOPES:
            entry["domain"] = event.type.domain
            entry["scope"] = event.type.scope
    elif event.type in EVENT_TYPES:
        entry["type"] = event.type
    if isinstance(event.start_datetime, datetime):
        entry["start_datetime"] = event.start_datetime.isoformat()
    if event.state in EVENT_STATES:
        entry["state"] = event.state
    if event.display_order is not None and event.display_order >= 0:
        entry["display_order"] = event.display_order
    return entry


def _contract_entry(contract: HTTPContract) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": _ident(contract.id, "contract"), "name": contract.name or str(contract.id)}
    _put(entry, "slug", contract.slug)
    if contract.contract_type is not None:
        _put(entry, "contract_type", contract.contract_type.name)
    if contract.display_order is not None and contract.display_order >= 0:
        entry["display_order"] = contract.display_order
    return entry


def _market_entry(market: HTTPMarket, contracts: Sequence[HTTPContract]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": _ident(market.id, "market"),
        "name": market.name or str(market.id),
        "state": market_state(market.state),
        "contracts": [_contract_entry(c) for c in contracts],
    }
    _put(entry, "slug", market.slug)
    if market.market_type is not None:
        _put(entry, "market_type", market.market_type.name)
    if market.winner_count >= 1:
        entry["winner_count"] = market.winner_count
    if market.bet_delay >= 0:
        entry["bet_delay"] = market.bet_delay
    if market.display_order is not None and market.display_order >= 0:
        entry["display_order"] = market.display_order
    return entry


async def _with_ancestors(client: HTTPAPIClient, events: dict[int, HTTPEvent], wanted: Iterable[int]) -> None:
    """Add to ``events`` those of ``wanted`` and every event above them."""
    frontier = set(wanted)
    for _ in range(_MAX_DEPTH):
        ids = sorted(i for i in frontier if i not in events)
        # A query of ids has no documented cap: a hundred at a time keeps the URL short.
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            for event in await client.events_pages(id=chunk, state=_ALL_EVENT_STATES, limit=1000).collect():
                events[event.id] = event
        frontier = {events[i].parent_id for i in frontier if i in events} - {None}  # type: ignore[assignment]
        if not frontier:
            return


async def catalogue_of_markets(
    client: HTTPAPIClient, markets: Sequence[HTTPMarket], events: Mapping[int, HTTPEvent] | None = None
) -> dict[str, Any]:
    """The catalogue JSON (``accounts`` empty) of ``markets``: their contracts, their
    events and the events above those (``events`` are ones already read). Markets
    without contracts are left out, and so are events left with no market and no child."""
    known = dict(events or {})
    by_market: dict[int, list[HTTPContract]] = {m.id: [] for m in markets}
    if markets:
        for contract in await client.contracts([m.id for m in markets]):
            if contract.market_id in by_market:
                by_market[contract.market_id].append(contract)
    await _with_ancestors(client, known, {m.event_id for m in markets})
    market_entries: dict[int, list[dict[str, Any]]] = {}
    for market in markets:
        contracts = sorted(by_market[market.id], key=lambda c: (c.display_order or 0, c.id))
        if contracts:
            market_entries.setdefault(market.event_id, []).append(_market_entry(market, contracts))
    # The events kept: those with markets, and every one above them.
    kept: set[int] = set()
    for event_id in market_entries:
        current: int | None = event_id
        while current is not None and current in known and current not in kept:
            kept.add(current)
            current = known[current].parent_id
    entries = []
    for event_id in sorted(kept):
        entry = _event_entry(known[event_id])
        if entry.get("parent_id") not in kept:
            entry.pop("parent_id", None)
        if event_id in market_entries:
            entry["markets"] = market_entries[event_id]
        entries.append(entry)
    return {"accounts": [], "events": entries}


def check(data: dict[str, Any], source: str) -> Catalogue:
    """``data`` as a `Catalogue`; `UpstreamCatalogueError` (naming ``source``) if the
    embedded exchange cannot take it."""
    try:
        return parse_catalogue(data, source)
    except CatalogueError as e:
        raise UpstreamCatalogueError(str(e)) from None


async def markets_catalogue(client: HTTPAPIClient, market_ids: Sequence[int]) -> dict[str, Any]:
    """The catalogue JSON of the upstream's markets ``market_ids`` (see
    `catalogue_of_markets`); `UpstreamCatalogueError` if one of them is not there or has
    no contracts."""
    markets = await client.markets(market_ids)
    found = {m.id for m in markets}
    absent = [i for i in market_ids if i not in found]
    if absent:
        raise UpstreamCatalogueError(f"the upstream has no market {', '.join(map(str, absent))}")
    data = await catalogue_of_markets(client, [m for m in markets if m.id in set(market_ids)])
    listed = {m["id"] for e in data["events"] for m in e.get("markets", ())}
    empty = [i for i in market_ids if i not in listed]
    if empty:
        raise UpstreamCatalogueError(f"the upstream's market {', '.join(map(str, empty))} has no contracts")
    return data


async def events_catalogue(
    client: HTTPAPIClient,
    *,
    limit: int,
    event_ids: Sequence[int] = (),
    types: Sequence[str] = (),
    domains: Sequence[str] = (),
    states: Sequence[str] = (),
    start_min: datetime | None = None,
    start_max: datetime | None = None,
) -> dict[str, Any]:
    """The catalogue JSON of the upstream's events that the filters select (``types``:
    legacy type names; ``domains``: sports; ``states``: event states, the API's default
    new, upcoming and live when empty; ``start_min``/``start_max``: aware datetimes), at
    most ``limit`` of those that have markets, in the order of their ids, with all their
    markets and contracts (see `catalogue_of_markets`)."""
    filters: dict[str, Any] = {
        "id": list(event_ids) or None,
        "type": list(types) or None,
        "type_domain": list(domains) or None,
        "state": list(states) or None,
        "start_datetime_min": start_min,
        "start_datetime_max": start_max,
        "sort": "id",
        "limit": min(1000, max(limit, 20)),
    }
    events: dict[int, HTTPEvent] = {}
    markets: list[HTTPMarket] = []
    with_markets = 0
    async for page in client.events_pages(**filters):
        # The markets of a page's events, in as few requests as the id cap allows.
        page_events = [e for e in page.items if e.bettable is not False]
        for event in page.items:
            events[event.id] = event
        found = await client.markets_by_event([e.id for e in page_events]) if page_events else []
        per_event: dict[int, list[HTTPMarket]] = {}
        for market in found:
            per_event.setdefault(market.event_id, []).append(market)
        for event in page_events:
            if event.id in per_event and with_markets < limit:
                with_markets += 1
                markets.extend(per_event[event.id])
        if with_markets >= limit:
            break
    return await catalogue_of_markets(client, markets, events)


def catalogue_text(data: Mapping[str, Any], demo_accounts: bool = True) -> str:
    """The catalogue file's text of ``data``; with ``demo_accounts`` its accounts are the
    demo's (demo/demo, demo2/demo2, £1,000.00 each), so that the exchange has someone to
    trade (never accounts of one's own: their passwords would be in the file)."""
    if demo_accounts:
        data = {**data, "accounts": json.loads(DEMO_PATH.read_text(encoding="utf-8"))["accounts"]}
    return json.dumps(dict(data), indent=1, ensure_ascii=False) + "\n"


def write_catalogue(path: str | os.PathLike[str], text: str) -> None:
    """Write the catalogue ``text`` to ``path``, whole or not at all (a file cut short by
    a failure would not load)."""
    path = pathlib.Path(path)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def parse_market_ids(text: str) -> list[int]:
    """The market ids of ``--markets`` (``"12345678,12345679"``: comma-separated, each once,
    in order); ValueError, in one line, for anything else."""
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        ids = []
    if not ids or any(not 1 <= i <= _MAX_ID for i in ids):
        raise ValueError(f"--markets must be market ids separated by commas, not {text!r}")
    return list(dict.fromkeys(ids))
