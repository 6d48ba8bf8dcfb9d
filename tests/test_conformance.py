"""The session conformance suite: plain-text scripts played against either side.

Each script in ``tests/conformance/`` plays one side of a streaming session against our
implementation of the other: against the CLIENT (`SmarketsClientProtocol`, the script is the
exchange) or against the EXCHANGE (`ExchangeServerProtocol`, the script is the client), over
a `StringTransport` with a `Clock`. The language is described in
``tests/conformance/README.rst``; `ConformanceTests` gets one test method per script and per
side it applies to (``test_<script>_<side>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from google.protobuf import text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from twisted.internet.error import ConnectionAborted, ConnectionDone, ConnectionLost
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial import unittest

from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.client import Session, SessionSettings, StreamingAPIClient
from txsmarkets.exceptions import LoginError
from txsmarkets.exchange.accounts import Credentials
from txsmarkets.exchange.catalogue import demo_catalogue
from txsmarkets.exchange.engine import MatchingEngine
from txsmarkets.exchange.server import ExchangeServerFactory
from txsmarkets.client import SessionState
from txsmarkets.client.factory import SmarketsClientFactory
from txsmarkets.wire.framing import frame_decode_all, frame_encode
from txsmarkets.wire.messages import message_name

SCRIPTS = Path(__file__).parent / "conformance"
SIDES = ("client", "exchange")

#: The session settings both implementations run with in every script (see README.rst).
HEARTBEAT_INTERVAL = 10.0
HEARTBEAT_MISSES = 3
LOGIN_TIMEOUT = 5.0
USERNAME = PASSWORD = "demo"
#: The username of the account the exchange opens for a script's ``token:``.
TOKEN_USERNAME = "tokenuser"


class ScriptError(Exception):
    """The script itself is malformed (as opposed to the implementation misbehaving)."""


# -- scripts --------------------------------------------------------------------------------


@dataclass
class Step:
    """One line of a script: what to do, on which side(s)."""

    line: int
    text: str
    only: str | None  # "client" or "exchange" when the line is prefixed so
    verb: str
    rest: str


@dataclass
class Script:
    """A parsed script: its header and its steps."""

    path: Path
    sides: tuple[str, ...]
    options: dict[str, str]
    steps: list[Step]

    @property
    def name(self) -> str:
        return self.path.stem


_HEADER_KEYS = frozenset({"side", "token", "replay_capacity"})
_VERBS = frozenset(
    {"login", "send", "expect", "delivered", "advance", "disconnect", "reconnect", "hold", "flush", "do", "check"}
)


def parse_script(path: Path) -> Script:
    """Read a script: header lines (``key: value``), then one step a line; ``#`` comments."""
    options: dict[str, str] = {}
    steps: list[Step] = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        text = _strip_comment(raw).strip()
        if not text:
            continue
        key, colon, value = text.partition(":")
        if colon and key in _HEADER_KEYS and not steps:
            options[key] = value.strip()
            continue
        only = None
        if colon and key in SIDES:
            only, text = key, value.strip()
        verb, _, rest = text.partition(" ")
        if verb not in _VERBS:
            raise ScriptError(f"{path.name}:{number}: unknown step {verb!r}")
        steps.append(Step(number, raw.strip(), only, verb, rest.strip()))
    side = options.get("side")
    if side == "both":
        sides: tuple[str, ...] = SIDES
    elif side in SIDES:
        sides = (side,)
    else:
        raise ScriptError(f"{path.name}: the header needs 'side: client|exchange|both', not {side!r}")
    for step in steps:
        if step.only is not None and step.only not in sides:
            raise ScriptError(f"{path.name}:{step.line}: a {step.only} line in a script for {sides}")
    return Script(path, sides, options, steps)


def _strip_comment(line: str) -> str:
    # A '#' inside a quoted text-format string is no comment.
    quoted = None
    for i, ch in enumerate(line):
        if quoted:
            if ch == quoted:
                quoted = None
        elif ch in "\"'":
            quoted = ch
        elif ch == "#":
            return line[:i]
    return line


# -- payloads and patterns ------------------------------------------------------------------

_ETO_TYPES = {name[len("PAYLOAD_") :].lower(): number for name, number in eto_pb2.PayloadType.items()}
_SETO_TYPES = {name[len("PAYLOAD_") :].lower(): number for name, number in seto_pb2.PayloadType.items()}
_ETO_BODIES = {"login": "login", "login_response": "login_response", "logout": "logout", "replay": "replay"}


@dataclass
class PayloadSpec:
    """A payload named in a script: ``[seq=S] [is_replay] [session=ID] NAME [BODY]``."""

    name: str  # "eto.replay", "seto.order_accepted"
    body: Message | None  # the text-format body parsed into its message, or None
    seq: str | None = None  # a seq expression, unevaluated
    is_replay: bool = False
    session: str | None = None


