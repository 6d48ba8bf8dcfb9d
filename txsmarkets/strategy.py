"""`Strategy`, what a trading strategy is, and `StrategyHost`, which runs one on a client.

A strategy is a class whose hooks the host calls::

    from txsmarkets.strategy import Strategy

    class Quoter(Strategy):
        markets = (1,)                      # subscribed for it (the client renews them)
        def start(self): ...                # once, after the first login
        def on_login(self, resumed): ...    # after every login, before its messages
        def on_disconnect(self, reason): ...
        def on_market(self, book): ...      # a subscribed market's book changed
        def on_order(self, order): ...      # one of the account's orders changed
        def on_market_state(self, book): ... # a subscribed market's state changed
        def stop(self): ...                 # once, before logout; may return a Deferred

The same class runs under ``twistd smarkets --strategy module:Quoter``, in one's own
Twisted application (``StrategyHost(client, Quoter()).attach()``), and in backtests.
What a strategy schedules or registers through `Strategy.call_later`, `Strategy.every`
and `Strategy.add_handler` belongs to it and is undone when it stops, so nothing it set
up outlives it or is set up twice. A hook that raises is logged with the strategy's name
and the hook's; the host's ``on_error`` hears of it too (the daemon may stop for it).

`parse_params` makes a strategy's ``params`` from ``NAME=VALUE`` texts, as the command
lines take them (``--param size=20000``).
"""

from __future__ import annotations

import importlib
import math
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from twisted.application import service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.client.api import StreamingAPIClient
from txsmarkets.client.state import LiveOrder, MarketBook
from txsmarkets.trading.account import Change, ChangeKind
from txsmarkets.wire import seto_pb2

__all__ = [
    "CallableStrategy",
    "Strategy",
    "StrategyError",
    "StrategyHost",
    "load_strategy",
    "param_value",
    "params_by_name",
    "parse_params",
    "split_param",
]

_log = Logger()
V = TypeVar("V")

#: The account's changes a strategy hears of (`Strategy.on_order`): those of its orders.
_ORDER_CHANGES = frozenset(
    {
        ChangeKind.ACCEPTED,
        ChangeKind.EXECUTED,
        ChangeKind.CANCELLED,
        ChangeKind.VOIDED,
        ChangeKind.EXECUTION_VOIDED,
        ChangeKind.REDUCED,
        ChangeKind.REPLACED,
    }
)


class StrategyError(Exception):
    """A strategy's hook raised: ``strategy`` and ``hook`` name it; the cause is chained."""

    def __init__(self, strategy: str, hook: str, failure: Failure) -> None:
        super().__init__(f"strategy {strategy} failed in {hook}: {failure.getErrorMessage()}")
        self.strategy = strategy
        self.hook = hook
        self.failure = failure


