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
  The second factor of HTTP logins (optional, at most one): ``totp_secret`` (a base32
  secret, as authenticator apps take it) or ``totp_code`` (one fixed code, for tests); see
  `txsmarkets.exchange.second_factor`.
- ``events`` (required): ``id``, ``name``, ``markets`` (optional, default none). A market has
  ``id``, ``name``, ``contracts`` (at least one) and ``state`` (optional, default ``"open"``;
  one of `MARKET_STATES`), ``simulation`` (optional: an object that switches on simulated
  traders for the market when the exchange runs with them; see
  `txsmarkets.exchange.simulation.config`). A contract has ``id`` and ``name``. The contracts
  of a market are its outcomes: exactly one of them wins.
- What the HTTP API shows of them, all optional: an event's ``slug`` (default: made from its
  name), ``short_name``, ``parent_id`` (another event of the catalogue: events form a tree,
  sport, competition, match), ``type`` (a legacy type name of
  `txsmarkets.exchange.event_types.EVENT_TYPES`, default ``"generic"``), ``domain`` and
  ``scope`` (the newer two-part type; both or neither), ``start_datetime`` (ISO 8601 with a
  zone, such as ``"2030-06-01T19:45:00Z"``), ``state`` (one of ``EVENT_STATES``; by default
  it follows the markets: ``live`` when one is live, ``settled`` when all are settled or
  voided, else ``upcoming``), ``display_order``; a market's ``slug``, ``market_type`` (a name
  such as ``"WINNER_3_WAY"``), ``winner_count`` (default 1), ``bet_delay`` (seconds, default
  0), ``display_order``; a contract's ``slug``, ``contract_type`` (a name such as
  ``"HOME"``), ``display_order``.
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
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from txsmarkets.errors import Error
from txsmarkets.exchange.accounts import Credentials
from txsmarkets.exchange.event_types import EVENT_DOMAINS, EVENT_SCOPES, EVENT_STATES, EVENT_TYPES
from txsmarkets.exchange.second_factor import SecondFactor
from txsmarkets.exchange.simulation.config import SimulationSpec, SimulationSpecError, parse_simulation
from txsmarkets.wire import seto_pb2

__all__ = [
    "MARKET_STATES",
    "MARKET_STATE_TYPES",
    "AccountSpec",
    "Catalogue",
    "CatalogueError",
    "Contract",
    "Event",
    "Market",
    "demo_catalogue",
    "load_catalogue",
    "parse_catalogue",
    "slugify",
]

#: The market states: each name, as a catalogue, the operator API and the HTTP API spell
#: it, and the wire's ``MarketStateType`` a ``market_state`` message carries for it (the
#: engine's messages, the paper exchange's and the bridge's all take it from here).
MARKET_STATE_TYPES: Mapping[str, seto_pb2.MarketStateType] = MappingProxyType({
    "new": seto_pb2.MARKET_STATE_NEW,
    "open": seto_pb2.MARKET_STATE_OPEN,
    "live": seto_pb2.MARKET_STATE_LIVE,
    "halted": seto_pb2.MARKET_STATE_HALTED,
    "settled": seto_pb2.MARKET_STATE_SETTLED,
    "voided": seto_pb2.MARKET_STATE_VOIDED,
})  # fmt: skip

#: The market state names, as a catalogue and the operator API spell them.
MARKET_STATES = tuple(MARKET_STATE_TYPES)

DEMO_PATH = pathlib.Path(__file__).with_name("demo.json")

_MAX_ID = 0xFFFFFFFF


class CatalogueError(Error):
    """A catalogue is malformed; the message names the file, the place and the problem."""


def slugify(name: str) -> str:
    """The slug made from a name: lower case, each run of other characters one dash."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "x"


@dataclass(frozen=True)
class Contract:
    """One outcome of a market."""

    id: int
    name: str
    slug: str = ""
    contract_type: str | None = None
    display_order: int | None = None


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
    slug: str = ""
    market_type: str | None = None
    winner_count: int = 1
    bet_delay: int = 0
    display_order: int | None = None


@dataclass(frozen=True)
class Event:
    """A happening with markets on it, or (without markets) a node of the events' tree."""

    id: int
    name: str
    markets: tuple[Market, ...]
    slug: str = ""
    short_name: str | None = None
    parent_id: int | None = None
    type: str = "generic"
    #: The newer two-part type (None when the catalogue gave none).
    domain: str | None = None
    scope: str | None = None
    start_datetime: datetime | None = None
    #: None: the state follows the markets' (see the module docstring).
    state: str | None = None
    display_order: int | None = None


