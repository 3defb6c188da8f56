"""The worker in-process, on SQLite and PostgreSQL: what a handler's outcome does to its job, the lease kept
while a long job runs, two workers with engines of their own running every job exactly once, the prune."""

from __future__ import annotations

import asyncio
import inspect
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import build_services
from models import Job, WorkerHeartbeat
from models.base import utcnow
from resolvers import jobs
from resolvers.jobs import Retry, enqueue
from tests.conftest import test_settings as make_settings
from tests.worker.kinds import RECORD, record, runs
from worker.handlers import HANDLERS, PRUNE_JOBS
from worker.runner import Worker, retry_delay, run_due_jobs
from worker.schedule import ENTRIES


@pytest.fixture
def kinds(monkeypatch):
    """Registers test-only kinds for one test."""

    def register(kind, handler) -> None:
        monkeypatch.setitem(HANDLERS, kind, handler)

    return register


async def queue(services, kind: str, key: str, payload: dict | None = None, **options) -> None:
    async with services.db.transaction() as session:
        await enqueue(session, kind, key, payload, **options)


async def job_rows(services, kind: str | None = None) -> dict[str, Job]:
    async with services.db.read_sessions() as session:
        query = select(Job) if kind is None else select(Job).where(Job.kind == kind)
        return {job.key: job for job in (await session.scalars(query)).all()}


