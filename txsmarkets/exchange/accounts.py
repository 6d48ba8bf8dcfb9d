"""The embedded exchange's accounts: credentials, money, positions and the account stream.

Money is `Decimal` pounds. An account's ``balance`` is its cash; trading moves no cash, it
only changes ``exposure`` (see `Account`), and settlement pays out of one balance into
another. Quantities (ten-thousandths of a pound of payout) and price x quantity products
(hundred-millionths of a pound) are kept as exact integers inside a `MarketPosition`.

Credentials are kept only as salted PBKDF2-HMAC-SHA256 hashes (`Secret`) and checked with
`hmac.compare_digest`. A token is found by a keyed HMAC of it (the key is random per process)
and then checked against its own salted hash, so a token login costs one slow hash however
many accounts there are.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Iterable, Iterator

from txsmarkets.trading.money import FULL, one_winner_worst, pounds

if TYPE_CHECKING:
    from txsmarkets.exchange.book import Order

__all__ = [
    "HASH_ITERATIONS",
    "Account",
    "AccountRegistry",
    "Credentials",
    "MarketPosition",
    "Secret",
]

#: PBKDF2 rounds for new secrets. Lower than an internet-facing service would use because a
#: login is checked on the reactor thread of an embedded test exchange; each `Secret` records
#: its own count, so raising this later does not break stored hashes.
HASH_ITERATIONS = 100_000

_ZERO = Decimal(0)
# Keys the token index; random per process so the index is no offline-guessable hash.
_TOKEN_INDEX_KEY = os.urandom(32)


def _to_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        return secret.encode("utf-8")
    if isinstance(secret, (bytes, bytearray, memoryview)):
        return bytes(secret)
    raise TypeError(f"a secret must be str or bytes, not {type(secret).__name__}")


class Secret:
    """A salted PBKDF2-HMAC-SHA256 hash of a password or token; the secret itself is dropped."""

    __slots__ = ("_salt", "_iterations", "_digest")

    def __init__(self, salt: bytes, iterations: int, digest: bytes) -> None:
        self._salt = salt
        self._iterations = iterations
        self._digest = digest

    @classmethod
    def create(cls, secret: str | bytes, iterations: int = HASH_ITERATIONS) -> Secret:
        """Hash ``secret`` with a fresh random salt."""
        salt = os.urandom(16)
        return cls(salt, iterations, cls._hash(_to_bytes(secret), salt, iterations))

    @staticmethod
    def _hash(secret: bytes, salt: bytes, iterations: int) -> bytes:
        return hashlib.pbkdf2_hmac("sha256", secret, salt, iterations)

    def verify(self, secret: str | bytes) -> bool:
        """Whether ``secret`` is the one hashed, compared in constant time."""
        try:
            candidate = _to_bytes(secret)
        except TypeError:
            return False
        digest = self._hash(candidate, self._salt, self._iterations)
        return hmac.compare_digest(digest, self._digest)

    def __repr__(self) -> str:
        return "<Secret (hidden)>"


def token_index(token: str | bytes) -> bytes:
    """The key a token is found by: an HMAC under this process's random key."""
    return hmac.new(_TOKEN_INDEX_KEY, _to_bytes(token), hashlib.sha256).digest()


# Checked when a username is unknown, so that a miss costs as long as a wrong password.
_DUMMY_SECRET = Secret.create(b"no such account")


@dataclass(frozen=True, repr=False)
class Credentials:
    """What logs an account in: a hashed password and, optionally, a hashed token."""

    password: Secret
    token: Secret | None = None
    token_key: bytes | None = None

    @classmethod
    def create(
        cls,
        password: str | bytes,
        token: str | bytes | None = None,
        iterations: int = HASH_ITERATIONS,
    ) -> Credentials:
        """Hash a plain password (and token); the plain values are not kept."""
        if token is None:
            return cls(Secret.create(password, iterations))
        return cls(
            Secret.create(password, iterations),
            Secret.create(token, iterations),
            token_index(token),
        )

    def __repr__(self) -> str:
        return f"<Credentials (hidden){' with token' if self.token is not None else ''}>"


