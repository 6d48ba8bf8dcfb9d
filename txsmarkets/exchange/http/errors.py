"""The HTTP API's errors: an `ApiError` raised anywhere in a route becomes its answer.

Every error body has the document's shape, ``{"error_type": "UPPER_SNAKE", "data": ...}``,
``data`` being a sentence (a string) or an object (a 429's ``count``, ``expiry`` and
``limit``).
"""

from __future__ import annotations

from typing import Any, Mapping

__all__ = [
    "AUTH_REQUIRED",
    "REQUEST_TOO_LARGE",
    "REQUEST_VALIDATION_ERROR",
    "ApiError",
    "invalid",
]

REQUEST_VALIDATION_ERROR = "REQUEST_VALIDATION_ERROR"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
AUTH_REQUIRED = "AUTH_REQUIRED"


class ApiError(Exception):
    """An answer other than success: its status, ``error_type``, ``data`` and any headers
    to send with it (a 429's ``Retry-After``)."""

    def __init__(
        self,
        status: int,
        error_type: str,
        data: str | Mapping[str, Any] = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error_type}: {data}")
        self.status = status
        self.error_type = error_type
        self.data = data
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return {"error_type": self.error_type, "data": self.data}


def invalid(message: str) -> ApiError:
    """A 400 ``REQUEST_VALIDATION_ERROR`` saying ``message``: a malformed body, or an
    invalid value of a known parameter."""
    return ApiError(400, REQUEST_VALIDATION_ERROR, message)
