"""What the client sends: each operation's query parameters and how each is spelled, and
id lists cut under each endpoint's cap.

A parameter's value is checked against its kind before anything is sent (a ValueError names
the parameter); an array parameter repeats its key (``state=new&state=live``), as the API
reads it; an unknown parameter is refused (a TypeError), so that a misspelt filter is not
silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterable, Mapping

from txsmarkets.http_api.units import format_datetime, format_ids

__all__ = ["CAPS", "PARAMETERS", "encode_query", "id_chunks"]


#: How many ids one request may carry in its path, by operation: more get 414 from the API.
CAPS: dict[str, int] = {
    "markets_by_event": 50,
    "markets_count": 50,
    "competitors": 300,
    "event_states": 300,
    "contracts": 100,
    "last_executed_prices": 100,
    "quotes": 200,
    "volumes": 300,
    # Undocumented; the cap of the other market-id lists that give whole markets.
    "markets": 100,
}


def id_chunks(ids: Iterable[Any], cap: int) -> list[str]:
    """``ids`` as comma-separated path segments of at most ``cap`` ids each (duplicates
    dropped, order kept); ValueError for none, or one that is not an id."""
    formatted = format_ids(ids)
    return [",".join(formatted[i : i + cap]) for i in range(0, len(formatted), cap)]


def _scalar(kind: type, name: str, value: Any) -> str:
    if isinstance(value, kind) and not (isinstance(value, bool) and kind is int):
        return str(value)
    raise ValueError(f"{name} must be {kind.__name__}, not {value!r}")


def _bool(name: str, value: Any) -> list[str]:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, not {value!r}")
    return ["true" if value else "false"]


def _int(name: str, value: Any) -> list[str]:
    return [_scalar(int, name, value)]


def _str(name: str, value: Any) -> list[str]:
    return [_scalar(str, name, value)]


def _time(name: str, value: Any) -> list[str]:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be an aware datetime, not {value!r}")
    return [format_datetime(value)]


def _id(name: str, value: Any) -> list[str]:
    try:
        return format_ids([value])
    except ValueError:
        raise ValueError(f"{name} must be an id (an int of 0 or more), not {value!r}") from None


def _ids(name: str, value: Any) -> list[str]:
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    try:
        return format_ids(value)
    except (ValueError, TypeError):
        raise ValueError(f"{name} must be a list of ids (ints of 0 or more), not {value!r}") from None


def _strs(name: str, value: Any) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple, set, frozenset)) or not values:
        raise ValueError(f"{name} must be a string or a list of them, not {value!r}")
    return [_scalar(str, name, v) for v in values]


def _commas(name: str, value: Any) -> list[str]:
    # One parameter holding a comma-separated list (market_types).
    return [",".join(_strs(name, value))]


_Kind = Callable[[str, Any], list[str]]

_LISTING = {"include_hidden": _bool, "jurisdiction": _str}

#: Each operation's query parameters (the document's names) and their kinds.
PARAMETERS: dict[str, dict[str, _Kind]] = {
    "events": {
        "id": _ids,
        "state": _strs,
        "type": _strs,
        "type_domain": _strs,
        "type_scope": _strs,
        "with_new_type": _bool,
        "parent_id": _ids,
        "inplay_enabled": _bool,
        "start_datetime_min": _time,
        "start_datetime_max": _time,
        "last_modified_min": _time,
        "last_modified_max": _time,
        "sort": _str,
        "limit": _int,
        "pagination_last_id": _id,
        "pagination_last_start_datetime": _time,
        "pagination_last_display_order": _int,
        "pagination_last_name": _str,
        "platform": _str,
        **_LISTING,
    },
    "markets_by_event": {
        "sort": _str,
        "limit_by_event": _int,
        "popular": _bool,
        "market_types": _commas,
        **_LISTING,
    },
    "markets": {"with_volumes": _bool, **_LISTING},
    "markets_count": dict(_LISTING),
    "contracts": dict(_LISTING),
    "activity": {
        "timestamp_min": _time,
        "timestamp_max": _time,
        "limit": _int,
        "market_id": _ids,
        "order_id": _ids,
        "source": _strs,
        "sort": _str,
        "pagination_last_seq": _int,
        "pagination_last_subseq": _int,
        "event_info": _bool,
    },
    "orders": {
        "id": _ids,
        "market_id": _ids,
        "contract_id": _id,
        "side": _str,
        "state": _strs,
        "created_datetime_min": _time,
        "created_datetime_max": _time,
        "sequence_number_min": _int,
        "sequence_number_max": _int,
        "sort": _str,
        "limit": _int,
        "pagination_last_id": _id,
    },
    "fullcover_orders": {"states": _strs, "limit": _int, "pagination_last_id": _str},
}


def encode_query(operation: str, parameters: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``parameters`` (None values left out) as the (key, value) pairs of ``operation``'s
    query, an array's key repeated for each value.

    Raises TypeError for a parameter ``operation`` does not have, ValueError for a value
    not of its parameter's kind."""
    known = PARAMETERS.get(operation, {})
    pairs: list[tuple[str, str]] = []
    for name, value in parameters.items():
        kind = known.get(name)
        if kind is None:
            choices = ", ".join(sorted(known)) or "none"
            raise TypeError(f"{operation} has no parameter {name!r} (it has: {choices})")
        if value is not None:
            pairs.extend((name, text) for text in kind(name, value))
    return pairs
