"""Tests for txsmarkets.errors, .functools and .itertools, the 9.3 client's tests among them."""

from __future__ import annotations

import doctest
import functools as std_functools
import sys
import threading
import traceback
import warnings

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txsmarkets import errors, functools, itertools
from txsmarkets.errors import Error, reraise, swallow
from txsmarkets.functools import (
    OverrideError,
    always_return,
    deprecated_with_message,
    lru_cache,
    memoized,
    overrides,
)
from txsmarkets.itertools import (
    copy_keys_if_present,
    group,
    has_unique_elements,
    inverse_mapping,
    is_sorted,
    listitems,
    listkeys,
    listmap,
    listvalues,
    mapkeys,
    mapvalues,
    merge_dicts,
)


def throw_or_return(to_raise: BaseException | type[BaseException] | None = None,
                    to_return: object = None) -> object:
    """The 9.3 swallow tests' function."""
    if to_raise:
        raise to_raise
    if to_return:
        return to_return
    return None


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


class ImportTests(SynchronousTestCase):
    """The helper modules import only the standard library and txsmarkets.errors (and odds
    its own table, a helper module too)."""

    def test_imports(self) -> None:
        import ast
        import importlib
        import inspect

        allowed = set(sys.stdlib_module_names) | {"__future__"}
        for name in ("odds", "odds_table", "signal", "functools", "itertools", "errors", "uuid"):
            module = importlib.import_module(f"txsmarkets.{name}")
            tree = ast.parse(inspect.getsource(module))
            imported = {
                alias.name
                for node in ast.walk(tree)
                if isinstance(node, ast.Import)
                for alias in node.names
            } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
            outside = {
                imported_name
                for imported_name in imported
                if imported_name.split(".")[0] not in allowed
                and imported_name not in ("txsmarkets.errors", "txsmarkets.odds_table")
            }
            self.assertEqual(outside, set(), name)


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

    def test_any_iterable_of_exceptions(self) -> None:
        with swallow([KeyError, IndexError]):
            [][0]
        with swallow(iter([ZeroDivisionError])):
            1 / 0
        with swallow({KeyError}):
            {}["key"]
        self.assertEqual(swallow([ZeroDivisionError], default="d")(lambda: 1 / 0)(), "d")
        self.assertEqual(swallow([KeyError]).exceptions, (KeyError,))
        self.assertEqual(swallow(KeyError).exceptions, (KeyError,))
        self.assertEqual(swallow(e for e in (KeyError, OSError)).exceptions, (KeyError, OSError))

        def block() -> None:
            with swallow([KeyError]):
                raise IndexError()

        self.assertRaises(IndexError, block)

    def test_not_exceptions(self) -> None:
        self.assertRaises(TypeError, swallow, 3)
        self.assertRaises(TypeError, swallow, [KeyError, int])
        self.assertRaises(TypeError, swallow, ["KeyError"])

    def test_empty_swallows_nothing(self) -> None:
        def block() -> None:
            with swallow([]):
                raise KeyError()

        self.assertRaises(KeyError, block)

    def test_error_unchanged(self) -> None:
        self.assertTrue(issubclass(Error, Exception))
        self.assertEqual(Error.__bases__, (Exception,))


class Swallow93Tests(SynchronousTestCase):
    """The 9.3 client's swallow tests."""

    def setUp(self) -> None:
        self.fun = swallow(exceptions=Exception, default="default_value")(throw_or_return)

    def test_return_value_is_correct_in_case_of_no_exception(self) -> None:
        self.assertEqual(self.fun(to_return=1234), 1234)

    def test_right_exception_is_swallowed(self) -> None:
        self.fun(to_raise=Exception())

    def test_exceptions_other_than_specified_dont_get_swallowed(self) -> None:
        self.assertRaises(SystemExit, self.fun, to_raise=SystemExit(1))

    def test_default_value_is_returned_in_case_of_exception(self) -> None:
        self.assertEqual(self.fun(to_raise=Exception()), "default_value")

    def test_exceptions_accept_single_exception(self) -> None:
        fun = swallow(exceptions=SystemExit)(throw_or_return)
        fun(to_raise=SystemExit)

    def test_exceptions_accept_many_exceptions(self) -> None:
        fun = swallow(exceptions=[SystemExit, KeyboardInterrupt])(throw_or_return)
        self.assertIsNone(fun(to_raise=SystemExit))
        self.assertIsNone(fun(to_raise=KeyboardInterrupt))

    def test_swallow_works_as_context_manager(self) -> None:
        with swallow(KeyError):
            raise KeyError(1)

        try:
            with swallow(KeyError):
                raise ValueError(1)
        except ValueError:
            pass
        else:
            self.fail("ValueError was swallowed")


