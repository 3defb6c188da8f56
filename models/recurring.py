"""Recurring purchases (standing orders): a saved cart submitted on a schedule given as an RFC 5545 recurrence
rule, by the background worker, through the same submission path as a person's order."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class RecurringStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    STOPPED = "stopped"  # its buyer was deactivated or blocked


class RecurringOrder(Base):
    __tablename__ = "recurring_orders"
    __table_args__ = (
        Index("ix_recurring_orders_due", "status", "next_run_at"),
        Index("ix_recurring_orders_buyer", "buyer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"))
    saved_cart_id: Mapped[int] = mapped_column(ForeignKey("saved_carts.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    rrule: Mapped[str] = mapped_column(String(500))  # RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=MO
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Oslo")
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default=RecurringStatus.ACTIVE.value)
    end_customer_id: Mapped[int | None] = mapped_column(ForeignKey("end_customers.id"))
    delivery_slot_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_slots.id"))
    cost_centre_id: Mapped[int | None] = mapped_column(ForeignKey("cost_centres.id"))
    payment_method: Mapped[str | None] = mapped_column(String(20))
    reference: Mapped[str] = mapped_column(String(200), default="")
    po_number: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RecurringRunStatus(StrEnum):
    SUBMITTED = "submitted"
    FAILED = "failed"


class RecurringOrderRun(Base):
    """One occurrence of a schedule: unique per (schedule, occurrence), so an occurrence is submitted once
    whatever the number of workers or crashes; a failure keeps its reason."""

    __tablename__ = "recurring_order_runs"
    __table_args__ = (UniqueConstraint("recurring_order_id", "occurrence", name="uq_recurring_runs_occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recurring_order_id: Mapped[int] = mapped_column(ForeignKey("recurring_orders.id", ondelete="CASCADE"))
    occurrence: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
