"""Figures for Prometheus, served over twisted.web: what ``--metrics ENDPOINT`` of ``twistd
smarkets`` (`txsmarkets.daemon.metrics`) and of ``twistd smarkets-bridge``
(`txsmarkets.bridge.metrics`) share.

Needs the optional ``prometheus_client`` (``pip install -e '.[metrics]'`` in a clone of the
repository; `available` says whether it is there). The page is rendered in the reactor
thread (not prometheus_client's WSGI thread pool), so a collector reads its figures without
locks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import IListeningPort, IReactorTime
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["MetricsPage", "available", "serve_metrics"]


def available() -> bool:
    """Whether prometheus_client can be imported."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class MetricsPage(Resource):
    """Serves a registry in the Prometheus text format at every path."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return bytes(generate_latest(self.registry))


async def serve_metrics(reactor: IReactorTime, endpoint: str, collector: Any) -> IListeningPort:
    """Serve what ``collector`` (a prometheus_client collector: a ``collect()`` yielding
    metric families) collects on ``endpoint`` (a Twisted server endpoint string); the
    listening port. Fails as the endpoint's ``listen`` does (a port in use ...)."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    port: IListeningPort = await serverFromString(reactor, endpoint).listen(Site(MetricsPage(registry)))
    return port
