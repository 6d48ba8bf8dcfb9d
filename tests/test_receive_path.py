"""The client's bulk receive path: many frames in one read, parsed in one go and routed
straight to the handlers, must do exactly what the frame-by-frame path does."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.client import Session, SessionSettings, StreamingAPIClient
from txsmarkets.client.factory import SmarketsClientFactory
from txsmarkets.wire.framing import frame_decode_all, frame_encode
from txsmarkets.wire.messages import eto_message, message_name


def quote(seq: int, contract_id: int = 7, is_replay: bool = False) -> seto_pb2.Payload:
    payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_CONTRACT_QUOTES)
    payload.eto_payload.seq = seq
    if is_replay:
        payload.eto_payload.is_replay = True
    payload.contract_quotes.market_id = 1
    payload.contract_quotes.contract_id = contract_id
    payload.contract_quotes.bids.add(price=2500 + seq % 50, quantity=10000 + seq)
    return payload


def accepted(seq: int, account_sequence: int) -> seto_pb2.Payload:
    payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_ACCEPTED)
    payload.eto_payload.seq = seq
    payload.order_accepted.order_id = 1000 + account_sequence
    payload.order_accepted.seq = 1
    payload.order_accepted.account_sequence_64 = account_sequence
    return payload


def session_message(seq: int, kind: int, **fields: Any) -> seto_pb2.Payload:
    payload = eto_message(kind, **fields)
    payload.eto_payload.seq = seq
    return payload


def stream(*payloads: seto_pb2.Payload) -> bytes:
    out = bytearray()
    for payload in payloads:
        frame_encode(out, payload.SerializeToString())
    return bytes(out)


class Client:
    """A logged-in client over StringTransport, its exchange's next seq 2, with a handler
    on contract_quotes and one on order_accepted that note what they see."""

    def __init__(self, bulk: bool = True, global_handler: bool = False) -> None:
        self.clock = Clock()
        settings = SessionSettings("demo", "pw", host="exchange.test", port=3701, ssl=False)
        self.session = Session(settings, reactor=self.clock)
        self.client = StreamingAPIClient(self.session)
        self.factory = SmarketsClientFactory(self.session)
        self.session.factory = self.factory
        self.seen: list[tuple[str, int]] = []
        for name in ("seto.contract_quotes", "seto.order_accepted", "eto.heartbeat"):
            self.client.add_handler(name, self.note)
        if global_handler:
            self.client.add_global_handler(lambda name, message: self.seen.append(("global", message.eto_payload.seq)))
        self.transport = StringTransport()
        self.proto = self.factory.buildProtocol(None)
        self.proto.receivesFrames = bulk
        self.proto.makeConnection(self.transport)
        response = session_message(
            1, eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=eto_pb2.LoginResponse(session="s", reset=2)
        )
        self.proto.dataReceived(stream(response))
        assert self.session.connected
        self.transport.clear()

    def note(self, message: seto_pb2.Payload) -> None:
        self.seen.append((message_name(message), message.eto_payload.seq))

    def sent(self) -> list[tuple[str, int, int]]:
        """(name, seq, replay seq) of everything the client wrote since the last call."""
        payloads, rest = frame_decode_all(self.transport.value())
        assert rest == b""
        self.transport.clear()
        out = []
        for data in payloads:
            payload = seto_pb2.Payload.FromString(data)
            out.append((message_name(payload), payload.eto_payload.seq, payload.eto_payload.replay.seq))
        return out


class BulkReceiveTests(unittest.SynchronousTestCase):
    def test_many_frames_one_read(self) -> None:
        client = Client()
        client.proto.dataReceived(stream(*(quote(seq) for seq in range(2, 1002))))
        self.assertEqual(client.seen, [("seto.contract_quotes", seq) for seq in range(2, 1002)])
        self.assertEqual(client.session.sequence.inseq, 1002)
        self.assertEqual(client.proto._received, 1001)

    def test_session_messages_within_a_read(self) -> None:
        """A heartbeat and a ping among quotes are answered, in their place."""
        client = Client()
        client.proto.dataReceived(
            stream(
                quote(2),
                session_message(3, eto_pb2.PAYLOAD_HEARTBEAT),
                quote(4),
                session_message(5, eto_pb2.PAYLOAD_PING),
                quote(6),
            )
        )
        self.assertEqual(
            client.seen,
            [("seto.contract_quotes", 2), ("eto.heartbeat", 3), ("seto.contract_quotes", 4), ("seto.contract_quotes", 6)],
        )
        self.assertEqual(client.sent(), [("eto.heartbeat", 2, 0), ("eto.pong", 3, 0)])
        self.assertEqual(client.session.sequence.inseq, 7)

    def test_gap_within_a_read(self) -> None:
        """A gap in the middle of a read asks for one replay; what follows it waits for it."""
        client = Client()
        client.proto.dataReceived(stream(quote(2), quote(3), quote(5), quote(6)))
        self.assertEqual(client.seen, [("seto.contract_quotes", 2), ("seto.contract_quotes", 3)])
        self.assertEqual(client.sent(), [("eto.replay", 2, 4)])
        client.proto.dataReceived(stream(*(quote(seq, is_replay=True) for seq in (4, 5, 6)), quote(7)))
        self.assertEqual([seq for _, seq in client.seen], [2, 3, 4, 5, 6, 7])
        self.assertEqual(client.sent(), [])

    def test_duplicates_within_a_read(self) -> None:
        client = Client()
        client.proto.dataReceived(stream(quote(2), quote(3), quote(2), quote(3), quote(4)))
        self.assertEqual([seq for _, seq in client.seen], [2, 3, 4])

    def test_account_messages_seen_before_are_dropped(self) -> None:
        """The account stream takes the session's way, which drops what it has seen (once
        the new session's stream has shown it goes on after the last message seen: see
        `tests.test_catchup` for one that begins anew)."""
        client = Client()
        client.session.account_sequence = 10
        client.proto.dataReceived(
            stream(quote(2), accepted(3, 11), accepted(4, 10), accepted(5, 11), accepted(6, 12), quote(7))
        )
        self.assertEqual(
            client.seen,
            [("seto.contract_quotes", 2), ("seto.order_accepted", 3), ("seto.order_accepted", 6), ("seto.contract_quotes", 7)],
        )
        self.assertEqual(client.session.account_sequence, 12)
        self.assertEqual(client.session.sequence.inseq, 8)

    def test_invalid_frame_within_a_read(self) -> None:
        """Frames before an invalid one are delivered; it ends the connection; none after."""
        client = Client()
        data = stream(quote(2), quote(3)) + b"\x05\xff\xff\xff\xff\xff" + stream(quote(4))
        client.proto.dataReceived(data)
        self.assertEqual([seq for _, seq in client.seen], [2, 3])
        self.assertTrue(client.transport.disconnecting)
        self.assertEqual(client.session.sequence.inseq, 4)

    def test_handler_that_disconnects(self) -> None:
        """Nothing is dispatched after a handler closes the connection; that one counts."""
        client = Client()

        def close(message: seto_pb2.Payload) -> None:
            if message.eto_payload.seq == 4:
                client.proto.disconnect()

        client.client.add_handler("seto.contract_quotes", close)
        client.proto.dataReceived(stream(*(quote(seq) for seq in range(2, 10))))
        self.assertEqual([seq for _, seq in client.seen], [2, 3, 4])
        self.assertEqual(client.session.sequence.inseq, 5)

    def test_handler_that_raises(self) -> None:
        client = Client()

        def fail(message: seto_pb2.Payload) -> None:
            raise ValueError("a strategy bug")

        client.client.add_handler("seto.contract_quotes", fail)
        client.proto.dataReceived(stream(quote(2), quote(3)))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)
        self.assertEqual([seq for _, seq in client.seen], [2, 3])
        self.assertFalse(client.transport.disconnecting)

    def test_handler_added_within_a_read(self) -> None:
        """A handler added by a handler sees the messages after, in the same read."""
        client = Client()
        late: list[int] = []

        def add(message: seto_pb2.Payload) -> None:
            if message.eto_payload.seq == 3:
                client.client.add_handler("seto.contract_quotes", lambda message: late.append(message.eto_payload.seq))
                client.client.del_handler("seto.contract_quotes", client.note)

        client.client.add_handler("seto.contract_quotes", add)
        client.proto.dataReceived(stream(*(quote(seq) for seq in range(2, 7))))
        self.assertEqual([seq for _, seq in client.seen], [2, 3])
        self.assertEqual(late, [4, 5, 6])

    def test_journal_before_dispatch(self) -> None:
        """Each message is in the journal, as received, before any handler sees it."""
        client = Client()
        events: list[tuple[str, int]] = []

        class Recorder:
            def record_in(self, data: bytes) -> None:
                events.append(("journal", seto_pb2.Payload.FromString(data).eto_payload.seq))

            def record_out(self, data: bytes, is_login: bool = False) -> None:
                pass

        client.session.sequence.journal = Recorder()
        client.client.add_handler("seto.contract_quotes", lambda message: events.append(("handler", message.eto_payload.seq)))
        big = quote(4)
        big.contract_quotes.offers.add(price=3000, quantity=1)
        for _ in range(40):
            big.contract_quotes.bids.add(price=2000, quantity=1)
        client.proto.dataReceived(stream(quote(2), session_message(3, eto_pb2.PAYLOAD_HEARTBEAT), big, quote(5)))
        self.assertGreater(len(big.SerializeToString()), 127)
        self.assertEqual(
            events,
            [("journal", 2), ("handler", 2), ("journal", 3), ("journal", 4), ("handler", 4), ("journal", 5), ("handler", 5)],
        )

    def test_book_kept_for_subscribed_market(self) -> None:
        """Quotes update a market's book only once the client holds one for it."""
        client = Client()
        client.proto.dataReceived(stream(quote(2)))
        self.assertEqual(client.client.markets, {})
        snapshot = seto_pb2.Payload(type=seto_pb2.PAYLOAD_MARKET_QUOTES)
        snapshot.eto_payload.seq = 3
        snapshot.market_quotes.market_id = 1
        client.proto.dataReceived(stream(snapshot, quote(4, contract_id=7)))
        book = client.client.markets[1]
        self.assertIn(7, book.contracts)

    def test_listeners_of_quotes_read_the_update_they_are_handed(self) -> None:
        """The strategy's host and a backtest's watcher take a quote update's ids from the
        client's book-keeping of that very update (``tracking.last_quotes``); an update
        the book-keeping did not take in (no book held for its market) is read from the
        message, not mistaken for the one before."""
        from txsmarkets.backtest.watch import Watcher
        from txsmarkets.strategy import Strategy, StrategyHost

        client = Client()
        heard: list[tuple[int, list[int]]] = []

        class Listener(Strategy):
            def on_market(self, book: Any) -> None:
                heard.append((book.market_id, sorted(book.contracts)))

        watcher = Watcher(client.client, client.clock.seconds)
        StrategyHost(client.client, Listener()).attach()
        snapshot = seto_pb2.Payload(type=seto_pb2.PAYLOAD_MARKET_QUOTES)
        snapshot.eto_payload.seq = 2
        snapshot.market_quotes.market_id = 1
        elsewhere = quote(4, contract_id=9)
        elsewhere.contract_quotes.market_id = 2  # no book held for market 2
        client.proto.dataReceived(stream(snapshot, quote(3, contract_id=7), elsewhere, quote(5, contract_id=8)))
        self.assertEqual(heard, [(1, []), (1, [7]), (1, [7, 8])])
        last = client.client.tracking.last_quotes
        assert last is not None
        self.assertEqual((last[0].eto_payload.seq, last[1], last[2]), (5, 1, 8))
        # The watcher marked the contracts of market 1 only (the first mark of a market
        # is set, the later ones of contracts without a position are held back).
        self.assertEqual(sorted(watcher.positions.markets), [1])
        self.assertEqual(sorted(watcher._unmarked), [1])
        self.assertEqual(sorted({*watcher.positions.markets[1].marks, *watcher._unmarked[1]}), [7, 8])
        self.assertEqual(watcher.messages, 4)


