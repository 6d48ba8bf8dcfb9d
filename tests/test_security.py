"""Security: TLS is verified, plaintext only when asked, refused logins do not hammer the
exchange, and no password or token is ever shown in logs, reprs, exceptions or messages."""

from __future__ import annotations

from typing import Any, Callable

from twisted.internet import defer, protocol
from twisted.internet.task import Clock
from twisted.logger import eventAsText, formatEvent, globalLogPublisher
from twisted.trial import unittest

from tests.certs import make_certificates
from tests.support import close_client, global_reactor, inline
from txsmarkets.wire import seto_pb2
from txsmarkets.client import BUY, Session, SessionSettings, SessionState, StreamingAPIClient
from txsmarkets.exceptions import (
    ConnectionError,
    ConnectionLost,
    LoginError,
    OrderInvalid,
    OrderRejected,
    RequestRejected,
)
from txsmarkets.exchange.service import RunningExchange, start_exchange
from txsmarkets.client import connect, tls_options

#: Secrets no log line, repr, exception or message may ever show. Distinctive, so that a
#: search for them cannot match anything else.
PASSWORD = "pw-Xq7#kV9!zZr2"
TOKEN = "tok-Jm4$wP8&uLs6"
WRONG_PASSWORD = "pw-WRONG-Bn3@hT5"
WRONG_TOKEN = "tok-WRONG-Ce9%gY1"
SECRETS = (PASSWORD, TOKEN, WRONG_PASSWORD, WRONG_TOKEN)
USERNAME = "sec-user"


class Sniffer(protocol.ServerFactory):
    """A transparent TCP relay to ``port`` that keeps every byte sent each way."""

    def __init__(self, reactor: Any, port: int) -> None:
        self.reactor = reactor
        self.port = port
        self.up = bytearray()
        self.down = bytearray()
        self.sides: list[Any] = []

    def buildProtocol(self, addr: Any) -> protocol.Protocol:
        return _SniffedClient(self)

    def listen(self) -> Any:
        return self.reactor.listenTCP(0, self, interface="127.0.0.1")

    def close(self) -> None:
        for side in self.sides:
            if side.transport is not None:
                side.transport.abortConnection()


class _SniffedClient(protocol.Protocol):
    def __init__(self, sniffer: Sniffer) -> None:
        self.sniffer = sniffer
        self.peer: Any = None
        self.held: list[bytes] = []

    def connectionMade(self) -> None:
        self.sniffer.sides.append(self)
        client = self

        class Upstream(protocol.Protocol):
            def connectionMade(self) -> None:
                client.sniffer.sides.append(self)
                client.peer = self
                for data in client.held:
                    self.transport.write(data)
                client.held = []

            def dataReceived(self, data: bytes) -> None:
                client.sniffer.down += data
                client.transport.write(data)

            def connectionLost(self, reason: Any) -> None:
                client.transport.loseConnection()

        protocol.ClientCreator(self.sniffer.reactor, Upstream).connectTCP("127.0.0.1", self.sniffer.port)

    def dataReceived(self, data: bytes) -> None:
        self.sniffer.up += data
        if self.peer is None:
            self.held.append(data)
        else:
            self.peer.transport.write(data)

    def connectionLost(self, reason: Any) -> None:
        if self.peer is not None:
            self.peer.transport.loseConnection()


class ClockedReactor:
    """The real reactor for connections, a `Clock` for time: timers run only when the test
    advances the clock, so "nothing more happens later" can be checked without waiting."""

    def __init__(self, reactor: Any, clock: Clock) -> None:
        self._reactor = reactor
        self.clock = clock

    def seconds(self) -> float:
        return self.clock.seconds()

    def callLater(self, delay: float, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self.clock.callLater(delay, f, *args, **kwargs)

    def getDelayedCalls(self) -> Any:
        return self.clock.getDelayedCalls()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)


