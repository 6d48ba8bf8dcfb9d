"""``twistd smarkets``: the command line of the session daemon.

The password comes from ``--password-file`` or the ``SMARKETS_PASSWORD`` environment
variable, never from the command line (where ``ps`` would show it). ``--config FILE`` reads
an INI file (``[smarkets]`` section, ``[inherit] from=`` supported) whose keys are the long
option names (flags take yes/no); paths in it are relative to the file; the command line
wins over it. Anything wrong before connecting is one line and exit status 1.
"""

from __future__ import annotations

import configparser
import os
import pathlib
import sys
from typing import Any

from twisted.application import service
from twisted.python import usage

from txsmarkets.client.endpoints import check_host, load_ca_file
from txsmarkets.client.settings import SessionSettings
from txsmarkets.configuration import ConfigurationReader
from txsmarkets.errors import Error
from txsmarkets.persistence.state import StateDirectory, StateError
from txsmarkets.client.controls import Controls, InvalidControls
from txsmarkets.daemon.service import EXIT_STATUSES, SmarketsService, exit_with_status, install_signal_handlers
from txsmarkets import process
from txsmarkets.process import http_url, refuse_abbreviations, unknown, usage_error_line
from txsmarkets.strategy import load_strategy, parse_params

#: Options whose value is a path: in a config file, relative to that file.
_PATH_KEYS = frozenset({"password-file", "token-file", "ca-file", "state-dir", "record"})
_TRUE = frozenset({"1", "yes", "true", "on"})
_FALSE = frozenset({"0", "no", "false", "off", ""})
_DEFAULT_STATUS_INTERVAL = 60.0
#: What the session may trade on in this process, instead of an exchange it connects to.
_IN_PROCESS = ("http-api", "paper", "demo")
#: The options that say how to reach an exchange elsewhere.
_CONNECTION = ("host", "port", "no-tls", "ca-file")
#: The options that say whom to log in as.
_LOGIN = ("username", "password-file", "token-file")
#: Of those, the flags.
_FLAGS = frozenset({"no-tls"})
#: What the session reaches in this process, by the option that runs it there.
_WHERE = {"demo": "the embedded exchange", "http-api": "the bridge", "paper": "the paper exchange"}


class SetupError(process.SetupError):
    """A `txsmarkets.process.SetupError` of ``twistd smarkets``."""

    def __init__(self, message: str) -> None:
        super().__init__("twistd smarkets", message)


def _read_secret(path: str, option: str) -> str:
    """The secret in the file ``path``, the value of ``--OPTION`` (``password-file``);
    SetupError if it cannot be read or is empty.

    The error names the option, never its value: a password typed where its file's name
    goes (``--password-file hunter2``) would otherwise be shown in the log."""
    what = f"the file of --{option}"
    try:
        secret = pathlib.Path(path).read_text().strip()
    except OSError as e:
        raise SetupError(f"cannot read {what}: {e.strerror or type(e).__name__}") from None
    except UnicodeDecodeError:
        # Not the codec's message: it quotes a byte of the file.
        raise SetupError(f"{what} is not UTF-8 text") from None
    if not secret:
        raise SetupError(f"{what} is empty")
    return secret


def exit_status_table() -> str:
    """The exit statuses, one a line, as ``--help`` and the daemon guide give them."""
    return "\n".join(f"  {status}  {meaning}" for status, meaning in EXIT_STATUSES)


