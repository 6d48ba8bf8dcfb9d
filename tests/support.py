"""What the tests on real connections share: the reactor, async test methods, closing."""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet import defer

from txsmarkets.client import StreamingAPIClient


def global_reactor() -> Any:
    """The global reactor, imported only when a test runs."""
    from twisted.internet import reactor

    return reactor


def inline(f: Callable[..., Any]) -> Callable[..., Any]:
    """Run an ``async def`` test method as a Deferred-returning one."""

    def run(self: Any) -> Any:
        return defer.Deferred.fromCoroutine(f(self))

    run.__name__ = f.__name__
    run.__doc__ = f.__doc__
    return run


async def close_client(client: StreamingAPIClient) -> None:
    """Disconnect ``client`` for good; done once its connection has closed."""
    lost = client.session.when_disconnected()
    client.session.disconnect()
    await lost
