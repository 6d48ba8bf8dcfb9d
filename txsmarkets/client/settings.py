"""`SessionSettings`: what a session needs to connect and log in."""

from __future__ import annotations

from typing import Any

__all__ = ["SessionSettings"]


class SessionSettings:
    """What a session needs to connect and log in.

    Give ``username`` and ``password``, or a ``token``. Times are in seconds. ``ssl`` is on by default, with the
    server's hostname verified against the system's trust store, or against ``ca_file``;
    ``ssl=False`` is plaintext, for a local exchange only. ``repr()`` never shows the
    password or token.
    """

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        token: bytes | str | None = None,
        host: str = "stream.smarkets.com",
        port: int = 3801,
        ssl: bool = True,
        socket_timeout: float = 30,
        ssl_kwargs: dict[str, Any] | None = None,
        tcp_nodelay: bool = True,
        *,
        ca_file: str | None = None,
        heartbeat_interval: float = 30.0,
        heartbeat_misses: int = 3,
        request_timeout: float = 30.0,
        replay_capacity: int = 10000,
        reconnect_max_delay: float = 30.0,
        reconnect_initial_delay: float = 0.5,
        reconnect_factor: float = 2.0,
        reconnect_jitter: float = 0.2,
        framing: str = "uleb128",
        fail_fast: bool = True,
        max_retries: int | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.token = token.encode() if isinstance(token, str) else token
        self.host = host
        self.port = port
        self.ssl = ssl
        self.socket_timeout = socket_timeout
        self.ssl_kwargs = dict(ssl_kwargs or {})
        self.tcp_nodelay = tcp_nodelay
        self.ca_file = ca_file or self.ssl_kwargs.get("ca_certs") or self.ssl_kwargs.get("ca_file")
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_misses = heartbeat_misses
        self.request_timeout = request_timeout
        self.replay_capacity = replay_capacity
        #: The backoff between connection attempts: the first retry waits
        #: ``reconnect_initial_delay * reconnect_factor`` seconds, each next one
        #: ``reconnect_factor`` times longer, at most ``reconnect_max_delay``, plus up to
        #: ``reconnect_jitter`` seconds at random.
        self.reconnect_max_delay = reconnect_max_delay
        self.reconnect_initial_delay = reconnect_initial_delay
        self.reconnect_factor = reconnect_factor
        self.reconnect_jitter = reconnect_jitter
        if framing not in ("uleb128", "int32"):
            raise ValueError(f"framing must be 'uleb128' or 'int32', not {framing!r}")
        self.framing = framing
        #: Whether a failure before the first login ends the session (``connect()``
        #: errbacks) instead of being retried: on for an application that wants to hear,
        #: off for a daemon that waits for its exchange to come up.
        self.fail_fast = fail_fast
        if max_retries is not None and max_retries < 0:
            raise ValueError(f"max_retries must be None or >= 0, not {max_retries!r}")
        #: Reconnection attempts in a row before the session fails; None: no limit.
        self.max_retries = max_retries

    def __repr__(self) -> str:
        who = f"username={self.username!r}" if self.username else "token=<hidden>"
        secret = ", password=<hidden>" if self.password else ""
        scheme = "ssl" if self.ssl else "plaintext"
        return f"<SessionSettings {who}{secret} {scheme}://{self.host}:{self.port}>"