class _KeepsCase(configparser.ConfigParser):
    """A config file whose keys keep their case (``[params]``: a strategy's names)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


class Options(usage.Options):
    """Command-line options of ``twistd smarkets``."""

    optFlags = [
        ["no-tls", None, "Plaintext, for a local exchange only (TLS is the default)."],
        ["demo", None, "Start the embedded exchange here and trade on it as the demo account."],
        ["cancel-on-exit", None, "On SIGTERM/SIGINT, cancel every live order (and wait for it) before logging out."],
        ["cancel-on-disconnect", None, "After every login, ask the exchange to cancel our orders if the session dies."],
        ["stop-on-strategy-error", None, "Cancel the orders, log out and exit 4 when a strategy hook raises."],
        ["reset-state", None, "Discard the state folder's session and journal: start a new session on purpose."],
    ]
    optParameters = [
        ["host", None, "stream.smarkets.com", "Streaming API host."],
        ["port", None, 3801, "Streaming API port."],
        ["username", "u", None, "Account username."],
        ["password-file", None, None, "File holding the password (or set SMARKETS_PASSWORD)."],
        ["token-file", None, None, "File holding a session token to log in with instead."],
        ["ca-file", None, None, "PEM file of the certificate authority to trust."],
        ["config", "c", None, "INI file with these options in a [smarkets] section."],
        ["strategy", None, None, "module:Class (a txsmarkets.strategy.Strategy) or module:callable, run once."],
        ["state-dir", None, None, "Folder for the session, the account and the journal (resume across restarts)."],
        ["status-interval", None, _DEFAULT_STATUS_INTERVAL, "Seconds between status lines (positive)."],
        ["max-retries", None, None, "Give up (exit 3) after this many failed connection attempts (default: never)."],
        ["metrics", None, None, "Serve the status figures for Prometheus on this endpoint (tcp:9108:interface=127.0.0.1)."],
        ["record", None, None, "Folder to record market data in, for twistd smarkets-exchange --replay."],
        ["http-api", None, None, "Trade on Smarkets' HTTP API at this URL (https://api.smarkets.com/v3/) through a bridge in this process."],
        ["paper", None, None, "Paper trading in this process: --markets on the public prices polled from this HTTP API (https://api.smarkets.com/v3/)."],
        ["markets", None, None, "With --paper: the upstream's market ids to trade, comma-separated (subscribed unless --subscribe says)."],
        ["poll-interval", None, None, "With --paper: seconds between polls of the quotes and last executed prices (default 2)."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["subscribe"] = []
        self["param"] = []
        self._given: set[str] = set()
        #: What the config file set.
        self._from_file: set[str] = set()

    def parseOptions(self, options: list[str] | None = None) -> None:
        try:
            # Whole option names only: --password would be --password-file otherwise.
            refuse_abbreviations(self, sys.argv[1:] if options is None else options)
            super().parseOptions(options)
        except usage.UsageError as e:
            # One line: twistd would print the whole option list first.
            raise SetupError(usage_error_line(self, e)) from None

    def getUsage(self, width: int | None = None) -> str:
        return super().getUsage(width) + "\nExit statuses:\n" + exit_status_table() + "\n"

    def opt_subscribe(self, market_id: str) -> None:
        """Subscribe to a market's quotes (repeatable)."""
        try:
            self["subscribe"].append(int(market_id))
        except ValueError:
            raise SetupError(f"--subscribe takes a market id, not {market_id!r}") from None

    def opt_param(self, text: str) -> None:
        """A strategy parameter, NAME=VALUE (repeatable), read as the backtest reads it."""
        self["param"].append(text)

    def __setitem__(self, key: str, value: Any) -> None:
        # Remember what the command line set, so that a config file does not override it.
        if hasattr(self, "_given"):
            self._given.add(key)
        super().__setitem__(key, value)

    def _from_config(self) -> None:
        path = pathlib.Path(self["config"]).resolve()
        if not path.is_file():
            raise SetupError(f"no config file {self['config']!r}")
        flags = {str(flag[0]) for flag in self.optFlags}
        parameters = {str(parameter[0]) for parameter in self.optParameters} - {"config"}  # type: ignore[index]
        try:
            config = ConfigurationReader([str(path.parent)], _KeepsCase).read(path.name)
            if not config.has_section("smarkets"):
                raise SetupError(f"config file {self['config']!r} has no [smarkets] section")
            # Option and control names in any case, as configparser takes them; a
            # strategy's parameter names as written.
            items = [(key.lower(), value) for key, value in config.items("smarkets")]
            controls = {key.lower(): value for key, value in config.items("controls")} if config.has_section("controls") else None
            params = [f"{name}={value}" for name, value in config.items("params")] if config.has_section("params") else []
        except (Error, configparser.Error, ValueError, OSError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SetupError(f"config file {self['config']!r} is not a valid INI file: {reason}") from None
        # The command line's --param go after the file's: of a name given in both, it wins.
        given = {text.partition("=")[0].strip() for text in self["param"]}
        self["param"][:0] = [text for text in params if text.partition("=")[0].strip() not in given]
        if controls is not None:
            try:
                self["controls"] = Controls.from_config(controls)
            except InvalidControls as e:
                raise SetupError(f"config file {self['config']!r}: [controls]: {e}") from None
        for key, value in items:
            self._from_file.add(key)
            if key == "subscribe":
                if "subscribe" not in self._given or not self["subscribe"]:
                    for market in value.split():
                        self.opt_subscribe(market)
            elif key in flags:
                word = value.strip().lower()
                if word not in _TRUE | _FALSE:
                    raise SetupError(f"config file {self['config']!r}: {key} takes yes or no, not {value!r}")
                if key not in self._given:
                    dict.__setitem__(self, key, 1 if word in _TRUE else 0)
            elif key in parameters:
                if key not in self._given:
                    if key in _PATH_KEYS:
                        value = str(path.parent / value)
                    dict.__setitem__(self, key, value)
            else:
                known = flags | parameters | {"subscribe"}
                raise SetupError(f"config file {self['config']!r}: {unknown('key', key, sorted(known))}")

    def _numbers(self) -> None:
        try:
            dict.__setitem__(self, "port", int(self["port"]))
        except ValueError:
            raise SetupError(f"--port takes a number, not {self['port']!r}") from None
        if not 1 <= self["port"] <= 65535:
            raise SetupError(f"--port must be in 1..65535, not {self['port']}")
        try:
            dict.__setitem__(self, "status-interval", float(self["status-interval"]))
        except ValueError:
            raise SetupError(f"--status-interval takes a number of seconds, not {self['status-interval']!r}") from None
        if not self["status-interval"] > 0 or self["status-interval"] == float("inf"):
            raise SetupError(f"--status-interval must be a positive number of seconds, not {self['status-interval']}")
        if self["max-retries"] is not None:
            try:
                dict.__setitem__(self, "max-retries", int(self["max-retries"]))
            except ValueError:
                raise SetupError(f"--max-retries takes a number, not {self['max-retries']!r}") from None
            if self["max-retries"] < 0:
                raise SetupError(f"--max-retries must be 0 or more, not {self['max-retries']}")

    def _state_folder(self) -> None:
        try:
            os.makedirs(self["state-dir"], mode=0o700, exist_ok=True)
            state = StateDirectory(self["state-dir"])
        except OSError as e:
            raise SetupError(f"cannot use the state folder {self['state-dir']!r}: {e.strerror or e}") from None
        try:
            if self["reset-state"]:
                state.reset()
            state.check()
        except StateError as e:
            raise SetupError(f"{e} (start with --reset-state to begin a new session)") from None
        except OSError as e:
            raise SetupError(f"cannot use the state folder {self['state-dir']!r}: {e.strerror or e}") from None
        finally:
            state.close()

    def _connection(self) -> None:
        """Check the options that say how to reach the exchange: a host that can be
        connected to, and a CA file that holds a PEM certificate (`check_host`,
        `load_ca_file`); found once connecting, each would be retried for ever."""
        try:
            check_host(self["host"])
        except ValueError as e:
            raise SetupError(f"--host: {e}") from None
        if self["ca-file"]:
            if not os.path.isfile(self["ca-file"]):
                raise SetupError(f"no CA file {self['ca-file']!r}")
            try:
                load_ca_file(self["ca-file"])
            except Error as e:
                raise SetupError(str(e)) from None

    def _in_process(self) -> str | None:
        """Check the options of what the session trades on in this process (``--demo``,
        ``--http-api``, ``--paper``: one at most); return the one given, if any."""
        given = [name for name in _IN_PROCESS if self[name]]
        if len(given) > 1:
            raise SetupError(f"{' and '.join('--' + name for name in given)} cannot go together: each says what to trade on")
        for name in ("markets", "poll-interval"):
            if self[name] is not None and not self["paper"]:
                raise SetupError(f"--{name} goes with --paper")
        if not given:
            return None
        mode = given[0]
        if mode != "demo":
            try:
                dict.__setitem__(self, mode, http_url(f"--{mode}", self[mode]))
            except ValueError as e:
                raise SetupError(str(e)) from None
        # What would reach an exchange elsewhere means nothing here: said, not ignored.
        set_here = self._given | self._from_file
        # A flag counts when on (a config file may say no); a parameter when given at all.
        ignored = [name for name in _CONNECTION if name in set_here and (self[name] or name not in _FLAGS)]
        if ignored:
            names = " and ".join("--" + name for name in ignored)
            raise SetupError(
                f"--{mode} and {names} cannot go together: the session reaches {_WHERE[mode]} in this process"
            )
        if mode == "paper":
            self._paper()
        if mode == "http-api" and "token-file" in set_here:
            # Read first, the token would leave the password unread, and the error blame it.
            raise SetupError("--http-api and --token-file cannot go together: the bridge logs in upstream with a password")
        if mode != "http-api":
            # The demo and the paper exchange have one account the session logs in as.
            logins = [name for name in _LOGIN if name in set_here]
            if logins:
                names = " and ".join("--" + name for name in logins)
                raise SetupError(f"--{mode} and {names} cannot go together: {mode} trades as the demo account")
        return mode

    def _paper(self) -> None:
        """Check ``--paper``'s own options."""
        from txsmarkets.exchange.upstream import parse_market_ids

        if self["markets"] is None:
            raise SetupError("--paper needs --markets ID,ID,...")
        try:
            dict.__setitem__(self, "markets", parse_market_ids(self["markets"]))
        except ValueError as e:
            raise SetupError(str(e)) from None
        if self["poll-interval"] is not None:
            try:
                interval = float(self["poll-interval"])
            except ValueError:
                interval = float("nan")
            if not 0 < interval < float("inf"):
                raise SetupError(f"--poll-interval must be a positive number of seconds, not {self['poll-interval']!r}")
            dict.__setitem__(self, "poll-interval", interval)

    def postOptions(self) -> None:
        if self["config"]:
            self._from_config()
        self._numbers()
        try:
            params = parse_params(self["param"])
        except ValueError as e:
            raise SetupError(f"--param: {e}") from None
        if params and not (self["strategy"] or self["demo"]):
            raise SetupError("--param sets the parameters of a --strategy: give one")
        if self["strategy"]:
            try:
                # Loaded here, once for the process: a typo fails before anything connects.
                self["strategy"] = load_strategy(self["strategy"], params)
            except ValueError as e:
                raise SetupError(str(e)) from None
        if self["state-dir"]:
            self._state_folder()
        if self["record"]:
            try:
                os.makedirs(self["record"], exist_ok=True)
            except OSError as e:
                raise SetupError(f"cannot record in {self['record']!r}: {e.strerror or e}") from None
        if self["metrics"]:
            from txsmarkets.daemon.metrics import available

            if not available():
                raise SetupError(
                    "--metrics needs prometheus_client"
                    " (the metrics extra: pip install -e '.[metrics]' in a clone of the repository)"
                )
        # Taken out of the environment whatever the session logs in with (the demo account
        # takes none), so that no child process inherits it.
        environment_password = os.environ.pop("SMARKETS_PASSWORD", None)
        mode = self._in_process()
        if mode == "paper":
            # The paper exchange's accounts are the demo's.
            self["settings"] = SessionSettings("demo", "demo", ssl=False, host="127.0.0.1", port=0)
            if not self["subscribe"]:
                self["subscribe"] = list(self["markets"])
            return
        if mode == "demo":
            from txsmarkets.daemon.demo import DemoStrategy

            self["settings"] = SessionSettings("demo", "demo", ssl=False, host="127.0.0.1", port=0)
            if not self["subscribe"]:
                self["subscribe"] = [1, 2]
            if not self["strategy"]:
                self["strategy"] = DemoStrategy(params)
            if "status-interval" not in self._given | self._from_file:
                self["status-interval"] = min(self["status-interval"], 10.0)
            return
        self._connection()
        token = None
        password = None
        if self["token-file"]:
            token = _read_secret(self["token-file"], "token-file")
        elif self["password-file"]:
            password = _read_secret(self["password-file"], "password-file")
        else:
            password = environment_password
        if self["http-api"] and (token is not None or not (self["username"] and password)):
            raise SetupError("--http-api logs in upstream: give --username with --password-file or SMARKETS_PASSWORD")
        if token is None and not (self["username"] and password):
            raise SetupError("give --username with --password-file or SMARKETS_PASSWORD, or --token-file, or --demo")
        self["settings"] = SessionSettings(
            self["username"],
            password,
            token=token,
            host=self["host"],
            port=self["port"],
            ssl=not self["no-tls"],
            ca_file=self["ca-file"],
            # A daemon keeps trying, from the very first attempt: the exchange may not be up yet.
            fail_fast=False,
            max_retries=self["max-retries"],
        )


def makeService(options: Options) -> service.IService:
    from twisted.internet import reactor

    from txsmarkets.process import freeze_long_lived

    reactor.callWhenRunning(freeze_long_lived)
    svc = SmarketsService(
        options["settings"],
        reactor,
        subscribe=tuple(options["subscribe"]),
        strategy=options["strategy"],
        demo=bool(options["demo"]),
        http_api=options["http-api"],
        paper=options["paper"],
        markets=tuple(options["markets"] or ()),
        paper_options={"interval": options["poll-interval"]} if options["poll-interval"] is not None else None,
        status_interval=options["status-interval"],
        state_dir=options["state-dir"],
        record_dir=options["record"],
        cancel_on_exit=bool(options["cancel-on-exit"]),
        cancel_on_disconnect=bool(options["cancel-on-disconnect"]),
        stop_on_strategy_error=bool(options["stop-on-strategy-error"]),
        metrics=options["metrics"],
        controls=options.get("controls"),
    )
    exit_with_status(svc)
    install_signal_handlers(reactor, svc)
    return svc
