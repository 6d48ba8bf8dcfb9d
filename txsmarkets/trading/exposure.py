"""What the trading controls count: orders as if filled, and each market's worst case.

Integer arithmetic in price x quantity units (hundred-millionths of a pound), so exact;
pounds (`Decimal`) only at the edges (limits given, figures shown).
"""

from __future__ import annotations

from decimal import Decimal
from collections.abc import Iterable
from typing import Any, TypeVar

from txsmarkets.trading.account import Change, ChangeKind
from txsmarkets.trading.market_exposure import MarketExposure
from txsmarkets.trading.money import FULL, UNITS, liability_units, loss_units, pounds
from txsmarkets.wire import eto_pb2, seto_pb2

__all__ = ["FULL", "UNITS", "CountedOrder", "Ledger", "MarketExposure", "liability_units", "loss_units", "pounds"]

_T = TypeVar("_T")
_BUY = seto_pb2.SIDE_BUY
_ACCEPTED, _REJECTED, _EXECUTED, _CANCELLED = ChangeKind.ACCEPTED, ChangeKind.REJECTED, ChangeKind.EXECUTED, ChangeKind.CANCELLED
_REDUCED, _REPLACED, _REPLACE_REJECTED, _VOIDED = ChangeKind.REDUCED, ChangeKind.REPLACED, ChangeKind.REPLACE_REJECTED, ChangeKind.VOIDED
_EXECUTION_VOIDED = ChangeKind.EXECUTION_VOIDED
#: Filled orders whose fills are kept to undo a void (per market, until it settles).
FILL_RECORDS_KEPT = 100_000
# A market voided still has its voids to come (each takes its own fill record): only a
# settled one can have no more.
_SETTLED = seto_pb2.MARKET_STATE_SETTLED

class CountedOrder:
    """An order the controls count: waiting to be sent, in flight (``seq``) or live
    (``order_id``). ``units`` is what it risks as it is counted now.

    ``replaces`` is the original's order id when this is the part of a cancel-replace in
    flight that goes beyond the original (``units`` then is that excess, and ``price``
    and ``quantity`` are the new order's); such a part is no order of its own (``order``
    False: not in the live-order counts). ``waiting`` is True while it waits to be sent
    (`Ledger.sent` or `Ledger.unsent` clears it, whichever comes first); ``market`` is
    the `MarketExposure` that counts it."""

    __slots__ = (
        "market_id", "contract_id", "buy", "price", "quantity", "units", "seq", "order_id", "replaces", "order",
        "waiting", "market",
    )

    def __init__(
        self, market_id: int, contract_id: int, buy: bool, price: int, quantity: int, market: MarketExposure, units: int | None = None
    ) -> None:
        self.market_id = market_id
        self.contract_id = contract_id
        self.buy = buy
        self.price = price
        self.quantity = quantity
        # (``units`` when the caller has it already: what the order risks)
        self.units = units if units is not None else liability_units(buy, price, quantity)
        self.market = market
        self.seq: int | None = None
        self.order_id: int | None = None
        self.replaces: int | None = None
        self.order = True
        self.waiting = False

    def resize(self, quantity: int) -> None:
        """Set the quantity still counted (and so ``units``)."""
        self.quantity = quantity
        self.units = liability_units(self.buy, self.price, quantity)


