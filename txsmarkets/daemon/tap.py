"""``twistd smarkets``: the command line of the session daemon.

The password comes from ``--password-file`` or the ``SMARKETS_PASSWORD`` environment
variable, never from the command line (where ``ps`` would show it). ``--config FILE`` reads
an INI file (``[smarkets]`` section, ``[inherit] from=`` supported) whose keys are the long
option names; the command line wins over it.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from twisted.application import service
from twisted.python import usage

from txsmarkets.client.settings import SessionSettings
from txsmarkets.configuration import ConfigurationReader
from txsmarkets.errors import Error
from txsmarkets.daemon.service import SmarketsService, load_strategy

_FILE_KEYS = (
    "host",
    "port",
    "username",
    "password-file",
    "token-file",
    "ca-file",
    "strategy",
    "status-interval",
    "state-dir",
)


class SetupError(SystemExit):
    """A setting that cannot work (a missing file, a bad config): one line, exit status 1.

    A `usage.UsageError` would have twistd print the whole option list before the reason.
    """

    def __init__(self, message: str) -> None:
        super().__init__(f"twistd smarkets: {message}")


def _read_secret(path: str, what: str) -> str:
    try:
        secret = pathlib.Path(path).read_text().strip()
    except OSError as e:
        raise SetupError(f"cannot read the {what} file {path!r}: {e.strerror}") from None
    if not secret:
        raise SetupError(f"the {what} file {path!r} is empty")
    return secret


class Options(usage.Options):
    """Command-line options of ``twistd smarkets``."""

    optFlags = [
        ["no-tls", None, "Plaintext, for a local exchange only (TLS is the default)."],
        ["demo", None, "Start the embedded exchange here and trade on it as the demo account."],
    ]
    optParameters = [
        ["host", None, "stream.smarkets.com", "Streaming API host."],
        ["port", None, 3801, "Streaming API port.", int],
        ["username", "u", None, "Account username."],
        ["password-file", None, None, "File holding the password (or set SMARKETS_PASSWORD)."],
        ["token-file", None, None, "File holding a session token to log in with instead."],
        ["ca-file", None, None, "PEM file of the certificate authority to trust."],
        ["config", "c", None, "INI file with these options in a [smarkets] section."],
        ["strategy", None, None, "module:callable called with the client after each login."],
        ["state-dir", None, None, "Folder for the session state and the journal (resume across restarts)."],
        ["status-interval", None, 60.0, "Seconds between status lines.", float],
        ["record", None, None, "Folder to record market data in, for twistd smarkets-exchange --replay."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["subscribe"] = []
        self._given: set[str] = set()

    def opt_subscribe(self, market_id: str) -> None:
        """Subscribe to a market's quotes (repeatable)."""
        try:
            self["subscribe"].append(int(market_id))
        except ValueError:
            raise usage.UsageError(f"--subscribe takes a market id, not {market_id!r}") from None

    def __setitem__(self, key: str, value: Any) -> None:
        # Remember what the command line set, so that a config file does not override it.
        if hasattr(self, "_given"):
            self._given.add(key)
        super().__setitem__(key, value)

    def _from_config(self) -> None:
        path = pathlib.Path(self["config"])
        if not path.is_file():
            raise SetupError(f"no config file {str(path)!r}")
        try:
            config = ConfigurationReader([str(path.parent)]).read(path.name)
        except (Error, ValueError, OSError) as e:
            raise SetupError(f"bad config file {str(path)!r}: {e}") from None
        if not config.has_section("smarkets"):
            raise SetupError(f"config file {str(path)!r} has no [smarkets] section")
        for key, value in config.items("smarkets"):
            if key == "subscribe":
                if "subscribe" not in self._given or not self["subscribe"]:
                    for market in value.split():
                        self.opt_subscribe(market)
            elif key == "no-tls":
                if value.lower() in ("1", "yes", "true", "on"):
                    dict.__setitem__(self, "no-tls", 1)
            elif key in _FILE_KEYS:
                if key not in self._given:
                    dict.__setitem__(self, key, value)
            else:
                raise SetupError(f"config file {str(path)!r}: unknown key {key!r}")

    def postOptions(self) -> None:
        if self["config"]:
            self._from_config()
        try:
            self["port"] = int(self["port"])
            self["status-interval"] = float(self["status-interval"])
        except ValueError as e:
            raise SetupError(f"bad number: {e}") from None
        if self["strategy"]:
            try:
                # Checked now, so that a typo fails before anything connects; loaded again
                # (and reloaded on each reconnect) by the service.
                load_strategy(self["strategy"])
            except ValueError as e:
                raise SetupError(str(e)) from None
        if self["state-dir"]:
            try:
                os.makedirs(self["state-dir"], mode=0o700, exist_ok=True)
            except OSError as e:
                raise SetupError(f"cannot use the state folder {self['state-dir']!r}: {e.strerror}") from None
        if self["demo"]:
            from txsmarkets.daemon.demo import strategy

            self["settings"] = SessionSettings("demo", "demo", ssl=False, host="127.0.0.1", port=0)
            if not self["subscribe"]:
                self["subscribe"] = [1, 2]
            if not self["strategy"]:
                self["strategy"] = strategy
            self["status-interval"] = min(self["status-interval"], 10.0)
            return
        token = None
        password = None
        if self["token-file"]:
            token = _read_secret(self["token-file"], "token")
        elif self["password-file"]:
            password = _read_secret(self["password-file"], "password")
        else:
            # Taken out of the environment, so that no child process inherits it.
            password = os.environ.pop("SMARKETS_PASSWORD", None)
        if token is None and not (self["username"] and password):
            raise usage.UsageError(
                "give --username with --password-file or SMARKETS_PASSWORD, or --token-file, or --demo"
            )
        if self["ca-file"] and not os.path.isfile(self["ca-file"]):
            raise SetupError(f"no CA file {self['ca-file']!r}")
        self["settings"] = SessionSettings(
            self["username"],
            password,
            token=token,
            host=self["host"],
            port=self["port"],
            ssl=not self["no-tls"],
            ca_file=self["ca-file"],
        )


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    from txsmarkets.process import freeze_long_lived

    reactor.callWhenRunning(freeze_long_lived)  # type: ignore[attr-defined]
    svc = SmarketsService(
        options["settings"],
        reactor,
        subscribe=tuple(options["subscribe"]),
        strategy=options["strategy"],
        demo=bool(options["demo"]),
        status_interval=options["status-interval"],
        state_dir=options["state-dir"],
    )
    # -- recording market data (issue 15) --
    svc.record_dir = options["record"]
    # -- end of recording --
    return svc
