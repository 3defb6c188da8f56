"""`procura serve --with-worker` (what `make run` starts): the API answers, /readyz shows the worker's heartbeat,
and Ctrl-C (SIGINT to the terminal's process group) or SIGTERM to the server stops both, exit status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from models import WorkerHeartbeat
from models.db import Database
from tests.schema.test_mail import free_port
from tests.worker.test_runner import eventually

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROCURA = Path(sys.executable).parent / "procura"


@pytest.fixture
def served(tmp_path):
    """Starts `procura serve --with-worker` on a fresh SQLite database, in a session of its own (as a shell
    starts a command); yields (process, base url, database url) and kills what is left at the end."""
    port = free_port()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'procura.db'}"
    environment = {k: v for k, v in os.environ.items()
                   if k not in {"DATABASE_URL", "PROCURA_ENV", "TEST_DATABASE_URL", "SMTP_URL"}}
    environment.update(PYTHONPATH=str(PROJECT_ROOT), DATABASE_URL=database_url, PROCURA_ENV="development",
                       WORKER_HEARTBEAT_SECONDS="0.5")
    output = (tmp_path / "serve.out").open("w")
    process = subprocess.Popen([str(PROCURA), "serve", "--port", str(port), "--with-worker"], cwd=tmp_path,
                               env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    yield process, f"http://127.0.0.1:{port}", database_url
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def worker_ok(http: httpx.AsyncClient) -> dict | None:
    try:
        response = await http.get("/readyz")
    except httpx.TransportError:
        return None  # not listening yet
    worker = response.json().get("worker", {})
    return worker if worker.get("status") == "ok" else None


async def heartbeats(database_url: str) -> list[WorkerHeartbeat]:
    db = Database.connect(database_url)
    try:
        async with db.read_sessions() as session:
            return list((await session.scalars(select(WorkerHeartbeat))).all())
    finally:
        await db.dispose()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
async def test_serve_with_worker_answers_reports_the_worker_and_stops_both(served, stop):
    process, base_url, database_url = served
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        worker = await eventually(lambda: worker_ok(http), timeout=90, interval=0.2)
        assert worker["running"] == 1
        answer = await http.post("/graphql", json={"query": "{ __typename }"})
        assert answer.json()["data"] == {"__typename": "Query"}
    [beat] = await heartbeats(database_url)
    assert beat.pid != process.pid and alive(beat.pid)  # a child process of its own

    if stop == "ctrl-c":
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does: the whole foreground process group
    else:
        process.send_signal(signal.SIGTERM)  # a supervisor stopping the server only
    await eventually(lambda: process.poll() is not None, timeout=60)

    assert process.returncode == 0
    [beat] = await heartbeats(database_url)
    assert beat.stopped_at is not None  # the worker stopped gracefully, not killed
    assert not alive(beat.pid)
