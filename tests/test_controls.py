"""Trading controls through the public API against the embedded exchange.

Most tests join real clients to a real exchange (engine, server protocol) in memory on a
`Clock` (`Market`); one runs over loopback TCP with ``connect(controls=...)``. The property
test drives random creates, fills by a second account, cancels and cuts, and checks the
worst-case exposure against the exchange's own books at every step.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial import unittest

from tests.support import close_client, global_reactor, inline
from txsmarkets.client import BUY, SELL, Session, SessionState, SessionSettings, SmarketsClientFactory, StreamingAPIClient, connect
from txsmarkets.controls import Controls, InvalidControls, OrderRefused
from txsmarkets.exceptions import RequestRejected
from txsmarkets.exchange.accounts import Credentials
from txsmarkets.exchange.catalogue import demo_catalogue
from txsmarkets.exchange.engine import MatchingEngine
from txsmarkets.exchange.server import ExchangeServerFactory
from txsmarkets.wire import eto_pb2, seto_pb2
from txsmarkets.exchange.service import start_exchange
from txsmarkets.odds import next_tick, previous_tick


class Link:
    """One real client joined to the exchange by two StringTransports."""

    def __init__(self, market: Market, user: str, controls: Controls | None) -> None:
        self.market = market
        settings = SessionSettings(user, user, host="exchange.test", port=3701, ssl=False, heartbeat_interval=30)
        self.session = Session(settings, reactor=market.clock)
        self.client = StreamingAPIClient(self.session)
        if controls is not None:
            self.client.controls = controls
        self.factory = SmarketsClientFactory(self.session)
        self.session.factory = self.factory
        self.connected = False
        self.connect()
        self.client.login()

    def connect(self) -> None:
        self.server = self.market.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 4000))
        self.server_transport = StringTransport()
        self.server.makeConnection(self.server_transport)
        self.protocol = self.factory.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)
        self.connected = True

    def step(self) -> bool:
        """Carry what is on the wire one way each; whether anything moved."""
        if not self.connected:
            return False
        up, down = self.transport.value(), self.server_transport.value()
        self.transport.clear()
        self.server_transport.clear()
        if up:
            self.server.dataReceived(up)
        if down:
            self.protocol.dataReceived(down)
        return bool(up or down)

    def cut(self) -> None:
        """End the connection on both sides; what was on the wire is lost."""
        self.transport.clear()
        self.server_transport.clear()
        self.connected = False
        self.protocol.connectionLost(Failure(ConnectionDone()))
        self.server.connectionLost(Failure(ConnectionDone()))


class Market:
    """An exchange (demo catalogue, two cheap accounts) and its clients on one Clock."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.engine = MatchingEngine(demo_catalogue(), now=self.clock.seconds)
        self.accounts = {
            user: self.engine.accounts.add_credentials(user, Credentials.create(user, iterations=1), "1000")
            for user in ("us", "them")
        }
        self.factory = ExchangeServerFactory(self.engine, self.clock, heartbeat_interval=30)
        self.links: list[Link] = []

    def link(self, user: str, controls: Controls | None = None) -> Link:
        link = Link(self, user, controls)
        self.links.append(link)
        self.pump()
        return link

    def pump(self, each: Any = None) -> None:
        """Carry bytes until every side is quiet; ``each()`` after every step."""
        for _ in range(1000):
            self.clock.advance(0)
            moved = False
            for link in self.links:
                moved = link.step() or moved
                if each is not None:
                    each()
            if not moved:
                return
        raise AssertionError("the sides never stopped talking")


class ControlsTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def trade(self, **limits: Any) -> tuple[Market, Link, Link, Controls]:
        controls = Controls(**limits)
        market = Market()
        us = market.link("us", controls)
        them = market.link("them")
        return market, us, them, controls

    def refused(self, d: Any, control: str) -> OrderRefused:
        error = self.failureResultOf(d, OrderRefused).value
        self.assertEqual(error.control, control)
        self.assertIsInstance(error, RequestRejected)
        return error

    def logged(self, text: str) -> int:
        return sum(1 for e in self.events if text in str(e.get("log_format", "")) or text in str(e.get("error", "")))


