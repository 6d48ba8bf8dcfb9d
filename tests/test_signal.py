"""Tests for txsmarkets.signal.Signal, the 9.3 client's tests among them."""

from __future__ import annotations

import ast
import inspect
import threading
from unittest.mock import Mock, sentinel

from twisted.trial.unittest import SynchronousTestCase

from txsmarkets import signal as signal_module
from txsmarkets.signal import Signal


def always_raise(*args: object, **kwargs: object) -> None:
    """Raise `Exception` with no arguments, as the 9.3 tests' handler does."""
    raise Exception()


class Signal93Tests(SynchronousTestCase):
    """The 9.3 client's own Signal tests."""

    def setUp(self) -> None:
        self.callback = Signal()

    def test_simple_fire(self) -> None:
        handler = Mock()
        self.callback += handler
        self.assertFalse(handler.called)
        self.assertEqual(1, len(self.callback))
        self.callback(message=sentinel.message)
        handler.assert_called_once_with(message=sentinel.message)
        self.assertEqual(1, len(self.callback))

    def test_positional_arguments(self) -> None:
        """An older 9.x fired with positional arguments: they reach the handlers too."""
        handler = Mock()
        self.callback += handler
        self.callback(sentinel.message)
        handler.assert_called_once_with(sentinel.message)

    def test_unhandle(self) -> None:
        handler = Mock()
        self.callback += handler
        self.assertEqual(1, len(self.callback))
        self.callback -= handler
        self.assertEqual(0, len(self.callback))
        self.callback(message=sentinel.message)
        self.assertFalse(handler.called)

    def test_2_handlers(self) -> None:
        handler1 = Mock()
        handler2 = Mock()
        self.callback += handler1
        self.callback += handler2
        self.assertEqual(2, len(self.callback))
        self.callback(message=sentinel.message)
        handler1.assert_called_once_with(message=sentinel.message)
        handler2.assert_called_once_with(message=sentinel.message)
        self.assertEqual(2, len(self.callback))

    def test_many_handlers(self) -> None:
        handlers = [Mock() for _ in range(1, 100)]
        for handler in handlers:
            self.callback += handler
        self.assertEqual(len(handlers), len(self.callback))
        self.callback(message=sentinel.message)
        for handler in handlers:
            handler.assert_called_once_with(message=sentinel.message)
        self.assertEqual(len(handlers), len(self.callback))

    def test_many_unhandle(self) -> None:
        real_handlers = [Mock() for _ in range(1, 100)]
        to_unhandle = [Mock() for _ in range(1, 20)]
        for handler in real_handlers + to_unhandle:
            self.callback += handler
        self.assertEqual(len(real_handlers) + len(to_unhandle), len(self.callback))
        for handler in to_unhandle:
            self.callback -= handler
        self.assertEqual(len(real_handlers), len(self.callback))
        self.callback(message=sentinel.message)
        for handler in to_unhandle:
            self.assertFalse(handler.called)
        for handler in real_handlers:
            handler.assert_called_once_with(message=sentinel.message)

    def test_handle_exception(self) -> None:
        self.callback += Mock(side_effect=always_raise)
        self.assertRaises(Exception, self.callback, message=sentinel.message)

    def test_2_handle_exception(self) -> None:
        handler1 = Mock(side_effect=always_raise)
        handler2 = Mock()
        self.callback += handler1
        self.callback += handler2
        self.assertRaises(Exception, self.callback, message=sentinel.message)
        # in insertion order, so the second is never reached
        self.assertFalse(handler2.called)

    def test_removing_non_existing_handler_fails(self) -> None:
        def remove() -> None:
            signal = Signal()
            signal -= "irrelevant"

        self.assertRaises(KeyError, remove)

    def test_removing_handler_works(self) -> None:
        signal = Signal()
        handler = Mock()
        signal += handler
        signal -= handler
        signal.fire()
        self.assertFalse(handler.called)


