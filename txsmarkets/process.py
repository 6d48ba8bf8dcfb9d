"""What the processes txsmarkets runs itself (the twistd plugins) do at startup."""

from __future__ import annotations

import atexit
import difflib
import gc
import os
import pathlib
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from twisted.internet.error import ReactorNotRunning
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads
from twisted.logger import Logger
from twisted.python import usage

_log = Logger()

__all__ = [
    "ENDPOINT_ERRORS", "SetupError", "check_endpoint", "fail_and_exit", "freeze_long_lived", "handle_signals",
    "http_url", "refuse_abbreviations", "stop_on_signal", "stop_reactor", "unknown", "usage_error_line",
    "writable_folder",
]


class SetupError(SystemExit):
    """A setting that cannot work (a missing file, a bad config, an endpoint that is no
    endpoint): ``PROGRAM: message``, one line on stderr and exit status 1.

    Raised from a twistd plugin's ``Options`` or ``makeService``: a
    `twisted.python.usage.UsageError` would have twistd print the whole option list before
    the reason. Each plugin's tap module names its program in a subclass of its own.
    """

    def __init__(self, program: str, message: str) -> None:
        super().__init__(f"{program}: {message}")
        #: The program that could not start, and the reason without the program's name.
        self.program = program
        self.message = message


#: The reactor methods that it installs as its own handlers of these signals as it starts
#: (`twisted.internet.base.ReactorBase.sigTerm` and ``sigInt``).
_REACTOR_HANDLERS = {signal.SIGTERM: "sigTerm", signal.SIGINT: "sigInt"}


def freeze_long_lived() -> None:
    """Collect garbage, then move every object left (modules, classes, descriptors: what
    startup made, which lives as long as the process) out of the collector's sight.

    A full collection then scans only what was made since, instead of a few hundred thousand
    objects: without it, one pauses the reactor for about 15 ms now and then. For a process
    of our own only; an application embedding txsmarkets decides this for itself.
    """
    gc.collect()
    gc.freeze()


def handle_signals(reactor: IReactorCore, handlers: Mapping[int, Callable[[int, Any], None]]) -> None:
    """Make ``handlers`` (signal number -> handler) the process's, from now on and for as
    long as ``reactor`` lives.

    Installed at once: twistd opens a plugin's ports and starts its services before the
    reactor runs, and a signal in between would otherwise meet the default action and kill
    the process. A SIGTERM or SIGINT handler also stands in for the reactor's own
    (``reactor.sigTerm``, ``reactor.sigInt``), which the reactor installs as it starts:
    there is then no moment in which the reactor's handler applies. Its handler stops the
    reactor, which runs the services' stop, but it also has twistd end the process by the
    signal (status -15), whatever the services made of the stop. A handler that needs the
    reactor should go through ``callFromThread``, which runs it once the reactor does.
    (At once only from the main thread, the one that may set handlers.)"""

    def install() -> None:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)

    if threading.current_thread() is threading.main_thread():
        install()
    else:
        reactor.callWhenRunning(install)
    for signum, method in _REACTOR_HANDLERS.items():
        if signum in handlers:
            setattr(reactor, method, handlers[signum])


def stop_reactor(reactor: IReactorCore) -> bool:
    """Stop ``reactor`` (and so the services it hosts: their ``stopService``) now if it
    runs, or as soon as it does; False if it was already stopping."""
    if not reactor.running:
        reactor.callWhenRunning(stop_reactor, reactor)
        return True
    try:
        reactor.stop()
    except ReactorNotRunning:
        return False
    return True


