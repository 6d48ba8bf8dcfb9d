"""`connect`: a `Session`, its `StreamingAPIClient` and the login, in one call."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from txsmarkets.client.api import StreamingAPIClient
from txsmarkets.client.session import Session
from txsmarkets.client.settings import SessionSettings

if TYPE_CHECKING:
    from txsmarkets.client.controls import Controls

__all__ = ["connect"]


def connect(
    settings: SessionSettings, reactor: IReactorTime | None = None, controls: Controls | None = None
) -> Deferred[StreamingAPIClient]:
    """Connect and log in; fires with the logged-in `StreamingAPIClient`.

    Errbacks with `LoginError` when the exchange refuses the login (naming the reason),
    `LoginTimeout` when no answer comes within ``settings.socket_timeout``, or
    `ConnectionError` when the first connection cannot be made (with ``settings.fail_fast``,
    the default) or ``settings.max_retries`` attempts failed. A retryable refusal (the
    exchange is busy or down for a moment) is retried with backoff while the Deferred waits.
    Once logged in, the client reconnects and resumes the session by itself. ``controls`` (a
    `txsmarkets.controls.Controls <txsmarkets.client.controls.Controls>`) are checked before
    every create, from the first.
    """
    session = Session(settings, reactor=reactor)
    client = StreamingAPIClient(session)
    if controls is not None:
        client.controls = controls

    def logged_in(_: object) -> StreamingAPIClient:
        return client

    return client.login().addCallback(logged_in)
