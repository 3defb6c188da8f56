"""The order change feed: one row per entry of an order's timeline, written by the database itself.

A trigger on `order_events` (alembic revision 0007) inserts the row in the transaction that writes
the event, so no code path can change an order without the feed hearing of it, and a rolled-back
change leaves nothing behind. On PostgreSQL the trigger also stamps the writing transaction's id
(`txid`, from pg_current_xact_id()) and wakes listeners with NOTIFY, which PostgreSQL delivers only
on commit.

Why `txid`: a transaction can take a lower id or timestamp than another and commit after it, so a
reader that remembers "the last id I saw" would skip it. Readers take only rows whose transaction is
below the oldest one still running (pg_snapshot_xmin(pg_current_snapshot())): every such transaction
has ended, so no row can appear below that line any more. Rows are read in (txid, id) order. On SQLite
writers are serialized (BEGIN IMMEDIATE), ids are handed out in commit order, and txid is 0.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow

# A 64-bit key on PostgreSQL; on SQLite the rowid (INTEGER PRIMARY KEY), so that AUTOINCREMENT applies.
BigKey = BigInteger().with_variant(Integer(), "sqlite")

# The NOTIFY channel the trigger raises on PostgreSQL (payload: the company id).
CHANGE_CHANNEL = "procura_order_changes"


class OrderChange(Base):
    __tablename__ = "order_changes"
    __table_args__ = (
        Index("ix_order_changes_position", "txid", "id"),
        Index("ix_order_changes_company_position", "company_id", "txid", "id"),
        Index("ix_order_changes_created_at", "created_at"),
        # Ids are never reused after pruning (SQLite would otherwise reuse the highest deleted one).
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigKey, primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("order_events.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FeedPosition(Base):
    """A named position in the change feed: how far retention has pruned ("pruned"), how far the
    webhook dispatcher has read ("webhooks"), ..."""

    __tablename__ = "feed_positions"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    txid: Mapped[int] = mapped_column(BigInteger, default=0)
    change_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


# Installed by revision 0007; kept here so that tests and the migration use the same text.
POSTGRESQL_TRIGGER = [
    f"""
    CREATE FUNCTION procura_order_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE company integer;
    BEGIN
        SELECT company_id INTO company FROM orders WHERE id = NEW.order_id;
        INSERT INTO order_changes (company_id, order_id, event_id, kind, txid, created_at)
        VALUES (company, NEW.order_id, NEW.id, NEW.kind, pg_current_xact_id()::text::bigint, NEW.created_at);
        PERFORM pg_notify('{CHANGE_CHANNEL}', company::text);
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER order_events_change AFTER INSERT ON order_events
    FOR EACH ROW EXECUTE FUNCTION procura_order_change()
    """,
]
POSTGRESQL_TRIGGER_DROP = [
    "DROP TRIGGER IF EXISTS order_events_change ON order_events",
    "DROP FUNCTION IF EXISTS procura_order_change()",
]
SQLITE_TRIGGER = [
    """
    CREATE TRIGGER order_events_change AFTER INSERT ON order_events BEGIN
        INSERT INTO order_changes (company_id, order_id, event_id, kind, txid, created_at)
        SELECT company_id, NEW.order_id, NEW.id, NEW.kind, 0, NEW.created_at FROM orders WHERE id = NEW.order_id;
    END
    """,
]
SQLITE_TRIGGER_DROP = ["DROP TRIGGER IF EXISTS order_events_change"]
