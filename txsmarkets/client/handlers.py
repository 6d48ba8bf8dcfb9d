"""The 9.3 handler registry: handlers by message name, global handlers, and the routes
compiled from them that each incoming message takes."""

from __future__ import annotations

import functools

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from twisted.logger import Logger

from txsmarkets.client.answers import ANSWERS
from txsmarkets.exceptions import InvalidCallbackError
from txsmarkets.signal import Signal
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import ACCOUNT_TYPES, ALL_NAMES, SETO_NAMES, message_name

if TYPE_CHECKING:
    from txsmarkets.client.state import MarketBook

__all__ = ["GlobalHandler", "HandlerRegistry", "MessageHandler", "callable_handler", "handler_failed"]

_log = Logger()

Route = Callable[[seto_pb2.Payload], None]


class MessageHandler(Protocol):
    """A handler of one message name: called with ``message=`` the seto payload."""

    def __call__(self, *, message: seto_pb2.Payload) -> object: ...


class GlobalHandler(Protocol):
    """A handler of every message: called with ``name=`` (``seto.order_accepted``) and
    ``message=``."""

    def __call__(self, *, name: str, message: seto_pb2.Payload) -> object: ...


def _ignore(payload: seto_pb2.Payload) -> None:
    """The route of a message nothing is registered for."""


def callable_handler(handler: Callable[..., Any]) -> Any:
    """``handler``, once it is callable; `InvalidCallbackError` if it is not."""
    if not callable(handler):
        raise InvalidCallbackError(f"{handler!r} is not callable")
    return handler


def handler_failed(handler: Callable[..., Any], name: str) -> None:
    """Log that ``handler`` raised on a message called ``name`` (the others still run)."""
    _log.failure("handler {handler!r} raised on {name}", handler=handler, name=name)


