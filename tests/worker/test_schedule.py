"""The scheduling table: each cadence's slots and keys, every entry with a handler, and a scheduled run queued
once however many workers' schedulers tick at the same time (each with an engine of its own)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app import build_services
from models import Job
from worker.handlers import HANDLERS
from worker.schedule import ENTRIES, DailyAt, Entry, Every, MonthlyOn, Scheduler


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("cadence", "now", "slot", "key"), [
    (Every(60), "2026-12-01T12:34:56.789", "2026-12-01T12:34:00", "2026-12-01T12:34Z"),
    (Every(60), "2026-12-01T12:34:00", "2026-12-01T12:34:00", "2026-12-01T12:34Z"),
    (Every(1), "2026-12-01T12:34:56.789", "2026-12-01T12:34:56", "2026-12-01T12:34:56Z"),
    (Every(15), "2026-12-01T12:34:44", "2026-12-01T12:34:30", "2026-12-01T12:34:30Z"),
    (Every(3600), "2026-12-01T00:59:59", "2026-12-01T00:00:00", "2026-12-01T00:00Z"),
    (DailyAt(3), "2026-12-01T02:59:59", "2026-11-30T03:00:00", "2026-11-30T03:00Z"),
    (DailyAt(3), "2026-12-01T03:00:00", "2026-12-01T03:00:00", "2026-12-01T03:00Z"),
    (DailyAt(3, 30), "2026-03-01T01:00:00", "2026-02-28T03:30:00", "2026-02-28T03:30Z"),
    (MonthlyOn(1, 2), "2026-12-01T02:00:00", "2026-12-01T02:00:00", "2026-12-01T02:00Z"),
    (MonthlyOn(1, 2), "2026-12-01T01:59:00", "2026-11-01T02:00:00", "2026-11-01T02:00Z"),
    (MonthlyOn(15), "2027-01-10T00:00:00", "2026-12-15T00:00:00", "2026-12-15T00:00Z"),
])
def test_a_cadence_gives_the_latest_slot_and_its_key(cadence, now, slot, key):
    assert cadence.slot(at(now)) == at(slot)
    assert cadence.key(at(slot)) == key


def test_a_monthly_day_every_month_has():
    with pytest.raises(ValueError, match="1-28"):
        MonthlyOn(31)


def test_every_scheduled_kind_has_a_handler_and_appears_once():
    kinds = [entry.kind for entry in ENTRIES]
    assert len(kinds) == len(set(kinds))
    assert set(kinds) <= set(HANDLERS)


async def test_schedulers_of_several_workers_queue_each_run_once(services, settings):
    entries = (Entry("test.minutely", Every(60)), Entry("test.nightly", DailyAt(3), max_attempts=3))
    now = at("2026-12-01T12:34:56")
    workers = [build_services(settings) for _ in range(4)]
    try:
        schedulers = [Scheduler(entries) for _ in workers]
        ticks = [scheduler.tick(worker.db, now) for scheduler, worker in zip(schedulers, workers, strict=True)]
        offered = await asyncio.gather(*ticks)
        assert offered == [2, 2, 2, 2]  # each offered both runs; the database kept one of each

        # The same slot again: nothing to write. The next minute: the minutely entry only.
        assert await schedulers[0].tick(workers[0].db, now + timedelta(seconds=3)) == 0
        later = [scheduler.tick(worker.db, now + timedelta(seconds=10))
                 for scheduler, worker in zip(schedulers, workers, strict=True)]
        assert await asyncio.gather(*later) == [1, 1, 1, 1]
    finally:
        for worker in workers:
            await worker.db.dispose()

    async with services.db.read_sessions() as session:
        rows = (await session.scalars(select(Job).order_by(Job.kind, Job.key))).all()
    assert [(job.kind, job.key, job.payload, job.run_at, job.max_attempts, job.status) for job in rows] == [
        ("test.minutely", "2026-12-01T12:34Z", {"slot": "2026-12-01T12:34:00+00:00"}, at("2026-12-01T12:34:00"),
         1, "pending"),
        ("test.minutely", "2026-12-01T12:35Z", {"slot": "2026-12-01T12:35:00+00:00"}, at("2026-12-01T12:35:00"),
         1, "pending"),
        ("test.nightly", "2026-12-01T03:00Z", {"slot": "2026-12-01T03:00:00+00:00"}, at("2026-12-01T03:00:00"),
         3, "pending"),
    ]
