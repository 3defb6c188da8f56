"""The order change feed: `orderChanges(after:, first:)` and the OrderChange node."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers import approval_view
from resolvers import order_changes as feed
from resolvers.approval_view import FlowView
from resolvers.changes import encode_cursor
from resolvers.order_changes import ChangeView
from schema.order_types import Order, OrderEventKind, order_from_view
from schema.relay import Connection, Edge, Node, PageInfo, to_global_id
from schema.selection import selects

FEED_DESCRIPTION = (
    "Every change to an order you may see (the same rules as `orders`), oldest first, at least once: a "
    "change can come again (after a retry, or on a page read again), so dedupe by its `id`. Poll with the "
    "`endCursor` of the last page as `after`; it is set on every page, an empty one included, and an empty "
    "page means nothing new yet (keep polling with that cursor). The feed never skips a change committed "
    "after a later one was read: only changes whose writing transaction has ended are served. Changes are "
    "kept at least 90 days: an older cursor gets the error CHANGES_EXPIRED, and the client resynchronises "
    "with the export (GET /export/orders.ndjson), whose cursor continues the feed. A malformed cursor is "
    "INVALID_INPUT. Requires sign-in (an API client: ORDERS_READ).")


@strawberry.type(description=(
    "One change to an order: an entry of its timeline (submitted, sent for approval, approved, rejected, "
    "cancelled, fulfilled, goods returned, a warning). Delivered at least once: dedupe by `id`."))
class OrderChange(Node):
    kind: OrderEventKind = strawberry.field(description=(
        "What changed: SUBMIT (the order was placed), REQUIRE_APPROVAL (it waits for approvers), APPROVE_STEP "
        "(a tier approved, later tiers wait), APPROVE (approved: final for the buyer), REJECT, CANCEL, FULFIL "
        "(delivered), RETURN (goods returned and credited), WARNING (went through with a warning)."))
    occurred_at: datetime = strawberry.field(description=(
        "When the change was made (UTC). The feed's order is commit order, which can differ slightly from "
        "this time's order."))
    order: Order = strawberry.field(description=(
        "The order as it is now (not as it was at this change): a later change of it follows in the feed."))


def change_from_view(view: ChangeView, flow: FlowView | None = None) -> OrderChange:
    return OrderChange(id=to_global_id("OrderChange", view.id), kind=OrderEventKind(view.kind),
                       occurred_at=view.occurred_at, order=order_from_view(view.order, flow))


@strawberry.type
class OrderChangeQuery:
    @strawberry.field(description=FEED_DESCRIPTION)
    async def order_changes(
        self, info: strawberry.Info,
        after: Annotated[str | None, strawberry.argument(description=(
            "Cursor to continue after: a page's `endCursor`, an edge's `cursor`, or the cursor an export gave. "
            "Omitted: from the oldest change kept."))] = None,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
    ) -> Connection[OrderChange]:
        async with info.context.reading() as ctx:
            page = await feed.list_changes(ctx, after=after, first=first, with_events=selects(info, "timeline"))
            orders = list({change.order.id: change.order for change in page.changes}.values())
            flows = await approval_view.flows(ctx, orders) if orders and selects(info, "approvalFlow") else {}
        edges = [Edge(cursor=encode_cursor(change.position), node=change_from_view(change, flows.get(change.order.id)))
                 for change in page.changes]
        return Connection(edges=edges, page_info=PageInfo(
            has_next_page=page.has_next_page, has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None, end_cursor=encode_cursor(page.end)))


async def fetch_change(ctx, pk: int) -> OrderChange | None:
    """node(id:) of an OrderChange."""
    view = await feed.get_change(ctx, pk)
    if view is None:
        return None
    return change_from_view(view, (await approval_view.flows(ctx, [view.order]))[view.order.id])
