"""The HTTP API's routes for a logged-in account: the account, its activity and its
orders. Each answers 401 ``AUTH_REQUIRED`` without a valid session token."""

from __future__ import annotations

import csv
import gzip
import io
from typing import Any

from twisted.web.iweb import IRequest

from txsmarkets.exchange.http.activity import Row
from txsmarkets.exchange.http.base import ApiBase, page_link, posix
from txsmarkets.exchange.http.errors import ApiError, invalid
from txsmarkets.exchange.http.params import Query, parse_datetime, parse_id
from txsmarkets.exchange.http.shapes import account_shape, event_shape, order_shape, order_state, placed_shape
from txsmarkets.exchange.http.units import TIFS
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import new_payload

__all__ = ["AccountRoutes"]

_UINT32_MAX = 0xFFFFFFFF
_UINT64_MAX = 2**64 - 1
_ORDER_STATES = ("created", "partial", "filled", "settled")
_ACTIVITY_SOURCES = (
    "admin.credit admin.debit bonus.credit bonus.debit commission.update contract.reduce "
    "contract.resettle contract.settle contract.unsettle contract.void contract.unreduce "
    "deposit deposit.approve deposit.deny deposit.request execution.reduce execution.settle "
    "execution.unsettle execution.unvoid execution.void market.partial_unsettle "
    "market.resettle market.settle market.unsettle market.unvoid market.void "
    "order.book.accept order.book.cancel order.book.reduce_qty order.book.reject "
    "order.cancel.reject order.cancel_replace.book.accept order.cancel_replace.book.reject "
    "order.create order.execute order.execute.confirm order.execute.void "
    "order.pending.replace order.reduce order.reject.account_suspended "
    "order.reject.insufficient_funds order.reject.invalid_quantity "
    "order.reject.limit_exceeded order.reject.market_not_found "
    "order.reject.stake_limit_exceeded order.settle order.unsettle order.unvoid order.void "
    "withdraw withdrawal.approve withdrawal.deny withdrawal.request cash_out.complete "
    "cash_out.request"
).split()

# The routes below are added to the app of ApiBase.
_app = ApiBase.app


