"""Recording market data (`txsmarkets.persistence.recording`) and replaying it into the
embedded exchange (`txsmarkets.exchange.replay`) with the queue model."""

from __future__ import annotations

import gzip
import pathlib
import zlib
from typing import Any

from twisted.logger import capturedLogs, formatEvent
from twisted.trial import unittest

from txsmarkets.client import BUY, SELL
from txsmarkets.exchange.recorded import MARKET_DATA_TYPES, RECORD_HEADER, RecordingError, read_recorded
from txsmarkets.exchange.replay import Replay
from txsmarkets.exchange.tap import Options as ExchangeOptions, SetupError
from txsmarkets.persistence.journal import _HEADER
from txsmarkets.persistence.recording import RECORDED_NAMES, Recorder
from txsmarkets.persistence.state import StateDirectory
from txsmarkets.testing import MemoryExchange
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

from tests.test_simulation import FAST, catalogue


def quotes(
    contract_id: int = 11,
    bids: tuple[tuple[int, int], ...] = (),
    offers: tuple[tuple[int, int], ...] = (),
    executions: tuple[tuple[int, int, int], ...] = (),
    market_id: int = 1,
) -> seto_pb2.Payload:
    """A recorded contract_quotes: levels (price, new total) and executions (price,
    quantity, taker's side)."""
    payload = new_payload(seto_pb2.PAYLOAD_CONTRACT_QUOTES)
    body = payload.contract_quotes
    body.market_id = market_id
    body.contract_id = contract_id
    for price, quantity in bids:
        body.bids.add(price=price, quantity=quantity)
    for price, quantity in offers:
        body.offers.add(price=price, quantity=quantity)
    for price, quantity, side in executions:
        body.executions.add(price=price, quantity=quantity, liquidity=side, microseconds=0)
    return payload


def snapshot(*contracts: seto_pb2.Payload, market_id: int = 1) -> seto_pb2.Payload:
    payload = new_payload(seto_pb2.PAYLOAD_MARKET_QUOTES)
    payload.market_quotes.market_id = market_id
    for contract in contracts:
        payload.market_quotes.contract_quotes.add().CopyFrom(contract.contract_quotes)
    return payload


def market_state(state: int, market_id: int = 1) -> seto_pb2.Payload:
    payload = new_payload(seto_pb2.PAYLOAD_MARKET_STATE)
    payload.market_state.market_id = market_id
    payload.market_state.state = state  # type: ignore[assignment]
    return payload


class Fills:
    """The order_executed and order_cancelled answers one client gets."""

    def __init__(self, client: Any) -> None:
        self.executed: list[tuple[int, int, int]] = []
        self.cancelled: list[int] = []
        client.add_handler("seto.order_executed", self._executed)
        client.add_handler("seto.order_cancelled", self._cancelled)

    def _executed(self, message: seto_pb2.Payload) -> None:
        body = message.order_executed
        self.executed.append((body.order_id, body.price, body.quantity))

    def _cancelled(self, message: seto_pb2.Payload) -> None:
        self.cancelled.append(message.order_cancelled.order_id)


class ReplayCase(unittest.TestCase):
    """A demo exchange on a Clock replaying hand-made records (one a second from t=1000),
    and the demo account logged in and subscribed to market 1."""

    def play(self, *records: seto_pb2.Payload, speed: float = 1.0) -> None:
        self.exchange = MemoryExchange(replay=[(1000.0 + i, p) for i, p in enumerate(records)], speed=speed)
        self.replay: Replay = self.exchange.factory.replay  # type: ignore[attr-defined]
        self.client = self.exchange.run(self.exchange.connect("demo", "demo"))
        self.fills = Fills(self.client)
        self.exchange.run(self.client.subscribe(1))

    def step(self) -> None:
        """Play the next record."""
        self.exchange.advance(1.0)

    def order(self, side: int, price: int, quantity: int, client: Any = None) -> int:
        accepted = self.exchange.run((client or self.client).create_order(1, 11, side, price, quantity))
        return accepted.order_accepted.order_id

    def shown(self, side: int = SELL, contract_id: int = 11) -> dict[int, int]:
        """The levels the subscribed client sees."""
        book = self.client.markets[1].contracts[contract_id]
        return dict(book.offers if side == SELL else book.bids)

    def remaining(self, order_id: int) -> int:
        order = self.exchange.engine.order(order_id)
        assert order is not None
        return order.remaining if order.live else 0


