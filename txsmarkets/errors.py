"""The base of every txsmarkets error, `swallow` and `reraise`."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, Iterable, NoReturn, Type, TypeVar, Union

__all__ = ["Error", "reraise", "swallow"]

_T = TypeVar("_T")


class Error(Exception):
    """Base class for every txsmarkets error."""


#: An exception class, or any iterable of them (a tuple, a list, ...).
_Exceptions = Union[Type[BaseException], Iterable[Type[BaseException]]]


def _exception_classes(exceptions: _Exceptions) -> tuple[type[BaseException], ...]:
    if isinstance(exceptions, type):
        classes: tuple[Any, ...] = (exceptions,)
    else:
        try:
            classes = tuple(exceptions)
        except TypeError:
            raise TypeError(
                "swallow needs an exception class or an iterable of them,"
                f" not {exceptions!r}"
            ) from None
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(f"not an exception class: {cls!r}")
    return classes


class swallow:  # noqa: N801 - lower case, being used like a function
    """Turn the given exceptions into a default value.

    ``exceptions`` is an exception class or any iterable of them (a tuple, a list, ...);
    subclasses are swallowed too, others propagate. As a decorator the wrapped function
    returns ``default`` when it raises one of them; as a context manager they are suppressed
    (a ``with`` block has no value, so ``default`` plays no part there)::

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
        >>> with swallow([KeyError, IndexError]):
        ...     [][0]
        ...
    """

    def __init__(self, exceptions: _Exceptions, default: Any = None) -> None:
        """Swallow ``exceptions``, giving ``default``; TypeError if one is not an exception class."""
        #: The exception classes swallowed, as a tuple.
        self.exceptions: tuple[type[BaseException], ...] = _exception_classes(exceptions)
        self.default = default

    def __call__(self, function: Callable[..., _T]) -> Callable[..., _T | Any]:
        """Wrap ``function`` so that it returns ``default`` instead of raising ``exceptions``."""

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


def reraise(exception: BaseException) -> NoReturn:
    """Raise ``exception`` with the traceback of the exception being handled now.

    Meant for an ``except`` block that swaps the exception it caught for another: the new
    one shows where the first was raised (and, as any exception raised while handling
    another, keeps it as ``__context__``). Outside an ``except`` block it raises
    ``exception`` as it is.

    >>> try:
    ...     try:
    ...         {}['key']
    ...     except KeyError:
    ...         reraise(ValueError('no key'))
    ... except ValueError as error:
    ...     caught = error
    >>> caught.__traceback__.tb_next is not None, type(caught.__context__).__name__
    (True, 'KeyError')
    """
    raise exception.with_traceback(sys.exc_info()[2])