class ReraiseTests(SynchronousTestCase):
    def test_keeps_the_traceback(self) -> None:
        def inner() -> None:
            raise KeyError("key")

        try:
            try:
                inner()
            except KeyError:
                reraise(ValueError("wrapped"))
        except ValueError as error:
            caught = error
        frames = [frame.name for frame in traceback.extract_tb(caught.__traceback__)]
        self.assertIn("inner", frames)
        self.assertIsInstance(caught.__context__, KeyError)
        self.assertEqual(str(caught), "wrapped")

    def test_outside_except(self) -> None:
        self.assertIsNone(sys.exc_info()[0])
        error = self.assertRaises(ValueError, reraise, ValueError("plain"))
        self.assertEqual(str(error), "plain")


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


class MemoizedTests(SynchronousTestCase):
    def test_9_3(self) -> None:
        """The 9.3 client's memoized test."""
        counter = [0]

        @memoized
        def my_sum(x: int, y: int) -> int:
            counter[0] += 1
            return x + y

        self.assertEqual(my_sum(1, 2), 3)
        self.assertEqual(counter[0], 1)
        self.assertEqual(my_sum(1, 2), 3)
        self.assertEqual(counter[0], 1)

        counter[0] = 0
        self.assertEqual(my_sum(1, y=2), 3)
        self.assertEqual(counter[0], 1)
        self.assertEqual(my_sum(1, y=2), 3)
        self.assertEqual(counter[0], 1)

    def test_keyword_order_does_not_matter(self) -> None:
        calls = []

        @memoized
        def f(**kwargs: int) -> int:
            calls.append(kwargs)
            return sum(kwargs.values())

        self.assertEqual(f(a=1, b=2), 3)
        self.assertEqual(f(b=2, a=1), 3)
        self.assertEqual(len(calls), 1)
        self.assertEqual(f(a=1, b=3), 4)
        self.assertEqual(len(calls), 2)

    def test_distinguishes_arguments(self) -> None:
        calls = []

        @memoized
        def f(*args: object) -> tuple[object, ...]:
            calls.append(args)
            return args

        self.assertEqual(f(1), (1,))
        self.assertEqual(f(2), (2,))
        self.assertEqual(f(), ())
        self.assertEqual(f(1), (1,))
        self.assertEqual(calls, [(1,), (2,), ()])

    def test_exceptions_are_not_cached(self) -> None:
        calls = []

        @memoized
        def f(x: int) -> float:
            calls.append(x)
            return 1 / x

        self.assertRaises(ZeroDivisionError, f, 0)
        self.assertRaises(ZeroDivisionError, f, 0)
        self.assertEqual(calls, [0, 0])

    def test_unhashable(self) -> None:
        self.assertRaises(TypeError, memoized(len), [1])

    def test_wraps_and_clears(self) -> None:
        calls = []

        @memoized
        def documented(x: int) -> int:
            """Doubles."""
            calls.append(x)
            return 2 * x

        self.assertEqual(documented.__name__, "documented")
        self.assertEqual(documented.__doc__, "Doubles.")
        documented(1)
        documented.cache_clear()  # type: ignore[attr-defined]
        documented(1)
        self.assertEqual(calls, [1, 1])

    def test_threads_see_one_value(self) -> None:
        @memoized
        def fresh(key: int) -> object:
            return object()

        results = []
        barrier = threading.Barrier(8)

        def work() -> None:
            barrier.wait()
            results.append(fresh(1))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(len({id(result) for result in results}), 1)


class AlwaysReturnTests(SynchronousTestCase):
    def test_9_3(self) -> None:
        fun = always_return(42)
        self.assertEqual(fun(), 42)
        self.assertEqual(fun(1), 42)
        self.assertEqual(fun(1, a="a"), 42)

    def test_same_object(self) -> None:
        value: list[int] = []
        self.assertIs(always_return(value)(), value)
        self.assertIsNone(always_return(None)(1, 2))