class MarketPosition:
    """An account's matched bets in one market, whose contracts are its outcomes.

    Per contract it keeps ``net``, bought minus sold quantity, and overall ``cost``, the sum
    of price x quantity of buys minus that of sells. If contract w wins the account makes
    ``net[w] * FULL - cost`` hundred-millionths of a pound; exactly one contract wins, so
    the worst case is the contract with the lowest ``net``.
    """

    __slots__ = ("contract_ids", "net", "cost")

    def __init__(self, contract_ids: Iterable[int]) -> None:
        self.contract_ids = tuple(contract_ids)
        self.net: dict[int, int] = dict.fromkeys(self.contract_ids, 0)
        self.cost = 0

    def add(self, contract_id: int, is_buy: bool, price: int, quantity: int) -> None:
        """Record a matched bet of ``quantity`` at ``price``."""
        if is_buy:
            self.net[contract_id] += quantity
            self.cost += price * quantity
        else:
            self.net[contract_id] -= quantity
            self.cost -= price * quantity

    def worst_case_loss(self) -> Decimal:
        """Pounds lost if the worst contract for this account wins (0 if none loses)."""
        loss = one_winner_worst(self.cost, [-net * FULL for net in self.net.values()], unnamed=False)
        return pounds(loss) if loss > 0 else _ZERO

    def profit(self, winners: Iterable[int]) -> Decimal:
        """Pounds won (negative: lost) when the ``winners`` contracts pay out."""
        net = self.net
        return pounds(sum(net[c] for c in winners) * FULL - self.cost)

    def __repr__(self) -> str:
        return f"MarketPosition(net={self.net!r}, cost={self.cost})"


class Account:
    """One member of the exchange.

    ``exposure`` is the liability of its live orders' unfilled quantity (each at its limit
    price) plus, per market, the worst-case loss of its matched bets; ``available_balance``
    is ``balance - exposure``, and an order is accepted only if its liability fits in it.
    Live orders and matched bets are not netted against each other: simple, and never less
    than the true worst case.

    ``sequence`` numbers the account stream (the first message is 1); ``log`` holds the last
    messages sent as ``(sequence, serialized seto.Payload)``, for a resuming session.

    An account that is not ``attended`` (a simulated trader's, a replay's own) is one no
    session logs in to: nothing reads its stream, so its messages are numbered but not
    built, kept or delivered (`txsmarkets.exchange.answers`), and its logins are refused.
    """

    __slots__ = (
        "id",
        "username",
        "balance",
        "orders",
        "positions",
        "position_exposure",
        "position_exposure_total",
        "order_liability",
        "cancel_all_on_failure",
        "sequence",
        "log",
        "attended",
        "_credentials",
    )

    def __init__(
        self,
        account_id: int,
        username: str,
        balance: Decimal,
        credentials: Credentials,
        log_size: int = 10000,
        attended: bool = True,
    ) -> None:
        self.id = account_id
        self.username = username
        self.balance = balance
        #: Live orders by id, oldest first (the engine's `Order` objects).
        self.orders: dict[int, Order] = {}
        self.positions: dict[int, MarketPosition] = {}
        #: Worst-case loss of each market's matched bets, as last computed.
        self.position_exposure: dict[int, Decimal] = {}
        self.position_exposure_total = _ZERO
        self.order_liability = _ZERO
        self.cancel_all_on_failure = False
        self.sequence = 0
        self.log: deque[tuple[int, bytes]] = deque(maxlen=log_size)
        self.attended = attended
        self._credentials = credentials

    @property
    def exposure(self) -> Decimal:
        """Pounds at risk: live orders' liability plus matched bets' worst-case loss."""
        return self.order_liability + self.position_exposure_total

    @property
    def available_balance(self) -> Decimal:
        """Pounds free for new orders: ``balance - exposure``."""
        return self.balance - self.order_liability - self.position_exposure_total

    def set_position_exposure(self, market_id: int, loss: Decimal) -> None:
        """Record the worst-case loss of the matched bets in one market (0 drops it)."""
        old = self.position_exposure.pop(market_id, _ZERO)
        if loss:
            self.position_exposure[market_id] = loss
        self.position_exposure_total += loss - old

    def check_password(self, password: str | bytes) -> bool:
        """Whether ``password`` is this account's."""
        return self._credentials.password.verify(password)

    def check_token(self, token: str | bytes) -> bool:
        """Whether ``token`` is this account's login token."""
        secret = self._credentials.token
        return secret is not None and secret.verify(token)

    def __repr__(self) -> str:
        return (
            f"<Account {self.id} {self.username!r} balance={self.balance}"
            f" exposure={self.exposure} orders={len(self.orders)}>"
        )


