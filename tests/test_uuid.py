"""Tests for txsmarkets.uuid: tagged hex UUIDs and slugs."""

from __future__ import annotations

import doctest
import string

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsmarkets import uuid as uuid_module
from txsmarkets.errors import Error
from txsmarkets.uuid import (
    TAGS,
    Uuid,
    UuidArgumentError,
    UuidBase,
    UuidTag,
    UuidTagBase,
    account_id_to_uid,
    contract_group_id_to_uid,
    contract_id_to_uid,
    entity_id_to_uid,
    event_id_to_uid,
    int_to_slug,
    int_to_uuid,
    order_id_to_uid,
    session_id_to_uid,
    slug_to_int,
    slug_to_uuid,
    uid_or_int_to_int,
    user_id_to_uid,
    uuid_to_int,
    uuid_to_short,
    uuid_to_slug,
)

# name, tag in hex, slug prefix: the reference's table
TAG_TABLE = [
    ("Account", "acc1", "a"),
    ("ContractGroup", "c024", "m"),
    ("Contract", "cccc", "c"),
    ("Order", "fff0", "o"),
    ("Comment", "b1a4", "b"),
    ("Entity", "0444", "n"),
    ("Event", "1100", "e"),
    ("Session", "9999", "s"),
    ("User", "0f00", "u"),
    ("Referrer", "4e4e", "r"),
]

ids = st.integers(min_value=0, max_value=2**112 - 1)
tag_names = st.sampled_from([name for name, _, _ in TAG_TABLE])


class TagTests(SynchronousTestCase):
    """The tag table and UuidTag."""

    def test_table(self) -> None:
        self.assertEqual(len(Uuid.tags), len(TAG_TABLE))
        for name, hex_str, prefix in TAG_TABLE:
            tag = Uuid.tags[name]
            self.assertEqual(tag, UuidTag(name, int(hex_str, 16), prefix))
            self.assertEqual(tag.hex_str, hex_str)
            self.assertIs(Uuid.tags_by_hex_str[hex_str], tag)
            self.assertIs(Uuid.tags_by_int_tag[int(hex_str, 16)], tag)
            self.assertIs(Uuid.tags_by_prefix[prefix], tag)

    def test_public_tags(self) -> None:
        self.assertEqual([(t.name, t.hex_str, t.prefix) for t in TAGS], TAG_TABLE)
        self.assertEqual(set(Uuid.tags.values()), set(TAGS))
        for tag in TAGS:
            self.assertIsInstance(tag, UuidTag)
            self.assertIsInstance(tag, UuidTagBase)
            self.assertIsInstance(tag, tuple)

    def test_bases(self) -> None:
        self.assertEqual(UuidTagBase._fields, ("name", "int_tag", "prefix"))
        self.assertEqual(UuidBase._fields, ("number", "tag"))
        self.assertTrue(issubclass(UuidTag, UuidTagBase))
        self.assertTrue(issubclass(Uuid, UuidBase))
        uuid = Uuid.from_int(5454, "Contract")
        self.assertIsInstance(uuid, UuidBase)
        self.assertEqual(tuple(uuid), (5454, Uuid.tags["Contract"]))
        self.assertEqual(UuidBase(5454, Uuid.tags["Contract"]), uuid)
        self.assertEqual(UuidTag(*UuidTagBase("Event", 0x1100, "e")), Uuid.tags["Event"])

    def test_fields(self) -> None:
        tag = Uuid.tags["Event"]
        self.assertEqual((tag.name, tag.int_tag, tag.prefix), ("Event", 0x1100, "e"))
        self.assertEqual(tag.hex_str, "1100")

    def test_tag_number_and_split(self) -> None:
        self.assertEqual(UuidTag.tag_mult, 65536)
        tag = Uuid.tags["Contract"]
        self.assertEqual(tag.tag_number(5454), 5454 * 65536 + 0xCCCC)
        self.assertEqual(UuidTag.split_int_tag(5454 * 65536 + 0xCCCC), (5454, 0xCCCC))


