"""Smarkets tagged ids: the integer ids of the wire as the site's hex UUIDs and slugs.

An id is tagged with the 16-bit number of its kind (contract, order, event, ...). The
tagged hex form is the id in hex followed by the four hex digits of the tag, left-padded
with zeros to 32 characters; the slug is the kind's prefix, ``-``, and
``id * 65536 + tag`` in base 36 (read back in any case)::

    >>> Uuid.from_int(5454, 'Contract').to_hex()
    '000000000000000000000000154ecccc'
    >>> contract_id_to_uid(5454)
    '000000000000000000000000154ecccc'
    >>> uuid_to_int('000000000000000000000000154ecccc', return_tag='type')
    (5454, 'Contract')
    >>> slug_to_int(int_to_slug(5454, 'Contract'))
    5454
"""

from __future__ import annotations

import re
import string
from typing import NamedTuple, Tuple, Union

from txsmarkets.errors import Error

__all__ = [
    "TAGS",
    "Uuid",
    "UuidArgumentError",
    "UuidBase",
    "UuidTag",
    "UuidTagBase",
    "account_id_to_uid",
    "contract_group_id_to_uid",
    "contract_id_to_uid",
    "entity_id_to_uid",
    "event_id_to_uid",
    "int_to_slug",
    "int_to_uuid",
    "order_id_to_uid",
    "session_id_to_uid",
    "slug_to_int",
    "slug_to_uuid",
    "uid_or_int_to_int",
    "user_id_to_uid",
    "uuid_to_int",
    "uuid_to_short",
    "uuid_to_slug",
]

_HEX_RE = re.compile(r"[0-9a-fA-F]+")


class UuidArgumentError(Error, TypeError, ValueError):
    """A negative id, or a base the digits cannot write.

    Both a TypeError, which is what the 9.3 client raised (and its callers catch), and a
    ValueError, which is what it is.
    """


class UuidTagBase(NamedTuple):
    """The fields of a kind of id: its name, its 16-bit tag and its slug prefix."""

    name: str
    int_tag: int
    prefix: str


class UuidTag(UuidTagBase):
    """A kind of id, with what it takes to tag and untag numbers."""

    __slots__ = ()

    #: What an id is multiplied by before its tag is added.
    tag_mult = 1 << 16

    @property
    def hex_str(self) -> str:
        """The tag as four hex digits, as it ends a tagged hex UUID."""
        return "%04x" % self.int_tag

    def tag_number(self, number: int) -> int:
        """Return ``number`` with this tag in its low 16 bits."""
        return number * self.tag_mult + self.int_tag

    @classmethod
    def split_int_tag(cls, number: int) -> tuple[int, int]:
        """Split a tagged number into ``(id, int_tag)``."""
        return divmod(number, cls.tag_mult)


#: Every kind of id.
TAGS: tuple[UuidTag, ...] = (
    UuidTag("Account", 0xACC1, "a"),
    UuidTag("ContractGroup", 0xC024, "m"),
    UuidTag("Contract", 0xCCCC, "c"),
    UuidTag("Order", 0xFFF0, "o"),
    UuidTag("Comment", 0xB1A4, "b"),
    UuidTag("Entity", 0x0444, "n"),
    UuidTag("Event", 0x1100, "e"),
    UuidTag("Session", 0x9999, "s"),
    UuidTag("User", 0x0F00, "u"),
    UuidTag("Referrer", 0x4E4E, "r"),
)


def _check_base(base: int, chars: str) -> str:
    if isinstance(base, bool) or not isinstance(base, int):
        raise TypeError(f"base must be an int, not {type(base).__name__}")
    if not 2 <= base <= len(chars):
        raise UuidArgumentError(f"base must be between 2 and {len(chars)}, not {base!r}")
    return chars[:base]


class UuidBase(NamedTuple):
    """The fields of an id of a kind: the untagged number and its `UuidTag`."""

    number: int
    tag: UuidTag


