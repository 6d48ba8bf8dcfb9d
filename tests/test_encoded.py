"""Payloads serialised once and numbered as bytes (`txsmarkets.wire.encoded`): the bytes are
those protobuf itself gives, so that a client (and its journal) sees the same frames."""

from __future__ import annotations

import random

from twisted.trial import unittest

from txsmarkets.session.sequencer import SequenceState
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.encoded import contract_quotes, execution, frame_with_seq, varint, with_seq
from txsmarkets.wire.framing import ULEB128StringReceiver

from tests.test_replay import quotes

# Values either side of each varint length.
EDGES = (0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**32 - 1)


def built(
    market_id: int,
    contract_id: int,
    bids: list[tuple[int, int]],
    offers: list[tuple[int, int]],
    trades: list[tuple[int, int, int, int]],
    last: tuple[int, int, int, int] | None,
) -> seto_pb2.Payload:
    """The same contract_quotes built with protobuf's API, as the engine built it before."""
    payload = quotes(contract_id, tuple(bids), tuple(offers), market_id=market_id)
    quotes_ = payload.contract_quotes
    for price, quantity, side, microseconds in trades:
        quotes_.executions.add(price=price, quantity=quantity, liquidity=side, microseconds=microseconds)
    if last is not None:
        price, quantity, side, microseconds = last
        target = quotes_.last_execution
        target.price, target.quantity, target.liquidity, target.microseconds = price, quantity, side, microseconds  # type: ignore[assignment]
    return payload


class EncodedTests(unittest.SynchronousTestCase):
    def test_varint(self) -> None:
        for value in EDGES + (2**63, 2**64 - 1):
            message = seto_pb2.Execution(price=0, quantity=value, liquidity=seto_pb2.SIDE_BUY, microseconds=0)
            # quantity is field 2: its tag, then the varint.
            self.assertIn(b"\x10" + varint(value) + b"\x18", message.SerializeToString())

    def test_contract_quotes_are_protobufs_own_bytes(self) -> None:
        rng = random.Random(26)
        for _ in range(500):
            def value() -> int:
                return rng.choice(EDGES) if rng.random() < 0.3 else rng.randrange(2**33)

            def price() -> int:
                # A uint32, as the schema has prices.
                return rng.choice((value() % 2**32, 5000))

            def levels() -> list[tuple[int, int]]:
                return [(price(), value()) for _ in range(rng.choice((0, 1, 2, 40)))]

            trades = [(price(), value(), rng.choice((1, 2)), value()) for _ in range(rng.choice((0, 1, 3)))]
            last = trades[-1] if trades else rng.choice((None, (price(), value(), 1, value())))
            market_id, contract_id = rng.randrange(2**32), rng.randrange(2**32)
            bids, offers = levels(), levels()
            data = contract_quotes(
                market_id,
                contract_id,
                bids,
                offers,
                [execution(*trade) for trade in trades],
                execution(*last) if last is not None else None,
            )
            self.assertEqual(data, built(market_id, contract_id, bids, offers, trades, last).SerializeToString())

    def test_with_seq_is_the_stamped_payload(self) -> None:
        payload = built(3, 12, [(5000, 10)], [], [(5000, 2, 1, 17)], (5000, 2, 1, 17))
        data = payload.SerializeToString()
        for seq in EDGES[1:] + (2**63 - 1,):
            payload.eto_payload.seq = seq
            self.assertEqual(with_seq(data, seq), payload.SerializeToString())

    def test_stamp_encoded_numbers_keeps_and_replays_as_stamp(self) -> None:
        """Sent both ways, the same payloads give the same frames, the same replay."""
        payloads = [built(1, n, [(5000, n)], [], [], None) for n in range(1, 6)]
        by_payload, by_bytes = SequenceState(3), SequenceState(3)
        for payload in payloads:
            data = payload.SerializeToString()
            self.assertEqual(by_bytes.stamp_encoded(data), by_payload.stamp(payload))
        self.assertEqual(by_bytes.outseq, 6)
        self.assertEqual(list(by_bytes.replay(1)), list(by_payload.replay(1)))
        self.assertEqual(len(by_bytes.store), 3)


class _Written:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.frames.append(data)


class _Journal:
    def __init__(self) -> None:
        self.out: list[bytes] = []

    def record_out(self, data: bytes, is_login: bool = False) -> None:
        self.out.append(data)


class FrameTests(unittest.SynchronousTestCase):
    def test_frame_with_seq_is_the_framing_of_with_seq(self) -> None:
        """The frame made in one go is the frame ``sendString`` makes of the numbered bytes,
        for payloads either side of a one-byte header and seqs of every length."""
        receiver = ULEB128StringReceiver()
        receiver.transport = written = _Written()
        for levels in (0, 1, 5, 6, 20):
            data = contract_quotes(3, 12, [(5000 + n, 10) for n in range(levels)], [], None, None)
            for seq in EDGES[1:] + (2**63 - 1,):
                receiver.sendString(with_seq(data, seq))
                self.assertEqual(frame_with_seq(data, seq), written.frames.pop(), (len(data), seq))

    def test_stamp_encoded_frame_numbers_keeps_and_journals_as_stamp_encoded(self) -> None:
        """Framed or not, the same seqs, the same store, the same journal records."""
        framed, plain = SequenceState(3), SequenceState(3)
        framed.journal, plain.journal = _Journal(), _Journal()
        for n in range(1, 6):
            data = contract_quotes(1, n, [(5000, n)], [], None, None)
            frame = framed.stamp_encoded_frame(data)
            stamped = plain.stamp_encoded(data)
            self.assertEqual(frame, bytes((len(stamped),)) + stamped)
        self.assertEqual(framed.outseq, plain.outseq)
        self.assertEqual(list(framed.store.items()), list(plain.store.items()))
        self.assertEqual(framed.journal.out, plain.journal.out)