class UuidTests(SynchronousTestCase):
    """Uuid and the module's functions on known values."""

    def test_contract_5454(self) -> None:
        uuid = Uuid.from_int(5454, "Contract")
        self.assertEqual(uuid.number, 5454)
        self.assertEqual(uuid.tag, Uuid.tags["Contract"])
        self.assertEqual(uuid.to_hex(), "000000000000000000000000154ecccc")
        self.assertEqual(int_to_uuid(5454, "Contract"), "000000000000000000000000154ecccc")
        self.assertEqual(uuid_to_int("000000000000000000000000154ecccc"), 5454)
        self.assertEqual(Uuid.from_hex("000000000000000000000000154ecccc"), uuid)

    def test_slug(self) -> None:
        slug = int_to_slug(5454, "Contract")
        prefix, body = slug.split("-")
        self.assertEqual(prefix, "c")
        self.assertEqual(int(body, 36), 5454 * 65536 + 0xCCCC)
        self.assertTrue(set(body) <= set(string.digits + string.ascii_lowercase))
        self.assertEqual(slug, "c-5wu5sc")
        self.assertEqual(slug_to_int("c-5wu5sc"), 5454)
        self.assertEqual(slug_to_uuid("c-5wu5sc"), "000000000000000000000000154ecccc")
        self.assertEqual(uuid_to_slug("000000000000000000000000154ecccc"), "c-5wu5sc")
        self.assertEqual(uuid_to_slug("000000000000000000000000154ecccc", prefix=False), "5wu5sc")
        self.assertEqual(Uuid.from_slug("5wu5sc"), Uuid.from_int(5454, "Contract"))

    def test_to_slug_options(self) -> None:
        uuid = Uuid.from_int(5454, "Contract")
        number = 5454 * 65536 + 0xCCCC
        self.assertEqual(uuid.to_slug(prefix=False, base=16), "%x" % number)
        self.assertEqual(uuid.to_slug(prefix=False, base=2), bin(number)[2:])
        self.assertEqual(uuid.to_slug(pad=10), "c-00005wu5sc")
        self.assertEqual(
            uuid.to_slug(base=4, chars="abcd", prefix=False), Uuid.base_n(number, "abcd")
        )
        self.assertEqual(Uuid.from_slug(uuid.to_slug(base=62), base=62), uuid)
        slug = uuid.to_slug(base=4, chars="wxyz")
        self.assertEqual(Uuid.from_slug(slug, base=4, chars="wxyz"), uuid)

    def test_to_hex_pad(self) -> None:
        uuid = Uuid.from_int(5454, "Contract")
        self.assertEqual(uuid.to_hex(pad=0), "154ecccc")
        self.assertEqual(uuid.to_hex(pad=10), "00154ecccc")

    def test_zero(self) -> None:
        uuid = Uuid.from_int(0, "Order")
        self.assertEqual(uuid.to_hex(), "0" * 28 + "fff0")
        self.assertEqual(Uuid.from_hex(uuid.to_hex()), uuid)
        self.assertEqual(Uuid.from_slug(uuid.to_slug()), uuid)

    def test_high_low_shorthex(self) -> None:
        uuid = Uuid.from_int((3, 5), "Event")
        self.assertEqual(uuid.number, (3 << 64) | 5)
        self.assertEqual((uuid.high, uuid.low), (3, 5))
        self.assertEqual(Uuid.from_int(5454, "Contract").shorthex, "154e")
        self.assertEqual(uuid_to_short("000000000000000000000000154ecccc"), "154e")

    def test_class_constants(self) -> None:
        self.assertEqual(Uuid.mask64, 2**64 - 1)
        digits = string.digits + string.ascii_lowercase + string.ascii_uppercase
        self.assertEqual(Uuid.chars, digits)
        self.assertEqual(Uuid.unsplit64(1, 2), 2**64 + 2)
        self.assertEqual(Uuid.unsplit64(2**64 + 1, 2**64 + 2), 2**64 + 2)
        self.assertEqual(Uuid.pad_uuid("abc", pad=6), "000abc")
        self.assertEqual(Uuid.pad_uuid("abc", pad=5, padchar="x"), "xxabc")
        self.assertEqual(Uuid.pad_uuid("abcdef", pad=3), "abcdef")
        self.assertEqual(Uuid.base_n(0, "01"), "0")
        self.assertEqual(Uuid.base_n(255, "0123456789abcdef"), "ff")

    def test_return_tag_and_split(self) -> None:
        hex_str = int_to_uuid((7 << 64) | 9, "Order")
        slug = uuid_to_slug(hex_str)
        for convert, value in ((uuid_to_int, hex_str), (slug_to_int, slug)):
            self.assertEqual(convert(value, return_tag="type"), ((7 << 64) | 9, "Order"))
            self.assertEqual(convert(value, return_tag="int"), ((7 << 64) | 9, 0xFFF0))
            self.assertEqual(convert(value, split=True), (7, 9))
            self.assertEqual(convert(value, return_tag="type", split=True), ((7, 9), "Order"))

    def test_other_return_tag_is_no_tag(self) -> None:
        """As in 9.3, a return_tag other than 'type' or 'int' returns the id alone."""
        hex_str = int_to_uuid(5454, "Contract")
        self.assertEqual(uuid_to_int(hex_str, return_tag="name"), 5454)
        self.assertEqual(slug_to_int("c-5wu5sc", return_tag="name"), 5454)
        self.assertEqual(uuid_to_int(hex_str, return_tag="name", split=True), (0, 5454))

    def test_id_to_uid(self) -> None:
        for function, name in (
            (contract_group_id_to_uid, "ContractGroup"),
            (contract_id_to_uid, "Contract"),
            (event_id_to_uid, "Event"),
            (order_id_to_uid, "Order"),
            (account_id_to_uid, "Account"),
            (entity_id_to_uid, "Entity"),
            (user_id_to_uid, "User"),
            (session_id_to_uid, "Session"),
        ):
            self.assertEqual(function(5454), int_to_uuid(5454, name))
            self.assertEqual(uuid_to_int(function(5454), return_tag="type"), (5454, name))
            self.assertRaises(TypeError, function, -1)
            self.assertRaises(ValueError, function, -1)
        self.assertEqual(contract_id_to_uid(5454), "000000000000000000000000154ecccc")
        self.assertEqual(order_id_to_uid(1), "0" * 27 + "1fff0")

    def test_bytes_hex(self) -> None:
        self.assertEqual(uuid_to_int(b"000000000000000000000000154ecccc"), 5454)
        self.assertEqual(uuid_to_int("000000000000000000000000154ECCCC"), 5454)

    def test_uid_or_int_to_int(self) -> None:
        self.assertEqual(uid_or_int_to_int(5454), 5454)
        self.assertEqual(uid_or_int_to_int("000000000000000000000000154ecccc"), 5454)
        self.assertEqual(uid_or_int_to_int("c-5wu5sc"), 5454)
        self.assertEqual(uid_or_int_to_int("c-5wu5sc", "Contract"), 5454)
        error = self.assertRaises(ValueError, uid_or_int_to_int, "c-5wu5sc", "Order")
        self.assertIn("type Contract, not Order", str(error))
        self.assertRaises(ValueError, uid_or_int_to_int, -1)
        self.assertRaises(TypeError, uid_or_int_to_int, -1)
        self.assertRaises(ValueError, uid_or_int_to_int, "nonsense!")
        self.assertRaises(TypeError, uid_or_int_to_int, 1.5)
        self.assertRaises(TypeError, uid_or_int_to_int, True)


