"""``twistd smarkets-exchange``: the embedded exchange as a daemon; with ``--http ENDPOINT``
it serves Smarkets' HTTP API v3 there too, on the same engine. With ``--paper URL --markets
IDS`` it trades those markets of an HTTP API v3 upstream on its polled public prices
(`txsmarkets.exchange.paper`), writing what it polls to ``--record DIR`` when given.

A fault it cannot run through is one line on stderr and exit status 1: a catalogue that
does not load, an endpoint string that is no endpoint, an endpoint it cannot listen on (a
port in use), an amount that cannot work (a heartbeat interval or a cap of 0); with
``--paper``, an upstream that cannot give the markets. SIGTERM and SIGINT stop it with
exit status 0.
"""

from __future__ import annotations

import math
import signal
import sys
from typing import Any

from twisted.application import service
from twisted.internet.interfaces import IReactorCore, IReactorTime
from twisted.python import usage

from txsmarkets.exchange.catalogue import CatalogueError, load_catalogue
from txsmarkets.exchange.server import DEFAULTS
from txsmarkets.exchange.service import DEFAULT_ENDPOINT, make_service
from txsmarkets import process
from txsmarkets.process import (
    ENDPOINT_ERRORS,
    check_endpoint,
    fail_and_exit,
    freeze_long_lived,
    handle_signals,
    http_url,
    refuse_abbreviations,
    stop_on_signal,
    usage_error_line,
    writable_folder,
)

_NAME = "twistd smarkets-exchange"
#: The options that are amounts (seconds, bytes, connections, requests) of which none, or
#: fewer, means nothing that works: a heartbeat interval of 0 logs every session out at
#: once, a cap of 0 connections refuses all of them, a throttle of 0 answers no request.
_POSITIVE = ("heartbeat-interval", "max-output-buffer", "max-connections", "max-pending", "throttle-rate", "throttle-burst")


class SetupError(process.SetupError):
    """A `txsmarkets.process.SetupError` of ``twistd smarkets-exchange``."""

    def __init__(self, message: str) -> None:
        super().__init__(_NAME, message)


class Options(usage.Options):
    """Command-line options of ``twistd smarkets-exchange``."""

    optFlags = [
        ["simulate", None, "Run simulated traders on every market (see the catalogue's simulation objects)."],
    ]
    optParameters = [
        ["seed", None, None, "Seed of the simulated traders (default: a random one, logged).", int],
        ["replay", None, None, "Re-create the markets recorded in this folder (twistd smarkets --record, or a --state-dir)."],
        ["speed", None, 1.0, "Replay this many times as fast as recorded.", float],
        ["endpoint", "e", DEFAULT_ENDPOINT, "Twisted endpoint to listen on (ssl:... for TLS)."],
        ["http", None, None, "Also serve Smarkets' HTTP API v3 on this Twisted endpoint (e.g. tcp:8080:interface=127.0.0.1)."],
        ["first-order-id", None, 1, "Number order ids from this one (above 2**53 to test a client keeps them exact).", int],
        ["catalogue", "c", None, "JSON catalogue of accounts, events and markets (default: the demo)."],
        ["heartbeat-interval", None, 30.0, "Seconds between heartbeats.", float],
        ["resume-window", None, 300.0, "Seconds a dropped session may be resumed (0: none may).", float],
        ["max-output-buffer", None, DEFAULTS["max_output_buffer"], "Bytes waiting for a slow client before it is dropped.", int],
        ["max-connections", None, DEFAULTS["max_connections"], "Connections in all; more are closed at once.", int],
        ["max-pending", None, DEFAULTS["max_pending"], "Connections not yet logged in; more are closed at once.", int],
        ["throttle-rate", None, DEFAULTS["throttle_rate"], "Requests a second a session may send on average.", int],
        ["throttle-burst", None, DEFAULTS["throttle_burst"], "Requests a session may send at once.", int],
        # -- paper trading (issue 25) --
        ["paper", None, None, "Paper trading: take --markets and their polled public prices from this HTTP API v3 (e.g. https://api.smarkets.com/v3/)."],
        ["markets", None, None, "With --paper: the upstream's market ids to trade, comma-separated."],
        ["poll-interval", None, 2.0, "With --paper: seconds between polls of the quotes and last executed prices.", float],
        ["state-interval", None, 10.0, "With --paper: seconds between polls of the markets' states.", float],
        ["upstream-timeout", None, 10.0, "With --paper: seconds a request to the upstream may take.", float],
        ["record", None, None, "With --paper: write what is polled to this folder, as a recording (and its catalogue.json)."],
        # -- end of paper trading --
    ]

    def parseOptions(self, options: list[str] | None = None) -> None:
        try:
            # Whole option names only, as twistd smarkets takes them.
            refuse_abbreviations(self, sys.argv[1:] if options is None else options)
            super().parseOptions(options)
        except usage.UsageError as e:
            # One line: twistd would print the whole option list first.
            raise SetupError(usage_error_line(self, e)) from None

    def postOptions(self) -> None:
        for name in _POSITIVE:
            self._amount(name)
        self._amount("resume-window", least=0)
        if not 1 <= self["first-order-id"] < 2**64:
            raise SetupError(f"--first-order-id must be in 1..2**64 - 1, not {self['first-order-id']}")
        if self["catalogue"] is not None:
            try:
                self["catalogue"] = load_catalogue(self["catalogue"])
            except (OSError, CatalogueError) as e:
                raise SetupError(f"cannot load the catalogue: {e}") from None
        # -- recorded markets (issue 15) --
        if self["replay"] is not None:
            from txsmarkets.exchange.recorded import RecordingError, recorded_files

            try:
                recorded_files(self["replay"])
            except RecordingError as e:
                raise SetupError(str(e)) from None
            if not self["speed"] > 0:
                raise SetupError(f"--speed must be above 0, not {self['speed']}")
        # -- end of recorded markets --
        self._paper_options()

    def _amount(self, name: str, least: float | None = None) -> None:
        """Check that the option ``name`` is a finite number above 0, or at least ``least``;
        SetupError if not."""
        value = self[name]
        if least is None and not value > 0:
            raise SetupError(f"--{name} must be above 0, not {value}")
        if least is not None and not value >= least:
            raise SetupError(f"--{name} must be {least} or more, not {value}")
        if value == math.inf:
            raise SetupError(f"--{name} must be a finite number, not {value}")

    def _paper_options(self) -> None:
        """Check ``--paper`` and the options that go with it (issue 25)."""
        if self["paper"] is None:
            for name in ("markets", "record"):
                if self[name] is not None:
                    raise SetupError(f"--{name} goes with --paper")
            return
        if self["replay"] is not None or self["simulate"]:
            raise SetupError("--paper trades live prices: not with --replay or --simulate")
        from txsmarkets.exchange.upstream import parse_market_ids

        if self["markets"] is None:
            raise SetupError("--paper needs --markets ID,ID,...")
        try:
            self["paper"] = http_url("--paper", self["paper"])
            self["markets"] = parse_market_ids(self["markets"])
        except ValueError as e:
            raise SetupError(str(e)) from None
        for name in ("poll-interval", "state-interval", "upstream-timeout"):
            self._amount(name)
        if self["record"] is not None:
            try:
                writable_folder(self["record"], "the recording folder")
            except ValueError as e:
                raise SetupError(str(e)) from None


