"""Test-only job kinds, and a `procura worker` that also runs them (`python -m tests.worker.kinds`).

`test.record` appends "start" and "end" lines (pid, attempt, time) to `<dir>/<key>.log` around a sleep
of `seconds` (`first_seconds` on the first attempt), so that a test can tell which process ran a job,
how often, and whether it was interrupted."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from resolvers.context import Services
from resolvers.jobs import ClaimedJob
from worker.handlers import HANDLERS

RECORD = "test.record"


def _write(directory: str, key: str, event: str, attempt: int) -> None:
    with (Path(directory) / f"{key}.log").open("a") as log:
        log.write(f"{event} {os.getpid()} {attempt} {time.time():.3f}\n")


async def record(services: Services, job: ClaimedJob) -> None:
    payload = job.payload
    _write(payload["dir"], job.key, "start", job.attempts)
    seconds = payload.get("first_seconds", 0) if job.attempts == 1 else payload.get("seconds", 0)
    await asyncio.sleep(seconds)
    _write(payload["dir"], job.key, "end", job.attempts)


def runs(directory: Path, key: str) -> list[tuple[str, int, int, float]]:
    """The lines `record` wrote for `key`: (event, pid, attempt, time)."""
    path = directory / f"{key}.log"
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines()]
    return [(event, int(pid), int(attempt), float(at)) for event, pid, attempt, at in lines]


if __name__ == "__main__":
    from cli import app

    HANDLERS[RECORD] = record
    app(["worker"])