class Uuid93Tests(SynchronousTestCase):
    """The 9.3 client's uuid test, and what 9.3 code catches."""

    def test_uid_or_int_to_int(self) -> None:
        self.assertEqual(uid_or_int_to_int(1234, "irrelevant"), 1234)
        self.assertEqual(uid_or_int_to_int(int_to_uuid(5454, "Contract"), "Contract"), 5454)
        try:
            uid_or_int_to_int(int_to_uuid(1234, "Market"), "Event")
        except ValueError:
            pass
        else:
            self.fail("Should have failed")

    def test_negative_id_is_a_type_error_and_a_value_error(self) -> None:
        for call in (
            lambda: Uuid.from_int(-1, "Contract"),
            lambda: int_to_uuid(-1, "Contract"),
            lambda: int_to_slug(-1, "Contract"),
            lambda: Uuid.base_n(-1, "01"),
        ):
            error = self.assertRaises(TypeError, call)
            self.assertIsInstance(error, ValueError)
            self.assertIsInstance(error, UuidArgumentError)
            self.assertIn("negative", str(error))

    def test_bad_base_is_a_type_error_and_a_value_error(self) -> None:
        uuid = Uuid.from_int(1, "Contract")
        for call in (
            lambda: uuid.to_slug(base=1),
            lambda: uuid.to_slug(base=63),
            lambda: uuid.to_slug(base=5, chars="abcd"),
            lambda: Uuid.from_slug("c-1", base=1),
            lambda: Uuid.from_slug("c-1", base=100),
        ):
            error = self.assertRaises(TypeError, call)
            self.assertIsInstance(error, ValueError)
            self.assertIn("base must be between", str(error))

    def test_error_class(self) -> None:
        self.assertTrue(issubclass(UuidArgumentError, TypeError))
        self.assertTrue(issubclass(UuidArgumentError, ValueError))
        self.assertTrue(issubclass(UuidArgumentError, Error))

    def test_slugs_in_any_case(self) -> None:
        """Up to base 36 a slug reads in any case, as in 9.3."""
        expected = Uuid.from_int(5454, "Contract")
        for slug in ("c-5wu5sc", "c-5WU5SC", "C-5wU5sC", "5WU5SC"):
            self.assertEqual(Uuid.from_slug(slug), expected)
        self.assertEqual(slug_to_int("C-5WU5SC"), 5454)
        # base 62 uses both cases as digits, so case matters there
        slug62 = expected.to_slug(base=62)
        self.assertEqual(Uuid.from_slug(slug62, base=62), expected)
        self.assertNotEqual(slug62.swapcase(), slug62)
        # digits of one's own with capitals are read as given
        slug = expected.to_slug(base=4, chars="WXYZ", prefix=False)
        self.assertEqual(Uuid.from_slug(slug, base=4, chars="WXYZ"), expected)

    def test_empty_prefix(self) -> None:
        self.assertEqual(Uuid.from_slug("-5wu5sc"), Uuid.from_int(5454, "Contract"))