# One item of a generated stream: what the exchange sends next.
_events = st.one_of(
    st.tuples(st.just("quote"), st.integers(0, 0)),
    st.tuples(st.just("accepted"), st.integers(0, 0)),
    st.tuples(st.just("heartbeat"), st.integers(0, 0)),
    st.tuples(st.just("gapfill"), st.integers(0, 0)),
    st.tuples(st.just("skip"), st.integers(1, 3)),
    st.tuples(st.just("again"), st.integers(1, 3)),
    st.tuples(st.just("garbage"), st.integers(0, 0)),
)


def generated(events: list[tuple[str, int]]) -> bytes:
    """The bytes an exchange, sometimes out of order or broken, would send for ``events``."""
    out = bytearray()
    seq = 2
    account = 0
    for what, n in events:
        if what == "skip":
            seq += n
            continue
        if what == "again":
            seq = max(2, seq - n)
            continue
        if what == "garbage":
            out += b"\x04\x12\xff\x08\x01"
            continue
        if what == "quote":
            payload = quote(seq)
        elif what == "accepted":
            account += 1
            payload = accepted(seq, account)
        elif what == "heartbeat":
            payload = session_message(seq, eto_pb2.PAYLOAD_HEARTBEAT)
        else:
            payload = session_message(seq, eto_pb2.PAYLOAD_GAPFILL)
        frame_encode(out, payload.SerializeToString())
        seq += 1
    return bytes(out)


