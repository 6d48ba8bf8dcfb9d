"""The exit statuses of ``twistd smarkets``, as the daemon guide and ``--help`` give them."""

from __future__ import annotations

__all__ = ["EXIT_CONFIG", "EXIT_GAVE_UP", "EXIT_OK", "EXIT_REFUSED", "EXIT_STATUSES", "EXIT_STRATEGY"]

EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_REFUSED = 2
EXIT_GAVE_UP = 3
EXIT_STRATEGY = 4

#: (status, what it means), one a status.
EXIT_STATUSES = (
    (EXIT_OK, "stopped by the operator (SIGTERM/SIGINT) after a clean logout"),
    (EXIT_CONFIG, "bad configuration or state before connecting (options, config file, state folder, CA file)"),
    (EXIT_REFUSED, "refused for good (UNAUTHORISED, LOGIN_NOT_FIRST_SEQ, UNVERIFIED, TLS verification failure, a plaintext exchange without --no-tls)"),
    (EXIT_GAVE_UP, "gave up reconnecting (--max-retries)"),
    (EXIT_STRATEGY, "the strategy failed, with --stop-on-strategy-error"),
)
