"""The one alembic history works on both databases: upgrade head, nothing left to autogenerate,
downgrade base, upgrade again. Each backend gets a database of its own for this."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path

import pytest
from alembic.util.exc import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

import models
from alembic import command
from cli import alembic_config
from models.db import make_engine
from tests.conftest import BACKENDS, admin


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


def _round_trip(url: str) -> None:
    config = alembic_config(url)
    command.upgrade(config, "head")
    assert asyncio.run(_tables(url)) == set(models.Base.metadata.tables)
    command.check(config)  # raises when the models and the migrations disagree
    command.downgrade(config, "base")
    assert asyncio.run(_tables(url)) == set()
    command.upgrade(config, "head")
    assert asyncio.run(_tables(url)) == set(models.Base.metadata.tables)


@pytest.mark.parametrize("database", BACKENDS)
def test_migrations_round_trip(database: str):
    if database == "sqlite":
        _round_trip(f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'migrations.db'}")
    else:
        _round_trip_on_a_new_postgresql_database()


def _round_trip_on_a_new_postgresql_database() -> None:
    url = os.environ["TEST_DATABASE_URL"]
    name = f"procura_migrations_{uuid.uuid4().hex[:10]}"
    admin(url, f'CREATE DATABASE "{name}"')
    try:
        _round_trip(make_url(url).set(database=name).render_as_string(hide_password=False))
    finally:
        admin(url, f'DROP DATABASE IF EXISTS "{name}"')


def test_check_fails_when_a_model_has_no_migration(tmp_path):
    """The check above can fail: a table missing from the migrations is reported."""
    from sqlalchemy import Column, Integer, Table

    url = f"sqlite+aiosqlite:///{tmp_path / 'drift.db'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    extra = Table("drift_probe", models.Base.metadata, Column("id", Integer, primary_key=True))
    try:
        with pytest.raises(CommandError):
            command.check(config)
    finally:
        models.Base.metadata.remove(extra)
