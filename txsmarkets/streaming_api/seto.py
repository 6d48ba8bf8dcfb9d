"""The 9.3 ``smarkets.streaming_api.seto`` module: the generated seto protobuf module's names
(``Payload``, ``PAYLOAD_ORDER_CREATE``, ``SIDE_BUY`` ...), from ``txsmarkets.wire.seto_pb2``."""

from txsmarkets.wire.seto_pb2 import *  # noqa: F401,F403 - 9.3's module was this very import
