"""``python -m txsmarkets.persistence.journal``: filters, time range, follow, summary, progress."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys

from twisted.trial import unittest

from txsmarkets.persistence.journal import Journal, main, parse_time
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.wire.messages import eto_message, new_payload


def quotes(seq: int, market: int = 1) -> bytes:
    payload = new_payload(seto_pb2.PAYLOAD_CONTRACT_QUOTES)
    payload.eto_payload.seq = seq
    payload.contract_quotes.market_id = market
    payload.contract_quotes.contract_id = market * 10 + 1
    return payload.SerializeToString()


def heartbeat(seq: int) -> bytes:
    payload = eto_message(eto_pb2.PAYLOAD_HEARTBEAT)
    payload.eto_payload.seq = seq
    return payload.SerializeToString()


def login_response(seq: int, session: str) -> bytes:
    payload = eto_message(eto_pb2.PAYLOAD_LOGIN_RESPONSE)
    payload.eto_payload.seq = seq
    payload.eto_payload.login_response.session = session
    return payload.SerializeToString()


class Clock:
    """The journal's time source: each record a second after the last, from ``start``."""

    def __init__(self, start: float) -> None:
        self.now = start - 1

    def __call__(self) -> float:
        self.now += 1
        return self.now


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


# 2026-12-01T00:00:00Z
T0 = 1796083200.0


