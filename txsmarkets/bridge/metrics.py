"""``--metrics ENDPOINT`` of ``twistd smarkets-bridge``: what polling costs, for Prometheus.

`BridgeCollector` reads `BridgeEngine.figures <txsmarkets.bridge.engine.BridgeEngine.figures>`
(the figures of the status line) at each scrape; `BridgeMetricsService` serves it as
`txsmarkets.metrics` serves any collector. The metrics (``scope`` is ``bridge`` for what the
bridge asks as itself, ``account <id>`` for an upstream account's requests):

- ``txsmarkets_bridge_accounts``, ``txsmarkets_bridge_accounts_lost``: upstream accounts,
  and those whose upstream is lost;
- ``txsmarkets_bridge_activity_polls_total``, ``txsmarkets_bridge_quotes_rounds_total``;
- ``txsmarkets_bridge_market_data_age_seconds{quantile="0.5"|"0.99"}``: the market data's
  age when handed downstream, from its quotes request (the last 1,000 payloads);
  ``txsmarkets_bridge_market_data_published_total``: payloads handed downstream;
  ``txsmarkets_bridge_market_data_last_poll_age_seconds``: since the last quotes answer;
- ``txsmarkets_bridge_requests_total{scope,endpoint}``: requests made upstream;
  ``txsmarkets_bridge_requests_last_minute{scope,endpoint}``: those of the last 60 s;
  ``txsmarkets_bridge_request_limit_per_minute{scope,endpoint}``: the endpoint's limit as
  requests a minute (limited endpoints only); ``txsmarkets_bridge_rate_limit_peak{scope,
  endpoint}`` and ``txsmarkets_bridge_rate_limit{scope,endpoint}``: the most of the limit
  ever in use, and the limit (requests in its period);
- ``txsmarkets_bridge_rate_limited_total{scope,endpoint}``: 429s from the upstream (0:
  anything else is a bug).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from twisted.application import service
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.logger import Logger

from txsmarkets.bridge.engine import BridgeEngine
from txsmarkets.metrics import serve_metrics

__all__ = ["BridgeCollector", "BridgeMetricsService"]

_log = Logger()


class BridgeCollector:
    """A prometheus_client collector of one bridge's figures (``engine``'s)."""

    def __init__(self, engine: BridgeEngine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        figures = self.engine.figures()
        yield GaugeMetricFamily("txsmarkets_bridge_accounts", "Upstream accounts logged in", value=figures.accounts)
        yield GaugeMetricFamily("txsmarkets_bridge_accounts_lost", "Accounts whose upstream is lost", value=figures.lost)
        yield CounterMetricFamily("txsmarkets_bridge_activity_polls", "Activity polls made", value=figures.activity_polls)
        yield CounterMetricFamily("txsmarkets_bridge_quotes_rounds", "Rounds of quotes requests made", value=figures.quotes_rounds)
        yield CounterMetricFamily(
            "txsmarkets_bridge_market_data_published", "Market data payloads handed downstream", value=figures.published
        )
        ages = GaugeMetricFamily(
            "txsmarkets_bridge_market_data_age_seconds",
            "Market data's age when handed downstream, from its quotes request (last 1,000)",
            labels=["quantile"],
        )
        for quantile, age in (("0.5", figures.age_p50), ("0.99", figures.age_p99)):
            if age is not None:
                ages.add_metric([quantile], age)
        yield ages
        if figures.last_poll_age is not None:
            yield GaugeMetricFamily(
                "txsmarkets_bridge_market_data_last_poll_age_seconds", "Seconds since the last quotes answer",
                value=figures.last_poll_age,
            )  # fmt: skip
        labels = ["scope", "endpoint"]
        families: dict[str, Any] = {
            "requests": CounterMetricFamily("txsmarkets_bridge_requests", "Requests made upstream", labels=labels),
            "last_minute": GaugeMetricFamily(
                "txsmarkets_bridge_requests_last_minute", "Requests made upstream in the last 60 s", labels=labels
            ),
            "per_minute": GaugeMetricFamily(
                "txsmarkets_bridge_request_limit_per_minute", "The endpoint's limit, as requests a minute", labels=labels
            ),
            "peak": GaugeMetricFamily(
                "txsmarkets_bridge_rate_limit_peak", "The most of the endpoint's limit ever in use", labels=labels
            ),
            "limit": GaugeMetricFamily(
                "txsmarkets_bridge_rate_limit", "The endpoint's limit: requests in its period", labels=labels
            ),
            "rate_limited": CounterMetricFamily(
                "txsmarkets_bridge_rate_limited", "429s from the upstream (anything but 0 is a bug)", labels=labels
            ),
        }
        for scoped in figures.endpoints:
            f, key = scoped.figures, [scoped.scope, scoped.figures.endpoint]
            families["requests"].add_metric(key, f.requests)
            families["last_minute"].add_metric(key, f.last_minute)
            families["rate_limited"].add_metric(key, f.rate_limited)
            if f.limit is not None and f.per_minute is not None:
                families["per_minute"].add_metric(key, f.per_minute)
                families["peak"].add_metric(key, f.peak)
                families["limit"].add_metric(key, f.limit)
        yield from families.values()


class BridgeMetricsService(service.Service):
    """Serves ``engine``'s figures (`BridgeCollector`) on ``endpoint`` while it runs. An
    endpoint that cannot be listened on is logged in one line and told to
    ``cannot_listen`` (the twistd plugin then exits with status 1)."""

    def __init__(self, reactor: IReactorTime, endpoint: str, engine: BridgeEngine) -> None:
        self.setName("metrics")
        self.reactor = reactor
        self.endpoint = endpoint
        self.engine = engine
        #: Called with a one-line reason when the endpoint cannot be listened on.
        self.cannot_listen: Callable[[str], None] = lambda why: None
        self._port: IListeningPort | None = None

    def startService(self) -> None:
        super().startService()
        Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        try:
            self._port = await serve_metrics(self.reactor, self.endpoint, BridgeCollector(self.engine))
        except Exception as e:
            why = f"cannot serve metrics on {self.endpoint!r}: {e}"
            _log.error("{why}", why=why)
            self.cannot_listen(why)

    def stopService(self) -> Deferred[None]:
        super().stopService()
        port, self._port = self._port, None
        return succeed(None) if port is None else maybeDeferred(port.stopListening).addCallback(lambda _: None)
