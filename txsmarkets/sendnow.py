"""Sending what a transport holds now, rather than on the reactor's next turn.

Twisted's socket transports buffer each write and send it once the reactor next finds the
socket writable: an extra turn of the reactor between a request's arrival and its answer
leaving, a good part of a loopback round trip. The session protocols call `send_now` when
they have written while handling a read, so the answer leaves within that read.
"""

from __future__ import annotations

from typing import Any

__all__ = ["send_now"]


def send_now(transport: Any) -> None:
    """Send what ``transport`` holds, if it is a socket transport that can do so safely.

    That is a Twisted file descriptor transport (TCP, or TLS started on TCP, as
    ``connectSSL`` does) that is not closing (its last write ends the connection, which is
    the reactor's to handle) and whose producer, if any, is a push producer that is not
    paused (so that draining the buffer does not call back into it). Anything else, a test
    double included, sends on the reactor's turn as before. What the socket does not take
    stays buffered, and the reactor sends it, or reports an error, as usual.
    """
    do_write = getattr(transport, "doWrite", None)
    if do_write is None or getattr(transport, "disconnecting", True):
        return
    producer = getattr(transport, "producer", None)
    if producer is not None and not (transport.streamingProducer and not transport.producerPaused):
        return
    do_write()
