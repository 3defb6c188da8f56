"""The order change feed as the API serves it: every change to an order the caller may see, oldest
first, from a cursor, at least once.

A page is read in a fixed number of statements whatever its size: the feed's last settled position
(first, see below), the page of changes (only settled ones, joined to the orders the caller may see,
`policies.scopes`: the same rules as the order history), how far retention has pruned (after the
page, so that a pruning that raced with the page is noticed), then the orders of the page through
the order read model (one statement, their lines one more, their timelines one more when asked for).

Where the next poll starts: after the last change of the page; on an empty page, after the feed's
last settled position when it is ahead of the cursor. That position was read before the page, so
every change up to it had committed before the page was read, and the empty page proves none of
them is the caller's: skipping to it loses nothing, and a poller whose orders change rarely does not
rescan the same stretch of other people's changes on every poll. With nothing settled at all the
cursor given is handed back (or the start of the feed without one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from sqlalchemy import BigInteger, Integer, Select, bindparam, select, tuple_

from models import Order, OrderChange
from models.db import plain_rows
from policies.errors import Forbidden
from policies.scopes import OrderScope, order_change_shape_scope, order_scope, order_shape_scope
from resolvers.changes import START, Position, check_retained, decode_cursor, feed_head, settled
from resolvers.context import UseCaseContext
from resolvers.order_view import OrderView, fetch_orders, order_rows
from resolvers.pagination import check_page_size


@dataclass(slots=True)
class ChangeView:
    id: int
    kind: str
    occurred_at: datetime
    position: Position
    order: OrderView


@dataclass(slots=True)
class ChangePage:
    changes: list[ChangeView]
    has_next_page: bool
    end: Position  # where the next page starts (see the module docstring)


def sees_no_orders(scope: OrderScope) -> bool:
    """Whether an order scope shape can match no order at all: no company, or a member (or API client)
    with none of the permissions that show orders (read all, approve, or buy)."""
    return scope[0] == "none" or (scope[0] == "members" and not scope[1] and not scope[2])


def reader_scope(ctx: UseCaseContext) -> tuple[OrderScope, dict]:
    """The caller's order scope; FORBIDDEN for a caller who may read no orders at all (an API client
    without ORDERS_READ), UNAUTHENTICATED without a caller."""
    actor = ctx.require_signed_in()
    scope, params = order_scope(actor, ctx.services.authorizer)
    if sees_no_orders(scope):
        raise Forbidden("You may not read orders")
    return scope, params


@lru_cache(maxsize=64)
def _page_statement(dialect: str, scope: OrderScope, keyset: bool) -> Select:
    statement = (
        select(OrderChange.id, OrderChange.kind, OrderChange.created_at, OrderChange.txid, OrderChange.order_id)
        .join(Order, Order.id == OrderChange.order_id)
        .where(settled(dialect))
    )
    if keyset:
        statement = statement.where(tuple_(OrderChange.txid, OrderChange.id) > tuple_(
            bindparam("after_txid", type_=BigInteger()), bindparam("after_id", type_=BigInteger())))
    statement = statement.order_by(OrderChange.txid, OrderChange.id).limit(bindparam("page_limit", type_=Integer))
    return order_change_shape_scope(scope).apply(statement)


@lru_cache(maxsize=64)
def _orders_statement(scope: OrderScope) -> Select:
    return order_shape_scope(scope).apply(order_rows()).where(Order.id.in_(bindparam("order_ids", expanding=True)))


async def _views(ctx: UseCaseContext, scope: OrderScope, params: dict, order_ids: list[int],
                 with_events: bool) -> dict[int, OrderView]:
    if not order_ids:
        return {}
    rows = await plain_rows(ctx.session, _orders_statement(scope), {**params, "order_ids": order_ids})
    return {view.id: view for view in await fetch_orders(ctx.session, rows, with_events=with_events)}


async def list_changes(ctx: UseCaseContext, *, after: str | None, first: int, with_events: bool = False) -> ChangePage:
    """A page of the feed after the cursor `after` (from the oldest change kept without one)."""
    scope, params = reader_scope(ctx)
    check_page_size(first, ctx.settings.max_page_size)
    start = decode_cursor(after) if after is not None else None
    head = await feed_head(ctx.session)
    values = {**params, "page_limit": first + 1}
    if start is not None:
        values.update(after_txid=start.txid, after_id=start.change_id)
    dialect = ctx.session.get_bind().dialect.name
    rows = await plain_rows(ctx.session, _page_statement(dialect, scope, start is not None), values)
    if start is not None:
        await check_retained(ctx.session, start, ctx.settings.change_retention_days)
    has_next_page = len(rows) > first
    rows = rows[:first]
    views = await _views(ctx, scope, params, list(dict.fromkeys(row.order_id for row in rows)), with_events)
    # An order seen with its change but out of view an instant later (an order approver's pending order
    # that someone else decided) is left out rather than shown as null.
    changes = [ChangeView(row.id, row.kind, row.created_at, Position(row.txid, row.id), views[row.order_id])
               for row in rows if row.order_id in views]
    if rows:
        end = Position(rows[-1].txid, rows[-1].id)
    elif first == 0:  # nothing was asked for: an empty page proves nothing
        end = start or START
    else:
        end = max(start or START, head or START)
    return ChangePage(changes, has_next_page, end)


async def get_change(ctx: UseCaseContext, change_id: int) -> ChangeView | None:
    """One change of an order the caller may see (node(id:)), or None: also once retention deleted it."""
    actor = ctx.require_signed_in()
    scope, params = order_scope(actor, ctx.services.authorizer)
    statement = order_shape_scope(scope).apply(
        select(OrderChange.id, OrderChange.kind, OrderChange.created_at, OrderChange.txid, OrderChange.order_id)
        .join(Order, Order.id == OrderChange.order_id).where(OrderChange.id == bindparam("change_id")))
    rows = await plain_rows(ctx.session, statement, {**params, "change_id": change_id})
    if not rows:
        return None
    row = rows[0]
    views = await _views(ctx, scope, params, [row.order_id], with_events=True)
    view = views.get(row.order_id)
    return ChangeView(row.id, row.kind, row.created_at, Position(row.txid, row.id), view) if view else None
