"""The client session's lifecycle: its states, and the machine that moves between them.

A `Session` is in exactly one `SessionState` at a time. `Lifecycle` is an automat
machine: `MOVES` says, for each input (something that happened to the session), from which
states it moves to which, and what is done on the way (the outputs, carried out by the
session through `LifecycleActions`). An input in a state that `MOVES` does not list for it
is a bug in the caller and raises `automat.NoTransition`; an input that is to be ignored in
some state is listed there, with the outputs that say so. The per-message path never
consults it; it changes a few times per connection.

Also here: what each logout reason the exchange can send means for the session.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from automat import MethodicalMachine
from twisted.python.failure import Failure

from txsmarkets.client.protocol import ClientSessionMixin
from txsmarkets.wire import eto_pb2, seto_pb2

__all__ = [
    "FATAL_LOGOUTS",
    "Lifecycle",
    "LifecycleActions",
    "MOVES",
    "Move",
    "RETRYABLE_LOGOUTS",
    "SessionState",
    "logout_reason_name",
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


S = SessionState
_CONNECTED = (S.LOGGING_IN, S.RESUMING, S.LOGGED_IN)
_LIVE = (S.CONNECTING, *_CONNECTED, S.WAITING_TO_RETRY)
_ENDED = (S.LOGGING_OUT, S.CLOSED, S.FAILED)


@dataclass(frozen=True)
class Move:
    """Upon ``input`` in any of ``sources``: enter ``target`` (None: stay), doing ``outputs``
    (`LifecycleActions` method names, in order)."""

    input: str
    sources: tuple[SessionState, ...]
    target: SessionState | None
    outputs: tuple[str, ...] = ()


#: Every move of the lifecycle: `Lifecycle` is built from it. ``announce`` is where the
#: session tells its ``on_state`` observers (a no-op when the state stayed).
MOVES: tuple[Move, ...] = (
    Move("connect", (S.IDLE, S.CLOSED), S.CONNECTING, ("announce", "start_connecting")),
    # Already under way (or ending: whoever waits hears of it at the end).
    Move("connect", (*_LIVE, S.LOGGING_OUT), None),
    # A connection may also be handed to the session without connect() (a test's pump).
    Move("login_sent", (S.IDLE, S.CONNECTING, S.WAITING_TO_RETRY), S.LOGGING_IN, ("take_connection", "announce")),
    Move("resume_sent", (S.IDLE, S.CONNECTING, S.WAITING_TO_RETRY), S.RESUMING, ("take_connection", "announce")),
    # An attempt that was under way when the session stopped, or one too many.
    Move("login_sent", (*_CONNECTED, *_ENDED), None, ("refuse_connection",)),
    Move("resume_sent", (*_CONNECTED, *_ENDED), None, ("refuse_connection",)),
    # LOGGED_IN again: a peer that numbers anew may answer a second time.
    Move("login_answered", _CONNECTED, S.LOGGED_IN, ("take_login", "announce", "logged_in")),
    # An answer to a login given up on (logout() came first): the connection is closing.
    Move("login_answered", (S.IDLE, S.CONNECTING, S.WAITING_TO_RETRY, *_ENDED), None, ("not_taken_up",)),
    Move("ended_by_exchange", _CONNECTED, S.WAITING_TO_RETRY, ("forget_session", "announce")),
    Move("ended_by_exchange", (S.WAITING_TO_RETRY,), None, ("forget_session",)),
    Move("ended_by_exchange", (S.IDLE, S.CONNECTING, S.CLOSED, S.FAILED), None),
    # The connection stays up for the exchange's confirmation (its service would close it):
    # its end, confirmed or not, ends the session and stops the retrying.
    Move("logout", (S.LOGGED_IN,), S.LOGGING_OUT, ("announce", "send_logout")),
    # Connected but not logged in: there is no session to log out of; close.
    Move("logout", (S.LOGGING_IN, S.RESUMING), S.LOGGING_OUT, ("announce", "end_session", "drop_connection")),
    Move("logout", (S.IDLE, S.CONNECTING, S.WAITING_TO_RETRY, S.CLOSED), S.CLOSED, ("end_session", "announce", "answer_logout")),
    Move("logout", (S.LOGGING_OUT, S.FAILED), None),
    # The exchange confirmed a logout (or logged us out while we were logging out).
    Move("logged_out", (*_CONNECTED, S.LOGGING_OUT), S.LOGGING_OUT, ("announce", "end_session", "drop_connection")),
    Move("logged_out", (S.IDLE, S.CONNECTING, S.WAITING_TO_RETRY, S.CLOSED, S.FAILED), None, ("end_session", "drop_connection")),
    # The current connection closed.
    Move("closed", (S.IDLE, S.CLOSED, S.FAILED), None, ("tell_disconnect", "answer_logout")),
    Move("closed", (S.LOGGING_OUT,), S.CLOSED, ("tell_disconnect", "end_session", "announce", "answer_logout")),
    Move("closed", _LIVE, S.WAITING_TO_RETRY, ("tell_disconnect", "announce")),
    # The very first connection closed before any login answer (a TLS certificate
    # refused, a plaintext peer, a server that hangs up, no answer in time): retrying
    # will not help.
    Move(
        "closed_before_login",
        (S.LOGGING_IN,),
        S.FAILED,
        ("tell_disconnect", "stop_trying", "announce", "fail_waiters", "drop_connection"),
    ),
    # A connection attempt failed; the next follows after the backoff.
    Move("attempt_failed", (S.CONNECTING, S.WAITING_TO_RETRY), S.WAITING_TO_RETRY, ("announce",)),
    Move("attempt_failed", (S.IDLE, *_CONNECTED, *_ENDED), None),
    # An error that retrying cannot mend.
    Move("fail", (S.IDLE, *_LIVE, S.LOGGING_OUT, S.FAILED), S.FAILED, ("stop_trying", "announce", "fail_waiters", "drop_connection")),
    Move("fail", (S.CLOSED,), None, ("already_ended", "stop_trying", "fail_waiters", "drop_connection")),
    # disconnect(): drop the connection and stop, keeping the session resumable.
    Move("disconnect", (S.IDLE, *_LIVE), S.IDLE, ("stop_trying", "announce", "let_go")),
    Move("disconnect", _ENDED, None, ("stop_trying",)),
)


class LifecycleActions(Protocol):
    """What a `Lifecycle` has its session do on its moves (the outputs of `MOVES`)."""

    def announce(self) -> None:
        """Tell the observers of the state, if it changed since last told."""

    def start_connecting(self) -> None:
        """Begin connecting, and reconnecting with backoff."""

    def stop_trying(self) -> None:
        """Stop connecting and reconnecting."""

    def take_connection(self, protocol: ClientSessionMixin) -> bool:
        """Make ``protocol`` the session's connection; returns True (log in on it)."""

    def refuse_connection(self, protocol: ClientSessionMixin) -> bool:
        """Drop ``protocol``'s connection; returns False (do not log in on it)."""

    def take_login(self, payload: seto_pb2.Payload) -> None:
        """Take up the session id and seqs of a login's answer ``payload``."""

    def logged_in(self, payload: seto_pb2.Payload) -> None:
        """Tell whoever listens that the login answered by ``payload`` is done."""

    def not_taken_up(self, payload: seto_pb2.Payload) -> None:
        """Say that a login's answer ``payload`` came too late to be taken up."""

    def forget_session(self, reason: int) -> None:
        """The exchange ended the session with logout ``reason``: the next login is new."""

    def send_logout(self) -> None:
        """Send our logout on the connection."""

    def end_session(self) -> None:
        """Stop; the session id is forgotten and whoever waits for a login is told."""

    def drop_connection(self) -> None:
        """Close the connection if there is one; otherwise the logout is done."""

    def answer_logout(self) -> None:
        """Whoever waits for the logout may go."""

    def tell_disconnect(self, reason: Failure) -> None:
        """Tell the ``on_disconnect`` observers that the connection ended with ``reason``."""

    def fail_waiters(self, error: Exception) -> None:
        """Errback whoever waits for a login with ``error``."""

    def already_ended(self, error: Exception) -> None:
        """Say that ``error`` came after the session had ended."""

    def let_go(self) -> None:
        """Let go of the connection at once, and close it."""