class QueueModelTests(ReplayCase):
    def test_resting_order_filled_as_recorded_executions_reach_it(self) -> None:
        self.play(
            snapshot(quotes(offers=((5000, 100000),), bids=((4000, 50000),))),
            # 60000 trades at 5000: the user's order is behind the 100000.
            quotes(offers=((5000, 40000),), executions=((5000, 60000, BUY),)),
            # 50000 more arrives: behind the user.
            quotes(offers=((5000, 90000),)),
            # 60000 trades: 40000 ahead, then 20000 of the user's 30000.
            quotes(offers=((5000, 30000),), executions=((5000, 60000, BUY),)),
            # 15000 trades: the user's last 10000, then 5000 of what is behind it.
            quotes(offers=((5000, 15000),), executions=((5000, 15000, BUY),)),
        )
        self.assertEqual(self.shown(), {5000: 100000})
        mine = self.order(SELL, 5000, 30000)
        self.assertEqual(self.shown(), {5000: 130000})
        self.step()
        self.assertEqual(self.fills.executed, [])
        self.assertEqual(self.remaining(mine), 30000)
        self.assertEqual(self.shown(), {5000: 70000})
        self.step()
        self.assertEqual(self.fills.executed, [])
        self.assertEqual(self.shown(), {5000: 120000})
        self.step()
        self.assertEqual(self.fills.executed, [(mine, 5000, 20000)])
        self.assertEqual(self.remaining(mine), 10000)
        # The user's 10000 and the 30000 the recording shows.
        self.assertEqual(self.shown(), {5000: 40000})
        self.step()
        self.assertEqual(self.fills.executed, [(mine, 5000, 20000), (mine, 5000, 10000)])
        self.assertEqual(self.remaining(mine), 0)
        self.assertEqual(self.shown(), {5000: 15000})
        self.assertEqual(self.shown(BUY), {4000: 50000})
        self.assertTrue(self.replay.done.called)

    def test_a_cancel_in_the_recording_leaves_from_the_back(self) -> None:
        self.play(
            snapshot(quotes(offers=((5000, 10000),))),
            quotes(offers=((5000, 30000),)),  # 20000 behind the user
            quotes(offers=((5000, 15000),)),  # 15000 cancelled: from behind the user
            quotes(offers=((5000, 0),), executions=((5000, 12000, BUY),)),
        )
        mine = self.order(SELL, 5000, 5000)
        self.step()
        self.step()
        self.assertEqual(self.shown(), {5000: 20000})
        self.step()
        # 10000 ahead, then 2000 of the user's.
        self.assertEqual(self.fills.executed, [(mine, 5000, 2000)])
        self.assertEqual(self.shown(), {5000: 3000})

    def test_a_level_no_user_is_in_is_one_order_changed_in_place(self) -> None:
        """A level holding no user's order is one order of the replay's, changed in place
        as the recording changes the level, forgotten when the level goes (not kept as a
        done order), and a new order (the next id) when the level comes back."""
        self.play(
            snapshot(quotes(bids=((4000, 50000),))),
            quotes(offers=((5000, 100000),)),  # a level appears
            quotes(offers=((5000, 60000),)),  # a cancel
            quotes(offers=((5000, 90000),)),  # more arrives
            quotes(offers=((5000, 0),)),  # the level goes
            quotes(offers=((5000, 30000),)),  # and comes back
        )
        engine = self.exchange.engine
        book = engine.book(11)
        assert book is not None

        def resting() -> list[tuple[int, int]]:
            return [(order.id, order.remaining) for order in book.orders(SELL)]

        self.step()
        [(first, _)] = resting()
        self.assertEqual(resting(), [(first, 100000)])
        self.step()
        self.assertEqual(resting(), [(first, 60000)])
        self.step()
        self.assertEqual(resting(), [(first, 90000)])
        self.assertEqual(self.shown(), {5000: 90000})
        self.step()
        self.assertEqual(resting(), [])
        self.assertEqual(self.shown(), {})
        self.assertIsNone(engine.order(first))
        self.step()
        self.assertEqual(resting(), [(first + 1, 30000)])
        self.assertEqual(self.shown(), {5000: 30000})
        self.assertEqual(self.shown(BUY), {4000: 50000})
        book.check()

    def test_better_priced_order_is_filled_first(self) -> None:
        self.play(
            snapshot(quotes(offers=((5000, 10000),))),
            quotes(offers=((5000, 4000),), executions=((5000, 6000, BUY),)),
        )
        mine = self.order(SELL, 4950, 5000)
        self.step()
        self.assertEqual(self.fills.executed, [(mine, 4950, 5000)])
        # The recorded book stands: the level shows what the recording shows.
        self.assertEqual(self.shown(), {5000: 4000})

    def test_crossing_order_fills_at_once_and_taken_liquidity_is_not_offered_again(self) -> None:
        self.play(
            snapshot(quotes(offers=((5000, 100000), (5102, 50000)))),
            quotes(bids=((4000, 10000),)),  # another level changes: 5000 stays as taken
            snapshot(quotes(offers=((5000, 100000), (5102, 50000)))),  # a new snapshot too
            # 50000 trades at 5000: 30000 of it is what the user took, 20000 is left to trade.
            quotes(offers=((5000, 50000),), executions=((5000, 50000, BUY),)),
            quotes(offers=((5000, 80000),)),
        )
        mine = self.order(BUY, 5208, 130000)
        self.assertEqual(self.fills.executed, [(mine, 5000, 100000), (mine, 5102, 30000)])
        self.assertEqual(self.shown(), {5102: 20000})
        self.step()
        self.assertEqual(self.shown(), {5102: 20000})
        self.step()
        self.assertEqual(self.shown(), {5102: 20000})
        self.step()
        # 100000 taken, 50000 of it traded in the recording: 50000 still taken.
        self.assertEqual(self.shown(), {5102: 20000})
        self.step()
        # 30000 new arrives: shown.
        self.assertEqual(self.shown(), {5000: 30000, 5102: 20000})
        self.assertEqual(len(self.fills.executed), 2)

    def test_a_recorded_trade_of_what_a_user_took_is_still_told(self) -> None:
        """A recorded trade that only uses up what a user took (no level left to trade, no
        level changed by its record) is still an execution in the market data."""
        self.play(
            snapshot(quotes(offers=((5000, 100000),))),
            quotes(executions=((5000, 50000, BUY),)),
        )
        told: list[tuple[int, int]] = []
        self.client.add_handler(
            "seto.contract_quotes",
            lambda message: told.extend((e.price, e.quantity) for e in message.contract_quotes.executions),
        )
        self.order(BUY, 5000, 100000)
        self.assertEqual(told, [(5000, 100000)])  # the user's own trade
        self.step()
        self.assertEqual(told, [(5000, 100000), (5000, 50000)])

    def test_recorded_book_moving_through_a_resting_order_fills_it(self) -> None:
        self.play(
            snapshot(quotes(offers=((6024, 10000),))),
            quotes(offers=((5000, 10000), (6024, 0))),
        )
        mine = self.order(BUY, 5495, 4000)
        self.step()
        self.assertEqual(self.fills.executed, [(mine, 5495, 4000)])
        self.assertEqual(self.shown(), {5000: 6000})
        self.assertEqual(self.shown(BUY), {})

    def test_halt_cancels_users_orders_and_the_book_comes_back(self) -> None:
        self.play(
            snapshot(quotes(offers=((5000, 10000),))),
            market_state(seto_pb2.MARKET_STATE_HALTED),
            quotes(offers=((5000, 0), (5102, 7000))),
            market_state(seto_pb2.MARKET_STATE_LIVE),
            market_state(seto_pb2.MARKET_STATE_SETTLED),
        )
        mine = self.order(BUY, 4000, 4000)
        self.step()
        self.assertEqual(self.fills.cancelled, [mine])
        self.assertEqual(self.exchange.engine.market(1).state, "halted")
        self.assertEqual(self.shown(), {})
        self.step()
        self.step()
        self.assertEqual(self.exchange.engine.market(1).state, "live")
        self.assertEqual(self.shown(), {5102: 7000})
        self.step()
        self.assertEqual(self.exchange.engine.market(1).state, "voided")


