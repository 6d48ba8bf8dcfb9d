"""Sessions of the HTTP API: logins, the second factor, and tokens that live 30 minutes
from their last use.

A login (``POST /v3/sessions/``) checks the password off the reactor thread (hashing is
slow) and answers a new token with ``stop``, its expiry. For an account with a second
factor the token is only half a session (``factor: totp``) until ``POST
/v3/sessions/verify/`` gives the code, which answers a new, complete token. Each request
with a complete token pushes its expiry ``lifetime`` seconds on from then. Tokens are kept
only as hashes; none is logged.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, Iterable, Mapping

from twisted.internet.defer import Deferred, DeferredSemaphore, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.threads import deferToThreadPool

from txsmarkets.exchange.accounts import Account, AccountRegistry
from txsmarkets.exchange.catalogue import AccountSpec
from txsmarkets.exchange.http.errors import AUTH_REQUIRED, ApiError
from txsmarkets.exchange.http.units import timestamp
from txsmarkets.exchange.second_factor import SecondFactor

__all__ = ["TOKEN_LIFETIME", "HttpSessions", "second_factors", "token_from_header"]

#: Seconds a token lives after its last use.
TOKEN_LIFETIME = 30 * 60.0
#: Wrong codes a half session may be given before it is ended.
MAX_CODE_ATTEMPTS = 5
_SCHEME = "session-token"


class _Session:
    __slots__ = ("account_id", "expires", "complete", "attempts")

    def __init__(self, account_id: int, expires: float, complete: bool) -> None:
        self.account_id = account_id
        self.expires = expires
        self.complete = complete
        self.attempts = 0


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def token_from_header(header: str | None) -> str | None:
    """The token of an ``Authorization: Session-Token <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != _SCHEME or not token.strip():
        return None
    return token.strip()


class HttpSessions:
    """The HTTP API's sessions for the accounts of ``accounts``."""

    def __init__(
        self,
        clock: IReactorTime,
        accounts: AccountRegistry,
        second_factors: Mapping[str, SecondFactor],
        *,
        lifetime: float = TOKEN_LIFETIME,
        login_threads: int = 1,
    ) -> None:
        self.clock = clock
        self.accounts = accounts
        self.second_factors = dict(second_factors)
        self.lifetime = lifetime
        self._sessions: dict[bytes, _Session] = {}
        self._checks = DeferredSemaphore(login_threads)

    def _check_password(self, username: str, password: str) -> Deferred[Account | None]:
        pool = getattr(self.clock, "getThreadPool", None)
        if pool is None:
            # A test clock has no threads: check in line.
            return succeed(self.accounts.authenticate(username, password))

        def check() -> Deferred[Account | None]:
            # PBKDF2 takes tens of milliseconds: off the reactor thread.
            return deferToThreadPool(self.clock, pool(), self.accounts.authenticate, username, password)  # type: ignore[arg-type]

        return self._checks.run(check)

    def _open(self, account_id: int, complete: bool) -> dict[str, Any]:
        now = self.clock.seconds()
        self._forget_expired(now)
        token = secrets.token_urlsafe(32)
        session = _Session(account_id, now + self.lifetime, complete)
        self._sessions[_digest(token)] = session
        return {
            "token": token,
            "stop": timestamp(session.expires),
            "factor": "complete" if complete else "totp",
        }

    def _forget_expired(self, now: float) -> None:
        for key, session in list(self._sessions.items()):
            if session.expires <= now:
                del self._sessions[key]

    def login(self, username: str, password: str) -> Deferred[dict[str, Any]]:
        """The body of a login's 201; `ApiError` 401 INVALID_CREDENTIALS for a wrong
        username or password."""

        def checked(account: Account | None) -> dict[str, Any]:
            if account is None:
                raise ApiError(401, "INVALID_CREDENTIALS", "wrong username or password")
            return self._open(account.id, account.username not in self.second_factors)

        return self._check_password(username, password).addCallback(checked)

    def verify(self, token: str, code: str) -> dict[str, Any]:
        """The body of a verify's 201: a complete session for the half one ``token`` names.
        `ApiError` 400 INVALID_TOKEN for a token that names no half session, 401
        INVALID_CREDENTIALS for a wrong code (the half session ends after
        `MAX_CODE_ATTEMPTS` of them)."""
        key = _digest(token)
        session = self._sessions.get(key)
        now = self.clock.seconds()
        if session is None or session.complete or session.expires <= now:
            raise ApiError(400, "INVALID_TOKEN", "the token is not one awaiting a code")
        account = self.accounts.get(session.account_id)
        factor = self.second_factors.get(account.username) if account is not None else None
        if factor is None or not factor.check(code, now):
            session.attempts += 1
            if session.attempts >= MAX_CODE_ATTEMPTS:
                del self._sessions[key]
            raise ApiError(401, "INVALID_CREDENTIALS", "wrong code")
        del self._sessions[key]
        return self._open(session.account_id, True)

    def logout(self, header: str | None) -> None:
        """End the session the header's token names, if any."""
        token = token_from_header(header)
        if token is not None:
            self._sessions.pop(_digest(token), None)

    def account_id(self, header: str | None) -> int | None:
        """The account a complete, unexpired session's token names, its expiry pushed on;
        None without one."""
        token = token_from_header(header)
        if token is None:
            return None
        key = _digest(token)
        session = self._sessions.get(key)
        now = self.clock.seconds()
        if session is None or not session.complete:
            return None
        if session.expires <= now:
            del self._sessions[key]
            return None
        session.expires = now + self.lifetime
        return session.account_id

    def require(self, header: str | None) -> int:
        """`account_id`, or `ApiError` 401 AUTH_REQUIRED."""
        account_id = self.account_id(header)
        if account_id is None:
            raise ApiError(401, AUTH_REQUIRED, "a valid session token is required")
        return account_id

    def __len__(self) -> int:
        """How many sessions, complete or half, are held."""
        return len(self._sessions)


def second_factors(specs: Iterable[AccountSpec]) -> dict[str, SecondFactor]:
    """Usernames and second factors of a catalogue's account specs that have one."""
    return {spec.username: spec.second_factor for spec in specs if spec.second_factor is not None}
