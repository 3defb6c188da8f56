"""Live subscriptions: the order changes a caller may see, and the changes of their approval queue.

The process's ChangeBroker (resolvers/change_broker.py) hands each subscriber the changes of its
company. For every batch the subscriber opens a short read session of its own, loads its caller
afresh (a revoked session, a deactivated member or a revoked API client ends the subscription:
CallerGone) and keeps, with SQL over the whole batch, the orders the caller may see now: the scope of
`orders` (policies.scopes.visible_orders), or the approval queue's condition. Statements per batch do
not grow with its size or with the number of subscribers. The caller is also re-loaded every
`subscription_recheck_seconds` when no change comes.

An update carries the order as it is when the batch is read (a later change may already show in it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models import Order
from models.base import utcnow
from models.db import plain_rows
from policies.actor import Actor
from policies.errors import Forbidden
from policies.permissions import Permission
from policies.scopes import company_rows, order_scope, visible_orders
from resolvers import approval_view
from resolvers.approval_queue import QueueFilter, check_filter, queue_rows
from resolvers.approval_view import BudgetImpact, FlowView
from resolvers.change_broker import Change, Subscriber
from resolvers.context import Services, UseCaseContext
from resolvers.order_view import OrderView, fetch_orders, order_rows

ActorLoader = Callable[[AsyncSession], Awaitable[Actor | None]]


class CallerGone(Exception):
    """The subscriber's caller no longer stands: session revoked or switched, member deactivated, API
    client revoked or its secret expired."""


@dataclass(frozen=True)
class Watch:
    """One subscriber: the services and how to load its caller afresh in a session."""

    services: Services
    load_actor: ActorLoader
    client_address: str = "unknown"

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[UseCaseContext]:
        """A short read session with the caller loaded afresh; CallerGone when they no longer stand."""
        async with self.services.db.read_sessions() as session:
            actor = await self.load_actor(session)
            if actor is None:
                raise CallerGone()
            yield UseCaseContext(services=self.services, session=session, actor=actor,
                                 client_address=self.client_address)

    async def next_batch(self, subscriber: Subscriber) -> list[Change]:
        """The subscriber's next changes; none after the recheck interval without any."""
        return await subscriber.next_batch(self.services.settings.subscription_recheck_seconds)


# --- orderEvents ----------------------------------------------------------------------------------------------------

@dataclass(slots=True)
class OrderUpdate:
    change: Change
    order: OrderView
    flow: FlowView | None


async def open_order_updates(watch: Watch, *, with_events: bool, with_flow: bool) -> AsyncIterator[OrderUpdate]:
    """The changes of orders the caller may see (the visibility of `orders`), from now on. Checked here,
    before the first change: a caller who may see no orders is refused (FORBIDDEN)."""
    async with watch.reading() as ctx:
        actor = ctx.require_signed_in()
        scope, _ = order_scope(actor, ctx.services.authorizer)
    if scope[0] == "none":
        raise Forbidden("You may see no orders")
    subscriber = watch.services.broker.subscribe(None if scope[0] == "every_company" else actor.company_id)
    subscriber.live = True
    return _order_updates(watch, subscriber, with_events=with_events, with_flow=with_flow)


async def _order_updates(watch: Watch, subscriber: Subscriber, *, with_events: bool,
                         with_flow: bool) -> AsyncIterator[OrderUpdate]:
    with subscriber:
        while True:
            changes = await watch.next_batch(subscriber)
            async with watch.reading() as ctx:
                if not changes:
                    continue
                views = await _visible(ctx, {change.order_id for change in changes}, with_events=with_events)
                flows = await approval_view.flows(ctx, list(views.values())) if with_flow and views else {}
            for change in changes:
                view = views.get(change.order_id)
                if view is not None:
                    yield OrderUpdate(change, view, flows.get(view.id))


async def _visible(ctx: UseCaseContext, order_ids: set[int], *, with_events: bool) -> dict[int, OrderView]:
    """The orders among `order_ids` that the caller may see, as views: one statement (and one for their
    lines, one for their timelines when asked for)."""
    scope = visible_orders(ctx.require_signed_in(), ctx.services.authorizer)
    rows = await plain_rows(ctx.session, scope.apply(order_rows()).where(Order.id.in_(sorted(order_ids))))
    return {view.id: view for view in await fetch_orders(ctx.session, rows, with_events=with_events)}


