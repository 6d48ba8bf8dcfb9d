"""Running the embedded exchange: in-process for tests and demos, or as a twistd service."""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Iterable, Mapping

from twisted.application import internet, service
from twisted.internet import endpoints
from twisted.internet.defer import CancelledError, Deferred, gatherResults, maybeDeferred
from twisted.internet.interfaces import IProtocolFactory, IReactorTime, IStreamServerEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.exchange.catalogue import Catalogue, demo_catalogue
from txsmarkets.exchange.engine import MatchingEngine
from txsmarkets.exchange.http import HttpSite, Limit, make_http_site
from txsmarkets.exchange.server import EngineT, ExchangeServerFactory
from txsmarkets.wire import seto_pb2

__all__ = [
    "DEFAULT_ENDPOINT",
    "ExchangeService",
    "ExchangeServices",
    "RunningExchange",
    "RunningServer",
    "make_exchange",
    "make_service",
    "start_exchange",
]

_log = Logger()


#: Where the exchange listens unless told otherwise: loopback only.
DEFAULT_ENDPOINT = "tcp:3701:interface=127.0.0.1"

#: The listen backlog given to a TCP or TLS endpoint that names none. Twisted's own default
#: (50) overflows when hundreds of clients connect at once: the kernel then drops their
#: handshakes' last step, and each such client, believing itself connected, is reset later.
LISTEN_BACKLOG = 1024


def with_backlog(endpoint: str) -> str:
    """``endpoint`` with ``backlog=LISTEN_BACKLOG`` when it is TCP or TLS and names none."""
    kind = endpoint.split(":", 1)[0].lower()
    if kind in ("tcp", "tcp6", "ssl") and "backlog=" not in endpoint:
        return f"{endpoint}:backlog={LISTEN_BACKLOG}"
    return endpoint


def make_exchange(
    reactor: IReactorTime,
    catalogue: Catalogue | None = None,
    *,
    simulate: bool = False,
    seed: int | None = None,
    replay: Iterable[tuple[float, seto_pb2.Payload]] | None = None,
    speed: float = 1.0,
    first_order_id: int = 1,
    account_log_size: int = 100_000,
    **options: Any,
) -> ExchangeServerFactory[MatchingEngine]:
    """A server factory for a new engine over ``catalogue`` (the demo when None).

    The engine's order ids count up from ``first_order_id`` (above 2**53 to test that
    clients keep order ids exact); it keeps the last ``account_log_size`` messages of each
    account (`MatchingEngine`).

    ``simulate`` starts simulated traders on every market (see
    `txsmarkets.exchange.simulation`), seeded by ``seed``; the factory's ``simulation`` is
    that `Simulation` (None without). ``replay`` (``(time, seto.Payload)`` records, as
    `txsmarkets.exchange.recorded.read_recorded` reads them) re-creates recorded markets,
    ``speed`` times as fast (see `txsmarkets.exchange.replay`); the factory's ``replay`` is
    that `Replay` (None without). ``options`` go to `ExchangeServerFactory`
    (heartbeat_interval, resume_window, ...).
    """
    engine = MatchingEngine(
        catalogue if catalogue is not None else demo_catalogue(),
        now=reactor.seconds,
        first_order_id=first_order_id,
        account_log_size=account_log_size,
    )
    factory = ExchangeServerFactory(engine, reactor, **options)
    # -- simulated traders (issue 15) --
    simulation: Any = None
    if simulate:
        from txsmarkets.exchange.simulation import Simulation

        simulation = Simulation(engine, reactor, seed)
        simulation.start()
    factory.simulation = simulation  # type: ignore[attr-defined]
    # -- end of simulated traders --
    # -- recorded markets (issue 15) --
    replaying: Any = None
    if replay is not None:
        from txsmarkets.exchange.replay import Replay

        replaying = Replay(engine, reactor, replay, speed=speed)
        replaying.start()
    factory.replay = replaying  # type: ignore[attr-defined]
    # -- end of recorded markets --
    return factory