#: ``app N`` stands for a harmless application message in either direction (README.rst).
def app_to_client(n: int) -> tuple[str, str]:
    return "seto.market_state", f"{{market_id: {n} state: MARKET_STATE_OPEN}}"


def app_to_exchange(n: int) -> tuple[str, str]:
    return "seto.market_unsubscribe", f"{{market_id: {n}}}"


_FLAG = re.compile(r"(seq|session)=(\S+)$|is_replay$")
_VAR = re.compile(r"@([a-z_][a-z0-9_]*)(?:([+-])(\d+))?")


def body_message(name: str) -> Message | None:
    """A fresh, empty body message for payload ``name`` (None when it has no body)."""
    family, _, kind = name.partition(".")
    if family == "eto" and kind in _ETO_TYPES:
        field_name = _ETO_BODIES.get(kind)
        return getattr(eto_pb2.Payload(), field_name) if field_name else None
    if family == "seto" and kind in _SETO_TYPES and kind != "eto":
        return getattr(seto_pb2.Payload(), kind)
    raise ScriptError(f"unknown payload name {name!r}")


# -- the sides under test -------------------------------------------------------------------


class Side:
    """Our implementation of one side, on a StringTransport; the script is its peer."""

    name: str
    clock: Clock
    proto: Any
    transport: StringTransport
    #: Application (non-eto) payloads the implementation has handed to its application.
    delivered: list[seto_pb2.Payload]

    def __init__(self, options: dict[str, str]) -> None:
        self.options = options
        self.clock = Clock()
        self.delivered = []
        self.lost = False

    def connect(self) -> None:
        raise NotImplementedError

    def app(self, n: int) -> tuple[str, str]:
        """The script's ``app N`` in the direction the script sends."""
        raise NotImplementedError

    def own_app(self, n: int) -> tuple[str, str]:
        """``app N`` in the direction this side sends."""
        raise NotImplementedError

    def do(self, action: str, args: list[str], runner: Runner) -> None:
        raise NotImplementedError

    def check(self, what: list[str]) -> str | None:
        raise ScriptError(f"the {self.name} has nothing to check")

    def _attach(self, proto: Any) -> None:
        self.proto = proto
        self.transport = StringTransport()
        self.lost = False
        proto.makeConnection(self.transport)

    def connectionLost(self, reason: Failure) -> None:
        if not self.lost:
            self.lost = True
            self.transport.disconnecting = True
            self.proto.connectionLost(reason)


class ClientSide(Side):
    """Our client (`SmarketsClientProtocol`); the script plays the exchange."""

    name = "client"

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(options)
        token = options.get("token")
        settings = SessionSettings(
            None if token else USERNAME,
            None if token else PASSWORD,
            token=token,
            host="exchange.test",
            port=3701,
            ssl=False,
            socket_timeout=LOGIN_TIMEOUT,
            heartbeat_interval=HEARTBEAT_INTERVAL,
            heartbeat_misses=HEARTBEAT_MISSES,
            request_timeout=0,
            replay_capacity=int(options.get("replay_capacity", 10000)),
        )
        self.session = Session(settings, reactor=self.clock)
        self.client = StreamingAPIClient(self.session)
        self.factory = SmarketsClientFactory(self.session)
        self.session.factory = self.factory
        self.client.add_global_handler(self._handled)
        # What the application asked for, by name, for `check`.
        self.requests: dict[str, list[Any]] = {"login": self._keep(self.client.login())}

    def _handled(self, name: str, message: seto_pb2.Payload) -> None:
        if message.type != seto_pb2.PAYLOAD_ETO:
            self.delivered.append(message)

    def connect(self) -> None:
        if self.session.state in (SessionState.FAILED, SessionState.CLOSED):
            raise AssertionError(f"the client has stopped ({self.session.state.value}): it would not connect again")
        self._attach(self.factory.buildProtocol(None))

    def app(self, n: int) -> tuple[str, str]:
        return app_to_client(n)

    def own_app(self, n: int) -> tuple[str, str]:
        return app_to_exchange(n)

    def do(self, action: str, args: list[str], runner: Runner) -> None:
        if action == "ping" and not args:
            self.requests["ping"] = self._keep(self.client.ping())
        elif action == "app" and len(args) == 1:
            # unsubscribe is the one client request with no answer and no state to renew.
            self._keep(self.client.unsubscribe(int(args[0])))
        elif action == "logout" and not args:
            self.requests["logout"] = self._keep(self.client.logout())
        else:
            raise ScriptError(f"the client cannot 'do {action} {' '.join(args)}'")

    @staticmethod
    def _keep(d: Any) -> list[Any]:
        """The outcome of ``d`` once it fires (a one-item list), kept for `check`."""
        outcome: list[Any] = []
        d.addBoth(outcome.append)
        if outcome and isinstance(outcome[0], Failure):
            outcome[0].raiseException()
        return outcome

    def check(self, what: list[str]) -> str | None:
        """``check login|ping|logout ok|pending|failed [REASON]``, ``check stopped|retrying``."""
        state = self.session.state
        if what == ["stopped"]:
            if state in (SessionState.FAILED, SessionState.CLOSED):
                return None
            return f"the client would reconnect ({state.value})"
        if what == ["retrying"]:
            if state is SessionState.WAITING_TO_RETRY:
                return None
            return f"the client is not retrying ({state.value})"
        if len(what) < 2 or what[0] not in ("login", "ping", "logout"):
            raise ScriptError(f"cannot check {' '.join(what)!r}")
        request, state = what[0], what[1]
        outcome = self.requests.get(request)
        if outcome is None:
            raise ScriptError(f"no {request} was asked for")
        if state == "pending":
            return None if not outcome else f"the {request} has completed: {outcome[0]!r}"
        if not outcome:
            return f"the {request} is still pending"
        result = outcome[0]
        if state == "ok":
            return None if not isinstance(result, Failure) else f"the {request} failed: {result.value!r}"
        if state == "failed":
            if not isinstance(result, Failure):
                return f"the {request} succeeded"
            if len(what) == 3:
                # A logout reason (of a LoginError), or the name of the error's class.
                error = result.value
                named = error.reason if isinstance(error, LoginError) else type(error).__name__
                if named != what[2]:
                    return f"the {request} failed with {error!r}, not {what[2]}"
            return None
        raise ScriptError(f"cannot check {' '.join(what)!r}")


