"""The catalogue as the HTTP API looks it up: events, markets and contracts by id, the
events' tree, and the states that follow the engine's markets."""

from __future__ import annotations

from txsmarkets.exchange.catalogue import Catalogue, Contract, Event, Market, slugify
from txsmarkets.exchange.interfaces import IHttpEngine

__all__ = ["CatalogueIndex"]

_FINAL = ("settled", "voided")


class CatalogueIndex:
    """Lookups over a `Catalogue`; current states are read from ``engine``."""

    def __init__(self, catalogue: Catalogue, engine: IHttpEngine) -> None:
        self.engine = engine
        #: Events by id, in catalogue order.
        self.events: dict[int, Event] = {event.id: event for event in catalogue.events}
        self.markets: dict[int, Market] = {m.id: m for m in catalogue.markets()}
        #: Each contract and the market it is in.
        self.contracts: dict[int, tuple[Contract, Market]] = {
            contract.id: (contract, market) for market in self.markets.values() for contract in market.contracts
        }

    def market_state(self, market_id: int) -> str:
        """The market's current state (one of the catalogue's `MARKET_STATES`)."""
        info = self.engine.market(market_id)
        return info.state if info is not None else self.markets[market_id].state

    def event_state(self, event: Event) -> str:
        """The catalogue's state for the event, or else one that follows its markets: live
        when one is live, settled when every one is settled or voided, else upcoming."""
        if event.state is not None:
            return event.state
        states = [self.market_state(market.id) for market in event.markets]
        if "live" in states:
            return "live"
        if states and all(state in _FINAL for state in states):
            return "settled"
        return "upcoming"

    def contract_state(self, contract_id: int) -> str:
        """``state_or_outcome``: the market's state while it trades; once settled winner,
        loser or (one of several winners) deadheat; voided."""
        market = self.contracts[contract_id][1]
        info = self.engine.market(market.id)
        state = info.state if info is not None else market.state
        if state != "settled" or info is None:
            return state
        if contract_id not in info.winners:
            return "loser"
        return "deadheat" if len(info.winners) > 1 else "winner"

    def full_slug(self, event: Event) -> str:
        """The slugs from the root of the event's tree down to it: ``/football/league/match``."""
        slugs = []
        current: Event | None = event
        while current is not None:
            slugs.append(current.slug or slugify(current.name))
            current = self.events.get(current.parent_id) if current.parent_id is not None else None
        return "/" + "/".join(reversed(slugs))
