"""`SessionService`: the daemon's session as a service, logged in while it runs.

It logs in and stays logged in (the session reconnects and resumes by itself), says after
each login what the daemon wants of the exchange (``cancel_all_on_failure``, the
subscriptions), and ends the process with the status that says why when the session cannot
go on. Its stop cancels every live order if asked (`txsmarkets.daemon.cancels`), then logs
out. `follow_session` is the one place the daemon subscribes to the session's events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from twisted.application import service
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.client import Session, StreamingAPIClient
from txsmarkets.daemon.cancels import cancel_everything
from txsmarkets.daemon.exits import EXIT_GAVE_UP, EXIT_REFUSED
from txsmarkets.exceptions import ConnectionError, LoginError

__all__ = ["SessionEvents", "SessionService", "follow_session", "plaintext_peer", "tls_verification_failed"]

_log = Logger()


def tls_verification_failed(reason: Failure) -> str | None:
    """What is wrong, if ``reason`` (a connection's end) is a failed TLS verification: a
    certificate no trusted authority signed, or one for another host name. Else None."""
    from OpenSSL import SSL
    from service_identity.exceptions import VerificationError

    if reason.check(SSL.Error) and "certificate verify failed" in str(reason.value):
        return "TLS verification failed: the exchange's certificate is not signed by a trusted CA (certificate verify failed)"
    if reason.check(VerificationError):
        return f"TLS verification failed: the exchange's certificate is for another host name ({reason.value})"
    return None


#: What OpenSSL says of a peer's first bytes when they are no TLS record at all.
_NOT_TLS = ("wrong version number", "packet length too long", "http request", "unknown protocol")


def plaintext_peer(reason: Failure) -> bool:
    """Whether ``reason`` (a connection's end) says the peer answered the TLS handshake
    with bytes that are no TLS: a plaintext server (the embedded exchange answers a TLS
    client with its protocol's logout)."""
    from OpenSSL import SSL

    return bool(reason.check(SSL.Error)) and any(words in str(reason.value) for words in _NOT_TLS)


class SessionEvents(Protocol):
    """What `follow_session` tells of a session."""

    def disconnected(self, reason: Failure) -> None:
        """A connection ended (after the session's other listeners heard of it)."""

    def failed(self, failure: Failure) -> None:
        """The session cannot go on: `LoginError` (refused, or logged out for good by the
        exchange) or `ConnectionError` (gave up)."""


def follow_session(session: Session, events: SessionEvents) -> None:
    """Log ``session`` in, and tell ``events`` of its disconnects and of its end for good.

    The one place the daemon subscribes to the session: it joins the session's
    ``on_disconnect`` and ``on_failed`` observers (after the listeners already there).
    """
    session.on_disconnect.add(events.disconnected)
    session.on_failed.add(events.failed)
    # Why the session fails, if it does, is told by ``on_failed``, whoever waits or not.
    session.connect().addErrback(lambda failure: None)


class SessionService(service.Service):
    """Keeps ``client``'s session logged in while it runs; ``end(status, message)`` ends
    the daemon when the session cannot go on.

    After each login it asks the exchange to cancel our orders if the session dies
    (``cancel_on_disconnect``) and subscribes to ``subscribe``. Its stop refuses new orders,
    cancels every live order when ``cancel_at_stop`` (waiting ``cancel_timeout`` seconds at
    most for the answers), logs out (``logout_timeout`` seconds at most) and disconnects.
    """

    def __init__(
        self,
        client: StreamingAPIClient,
        clock: IReactorTime,
        end: Callable[[int, str], None],
        *,
        subscribe: tuple[int, ...] = (),
        cancel_on_disconnect: bool = False,
        cancel_at_stop: bool = False,
        cancel_timeout: float = 10.0,
        logout_timeout: float = 5.0,
    ) -> None:
        self.setName("session")
        self.client = client
        self.session: Session = client.session
        self.clock = clock
        self.end = end
        self.subscribe = subscribe
        self.cancel_on_disconnect = cancel_on_disconnect
        #: Whether the stop cancels every live order before the logout.
        self.cancel_at_stop = cancel_at_stop
        self.cancel_timeout = cancel_timeout
        self.logout_timeout = logout_timeout

    def startService(self) -> None:
        super().startService()
        # Before the strategy's host joins: the exchange hears our settings first.
        self.client.logged_in.add(self._logged_in)
        follow_session(self.session, self)

    def _logged_in(self, message: Any, resumed: bool) -> None:
        client = self.client
        if self.cancel_on_disconnect:
            client.settings(cancel_all_on_failure=True).addErrback(
                lambda f: _log.warn("cancel_all_on_failure not set: {e}", e=f.getErrorMessage())
            )
        for market_id in self.subscribe:
            if market_id not in client.subscriptions:
                client.subscribe(market_id).addErrback(self._subscribe_failed, market_id)

    @staticmethod
    def _subscribe_failed(failure: Failure, market_id: int) -> None:
        _log.warn("subscribing to {market} failed: {error}", market=market_id, error=failure.getErrorMessage())

    # -- SessionEvents --

    def disconnected(self, reason: Failure) -> None:
        tls = tls_verification_failed(reason)
        if tls is None and plaintext_peer(reason):
            settings = self.session.settings
            tls = f"{settings.host}:{settings.port} does not speak TLS; --no-tls is for a local exchange"
        if tls is not None and self.running:
            self.end(EXIT_REFUSED, tls)

    def failed(self, failure: Failure) -> None:
        if not self.running:
            return
        if failure.check(LoginError):
            self.end(EXIT_REFUSED, failure.getErrorMessage())
        elif failure.check(ConnectionError):
            self.end(EXIT_GAVE_UP, failure.getErrorMessage())
        else:
            self.end(EXIT_GAVE_UP, f"the session cannot go on: {failure.getErrorMessage()}")

    # -- stop --

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        client, session = self.client, self.session
        client.refuse_orders("the daemon is stopping: no new orders")
        if self.cancel_at_stop and session.connected:
            left = await cancel_everything(client, self.clock, self.cancel_timeout)
            if left:
                _log.warn("{n} orders still live at logout: {ids}", n=len(left), ids=left)
        if session.connected:
            logout = session.logout()
            logout.addTimeout(self.logout_timeout, self.clock)
            try:
                await logout
            except Exception as e:
                _log.warn("logout did not complete: {e}", e=e)
        session.disconnect()