class SignalTests(SynchronousTestCase):
    def test_add_and_fire(self) -> None:
        calls = []
        signal = Signal()
        signal.add(lambda **kw: calls.append(("add", kw)))
        signal.handle(lambda **kw: calls.append(("handle", kw)))
        signal += lambda **kw: calls.append(("iadd", kw))
        signal.fire(a=1)
        self.assertEqual(calls, [("add", {"a": 1}), ("handle", {"a": 1}), ("iadd", {"a": 1})])

    def test_call_is_fire(self) -> None:
        calls = []
        signal = Signal()
        signal += lambda *args, **kw: calls.append((args, kw))
        signal()
        signal(message="m")
        signal(1, 2, message="m")
        self.assertEqual(calls, [((), {}), ((), {"message": "m"}), ((1, 2), {"message": "m"})])

    def test_methods_return_the_signal(self) -> None:
        signal = original = Signal()
        self.assertIs(signal.add(print), signal)
        self.assertIs(signal.remove(print), signal)
        self.assertIs(signal.handle(print), signal)
        signal -= print
        signal += print
        signal -= print
        self.assertIs(signal, original)
        self.assertIs(signal.add(print).add(repr).remove(print), signal)
        self.assertEqual(signal.handlers, (repr,))

    def test_remove(self) -> None:
        calls = []

        def handler(**kw: object) -> None:
            calls.append(kw)

        signal = Signal()
        signal += handler
        signal -= handler
        signal.fire()
        signal.add(handler)
        signal.remove(handler)
        signal.fire()
        self.assertEqual(calls, [])
        self.assertEqual(signal.handlers, ())

    def test_remove_unknown(self) -> None:
        signal = Signal()
        error = self.assertRaises(KeyError, signal.remove, print)
        self.assertEqual(error.args, (print,))
        signal += repr
        self.assertRaises(KeyError, signal.remove, print)
        self.assertEqual(signal.handlers, (repr,))

    def test_same_handler_twice(self) -> None:
        calls = []

        def handler(**kw: object) -> None:
            calls.append(kw)

        signal = Signal()
        signal += handler
        signal += handler
        self.assertEqual(len(signal), 1)
        signal.fire()
        self.assertEqual(len(calls), 1)
        signal -= handler
        signal.fire()
        self.assertEqual(len(calls), 1)
        self.assertEqual(len(signal), 0)

    def test_bound_methods_are_one_handler(self) -> None:
        """A bound method made twice is the same handler: it is added, and removed, once."""

        class Listener:
            def __init__(self) -> None:
                self.calls = 0

            def on(self) -> None:
                self.calls += 1

        listener = Listener()
        signal = Signal()
        signal += listener.on
        signal += listener.on
        signal.fire()
        self.assertEqual(listener.calls, 1)
        signal -= listener.on
        self.assertEqual(len(signal), 0)

    def test_insertion_order(self) -> None:
        calls = []
        handlers = [lambda i=i: calls.append(i) for i in range(50)]
        signal = Signal()
        for handler in handlers:
            signal += handler
        signal += handlers[0]  # already there: keeps its place
        signal.fire()
        self.assertEqual(calls, list(range(50)))
        self.assertEqual(list(signal), handlers)
        self.assertEqual(signal.handlers, tuple(handlers))

    def test_len_iter_contains(self) -> None:
        signal = Signal()
        self.assertEqual(len(signal), 0)
        self.assertFalse(signal)
        self.assertEqual(list(signal), [])
        signal += print
        self.assertTrue(signal)
        self.assertIn(print, signal)
        self.assertNotIn(repr, signal)
        self.assertNotIn([], signal)
        self.assertEqual(list(signal), [print])

    def test_unhashable_handler(self) -> None:
        class Unhashable:
            __hash__ = None  # type: ignore[assignment]

            def __call__(self) -> None:
                pass

        self.assertRaises(TypeError, Signal().add, Unhashable())

    def test_exception_propagates_and_stops_the_round(self) -> None:
        calls = []
        signal = Signal()
        signal += lambda **kw: calls.append(1)
        signal += lambda **kw: 1 / 0
        signal += lambda **kw: calls.append(3)
        self.assertRaises(ZeroDivisionError, signal.fire)
        self.assertEqual(calls, [1])
        self.assertEqual(self.flushLoggedErrors(), [])
        self.assertEqual(len(signal), 3)

    def test_handler_changes_during_fire(self) -> None:
        """Firing calls the handlers there were when it started."""
        calls = []
        signal = Signal()

        def first(**kw: object) -> None:
            calls.append("first")
            signal.remove(first)
            signal.add(late)

        def late(**kw: object) -> None:
            calls.append("late")

        signal += first
        signal += lambda **kw: calls.append("second")
        signal.fire()
        self.assertEqual(calls, ["first", "second"])
        signal.fire()
        self.assertEqual(calls, ["first", "second", "second", "late"])

    def test_standard_library_only(self) -> None:
        tree = ast.parse(inspect.getsource(signal_module))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        self.assertEqual(imported - {"__future__", "threading", "typing"}, set())

    def test_threads(self) -> None:
        signal = Signal()
        counts = []
        lock = threading.Lock()

        def work() -> None:
            def count(**kw: object) -> None:
                with lock:
                    counts.append(1)

            for _ in range(200):
                signal.add(count)
                signal.fire()
                signal.remove(count)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(signal.handlers, ())
        self.assertGreaterEqual(len(counts), 8 * 200)

    def test_threads_share_one_handler(self) -> None:
        """Adding one handler from many threads keeps it once."""
        signal = Signal()
        calls = []

        def handler() -> None:
            calls.append(1)

        barrier = threading.Barrier(8)

        def work() -> None:
            barrier.wait()
            for _ in range(200):
                signal.add(handler)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        signal.fire()
        self.assertEqual(len(signal), 1)
        self.assertEqual(calls, [1])
