"""Tests for errors.swallow, functools.overrides/lru_cache and the itertools helpers."""

from __future__ import annotations

import doctest
import functools as std_functools

from twisted.trial.unittest import SynchronousTestCase

from txsmarkets import errors, functools, itertools
from txsmarkets.errors import Error, swallow
from txsmarkets.functools import OverrideError, lru_cache, overrides
from txsmarkets.itertools import (
    copy_keys_if_present,
    inverse_mapping,
    is_sorted,
    listitems,
    listkeys,
    listmap,
    listvalues,
    merge_dicts,
)


class DoctestTests(SynchronousTestCase):
    """The 9.3 docs' examples, kept as doctests in the modules."""

    def check(self, module: object) -> None:
        failed, attempted = doctest.testmod(module)
        self.assertEqual(failed, 0)
        self.assertGreater(attempted, 0)

    def test_errors(self) -> None:
        self.check(errors)

    def test_functools(self) -> None:
        self.check(functools)

    def test_itertools(self) -> None:
        self.check(itertools)


class SwallowTests(SynchronousTestCase):
    def test_decorator_default(self) -> None:
        @swallow(NameError, default=2)
        def fun() -> int:
            raise NameError("b")

        self.assertEqual(fun(), 2)

    def test_decorator_default_none(self) -> None:
        @swallow(KeyError)
        def fun() -> int:
            return {}["key"]

        self.assertIsNone(fun())

    def test_decorator_passes_through(self) -> None:
        @swallow(KeyError, default=0)
        def fun(a: int, b: int = 1) -> int:
            """Adds."""
            return a + b

        self.assertEqual(fun(2, b=3), 5)
        self.assertEqual(fun.__name__, "fun")
        self.assertEqual(fun.__doc__, "Adds.")

    def test_other_exceptions_propagate(self) -> None:
        @swallow(KeyError)
        def fun() -> None:
            raise IndexError()

        self.assertRaises(IndexError, fun)

        def block() -> None:
            with swallow(KeyError):
                raise IndexError()

        self.assertRaises(IndexError, block)

    def test_subclasses_and_tuples(self) -> None:
        with swallow(LookupError):
            raise KeyError("key")
        with swallow((ZeroDivisionError, KeyError)):
            raise KeyError("key")
        self.assertEqual(swallow((ZeroDivisionError, KeyError), default="d")(lambda: 1 / 0)(), "d")

    def test_context_manager(self) -> None:
        reached = []
        with swallow(KeyError) as value:
            reached.append(1)
            raise KeyError("key")
        self.assertEqual(reached, [1])
        self.assertIsNone(value)
        with swallow(KeyError):
            reached.append(2)
        self.assertEqual(reached, [1, 2])

    def test_error_unchanged(self) -> None:
        self.assertTrue(issubclass(Error, Exception))
        self.assertEqual(Error.__bases__, (Exception,))


class Parent:
    def method(self) -> str:
        "parent docstring"
        return "parent"

    def undocumented(self) -> str:
        return "parent"

    @property
    def prop(self) -> int:
        "parent property"
        return 0


