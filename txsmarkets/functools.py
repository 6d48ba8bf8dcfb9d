"""`overrides`, to state (and check) that a method overrides a parent's; `lru_cache`.

``lru_cache`` is the standard library's, kept here under the original client's name.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, TypeVar

__all__ = ["OverrideError", "lru_cache", "overrides"]

_F = TypeVar("_F", bound=Callable[..., Any])


class OverrideError(Exception):
    """A method marked with `overrides` overrides nothing, or brings its own docstring."""


def overrides(ancestor_class: type) -> Callable[[_F], _F]:
    """Mark a method as overriding the method of the same name in `ancestor_class`.

    The method must be defined in `ancestor_class` itself: its own ancestors are not
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