class Uuid(UuidBase):
    """An id together with its kind; converts between ints, tagged hex and slugs."""

    __slots__ = ()

    #: The digits of slugs; a base-n slug uses the first n of them.
    chars = string.digits + string.ascii_lowercase + string.ascii_uppercase
    mask64 = (1 << 64) - 1
    tags = {tag.name: tag for tag in TAGS}
    tags_by_hex_str = {tag.hex_str: tag for tag in TAGS}
    tags_by_int_tag = {tag.int_tag: tag for tag in TAGS}
    tags_by_prefix = {tag.prefix: tag for tag in TAGS}

    @property
    def high(self) -> int:
        """The higher 64 bits of the id."""
        return (self.number >> 64) & self.mask64

    @property
    def low(self) -> int:
        """The lower 64 bits of the id."""
        return self.number & self.mask64

    @property
    def shorthex(self) -> str:
        """The id in hex, with neither padding nor tag."""
        return "%x" % self.number

    def to_hex(self, pad: int = 32) -> str:
        """The tagged hex form, left-padded with zeros to ``pad`` characters."""
        return self.pad_uuid("%x%s" % (self.number, self.tag.hex_str), pad=pad)

    def to_slug(
        self, prefix: bool = True, base: int = 36, chars: str | None = None, pad: int = 0
    ) -> str:
        """The slug form: ``prefix-digits``, or the digits alone when ``prefix`` is false.

        The digits are the first ``base`` of ``chars`` (`Uuid.chars` by default), left-padded
        with zeros to ``pad``. UuidArgumentError when ``base`` is not in 2..len(chars).
        """
        digits = _check_base(base, self.chars if chars is None else chars)
        slug = self.pad_uuid(self.base_n(self.tag.tag_number(self.number), digits), pad=pad)
        return f"{self.tag.prefix}-{slug}" if prefix else slug

    @staticmethod
    def base_n(number: int, chars: str) -> str:
        """Write a non-negative ``number`` in base ``len(chars)`` with the digits ``chars``.

        UuidArgumentError for a negative number.
        """
        if number < 0:
            raise UuidArgumentError(f"cannot write a negative number in base n: {number}")
        base = len(chars)
        out = []
        while True:
            number, digit = divmod(number, base)
            out.append(chars[digit])
            if not number:
                return "".join(reversed(out))

    @staticmethod
    def pad_uuid(uuid: str, pad: int = 32, padchar: str = "0") -> str:
        """Left-pad ``uuid`` with ``padchar`` to at least ``pad`` characters."""
        return uuid.rjust(pad, padchar)

    @classmethod
    def unsplit64(cls, high: int, low: int) -> int:
        """Join a high and a low 64-bit half into one 128-bit number."""
        return ((high & cls.mask64) << 64) | (low & cls.mask64)

    @classmethod
    def from_int(cls, number: int | tuple[int, int], ttype: str | UuidTag) -> Uuid:
        """The Uuid of an untagged id (or its ``(high, low)`` halves) of kind ``ttype``.

        TypeError for an id that is not an int, UuidArgumentError (a TypeError and a
        ValueError) for a negative one, ValueError for an unknown kind.
        """
        if isinstance(number, tuple):
            number = cls.unsplit64(*number)
        if isinstance(number, bool) or not isinstance(number, int):
            raise TypeError(f"an id must be an int, not {type(number).__name__}")
        if number < 0:
            raise UuidArgumentError(f"an id cannot be negative: {number}")
        return cls(number, cls._tag_named(ttype))

    @classmethod
    def from_hex(cls, hex_str: str | bytes) -> Uuid:
        """Parse a tagged hex UUID, such as ``'000000000000000000000000154ecccc'``."""
        if isinstance(hex_str, bytes):
            try:
                hex_str = hex_str.decode("ascii")
            except UnicodeDecodeError:
                raise ValueError(f"not a tagged hex UUID: {hex_str!r}") from None
        if not isinstance(hex_str, str):
            raise TypeError(f"a tagged hex UUID must be a string, not {type(hex_str).__name__}")
        # fullmatch, because int(_, 16) would also take '0x', '_' and spaces
        if len(hex_str) < 5 or not _HEX_RE.fullmatch(hex_str):
            raise ValueError(
                f"not a tagged hex UUID (hex digits, the id then a 4-digit tag): {hex_str!r}"
            )
        tag = cls.tags_by_hex_str.get(hex_str[-4:].lower())
        if tag is None:
            raise ValueError(f"unknown tag {hex_str[-4:]!r} in UUID {hex_str!r}")
        return cls(int(hex_str[:-4], 16), tag)

    @classmethod
    def from_slug(cls, slug: str, base: int = 36, chars: str | None = None) -> Uuid:
        """Parse a slug, with or without its prefix (the tag is also in the number).

        Up to base 36 a slug is read in any case, as in the 9.3 client (unless ``chars``
        has capitals of its own). An empty prefix (``'-5wu5sc'``) counts as none.
        ValueError for a malformed slug, an unknown tag or prefix, or a prefix that
        disagrees with the tag; UuidArgumentError for a bad base.
        """
        if not isinstance(slug, str):
            raise TypeError(f"a slug must be a string, not {type(slug).__name__}")
        digits = _check_base(base, cls.chars if chars is None else chars)
        if base <= 36 and digits == digits.lower():
            slug = slug.lower()
        prefix, dash, body = slug.rpartition("-")
        if not body:
            raise ValueError(f"not a slug: {slug!r}")
        number = 0
        for char in body:
            value = digits.find(char)
            if value < 0:
                raise ValueError(f"not a base {base} slug: {slug!r}")
            number = number * base + value
        number, int_tag = UuidTag.split_int_tag(number)
        tag = cls.tags_by_int_tag.get(int_tag)
        if tag is None:
            raise ValueError(f"unknown tag {int_tag:04x} in slug {slug!r}")
        if prefix:
            prefix_tag = cls.tags_by_prefix.get(prefix)
            if prefix_tag is None:
                raise ValueError(f"unknown prefix {prefix!r} in slug {slug!r}")
            if prefix_tag != tag:
                raise ValueError(
                    f"slug {slug!r} has the prefix of type {prefix_tag.name}"
                    f" but the tag of type {tag.name}"
                )
        return cls(number, tag)

    @classmethod
    def _tag_named(cls, ttype: str | UuidTag) -> UuidTag:
        if isinstance(ttype, UuidTag):
            ttype = ttype.name
        try:
            return cls.tags[ttype]
        except (KeyError, TypeError):
            raise ValueError(
                f"unknown id type {ttype!r}; known types: {', '.join(cls.tags)}"
            ) from None


