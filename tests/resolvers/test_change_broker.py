"""The subscription use cases and the broker below the WebSocket: what a batch costs in SQL, how the
broker hands changes out, and a subscriber that falls behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from models import Role
from policies.actor import load_actor
from resolvers import change_broker
from resolvers.change_broker import Change, ChangeBroker, FellBehind
from resolvers.changes import START, settled_changes
from resolvers.subscription import Watch, open_order_updates, open_queue_changes
from tests.factories import Member
from tests.ordering_helpers import approval_rule, create_product, place_order, shop
from tests.websocket_helpers import DEADLINE


def watch_of(services, member: Member) -> Watch:
    claims = services.tokens.decode(member.token)
    return Watch(services, lambda session: load_actor(
        session, user_id=claims.user_id, session_id=claims.session_id, membership_id=claims.membership_id))


async def feed(services, count: int) -> list[Change]:
    """The `count` changes of the feed, as the broker reads them, once settled (on PostgreSQL a change waits
    for every older transaction of the server to end, other tests' included)."""
    changes: list[Change] = []

    async def read() -> None:
        async with services.db.read_sessions() as session:
            rows = (await session.scalars(settled_changes(services.db.dialect, START, 1000, reason="test"))).all()
        changes[:] = [Change(row.id, row.company_id, row.order_id, row.kind, row.created_at, row.txid) for row in rows]

    end = time.monotonic() + DEADLINE
    await read()
    while len(changes) < count and time.monotonic() < end:
        await asyncio.sleep(0.01)
        await read()
    assert len(changes) == count, changes
    return changes


@contextmanager
def statements(services) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_connection, _cursor, statement, *_):
        seen.append(statement)

    event.listen(services.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(services.db.engine.sync_engine, "before_cursor_execute", count)


async def _cost_of(services, stream, changes: list[Change], expected: int) -> int:
    """Statements the subscription runs to turn `changes` (one batch) into `expected` updates."""
    await services.mailer.drain()  # the orders' mail is sent after their commits: not counted here
    with statements(services) as seen:
        services.broker.hand_out(changes)
        for _ in range(expected):
            await anext(stream)
    await stream.aclose()
    return len(seen)


async def test_a_batch_costs_the_same_statements_whatever_its_size(api, services):
    """Visibility is decided in SQL over the whole batch, never per change."""
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER, Role.ORDER_APPROVER])
    await approval_rule(services, tenant.company_id)
    product = await create_product(services)
    admin, approver = watch_of(services, tenant[Role.ADMIN]), watch_of(services, tenant[Role.ORDER_APPROVER])

    small_queue = await open_queue_changes(approver, with_flow=True)
    await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    one = await feed(services, 2)
    queue_costs = [await _cost_of(services, small_queue, one, 1)]  # one order entered
    large_queue = await open_queue_changes(approver, with_flow=True)
    for _ in range(5):
        await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    changes = await feed(services, 12)
    queue_costs.append(await _cost_of(services, large_queue, changes[2:], 5))  # five entered

    event_costs = [
        await _cost_of(services, await open_order_updates(admin, with_events=True, with_flow=True), batch, len(batch))
        for batch in (changes[:2], changes)]
    assert queue_costs[0] == queue_costs[1], queue_costs
    assert event_costs[0] == event_costs[1], event_costs
    assert services.broker.live_subscribers() == 0


def test_changes_go_to_their_company_and_to_operators_in_order():
    broker = ChangeBroker.__new__(ChangeBroker)
    ChangeBroker.__init__(broker, db=None, database_url="", poll_seconds=1)  # type: ignore[arg-type]
    first, second, everywhere = broker.subscribe(1), broker.subscribe(2), broker.subscribe(None)
    changes = [Change(i, company, 10 + i, "submit", None) for i, company in  # type: ignore[arg-type]
               ((1, 1), (2, 2), (3, 1), (4, 3))]
    broker.hand_out(changes)
    assert [c.id for c in first._batches.get_nowait()] == [1, 3]
    assert [c.id for c in second._batches.get_nowait()] == [2]
    assert [c.id for c in everywhere._batches.get_nowait()] == [1, 2, 3, 4]
    first.close()
    broker.hand_out(changes)
    assert first._batches.empty() and broker.live_subscribers() == 0


async def test_a_subscriber_that_falls_behind_is_ended(monkeypatch):
    monkeypatch.setattr(change_broker, "MAX_PENDING_CHANGES", 3)
    broker = ChangeBroker(db=None, database_url="", poll_seconds=1)  # type: ignore[arg-type]
    with broker.subscribe(1) as subscriber:
        change = Change(1, 1, 1, "submit", None)  # type: ignore[arg-type]
        broker.hand_out([change, change])
        assert await subscriber.next_batch(1) == [change, change]  # taken: room again
        broker.hand_out([change, change])
        broker.hand_out([change, change])  # five waiting would be more than three
        with pytest.raises(FellBehind):
            await subscriber.next_batch(1)
        assert await _nothing_after(subscriber) is FellBehind


async def _nothing_after(subscriber) -> type[Exception] | None:
    try:
        await subscriber.next_batch(0.01)
    except FellBehind:
        return FellBehind
    return None
