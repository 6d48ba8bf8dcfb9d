"""Reading a request's parameters strictly: a value of a known parameter that does not fit
is a 400 ``REQUEST_VALIDATION_ERROR`` naming it; unknown parameters are ignored.

Array parameters come as repeated keys (``state=new&state=live``); ``state[]=`` and
comma-separated values are taken too, as lenient as the working clients need. Ids in a path
are comma-separated, each a decimal string, and each route caps how many: past the cap
the answer is 414 ``REQUEST_TOO_LARGE`` (400 where the document gives the route no 414).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Mapping

from txsmarkets.exchange.http.errors import REQUEST_TOO_LARGE, ApiError, invalid

__all__ = ["Query", "id_list", "parse_id", "parse_datetime"]

# Longer numbers name nothing here (ids are at most 20 digits), and Python refuses to read
# very long ones: they are refused first.
_DIGITS = re.compile(r"[0-9]{1,30}\Z")
_INTEGER = re.compile(r"-?[0-9]{1,30}\Z")
_TRUE = ("true", "1")
_FALSE = ("false", "0")


def parse_id(text: str, name: str) -> int:
    """An id given as a decimal string; 400 otherwise."""
    if not _DIGITS.match(text):
        raise invalid(f"{name}: {text!r} is not an id (a decimal string)")
    return int(text)


def id_list(text: str, name: str, cap: int, too_large: int = 414) -> list[int]:
    """The comma-separated ids of a path, in order, each once; ``too_large`` (414, or 400
    where the route documents no 414) past ``cap`` of them."""
    ids = list(dict.fromkeys(parse_id(part, name) for part in text.split(",")))
    if len(ids) > cap:
        message = f"{name}: {len(ids)} ids, at most {cap} are allowed"
        if too_large == 414:
            raise ApiError(414, REQUEST_TOO_LARGE, message)
        raise invalid(message)
    return ids


def parse_datetime(text: str, name: str) -> datetime:
    """An ISO 8601 date and time, taken as UTC when it names no zone; 400 otherwise."""
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        # Not a date and time, or one that moved to UTC leaves the calendar (year 1 at +01:00).
        raise invalid(f"{name}: {text!r} is not an ISO 8601 date and time") from None


class Query:
    """The query string of a request, decoded, with typed getters that raise 400."""

    def __init__(self, args: Mapping[bytes, Sequence[bytes]]) -> None:
        self.values: dict[str, list[str]] = {}
        for key, values in args.items():
            try:
                name = key.decode("utf-8")
                decoded = [value.decode("utf-8") for value in values]
            except UnicodeDecodeError:
                raise invalid("the query string is not UTF-8") from None
            if name.endswith("[]"):
                name = name[:-2]
            self.values.setdefault(name, []).extend(decoded)

    def text(self, name: str) -> str | None:
        """The parameter's value (the last, if repeated), or None if absent."""
        values = self.values.get(name)
        return values[-1] if values else None

    def many(self, name: str) -> list[str]:
        """Every value of an array parameter, commas split, each once, in order."""
        found: dict[str, None] = {}
        for value in self.values.get(name, ()):
            for part in value.split(","):
                if part:
                    found[part] = None
        return list(found)

    def choices(self, name: str, allowed: Sequence[str]) -> list[str]:
        """`many`, each value one of ``allowed``."""
        values = self.many(name)
        for value in values:
            if value not in allowed:
                raise invalid(f"{name}: {value!r} is not one of the allowed values")
        return values

    def choice(self, name: str, allowed: Sequence[str], default: str | None = None) -> str | None:
        """The value, one of ``allowed``, or ``default`` if absent."""
        value = self.text(name)
        if value is None:
            return default
        if value not in allowed:
            raise invalid(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        return value

    def integer(self, name: str, low: int | None = None, high: int | None = None, default: int | None = None) -> int | None:
        """An integer in ``low..high``, or ``default`` if absent."""
        value = self.text(name)
        if value is None:
            return default
        if not _INTEGER.match(value):
            raise invalid(f"{name}: {value!r} is not an integer")
        number = int(value)
        if (low is not None and number < low) or (high is not None and number > high):
            raise invalid(f"{name}: {number} is not in {low}..{high}")
        return number

    def boolean(self, name: str, default: bool | None = None) -> bool | None:
        """``true`` or ``false`` (or 1 or 0), or ``default`` if absent."""
        value = self.text(name)
        if value is None:
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise invalid(f"{name}: {value!r} is not true or false")

    def ids(self, name: str) -> list[int]:
        """An array of ids."""
        return [parse_id(value, name) for value in self.many(name)]

    def an_id(self, name: str) -> int | None:
        """One id, or None if absent."""
        value = self.text(name)
        return None if value is None else parse_id(value, name)

    def moment(self, name: str) -> datetime | None:
        """A date and time, or None if absent."""
        value = self.text(name)
        return None if value is None else parse_datetime(value, name)

    def carried(self, dropped: Sequence[str]) -> list[tuple[str, str]]:
        """The parameters as ``(name, value)`` pairs without ``dropped``: what a next page
        repeats."""
        return [(name, value) for name, values in self.values.items() if name not in dropped for value in values]
