"""Small helpers for dicts and sequences that the standard library lacks."""

from __future__ import annotations

import itertools
from typing import (
    Any,
    Callable,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    TypeVar,
)

__all__ = [
    "copy_keys_if_present",
    "group",
    "has_unique_elements",
    "inverse_mapping",
    "is_sorted",
    "listitems",
    "listkeys",
    "listmap",
    "listvalues",
    "mapkeys",
    "mapvalues",
    "merge_dicts",
]

_K = TypeVar("_K")
_V = TypeVar("_V")
_T = TypeVar("_T")
_H = TypeVar("_H", bound=Hashable)


def merge_dicts(*dicts: Mapping[_K, _V]) -> dict[_K, _V]:
    """Return ``dicts`` merged into a new dict; on a clash the later dict wins.

    >>> merge_dicts() == {}
    True
    >>> merge_dicts({'a': 2}) == {'a': 2}
    True
    >>> merge_dicts({'a': 2, 'b': 3}, {'a': 1, 'c': 4}) == {'a': 1, 'b': 3, 'c': 4}
    True
    """
    merged: dict[_K, _V] = {}
    for mapping in dicts:
        merged.update(mapping)
    return merged


def inverse_mapping(d: Mapping[_K, _H]) -> dict[_H, _K]:
    """Return a dict from the values of ``d`` to their keys; ValueError if a value repeats.

    >>> inverse_mapping({'a': 1, 'b': 2}) == {1: 'a', 2: 'b'}
    True
    """
    inverse: dict[_H, _K] = {}
    for key, value in d.items():
        if value in inverse:
            raise ValueError(
                f"cannot invert: value {value!r} is under both {inverse[value]!r} and {key!r}"
            )
        inverse[value] = key
    return inverse


def is_sorted(sequence: list[Any] | tuple[Any, ...], **sorted_kwargs: Any) -> bool:
    """Whether ``sequence`` is already in the order ``sorted(sequence, **sorted_kwargs)`` gives.

    TypeError unless ``sequence`` is a list or a tuple (a set or a dict has no order to check,
    and an iterator would be used up).

    >>> is_sorted([1, 2, 2, 3]), is_sorted([3, 1]), is_sorted((3, 1), reverse=True)
    (True, False, True)
    """
    if not isinstance(sequence, (list, tuple)):
        raise TypeError(f"is_sorted needs a list or a tuple, not {type(sequence).__name__}")
    items = list(sequence)
    return items == sorted(items, **sorted_kwargs)


def has_unique_elements(sequence: Iterable[Hashable]) -> bool:
    """Whether no element of ``sequence`` is equal to another; TypeError for unhashable ones.

    >>> has_unique_elements([1, 2, 3]), has_unique_elements([1, 2, 1])
    (True, False)
    """
    items = list(sequence)
    return len(set(items)) == len(items)


def mapkeys(function: Callable[[_K], _H], d: Mapping[_K, _V]) -> dict[_H, _V]:
    """A new dict of ``function(key): value`` for the items of ``d``.

    Keys that ``function`` makes equal collapse into one, the last item winning.

    >>> mapkeys(str, {1: 'this', 2: 'that'}) == {'1': 'this', '2': 'that'}
    True
    """
    return {function(key): value for key, value in d.items()}


def mapvalues(function: Callable[[_V], _T], d: Mapping[_K, _V]) -> dict[_K, _T]:
    """A new dict of ``key: function(value)`` for the items of ``d``.

    >>> mapvalues(len, {1: 'this', 2: 'it'}) == {1: 4, 2: 2}
    True
    """
    return {key: function(value) for key, value in d.items()}


def group(iterable: Iterable[_T], n: int) -> Iterator[tuple[_T, ...]]:
    """The elements of ``iterable`` in tuples of ``n``, the last one shorter if need be.

    Lazy: it takes ``n`` elements at a time. ValueError unless ``n`` is at least 1.

    >>> list(group('ABCDE', 2))
    [('A', 'B'), ('C', 'D'), ('E',)]
    >>> list(group('', 2))
    []
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, not {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    return _group(iter(iterable), n)


def _group(iterator: Iterator[_T], n: int) -> Iterator[tuple[_T, ...]]:
    while chunk := tuple(itertools.islice(iterator, n)):
        yield chunk


def copy_keys_if_present(
    source: Mapping[_K, _V], destination: MutableMapping[_K, _V], keys: Iterable[_K]
) -> None:
    """Copy the ``keys`` that ``source`` has into ``destination``, skipping those it lacks."""
    for key in keys:
        if key in source:
            destination[key] = source[key]


def listitems(d: Mapping[_K, _V]) -> list[tuple[_K, _V]]:
    """The items of ``d`` as a list."""
    return list(d.items())


def listkeys(d: Mapping[_K, _V]) -> list[_K]:
    """The keys of ``d`` as a list."""
    return list(d)


def listvalues(d: Mapping[_K, _V]) -> list[_V]:
    """The values of ``d`` as a list."""
    return list(d.values())


def listmap(function: Callable[..., _V], *iterables: Iterable[Any]) -> list[_V]:
    """``map`` as a list; as Python 3's ``map``, it stops at the shortest iterable."""
    return list(map(function, *iterables))
