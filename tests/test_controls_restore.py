"""The trading controls across a market's end and across a restart: what a void or a
settlement releases, and what a state folder brings back (positions, fills kept to undo a
void, the kill switch), all against the embedded exchange in memory."""

from __future__ import annotations

from decimal import Decimal

from twisted.trial import unittest

from txsmarkets.client import BUY, SELL, StreamingAPIClient
from txsmarkets.controls import Controls, OrderRefused
from txsmarkets.persistence.state import StateDirectory
from txsmarkets.testing import MemoryExchange


def fill(exchange: MemoryExchange, us: StreamingAPIClient, them: StreamingAPIClient, side: int, market: int, contract: int, price: int, quantity: int) -> None:
    """``us`` trades ``quantity`` at ``price`` on ``side`` against a resting order of ``them``."""
    them.create_order(market, contract, SELL if side == BUY else BUY, price, quantity)
    exchange.flush()
    exchange.run(us.create_order(market, contract, side, price, quantity))
    exchange.flush()


class MarketEndTests(unittest.SynchronousTestCase):
    def setUp(self) -> None:
        self.exchange = MemoryExchange()
        self.us = self.exchange.run(self.exchange.connect("demo", "demo"))
        self.them = self.exchange.run(self.exchange.connect("demo2", "demo2"))

    def test_void_releases_the_fills(self) -> None:
        self.us.controls = controls = Controls(max_account_exposure=Decimal(25))
        self.exchange.run(self.us.subscribe(1))  # the market's "voided" comes first
        fill(self.exchange, self.us, self.them, BUY, 1, 11, 5000, 400000)  # £20 at stake
        self.assertEqual(controls.account_exposure, Decimal(20))
        self.failureResultOf(self.us.create_order(2, 21, BUY, 5000, 400000), OrderRefused)
        self.exchange.engine.void_market(1)
        self.exchange.flush()
        self.assertEqual((controls.account_exposure, controls.market_exposure(1)), (0, 0))
        self.exchange.run(self.us.create_order(2, 21, BUY, 5000, 400000))
        self.assertEqual(controls.account_exposure, Decimal(20))

    def test_settlement_releases_the_exposure_and_keeps_the_loss(self) -> None:
        self.us.controls = controls = Controls(max_account_exposure=Decimal(25), loss_limit=Decimal(5))
        self.exchange.run(self.us.subscribe(1))
        # Back at 50%, lay the same at 40%: £4 lost whichever contract wins.
        fill(self.exchange, self.us, self.them, BUY, 1, 11, 5000, 400000)
        fill(self.exchange, self.us, self.them, SELL, 1, 11, 4000, 400000)
        self.assertEqual((controls.account_exposure, controls.loss), (Decimal(4), Decimal(4)))
        self.failureResultOf(self.us.create_order(2, 21, BUY, 5000, 440000), OrderRefused)  # £22 more
        self.exchange.engine.settle_market(1, [11])
        self.exchange.flush()
        self.assertEqual(controls.account_exposure, 0)
        self.assertEqual(controls.loss, Decimal(4))  # settled, not forgotten
        self.assertIsNone(controls.halted)
        self.exchange.run(self.us.create_order(2, 21, BUY, 5000, 440000))  # within again


