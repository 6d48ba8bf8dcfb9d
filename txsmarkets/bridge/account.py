"""`UpstreamAccount`: one upstream account behind the bridge, its orders and its fills.

Orders go upstream as they come (`submit`) and are answered in the account's stream:

- an order_create is one ``POST /v3/orders/``, with a label unique to it (`upstream_label`):
  its answer is order_accepted (the upstream's order id is the order id) or order_rejected /
  order_invalid (`reasons`). It is kept in the durable state (`PendingCreate`) before the
  request goes, until it is answered. It is never sent twice: a create that got no answer
  (a timeout, a lost connection, a 5xx) may have been placed, so its answer is held and
  the next poll looks for its label upstream, in the market's orders and in the activity
  after the cursor: found, it is answered order_accepted (late) and is an order like any
  other; not found by a whole look made after its outcome became unknown, order_rejected
  ``SERVICE_TEMPORARILY_UNAVAILABLE``. A create held when the bridge stopped is looked for
  so after the restart. While the upstream is lost (its last request failed for want of an
  answer, or with a 5xx), or while the activity cannot be read (its last poll failed, however:
  an order's fills could not be seen), new orders are rejected at once, not queued.
- an order_cancel is a ``DELETE /v3/orders/{id}/``, an order_cancel_all a ``DELETE
  /v3/orders/?market_id=``: a refusal is answered at once (order_cancel_rejected,
  order_cancel_all_rejected), a success when the upstream's activity shows the order gone
  (order_cancelled ``MEMBER_REQUESTED``), so that it comes after the order's last fill.
  A cancel-all covers the creates sent before it, as the streaming exchange's would: one
  still unanswered when the cancel-all is accepted is cancelled (its own ``DELETE``) once
  it is found placed, since the upstream may have taken it after the cancel-all.
- what the HTTP API cannot do is refused: order_cancel_replace with
  ``SERVICE_TEMPORARILY_UNAVAILABLE``, order_quantity_reduce with ``INVALID_NEW_QUANTITY``.

Fills are polled: the account's activity after the last row taken in (`BridgeState.cursor`),
oldest first, every ``poll_interval`` seconds and at once after an order is placed or
cancelled; `txsmarkets.bridge.activity` says what each row becomes. A poll that fails is
tried again after a back-off, one line of the log each (`PollBackoff`).
The state, cursor included, is written before the messages go downstream. A state that
cannot be written (a full disk) leaves the account unable to keep fills exactly once: it
stops (`broken`), delivering nothing more, and says so through ``on_state_lost``.

A new account's cursor is its newest row when it is first logged in through the bridge
(its past is not the bridge's): `opened` sets it, and a downstream login completes only after
it has, so that no order can be placed before the cursor and have its first fills skipped.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.bridge import answers
from txsmarkets.bridge.activity import row_messages, rows_after
from txsmarkets.bridge.answers import Message
from txsmarkets.bridge.creates import TIF_NAMES, create_label, create_reference, find_placed, placed_order, upstream_label
from txsmarkets.bridge.reasons import (
    cancel_rejected_reason,
    create_answer,
    outcome_unknown,
    upstream_failure,
)
from txsmarkets.bridge.state import BridgeOrder, BridgeState, PendingCreate
from txsmarkets.exchange.requests import invalid_reasons
from txsmarkets.http_api import BUY, SELL, APIError, HTTPAPIClient
from txsmarkets.http_api.backoff import PollBackoff
from txsmarkets.http_api.models import ActivityRow, OrderCreated
from txsmarkets.wire import seto_pb2

__all__ = ["UpstreamAccount", "upstream_label"]

_log = Logger()
_UNAVAILABLE = seto_pb2.ORDER_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE
#: At most this many upstream clients (one a login) are kept per account: the oldest is
#: logged out.
MAX_CLIENTS = 8


class UpstreamAccount:
    """An upstream account (``id``, the upstream's account id; ``username``) as the bridge
    serves it: the `ExchangeAccount` of its downstream sessions.

    ``deliver`` is called with each message of its stream, numbered and saved; ``state`` is
    its `BridgeState`. Orders go through the newest of its upstream clients (one a
    downstream login, `add_client`), which share one set of rate limits: the account's.
    """

    def __init__(
        self,
        clock: IReactorTime,
        account_id: int,
        username: str,
        state: BridgeState,
        deliver: Callable[[int, seto_pb2.Payload], None],
        *,
        poll_interval: float = 1.0,
        max_backoff: float = 60.0,
        on_state_lost: Callable[[str], None] | None = None,
    ) -> None:
        self.clock = clock
        self.id = account_id
        self.username = username
        self.state = state
        self._deliver = deliver
        self.poll_interval = poll_interval
        #: The activity polls failed in a row, and the wait they make.
        self.backoff = PollBackoff(poll_interval, max_backoff)
        self.clients: list[HTTPAPIClient] = []
        self._on_state_lost = on_state_lost
        #: Why the account stopped for good (its state could not be saved), else None.
        self.broken: str | None = None
        #: Creates sent and not answered yet: their orders' rows may come before them.
        self.creating = 0
        self.cancel_all_on_failure = False
        #: Consecutive upstream failures (0: the upstream is well).
        self.failures = 0
        #: Polls of the activity made, for the status and the tests.
        self.polls = 0
        self._polling = False
        self._again = False
        self._timer: IDelayedCall | None = None
        self._stopped = False
        self._started = False
        #: The cancel-alls under way: the labels of the creates each covers, and the orders
        #: of those placed meanwhile (cancelled once it is accepted).
        self._cancel_alls: list[tuple[set[str], list[BridgeOrder]]] = []
        #: Logins waiting for a new account's cursor to be set (`opened`); None: no look under way.
        self._opening: list[Deferred[None]] | None = None

    def __repr__(self) -> str:
        return f"<UpstreamAccount {self.id} ({self.username})>"

    @property
    def client(self) -> HTTPAPIClient:
        """The upstream client orders go through: the newest login's."""
        return self.clients[-1]

    @property
    def lost(self) -> bool:
        """Whether the upstream is lost (its last request failed without an answer or with
        a 5xx): orders are rejected at once until it answers again."""
        return self.failures > 0

    @property
    def blind(self) -> bool:
        """Whether the last poll of the activity failed (whatever the error): fills cannot
        be seen, so new orders are rejected at once until a poll works."""
        return self.backoff.failures > 0

    def add_client(self, client: HTTPAPIClient) -> None:
        """A downstream login's own upstream client (and token): it shares the account's
        rate limits, and is the one orders go through from now on."""
        if self.clients:
            client.limits = self.clients[0].limits
        self.clients.append(client)
        while len(self.clients) > MAX_CLIENTS:
            old = self.clients.pop(0)
            old.close().addErrback(lambda f: _log.failure("logging out an old upstream session", f))

    # -- the stream --------------------------------------------------------------------------

    def send(self, messages: list[Message]) -> None:
        """Number ``messages``, save the state, then hand them downstream (the state is
        saved even with no message: the cursor may have moved)."""
        for payload, body in messages:
            self.state.number(payload, body)
        if not self._save():
            return  # not delivered: a restart numbers them again from the state last saved
        for payload, _ in messages:
            self._deliver(self.id, payload)

    def _save(self) -> bool:
        """Save the state; if it cannot be, stop the account for good (`broken`) and say so.
        Whether it was saved."""
        if self.broken is not None:
            return False
        try:
            self.state.save()
        except OSError as e:
            self.broken = f"cannot save the state of account {self.id} in {self.state.path}: {e.strerror or e}"
            _log.critical(
                "{account}: {why}; it stops: its fills could not be kept exactly once", account=self, why=self.broken
            )
            self.stop().addErrback(lambda f: _log.failure("logging out after the state was lost", f))
            if self._on_state_lost is not None:
                self._on_state_lost(self.broken)
            return False
        return True

    # -- orders ------------------------------------------------------------------------------

    def submit(self, payload: seto_pb2.Payload) -> None:
        """Act on one request of the account (validated by the server's rules); nothing
        once the account is `broken` (the bridge is stopping)."""
        if self.broken is not None:
            return
        kind = payload.type
        if kind == seto_pb2.PAYLOAD_ORDER_CREATE:
            self._create(payload)
        elif kind == seto_pb2.PAYLOAD_ORDER_CANCEL:
            self._cancel(payload.order_cancel)
        elif kind == seto_pb2.PAYLOAD_ORDER_CANCEL_ALL:
            self._cancel_all(payload.order_cancel_all)
        elif kind == seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE:
            request = payload.order_cancel_replace
            order = self.state.orders.get(request.orig_order_id)
            unavailable = seto_pb2.ORDER_CANCEL_REPLACE_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE
            self.send([answers.order_cancel_replace_rejected(request, order, unavailable)])
        elif kind == seto_pb2.PAYLOAD_ORDER_QUANTITY_REDUCE:
            reduce = payload.order_quantity_reduce
            order = self.state.orders.get(reduce.order_id)
            invalid = seto_pb2.ORDER_QUANTITY_REDUCE_REJECTED_INVALID_NEW_QUANTITY
            self.send([answers.order_quantity_reduce_rejected(reduce, order, invalid)])
        elif kind == seto_pb2.PAYLOAD_SETTINGS:
            self.cancel_all_on_failure = payload.settings.cancel_all_on_failure
            self.send([answers.settings_accepted(self.cancel_all_on_failure)])

    def reject(self, payload: seto_pb2.Payload, reason: int) -> None:
        """Answer an order_create with an order_rejected ``reason`` (not sent upstream)."""
        create = payload.order_create
        self.send([answers.order_rejected(payload.eto_payload.seq, reason, create_reference(create), create_label(create))])

    def _create(self, payload: seto_pb2.Payload) -> None:
        create = payload.order_create
        seq = payload.eto_payload.seq
        reasons: list[int] = list(invalid_reasons(create))
        if not reasons and create.quantity >= 2**32:
            reasons = [seto_pb2.ORDER_INVALID_INVALID_QUANTITY]  # more than the API takes
        if reasons:
            self.send([answers.order_invalid(seq, reasons, create_reference(create))])
            return
        if self.lost or self.blind:
            self.reject(payload, _UNAVAILABLE)
            return
        label = upstream_label(create_label(create))
        # Durable before the request: after a crash between the POST and its answer the
        # restarted bridge knows to look for it.
        self.state.pending[label] = PendingCreate(label, payload.SerializeToString())
        if not self._save():
            return  # not sent: it would not be found after a restart
        self.creating += 1
        d = self.client.create_order(
            create.market_id,
            create.contract_id,
            BUY if create.side == seto_pb2.SIDE_BUY else SELL,
            create.price,
            create.quantity,
            type=TIF_NAMES.get(create.tif, "good_til_cancelled"),
            label=label,
            minimum_accepted_quantity=create.maq if create.HasField("maq") else None,
        )
        d.addCallbacks(self._created, self._create_failed, callbackArgs=(payload, label), errbackArgs=(payload, label))
        d.addErrback(lambda f: _log.failure("answering an order create", f))

    def _created(self, created: OrderCreated, payload: seto_pb2.Payload, label: str) -> None:
        self.creating -= 1
        self._answered()
        pending = self.state.pending.pop(label, None)
        order = placed_order(created.order_id, payload.order_create)
        order.price, order.quantity = created.price, created.quantity  # as placed
        self.state.orders[order.id] = order
        self.send([answers.order_accepted(order, payload.eto_payload.seq, created.available_balance, created.exposure)])
        self._placed(order, pending)
        # Its fills (an immediate match included) come from the activity: soon.
        self.poll_soon()

    def _placed(self, order: BridgeOrder, pending: PendingCreate | None) -> None:
        """``order`` was found placed by ``pending``: cancel it if a cancel-all sent after
        the create covers it (accepted already, or once it is accepted)."""
        if pending is None:
            return
        if pending.cancel:
            self._cancel_late(order)
            return
        for covered, placed_meanwhile in self._cancel_alls:
            if pending.label in covered:
                placed_meanwhile.append(order)

    def _cancel_late(self, order: BridgeOrder) -> None:
        """Cancel ``order``, placed by a create sent before a cancel-all that was accepted
        while the create was unanswered: the cancel-all covers it. Its order_cancelled
        (``MEMBER_REQUESTED``) comes from the activity, whichever request took it off."""
        if not order.live:
            return
        order.cancelling = True
        _log.info(
            "{account}: order {order_id} was placed by a create sent before a cancel-all: cancelling it",
            account=self, order_id=order.id,
        )

        def refused(failure: Failure) -> None:
            # Refused as not live: the cancel-all took it, and the activity says so.
            self._failed(failure.value)
            if cancel_rejected_reason(failure.value) != seto_pb2.ORDER_CANCEL_REJECTED_NOT_LIVE:
                order.cancelling = False
                _log.warn(
                    "{account}: order {order_id}, placed before a cancel-all, could not be cancelled ({error}): it is live",
                    account=self, order_id=order.id, error=failure.value,
                )

        d = self.client.cancel_order(order.id)
        d.addCallbacks(lambda _: self._cancel_done(), refused)
        d.addErrback(lambda f: _log.failure("cancelling an order placed before a cancel-all", f))

    def _create_failed(self, failure: Failure, payload: seto_pb2.Payload, label: str) -> None:
        self.creating -= 1
        error = failure.value
        create = payload.order_create
        self._failed(error)
        if outcome_unknown(error) or (isinstance(error, APIError) and error.status >= 500):
            # It may have been placed: never sent again, and not answered until a look
            # upstream (the polls') finds it or shows it is not there.
            self.state.pending[label].unknown = True
            self._save()
            _log.warn(
                "an order create (market {market}, label {label!r}) got no answer upstream ({error}): it may "
                "have been placed; not sent again, its answer is held until it is found upstream or not",
                market=create.market_id, label=label, error=error,
            )
            return
        self.state.pending.pop(label, None)
        kind, reasons = create_answer(error)
        seq = payload.eto_payload.seq
        if kind == seto_pb2.PAYLOAD_ORDER_INVALID:
            self.send([answers.order_invalid(seq, reasons, create_reference(create))])
        else:
            self.send([answers.order_rejected(seq, reasons[0], create_reference(create), create_label(create))])
        if self.creating == 0:
            self.poll_soon()  # rows held back for this answer can go now

    def _cancel(self, request: seto_pb2.OrderCancel) -> None:
        reference = request.reference if request.HasField("reference") else None
        order = self.state.orders.get(request.order_id)
        if order is None or not order.live or self.lost:
            # Only the bridge's own orders: another's fills and cancels it would never tell.
            if order is None:
                reason = seto_pb2.ORDER_CANCEL_REJECTED_NOT_FOUND
            elif not order.live:
                reason = seto_pb2.ORDER_CANCEL_REJECTED_NOT_LIVE
            else:
                reason = seto_pb2.ORDER_CANCEL_REJECTED_SERVICE_TEMPORARILY_UNAVAILABLE
            self.send([answers.order_cancel_rejected(request.order_id, reason, reference, order)])
            return
        # Marked before the request: its row may be polled before its answer comes.
        order.cancelling = True

        def refused(failure: Failure) -> None:
            order.cancelling = False
            self._failed(failure.value)
            reason = cancel_rejected_reason(failure.value)
            self.send([answers.order_cancel_rejected(order.id, reason, reference, order)])

        d = self.client.cancel_order(order.id)
        d.addCallbacks(lambda _: self._cancel_done(), refused)
        d.addErrback(lambda f: _log.failure("answering an order cancel", f))

    def _cancel_done(self) -> None:
        self._answered()
        self.poll_soon()

    def _cancel_all(self, request: seto_pb2.OrderCancelAll) -> None:
        reference = request.reference if request.HasField("reference") else None
        market_id = request.market_id if request.HasField("market_id") else None
        if self.lost:
            self.send([answers.order_cancel_all_rejected(reference)])
            return
        marked = [
            order for order in self.state.orders.values()
            if order.live and not order.cancelling and market_id in (None, order.market_id)
        ]
        for order in marked:
            order.cancelling = True
        # The creates sent before it and not answered yet (by label): it covers them too,
        # and those placed while it is under way (their orders) once it is accepted.
        covered = {
            label for label, pending in self.state.pending.items()
            if market_id in (None, pending.payload.order_create.market_id)
        }
        placed_meanwhile: list[BridgeOrder] = []
        under_way = (covered, placed_meanwhile)
        self._cancel_alls.append(under_way)

        def done(_: object) -> None:
            self._cancel_alls.remove(under_way)
            self._answered()
            for label in covered:
                if label in self.state.pending:
                    self.state.pending[label].cancel = True
            self.send([answers.order_cancel_all_accepted(reference)])
            for order in placed_meanwhile:
                self._cancel_late(order)
            self.poll_soon()

        def refused(failure: Failure) -> None:
            self._cancel_alls.remove(under_way)
            for order in marked:
                order.cancelling = False
            self._failed(failure.value)
            _log.warn("a cancel-all was refused upstream: {error}", error=failure.value)
            self.send([answers.order_cancel_all_rejected(reference)])

        d = self.client.cancel_all(market_id)
        d.addCallbacks(done, refused)
        d.addErrback(lambda f: _log.failure("answering a cancel-all", f))

    def session_failed(self) -> None:
        """A session of the account died: cancel its live orders if its settings say so."""
        if not self.cancel_all_on_failure or not any(order.live for order in self.state.orders.values()):
            return
        _log.info("{account}: a session died with cancel_all_on_failure set: cancelling every order", account=self)
        for order in self.state.orders.values():
            if order.live:
                order.cancelling = True
        self.client.cancel_all().addCallbacks(
            lambda _: self.poll_soon(),
            lambda f: _log.warn("{account}: the cancel-all on failure failed: {error}", account=self, error=f.value),
        )

    # -- the upstream's health ---------------------------------------------------------------

    def _failed(self, error: BaseException) -> None:
        if not upstream_failure(error):
            return
        self.failures += 1
        if self.failures == 1:
            _log.warn(
                "{account}: the upstream is lost ({error}): orders are rejected until it answers again",
                account=self, error=error,
            )

    def _answered(self) -> None:
        if self.failures:
            _log.info("{account}: the upstream answers again", account=self)
        self.failures = 0

    # -- the activity ------------------------------------------------------------------------

    def opened(self, client: HTTPAPIClient) -> Deferred[None]:
        """Fires once the account has its activity cursor: at once for one that has it (from
        its saved state or an earlier login); for a new one, once ``client`` has read the
        newest row of its activity (its past is not the bridge's), which becomes the cursor,
        saved. A login is answered only after this, so no order of it can be placed (and
        fill) before the cursor. Fails if that read fails (the login fails; the next tries
        again); logins that come meanwhile wait for the same read."""
        if self.state.cursor is not None:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        if self._opening is not None:
            self._opening.append(waiter)
            return waiter
        self._opening = [waiter]

        def done(result: object) -> None:
            waiters, self._opening = self._opening or [], None
            for each in waiters:
                if isinstance(result, Failure):
                    each.errback(result)
                else:
                    each.callback(None)

        Deferred.fromCoroutine(self._newest(client)).addBoth(done)
        return waiter

    async def _newest(self, client: HTTPAPIClient) -> None:
        newest = await client.activity(sort="-seq,-subseq", limit=1)
        if self.state.cursor is None:
            self.state.cursor = (newest.items[0].seq, newest.items[0].subseq) if newest.items else (0, 0)
            if not self._save():
                raise OSError(self.broken)  # the login fails

    def start(self) -> None:
        """Start polling the activity (once the cursor is set: `opened`); again is nothing."""
        if self._started:
            return
        self._started = True
        self.poll_soon()

    def stop(self) -> Deferred[None]:
        """Stop polling and log every upstream session out; fires when done."""
        self._stopped = True
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        closing = [client.close() for client in self.clients]
        self.clients = []
        return DeferredList(closing, consumeErrors=True).addCallback(lambda _: None)

    def poll_soon(self) -> None:
        """Poll the activity now (or as soon as the poll under way is done)."""
        if self._stopped:
            return
        if self._polling:
            self._again = True
            return
        self._schedule(0)

    def _schedule(self, delay: float) -> None:
        if self._stopped:
            return  # a poll that was under way when the account stopped
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self.clock.callLater(delay, self._poll)

    def _poll(self) -> None:
        self._timer = None
        if self._stopped or not self.clients:
            return
        self._polling = True
        d = Deferred.fromCoroutine(self._poll_activity())
        d.addCallbacks(self._polled, self._poll_failed)

    def _polled(self, _: object) -> None:
        self._polling = False
        self._answered()
        if self.backoff.answered():
            _log.info("{account}: the activity is read again; new orders are taken", account=self)
        if self._again:
            self._again = False
            self._schedule(0)
        else:
            self._schedule(self.poll_interval)

    def _poll_failed(self, failure: Failure) -> None:
        self._polling = False
        self._again = False
        self._failed(failure.value)
        delay = self.backoff.failed()
        held = sum(p.unknown for p in self.state.pending.values())
        self.backoff.say(
            _log, failure, "{account}: polling the activity failed ({error}; {failures} in a row): new orders are"
            " rejected until it works, {held} create(s) without an answer held; again in {delay:.1f} s",
            account=self, held=held,
        )  # fmt: skip
        self._schedule(delay)

    async def _poll_activity(self) -> None:
        client = self.client
        state = self.state
        if state.cursor is None:
            return  # not opened yet (`opened`): no login has been answered
        self.polls += 1
        unknown = [pending for pending in state.pending.values() if pending.unknown]
        if unknown:
            await self._look_for(client, unknown)
        assert state.cursor is not None
        async for rows in rows_after(client, state.cursor, lambda: self._stopped):
            messages, complete = self._take(rows)
            if messages or rows:
                self.send(messages)
            if not complete:
                return

    async def _look_for(self, client: HTTPAPIClient, unknown: list[PendingCreate]) -> None:
        """Look for the creates of ``unknown`` outcome upstream, by their labels: in their
        markets' orders, then in the activity after the cursor (which has not gone past a
        row of an unknown order since they were sent). Each found is answered accepted;
        each not found, rejected: the look began after their outcomes became unknown, and
        it is whole (a failed request fails the poll, and they wait for the next)."""
        wanted = {pending.label: pending for pending in unknown}
        assert self.state.cursor is not None
        found = await find_placed(client, unknown, self.state.cursor, lambda: self._stopped)
        if self._stopped:
            return
        messages: list[Message] = []
        late: list[tuple[BridgeOrder, PendingCreate]] = []
        for label, pending in wanted.items():
            del self.state.pending[label]
            payload = pending.payload
            create = payload.order_create
            seq = payload.eto_payload.seq
            if label in found:
                _log.info(
                    "{account}: the order create without an answer (label {label!r}) was placed: order {order_id}",
                    account=self, label=label, order_id=found[label],
                )
                order = placed_order(found[label], create)
                self.state.orders[order.id] = order
                messages.append(answers.order_accepted(order, seq, None, None))
                late.append((order, pending))
            else:
                _log.info(
                    "{account}: the order create without an answer (label {label!r}) was not placed: rejected",
                    account=self, label=label,
                )
                messages.append(answers.order_rejected(seq, _UNAVAILABLE, create_reference(create), create_label(create)))
        self.send(messages)
        for order, pending in late:
            self._placed(order, pending)

    def _take(self, rows: list[ActivityRow]) -> tuple[list[Message], bool]:
        """The messages of ``rows`` (moving the cursor past each row taken), and whether all
        were taken: a row of an order unknown while a create is unanswered (sent, or of
        unknown outcome) waits for it."""
        messages: list[Message] = []
        orders = self.state.orders
        waiting = self.creating or any(pending.unknown for pending in self.state.pending.values())
        for row in rows:
            if row.order_id is not None and row.order_id not in orders and waiting:
                return messages, False
            messages.extend(row_messages(row, orders))
            if row.order_id in orders:
                self.state.dirty.add(row.order_id)  # its fills or its end: saved even once it is done
            self.state.cursor = (row.seq, row.subseq)
        return messages, True
