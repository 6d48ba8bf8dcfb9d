"""The client session's lifecycle: one state at a time, moved only by its machine."""

from __future__ import annotations

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure
from twisted.trial import unittest

from typing import Any

from automat import NoTransition

from txsmarkets.client import SessionState
from txsmarkets.client.lifecycle import MOVES, Lifecycle
from txsmarkets.exceptions import ConnectionError, LoginError, SessionClosed
from txsmarkets.testing import ScriptedExchange
from txsmarkets.wire import eto_pb2
from txsmarkets.wire.framing import frame_encode
from txsmarkets.wire.messages import eto_message

S = SessionState


class _Actions:
    """Lifecycle actions that only note what they were asked to do."""

    def __init__(self) -> None:
        self.done: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def action(*args: object) -> bool:
            self.done.append(name)
            return True

        return action


class TableTests(unittest.TestCase):
    def test_every_state_reachable_from_idle(self) -> None:
        reached = {S.IDLE}
        frontier = [S.IDLE]
        while frontier:
            state = frontier.pop()
            for move in MOVES:
                if state in move.sources and move.target is not None and move.target not in reached:
                    reached.add(move.target)
                    frontier.append(move.target)
        self.assertEqual(reached, set(S))

    def test_failed_leaves_only_by_failing(self) -> None:
        self.assertEqual({m.target for m in MOVES if S.FAILED in m.sources} - {None}, {S.FAILED})

    def test_every_move_to_another_state_announces_it(self) -> None:
        for move in MOVES:
            if move.target is not None and set(move.sources) - {move.target}:
                self.assertIn("announce", move.outputs, move)

    def test_illegal_transition_raises(self) -> None:
        lifecycle = Lifecycle(_Actions())
        with self.assertRaises(NoTransition):
            lifecycle.closed_before_login(Failure(ConnectionDone()), ValueError())
        lifecycle.fail(ValueError("refused"))
        self.assertIs(lifecycle.state, S.FAILED)
        with self.assertRaises(NoTransition):
            lifecycle.connect()

    def test_outputs_on_the_transitions(self) -> None:
        actions = _Actions()
        lifecycle = Lifecycle(actions)
        lifecycle.connect()
        self.assertEqual((lifecycle.state, actions.done), (S.CONNECTING, ["announce", "start_connecting"]))
        lifecycle.login_sent(object())
        lifecycle.login_answered(object())
        self.assertIs(lifecycle.state, S.LOGGED_IN)
        del actions.done[:]
        lifecycle.disconnect()
        self.assertEqual((lifecycle.state, actions.done), (S.IDLE, ["stop_trying", "announce", "let_go"]))


class LifeTests(unittest.TestCase):
    """The states a real client goes through, seen through ``session.on_state``."""

    def setUp(self) -> None:
        self.ex = ScriptedExchange()
        self.states: list[SessionState] = []
        self.ex.session.on_state = lambda old, new: self.states.append(new)

    def test_login_cut_resume_logout(self) -> None:
        ex = self.ex
        self.failureResultOf(ex.client.ping(), ConnectionError)  # not logged in yet
        login = ex.client.login()
        ex.login()
        self.successResultOf(login)
        self.assertEqual(self.states, [S.CONNECTING, S.LOGGING_IN, S.LOGGED_IN])
        ex.proto.connectionLost(Failure(ConnectionLost()))
        self.assertIs(ex.session.state, S.WAITING_TO_RETRY)
        self.failureResultOf(ex.client.ping(), ConnectionError)
        ex.login()
        self.assertEqual(self.states[-3:], [S.WAITING_TO_RETRY, S.RESUMING, S.LOGGED_IN])
        logout = ex.client.logout()
        self.assertIs(ex.session.state, S.LOGGING_OUT)
        self.assertEqual([p.eto_payload.type for p in ex.sent()], [eto_pb2.PAYLOAD_LOGOUT])
        # Nothing more is sent once logging out: a create fails at once, and so does a ping
        # (a failed Deferred, as every request: nothing raises in the caller's hands).
        self.failureResultOf(ex.client.create_order(1, 11, 1, 2500, 10), SessionClosed)
        self.failureResultOf(ex.client.ping(), SessionClosed)
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


