"""twistd plugin: ``twistd smarkets`` runs a Smarkets streaming session as a service."""

from __future__ import annotations

from twisted.application.service import ServiceMaker

smarkets = ServiceMaker(
    "Smarkets streaming session",
    "txsmarkets.daemon.tap",
    "Log in to the Smarkets streaming API and stay logged in, running a strategy.",
    "smarkets",
)