class SecurityTestCase(unittest.TestCase):
    """Starts an exchange per test, with an account whose password and token are secret."""

    timeout = 30
    exchange: RunningExchange

    async def start(self, endpoint: str = "tcp:0:interface=127.0.0.1", **options: Any) -> RunningExchange:
        self.exchange = await start_exchange(global_reactor(), endpoint, **options)
        self.addCleanup(self.exchange.stop)
        self.exchange.engine.accounts.add(USERNAME, PASSWORD, "1000", token=TOKEN)
        # Every connection the exchange accepts, and every credential check it makes.
        self.connections = 0
        self.checks: list[str] = []
        factory = self.exchange.factory
        build = factory.buildProtocol

        def counting(addr: Any) -> Any:
            self.connections += 1
            return build(addr)

        factory.buildProtocol = counting  # type: ignore[method-assign]
        accounts = self.exchange.engine.accounts
        authenticate, authenticate_token = accounts.authenticate, accounts.authenticate_token

        def checked_password(username: str, password: Any) -> Any:
            self.checks.append("password")
            return authenticate(username, password)

        def checked_token(token: Any) -> Any:
            self.checks.append("token")
            return authenticate_token(token)

        accounts.authenticate = checked_password  # type: ignore[method-assign]
        accounts.authenticate_token = checked_token  # type: ignore[method-assign]
        return self.exchange

    def settings(self, **options: Any) -> SessionSettings:
        options.setdefault("username", USERNAME)
        options.setdefault("password", PASSWORD)
        options.setdefault("host", "127.0.0.1")
        options.setdefault("port", self.exchange.port)
        return SessionSettings(**options)

    async def client(self, settings: SessionSettings) -> StreamingAPIClient:
        client = await connect(settings, global_reactor())
        client.session.settings.reconnect_initial_delay, client.session.settings.reconnect_jitter = 0.005, 0
        self.addCleanup(close_client, client)
        return client


class TLSTests(SecurityTestCase):
    """The server's certificate is checked against the hostname and the trusted CA."""

    async def start_tls(self, hostname: str) -> str:
        """An exchange with a certificate for ``hostname``; returns its CA's file."""
        ca, server = make_certificates(self.mktemp(), hostname)
        await self.start(f"ssl:0:interface=127.0.0.1:privateKey={server}")
        return ca

    @inline
    async def test_right_certificate_accepted(self) -> None:
        """The refusals below are the certificate's doing: with the right hostname and CA
        the same exchange is reached and the login succeeds."""
        ca = await self.start_tls("localhost")
        client = await self.client(self.settings(ssl=True, host="localhost", ca_file=ca))
        self.assertTrue(client.session.connected)
        self.assertEqual(self.checks, ["password"])

    @inline
    async def test_certificate_for_another_host_refused(self) -> None:
        """A certificate for another hostname, even from the trusted CA, is refused: the
        connection fails, the credentials are never sent, and the client does not retry."""
        ca = await self.start_tls("elsewhere.example")
        settings = self.settings(ssl=True, host="localhost", ca_file=ca)
        session = Session(settings, reactor=global_reactor())
        with self.assertRaises(ConnectionError):
            await StreamingAPIClient(session).login()
        await session.when_disconnected()
        self.assertEqual(self.checks, [])
        self.assertEqual(self.exchange.factory.sessions, {})
        self.assertIsNone(session.factory)  # stopped and let go: nothing left to retry
        self.assertIs(session.state, SessionState.FAILED)

    @inline
    async def test_untrusted_certificate_refused(self) -> None:
        """A certificate for the right hostname from a CA that is not trusted is refused."""
        await self.start_tls("localhost")
        other_ca, _ = make_certificates(self.mktemp(), "localhost")
        with self.assertRaises(ConnectionError):
            await connect(self.settings(ssl=True, host="localhost", ca_file=other_ca), global_reactor())
        self.assertEqual(self.checks, [])

    def test_verification_uses_the_settings_hostname(self) -> None:
        """The TLS options name the host the settings connect to (what is verified)."""
        ca, _ = make_certificates(self.mktemp(), "localhost")
        options = tls_options(SessionSettings(USERNAME, PASSWORD, host="exchange.example", ca_file=ca))
        self.assertEqual(options._hostnameBytes, b"exchange.example")