_Number = Union[int, Tuple[int, int]]
_Converted = Union[_Number, Tuple[_Number, str], Tuple[_Number, int]]


def _number_and_tag(uuid: Uuid, return_tag: str | None, split: bool) -> _Converted:
    number: _Number = (uuid.high, uuid.low) if split else uuid.number
    if return_tag == "type":
        return number, uuid.tag.name
    if return_tag == "int":
        return number, uuid.tag.int_tag
    # as in 9.3, any other return_tag is no tag
    return number


def int_to_slug(number: int | tuple[int, int], ttype: str) -> str:
    """The slug of the id ``number`` of kind ``ttype``."""
    return Uuid.from_int(number, ttype).to_slug()


def slug_to_int(slug: str, return_tag: str | None = None, split: bool = False) -> _Converted:
    """The id in a slug.

    With ``split`` the id comes as its ``(high, low)`` 64-bit halves; with ``return_tag``
    ``'type'`` or ``'int'`` the result is ``(id, tag name)`` or ``(id, int tag)`` (any
    other ``return_tag`` is ignored, as in 9.3).
    """
    return _number_and_tag(Uuid.from_slug(slug), return_tag, split)


def uuid_to_slug(number: str | bytes, prefix: bool = True) -> str:
    """The slug of a tagged hex UUID."""
    return Uuid.from_hex(number).to_slug(prefix=prefix)


def slug_to_uuid(slug: str) -> str:
    """The tagged hex UUID of a slug."""
    return Uuid.from_slug(slug).to_hex()


def int_to_uuid(number: int | tuple[int, int], ttype: str) -> str:
    """The tagged hex UUID of the id ``number`` of kind ``ttype``."""
    return Uuid.from_int(number, ttype).to_hex()


def uuid_to_int(
    uuid: str | bytes, return_tag: str | None = None, split: bool = False
) -> _Converted:
    """The id in a tagged hex UUID; ``return_tag`` and ``split`` as for `slug_to_int`."""
    return _number_and_tag(Uuid.from_hex(uuid), return_tag, split)


def uuid_to_short(uuid: str | bytes) -> str:
    """The id of a tagged hex UUID in hex, without padding or tag."""
    return Uuid.from_hex(uuid).shorthex


def uid_or_int_to_int(value: int | str | bytes, expected_type: str | None = None) -> int:
    """The untagged id of an int, a tagged hex UUID or a slug.

    An int is taken as the id itself (UuidArgumentError if negative). With
    ``expected_type``, a UUID or slug of another kind is a ValueError.
    """
    if isinstance(value, bool):
        raise TypeError("an id cannot be a bool")
    if isinstance(value, int):
        if value < 0:
            raise UuidArgumentError(f"an id cannot be negative: {value}")
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        raise TypeError(f"expected an int, a UUID or a slug, not {type(value).__name__}")
    # Without its prefix a slug may be made only of hex digits, and is then taken for a
    # UUID: the two forms cannot be told apart, so the hex form wins.
    if "-" in value or not _HEX_RE.fullmatch(value):
        uuid = Uuid.from_slug(value)
    else:
        uuid = Uuid.from_hex(value)
    if expected_type is not None and uuid.tag.name != expected_type:
        raise ValueError(f"{value!r} is an id of type {uuid.tag.name}, not {expected_type}")
    return uuid.number


def contract_group_id_to_uid(id_: int) -> str:
    """The tagged hex UUID of a contract group (market) id."""
    return int_to_uuid(id_, "ContractGroup")


def contract_id_to_uid(id_: int) -> str:
    """The tagged hex UUID of a contract id."""
    return int_to_uuid(id_, "Contract")


def event_id_to_uid(id_: int) -> str:
    """The tagged hex UUID of an event id."""
    return int_to_uuid(id_, "Event")


def order_id_to_uid(id_: int) -> str:
    """The tagged hex UUID of an order id."""
    return int_to_uuid(id_, "Order")


def account_id_to_uid(id_: int) -> str:
    """The tagged hex UUID of an account id."""
    return int_to_uuid(id_, "Account")


def entity_id_to_uid(id_: int) -> str:
    """The tagged hex UUID of an entity id."""
    return int_to_uuid(id_, "Entity")


def user_id_to_uid(id_: int) -> str:
    """The tagged hex UUID of a user id."""
    return int_to_uuid(id_, "User")


def session_id_to_uid(id_: int) -> str:
    """The tagged hex UUID of a session id."""
    return int_to_uuid(id_, "Session")
