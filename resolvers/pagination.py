"""Keyset pagination: `first` rows after a key, on an indexed, unique, increasing column."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from models.errors import DomainError, ErrorCode

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    has_next_page: bool
    has_previous_page: bool


def check_page_size(first: int, maximum: int) -> None:
    if not 0 <= first <= maximum:
        raise DomainError(ErrorCode.INVALID_INPUT, f"first must be between 0 and {maximum}", "first")


async def keyset_page(
    session: AsyncSession, query: Select, key: InstrumentedAttribute, *, first: int, after: int | None, maximum: int,
    descending: bool = False,
) -> Page:
    check_page_size(first, maximum)
    if after is not None:
        query = query.where(key < after if descending else key > after)
    rows = (await session.scalars(query.order_by(key.desc() if descending else key).limit(first + 1))).unique().all()
    return Page(list(rows[:first]), len(rows) > first, after is not None)
