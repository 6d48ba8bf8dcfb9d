"""Payloads serialised once and numbered as bytes: how the exchange sends its market data.

The exchange builds each contract_quotes once and sends it to every subscriber, each with
a seq of its own. `contract_quotes` writes the payload's bytes directly, the very bytes
``seto.Payload.SerializeToString`` gives (the fields in number order), *unnumbered*: its
eto_payload holds only ``seq: 0``. `with_seq` gives the bytes of the same payload numbered
``seq`` without parsing it: the seq is the eto_payload's one field, so numbering is
splicing its varint in (the session's `SequenceState.stamp_encoded
<txsmarkets.session.sequencer.SequenceState.stamp_encoded>`); `frame_with_seq` gives them
framed for the wire as well, in one go.
"""

from __future__ import annotations

from collections.abc import Sequence

from txsmarkets.wire import seto_pb2

__all__ = ["contract_quotes", "execution", "frame_with_seq", "unnumbered", "varint", "with_seq"]

_BYTE = [bytes((value,)) for value in range(256)]


def varint(value: int) -> bytes:
    """``value`` (0 or more) as a protobuf varint."""
    # Unrolled for the lengths of prices and most quantities: this runs for every number of
    # every level of the market data.
    if value < 0x80:
        return _BYTE[value]
    if value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0x200000:
        return bytes(((value & 0x7F) | 0x80, ((value >> 7) & 0x7F) | 0x80, value >> 14))
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def unnumbered(kind: int, field: int, body: bytes) -> bytes:
    """The bytes of a ``seto.Payload`` of type ``kind`` (below 128) whose body, the
    serialised message ``body``, is its field number ``field`` (below 16), unnumbered."""
    return b"\x08" + _BYTE[kind] + b"\x12\x02\x08\x00" + _BYTE[field << 3 | 2] + varint(len(body)) + body


def with_seq(data: bytes, seq: int) -> bytes:
    """The bytes of ``data`` (an unnumbered payload, as `unnumbered` makes) numbered ``seq``:
    what ``SerializeToString`` gives once its ``eto_payload.seq`` is set to ``seq``."""
    # data: 08 <type> | 12 02 08 00 | the body's field. The seq's varint in line for up to
    # 2,097,151 messages a session: this runs for every message sent.
    if seq < 0x80:
        return data[:2] + b"\x12\x02\x08" + _BYTE[seq] + data[6:]
    if seq < 0x4000:
        return data[:2] + b"\x12\x03\x08" + bytes(((seq & 0x7F) | 0x80, seq >> 7)) + data[6:]
    if seq < 0x200000:
        return data[:2] + b"\x12\x04\x08" + bytes(((seq & 0x7F) | 0x80, ((seq >> 7) & 0x7F) | 0x80, seq >> 14)) + data[6:]
    number = varint(seq)
    return data[:2] + b"\x12" + _BYTE[len(number) + 1] + b"\x08" + number + data[6:]


def frame_with_seq(data: bytes, seq: int) -> bytes:
    """The frame of ``with_seq(data, seq)`` on the Smarkets wire (`txsmarkets.wire.framing`):
    its ULEB128 length, then its bytes; made in one go, for the send path of market data."""
    # Never padded: a payload `unnumbered` makes has 8 bytes at least, over MIN_FRAME_SIZE.
    # A frame under 128 bytes (a contract_quotes of a few changes) with a seq of up to three
    # bytes in line, the header and the seq with it in one bytes: this runs for every
    # message of the market data sent.
    size = len(data)
    if seq < 0x80:
        if size < 0x80:
            return bytes((size, data[0], data[1], 0x12, 0x02, 0x08, seq)) + data[6:]
    elif seq < 0x4000:
        size += 1
        if size < 0x80:
            return bytes((size, data[0], data[1], 0x12, 0x03, 0x08, (seq & 0x7F) | 0x80, seq >> 7)) + data[6:]
    elif seq < 0x200000:
        size += 2
        if size < 0x80:
            head = (size, data[0], data[1], 0x12, 0x04, 0x08, (seq & 0x7F) | 0x80, ((seq >> 7) & 0x7F) | 0x80, seq >> 14)
            return bytes(head) + data[6:]
    numbered = with_seq(data, seq)
    # The ULEB128 length is the protobuf varint of it.
    return varint(len(numbered)) + numbered


def execution(price: int, quantity: int, liquidity: int, microseconds: int) -> bytes:
    """A ``seto.Execution``, serialised with its length before it (as a field's value)."""
    body = (
        b"\x08" + varint(price) + b"\x10" + varint(quantity) + b"\x18" + varint(liquidity) + b"\x20" + varint(microseconds)
    )
    return _BYTE[len(body)] + body


