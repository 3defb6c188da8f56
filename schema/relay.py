"""Relay conventions: opaque global ids, the Node interface, cursor connections."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timezone
from functools import lru_cache
from typing import Generic, TypeVar

import strawberry

from models.errors import DomainError, ErrorCode
from resolvers.pagination import Page

T = TypeVar("T")


def _encode(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(value: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


@lru_cache(maxsize=65536)
def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(_encode(f"{type_name}:{pk}"))


def parse_global_id(value: str) -> tuple[str, int] | None:
    decoded = _decode(value)
    if decoded is None or ":" not in decoded:
        return None
    type_name, _, pk = decoded.partition(":")
    return (type_name, int(pk)) if pk.isdigit() and len(pk) < 19 else None


def decode_id(value: str | None, type_name: str) -> int | None:
    """The primary key of a global id of the given type; None for anything else."""
    parsed = parse_global_id(value) if value else None
    return parsed[1] if parsed and parsed[0] == type_name else None


def to_cursor(pk: int) -> str:
    return _encode(f"cursor:{pk}")


def from_cursor(cursor: str | None) -> int | None:
    """The key after which a page starts; an unreadable cursor is an INVALID_INPUT error."""
    if cursor is None:
        return None
    decoded = _decode(cursor)
    if decoded is None or not decoded.startswith("cursor:") or not decoded[7:].isdigit():
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after")
    return int(decoded[7:])


@strawberry.interface(description="An object with a global, opaque id; `node(id:)` fetches any of them.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global, opaque identifier of the object.")


@strawberry.type(description="Where a page of a connection sits in the whole list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    has_previous_page: bool = strawberry.field(description="Whether items precede this page.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item of the page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item; pass it as `after` for the next page.")


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
    if cursor is None:
        return None
    try:
        value, pk = json.loads(_decode(cursor) or "")
        if isinstance(value, dict):
            value = datetime.fromisoformat(value["t"])
            if value.tzinfo is None:
                raise ValueError("naive time in cursor")
            value = value.astimezone(timezone.utc)
        if not isinstance(pk, int) or not isinstance(value, (int, datetime)):
            raise ValueError
        return value, pk
    except (ValueError, TypeError, KeyError):
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after") from None