class Strategy:
    """The base of a trading strategy: override the hooks that matter to it.

    ``params`` (a dict, empty by default) is the strategy's to read, so that one class can
    be run with several settings. ``client``, ``clock`` and ``log`` are set by the host
    before `start`.
    """

    #: Market ids the host subscribes to for it at its first login.
    markets: tuple[int, ...] = ()

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.params: dict[str, Any] = dict(params or {})
        self.client: StreamingAPIClient = None  # type: ignore[assignment]
        self.clock: IReactorTime = None  # type: ignore[assignment]
        self.log = Logger(namespace=f"txsmarkets.strategy.{self.name}", source=self)
        self._calls: set[IDelayedCall] = set()
        self._loops: list[LoopingCall] = []
        self._handlers: list[tuple[str, Callable[..., Any]]] = []
        self._host: StrategyHost | None = None

    @property
    def name(self) -> str:
        """What the logs call it: the class name."""
        return type(self).__name__

    # -- hooks -----------------------------------------------------------------------------

    def start(self) -> None:
        """Called once, after the first login."""

    def on_login(self, resumed: bool) -> None:
        """Called after every login (the first too, after `start`), before its messages."""

    def on_disconnect(self, reason: Failure) -> None:
        """Called when a connection ends."""

    def on_market(self, book: MarketBook) -> None:
        """A subscribed market's book changed; ``book`` is already up to date."""

    def on_order(self, order: LiveOrder) -> None:
        """One of the account's orders changed; ``order.done`` once it is no longer live
        (``order.status`` says how it ended, ``order.reason`` why it was cancelled)."""

    def on_market_state(self, book: MarketBook) -> None:
        """A subscribed market's state changed: ``book.state`` is the new one (a
        ``seto.MarketStateType``; ``book.state_name``: ``"open"``, ``"live"`` in play,
        ``"halted"``, ``"settled"``, ``"voided"``)."""

    def stop(self) -> Deferred[Any] | None:
        """Called once, before logout; may return a Deferred to be waited for."""
        return None

    # -- owned scheduling and handlers -----------------------------------------------------

    def call_later(self, delay: float, f: Callable[..., Any], *args: Any, **kwargs: Any) -> IDelayedCall:
        """``clock.callLater`` that the strategy owns: cancelled at stop if still pending."""
        call: IDelayedCall

        def run() -> None:
            self._calls.discard(call)
            self._guarded(getattr(f, "__name__", repr(f)), f, *args, **kwargs)

        call = self.clock.callLater(delay, run)
        self._calls.add(call)
        return call

    def every(self, interval: float, f: Callable[..., Any], *args: Any, now: bool = False) -> LoopingCall:
        """Call ``f(*args)`` every ``interval`` seconds until stop (first at once if ``now``)."""
        loop = LoopingCall(self._guarded, getattr(f, "__name__", repr(f)), f, *args)
        loop.clock = self.clock
        self._loops.append(loop)
        loop.start(interval, now=now)
        return loop

    def add_handler(self, name: str, callback: Callable[..., Any]) -> None:
        """``client.add_handler`` that the strategy owns: removed at stop."""
        handler = _Guarded(self, callback)
        self.client.add_handler(name, handler)
        self._handlers.append((name, handler))

    def _guarded(self, hook: str, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._host is not None:
            return self._host._call(hook, f, *args, **kwargs)
        return f(*args, **kwargs)

    def _undo(self) -> None:
        """Cancel, stop and remove everything the strategy owns."""
        calls, self._calls = self._calls, set()
        for call in calls:
            if call.active():
                call.cancel()
        loops, self._loops = self._loops, []
        for loop in loops:
            if loop.running:
                loop.stop()
        handlers, self._handlers = self._handlers, []
        for name, handler in handlers:
            self.client.del_handler(name, handler)


class _Guarded:
    """A strategy's message handler, called through the host's guard."""

    def __init__(self, strategy: Strategy, callback: Callable[..., Any]) -> None:
        self.strategy = strategy
        self.callback = callback

    def __call__(self, **kwargs: Any) -> Any:
        return self.strategy._guarded(getattr(self.callback, "__name__", repr(self.callback)), self.callback, **kwargs)


class CallableStrategy(Strategy):
    """A plain ``callable(client)`` (the old ``--strategy`` form), called once at start."""

    def __init__(self, function: Callable[[StreamingAPIClient], Any], params: dict[str, Any] | None = None) -> None:
        self.function = function
        super().__init__(params)

    @property
    def name(self) -> str:
        return getattr(self.function, "__qualname__", repr(self.function))

    def start(self) -> None:
        self.function(self.client)


def load_strategy(spec: str, params: dict[str, Any] | None = None) -> Strategy:
    """The strategy named by ``module:name``: a `Strategy` subclass (made with ``params``),
    an instance, or a callable taking the client (wrapped in `CallableStrategy`).

    The module is imported once per process (later calls find it in ``sys.modules``), with
    the working directory on the import path as for ``python -m``. Raises ValueError.
    """
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise ValueError(f"a strategy is given as module:name, not {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise ValueError(f"cannot import the strategy module {module_name!r}: {e}") from None
    found = getattr(module, name, None)
    if isinstance(found, type) and issubclass(found, Strategy):
        try:
            return found(params)
        except Exception as e:
            raise ValueError(f"cannot make the strategy {spec!r}: {type(e).__name__}: {e}") from None
    if isinstance(found, Strategy):
        return found
    if callable(found):
        return CallableStrategy(found, params)
    raise ValueError(f"{module_name} has no strategy class or callable {name!r}")


def param_value(text: str) -> Any:
    """A strategy parameter's value from its text (stripped): an int (``"3"``), else a
    finite float (``"0.5"``), else the text itself (``"1,2"``, ``"nan"``, ``"fast"``)."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    # "nan" and "inf" stay words: a NaN would not compare, nor go into a JSON report.
    return number if math.isfinite(number) else text


def split_param(text: str, form: str = "NAME=VALUE") -> tuple[str, str]:
    """``NAME=VALUE`` as (name, value text), both stripped, the value split at the first
    ``=`` only. ValueError, one line showing ``form``, when there is no ``=``, no name or
    no value."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name or not value:
        raise ValueError(f"a parameter is given as {form}, not {text!r}")
    return name, value


def parse_params(texts: Iterable[str]) -> dict[str, Any]:
    """A strategy's ``params`` from ``NAME=VALUE`` texts, as ``--param`` gives them:
    ``parse_params(["a=1", "b=x"]) == {"a": 1, "b": "x"}`` (values by `param_value`; a
    comma is part of the value). ValueError, one line, for a text not of that form or a
    name given twice."""
    return params_by_name((name, param_value(value)) for name, value in map(split_param, texts))


def params_by_name(pairs: Iterable[tuple[str, V]]) -> dict[str, V]:
    """``(name, value)`` pairs as a dict; ValueError, one line, for a name given twice (the
    last would silently win). `parse_params` and a backtest's sweep values take theirs so."""
    params: dict[str, V] = {}
    for name, value in pairs:
        if name in params:
            raise ValueError(f"the parameter {name!r} is given twice")
        params[name] = value
    return params


class StrategyHost(service.Service):
    """Runs one `Strategy` on a `StreamingAPIClient`: calls its hooks, guards them, stops it.

    `attach` before the client logs in (or while it is logged in: the strategy starts at
    once then). ``before_login`` is called with ``resumed`` at each login before the
    strategy hears of it. ``on_error`` is called with a `StrategyError` when a hook raises
    (after it is logged).

    It is a `twisted.application.service.Service` (named ``strategy``): ``startService`` is
    `attach`, ``stopService`` is `stop`, waited for ``stop_timeout`` seconds at most when
    given. Its life is the service's ``running`` flag (attached and not stopped), the logins
    it has seen (the strategy starts at the first) and its stop once asked: `started` and
    `stopped` say where it is.
    """

    def __init__(
        self,
        client: StreamingAPIClient,
        strategy: Strategy,
        *,
        before_login: Callable[[bool], None] | None = None,
        on_error: Callable[[StrategyError], None] | None = None,
        stop_timeout: float | None = None,
    ) -> None:
        self.setName("strategy")
        self.client = client
        # Read on every quote update (the client never replaces either).
        self._tracking = client.tracking
        self._markets = client.markets
        self.strategy = strategy
        self.before_login = before_login
        self.on_error = on_error
        self.stop_timeout = stop_timeout
        #: Fills seen (``order_executed`` messages), for the status line.
        self.fills = 0
        #: Logins after the first (reconnects).
        self.reconnects = 0
        self._logins = 0
        # Whether the strategy hears of the market (started and not stopped): read on every
        # quote update, so kept rather than worked out.
        self._hearing = False
        self._handlers: list[tuple[str, Callable[..., Any]]] = []
        # The stop, once asked (it is asked once).
        self._stopping: Deferred[None] | None = None

    @property
    def started(self) -> bool:
        """Whether the strategy has started (at the first login it heard of)."""
        return self._logins > 0

    @property
    def stopped(self) -> bool:
        """Whether its stop has been asked: the strategy hears of nothing more."""
        return self._stopping is not None

    def startService(self) -> None:
        """`attach`."""
        self.attach()

    def stopService(self) -> Deferred[None]:
        """`stop`, waited for ``stop_timeout`` seconds at most (a strategy still stopping
        then is logged and left)."""
        stopped = self.stop()
        if self.stop_timeout is not None:
            stopped.addTimeout(self.stop_timeout, self.client.clock)
            stopped.addErrback(lambda f: _log.warn("the strategy did not stop in time: {e}", e=f.getErrorMessage()))
        return stopped

    def attach(self) -> None:
        """Hook the strategy to the client's logins, disconnects, books and orders."""
        if self.running or self.stopped:
            return
        service.Service.startService(self)
        strategy = self.strategy
        strategy.client = self.client
        strategy.clock = self.client.clock
        strategy._host = self
        self.client.logged_in.add(self._logged_in)
        # The client joined the session's disconnect observers first: ours runs after it.
        self.client.session.on_disconnect.add(self._disconnected)
        self.client.account_changed.add(self._account_changed)
        self._handle("seto.market_state", self._market_state)
        self._handle("seto.market_quotes", self._market_quotes)
        self._handle("seto.contract_quotes", self._contract_quotes)
        if self.client.session.connected:
            self._logged_in(message=self.client.session.last_login_response, resumed=True)

    def _handle(self, name: str, handler: Callable[..., Any]) -> None:
        self.client.add_handler(name, handler)
        self._handlers.append((name, handler))

    def _call(self, hook: str, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call one of the strategy's functions; log and report what it raises."""
        try:
            return f(*args, **kwargs)
        except Exception:
            self._failed(hook, Failure())
            return None

    def _failed(self, hook: str, failure: Failure) -> None:
        name = self.strategy.name
        _log.failure("strategy {strategy} raised in {hook}", failure, strategy=name, hook=hook)
        if self.on_error is not None:
            self.on_error(StrategyError(name, hook, failure))

    def _logged_in(self, message: Any, resumed: bool) -> None:
        if not self.running:
            return
        first = not self.started
        self._logins += 1
        self._hearing = not self.stopped
        if not first:
            self.reconnects += 1
        if self.before_login is not None:
            try:
                self.before_login(resumed)
            except Exception:
                # Never out of the signal: the login itself must go on.
                _log.failure("the host's login step raised")
        strategy = self.strategy
        if first:
            for market_id in strategy.markets:
                if market_id not in self.client.subscriptions:
                    self.client.subscribe(market_id).addErrback(self._subscribe_failed, market_id)
            self._call("start", strategy.start)
        self._call("on_login", strategy.on_login, resumed)

    def _subscribe_failed(self, failure: Failure, market_id: int) -> None:
        _log.warn("subscribing to {market} failed: {error}", market=market_id, error=failure.getErrorMessage())

    def _disconnected(self, reason: Failure) -> None:
        if self.started and not self.stopped:
            self._call("on_disconnect", self.strategy.on_disconnect, reason)

    def _account_changed(self, change: Change) -> None:
        # The account's reducer has the order as it now stands (done and out of the live
        # orders once finished: the strategy hears of its last state). The account's
        # history reaches no listener: its orders are heard of from their next change.
        kind = change.kind
        if kind not in _ORDER_CHANGES:
            return
        if kind is ChangeKind.EXECUTED:
            self.fills += 1
        if change.previous is not None:
            self._notify_order(change.previous)  # replaced: done
        if change.order is not None:
            self._notify_order(change.order)

    def _notify_order(self, order: LiveOrder) -> None:
        if self.started and not self.stopped:
            self._call("on_order", self.strategy.on_order, order)

    def _market_state(self, message: seto_pb2.Payload) -> None:
        book = self.client.markets.get(message.market_state.market_id)
        if book is not None and self.started and not self.stopped:
            self._call("on_market_state", self.strategy.on_market_state, book)

    def _market_quotes(self, message: seto_pb2.Payload) -> None:
        book = self.client.markets.get(message.market_quotes.market_id)
        if book is not None and self._hearing:
            self._call("on_market", self.strategy.on_market, book)

    def _contract_quotes(self, message: seto_pb2.Payload) -> None:
        # The busiest hook of all: `_call`'s guard written out, and the market's id taken
        # from the client's book-keeping of this very message when it has one (reading it
        # from the message again costs more than the rest).
        if self._hearing:
            last = self._tracking.last_quotes
            if last is not None and last[0] is message:
                book = self._markets.get(last[1])
            else:
                book = self._markets.get(message.contract_quotes.market_id)
            if book is not None:
                try:
                    self.strategy.on_market(book)
                except Exception:
                    self._failed("on_market", Failure())

    def stop(self) -> Deferred[None]:
        """Stop the strategy once: its `Strategy.stop`, then undo all it owns and detach.

        Fires when its stop's Deferred has (a failure there is logged, not passed on).
        Calling it again returns the same Deferred's outcome.
        """
        d: Deferred[None] = Deferred()

        def relay(result: Any) -> Any:
            # Each caller has a Deferred of its own: one that times out or is cancelled
            # leaves the stop to finish.
            if not d.called:
                d.callback(None)
            return result

        if self._stopping is None:
            # Marked first: from here on the strategy hears of nothing, its own stop aside.
            self._stopping = stopping = Deferred[None]()
            self._hearing = False
            service.Service.stopService(self)
            if self.started:
                result = maybeDeferred(self._call, "stop", self.strategy.stop)
                result.addErrback(lambda f: self._failed("stop", f))
            else:
                result = succeed(None)

            def detach(_: Any) -> None:
                try:
                    self.strategy._undo()
                finally:
                    self._detach()

            result.addCallback(detach).addErrback(lambda f: _log.failure("the strategy could not be detached", f))
            result.chainDeferred(stopping)
        self._stopping.addBoth(relay)
        return d

    def _detach(self) -> None:
        handlers, self._handlers = self._handlers, []
        for name, handler in handlers:
            self.client.del_handler(name, handler)
        if self._account_changed in self.client.account_changed.handlers:
            self.client.account_changed.remove(self._account_changed)
        if self._logged_in in self.client.logged_in.handlers:
            self.client.logged_in.remove(self._logged_in)
        if self._disconnected in self.client.session.on_disconnect:
            self.client.session.on_disconnect.remove(self._disconnected)