_TOKEN_CREDENTIALS: dict[str, Credentials] = {}


class ExchangeSide(Side):
    """Our exchange (`ExchangeServerProtocol`); the script plays the client."""

    name = "exchange"

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(options)
        self.engine = MatchingEngine(demo_catalogue(), now=self.clock.seconds)
        token = options.get("token")
        self.username = USERNAME
        if token:
            # Hashing is slow on purpose: one account's credentials serve every script.
            credentials = _TOKEN_CREDENTIALS.get(token)
            if credentials is None:
                credentials = _TOKEN_CREDENTIALS[token] = Credentials.create("unused-pw", token)
            self.engine.accounts.add_credentials(TOKEN_USERNAME, credentials, "1000.00")
            self.username = TOKEN_USERNAME
        kwargs: dict[str, Any] = {}
        if "replay_capacity" in options:
            kwargs["replay_capacity"] = int(options["replay_capacity"])
        self.factory = ExchangeServerFactory(
            self.engine,
            self.clock,
            heartbeat_interval=HEARTBEAT_INTERVAL,
            heartbeat_misses=HEARTBEAT_MISSES,
            login_timeout=LOGIN_TIMEOUT,
            **kwargs,
        )

    def connect(self) -> None:
        proto = self.factory.buildProtocol(None)
        original = proto.payloadReceived

        def payloadReceived(payload: seto_pb2.Payload) -> None:
            # The boundary between the session and the exchange's application (which
            # refuses anything before the login).
            if payload.type != seto_pb2.PAYLOAD_ETO and proto.session is not None:
                self.delivered.append(payload)
            original(payload)

        proto.payloadReceived = payloadReceived
        self._attach(proto)

    def app(self, n: int) -> tuple[str, str]:
        return app_to_exchange(n)

    def own_app(self, n: int) -> tuple[str, str]:
        return app_to_client(n)

    def do(self, action: str, args: list[str], runner: Runner) -> None:
        if action == "ping" and not args:
            if self.lost:
                raise ScriptError("'do ping' needs a connection")
            self.proto.ping()
        elif action == "app" and len(args) == 1:
            # An account-stream message: sent now, or kept for a resume while detached.
            account = self.engine.accounts.by_username(self.username)
            self.factory._account_message(account.id, runner.build(*self.own_app(int(args[0]))))
        else:
            raise ScriptError(f"the exchange cannot 'do {action} {' '.join(args)}'")


# -- the runner -----------------------------------------------------------------------------


class StepFailed(AssertionError):
    """The implementation did not do what the step says."""


