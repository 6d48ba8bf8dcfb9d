"""The second factor of an account's HTTP logins: a TOTP secret (RFC 6238) or a fixed code.

A catalogue account may name one (see `txsmarkets.exchange.catalogue`): its HTTP login then
answers ``factor: totp`` and the session is only usable once ``POST /v3/sessions/verify/``
has given a code that `SecondFactor.check` accepts. A TOTP code is the six-digit HOTP
(RFC 4226, HMAC-SHA1) of the 30-second step of the time, and the steps either side are
accepted too, for clocks a little apart. A fixed code is for tests that need no clock.
Streaming logins have no second factor.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

__all__ = ["TOTP_DIGITS", "TOTP_STEP", "SecondFactor", "totp"]

#: Seconds a TOTP code stands for.
TOTP_STEP = 30
#: Digits of a TOTP code.
TOTP_DIGITS = 6


def _key(secret: str) -> bytes:
    """The key of a base32 secret (as authenticator apps show it: any case, spaces and
    missing padding allowed); ValueError if it is not base32."""
    text = secret.replace(" ", "").upper()
    text += "=" * (-len(text) % 8)
    try:
        key = base64.b32decode(text)
    except (binascii.Error, ValueError):
        raise ValueError("a TOTP secret must be base32") from None
    if not key:
        raise ValueError("a TOTP secret must not be empty")
    return key


def _hotp(key: bytes, counter: int) -> str:
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**TOTP_DIGITS:0{TOTP_DIGITS}d}"


def totp(secret: str, at: float) -> str:
    """The TOTP code of base32 ``secret`` at POSIX time ``at``; ValueError for a secret
    that is not base32."""
    return _hotp(_key(secret), int(at // TOTP_STEP))


class SecondFactor:
    """What an account's second factor accepts; the secret or code is never shown."""

    __slots__ = ("_key", "_code_digest")

    def __init__(self, key: bytes | None, code_digest: bytes | None) -> None:
        self._key = key
        self._code_digest = code_digest

    @classmethod
    def from_totp_secret(cls, secret: str) -> SecondFactor:
        """A TOTP second factor; ValueError for a secret that is not base32."""
        return cls(_key(secret), None)

    @classmethod
    def from_code(cls, code: str) -> SecondFactor:
        """A second factor that accepts one fixed code, at any time."""
        return cls(None, hashlib.sha256(code.encode("utf-8")).digest())

    def check(self, code: str, now: float) -> bool:
        """Whether ``code`` is right at POSIX time ``now``, compared in constant time."""
        if self._code_digest is not None:
            digest = hashlib.sha256(code.encode("utf-8")).digest()
            return hmac.compare_digest(digest, self._code_digest)
        assert self._key is not None
        step = int(now // TOTP_STEP)
        right = False
        for counter in (step - 1, step, step + 1):
            # No early exit: each candidate costs the same whichever one matches.
            right |= hmac.compare_digest(_hotp(self._key, counter), code)
        return right

    def __repr__(self) -> str:
        return "<SecondFactor (hidden)>"
