"""The session: logging in (with a second factor), the token's life, logging in again.

The API opens a session at ``POST /v3/sessions/`` (201) and names it by a token, sent as
``Authorization: Session-Token <token>``. A token lives 30 minutes from its last use: every
request that carries it keeps it alive, and none refreshes it otherwise. `SessionKeeper`
logs in when a request needs a session and has none, or when its token has gone unused for
as long as it lives; when the API answers 401 all the same (the token expired on its side),
the request that got it asks for one new login, shared with every request that got a 401 for
the same token, and is sent once more: a 401 means the request was refused, not carried
out, so sending it again repeats nothing.

The password and the token are kept in `Secret`, whose repr and str hide them: they reach
the wire and nowhere else (no log line, repr or exception).
"""

from __future__ import annotations

from typing import Any, Callable

import attrs
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.exceptions import LoginError
from txsmarkets.http_api.errors import NoCredentials
from txsmarkets.http_api.models import SessionInfo
from txsmarkets.http_api.units import Time, structure

__all__ = ["LIFETIME", "Secret", "SessionKeeper"]

_log = Logger()

#: Seconds a token lives after its last use.
LIFETIME = 30 * 60.0
#: A token unused for ``LIFETIME`` less this is taken as gone: the API's clock and ours
#: may differ, and a request takes time to arrive.
MARGIN = 60.0


class Secret:
    """A string kept out of sight: its repr and str are ``'***'``; `reveal` gives it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the wire only."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not pickled")


@attrs.frozen
class _Opened:
    # A login's or a verify's answer (the auth v2 fields are not needed: no route takes them).
    stop: Time | None
    token: str | None = attrs.field(default=None, repr=False)
    factor: str | None = None


#: Sends a session request: (endpoint name, JSON body) -> Deferred of the decoded answer.
Send = Callable[[str, dict[str, Any]], "Deferred[Any]"]


class SessionKeeper:
    """The client's session: `token` for a request, `used` after it, `expired` after a 401.

    ``send`` makes the login and verify requests; ``second_factor`` (a callable with no
    arguments returning the code, or a Deferred of it) is asked for a TOTP code when the
    API wants one. Each new token gets a new ``generation``, by which a 401 is matched to
    the token it was given for.
    """

    def __init__(
        self,
        clock: IReactorTime,
        send: Send,
        username: str | None,
        password: str | None,
        second_factor: Callable[[], Any] | None = None,
    ) -> None:
        self.clock = clock
        self._send = send
        self.username = username
        self._password = Secret(password) if password is not None else None
        self._second_factor = second_factor
        self._token: Secret | None = None
        self.generation = 0
        self._last_use = 0.0
        self._waiters: list[Deferred[int]] | None = None
        #: The session the last login opened (None before the first and after a logout).
        self.info: SessionInfo | None = None

    def __repr__(self) -> str:
        state = "logged in" if self._token is not None else "not logged in"
        return f"<SessionKeeper {self.username!r}: {state}>"

    @property
    def has_credentials(self) -> bool:
        """Whether a username and password were given."""
        return self.username is not None and self._password is not None

    @property
    def logged_in(self) -> bool:
        """Whether a token is held that has not gone unused for its whole life."""
        return self._token is not None and self.clock.seconds() < self._last_use + LIFETIME - MARGIN

    def token(self, needed: bool) -> Deferred[tuple[int, Secret | None]]:
        """(``generation``, token) for a request: the token if a live one is held (public
        data is undelayed with it), else after logging in if ``needed`` or one was held
        (and has gone unused for its whole life), else None."""
        if self.logged_in or (self._token is None and not needed):
            return succeed((self.generation, self._token))
        self._token = None
        return self._login().addCallback(lambda generation: (generation, self._token))

    def held(self) -> tuple[int, Secret | None]:
        """(``generation``, the token held, however long unused, or None); never logs in."""
        return self.generation, self._token

    def used(self, generation: int, sent_at: float) -> None:
        """A request sent at ``sent_at`` with the token of ``generation`` was answered
        other than 401: the token lives ``LIFETIME`` from then."""
        if generation == self.generation and self._token is not None:
            self._last_use = max(self._last_use, sent_at)

    def expired(self, generation: int) -> Deferred[int]:
        """The API answered 401 to the token of ``generation``: a Deferred firing with the
        generation of a new one. The first such 401 for a token starts one login; the others
        wait for it; one for a token already replaced fires at once."""
        if generation == self.generation and self._token is not None:
            _log.info("HTTP API session of {username} expired: logging in again", username=self.username)
            self._token = None
        if self._token is not None:
            return succeed(self.generation)
        return self._login()

    def forget(self) -> None:
        """Drop the token (after a logout)."""
        self._token = None
        self.info = None

    def token_header(self, token: Secret) -> bytes:
        """The Authorization header's value for ``token``."""
        return b"Session-Token " + token.reveal().encode("ascii")

    def login(self) -> Deferred[SessionInfo]:
        """Log in now (again, if logged in): fires with the new `SessionInfo`."""
        self._token = None
        return self._login().addCallback(self._info)

    def _info(self, generation: int) -> SessionInfo:
        assert self.info is not None  # set by the login that gave ``generation``
        return self.info

    def _login(self) -> Deferred[int]:
        # One login at a time: every caller waits for the one under way.
        d: Deferred[int] = Deferred()
        if self._waiters is not None:
            self._waiters.append(d)
            return d
        self._waiters = [d]
        Deferred.fromCoroutine(self._log_in()).addBoth(self._logged_in)
        return d

    def _logged_in(self, result: int | Failure) -> None:
        waiters, self._waiters = self._waiters or [], None
        for d in waiters:
            if isinstance(result, Failure):
                d.errback(result)
            else:
                d.callback(result)
        # A failure has gone to every waiter: none is left unhandled here.

    async def _log_in(self) -> int:
        if self.username is None or self._password is None:
            raise NoCredentials("this request needs a session: give the client a username and password")
        sent_at = self.clock.seconds()
        answer = await self._send("login", {"username": self.username, "password": self._password.reveal()})
        opened = structure(_Opened, answer, "login")
        if opened.factor == "totp":
            opened = await self._verify(opened)
        if opened.factor not in (None, "complete") or opened.token is None:
            raise LoginError(f"the login was not completed (factor {opened.factor})")
        self._token = Secret(opened.token)
        self.generation += 1
        self._last_use = sent_at
        self.info = SessionInfo(opened.stop, opened.factor)
        _log.info("HTTP API: logged in as {username}", username=self.username)
        return self.generation

    async def _verify(self, opened: _Opened) -> _Opened:
        if self._second_factor is None:
            raise LoginError("the account asks for a second factor (totp): give the client second_factor=")
        if opened.token is None:
            raise LoginError("the login asked for a second factor without a token to verify")
        code = await maybeDeferred(self._second_factor)
        if not isinstance(code, str):
            raise LoginError(f"second_factor must give the code as a string, not {type(code).__name__}")
        answer = await self._send("verify", {"token": opened.token, "code": code})
        return structure(_Opened, answer, "verify")