class Lifecycle:
    """The automat machine of a session's life: call an input (``connect``, ``closed``,
    ``fail`` ...) when it happens; the machine moves by `MOVES` and has ``actions`` carry out
    the outputs. ``state`` is the `SessionState` it is in. An input that `MOVES` does not
    allow in the current state raises `automat.NoTransition`."""

    _machine = MethodicalMachine()

    def __init__(self, actions: LifecycleActions) -> None:
        self._actions = actions

    @property
    def state(self) -> SessionState:
        """Where the session is in its life."""
        return self._serialize()

    @_machine.serializer()
    def _serialize(self, state: SessionState) -> SessionState:
        return state

    # -- states -------------------------------------------------------------------------------

    @_machine.state(initial=True, serialized=S.IDLE)
    def _idle(self) -> None:
        "Not connected and not trying to."

    @_machine.state(serialized=S.CONNECTING)
    def _connecting(self) -> None:
        "A connection attempt is under way."

    @_machine.state(serialized=S.LOGGING_IN)
    def _logging_in(self) -> None:
        "A login for a new session is sent."

    @_machine.state(serialized=S.RESUMING)
    def _resuming(self) -> None:
        "A login resuming the session is sent."

    @_machine.state(serialized=S.LOGGED_IN)
    def _logged_in(self) -> None:
        "Logged in."

    @_machine.state(serialized=S.WAITING_TO_RETRY)
    def _waiting(self) -> None:
        "Waiting for the next attempt."

    @_machine.state(serialized=S.LOGGING_OUT)
    def _logging_out(self) -> None:
        "Our logout is sent."

    @_machine.state(serialized=S.CLOSED)
    def _closed(self) -> None:
        "Logged out cleanly."

    @_machine.state(serialized=S.FAILED)
    def _failed(self) -> None:
        "Ended by an error retrying cannot mend."

    # -- inputs -------------------------------------------------------------------------------

    @_machine.input()
    def connect(self) -> None:
        "``connect()`` was asked for."

    @_machine.input()
    def login_sent(self, protocol: ClientSessionMixin) -> None:
        "A connection is made (``protocol``); a login for a new session is to go on it."

    @_machine.input()
    def resume_sent(self, protocol: ClientSessionMixin) -> None:
        "A connection is made (``protocol``); a login resuming the session is to go on it."

    @_machine.input()
    def login_answered(self, payload: seto_pb2.Payload) -> None:
        "The exchange answered the login with ``payload``."

    @_machine.input()
    def ended_by_exchange(self, reason: int) -> None:
        "The exchange logged us out with a retryable ``reason``."

    @_machine.input()
    def logout(self) -> None:
        "``logout()`` was asked for."

    @_machine.input()
    def logged_out(self) -> None:
        "The exchange confirmed a logout."

    @_machine.input()
    def closed(self, reason: Failure) -> None:
        "The current connection closed with ``reason``."

    @_machine.input()
    def closed_before_login(self, reason: Failure, error: Exception) -> None:
        "The first connection closed with ``reason`` before a login answer: fail with ``error``."

    @_machine.input()
    def attempt_failed(self) -> None:
        "A connection attempt failed."

    @_machine.input()
    def fail(self, error: Exception) -> None:
        "An error that retrying cannot mend."

    @_machine.input()
    def disconnect(self) -> None:
        "``disconnect()`` was asked for."

    # -- outputs: the session's actions -----------------------------------------------------

    @_machine.output()
    def _announce(self) -> None:
        self._actions.announce()

    @_machine.output()
    def _start_connecting(self) -> None:
        self._actions.start_connecting()

    @_machine.output()
    def _stop_trying(self) -> None:
        self._actions.stop_trying()

    @_machine.output()
    def _take_connection(self, protocol: ClientSessionMixin) -> bool:
        return self._actions.take_connection(protocol)

    @_machine.output()
    def _refuse_connection(self, protocol: ClientSessionMixin) -> bool:
        return self._actions.refuse_connection(protocol)

    @_machine.output()
    def _take_login(self, payload: seto_pb2.Payload) -> None:
        self._actions.take_login(payload)

    @_machine.output()
    def _logged_in_(self, payload: seto_pb2.Payload) -> None:
        self._actions.logged_in(payload)

    @_machine.output()
    def _not_taken_up(self, payload: seto_pb2.Payload) -> None:
        self._actions.not_taken_up(payload)

    @_machine.output()
    def _forget_session(self, reason: int) -> None:
        self._actions.forget_session(reason)

    @_machine.output()
    def _send_logout(self) -> None:
        self._actions.send_logout()

    @_machine.output()
    def _end_session(self) -> None:
        self._actions.end_session()

    @_machine.output()
    def _drop_connection(self) -> None:
        self._actions.drop_connection()

    @_machine.output()
    def _answer_logout(self) -> None:
        self._actions.answer_logout()

    @_machine.output()
    def _tell_disconnect(self, reason: Failure) -> None:
        self._actions.tell_disconnect(reason)

    @_machine.output()
    def _fail_waiters(self, error: Exception) -> None:
        self._actions.fail_waiters(error)

    @_machine.output()
    def _already_ended(self, error: Exception) -> None:
        self._actions.already_ended(error)

    @_machine.output()
    def _let_go(self) -> None:
        self._actions.let_go()

    # -- the moves, from the table --------------------------------------------------------------

    _states = {
        S.IDLE: _idle,
        S.CONNECTING: _connecting,
        S.LOGGING_IN: _logging_in,
        S.RESUMING: _resuming,
        S.LOGGED_IN: _logged_in,
        S.WAITING_TO_RETRY: _waiting,
        S.LOGGING_OUT: _logging_out,
        S.CLOSED: _closed,
        S.FAILED: _failed,
    }
    _inputs = {
        "connect": connect,
        "login_sent": login_sent,
        "resume_sent": resume_sent,
        "login_answered": login_answered,
        "ended_by_exchange": ended_by_exchange,
        "logout": logout,
        "logged_out": logged_out,
        "closed": closed,
        "closed_before_login": closed_before_login,
        "attempt_failed": attempt_failed,
        "fail": fail,
        "disconnect": disconnect,
    }
    _outputs = {
        "announce": _announce,
        "start_connecting": _start_connecting,
        "stop_trying": _stop_trying,
        "take_connection": _take_connection,
        "refuse_connection": _refuse_connection,
        "take_login": _take_login,
        "logged_in": _logged_in_,
        "not_taken_up": _not_taken_up,
        "forget_session": _forget_session,
        "send_logout": _send_logout,
        "end_session": _end_session,
        "drop_connection": _drop_connection,
        "answer_logout": _answer_logout,
        "tell_disconnect": _tell_disconnect,
        "fail_waiters": _fail_waiters,
        "already_ended": _already_ended,
        "let_go": _let_go,
    }
    for _move in MOVES:
        for _source in _move.sources:
            _states[_source].upon(
                _inputs[_move.input],
                enter=_states[_move.target if _move.target is not None else _source],
                outputs=list(map(_outputs.__getitem__, _move.outputs)),
            )
    del _states, _inputs, _outputs, _move, _source


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
