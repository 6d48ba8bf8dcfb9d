"""Bytes <-> payloads: ULEB128 framing and its receiver, payload names and builders, the
batch parse, and the generated ``eto``/``seto`` protobuf modules. Knows no session."""
