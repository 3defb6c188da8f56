"""Shared pieces of the PostgreSQL benchmarks: databases, settings, tokens, ASGI timing, statistics, memory
and profiles."""

from __future__ import annotations

import asyncio
import cProfile
import gc
import pstats
import statistics
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from settings import Settings  # noqa: E402

DEFAULT_SERVER_URL = "postgresql+asyncpg://root@127.0.0.1:5432"
BENCH_PASSWORD = "bench-password-1234"
JWT_SECRET = "bench-secret-" + "x" * 40


def server_url(url: str) -> str:
    """The server part of a database URL (a trailing database name is dropped)."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    if not scheme.startswith("postgresql"):
        raise SystemExit("the benchmarks need PostgreSQL: postgresql+asyncpg://user@host:port")
    return f"postgresql+asyncpg://{host}"


def database_url(server: str, name: str) -> str:
    return f"{server_url(server)}/{name}"


def asyncpg_dsn(url: str) -> str:
    """An SQLAlchemy URL as a plain asyncpg DSN."""
    _, _, rest = url.partition("://")
    return f"postgresql://{rest}"


async def create_database(server: str, name: str, *, drop: bool = False) -> bool:
    """Create database `name` (dropping it first when asked); True when it was created now."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url(server, "postgres")))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and drop:
            await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
            return True
        return False
    finally:
        await connection.close()


async def migrate(url: str) -> None:
    """alembic upgrade head, in a thread (alembic's async env calls asyncio.run)."""
    from cli import upgrade_database

    await asyncio.to_thread(upgrade_database, url)


def bench_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        database_url=url, procura_env="development", jwt_secret=JWT_SECRET, smtp_url=None,
        argon2_time_cost=1, argon2_memory_cost=1024, argon2_parallelism=1,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


async def issue_token(services, *, user_id: int, membership_id: int | None) -> str:
    """A real access token: an auth_sessions row (as login creates) and a JWT signed by the app's key."""
    from models import AuthSession

    async with services.db.transaction() as session:
        auth_session = AuthSession(user_id=user_id, membership_id=membership_id)
        session.add(auth_session)
        await session.flush()
        session_id = auth_session.id
    token, _ = services.tokens.issue(user_id=user_id, session_id=session_id, membership_id=membership_id)
    return token


class AsgiTimer:
    """Wraps an ASGI app and records, per HTTP request, the time from the call to the last body chunk sent."""

    def __init__(self, app) -> None:
        self.app = app
        self.last_ms: float | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter_ns()
        end = None

        async def timed_send(message):
            nonlocal end
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                end = time.perf_counter_ns()

        await self.app(scope, receive, timed_send)
        self.last_ms = ((end or time.perf_counter_ns()) - start) / 1e6


def median(values) -> float:
    return statistics.median(values)


def percentile(values, fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def peak_kib(request: Callable[[], Awaitable[Any]], runs: int = 5) -> float:
    """Median tracemalloc peak above the starting point around one request, in KiB."""
    peaks = []
    tracemalloc.start()
    try:
        for _ in range(runs):
            gc.collect()
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            await request()
            peaks.append((tracemalloc.get_traced_memory()[1] - base) / 1024)
    finally:
        tracemalloc.stop()
    return median(peaks)


async def profile_requests(request: Callable[[], Awaitable[Any]], label: str, path: str, requests: int = 30) -> None:
    """cProfile `requests` requests into `path`, with the top functions as text in `path`.txt."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        await request()
    profiler.disable()
    profiler.dump_stats(path)
    with open(path + ".txt", "w") as out:
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        out.write(f"{requests} requests of {label}\n")
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(60)
    print(f"  profile of {requests} requests ({label}) written to {path} and {path}.txt", file=sys.stderr)
