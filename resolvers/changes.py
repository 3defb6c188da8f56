"""Reading the order change feed (models/change.py) without ever skipping a change.

Positions are (txid, change id) pairs, read in that order. On PostgreSQL only changes written by
transactions below the oldest one still running are "settled": every transaction below that line
has ended, so no change can appear behind a position once a reader has passed it, whatever order
the writers committed in. A transaction that stays open holds the line back: readers wait for it
rather than skip it. On SQLite writers are serialized, so every committed change is settled.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import takewhile
from typing import NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    Text,
    cast,
    delete,
    func,
    literal,
    select,
    true,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from models import FeedPosition, OrderChange
from models.db import Database, plain_rows
from models.errors import DomainError, ErrorCode
from policies.scopes import cross_company
from resolvers.context import Services
from resolvers.jobs import ClaimedJob


class Position(NamedTuple):
    txid: int
    change_id: int


START = Position(0, 0)


def settled(dialect: str) -> ColumnElement[bool]:
    """Changes whose writing transaction can no longer be running (see the module docstring)."""
    if dialect != "postgresql":
        return true()
    horizon = cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)
    return OrderChange.txid < horizon


def after(position: Position) -> ColumnElement[bool]:
    return tuple_(OrderChange.txid, OrderChange.id) > tuple_(literal(position.txid), literal(position.change_id))


def position_of(change: OrderChange) -> Position:
    return Position(change.txid, change.id)


def settled_changes(dialect: str, position: Position, limit: int, *, reason: str) -> Select:
    """The next settled changes of every company after `position`, oldest first, for the platform's
    own readers (the webhook dispatcher, the subscription broker); `reason` says which."""
    statement = (
        select(OrderChange).where(settled(dialect), after(position))
        .order_by(OrderChange.txid, OrderChange.id).limit(limit)
    )
    return cross_company(statement, reason)


# --- cursors: opaque, versioned, one position one cursor ---------------------------------------------------------

_CURSOR_PREFIX = "changes:v1:"
_MAX_POSITION_PART = 2**63 - 1  # txid and change id are 64-bit
_MAX_CURSOR_LENGTH = 120


def encode_cursor(position: Position) -> str:
    """The opaque cursor of a feed position (base64url of "changes:v1:<txid>:<change id>"; clients must not
    rely on the text: the version is there so that it can change)."""
    text = f"{_CURSOR_PREFIX}{position.txid}:{position.change_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> Position:
    """The position of a cursor this API gave; anything else is INVALID_INPUT (on `field`)."""
    position = None
    if isinstance(cursor, str) and len(cursor) <= _MAX_CURSOR_LENGTH:
        try:
            text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            text = ""
        parts = text[len(_CURSOR_PREFIX):].split(":") if text.startswith(_CURSOR_PREFIX) else []
        if len(parts) == 2 and all(part.isascii() and part.isdigit() for part in parts):
            txid, change_id = int(parts[0]), int(parts[1])
            if txid <= _MAX_POSITION_PART and change_id <= _MAX_POSITION_PART:
                position = Position(txid, change_id)
    # Re-encoding must give the cursor back (no leading zeros, padding or stray bits): one position, one cursor.
    if position is None or encode_cursor(position) != cursor:
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", field)
    return position


# --- where the feed ends and where retention has pruned it --------------------------------------------------------

PRUNED = "pruned"  # the FeedPosition of retention: every change at or before it has been deleted


@lru_cache(maxsize=4)
def _head_statement(dialect: str) -> Select:
    last = (
        select(OrderChange.txid.label("txid"), OrderChange.id.label("change_id")).where(settled(dialect))
        .order_by(OrderChange.txid.desc(), OrderChange.id.desc()).limit(1).subquery()
    )
    pruned = select(FeedPosition.txid, FeedPosition.change_id).where(FeedPosition.name == PRUNED)
    both = union_all(select(last.c.txid, last.c.change_id), pruned).subquery()
    statement = select(both.c.txid, both.c.change_id).order_by(both.c.txid.desc(), both.c.change_id.desc()).limit(1)
    return cross_company(statement, "the feed's last settled position (a position, no company's data)")


async def feed_head(session: AsyncSession) -> Position | None:
    """The last settled position of the whole feed (or the pruned position, when retention has deleted
    every change up to it), or None before the first change. Every change at or before it has committed
    and can be read (or was pruned); none can appear there any more. Read it BEFORE the changes or orders
    it vouches for: whatever a later statement reads includes everything up to it."""
    rows = await plain_rows(session, _head_statement(session.get_bind().dialect.name))
    return Position(*rows[0]) if rows else None


async def pruned_position(session: AsyncSession) -> Position:
    """How far retention has deleted (START before the first pruning)."""
    row = (await session.execute(
        select(FeedPosition.txid, FeedPosition.change_id).where(FeedPosition.name == PRUNED))).first()
    return Position(*row) if row else START


async def check_retained(session: AsyncSession, position: Position, retention_days: int, field: str = "after") -> None:
    """CHANGES_EXPIRED when changes after `position` have been deleted by retention. Read AFTER the changes
    (or orders) read from `position`: pruning advances its position in the transaction that deletes, so a
    position read later covers every deletion those reads could have missed."""
    if position < await pruned_position(session):
        raise DomainError(
            ErrorCode.CHANGES_EXPIRED,
            f"The cursor is older than the changes kept (at least {retention_days} days): resynchronise with the "
            "export (GET /export/orders.ndjson or .csv, whose X-Procura-Feed-Cursor header and last line give "
            "the cursor to continue from)",
            field)


# --- retention --------------------------------------------------------------------------------------------------

async def prune_changes(db: Database, now: datetime, *, retention_days: int = 90, batch_size: int = 5000) -> int:
    """Delete the changes older than `retention_days` before `now`, oldest position first, in batches of
    `batch_size`, each in its own transaction that also advances FeedPosition "pruned" to the last
    deleted position. Only a prefix of the feed is deleted (settled changes from the pruned position
    on, up to the first one that is still young), so "pruned" stays exact: every change at or before
    it is gone, every one after it is kept. Changes that an internal reader (a named FeedPosition, such as
the webhook dispatcher's) has not passed yet are kept too. Returns how many were deleted. Idempotent; run daily by
    the worker."""
    cutoff = now - timedelta(days=retention_days)
    deleted = 0
    while True:
        async with db.transaction() as session:
            pruned = await _lock_pruned(session, db.dialect, now)
            rows = (await session.execute(_oldest_changes(db.dialect, pruned, batch_size))).all()
            # Nothing the platform's own readers (the webhook dispatcher) have yet to read is deleted.
            unread = min(await _internal_readers(session), default=None)
            old = [row for row in takewhile(lambda row: row.created_at < cutoff, rows)
                   if unread is None or Position(row.txid, row.id) <= unread]
            if not old:
                return deleted
            last = Position(old[-1].txid, old[-1].id)
            await session.execute(cross_company(
                delete(OrderChange).where(after(pruned), tuple_(OrderChange.txid, OrderChange.id) <= tuple_(
                    literal(last.txid, BigInteger), literal(last.change_id, BigInteger))),
                "retention: changes older than the retention period, of every company"))
            await session.execute(update(FeedPosition).where(FeedPosition.name == PRUNED).values(
                txid=last.txid, change_id=last.change_id, updated_at=now))
            deleted += len(old)
        if len(old) < batch_size:
            return deleted


async def _internal_readers(session: AsyncSession) -> list[Position]:
    """Where each of the platform's own feed readers stands (every named position but "pruned")."""
    rows = await session.execute(select(FeedPosition.txid, FeedPosition.change_id).where(FeedPosition.name != PRUNED))
    return [Position(*row) for row in rows]


def _oldest_changes(dialect: str, pruned: Position, limit: int) -> Select:
    statement = (
        select(OrderChange.txid, OrderChange.id, OrderChange.created_at).where(settled(dialect), after(pruned))
        .order_by(OrderChange.txid, OrderChange.id).limit(limit)
    )
    return cross_company(statement, "retention: the oldest changes of every company")


async def _lock_pruned(session: AsyncSession, dialect: str, now: datetime) -> Position:
    """The pruned position, its row created if missing and locked (two pruners never interleave; on
    SQLite the write transaction already serializes them)."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(insert(FeedPosition).values(name=PRUNED, txid=0, change_id=0, updated_at=now)
                          .on_conflict_do_nothing(index_elements=["name"]))
    row = (await session.execute(select(FeedPosition.txid, FeedPosition.change_id)
                                 .where(FeedPosition.name == PRUNED).with_for_update())).one()
    return Position(*row)


PRUNE_CHANGES_JOB = "changes.prune"


async def prune_changes_job(services: Services, job: ClaimedJob) -> None:
    """The worker's daily run (worker/schedule.py): prune as of the run's slot, not of now, so that a rerun
    of the same slot deletes nothing more."""
    slot = datetime.fromisoformat(job.payload["slot"])
    await prune_changes(services.db, slot, retention_days=services.settings.change_retention_days)
