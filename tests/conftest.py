"""Test fixtures: real databases (SQLite always, PostgreSQL when TEST_DATABASE_URL is set),
migrated once per session with alembic, emptied between tests; the real ASGI app over HTTP."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url, text

import models
from app import create_app
from cli import upgrade_database
from settings import Settings
from tests.factories import Api
from tests.tenant_guard import TenantGuard


def _backends() -> list[str]:
    """SQLite, plus PostgreSQL when TEST_DATABASE_URL is set; TEST_BACKENDS (e.g. "postgresql")
    picks among them, so that CI does not run the SQLite half twice."""
    available = ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])
    chosen = [name.strip() for name in os.environ.get("TEST_BACKENDS", "").split(",") if name.strip()]
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise pytest.UsageError(f"TEST_BACKENDS names {unknown}, but only {available} are available "
                                "(PostgreSQL needs TEST_DATABASE_URL)")
    return chosen or available


BACKENDS = _backends()
_TMP = Path(tempfile.mkdtemp(prefix="procura-tests-"))


# With pytest-xdist each worker process has its own databases: SQLite in its own temporary
# directory, and on PostgreSQL a database of its own next to TEST_DATABASE_URL's, created on
# first use and dropped when the worker ends.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
_worker_databases: dict[str, str] = {}  # name -> the TEST_DATABASE_URL it was made next to


def database_url_for(backend: str) -> str:
    if backend == "postgresql":
        url = os.environ["TEST_DATABASE_URL"]
        return _worker_database(url) if _WORKER else url
    return f"sqlite+aiosqlite:///{_TMP / 'test.db'}"


def admin(url: str, statement: str) -> None:
    """Run one statement on the PostgreSQL server of `url` (e.g. CREATE DATABASE), outside any transaction."""
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


def _worker_database(url: str) -> str:
    base = make_url(url)
    name = f"{base.database}_{_WORKER}"
    if name not in _worker_databases:
        admin(url, f'DROP DATABASE IF EXISTS "{name}"')
        admin(url, f'CREATE DATABASE "{name}"')
        _worker_databases[name] = url
    return base.set(database=name).render_as_string(hide_password=False)


def pytest_sessionfinish(session) -> None:
    for name, url in _worker_databases.items():
        admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_settings(database_url: str, **overrides) -> Settings:
    values = dict(
        database_url=database_url, procura_env="test", jwt_secret="test-secret-" + "x" * 32,
        argon2_time_cost=1, argon2_memory_cost=1024, argon2_parallelism=1, smtp_url=None,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    return request.param


_migrated: set[str] = set()


@pytest.fixture(scope="session")
def database_url(backend: str) -> str:
    url = database_url_for(backend)
    if url not in _migrated:
        if backend == "postgresql":
            _reset_postgres_schema(url)
        upgrade_database(url)
        _migrated.add(url)
    return url


def _reset_postgres_schema(url: str) -> None:
    from models.db import make_engine

    async def reset():
        engine = make_engine(url)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await engine.dispose()

    asyncio.run(reset())


@pytest.fixture(scope="session", autouse=True)
def tenant_guard() -> Iterator[TenantGuard]:
    """Every request of the suite runs under the tenant-scope check (tests/tenant_guard.py)."""
    with TenantGuard().installed() as guard:
        yield guard


@pytest.fixture(autouse=True)
def _statements_stay_in_their_company(tenant_guard: TenantGuard) -> Iterator[None]:
    yield
    violations = tenant_guard.take()
    if violations:
        pytest.fail("A request ran statements on company-owned tables without a scope from policies/scopes.py:\n"
                    + "\n".join(map(str, violations)), pytrace=False)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return test_settings(database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator:
    application = create_app(settings)
    yield application
    services = application.state.services
    await services.mailer.drain()
    await _empty_tables(services.db)
    await services.db.dispose()


async def _empty_tables(db) -> None:
    # DELETE, children first: on tables this small it is much faster than TRUNCATE on PostgreSQL.
    tables = list(reversed(models.Base.metadata.sorted_tables))
    async with db.transaction() as session:
        for table in tables:
            await session.execute(table.delete())


@pytest.fixture
def services(app):
    return app.state.services


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def api(client, services) -> Api:
    return Api(client, services)
