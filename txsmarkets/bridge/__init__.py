"""The bridge: the streaming protocol downstream, Smarkets' HTTP API upstream.

Every client of the streaming protocol (txsmarkets' own, the 9.3 client) trades through it
on today's Smarkets, whose only way in is the HTTP API: the exchange's streaming server
(sessions, sequence numbers, heartbeats, resume, replay, throttling) stands in front of a
`BridgeEngine`, an `IExchangeEngine <txsmarkets.exchange.interfaces.IExchangeEngine>`
whose back end is an `HTTPAPIClient <txsmarkets.http_api.client.HTTPAPIClient>` per login.

Its modules, each with one job: `engine` (logins, and the engine's interface), `account`
(one upstream account: its orders and the activity polled into fills), `market_data`
(quotes and market states polled), `recording` (what is polled, kept as a recording),
`answers` (the messages), `reasons` (the HTTP errors as the protocol's reasons), `state`
(what is kept across a restart), `service` and `tap` (``twistd smarkets-bridge``),
`inprocess` (the bridge in the client's own process: `connect_http`). Only the daemon and
the twistd plugin import it.
"""

from __future__ import annotations

from txsmarkets.bridge.engine import BridgeEngine
from txsmarkets.bridge.inprocess import InProcessBridge, connect_http, stop_http
from txsmarkets.bridge.service import DEFAULT_ENDPOINT, RunningBridge, make_bridge, make_bridge_service, start_bridge

__all__ = [
    "BridgeEngine",
    "DEFAULT_ENDPOINT",
    "InProcessBridge",
    "RunningBridge",
    "connect_http",
    "make_bridge",
    "make_bridge_service",
    "start_bridge",
    "stop_http",
]
