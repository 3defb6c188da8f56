"""Reading the order change feed (models/change.py) without ever skipping a change.

Positions are (txid, change id) pairs, read in that order. On PostgreSQL only changes written by
transactions below the oldest one still running are "settled": every transaction below that line
has ended, so no change can appear behind a position once a reader has passed it, whatever order
the writers committed in. A transaction that stays open holds the line back: readers wait for it
rather than skip it. On SQLite writers are serialized, so every committed change is settled.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import BigInteger, ColumnElement, Select, Text, cast, func, literal, select, true, tuple_

from models import OrderChange
from policies.scopes import cross_company


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