class ScheduleTests(ReplayCase):
    def test_speed_scales_the_recorded_times(self) -> None:
        self.play(
            snapshot(quotes(offers=((5000, 1000),))),
            quotes(offers=((5000, 2000),)),
            quotes(offers=((5000, 3000),)),
            speed=4.0,
        )
        self.assertEqual(self.shown(), {5000: 1000})
        self.exchange.advance(0.24)
        self.assertEqual(self.shown(), {5000: 1000})
        self.exchange.advance(0.02)
        self.assertEqual(self.shown(), {5000: 2000})
        self.exchange.advance(0.25)
        self.assertEqual(self.shown(), {5000: 3000})
        self.assertEqual(self.replay.played, 3)
        self.assertEqual(self.replay.done.result, 3)

    def test_unknown_market_is_skipped(self) -> None:
        self.play(
            snapshot(quotes(offers=((5000, 1000),))),
            quotes(market_id=99, contract_id=991, offers=((5000, 2000),)),
            quotes(offers=((5000, 3000),)),
            market_state(seto_pb2.MARKET_STATE_LIVE, market_id=98),
        )
        self.step()
        self.step()
        self.step()
        self.assertEqual(self.shown(), {5000: 3000})
        # For the backtest to tell its user (a warning alone is hidden at its log level).
        self.assertEqual((self.replay.markets_played, self.replay.markets_skipped), ({1}, {98, 99}))
        self.flushLoggedErrors()

    def test_the_end_of_the_recording_is_said(self) -> None:
        with capturedLogs() as events:
            self.play(snapshot(quotes(offers=((5000, 1000),))), quotes(offers=((5000, 2000),)))
            ended = [e for e in events if "the recording has ended" in e.get("log_format", "")]
            self.assertEqual(ended, [])
            self.step()
            self.step()
        ended = [formatEvent(e) for e in events if "the recording has ended" in e.get("log_format", "")]
        self.assertEqual(ended, ["replay: the recording has ended after 2 records; the markets stay as they are"])

    def test_speed_must_be_positive(self) -> None:
        self.assertRaises(ValueError, Replay, MemoryExchange().engine, MemoryExchange().clock, [], speed=0)


