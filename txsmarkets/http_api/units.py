"""The HTTP API's units, both ways, and the parsing of its JSON into the attrs models.

What the API sends, and what this module makes of it:

- ids (events, markets, contracts, orders, accounts) are decimal strings: Python ints, parsed
  from the digits (order ids exceed 2**53: a float would change them);
- prices are ints, basis points of implied probability (5000 is 50%, decimal odds 2.0);
  quantities are ints, ten-thousandths of the currency (the total pot, back stake plus lay
  liability);
- money is a string with two decimals ("-50.00"): a `Decimal`;
- the last executed price is a percent string ("23.45"): basis points (2345), like a quote's
  price;
- datetimes are ISO 8601 with or without a zone (none means UTC): aware UTC `datetime`.

JSON is read by `loads`: integers stay ints of any size and fractions become `Decimal`, so
no figure passes through a float. `structure` builds an attrs model from a JSON object by
its annotations; the `Annotated` aliases here (`Id`, `Money`, `Percent`, `Time`, `Day`)
name the unit of a field.
"""

from __future__ import annotations

import json
import re
import types
import typing
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Callable, Iterable, TypeVar, Union, overload

import attrs

from txsmarkets.exceptions import ParseError

__all__ = [
    "Day",
    "Id",
    "InvalidResponse",
    "Money",
    "Percent",
    "Rate",
    "Time",
    "Unit",
    "format_datetime",
    "format_ids",
    "loads",
    "parse_date",
    "parse_datetime",
    "parse_id",
    "parse_decimal",
    "parse_percent",
    "structure",
]

_T = TypeVar("_T")

_DIGITS = re.compile(r"[0-9]+\Z")
_PERCENT = re.compile(r"[0-9]+(\.[0-9]{1,2})?\Z")


class InvalidResponse(ParseError):
    """An answer that is not what the API documents (not JSON, a field missing or of the
    wrong type); the message names the field."""