class _Handlers(Signal):
    """A `Signal` of handlers whose every change recompiles the client's routes, so that
    9.3 code that adds to ``client.callbacks[name]`` directly is heard too.

    ``caller`` is asked, as each handler is added, for what the routes call in its place
    (with the registry's keywords); it raises `InvalidCallbackError` for a handler that
    cannot be one, which is then not added. Firing the signal itself calls the handlers.
    """

    def __init__(self, changed: Callable[[], None], caller: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        super().__init__()
        self._changed = changed
        self._caller = caller
        self._callers: dict[Callable[..., Any], Callable[..., Any]] = {}

    def add(self, handler: Callable[..., Any]) -> Signal:
        # Its caller first: a handler in the signal always has one.
        self._callers[handler] = self._caller(handler)
        super().add(handler)
        self._changed()
        return self

    def remove(self, handler: Callable[..., Any]) -> Signal:
        super().remove(handler)
        self._callers.pop(handler, None)
        self._changed()
        return self

    @property
    def callers(self) -> tuple[Callable[..., Any], ...]:
        """What the routes call, in calling order: one for each handler."""
        callers = self._callers
        return tuple(callers[handler] for handler in self.handlers if handler in callers)

    handle = __iadd__ = add
    __isub__ = remove


class _Callbacks(dict[str, _Handlers]):
    """Message name -> its `Signal` of handlers, made on first use; an unknown name raises
    `InvalidCallbackError`."""

    def __init__(self, changed: Callable[[], None], caller: Callable[[Callable[..., Any]], MessageHandler]) -> None:
        super().__init__()
        self._changed = changed
        self._caller = caller

    def __missing__(self, name: str) -> _Handlers:
        if name not in ALL_NAMES:
            raise InvalidCallbackError(f"no message is called {name!r}")
        signal = self[name] = _Handlers(self._changed, self._caller)
        return signal


class HandlerRegistry:
    """Handlers by message name and global handlers, as in the 9.3 client, and the routes
    compiled from them that each incoming message takes.

    A client holds one and hands it what the routes call besides the handlers:
    ``internal``, seto type -> the client's own bookkeeping of that type (run first);
    ``resolve``, which matches an answer to the request waiting for it; ``markets``, the
    books held (quote updates skip the bookkeeping while it is empty); ``caller`` and
    ``global_caller``, what the routes call in place of a handler of one name and of a
    global handler (by default the handler itself; see `callable_handler`), and ``changed``,
    called whenever the handlers change (by default `build_routes` again).

    ``callbacks`` maps a message name to the `Signal` of its handlers and
    ``global_callback`` is the `Signal` of the global ones; `add_handler` and the other
    methods change them, and so may 9.3 code directly. ``routes`` (seto type -> route) and
    ``direct`` (the same for the session's direct path, None for the types that must not
    take it) are changed in place by `build_routes`, never replaced.
    """

    def __init__(
        self,
        internal: Mapping[int, Route],
        resolve: Route,
        markets: Mapping[int, MarketBook],
        *,
        caller: Callable[[Callable[..., Any]], MessageHandler] = callable_handler,
        global_caller: Callable[[Callable[..., Any]], GlobalHandler] = callable_handler,
        changed: Callable[[], None] | None = None,
    ) -> None:
        self._internal = internal
        self._resolve = resolve
        self._markets = markets
        changed = changed if changed is not None else self.build_routes
        #: Message name -> the `Signal` of its handlers.
        self.callbacks: dict[str, _Handlers] = _Callbacks(changed, caller)
        #: The `Signal` of the handlers of every message.
        self.global_callback: _Handlers = _Handlers(changed, global_caller)
        #: seto type -> what an in-order message of that type sets off.
        self.routes: dict[int, Route] = {}
        #: The same for the session's direct path, with None for the types that must not
        #: take it.
        self.direct: dict[int, Route | None] = {}
        self._to_session: Route | None = None

    def add_handler(self, name: str, callback: MessageHandler) -> None:
        """Call ``callback(message=payload)`` for every message called ``name`` (once,
        however often it is added). Raises `InvalidCallbackError` for a name no message
        has, or a callback that is not callable."""
        self.callbacks[name].add(callback)

    def del_handler(self, name: str, callback: MessageHandler) -> None:
        """Stop calling ``callback`` for ``name``; `InvalidCallbackError` if it was not."""
        try:
            self.callbacks[name].remove(callback)
        except KeyError:
            raise InvalidCallbackError(f"{callback!r} is not a handler of {name!r}") from None

    def add_global_handler(self, callback: GlobalHandler) -> None:
        """Call ``callback(name=name, message=payload)`` for every message. Raises
        `InvalidCallbackError` for a callback that is not callable."""
        self.global_callback.add(callback)

    def del_global_handler(self, callback: GlobalHandler) -> None:
        """Stop calling a global handler; `InvalidCallbackError` if it was not one."""
        try:
            self.global_callback.remove(callback)
        except KeyError:
            raise InvalidCallbackError(f"{callback!r} is not a global handler") from None

    def dispatch(self, payload: seto_pb2.Payload) -> None:
        """Hand an in-order ``payload`` to its route (built by `build_routes`)."""
        kind = payload.type
        if kind == seto_pb2.PAYLOAD_ETO:
            # Session messages differ by their eto type: their routes are not kept.
            self._compile(kind, message_name(payload))(payload)
        else:
            self.routes[kind](payload)

    def build_routes(self, to_session: Route | None = None) -> None:
        """Compile ``routes`` and ``direct`` anew from the handlers. ``to_session`` (kept
        for later calls) is where account messages go on the direct path: past the
        session, which drops those it has already seen."""
        if to_session is not None:
            self._to_session = to_session
        # In place: the protocol holds the direct table.
        resolve = self._resolve
        to_session = self._to_session
        direct = self.direct
        for kind, name in SETO_NAMES.items():
            route = self.routes[kind] = self._compile(kind, name, resolve)
            direct[kind] = to_session if kind in ACCOUNT_TYPES and to_session is not None else route
        direct[seto_pb2.PAYLOAD_ETO] = direct[seto_pb2.PAYLOAD_LOGIN] = None

    def _compile(
        self, kind: int, name: str, resolver: Callable[[seto_pb2.Payload], None] | None = None
    ) -> Callable[[seto_pb2.Payload], None]:
        """The function that hands a message of seto type ``kind`` (called ``name``) to
        the client's own bookkeeping, the handlers, the global handlers and the request
        it answers (through ``resolver``, by default ``resolve``)."""
        internal = self._internal.get(kind)
        signal = self.callbacks.get(name)
        handlers = signal.callers if signal is not None else ()
        global_handlers = self.global_callback.callers
        resolve = (resolver or self._resolve) if kind in ANSWERS else None
        if internal is None and not handlers and not global_handlers and resolve is None:
            # Most types, most of the time: one function for all, not one each per client.
            return _ignore
        # Whether to call ``internal``: quote updates only matter to a book held for their
        # market, so with none held the call is skipped (this is the busiest type of all).
        # ``markets`` is never replaced, only changed.
        guard: Any = internal is not None
        if guard and kind == seto_pb2.PAYLOAD_CONTRACT_QUOTES:
            guard = self._markets
        own: Callable[[seto_pb2.Payload], None] = internal if internal is not None else _ignore

        return _route(guard, own, handlers, global_handlers, resolve, name)


def _route(
    guard: Any,
    own: Route,
    handlers: tuple[Callable[..., Any], ...],
    global_handlers: tuple[Callable[..., Any], ...],
    resolve: Route | None,
    name: str,
) -> Route:
    """A route calling ``own`` (while ``guard`` is true), each of ``handlers`` with
    ``message=``, each of ``global_handlers`` with ``name=`` and ``message=``, each in its
    own try, and ``resolve``; written out for these handlers, as `dataclasses` writes its
    methods, because a loop over them costs more than the calls (the route of a quote
    update runs for every update a client receives)."""
    names: dict[str, Any] = {"guard": guard, "own": own, "name": name, "failed": handler_failed, "resolve": resolve}
    names.update((f"h{index}", handler) for index, handler in enumerate(handlers))
    names.update((f"g{index}", handler) for index, handler in enumerate(global_handlers))
    return cast(Route, _route_factory(len(handlers), len(global_handlers), resolve is not None)(**names))


@functools.lru_cache(maxsize=None)
def _route_factory(handlers: int, global_handlers: int, resolves: bool) -> Callable[..., Route]:
    """The factory of `_route`'s routes of one shape (so many handlers, so many global
    handlers, a resolver or not), compiled once: it takes what the route calls as
    arguments, which the route then reads as closure cells (quicker than globals)."""
    parameters = ["guard", "own", "name", "failed", "resolve"]
    body = ["    if guard:", "        own(payload)"]
    for prefix, count, arguments in (("h", handlers, "message=payload"), ("g", global_handlers, "name=name, message=payload")):
        for index in range(count):
            local = f"{prefix}{index}"
            parameters.append(local)
            body += ["    try:", f"        {local}({arguments})", "    except Exception:", f"        failed({local}, name)"]
    if resolves:
        body.append("    resolve(payload)")
    source = f"def factory({', '.join(parameters)}):\n  def route(payload):\n" + "\n".join("  " + line for line in body) + "\n  return route\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<route: {handlers} handlers, {global_handlers} global>", "exec"), namespace)
    return cast(Callable[..., Route], namespace["factory"])