class AccountRoutes(ApiBase):
    """The routes of a logged-in account (a part of `HttpApi`)."""

    # -- the account ------------------------------------------------------------------------

    @_app.route("/v3/accounts/", methods=["GET"])
    def get_account(self, request: IRequest) -> bytes:
        account_id = self._account_id(request)
        self.limits.check("get_account", account_id)
        return self._json(request, {"account": account_shape(self.engine.accounts[account_id])})

    @_app.route("/v3/accounts/activity/", methods=["GET"])
    def get_activity(self, request: IRequest) -> bytes:
        account_id = self._account_id(request)
        self.limits.check("get_activity", account_id)
        query = Query(request.args)
        low, high = query.moment("timestamp_min"), query.moment("timestamp_max")
        limit = query.integer("limit", 0, 500, 20)
        assert limit is not None
        markets = set(query.ids("market_id"))
        orders = set(query.ids("order_id"))
        sources = set(query.choices("source", _ACTIVITY_SOURCES))
        sort = query.choice("sort", ("seq,subseq", "-seq,-subseq"), "-seq,-subseq")
        assert sort is not None
        descending = sort.startswith("-")
        event_info = bool(query.boolean("event_info", False))
        last_seq = self._cursor(query, "pagination_last_seq")
        last_subseq = self._cursor(query, "pagination_last_subseq")
        after = None if last_seq is None else (last_seq, last_subseq or 0)
        earliest = None if low is None else posix(low)
        latest = None if high is None else posix(high)
        rows = self.ledger.rows(account_id)
        page: list[Row] = []
        more = False
        for row in reversed(rows) if descending else iter(rows):
            key = (row.seq, 0)  # every row's subseq is 0
            if after is not None and ((key >= after) if descending else (key <= after)):
                continue
            if (
                (markets and row.market_id not in markets)
                or (orders and row.order_id not in orders)
                or (sources and row.source not in sources)
                or (earliest is not None and row.time < earliest)
                or (latest is not None and row.time > latest)
            ):
                continue
            if len(page) >= limit:
                more = True
                break
            page.append(row)
        next_page = None
        if more and page:
            pairs = query.carried(("limit", "sort", "pagination_last_seq", "pagination_last_subseq"))
            pairs += [
                ("limit", str(limit)),
                ("sort", sort),
                ("pagination_last_seq", str(page[-1].seq)),
                ("pagination_last_subseq", "0"),
            ]
            next_page = page_link(pairs)
        answer: dict[str, Any] = {
            "account_activity": [row.shape() for row in page],
            "contracts": [],
            "events": [],
            "markets": [],
            "pagination": {"next_page": next_page},
        }
        if event_info:
            answer.update(self._activity_display(page))
        return self._json(request, answer)

    @staticmethod
    def _cursor(query: Query, name: str) -> int | None:
        value = query.text(name)
        if value is None:
            return None
        return parse_id(value, name)

    def _activity_display(self, rows: list[Row]) -> dict[str, list[dict[str, Any]]]:
        """The display data of the events, markets and contracts the rows name, each once in
        order of first mention (the document gives these objects no id)."""
        events: dict[int, dict[str, Any]] = {}
        markets: dict[int, dict[str, Any]] = {}
        contracts: dict[int, dict[str, Any]] = {}
        for row in rows:
            contract_id = row.contract_id
            if contract_id is not None:
                found = self.index.contracts.get(contract_id)
                if found is not None and contract_id not in contracts:
                    contracts[contract_id] = {
                        "name": found[0].name,
                        "state_or_outcome": self.index.contract_state(contract_id),
                    }
            if row.market_id is not None:
                market = self.index.markets.get(row.market_id)
                if market is not None and market.id not in markets:
                    markets[market.id] = {
                        "name": market.name,
                        "market_type": None if market.market_type is None else {"name": market.market_type},
                        "contract_selections": None,
                    }
            if row.event_id is not None:
                event = self.index.events.get(row.event_id)
                if event is not None and event.id not in events:
                    shape = event_shape(self.index, event, self.created, False)
                    events[event.id] = {k: shape[k] for k in ("name", "type", "state", "full_slug", "slug", "parent_id")}
        return {"events": list(events.values()), "markets": list(markets.values()), "contracts": list(contracts.values())}

    @_app.route("/v3/account_activity_csv/<start_datetime>/<end_datetime>/", methods=["GET"])
    def account_activity_csv(self, request: IRequest, start_datetime: str, end_datetime: str) -> bytes:
        account_id = self._account_id(request)
        self.limits.check("account_activity_csv", account_id)
        start = parse_datetime(start_datetime, "start_datetime")
        end = parse_datetime(end_datetime, "end_datetime")
        if (start.minute, start.second, start.microsecond) != (0, 0, 0) or posix(end) - posix(start) != 3600:
            raise ApiError(400, "INVALID_DATETIMES", "the times must be on the hour and one hour apart")
        low, high = posix(start), posix(end)
        rows = [row.shape() for row in self.ledger.rows(account_id) if low <= row.time < high]
        if not rows:
            raise ApiError(404, "NO_CSV_AVAILABLE", "no activity in that hour")
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        request.setHeader(b"content-type", b"application/gzip")
        return gzip.compress(text.getvalue().encode("utf-8"))

    # -- orders -----------------------------------------------------------------------------

    @_app.route("/v3/orders/", methods=["GET"])
    def get_orders(self, request: IRequest) -> bytes:
        account_id = self._account_id(request)
        self.limits.check("get_orders", account_id)
        query = Query(request.args)
        ids = set(query.ids("id"))
        markets = set(query.ids("market_id"))
        contract = query.an_id("contract_id")
        side = query.choice("side", ("buy", "sell"))
        states = set(query.choices("state", _ORDER_STATES) or _ORDER_STATES)
        created_min, created_max = query.moment("created_datetime_min"), query.moment("created_datetime_max")
        sequence_min, sequence_max = query.integer("sequence_number_min"), query.integer("sequence_number_max")
        sort = query.choice("sort", ("id", "-id"), "id")
        last_id = query.an_id("pagination_last_id")
        limit = query.integer("limit", 1, 100, 20)
        assert limit is not None
        descending = sort == "-id"
        order_ids = self.ledger.order_ids(account_id)
        if descending:
            order_ids.reverse()
        page: list[dict[str, Any]] = []
        more = False
        for order_id in order_ids:
            if last_id is not None and ((order_id >= last_id) if descending else (order_id <= last_id)):
                continue
            if ids and order_id not in ids:
                continue
            order = self.engine.order(order_id)
            times = self.ledger.times(order_id)
            if order is None or times is None:
                continue
            state = order_state(order, self.index.market_state(order.market_id))
            if (
                state is None
                or state not in states
                or (markets and order.market_id not in markets)
                or (contract is not None and order.contract_id != contract)
                or (side is not None and (side == "buy") != (order.side == seto_pb2.SIDE_BUY))
                or (created_min is not None and times.created < posix(created_min))
                or (created_max is not None and times.created > posix(created_max))
                or (sequence_min is not None and times.sequence < sequence_min)
                or (sequence_max is not None and times.sequence > sequence_max)
            ):
                continue
            if len(page) >= limit:
                more = True
                break
            page.append(order_shape(self.index, order, state, times.created, times.modified, times.sequence))
        next_page = None
        if more:
            pairs = query.carried(("limit", "pagination_last_id"))
            pairs += [("limit", str(limit)), ("pagination_last_id", page[-1]["id"])]
            next_page = page_link(pairs)
        return self._json(request, {"orders": page, "otc_available": False, "pagination": {"next_page": next_page}})

    @_app.route("/v3/orders/", methods=["POST"])
    def create_order(self, request: IRequest) -> bytes:
        account_id = self._account_id(request)
        self.limits.check("create_order", account_id)
        body = self._body(request)
        market_id = self._id_field(body, "market_id")
        contract_id = self._id_field(body, "contract_id")
        price = self._int_field(body, "price", 1, 9999)
        quantity = self._int_field(body, "quantity", 0, _UINT32_MAX)
        side = body.get("side")
        if side not in ("buy", "sell"):
            raise invalid("side: buy or sell is required")
        kind = body.get("type", "good_til_halted")
        if kind not in TIFS:
            raise invalid(f"type: one of {', '.join(TIFS)} is required")
        label = self._text_field(body, "label", required=False)
        minimum = self._int_field(body, "minimum_accepted_quantity", 0, _UINT32_MAX, required=False)
        assert price is not None and quantity is not None
        # Ids beyond the wire's range name nothing the engine has.
        if market_id > _UINT32_MAX:
            raise ApiError(400, "ORDER_REJECTED_MARKET_NOT_FOUND", "no such market")
        if contract_id > _UINT32_MAX:
            raise ApiError(400, "ORDER_REJECTED_CONTRACT_NOT_FOUND", "no such contract")
        wire_side = seto_pb2.SIDE_BUY if side == "buy" else seto_pb2.SIDE_SELL
        if kind == "immediate_or_cancel" and minimum:
            self._check_minimum(account_id, market_id, contract_id, wire_side, price, quantity, minimum)
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CREATE)
        create = payload.order_create
        create.market_id = market_id
        create.contract_id = contract_id
        create.side = wire_side
        create.price = price
        create.quantity = quantity
        create.tif = TIFS[kind]
        if label is not None:
            create.label = label
        answer = self._submit(account_id, payload)
        if answer.type == seto_pb2.PAYLOAD_ORDER_ACCEPTED:
            order = self.engine.order(answer.order_accepted.order_id)
            account = self.engine.accounts[account_id]
            assert order is not None
            return self._json(request, placed_shape(order, account.available_balance, account.exposure))
        if answer.type == seto_pb2.PAYLOAD_ORDER_REJECTED:
            reason = seto_pb2.OrderRejectedReason.Name(answer.order_rejected.reason)
            raise ApiError(400, reason, "the order was rejected")
        names = [seto_pb2.OrderInvalidReason.Name(r) for r in answer.order_invalid.reasons]
        raise ApiError(400, ", ".join(names), "the order is invalid")

    def _check_minimum(
        self, account_id: int, market_id: int, contract_id: int, side: int, price: int, quantity: int, minimum: int
    ) -> None:
        """An immediate-or-cancel order that cannot fill ``minimum`` at once fills nothing:
        it is refused before it reaches the book."""
        book = self.engine.book(contract_id)
        info = self.engine.market(market_id)
        if book is None or info is None or book.market_id != market_id or info.state not in ("open", "live"):
            return  # the engine gives the reason
        filled, _ = book.crossing(side, price, quantity, account_id)
        if filled < minimum:
            raise ApiError(
                400, "ORDER_CANCELLED_INSUFFICIENT_LIQUIDITY", f"only {filled} could match at once, not {minimum}"
            )

    @_app.route("/v3/orders/<order_id>/", methods=["DELETE"])
    def cancel_order(self, request: IRequest, order_id: str) -> bytes:
        account_id = self._account_id(request)
        self.limits.check("cancel_order", account_id)
        number = parse_id(order_id, "order_id")
        if number > _UINT64_MAX:
            raise ApiError(404, "ORDER_CANCEL_REJECTED_NOT_FOUND", "no such order")
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL)
        payload.order_cancel.order_id = number
        answer = self._submit(account_id, payload)
        if answer.type == seto_pb2.PAYLOAD_ORDER_CANCEL_REJECTED:
            reason = answer.order_cancel_rejected.reason
            name = seto_pb2.OrderCancelRejectedReason.Name(reason)
            status = 404 if reason == seto_pb2.ORDER_CANCEL_REJECTED_NOT_FOUND else 400
            raise ApiError(status, name, "the cancel was rejected")
        return self._json(request, {})

    @_app.route("/v3/orders/", methods=["DELETE"])
    def cancel_orders(self, request: IRequest) -> bytes:
        account_id = self._account_id(request)
        self.limits.check("cancel_orders", account_id)
        market_id = Query(request.args).an_id("market_id")
        if market_id is not None and market_id > _UINT32_MAX:
            return self._json(request, {})  # a market that cannot exist has none of them
        payload = new_payload(seto_pb2.PAYLOAD_ORDER_CANCEL_ALL)
        if market_id is not None:
            payload.order_cancel_all.market_id = market_id
        self._submit(account_id, payload)
        # The answer is due when every order is cancelled, not a chunk of them.
        self.engine.finish_work(account_id)
        return self._json(request, {})

    @_app.route("/v3/orders/fullcover/", methods=["GET"])
    def get_account_fullcover_orders(self, request: IRequest) -> bytes:
        # Multiples are not modelled: there are none.
        account_id = self._account_id(request)
        self.limits.check("get_account_fullcover_orders", account_id)
        query = Query(request.args)
        query.choices("states", _ORDER_STATES)
        query.integer("limit", 1, 100, 20)
        return self._json(request, {"orders": [], "pagination": {"next_page": None}})
