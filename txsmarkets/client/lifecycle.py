"""The client session's lifecycle: its states, the events that move it, and what is allowed.

A `Session` is in exactly one `SessionState` at a time, and moves only by the
`TRANSITIONS` table: the table is the one place that says, for instance, that a session
that has logged out may connect again while one refused for good may not. The per-message
path never consults it; it changes a few times per connection.

Also here: what each logout reason the exchange can send means for the session.
"""

from __future__ import annotations

import enum

from txsmarkets.wire import eto_pb2

__all__ = [
    "FATAL_LOGOUTS",
    "RETRYABLE_LOGOUTS",
    "Event",
    "IllegalTransition",
    "SessionState",
    "TRANSITIONS",
    "logout_reason_name",
    "next_state",
]


class SessionState(enum.Enum):
    """Where a client session is in its life."""

    #: Not connected and not trying to: new, or after ``disconnect()`` (resumable).
    IDLE = "idle"
    #: A connection attempt is under way.
    CONNECTING = "connecting"
    #: Connected; a login for a new session is sent and its answer awaited.
    LOGGING_IN = "logging in"
    #: Connected; a login resuming the known session is sent and its answer awaited.
    RESUMING = "resuming"
    #: Logged in: requests may be sent.
    LOGGED_IN = "logged in"
    #: The connection is gone (or was refused); the next attempt follows after a backoff.
    WAITING_TO_RETRY = "waiting to retry"
    #: Our logout is sent; waiting for the exchange to confirm and the connection to close.
    LOGGING_OUT = "logging out"
    #: Logged out cleanly. ``connect()`` starts a new session.
    CLOSED = "closed"
    #: Ended by an error that retrying cannot mend (refused login, no exchange at the
    #: first attempt, given up retrying). ``connect()`` errbacks with `SessionClosed`.
    FAILED = "failed"


class Event(enum.Enum):
    """What can happen to a session."""

    #: ``connect()`` was asked for and a connection attempt begins.
    CONNECT = "connect"
    #: A connection is made and a login for a new session sent on it.
    LOGIN_SENT = "login sent"
    #: A connection is made and a login resuming the session sent on it.
    RESUME_SENT = "resume sent"
    #: The exchange answered the login.
    LOGGED_IN = "logged in"
    #: The connection closed, an attempt failed, or the exchange ended the session: retry.
    LOST = "lost"
    #: ``logout()`` was asked for while logged in (or the exchange confirmed a logout).
    LOGOUT = "logout"
    #: The logout is complete and the connection closed.
    LOGGED_OUT = "logged out"
    #: ``disconnect()``: drop the connection and stop, keeping the session resumable.
    DISCONNECT = "disconnect"
    #: An error retrying cannot mend.
    FAIL = "fail"


S = SessionState
E = Event
_CONNECTED = (S.LOGGING_IN, S.RESUMING, S.LOGGED_IN)
_LIVE = (S.CONNECTING, *_CONNECTED, S.WAITING_TO_RETRY)

#: (state, event) -> the next state. A pair not in the table is a bug in the caller.
TRANSITIONS: dict[tuple[SessionState, Event], SessionState] = {
    **{(s, E.CONNECT): S.CONNECTING for s in (S.IDLE, S.CLOSED)},
    # A protocol may be handed a connection without connect() (a test's in-memory pump).
    **{(s, E.LOGIN_SENT): S.LOGGING_IN for s in (S.IDLE, S.CONNECTING, S.WAITING_TO_RETRY)},
    **{(s, E.RESUME_SENT): S.RESUMING for s in (S.IDLE, S.CONNECTING, S.WAITING_TO_RETRY)},
    # LOGGED_IN again: a peer that numbers anew may answer a second time.
    **{(s, E.LOGGED_IN): S.LOGGED_IN for s in _CONNECTED},
    **{(s, E.LOST): S.WAITING_TO_RETRY for s in _LIVE},
    **{(s, E.LOGOUT): S.LOGGING_OUT for s in (S.IDLE, *_CONNECTED, S.WAITING_TO_RETRY, S.LOGGING_OUT)},
    **{(s, E.LOGGED_OUT): S.CLOSED for s in (S.IDLE, *_LIVE, S.LOGGING_OUT, S.CLOSED)},
    **{(s, E.DISCONNECT): S.IDLE for s in (S.IDLE, *_LIVE)},
    **{(s, E.FAIL): S.FAILED for s in (S.IDLE, *_LIVE, S.FAILED)},
    # A logout under way that fails (say, the exchange refuses it) still ends the session.
    (S.LOGGING_OUT, E.FAIL): S.FAILED,
}


class IllegalTransition(RuntimeError):
    """An event that the session's state does not allow: a bug in txsmarkets."""


def next_state(state: SessionState, event: Event) -> SessionState:
    """The state after ``event`` in ``state``; raises `IllegalTransition` if not allowed."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise IllegalTransition(f"{event.value!r} is not allowed while {state.value}") from None


#: Logout reasons after which logging in again cannot help: the session stops for good.
FATAL_LOGOUTS = frozenset(
    {eto_pb2.LOGOUT_UNAUTHORISED, eto_pb2.LOGOUT_LOGIN_NOT_FIRST_SEQ, eto_pb2.LOGOUT_UNVERIFIED}
)
#: Logout reasons after which the client reconnects with backoff.
RETRYABLE_LOGOUTS = frozenset(
    {
        eto_pb2.LOGOUT_HEARTBEAT_TIMEOUT,
        eto_pb2.LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE,
        eto_pb2.LOGOUT_DOWNTIME,
        eto_pb2.LOGOUT_LOGIN_TIMEOUT,
        eto_pb2.LOGOUT_UNKNOWN_SESSION,
    }
)


def logout_reason_name(reason: int) -> str:
    """The enum name of an eto logout reason (``LOGOUT_UNAUTHORISED``)."""
    try:
        return eto_pb2.LogoutReason.Name(reason)
    except ValueError:
        return f"LOGOUT_{reason}"
