"""The benchmarks run: each in ``--quick`` mode, from outside the tree, ends with its JSON.

Only that they work is checked (the keys, figures that are positive, the counts they
promise); timing targets are no unit-test material on a shared machine. The one exception
is a floor under the receive path's ratio to a bare parse, measured in one run.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
from typing import Any

from twisted.trial import unittest

BENCH = pathlib.Path(__file__).resolve().parent.parent / "bench"

#: Seconds one quick benchmark may take before it counts as hung (generous: a busy machine
#: runs them several times slower).
TIMEOUT = 180


class QuickBenchmarkTests(unittest.TestCase):
    """Each benchmark as a subprocess: ``python bench/x.py --quick --json``."""

    def run_bench(self, name: str, *extra: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """Run ``bench/<name>.py --quick --json`` in a scratch directory; its last line, parsed."""
        cwd = pathlib.Path(self.mktemp())
        cwd.mkdir()
        done = subprocess.run(
            [sys.executable, str(BENCH / f"{name}.py"), "--quick", "--json", *extra],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.assertEqual(done.returncode, 0, f"{name} failed:\n{done.stdout}\n{done.stderr}")
        lines = done.stdout.strip().splitlines()
        self.assertTrue(lines, f"{name} printed nothing")
        result = json.loads(lines[-1])
        self.assertIsInstance(result, dict)
        return result

    def assertPositive(self, result: dict[str, Any], *keys: str) -> None:
        for key in keys:
            self.assertIn(key, result)
            value = result[key]
            self.assertIsInstance(value, (int, float), key)
            self.assertTrue(math.isfinite(value) and value > 0, f"{key} = {value!r}")

    def test_receive(self) -> None:
        # A floor against accidents, not the target (0.4): the client's receive path and a
        # bare protobuf parse are measured in the same run, so the ratio holds on a busy
        # machine where the figures themselves do not; the best of five quick runs, since
        # a quick run is short enough for a neighbour's burst to skew it (three were seen
        # all to fall under the floor on a shared machine, with nothing changed). The floor
        # is 0.15: with both cores busy, quick runs of unchanged code read 0.27 to 0.29; an
        # accident (a layer many times slower) reads far below it.
        for _ in range(5):
            result = self.run_bench("receive")
            if result["ratio"] > 0.15:
                break
        self.assertPositive(result, "msgs_per_s", "pure_parse_msgs_per_s", "ratio", "with_book_msgs_per_s")
        self.assertAlmostEqual(
            result["ratio"], result["msgs_per_s"] / result["pure_parse_msgs_per_s"], places=2
        )
        self.assertEqual(
            set(result["layers_us_per_msg"]), {"framing", "framing+parse", "+session", "+client dispatch"}
        )
        self.assertGreater(result["ratio"], 0.15, result)

    def test_roundtrip(self) -> None:
        result = self.run_bench("roundtrip")
        self.assertPositive(
            result, "p50_us", "p99_us", "orders_per_s", "echo_p50_us", "echo_p99_us", "cancel_p50_us"
        )
        self.assertLessEqual(result["p50_us"], result["p99_us"])
        self.assertLessEqual(result["echo_p50_us"], result["echo_p99_us"])
        # The headline one-at-a-time figures are those of one of the placements measured.
        self.assertIn(result["placement"], result["by_placement"])
        self.assertEqual(result["p50_us"], result["by_placement"][result["placement"]]["p50_us"])
        # Every order was cancelled: the demo account's £1,000 is whole again.
        self.assertEqual(result["available_balance_after"], 1000.0)
        # The controls' cost: the pipelined blocks with and without them, and the tight loop
        # (their difference is a median of noisy pairs: finite, of either sign).
        self.assertPositive(
            result,
            "controls_off_us_per_order",
            "controls_every_client_cpu_us_per_order",
            "controls_bare_client_cpu_us_per_order",
            "controls_none_client_cpu_us_per_order",
            "controls_isolated_us_per_order",
        )
        for key in ("controls_us_per_order", "controls_bare_us_per_order", "controls_share_of_pipelined_order"):
            self.assertTrue(math.isfinite(result[key]), key)
        self.assertAlmostEqual(
            result["controls_share_of_pipelined_order"],
            result["controls_us_per_order"] / result["controls_off_us_per_order"],
            places=2,
        )

    def test_http_api(self) -> None:
        # Issue 24: an order create and a quotes read over HTTP, beside the streaming round
        # trip of the same run; every HTTP order was cancelled.
        result = self.run_bench("http_api")
        self.assertPositive(
            result,
            "http_create_p50_us", "http_create_p99_us", "http_quotes_p50_us", "http_quotes_p99_us",
            "http_cancel_p50_us", "streaming_create_p50_us", "streaming_create_p99_us",
            "http_create_over_streaming_p50", "http_client_cpu_us_per_request",
        )
        self.assertLessEqual(result["http_create_p50_us"], result["http_create_p99_us"])
        self.assertAlmostEqual(
            result["http_create_over_streaming_p50"], result["http_create_p50_us"] / result["streaming_create_p50_us"], places=1
        )
        self.assertEqual((result["orders"], result["http_available_balance_after"]), (200, "1000.00"))

    def test_bridge(self) -> None:
        # Issue 25: an order through the bridge against direct HTTP in the same run, the
        # market data's age, and each endpoint's requests against its limit, with the
        # upstream's rate limits on: no 429, and no limit ever used past its figure.
        result = self.run_bench("bridge")
        self.assertPositive(
            result,
            "bridge_create_p50_us", "bridge_create_p99_us", "direct_create_p50_us", "direct_create_p99_us",
            "bridge_over_direct_create_p50", "bridge_cancel_p50_us", "market_data_age_p50_ms", "market_data_age_p99_ms",
            "market_data_payloads", "quotes_rounds", "quotes_round_interval_s", "orders",
        )
        self.assertLessEqual(result["bridge_create_p50_us"], result["bridge_create_p99_us"])
        self.assertLessEqual(result["market_data_age_p50_ms"], result["market_data_age_p99_ms"])
        self.assertAlmostEqual(
            result["bridge_over_direct_create_p50"], result["bridge_create_p50_us"] / result["direct_create_p50_us"], places=1
        )
        self.assertEqual((result["markets"], result["rate_limited_429"]), (10, 0))
        self.assertIn("429s 0", result["status_line"])
        # A round of quotes no more often than the limit allows (50 a minute: 1.2 s).
        self.assertGreaterEqual(result["quotes_round_interval_s"], 1.2)
        quotes = result["requests"]["bridge"]["quotes"]
        self.assertEqual((quotes["limit"], quotes["limit_per_minute"], quotes["rate_limited_429"]), (50, 50.0, 0))
        for scope in ("bridge", "account", "direct"):
            for endpoint, figures in result["requests"][scope].items():
                self.assertEqual(figures["rate_limited_429"], 0, (scope, endpoint))
                if figures["limit"] is not None:
                    self.assertLessEqual(figures["peak_in_use"], figures["limit"], (scope, endpoint))
                    self.assertLessEqual(figures["last_minute_max"], figures["limit_per_minute"], (scope, endpoint))
        self.assertEqual(result["requests"]["account"]["create_order"]["requests"], result["orders"])

    def test_controls(self) -> None:
        result = self.run_bench("controls")
        self.assertPositive(result, "us_per_order_every", "us_per_order_bare", "us_per_order_none")
        for mode in ("every", "bare"):
            self.assertTrue(math.isfinite(result[f"extra_us_per_order_{mode}"]))
            self.assertAlmostEqual(
                result[f"share_{mode}"], result[f"extra_us_per_order_{mode}"] / result["us_per_order_none"], places=2
            )
        self.assertEqual(result["rounds"], 6)

    def test_controls_one_mode(self) -> None:
        cwd = pathlib.Path(self.mktemp())
        cwd.mkdir()
        done = subprocess.run(
            [sys.executable, str(BENCH / "controls.py"), "--mode", "bare", "--orders", "200"],
            cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertRegex(done.stdout, r"^bare: 200 orders, [0-9.]+ us of CPU an order\n$")

    def test_fanout(self) -> None:
        result = self.run_bench("fanout")
        for n in (1, 10, 100):
            self.assertPositive(result, f"msgs_per_s_n{n}", f"updates_per_s_n{n}", f"updates_n{n}")
            # Every client counted every update (the benchmark checks each client's count).
            per_update = result[f"msgs_per_s_n{n}"] / result[f"updates_per_s_n{n}"]
            self.assertTrue(abs(per_update - n) <= 0.01 * n, f"{per_update} messages an update, not {n}")
        self.assertIn("one process", result["layout"])

    def test_soak(self) -> None:
        result = self.run_bench("soak")
        self.assertEqual(result["messages"], 50_000)
        self.assertPositive(result, "rss_start_mib", "rss_end_mib", "msgs_per_s", "client_heartbeats_sent")
        self.assertIsInstance(result["rss_growth_mib"], (int, float))
        self.assertAlmostEqual(result["rss_growth_mib"], result["rss_end_mib"] - result["rss_start_mib"], places=1)

    def test_cancel_all(self) -> None:
        result = self.run_bench("cancel_all")
        self.assertEqual((result["orders"], result["cancelled_seen"]), (5000, 5000))
        self.assertTrue(result["reader_connected"])
        self.assertPositive(result, "cancel_all_s", "pings", "ping_p99_ms", "rss_after_mib")

    def test_resumable(self) -> None:
        result = self.run_bench("resumable")
        self.assertEqual((result["sessions_dropped"], result["sessions_held"]), (10, 8))
        self.assertPositive(result, "answers_mib")

    def test_sessions(self) -> None:
        result = self.run_bench("sessions")
        self.assertEqual(result["sessions"], 30)
        self.assertPositive(
            result, "login_s", "logins_per_s", "pbkdf2_ms", "rss_logged_in_mib", "client_heartbeats_received_min"
        )
        self.assertEqual((result["still_up"], result["dropped"], result["login_failures"]), (30, 0, 0))
        self.assertEqual((result["exchange_sessions"], result["exchange_connections"]), (30, 30))

    def test_framing(self) -> None:
        result = self.run_bench("framing")
        self.assertPositive(result, "frames", "chunked_64k_frames_per_s", "burst_1m_frames_per_s")

    def test_bridge_state(self) -> None:
        result = self.run_bench("bridge_state")
        self.assertPositive(result, "append_save_cpu_ms", "whole_save_cpu_ms", "append_bytes")
        # An append costs what changed: far less than writing every kept message again.
        self.assertGreater(result["whole_bytes"], 50 * result["append_bytes"])
        self.assertGreater(result["whole_over_append"], 3)

    def test_matching(self) -> None:
        result = self.run_bench("matching")
        self.assertPositive(result, "ops_per_s", "fills_per_s", "crossing_orders_per_s")

    def test_simulation(self) -> None:
        result = self.run_bench("simulation")
        self.assertPositive(result, "sim_ops_per_s", "sim_ops", "bare_ops_per_s", "ratio", "realtime_cpu_share")
        self.assertEqual(result["markets"], 10)
        self.assertAlmostEqual(result["ratio"], result["sim_ops_per_s"] / result["bare_ops_per_s"], places=2)
        # Recorded markets (issue 15): replay throughput, and flat memory.
        self.assertPositive(result, "replay_msgs_per_s", "replay_msgs", "replay_peak_kib_small", "replay_peak_kib_large")
        self.assertLess(result["replay_peak_kib_large"], 2 * result["replay_peak_kib_small"] + 256)

    def test_backtest(self) -> None:
        # Backtests (issue 16): end-to-end replay rate beside the receive path, simulated
        # time per wall time, and the sweep's speed-up (the bench checks the pool's reports
        # equal the one-by-one reports).
        result = self.run_bench("backtest")
        self.assertPositive(
            result, "replay_records_per_s", "client_msgs_per_s", "receive_msgs_per_s", "ratio", "sim_speed", "sweep_speedup"
        )
        self.assertEqual((result["sim_markets"], result["sweep_runs"]), (10, 8))
        self.assertAlmostEqual(result["ratio"], result["client_msgs_per_s"] / result["receive_msgs_per_s"], places=2)

    def test_backtest_anchor(self) -> None:
        # The anchor workload (issue 26), small: one market for 300 virtual seconds recorded,
        # then replayed by the trivial strategy in a fresh process.
        result = self.run_bench("backtest", "--workload", "anchor")
        self.assertPositive(
            result, "anchor_updates", "anchor_updates_per_s", "anchor_speed", "anchor_peak_rss_mib", "anchor_orders"
        )
        self.assertEqual((result["anchor_markets"], result["anchor_seconds"]), (1, 300))
        # Each order is cancelled 50 updates after it, one every 100: at most the last is not.
        self.assertIn(result["anchor_orders"] - result["anchor_cancels"], (0, 1))
        self.assertNotIn("sim_speed", result)

    def test_backtest_anchor_instructions(self) -> None:
        # The anchor's instructions an update (callgrind): a slope between two replays of
        # one market, each counted alone. Minutes of valgrind, so only when asked for
        # (TXSMARKETS_VALGRIND_TESTS=1) where valgrind is installed.
        if os.environ.get("TXSMARKETS_VALGRIND_TESTS") != "1":
            raise unittest.SkipTest("set TXSMARKETS_VALGRIND_TESTS=1 to run the benchmarks under valgrind")
        if shutil.which("valgrind") is None:
            raise unittest.SkipTest("valgrind is not installed")
        # Two runs under valgrind, some 50 times slower than without.
        result = self.run_bench("backtest", "--workload", "anchor", "--instructions", timeout=10 * TIMEOUT)
        self.assertPositive(result, "anchor_instructions_per_update")
        few, many = result["anchor_instruction_runs"]
        self.assertEqual((few["seconds"], many["seconds"]), (100, 300))
        self.assertLess(few["instructions"], many["instructions"])
        slope = (many["instructions"] - few["instructions"]) / (many["updates"] - few["updates"])
        self.assertEqual(result["anchor_instructions_per_update"], round(slope))

    def test_backtest_anchor_instruction_breakdown(self) -> None:
        # Each stage's slope, and its part: the differences of the slopes, adding up to the
        # whole path's. Ten runs under valgrind: only when asked for, as above.
        if os.environ.get("TXSMARKETS_VALGRIND_TESTS") != "1":
            raise unittest.SkipTest("set TXSMARKETS_VALGRIND_TESTS=1 to run the benchmarks under valgrind")
        if shutil.which("valgrind") is None:
            raise unittest.SkipTest("valgrind is not installed")
        result = self.run_bench("backtest", "--workload", "anchor", "--instructions", "--breakdown", timeout=30 * TIMEOUT)
        stages = result["anchor_instructions_to_stage"]
        parts = result["anchor_instructions_of_part"]
        self.assertEqual(list(stages), ["read", "replay", "build", "send", "full"])
        self.assertEqual(stages["full"], result["anchor_instructions_per_update"])
        self.assertEqual(sum(parts.values()), stages["full"])
        self.assertTrue(all(count > 0 for count in stages.values()), stages)

    def test_backtest_stages(self) -> None:
        """Each stage that ``--breakdown`` counts runs (here without valgrind) and goes no
        further than it says: only the whole path reaches the strategy, which places orders."""
        folder = self.mktemp()
        record = (
            "import pathlib, sys; sys.path.insert(0, sys.argv[1]); import backtest;"
            " print(backtest.record(pathlib.Path(sys.argv[2]), 1, 300)[0])"
        )
        directory = subprocess.run(
            [sys.executable, "-c", record, str(BENCH), folder], capture_output=True, text=True, timeout=TIMEOUT, check=True
        ).stdout.split()[-1]
        orders = {}
        for stage in ("read", "replay", "build", "send", "full"):
            done = subprocess.run(
                [sys.executable, str(BENCH / "backtest.py"), "--json", "--replay", directory, "--markets", "1", "--stage", stage],
                capture_output=True, text=True, timeout=TIMEOUT,
            )  # fmt: skip
            self.assertEqual(done.returncode, 0, (stage, done.stderr[-2000:]))
            result = json.loads(done.stdout.splitlines()[-1])
            if stage == "read":
                self.assertGreater(result["records"], 200)
            else:
                orders[stage] = result["orders"]
        self.assertEqual([stage for stage, placed in orders.items() if placed], ["full"], orders)

    def test_backtest_instructions_of_the_anchor_only(self) -> None:
        done = subprocess.run(
            [sys.executable, str(BENCH / "backtest.py"), "--instructions"],
            capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        self.assertEqual(done.returncode, 2)
        self.assertIn("--instructions counts the anchor workload", done.stderr)
