"""`Controls`: trading limits checked before an order create leaves the client.

A `Controls` is given to ``connect(settings, controls=...)`` or set as ``client.controls``.
Every create (``order``/``create_order``) is checked against it on the reactor thread; a
create that would break a limit fails its Deferred at once with `OrderRefused`, and
nothing is stamped, sent or journaled. Cancels and reductions are never checked. A
cancel-replace (``cancel_replace``) is checked as the create of its new order less the
original it releases (`txsmarkets.trading.controls.TradingControls.check_replace`): one to no more quantity at no worse a
price always passes. ``force=True`` skips every control but the kill switch.

Exposure is the worst-case loss, in exact integer hundred-millionths of a pound (price x
quantity), of fills plus every live and in-flight order as if it filled (each order only
when its filling makes that outcome worse). A market's contracts are its outcomes and
exactly one wins; a contract we hold nothing on may be the winner, so that outcome is
always counted. An order counts from the moment it passes the controls, before it is even
sent, until the exchange answers it (rejected, or accepted and later filled, cancelled,
reduced or voided): two orders sent together cannot pass a limit that each passes alone.
An order whose answer was lost with a connection stays counted until the resumed session
brings the answer.

The controls follow the account as the exchange reports it: the client hands them each
account message's change as its reducer takes it into ``client.account``
(`txsmarkets.trading.account`), before any handler sees it, so an order placed and
answered on any session of this client counts. The checks and the exposure model are the
trading core's (`txsmarkets.trading.controls`, `txsmarkets.trading.checks`,
`txsmarkets.trading.exposure`), which knows nothing of the client: `Controls.attach`
hands it the client's books, its ``cancel_all``, its clock and the exposure the exchange
reported. Attached before the
login, they have the client learn the account's history before the first create
(`txsmarkets.client.catchup`). The account limit also holds against the exposure the
exchange last reported (``client.account.exposure``) and what our count added since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from operator import attrgetter
from typing import Any, Protocol

from twisted.logger import Logger

from txsmarkets.client.halting import HaltNotices
from txsmarkets.client.session import Session
from txsmarkets.exceptions import OrderRefused
from txsmarkets.signal import Signal
from txsmarkets.trading.checks import BookView
from txsmarkets.trading.controls import CONTROL_NAMES, TradingControls
from txsmarkets.trading.limits import InvalidControls
from txsmarkets.trading.account import Account

__all__ = ["CONTROL_NAMES", "ControlledClient", "Controls", "InvalidControls", "OrderRefused"]

_log = Logger()
_account_exposure = attrgetter("account.exposure")


class _Clock(Protocol):
    def seconds(self) -> float: ...


class ControlledClient(Protocol):
    """What `Controls.attach` reads of a client (`txsmarkets.client.api.StreamingAPIClient`)."""

    @property
    def markets(self) -> Mapping[int, BookView]: ...

    @property
    def account(self) -> Account: ...

    @property
    def logged_in(self) -> Signal: ...

    @property
    def clock(self) -> _Clock: ...

    @property
    def session(self) -> Session: ...

    def cancel_all(self) -> Any: ...

    def withdraw_waiting(self, error: Callable[[], Exception], creates_only: bool = False) -> int: ...


class Controls(TradingControls):
    """Trading limits, each optional (None: not checked); see the module doc.

    Limits (keywords): ``max_order_quantity`` (an order's quantity in the order's own
    units, as on the wire: ten-thousandths of a pound of payout, whatever the price; so
    1_000_000 allows at most £100 paid if the bet wins, e.g. a buy at 2500 (25%) staking
    £25), ``max_order_liability`` (pounds an order risks), ``max_contract_exposure``, ``max_market_exposure``, ``max_account_exposure``
    (worst-case loss in pounds), ``max_live_orders``, ``max_live_orders_per_market``
    (live plus in flight), ``max_orders_per_second``, ``max_orders_per_minute`` (creates
    that passed, forced ones too), ``price_collar_ticks`` (how many ticks a create may go
    through the best opposite price of a subscribed market), ``duplicate_window``
    (seconds in which the same market, contract, side, price and quantity is refused),
    ``loss_limit`` (pounds of realised plus marked-to-market loss that halt trading).
    ``tick_ladder`` (default True) refuses a price off the exchange's tick ladder.
    Pounds are `Decimal` or int, never float. Raises `InvalidControls` for a bad value.

    Public counters, for a status line: ``checked``, ``passed``, ``forced`` and
    ``refusals`` (a Counter by control name); ``halted`` is the kill switch's reason
    (None while trading is allowed).
    """

    def __init__(self, *, tick_ladder: bool = True, **limits: Any) -> None:
        #: What the operator is told of a halt (its ``resume_hint`` says how to resume).
        self.halt_notices = HaltNotices()
        super().__init__(tick_ladder=tick_ladder, notices=self.halt_notices, **limits)
        self.client: ControlledClient | None = None

    # -- attaching to a client -------------------------------------------------------------

    def attach(self, client: ControlledClient) -> None:
        """Follow ``client``'s account (done by setting ``client.controls``)."""
        if self.client is not None and self.client is not client:
            raise RuntimeError("these controls already follow another client")
        self.client = client
        # ``client.account.exposure`` read afresh each time, without a Python call: the
        # account limit asks it every create. (So is the book lookup the dict's own ``get``:
        # the collar and the loss limit ask it often.)
        reported: Callable[[], Decimal | None] = partial(_account_exposure, client)
        self.bind(client.markets.get, self._cancel_client, client.clock.seconds, reported)
        session: Any = getattr(client, "session", None)
        if hasattr(session, "account_history"):
            session.account_history = True  # know the account before the first create
        client.logged_in.add(self.logged_in)
        # Orders it already holds count from now (see `adopt` after a restore).
        self.adopt(client.account.orders.values())

    def detach(self) -> None:
        """Stop following the client (done by replacing ``client.controls``)."""
        client, self.client = self.client, None
        self.unbind()
        if client is not None:
            client.logged_in.remove(self.logged_in)

    def halt(self, reason: str) -> Any:
        """The kill switch: refuse every create until `reset`, and cancel every live order
        (`txsmarkets.trading.controls.TradingControls.halt`).

        Returns the client's ``cancel_all`` Deferred (None when not attached, or not logged
        in, when the exchange's own cancel-on-disconnect setting is what applies)."""
        return TradingControls.halt(self, reason)

    def reset(self) -> None:
        """Allow creates again after `halt` (or the loss limit); the halt's notices say so."""
        TradingControls.reset(self)

    def _cancel_client(self) -> Any:
        client = self.client
        if client is None:
            return None
        # What passed the checks before the halt and still waits for the throttle must not
        # go out; nor may the cancel_all wait behind it (a create may trade meanwhile).
        client.withdraw_waiting(self.halt_refusal)
        if not client.session.connected:
            return None
        return client.cancel_all().addErrback(lambda f: _log.failure("cancel_all after the halt failed", f))

    def logged_in(self, message: Any, resumed: bool) -> int:
        """`txsmarkets.trading.controls.TradingControls.logged_in`, saying how many requests of an old session it no
        longer counts."""
        dropped = TradingControls.logged_in(self, message, resumed)
        if dropped:
            _log.warn("new session: {n} unanswered requests of the old one no longer counted", n=dropped)
        return dropped