class OrderSizeTests(ControlsTestCase):
    def test_quantity_and_liability(self) -> None:
        market, us, _, controls = self.trade(max_order_quantity=500000, max_order_liability=Decimal("10"))
        outseq = us.session.sequence.outseq
        error = self.refused(us.client.create_order(1, 11, BUY, 2500, 500001), "max_order_quantity")
        self.assertEqual((error.limit, error.figure), (500000, 500001))
        # 2500 x 400,004 risks £10.0001 on a buy; a sell of 400,000 at 2500 risks £30.
        error = self.refused(us.client.create_order(1, 11, BUY, 2500, 400004), "max_order_liability")
        self.assertEqual(error.figure, Decimal("10.00010000"))
        self.refused(us.client.create_order(1, 11, SELL, 2500, 400000), "max_order_liability")
        # Nothing was stamped or sent.
        self.assertEqual(us.session.sequence.outseq, outseq)
        self.assertEqual(us.transport.value(), b"")
        self.assertEqual(controls.refusals, {"max_order_quantity": 1, "max_order_liability": 2})
        self.assertEqual(self.logged("order refused"), 3)
        ok = us.client.create_order(1, 11, BUY, 2500, 400000)
        market.pump()
        self.assertEqual(self.successResultOf(ok).order_accepted.quantity, 400000)
        self.assertEqual(controls.passed, 1)

    def test_tick_ladder(self) -> None:
        _, us, _, controls = self.trade()
        error = self.refused(us.client.create_order(1, 11, BUY, 2501, 10000), "tick_ladder")
        self.assertIn(f"nearest ticks {previous_tick(2501)} and {next_tick(2501)}", str(error))


class ExposureTests(ControlsTestCase):
    def test_in_flight_orders_count_together(self) -> None:
        """Two creates sent in the same turn: each fits the account limit alone, not both."""
        market, us, _, controls = self.trade(max_account_exposure=Decimal("15"))
        first = us.client.create_order(1, 11, BUY, 2500, 400000)  # risks £10
        second = us.client.create_order(2, 21, BUY, 2500, 400000)  # £10 more: £20 > £15
        error = self.refused(second, "max_account_exposure")
        self.assertEqual((error.limit, error.figure), (Decimal("15"), Decimal("20.00000000")))
        self.assertEqual(controls.account_exposure, Decimal("10"))
        market.pump()
        self.successResultOf(first)
        self.assertEqual(controls.account_exposure, Decimal("10"))

    def test_market_outcomes_net(self) -> None:
        """Backing two outcomes of one market loses at most the larger stake plus... both
        stakes if the third wins: the market's worst case is the sum; laying nets."""
        market, us, them, controls = self.trade(max_market_exposure=Decimal("20"), max_contract_exposure=Decimal("12"))
        a = us.client.create_order(1, 11, BUY, 2500, 400000)  # £10 if 11 loses
        b = us.client.create_order(1, 12, BUY, 2500, 400000)  # £10 if 12 loses: £20 if 13 wins
        self.assertEqual(controls.market_exposure(1), Decimal("20"))
        self.refused(us.client.create_order(1, 13, BUY, 2000, 10000), "max_market_exposure")
        # A lay of 12 at 2500 risks £30 if 12 wins, but then the back of 12 wins £30: only
        # the contract's own limit (£30 on its own) stops it.
        self.refused(us.client.create_order(1, 12, SELL, 2500, 400000), "max_contract_exposure")
        market.pump()
        self.successResultOf(a), self.successResultOf(b)
        self.assertEqual(controls.contract_exposure(1, 11), Decimal("10"))

    def test_fills_cancels_and_reductions_follow_the_exchange(self) -> None:
        market, us, them, controls = self.trade(max_account_exposure=Decimal("25"))
        resting = us.client.create_order(1, 11, BUY, 2500, 800000)  # £20
        market.pump()
        order_id = self.successResultOf(resting).order_accepted.order_id
        # They sell into half of it at 2500: £10 filled, £10 still live: still £20.
        them.client.create_order(1, 11, SELL, 2500, 400000)
        market.pump()
        self.assertEqual(controls.account_exposure, Decimal("20"))
        self.refused(us.client.create_order(2, 21, BUY, 5000, 200000), "max_account_exposure")
        # Reductions and cancels are never blocked (over the limit here), and release what
        # they free.
        reduced = us.client.reduce_quantity(order_id, 200000)
        market.pump()
        self.successResultOf(reduced)
        self.assertEqual(controls.account_exposure, Decimal("15"))
        cancelled = us.client.cancel_order(order_id)
        market.pump()
        self.assertEqual(controls.account_exposure, Decimal("10"))
        ok = us.client.create_order(2, 21, BUY, 5000, 300000)  # £15 more: £25
        market.pump()
        self.successResultOf(ok)
        self.assertEqual(controls.account_exposure, Decimal("25"))
        self.assertIsNotNone(cancelled)

    def test_in_flight_order_through_a_cut(self) -> None:
        """A create whose connection drops stays counted till the resumed session answers."""
        market, us, _, controls = self.trade(max_account_exposure=Decimal("15"))
        lost = us.client.create_order(1, 11, BUY, 2500, 400000)
        us.client.flush()
        us.server.dataReceived(us.transport.value())  # the exchange takes the order ...
        us.cut()  # ... and the answer is lost
        self.failureResultOf(lost)
        self.assertEqual(controls.account_exposure, Decimal("10"))
        market.clock.advance(2)  # the client reconnects
        us.connect()
        market.pump()
        self.assertIs(us.session.state, SessionState.LOGGED_IN)
        self.assertEqual(controls.live_orders, 1)
        self.assertEqual(controls.account_exposure, Decimal("10"))
        self.refused(us.client.create_order(1, 12, BUY, 2500, 400000), "max_account_exposure")