class ReaderTests(unittest.SynchronousTestCase):
    def journal(self, **options: object) -> tuple[str, Journal]:
        folder = self.mktemp()
        return folder, Journal(folder, now=Clock(T0), **options)  # type: ignore[arg-type]

    def sample(self) -> str:
        """Six records at T0 .. T0+5: a login, quotes of markets 1, 2, 3, a heartbeat, quotes."""
        folder, journal = self.journal()
        journal.record_in(login_response(1, "session-a"))
        journal.record_in(quotes(2, market=1))
        journal.record_in(quotes(3, market=2))
        journal.record_in(quotes(4, market=3))
        journal.record_out(heartbeat(5))
        journal.record_in(quotes(6, market=1))
        journal.close()
        return folder

    def read(self, *argv: str) -> list[str]:
        out, err = io.StringIO(), io.StringIO()
        self.assertEqual(main(list(argv), out=out, err=err), 0, err.getvalue())
        return out.getvalue().splitlines()

    def seqs(self, *argv: str) -> list[int]:
        return [int(line.split()[2][1:]) for line in self.read(*argv)]

    def test_unknown_type_is_an_error_listing_the_names(self) -> None:
        folder = self.sample()
        out, err = io.StringIO(), io.StringIO()
        self.assertEqual(main([folder, "--type", "seto.order_acepted"], out=out, err=err), 2)
        self.assertEqual(out.getvalue(), "")
        message = err.getvalue()
        self.assertIn("unknown --type 'seto.order_acepted'", message)
        self.assertIn("seto.order_accepted", message)
        self.assertIn("eto.heartbeat", message)
        self.assertEqual(len(message.splitlines()), 1)

    def test_type_and_market_repeatable(self) -> None:
        folder = self.sample()
        self.assertEqual(self.seqs(folder, "--market", "1", "--market", "3"), [2, 4, 6])
        self.assertEqual(self.seqs(folder, "--type", "eto.heartbeat", "--type", "eto.login_response"), [1, 5])
        self.assertEqual(self.seqs(folder, "--type", "seto.contract_quotes", "--market", "2"), [3])

    def test_since_until(self) -> None:
        folder = self.sample()
        self.assertEqual(self.seqs(folder, "--since", str(T0 + 2)), [3, 4, 5, 6])
        self.assertEqual(self.seqs(folder, "--until", str(T0 + 2)), [1, 2])
        self.assertEqual(self.seqs(folder, "--since", "2026-12-01T00:00:01", "--until", "2026-12-01T00:00:03Z"), [2, 3])
        # One hour east of UTC: 01:00:04+01:00 is 00:00:04Z.
        self.assertEqual(self.seqs(folder, "--since", "2026-12-01T01:00:04+01:00"), [5, 6])
        err = io.StringIO()
        self.assertEqual(main([folder, "--since", "yesterday"], out=io.StringIO(), err=err), 2)
        self.assertIn("'yesterday'", err.getvalue())

    def test_parse_time(self) -> None:
        self.assertEqual(parse_time("12.5"), 12.5)
        self.assertEqual(parse_time("1970-01-01T00:01:00"), 60.0)
        self.assertEqual(parse_time("1970-01-01 01:01:00+01:00"), 60.0)
        self.assertRaises(ValueError, parse_time, "soon")

    def test_summary(self) -> None:
        folder, journal = self.journal()
        journal.record_in(login_response(1, "session-a"))
        journal.record_in(quotes(2))
        journal.record_out(heartbeat(3))
        journal.record_in(login_response(3, "session-a"))
        journal.record_in(quotes(4))
        journal.record_in(login_response(1, "session-b"))
        journal.close()
        lines = self.read(folder, "--summary")
        self.assertEqual(lines[0], "records: 6 (5 received, 1 sent)")
        self.assertEqual(lines[1], "from 2026-12-01T00:00:00.000000Z to 2026-12-01T00:00:05.000000Z (5.000 s)")
        self.assertEqual(lines[2:5], ["sessions: 2", "  session-a: 2 logins", "  session-b: 1 login"])
        self.assertEqual(lines[5], "by type:")
        counts = {line.split()[0]: int(line.split()[1]) for line in lines[6:]}
        self.assertEqual(counts, {"eto.login_response": 3, "seto.contract_quotes": 2, "eto.heartbeat": 1})
        # Most frequent first.
        self.assertEqual(lines[6].split()[0], "eto.login_response")
        # Filters apply to the summary too.
        self.assertEqual(self.read(folder, "--summary", "--type", "eto.heartbeat")[0], "records: 1 (0 received, 1 sent)")

    def test_follow_prints_records_as_they_come_across_rotations(self) -> None:
        folder, journal = self.journal(max_bytes=60)
        journal.record_in(quotes(1))
        out = io.StringIO()
        polls = []

        def sleep(seconds: float) -> None:
            # Each poll, the writer adds a record; a new file starts every record or two.
            polls.append(seconds)
            journal.record_in(quotes(len(polls) + 1))

        def stop() -> bool:
            return len(polls) >= 5

        self.assertEqual(main([folder, "--follow"], out=out, err=io.StringIO(), sleep=sleep, stop=stop), 0)
        journal.close()
        seqs = [int(line.split()[2][1:]) for line in out.getvalue().splitlines()]
        # Records 1..6 were written before the last poll's read; each printed once, in order.
        self.assertEqual(seqs, [1, 2, 3, 4, 5, 6])
        self.assertGreater(len(os.listdir(folder)), 2)

    def test_follow_waits_for_a_torn_record(self) -> None:
        folder, journal = self.journal()
        journal.record_in(quotes(1))
        data = quotes(2)
        path = journal.path
        out = io.StringIO()
        polls: list[float] = []
        record = struct.pack(">cdI", b"I", T0 + 9, len(data)) + data

        def sleep(seconds: float) -> None:
            polls.append(seconds)
            with open(path, "ab") as f:
                # Half the record on the first poll, the rest on the second.
                f.write(record[: len(record) // 2] if len(polls) == 1 else record[len(record) // 2 :])

        main([folder, "--follow"], out=out, err=io.StringIO(), sleep=sleep, stop=lambda: len(polls) >= 2)
        journal.close()
        self.assertEqual([int(line.split()[2][1:]) for line in out.getvalue().splitlines()], [1, 2])

    def test_progress_bar_on_a_terminal(self) -> None:
        folder = self.sample()
        err = TTY()
        out = io.StringIO()
        self.assertEqual(main([folder, "--progress"], out=out, err=err), 0)
        self.assertIn("100%", err.getvalue())
        self.assertTrue(err.getvalue().startswith("\r["))
        self.assertEqual(len(out.getvalue().splitlines()), 6)
        # Small journals, and output that is not a terminal's, get none by default.
        err = TTY()
        main([folder], out=io.StringIO(), err=err)
        self.assertEqual(err.getvalue(), "")
        plain = io.StringIO()
        main([folder, "--summary"], out=io.StringIO(), err=plain)
        self.assertEqual(plain.getvalue(), "")

    def test_progress_bar_default_on_a_large_journal(self) -> None:
        from txsmarkets.persistence import journal as module

        self.patch(module, "PROGRESS_BYTES", 100)
        folder = self.sample()
        err = TTY()
        main([folder, "--summary"], out=io.StringIO(), err=err)
        self.assertIn("100%", err.getvalue())

    def test_as_a_module(self) -> None:
        """The command itself: ``python -m txsmarkets.persistence.journal``, exit 2 with one line."""
        folder = self.sample()
        result = subprocess.run(
            [sys.executable, "-m", "txsmarkets.persistence.journal", folder, "--type", "nope"],
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(result.returncode, 2)
        self.assertEqual(len(result.stderr.splitlines()), 1)
        result = subprocess.run(
            [sys.executable, "-m", "txsmarkets.persistence.journal", folder, "--summary"],
            capture_output=True, text=True, timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("records: 6", result.stdout)