def record_session(test: unittest.TestCase, *, max_bytes: int = 64 * 1024 * 1024, state_dir: str | None = None) -> tuple[MemoryExchange, Recorder, list[tuple[float, bytes]], Any]:
    """A real client on a simulated market for 20 virtual seconds, with a recorder; also
    what the client received of market data (time, bytes)."""
    exchange = MemoryExchange(catalogue(**FAST), simulate=True, seed=5)
    client = exchange.client()
    if state_dir is not None:
        state = StateDirectory(state_dir)
        state.restore(client.session)
        test.addCleanup(state.close)
    recorder = Recorder(test.mktemp(), exchange.clock, max_bytes=max_bytes)
    recorder.startService()
    recorder.attach(client)
    received: list[tuple[float, bytes]] = []
    for name in RECORDED_NAMES:
        client.add_handler(name, lambda message: received.append((exchange.clock.seconds(), message.SerializeToString())))
    exchange.run(client.login())
    exchange.run(client.subscribe(1))
    # Account messages are not recorded.
    accepted = exchange.run(client.create_order(1, 11, BUY, 1000, 10000))
    exchange.run(client.cancel_order(accepted.order_accepted.order_id))
    exchange.advance(20)
    recorder.stopService()
    return exchange, recorder, received, client


class RecorderTests(unittest.TestCase):
    def test_recording_of_a_client_session_reads_back_identically(self) -> None:
        exchange, recorder, received, client = record_session(self, max_bytes=20000)
        self.assertGreater(len(received), 100)
        files = sorted(recorder.directory.glob("recording.*.gz"))
        self.assertGreater(len(files), 2)  # rotated by size
        for path in files:
            with gzip.open(path) as f:
                f.read()  # each file is a complete gzip stream
        read = [(when, payload.SerializeToString()) for when, payload in read_recorded(recorder.directory)]
        self.assertEqual(read, received)
        types = {seto_pb2.Payload.FromString(data).type for _, data in read}
        self.assertLessEqual(types, MARKET_DATA_TYPES)
        self.assertIn(seto_pb2.PAYLOAD_CONTRACT_QUOTES, types)
        self.assertIn(seto_pb2.PAYLOAD_MARKET_QUOTES, types)
        self.assertEqual(recorder.records, len(received))
        # The reader and the journal agree on the record format.
        self.assertEqual(RECORD_HEADER.format, _HEADER.format)

    def test_a_new_recorder_begins_a_new_file_and_a_cut_file_reads_to_the_cut(self) -> None:
        directory = pathlib.Path(self.mktemp())
        first = Recorder(directory, MemoryExchange().clock)
        first.record(quotes(offers=((5000, 1),)), when=1.0)
        first.close()
        second = Recorder(directory, MemoryExchange().clock)
        second.record(quotes(offers=((5000, 2),)), when=2.0)
        second.record(quotes(offers=((5000, 3),)), when=3.0)
        second.flush()  # a killed process: flushed, never closed
        names = sorted(p.name for p in directory.iterdir())
        self.assertEqual(names, ["recording.000001.gz", "recording.000002.gz"])
        read = [(when, p.contract_quotes.offers[0].quantity) for when, p in read_recorded(directory)]
        self.assertEqual(read, [(1.0, 1), (2.0, 2), (3.0, 3)])
        self.flushLoggedErrors()
        second.close()

    def test_a_file_cut_mid_stream_reads_every_whole_record_before_the_cut(self) -> None:
        """The reader takes the recording in large blocks: a gzip stream cut short (a
        process killed between flushes) still gives every record decompressed before the
        cut, not only those of the blocks read whole."""
        directory = pathlib.Path(self.mktemp())
        recorder = Recorder(directory, MemoryExchange().clock)
        for n in range(1, 20001):
            recorder.record(quotes(offers=((5000, n),)), when=float(n))
        recorder.close()
        (path,) = directory.iterdir()
        whole = path.read_bytes()
        path.write_bytes(whole[: len(whole) * 2 // 3])
        # What a reader can get before the cut: the records whole in that prefix.
        prefix = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(whole[: len(whole) * 2 // 3])
        expected = []
        pos = 0
        while pos + RECORD_HEADER.size <= len(prefix):
            _, when, length = RECORD_HEADER.unpack_from(prefix, pos)
            if pos + RECORD_HEADER.size + length > len(prefix):
                break
            expected.append(when)
            pos += RECORD_HEADER.size + length
        self.assertGreater(len(expected), 1000)
        read = [when for when, _ in read_recorded(directory)]
        self.assertEqual(read, expected)
        self.assertEqual(read, [float(n) for n in range(1, len(read) + 1)])
        self.flushLoggedErrors()

    def test_a_damaged_file_is_said_with_its_name_and_records(self) -> None:
        """A file where what is not a record begins (it stopped being read in silence), one
        cut short, records that do not decode: each a warning naming the file and how many
        records it held, and a line of ``notes``; the reading goes on with the next file."""
        from txsmarkets.wire.records import IN, encode

        directory = pathlib.Path(self.mktemp())
        directory.mkdir()
        record = encode(IN, 1.0, quotes(offers=((5000, 1),)).SerializeToString())
        (directory / "recording.000001.gz").write_bytes(gzip.compress(record * 2 + b"X" * 30 + record))
        # Cut in its trailer: every record is there, the stream has no end.
        (directory / "recording.000002.gz").write_bytes(gzip.compress(record * 3)[:-4])
        (directory / "recording.000003.gz").write_bytes(gzip.compress(record + encode(IN, 2.0, b"\xff\xff")))
        notes: list[str] = []
        with capturedLogs() as events:
            read = list(read_recorded(directory, notes))
        first, second, third = (directory / f"recording.00000{n}.gz" for n in (1, 2, 3))
        self.assertEqual(len(read), 2 + 3 + 1)
        self.assertEqual(notes[0], f"{first}: a header that is not a record after 2 records; the rest of the file is skipped")
        self.assertRegex(notes[1], rf"^{second}: cut short \(.*\) after 3 records; the rest of the file is skipped$")
        self.assertEqual(notes[2], f"{third}: 1 of its 2 records do not decode; skipped")
        self.assertEqual(len(notes), 3)
        self.assertEqual([formatEvent(e) for e in events if e["log_level"].name == "warn"], notes)

    def test_no_recording(self) -> None:
        self.assertRaises(RecordingError, read_recorded, self.mktemp())
        empty = pathlib.Path(self.mktemp())
        empty.mkdir()
        self.assertRaises(RecordingError, read_recorded, empty)
        # A setup error: one line and exit status 1, no usage dump.
        with self.assertRaises(SetupError) as caught:
            ExchangeOptions().parseOptions(["--replay", str(empty)])
        self.assertIn("no recording", str(caught.exception.code).lower())


class ReplayOfRecordingsTests(unittest.TestCase):
    def assertReplayed(self, source: Any, client: Any) -> None:
        """Replaying ``source`` into a fresh exchange (the same catalogue, no traders)
        ends with the book the recording client saw."""
        exchange = MemoryExchange(catalogue(**FAST), replay=read_recorded(source))
        exchange.advance(30)
        replay = exchange.factory.replay  # type: ignore[attr-defined]
        self.assertTrue(replay.done.called)
        snapshot = exchange.engine.market_quotes(1).market_quotes
        replayed = {
            c.contract_id: ({q.price: q.quantity for q in c.bids}, {q.price: q.quantity for q in c.offers})
            for c in snapshot.contract_quotes
        }
        seen = {cid: (dict(book.bids), dict(book.offers)) for cid, book in client.markets[1].contracts.items()}
        self.assertEqual(replayed, seen)
        self.assertGreater(sum(len(levels[1]) for levels in seen.values()), 3)

    def test_recording_replays_to_the_recorded_book(self) -> None:
        exchange, recorder, received, client = record_session(self)
        self.assertReplayed(recorder.directory, client)

    def test_state_dir_journal_replays(self) -> None:
        state_dir = self.mktemp()
        exchange, recorder, received, client = record_session(self, state_dir=state_dir)
        from_journal = [payload.SerializeToString() for _, payload in read_recorded(state_dir)]
        self.assertEqual(from_journal, [data for _, data in received])
        self.assertReplayed(state_dir, client)