class ReplaceTests(ControlsTestCase):
    def resting(self, market: Market, us: Link, price: int, quantity: int) -> int:
        d = us.client.create_order(1, 11, BUY, price, quantity)
        market.pump()
        order_id: int = self.successResultOf(d).order_accepted.order_id
        return order_id

    def test_replace_that_raises_risk_is_checked(self) -> None:
        """A replace is the create of the new order less the original it releases."""
        market, us, _, controls = self.trade(max_account_exposure=Decimal("15"), max_order_quantity=700000)
        order_id = self.resting(market, us, 2500, 400000)  # £10
        outseq = us.session.sequence.outseq
        # To 2500 x 800,000: £20 in place of £10.
        error = self.refused(us.client.cancel_replace(order_id, 2500, 800000), "max_order_quantity")
        self.assertEqual(error.figure, 800000)
        error = self.refused(us.client.cancel_replace(order_id, 3030, 600000), "max_account_exposure")
        self.assertEqual((error.limit, error.figure), (Decimal("15"), Decimal("18.18000000")))
        self.refused(us.client.cancel_replace(order_id, 2501, 400000), "tick_ladder")
        self.assertEqual(us.session.sequence.outseq, outseq)  # nothing was sent
        self.assertEqual(us.transport.value(), b"")
        # To 2500 x 560,000: £14, within the limit less the £10 it releases.
        ok = us.client.cancel_replace(order_id, 2500, 560000)
        self.assertEqual(controls.account_exposure, Decimal("14"))  # in flight: the worse
        self.refused(us.client.create_order(2, 21, BUY, 2000, 100000), "max_account_exposure")  # £2 more
        market.pump()
        new_id = self.successResultOf(ok).order_cancel_replace_accepted.order_id
        self.assertEqual(controls.account_exposure, Decimal("14"))
        self.assertEqual(controls.live_orders, 1)
        # force skips the limits (and is logged).
        forced = us.client.cancel_replace(new_id, 2500, 700001, force=True)
        market.pump()
        self.successResultOf(forced)
        self.assertEqual(controls.account_exposure, Decimal("17.500025"))
        self.assertEqual(self.logged("forced replace"), 1)

    def test_reductions_and_same_risk_always_pass(self) -> None:
        market, us, _, controls = self.trade(max_account_exposure=Decimal("10"))
        order_id = self.resting(market, us, 2500, 400000)  # £10: at the limit
        controls.halt("operator")  # its cancel_all is yet to reach the exchange
        # Halted, and at the limit: no more quantity at no worse a price passes ...
        d = us.client.cancel_replace(order_id, 2000, 400000)
        self.assertNoResult(d)
        # ... more risk does not.
        self.refused(us.client.cancel_replace(order_id, 2500, 400001), "kill_switch")
        self.refused(us.client.cancel_replace(order_id, 2500, 400001, force=True), "kill_switch")
        self.assertEqual(controls.refusals, {"kill_switch": 2})

    def test_unanswered_excess_released(self) -> None:
        """The excess of a replace the exchange refuses counts no more; a fill of the
        original while its replace is in flight grows the excess."""
        market, us, them, controls = self.trade(max_account_exposure=Decimal("30"), tick_ladder=False)
        order_id = self.resting(market, us, 2500, 400000)  # £10
        invalid = us.client.cancel_replace(order_id, 2501, 800000)  # off the ladder
        self.assertEqual(controls.account_exposure, Decimal("20.008"))
        market.pump()
        self.failureResultOf(invalid, RequestRejected)
        self.assertEqual(controls.account_exposure, Decimal("10"))
        # They fill half the original; our replace to 800,000 was on its way: counted are
        # the £5 filled and the new order's £20 (not the original's £5 rest).
        them.client.create_order(1, 11, SELL, 2500, 200000)
        them.client.flush()
        them.server.dataReceived(them.transport.value())
        them.transport.clear()
        replaced = us.client.cancel_replace(order_id, 2500, 800000)
        us.protocol.dataReceived(us.server_transport.value())  # the fill reaches us first
        us.server_transport.clear()
        self.assertEqual(controls.account_exposure, Decimal("25"))
        market.pump()
        self.successResultOf(replaced)
        self.assertEqual(controls.account_exposure, Decimal("25"))
        self.assertEqual(controls.live_orders, 1)


