"""The client session's lifecycle: one state at a time, moved only by the table."""

from __future__ import annotations

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure
from twisted.trial import unittest

from txsmarkets.client import SessionState
from txsmarkets.client.lifecycle import TRANSITIONS, Event, IllegalTransition, next_state
from txsmarkets.exceptions import LoginError, SessionClosed
from txsmarkets.testing import ScriptedExchange
from txsmarkets.wire import eto_pb2

S = SessionState


class TableTests(unittest.TestCase):
    def test_every_state_reachable_from_idle(self) -> None:
        reached = {S.IDLE}
        frontier = [S.IDLE]
        while frontier:
            state = frontier.pop()
            for (source, _), target in TRANSITIONS.items():
                if source is state and target not in reached:
                    reached.add(target)
                    frontier.append(target)
        self.assertEqual(reached, set(S))

    def test_failed_leaves_only_by_failing(self) -> None:
        self.assertEqual({e for (s, e) in TRANSITIONS if s is S.FAILED}, {Event.FAIL})

    def test_illegal_transition_raises(self) -> None:
        with self.assertRaises(IllegalTransition):
            next_state(S.CLOSED, Event.LOGGED_IN)
        with self.assertRaises(IllegalTransition):
            next_state(S.FAILED, Event.CONNECT)


class LifeTests(unittest.TestCase):
    """The states a real client goes through, seen through ``session.on_state``."""

    def setUp(self) -> None:
        self.ex = ScriptedExchange()
        self.states: list[SessionState] = []
        self.ex.session.on_state = lambda old, new: self.states.append(new)

    def test_login_cut_resume_logout(self) -> None:
        ex = self.ex
        login = ex.client.login()
        ex.login()
        self.successResultOf(login)
        self.assertEqual(self.states, [S.CONNECTING, S.LOGGING_IN, S.LOGGED_IN])
        ex.proto.connectionLost(Failure(ConnectionLost()))
        self.assertIs(ex.session.state, S.WAITING_TO_RETRY)
        ex.login()
        self.assertEqual(self.states[-3:], [S.WAITING_TO_RETRY, S.RESUMING, S.LOGGED_IN])
        logout = ex.client.logout()
        self.assertIs(ex.session.state, S.LOGGING_OUT)
        self.assertEqual([p.eto_payload.type for p in ex.sent()], [eto_pb2.PAYLOAD_LOGOUT])
        # Nothing more is sent once logging out: a create fails at once.
        self.failureResultOf(ex.client.create_order(1, 11, 1, 2500, 10), SessionClosed)
        self.assertEqual(ex.sent(), [])
        ex.logout(eto_pb2.LOGOUT_CONFIRMATION)
        self.successResultOf(logout)
        self.assertEqual(self.states[-2:], [S.LOGGING_OUT, S.CLOSED])

    def test_refused_for_good(self) -> None:
        ex = self.ex
        login = ex.client.login()
        ex.connect()
        ex.sent()
        ex.logout(eto_pb2.LOGOUT_UNAUTHORISED)
        self.failureResultOf(login, LoginError)
        self.assertIs(ex.session.state, S.FAILED)
        self.failureResultOf(ex.client.login(), SessionClosed)

    def test_retryable_refusal_waits(self) -> None:
        ex = self.ex
        login = ex.client.login()
        ex.connect()
        ex.sent()
        ex.logout(eto_pb2.LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE)
        self.assertNoResult(login)
        self.assertIs(ex.session.state, S.WAITING_TO_RETRY)
        ex.login()
        self.successResultOf(login)

    def test_disconnect_then_connect_again(self) -> None:
        ex = self.ex
        ex.client.login()
        ex.login()
        ex.session.disconnect()
        self.assertIs(ex.session.state, S.IDLE)
        self.assertFalse(ex.session.connected)
        # The dropped connection's close, arriving late, changes nothing.
        ex.proto.connectionLost(Failure(ConnectionDone()))
        self.assertIs(ex.session.state, S.IDLE)