# What `unnumbered` puts before a contract_quotes' length and body.
_CONTRACT_QUOTES_HEAD = unnumbered(
    seto_pb2.PAYLOAD_CONTRACT_QUOTES, seto_pb2.Payload.DESCRIPTOR.fields_by_name["contract_quotes"].number, b""
)[:-1]


# A Quote's bytes up to its quantity, by price, for bids and for offers: the field's tag
# and length (for a quantity of one, two and three bytes), the price and the quantity's tag;
# and the price and the quantity's tag alone. A ladder has a few hundred prices.
_BID_HEADS: dict[int, tuple[bytes, bytes, bytes, bytes]] = {}
_OFFER_HEADS: dict[int, tuple[bytes, bytes, bytes, bytes]] = {}
_PRICES_KEPT = 4096
# A contract's ids as its contract_quotes end, by contract id: (market id, bytes).
_IDS: dict[int, tuple[int, bytes]] = {}
_IDS_KEPT = 65536


def _quote_heads(tag: bytes, price: int) -> tuple[bytes, bytes, bytes, bytes]:
    quote = b"\x08" + varint(price) + b"\x10"
    return (
        tag + _BYTE[len(quote) + 1] + quote,
        tag + _BYTE[len(quote) + 2] + quote,
        tag + _BYTE[len(quote) + 3] + quote,
        quote,
    )


def contract_quotes(
    market_id: int,
    contract_id: int,
    bids: Sequence[tuple[int, int]],
    offers: Sequence[tuple[int, int]],
    executions: Sequence[bytes] | None,
    last_execution: bytes | None,
) -> bytes:
    """An unnumbered contract_quotes payload: ``bids`` and ``offers`` as ``(price,
    quantity)``, ``executions`` and ``last_execution`` as `execution` made them."""
    if not executions and len(bids) + len(offers) == 1:
        # Nearly every payload changes one level and trades nothing: made without the loops.
        if bids:
            price, quantity = bids[0]
            quote = _quote(b"\x1a", _BID_HEADS, price, quantity)
        else:
            price, quantity = offers[0]
            quote = _quote(b"\x22", _OFFER_HEADS, price, quantity)
        if last_execution is None:
            body = quote + _ids(market_id, contract_id)
        else:
            body = b"".join((quote, b"\x32", last_execution, _ids(market_id, contract_id)))
    else:
        parts: list[bytes] = []
        add = parts.append
        for price, quantity in bids:
            add(_quote(b"\x1a", _BID_HEADS, price, quantity))
        for price, quantity in offers:
            add(_quote(b"\x22", _OFFER_HEADS, price, quantity))
        if executions:
            for trade in executions:
                add(b"\x2a")
                add(trade)
        if last_execution is not None:
            add(b"\x32")
            add(last_execution)
        add(_ids(market_id, contract_id))
        body = b"".join(parts)
    size = len(body)
    return _CONTRACT_QUOTES_HEAD + (_BYTE[size] if size < 0x80 else varint(size)) + body


def _ids(market_id: int, contract_id: int) -> bytes:
    """The market and contract ids' fields, as a contract_quotes ends."""
    ids = _IDS.get(contract_id)
    if ids is None or ids[0] != market_id:
        ids = (market_id, b"\x48" + varint(market_id) + b"\x50" + varint(contract_id))
        if len(_IDS) < _IDS_KEPT:
            _IDS[contract_id] = ids
    return ids[1]


def _quote(tag: bytes, by_price: dict[int, tuple[bytes, bytes, bytes, bytes]], price: int, quantity: int) -> bytes:
    """A level as a contract_quotes' field ``tag`` (bids' or offers') holds it: a Quote of
    ``price`` and ``quantity``, with its tag and length."""
    heads = by_price.get(price)
    if heads is None:
        heads = _quote_heads(tag, price)
        if len(by_price) < _PRICES_KEPT:
            by_price[price] = heads
    # The usual sizes of a quantity in line: this runs for every level.
    if quantity < 0x80:
        return heads[0] + _BYTE[quantity]
    if quantity < 0x4000:
        return heads[1] + bytes(((quantity & 0x7F) | 0x80, quantity >> 7))
    if quantity < 0x200000:
        return heads[2] + bytes(((quantity & 0x7F) | 0x80, ((quantity >> 7) & 0x7F) | 0x80, quantity >> 14))
    quote = heads[3] + varint(quantity)
    return tag + _BYTE[len(quote)] + quote
