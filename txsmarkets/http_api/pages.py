"""Paginated listings: an async iterator over their pages, and a helper that collects all.

A listing (events, orders, account activity, fullcover orders) answers a page at a time,
with ``next_page``: a query string to ask the same path with for the next page, None after
the last. `Pages` follows it::

    async for page in client.events_pages(state=["upcoming"]):
        for event in page.items:
            ...

and `Pages.collect` (or `collect`) gathers every item into one list.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, Protocol, Sequence, TypeVar
from urllib.parse import parse_qsl

from twisted.internet.defer import Deferred

__all__ = ["Page", "Pages", "Query", "collect", "follow"]

_T_co = TypeVar("_T_co", covariant=True)
_P = TypeVar("_P", bound="Page[Any]")

#: A query string as (key, value) pairs, a key repeated for each value of an array.
Query = list[tuple[str, str]]


class Page(Protocol[_T_co]):
    """A page of a listing: its ``items`` and the ``next_page`` query string (None at the
    end)."""

    @property
    def items(self) -> Sequence[_T_co]: ...

    @property
    def next_page(self) -> str | None: ...


def follow(query: Query, next_page: str) -> Query:
    """The query for the page after one asked with ``query``: ``next_page``'s parameters
    take the place of those of the same name; the others (the filters) are kept, should the
    API's ``next_page`` leave them out."""
    following = parse_qsl(next_page.lstrip("?"), keep_blank_values=True)
    given = {key for key, _ in following}
    return [(k, v) for k, v in query if k not in given] + following


class Pages(Generic[_P]):
    """The pages of a listing, asked one at a time as the iteration goes on.

    An async iterator (``async for page in pages``; each ``page`` a `Page`, whose
    ``items`` are the listing's), for use in a coroutine run by Twisted
    (``Deferred.fromCoroutine``, ``ensureDeferred``): ``fetch(query)`` fetches a page
    and returns a Deferred. It stops after a page with no ``next_page``, or with no items
    (so that an API which keeps giving a next page of nothing cannot loop it forever).
    """

    def __init__(self, fetch: Callable[[Query], Deferred[_P]], query: Query) -> None:
        self._fetch = fetch
        self._query: Query | None = query

    def __aiter__(self) -> Pages[_P]:
        return self

    async def __anext__(self) -> _P:
        query = self._query
        if query is None:
            raise StopAsyncIteration
        self._query = None
        page = await self._fetch(query)
        if page.next_page and page.items:
            self._query = follow(query, page.next_page)
        return page

    def collect(self) -> Deferred[list[Any]]:
        """Every item of the pages still to come, in order, in one list."""
        return collect(self)


def collect(pages: Pages[Any]) -> Deferred[list[Any]]:
    """Every item of ``pages`` (those still to come), in order: a Deferred of one list."""

    async def gather() -> list[Any]:
        items: list[Any] = []
        async for page in pages:
            items.extend(page.items)
        return items

    return Deferred.fromCoroutine(gather())
