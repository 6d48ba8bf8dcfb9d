"""`Signal`: a set of handlers to call when something happens, safe to share across threads."""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator

__all__ = ["Signal"]

Handler = Callable[..., Any]


class Signal:
    """A set of handlers, called in the order they were first added each time it fires.

    As in the 9.3 client, a handler is in the signal once however often it is added, and a
    handler that raises stops the round: the exception propagates out of `fire`, and the
    handlers after it are not called. Handlers must be hashable.

    Every method may be called from any thread. Firing calls a snapshot of the handlers,
    so a handler may add or remove handlers (its own too) without upsetting the round in
    progress.
    """

    def __init__(self) -> None:
        # A dict as an insertion-ordered set.
        self._handlers: dict[Handler, None] = {}
        self._lock = threading.Lock()

    def add(self, handler: Handler) -> Signal:
        """Add ``handler``, unless it is already there; returns the signal.

        Also ``signal += handler`` and ``signal.handle(handler)``.
        """
        with self._lock:
            self._handlers[handler] = None
        return self

    handle = add
    __iadd__ = add

    def remove(self, handler: Handler) -> Signal:
        """Remove ``handler``; returns the signal. KeyError if it is not a handler of this one.

        Also ``signal -= handler``.
        """
        with self._lock:
            try:
                del self._handlers[handler]
            except KeyError:
                raise KeyError(handler) from None
        return self

    __isub__ = remove

    def fire(self, *args: Any, **kwargs: Any) -> None:
        """Call every handler with ``args`` and ``kwargs`` (also ``signal(...)``).

        An exception from a handler propagates at once; the later handlers are not called.
        """
        for handler in self.handlers:
            handler(*args, **kwargs)

    __call__ = fire

    @property
    def handlers(self) -> tuple[Handler, ...]:
        """A snapshot of the handlers, in calling order."""
        with self._lock:
            return tuple(self._handlers)

    def __len__(self) -> int:
        """The number of handlers (so an empty signal is false)."""
        with self._lock:
            return len(self._handlers)

    def __iter__(self) -> Iterator[Handler]:
        """Iterate over a snapshot of the handlers, in calling order."""
        return iter(self.handlers)

    def __contains__(self, handler: object) -> bool:
        """Whether ``handler`` is a handler of this signal."""
        with self._lock:
            try:
                return handler in self._handlers
            except TypeError:  # unhashable: cannot be a handler
                return False

    def __repr__(self) -> str:
        return f"<Signal with {len(self)} handler(s)>"