class CountTests(ControlsTestCase):
    def test_live_orders(self) -> None:
        market, us, _, controls = self.trade(max_live_orders=3, max_live_orders_per_market=2)
        ds = [us.client.create_order(1, 11, BUY, p, 10000) for p in (2000, 2041)]
        self.refused(us.client.create_order(1, 11, BUY, 1961, 10000), "max_live_orders_per_market")
        ds.append(us.client.create_order(2, 21, BUY, 2000, 10000))
        self.refused(us.client.create_order(2, 21, BUY, 1961, 10000), "max_live_orders")
        market.pump()
        us.client.cancel_order(self.successResultOf(ds[0]).order_accepted.order_id)
        market.pump()
        ok = us.client.create_order(1, 11, BUY, 1961, 10000)
        market.pump()
        self.successResultOf(ok)

    def test_rates(self) -> None:
        market, us, _, controls = self.trade(max_orders_per_second=2, max_orders_per_minute=3)
        prices = iter((1000, 1020, 1042, 1064, 1087, 909))
        for _ in range(2):
            us.client.create_order(1, 11, BUY, next(prices), 10000)
        self.refused(us.client.create_order(1, 11, BUY, next(prices), 10000), "max_orders_per_second")
        market.pump()
        market.clock.advance(1)
        us.client.create_order(1, 11, BUY, next(prices), 10000)
        error = self.refused(us.client.create_order(1, 11, BUY, next(prices), 10000), "max_orders_per_minute")
        self.assertEqual((error.limit, error.figure), (3, 4))
        market.pump()
        market.clock.advance(60)
        ok = us.client.create_order(1, 11, BUY, next(prices), 10000)
        market.pump()
        self.successResultOf(ok)
        self.assertEqual(controls.passed, 4)

    def test_duplicates(self) -> None:
        market, us, _, _ = self.trade(duplicate_window=2)
        us.client.create_order(1, 11, BUY, 2000, 10000)
        self.refused(us.client.create_order(1, 11, BUY, 2000, 10000), "duplicate_window")
        us.client.create_order(1, 11, BUY, 2000, 20000)  # another quantity: not the same order
        market.pump()
        market.clock.advance(2)
        ok = us.client.create_order(1, 11, BUY, 2000, 10000)
        market.pump()
        self.successResultOf(ok)


class CollarTests(ControlsTestCase):
    def test_fat_finger(self) -> None:
        market, us, them, controls = self.trade(price_collar_ticks=2)
        us.client.subscribe(1)
        them.client.create_order(1, 11, SELL, 2500, 100000)
        them.client.create_order(1, 11, BUY, 2000, 100000)
        market.pump()
        two_through = next_tick(next_tick(2500))  # type: ignore[arg-type]
        error = self.refused(us.client.create_order(1, 11, BUY, next_tick(two_through), 10000), "price_collar_ticks")
        self.assertEqual(error.figure, 3)
        us.client.create_order(1, 11, BUY, two_through, 10000)
        self.refused(us.client.create_order(1, 11, SELL, 1887, 10000), "price_collar_ticks")
        # A market we hold no book for has no collar.
        us.client.create_order(2, 21, BUY, 9901, 10000)
        self.assertEqual(controls.passed, 2)


class KillSwitchTests(ControlsTestCase):
    def test_halt_cancels_and_refuses_until_reset(self) -> None:
        market, us, _, controls = self.trade(max_order_quantity=100000)
        for price in (2000, 2041):
            us.client.create_order(1, 11, BUY, price, 10000)
        market.pump()
        controls.halt("operator")
        market.pump()
        self.assertEqual(us.client.account.orders, {})
        self.assertEqual(controls.live_orders, 0)
        self.refused(us.client.create_order(1, 11, BUY, 2000, 10000), "kill_switch")
        self.refused(us.client.create_order(1, 11, BUY, 2000, 10000, force=True), "kill_switch")
        controls.reset()
        # force skips the other controls, and says so.
        forced = us.client.create_order(1, 11, BUY, 2000, 200000, force=True)
        market.pump()
        self.successResultOf(forced)
        self.assertEqual((controls.forced, self.logged("forced order")), (1, 1))

    def test_loss_limit(self) -> None:
        market, us, them, controls = self.trade(loss_limit=Decimal("5"))
        us.client.subscribe(1)
        them.client.create_order(1, 11, SELL, 5000, 400000)
        us.client.create_order(1, 11, BUY, 5000, 400000)  # fills at 5000: £20 at stake
        us.client.create_order(1, 12, BUY, 1000, 10000)  # rests
        market.pump()
        self.assertIsNone(controls.halted)
        self.assertEqual(controls.loss, Decimal(0))
        # The market moves against us: bid 3497, offer 3906, mid 3701.5: £5.194 on paper.
        them.client.create_order(1, 11, BUY, 3497, 10000)
        them.client.create_order(1, 11, SELL, 3906, 10000)
        market.pump()
        self.assertIsNotNone(controls.halted)
        self.assertIn("loss limit", controls.halted or "")
        self.assertEqual(us.client.account.orders, {})
        self.refused(us.client.create_order(1, 13, BUY, 1000, 10000), "kill_switch")


