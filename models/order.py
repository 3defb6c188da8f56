"""Carts and orders: a cart is an order in DRAFT; lines, the event timeline, returns."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow
from models.order_state import OrderStatus


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("company_id", "number", name="uq_orders_company_number"),
        UniqueConstraint("buyer_id", "idempotency_key", name="uq_orders_buyer_idempotency_key"),
        # One cart (draft) per buyer.
        Index("uq_orders_one_draft_per_buyer", "buyer_id", unique=True,
              sqlite_where=text("status = 'draft'"), postgresql_where=text("status = 'draft'")),
        # Keyset pagination of the history: newest first, per company and per buyer.
        Index("ix_orders_company_submitted", "company_id", "submitted_at", "id"),
        Index("ix_orders_buyer_submitted", "buyer_id", "submitted_at", "id"),
        Index("ix_orders_company_gross", "company_id", "gross_minor", "id"),
        Index("ix_orders_end_customer", "end_customer_id"),
        # The history by update time (filter and sort by updatedAt), per company and per buyer.
        Index("ix_orders_company_updated", "company_id", "updated_at", "id"),
        Index("ix_orders_buyer_updated", "buyer_id", "updated_at", "id"),
        # Every company's orders by submission (the platform operator's history and export).
        Index("ix_orders_submitted", "submitted_at", "id"),
        # What the invoice run picks up: fulfilled orders not yet on an invoice.
        Index("ix_orders_to_invoice", "company_id", "id",
              sqlite_where=text("status = 'fulfilled' AND invoice_id IS NULL"),
              postgresql_where=text("status = 'fulfilled' AND invoice_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.DRAFT.value)
    number: Mapped[str | None] = mapped_column(String(30))
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(200), default="")
    po_number: Mapped[str] = mapped_column(String(100), default="")
    end_customer_id: Mapped[int | None] = mapped_column(ForeignKey("end_customers.id"))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_locations.id"))
    delivery_slot_id: Mapped[int | None] = mapped_column(ForeignKey("delivery_slots.id"))
    delivery_date: Mapped[date | None] = mapped_column(Date)
    delivery_street: Mapped[str] = mapped_column(String(200), default="")
    delivery_postal_code: Mapped[str] = mapped_column(String(20), default="")
    delivery_city: Mapped[str] = mapped_column(String(100), default="")
    payment_method: Mapped[str | None] = mapped_column(String(20))
    cost_centre_id: Mapped[int | None] = mapped_column(ForeignKey("cost_centres.id"), index=True)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list, server_default=text("'[]'"))
    net_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    vat_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    gross_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credited_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    content_digest: Mapped[str | None] = mapped_column(String(64))
    # The invoice this order was billed on; None until an invoice run picks it up.
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", use_alter=True), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    lines: Mapped[list[OrderLine]] = relationship(lazy="raise", order_by="OrderLine.id", cascade="all, delete-orphan")


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (UniqueConstraint("order_id", "product_id", name="uq_order_lines_order_product"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    substitution_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    # Snapshot, written at submission: later catalogue changes do not alter the order.
    sku: Mapped[str] = mapped_column(String(64), default="")
    name: Mapped[str] = mapped_column(String(200), default="")
    unit: Mapped[str] = mapped_column(String(20), default="")
    unit_price_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    vat_rate: Mapped[int] = mapped_column(Integer, default=0)
    net_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    vat_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    returned_quantity: Mapped[int] = mapped_column(Integer, default=0)


class OrderEvent(Base):
    """Append-only timeline of an order: who did what, when, from which state to which."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LineReturn(Base):
    """Goods returned after fulfilment; credited to the company's account."""

    __tablename__ = "line_returns"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    credited_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The document that settled this return: the credit note it was credited on (returns of invoiced orders), or
    # the invoice that netted it (returned before invoicing: the invoice bills the quantity less the return).
    # None until the invoice run issues one of them.
    credit_note_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", use_alter=True), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OrderNumberCounter(Base):
    """The last order number per company and year (PO-2026-000123)."""

    __tablename__ = "order_number_counters"

    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, default=0)


def format_order_number(year: int, sequence: int) -> str:
    return f"PO-{year}-{sequence:06d}"