class ExchangeService(internet.StreamServerEndpointService):
    """Serves an exchange on an endpoint, as
    `twisted.application.internet.StreamServerEndpointService` does, except on the faults a
    daemon must not carry on through:

    - when listening fails (a port in use, an address not ours), one line is logged, no
      traceback, and `cannot_listen` is called with that line (the twistd plugin stops the
      process with exit status 1; by default nothing more happens);
    - when it is stopped by SIGTERM or SIGINT, the process exits 0 rather than by raising
      the signal again as twistd does: the exchange stopped as asked.
    """

    def __init__(
        self, reactor: IReactorTime, endpoint: IStreamServerEndpoint, factory: IProtocolFactory, description: str
    ) -> None:
        super().__init__(endpoint, factory)
        self.reactor = reactor
        self.description = description
        #: Called with a one-line reason when the endpoint cannot be listened on.
        self.cannot_listen: Callable[[str], None] = lambda why: None

    def privilegedStartService(self) -> None:
        service.Service.privilegedStartService(self)
        self._waitingForPort = self.endpoint.listen(self.factory)
        self._waitingForPort.addErrback(self._listenFailed)

    def _listenFailed(self, failure: Failure) -> None:
        if failure.check(CancelledError):
            return
        why = f"cannot listen on {self.description}: {failure.getErrorMessage()}"
        _log.error("{why}", why=why)
        self.cannot_listen(why)

    def stopService(self) -> Deferred[None]:
        stopped: Deferred[None] = super().stopService()
        if getattr(self.reactor, "_exitSignal", None) in (signal.SIGTERM, signal.SIGINT):
            # twistd would raise the signal again (exit 143); this is an orderly stop.
            setattr(self.reactor, "_exitSignal", None)
        return stopped


class ExchangeServices(service.MultiService):
    """The streaming protocol's `ExchangeService` and the HTTP API's, started and stopped
    together; ``cannot_listen`` is set on both."""

    @property
    def cannot_listen(self) -> Callable[[str], None]:
        """Called with a one-line reason when an endpoint cannot be listened on."""
        first: Any = self.services[0]
        return first.cannot_listen

    @cannot_listen.setter
    def cannot_listen(self, call: Callable[[str], None]) -> None:
        for child in self.services:
            child.cannot_listen = call


def make_service(
    reactor: IReactorTime,
    endpoint: str = DEFAULT_ENDPOINT,
    catalogue: Catalogue | None = None,
    *,
    http: str | None = None,
    http_rate_limits: Mapping[str, Limit | tuple[int, float] | None] | None = None,
    **options: Any,
) -> ExchangeService | ExchangeServices:
    """A service that serves an exchange on ``endpoint`` (a Twisted endpoint string), and
    its HTTP API on ``http`` too when given (both in an `ExchangeServices`).

    ValueError (or the OSError of a missing key file) for an endpoint string that cannot
    be used."""
    factory = make_exchange(reactor, catalogue, **options)
    svc = ExchangeService(reactor, endpoints.serverFromString(reactor, with_backlog(endpoint)), factory, endpoint)
    if http is None:
        return svc
    site = make_http_site(factory.engine, reactor, rate_limits=http_rate_limits)
    web = ExchangeService(reactor, endpoints.serverFromString(reactor, with_backlog(http)), site, http)
    both = ExchangeServices()
    svc.setServiceParent(both)
    web.setServiceParent(both)
    return both


@dataclass
class RunningServer(Generic[EngineT]):
    """A server of the streaming protocol running in this process (`RunningExchange`, the
    bridge's `RunningBridge <txsmarkets.bridge.service.RunningBridge>`): its factory, and
    the port it listens on, if any (``listening`` None: none; reach it in memory, through
    a `txsmarkets.inmemory.MemoryEndpoint` on `accepting`)."""

    factory: ExchangeServerFactory[EngineT]
    listening: Any = None
    _stopped: bool = False

    @property
    def engine(self) -> EngineT:
        """The engine behind the server."""
        return self.factory.engine

    @property
    def port(self) -> int:
        """The TCP port it listens on; ValueError if it listens on none."""
        if self.listening is None:
            raise ValueError("this server listens on no port: it is reached in memory")
        return int(self.listening.getHost().port)

    @property
    def stopped(self) -> bool:
        """Whether `stop` was called."""
        return self._stopped

    def accepting(self) -> IProtocolFactory | None:
        """The factory while it runs, None once it stopped: the ``server`` of a
        `txsmarkets.inmemory.MemoryEndpoint`, which is then refused."""
        return None if self._stopped else self.factory

    def stop(self) -> Deferred[None]:
        """Stop listening, end every session and drop every connection, then stop the
        engine's own work; fires when done."""
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        await self._stop_listening()
        await gatherResults(self._drop_connections())
        await self._stop_engine()

    async def _stop_listening(self) -> None:
        """No new connection from here on."""
        if self.listening is not None:
            await maybeDeferred(self.listening.stopListening)

    def _drop_connections(self) -> list[Deferred[None]]:
        """End every session and abort every connection; what fires once each is closed."""
        factory = self.factory
        for session in list(factory.sessions.values()):
            factory.end_session(session, failed=False)
        closing = []
        for protocol in list(factory.connections):
            closing.append(protocol.closed)
            protocol.transport.abortConnection()
        return closing

    async def _stop_engine(self) -> None:
        """Once the connections are gone: what the engine runs by itself (nothing here)."""


