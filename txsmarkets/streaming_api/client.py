"""The 9.3 ``smarkets.streaming_api.client`` module: `StreamingAPIClient`.

The client of `txsmarkets.client`, with its Deferred requests, calling its handlers as
9.3 did: each with a `Frame` (``message.protobuf`` the payload), a global handler also with
the message's name, positionally as 9.3's documentation writes them
(``def callback(message_name, message)``). 9.3's blocking ``read()`` raises
`BlockingCallError` saying what to do instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from txsmarkets.client.api import StreamingAPIClient as _Client
from txsmarkets.client.session import Session
from txsmarkets.streaming_api.exceptions import BlockingCallError, InvalidCallbackError
from txsmarkets.streaming_api.session import Frame
from txsmarkets.wire import seto_pb2

__all__ = ["StreamingAPIClient"]

# How 9.3 documented its handlers' arguments, to say what a refused one lacks.
_MESSAGE = ("message",)
_GLOBAL = ("name", "message")


class _Caller:
    """What the client's routes call (with ``message=``, and ``name=`` for a global
    handler) in place of a 9.3 handler: the handler, with a `Frame` of the payload, by
    keyword or positionally as it takes them."""

    __slots__ = ("handler", "by_keyword")

    def __init__(self, handler: Callable[..., Any], by_keyword: bool) -> None:
        self.handler = handler
        self.by_keyword = by_keyword

    def __call__(self, *, message: seto_pb2.Payload, name: str | None = None) -> object:
        frame = Frame(message)
        if name is None:
            return self.handler(message=frame) if self.by_keyword else self.handler(frame)
        return self.handler(name=name, message=frame) if self.by_keyword else self.handler(name, frame)

    def __repr__(self) -> str:
        # What a failure is logged under: the handler that was registered.
        return repr(self.handler)


def _caller_for(handler: Callable[..., Any], arguments: tuple[str, ...]) -> _Caller:
    """How to call the 9.3 ``handler`` of ``arguments`` (`_MESSAGE` or `_GLOBAL`).

    By keyword when its parameters have those names (9.3's client passed them so, and a
    handler ``(message, name)`` then gets each in its place) or it takes keywords only;
    otherwise positionally, as 9.3's documentation wrote handlers. Raises
    `InvalidCallbackError`, saying why, for a handler that can be called neither way.
    """
    if not callable(handler):
        raise InvalidCallbackError(f"{handler!r} is not callable")
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        # Python cannot tell what it takes (some built-ins): call it as documented.
        return _Caller(handler, by_keyword=False)
    not_by_keyword = _why_not(signature, (), dict.fromkeys(arguments))
    if not_by_keyword is None and all(name in signature.parameters for name in arguments):
        return _Caller(handler, by_keyword=True)
    not_positionally = _why_not(signature, arguments, {})
    if not_positionally is None:
        return _Caller(handler, by_keyword=False)
    if not_by_keyword is None:
        return _Caller(handler, by_keyword=True)
    shape = ", ".join("message_name" if name == "name" else name for name in arguments)
    raise InvalidCallbackError(
        f"{handler!r} cannot be called as 9.3 called a handler, handler({shape}): {not_positionally}"
    )


def _why_not(signature: inspect.Signature, args: tuple[str, ...], kwargs: dict[str, Any]) -> str | None:
    """Why ``signature`` does not take ``args`` and ``kwargs``; None if it does."""
    try:
        signature.bind(*args, **kwargs)
    except TypeError as error:
        return str(error)
    return None


class StreamingAPIClient(_Client):
    """The 9.3 ``StreamingAPIClient``: `txsmarkets.client.StreamingAPIClient <txsmarkets.client.api.StreamingAPIClient>` (requests
    return Deferreds) calling its handlers as 9.3 did.

    ``add_handler(name, callback)`` calls ``callback(message)`` and
    ``add_global_handler(callback)`` calls ``callback(message_name, message)`` for every
    message, where ``message`` is a `Frame`: ``message.protobuf`` is the seto payload, and
    the frame also reads as the payload. A handler whose parameters are named ``message``
    (and ``name``), or that takes keywords only, is called by keyword, as 9.3's client
    called it. The same holds for handlers added to ``callbacks[name]`` or
    ``global_callback`` directly. A handler that can be called neither way is refused when
    it is added, with `InvalidCallbackError` saying why.
    """

    def _caller(self, handler: Callable[..., Any]) -> _Caller:
        return _caller_for(handler, _MESSAGE)

    def _global_caller(self, handler: Callable[..., Any]) -> _Caller:
        return _caller_for(handler, _GLOBAL)

    def flush(self) -> None:
        """Send what is buffered now (requests go out on the reactor's next turn without
        it). Raises `BlockingCallError` for a client made of no `Session`: it has no
        connection, and never will."""
        if not isinstance(self.session, Session):
            raise BlockingCallError(
                f"a client of {self.session!r} has no connection to flush: make it of a "
                "Session(settings, reactor=reactor) and log in (client.login() returns a Deferred); "
                "requests then go out as they are made"
            )
        super().flush()

    def read(self, *args: Any, **kwargs: Any) -> None:
        """9.3's blocking read: always raises `BlockingCallError` saying what to do instead
        (the reactor delivers every message to the handlers as it arrives)."""
        raise BlockingCallError(
            "read() does not exist under Twisted: the reactor delivers every message to the handlers "
            "as it arrives; register handlers (add_handler, add_global_handler) and run the reactor "
            "(reactor.run() or task.react), or wait on the Deferred a request returns (await client.ping())"
        )
