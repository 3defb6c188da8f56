"""Running jobs: `run_due_jobs` (in-process, until nothing is due) and `Worker` (the `procura worker` process).

Both claim a due job with a lease (resolvers.jobs.claim: FOR UPDATE SKIP LOCKED on PostgreSQL, the
write lock on SQLite), run its handler while a keeper extends the lease, and record the outcome. A
worker that dies mid-job stops extending; the lease runs out and another worker claims the job again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import time
from collections.abc import Iterable
from datetime import timedelta

import structlog

from models.base import utcnow
from resolvers import jobs
from resolvers.context import Services
from resolvers.jobs import ClaimedJob, Retry
from worker.handlers import HANDLERS
from worker.schedule import Scheduler

log = structlog.get_logger("procura.worker")

RETRY_BASE = timedelta(seconds=10)
RETRY_CAP = timedelta(hours=1)
SCHEDULE_TICK_SECONDS = 1.0


def retry_delay(attempts: int) -> timedelta:
    """Back-off after a handler's unexpected error: 10 s, 20 s, 40 s, ... at most an hour."""
    return min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_CAP)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(4)}"


def known_kinds(kinds: Iterable[str] | None = None) -> list[str]:
    """The kinds this process has handlers for (of `kinds`, when given): the only ones it claims."""
    return [kind for kind in (HANDLERS if kinds is None else kinds) if kind in HANDLERS]


async def execute(services: Services, job: ClaimedJob, worker_id: str, *, lease: timedelta) -> None:
    """Run one claimed job's handler, extending its lease while it runs, and record how it ended.

    Cancelled (a shutdown past its grace period): the job is given back at once, its attempt not counted.
    Lease lost (extensions failed for a whole lease, so another worker may have taken it over): the handler
    is stopped, so that the job does not run twice at the same time.
    """
    handler = HANDLERS[job.kind]
    run = asyncio.create_task(handler(services, job), name=f"job {job.kind} {job.key}")
    try:
        while not run.done():
            await asyncio.wait([run], timeout=lease.total_seconds() / 3)
            if not run.done() and not await _extend(services, job, worker_id, lease):
                run.cancel()
                log.warning("job_lease_lost", job_id=job.id, kind=job.kind, key=job.key)
                await asyncio.gather(run, return_exceptions=True)
                return
    except asyncio.CancelledError:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await jobs.release(services.db, job, worker_id)
        log.info("job_released", job_id=job.id, kind=job.kind, key=job.key)
        raise
    await _record(services, job, worker_id, run)


async def _extend(services: Services, job: ClaimedJob, worker_id: str, lease: timedelta) -> bool:
    try:
        return await jobs.extend_lease(services.db, job, worker_id, lease=lease)
    except Exception:  # the database is away for a moment: keep running, try again at the next interval
        log.warning("job_lease_extension_failed", job_id=job.id, exc_info=True)
        return True


async def _record(services: Services, job: ClaimedJob, worker_id: str, run: asyncio.Task) -> None:
    # A handler cancelled from within (an unguarded timeout) failed like any other error.
    error = RuntimeError("the handler was cancelled") if run.cancelled() else run.exception()
    if error is None:
        await jobs.finish(services.db, job, worker_id)
        # Debug, not info: the webhook dispatcher alone finishes a job every second.
        log.debug("job_done", job_id=job.id, kind=job.kind, key=job.key, attempt=job.attempts)
        return
    retry_at = error.at if isinstance(error, Retry) else utcnow() + retry_delay(job.attempts)
    await jobs.finish(services.db, job, worker_id, error=f"{type(error).__name__}: {error}", retry_at=retry_at)
    last = job.attempts >= job.max_attempts
    if isinstance(error, Retry) and not last:
        log.info("job_retry", job_id=job.id, kind=job.kind, key=job.key, attempt=job.attempts, reason=str(error),
                 at=retry_at.isoformat())
    elif not last:
        log.warning("job_error", job_id=job.id, kind=job.kind, key=job.key, attempt=job.attempts,
                    at=retry_at.isoformat(), exc_info=error)
    else:
        log.error("job_failed", job_id=job.id, kind=job.kind, key=job.key, attempts=job.attempts, exc_info=error)


async def run_due_jobs(services: Services, worker_id: str = "inline", kinds: Iterable[str] | None = None, *,
                       schedule: bool = True) -> int:
    """Queue the scheduled runs that are due, then claim and run every due job (of `kinds`, default every kind
    with a handler) one after another until none is due; returns how many ran. This is the worker without its
    process: tests and one-off commands call it. A job retried for later, or a scheduled run already queued
    for the current slot (a per-second entry runs once per second), is not run again by a second call."""
    kinds = known_kinds(kinds)
    lease = timedelta(seconds=services.settings.worker_lease_seconds)
    if schedule:
        await Scheduler().tick(services.db, utcnow(), kinds)
    count = 0
    while (job := await jobs.claim(services.db, worker_id, lease=lease, kinds=kinds)) is not None:
        await execute(services, job, worker_id, lease=lease)
        count += 1
    return count


