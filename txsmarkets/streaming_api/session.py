"""The 9.3 ``smarkets.streaming_api.session`` module: `Session` and `SessionSettings`.

``Session(settings, inseq=1, outseq=1, account_sequence=None)`` and
``SessionSettings(username, password, ...)`` take 9.3's arguments; the session connects
through Twisted (give ``reactor=`` to use another than the global one) rather than a
blocking socket, so 9.3's ``SessionSocket``, ``next_frame`` and ``read`` have no
counterpart: see the porting guide, ``docs/guides/porting.rst``. Both are `txsmarkets.client`'s.
"""

from txsmarkets.client.lifecycle import SessionState
from txsmarkets.client.session import Session
from txsmarkets.client.settings import SessionSettings

__all__ = ["Session", "SessionSettings", "SessionState"]
