"""Sending what a transport holds now, rather than on the reactor's next turn.

Twisted's socket transports buffer each write and send it once the reactor next finds the
socket writable: an extra turn of the reactor between a request's arrival and its answer
leaving, a good part of a loopback round trip. The session protocols call `send_now` when
they have written while handling a read, so the answer leaves within that read.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.abstract import FileDescriptor

__all__ = ["send_now"]


def send_now(transport: Any) -> None:
    """Send what ``transport`` holds, if it is a socket transport that can do so safely.

    The socket is the Twisted file descriptor under ``transport`` (TCP itself, or the TCP
    connection under the TLS layer that ``connectSSL`` adds). Nothing is done when any
    layer is closing (its last write ends the connection, which is the reactor's to
    handle), or when the socket has a producer that is paused or not a push producer
    (draining the buffer would call back into it). Anything else, a test double included,
    sends on the reactor's turn as before. What the socket does not take stays buffered,
    and the reactor sends it, or reports an error, as usual.
    """
    layer = transport
    while not isinstance(layer, FileDescriptor):
        if layer is None or getattr(layer, "disconnecting", False):
            return
        layer = getattr(layer, "transport", None)
    if layer.disconnecting or not layer.connected:
        return
    producer = layer.producer
    if producer is not None and not (layer.streamingProducer and not layer.producerPaused):
        return
    if layer.doWrite() is not None:
        # An error, or the end of the connection: the reactor's to handle, as if it had
        # found the socket writable itself.
        layer.startWriting()
