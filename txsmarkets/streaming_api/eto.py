"""The 9.3 ``smarkets.streaming_api.eto`` module: the generated eto protobuf module's names
(``Payload``, ``PAYLOAD_LOGIN_RESPONSE``, ``LOGOUT_NONE`` ...), from ``txsmarkets.wire.eto_pb2``."""

from txsmarkets.wire.eto_pb2 import *  # noqa: F401,F403 - 9.3's module was this very import