class BadInputTests(SynchronousTestCase):
    """Malformed input is a ValueError that says what is wrong."""

    def assertValueError(self, fragment: str, function, *args, **kwargs) -> None:
        error = self.assertRaises(ValueError, function, *args, **kwargs)
        self.assertIn(fragment, str(error))

    def test_unknown_type(self) -> None:
        self.assertValueError("unknown id type 'Horse'", Uuid.from_int, 1, "Horse")
        self.assertValueError("unknown id type", int_to_uuid, 1, "contract")

    def test_negative_id(self) -> None:
        self.assertValueError("negative", Uuid.from_int, -1, "Contract")

    def test_unknown_hex_tag(self) -> None:
        hex_str = "0000000000000000000000000001abcd"
        self.assertValueError("unknown tag 'abcd'", Uuid.from_hex, hex_str)

    def test_malformed_hex(self) -> None:
        bad_values = ("", "cccc", "0xcccc", "12_4cccc", " 154ecccc", "154ecccz", "154e-cccc")
        for bad in bad_values + (b"\xff\xffcccc",):
            self.assertValueError("not a tagged hex UUID", Uuid.from_hex, bad)

    def test_unknown_prefix(self) -> None:
        self.assertValueError("unknown prefix 'x'", Uuid.from_slug, "x-5wu5sc")
        self.assertValueError("unknown prefix 'x'", Uuid.from_slug, "X-5wu5sc")

    def test_prefix_disagrees_with_tag(self) -> None:
        self.assertValueError(
            "prefix of type Order but the tag of type Contract", Uuid.from_slug, "o-5wu5sc"
        )

    def test_malformed_slug(self) -> None:
        for bad in ("", "c-", "-", "c-5wu5s!", "c-5wu 5sc"):
            self.assertValueError("slug", Uuid.from_slug, bad)

    def test_unknown_slug_tag(self) -> None:
        slug = Uuid.base_n(65537, Uuid.chars[:36])
        self.assertValueError("unknown tag 0001", Uuid.from_slug, slug)

    def test_bad_base(self) -> None:
        uuid = Uuid.from_int(1, "Contract")
        self.assertValueError("base must be between 2 and 62", uuid.to_slug, base=63)
        self.assertValueError("base must be between 2 and 4", uuid.to_slug, base=5, chars="abcd")
        self.assertValueError("base must be between", Uuid.from_slug, "c-1", base=1)