class OverridesTests(SynchronousTestCase):
    def test_good(self) -> None:
        class GoodChild(Parent):
            @overrides(Parent)
            def method(self) -> str:
                return "child"

        self.assertEqual(GoodChild().method(), "child")
        self.assertEqual(GoodChild.method.__doc__, "parent docstring")

    def test_no_such_method(self) -> None:
        def define() -> None:
            class BadChild1(Parent):
                @overrides(Parent)
                def methd(self) -> None:
                    pass

        error = self.assertRaises(OverrideError, define)
        self.assertEqual(str(error), f"No method 'methd' in class {Parent!r} to override")

    def test_own_docstring(self) -> None:
        def define() -> None:
            class BadChild2(Parent):
                @overrides(Parent)
                def method(self) -> None:
                    "child method docstring"

        error = self.assertRaises(OverrideError, define)
        self.assertEqual(str(error), "No docstrings allowed in overriding method")

    def test_ancestor_must_define_it_itself(self) -> None:
        class IntermediateChild(Parent):
            pass

        def define() -> None:
            class BadChild3(IntermediateChild):
                @overrides(IntermediateChild)
                def method(self) -> None:
                    pass

        error = self.assertRaises(OverrideError, define)
        self.assertEqual(
            str(error), f"No method 'method' in class {IntermediateChild!r} to override"
        )

    def test_undocumented_parent(self) -> None:
        class Child(Parent):
            @overrides(Parent)
            def undocumented(self) -> str:
                return "child"

        self.assertIsNone(Child.undocumented.__doc__)

    def test_property(self) -> None:
        class Child(Parent):
            @overrides(Parent)
            @property
            def prop(self) -> int:
                return 1

        self.assertEqual(Child().prop, 1)
        self.assertEqual(Child.prop.__doc__, "parent property")

    def test_override_error_is_an_exception(self) -> None:
        self.assertTrue(issubclass(OverrideError, Exception))


class LruCacheTests(SynchronousTestCase):
    def test_is_the_standard_one(self) -> None:
        self.assertIs(lru_cache, std_functools.lru_cache)

    def test_caches(self) -> None:
        calls = []

        @lru_cache(maxsize=100, typed=False)
        def square(x: int) -> int:
            calls.append(x)
            return x * x

        self.assertEqual([square(3), square(3), square(4)], [9, 9, 16])
        self.assertEqual(calls, [3, 4])
        self.assertEqual(square.cache_info().hits, 1)


class ItertoolsTests(SynchronousTestCase):
    def test_merge_dicts(self) -> None:
        self.assertEqual(merge_dicts(), {})
        self.assertEqual(merge_dicts({"a": 2}), {"a": 2})
        self.assertEqual(merge_dicts({"a": 2, "b": 3}, {"a": 1, "c": 4}), {"a": 1, "b": 3, "c": 4})
        first = {"a": 1}
        merged = merge_dicts(first, {"a": 2}, {"a": 3})
        self.assertEqual(merged, {"a": 3})
        self.assertEqual(first, {"a": 1})

    def test_inverse_mapping(self) -> None:
        self.assertEqual(inverse_mapping({"a": 1, "b": 2}), {1: "a", 2: "b"})
        self.assertEqual(inverse_mapping({}), {})
        error = self.assertRaises(ValueError, inverse_mapping, {"a": 1, "b": 1})
        self.assertIn("1", str(error))

    def test_is_sorted(self) -> None:
        self.assertTrue(is_sorted([]))
        self.assertTrue(is_sorted([1, 1, 2, 3]))
        self.assertFalse(is_sorted([2, 1]))
        self.assertTrue(is_sorted([3, 2, 1], reverse=True))
        self.assertFalse(is_sorted(["bb", "a", "ccc"], key=lambda s: s[0]))
        self.assertTrue(is_sorted(["c", "bb", "aaa"], key=len))
        self.assertTrue(is_sorted(iter([1, 2, 3])))

    def test_copy_keys_if_present(self) -> None:
        destination = {"z": 0}
        self.assertIsNone(copy_keys_if_present({"a": 1, "b": 2}, destination, ["a", "c"]))
        self.assertEqual(destination, {"z": 0, "a": 1})

    def test_list_helpers(self) -> None:
        d = {"a": 1, "b": 2}
        self.assertEqual(listitems(d), [("a", 1), ("b", 2)])
        self.assertEqual(listkeys(d), ["a", "b"])
        self.assertEqual(listvalues(d), [1, 2])
        self.assertEqual(listmap(str, [1, 2]), ["1", "2"])
        self.assertEqual(listmap(pow, [2, 3], [3, 2, 1]), [8, 9])
        self.assertIsInstance(listkeys(d), list)