class Ledger:
    """The orders and fills the controls count, kept as the client sends and as the
    exchange reports; see `txsmarkets.client.controls`.

    The client hands it each account message's `Change` (`apply`, as the account's
    reducer made it: no second reading of the message), each market's state
    (`market_state`) and, while ``marking`` (quotes move what it counts), each market's
    quotes (`quoted`). ``_marked(market_id)`` is called after fills change."""

    def __init__(self) -> None:
        self._markets: dict[int, MarketExposure] = {}
        self._total = 0  # the account's worst-case loss, the sum of the markets'
        self._orders = 0  # orders counted: live, in flight and unsent
        # original order id -> the excess of its cancel-replace in flight
        self._replacing: dict[int, CountedOrder] = {}
        # (an entry waiting to be sent has ``waiting`` set: no set of them to keep)
        self._inflight: dict[int, CountedOrder] = {}
        self._live: dict[int, CountedOrder] = {}
        # order id -> [market, contract, buy, quantity filled, price x quantity filled]
        self._fills: dict[int, list[Any]] = {}
        # Whether quotes move what is counted (set by a subclass that marks to market),
        # how many markets hold a position, and so whether the client is to call `quoted`.
        self._marks_quotes = False
        self._holding = 0
        self.marking = False

    # -- what the client hands it (`txsmarkets.client.tracking.AccountFollower`) -----------

    def apply(self, change: Change) -> None:
        """Count what an account message changed (from ``client.account``'s reducer)."""
        kind = change.kind
        if kind is _CANCELLED:
            # A cancel follows most orders: `_uncount`, inline.
            entry = self._live.pop(change.order_id, None)
            if entry is not None:
                market = entry.market
                self._total += market.order(entry.contract_id, entry.buy, -entry.units)
                if entry.order:
                    market.live -= 1
                    self._orders -= 1
        elif kind is _ACCEPTED:
            # The exchange accepted the create numbered ``seq`` as ``order`` (the client's
            # `LiveOrder`; a field 0 is one the answer did not give). Inline: every order.
            seq = change.seq
            order = change.order
            assert order is not None  # (an acceptance has its order)
            inflight = self._inflight
            entry = inflight.pop(seq, None)
            if entry is not None and (
                entry.replaces is not None
                or ((market_id := order.market_id) and market_id != entry.market_id)
                or ((contract_id := order.contract_id) and contract_id != entry.contract_id)
                or ((price := order.price) and price != entry.price)
            ):
                inflight[seq] = entry  # still waiting for its own answer
                entry = None  # an answer from an earlier session, under a seq used again
            order_id = order.order_id
            if entry is not None:
                quantity = order.quantity
                if quantity and quantity != entry.quantity:
                    self._recount(entry, liability_units(entry.buy, entry.price, quantity))
                    entry.quantity = quantity
            elif order_id in self._live:
                return
            else:
                # An order this process did not count (sent before a restart): count it now.
                market = self._market(order.market_id)
                entry = CountedOrder(order.market_id, order.contract_id, order.side == _BUY, order.price, order.quantity, market)
                self._count(entry)
            entry.order_id = order_id
            self._live[order_id] = entry
        elif kind is _EXECUTED:
            self._executed(change.body)
        elif kind is _REJECTED:
            self._answered(change.seq)
        elif kind is _REDUCED:
            self._reduced(change.order_id, change.quantity)
        elif kind is _REPLACED:
            self._replaced(change.body)
        elif kind is _REPLACE_REJECTED:
            self._replace_answered(change.order_id)
        elif kind is _VOIDED:
            self._voided(change.order_id)
        elif kind is _EXECUTION_VOIDED:
            self._execution_voided(change.body)

    def _marked(self, market_id: int) -> None:
        """The fills of ``market_id`` changed (the loss limit marks them)."""

    def quoted(self, market_id: int) -> None:
        """The quotes of ``market_id`` changed (called only while ``marking``)."""

    def _settling(self, market_id: int) -> None:
        """``market_id`` settles: its fills are about to stop counting (the loss limit
        keeps the loss they stand at in ``settled2``)."""

    def _fill(self, market: MarketExposure, c: int, buy: bool, quantity: int, paid: int) -> int:
        """`MarketExposure.fill`, keeping count of the markets that hold a position."""
        held = market.held
        change = market.fill(c, buy, quantity, paid)
        if (market.held > 0) != (held > 0):
            self._holding += 1 if market.held else -1
            self.marking = self._marks_quotes and self._holding > 0
        return change

    def _market(self, market_id: int) -> MarketExposure:
        """The `MarketExposure` of ``market_id``, new if there was none (never removed,
        so an entry may keep its own)."""
        market = self._markets.get(market_id)
        if market is None:
            market = self._markets[market_id] = MarketExposure()
        return market

    # -- what they count, in pounds -----------------------------------------------------------

    @property
    def account_exposure(self) -> Decimal:
        """The account's worst-case loss in pounds, fills, live and in-flight orders."""
        return pounds(self._total)

    def market_exposure(self, market_id: int) -> Decimal:
        """One market's worst-case loss in pounds."""
        market = self._markets.get(market_id)
        return pounds(market.worst if market is not None else 0)

    def contract_exposure(self, market_id: int, contract_id: int) -> Decimal:
        """One contract's worst-case loss, on its own, in pounds."""
        market = self._markets.get(market_id)
        return pounds(market.contract_worst(contract_id) if market is not None else 0)

    @property
    def live_orders(self) -> int:
        """Orders counted: live, in flight and waiting to be sent."""
        return self._orders

    # -- across a restart --------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What the controls count beyond the live orders, as JSON-ready data for
        `restore`: the positions the fills have left (per contract: net quantity and price
        x quantity paid, sells negative), the fills kept to undo a void, each settled
        market's loss, and the requests in flight (creates, and the excess of replaces
        that raise risk). Live orders are not in it: a restored account's are counted
        again by `adopt`."""
        return {
            "positions": [
                [market_id, c, net, market.paid.get(c, 0)]
                for market_id, market in self._markets.items()
                for c, net in market.net.items()
                if net or market.paid.get(c, 0)
            ],
            "fills": [[order_id, *record] for order_id, record in self._fills.items()],
            "settled": [[market_id, market.settled2] for market_id, market in self._markets.items() if market.settled2],
            "inflight": [
                [seq, e.market_id, e.contract_id, e.buy, e.price, e.quantity, e.units, e.replaces]
                for seq, e in self._inflight.items()
            ],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Count what a `snapshot` holds (on controls that have counted no fill yet).
        Raises `ValueError` if ``data`` is malformed."""
        if self._fills or any(market.net for market in self._markets.values()):
            raise RuntimeError("these controls have counted fills already")
        try:
            positions = [(int(m), int(c), int(net), int(paid)) for m, c, net, paid in data["positions"]]
            fills = {int(o): [int(m), int(c), bool(buy), int(q), int(p)] for o, m, c, buy, q, p in data["fills"]}
            settled = [(int(m), int(loss2)) for m, loss2 in data.get("settled", [])]
            inflight = [
                (int(seq), int(m), int(c), bool(buy), int(p), int(q), int(u), None if r is None else int(r))
                for seq, m, c, buy, p, q, u, r in data.get("inflight", [])
            ]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed controls snapshot: {e!r}") from None
        for market_id, c, net, paid in positions:
            # A fill's effect is linear in its quantity and price x quantity (sells
            # negative): the sum of a contract's fills counts as one buy of the net.
            self._total += self._fill(self._market(market_id), c, True, net, paid)
        self._fills = dict(list(fills.items())[-FILL_RECORDS_KEPT:])
        for market_id, loss2 in settled:
            self._market(market_id).settled2 = loss2
        for seq, market_id, c, buy, price, quantity, units, replaces in inflight:
            self._count_inflight(seq, market_id, c, buy, price, quantity, units, replaces)
        for market_id in {m for m, _, _, _ in positions} | {m for m, _ in settled}:
            self._marked(market_id)

    def _count_inflight(
        self, seq: int, market_id: int, c: int, buy: bool, price: int, quantity: int, units: int, replaces: int | None = None
    ) -> None:
        """Count a request sent as ``seq`` before a restart, till it is answered."""
        self._answered(seq)
        entry = CountedOrder(market_id, c, buy, price, quantity, self._market(market_id), units)
        entry.seq = seq
        if replaces is None:
            self._count(entry)
        else:
            entry.replaces, entry.order = replaces, False
            self._replacing[replaces] = entry
            self._total += entry.market.order(c, buy, units)
        self._inflight[seq] = entry

    def replay(self, payload: seto_pb2.Payload, sent: bool = False) -> None:
        """Count what a journalled message newer than the `snapshot` restored changed:
        sent (``sent``), a create (in flight till answered) or a new session's login; in,
        an answer, a fill, a void, a settlement. The orders the exchange accepted are
        counted from the account once it is restored (`adopt`). (A replace sent after the
        snapshot counts its excess only once it is answered: the original it is measured
        against is not counted yet.)"""
        kind = payload.type
        if sent:
            if kind == seto_pb2.PAYLOAD_ORDER_CREATE:
                create = payload.order_create
                buy = create.side == _BUY
                units = liability_units(buy, create.price, create.quantity)
                self._count_inflight(payload.eto_payload.seq, create.market_id, create.contract_id, buy, create.price, create.quantity, units)
            elif kind == seto_pb2.PAYLOAD_LOGIN and not payload.eto_payload.HasField("login"):
                for seq in list(self._inflight):  # a new session: the old one's seqs are done
                    self._answered(seq)
            return
        if kind == seto_pb2.PAYLOAD_ORDER_ACCEPTED:
            self._answered(payload.order_accepted.seq)
        elif kind == seto_pb2.PAYLOAD_ORDER_REJECTED:
            self._answered(payload.order_rejected.seq)
        elif kind == seto_pb2.PAYLOAD_ORDER_INVALID:
            self._answered(payload.order_invalid.seq)
        elif kind == seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_ACCEPTED:
            self._replace_answered(payload.order_cancel_replace_accepted.orig_order_id)
        elif kind == seto_pb2.PAYLOAD_ORDER_CANCEL_REPLACE_REJECTED:
            self._replace_answered(payload.order_cancel_replace_rejected.orig_order_id)
        elif kind == seto_pb2.PAYLOAD_ORDER_EXECUTED:
            self._executed(payload.order_executed)
        elif kind == seto_pb2.PAYLOAD_ORDER_VOIDED:
            self._voided(payload.order_voided.order_id)
        elif kind == seto_pb2.PAYLOAD_ORDER_EXECUTE_VOIDED:
            self._execution_voided(payload.order_execute_voided)
        elif kind == seto_pb2.PAYLOAD_MARKET_STATE:
            self.market_state(payload.market_state.market_id, payload.market_state.state)
        elif kind == seto_pb2.PAYLOAD_ETO and payload.eto_payload.type == eto_pb2.PAYLOAD_LOGIN_RESPONSE:
            response = payload.eto_payload.login_response
            if response.HasField("reset") and not payload.eto_payload.is_replay:
                # The exchange never read what we numbered from ``reset`` on.
                for seq in [s for s in self._inflight if s >= response.reset]:
                    self._answered(seq)

    def adopt(self, orders: Iterable[Any]) -> int:
        """Count live orders this process did not send (an account restored from disk, or
        the controls set on a client that already has orders): each ``LiveOrder`` counts
        its unfilled rest. Returns how many were new to the count."""
        adopted = 0
        for order in orders:
            left = order.quantity - order.filled
            if order.order_id in self._live or left <= 0:
                continue
            market = self._market(order.market_id)
            entry = CountedOrder(order.market_id, order.contract_id, order.side == _BUY, order.price, left, market)
            entry.order_id = order.order_id
            self._count(entry)
            self._live[order.order_id] = entry
            adopted += 1
        return adopted

    # -- what became of a create -------------------------------------------------------------

    def sent(self, entry: CountedOrder, seq: int) -> None:
        """The create (or replace) counted by ``entry`` went out as ``seq``: it counts
        till answered."""
        if entry.waiting:
            entry.waiting = False
            entry.seq = seq
            inflight = self._inflight
            if seq in inflight:
                # A seq used again: the exchange renumbered us below it (a resume whose
                # reset is under our outseq), so the request it numbered was never read.
                self._answered(seq)
            inflight[seq] = entry
            if entry.replaces is not None:
                self._replacing[entry.replaces] = entry

    def unsent(self, failure: _T, entry: CountedOrder) -> _T:
        """The create's Deferred failed; if it never went out, it no longer counts.

        (One that went out stays counted: its answer may still come after a resume.)
        Returns ``failure``, so it can be an errback."""
        if entry.waiting:
            entry.waiting = False
            self._uncount(entry)
        return failure

    def _uncount(self, entry: CountedOrder) -> None:
        market = entry.market
        self._total += market.order(entry.contract_id, entry.buy, -entry.units)
        if entry.order:
            market.live -= 1
            self._orders -= 1

    def _count(self, entry: CountedOrder) -> None:
        market = entry.market
        self._total += market.order(entry.contract_id, entry.buy, entry.units)
        market.live += 1
        self._orders += 1

    def _recount(self, entry: CountedOrder, units: int) -> None:
        """Count ``entry`` as risking ``units`` from now on."""
        self._total += entry.market.order(entry.contract_id, entry.buy, units - entry.units)
        entry.units = units

    # -- the account, as the exchange reports it ---------------------------------------------

    def _answered(self, seq: int) -> None:
        """The request numbered ``seq`` is answered, or will never be: it stops counting."""
        entry = self._inflight.pop(seq, None)
        if entry is not None:
            self._uncount(entry)
            if entry.replaces is not None and self._replacing.get(entry.replaces) is entry:
                del self._replacing[entry.replaces]

    def _executed(self, body: seto_pb2.OrderExecuted) -> None:
        order_id = body.order_id
        entry = self._live.get(order_id)
        market = self._market(body.market_id)
        buy = body.side == _BUY
        total = 0
        if entry is not None:
            left = body.available_quantity if body.HasField("available_quantity") else entry.quantity - body.quantity
            left = max(0, left)
            before = entry.units
            entry.resize(left)
            total += market.order(entry.contract_id, entry.buy, entry.units - before)
            if left <= 0:
                del self._live[order_id]
                market.live -= 1
                self._orders -= 1
            extra = self._replacing.get(order_id)
            if extra is not None:
                # The rest of the original it would replace shrank: the new order's
                # excess over it grows.
                new = liability_units(extra.buy, extra.price, extra.quantity)
                excess = max(0, new - entry.units)
                total += market.order(extra.contract_id, extra.buy, excess - extra.units)
                extra.units = excess
        total += self._fill(market, body.contract_id, buy, body.quantity, body.price * body.quantity)
        self._total += total
        record = self._fills.get(order_id)
        if record is None:
            fills = self._fills
            if len(fills) >= FILL_RECORDS_KEPT:
                # The oldest goes: a void of its trades, should one still come, is then not
                # undone, and its fill keeps counting (the safe side: more risk, not less).
                del fills[next(iter(fills))]
            record = fills[order_id] = [body.market_id, body.contract_id, buy, 0, 0]
        record[3] += body.quantity
        record[4] += body.price * body.quantity
        self._marked(body.market_id)

    def _done(self, order_id: int) -> None:
        entry = self._live.pop(order_id, None)
        if entry is not None:
            self._uncount(entry)

    def _reduced(self, order_id: int, quantity: int) -> None:
        entry = self._live.get(order_id)
        if entry is not None:
            if quantity > 0:
                self._recount(entry, liability_units(entry.buy, entry.price, quantity))
                entry.quantity = quantity
            else:
                self._done(order_id)

    def _replace_answered(self, orig_order_id: int) -> None:
        extra = self._replacing.pop(orig_order_id, None)
        if extra is not None and extra.seq is not None:
            self._answered(extra.seq)

    def _replaced(self, body: seto_pb2.OrderCancelReplaceAccepted) -> None:
        self._replace_answered(body.orig_order_id)
        self._done(body.orig_order_id)
        if body.order_id not in self._live:
            # In full: its fills, which follow, move it from order to fill.
            market = self._market(body.market_id)
            entry = CountedOrder(body.market_id, body.contract_id, body.side == _BUY, body.price, body.quantity, market)
            entry.order_id = body.order_id
            self._count(entry)
            self._live[body.order_id] = entry

    def _voided(self, order_id: int) -> None:
        self._done(order_id)
        record = self._fills.pop(order_id, None)
        if record is None:
            return
        market_id, contract_id, buy, quantity, paid = record
        market = self._markets[market_id]
        self._total += self._fill(market, contract_id, buy, -quantity, -paid)
        self._marked(market_id)

    def _execution_voided(self, body: seto_pb2.OrderExecutedVoid) -> None:
        # One trade taken back: its quantity at its price leaves the fills (the quantity is
        # not offered again, so the order's rest stands as counted).
        record = self._fills.get(body.order_id)
        if record is None:
            if not body.HasField("market_id"):
                return  # a fill this process never counted, and no market to take it from
            record = [body.market_id, body.contract_id, body.side == _BUY, body.quantity, body.price * body.quantity]
        market_id, contract_id, buy, filled, paid = record
        quantity = min(body.quantity, filled)
        value = body.price * quantity
        market = self._market(market_id)
        self._total += self._fill(market, contract_id, buy, -quantity, -value)
        record[3], record[4] = filled - quantity, paid - value
        if record[3] <= 0:
            self._fills.pop(body.order_id, None)
        self._marked(market_id)

    def market_state(self, market_id: int, state: int) -> None:
        """A market's state changed: a settled one's fills stop counting."""
        if state == _SETTLED:
            # Settled: its fills risk nothing more (the exchange has paid out), and no void
            # of them can come, so their positions and their records (kept to undo a void)
            # go. A market voided keeps both till each order's void takes its own.
            for order_id in [o for o, record in self._fills.items() if record[0] == market_id]:
                del self._fills[order_id]
            market = self._markets.get(market_id)
            if market is not None:
                self._settling(market_id)
                for c, net in list(market.net.items()):
                    paid = market.paid.get(c, 0)
                    if net or paid:
                        self._total += self._fill(market, c, True, -net, -paid)
                self._marked(market_id)

    def logged_in(self, message: seto_pb2.Payload, resumed: bool) -> int:
        """A login (``message`` its response): a resumed session's requests the exchange
        never read stop counting; a new session's every unanswered request does (what the
        exchange accepted of them it reports on the account stream). Returns how many of
        the old session's requests stopped counting that way (0 on a resume)."""
        if resumed and self._inflight:
            response = message.eto_payload.login_response
            if response.HasField("reset"):
                # The exchange numbers our messages on from ``reset``: it never read any
                # request from there on, and those will not be answered.
                for seq in [s for s in self._inflight if s >= response.reset]:
                    self._answered(seq)
        if resumed or not self._inflight:
            return 0
        # A new session numbers from 1 again: the old seqs can no longer be matched. What
        # the exchange accepted of them it reports on the account stream, counted then.
        inflight, self._inflight = self._inflight, {}
        self._replacing.clear()
        for entry in inflight.values():
            self._uncount(entry)
        return len(inflight)