@dataclass
class RunningExchange(RunningServer[MatchingEngine]):
    """An exchange running in this process (`start_exchange`)."""

    #: The HTTP API's listening port and site (None unless started with ``http=``).
    http_listening: Any = None
    http_site: HttpSite | None = None

    @property
    def http_port(self) -> int:
        """The TCP port its HTTP API listens on; ValueError if it serves none."""
        if self.http_listening is None:
            raise ValueError("this exchange serves no HTTP API: start it with http=ENDPOINT")
        return int(self.http_listening.getHost().port)

    async def _stop_listening(self) -> None:
        # The simulated traders and the replay first: nothing trades while it stops.
        factory = self.factory
        simulation = getattr(factory, "simulation", None)
        if simulation is not None:
            simulation.stop()
        replay = getattr(factory, "replay", None)  # issue 15
        if replay is not None:
            replay.stop()
        await super()._stop_listening()
        if self.http_listening is not None:
            await maybeDeferred(self.http_listening.stopListening)
        factory.stop_producing()

    def _drop_connections(self) -> list[Deferred[None]]:
        closing = super()._drop_connections()
        if self.http_site is not None:
            self.http_site.close_connections()
        return closing


async def _start(
    reactor: IReactorTime,
    endpoint: str | None,
    catalogue: Catalogue | None,
    http: str | None,
    http_options: dict[str, Any],
    options: dict[str, Any],
) -> RunningExchange:
    factory = make_exchange(reactor, catalogue, **options)
    # Made before anything listens, so that bad HTTP options leave nothing behind.
    site = None if http is None else make_http_site(factory.engine, reactor, **http_options)
    listening = None
    if endpoint is not None:
        listening = await endpoints.serverFromString(reactor, with_backlog(endpoint)).listen(factory)
    running = RunningExchange(factory, listening, http_site=site)
    if http is not None:
        try:
            running.http_listening = await endpoints.serverFromString(reactor, with_backlog(http)).listen(site)
        except BaseException:
            await running.stop()
            raise
    return running


def start_exchange(
    reactor: IReactorTime,
    endpoint: str | None = "tcp:0:interface=127.0.0.1",
    catalogue: Catalogue | None = None,
    *,
    http: str | None = None,
    http_rate_limits: Mapping[str, Limit | tuple[int, float] | None] | None = None,
    http_token_lifetime: float | None = None,
    **options: Any,
) -> Deferred[RunningExchange]:
    """Start an exchange in this process; fires with it once it listens.

    The default endpoint takes a free loopback port: read it from ``.port``; None
    listens on none (reach it in memory: a `txsmarkets.inmemory.MemoryEndpoint` on
    ``.accepting``). With
    ``http`` (an endpoint string, ``"tcp:0:interface=127.0.0.1"`` for a free loopback
    port) it serves the HTTP API v3 there too, on the same engine: read the port from
    ``.http_port``. ``http_rate_limits`` (operation id -> `Limit` or ``(count, seconds)``,
    None to lift one) changes the HTTP rate limits, ``http_token_lifetime`` how many
    seconds an HTTP session token lives unused (30 minutes by default).
    """
    http_options: dict[str, Any] = {"rate_limits": http_rate_limits}
    if http_token_lifetime is not None:
        http_options["token_lifetime"] = http_token_lifetime
    return Deferred.fromCoroutine(_start(reactor, endpoint, catalogue, http, http_options, options))
