"""The approver's queue: orders waiting for the caller's decision, filtered, sorted by how long they
have waited or by amount, with keyset pagination and a count.

An order waits for the caller since the earliest `waiting_since` of its current steps the caller may
decide (an order can wait on several rules at once). A page takes a fixed number of statements: the
page's keys (orders joined to that per-order minimum), the count when asked for, then the orders'
rows; flows and budget impact add their own fixed number (approval_view).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, bindparam, func, select, tuple_

from models import Order, OrderApprovalStep
from models.errors import DomainError, ErrorCode
from models.order_state import OrderStatus
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import company_rows, company_scope, eligible_step
from resolvers.context import UseCaseContext
from resolvers.order_view import OrderView, fetch_orders, order_rows
from resolvers.pagination import check_page_size


class QueueSort(StrEnum):
    WAITING_SINCE_ASC = "waiting_since_asc"
    WAITING_SINCE_DESC = "waiting_since_desc"
    TOTAL_DESC = "total_desc"
    TOTAL_ASC = "total_asc"

    @property
    def by_amount(self) -> bool:
        return self.name.startswith("TOTAL")

    @property
    def descending(self) -> bool:
        return self.name.endswith("DESC")


@dataclass
class QueueFilter:
    min_total_minor: int | None = None
    max_total_minor: int | None = None
    buyer_id: int | None = None
    group_id: int | None = None
    waiting_since: datetime | None = None  # waiting since this moment or earlier


@dataclass
class QueuedView:
    order: OrderView
    waiting_since: datetime

    def sort_value(self, sort: QueueSort) -> int | datetime:
        return self.order.gross_minor if sort.by_amount else self.waiting_since


@dataclass
class QueuePage:
    items: list[QueuedView]
    has_next_page: bool


def check_filter(f: QueueFilter) -> None:
    for value, name in ((f.min_total_minor, "minTotal"), (f.max_total_minor, "maxTotal")):
        if value is not None and value < 0:
            raise DomainError(ErrorCode.INVALID_INPUT, "An amount to filter by is not negative", f"filter.{name}")
    if f.min_total_minor is not None and f.max_total_minor is not None and f.min_total_minor > f.max_total_minor:
        raise DomainError(ErrorCode.INVALID_INPUT, "The largest total is below the smallest", "filter.maxTotal")


def _waits(actor: Actor):
    """Per order, since when it waits for the actor: the earliest current step they may decide.
    A step made current before waiting_since existed, and not backfilled, counts from its submission
    (the outer query coalesces)."""
    return (company_rows(OrderApprovalStep, actor, OrderApprovalStep.order_id,
                         func.min(OrderApprovalStep.waiting_since).label("waiting_since"))
            .where(eligible_step(actor)).group_by(OrderApprovalStep.order_id).subquery("waits"))


def queue_rows(actor: Actor, f: QueueFilter) -> tuple[Select, ColumnElement]:
    """The queue's orders (id, waiting since, total) under the filter, and the waiting-since column."""
    waits = _waits(actor)
    since = func.coalesce(waits.c.waiting_since, Order.submitted_at)
    conditions = [Order.status == OrderStatus.PENDING_APPROVAL.value, Order.buyer_id != actor.membership_id]
    if f.min_total_minor is not None:
        conditions.append(Order.gross_minor >= f.min_total_minor)
    if f.max_total_minor is not None:
        conditions.append(Order.gross_minor <= f.max_total_minor)
    if f.buyer_id is not None:
        conditions.append(Order.buyer_id == f.buyer_id)
    if f.group_id is not None:
        conditions.append(Order.group_id == f.group_id)
    if f.waiting_since is not None:
        conditions.append(since <= f.waiting_since)
    query = company_scope(Order, actor).apply(
        select(Order.id, since.label("since"), Order.gross_minor).join(waits, waits.c.order_id == Order.id)
    ).where(*conditions)
    return query, since


async def approval_queue(
    ctx: UseCaseContext, *, filter: QueueFilter, sort: QueueSort, first: int, after: tuple | None,
) -> QueuePage:
    actor = ctx.require(Permission.ORDER_APPROVE)
    check_page_size(first, ctx.settings.max_page_size)
    check_filter(filter)
    query, since = queue_rows(actor, filter)
    value = Order.gross_minor if sort.by_amount else since
    if after is not None:
        if len(after) != 2 or not isinstance(after[0], int if sort.by_amount else datetime):
            raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after")
        key = tuple_(value, Order.id)
        bound = tuple_(bindparam("after_value", after[0], type_=value.type), bindparam("after_id", after[1]))
        query = query.where(key < bound if sort.descending else key > bound)
    order = (value.desc(), Order.id.desc()) if sort.descending else (value.asc(), Order.id.asc())
    keys = (await ctx.session.execute(query.order_by(*order).limit(first + 1))).all()
    page = keys[:first]
    rows = (await ctx.session.execute(company_scope(Order, actor).apply(order_rows()).where(
        Order.id.in_([k.id for k in page])))).all() if page else []
    views = {view.id: view for view in await fetch_orders(ctx.session, rows)}
    return QueuePage([QueuedView(views[k.id], _aware(k.since)) for k in page], len(keys) > first)


async def queue_size(ctx: UseCaseContext, *, filter: QueueFilter) -> int:
    """How many orders the queue holds under the filter (one statement)."""
    actor = ctx.require(Permission.ORDER_APPROVE)
    check_filter(filter)
    query, _ = queue_rows(actor, filter)
    return (await ctx.session.scalar(select(func.count()).select_from(query.subquery()))) or 0


def _aware(value: datetime) -> datetime:
    """The stored UTC time, whatever the driver gives back for an aggregate of it."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
