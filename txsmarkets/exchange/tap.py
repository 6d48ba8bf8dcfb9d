"""``twistd smarkets-exchange``: the embedded exchange as a daemon."""

from __future__ import annotations

from typing import Any

from twisted.application import service
from twisted.python import usage

from txsmarkets.exchange.catalogue import CatalogueError, load_catalogue
from txsmarkets.exchange.service import DEFAULT_ENDPOINT, make_service


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
        ["catalogue", "c", None, "JSON catalogue of accounts, events and markets (default: the demo)."],
        ["heartbeat-interval", None, 30.0, "Seconds between heartbeats.", float],
        ["resume-window", None, 300.0, "Seconds a dropped session may be resumed.", float],
        ["max-output-buffer", None, 8 * 1024 * 1024, "Bytes waiting for a slow client before it is dropped.", int],
    ]

    def postOptions(self) -> None:
        if self["catalogue"] is not None:
            try:
                self["catalogue"] = load_catalogue(self["catalogue"])
            except (OSError, CatalogueError) as e:
                raise usage.UsageError(f"cannot load the catalogue: {e}") from None
        # -- recorded markets (issue 15) --
        if self["replay"] is not None:
            from txsmarkets.exchange.recorded import RecordingError, recorded_files

            try:
                recorded_files(self["replay"])
            except RecordingError as e:
                raise usage.UsageError(str(e)) from None
            if not self["speed"] > 0:
                raise usage.UsageError(f"--speed must be above 0, not {self['speed']}")
        # -- end of recorded markets --


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    from txsmarkets.process import freeze_long_lived

    reactor_: Any = reactor
    reactor_.callWhenRunning(freeze_long_lived)
    return make_service(
        reactor_,
        options["endpoint"],
        options["catalogue"],
        heartbeat_interval=options["heartbeat-interval"],
        resume_window=options["resume-window"],
        max_output_buffer=options["max-output-buffer"],
        simulate=bool(options["simulate"]),
        seed=options["seed"],
        **_replay_options(options),
    )


def _replay_options(options: Options) -> dict[str, Any]:
    """The `make_exchange` arguments of ``--replay`` and ``--speed`` (issue 15)."""
    if options["replay"] is None:
        return {}
    from txsmarkets.exchange.recorded import read_recorded

    return {"replay": read_recorded(options["replay"]), "speed": options["speed"]}