class ConfigTests(unittest.TestCase):
    def test_from_config(self) -> None:
        import configparser

        parser = configparser.ConfigParser()
        parser.read_string(
            "[controls]\nmax-order-quantity = 100\nmax-account-exposure = 250.00\nduplicate-window = 2\n"
            "price-collar-ticks = 0\ntick-ladder = no\n"
        )
        controls = Controls.from_config(parser["controls"])
        self.assertEqual(controls.limits["max_account_exposure"], Decimal("250.00"))
        self.assertEqual(controls.limits["max_order_quantity"], 100)
        self.assertEqual(controls.limits["duplicate_window"], 2.0)
        self.assertFalse(controls.tick_ladder)
        for text, words in (
            ("max-exposure = 1", "unknown control 'max-exposure'"),
            ("max-order-quantity = lots", "max-order-quantity must be a number"),
            ("max-order-quantity = 0", "at least 1"),
            ("loss-limit = -5", "positive"),
            ("loss-limit = 0.000000001", "8 places"),
            ("duplicate-window = nan", "seconds"),
        ):
            with self.assertRaises(InvalidControls) as caught:
                Controls.from_config(dict([tuple(part.strip() for part in text.split("="))]))
            self.assertIn(words, str(caught.exception))

    def test_keywords(self) -> None:
        with self.assertRaises(InvalidControls):
            Controls(max_account_exposure=25.0)  # a float is no money
        with self.assertRaises(InvalidControls):
            Controls(max_order_size=1)


class LoopbackTests(unittest.TestCase):
    @inline
    async def test_connect_with_controls(self) -> None:
        """``connect(settings, controls=...)`` over TCP against the embedded exchange."""
        exchange = await start_exchange(global_reactor(), "tcp:0:interface=127.0.0.1")
        self.addCleanup(exchange.stop)
        controls = Controls(max_account_exposure=Decimal("15"))
        settings = SessionSettings("demo", "demo", host="127.0.0.1", port=exchange.port, ssl=False)
        client = await connect(settings, global_reactor(), controls=controls)
        self.addCleanup(close_client, client)
        self.assertIs(client.controls, controls)
        first = client.create_order(1, 11, BUY, 2500, 400000)
        with self.assertRaises(OrderRefused):
            await client.create_order(1, 12, BUY, 2500, 400000)
        await first
        await client.cancel_all()
        await client.ping()  # the order_cancelled may follow the cancel_all's answer
        self.assertEqual(controls.account_exposure, 0)
        await client.create_order(1, 12, BUY, 2500, 400000)


# -- the property: exposure never past its limit, in-flight orders included ---------------

LIMIT = Decimal("30")
PRICES = (2000, 2500, 4000, 5000, 6667)
CONTRACTS = {1: (11, 12, 13), 2: (21, 22)}
_ORDER = st.tuples(
    st.sampled_from([(1, 11), (1, 12), (1, 13), (2, 21), (2, 22)]),
    st.sampled_from([BUY, SELL]),
    st.sampled_from(PRICES),
    st.sampled_from([10000, 100000, 250000, 400000, 800000]),
)
ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("create"), _ORDER),
        st.tuples(st.just("hit"), _ORDER),
        st.tuples(st.just("cancel"), st.integers(0, 5)),
        st.tuples(st.just("pump"), st.just(None)),
        st.tuples(st.just("step"), st.just(None)),
        st.tuples(st.just("cut"), st.just(None)),
        st.tuples(st.just("restart"), st.just(None)),
        st.tuples(st.just("take"), st.tuples(st.integers(0, 5), st.sampled_from([10000, 100000, 400000]))),
    ),
    max_size=40,
)


def true_worst_case(market: Market, pending: list[tuple[int, int, int, int, int]]) -> Decimal:
    """The account's worst-case loss by brute force over each market's outcomes (exactly
    one contract wins): the exchange's matched bets and live orders, and ``pending``
    creates it has not yet read, each order counted where its filling loses."""
    account = market.accounts["us"]
    total = 0
    for market_id, contracts in CONTRACTS.items():
        orders = [(o.contract_id, o.side, o.price, o.remaining) for o in account.orders.values() if o.market_id == market_id]
        orders += [(c, side, price, q) for m, c, side, price, q in pending if m == market_id]
        position = account.positions.get(market_id)
        worst = 0
        for winner in contracts:
            loss = 0
            if position is not None:
                loss = position.cost - position.net[winner] * 10000
            for c, side, price, q in orders:
                if side == BUY and c != winner:
                    loss += price * q
                elif side == SELL and c == winner:
                    loss += (10000 - price) * q
            worst = max(worst, loss)
        total += worst
    return Decimal(total).scaleb(-8)


