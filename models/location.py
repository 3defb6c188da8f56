"""Delivery locations (units), their delivery slots, and the end customers who live there."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import ForeignKey, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow

WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


class DeliveryLocation(Base):
    __tablename__ = "delivery_locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    # Only the slots on offer; retired ones stay in the table for the orders that chose them.
    slots: Mapped[list[DeliverySlot]] = relationship(
        lazy="raise", order_by="(DeliverySlot.weekday, DeliverySlot.starts_at)",
        primaryjoin="and_(DeliveryLocation.id == DeliverySlot.location_id, DeliverySlot.retired_at.is_(None))",
        viewonly=True,
    )


class DeliverySlot(Base):
    """A weekly delivery window the unit offers, e.g. Tuesday 08:00-10:00."""

    __tablename__ = "delivery_slots"

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("delivery_locations.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 = Monday
    starts_at: Mapped[time] = mapped_column(Time)
    ends_at: Mapped[time] = mapped_column(Time)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def fits(self, day: date) -> bool:
        return day.weekday() == self.weekday


class EndCustomer(Base):
    """A consignee, such as a care recipient, for whom orders are placed."""

    __tablename__ = "end_customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("delivery_locations.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    last_ordered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
