"""Bulk export of orders with their lines: the order history's filters and visibility, read in keyset
batches from one database snapshot, with the change-feed cursor to continue from.

One snapshot (REPEATABLE READ, read only, on PostgreSQL; a read transaction on SQLite, whose WAL gives
it one snapshot from its first read) serves the whole export, so that:
- the feed cursor it hands out is exact: it is the feed's last settled position read in that
  snapshot, and every change up to it committed before the snapshot, so the exported orders already
  show it; what the feed serves after it is at most a repeat (at least once), never a gap;
- an `after` cursor's retention check holds for every batch (pruning that commits during the export
  is not seen by it);
- batches are consistent with each other: an order does not move between batches while it is read.
A read-only transaction takes no transaction id, so a long export does not hold the feed back.

Memory is bounded by one batch (EXPORT_BATCH_SIZE orders and their lines): each batch is one statement
for the orders (picked from `orders` alone by (submitted_at, id) on an index, then joined, as a history
page is) and one for their lines, and the caller writes a batch out before the next one is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from models.db import Database, plain_rows
from policies.scopes import OrderScope
from resolvers.changes import START, Position, check_retained, feed_head
from resolvers.order_history import OrderFilter, OrderSort, filter_names, filter_values, page_statement
from resolvers.order_view import OrderView, fetch_orders

_SORT = OrderSort.SUBMITTED_AT_ASC  # oldest first; an index per company and per buyer serves it


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What to export: the caller's order scope (policies.scopes.order_scope, checked by the caller with
    resolvers.order_changes.reader_scope), the filter, and the batch size."""

    scope: OrderScope
    scope_params: dict
    filter: OrderFilter
    batch_size: int


@asynccontextmanager
async def snapshot(db: Database) -> AsyncIterator[AsyncSession]:
    """A session on one read-only snapshot of the database, for the whole export."""
    async with db.engine.connect() as connection:
        if db.dialect == "postgresql":
            connection = await connection.execution_options(isolation_level="REPEATABLE READ",
                                                            postgresql_readonly=True)
        await connection.begin()  # on SQLite a deferred BEGIN (models/db.py): the snapshot starts at the first read
        session = AsyncSession(bind=connection)
        try:
            yield session
        finally:
            await session.close()
            await connection.rollback()


async def feed_cursor(session: AsyncSession, after: Position | None, retention_days: int) -> Position:
    """The change-feed position to continue from after this export (see the module docstring), after
    checking that no change after `after` has been pruned (CHANGES_EXPIRED otherwise)."""
    head = await feed_head(session)
    if after is not None:
        await check_retained(session, after, retention_days)
    return max(head or START, after or START)


async def batches(session: AsyncSession, plan: ExportPlan) -> AsyncIterator[list[OrderView]]:
    """The plan's orders with their lines, oldest submitted first, a batch at a time."""
    values = filter_values(plan.filter)
    params = {**plan.scope_params, **values, "page_limit": plan.batch_size}
    names = filter_names(values)
    last: tuple | None = None
    while True:
        statement = page_statement(_SORT, plan.scope, names, last is not None)
        if last is not None:
            params.update(after_value=last[0], after_id=last[1])
        rows = await plain_rows(session, statement, params)
        if not rows:
            return
        views = await fetch_orders(session, rows)
        last = (views[-1].submitted_at, views[-1].id)
        yield views
        if len(rows) < plan.batch_size:
            return