class SamePathTests(unittest.SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(_events, max_size=60),
        st.lists(st.integers(1, 400), min_size=1, max_size=10),
        st.booleans(),
    )
    def test_bulk_as_frame_by_frame(self, events: list[tuple[str, int]], cuts: list[int], global_handler: bool) -> None:
        """Any stream, cut into reads anywhere: both paths deliver the same messages, write
        the same answers, end at the same seq, and close the connection at the same point."""
        data = generated(events)
        results = []
        for bulk in (True, False):
            client = Client(bulk=bulk, global_handler=global_handler)
            pos = i = 0
            while pos < len(data) and not client.transport.disconnecting:
                size = cuts[i % len(cuts)]
                client.proto.dataReceived(data[pos : pos + size])
                pos += size
                i += 1
            results.append(
                (
                    client.seen,
                    client.sent(),
                    client.session.sequence.inseq,
                    client.transport.disconnecting,
                    client.session.account_sequence,
                )
            )
        self.assertEqual(results[0], results[1])


class OnPayloadTests(unittest.SynchronousTestCase):
    def test_replaced_on_payload_sees_everything(self) -> None:
        """Whoever replaces the session's on_payload gets every message, however the bytes
        were cut into reads: the client's direct routes are off."""
        client = Client()
        seen: list[int] = []
        client.session.on_payload = lambda payload: seen.append(payload.eto_payload.seq)
        client.proto.dataReceived(stream(*(quote(seq) for seq in range(2, 6))))
        self.assertEqual(seen, [2, 3, 4, 5])
        self.assertEqual(client.seen, [])


