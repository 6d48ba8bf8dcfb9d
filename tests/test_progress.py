"""`txsmarkets.progress`: the one progress bar of the backtest and the journal reader."""

from __future__ import annotations

import io

from twisted.trial import unittest

from txsmarkets.progress import ProgressBar, for_stream, mebibytes


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class ProgressBarTests(unittest.SynchronousTestCase):
    def test_redrawn_every_interval_with_rate_and_time_left(self) -> None:
        """The backtest's bar: the wall clock is read every 64 updates, and the line redrawn
        once ``interval`` has passed; `end` leaves the last state on its own line."""
        now = [100.0]
        stream = io.StringIO()
        bar = ProgressBar(stream, width=10, interval=1.0, timer=lambda: now[0])
        bar.begin(3600, "seconds")
        for done in range(1, 64):
            now[0] += 0.125
            bar.update(done * 10)
        self.assertEqual(stream.getvalue(), "")
        bar.update(640)
        self.assertEqual(stream.getvalue(), "\r[#.........]  17% 640/3,600 seconds, 81x real time, 36 s left ")
        bar.end()
        self.assertTrue(stream.getvalue().endswith("\n"))
        self.assertEqual(stream.getvalue().count("\r"), 2)

    def test_redrawn_at_each_whole_percent_then_cleared(self) -> None:
        """The journal reader's bar: redrawn when the whole percent changes; `clear` erases
        the line."""
        stream = io.StringIO()
        bar = ProgressBar(stream, interval=None, blank=" ", detail=mebibytes)
        bar.begin(4 * 1024 * 1024, "bytes")
        for done in range(0, 4 * 1024 * 1024 + 1, 4096):
            bar.update(done)
        lines = stream.getvalue().split("\r")[1:]
        self.assertEqual(len(lines), 101)
        self.assertEqual(lines[0], "[                              ]   0% 0.0/4.0 MiB")
        self.assertEqual(lines[-1], "[##############################] 100% 4.0/4.0 MiB")
        bar.clear()
        self.assertTrue(stream.getvalue().endswith("\r" + " " * len(lines[-1]) + "\r"))
        bar.clear()
        self.assertEqual(stream.getvalue().count("\r"), 103)

    def test_only_on_a_terminal(self) -> None:
        self.assertIsNone(for_stream(io.StringIO()))
        self.assertIsNone(for_stream(TTY(), quiet=True))
        self.assertIsInstance(for_stream(TTY()), ProgressBar)

    def test_the_backtests_names(self) -> None:
        """``txsmarkets.backtest.progress`` keeps its names: they are this module's."""
        from txsmarkets import progress
        from txsmarkets.backtest import progress as backtest_progress

        self.assertIs(backtest_progress.ProgressBar, progress.ProgressBar)
        self.assertIs(backtest_progress.for_stream, progress.for_stream)
