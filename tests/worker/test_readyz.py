"""/readyz reports the workers' heartbeats (ok, stale, absent) and stays ready without a worker: the API still
answers, and the worker's state is for whoever watches it."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from models import WorkerHeartbeat
from models.base import utcnow
from tests.conftest import test_settings as make_settings
from tests.worker.test_runner import eventually
from worker.runner import Worker


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, worker_heartbeat_seconds=0.1, worker_stale_seconds=30)


async def ready(client) -> dict:
    response = await client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], set(body)) == ("ok", {"status", "database", "worker"})
    return body["worker"]


async def add_heartbeat(services, worker_id: str, *, seconds_ago: float, stopped: bool = False) -> None:
    beat_at = utcnow() - timedelta(seconds=seconds_ago)
    async with services.db.transaction() as session:
        session.add(WorkerHeartbeat(worker_id=worker_id, hostname="elsewhere", pid=1, started_at=beat_at,
                                    beat_at=beat_at, stopped_at=beat_at if stopped else None))


async def test_a_running_worker_is_ok_and_a_stopped_one_absent(client, services):
    assert await ready(client) == {"status": "absent", "running": 0, "lastBeatSecondsAgo": None}
    worker = Worker(services, worker_id="probe")
    running = asyncio.create_task(worker.run())
    try:
        first = await eventually(lambda: _status(client, "ok"))
        assert (first["running"], first["lastBeatSecondsAgo"] < 5) == (1, True)
        beat = await _beat_at(services)

        async def beats_again():
            return await _beat_at(services) > beat

        await eventually(beats_again)  # every WORKER_HEARTBEAT_SECONDS
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=20)

    stopped = await ready(client)
    assert (stopped["status"], stopped["running"], stopped["lastBeatSecondsAgo"] < 5) == ("absent", 0, True)


async def _status(client, status: str) -> dict | None:
    worker = await ready(client)
    return worker if worker["status"] == status else None


async def _beat_at(services):
    async with services.db.read_sessions() as session:
        return await session.scalar(select(WorkerHeartbeat.beat_at).where(WorkerHeartbeat.worker_id == "probe"))


async def test_a_worker_silent_past_worker_stale_seconds_is_stale_and_the_api_stays_ready(client, services):
    await add_heartbeat(services, "killed", seconds_ago=95)
    await add_heartbeat(services, "stopped-long-ago", seconds_ago=3600, stopped=True)

    worker = await ready(client)

    assert (worker["status"], worker["running"]) == ("stale", 0)
    assert 95 <= worker["lastBeatSecondsAgo"] < 100


async def test_one_fresh_worker_among_stale_ones_is_ok(client, services):
    await add_heartbeat(services, "killed", seconds_ago=95)
    await add_heartbeat(services, "alive", seconds_ago=2)
    await add_heartbeat(services, "also-alive", seconds_ago=29)

    worker = await ready(client)

    assert (worker["status"], worker["running"]) == ("ok", 2)
    assert 2 <= worker["lastBeatSecondsAgo"] < 5