class RestartTests(unittest.SynchronousTestCase):
    """A daemon's restart as ``twistd smarkets --state-dir`` does it: the state folder
    restored into new controls, then the account's live orders adopted."""

    def setUp(self) -> None:
        self.folder = self.mktemp()
        self.exchange = MemoryExchange()
        self.them = self.exchange.run(self.exchange.connect("demo2", "demo2"))

    def start(self, controls: Controls) -> tuple[StreamingAPIClient, StateDirectory]:
        us = self.exchange.client("demo", "demo")
        state = StateDirectory(self.folder)
        state.restore(us.session, us.account, controls)
        us.controls = controls
        return us, state

    def kill(self, us: StreamingAPIClient, state: StateDirectory) -> None:
        us.session.disconnect()  # no logout: the session stays resumable
        state.close()

    def test_positions_fill_records_and_live_orders_come_back(self) -> None:
        controls = Controls(max_account_exposure=Decimal(45))
        us, state = self.start(controls)
        self.exchange.run(us.login())
        fill(self.exchange, us, self.them, BUY, 1, 11, 5000, 400000)  # £20
        state.save(us.session, us.account, controls)
        # After the snapshot, only the journal knows: a fill on another market, and an
        # order left resting.
        fill(self.exchange, us, self.them, BUY, 2, 21, 2500, 400000)  # £10
        self.exchange.run(us.create_order(1, 12, BUY, 2500, 400000))  # £10 more, resting
        before = (controls.account_exposure, controls.market_exposure(1), controls.market_exposure(2), controls.live_orders)
        self.assertEqual(before, (Decimal(40), Decimal(30), Decimal(10), 1))
        self.kill(us, state)

        again = Controls(max_account_exposure=Decimal(45))
        us, state = self.start(again)
        self.addCleanup(state.close)
        after = (again.account_exposure, again.market_exposure(1), again.market_exposure(2), again.live_orders)
        self.assertEqual(after, before)
        self.assertEqual(sorted(again._fills), sorted(controls._fills))
        self.exchange.run(us.login())
        self.assertEqual(again.account_exposure, Decimal(40))
        self.failureResultOf(us.create_order(2, 22, BUY, 5000, 400000), OrderRefused)
        # A void of a trade from before the restart is undone from the restored record.
        self.exchange.engine.void_market(2)
        self.exchange.flush()
        self.assertEqual(again.account_exposure, Decimal(30))

    def test_creates_after_the_snapshot(self) -> None:
        """Creates the journal alone knows of: one answered before the kill (live, counted
        once), one lost on the wire (in flight through the restart, till answered)."""
        controls = Controls(max_account_exposure=Decimal(45))
        us, state = self.start(controls)
        self.exchange.run(us.login())
        state.save(us.session, us.account, controls)
        self.exchange.run(us.create_order(1, 11, BUY, 2500, 400000))  # £10
        # £10 more, sent and journalled, then lost on the wire with the connection.
        us.create_order(1, 12, BUY, 2500, 400000).addErrback(lambda f: None)
        self.exchange.cut(us)
        self.assertEqual((controls.account_exposure, controls.live_orders), (Decimal(20), 2))
        self.kill(us, state)

        again = Controls(max_account_exposure=Decimal(45))
        us, state = self.start(again)
        self.addCleanup(state.close)
        self.assertEqual((again.account_exposure, again.live_orders), (Decimal(20), 2))
        self.exchange.run(us.login())
        self.exchange.flush()
        # The resumed session delivers the lost create after all: its acceptance finds the
        # entry counting it, and nothing is counted twice.
        self.assertEqual(len(self.exchange.engine.accounts.by_username("demo").orders), 2)
        self.assertEqual(len(us.account.orders), 2)
        self.assertEqual((again.account_exposure, again.live_orders), (Decimal(20), 2))

    def test_a_halt_outlives_the_restart_and_clears_the_book(self) -> None:
        controls = Controls()
        us, state = self.start(controls)
        self.exchange.run(us.login())
        resting = self.exchange.run(us.create_order(1, 11, BUY, 2500, 400000)).order_accepted.order_id
        us.session.disconnect()
        controls.halt("operator")  # nothing to cancel it with: the connection is gone
        state.save(us.session, us.account, controls)
        state.close()

        again = Controls()
        us, state = self.start(again)
        self.addCleanup(state.close)
        self.assertEqual(again.halted, "operator")
        self.exchange.run(us.login())
        self.exchange.flush()
        self.assertEqual(us.account.orders, {})  # the halted controls cancelled it at login
        self.assertNotIn(resting, self.exchange.engine.accounts.by_username("demo").orders)
        error = self.failureResultOf(us.create_order(1, 11, BUY, 2500, 10000), OrderRefused).value
        self.assertEqual(error.control, "kill_switch")
        again.reset()
        self.exchange.run(us.create_order(1, 11, BUY, 2500, 10000))
