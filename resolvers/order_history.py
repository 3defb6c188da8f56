"""Order history: filters, ordering, keyset pagination that stays fast on page 1,000.

The cursor holds the sort value and the id of the last row, and the next page starts
strictly after that pair: new orders arriving meanwhile do not shift the pages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from sqlalchemy import func, or_, select, tuple_

from models import Order
from models.errors import DomainError, ErrorCode
from models.order_state import OrderStatus
from policies.scopes import visible_orders
from resolvers.context import UseCaseContext
from resolvers.order_view import PAGE_COLUMNS, OrderView, fetch_orders, page_rows
from resolvers.pagination import check_page_size


class OrderSort(str, Enum):
    SUBMITTED_AT_DESC = "submitted_at_desc"
    SUBMITTED_AT_ASC = "submitted_at_asc"
    TOTAL_DESC = "total_desc"
    TOTAL_ASC = "total_asc"

    @property
    def column(self):
        return Order.submitted_at if self.name.startswith("SUBMITTED") else Order.gross_minor

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


_ORDER_BY = {
    sort: (sort.column.desc(), Order.id.desc()) if sort.descending else (sort.column.asc(), Order.id.asc())
    for sort in OrderSort
}


@dataclass
class OrderFilter:
    statuses: list[OrderStatus] = field(default_factory=list)
    submitted_from: datetime | None = None
    submitted_to: datetime | None = None
    buyer_id: int | None = None
    group_id: int | None = None
    end_customer_id: int | None = None
    reference: str | None = None
    po_number: str | None = None
    min_total_minor: int | None = None
    max_total_minor: int | None = None
    search: str | None = None


@dataclass
class OrderPage:
    orders: list[OrderView]
    has_next_page: bool
    has_previous_page: bool
    sort: OrderSort


def _conditions(f: OrderFilter) -> list:
    conditions = []
    if f.statuses:
        conditions.append(Order.status.in_([s.value for s in f.statuses]))
    if f.submitted_from:
        conditions.append(Order.submitted_at >= f.submitted_from)
    if f.submitted_to:
        conditions.append(Order.submitted_at < f.submitted_to)
    for column, value in ((Order.buyer_id, f.buyer_id), (Order.group_id, f.group_id),
                          (Order.end_customer_id, f.end_customer_id)):
        if value is not None:
            conditions.append(column == value)
    if f.reference:
        conditions.append(func.lower(Order.reference).contains(f.reference.strip().lower(), autoescape=True))
    if f.po_number:
        conditions.append(Order.po_number == f.po_number.strip())
    if f.min_total_minor is not None:
        conditions.append(Order.gross_minor >= f.min_total_minor)
    if f.max_total_minor is not None:
        conditions.append(Order.gross_minor <= f.max_total_minor)
    if f.search:
        text = f.search.strip().lower()
        conditions.append(or_(func.lower(Order.number).contains(text, autoescape=True),
                              func.lower(Order.reference).contains(text, autoescape=True)))
    return conditions


def sort_value(view: OrderView, sort: OrderSort):
    return view.submitted_at if sort.column is Order.submitted_at else view.gross_minor


async def list_orders(
    ctx: UseCaseContext, *, filter: OrderFilter, sort: OrderSort, first: int, after: tuple | None,
    with_events: bool = False,
) -> OrderPage:
    actor = ctx.require_signed_in()
    check_page_size(first, ctx.settings.max_page_size)
    key = tuple_(sort.column, Order.id)
    # The page is chosen from `orders` alone (an index range scan), and only its rows are joined.
    page = select(*PAGE_COLUMNS).where(visible_orders(actor, ctx.services.authorizer), *_conditions(filter))
    if after is not None:
        if len(after) != 2 or not isinstance(after[0], datetime if sort.column is Order.submitted_at else int):
            raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after")
        page = page.where(key < tuple_(*after) if sort.descending else key > tuple_(*after))
    page = page.order_by(*sort.order_by).limit(first + 1)
    rows = (await ctx.session.execute(page_rows(page, sort.order_of))).all()
    views = await fetch_orders(ctx.session, rows[:first], with_events=with_events)
    return OrderPage(views, len(rows) > first, after is not None, sort)


