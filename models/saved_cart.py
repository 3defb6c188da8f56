"""Saved carts: named sets of lines to put into the cart again (personal, or shared)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow


class SavedCart(Base):
    __tablename__ = "saved_carts"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_saved_carts_owner_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    lines: Mapped[list[SavedCartLine]] = relationship(
        lazy="raise", order_by="SavedCartLine.id", cascade="all, delete-orphan"
    )


class SavedCartLine(Base):
    __tablename__ = "saved_cart_lines"
    __table_args__ = (UniqueConstraint("saved_cart_id", "product_id", name="uq_saved_cart_lines_cart_product"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    saved_cart_id: Mapped[int] = mapped_column(ForeignKey("saved_carts.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    substitution_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
