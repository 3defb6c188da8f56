"""The webhook outbox: from the order change feed to one delivery per event and subscribed endpoint.

A change reaches the feed in the transaction that makes it (a database trigger, models/change.py), so a
rolled-back change is never seen here and a committed one is never lost. The dispatcher (job
DISPATCH_KIND, queued every second by the worker's schedule) reads the settled changes after the feed
position "webhooks", creates a delivery for each enabled endpoint of the change's company that
subscribes to its event (and existed when the change was made), queues a delivery job for each, and
moves the position past what it read, all in one transaction. The position row is locked meanwhile
(PostgreSQL; SQLite serializes writers), so two dispatchers never read the same changes, and a delivery
is unique per (endpoint, change): a dispatcher that runs twice over the same changes creates nothing new.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models import FeedPosition, Order, OrderChange, WebhookDelivery, WebhookEndpoint
from models.base import utcnow
from models.db import plain_rows
from models.webhook import ORDER_EVENTS, DeliveryStatus
from policies.scopes import company_rows, company_scope
from resolvers.changes import Position, settled_changes
from resolvers.context import Services
from resolvers.jobs import ClaimedJob, enqueue
from resolvers.order_view import EventView, OrderView, fetch_orders, order_rows
from resolvers.webhook_payload import order_event_payload

DISPATCH_KIND = "webhook.dispatch"
DELIVER_KIND = "webhook.deliver"
POSITION = "webhooks"
BATCH = 200  # changes per transaction
MAX_BATCHES = 20  # per run: a backlog is worked off over the next runs, one second apart
DELIVER_JOB_ATTEMPTS = 5  # for failures of the worker itself; the receiver's failures are the delivery's own

_EVENTS = {kind.value: event for kind, event in ORDER_EVENTS.items()}


def message_id() -> str:
    """A delivery's `webhook-id`: unique, and the same on every attempt and redelivery."""
    return "msg_" + secrets.token_urlsafe(18)


def deliver_job_key(delivery_id: int, attempt: int) -> str:
    return f"{delivery_id}:{attempt}"


async def dispatch(services: Services) -> int:
    """Work off the settled changes (up to MAX_BATCHES batches); returns how many deliveries were created."""
    created = 0
    for _ in range(MAX_BATCHES):
        made, full = await _dispatch_batch(services)
        created += made
        if not full:
            break
    return created


async def dispatch_job(services: Services, job: ClaimedJob) -> None:
    """The worker's handler for DISPATCH_KIND (a scheduled run: its slot does not matter, it reads the feed)."""
    await dispatch(services)


async def _position(session: AsyncSession, dialect: str) -> FeedPosition:
    """The dispatcher's position, created at the start of the feed the first time, and locked."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(FeedPosition).values(name=POSITION, txid=0, change_id=0, updated_at=utcnow())
                          .on_conflict_do_nothing(index_elements=["name"]))
    position = await session.scalar(select(FeedPosition).where(FeedPosition.name == POSITION).with_for_update())
    assert position is not None  # inserted just above, and never deleted
    return position


async def _dispatch_batch(services: Services) -> tuple[int, bool]:
    """One transaction: the next BATCH changes; returns (deliveries created, whether the batch was full)."""
    db = services.db
    async with db.transaction() as session:
        position = await _position(session, db.dialect)
        changes = list((await session.scalars(settled_changes(
            db.dialect, Position(position.txid, position.change_id), BATCH,
            reason="the webhook dispatcher reads every company's changes"))).all())
        if not changes:
            return 0, False
        created = await _deliveries_for(session, db.dialect, changes)
        position.txid, position.change_id, position.updated_at = changes[-1].txid, changes[-1].id, utcnow()
        return created, len(changes) == BATCH


async def _deliveries_for(session: AsyncSession, dialect: str, changes: Sequence[OrderChange]) -> int:
    events = [change for change in changes if change.kind in _EVENTS]
    if not events:
        return 0
    endpoints = (await session.scalars(
        company_rows(WebhookEndpoint, events).where(WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id))).all()
    by_company: dict[int, list[WebhookEndpoint]] = defaultdict(list)
    for endpoint in endpoints:
        by_company[endpoint.company_id].append(endpoint)
    wanted = [
        (change, endpoint) for change in events for endpoint in by_company.get(change.company_id, [])
        if _EVENTS[change.kind].value in endpoint.events and change.created_at >= endpoint.created_at
    ]
    if not wanted:
        return 0
    orders, entries = await _orders_of(session, [change for change, _ in wanted])
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created = 0
    for change, endpoint in wanted:
        order, entry = orders.get(change.order_id), entries.get(change.event_id)
        if order is None or entry is None:  # deleted with its company meanwhile
            continue
        event = _EVENTS[change.kind]
        delivery_id = await session.scalar(
            insert(WebhookDelivery).values(
                company_id=change.company_id, endpoint_id=endpoint.id, change_id=change.id, message_id=message_id(),
                event_type=event.value, payload=order_event_payload(event, order, change.id, entry),
                status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=utcnow(), created_at=utcnow(),
            ).on_conflict_do_nothing(index_elements=["endpoint_id", "change_id"]).returning(WebhookDelivery.id))
        if delivery_id is not None:
            await enqueue(session, DELIVER_KIND, deliver_job_key(delivery_id, 1),
                          {"delivery_id": delivery_id, "attempt": 1}, max_attempts=DELIVER_JOB_ATTEMPTS)
            created += 1
    return created


async def _orders_of(
    session: AsyncSession, changes: list[OrderChange],
) -> tuple[dict[int, OrderView], dict[int, EventView]]:
    """The changed orders as the API shows them, and their timeline entries by id (three statements)."""
    order_ids = sorted({change.order_id for change in changes})
    rows = await plain_rows(session, company_scope(Order, changes).apply(order_rows()).where(Order.id.in_(order_ids)))
    views = await fetch_orders(session, rows, with_events=True)
    entries = {entry.id: entry for view in views for entry in view.events or []}
    return {view.id: view for view in views}, entries
