"""Subscriptions (over the WebSocket on /graphql, README "Subscriptions"): order events and the
approver's queue."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import strawberry
from graphql import GraphQLError

from resolvers import subscription as live
from resolvers.change_broker import FellBehind
from resolvers.changes import encode_cursor
from schema.approval_queue import ApprovalQueueFilter
from schema.approval_types import BudgetImpactType, impact_from_view
from schema.order_types import Order, OrderEventKind, order_from_view
from schema.relay import to_global_id
from schema.selection import selects
from schema.websocket import SocketContext

FELL_BEHIND = "FELL_BEHIND"
T = TypeVar("T")
R = TypeVar("R")


@strawberry.type(description="A change of an order you may see: an entry added to its timeline.")
class OrderUpdate:
    change_id: strawberry.ID = strawberry.field(description=(
        "The change: the id of the OrderChange that `orderChanges` serves for it (dedupe by it)."))
    cursor: str = strawberry.field(description=(
        "The change's position in the change feed: after a reconnect, `orderChanges(after:)` with the last cursor "
        "received gives every change missed since."))
    kind: OrderEventKind = strawberry.field(description="What happened (the kind of the new timeline entry).")
    occurred_at: datetime = strawberry.field(description="When it happened (UTC).")
    order: Order = strawberry.field(description=(
        "The order as it is when the change is delivered (a later change may already show in it)."))


@strawberry.type(description="An order entered or left your approval queue (`approvalQueue`).")
class ApprovalQueueChange:
    order_id: strawberry.ID = strawberry.field(description="The order.")
    in_queue: bool = strawberry.field(description=(
        "True: the order now waits for your decision; false: it no longer does (decided, by you or another "
        "approver, cancelled, or waiting for a later tier that is not yours)."))
    kind: OrderEventKind | None = strawberry.field(description=(
        "The change of the order that moved it; null when the queue changed because your role did."))
    occurred_at: datetime = strawberry.field(description="When (UTC).")
    queue_length: int = strawberry.field(description="How many orders wait for your decision after this change.")
    order: Order | None = strawberry.field(description=(
        "The order as it is now, with its approval flow when selected; null when it left your queue and you may no "
        "longer see it (another approver decided it, or it was cancelled)."))
    budget_impact: list[BudgetImpactType] = strawberry.field(description=(
        "When it entered: each budget it commits against, as in `approvalQueue`; empty when it left."))


def _present_update(update: live.OrderUpdate) -> OrderUpdate:
    change = update.change
    return OrderUpdate(change_id=to_global_id("OrderChange", change.id), cursor=encode_cursor(change.position),
                       kind=OrderEventKind(change.kind), occurred_at=change.occurred_at,
                       order=order_from_view(update.order, update.flow))


def _present_queue_change(change: live.QueueChange) -> ApprovalQueueChange:
    view = change.order
    return ApprovalQueueChange(
        order_id=to_global_id("Order", change.order_id), in_queue=change.in_queue,
        kind=OrderEventKind(change.kind) if change.kind else None, occurred_at=change.occurred_at,
        queue_length=change.queue_length, order=order_from_view(view, change.flow) if view else None,
        budget_impact=[impact_from_view(i, view.currency) for i in change.impacts] if view else [],
    )


def _socket(info: strawberry.Info) -> SocketContext:
    context = info.context
    # schema.extensions refuses subscriptions on any other transport before they run.
    assert isinstance(context, SocketContext), "subscriptions are served over the WebSocket only"
    return context


async def _live(context: SocketContext, source: AsyncIterator[T], present: Callable[[T], R]) -> AsyncGenerator[R, None]:
    """Present what `source` yields; when the caller no longer stands, close the connection (4403)."""
    try:
        async for item in source:
            yield present(item)
    except live.CallerGone:
        await context.end_connection()
    except FellBehind:
        raise GraphQLError("You fell too far behind the live changes; subscribe again, and read what you missed "
                           "with `orderChanges`.", extensions={"code": FELL_BEHIND}) from None
    finally:
        await source.aclose()  # type: ignore[attr-defined]


@strawberry.type
class OrderSubscription:
    @strawberry.subscription(description=(
        "Each change of an order you may see, as it happens: the orders of `orders` (customers their own, "
        "managers and administrators the company's, order approvers those waiting for them or decided by them, "
        "operators every company's). Requires sign-in (in `connection_init`); ends when your session, membership "
        "or API client no longer stands."))
    async def order_events(self, info: strawberry.Info) -> AsyncGenerator[OrderUpdate, None]:
        context = _socket(info)
        updates = await live.open_order_updates(
            context.watch(), with_events=selects(info, "timeline"), with_flow=selects(info, "approvalFlow"))
        return _live(context, updates, _present_update)

    @strawberry.subscription(description=(
        "Orders entering and leaving your approval queue (`approvalQueue`), with the queue's length: enough to "
        "keep an approver's list and badge current. With `filter` (as `approvalQueue` takes it), the filtered "
        "queue: orders enter and leave it as they come to meet the filter or stop meeting it. No `orderBy`: "
        "changes come in the order they happen; place them with the query's sort. Requires `order:approve`."))
    async def approval_queue_changed(
        self, info: strawberry.Info,
        filter: Annotated[ApprovalQueueFilter | None, strawberry.argument(
            description="Conditions, as `approvalQueue` takes them.")] = None,
    ) -> AsyncGenerator[ApprovalQueueChange, None]:
        context = _socket(info)
        changes = await live.open_queue_changes(context.watch(), with_flow=selects(info, "approvalFlow"),
                                                filter=filter.to_domain() if filter else None)
        return _live(context, changes, _present_queue_change)
