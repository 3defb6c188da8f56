"""A bounded LRU cache of what is derived from a parsed document (its validation, its price).

Parsed documents are cached and reused (ParserCache), so an entry is keyed by the document's
identity rather than by its value: hashing a document hashes its whole tree on every request.
The entry holds the document, so that its id cannot be reused by another one while it exists.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from graphql import DocumentNode

V = TypeVar("V")


class DocumentCache(Generic[V]):
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: OrderedDict[tuple, tuple[DocumentNode, V]] = OrderedDict()

    def get(self, document: DocumentNode, key: tuple[Hashable, ...], compute: Callable[[], V]) -> V:
        """The value for (document, *key), computed on a miss."""
        full_key = (id(document), *key)
        entry = self._entries.get(full_key)
        if entry is not None and entry[0] is document:
            self._entries.move_to_end(full_key)
            return entry[1]
        value = compute()
        self._entries[full_key] = (document, value)
        if len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)
        return value
