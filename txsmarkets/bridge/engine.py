"""`BridgeEngine`: an `IExchangeEngine` whose back end is Smarkets' HTTP API.

The exchange's streaming server (`txsmarkets.exchange.server`) stands in front of it
unchanged: sessions, sequence numbers, heartbeats, resume, replay and throttling are the
server's; the engine logs each downstream login in upstream, hands each request of an
account to its `UpstreamAccount`, and serves the market data `BridgeMarketData` polls.

A downstream login's username and password log in upstream (its own upstream client and
token, `HTTPAPIClient`); the account it logs in to is the upstream account (its id is the
upstream's account id). A login the upstream refuses is refused (``LOGOUT_UNAUTHORISED``);
one the upstream cannot answer (no answer, a 5xx, a 429, an answer that is not the API's) is
refused with ``LOGOUT_SERVICE_TEMPORARILY_UNAVAILABLE`` (`LoginUnavailable`), for the client
to try again later. A login by token (a cookie) is refused: the upstream has no such login.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from txsmarkets.bridge.account import UpstreamAccount
from txsmarkets.bridge.figures import BridgeFigures, ScopedEndpoint
from txsmarkets.bridge.market_data import BridgeMarketData
from txsmarkets.bridge.recording import BridgeRecording
from txsmarkets.bridge.state import BridgeState
from txsmarkets.exchange.interfaces import ExchangeAccount, LoginUnavailable
from txsmarkets.exchange.requests import request_error
from txsmarkets.http_api import HTTPAPIClient, LoginRefused, upstream_error
from txsmarkets.http_api.limits import RateLimits
from txsmarkets.wire import seto_pb2

__all__ = ["BridgeEngine"]

_log = Logger()


def _noop(*args: Any) -> None:
    pass


def _unavailable(failure: Failure) -> Failure:
    """An upstream's error as a `LoginUnavailable` (the login is refused for now); anything
    else as it is."""
    if upstream_error(failure.value):
        return Failure(LoginUnavailable(f"the upstream: {failure.value}"))
    return failure


class BridgeEngine:
    """The engine of ``twistd smarkets-bridge``: the HTTP API at ``upstream`` (a URL ending
    in ``/v3/``) behind the streaming server.

    ``state_dir`` (a folder, or None to keep nothing) holds each upstream account's
    `BridgeState` (``account-<id>.json``); ``poll_interval`` is the seconds between two
    polls of an account's activity; ``client_options`` go to each `HTTPAPIClient` (its
    ``timeout``, ``limits``, ``http``, ...). ``market_data`` takes the options of
    `BridgeMarketData`. ``record`` is a folder (made if missing; OSError if it cannot be)
    to keep the polled market data in, as a recording (`BridgeRecording`).
    """

    #: Logins ask the upstream: the server calls `authenticate` on its thread, for a Deferred.
    authenticates_asynchronously = True
    answer_chunk: int | None = None

    def __init__(
        self,
        reactor: IReactorTime,
        upstream: str,
        state_dir: pathlib.Path | None = None,
        *,
        poll_interval: float = 1.0,
        client_options: dict[str, Any] | None = None,
        market_data: dict[str, Any] | None = None,
        record: str | os.PathLike[str] | None = None,
    ) -> None:
        self.reactor = reactor
        self.upstream = upstream
        self.state_dir = state_dir
        self.poll_interval = poll_interval
        self.client_options = dict(client_options or {})
        self.on_account: Callable[[int, seto_pb2.Payload], None] = _noop
        self.on_market: Callable[[int, seto_pb2.Payload], None] = _noop
        self.market_watched: Callable[[int], bool] = lambda market_id: False
        #: Told (one line) when an account's state cannot be saved and the account stops:
        #: ``twistd smarkets-bridge`` exits 1, ``twistd smarkets --http-api`` stops.
        self.on_state_lost: Callable[[str], None] = _noop
        #: The upstream accounts logged in through the bridge, by id.
        self.accounts: dict[int, UpstreamAccount] = {}
        public = HTTPAPIClient(reactor, url=upstream, **self.client_options)
        self.market_data = BridgeMarketData(
            reactor,
            public,
            lambda market_id, payload: self.on_market(market_id, payload),
            lambda market_id: self.market_watched(market_id),
            recording=None if record is None else BridgeRecording(record, reactor, public),
            upstream=upstream,
            **(market_data or {}),
        )

    # -- logins ------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str | bytes) -> Deferred[ExchangeAccount | None]:
        """Log ``username`` in upstream with ``password``: fires with its `UpstreamAccount`,
        or None if the upstream refuses the login; fails with `LoginUnavailable` if the
        upstream cannot answer it (an error of its: `upstream_error`)."""
        secret = password.decode("utf-8", "replace") if isinstance(password, bytes) else password
        return Deferred.fromCoroutine(self._authenticate(username, secret)).addErrback(_unavailable)

    async def _authenticate(self, username: str, password: str) -> ExchangeAccount | None:
        client = HTTPAPIClient(self.reactor, username, password, url=self.upstream, **self.client_options)
        # Logins are limited per address, as the quotes are: counted with the bridge's own.
        bridge_limits = client.limits = self.market_data.client.limits
        try:
            await client.login()
            upstream = await client.account()
        except LoginRefused as e:
            _log.info("upstream refused the login of {username}: {reason}", username=username, reason=e.reason)
            await client.close()
            return None
        except BaseException:
            await client.close().addErrback(lambda f: None)
            raise
        account = self.accounts.get(upstream.account_id)
        if account is None:
            path = None if self.state_dir is None else self.state_dir / f"account-{upstream.account_id}.json"
            state = BridgeState.load(upstream.account_id, path)
            account = UpstreamAccount(
                self.reactor, upstream.account_id, username, state,
                lambda account_id, payload: self.on_account(account_id, payload),
                poll_interval=self.poll_interval,
                on_state_lost=lambda why: self.on_state_lost(why),
            )
            # The account's limits, shared by all its logins' clients (`add_client`).
            client.limits = RateLimits(self.reactor, bridge_limits.limits, bridge_limits.max_queue)
            self.accounts[account.id] = account
        if account.broken is not None:
            await client.close().addErrback(lambda f: None)
            raise OSError(account.broken)  # the connection drops: it cannot be served
        try:
            # Answered only once the account's cursor is set: an order placed before it
            # could fill before it, and those fills would be taken for the account's past.
            await account.opened(client)
        except BaseException:
            await client.close().addErrback(lambda f: None)
            raise
        account.add_client(client)
        account.start()
        return account

    def authenticate_token(self, token: bytes) -> None:
        """None: the upstream has no login by token."""
        return None

    # -- requests ----------------------------------------------------------------------------

    def submit(self, account_id: int, payload: seto_pb2.Payload) -> str | None:
        """Hand an order request to its account (answered later, in its stream); what is
        wrong with a malformed one, for the server's protocol error."""
        error = request_error(payload)
        if error is not None:
            return error
        account = self.accounts.get(account_id)
        if account is None:
            _log.warn("ignoring a request of unknown account {id}", id=account_id)
            return None
        try:
            account.submit(payload)
        except Exception:
            _log.failure("the bridge failed on a request of {account}", account=account)
        return None

    def reject_order(self, account_id: int, payload: seto_pb2.Payload, reason: seto_pb2.OrderRejectedReason) -> None:
        """Answer an order_create over the session's throttle with order_rejected ``reason``."""
        account = self.accounts.get(account_id)
        if account is not None:
            account.reject(payload, reason)

    def session_failed(self, account_id: int) -> None:
        """A session died: its account cancels its orders if its settings say so."""
        account = self.accounts.get(account_id)
        if account is not None:
            account.session_failed()

    def account_messages_since(self, account_id: int, account_sequence: int) -> list[seto_pb2.Payload]:
        """The account's kept messages numbered after ``account_sequence``."""
        account = self.accounts.get(account_id)
        return [] if account is None else account.state.messages_since(account_sequence)

    def account_log_start(self, account_id: int) -> int:
        """The oldest account sequence kept."""
        account = self.accounts.get(account_id)
        return 1 if account is None else account.state.log_start()

    def has_work(self, account_id: int) -> bool:
        """False: the bridge answers each request in one piece."""
        return False

    def continue_work(self, account_id: int) -> bool:
        """False: nothing is left to produce."""
        return False

    # -- market data -------------------------------------------------------------------------

    def market_quotes(self, market_id: int) -> seto_pb2.Payload:
        """The market's snapshot as last polled (empty before the first poll), its changes
        to follow as they are polled."""
        return self.market_data.snapshot(market_id)

    def lookup_event_markets(self, event_id: int) -> Deferred[list[int]]:
        """The event's markets, from the upstream's catalogue (`IEventLookup
        <txsmarkets.exchange.interfaces.IEventLookup>`: the server subscribes an
        event_subscribe's session to them when they come)."""
        return self.market_data.lookup_event(event_id)

    def event_markets(self, event_id: int) -> list[int]:
        """The event's markets as last looked up ([] before): an event_unsubscribe's."""
        return self.market_data.event_markets(event_id)

    # -- the status --------------------------------------------------------------------------

    def figures(self) -> BridgeFigures:
        """What polling costs now (`BridgeFigures`): the accounts (and how many have lost
        the upstream), the activity polls and quotes rounds made so far, the executions read
        from the last executed prices, the market data's
        age (since its last poll, and from request to downstream: p50, p99), and each
        endpoint's requests in the last minute against its limit, with the 429s."""
        accounts = list(self.accounts.values())
        data = self.market_data
        endpoints = [ScopedEndpoint("bridge", figures) for figures in data.client.limits.figures()]
        for account in accounts:
            if account.clients:
                scope = f"account {account.id}"
                endpoints.extend(ScopedEndpoint(scope, figures) for figures in account.client.limits.figures())
        return BridgeFigures(
            accounts=len(accounts),
            lost=sum(1 for account in accounts if account.lost),
            activity_polls=sum(account.polls for account in accounts),
            quotes_rounds=data.rounds,
            request_interval=data.request_interval,
            executions=data.executions,
            last_poll_age=None if data.last_poll is None else self.reactor.seconds() - data.last_poll,
            age_p50=data.ages.percentile(50),
            age_p99=data.ages.percentile(99),
            published=data.ages.count,
            endpoints=endpoints,
        )

    def status(self) -> str:
        """One line on what polling costs now (`figures`), for the log: e.g. ``bridge: 1
        accounts (0 with the upstream lost), 120 activity polls, 98 quotes rounds every 1.2 s
        or more, 4 executions read, market data 0.4 s old, its age from request to downstream p50 3 ms p99 12
        ms; requests in the last minute (against the limit): bridge: quotes 49/50, markets 6;
        account 7: activity 60; 429s 0``."""
        return self.figures().status()

    # -- the end -----------------------------------------------------------------------------

    def stop(self) -> Deferred[None]:
        """Stop polling and log every upstream session out; fires when done."""
        stopping = [account.stop() for account in self.accounts.values()]
        stopping.append(self.market_data.stop())
        return DeferredList(stopping, consumeErrors=True).addCallback(lambda _: None)
