"""A session's events are observers that any number of listeners join and leave."""

from __future__ import annotations

from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.trial import unittest

from txsmarkets.client import SessionState
from txsmarkets.client.observers import Observers
from txsmarkets.testing import ScriptedExchange

S = SessionState


class ObserversTests(unittest.TestCase):
    def test_every_listener_hears_in_order_once(self) -> None:
        heard: list[str] = []
        observers: Observers[[int]] = Observers("test")
        first = observers.add(lambda n: heard.append(f"a{n}"))
        observers.add(lambda n: heard.append(f"b{n}"))
        observers.add(first)
        observers(1)
        self.assertEqual(heard, ["a1", "b1"])
        observers.remove(first)
        observers(2)
        self.assertEqual(heard, ["a1", "b1", "b2"])
        self.assertRaises(KeyError, observers.remove, first)

    def test_a_raising_listener_is_logged_and_the_others_run(self) -> None:
        heard: list[int] = []
        observers: Observers[[int]] = Observers("test")

        def broken(n: int) -> None:
            raise ValueError("broken listener")

        observers.add(broken)
        observers.add(heard.append)
        observers(7)
        self.assertEqual(heard, [7])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)


class SessionObserversTests(unittest.TestCase):
    """The client, a host and the application each join a session's events."""

    def test_many_listeners_hear_a_disconnect(self) -> None:
        ex = ScriptedExchange()
        d = ex.client.login()
        ex.login()
        self.successResultOf(d)
        ping = ex.client.ping()
        heard: list[str] = []
        ex.session.on_disconnect.add(lambda reason: heard.append("one"))
        ex.session.on_disconnect.add(lambda reason: heard.append("two"))
        ex.proto.connectionLost(Failure(ConnectionLost()))
        self.assertEqual(heard, ["one", "two"])
        # The client's own listener ran too: its waiting requests failed.
        self.failureResultOf(ping)

    def test_assignment_replaces_only_the_assigned_listener(self) -> None:
        ex = ScriptedExchange()
        states: list[tuple[str, SessionState]] = []
        ex.session.on_state.add(lambda old, new: states.append(("added", new)))
        ex.session.on_state = lambda old, new: states.append(("first", new))
        ex.session.on_state = lambda old, new: states.append(("second", new))
        ex.client.login()
        self.assertEqual(states, [("added", S.CONNECTING), ("second", S.CONNECTING)])

    def test_a_session_failing_for_good_tells_on_failed(self) -> None:
        """Logged out for good while logged in, with no login waiting: the ``on_failed``
        observers hear why (a daemon needs no login kept waiting to hear it)."""
        from txsmarkets.exceptions import LoginError
        from txsmarkets.wire import eto_pb2

        ex = ScriptedExchange()
        d = ex.client.login()
        ex.login()
        self.successResultOf(d)
        failures: list[Failure] = []
        ex.session.on_failed.add(failures.append)
        ex.logout(eto_pb2.LOGOUT_UNAUTHORISED)
        self.assertIs(ex.session.state, S.FAILED)
        self.assertEqual(len(failures), 1)
        self.assertTrue(failures[0].check(LoginError))
        self.flushLoggedErrors()