class ReviewTests(unittest.TestCase):
    """What a review of the lifecycle found."""

    def test_login_answered_after_logout_is_not_taken_up(self) -> None:
        ex = ScriptedExchange()
        login = ex.client.login()
        ex.connect()
        ex.sent()
        logout = ex.client.logout()
        self.failureResultOf(login, SessionClosed)
        self.assertIs(ex.session.state, S.LOGGING_OUT)
        ex.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=eto_pb2.LoginResponse(session="s-9", reset=2))
        self.assertIs(ex.session.state, S.LOGGING_OUT)
        self.assertIsNone(ex.session.session_id)
        ex.proto.connectionLost(Failure(ConnectionDone()))
        self.successResultOf(logout)
        self.assertIs(ex.session.state, S.CLOSED)

    def test_old_connection_cannot_log_the_new_one_in(self) -> None:
        ex = ScriptedExchange()
        ex.client.login()
        ex.login()
        old = ex.proto
        ex.session.disconnect()
        ex.client.login()
        ex.connect()  # the new connection's login is not answered yet
        ex.sent()
        response = eto_message(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=eto_pb2.LoginResponse(session="s-1", reset=3))
        response.eto_payload.seq = 2
        frame = bytearray()
        frame_encode(frame, response.SerializeToString())
        old.dataReceived(bytes(frame))
        self.assertIs(ex.session.state, S.RESUMING)
        self.assertFalse(ex.session.connected)

    def test_logout_while_connecting(self) -> None:
        from txsmarkets.testing import MemoryExchange

        exchange = MemoryExchange()
        client = exchange.client()
        login = client.login()
        self.assertIs(client.session.state, S.CONNECTING)
        logout = client.logout()
        self.failureResultOf(login, SessionClosed)
        self.successResultOf(logout)
        self.assertIs(client.session.state, S.CLOSED)
        exchange.advance(5)
        self.assertEqual(exchange.factory.sessions, {})

    def test_disconnect_while_connecting_stays_resumable(self) -> None:
        from txsmarkets.testing import MemoryExchange

        exchange = MemoryExchange()
        client = exchange.client()
        client.login().addErrback(lambda f: None)
        client.session.disconnect()
        self.assertIs(client.session.state, S.IDLE)
        again = client.login()
        exchange.run(again)
        self.assertTrue(client.session.connected)

    def test_backoff_grows_when_logged_out_at_once(self) -> None:
        ex = ScriptedExchange()
        ex.client.login()
        ex.login()
        assert ex.session.connector is not None
        policy = ex.session.connector.policy
        ex.proto.connectionLost(Failure(ConnectionLost()))
        for _ in range(4):
            ex.clock.advance(policy.delay)
            ex.endpoint.refuse()
        retries = policy.retries
        self.assertEqual(retries, 5)
        ex.clock.advance(policy.delay)
        ex.login()  # answered: the backoff resets ...
        self.assertEqual(policy.retries, 0)
        ex.logout(eto_pb2.LOGOUT_DOWNTIME)  # ... and the exchange ends it at once
        self.assertGreater(policy.retries, retries)
        self.assertGreater(policy.delay, 8)


class RetryPolicyTests(unittest.TestCase):
    """The session's ClientService and its retry policy, attempt by attempt."""

    def test_unknown_session_retries_at_once_then_backs_off(self) -> None:
        ex = ScriptedExchange()
        ex.client.login()
        ex.login()
        ex.logout(eto_pb2.LOGOUT_UNKNOWN_SESSION)
        ex.clock.advance(0)
        self.assertEqual(ex.endpoint.waiting, 1)  # at once, no backoff
        ex.endpoint.refuse()
        ex.clock.advance(0)
        self.assertEqual(ex.endpoint.waiting, 0)  # that one failed: the backoff resumes
        assert ex.session.connector is not None
        self.assertGreater(ex.session.connector.policy.delay, 0)
        ex.clock.advance(ex.session.connector.policy.delay)
        self.assertEqual(ex.endpoint.waiting, 1)

    def test_first_attempt_refused_fails_fast(self) -> None:
        ex = ScriptedExchange()
        login = ex.client.login()
        ex.endpoint.refuse()
        ex.clock.advance(0)
        failure = self.failureResultOf(login, ConnectionError)
        self.assertIn("cannot connect to exchange.test", str(failure.value))
        self.assertIs(ex.session.state, S.FAILED)
        ex.clock.advance(60)
        self.assertEqual(ex.endpoint.attempts, 1)

    def test_without_fail_fast_refusals_are_retried(self) -> None:
        ex = ScriptedExchange(fail_fast=False)
        login = ex.client.login()
        for _ in range(3):
            ex.endpoint.refuse()
            self.assertIs(ex.session.state, S.WAITING_TO_RETRY)
            ex.clock.advance(30)
        ex.login()
        self.successResultOf(login)
        self.assertEqual(ex.endpoint.attempts, 4)

    def test_max_retries_gives_up(self) -> None:
        ex = ScriptedExchange(fail_fast=False, max_retries=2)
        login = ex.client.login()
        for _ in range(3):
            ex.endpoint.refuse()
            ex.clock.advance(30)
        failure = self.failureResultOf(login, ConnectionError)
        self.assertIn("after 2 attempts", str(failure.value))
        self.assertIs(ex.session.state, S.FAILED)
        self.assertEqual((ex.endpoint.attempts, ex.endpoint.waiting), (3, 0))

    def test_disconnect_cancels_a_late_giving_up(self) -> None:
        ex = ScriptedExchange(fail_fast=False, max_retries=0)
        ex.client.login().addErrback(lambda f: None)
        ex.endpoint.refuse()  # the policy gives up on the clock's next turn ...
        ex.session.disconnect()  # ... but the session stopped first
        ex.clock.advance(0)
        self.assertIs(ex.session.state, S.IDLE)
