"""`Signal`: a list of handlers to call when something happens, safe to share across threads."""

from __future__ import annotations

import threading
from typing import Any, Callable

from twisted.logger import Logger

__all__ = ["Signal"]

Handler = Callable[..., Any]


class Signal:
    """Handlers to call, in the order they were added, each time the signal fires.

    Every method may be called from any thread. Firing calls a snapshot of the handlers,
    so a handler may add or remove handlers (its own too) without upsetting the round in
    progress. A handler that raises is logged and the others are still called.
    """

    _log = Logger()

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()

    def add(self, handler: Handler) -> Handler:
        """Add `handler` (also ``signal += handler``); returns it, so it works as a decorator."""
        with self._lock:
            self._handlers.append(handler)
        return handler

    handle = add

    def remove(self, handler: Handler) -> None:
        """Remove `handler` (also ``signal -= handler``); ValueError if it was never added."""
        with self._lock:
            try:
                self._handlers.remove(handler)
            except ValueError:
                raise ValueError(f"{handler!r} is not a handler of this signal") from None

    def fire(self, **kwargs: Any) -> None:
        """Call every handler with `kwargs` (also ``signal(**kwargs)``)."""
        for handler in self.handlers:
            try:
                handler(**kwargs)
            except Exception:
                self._log.failure("Signal handler {handler!r} raised", handler=handler)

    __call__ = fire

    def __iadd__(self, handler: Handler) -> Signal:
        self.add(handler)
        return self

    def __isub__(self, handler: Handler) -> Signal:
        self.remove(handler)
        return self

    @property
    def handlers(self) -> tuple[Handler, ...]:
        """A snapshot of the handlers, in calling order."""
        with self._lock:
            return tuple(self._handlers)

    def __repr__(self) -> str:
        return f"<Signal with {len(self.handlers)} handler(s)>"
