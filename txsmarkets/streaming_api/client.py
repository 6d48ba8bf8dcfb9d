"""The 9.3 ``smarkets.streaming_api.client`` module: `StreamingAPIClient`.

The client of `txsmarkets.client`: the 9.3 handler registry (``callbacks``,
``global_callback``, ``add_handler`` ...) with requests that return Deferreds.
"""

from txsmarkets.client.api import StreamingAPIClient

__all__ = ["StreamingAPIClient"]
