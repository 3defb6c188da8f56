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

from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models import Job, JobStatus, WorkerHeartbeat
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


async def complete(session: AsyncSession, kind: str, key: str) -> None:
    """Mark a queued job done in the session's transaction, when what it would do was done another way (a mail
    sent right after commit). A job a worker is running is left to that worker."""
    await session.execute(
        update(Job).where(Job.kind == kind, Job.key == key, Job.status == JobStatus.PENDING.value,
                          or_(Job.locked_until.is_(None), Job.locked_until < utcnow()))
        .values(status=JobStatus.DONE.value, finished_at=utcnow(), locked_by=None, locked_until=None))


async def reschedule(session: AsyncSession, kind: str, key: str, run_at: datetime) -> None:
    """Move a queued job that no worker is running to `run_at`, in the session's transaction."""
    await session.execute(
        update(Job).where(Job.kind == kind, Job.key == key, Job.status == JobStatus.PENDING.value,
                          or_(Job.locked_until.is_(None), Job.locked_until < utcnow()))
        .values(run_at=run_at))


async def claim(db: Database, worker_id: str, *, lease: timedelta, kinds: list[str] | None = None) -> ClaimedJob | None:
    """The next due job, leased to `worker_id` until now + `lease`; None when nothing is due."""
    claimed = await claim_many(db, worker_id, lease=lease, kinds=kinds, limit=1)
    return claimed[0] if claimed else None


async def claim_many(db: Database, worker_id: str, *, lease: timedelta, kinds: list[str] | None = None,
                     limit: int) -> list[ClaimedJob]:
    """Up to `limit` due jobs, oldest due first, leased to `worker_id` until now + `lease`, in one transaction.

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets several workers claim side by side without waiting on
    each other; on SQLite the write transaction (BEGIN IMMEDIATE) serializes them.
    """
    now = utcnow()
    query = (
        select(Job.id)
        .where(Job.status == JobStatus.PENDING.value, Job.run_at <= now,
               or_(Job.locked_until.is_(None), Job.locked_until < now))
        .order_by(Job.run_at, Job.id).limit(limit)
    )
    if kinds is not None:
        query = query.where(Job.kind.in_(kinds))
    if db.dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    async with db.transaction() as session:
        ids = list((await session.scalars(query)).all())
        if not ids:
            return []
        rows = (await session.execute(
            update(Job).where(Job.id.in_(ids))
            .values(attempts=Job.attempts + 1, locked_by=worker_id, locked_until=now + lease)
            .returning(Job.id, Job.kind, Job.key, Job.payload, Job.attempts, Job.max_attempts, Job.locked_until)
        )).all()
    claimed = {row.id: ClaimedJob(row.id, row.kind, row.key, dict(row.payload), row.attempts, row.max_attempts,
                                  row.locked_until) for row in rows}
    return [claimed[job_id] for job_id in ids]


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


async def release(db: Database, job: ClaimedJob, worker_id: str) -> None:
    """Give back a job this worker was stopped in the middle of: due again at once for another worker, and
    the interrupted attempt does not count."""
    async with db.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == job.id, Job.locked_by == worker_id, Job.status == JobStatus.PENDING.value)
            .values(locked_by=None, locked_until=None, attempts=Job.attempts - 1))


async def has_due(db: Database, kinds: list[str] | None = None) -> bool:
    """Whether a job could be claimed now: a plain read, so that an idle worker polling SQLite takes no
    write lock (claim() does)."""
    now = utcnow()
    query = select(Job.id).where(Job.status == JobStatus.PENDING.value, Job.run_at <= now,
                                 or_(Job.locked_until.is_(None), Job.locked_until < now)).limit(1)
    if kinds is not None:
        query = query.where(Job.kind.in_(kinds))
    async with db.read_sessions() as session:
        return await session.scalar(query) is not None


PRUNE_BATCH = 5000


async def prune(db: Database, *, before: datetime, retention: dict[str, timedelta],
                default: timedelta = timedelta(days=30)) -> int:
    """Delete finished (done or failed) jobs that finished longer than their kind's retention (`default` for
    kinds not named) before `before`, in batches so that no transaction grows with the backlog; and the
    heartbeats of workers gone for longer than a day. Returns how many jobs were deleted."""
    finished = Job.status.in_([JobStatus.DONE.value, JobStatus.FAILED.value])
    named = list(retention)
    conditions: list[ColumnElement[bool]] = [
        (Job.kind == kind) & (Job.finished_at < before - keep) for kind, keep in retention.items()]
    conditions.append(Job.kind.not_in(named) & (Job.finished_at < before - default) if named
                      else Job.finished_at < before - default)
    deleted = 0
    while True:
        async with db.transaction() as session:
            ids = (await session.scalars(select(Job.id).where(finished, or_(*conditions)).limit(PRUNE_BATCH))).all()
            if ids:
                await session.execute(delete(Job).where(Job.id.in_(ids)))
        deleted += len(ids)
        if len(ids) < PRUNE_BATCH:
            break
    async with db.transaction() as session:
        await session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < before - timedelta(days=1)))
    return deleted


async def beat(db: Database, worker_id: str, *, hostname: str, pid: int, started_at: datetime) -> None:
    """Write this worker's heartbeat (the row is created by the first beat)."""
    now = utcnow()
    async with db.transaction() as session:
        row = await session.get(WorkerHeartbeat, worker_id)
        if row is None:
            session.add(WorkerHeartbeat(worker_id=worker_id, hostname=hostname[:200], pid=pid, started_at=started_at,
                                        beat_at=now))
        else:
            row.beat_at, row.stopped_at = now, None


async def stopped(db: Database, worker_id: str) -> None:
    """Mark this worker's heartbeat stopped: /readyz no longer counts it, stale or not."""
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(update(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id)
                              .values(beat_at=now, stopped_at=now))


async def worker_health(db: Database, *, stale_after: timedelta) -> dict:
    """What /readyz says of the workers: "ok" when a running worker beat within `stale_after`, "stale" when
    running workers exist but none beat lately (killed, hung, or cut off from the database), "absent" when
    no worker is running (none started, or all stopped). lastBeatSecondsAgo: the freshest beat of any."""
    now = utcnow()
    async with db.read_sessions() as session:
        rows = (await session.execute(select(WorkerHeartbeat.beat_at, WorkerHeartbeat.stopped_at))).all()
    running = [beat_at for beat_at, stopped_at in rows if stopped_at is None]
    fresh = [beat_at for beat_at in running if now - beat_at <= stale_after]
    status = "ok" if fresh else "stale" if running else "absent"
    last = max((beat_at for beat_at, _ in rows), default=None)
    return {"status": status, "running": len(fresh),
            "lastBeatSecondsAgo": None if last is None else round(max((now - last).total_seconds(), 0), 1)}
