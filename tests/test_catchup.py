"""Trading controls do not start blind (issue 22): the account limit holds against the
exposure the exchange reports."""

from __future__ import annotations

from decimal import Decimal

from twisted.trial import unittest

from tests.test_client import app
from txsmarkets.client import BUY
from txsmarkets.controls import Controls, OrderRefused
from txsmarkets.testing import ScriptedExchange
from txsmarkets.wire import seto_pb2


class ReportedExposureTests(unittest.SynchronousTestCase):
    """The account limit holds against the larger of our own figure and the exposure the
    exchange reported (a double of pounds on the wire), with what we added since."""

    def setUp(self) -> None:
        self.ex = ScriptedExchange()
        self.ex.client.controls = self.controls = Controls(max_account_exposure=Decimal(50))
        self.ex.client.login()
        self.ex.login()

    def report(self, exposure: float) -> None:
        self.ex.send(app(seto_pb2.PAYLOAD_BALANCE_CHANGED, reason="test", available_balance=900.0, exposure=exposure))

    def test_over_the_limit_as_the_exchange_reports_it(self) -> None:
        """The issue's figure, either sign: every create that adds exposure is refused."""
        for exposure in (59.07988, -59.07988):
            self.report(exposure)
            refused = self.failureResultOf(self.ex.client.create_order(1, 11, BUY, 5000, 20000), OrderRefused).value
            self.assertEqual((refused.control, refused.figure), ("max_account_exposure", Decimal("60.07988")))
            self.assertIn("the exchange reports 59.07988", str(refused))
        self.assertEqual(self.ex.sent(), [])
        self.assertEqual(self.controls.account_exposure, 0)  # our own count is still nothing

    def test_exact_to_the_limit_and_counting_what_we_add(self) -> None:
        """£49.90 reported and £0.10 more is exactly the limit (no float artefact); one
        unit more on top is over, though it is under against the report alone."""
        self.report(49.9)
        self.ex.client.create_order(1, 11, BUY, 1000, 10000)  # 10% of £1: £0.10
        self.assertEqual(len(self.ex.sent()), 1)
        refused = self.failureResultOf(self.ex.client.create_order(1, 12, BUY, 1, 1), OrderRefused).value
        self.assertEqual(refused.figure, Decimal("50.00000001"))