class ExposurePropertyTests(unittest.TestCase):
    @settings(max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(actions=ACTIONS)
    # A restart holding a position, a resting order and one in flight, the last answered
    # after it; and a restart after a cut, with the in-flight one's answer lost.
    @example(
        actions=[
            ("create", ((1, 11), BUY, 2000, 400000)),
            ("pump", None),
            ("take", (0, 100000)),
            ("pump", None),
            ("create", ((1, 12), SELL, 5000, 100000)),
            ("restart", None),
            ("pump", None),
            ("create", ((2, 21), BUY, 2500, 100000)),
            ("step", None),
            ("cut", None),
            ("restart", None),
            ("pump", None),
        ]
    )
    def test_exposure_never_past_the_limit(self, actions: list[tuple[str, Any]]) -> None:
        controls = Controls(max_account_exposure=LIMIT)
        market = Market()
        us = market.link("us", controls)
        them = market.link("them")
        sent: list[tuple[int, tuple[int, int, int, int, int]]] = []

        def check() -> None:
            session = market.factory.sessions.get(us.session.session_id or "")
            read = session.sequence.inseq if session is not None else 0
            pending = [order for seq, order in sent if seq >= read]
            worst = true_worst_case(market, pending)
            self.assertLessEqual(worst, LIMIT)
            # The controls' own figure is never below the truth.
            self.assertGreaterEqual(controls.account_exposure, worst)

        for action, arg in actions:
            if action == "create" and us.session.connected:
                (m, c), side, price, q = arg
                seq = us.session.sequence.outseq
                d = us.client.create_order(m, c, side, price, q)
                if not d.called:
                    sent.append((seq, (m, c, side, price, q)))
                d.addErrback(lambda f: None)
            elif action == "hit":
                (m, c), side, price, q = arg
                them.client.create_order(m, c, side, price, q, tif=2).addErrback(lambda f: None)
            elif action == "take" and us.client.account.orders:
                # They fill (some of) one of our resting orders at its price.
                order = us.client.account.orders[sorted(us.client.account.orders)[arg[0] % len(us.client.account.orders)]]
                side = SELL if order.side == BUY else BUY
                them.client.create_order(order.market_id, order.contract_id, side, order.price, arg[1], tif=2).addErrback(lambda f: None)
            elif action == "cancel" and us.session.connected and us.client.account.orders:
                ids = sorted(us.client.account.orders)
                us.client.cancel_order(ids[arg % len(ids)]).addErrback(lambda f: None)
            elif action == "pump":
                market.pump(check)
            elif action == "step":
                market.clock.advance(0)
                for link in market.links:
                    link.step()
                    check()
            elif action == "cut" and us.connected:
                us.cut()
                check()
                us.connect()
            elif action == "restart":
                # The controls of a process restarted from its state folder: what they
                # counted, through JSON as the folder keeps it, then the account's orders.
                data = json.loads(json.dumps(controls.snapshot()))
                controls = Controls(max_account_exposure=LIMIT)
                controls.restore(data)
                us.client.controls = controls
            check()
        market.pump(check)
        # Once everything is answered, the controls' view is the exchange's.
        self.assertEqual(controls.live_orders, len(market.accounts["us"].orders))


class BookkeepingTests(ControlsTestCase):
    """What the controls keep between creates: a refused create leaves none of it behind,
    and the duplicate window's record forgets what is past the window."""

    def test_refused_create_leaves_no_trace(self) -> None:
        market, us, _, controls = self.trade(max_account_exposure=Decimal(3), max_market_exposure=Decimal(3), duplicate_window=10)
        first = us.client.create_order(1, 11, SELL, 5000, 20000)  # £1.00 at risk
        market.pump()
        before = (controls.account_exposure, controls.market_exposure(1), controls.contract_exposure(1, 11), controls.live_orders)
        self.refused(us.client.create_order(1, 11, SELL, 5000, 50000), "max_market_exposure")  # £2.50 more
        after = (controls.account_exposure, controls.market_exposure(1), controls.contract_exposure(1, 11), controls.live_orders)
        self.assertEqual(after, before)
        us.client.cancel_order(self.successResultOf(first).order_accepted.order_id)
        market.pump()
        self.assertEqual(controls.account_exposure, 0)
        # The refused create was never passed: the same one now is no duplicate.
        ok = us.client.create_order(1, 11, SELL, 5000, 50000)
        market.pump()
        self.successResultOf(ok)
        self.assertEqual(controls.account_exposure, Decimal("2.5"))
        self.assertEqual((controls.passed, controls.checked), (2, 3))

    def test_duplicate_record_forgets_past_the_window(self) -> None:
        from txsmarkets.client import OrderCreate

        market, us, _, controls = self.trade(duplicate_window=1)
        creates = [OrderCreate(1, 11, BUY, 2000, 10000 + i).to_payload().order_create for i in range(1500)]
        for _ in range(6):
            for create in creates:
                self.assertNotIsInstance(controls.check(create), OrderRefused)
            self.assertIsInstance(controls.check(creates[0]), OrderRefused)
            self.assertLessEqual(len(controls._recent), 3 * len(creates))
            market.clock.advance(1)
        self.assertEqual(controls.refusals["duplicate_window"], 6)

    def test_create_waiting_for_the_throttle(self) -> None:
        market, us, _, controls = self.trade(max_account_exposure=Decimal(100))
        us.client.throttle.set_limits(1, 1)
        first = us.client.create_order(1, 11, BUY, 5000, 20000)  # goes out at once
        waiting = us.client.create_order(1, 11, BUY, 5000, 30000)  # waits for a token
        self.assertEqual((controls.live_orders, controls.account_exposure), (2, Decimal("2.5")))
        market.pump()
        self.successResultOf(first)
        us.cut()  # the one still waiting fails, never sent: it no longer counts
        market.clock.advance(1)
        self.failureResultOf(waiting)
        self.assertEqual((controls.live_orders, controls.account_exposure), (1, Decimal(1)))

    def test_a_halt_takes_back_the_creates_waiting_for_the_throttle(self) -> None:
        """Creates that passed the checks before a halt and still wait for the throttle are
        refused unsent (kill_switch), and the halt's cancel_all is the next request out:
        none of them can trade after the halt."""
        market, us, them, controls = self.trade(max_account_exposure=Decimal(100))
        them.client.create_order(1, 11, SELL, 5000, 1000000)  # they would fill every one
        market.pump()
        us.client.throttle.set_limits(1, 1)
        first = us.client.create_order(1, 11, BUY, 4000, 20000)  # goes out at once, rests
        waiting = [us.client.create_order(1, 11, BUY, 5000, 20000 + i) for i in range(3)]
        self.assertEqual((us.client.throttle.waiting, controls.live_orders), (3, 4))
        cancelled = controls.halt("the operator said so")
        for d in waiting:
            self.assertEqual(self.failureResultOf(d, OrderRefused).value.control, "kill_switch")
        self.assertEqual(us.client.throttle.waiting, 1)  # the cancel_all, first in line
        market.clock.advance(1)
        market.pump()
        self.successResultOf(cancelled)
        self.assertEqual(self.successResultOf(first).order_accepted.quantity, 20000)
        self.assertEqual((market.accounts["us"].orders, us.client.account.orders), ({}, {}))
        self.assertEqual(market.accounts["us"].positions, {})
        self.assertEqual((controls.live_orders, controls.account_exposure), (0, 0))
        self.assertEqual(controls.passed, 4)

    def test_refused_orders_take_back_the_creates_waiting_for_the_throttle(self) -> None:
        """`refuse_orders` (a daemon's stop): the creates still waiting for the throttle
        fail with `SessionClosed`, unsent; a cancel asked for after them still goes."""
        from txsmarkets.exceptions import SessionClosed

        market, us, _, controls = self.trade()
        resting = us.client.create_order(1, 11, BUY, 2000, 10000)
        market.pump()
        order_id = self.successResultOf(resting).order_accepted.order_id
        us.client.throttle.set_limits(1, 1)
        us.client.create_order(1, 11, BUY, 2000, 10000)  # takes the token
        waiting = us.client.create_order(1, 11, BUY, 2000, 20000)
        cancel = us.client.cancel_order(order_id)
        us.client.refuse_orders("stopping")
        self.assertEqual(str(self.failureResultOf(waiting, SessionClosed).value), "stopping")
        self.assertEqual(us.client.throttle.waiting, 1)
        market.clock.advance(1)
        market.pump()
        self.successResultOf(cancel)
        self.assertEqual([o.quantity for o in market.accounts["us"].orders.values()], [10000])
        self.assertEqual(controls.live_orders, 1)


    def test_handlers_see_the_controls_up_to_date(self) -> None:
        """The controls take each account message in before any handler of it runs: a
        strategy that replaces a cancelled order from its handler is checked against the
        account without the cancelled one."""
        market, us, _, _ = self.trade()
        seen: list[tuple[int, Any]] = []

        def replace(message: seto_pb2.Payload) -> None:
            seen.append((controls.live_orders, us.client.create_order(1, 11, BUY, 2000, 20000)))

        # The handler is there first, the controls come after.
        us.client.add_handler("seto.order_cancelled", replace)
        us.client.controls = controls = Controls(max_live_orders=1)
        first = us.client.create_order(1, 11, BUY, 2000, 10000)
        market.pump()
        us.client.cancel_order(self.successResultOf(first).order_accepted.order_id)
        market.pump()
        [(live, second)] = seen
        self.assertEqual(live, 0)
        self.assertEqual(self.successResultOf(second).order_accepted.quantity, 20000)
        self.assertEqual(controls.live_orders, 1)

    def test_controls_replaced_stop_counting(self) -> None:
        market, us, _, old = self.trade(max_live_orders=5)
        resting = us.client.create_order(1, 11, BUY, 2000, 10000)
        market.pump()
        new = Controls(max_live_orders=5)
        us.client.controls = new
        self.assertEqual((old.live_orders, new.live_orders), (1, 1))  # the new ones adopt it
        us.client.cancel_order(self.successResultOf(resting).order_accepted.order_id)
        us.client.create_order(1, 12, BUY, 2000, 10000)
        market.pump()
        self.assertEqual((old.live_orders, new.live_orders), (1, 1))
        self.assertIsNone(old.client)


class ReviewFixTests(unittest.TestCase):
    """What a review of the money paths found."""

    def test_orders_held_before_the_controls_count(self) -> None:
        """Live orders restored from a state folder (or held before the controls were set)
        count against the limits."""
        from txsmarkets.client.state import LiveOrder
        from txsmarkets.testing import MemoryExchange

        exchange = MemoryExchange()
        client = exchange.client()
        client.account.orders[77] = LiveOrder(77, 1, 11, seto_pb2.SIDE_BUY, 2500, 400000)
        controls = Controls(max_live_orders=1, max_account_exposure=Decimal(15))
        client.controls = controls
        self.assertEqual(controls.live_orders, 1)
        self.assertEqual(controls.account_exposure, Decimal(10))
        exchange.run(client.login())
        with self.assertRaises(OrderRefused) as caught:
            exchange.run(client.create_order(1, 11, seto_pb2.SIDE_BUY, 2500, 10000))
        self.assertEqual(caught.exception.control, "max_live_orders")

    def test_requests_the_exchange_never_read_stop_counting(self) -> None:
        """A create lost with its connection, whose seq the resumed exchange numbers us
        from again, stops counting: it was never read and will never be answered."""
        from txsmarkets.testing import ScriptedExchange

        ex = ScriptedExchange()
        controls = Controls(max_live_orders=2)
        ex.client.controls = controls
        ex.client.login()
        ex.login()
        lost = ex.client.create_order(1, 11, seto_pb2.SIDE_BUY, 2500, 10000)
        lost.addErrback(lambda f: None)
        seq = ex.sent()[0].eto_payload.seq
        self.assertEqual(controls.live_orders, 1)
        ex.proto.connectionLost(Failure(ConnectionDone()))
        ex.connect()
        ex.sent()
        # The exchange never read ``seq``: it resumes numbering us from it.
        ex.send_eto(eto_pb2.PAYLOAD_LOGIN_RESPONSE, login_response=eto_pb2.LoginResponse(session="s-1", reset=seq))
        self.assertEqual(controls.live_orders, 0)
        ex.client.create_order(1, 11, seto_pb2.SIDE_BUY, 2500, 10000)
        ex.client.create_order(1, 11, seto_pb2.SIDE_BUY, 2500, 10001)
        self.assertEqual(controls.live_orders, 2)

    def test_fill_records_go_when_the_market_settles(self) -> None:
        from txsmarkets.testing import MemoryExchange

        exchange = MemoryExchange()
        controls = Controls()
        buyer = exchange.run(exchange.connect("demo", "demo"))
        buyer.controls = controls
        exchange.run(buyer.subscribe(1))
        seller = exchange.run(exchange.connect("demo2", "demo2"))
        exchange.run(buyer.create_order(1, 11, seto_pb2.SIDE_BUY, 2500, 10000))
        exchange.run(seller.create_order(1, 11, seto_pb2.SIDE_SELL, 2500, 10000))
        exchange.flush()
        self.assertEqual(len(controls._fills), 1)
        exchange.engine.settle_market(1, [11])
        exchange.flush()
        self.assertEqual(controls._fills, {})

    def test_fill_records_bounded(self) -> None:
        from txsmarkets.trading import exposure

        self.patch(exposure, "FILL_RECORDS_KEPT", 3)
        controls = Controls()
        for order_id in range(1, 6):
            payload = seto_pb2.Payload(type=seto_pb2.PAYLOAD_ORDER_EXECUTED)
            body = payload.order_executed
            body.order_id, body.market_id, body.contract_id = order_id, 1, 11
            body.side, body.price, body.quantity = seto_pb2.SIDE_BUY, 2500, 100
            controls._executed(body)
        self.assertEqual(list(controls._fills), [3, 4, 5])
