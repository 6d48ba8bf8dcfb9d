"""Small helpers for dicts and sequences that the standard library lacks."""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Mapping, MutableMapping, TypeVar

__all__ = [
    "copy_keys_if_present",
    "inverse_mapping",
    "is_sorted",
    "listitems",
    "listkeys",
    "listmap",
    "listvalues",
    "merge_dicts",
]

_K = TypeVar("_K")
_V = TypeVar("_V")
_H = TypeVar("_H", bound=Hashable)


def merge_dicts(*dicts: Mapping[_K, _V]) -> dict[_K, _V]:
    """Return `dicts` merged into a new dict; on a clash the later dict wins.

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
    """Return a dict from the values of `d` to their keys; ValueError if a value repeats.

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


def is_sorted(sequence: Iterable[Any], **sorted_kwargs: Any) -> bool:
    """Whether `sequence` is already in the order ``sorted(sequence, **sorted_kwargs)`` gives.

    >>> is_sorted([1, 2, 2, 3]), is_sorted([3, 1]), is_sorted([3, 1], reverse=True)
    (True, False, True)
    """
    items = list(sequence)
    return items == sorted(items, **sorted_kwargs)


def copy_keys_if_present(
    source: Mapping[_K, _V], destination: MutableMapping[_K, _V], keys: Iterable[_K]
) -> None:
    """Copy the `keys` that `source` has into `destination`, skipping those it lacks."""
    for key in keys:
        if key in source:
            destination[key] = source[key]


def listitems(d: Mapping[_K, _V]) -> list[tuple[_K, _V]]:
    """The items of `d` as a list."""
    return list(d.items())


def listkeys(d: Mapping[_K, _V]) -> list[_K]:
    """The keys of `d` as a list."""
    return list(d)


def listvalues(d: Mapping[_K, _V]) -> list[_V]:
    """The values of `d` as a list."""
    return list(d.values())


def listmap(function: Callable[..., _V], *iterables: Iterable[Any]) -> list[_V]:
    """``map`` as a list; as Python 3's ``map``, it stops at the shortest iterable."""
    return list(map(function, *iterables))
