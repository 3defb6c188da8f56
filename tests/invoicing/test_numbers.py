"""The gapless invoice number sequence: taken in the issuing transaction, given back by a rollback, queued on
under concurrency (tasks with their own sessions; on PostgreSQL also a second engine, as another worker)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import delete, select

from invoicing.numbers import next_invoice_number
from models import InvoiceNumberCounter
from models.db import Database


class Refused(Exception):
    pass


async def take(db: Database, *, commit: bool, hold: float = 0.0) -> int | None:
    """Take a number in a transaction of its own; keep it when `commit`, else roll back."""
    try:
        async with db.transaction() as session:
            number = await next_invoice_number(session)
            await asyncio.sleep(hold)  # the document being built and validated while the row is held
            if not commit:
                raise Refused
    except Refused:
        return None
    return number


async def counter(services) -> int | None:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(InvoiceNumberCounter.last_number))


async def test_numbers_follow_each_other_and_a_rollback_gives_its_number_back(services):
    assert [await take(services.db, commit=True) for _ in range(3)] == [1, 2, 3]
    assert await take(services.db, commit=False) is None
    assert await counter(services) == 3
    assert await take(services.db, commit=True) == 4


async def test_the_counter_row_is_created_when_missing_and_never_reset(services):
    async with services.db.transaction() as session:
        await session.execute(delete(InvoiceNumberCounter))
    assert await take(services.db, commit=True) == 1
    async with services.db.transaction() as session:
        (await session.get_one(InvoiceNumberCounter, 1)).last_number = 41
    assert await take(services.db, commit=True) == 42


async def test_concurrent_issuers_queue_and_committed_numbers_have_no_gap_nor_duplicate(services):
    outcomes = await asyncio.gather(*(take(services.db, commit=index % 3 != 1, hold=0.01) for index in range(15)))
    committed = sorted(number for number in outcomes if number is not None)
    assert committed == list(range(1, 11))
    assert await counter(services) == 10


async def test_two_engines_at_once(services, backend):
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: the same-engine test covers it")
    other_db = Database.connect(services.settings.database_url)
    other = dataclasses.replace(services, db=other_db)
    try:
        outcomes = await asyncio.gather(*(take((services if index % 2 else other).db, commit=index % 4 != 0,
                                               hold=0.01) for index in range(16)))
    finally:
        await other_db.dispose()
    assert sorted(number for number in outcomes if number is not None) == list(range(1, 13))
    assert await counter(services) == 12
