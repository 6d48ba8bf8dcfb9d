"""twistd plugin: ``twistd smarkets-bridge`` serves the streaming protocol in front of
Smarkets' HTTP API."""

from __future__ import annotations

from twisted.application.service import ServiceMaker

smarkets_bridge = ServiceMaker(
    "Smarkets streaming-to-HTTP bridge",
    "txsmarkets.bridge.tap",
    "The Smarkets streaming protocol, served in front of Smarkets' HTTP API v3.",
    "smarkets-bridge",
)
