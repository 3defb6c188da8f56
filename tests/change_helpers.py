"""Helpers of the change-feed and export tests: reading the feed through the API, a world of orders with
every kind of change, and write transactions held open on purpose (to commit them out of order)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models import Order, OrderChange, OrderEvent, Role
from models.order_state import OrderEventKind
from resolvers.changes import settled
from resolvers.context import UseCaseContext
from resolvers.order_events import record_event
from tests.factories import Api, Member
from tests.ordering_helpers import approval_rule, create_product, mutate, operator, place_order, shop, succeeded

FEED = """query($after: String, $first: Int! = 50) { orderChanges(after: $after, first: $first) {
  edges { cursor node { id kind occurredAt order { id number status updatedAt } } }
  pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }"""


async def feed(api: Api, member: Member | None, *, after: str | None = None, first: int = 50) -> dict:
    """One page of the feed (the request must succeed)."""
    data = await api.query(FEED, {"after": after, "first": first}, member.token if member else None)
    return data["orderChanges"]


async def all_settled(services, timeout: float = 30) -> None:
    """Wait until every change written so far is settled. On PostgreSQL transaction ids are the server's,
    not a database's: a transaction running in another database of the same server (another test process)
    holds the settled line back for as long as it runs. Nothing to wait for on SQLite."""
    if services.db.dialect != "postgresql":
        return
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with services.db.read_sessions() as session:
            pending = await session.scalar(select(func.count()).select_from(OrderChange).where(~settled("postgresql")))
        if not pending:
            return
        assert loop.time() < deadline, f"{pending} changes still unsettled after {timeout} s"
        await asyncio.sleep(0.02)


async def drain(api: Api, member: Member | None, *, after: str | None = None, first: int = 50,
                wait: bool = True) -> tuple[list, str]:
    """Every change after `after` that the feed serves (once every change written so far is settled,
    unless `wait` is false), and the cursor to poll from next."""
    if wait:
        await all_settled(api.services)
    nodes: list[dict] = []
    while True:
        page = await feed(api, member, after=after, first=first)
        nodes += [edge["node"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, after


async def order_change_world(api: Api, services) -> dict:
    """A company with three orders and every kind of step: o1 by the customer (approved at once, then
    fulfilled), o2 by the customer (waits for approval, approved by the order approver), o3 by the manager
    (waits for approval, cancelled). Another company with one order of its customer's; an operator."""
    tenant = await shop(api)
    product = await create_product(services, f"BOX-{tenant.company_id}", 10000, 25)
    customer, manager = tenant[Role.CUSTOMER], tenant[Role.MANAGER]
    o1 = await place_order(api, customer, [(product, 1)], reference="first")
    op = await operator(api)
    succeeded(await mutate(api, "fulfilOrder", "FulfilOrderInput", {"id": o1["id"]}, op.token), "fulfilOrder")
    await approval_rule(services, tenant.company_id, threshold_minor=0, roles=("order_approver",))
    o2 = await place_order(api, customer, [(product, 2)], reference="second")
    succeeded(await mutate(api, "approveOrder", "DecideOrderInput", {"id": o2["id"]},
                           tenant[Role.ORDER_APPROVER].token), "approveOrder")
    o3 = await place_order(api, manager, [(product, 3)], reference="third")
    succeeded(await mutate(api, "cancelOrder", "CancelOrderInput", {"id": o3["id"]}, manager.token), "cancelOrder")
    other = await shop(api, [Role.ADMIN, Role.CUSTOMER])
    theirs = await place_order(api, other[Role.CUSTOMER], [(product, 1)], reference="theirs")
    return dict(tenant=tenant, other=other, op=op, orders=[o1, o2, o3], theirs=theirs, product=product)


@dataclass
class OpenChange:
    """A write transaction that has written one change of an order and is still open."""

    session: AsyncSession
    change_id: int
    txid: int
    done: bool = False

    async def commit(self) -> None:
        await self.session.commit()
        self.done = True

    async def rollback(self) -> None:
        await self.session.rollback()
        self.done = True


@asynccontextmanager
async def open_change(services, order_pk: int, comment: str) -> AsyncIterator[OpenChange]:
    """Write a timeline entry of the order the way every use case does (record_event; the database adds
    the change), and hold the transaction open until the caller commits or rolls it back (rolled back
    at the end of the block otherwise)."""
    async with services.db.write_sessions() as session:
        await session.begin()
        ctx = UseCaseContext(services=services, session=session, actor=None)
        order = await session.get(Order, order_pk)
        assert order is not None
        await record_event(ctx, order, OrderEventKind.WARNING, comment=comment, system=True)
        await session.flush()
        change_id, txid = (await session.execute(
            select(OrderChange.id, OrderChange.txid).join(OrderEvent, OrderEvent.id == OrderChange.event_id)
            .where(OrderEvent.order_id == order_pk, OrderEvent.comment == comment))).one()
        change = OpenChange(session, change_id, txid)
        try:
            yield change
        finally:
            if not change.done:
                await session.rollback()