class DeprecatedTests(SynchronousTestCase):
    def test_warns_naming_the_function(self) -> None:
        @deprecated_with_message("Use new() instead.")
        def old(x: int, y: int = 1) -> int:
            """Old adder."""
            return x + y

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            self.assertEqual(old(1, y=2), 3)
        self.assertEqual(len(caught), 1)
        self.assertIs(caught[0].category, DeprecationWarning)
        self.assertEqual(str(caught[0].message), "Function 'old' is deprecated. Use new() instead.")
        # the warning points at the caller, not at the wrapper
        self.assertEqual(caught[0].filename, __file__)
        self.assertEqual(old.__name__, "old")
        self.assertEqual(old.__doc__, "Old adder.")

    def test_every_call(self) -> None:
        old = deprecated_with_message("m")(lambda: None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old()
            old()
        self.assertEqual(len(caught), 2)

    def test_error_filter(self) -> None:
        old = deprecated_with_message("m")(lambda: 1)
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            self.assertRaises(DeprecationWarning, old)


class Itertools93Tests(SynchronousTestCase):
    """The 9.3 client's itertools tests."""

    def test_mapkeys(self) -> None:
        self.assertEqual(mapkeys(str, {1: "this", 2: "that"}), {"1": "this", "2": "that"})

    def test_mapvalues(self) -> None:
        self.assertEqual(
            mapvalues(tuple, {1: "this", 2: "that"}),
            {1: ("t", "h", "i", "s"), 2: ("t", "h", "a", "t")},
        )

    def test_group(self) -> None:
        for i, n, o in (
            ("", 2, ()),
            ("A", 2, (("A",),)),
            ("AB", 2, (("A", "B"),)),
            ("ABCDE", 2, (("A", "B"), ("C", "D"), ("E",))),
        ):
            self.assertEqual(tuple(group(i, n)), tuple(o))

    def test_listxxx(self) -> None:
        data = dict(a="a", b="x", c="123")
        keys = listkeys(data)
        values = listvalues(data)
        items = listitems(data)
        self.assertEqual({type(keys), type(values), type(items)}, {list})
        self.assertEqual(sorted(keys), ["a", "b", "c"])
        self.assertEqual(sorted(values), ["123", "a", "x"])
        self.assertEqual(sorted(items), [("a", "a"), ("b", "x"), ("c", "123")])

    def test_inverse_mapping_works(self) -> None:
        self.assertEqual(inverse_mapping({"a": 123, "x": "x"}), {123: "a", "x": "x"})

    def test_inverse_mapping_raises_exception_when_values_arent_unique(self) -> None:
        self.assertRaises(ValueError, inverse_mapping, {"a": 1, "b": 1})

    def test_is_sorted(self) -> None:
        for sequence, kwargs, result in (
            ((1, 2, 3), {}, True),
            ([1, 2, 3], {}, True),
            ([2, 1], {}, False),
            ([1, 1], {}, True),
            ((), {}, True),
            ([], {}, True),
            ((3, 2, 1), {"reverse": True}, True),
            ((3, 2, 1), {"key": lambda e: -e}, True),
            ((1, 2, 3), {"reverse": True, "key": lambda e: -e}, True),
        ):
            self.assertEqual(is_sorted(sequence, **kwargs), result, (sequence, kwargs))

    def test_is_sorted_fails_on_sets(self) -> None:
        self.assertRaises(TypeError, is_sorted, set())

    def test_is_sorted_fails_on_dictionaries(self) -> None:
        self.assertRaises(TypeError, is_sorted, {})

    def test_has_unique_elements(self) -> None:
        self.assertEqual(has_unique_elements([1, 2, 3]), True)
        self.assertEqual(has_unique_elements([1, 2, 1]), False)

    def test_copy_keys_if_present(self) -> None:
        destination = {"a": "old val a"}
        copy_keys_if_present({"a": "new val a", "b": "val b"}, destination, ["a", "b", "c"])
        self.assertEqual(destination, {"a": "new val a", "b": "val b"})

    def test_listmap_works_and_returns_a_list(self) -> None:
        result = listmap(str, [1, 2])
        self.assertEqual((result, type(result)), (["1", "2"], list))


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
        self.assertTrue(is_sorted(("a", "b")))
        for not_a_sequence in (iter([1, 2, 3]), "abc", range(3), {1: 2}, {1}, None):
            self.assertRaises(TypeError, is_sorted, not_a_sequence)

    def test_group(self) -> None:
        self.assertEqual(list(group(range(7), 3)), [(0, 1, 2), (3, 4, 5), (6,)])
        self.assertEqual(list(group(range(6), 3)), [(0, 1, 2), (3, 4, 5)])
        self.assertEqual(list(group([1, 2], 5)), [(1, 2)])
        self.assertEqual(list(group("ab", 1)), [("a",), ("b",)])
        for bad in (0, -1):
            self.assertRaises(ValueError, group, "ab", bad)
        self.assertRaises(TypeError, group, "ab", 1.5)

    def test_group_is_lazy(self) -> None:
        taken = []

        def numbers() -> object:
            for i in range(100):
                taken.append(i)
                yield i

        chunks = group(numbers(), 2)
        self.assertEqual(taken, [])
        self.assertEqual(next(chunks), (0, 1))
        self.assertEqual(taken, [0, 1])

    @given(st.lists(st.integers()), st.integers(min_value=1, max_value=10))
    def test_group_property(self, items: list[int], n: int) -> None:
        chunks = list(group(items, n))
        self.assertEqual([x for chunk in chunks for x in chunk], items)
        self.assertTrue(all(len(chunk) == n for chunk in chunks[:-1]))
        if chunks:
            self.assertTrue(1 <= len(chunks[-1]) <= n)

    def test_has_unique_elements(self) -> None:
        self.assertTrue(has_unique_elements([]))
        self.assertTrue(has_unique_elements("abc"))
        self.assertFalse(has_unique_elements((1, 1.0)))
        self.assertTrue(has_unique_elements(iter([1, 2])))
        self.assertRaises(TypeError, has_unique_elements, [[1], [2]])

    def test_mapkeys_mapvalues(self) -> None:
        source = {1: "a", 2: "bb"}
        self.assertEqual(mapkeys(lambda k: k * 10, source), {10: "a", 20: "bb"})
        self.assertEqual(mapkeys(lambda k: 0, source), {0: "bb"})
        self.assertEqual(mapvalues(len, source), {1: 1, 2: 2})
        self.assertEqual(source, {1: "a", 2: "bb"})
        self.assertIsNot(mapvalues(lambda v: v, source), source)

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
