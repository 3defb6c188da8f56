"""`procura worker` as real processes on SQLite and PostgreSQL: two of them run every job exactly once; one killed
with SIGKILL in the middle of a job leaves it to another once its lease expires; SIGTERM lets the running job
finish and exits 0, or gives the job back when it outlasts the grace period.

The workers run `python -m tests.worker.kinds`: the `procura worker` command with the test-only kind
`test.record` registered (tests/worker/kinds.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Job, WorkerHeartbeat
from resolvers.jobs import enqueue
from tests.worker.kinds import RECORD, runs
from tests.worker.test_runner import eventually, job_rows

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Workers:
    """Starts worker processes and kills whatever is left of them at the end of the test."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.database_url, self.directory = database_url, directory
        self.processes: list[subprocess.Popen] = []

    def start(self, **settings: str) -> subprocess.Popen:
        environment = {k: v for k, v in os.environ.items()
                       if k not in {"DATABASE_URL", "PROCURA_ENV", "TEST_DATABASE_URL", "SMTP_URL"}}
        environment.update(PYTHONPATH=str(PROJECT_ROOT), DATABASE_URL=self.database_url, PROCURA_ENV="test",
                           WORKER_POLL_SECONDS="0.05", WORKER_HEARTBEAT_SECONDS="0.5", **settings)
        number = len(self.processes)
        output = (self.directory / f"worker-{number}.out").open("w")
        process = subprocess.Popen([sys.executable, "-m", "tests.worker.kinds"], cwd=self.directory,
                                   env=environment, stdout=output, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def output(self, process: subprocess.Popen) -> str:
        return (self.directory / f"worker-{self.processes.index(process)}.out").read_text()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def workers(database_url, services, tmp_path):
    started = Workers(database_url, tmp_path)
    yield started
    started.stop_all()


async def queue_records(services, directory: Path, keys: list[str], **payload) -> None:
    async with services.db.transaction() as session:
        for key in keys:
            await enqueue(session, RECORD, key, {"dir": str(directory), **payload})


async def heartbeats(services) -> dict[int, WorkerHeartbeat]:
    async with services.db.read_sessions() as session:
        return {beat.pid: beat for beat in (await session.scalars(select(WorkerHeartbeat))).all()}


async def exited(process: subprocess.Popen, timeout: float = 30) -> int:
    await eventually(lambda: process.poll() is not None, timeout=timeout)
    return process.returncode


async def test_two_worker_processes_run_every_job_exactly_once(services, workers, tmp_path):
    first, second = workers.start(WORKER_CONCURRENCY="4"), workers.start(WORKER_CONCURRENCY="4")
    await eventually(lambda: _running(services, {first.pid, second.pid}), timeout=60)
    keys = [f"job-{n:03}" for n in range(60)]

    await queue_records(services, tmp_path, keys, first_seconds=0.2)

    async def all_done():
        return {job.status for job in (await job_rows(services, RECORD)).values()} == {"done"}

    await eventually(all_done, timeout=90)
    pids = set()
    for key in keys:
        lines = runs(tmp_path, key)
        assert [(event, attempt) for event, _, attempt, _ in lines] == [("start", 1), ("end", 1)], key
        pids.add(lines[0][1])
    assert pids == {first.pid, second.pid}  # both took part, and no job ran on both
    for process in (first, second):
        process.send_signal(signal.SIGTERM)
    assert [await exited(first), await exited(second)] == [0, 0]


async def _running(services, pids: set[int]) -> bool:
    beats = await heartbeats(services)
    return pids <= {pid for pid, beat in beats.items() if beat.stopped_at is None}


async def test_a_job_of_a_killed_worker_runs_again_on_another_after_its_lease_expires(services, workers, tmp_path):
    await queue_records(services, tmp_path, ["long"], first_seconds=60)
    killed = workers.start(WORKER_LEASE_SECONDS="2")
    await eventually(lambda: runs(tmp_path, "long"), timeout=60)
    claimed_until = (await job_rows(services, RECORD))["long"].locked_until
    assert claimed_until is not None

    async def extended():
        return (await job_rows(services, RECORD))["long"].locked_until > claimed_until

    await eventually(extended, timeout=10)  # the lease is renewed while the job runs

    killed.send_signal(signal.SIGKILL)
    assert await exited(killed) == -signal.SIGKILL
    lease_end = (await job_rows(services, RECORD))["long"].locked_until
    assert lease_end is not None
    other = workers.start(WORKER_LEASE_SECONDS="2")

    async def done():
        return (await job_rows(services, RECORD))["long"].status == "done"

    await eventually(done, timeout=60)
    (_, killed_pid, _, _), (_, other_pid, _, again_at), _ = lines = runs(tmp_path, "long")
    assert [(event, attempt) for event, _, attempt, _ in lines] == [("start", 1), ("start", 2), ("end", 2)]
    assert (killed_pid, other_pid) == (killed.pid, other.pid)
    assert again_at >= lease_end.timestamp()  # not before the killed worker's lease ran out
    job = (await job_rows(services, RECORD))["long"]
    assert (job.attempts, job.locked_by, job.last_error) == (2, None, None)
    # The killed worker never said it stopped: its heartbeat stays, growing stale.
    assert (await heartbeats(services))[killed.pid].stopped_at is None
    other.send_signal(signal.SIGTERM)
    assert await exited(other) == 0


async def test_sigterm_lets_the_running_job_finish_then_exits_0(services, workers, tmp_path):
    await queue_records(services, tmp_path, ["finishing"], first_seconds=1.5)
    process = workers.start()
    await eventually(lambda: runs(tmp_path, "finishing"), timeout=60)

    process.send_signal(signal.SIGTERM)
    assert await exited(process) == 0, workers.output(process)

    assert [event for event, *_ in runs(tmp_path, "finishing")] == ["start", "end"]
    job = (await job_rows(services, RECORD))["finishing"]
    assert (job.status, job.attempts, job.locked_by) == ("done", 1, None)
    beat = (await heartbeats(services))[process.pid]
    assert beat.stopped_at is not None
    assert "worker_stopped" in workers.output(process)


async def test_sigterm_gives_back_a_job_that_outlasts_the_grace_period(services, workers, tmp_path):
    await queue_records(services, tmp_path, ["endless"], first_seconds=600)
    process = workers.start(WORKER_GRACE_SECONDS="0.5")
    await eventually(lambda: runs(tmp_path, "endless"), timeout=60)
    stopping = time.monotonic()

    process.send_signal(signal.SIGTERM)
    assert await exited(process) == 0, workers.output(process)

    assert time.monotonic() - stopping < 15
    assert [event for event, *_ in runs(tmp_path, "endless")] == ["start"]
    job = (await job_rows(services, RECORD))["endless"]
    # Due again at once for another worker, and the interrupted attempt does not count.
    assert (job.status, job.attempts, job.locked_by, job.locked_until) == ("pending", 0, None, None)
    assert (await heartbeats(services))[process.pid].stopped_at is not None


async def test_ctrl_c_stops_an_idle_worker_with_exit_0(services, workers):
    process = workers.start()
    await eventually(lambda: _running(services, {process.pid}), timeout=60)
    process.send_signal(signal.SIGINT)  # Ctrl-C
    assert await exited(process) == 0
    async with services.db.read_sessions() as session:
        rows = (await session.scalars(select(Job))).all()
    assert [job for job in rows if job.locked_by is not None] == []  # nothing left locked behind
    assert (await heartbeats(services))[process.pid].stopped_at is not None
