"""What polling costs, in figures: the market data's age and each endpoint's request rate.

`Ages` keeps the last ages of the market data handed downstream (`BridgeMarketData`
adds one a payload); `BridgeFigures` is everything the status line
(`BridgeEngine.status <txsmarkets.bridge.engine.BridgeEngine.status>`) and the metrics
(`txsmarkets.bridge.metrics`) say, read at one moment (`BridgeEngine.figures`). The requests
themselves are counted by the HTTP client's rate limits (`txsmarkets.http_api.limits`), the
one place they are counted; this module only reads them.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from txsmarkets.http_api.limits import EndpointFigures

__all__ = ["AGES_KEPT", "Ages", "BridgeFigures", "ScopedEndpoint"]

#: How many of the last ages `Ages` keeps for its percentiles.
AGES_KEPT = 1000


class Ages:
    """The last ``size`` ages, in seconds, of what was handed downstream: `add` one,
    `percentile` of those kept; ``count`` is every one added."""

    def __init__(self, size: int = AGES_KEPT) -> None:
        self._kept: deque[float] = deque(maxlen=size)
        #: Every age added, kept or not.
        self.count = 0

    def add(self, seconds: float) -> None:
        """Add one age (seconds, 0 or more)."""
        self._kept.append(seconds)
        self.count += 1

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0 to 100, nearest rank) of the ages kept; None if none."""
        if not self._kept:
            return None
        ordered = sorted(self._kept)
        rank = math.ceil(q / 100 * len(ordered)) - 1
        return ordered[max(0, min(len(ordered) - 1, rank))]


@dataclass(frozen=True)
class ScopedEndpoint:
    """An endpoint's figures (`EndpointFigures`) and whose rate limits they are of:
    ``scope`` ``"bridge"`` (what the bridge asks as itself: quotes, the catalogue, logins,
    limited per address) or ``"account <id>"`` (an upstream account's orders and activity,
    limited per account)."""

    scope: str
    figures: EndpointFigures


@dataclass(frozen=True)
class BridgeFigures:
    """The bridge's figures at one moment (`BridgeEngine.figures`).

    ``accounts``/``lost``: upstream accounts, and those whose upstream is lost;
    ``activity_polls``: activity polls made; ``quotes_rounds``: rounds of quotes requests,
    one every ``request_interval`` seconds or more; ``executions``: trades read from the
    last executed prices and told downstream; ``last_poll_age``: seconds since the
    last quotes answer (None before one); ``age_p50``/``age_p99``: the market data's age
    when handed downstream, from its quotes request to the hand-over (seconds, None before
    one), over the last `AGES_KEPT`; ``published``: market data payloads handed downstream;
    ``endpoints``: each endpoint's requests against its limit."""

    accounts: int
    lost: int
    activity_polls: int
    quotes_rounds: int
    request_interval: float
    executions: int
    last_poll_age: float | None
    age_p50: float | None
    age_p99: float | None
    published: int
    endpoints: list[ScopedEndpoint] = field(default_factory=list)

    @property
    def rate_limited(self) -> int:
        """429s the upstream answered, every endpoint together (0: anything else is a bug)."""
        return sum(e.figures.rate_limited for e in self.endpoints)

    def status(self) -> str:
        """The status line (see the bridge guide, "What polling costs")."""
        data = "none" if self.last_poll_age is None else f"{self.last_poll_age:.1f} s old"
        ages = "none handed downstream"
        if self.age_p50 is not None and self.age_p99 is not None:
            ages = f"p50 {self.age_p50 * 1000:.0f} ms p99 {self.age_p99 * 1000:.0f} ms"
        return (
            f"bridge: {self.accounts} accounts ({self.lost} with the upstream lost), "
            f"{self.activity_polls} activity polls, "
            f"{self.quotes_rounds} quotes rounds every {self.request_interval:.1f} s or more, "
            f"{self.executions} executions read, market data {data}, "
            f"its age from request to downstream {ages}; "
            f"requests in the last minute (against the limit): {self._rates() or 'none'}; "
            f"429s {self.rate_limited}"
        )

    def _rates(self) -> str:
        scopes: dict[str, list[str]] = {}
        for scoped in self.endpoints:
            figures = scoped.figures
            if not figures.requests:
                continue
            rate = f"{figures.endpoint} {figures.last_minute}"
            if figures.per_minute is not None:
                rate += f"/{figures.per_minute:g}"
            scopes.setdefault(scoped.scope, []).append(rate)
        return "; ".join(f"{scope}: {', '.join(rates)}" for scope, rates in scopes.items())
