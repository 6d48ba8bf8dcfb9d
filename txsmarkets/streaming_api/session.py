"""The 9.3 ``smarkets.streaming_api.session`` module: `Session`, `SessionSettings` and `Frame`.

``Session(settings, inseq=1, outseq=1, account_sequence=None)`` and
``SessionSettings(username, password, ...)`` take 9.3's arguments; the session connects
through Twisted (give ``reactor=`` to use another than the global one) rather than a
blocking socket, so 9.3's ``SessionSocket``, ``next_frame`` and ``read`` have no
counterpart: see the porting guide, ``docs/guides/porting.rst``. Both are `txsmarkets.client`'s.
`Frame` is what this package's `StreamingAPIClient` hands its handlers, as 9.3 did.
"""

from __future__ import annotations

from typing import Any

from txsmarkets.client.lifecycle import SessionState
from txsmarkets.client.session import Session
from txsmarkets.client.settings import SessionSettings
from txsmarkets.wire import seto_pb2
from txsmarkets.wire.messages import message_name

__all__ = ["Frame", "Session", "SessionSettings", "SessionState"]


class Frame:
    """A received message as 9.3 handed it to its handlers: ``protobuf`` is the seto payload.

    A frame also reads as that payload (``frame.order_accepted.order_id``,
    ``frame.eto_payload.seq``, ``text_format.MessageToString(frame)``, ``frame == payload``),
    so a 9.3 handler that took the payload itself keeps working; what needs a protobuf
    message proper (``other.CopyFrom(...)``, ``isinstance``) takes ``frame.protobuf``.
    """

    __slots__ = ("protobuf",)

    def __init__(self, protobuf: seto_pb2.Payload) -> None:
        self.protobuf = protobuf

    def __getattr__(self, name: str) -> Any:
        # Called only for what a frame lacks: the payload's fields and methods. A frame not
        # yet given its payload (being copied, say) has none to lend.
        if name == "protobuf":
            raise AttributeError(name)
        return getattr(self.protobuf, name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Frame):
            other = other.protobuf
        return bool(self.protobuf == other)

    # Mutable, as the payload is: unhashable like it.
    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        return str(self.protobuf)

    def __repr__(self) -> str:
        return f"<Frame {message_name(self.protobuf)} seq {self.protobuf.eto_payload.seq}>"
