"""Tests for txsmarkets.signal.Signal."""

from __future__ import annotations

import threading

from twisted.trial.unittest import SynchronousTestCase

from txsmarkets.signal import Signal


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
        signal += lambda **kw: calls.append(kw)
        signal()
        signal(message="m")
        self.assertEqual(calls, [{}, {"message": "m"}])

    def test_iadd_keeps_the_signal(self) -> None:
        signal = original = Signal()
        signal += print
        signal -= print
        self.assertIs(signal, original)

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
        error = self.assertRaises(ValueError, signal.remove, print)
        self.assertIn("not a handler", str(error))

    def test_same_handler_twice(self) -> None:
        calls = []

        def handler(**kw: object) -> None:
            calls.append(kw)

        signal = Signal()
        signal += handler
        signal += handler
        signal.fire()
        self.assertEqual(len(calls), 2)
        signal -= handler
        signal.fire()
        self.assertEqual(len(calls), 3)

    def test_add_as_decorator(self) -> None:
        signal = Signal()

        @signal.handle
        def handler(**kw: object) -> None:
            pass

        self.assertTrue(callable(handler))
        self.assertEqual(signal.handlers, (handler,))

    def test_empty_signal_is_true(self) -> None:
        self.assertTrue(Signal())

    def test_raising_handler_does_not_stop_others(self) -> None:
        calls = []
        signal = Signal()
        signal += lambda **kw: calls.append(1)
        signal += lambda **kw: 1 / 0
        signal += lambda **kw: calls.append(3)
        signal.fire()
        self.assertEqual(calls, [1, 3])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

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

    def test_threads(self) -> None:
        signal = Signal()
        counts = []
        lock = threading.Lock()

        def count(**kw: object) -> None:
            with lock:
                counts.append(1)

        def work() -> None:
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
