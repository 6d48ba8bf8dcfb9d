"""txsmarkets: a Twisted client, daemon and embedded exchange for the Smarkets streaming API.

The quickstart's names are here, imported on first use so that ``import txsmarkets`` stays
light: `connect <txsmarkets.client.connect.connect>`, `SessionSettings`, `OrderCreate`,
``BUY``, ``SELL``. Everything else lives in the sub-packages: `txsmarkets.client`,
`txsmarkets.exchange`, `txsmarkets.daemon`, and the layers under them (`txsmarkets.wire`,
`txsmarkets.session`, `txsmarkets.persistence`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0.dev0"

__all__ = ["BUY", "SELL", "OrderCreate", "SessionSettings", "__version__", "connect"]

if TYPE_CHECKING:
    from txsmarkets.client import BUY, SELL, OrderCreate, SessionSettings, connect

_LAZY = {
    "BUY": "txsmarkets.client.orders",
    "SELL": "txsmarkets.client.orders",
    "OrderCreate": "txsmarkets.client.orders",
    "SessionSettings": "txsmarkets.client.settings",
    "connect": "txsmarkets.client.connect",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'txsmarkets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