class RoundTripTests(SynchronousTestCase):
    """Every form converts back to the id and type it came from."""

    @given(ids, tag_names)
    def test_hex(self, number: int, name: str) -> None:
        hex_str = int_to_uuid(number, name)
        self.assertEqual(len(hex_str), 32)
        self.assertEqual(hex_str[-4:], Uuid.tags[name].hex_str)
        self.assertEqual(int(hex_str[:-4], 16), number)
        self.assertEqual(uuid_to_int(hex_str, return_tag="type"), (number, name))
        self.assertEqual(uid_or_int_to_int(hex_str, name), number)

    @given(ids, tag_names)
    def test_slug(self, number: int, name: str) -> None:
        slug = int_to_slug(number, name)
        prefix, body = slug.split("-")
        self.assertEqual(prefix, Uuid.tags[name].prefix)
        self.assertEqual(int(body, 36), number * 65536 + Uuid.tags[name].int_tag)
        self.assertEqual(slug_to_int(slug, return_tag="type"), (number, name))
        self.assertEqual(uid_or_int_to_int(slug, name), number)

    @given(ids, tag_names)
    def test_between_forms(self, number: int, name: str) -> None:
        hex_str = int_to_uuid(number, name)
        slug = int_to_slug(number, name)
        self.assertEqual(uuid_to_slug(hex_str), slug)
        self.assertEqual(slug_to_uuid(slug), hex_str)
        self.assertEqual(Uuid.from_slug(slug.split("-")[1]), Uuid.from_int(number, name))
        self.assertEqual(uuid_to_short(hex_str), "%x" % number)

    @given(ids, tag_names, st.integers(min_value=2, max_value=62), st.booleans())
    def test_bases(self, number: int, name: str, base: int, prefix: bool) -> None:
        uuid = Uuid.from_int(number, name)
        self.assertEqual(Uuid.from_slug(uuid.to_slug(prefix=prefix, base=base), base=base), uuid)

    @given(st.integers(min_value=0, max_value=2**128 - 1), tag_names)
    def test_split(self, number: int, name: str) -> None:
        uuid = Uuid.from_int(number, name)
        self.assertEqual(Uuid.unsplit64(uuid.high, uuid.low), number)
        self.assertEqual(Uuid.from_int((uuid.high, uuid.low), name), uuid)
        self.assertEqual(uuid_to_int(uuid.to_hex(), split=True), (uuid.high, uuid.low))


class DoctestTests(SynchronousTestCase):
    def test_doctests(self) -> None:
        failed, attempted = doctest.testmod(uuid_module)
        self.assertEqual(failed, 0)
        self.assertGreater(attempted, 0)