def _exit_status(status: int) -> None:
    # Last of all, once twistd has shut down and removed its pid file: twistd itself has
    # no exit status but 0 or a signal's.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def http_url(option: str, url: str) -> str:
    """``url``, the value of the option ``option`` (``--upstream``), ending in a slash
    (``https://api.smarkets.com/v3/``); ValueError, in one line, if it is no http:// or
    https:// URL."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"{option} must be an http:// or https:// URL, not {url!r}")
    return url if url.endswith("/") else url + "/"


#: What `twisted.internet.endpoints.serverFromString` raises for a string it cannot use
#: (an unknown kind, a port that is no number, a TLS key file that is missing ...).
ENDPOINT_ERRORS = (ValueError, OSError, KeyError, TypeError)


def check_endpoint(reactor: Any, description: str) -> None:
    """Check that ``description`` is a server endpoint string ``reactor`` can listen on
    (without listening); ValueError, in one line naming it, if not."""
    from twisted.internet import endpoints

    try:
        endpoints.serverFromString(reactor, description)
    except ENDPOINT_ERRORS as e:
        raise ValueError(f"cannot use the endpoint {description!r}: {e}") from None


def writable_folder(path: str | os.PathLike[str], what: str) -> pathlib.Path:
    """The folder ``path`` (``what`` it is for, as a log line says it: ``"the recording
    folder"``), made with its parents if missing; ValueError, in one line, if it cannot
    be made or written in."""
    folder = pathlib.Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot make {what} {folder}: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"cannot write in {what} {folder}")
    return folder


def fail_and_exit(reactor: IReactorCore, program: str, why: str) -> None:
    """Say ``PROGRAM: why`` on stderr, stop ``reactor``, and exit 1 once it has shut down:
    what a daemon does for a fault found once running (a port it cannot listen on)."""
    # To the process's own stderr: twistd has pointed sys.stderr at its log.
    os.write(2, f"{program}: {why}\n".encode())
    atexit.register(_exit_status, 1)
    stop_reactor(reactor)


def stop_on_signal(reactor: IReactorCore) -> Callable[[int, Any], None]:
    """A signal handler (for `handle_signals`) that stops ``reactor`` with `stop_reactor`;
    a signal that comes while it is already stopping is only logged."""

    def stop(signum: int) -> None:
        name = signal.Signals(signum).name
        if stop_reactor(reactor):
            _log.info("{signal} received: stopping", signal=name)
        else:
            _log.info("{signal} received: already stopping", signal=name)

    def handler(signum: int, frame: Any) -> None:
        # Nothing but a hand-over: the handler may run between any two bytecodes.
        IReactorFromThreads(reactor).callFromThread(stop, signum)

    return handler


def unknown(what: str, given: str, known: Iterable[str]) -> str:
    """``unknown WHAT GIVEN``, with the nearest of ``known`` if one is near: the one line a
    daemon says for a mistyped option or config key."""
    nearest = difflib.get_close_matches(given, list(known), n=1)
    return f"unknown {what} {given}" + (f" (did you mean {nearest[0]}?)" if nearest else "")


def usage_error_line(options: Any, error: Exception) -> str:
    """What a `twisted.python.usage.UsageError` from ``options.parseOptions`` says, as one
    line: an unknown option names the nearest known one."""
    text = str(error)
    found = re.fullmatch(r"option (-{1,2}[^ ]+) not recognized", text)
    if found is None:
        return text
    known = [f"--{name.rstrip('=')}" for name in options.longOpt]
    return unknown("option", found.group(1), known)


def refuse_abbreviations(options: usage.Options, args: Sequence[str]) -> None:
    """Raise a `twisted.python.usage.UsageError` for a long option of ``args`` (what
    ``options.parseOptions`` is given) that is not a whole option name of ``options`` but
    the start of one or more: ``unknown option --password (did you mean
    --password-file?)``.

    getopt, under ``usage.Options``, takes any unique start of a long option for the
    option: ``--password hunter2`` would be ``--password-file hunter2``, and the error
    about that file would show the password. Whole names only, then, for every option
    (none is documented abbreviated). The walk is getopt's: it ends at the first argument
    that is no option, or at ``--``, and skips each option's value."""
    if len(args) > 1 and args[-2] == "--_shell-completion":
        # Twisted's shell completion parses an unfinished command line itself.
        return
    takes_value = {name[:-1] for name in options.longOpt if name.endswith("=")}
    names = {name.rstrip("=") for name in options.longOpt}
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg == "--" or not arg.startswith("-") or arg == "-":
            return
        if arg.startswith("--"):
            name, equals, _ = arg[2:].partition("=")
            if name in names:
                if name in takes_value and not equals:
                    position += 1
                continue
            started = sorted(f"--{whole}" for whole in names if name and whole.startswith(name))
            if started:
                choices = " or ".join(filter(None, [", ".join(started[:-1]), started[-1]]))
                raise usage.UsageError(f"unknown option --{name} (did you mean {choices}?)")
            # Unknown altogether: getopt says so, with the nearest name (usage_error_line).
            return
        # A cluster of short options: the first that takes a value takes the rest, or the
        # next argument.
        for index, letter in enumerate(arg[1:], start=1):
            if letter + ":" in options.shortOpt:
                if index == len(arg) - 1:
                    position += 1
                break
