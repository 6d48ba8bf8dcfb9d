"""twistd plugin: ``twistd smarkets-exchange`` serves the embedded Smarkets exchange."""

from __future__ import annotations

from twisted.application.service import ServiceMaker

smarkets_exchange = ServiceMaker(
    "Smarkets embedded exchange",
    "txsmarkets.exchange.tap",
    "A Smarkets streaming API exchange with a matching engine, for tests and demos.",
    "smarkets-exchange",
)
