"""Decorators of the 9.3 client: `overrides`, `memoized`, `always_return`,
`deprecated_with_message`, and `lru_cache`.

``lru_cache`` is the standard library's, kept here under the original client's name.
"""

from __future__ import annotations

import functools
import threading
import warnings
from functools import lru_cache
from typing import Any, Callable, Hashable, ParamSpec, TypeVar

__all__ = [
    "OverrideError",
    "always_return",
    "deprecated_with_message",
    "lru_cache",
    "memoized",
    "overrides",
]

_F = TypeVar("_F", bound=Callable[..., Any])
_P = ParamSpec("_P")
_R = TypeVar("_R")
_V = TypeVar("_V")


class OverrideError(Exception):
    """A method marked with `overrides` overrides nothing, or brings its own docstring."""


def overrides(ancestor_class: type) -> Callable[[_F], _F]:
    """Mark a method as overriding the method of the same name in ``ancestor_class``.

    The method must be defined in ``ancestor_class`` itself: its own ancestors are not
    searched, so that the mark names the class the method really comes from. The
    overriding method takes the overridden one's docstring and may not have its own.

    >>> class Parent(object):
    ...     def method(self):
    ...         'parent docstring'
    ...
    >>> class BadChild1(Parent):  # doctest: +NORMALIZE_WHITESPACE
    ...     @overrides(Parent)
    ...     def methd(self):
    ...         pass
    ...
    Traceback (most recent call last):
    txsmarkets.functools.OverrideError: No method 'methd'
        in class <class 'txsmarkets.functools.Parent'> to override
    >>> class BadChild2(Parent):
    ...     @overrides(Parent)
    ...     def method(self):
    ...         'child method docstring'
    ...
    Traceback (most recent call last):
    txsmarkets.functools.OverrideError: No docstrings allowed in overriding method
    >>> class IntermediateChild(Parent):
    ...     pass
    ...
    >>> class BadChild3(IntermediateChild):  # doctest: +NORMALIZE_WHITESPACE
    ...     @overrides(IntermediateChild)
    ...     def method(self):
    ...         pass
    ...
    Traceback (most recent call last):
    txsmarkets.functools.OverrideError: No method 'method'
        in class <class 'txsmarkets.functools.IntermediateChild'> to override
    >>> class GoodChild(Parent):
    ...     @overrides(Parent)
    ...     def method(self):
    ...         return 1
    ...
    >>> child = GoodChild()
    >>> str(child.method.__doc__)
    'parent docstring'
    >>> child.method()
    1
    """

    def mark(method: _F) -> _F:
        # properties carry their name on the getter
        name = getattr(method, "__name__", None) or getattr(
            getattr(method, "fget", None), "__name__", None
        )
        if name is None or name not in vars(ancestor_class):
            raise OverrideError(f"No method {name!r} in class {ancestor_class!r} to override")
        if method.__doc__ is not None:
            raise OverrideError("No docstrings allowed in overriding method")
        method.__doc__ = getattr(vars(ancestor_class)[name], "__doc__", None)
        return method

    return mark


def memoized(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """Cache ``function``'s results by the positional and keyword arguments of each call.

    The cache is unbounded and keeps every result; the arguments must be hashable (else
    TypeError). A call with an argument given by keyword is cached apart from one with the
    same argument given by position; keyword arguments count whatever their order.
    ``wrapper.cache_clear()`` empties the cache.

    >>> @memoized
    ... def add(x, y):
    ...     print('adding')
    ...     return x + y
    ...
    >>> add(1, 2)
    adding
    3
    >>> add(1, 2)
    3
    """
    cache: dict[Hashable, _R] = {}
    lock = threading.Lock()

    @functools.wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        key = (args, tuple(sorted(kwargs.items())))
        with lock:
            if key in cache:
                return cache[key]
        value = function(*args, **kwargs)
        with lock:
            # A call that finished first in another thread wins, so every caller sees one value.
            return cache.setdefault(key, value)

    def cache_clear() -> None:
        with lock:
            cache.clear()

    wrapper.cache_clear = cache_clear  # type: ignore[attr-defined]
    return wrapper


def always_return(value: _V) -> Callable[..., _V]:
    """A function that takes any arguments and returns ``value``.

    >>> always_return(42)(1, a='a')
    42
    """

    def constant(*args: Any, **kwargs: Any) -> _V:
        return value

    return constant


def deprecated_with_message(message: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Mark a function deprecated: each call warns ``DeprecationWarning`` with ``message``.

    The warning reads ``Function 'name' is deprecated. <message>`` and points at the caller.

    >>> import warnings
    >>> @deprecated_with_message('Use new() instead.')
    ... def old():
    ...     return 1
    ...
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter('always')
    ...     old()
    1
    >>> str(caught[0].message), caught[0].category.__name__
    ("Function 'old' is deprecated. Use new() instead.", 'DeprecationWarning')
    """

    def decorate(function: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(function)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            warnings.warn(
                f"Function {function.__name__!r} is deprecated. {message}",
                DeprecationWarning,
                stacklevel=2,
            )
            return function(*args, **kwargs)

        return wrapper

    return decorate