def _fail(reactor: IReactorCore, why: str) -> None:
    """Say ``why`` on stderr, stop, and exit 1 once the reactor has shut down."""
    fail_and_exit(reactor, _NAME, why)


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    reactor_: Any = reactor
    reactor_.callWhenRunning(freeze_long_lived)
    # From the start: the port opens before the reactor runs.
    stop = stop_on_signal(reactor_)
    handle_signals(reactor_, {signal.SIGTERM: stop, signal.SIGINT: stop})
    if options["paper"] is not None:
        return _paper_service(reactor_, options)
    try:
        svc = make_service(
            reactor_,
            options["endpoint"],
            options["catalogue"],
            **_server_options(options),
            simulate=bool(options["simulate"]),
            seed=options["seed"],
            http=options["http"],
            **_replay_options(options),
        )
    except ENDPOINT_ERRORS as e:
        raise SetupError(f"cannot use {_endpoints(options)}: {e}") from None
    svc.cannot_listen = lambda why: _fail(reactor_, why)
    return svc


def _endpoints(options: Options) -> str:
    which = f"the endpoint {options['endpoint']!r}"
    if options["http"] is not None:
        which += f" or the HTTP endpoint {options['http']!r}"
    return which


def _server_options(options: Options) -> dict[str, Any]:
    """The `make_service` arguments of the server's options."""
    return dict(
        heartbeat_interval=options["heartbeat-interval"],
        resume_window=options["resume-window"],
        max_output_buffer=options["max-output-buffer"],
        max_connections=options["max-connections"],
        max_pending=options["max-pending"],
        throttle_rate=options["throttle-rate"],
        throttle_burst=options["throttle-burst"],
        first_order_id=options["first-order-id"],
    )


def _paper_service(reactor: IReactorTime, options: Options) -> service.IService:
    """``--paper`` (issue 25): the exchange starts once the upstream gave the catalogue;
    accounts come from ``--catalogue`` (its events are not used), the demo's by default."""
    from txsmarkets.exchange.paper import PaperService

    # Checked now, for the one-line error before anything starts.
    for endpoint in (options["endpoint"], options["http"]):
        if endpoint is not None:
            try:
                check_endpoint(reactor, endpoint)
            except ValueError as e:
                raise SetupError(str(e)) from None
    catalogue = options["catalogue"]
    svc = PaperService(
        reactor,
        options["paper"],
        options["markets"],
        options["endpoint"],
        accounts=catalogue.accounts if catalogue is not None else None,
        record=options["record"],
        timeout=options["upstream-timeout"],
        feed_options={"interval": options["poll-interval"], "state_interval": options["state-interval"]},
        options={**_server_options(options), "http": options["http"]},
    )
    svc.cannot_listen = lambda why: _fail(IReactorCore(reactor), why)
    return svc


def _replay_options(options: Options) -> dict[str, Any]:
    """The `make_exchange` arguments of ``--replay`` and ``--speed`` (issue 15)."""
    if options["replay"] is None:
        return {}
    from txsmarkets.exchange.recorded import read_recorded

    return {"replay": read_recorded(options["replay"]), "speed": options["speed"]}