@dataclass(frozen=True)
class AccountSpec:
    """An account to open: its credentials are already hashed."""

    username: str
    credentials: Credentials
    balance: Decimal
    #: What HTTP logins must give besides the password (None: nothing).
    second_factor: SecondFactor | None = None


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
        self.tree(events)
        return Catalogue(accounts, events)

    def tree(self, events: tuple[Event, ...]) -> None:
        """Check that each ``parent_id`` names an event and that no event is its own ancestor."""
        parents = {event.id: event.parent_id for event in events}
        for index, event in enumerate(events):
            where = f"events[{index}].parent_id"
            if event.parent_id is not None and event.parent_id not in parents:
                raise self.fail(where, f"no event {event.parent_id!r} in the catalogue")
            seen = {event.id}
            parent = event.parent_id
            while parent is not None:
                if parent in seen:
                    raise self.fail(where, f"event {event.id} is its own ancestor")
                seen.add(parent)
                parent = parents[parent]

    def optional_text(self, item: Mapping[str, Any], key: str, where: str) -> str | None:
        value = item.get(key)
        return None if value is None else self.text(value, f"{where}.{key}")

    def optional_int(self, item: Mapping[str, Any], key: str, where: str, low: int, default: int | None = None) -> int | None:
        value = item.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= _MAX_ID:
            raise self.fail(f"{where}.{key}", f"must be an integer in {low}..{_MAX_ID}, not {value!r}")
        return value

    def choice(self, item: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...]) -> str | None:
        value = item.get(key)
        if value is None:
            return None
        if value not in choices:
            raise self.fail(f"{where}.{key}", f"{value!r} is not one of {', '.join(choices[:4])}, ...")
        return str(value)

    def when(self, value: Any, where: str) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                return moment.astimezone(timezone.utc)
        raise self.fail(where, f"must be an ISO 8601 date and time with a zone, not {value!r}")

    def account(self, value: Any, where: str) -> AccountSpec:
        item = self.obj(
            value, where, ("username", "password", "balance"), ("token", "totp_secret", "totp_code")
        )
        username = self.text(item["username"], f"{where}.username")
        self.unique("username", username, f"{where}.username")
        password = self.text(item["password"], f"{where}.password")
        balance = self.balance(item["balance"], f"{where}.balance")
        token = item.get("token")
        if token is not None:
            token = self.text(token, f"{where}.token")
            self.unique("token", token, f"{where}.token")
        return AccountSpec(
            username, Credentials.create(password, token), balance, self.second_factor(item, where)
        )

    def second_factor(self, item: Mapping[str, Any], where: str) -> SecondFactor | None:
        secret = self.optional_text(item, "totp_secret", where)
        code = self.optional_text(item, "totp_code", where)
        if secret is not None and code is not None:
            raise self.fail(where, "give totp_secret or totp_code, not both")
        if code is not None:
            return SecondFactor.from_code(code)
        if secret is None:
            return None
        try:
            return SecondFactor.from_totp_secret(secret)
        except ValueError as e:
            # The secret itself is not shown: it is a credential.
            raise self.fail(f"{where}.totp_secret", str(e)) from None

    def event(self, value: Any, where: str) -> Event:
        item = self.obj(
            value,
            where,
            ("id", "name"),
            ("markets", "slug", "short_name", "parent_id", "type", "domain", "scope",
             "start_datetime", "state", "display_order"),
        )
        event_id = self.ident(item["id"], f"{where}.id", "event")
        name = self.text(item["name"], f"{where}.name")
        markets = tuple(
            self.market(market, f"{where}.markets[{i}]", event_id)
            for i, market in enumerate(self.array(item.get("markets", []), f"{where}.markets"))
        )
        domain = self.choice(item, "domain", where, EVENT_DOMAINS)
        scope = self.choice(item, "scope", where, EVENT_SCOPES)
        if (domain is None) != (scope is None):
            raise self.fail(where, "give both domain and scope, or neither")
        return Event(
            event_id,
            name,
            markets,
            slug=self.optional_text(item, "slug", where) or slugify(name),
            short_name=self.optional_text(item, "short_name", where),
            parent_id=self.optional_int(item, "parent_id", where, 1),
            type=self.choice(item, "type", where, EVENT_TYPES) or "generic",
            domain=domain,
            scope=scope,
            start_datetime=self.when(item.get("start_datetime"), f"{where}.start_datetime"),
            state=self.choice(item, "state", where, EVENT_STATES),
            display_order=self.optional_int(item, "display_order", where, 0),
        )

    def market(self, value: Any, where: str, event_id: int) -> Market:
        item = self.obj(
            value,
            where,
            ("id", "name", "contracts"),
            ("state", "simulation", "slug", "market_type", "winner_count", "bet_delay", "display_order"),
        )
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
        return Market(
            market_id,
            name,
            event_id,
            state,
            contracts,
            simulation,
            slug=self.optional_text(item, "slug", where) or slugify(name),
            market_type=self.optional_text(item, "market_type", where),
            winner_count=self.optional_int(item, "winner_count", where, 1, 1) or 1,
            bet_delay=self.optional_int(item, "bet_delay", where, 0, 0) or 0,
            display_order=self.optional_int(item, "display_order", where, 0),
        )

    def contract(self, value: Any, where: str) -> Contract:
        item = self.obj(value, where, ("id", "name"), ("slug", "contract_type", "display_order"))
        contract_id = self.ident(item["id"], f"{where}.id", "contract")
        name = self.text(item["name"], f"{where}.name")
        return Contract(
            contract_id,
            name,
            slug=self.optional_text(item, "slug", where) or slugify(name),
            contract_type=self.optional_text(item, "contract_type", where),
            display_order=self.optional_int(item, "display_order", where, 0),
        )


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
