"""The rate limit of API clients: a token bucket per client, priced by query cost, kept on its row.

Each request of a client is charged its query cost (at least one point) in ONE conditional
statement that also authenticates it:

    UPDATE api_clients SET bucket = refilled - cost, bucket_at = now, last_used_at = ...
    WHERE id = (the client of this unexpired secret) AND revoked_at IS NULL AND refilled >= cost
    RETURNING id, company_id, scopes, bucket

where `refilled` is the stored level plus what refilled since `bucket_at`, capped at the capacity.
The row is the only state, so every server process draws on the same bucket: on PostgreSQL the
UPDATE's row lock serializes concurrent charges and re-evaluates the condition on the newest row;
SQLite runs it in a write transaction (BEGIN IMMEDIATE). Levels are kept in thousandths of a
point and times in milliseconds, so a refill of 1,000 points a second loses nothing to rounding.
Only when the UPDATE matches nothing does a second statement tell an empty bucket (RATE_LIMITED,
and when to retry) from a secret that opens nothing (the caller is then unauthenticated).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models import ApiClient
from models.db import plain_rows
from policies.actor import Actor, client_actor, usable_secret
from policies.scopes import cross_company
from resolvers.api_client import LAST_USE_PRECISION
from resolvers.context import Services

MILLI = 1000  # the bucket holds thousandths of a point


@dataclass(frozen=True)
class Budget:
    """A client's bucket: how many points it holds and how fast it refills."""

    capacity: int
    refill_per_second: int


@dataclass(frozen=True)
class Charge:
    """The outcome of charging a request: the client (None when the secret opens nothing, or when the
    bucket is empty), whether the bucket was empty (the request must not run), the points charged (or
    asked for) and left, and when a refused request may be tried again."""

    actor: Actor | None
    limited: bool
    cost: int
    remaining: int
    retry_after_seconds: int = 0


def budget_of(services: Services) -> Budget:
    settings = services.settings
    return Budget(settings.api_rate_limit_capacity, settings.api_rate_limit_refill_per_second)


def _bucket_expressions():
    """The bucket's level after refilling up to `now_ms` (thousandths of a point), and its time after."""
    now = bindparam("now_ms", type_=BigInteger)
    capacity = bindparam("capacity_milli", type_=BigInteger)
    # Thousandths of a point per millisecond equal points per second.
    rate = bindparam("refill_per_second", type_=BigInteger)
    level = func.coalesce(ApiClient.bucket_milli, capacity)
    at = func.coalesce(ApiClient.bucket_at_ms, now)
    elapsed = case((now > at, now - at), else_=0)  # a process whose clock lags never drains the bucket
    grown = level + elapsed * rate
    refilled = case((grown >= capacity, capacity), else_=grown)
    return refilled, case((now > at, now), else_=at)


def _statements(dialect: str):
    refilled, at_after = _bucket_expressions()
    cost = bindparam("cost_milli", type_=BigInteger)
    client = usable_secret(bindparam("digest"), bindparam("now", type_=ApiClient.last_used_at.type))
    now = bindparam("now", type_=ApiClient.last_used_at.type)
    stale = bindparam("stale_before", type_=ApiClient.last_used_at.type)
    returning: list[Any] = [ApiClient.id, ApiClient.company_id, ApiClient.scopes, ApiClient.bucket_milli]
    if dialect == "postgresql":
        # The bucket is bookkeeping: its commit need not wait for the disk (measured here: 0.1 ms instead of
        # 0.9 ms for the statement). set_config(..., true) holds for this statement's own transaction only,
        # the autocommit one; losing the last fraction of a second of charges in a crash is acceptable.
        returning.append(func.set_config("synchronous_commit", "off", True).label("asynchronous_commit"))
    charge = cross_company(
        update(ApiClient)
        .where(ApiClient.id == client, ApiClient.revoked_at.is_(None), refilled >= cost)
        .values(bucket_milli=refilled - cost, bucket_at_ms=at_after,
                last_used_at=case((or_(ApiClient.last_used_at.is_(None), ApiClient.last_used_at <= stale), now),
                                  else_=ApiClient.last_used_at))
        .returning(*returning),
        "an API client charged for its own request, found by its secret")
    level = cross_company(
        select(ApiClient.id, refilled.label("level"))
        .where(ApiClient.id == client, ApiClient.revoked_at.is_(None)),
        "an API client's rate-limit bucket, found by its secret")
    return charge, level


STATEMENTS = {dialect: _statements(dialect) for dialect in ("postgresql", "sqlite")}


@asynccontextmanager
async def _charging(services: Services, read_session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
    """Where the charge runs: on PostgreSQL the request's read session, which is in autocommit, so that the
    UPDATE is one round trip on a connection the request uses anyway and commits by itself; on SQLite a
    write transaction of its own (BEGIN IMMEDIATE), as every write there."""
    if services.db.dialect == "postgresql":
        if read_session is not None:
            yield read_session
            return
        async with services.db.read_sessions() as session:
            yield session
        return
    async with services.db.transaction() as session:
        yield session


async def charge(services: Services, digest: str, cost: int | None, budget: Budget,
                 read_session: AsyncSession | None = None) -> Charge:
    """Authenticate the client whose secret has this digest and take the request's cost from its bucket."""
    points = max(cost or 0, 1)  # every request counts, a free `{ __typename }` too
    now_ms = time.time_ns() // 1_000_000
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    params = {"digest": digest, "now_ms": now_ms, "now": now, "stale_before": now - LAST_USE_PRECISION,
              "capacity_milli": budget.capacity * MILLI, "refill_per_second": budget.refill_per_second,
              "cost_milli": points * MILLI}
    charging, level = STATEMENTS[services.db.dialect]
    async with _charging(services, read_session) as session:
        rows = await plain_rows(session, charging, params)
        if rows:
            client = rows[0]
            actor = client_actor(client.id, client.company_id, client.scopes)
            return Charge(actor, False, points, client.bucket_milli // MILLI)
        levels = await plain_rows(session, level, params)
    if not levels:
        return Charge(None, False, points, 0)
    level = levels[0].level
    missing_milli = points * MILLI - level
    # The refill adds `refill_per_second` thousandths of a point per millisecond.
    wait_ms = math.ceil(missing_milli / max(budget.refill_per_second, 1))
    return Charge(None, True, points, level // MILLI, retry_after_seconds=max(1, math.ceil(wait_ms / 1000)))
