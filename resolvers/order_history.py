"""Order history: filters, ordering, keyset pagination that stays fast on page 1,000.

The cursor holds the sort value and the id of the last row, and the next page starts
strictly after that pair: new orders arriving meanwhile do not shift the pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Integer, Select, bindparam, exists, func, or_, select, tuple_

from models import Order, OrderChange
from models.db import plain_rows
from models.errors import DomainError, ErrorCode
from models.order_state import OrderStatus
from policies.scopes import OrderScope, order_scope, order_shape_scope
from resolvers.changes import Position
from resolvers.context import UseCaseContext
from resolvers.order_view import PAGE_COLUMNS, OrderView, fetch_orders, page_rows
from resolvers.pagination import check_page_size


class OrderSort(StrEnum):
    SUBMITTED_AT_DESC = "submitted_at_desc"
    SUBMITTED_AT_ASC = "submitted_at_asc"
    TOTAL_DESC = "total_desc"
    TOTAL_ASC = "total_asc"
    UPDATED_AT_DESC = "updated_at_desc"
    UPDATED_AT_ASC = "updated_at_asc"

    @property
    def column(self):
        if self.name.startswith("SUBMITTED"):
            return Order.submitted_at
        return Order.updated_at if self.name.startswith("UPDATED") else Order.gross_minor

    @property
    def descending(self) -> bool:
        return self.name.endswith("DESC")

    @property
    def order_by(self) -> tuple:
        return _ORDER_BY[self]

    def order_of(self, columns) -> tuple:
        """This order over the same-named columns of a subquery of orders."""
        column, key = columns[self.column.key], columns.id
        return (column.desc(), key.desc()) if self.descending else (column.asc(), key.asc())


_ORDER_BY = {sort: sort.order_of(Order.__table__.c) for sort in OrderSort}


@dataclass
class OrderFilter:
    statuses: list[OrderStatus] = field(default_factory=list)
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    buyer_id: int | None = None
    group_id: int | None = None
    end_customer_id: int | None = None
    reference: str | None = None
    po_number: str | None = None
    min_total_minor: int | None = None
    max_total_minor: int | None = None
    search: str | None = None
    # Orders with a change after this feed position (the export's `after`; not a GraphQL filter).
    changed_after: Position | None = None


@dataclass
class OrderPage:
    orders: list[OrderView]
    has_next_page: bool
    has_previous_page: bool
    sort: OrderSort


def _contains_pattern(text: str) -> str:
    """A LIKE pattern finding `text` anywhere, its own wildcards escaped (escape character "/")."""
    return "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


# Each filter's condition over a bound parameter of the filter's name, built once.
_FILTERS = {
    "statuses": Order.status.in_(bindparam("statuses", expanding=True)),
    "submitted_from": Order.submitted_at >= bindparam("submitted_from"),
    "submitted_to": Order.submitted_at < bindparam("submitted_to"),
    "updated_from": Order.updated_at >= bindparam("updated_from"),
    "updated_to": Order.updated_at < bindparam("updated_to"),
    "buyer_id": Order.buyer_id == bindparam("buyer_id"),
    "group_id": Order.group_id == bindparam("group_id"),
    "end_customer_id": Order.end_customer_id == bindparam("end_customer_id"),
    "reference": func.lower(Order.reference).like(bindparam("reference"), escape="/"),
    "po_number": Order.po_number == bindparam("po_number"),
    "min_total_minor": Order.gross_minor >= bindparam("min_total_minor"),
    "max_total_minor": Order.gross_minor <= bindparam("max_total_minor"),
    "search": or_(func.lower(Order.number).like(bindparam("search"), escape="/"),
                  func.lower(Order.reference).like(bindparam("search"), escape="/")),
    # An EXISTS probe per order (ix_order_changes_order_id) rather than a scan of every later change.
    "changed_after": exists().where(
        OrderChange.order_id == Order.id,
        tuple_(OrderChange.txid, OrderChange.id) > tuple_(bindparam("changed_after", type_=BigInteger()),
                                                         bindparam("changed_after_id", type_=BigInteger()))),
}


def filter_values(f: OrderFilter) -> dict[str, Any]:
    """The parameters of the filters in use; each filter's own parameter has the filter's name (see
    filter_names)."""
    values: dict[str, Any] = {}
    if f.statuses:
        values["statuses"] = [s.value for s in f.statuses]
    for name in ("submitted_from", "submitted_to", "updated_from", "updated_to"):
        if getattr(f, name):
            values[name] = getattr(f, name)
    for name in ("buyer_id", "group_id", "end_customer_id", "min_total_minor", "max_total_minor"):
        if getattr(f, name) is not None:
            values[name] = getattr(f, name)
    if f.reference:
        values["reference"] = _contains_pattern(f.reference.strip().lower())
    if f.po_number:
        values["po_number"] = f.po_number.strip()
    if f.search:
        values["search"] = _contains_pattern(f.search.strip().lower())
    if f.changed_after is not None:
        values["changed_after"], values["changed_after_id"] = f.changed_after
    return values


def filter_names(values: dict[str, Any]) -> tuple[str, ...]:
    """The filters in use, in a fixed order (part of the key of a cached statement)."""
    return tuple(sorted(name for name in values if name in _FILTERS))


@lru_cache(maxsize=512)
def _page_statement(sort: OrderSort, scope: OrderScope, filters: tuple[str, ...], keyset: bool) -> Select:
    """One history page of a shape (sort, visibility, filters in use, first page or not), with its
    values as bound parameters: built once per shape, not per request."""
    # The page is chosen from `orders` alone (an index range scan), and only its rows are joined.
    page = order_shape_scope(scope).apply(select(*PAGE_COLUMNS)).where(*(_FILTERS[name] for name in filters))
    if keyset:
        key = tuple_(sort.column, Order.id)
        after = tuple_(bindparam("after_value", type_=sort.column.type), bindparam("after_id", type_=Order.id.type))
        page = page.where(key < after if sort.descending else key > after)
    page = page.order_by(*sort.order_by).limit(bindparam("page_limit", type_=Integer))
    return page_rows(page, sort.order_of)


def page_statement(sort: OrderSort, scope: OrderScope, filters: tuple[str, ...], keyset: bool) -> Select:
    """The statement of a page (see _page_statement), for other readers of the history (the export)."""
    return _page_statement(sort, scope, filters, keyset)


def sort_value(view: OrderView, sort: OrderSort):
    return getattr(view, sort.column.key)  # submitted_at, updated_at or gross_minor


async def list_orders(
    ctx: UseCaseContext, *, filter: OrderFilter, sort: OrderSort, first: int, after: tuple | None,
    with_events: bool = False,
) -> OrderPage:
    actor = ctx.require_signed_in()
    check_page_size(first, ctx.settings.max_page_size)
    scope, params = order_scope(actor, ctx.services.authorizer)
    values = filter_values(filter)
    params.update(values, page_limit=first + 1)
    if after is not None:
        if len(after) != 2 or not isinstance(after[0], int if sort.column is Order.gross_minor else datetime):
            raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after")
        params.update(after_value=after[0], after_id=after[1])
    statement = _page_statement(sort, scope, filter_names(values), after is not None)
    rows = await plain_rows(ctx.session, statement, params)
    views = await fetch_orders(ctx.session, rows[:first], with_events=with_events)
    return OrderPage(views, len(rows) > first, after is not None, sort)


