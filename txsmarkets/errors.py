"""The base of every txsmarkets error, and `swallow`."""

from __future__ import annotations

import functools
from typing import Any, Callable, Tuple, Type, TypeVar, Union

_T = TypeVar("_T")


class Error(Exception):
    """Base class for every txsmarkets error."""


_Exceptions = Union[Type[BaseException], Tuple[Type[BaseException], ...]]


class swallow:  # noqa: N801 - lower case, being used like a function
    """Turn the given exceptions into a default value.

    As a decorator the wrapped function returns `default` when it raises one of
    `exceptions`; as a context manager the exceptions are suppressed (a ``with`` block has
    no value, so `default` plays no part there)::

        >>> @swallow(NameError, default=2)
        ... def fun():
        ...     a = b  # noqa
        ...     return 1
        ...
        >>> fun()
        2
        >>> with swallow(KeyError):
        ...     raise KeyError('key')
        ...
        >>> with swallow((KeyError, IndexError)):
        ...     [][0]
        ...
    """

    def __init__(self, exceptions: _Exceptions, default: Any = None) -> None:
        self.exceptions = exceptions
        self.default = default

    def __call__(self, function: Callable[..., _T]) -> Callable[..., _T | Any]:
        @functools.wraps(function)
        def swallowing(*args: Any, **kwargs: Any) -> _T | Any:
            try:
                return function(*args, **kwargs)
            except self.exceptions:
                return self.default

        return swallowing

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: Any, tb: Any) -> bool:
        return exc_type is not None and issubclass(exc_type, self.exceptions)