class Worker:
    """The long-running worker: up to `concurrency` jobs at once, a scheduler tick every second, a heartbeat
    every few seconds; `stop()` (SIGTERM, SIGINT) stops claiming, lets running jobs finish within the grace
    period, gives back the ones that do not, and marks the heartbeat stopped."""

    def __init__(self, services: Services, *, worker_id: str | None = None, kinds: Iterable[str] | None = None,
                 ) -> None:
        settings = services.settings
        self.services, self.worker_id = services, worker_id or new_worker_id()
        self.kinds = known_kinds(kinds)
        self.concurrency = settings.worker_concurrency
        self.lease = timedelta(seconds=settings.worker_lease_seconds)
        self.poll, self.grace = settings.worker_poll_seconds, settings.worker_grace_seconds
        self.heartbeat_every = settings.worker_heartbeat_seconds
        self.scheduler = Scheduler()
        self.running: set[asyncio.Task] = set()
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._signals = 0  # SIGINTs received

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def on_signal(self, signum: int = signal.SIGTERM) -> None:
        """SIGTERM or a first SIGINT: graceful stop. A second SIGINT (Ctrl-C again): stop the running jobs now;
        they are given back. Only SIGINT escalates, so that a SIGTERM from `procura serve --with-worker` after
        the Ctrl-C the terminal sent to both keeps the stop graceful."""
        self._signals += signum == signal.SIGINT
        if not self._stopping.is_set() or self._signals < 2:
            log.info("worker_stopping", worker_id=self.worker_id, running=len(self.running), grace=self.grace)
            self.stop()
        else:
            log.info("worker_stopping_now", worker_id=self.worker_id, running=len(self.running))
            for task in self.running:
                task.cancel()

    async def run(self) -> None:
        started_at = utcnow()
        db = self.services.db
        await jobs.beat(db, self.worker_id, hostname=socket.gethostname(), pid=os.getpid(), started_at=started_at)
        log.info("worker_started", worker_id=self.worker_id, concurrency=self.concurrency, kinds=self.kinds)
        heartbeat = asyncio.create_task(self._heartbeat(started_at))
        try:
            await self._claim_until_stopped()
            await self._finish_running()
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await self.services.mailer.drain()
            await jobs.stopped(db, self.worker_id)
            log.info("worker_stopped", worker_id=self.worker_id)

    async def _claim_until_stopped(self) -> None:
        last_tick = 0.0
        while not self._stopping.is_set():
            if time.monotonic() - last_tick >= SCHEDULE_TICK_SECONDS:
                last_tick = time.monotonic()
                await self._guarded("schedule_failed", self.scheduler.tick(self.services.db, utcnow(), self.kinds))
            if len(self.running) >= self.concurrency:
                await self._sleep(SCHEDULE_TICK_SECONDS)  # a finishing job wakes it
                continue
            claimed = await self._guarded("claim_failed", self._claim(self.concurrency - len(self.running)))
            if not claimed:
                await self._sleep(self.poll)
                continue
            for job in claimed:
                task = asyncio.create_task(execute(self.services, job, self.worker_id, lease=self.lease))
                self.running.add(task)
                task.add_done_callback(self._job_done)

    async def _claim(self, free_slots: int) -> list[ClaimedJob]:
        db = self.services.db
        # On SQLite a claim takes the write lock: look first with a plain read, so that an idle worker takes none.
        if db.dialect == "sqlite" and not await jobs.has_due(db, self.kinds):
            return []
        return await jobs.claim_many(db, self.worker_id, lease=self.lease, kinds=self.kinds, limit=free_slots)

    def _job_done(self, task: asyncio.Task) -> None:
        self.running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("job_not_recorded", worker_id=self.worker_id, exc_info=task.exception())
        self._wake.set()

    async def _finish_running(self) -> None:
        if not self.running:
            return
        _, late = await asyncio.wait(set(self.running), timeout=self.grace)
        for task in late:
            task.cancel()  # execute() gives the job back
        await asyncio.gather(*late, return_exceptions=True)
        # Cancelled by a second signal during the grace period: wait for them to be given back.
        await asyncio.gather(*self.running, return_exceptions=True)

    async def _heartbeat(self, started_at) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_every)
            await self._guarded("heartbeat_failed", jobs.beat(
                self.services.db, self.worker_id, hostname=socket.gethostname(), pid=os.getpid(),
                started_at=started_at))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def _guarded(self, event: str, work):
        """Await `work`; an error (the database away for a moment) is logged and the loop goes on."""
        try:
            return await work
        except Exception:
            log.warning(event, worker_id=self.worker_id, exc_info=True)
            await self._sleep(self.poll)
            return None


async def run_worker(services: Services) -> None:
    """`procura worker`: run until SIGTERM or SIGINT, then stop gracefully."""
    worker = Worker(services)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.on_signal, signum)
    try:
        await worker.run()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
