"""`InOrder`, a service whose children's start and stop order is the daemon's lifecycle.

Twisted's `twisted.application.service.MultiService` starts its children in order but
stops them all at once; the daemon's parts must stop one after another (the strategy before
the session logs out, the journal after the last message), and some of them start only once
an earlier one is ready (the session connects to the embedded exchange once it listens).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application import service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

__all__ = ["InOrder", "StartError"]

_log = Logger()


class StartError(Exception):
    """A part of the daemon cannot start: ``message`` says why in one line, ``status`` is
    the exit status the process ends with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class InOrder(service.MultiService):
    """Starts its children one after another, in the order they were added, and stops the
    started ones one after another in the reverse order, each waited for.

    A child whose start takes time (a port to listen on) returns a Deferred from its
    ``startService``; the next child starts once it has fired. A child whose start raises
    or fails is not stopped (it undoes what it began itself), no later child starts, and
    ``start_failed`` is called with the `Failure`. A stop that comes while a child is
    starting waits for that start to finish, then starts no other.
    """

    def __init__(self, start_failed: Callable[[Failure], None]) -> None:
        super().__init__()
        self._start_failed = start_failed
        #: The children started so far, in the order they started.
        self.started: list[service.IService] = []
        self._starting: Deferred[None] = succeed(None)

    def startService(self) -> None:
        service.Service.startService(self)
        self._starting = Deferred.fromCoroutine(self._start_children())

    async def _start_children(self) -> None:
        for child in list(self):
            if not self.running:
                return
            try:
                await maybeDeferred(child.startService)
            except Exception:
                self._start_failed(Failure())
                return
            self.started.append(child)

    def stopService(self) -> Deferred[None]:
        service.Service.stopService(self)
        return Deferred.fromCoroutine(self._stop_children())

    async def _stop_children(self) -> None:
        # What the start has begun, the stop undoes: it waits for the start to get that far.
        await self._starting
        while self.started:
            child = self.started.pop()
            try:
                await maybeDeferred(child.stopService)
            except Exception:
                _log.failure("{service} did not stop cleanly", service=_name(child))


def _name(child: Any) -> str:
    return getattr(child, "name", None) or type(child).__name__
