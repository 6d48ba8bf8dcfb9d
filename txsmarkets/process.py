"""What the processes txsmarkets runs itself (the twistd plugins) do at startup."""

from __future__ import annotations

import gc
import signal
import threading
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["freeze_long_lived", "handle_signals"]


def freeze_long_lived() -> None:
    """Collect garbage, then move every object left (modules, classes, descriptors: what
    startup made, which lives as long as the process) out of the collector's sight.

    A full collection then scans only what was made since, instead of a few hundred thousand
    objects: without it, one pauses the reactor for about 15 ms now and then. For a process
    of our own only; an application embedding txsmarkets decides this for itself.
    """
    gc.collect()
    gc.freeze()


def handle_signals(reactor: Any, handlers: Mapping[int, Callable[[int, Any], None]]) -> None:
    """Install ``handlers`` (signal number -> handler) at once, and again once ``reactor``
    runs, over its own SIGTERM and SIGINT handlers.

    twistd opens a plugin's ports before the reactor runs and installs its handlers: a
    signal in between would meet the default action and kill the process (status -15, or
    SIGUSR1's). A handler that needs the reactor should go through ``callFromThread``,
    which runs it once the reactor does. (At once only from the main thread, the one that
    may set handlers.)"""

    def install() -> None:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)

    if threading.current_thread() is threading.main_thread():
        install()
    reactor.callWhenRunning(install)