def loads(body: bytes) -> Any:
    """``body`` as JSON: ints exact whatever their size, fractions as `Decimal`.

    Raises `InvalidResponse` if it is not JSON (the body itself is not quoted: it may be
    anything)."""
    try:
        return json.loads(body, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidResponse(f"the answer is not JSON ({error.__class__.__name__})") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_id(value: Any) -> int:
    """An id from its decimal string (an int is taken as it is); ValueError otherwise."""
    if isinstance(value, str) and _DIGITS.match(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"not an id: {value!r}")


def parse_decimal(value: Any) -> Decimal:
    """A `Decimal` from its string (money, "-50.00"; a rate, "0.02"), or from a JSON
    number (read as `Decimal` by `loads`)."""
    if isinstance(value, (str, Decimal)) or (isinstance(value, int) and not isinstance(value, bool)):
        try:
            amount = Decimal(value)
        except InvalidOperation:
            pass
        else:
            if amount.is_finite():
                return amount
    raise ValueError(f"not a decimal number: {value!r}")


def parse_percent(value: Any) -> int:
    """A percent string with at most two decimals ("23.45") as basis points (2345)."""
    if isinstance(value, str) and _PERCENT.match(value):
        return int(Decimal(value) * 100)
    raise ValueError(f"not a percentage: {value!r}")


def parse_datetime(value: Any) -> datetime:
    """An ISO 8601 datetime as an aware UTC `datetime`; one without a zone is UTC."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                return moment.replace(tzinfo=timezone.utc)
            return moment.astimezone(timezone.utc)
    raise ValueError(f"not a datetime: {value!r}")


def parse_date(value: Any) -> date:
    """An ISO 8601 date ("2017-12-22")."""
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"not a date: {value!r}")


class Unit:
    """How a field's JSON value becomes its value here: ``parse``, called by `structure`.
    Its repr is ``text``, which the reference shows in each model's signature."""

    def __init__(self, text: str, parse: Callable[[Any], Any]) -> None:
        self.text = text
        self.parse = parse

    def __call__(self, value: Any) -> Any:
        return self.parse(value)

    def __repr__(self) -> str:
        return self.text


#: A field holding an id: a decimal string in the JSON, an int here.
Id = Annotated[int, Unit("id from its decimal string", parse_id)]
#: A field holding money: a string with two decimals in the JSON, a `Decimal` here.
Money = Annotated[Decimal, Unit("money from its string", parse_decimal)]
#: A field holding a rate or a factor as a decimal string ("0.02"): a `Decimal` here.
Rate = Annotated[Decimal, Unit("rate from its string", parse_decimal)]
#: A field holding a percent string in the JSON: basis points here.
Percent = Annotated[int, Unit("basis points from a percent string", parse_percent)]
#: A field holding an ISO 8601 datetime: an aware UTC `datetime` here.
Time = Annotated[datetime, Unit("aware UTC from ISO 8601", parse_datetime)]
#: A field holding an ISO 8601 date.
Day = Annotated[date, Unit("from ISO 8601", parse_date)]


# -- what the client sends ----------------------------------------------------------------


def format_datetime(moment: datetime) -> str:
    """An aware `datetime` as the API's query form, ``2017-12-22T15:40:00Z`` (UTC).

    A naive one is refused (ValueError): its zone would be a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a datetime sent to the API must be aware (have a zone): {moment!r}")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_id(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        if isinstance(value, str) and _DIGITS.match(value):
            return str(int(value))
        raise ValueError(f"an id must be an int of 0 or more, not {value!r}")
    return str(value)


def format_ids(ids: Iterable[Any]) -> list[str]:
    """Ids as the decimal strings the API takes, duplicates dropped, order kept; ValueError
    for one that is not a whole number of 0 or more, or for none at all."""
    if isinstance(ids, (str, bytes, int)):
        raise ValueError(f"ids must be given as a list, not {ids!r}")
    formatted = list(dict.fromkeys(_format_id(i) for i in ids))
    if not formatted:
        raise ValueError("no ids given")
    return formatted


# -- JSON into the models -----------------------------------------------------------------

_Parser = Callable[[Any, str], Any]
_parsers: dict[Any, _Parser] = {}
_fields: dict[type, list[tuple[str, _Parser, bool]]] = {}


@overload
def structure(kind: type[_T], value: Any, where: str = "") -> _T: ...
@overload
def structure(kind: Any, value: Any, where: str = "") -> Any: ...


def structure(kind: Any, value: Any, where: str = "") -> Any:
    """``value`` (decoded JSON) as ``kind``: an attrs model (each field parsed by its
    annotation; keys the model has no field for are ignored), or a list or dict of them, an
    `Annotated` unit, a plain type.

    Raises `InvalidResponse` naming the field (``where`` is its path so far) when a field
    without a default is missing, or a value is not of its field's type or unit."""
    return _parser(kind)(value, where or getattr(kind, "__name__", "answer"))


def _parser(annotation: Any) -> _Parser:
    parser = _parsers.get(annotation)
    if parser is None:
        parser = _parsers[annotation] = _make_parser(annotation)
    return parser


def _fail(where: str, problem: str) -> InvalidResponse:
    return InvalidResponse(f"{where}: {problem}")


def _make_parser(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        convert = args[1]

        def converted(value: Any, where: str) -> Any:
            try:
                return convert(value)
            except ValueError as error:
                raise _fail(where, str(error)) from None

        return converted
    if origin in (Union, types.UnionType):
        return _union_parser(args)
    if origin is list:
        item = _parser(args[0])

        def listed(value: Any, where: str) -> list[Any]:
            if not isinstance(value, list):
                raise _fail(where, f"a list expected, not {type(value).__name__}")
            return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

        return listed
    if origin is dict:
        key_parser, value_parser = _parser(args[0]), _parser(args[1])

        def mapped(value: Any, where: str) -> dict[Any, Any]:
            if not isinstance(value, dict):
                raise _fail(where, f"an object expected, not {type(value).__name__}")
            return {key_parser(k, f"{where} key"): value_parser(v, f"{where}[{k!r}]") for k, v in value.items()}

        return mapped
    if annotation is Any:
        return lambda value, where: value
    if attrs.has(annotation):
        return _model_parser(annotation)
    return _plain_parser(annotation)


def _plain_parser(kind: type) -> Any:
    def plain(value: Any, where: str) -> Any:
        # A bool is an int to Python, never to JSON; an int is a fine "number".
        if isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool):
            return value
        if kind is Decimal and isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)
        raise _fail(where, f"{kind.__name__} expected, not {type(value).__name__}")

    return plain


def _union_parser(args: tuple[Any, ...]) -> Any:
    nullable = type(None) in args
    choices = [a for a in args if a is not type(None)]
    parsers = [_parser(a) for a in choices]

    def either(value: Any, where: str) -> Any:
        if value is None:
            if nullable:
                return None
            raise _fail(where, "null where a value is needed")
        if len(parsers) == 1:
            return parsers[0](value, where)
        # A legacy string or an object (an event's type): chosen by the JSON's own type.
        for choice, parser in zip(choices, parsers):
            if attrs.has(choice) == isinstance(value, dict):
                return parser(value, where)
        raise _fail(where, f"unexpected {type(value).__name__}")

    return either


def _model_parser(cls: type) -> Any:
    def model(value: Any, where: str) -> Any:
        if not isinstance(value, dict):
            raise _fail(where, f"an object expected, not {type(value).__name__}")
        fields = _fields.get(cls)
        if fields is None:
            fields = _fields[cls] = _model_fields(cls)
        kwargs = {}
        for name, parser, required in fields:
            if name in value:
                kwargs[name] = parser(value[name], f"{where}.{name}")
            elif required:
                raise _fail(where, f"{name} is missing")
        return cls(**kwargs)

    return model


def _model_fields(cls: type) -> list[tuple[str, _Parser, bool]]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return [
        (field.name, _parser(hints[field.name]), field.default is attrs.NOTHING)
        for field in attrs.fields(cls)
    ]
