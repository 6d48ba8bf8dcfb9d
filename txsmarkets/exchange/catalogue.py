"""What the embedded exchange trades and who trades it, read from a JSON catalogue.

A catalogue file is one JSON object::

    {
      "accounts": [
        {"username": "demo", "password": "demo", "token": null, "balance": "1000.00"}
      ],
      "events": [
        {"id": 1, "name": "Demo match", "markets": [
          {"id": 1, "name": "Demo match: winner", "state": "open",
           "contracts": [{"id": 11, "name": "Home"}]}
        ]}
      ]
    }

- ``accounts`` (required, may be empty): ``username`` and ``password`` (non-empty strings),
  ``balance`` in pounds (a string such as ``"1000.00"``, or a JSON number, read exactly; not
  negative), ``token`` (optional; a string or null) for logins by ``seto.Login.cookie``.
  Usernames and tokens are unique. Passwords and tokens are hashed as they are read.
- ``events`` (required): ``id``, ``name``, ``markets``. A market has ``id``, ``name``,
  ``contracts`` (at least one) and ``state`` (optional, default ``"open"``; one of
  `MARKET_STATES`), ``simulation`` (optional: an object that switches on simulated traders
  for the market when the exchange runs with them; see
  `txsmarkets.exchange.simulation.config`). A contract has ``id`` and ``name``. The contracts of a market are its
  outcomes: exactly one of them wins.
- Ids are integers in 1..4294967295 (the wire's uint32). Event ids are unique, market ids are
  unique across the catalogue, and contract ids too (orders name a market and a contract).
- Any other key is an error, so that a misspelt one is not silently ignored.

Anything else raises `CatalogueError`, whose message says where the problem is, for example
``demo.json: events[0].markets[1].state: 'opne' is not a market state (new, open, ...)``.
"""

from __future__ import annotations

import functools
import json
import pathlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterator, Mapping

from txsmarkets.errors import Error
from txsmarkets.exchange.accounts import Credentials
from txsmarkets.exchange.simulation.config import SimulationSpec, SimulationSpecError, parse_simulation

__all__ = [
    "MARKET_STATES",
    "AccountSpec",
    "Catalogue",
    "CatalogueError",
    "Contract",
    "Event",
    "Market",
    "demo_catalogue",
    "load_catalogue",
    "parse_catalogue",
]

#: The market state names, as a catalogue and the operator API spell them.
MARKET_STATES = ("new", "open", "live", "halted", "settled", "voided")

DEMO_PATH = pathlib.Path(__file__).with_name("demo.json")

_MAX_ID = 0xFFFFFFFF


class CatalogueError(Error):
    """A catalogue is malformed; the message names the file, the place and the problem."""


@dataclass(frozen=True)
class Contract:
    """One outcome of a market."""

    id: int
    name: str


@dataclass(frozen=True)
class Market:
    """A set of contracts of which exactly one wins, and its state when the exchange starts."""

    id: int
    name: str
    event_id: int
    state: str
    contracts: tuple[Contract, ...]
    #: How simulated traders trade it (None: the catalogue gave no ``simulation`` object).
    simulation: SimulationSpec | None = None


@dataclass(frozen=True)
class Event:
    """A happening with markets on it."""

    id: int
    name: str
    markets: tuple[Market, ...]


@dataclass(frozen=True)
class AccountSpec:
    """An account to open: its credentials are already hashed."""

    username: str
    credentials: Credentials
    balance: Decimal


@dataclass(frozen=True)
class Catalogue:
    """Accounts, events, markets and contracts: what a `MatchingEngine` starts from."""

    accounts: tuple[AccountSpec, ...]
    events: tuple[Event, ...]

    def markets(self) -> Iterator[Market]:
        """Every market, event by event."""
        for event in self.events:
            yield from event.markets


