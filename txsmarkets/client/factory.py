"""Connecting a session: the factory of its protocols, its retry policy, and the
`twisted.application.internet.ClientService` that connects and reconnects it."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Protocol

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.interfaces import IAddress, IDelayedCall, IProtocol, IProtocolFactory, IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from txsmarkets.client.endpoints import tls_options
from txsmarkets.client.protocol import PROTOCOLS, ClientSessionMixin, SessionPeer
from txsmarkets.client.settings import SessionSettings

__all__ = ["Backoff", "Reconnector", "SmarketsClientFactory", "tls_options"]

_log = Logger()


class SmarketsClientFactory(Factory):
    """Builds the protocols of a session's connections: the framing its settings name,
    talking to ``session``. ``protocol`` may be set to another protocol class."""

    def __init__(self, session: SessionPeer) -> None:
        self.session = session
        self.protocol = PROTOCOLS[session.settings.framing]  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<SmarketsClientFactory for {self.session!r}>"

    def buildProtocol(self, addr: IAddress | None) -> ClientSessionMixin:  # type: ignore[override]
        settings = self.session.settings
        protocol: ClientSessionMixin = self.protocol()  # type: ignore[assignment, misc]
        protocol.factory = self  # type: ignore[attr-defined]
        protocol.session = self.session
        protocol.clock = self.session.reactor
        protocol.sequence = self.session.sequence
        protocol.heartbeatInterval = settings.heartbeat_interval
        protocol.heartbeatMisses = settings.heartbeat_misses
        protocol.loginTimeout = settings.socket_timeout
        return protocol


class Backoff:
    """The retry policy of a session's `ClientService`: how long to wait before the next
    attempt, by Twisted's `backoffPolicy` with the settings' initial delay, factor, jitter
    and maximum (read at each attempt).

    It counts attempts since the last login, not since the last connection (as the
    service does): a connection that never logs in proves nothing. `reset` (at a login)
    starts over; `continue_backoff` undoes that reset (the login was ended at once);
    `at_once` makes the next attempt without delay (the exchange asked for a new session).
    Past ``settings.max_retries`` attempts in a row it calls ``gave_up`` with their number
    instead (on the clock's next turn: the service is mid-move when it asks).
    """

    def __init__(self, settings: SessionSettings, clock: IReactorTime, gave_up: Callable[[int], None]) -> None:
        # Read at each attempt: a change to the settings holds from the next one.
        self._settings = settings
        self._clock = clock
        self._gave_up = gave_up
        #: Attempts in a row since the last login (what ``max_retries`` limits).
        self.retries = 0
        # How far the delay has grown (an attempt at once starts it again).
        self._step = 0
        self._before_reset: tuple[int, int] | None = None
        self._at_once = False
        self._giving_up: IDelayedCall | None = None
        #: The last delay given, in seconds.
        self.delay = 0.0

    def __call__(self, failed_in_a_row: int) -> float:
        """The seconds to wait before the next attempt. (``failed_in_a_row`` is the
        service's count, which a connection that never logged in resets: ours is kept.)"""
        max_retries = self._settings.max_retries
        if max_retries is not None and self.retries >= max_retries:
            if self._giving_up is None:
                self._giving_up = self._clock.callLater(0, self._gave_up, self.retries)
            self.delay = self._policy(self._step)
            return self.delay
        self.retries += 1
        if self._at_once:
            # Only the one attempt is made at once: should it fail, the backoff resumes.
            self._at_once = False
            self._step = 0
            self.delay = 0.0
        else:
            self._step += 1
            self.delay = self._policy(self._step)
        return self.delay

    def _policy(self, step: int) -> float:
        settings = self._settings
        jitter = settings.reconnect_jitter
        policy = backoffPolicy(
            settings.reconnect_initial_delay,
            settings.reconnect_max_delay,
            settings.reconnect_factor,
            jitter=lambda: random.random() * jitter,
        )
        return policy(step)

    def reset(self) -> None:
        """Start over (at a login); `continue_backoff` can undo it."""
        self._before_reset = (self.retries, self._step)
        self.retries = self._step = 0

    def continue_backoff(self) -> None:
        """Take the backoff up where the last `reset` found it: the login it reset for was
        ended by the exchange at once, so it proved nothing."""
        if self._before_reset is not None:
            self.retries, self._step = self._before_reset
            self._before_reset = None

    def at_once(self) -> None:
        """Make the next attempt without a backoff."""
        self._at_once = True

    def stop(self) -> None:
        """The service stopped: a giving up not yet told of is not."""
        if self._giving_up is not None and self._giving_up.active():
            self._giving_up.cancel()
        self._giving_up = None


class ConnectionWatcher(Protocol):
    """What a `Reconnector` tells its session of besides connections (which go to the
    protocols its factory builds)."""

    def attempt_failed(self, reason: Failure) -> None:
        """A connection attempt failed with ``reason``."""

    def first_attempt_failed(self, reason: Failure) -> None:
        """The very first attempt failed (fail-fast: only when asked for at `start`)."""


@implementer(IStreamClientEndpoint)
class _Watched:
    """An endpoint that tells ``watcher`` of each attempt that fails, then passes it on."""

    def __init__(self, endpoint: IStreamClientEndpoint, failed: Callable[[Failure], None]) -> None:
        self._endpoint = endpoint
        self._failed = failed

    def connect(self, protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        def failed(reason: Failure) -> Failure:
            if not reason.check(CancelledError):
                self._failed(reason)
            return reason

        return self._endpoint.connect(protocolFactory).addErrback(failed)

    def __repr__(self) -> str:
        return repr(self._endpoint)


class Reconnector:
    """A session's connection: a `ClientService` on ``endpoint`` with ``factory``,
    waiting between attempts by ``policy`` (a `Backoff`), on ``clock``.

    `start` begins; with ``fail_fast`` the first failed attempt is reported to
    ``watcher.first_attempt_failed`` (through `ClientService.whenConnected`), every other
    one to ``watcher.attempt_failed``. `stop` ends it and closes the connection.
    """

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        factory: SmarketsClientFactory,
        policy: Backoff,
        clock: IReactorTime,
        watcher: ConnectionWatcher,
    ) -> None:
        self.factory = factory
        self.policy = policy
        self._clock = clock
        self._watcher = watcher
        self._fail_fast = False
        self.service = ClientService(_Watched(endpoint, self._failed), factory, retryPolicy=policy, clock=clock)

    def __repr__(self) -> str:
        return f"<Reconnector {'running' if self.service.running else 'stopped'} {self.factory!r}>"

    def start(self, fail_fast: bool) -> None:
        """Begin connecting; ``fail_fast``: the first failure is `first_attempt_failed`."""
        self._fail_fast = fail_fast
        if fail_fast:
            self.service.whenConnected(failAfterFailures=1).addCallbacks(self._connected, self._first_failed)
        self.service.startService()

    def stop(self) -> None:
        """Stop trying, and close the connection the service made, if any."""
        self._fail_fast = False
        self.policy.stop()
        if self.service.running:
            self.service.stopService()

    def _connected(self, protocol: object) -> None:
        self._fail_fast = False

    def _failed(self, reason: Failure) -> None:
        settings = self.factory.session.settings
        _log.warn("connection to {host}:{port} failed: {why}", host=settings.host, port=settings.port, why=reason.getErrorMessage())
        if not self._fail_fast:
            self._watcher.attempt_failed(reason)

    def _first_failed(self, reason: Failure) -> None:
        if reason.check(CancelledError) or not self._fail_fast:
            return
        # The service is mid-move when it tells us: stopping it must wait for its next turn.
        self._clock.callLater(0, self._tell_first_failed, reason)

    def _tell_first_failed(self, reason: Failure) -> None:
        if self._fail_fast:
            self._watcher.first_attempt_failed(reason)
