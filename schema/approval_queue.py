"""The approver's queue: filters, sort orders, keyset pages with a count."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from models.errors import DomainError, ErrorCode
from models.money import parse_amount
from resolvers import approval_queue as queue
from resolvers import approval_view
from schema.approval_types import BudgetImpactType, impact_from_view
from schema.order_types import Order, order_from_view
from schema.relay import Edge, PageInfo, connection_of, from_keyset_cursor, parse_global_id, to_keyset_cursor
from schema.selection import selects


@strawberry.enum(description="Order of the approval queue.")
class ApprovalQueueSort(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    WAITING_SINCE_ASC = strawberry.enum_value(
        "waiting_since_asc", description="Waiting longest first (default); ties by order, oldest first.")
    WAITING_SINCE_DESC = strawberry.enum_value("waiting_since_desc", description="Waiting shortest first.")
    TOTAL_DESC = strawberry.enum_value("total_desc", description="Largest gross total first.")
    TOTAL_ASC = strawberry.enum_value("total_asc", description="Smallest gross total first.")


@strawberry.input(description="Which orders of the queue to list; all given conditions must hold.")
class ApprovalQueueFilter:
    min_total: str | None = strawberry.field(
        default=None, description="Gross total at least this decimal amount (not negative).")
    max_total: str | None = strawberry.field(
        default=None, description="Gross total at most this decimal amount (not below `minTotal`).")
    buyer_id: strawberry.ID | None = strawberry.field(default=None, description="Placed by this user.")
    group_id: strawberry.ID | None = strawberry.field(default=None, description="Placed in this group.")
    waiting_since: datetime | None = strawberry.field(
        default=None, description="Waiting for you since this moment or earlier (waited at least since then).")

    def to_domain(self) -> queue.QueueFilter:
        return queue.QueueFilter(
            min_total_minor=parse_amount(self.min_total, "filter.minTotal") if self.min_total is not None else None,
            max_total_minor=parse_amount(self.max_total, "filter.maxTotal") if self.max_total is not None else None,
            buyer_id=_id(self.buyer_id, "User", "filter.buyerId"),
            group_id=_id(self.group_id, "Group", "filter.groupId"),
            waiting_since=self.waiting_since,
        )


def _id(value: str | None, type_name: str, field: str) -> int | None:
    """The key of an id filter; an id of another type, or no id at all, is refused rather than matching
    nothing (a well-formed id of no such row still matches nothing)."""
    if value is None:
        return None
    parsed = parse_global_id(value)
    if parsed is None or parsed[0] != type_name:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Not the id of a {type_name.lower()}", field)
    return parsed[1]


@strawberry.type(description="An order awaiting the caller's decision, with what it does to budgets.")
class QueuedOrder:
    order: Order = strawberry.field(description="The order, with its approval flow.")
    budget_impact: list[BudgetImpactType] = strawberry.field(description="Each budget the order commits against.")
    waiting_since: datetime = strawberry.field(
        description="Since when it waits for you: when the earliest tier you may decide became current (UTC).")


# Named as the connection was before it had a count, so that fragments on it keep working.
@strawberry.type(name="QueuedOrderConnection",
                 description="A page of the approval queue, Relay style, with the queue's size.")
class ApprovalQueueConnection:
    edges: list[Edge[QueuedOrder]] = strawberry.field(description="The orders of this page, in order.")
    page_info: PageInfo = strawberry.field(description="Pagination state.")
    total_count: int = strawberry.field(
        description="How many orders the queue holds under the filter (all pages).")


@strawberry.type
class ApprovalQueueQuery:
    @strawberry.field(description=(
        "Orders waiting for your decision, with their budget impact: filtered, waiting longest first unless "
        "`orderBy` says otherwise. Requires `order:approve`."))
    async def approval_queue(
        self, info: strawberry.Info,
        filter: Annotated[ApprovalQueueFilter | None, strawberry.argument(description="Conditions.")] = None,
        order_by: Annotated[ApprovalQueueSort, strawberry.argument(description="Sort order.")] = (
            ApprovalQueueSort.WAITING_SINCE_ASC),
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> ApprovalQueueConnection:
        sort = queue.QueueSort(order_by.value)
        async with info.context.reading() as ctx:
            conditions = (filter or ApprovalQueueFilter()).to_domain()
            page = await queue.approval_queue(
                ctx, filter=conditions, sort=sort, first=first, after=from_keyset_cursor(after))
            total = await queue.queue_size(ctx, filter=conditions) if selects(info, "totalCount") else 0
            views = [item.order for item in page.items]
            flows = await approval_view.flows(ctx, views)
            impacts = await approval_view.budget_impacts(ctx, [v.id for v in views])
        edges = [Edge(cursor=to_keyset_cursor(item.sort_value(sort), item.order.id), node=QueuedOrder(
            order=order_from_view(item.order, flows[item.order.id]),
            budget_impact=[impact_from_view(i, item.order.currency) for i in impacts[item.order.id]],
            waiting_since=item.waiting_since)) for item in page.items]
        pages = connection_of(edges, has_next_page=page.has_next_page, has_previous_page=after is not None)
        return ApprovalQueueConnection(edges=edges, page_info=pages.page_info, total_count=total)
