"""Names and builders of streaming API messages.

A message's name follows the original client: ``eto.<type>`` for session messages
(``eto.login_response``) and ``seto.<type>`` for the rest (``seto.order_accepted``), the
payload type's enum name without ``PAYLOAD_``, lower-cased.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from google.protobuf import descriptor_pb2, message_factory

from txsmarkets.wire import eto_pb2, seto_pb2

__all__ = [
    "ACCOUNT_TYPES",
    "ALL_NAMES",
    "MAX_SEQ",
    "bad_text",
    "account_sequence",
    "ETO_NAMES",
    "NO_REPLAY",
    "SETO_FIELDS",
    "SETO_NAMES",
    "eto_message",
    "message_name",
    "new_payload",
    "parse_frames",
]


def _names(enum: object, prefix: str) -> dict[int, str]:
    return {
        value.number: prefix + value.name[len("PAYLOAD_") :].lower()
        for value in enum.DESCRIPTOR.values  # type: ignore[attr-defined]
    }


#: eto payload type -> handler name, e.g. 5 -> "eto.heartbeat".
ETO_NAMES: dict[int, str] = _names(eto_pb2.PayloadType, "eto.")
#: seto payload type -> handler name, e.g. 5 -> "seto.order_accepted".
SETO_NAMES: dict[int, str] = _names(seto_pb2.PayloadType, "seto.")
del SETO_NAMES[seto_pb2.PAYLOAD_ETO]
#: seto payload type -> the name of the Payload field holding its body.
SETO_FIELDS: dict[int, str] = {number: name[len("seto.") :] for number, name in SETO_NAMES.items()}
#: Every name a handler may be registered for.
ALL_NAMES: frozenset[str] = frozenset(ETO_NAMES.values()) | frozenset(SETO_NAMES.values())

#: Session messages that make no sense twice: a replay sends a gapfill in their place. A
#: login response is one of them, as the protocol reference says: a peer that applied its
#: ``reset`` again would number its messages backwards.
NO_REPLAY: frozenset[int] = frozenset(
    {
        eto_pb2.PAYLOAD_LOGIN,
        eto_pb2.PAYLOAD_LOGIN_RESPONSE,
        eto_pb2.PAYLOAD_REPLAY,
        eto_pb2.PAYLOAD_HEARTBEAT,
        eto_pb2.PAYLOAD_PING,
        eto_pb2.PAYLOAD_PONG,
    }
)


#: seto types whose bodies carry ``account_sequence_64``: the account stream.
def _body_fields(name: str) -> Any:
    body = seto_pb2.Payload.DESCRIPTOR.fields_by_name[name].message_type
    assert body is not None, name
    return body.fields_by_name


ACCOUNT_TYPES: frozenset[int] = frozenset(
    number for number, name in SETO_FIELDS.items() if "account_sequence_64" in _body_fields(name)
)


def account_sequence(payload: seto_pb2.Payload) -> int | None:
    """The ``account_sequence_64`` a payload carries, or None."""
    if payload.type not in ACCOUNT_TYPES:
        return None
    message = getattr(payload, SETO_FIELDS[payload.type])
    if message.HasField("account_sequence_64"):
        return message.account_sequence_64
    return None


#: The largest seq either side accepts: a peer that claims more is lying or broken, and
#: numbering on from it would overflow the uint64 on the wire.
MAX_SEQ = 2**63


def bad_text(message: Any) -> bool:
    """Whether a string field of ``message`` (or of a message inside it) is not UTF-8.

    The proto2 runtime hands such a field over as bytes instead of refusing the frame;
    copying it into an answer would then fail.
    """
    for field, value in message.ListFields():
        if field.type == field.TYPE_STRING:
            values = value if field.is_repeated else (value,)
            if any(isinstance(v, bytes) for v in values):
                return True
        elif field.type == field.TYPE_MESSAGE:
            values = value if field.is_repeated else (value,)
            if any(bad_text(v) for v in values):
                return True
    return False


def message_name(payload: seto_pb2.Payload) -> str:
    """The handler name of ``payload``; ``seto.unknown`` for a type this schema lacks."""
    kind = payload.type
    if kind == seto_pb2.PAYLOAD_ETO:
        return ETO_NAMES.get(payload.eto_payload.type, "eto.unknown")
    return SETO_NAMES.get(kind, "seto.unknown")


def new_payload(kind: int) -> seto_pb2.Payload:
    """An empty seto payload of type ``kind`` with its eto payload present (seq 0: unstamped)."""
    payload = seto_pb2.Payload(type=cast("seto_pb2.PayloadType", kind))
    payload.eto_payload.seq = 0
    return payload


def eto_message(kind: int, **fields: object) -> seto_pb2.Payload:
    """A session message of eto type ``kind``; ``fields`` set the eto payload's body fields.

    ``eto_message(eto_pb2.PAYLOAD_REPLAY, replay=eto_pb2.Replay(seq=4))``
    """
    payload = new_payload(seto_pb2.PAYLOAD_ETO)
    payload.eto_payload.type = cast("eto_pb2.PayloadType", kind)
    for name, value in fields.items():
        getattr(payload.eto_payload, name).CopyFrom(value)
    return payload


def _batch_class() -> Any:
    # A message of one repeated seto.Payload, field 1: not on the wire, only a way to have
    # protobuf parse many frames in one call (see parse_frames).
    fields = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="txsmarkets/batch.proto",
        package="txsmarkets.internal",
        dependency=[seto_pb2.DESCRIPTOR.name],
    )
    proto.message_type.add(name="Batch").field.add(
        name="payloads",
        number=1,
        type=fields.TYPE_MESSAGE,
        label=fields.LABEL_REPEATED,
        type_name="." + seto_pb2.Payload.DESCRIPTOR.full_name,
    )
    pool = seto_pb2.DESCRIPTOR.pool
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("txsmarkets.internal.Batch"))


_parse_batch = _batch_class().FromString


def parse_frames(frames: list[bytes]) -> Sequence[seto_pb2.Payload]:
    """Parse whole frames, each with its header (as `txsmarkets.wire.framing.split_frames`
    gives them), into their payloads in one call.

    A frame's header is the protobuf varint of its payload's length, so a frame preceded
    by the tag of field 1 is that field's value in a ``Batch`` message: one parse instead
    of one a frame. Raises `google.protobuf.message.DecodeError` if any payload is invalid.
    """
    if not frames:
        return ()
    return _parse_batch(b"\n" + b"\n".join(frames)).payloads
