"""The session rules as a table: what each kind of message does, by its verdict and role.

Every payload that does not take the fast path (an application message in order) is
classified by `kind_of`, judged by the `SequenceState` (a `Verdict`), and the role's table
(`CLIENT_RULES` or `EXCHANGE_RULES`) names the `Action` s to take, in order. The two roles
differ in two places only:

- only the client answers heartbeats (two sides that both answered would heartbeat each
  other without end);
- the client acts on a logout that arrives beyond a gap at once (it recovers the gap when
  it resumes), where the exchange first fills the gap (the messages before the logout must
  still reach the application).

A login response that arrives beyond a gap is acted on at once (its session and reset
matter now) but reaches the application only when its seq is filled: by the replayed copy
another exchange may send, or by the gapfill this one sends, as the reference says a replay
must (`Action.HOLD`, `Action.RELEASE`).
"""

from __future__ import annotations

import enum

from txsmarkets.session.sequencer import Verdict
from txsmarkets.wire import eto_pb2, seto_pb2

__all__ = ["CLIENT_RULES", "EXCHANGE_RULES", "Action", "Kind", "Rules", "kind_of"]


class Kind(enum.Enum):
    """What a payload is, as far as the session rules care."""

    LOGIN_RESPONSE = "login response"
    REPLAYED_LOGIN_RESPONSE = "replayed login response"
    LOGOUT = "logout"
    REPLAYED_LOGOUT = "replayed logout"
    REPLAY = "replay request"
    HEARTBEAT = "heartbeat"
    PING = "ping"
    GAPFILL = "gapfill"
    #: Any other session message (a pong, for one).
    SESSION = "session message"
    #: A payload type this schema does not know: its seq counts, nothing is dispatched.
    UNKNOWN = "unknown type"
    #: An application (seto) message.
    APPLICATION = "application message"


class Action(enum.Enum):
    """What the protocol does for a message; `SessionProtocolMixin` carries each out."""

    #: Act on a login response (session id, reset): `SessionProtocolMixin.loginResponseReceived`.
    LOGIN = "login"
    #: Whoever waits for the login may go: `SessionProtocolMixin.loginCompleted`.
    LOGIN_DONE = "login done"
    #: Keep a login response that came beyond a gap until its seq is filled.
    HOLD = "hold"
    #: The seq of a held login response is filled: hand that response on.
    RELEASE = "release"
    #: A replayed login response: hand it on (once), without acting on it again.
    DELIVER_REPLAYED = "deliver replayed"
    #: Act on a logout: `SessionProtocolMixin.logoutReceived`.
    LOGOUT = "logout"
    #: Resend what the peer asks for.
    SERVE_REPLAY = "serve replay"
    #: Ask the peer to resend from the seq we expect.
    ASK_REPLAY = "ask replay"
    #: Answer with a heartbeat.
    ANSWER_HEARTBEAT = "answer heartbeat"
    #: Answer with a pong.
    PONG = "pong"
    #: Hand the message to the application: `SessionProtocolMixin.payloadReceived`.
    DELIVER = "deliver"
    #: Say that a message of an unknown type was skipped.
    WARN_UNKNOWN = "warn unknown"


Rules = dict[tuple[Kind, Verdict], tuple[Action, ...]]

_D, _C, _G, _P, _X = Verdict.DELIVER, Verdict.CONSUMED, Verdict.GAP, Verdict.GAP_PENDING, Verdict.DUPLICATE
A = Action

_COMMON: Rules = {
    # A login response counts whatever its seq: a peer that numbers anew (a refused or
    # restarted session) may send one below what we expect.
    (Kind.LOGIN_RESPONSE, _D): (A.LOGIN, A.DELIVER, A.LOGIN_DONE),
    (Kind.LOGIN_RESPONSE, _G): (A.LOGIN, A.ASK_REPLAY, A.HOLD, A.LOGIN_DONE),
    (Kind.LOGIN_RESPONSE, _P): (A.LOGIN, A.HOLD, A.LOGIN_DONE),
    (Kind.LOGIN_RESPONSE, _X): (A.LOGIN, A.LOGIN_DONE),
    (Kind.REPLAYED_LOGIN_RESPONSE, _D): (A.DELIVER_REPLAYED,),
    (Kind.LOGOUT, _D): (A.LOGOUT, A.DELIVER),
    # A fresh logout counts whatever its seq, as a login response does.
    (Kind.LOGOUT, _X): (A.LOGOUT,),
    (Kind.REPLAYED_LOGOUT, _D): (A.LOGOUT, A.DELIVER),
    # Served whatever our own gaps: two sides each waiting on the other's replay would
    # otherwise wait for ever.
    (Kind.REPLAY, _D): (A.SERVE_REPLAY, A.DELIVER),
    (Kind.REPLAY, _G): (A.SERVE_REPLAY, A.ASK_REPLAY),
    (Kind.REPLAY, _P): (A.SERVE_REPLAY,),
    (Kind.HEARTBEAT, _D): (A.DELIVER,),
    (Kind.PING, _D): (A.PONG, A.DELIVER),
    (Kind.GAPFILL, _C): (A.RELEASE,),
    (Kind.SESSION, _D): (A.DELIVER,),
    (Kind.UNKNOWN, _D): (A.WARN_UNKNOWN,),
    (Kind.APPLICATION, _D): (A.DELIVER,),
}
# Whatever is not listed: a gap is asked for, anything else is dropped.
for _kind in Kind:
    _COMMON.setdefault((_kind, _G), (A.ASK_REPLAY,))

#: The client's part.
CLIENT_RULES: Rules = {
    **_COMMON,
    (Kind.HEARTBEAT, _D): (A.ANSWER_HEARTBEAT, A.DELIVER),
    (Kind.LOGOUT, _G): (A.LOGOUT,),
    (Kind.LOGOUT, _P): (A.LOGOUT,),
    (Kind.REPLAYED_LOGOUT, _G): (A.LOGOUT,),
    (Kind.REPLAYED_LOGOUT, _P): (A.LOGOUT,),
}

#: The exchange's part.
EXCHANGE_RULES: Rules = dict(_COMMON)

_ETO = seto_pb2.PAYLOAD_ETO
_BY_ETO_TYPE = {
    eto_pb2.PAYLOAD_LOGIN_RESPONSE: Kind.LOGIN_RESPONSE,
    eto_pb2.PAYLOAD_LOGOUT: Kind.LOGOUT,
    eto_pb2.PAYLOAD_REPLAY: Kind.REPLAY,
    eto_pb2.PAYLOAD_HEARTBEAT: Kind.HEARTBEAT,
    eto_pb2.PAYLOAD_PING: Kind.PING,
    eto_pb2.PAYLOAD_GAPFILL: Kind.GAPFILL,
}
_REPLAYED = {Kind.LOGIN_RESPONSE: Kind.REPLAYED_LOGIN_RESPONSE, Kind.LOGOUT: Kind.REPLAYED_LOGOUT}


def kind_of(payload: seto_pb2.Payload) -> Kind:
    """What ``payload`` is to the session rules."""
    if payload.type != _ETO:
        return Kind.APPLICATION
    if not payload.HasField("type"):
        return Kind.UNKNOWN
    kind = _BY_ETO_TYPE.get(payload.eto_payload.type, Kind.SESSION)
    if payload.eto_payload.is_replay:
        return _REPLAYED.get(kind, kind)
    return kind
