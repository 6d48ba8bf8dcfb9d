"""``twistd smarkets-bridge``: the streaming protocol served in front of Smarkets' HTTP API.

``twistd -n smarkets-bridge --upstream URL [--endpoint tcp:3701:interface=127.0.0.1]
[--state-dir DIR] [--record DIR] [--metrics ENDPOINT]``. A setting that cannot work (no upstream, a URL that is
no HTTP URL, an endpoint string that is no endpoint, a state or recording folder that cannot
be made, a port in use) is one line on stderr and exit status 1. SIGTERM and SIGINT stop
it with exit status 0.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from twisted.application import service
from twisted.python import usage

from txsmarkets import process
from txsmarkets.bridge.service import DEFAULT_ENDPOINT, make_bridge_service
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

_NAME = "twistd smarkets-bridge"


class SetupError(process.SetupError):
    """A `txsmarkets.process.SetupError` of ``twistd smarkets-bridge``."""

    def __init__(self, message: str) -> None:
        super().__init__(_NAME, message)


class Options(usage.Options):
    """Command-line options of ``twistd smarkets-bridge``."""

    optParameters = [
        ["upstream", "u", None, "The HTTP API to bridge to: https://api.smarkets.com/v3/, or an embedded exchange's --http URL."],
        ["endpoint", "e", DEFAULT_ENDPOINT, "Twisted endpoint the streaming protocol is served on (ssl:... for TLS)."],
        ["state-dir", None, None, "Folder of each account's state (orders, activity cursor, account stream): kept across restarts."],
        ["record", None, None, "Folder to record the subscribed markets' polled market data in (and its catalogue.json)."],
        ["poll-interval", None, 1.0, "Seconds between two polls of an account's activity (its fills).", float],
        ["heartbeat-interval", None, 30.0, "Seconds between heartbeats.", float],
        ["resume-window", None, 300.0, "Seconds a dropped session may be resumed.", float],
        ["status-interval", None, 60.0, "Seconds between two status lines in the log (0: none).", float],
        ["metrics", None, None, "Serve the bridge's figures for Prometheus on this endpoint (tcp:9109:interface=127.0.0.1)."],
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
        upstream = self["upstream"]
        if upstream is None:
            raise SetupError("--upstream URL is required (https://api.smarkets.com/v3/)")
        try:
            self["upstream"] = http_url("--upstream", upstream)
        except ValueError as e:
            raise SetupError(str(e)) from None
        for name in ("poll-interval", "heartbeat-interval", "resume-window"):
            if not self[name] > 0:
                raise SetupError(f"--{name} must be above 0, not {self[name]}")
        if self["status-interval"] < 0:
            raise SetupError(f"--status-interval must be 0 or more, not {self['status-interval']}")
        if self["metrics"]:
            from txsmarkets.metrics import available

            if not available():
                raise SetupError(
                    "--metrics needs prometheus_client"
                    " (the metrics extra: pip install -e '.[metrics]' in a clone of the repository)"
                )
        for name, what in (("state-dir", "the state folder"), ("record", "the recording folder")):
            if self[name] is not None:
                try:
                    writable_folder(self[name], what)
                except ValueError as e:
                    raise SetupError(str(e)) from None


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    reactor_: Any = reactor
    reactor_.callWhenRunning(freeze_long_lived)
    stop = stop_on_signal(reactor_)
    handle_signals(reactor_, {signal.SIGTERM: stop, signal.SIGINT: stop})
    try:
        check_endpoint(reactor_, options["endpoint"])
    except ValueError as e:
        raise SetupError(str(e)) from None
    try:
        svc: Any = make_bridge_service(
            reactor_,
            options["upstream"],
            options["endpoint"],
            options["state-dir"],
            status_interval=options["status-interval"] or None,
            poll_interval=options["poll-interval"],
            heartbeat_interval=options["heartbeat-interval"],
            resume_window=options["resume-window"],
            record=options["record"],
            metrics=options["metrics"] or None,
        )
    except ENDPOINT_ERRORS as e:
        raise SetupError(f"cannot use the endpoint {options['endpoint']!r}: {e}") from None
    svc.cannot_listen = lambda why: fail_and_exit(reactor_, _NAME, why)
    svc.factory.engine.on_state_lost = lambda why: fail_and_exit(reactor_, _NAME, why)
    return svc
