"""The supplier's gapless invoice number sequence (one row of `invoice_number_counter`).

The number is taken by an UPDATE ... RETURNING in the transaction that inserts the document: the row stays
locked until that transaction ends, so concurrent issuers queue on it (PostgreSQL row lock; SQLite's write
lock), and a transaction that rolls back gives its numbers back with everything else. Numbers therefore run
1, 2, 3 ... in issue order with no gap and no duplicate.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from models import InvoiceNumberCounter
from resolvers.upsert import ensure_row

COUNTER_ID = 1


async def next_invoice_number(session: AsyncSession) -> int:
    # Migration 0009 inserts the row; creating it when absent (an emptied table) never changes an existing one.
    await ensure_row(session, InvoiceNumberCounter, id=COUNTER_ID, last_number=0)
    statement = (update(InvoiceNumberCounter).where(InvoiceNumberCounter.id == COUNTER_ID)
                 .values(last_number=InvoiceNumberCounter.last_number + 1)
                 .returning(InvoiceNumberCounter.last_number))
    return (await session.execute(statement)).scalar_one()