async def eventually(check, *, timeout: float = 20, interval: float = 0.05):
    """Call (and await, when it is a coroutine function) `check()` until it returns something truthy; fail after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(interval)


async def test_a_handler_that_returns_marks_its_job_done_and_a_key_is_queued_once(services, kinds):
    seen: list[tuple[str, dict, int]] = []

    async def handler(_services, job):
        seen.append((job.key, job.payload, job.attempts))

    kinds("test.ok", handler)
    await queue(services, "test.ok", "a", {"n": 1})
    await queue(services, "test.ok", "a", {"n": 2})  # the same (kind, key): ignored
    await queue(services, "test.ok", "b")

    assert await run_due_jobs(services, kinds=["test.ok"]) == 2

    assert seen == [("a", {"n": 1}, 1), ("b", {}, 1)]
    rows = await job_rows(services, "test.ok")
    assert {key: (job.status, job.attempts, job.last_error, job.locked_by) for key, job in rows.items()} == {
        "a": ("done", 1, None, None), "b": ("done", 1, None, None)}
    assert all(job.finished_at is not None for job in rows.values())
    assert await run_due_jobs(services, kinds=["test.ok"]) == 0


async def test_retry_runs_the_job_again_at_the_time_it_names(services, kinds):
    at = utcnow() + timedelta(hours=2)

    async def handler(_services, job):
        raise Retry("the receiver is busy", at)

    kinds("test.later", handler)
    await queue(services, "test.later", "x", max_attempts=2)

    assert await run_due_jobs(services, kinds=["test.later"]) == 1

    job = (await job_rows(services, "test.later"))["x"]
    assert (job.status, job.attempts, job.run_at, job.last_error) == ("pending", 1, at, "Retry: the receiver is busy")
    assert (job.locked_by, job.locked_until, job.finished_at) == (None, None, None)
    # Due again: the second attempt is the last one allowed, and a Retry then fails the job for good.
    async with services.db.transaction() as session:
        await session.execute(update(Job).where(Job.key == "x").values(run_at=utcnow()))
    assert await run_due_jobs(services, kinds=["test.later"]) == 1
    job = (await job_rows(services, "test.later"))["x"]
    assert (job.status, job.attempts, job.last_error) == ("failed", 2, "Retry: the receiver is busy")
    assert job.finished_at is not None


async def test_an_unexpected_error_backs_off_exponentially_then_fails_with_the_error_kept(services, kinds):
    async def handler(_services, job):
        raise ValueError(f"bad payload, attempt {job.attempts}")

    kinds("test.broken", handler)
    await queue(services, "test.broken", "x", max_attempts=3)

    for attempt in (1, 2):
        before = utcnow()
        assert await run_due_jobs(services, kinds=["test.broken"]) == 1
        job = (await job_rows(services, "test.broken"))["x"]
        assert (job.status, job.attempts) == ("pending", attempt)
        assert job.last_error == f"ValueError: bad payload, attempt {attempt}"
        assert before + retry_delay(attempt) <= job.run_at <= utcnow() + retry_delay(attempt)
        assert await run_due_jobs(services, kinds=["test.broken"]) == 0  # not due before its back-off
        async with services.db.transaction() as session:
            await session.execute(update(Job).where(Job.key == "x").values(run_at=utcnow()))

    assert await run_due_jobs(services, kinds=["test.broken"]) == 1
    job = (await job_rows(services, "test.broken"))["x"]
    assert (job.status, job.attempts, job.last_error) == ("failed", 3, "ValueError: bad payload, attempt 3")
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 9, 30)] == [10, 20, 40, 2560, 3600]


async def test_a_handler_cancelled_from_within_counts_as_a_failed_attempt(services, kinds):
    async def handler(_services, job):
        raise asyncio.CancelledError  # e.g. an unguarded timeout inside the handler

    kinds("test.cancelled", handler)
    await queue(services, "test.cancelled", "x")

    assert await run_due_jobs(services, kinds=["test.cancelled"]) == 1

    job = (await job_rows(services, "test.cancelled"))["x"]
    assert (job.status, job.attempts, job.locked_by) == ("pending", 1, None)
    assert job.last_error == "RuntimeError: the handler was cancelled"


async def test_a_kind_without_a_handler_is_left_for_a_worker_that_has_one(services):
    await queue(services, "test.unknown", "x")

    assert await run_due_jobs(services) == len(ENTRIES)  # each scheduled entry's latest slot, e.g. 03:00 today

    job = (await job_rows(services, "test.unknown"))["x"]
    assert (job.status, job.attempts, job.locked_by) == ("pending", 0, None)
    assert list(await job_rows(services, PRUNE_JOBS)) == [ENTRIES[0].cadence.key(ENTRIES[0].cadence.slot(utcnow()))]


class TestLease:
    @pytest.fixture
    def settings(self, database_url):
        return make_settings(database_url, worker_lease_seconds=1.5)

    async def test_a_job_longer_than_its_lease_keeps_it_and_no_other_worker_claims_it(self, services, settings,
                                                                                    kinds, tmp_path):
        kinds(RECORD, record)
        await queue(services, RECORD, "long", {"dir": str(tmp_path), "first_seconds": 4})
        other = build_services(settings)  # another worker: an engine of its own
        try:
            running = asyncio.create_task(run_due_jobs(services, "first", kinds=[RECORD]))
            await eventually(lambda: runs(tmp_path, "long"))
            claims = 0
            while not running.done():  # more than twice the lease: claim attempts all along, never granted
                claimed = await jobs.claim(other.db, "second", lease=timedelta(seconds=1.5), kinds=[RECORD])
                assert claimed is None
                claims += 1
                await asyncio.sleep(0.05)
            assert await running == 1
        finally:
            await other.db.dispose()
        assert claims > 20
        assert [(event, attempt) for event, _, attempt, _ in runs(tmp_path, "long")] == [("start", 1), ("end", 1)]
        job = (await job_rows(services, RECORD))["long"]
        assert (job.status, job.attempts, job.locked_by) == ("done", 1, None)


class TestTwoWorkers:
    @pytest.fixture
    def settings(self, database_url):
        return make_settings(database_url, worker_concurrency=4, worker_poll_seconds=0.05,
                             worker_heartbeat_seconds=0.2)

    async def test_two_workers_with_engines_of_their_own_run_every_job_exactly_once(self, services, settings,
                                                                                  kinds, tmp_path):
        kinds(RECORD, record)
        keys = [f"job-{n:03}" for n in range(120)]
        async with services.db.transaction() as session:
            for key in keys:
                await enqueue(session, RECORD, key, {"dir": str(tmp_path), "first_seconds": 0.01})
        first, second = build_services(settings), build_services(settings)
        workers = [Worker(first, worker_id="worker-1", kinds=[RECORD]),
                   Worker(second, worker_id="worker-2", kinds=[RECORD])]
        tasks = [asyncio.create_task(worker.run()) for worker in workers]
        try:
            async def all_done():
                rows = await job_rows(services, RECORD)
                return all(job.status == "done" for job in rows.values())

            await eventually(all_done, timeout=60)
            heartbeats = await _heartbeats(services)
            assert {beat.worker_id for beat in heartbeats if beat.stopped_at is None} == {"worker-1", "worker-2"}
        finally:
            for worker in workers:
                worker.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
            await first.db.dispose()
            await second.db.dispose()

        for key in keys:
            assert [(event, attempt) for event, _, attempt, _ in runs(tmp_path, key)] == [("start", 1), ("end", 1)]
        rows = await job_rows(services, RECORD)
        assert {(job.status, job.attempts, job.locked_by) for job in rows.values()} == {("done", 1, None)}
        assert all(beat.stopped_at is not None for beat in await _heartbeats(services))


async def _heartbeats(services) -> list[WorkerHeartbeat]:
    async with services.db.read_sessions() as session:
        return list((await session.scalars(select(WorkerHeartbeat))).all())


async def test_the_prune_deletes_finished_jobs_past_their_retention_counted_from_its_slot(services):
    slot = utcnow().replace(microsecond=0) - timedelta(hours=1)
    rows = {  # key: (status, finished days before the slot)
        "done-old": ("done", 31), "failed-old": ("failed", 40), "done-recent": ("done", 29),
        "pending-old": ("pending", None), "done-now": ("done", 0),
    }
    async with services.db.transaction() as session:
        for key, (status, days) in rows.items():
            session.add(Job(kind="test.any", key=key, payload={}, status=status,
                            finished_at=None if days is None else slot - timedelta(days=days),
                            created_at=slot - timedelta(days=50)))
        session.add(Job(kind="test.frequent", key="2-days", payload={}, status="done",
                        finished_at=slot - timedelta(days=2)))
        session.add(WorkerHeartbeat(worker_id="gone", beat_at=slot - timedelta(days=2)))
        session.add(WorkerHeartbeat(worker_id="recent", beat_at=slot - timedelta(hours=2)))
        await enqueue(session, PRUNE_JOBS, "test-slot", {"slot": slot.isoformat()})

    deleted = await jobs.prune(services.db, before=slot, retention={"test.frequent": timedelta(days=1)})
    assert deleted == 3

    assert sorted(await job_rows(services)) == ["done-now", "done-recent", "pending-old", "test-slot"]
    assert [beat.worker_id for beat in await _heartbeats(services)] == ["recent"]
    # The scheduled job runs the same prune from its slot (nothing left to delete); a rerun deletes nothing more.
    assert await run_due_jobs(services, kinds=[PRUNE_JOBS], schedule=False) == 1
    assert sorted(await job_rows(services)) == ["done-now", "done-recent", "pending-old", "test-slot"]