class AccountRegistry:
    """The exchange's accounts, by id (1, 2, ... in order of adding) and by username."""

    def __init__(self, log_size: int = 10000) -> None:
        self._log_size = log_size
        self._by_id: dict[int, Account] = {}
        self._by_username: dict[str, Account] = {}
        self._by_token: dict[bytes, Account] = {}

    def add(
        self,
        username: str,
        password: str | bytes,
        balance: Decimal | int | str,
        token: str | bytes | None = None,
    ) -> Account:
        """Open an account; ValueError for a username already taken or a bad balance."""
        return self.add_credentials(username, Credentials.create(password, token), balance)

    def add_credentials(
        self, username: str, credentials: Credentials, balance: Decimal | int | str, *, attended: bool = True
    ) -> Account:
        """Open an account whose credentials are already hashed (as a catalogue holds them);
        ``attended=False`` for one no session will log in to (see `Account`)."""
        if username in self._by_username:
            raise ValueError(f"username {username!r} is taken")
        if credentials.token_key is not None and credentials.token_key in self._by_token:
            raise ValueError(f"the token of {username!r} is another account's")
        if isinstance(balance, float) or isinstance(balance, bool):
            raise ValueError(f"a balance must be exact (Decimal, int or str), not {balance!r}")
        try:
            amount = Decimal(balance)
        except ArithmeticError:
            raise ValueError(f"not a balance: {balance!r}") from None
        if not amount.is_finite() or amount < 0:
            raise ValueError(f"a balance must be finite and not negative, not {balance!r}")
        account = Account(len(self._by_id) + 1, username, amount, credentials, self._log_size, attended)
        self._by_id[account.id] = account
        self._by_username[username] = account
        if credentials.token_key is not None:
            self._by_token[credentials.token_key] = account
        return account

    def authenticate(self, username: str, password: str | bytes) -> Account | None:
        """The account these credentials log in, or None (always for one not attended)."""
        account = self._by_username.get(username)
        if account is None or not account.attended:
            _DUMMY_SECRET.verify(password)
            return None
        return account if account.check_password(password) else None

    def authenticate_token(self, token: bytes) -> Account | None:
        """The account this login token (``seto.Login.cookie``) belongs to, or None."""
        try:
            account = self._by_token.get(token_index(token))
        except TypeError:
            return None
        if account is None or not account.attended or not account.check_token(token):
            return None
        return account

    def get(self, account_id: int) -> Account | None:
        """The account with this id, or None."""
        return self._by_id.get(account_id)

    def by_username(self, username: str) -> Account | None:
        """The account with this username, or None."""
        return self._by_username.get(username)

    def __getitem__(self, account_id: int) -> Account:
        return self._by_id[account_id]

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._by_id

    def __iter__(self) -> Iterator[Account]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"<AccountRegistry of {len(self._by_id)} accounts>"
