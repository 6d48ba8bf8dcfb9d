"""The 9.3 client's ``smarkets.streaming_api`` package, under its module names.

Porting 9.3 code starts with renaming the top-level package: ``smarkets.streaming_api.api``
becomes ``txsmarkets.streaming_api.api`` and so on for `api <txsmarkets.streaming_api.api>`,
`session <txsmarkets.streaming_api.session>`, `client <txsmarkets.streaming_api.client>`,
`framing`, `exceptions`, `eto` and `seto`. Each module re-exports what this package does
in its place (the names are the same objects as in `txsmarkets.client`,
`txsmarkets.exceptions`, `txsmarkets.framing` and `txsmarkets.wire`), so 9.3 code and
code written for txsmarkets can be mixed. The exception is `StreamingAPIClient`: a
subclass of txsmarkets' own that calls handlers as 9.3 did (positionally, with a `Frame`
whose ``.protobuf`` is the payload) and whose ``read()`` raises `BlockingCallError`. What
still changes (the blocking calls become Deferreds) is listed in the porting guide,
``docs/guides/porting.rst``.
"""
