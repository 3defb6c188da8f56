"""INSERT ... ON CONFLICT for both backends (SQLite 3.24+ and PostgreSQL share the syntax)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession):
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def ensure_row(session: AsyncSession, model, **key_and_defaults) -> None:
    """Create the row if it does not exist yet; never overwrite one that does."""
    statement = insert_for(session)(model).values(**key_and_defaults).on_conflict_do_nothing()
    await session.execute(statement)
