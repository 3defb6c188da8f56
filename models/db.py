"""Engine and session factories for SQLite (embedded default) and PostgreSQL.

On SQLite every connection runs in WAL mode with foreign keys on and a busy timeout, and
the driver's own transaction handling is switched off so that we emit BEGIN ourselves:
write sessions take the write lock up front (BEGIN IMMEDIATE), so a check followed by a
write is serialized against other writers; read sessions use a plain deferred BEGIN.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Executable, Row, event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

WRITE_OPTION = "procura_write"


def make_engine(url: str, *, busy_timeout_ms: int = 10000, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000})
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _lower(value):
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLite's built-in lower() folds ASCII only ("Ø" stays "Ø"); PostgreSQL's folds every letter.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@dataclass(frozen=True)
class Database:
    """The engine plus one session factory for reads and one for write transactions."""

    engine: AsyncEngine
    read_sessions: async_sessionmaker[AsyncSession]
    write_sessions: async_sessionmaker[AsyncSession]

    @classmethod
    def connect(cls, url: str, *, busy_timeout_ms: int = 10000) -> Database:
        engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
        writer = engine.execution_options(**{WRITE_OPTION: True})
        # PostgreSQL reads at READ COMMITTED see a fresh snapshot per statement anyway, so a
        # transaction around them buys nothing but two round trips (BEGIN, ROLLBACK).
        reader = (engine.execution_options(isolation_level="AUTOCOMMIT") if engine.dialect.name == "postgresql"
                  else engine)
        return cls(
            engine=engine,
            read_sessions=async_sessionmaker(reader, expire_on_commit=False, autoflush=False),
            write_sessions=async_sessionmaker(writer, expire_on_commit=False, autoflush=True),
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block ends, rolled back on error."""
        async with self.write_sessions() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


async def plain_rows(session: AsyncSession, statement: Executable, params: Mapping | None = None) -> Sequence[Row]:
    """The rows of a select of columns (no ORM entities), run on the session's connection.

    Read models are plain rows anyway; the ORM's execution layer around them (its compile
    state and result wrapping) costs about a millisecond a statement. Pending changes are
    flushed first, as `session.execute` would.
    """
    if session.new or session.dirty or session.deleted:
        await session.flush()
    connection = await session.connection()
    return (await connection.execute(statement, params)).all()