_levels = st.lists(st.tuples(st.integers(1, 6).map(lambda n: 1000 + 100 * n), st.sampled_from([0, 0, 5, 7])), max_size=3)


class BookUpdateTests(unittest.SynchronousTestCase):
    """`MarketBook.update` keeps a contract's levels and best prices as
    `ContractBook.set_bid`/`set_offer` do, one level or several a side (it applies a
    side's one level itself, for speed)."""

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.tuples(_levels, _levels), min_size=1, max_size=12))
    def test_update_as_set_levels(self, deltas: list[tuple[list[tuple[int, int]], list[tuple[int, int]]]]) -> None:
        from txsmarkets.client.state import ContractBook, MarketBook

        book = MarketBook(1)
        reference = ContractBook()
        for bids, offers in deltas:
            quotes = seto_pb2.ContractQuotes(market_id=1, contract_id=7)
            for price, quantity in bids:
                quotes.bids.add(price=price, quantity=quantity)
                reference.set_bid(price, quantity)
            for price, quantity in offers:
                quotes.offers.add(price=price, quantity=quantity)
                reference.set_offer(price, quantity)
            self.assertEqual(book.update(quotes), 7)
            contract = book.contracts[7]
            self.assertEqual(
                (contract.bids, contract.offers, contract.best_bid, contract.best_offer),
                (reference.bids, reference.offers, reference.best_bid, reference.best_offer),
            )