class _Reader:
    """Checks one decoded catalogue, keeping track of where it is for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.seen: dict[str, set[Any]] = {
            "username": set(),
            "token": set(),
            "event": set(),
            "market": set(),
            "contract": set(),
        }

    def fail(self, where: str, problem: str) -> CatalogueError:
        return CatalogueError(f"{self.source}: {where}: {problem}")

    def obj(
        self, value: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a JSON object, not {_kind(value)}")
        for key in required:
            if key not in value:
                raise self.fail(where, f"missing key {key!r}")
        for key in value:
            if key not in required and key not in optional:
                raise self.fail(where, f"unknown key {key!r}")
        return value

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a JSON array, not {_kind(value)}")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"must be a non-empty string, not {value!r}")
        return value

    def ident(self, value: Any, where: str, kind: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_ID:
            raise self.fail(where, f"an id must be an integer in 1..{_MAX_ID}, not {value!r}")
        self.unique(kind, value, where)
        return value

    def unique(self, kind: str, value: Any, where: str) -> None:
        if value in self.seen[kind]:
            shown = "(hidden)" if kind == "token" else repr(value)
            raise self.fail(where, f"duplicate {kind} {shown}")
        self.seen[kind].add(value)

    def balance(self, value: Any, where: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
            raise self.fail(where, f"a balance must be a string or a number, not {value!r}")
        try:
            amount = Decimal(value)
        except ArithmeticError:
            raise self.fail(where, f"not an amount of pounds: {value!r}") from None
        if not amount.is_finite() or amount < 0:
            raise self.fail(where, f"a balance must be finite and not negative, not {value!r}")
        return amount

    def catalogue(self, data: Any) -> Catalogue:
        top = self.obj(data, "catalogue", ("accounts", "events"))
        accounts = tuple(
            self.account(item, f"accounts[{i}]")
            for i, item in enumerate(self.array(top["accounts"], "accounts"))
        )
        events = tuple(
            self.event(item, f"events[{i}]")
            for i, item in enumerate(self.array(top["events"], "events"))
        )
        return Catalogue(accounts, events)

    def account(self, value: Any, where: str) -> AccountSpec:
        item = self.obj(value, where, ("username", "password", "balance"), ("token",))
        username = self.text(item["username"], f"{where}.username")
        self.unique("username", username, f"{where}.username")
        password = self.text(item["password"], f"{where}.password")
        balance = self.balance(item["balance"], f"{where}.balance")
        token = item.get("token")
        if token is not None:
            token = self.text(token, f"{where}.token")
            self.unique("token", token, f"{where}.token")
        return AccountSpec(username, Credentials.create(password, token), balance)

    def event(self, value: Any, where: str) -> Event:
        item = self.obj(value, where, ("id", "name", "markets"))
        event_id = self.ident(item["id"], f"{where}.id", "event")
        name = self.text(item["name"], f"{where}.name")
        markets = tuple(
            self.market(market, f"{where}.markets[{i}]", event_id)
            for i, market in enumerate(self.array(item["markets"], f"{where}.markets"))
        )
        return Event(event_id, name, markets)

    def market(self, value: Any, where: str, event_id: int) -> Market:
        item = self.obj(value, where, ("id", "name", "contracts"), ("state", "simulation"))
        market_id = self.ident(item["id"], f"{where}.id", "market")
        name = self.text(item["name"], f"{where}.name")
        state = item.get("state", "open")
        if state not in MARKET_STATES:
            raise self.fail(
                f"{where}.state", f"{state!r} is not a market state ({', '.join(MARKET_STATES)})"
            )
        contracts = tuple(
            self.contract(contract, f"{where}.contracts[{i}]")
            for i, contract in enumerate(self.array(item["contracts"], f"{where}.contracts"))
        )
        if not contracts:
            raise self.fail(f"{where}.contracts", "a market needs at least one contract")
        simulation = None
        if "simulation" in item:
            try:
                simulation = parse_simulation(item["simulation"], len(contracts))
            except SimulationSpecError as e:
                raise self.fail(f"{where}.simulation", str(e)) from None
        return Market(market_id, name, event_id, state, contracts, simulation)

    def contract(self, value: Any, where: str) -> Contract:
        item = self.obj(value, where, ("id", "name"))
        contract_id = self.ident(item["id"], f"{where}.id", "contract")
        return Contract(contract_id, self.text(item["name"], f"{where}.name"))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(
        type(value), "null" if value is None else "a number"
    )


def parse_catalogue(data: Any, source: str = "<catalogue>") -> Catalogue:
    """A `Catalogue` from decoded JSON (see the module docstring); `CatalogueError` if bad."""
    return _Reader(source).catalogue(data)


def load_catalogue(path: str | pathlib.Path) -> Catalogue:
    """Read a catalogue file; `CatalogueError` for one that is unreadable, not JSON, or bad."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CatalogueError(f"{path}: cannot read the catalogue: {e}") from None
    try:
        # Numbers with a fraction become Decimal, so that a balance written as 1000.10 is exact.
        data = json.loads(text, parse_float=Decimal)
    except ValueError as e:
        raise CatalogueError(f"{path}: not JSON: {e}") from None
    return parse_catalogue(data, str(path))


@functools.lru_cache(maxsize=1)
def demo_catalogue() -> Catalogue:
    """The built-in demo (``demo.json``): accounts demo/demo and demo2/demo2, £1,000.00 each;
    event 1 "Demo match" with market 1 (winner: contracts 11 Home, 12 Draw, 13 Away) and
    market 2 (total goals over 2.5: 21 Over, 22 Under), both open.

    A `Catalogue` is immutable, so one shared copy serves every engine.
    """
    return load_catalogue(DEMO_PATH)