class PlaintextTests(SecurityTestCase):
    """Plaintext is used only when the settings ask for it."""

    def test_default_is_tls(self) -> None:
        settings = SessionSettings(USERNAME, PASSWORD)
        self.assertTrue(settings.ssl)
        self.assertIn("ssl://", repr(settings))

    async def sniffed(self) -> Sniffer:
        """A relay between client and the (plaintext) exchange that keeps what passes."""
        sniffer = Sniffer(global_reactor(), self.exchange.port)
        port = sniffer.listen()
        self.addCleanup(port.stopListening)
        self.addCleanup(sniffer.close)
        self.sniffer_port = port.getHost().port
        return sniffer

    @inline
    async def test_plaintext_exchange_refused_by_default(self) -> None:
        """With default settings the client speaks TLS: a plaintext exchange is refused,
        and the password never crosses the wire."""
        await self.start()
        sniffer = await self.sniffed()
        with self.assertRaises(ConnectionError):
            await connect(self.settings(port=self.sniffer_port), global_reactor())
        self.assertGreater(len(sniffer.up), 0)  # something was sent: a TLS hello
        self.assertNotIn(PASSWORD.encode(), bytes(sniffer.up))
        self.assertEqual(self.checks, [])

    @inline
    async def test_plaintext_when_asked(self) -> None:
        """``ssl=False`` speaks plaintext, and then the password is on the wire for anyone
        to read: which is what the sniffer above would have caught."""
        await self.start()
        sniffer = await self.sniffed()
        client = await self.client(self.settings(port=self.sniffer_port, ssl=False))
        self.assertTrue(client.session.connected)
        self.assertIn(PASSWORD.encode(), bytes(sniffer.up))


class RefusedLoginTests(SecurityTestCase):
    """A refused login ends the session: no reconnecting, fast or slow."""

    async def refused(self, **credentials: Any) -> Session:
        """Log in with bad ``credentials`` on a client whose timers run on a Clock."""
        clock = Clock()
        self.clock = clock
        session = Session(self.settings(ssl=False, **credentials), reactor=ClockedReactor(global_reactor(), clock))
        client = StreamingAPIClient(session)
        login = client.login()
        # The service that would schedule a retry, once the connection is lost.
        assert session.connector is not None
        self.refused_service = session.connector.service
        with self.assertRaises(LoginError) as caught:
            await login
        self.assertEqual(caught.exception.reason, "LOGOUT_UNAUTHORISED")
        return session

    async def assertNoReconnect(self, session: Session) -> None:
        self.assertIsNone(session.factory)
        self.assertFalse(self.refused_service.running)
        self.assertIs(session.state, SessionState.FAILED)
        self.assertEqual(self.connections, 1)
        # Whatever the backoff would have been, its time passes now: a retry would open a
        # connection at once.
        for _ in range(20):
            self.clock.advance(3600)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        # Then a real event after it: another client logs in and gets a pong. A connection
        # opened by a retry would have been accepted before this one.
        good = await self.client(self.settings(ssl=False))
        await good.ping()
        self.assertEqual(self.connections, 2)

    @inline
    async def test_wrong_password_does_not_reconnect(self) -> None:
        await self.start()
        session = await self.refused(password=WRONG_PASSWORD)
        self.assertEqual(self.checks, ["password"])
        await self.assertNoReconnect(session)

    @inline
    async def test_wrong_token_does_not_reconnect(self) -> None:
        await self.start()
        session = await self.refused(username=None, password=None, token=WRONG_TOKEN)
        self.assertEqual(self.checks, ["token"])
        await self.assertNoReconnect(session)

    @inline
    async def test_unknown_user_does_not_reconnect(self) -> None:
        await self.start()
        session = await self.refused(username="nobody-here")
        await self.assertNoReconnect(session)