# --- approvalQueueChanged -------------------------------------------------------------------------------------------

@dataclass(slots=True)
class QueueChange:
    """An order entered the caller's approval queue (`in_queue`) or left it."""

    order_id: int
    in_queue: bool
    kind: str | None  # the change that moved it; None when the caller's role changed
    occurred_at: datetime
    queue_length: int  # orders in the queue after this change
    order: OrderView | None  # as the caller may see it now (always when it entered)
    flow: FlowView | None = None
    impacts: list[BudgetImpact] = field(default_factory=list)


async def open_queue_changes(watch: Watch, *, with_flow: bool,
                             filter: QueueFilter | None = None) -> AsyncIterator[QueueChange]:
    """Orders entering and leaving the caller's approval queue, from now on. Requires `order:approve`. With a
    filter (the `approvalQueue` query's), the queue is the filtered one: orders enter and leave it as they come
    to meet the filter or stop meeting it, and its length is the filtered count.

    The queue is read once, after subscribing, then kept up to date by comparing, for the orders of each
    batch, whether they are in it now: a change already reflected in that first read moves nothing, so no
    order is reported twice and none is missed."""
    async with watch.reading() as ctx:
        actor = ctx.require(Permission.ORDER_APPROVE)
    if filter is not None:
        check_filter(filter)
    subscriber = watch.services.broker.subscribe(actor.company_id)
    try:
        async with watch.reading() as ctx:
            actor = ctx.require(Permission.ORDER_APPROVE)
            queued = await _queued(ctx, actor, filter=filter)
    except BaseException:
        subscriber.close()
        raise
    subscriber.live = True
    return _queue_changes(watch, subscriber, actor, queued, with_flow=with_flow, filter=filter)


async def _queue_changes(watch: Watch, subscriber: Subscriber, actor: Actor, queued: set[int], *,
                         with_flow: bool, filter: QueueFilter | None) -> AsyncIterator[QueueChange]:
    with subscriber:
        while True:
            changes = await watch.next_batch(subscriber)
            async with watch.reading() as ctx:
                actor, previous = ctx.require(Permission.ORDER_APPROVE), actor
                if actor.role != previous.role:  # the queue as the new role sees it, compared whole
                    now = await _queued(ctx, actor, filter=filter)
                    moved: dict[int, Change | None] = dict.fromkeys(now ^ queued)
                elif changes:
                    ids = {change.order_id for change in changes}
                    now = (queued - ids) | await _queued(ctx, actor, ids, filter=filter)
                    last = {change.order_id: change for change in changes}
                    moved = {oid: last[oid] for oid in now ^ queued}
                else:
                    continue
                updates = await _queue_updates(ctx, moved, now, with_flow=with_flow) if moved else []
            queued = now
            for update in updates:
                yield update


async def _queued(ctx: UseCaseContext, actor: Actor, among: set[int] | None = None, *,
                  filter: QueueFilter | None = None) -> set[int]:
    """The ids of the orders in the actor's queue (only those among `among` when given), under the filter
    when one is given (the very query of `approvalQueue`): one statement."""
    if filter is not None:
        query = queue_rows(actor, filter)[0]
    else:
        query = company_rows(Order, actor, Order.id).where(approval_view.awaiting_decision(actor))
    if among is not None:
        query = query.where(Order.id.in_(sorted(among)))
    return {row.id for row in await plain_rows(ctx.session, query)}


async def _queue_updates(ctx: UseCaseContext, moved: dict[int, Change | None], now: set[int], *,
                         with_flow: bool) -> list[QueueChange]:
    """What to tell of the orders that moved (by the change that moved each, None for a role change):
    their views, flows and budget impacts in a fixed number of statements."""
    views = await _visible(ctx, set(moved), with_events=False)
    flows = await approval_view.flows(ctx, list(views.values())) if with_flow and views else {}
    impacts = await approval_view.budget_impacts(ctx, [oid for oid in moved if oid in now])
    read_at = utcnow()
    updates = []
    for oid, change in sorted(moved.items()):
        updates.append(QueueChange(
            oid, oid in now, change.kind if change else None, change.occurred_at if change else read_at, len(now),
            views.get(oid), flows.get(oid), impacts.get(oid, [])))
    return updates
