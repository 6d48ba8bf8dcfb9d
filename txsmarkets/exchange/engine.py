"""The embedded exchange's matching engine: orders in, account and market messages out.

Pure logic with no I/O and no reactor: a session calls `MatchingEngine.submit` with each
decoded application message of a logged-in account, and the engine answers through two
listeners, each given a complete ``seto.Payload`` whose ``eto_payload.seq`` is 0 for the
session to stamp. The engine keeps no reference to what it hands out, so a listener may
change it::

    engine.on_account(account_id, payload)   # the account stream of one account
    engine.on_market(market_id, payload)     # contract_quotes and market_state of a market

Account stream
    Every message to an account takes the next number of that account's sequence (1, 2,
    ...): ``account_sequence_64`` is set on every message that has the field, and
    ``account_sequence`` too while the number fits a uint32; ``available_balance`` and
    ``exposure`` likewise where the message has them. order_invalid, settings_accepted and
    balance_changed have no sequence field but take their number all the same. The last
    ``account_log_size`` messages are kept for `account_messages_since`.

Orders
    An order_create is checked in this order, the first failure being the answer:
    price off the tick ladder and/or quantity 0 -> order_invalid (both reasons when both);
    unknown market -> MARKET_NOT_FOUND; contract not in it -> CONTRACT_NOT_FOUND; market
    not open or live -> MARKET_NOT_OPEN (new), MARKET_HALTED, MARKET_SETTLED (settled or
    voided); liability over the available balance -> INSUFFICIENT_FUNDS; would trade with
    one of the account's own resting orders before it is filled -> CROSSED_SELF (and
    nothing of it trades).
    Otherwise: order_accepted, then an order_executed to both sides per fill (the trade at
    the resting order's price, best price then oldest first), then the order rests.
    ``reference`` and ``label`` of the create come back on every answer about the order;
    an answer to a cancel or a reduce carries that request's ``reference`` if it set one.
    An order_cancel, order_quantity_reduce or order_cancel_replace naming another
    account's order is answered as for an unknown one. order_cancel_all is always
    accepted (an unknown market simply has none of the account's orders), and the
    order_cancelled that follow carry each order's own ``reference``.

Time in force
    GOOD_TIL_CANCELLED rests until cancelled, and is cancelled with TRADING_SUSPENDED when
    its market goes live. IMMEDIATE_OR_CANCEL never rests: its unfilled rest is cancelled
    with INSUFFICIENT_LIQUIDITY right after its fills. KEEP_IN_PLAY and GOOD_TILL_HALTED stay
    when the market goes live. Whatever its time in force, every live order of a market is
    cancelled with MARKET_HALTED when the market is halted, and with ADMIN_REQUESTED when
    it is settled or voided. Orders may be placed while a market is live.

Cancel-replace
    An unknown, foreign or done original -> order_cancel_replace_rejected TOO_LATE. A new
    price or quantity that is invalid -> order_invalid (the request's seq), and too little
    money for the new order (the original's liability counted as free) -> order_rejected
    INSUFFICIENT_FUNDS: the original stays in both cases. A market not trading ->
    MARKET_HALTED / MARKET_NOT_OPEN / MARKET_SETTLED, a self-cross -> CROSSED_SELF. Else
    order_pending_replace, then order_cancel_replace_accepted (``quantity_left`` is the new
    order's unfilled rest after matching), then the new order's fills. The original leaves
    the book with no order_cancelled; the new order has the same contract, side and time in
    force, a new id and a new place in the queue.

Money
    ``Decimal`` pounds; floats only in the protobuf fields. Trading moves no cash: it
    changes exposure (see `txsmarkets.exchange.accounts.Account`), so the sum of all
    balances is constant until settlement, which moves cash between winners and losers and
    keeps the sum. `settle_market` pays each of the winning contracts in full (exposure
    assumes exactly one winner; naming several is a dead heat paid in full, naming none
    makes every buyer lose its stake) and releases the market's exposure; `void_market`
    drops the market's matched bets as if never made.

Market data
    After each command (a `submit`, an operator call, `session_failed`), one
    contract_quotes per contract whose book or trades changed: the changed levels with
    their new totals (0 = gone), best first, the executions of the command (liquidity is
    the taker's side) and ``last_execution``. `market_quotes` gives a full snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from twisted.logger import Logger

from txsmarkets.exchange.accounts import Account, AccountRegistry
from txsmarkets.exchange.amend import OrderAmendments
from txsmarkets.exchange.answers import EngineAnswers
from txsmarkets.exchange.book import Book, Order
from txsmarkets.exchange.catalogue import Catalogue
from txsmarkets.exchange.entry import OrderEntry
from txsmarkets.exchange.market import _CANCELLED_MEMBER, MarketInfo, UnknownAccount, UnknownMarket, running_markets
from txsmarkets.exchange.market_data import Execution, MarketData
from txsmarkets.exchange.operator import MarketOperator
from txsmarkets.exchange.requests import request_error
from txsmarkets.exchange.state import EngineState
from txsmarkets.exchange.stream import AccountStream
from txsmarkets.wire import seto_pb2

__all__ = ["MarketInfo", "MatchingEngine", "UnknownAccount", "UnknownMarket"]

log = Logger()


class MatchingEngine:
    """An in-process exchange for the markets and accounts of a `Catalogue`.

    See the module docstring for the rules. ``on_account`` and ``on_market`` are the
    listeners (no-ops until set); ``accounts`` is the `AccountRegistry`; `submit` takes
    the accounts' messages and the rest is the operator's API. Orders that are done are
    remembered (to answer NOT_LIVE rather than NOT_FOUND, and for the HTTP API's orders
    list): those with fills while their market is open, and the last ``done_orders_kept``
    others of each account (`EngineState` says why).
    Order ids count up from ``first_order_id`` (above 2**53 to test that clients keep them
    exact; at most 2**64 - 1, the wire's uint64).

    The engine is its parts, each an attribute: ``stream`` (`AccountStream`: numbers, keeps
    and delivers the account messages), ``answers`` (`EngineAnswers`: builds them),
    ``market_data`` (`MarketData`), ``state`` (`EngineState`: the markets, books and orders
    and the steps that change them), ``entry`` (`OrderEntry`: new orders), ``amendments``
    (`OrderAmendments`: cancels, reductions, cancel-replaces, settings) and ``operator``
    (`MarketOperator`). It satisfies `txsmarkets.exchange.interfaces.IHttpEngine` (and so
    `IExchangeEngine`), the sessions' view of it.
    """

    def __init__(
        self,
        catalogue: Catalogue,
        *,
        now: Callable[[], float] = time.time,
        account_log_size: int = 100_000,
        done_orders_kept: int = 100_000,
        first_order_id: int = 1,
    ) -> None:
        self.catalogue = catalogue
        self.accounts = AccountRegistry(log_size=account_log_size)
        for spec in catalogue.accounts:
            self.accounts.add_credentials(spec.username, spec.credentials, spec.balance)
        markets, self._event_markets = running_markets(catalogue)
        self.stream = AccountStream(self.accounts)
        self.answers = EngineAnswers(self.stream)
        self.market_data = MarketData(markets, now)
        self.state = EngineState(
            markets,
            self.accounts,
            self.answers,
            self.market_data,
            done_orders_kept=done_orders_kept,
            first_order_id=first_order_id,
        )
        self.entry = OrderEntry(self.state, self.answers)
        self.amendments = OrderAmendments(self.state, self.answers, self.market_data)
        self.operator = MarketOperator(self.state, self.answers, self.market_data)
        amendments = self.amendments
        self._handlers: dict[int, Callable[[Account, seto_pb2.Payload], None]] = {
            seto_pb2.PAYLOAD_ORDER_CREATE: self.entry.order_create,
            seto_pb2.PAYLOAD_ORDER_CANCEL: amendments.order_cancel,
            seto_pb2.PAYLOAD_ORDER_CANCEL_ALL: amendments.order_cancel_all,
            seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE: amendments.order_quantity_reduce,
            seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE: amendments.order_cancel_replace,
            seto_pb2.PAYLOAD_SETTINGS: amendments.settings,
        }

    # The listeners and settings the server sets, held by the parts that use them.

    @property
    def on_account(self) -> Callable[[int, seto_pb2.Payload], None]:
        """The listener of the account streams (`AccountStream.on_account`)."""
        return self.stream.on_account

    @on_account.setter
    def on_account(self, listener: Callable[[int, seto_pb2.Payload], None]) -> None:
        self.stream.on_account = listener

    @property
    def on_market(self) -> Callable[[int, seto_pb2.Payload], None]:
        """The listener of the market data (`MarketData.on_market`)."""
        return self.market_data.on_market

    @on_market.setter
    def on_market(self, listener: Callable[[int, seto_pb2.Payload], None]) -> None:
        self.market_data.on_market = listener

    @property
    def on_market_encoded(self) -> Callable[[int, bytes], None] | None:
        """The listener of the contract_quotes as bytes, if any (`MarketData.on_market_encoded`)."""
        return self.market_data.on_market_encoded

    @on_market_encoded.setter
    def on_market_encoded(self, listener: Callable[[int, bytes], None] | None) -> None:
        self.market_data.on_market_encoded = listener

    @property
    def market_watched(self) -> Callable[[int], bool]:
        """Whether anyone listens to a market's contract_quotes (`MarketData.market_watched`)."""
        return self.market_data.market_watched

    @market_watched.setter
    def market_watched(self, watched: Callable[[int], bool]) -> None:
        self.market_data.market_watched = watched

    @property
    def answer_chunk(self) -> int | None:
        """Messages an order_cancel_all may produce in one go (`OrderAmendments.answer_chunk`)."""
        return self.amendments.answer_chunk

    @answer_chunk.setter
    def answer_chunk(self, chunk: int | None) -> None:
        self.amendments.answer_chunk = chunk

    # Queries

    def market(self, market_id: int) -> MarketInfo | None:
        """The market's catalogue entry and current state, or None for an unknown id."""
        market = self.state.markets.get(market_id)
        if market is None:
            return None
        return MarketInfo(
            market.id, market.name, market.event_id, market.state, market.contracts, market.winners
        )

    def market_ids(self) -> list[int]:
        """Every market's id, in catalogue order."""
        return list(self.state.markets)

    def event_markets(self, event_id: int) -> list[int]:
        """The ids of the event's markets ([] for an unknown event)."""
        return list(self._event_markets.get(event_id, ()))

    def order(self, order_id: int) -> Order | None:
        """A live order, or a remembered done one, by id; None if unknown. Do not change it."""
        return self.state.order(order_id)

    def book(self, contract_id: int) -> Book | None:
        """The order book of a contract, or None. For reading only."""
        return self.state.books.get(contract_id)

    def market_quotes(self, market_id: int) -> seto_pb2.Payload | None:
        """`MarketData.market_quotes`: a market's full quotes; None for an unknown market."""
        return self.market_data.market_quotes(market_id)

    def last_execution(self, contract_id: int) -> Execution | None:
        """`MarketData.last_execution`: the contract's last trade, or None."""
        return self.market_data.last_execution(contract_id)

    def market_volume(self, market_id: int) -> tuple[int, int] | None:
        """`MarketData.market_volume`: ``(quantity, value)`` traded in the market so far."""
        return self.market_data.market_volume(market_id)

    def account_messages_since(
        self, account_id: int, account_sequence: int
    ) -> list[seto_pb2.Payload]:
        """Fresh copies of the account-stream messages numbered after ``account_sequence``.

        Only the last ``account_log_size`` messages are kept: past that bound the older
        ones are gone and the list starts at the oldest kept, with no error; compare
        ``account_sequence + 1`` with `account_log_start` to tell. UnknownAccount for an
        unknown account.
        """
        return self.stream.messages_since(account_id, account_sequence)

    def account_log_start(self, account_id: int) -> int:
        """The oldest account sequence still held for resuming (next one if none is held)."""
        return self.stream.log_start(account_id)

    def authenticate(self, username: str, password: str | bytes) -> Account | None:
        """The account these credentials log in to, or None (`AccountRegistry.authenticate`)."""
        return self.accounts.authenticate(username, password)

    def authenticate_token(self, token: bytes) -> Account | None:
        """The account this token logs in to, or None (`AccountRegistry.authenticate_token`)."""
        return self.accounts.authenticate_token(token)

    # Commands from sessions

    def submit(self, account_id: int, payload: seto_pb2.Payload) -> str | None:
        """Handle one application message of a logged-in account; never raises.

        Order messages and settings are answered through ``on_account``; other payload
        types (subscriptions are the session's business) are logged and ignored. A request
        with a required field missing or an enum value unknown that has no reason of its
        own (see `txsmarkets.exchange.requests`) is not acted on: what is wrong with it is
        returned, for the session to treat as a protocol error. Otherwise returns None.
        """
        try:
            account = self.accounts.get(account_id)
            if account is None:
                log.warn(
                    "ignoring a message from unknown account {account_id!r}",
                    account_id=account_id,
                )
                return None
            handler = self._handlers.get(payload.type)
            if handler is None:
                log.warn(
                    "ignoring payload type {type!r} from account {account_id}",
                    type=payload.type,
                    account_id=account_id,
                )
                return None
            error = request_error(payload)
            if error is not None:
                log.warn("refusing a request from account {account_id}: {error}", account_id=account_id, error=error)
                return error
            handler(account, payload)
        except Exception:
            log.failure(
                "matching engine failed on a message from account {account_id!r}",
                account_id=account_id,
            )
        finally:
            if self.market_data.touched:
                self.market_data.publish()
        return None

    def reject_order(
        self, account_id: int, payload: seto_pb2.Payload, reason: seto_pb2.OrderRejectedReason
    ) -> None:
        """Answer an order_create the session would not hand on (over the throttle, say)
        with ``order_rejected`` ``reason``, in the account stream. UnknownAccount for an
        unknown id."""
        self.entry.reject(self.stream.account(account_id), payload, reason)

    def session_failed(self, account_id: int) -> None:
        """The account's session died: cancel its live orders if its settings say so.

        The order_cancelled messages (MEMBER_REQUESTED) go to ``on_account`` like any
        others, for the next session to deliver. UnknownAccount for an unknown id.
        """
        account = self.stream.account(account_id)
        if account.cancel_all_on_failure:
            for order in list(account.orders.values()):
                self.state.cancel(account, order, _CANCELLED_MEMBER)
            self.market_data.publish()

    def has_work(self, account_id: int) -> bool:
        """Whether an answer to the account (a chunked cancel-all) is still to be produced."""
        return self.amendments.has_work(account_id)

    def continue_work(self, account_id: int) -> bool:
        """`OrderAmendments.continue_work`: the next chunk of the account's unfinished
        answers; whether more remains."""
        return self.amendments.continue_work(account_id)

    def finish_work(self, account_id: int) -> None:
        """Produce every unfinished answer of the account at once."""
        self.amendments.finish_work(account_id)

    # Operator API (see `MarketOperator`)

    def set_market_state(self, market_id: int, state: str) -> None:
        """`MarketOperator.set_market_state`: move a market to ``state``."""
        self.operator.set_market_state(market_id, state)

    def settle_market(self, market_id: int, winner_contract_ids: Iterable[int]) -> None:
        """`MarketOperator.settle_market`: settle a market with its winners."""
        self.operator.settle_market(market_id, winner_contract_ids)

    def void_market(self, market_id: int) -> None:
        """`MarketOperator.void_market`: void a market and its matched bets."""
        self.operator.void_market(market_id)

    def announce(self, market_id: int, payload: seto_pb2.Payload) -> None:
        """`MarketOperator.announce`: send a market-level message to its listeners."""
        self.operator.announce(market_id, payload)

    def void_execution(self, order_id: int, other_order_id: int, price: int, quantity: int) -> None:
        """`MarketOperator.void_execution`: void one trade between two orders."""
        self.operator.void_execution(order_id, other_order_id, price, quantity)