@dataclass
class Runner:
    """Plays one script against one side, step by step."""

    script: Script
    side: Side
    #: The next seq the script sends by default.
    out: int = 1
    #: The next seq expected from the implementation's fresh (non-replay) messages.
    incoming: int = 1
    variables: dict[str, Any] = field(default_factory=dict)
    #: Frames the implementation wrote and no ``expect`` has consumed yet.
    pending: list[seto_pb2.Payload] = field(default_factory=list)
    _partial: bytes = b""
    _held: bytearray | None = None
    transcript: list[str] = field(default_factory=list)

    def run(self) -> None:
        self.side.connect()
        self._settle()
        for step in self.script.steps:
            if step.only is not None and step.only != self.side.name:
                continue
            try:
                getattr(self, "step_" + step.verb)(step.rest)
                self._settle()
            except ScriptError as e:
                raise ScriptError(f"{self.script.path.name}:{step.line}: {e}") from None
            except StepFailed as e:
                raise StepFailed(self._report(step, str(e))) from None
        self._settle()
        if self.pending:
            raise StepFailed(self._report(None, f"unexpected at the end: {self._describe(self.pending[0])}"))
        if self._partial:
            unfinished = f"the {self.side.name} wrote an unfinished frame: {self._partial.hex()}"
            raise StepFailed(self._report(None, unfinished))
        if self.side.delivered:
            raise StepFailed(
                self._report(None, f"delivered and not checked: {self._describe(self.side.delivered[0])}")
            )

    def _report(self, step: Step | None, problem: str) -> str:
        where = f"{self.script.path.name}:{step.line}: {step.text}" if step else f"{self.script.path.name}: at the end"
        recent = "\n    ".join(self.transcript[-25:])
        return f"[{self.side.name}] {where}\n  {problem}\n  wire so far (-> to the {self.side.name}):\n    {recent}"

    # -- the wire -------------------------------------------------------------------------

    def _settle(self) -> None:
        """The end of a reactor turn: what was written goes out, a closed connection closes.

        ``abortConnection`` discards what the transport has not sent yet, as a real TCP or
        TLS transport does: what was written in the same turn never reaches the peer.
        """
        side = self.side
        if not side.lost and side.transport.disconnected:
            discarded = side.transport.value()
            side.transport.clear()
            if discarded:
                payloads, _ = frame_decode_all(self._partial + discarded)
                what = ", ".join(self._describe(seto_pb2.Payload.FromString(p)) for p in payloads)
                self.transcript.append(f"<- (aborted: never sent: {what or discarded.hex()})")
            side.connectionLost(Failure(ConnectionAborted("aborted by the " + side.name)))
            self.transcript.append(f"<- (the {side.name} aborted the connection)")
            return
        self._collect()
        if not side.lost and side.transport.disconnecting:
            side.connectionLost(Failure(ConnectionDone("closed by the " + side.name)))
            self.transcript.append(f"<- (the {side.name} closed the connection)")
            self._collect()

    def _collect(self) -> None:
        data = self.side.transport.value()
        self.side.transport.clear()
        if not data:
            return
        payloads, rest = frame_decode_all(self._partial + data)
        self._partial = bytes(rest)
        for raw in payloads:
            try:
                payload = seto_pb2.Payload.FromString(raw)
            except DecodeError as e:
                raise StepFailed(f"the {self.side.name} wrote a frame that is no seto.Payload: {e}") from None
            if not payload.IsInitialized():
                missing = ", ".join(payload.FindInitializationErrors())
                raise StepFailed(f"the {self.side.name} wrote a payload missing required fields: {missing}")
            self.pending.append(payload)
            self.transcript.append("<- " + self._describe(payload))

    def _write(self, data: bytes, what: str) -> None:
        if self._held is not None:
            self._held += data
            self.transcript.append(f"-> (held) {what}")
            return
        if self.side.lost or self.side.transport.disconnecting:
            raise ScriptError("sending on a closed connection (reconnect first)")
        self.transcript.append("-> " + what)
        self.side.proto.dataReceived(data)

    @staticmethod
    def _describe(payload: seto_pb2.Payload) -> str:
        eto = payload.eto_payload
        flags = f"seq={eto.seq}" + (" is_replay" if eto.is_replay else "")
        name = message_name(payload)
        if payload.type == seto_pb2.PAYLOAD_ETO:
            field_name = _ETO_BODIES.get(name[len("eto.") :])
            body = getattr(eto, field_name) if field_name and eto.HasField(field_name) else None
        else:
            field_name = name[len("seto.") :]
            body = getattr(payload, field_name) if payload.HasField(field_name) else None
        if payload.type == seto_pb2.PAYLOAD_LOGIN and eto.HasField("login"):
            flags += f" session={eto.login.session}"
        text = text_format.MessageToString(body, as_one_line=True) if body is not None else ""
        return f"{flags} {name}" + (f" {{{text}}}" if text else "")

    # -- expressions ----------------------------------------------------------------------

    def substitute(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            name, sign, amount = match.groups()
            if name not in self.variables:
                raise ScriptError(f"@{name} is not bound")
            bound = self.variables[name]
            if sign:
                if not isinstance(bound, int):
                    raise ScriptError(f"@{name} is no number")
                bound = bound + int(amount) if sign == "+" else bound - int(amount)
            return str(bound)

        return _VAR.sub(value, text)

    def parse_payload(self, text: str) -> PayloadSpec:
        """Parse ``[seq=S] [is_replay] [session=ID] NAME [BODY]`` (``app N`` for NAME BODY)."""
        seq = session = None
        is_replay = False
        words = text.split(None, 1)
        while words and _FLAG.match(words[0]):
            flag = words[0]
            if flag == "is_replay":
                is_replay = True
            elif flag.startswith("seq="):
                seq = flag[4:]
            else:
                session = flag[len("session=") :]
            words = words[1].split(None, 1) if len(words) > 1 else []
        if not words:
            raise ScriptError("a payload name is missing")
        name = words[0]
        body_text = words[1].strip() if len(words) > 1 else ""
        # Flags may also follow the body: `seto.login {...} session=s-1`.
        end = body_text.rfind("}") + 1 if body_text.startswith("{") else body_text.find(" ") + 1 or len(body_text)
        body_text, trailing = body_text[:end].strip(), body_text[end:].split()
        for flag in trailing:
            if not _FLAG.match(flag):
                raise ScriptError(f"unexpected {flag!r} after the body")
            if flag == "is_replay":
                is_replay = True
            elif flag.startswith("seq="):
                seq = flag[4:]
            else:
                session = flag[len("session=") :]
        if name == "app":
            if not body_text.isdigit():
                raise ScriptError("'app' takes a number")
            name, body_text = self.side.app(int(body_text))
        return PayloadSpec(name, self._body(name, body_text), seq, is_replay, session)

    def parse_pattern(self, text: str) -> PayloadSpec:
        """Like `parse_payload`, but ``app N`` is what the implementation sends."""
        words = text.split()
        if "app" in words:
            i = words.index("app")
            if i + 1 >= len(words) or not words[i + 1].isdigit():
                raise ScriptError("'app' takes a number")
            name, body_text = self.side.own_app(int(words[i + 1]))
            head, tail = " ".join(words[:i]), " ".join(words[i + 2 :])
            return self.parse_payload(f"{head} {name} {body_text} {tail}".strip())
        return self.parse_payload(text)

    def _body(self, name: str, text: str) -> Message | None:
        message = body_message(name)
        if not text:
            return None
        if message is None:
            raise ScriptError(f"{name} has no body")
        if name == "eto.logout" and re.fullmatch(r"LOGOUT_[A-Z_]+", text):
            text = f"{{reason: {text}}}"
        if not (text.startswith("{") and text.endswith("}")):
            raise ScriptError(f"a body is text format in braces, not {text!r}")
        try:
            text_format.Parse(self.substitute(text[1:-1]), message)
        except text_format.ParseError as e:
            raise ScriptError(f"bad body for {name}: {e}") from None
        return message

    def eval_seq(self, expr: str, bind_to: int | None = None) -> int | None:
        """The value of a seq expression; an unbound ``@name`` binds to ``bind_to``."""
        if expr.isdigit():
            return int(expr)
        match = _VAR.fullmatch(expr)
        if not match:
            raise ScriptError(f"bad seq {expr!r}")
        name, sign, _ = match.groups()
        if name not in self.variables:
            if bind_to is None or sign:
                raise ScriptError(f"@{name} is not bound")
            self.variables[name] = bind_to
            return None
        return int(self.substitute(expr))

    def build(self, name: str, body_text: str = "", spec: PayloadSpec | None = None) -> seto_pb2.Payload:
        """The seto payload for ``name`` with its body (unnumbered)."""
        if spec is None:
            spec = PayloadSpec(name, self._body(name, body_text))
        payload = seto_pb2.Payload()
        payload.eto_payload.seq = 0
        family, _, kind = spec.name.partition(".")
        if family == "eto":
            payload.type = seto_pb2.PAYLOAD_ETO
            payload.eto_payload.type = _ETO_TYPES[kind]
            if spec.body is not None:
                getattr(payload.eto_payload, _ETO_BODIES[kind]).CopyFrom(spec.body)
        else:
            payload.type = _SETO_TYPES[kind]
            if kind == "login":
                payload.eto_payload.type = eto_pb2.PAYLOAD_LOGIN
            body = getattr(payload, kind)
            body.SetInParent()
            if spec.body is not None:
                body.CopyFrom(spec.body)
        if spec.session is not None:
            payload.eto_payload.login.session = self.substitute(spec.session)
        if spec.is_replay:
            payload.eto_payload.is_replay = True
        return payload

    # -- steps ----------------------------------------------------------------------------

    def step_send(self, rest: str) -> None:
        """``send PAYLOAD``, ``send frame HEX`` (one frame of these bytes), ``send raw HEX``."""
        kind, _, hexdata = rest.partition(" ")
        if kind in ("frame", "raw"):
            try:
                data = bytes.fromhex(self.substitute(hexdata))
            except ValueError:
                raise ScriptError(f"bad hex {hexdata!r}") from None
            if kind == "frame":
                framed = bytearray()
                frame_encode(framed, data)
                self._write(bytes(framed), f"frame {data.hex(' ')}")
            else:
                self._write(data, f"raw {data.hex(' ')}")
            return
        spec = self.parse_payload(rest)
        payload = self.build(spec.name, spec=spec)
        seq = self.eval_seq(spec.seq) if spec.seq is not None else self.out
        assert seq is not None
        payload.eto_payload.seq = seq
        self.out = max(self.out, seq + 1)
        if payload.eto_payload.type == eto_pb2.PAYLOAD_LOGIN_RESPONSE:
            self.variables["session"] = payload.eto_payload.login_response.session
        data = payload.SerializeToString()
        framed = bytearray()
        frame_encode(framed, data)
        self._write(bytes(framed), self._describe(payload))

    def step_hold(self, rest: str) -> None:
        """Keep what is sent from now on, to write it all at once at ``flush``."""
        if rest or self._held is not None:
            raise ScriptError("'hold' takes nothing and does not nest")
        self._held = bytearray()

    def step_flush(self, rest: str) -> None:
        if rest or self._held is None:
            raise ScriptError("'flush' without 'hold'")
        data, self._held = bytes(self._held), None
        self._write(data, f"(the held {len(data)} bytes in one write)")

    def step_expect(self, rest: str) -> None:
        """``expect PATTERN``, ``expect nothing``, ``expect disconnect``."""
        if rest == "nothing":
            if self.pending:
                raise StepFailed(f"expected nothing, got {self._describe(self.pending[0])}")
            if self.side.lost:
                raise StepFailed(f"expected nothing, but the {self.side.name} closed the connection")
            return
        if rest == "disconnect":
            if self.pending:
                raise StepFailed(f"expected the connection to close, got {self._describe(self.pending[0])}")
            if not self.side.lost:
                raise StepFailed("the connection is still open")
            return
        spec = self.parse_pattern(rest)
        if not self.pending:
            closed = " (the connection is closed)" if self.side.lost else ""
            raise StepFailed(f"nothing was written{closed}")
        payload = self.pending.pop(0)
        problem = self._mismatch(spec, payload)
        if problem:
            raise StepFailed(f"got {self._describe(payload)}\n  but {problem}")
        if payload.eto_payload.type == eto_pb2.PAYLOAD_LOGIN_RESPONSE:
            self.variables["session"] = payload.eto_payload.login_response.session

    def _mismatch(self, spec: PayloadSpec, payload: seto_pb2.Payload) -> str | None:
        eto = payload.eto_payload
        actual = message_name(payload)
        if payload.type == seto_pb2.PAYLOAD_ETO and not payload.HasField("type"):
            actual = "unknown"
        if actual != spec.name:
            return f"expected {spec.name}"
        if spec.name == "seto.login" and eto.type != eto_pb2.PAYLOAD_LOGIN:
            return "a seto.login must carry eto type PAYLOAD_LOGIN"
        if bool(eto.is_replay) != spec.is_replay:
            return "is_replay should be " + ("set" if spec.is_replay else "unset")
        seq = eto.seq
        if spec.seq is not None:
            wanted = self.eval_seq(spec.seq, bind_to=seq)
            if wanted is not None and seq != wanted:
                return f"seq should be {wanted}"
        elif not spec.is_replay and seq != self.incoming:
            return f"seq should be {self.incoming}, the next after the last fresh message"
        if not spec.is_replay:
            self.incoming = seq + 1
        if spec.name == "seto.login":
            has = eto.HasField("login")
            if spec.session is None and has:
                return f"a new-session login should carry no session, has {eto.login.session!r}"
            if spec.session is not None:
                wanted_session = self.substitute(spec.session)
                if not has or eto.login.session != wanted_session:
                    return f"session should be {wanted_session!r}"
        if spec.body is not None:
            family, _, kind = spec.name.partition(".")
            body = getattr(eto, _ETO_BODIES[kind]) if family == "eto" else getattr(payload, kind)
            problem = _partial_mismatch(spec.body, body, "")
            if problem:
                return problem
        return None

    def step_delivered(self, rest: str) -> None:
        """``delivered PATTERN`` (the next application message handed on), ``delivered nothing``."""
        delivered = self.side.delivered
        if rest == "nothing":
            if delivered:
                raise StepFailed(f"delivered {self._describe(delivered[0])}")
            return
        spec = self.parse_payload(rest)
        if spec.seq is not None or spec.is_replay:
            raise ScriptError("'delivered' compares the message only")
        if not delivered:
            raise StepFailed("nothing was delivered")
        payload = delivered.pop(0)
        if message_name(payload) != spec.name:
            raise StepFailed(f"delivered {self._describe(payload)}, not {spec.name}")
        if spec.body is not None:
            kind = spec.name.partition(".")[2]
            problem = _partial_mismatch(spec.body, getattr(payload, kind), "")
            if problem:
                raise StepFailed(f"delivered {self._describe(payload)}\n  but {problem}")

    def step_login(self, rest: str) -> None:
        """The ordinary login of a new session: both sides' seqs start at 1."""
        if rest:
            raise ScriptError("'login' takes nothing")
        token = self.script.options.get("token")
        credentials = f'{{cookie: "{token}"}}' if token else f'{{username: "{USERNAME}" password: "{PASSWORD}"}}'
        if self.side.name == "client":
            self.step_expect(f"seq=1 seto.login {credentials}")
            self.step_send('seq=1 eto.login_response {session: "s-1" reset: 2}')
        else:
            self.step_send(f"seq=1 seto.login {credentials}")
            self._settle()
            self.step_expect("seq=1 eto.login_response {reset: 2}")
            self.step_expect("seq=2 seto.throttle_limits_changed")

    def step_advance(self, rest: str) -> None:
        """Move the clock on, running every timer due on the way at its own time."""
        try:
            target = self.side.clock.seconds() + float(rest)
        except ValueError:
            raise ScriptError(f"bad number of seconds {rest!r}") from None
        clock = self.side.clock
        self.transcript.append(f"   (advance {rest}s)")
        while True:
            calls = [c.getTime() for c in clock.getDelayedCalls()]
            due = min((t for t in calls if t <= target), default=None)
            if due is None:
                clock.advance(target - clock.seconds())
                return
            clock.advance(max(0.0, due - clock.seconds()))
            self._settle()

    def step_disconnect(self, rest: str) -> None:
        """The script's end closes the connection."""
        if rest:
            raise ScriptError("'disconnect' takes nothing")
        if self.side.lost:
            raise ScriptError("the connection is closed already")
        self.transcript.append("-> (the script closed the connection)")
        self.side.connectionLost(Failure(ConnectionLost("closed by the script")))

    def step_reconnect(self, rest: str) -> None:
        """A new connection (the old one must be closed)."""
        if rest:
            raise ScriptError("'reconnect' takes nothing")
        if not self.side.lost:
            raise ScriptError("the connection is still open (disconnect first)")
        if self.pending:
            raise StepFailed(f"unexpected before the reconnect: {self._describe(self.pending[0])}")
        self._partial = b""
        self.transcript.append("   (reconnect)")
        try:
            self.side.connect()
        except AssertionError as e:
            raise StepFailed(str(e)) from None

    def step_do(self, rest: str) -> None:
        """Make the implementation act on its own (``do ping``, ``do app N``, ``do logout``)."""
        words = rest.split()
        if not words:
            raise ScriptError("'do' what?")
        self.transcript.append(f"   (do {rest})")
        try:
            self.side.do(words[0], words[1:], self)
        except (ScriptError, StepFailed):
            raise
        except Exception as e:
            raise StepFailed(f"the {self.side.name} refused to {rest}: {e!r}") from None

    def step_check(self, rest: str) -> None:
        """A state the implementation reports to its application (client only)."""
        problem = self.side.check(rest.split())
        if problem:
            raise StepFailed(problem)


def _partial_mismatch(pattern: Message, actual: Message, path: str) -> str | None:
    """Why ``actual`` does not have every field ``pattern`` sets, or None."""
    for descriptor, wanted in pattern.ListFields():
        where = path + descriptor.name
        got = getattr(actual, descriptor.name)
        if descriptor.is_repeated:
            if len(got) != len(wanted):
                return f"{where} has {len(got)} entries, not {len(wanted)}"
            for i, (w, g) in enumerate(zip(wanted, got)):
                if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
                    problem = _partial_mismatch(w, g, f"{where}[{i}].")
                    if problem:
                        return problem
                elif w != g:
                    return f"{where}[{i}] is {_value(descriptor, g)}, not {_value(descriptor, w)}"
            continue
        if not actual.HasField(descriptor.name):
            return f"{where} is unset"
        if descriptor.type == FieldDescriptor.TYPE_MESSAGE:
            problem = _partial_mismatch(wanted, got, where + ".")
            if problem:
                return problem
        elif got != wanted:
            return f"{where} is {_value(descriptor, got)}, not {_value(descriptor, wanted)}"
    return None


def _value(descriptor: FieldDescriptor, value: Any) -> str:
    """A field value as a script writes it: enums by name."""
    if descriptor.type == FieldDescriptor.TYPE_ENUM:
        named = descriptor.enum_type.values_by_number.get(value)
        if named is not None:
            return str(named.name)
    return repr(value)


# -- the tests ------------------------------------------------------------------------------

_SIDE_CLASSES: dict[str, Callable[[dict[str, str]], Side]] = {"client": ClientSide, "exchange": ExchangeSide}


class ConformanceTests(unittest.TestCase):
    """One test per script and side: ``test_<script>_<side>``."""

    def play(self, path: Path, side: str) -> None:
        script = parse_script(path)
        runner = Runner(script, _SIDE_CLASSES[side](script.options))
        try:
            runner.run()
        except StepFailed as e:
            self.fail(str(e))


class ScriptLanguageTests(unittest.TestCase):
    """The suite itself: the scripts parse, and the driver catches what it must."""

    def test_every_script_parses(self) -> None:
        paths = sorted(SCRIPTS.glob("*.txt"))
        self.assertGreaterEqual(len(paths), 40)
        for path in paths:
            self.assertTrue(parse_script(path).steps, path.name)

    def _fails(self, text: str, side: str, error: type[Exception] = StepFailed) -> str:
        path = Path(self.mktemp() + ".txt")
        path.write_text(text)
        with self.assertRaises(error) as caught:
            script = parse_script(path)
            Runner(script, _SIDE_CLASSES[side](script.options)).run()
        return str(caught.exception)

    def test_wrong_seq_caught(self) -> None:
        message = self._fails("side: client\nlogin\nsend seq=2 eto.ping\nexpect seq=3 eto.pong\n", "client")
        self.assertIn("seq should be 3", message)

    def test_continuity_enforced(self) -> None:
        # The exchange's first message after the login is seq 3, not 4.
        message = self._fails("side: exchange\nlogin\nsend seq=2 eto.ping\nexpect seq=4 eto.pong\n", "exchange")
        self.assertIn("seq should be 4", message)

    def test_unexpected_output_caught(self) -> None:
        message = self._fails("side: client\nlogin\nsend seq=2 eto.ping\n", "client")
        self.assertIn("unexpected at the end", message)

    def test_body_mismatch_caught(self) -> None:
        message = self._fails("side: exchange\nsend seq=1 seto.login {username: \"demo\" password: \"x\"}\n"
                              "expect seq=1 eto.logout {reason: LOGOUT_LOGIN_TIMEOUT}\n", "exchange")
        self.assertIn("reason is LOGOUT_UNAUTHORISED, not LOGOUT_LOGIN_TIMEOUT", message)

    def test_undelivered_caught(self) -> None:
        message = self._fails("side: client\nlogin\nsend seq=2 app 5\n", "client")
        self.assertIn("delivered and not checked", message)

    def test_bad_script(self) -> None:
        self._fails("side: client\nsned seq=2 eto.ping\n", "client", ScriptError)
        self._fails("side: client\nlogin\nsend seq=2 eto.nonsense\n", "client", ScriptError)
        self._fails("side: exchange\nclient: login\n", "exchange", ScriptError)

    def test_abort_discards_what_was_not_sent(self) -> None:
        # As on a real socket: what is written in the turn of an abortConnection is lost.
        path = Path(self.mktemp() + ".txt")
        path.write_text("side: exchange\nlogin\n")
        runner = Runner(parse_script(path), ExchangeSide({}))
        runner.run()
        runner.side.proto.sendLogout(eto_pb2.LOGOUT_HEARTBEAT_TIMEOUT)
        runner.side.transport.abortConnection()
        runner._settle()
        self.assertEqual(runner.pending, [])
        self.assertTrue(runner.side.lost)
        self.assertIn("never sent", runner.transcript[-2])


def _add_tests() -> None:
    for path in sorted(SCRIPTS.glob("*.txt")):
        try:
            sides = parse_script(path).sides
        except ScriptError:
            sides = SIDES  # the test reports the script's error

        for side in sides:

            def test(self: ConformanceTests, path: Path = path, side: str = side) -> None:
                self.play(path, side)

            name = f"test_{path.stem}_{side}"
            test.__name__ = name
            test.__doc__ = f"{path.name} against our {side}."
            setattr(ConformanceTests, name, test)


_add_tests()