class SecretsTests(SecurityTestCase):
    """No password or token in any log line, repr, exception or message, ever."""

    def capture(self) -> list[dict[str, Any]]:
        """Every log event from now to the end of the test."""
        events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        return events

    def assertNoSecret(self, text: str, where: str) -> None:
        for secret in SECRETS:
            self.assertNotIn(secret, text, f"a secret in {where}: {text!r}")

    @inline
    async def test_full_session_shows_no_secret(self) -> None:
        """Failed logins (password and token), logins by password and by token, orders
        accepted, rejected and invalid, a request refused, a ping, a handler that raises, a
        resume after a cut, a logout: then every log event (formatted, as text with its
        traceback, and raw), every repr, every exception and every message received is
        searched for the passwords and tokens, the wrong ones included."""
        events = self.capture()
        await self.start()
        reactor = global_reactor()
        shown: list[tuple[str, str]] = []

        def show(where: str, thing: Any) -> None:
            shown.append((where, repr(thing)))
            shown.append((where, str(thing)))

        failures: list[BaseException] = []
        for bad in (self.settings(ssl=False, password=WRONG_PASSWORD),
                    self.settings(ssl=False, username=None, password=None, token=WRONG_TOKEN)):  # fmt: skip
            try:
                await connect(bad, reactor)
            except LoginError as e:
                failures.append(e)
            show("settings", bad)
        self.assertEqual(len(failures), 2)

        by_password = await self.client(self.settings(ssl=False))
        by_token = await self.client(self.settings(ssl=False, username=None, password=None, token=TOKEN))
        received: list[seto_pb2.Payload] = []
        for client in (by_password, by_token):
            client.add_global_handler(lambda name, message: received.append(message))

        def raising(message: Any) -> None:
            raise RuntimeError("a handler that fails")

        by_password.add_handler("seto.order_accepted", raising)
        await by_password.create_order(1, 11, BUY, 2500, 10000, reference=1, label="secure")
        for request, error in (
            (lambda: by_password.create_order(99, 11, BUY, 2500, 10000), OrderRejected),
            (lambda: by_password.create_order(1, 11, BUY, 2501, 10000), OrderInvalid),
            (lambda: by_token.cancel_order(10**9), RequestRejected),
        ):
            try:
                await request()
            except error as e:
                failures.append(e)
        await by_token.ping()

        # A cut, and the resume that follows it.
        logins: defer.Deferred[None] = defer.Deferred()
        by_password.add_handler("eto.login_response", lambda message: logins.called or logins.callback(None))
        pending = by_password.create_order(1, 12, BUY, 2000, 10000)
        by_password.session.protocol.transport.abortConnection()
        try:
            await pending
        except ConnectionLost as e:
            failures.append(e)
        await logins
        await by_password.ping()

        for client in (by_password, by_token):
            show("client", client)
            show("session", client.session)
            show("settings", client.session.settings)
            show("factory", client.session.factory)
            show("protocol", client.session.protocol)
            show("account state", client.account)
        factory = self.exchange.factory
        for server in list(factory.sessions.values()):
            show("server session", server)
        for connection in list(factory.connections):
            show("server protocol", connection)
        show("accounts", self.exchange.engine.accounts)
        for account in self.exchange.engine.accounts:
            show("account", account)
        await by_token.logout()
        await by_password.logout()
        # The raising handler ran for both acceptances: the second came with the resume.
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

        for failure in failures:
            show("exception", failure)
            show("exception args", failure.args)
        for message in received:
            show("message", message)
            shown.append(("message bytes", repr(message.SerializeToString())))
        self.assertGreater(len(events), 20)
        for event in events:
            shown.append(("log", formatEvent(event)))
            shown.append(("log text", eventAsText(event)))
            shown.append(("log event", repr(event)))
        for where, text in shown:
            self.assertNoSecret(text, where)
        # The search looked where it should: the refusals, the resume and the logouts
        # are all in what it searched, and it finds a secret when one is there.
        texts = "\n".join(text for _, text in shown)
        for seen in ("LOGOUT_UNAUTHORISED", "resumed", "LOGOUT_CONFIRMATION", "a handler that fails"):
            self.assertIn(seen, texts)
        self.assertRaises(self.failureException, self.assertNoSecret, f"<{TOKEN}>", "a control")
