"""`Observers`: the listeners of one event of a session, which any number may join.

A `Session`'s events (``on_login``, ``on_disconnect``, ``on_state``, ``on_replay_served``)
are `Observers`: the client, a strategy's host, the daemon and your code each
``add`` a listener and ``remove`` it again, rather than assigning over one slot and chaining
to whatever was there before. Assigning a callable to such an attribute still works, for
code written when they were single callbacks (see `Observable`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, ParamSpec, overload

from twisted.logger import Logger

__all__ = ["Observable", "Observers"]

_log = Logger()

P = ParamSpec("P")


class Observers(Generic[P]):
    """The listeners of one event, called in the order they joined each time it happens.

    A listener is in once however often it is added. One that raises is logged and the
    others still run: an application's listener cannot stop the session's own bookkeeping.
    Calling the `Observers` (``session.on_disconnect(reason)``) tells every listener.
    """

    __slots__ = ("_name", "_listeners", "_assigned")

    def __init__(self, name: str = "event") -> None:
        self._name = name
        self._listeners: tuple[Callable[P, object], ...] = ()
        # The listener set by assignment (see `Observable`), if any.
        self._assigned: Callable[P, object] | None = None

    def add(self, listener: Callable[P, object]) -> Callable[P, object]:
        """Call ``listener`` at each event from now on; returns it (so it can decorate)."""
        if listener not in self._listeners:
            # A new tuple: a round in progress keeps calling the one it started with.
            self._listeners = (*self._listeners, listener)
        return listener

    def remove(self, listener: Callable[P, object]) -> None:
        """Stop calling ``listener``; `KeyError` if it is not a listener."""
        if listener not in self._listeners:
            raise KeyError(listener)
        self._listeners = tuple(each for each in self._listeners if each != listener)
        if self._assigned == listener:
            self._assigned = None

    def assign(self, listener: Callable[P, object]) -> None:
        """Make ``listener`` the one assigned listener: the one assigned before leaves, the
        ones added stay. (What ``session.on_disconnect = listener`` does.)"""
        if listener is self:
            # ``session.on_x = session.on_x``, as an augmented assignment ends.
            return
        if self._assigned is not None and self._assigned in self._listeners:
            self.remove(self._assigned)
        self.add(listener)
        self._assigned = listener

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        for listener in self._listeners:
            try:
                listener(*args, **kwargs)
            except Exception:
                _log.failure("a listener of {event}, {listener!r}, raised", event=self._name, listener=listener)

    @property
    def listeners(self) -> tuple[Callable[P, object], ...]:
        """The listeners, in calling order."""
        return self._listeners

    def __contains__(self, listener: object) -> bool:
        return listener in self._listeners

    def __len__(self) -> int:
        return len(self._listeners)

    def __repr__(self) -> str:
        return f"<Observers of {self._name}: {len(self._listeners)}>"


class Observable(Generic[P]):
    """A class attribute whose value, on each instance, is that instance's `Observers`.

    Reading it gives the `Observers` (``session.on_state.add(listener)``); assigning a
    callable to it makes that the assigned listener (`Observers.assign`), so that code
    which set ``session.on_state = listener`` keeps working without silencing the others.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name
        self._attribute = f"_observers_{name}"

    @overload
    def __get__(self, instance: None, owner: type) -> Observable[P]: ...

    @overload
    def __get__(self, instance: object, owner: type) -> Observers[P]: ...

    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        observers: Observers[P] | None = instance.__dict__.get(self._attribute)
        if observers is None:
            observers = instance.__dict__[self._attribute] = Observers(self._name)
        return observers

    def __set__(self, instance: object, listener: Callable[P, object]) -> None:
        self.__get__(instance, type(instance)).assign(listener)
