"""Relay conventions: opaque global ids, the Node interface, cursor connections."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Generic, TypeVar

import strawberry

from models.errors import DomainError, ErrorCode
from resolvers.pagination import Page

T = TypeVar("T")


MAX_KEY = 2**31 - 1  # primary keys are 32-bit integers on PostgreSQL: a larger one is no row, not a crash
MAX_SORT_VALUE = 2**63 - 1  # amounts in a keyset cursor are 64-bit integers


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(value: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _key(text: str) -> int | None:
    """A primary key written as to_global_id writes it: ASCII digits, no sign, no leading zero."""
    if not (text.isascii() and text.isdigit()) or (len(text) > 1 and text[0] == "0") or len(text) > 10:
        return None
    key = int(text)
    return key if key <= MAX_KEY else None


@lru_cache(maxsize=65536)
def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(_encode(f"{type_name}:{pk}"))


def parse_global_id(value: str) -> tuple[str, int] | None:
    """The type and key of a global id; None unless it is exactly what to_global_id gives for them
    (base64 decoding tolerates padding, stray characters and non-zero spare bits: one object, one id)."""
    decoded = _decode(value) if isinstance(value, str) else None
    if decoded is None or ":" not in decoded:
        return None
    type_name, _, text = decoded.partition(":")
    key = _key(text)
    if key is None or to_global_id(type_name, key) != value:
        return None
    return type_name, key


def decode_id(value: str | None, type_name: str) -> int | None:
    """The primary key of a global id of the given type; None for anything else."""
    parsed = parse_global_id(value) if value else None
    return parsed[1] if parsed and parsed[0] == type_name else None


def optional_id(value: str | None, type_name: str) -> int | None:
    """The key of an optional id argument: None only when it is absent (null). Any other value that is
    not an id of this type, the empty string included, is 0, which no row has: a filter on it matches
    nothing and a change of it is NOT_FOUND, never "no filter" or "create a new one"."""
    return None if value is None else decode_id(value, type_name) or 0


def to_cursor(pk: int) -> str:
    return _encode(f"cursor:{pk}")


def from_cursor(cursor: str | None) -> int | None:
    """The key after which a page starts; anything but a cursor this API gave is an INVALID_INPUT error."""
    if cursor is None:
        return None
    decoded = _decode(cursor)
    key = _key(decoded[7:]) if decoded is not None and decoded.startswith("cursor:") else None
    if key is None or to_cursor(key) != cursor:
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after")
    return key


@strawberry.interface(description="An object with a global, opaque id; `node(id:)` fetches any of them.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global, opaque identifier of the object.")


@strawberry.type(description="Where a page of a connection sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    has_previous_page: bool = strawberry.field(description="Whether items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item of the page.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item; pass it as `after` for the next page.")


@strawberry.type(description="One item of a connection with its cursor.")
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Opaque position of this item, usable as `after`.")
    node: T = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, Relay style: at most 100 items a page.")
class Connection(Generic[T]):
    edges: list[Edge[T]] = strawberry.field(description="The items of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")


def connection(page: Page, to_node, key=lambda item: item.id) -> Connection:
    edges = [Edge(cursor=to_cursor(key(item)), node=to_node(item)) for item in page.items]
    return connection_of(edges, has_next_page=page.has_next_page, has_previous_page=page.has_previous_page)


def connection_of(edges: list[Edge], *, has_next_page: bool, has_previous_page: bool) -> Connection:
    """A connection of ready-made edges (for cursors other than by id)."""
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next_page, has_previous_page=has_previous_page,
            start_cursor=edges[0].cursor if edges else None, end_cursor=edges[-1].cursor if edges else None,
        ),
    )


def to_keyset_cursor(value, pk: int) -> str:
    """A cursor holding the sort value and the id of a row (for sorts other than by id)."""
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    return _encode(json.dumps([value, pk], separators=(",", ":")))


def from_keyset_cursor(cursor: str | None) -> tuple | None:
    """The sort value and id a page starts after; anything but a cursor this API gave is an
    INVALID_INPUT error (re-encoding must give the cursor back: one position, one cursor)."""
    if cursor is None:
        return None
    try:
        value, pk = json.loads(_decode(cursor) or "")
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
            if value.utcoffset() != timedelta(0):
                raise ValueError("cursor times are UTC")
        elif type(value) is not int or abs(value) > MAX_SORT_VALUE:
            raise ValueError("not a sort value")
        if type(pk) is not int or not 0 < pk <= MAX_KEY or to_keyset_cursor(value, pk) != cursor:
            raise ValueError("not a cursor of this API")
        return value, pk
    except (ValueError, TypeError, KeyError):
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after") from None
