"""The job queue of `procura worker`: queue a job in the caller's transaction, claim one with a lease.

Queue work with `enqueue(session, kind, key, payload)` inside the transaction of the change that
causes it: it is committed with that change or not at all. `(kind, key)` is unique, so queueing the
same job twice (two workers noticing the same scheduled run, a retried request) queues it once.

A handler (worker/handlers.py maps each kind to one) is `async def handle(services, job) -> None`:
returning marks the job done, raising `Retry(at)` runs it again at `at`, any other exception retries
with back-off until `max_attempts` and then marks it failed. A worker that dies loses its lease and
the job runs again, so handlers are idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models import Job, JobStatus
from models.base import utcnow
from models.db import Database


class Retry(Exception):
    """Raised by a handler: run the job again at `at` (the attempt counts towards max_attempts)."""

    def __init__(self, reason: str, at: datetime) -> None:
        super().__init__(reason)
        self.at = at


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    key: str
    payload: dict
    attempts: int  # including this one
    max_attempts: int
    locked_until: datetime


async def enqueue(
    session: AsyncSession, kind: str, key: str, payload: dict | None = None, *, run_at: datetime | None = None,
    max_attempts: int = 10,
) -> None:
    """Queue `kind` for `key` in the session's transaction, unless it is already queued (or was run)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(Job).values(
        kind=kind, key=key, payload=payload or {}, status=JobStatus.PENDING.value, run_at=run_at or utcnow(),
        attempts=0, max_attempts=max_attempts, created_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["kind", "key"])
    await session.execute(statement)


async def claim(db: Database, worker_id: str, *, lease: timedelta, kinds: list[str] | None = None) -> ClaimedJob | None:
    """The next due job, leased to `worker_id` until now + `lease`; None when nothing is due.

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets several workers claim side by side without waiting on
    each other; on SQLite the write transaction (BEGIN IMMEDIATE) serializes them.
    """
    now = utcnow()
    query = (
        select(Job)
        .where(Job.status == JobStatus.PENDING.value, Job.run_at <= now,
               or_(Job.locked_until.is_(None), Job.locked_until < now))
        .order_by(Job.run_at, Job.id).limit(1)
    )
    if kinds is not None:
        query = query.where(Job.kind.in_(kinds))
    async with db.transaction() as session:
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job = await session.scalar(query)
        if job is None:
            return None
        job.attempts += 1
        job.locked_by, job.locked_until = worker_id, now + lease
        return ClaimedJob(job.id, job.kind, job.key, dict(job.payload), job.attempts, job.max_attempts,
                          job.locked_until)


async def extend_lease(db: Database, job: ClaimedJob, worker_id: str, *, lease: timedelta) -> bool:
    """Keep a long job's lease; False when the lease was lost (another worker took the job over)."""
    async with db.transaction() as session:
        result = await session.execute(
            update(Job).where(Job.id == job.id, Job.locked_by == worker_id, Job.status == JobStatus.PENDING.value)
            .values(locked_until=utcnow() + lease))
        return result.rowcount == 1  # type: ignore[attr-defined]


async def finish(
    db: Database, job: ClaimedJob, worker_id: str, *, error: str | None = None, retry_at: datetime | None = None,
) -> None:
    """Record the outcome of a claimed job: done (no error), again at `retry_at`, or failed for good.
    Nothing happens when this worker no longer holds the job's lease."""
    now = utcnow()
    if error is None:
        values: dict = {"status": JobStatus.DONE.value, "finished_at": now, "last_error": None}
    elif retry_at is not None and job.attempts < job.max_attempts:
        values = {"run_at": retry_at, "last_error": error[:1000]}
    else:
        values = {"status": JobStatus.FAILED.value, "finished_at": now, "last_error": error[:1000]}
    async with db.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == job.id, Job.locked_by == worker_id, Job.status == JobStatus.PENDING.value)
            .values(locked_by=None, locked_until=None, **values))
