"""Pre-approved purchases: a buyer asks for an amount to be approved beforehand; once approved, their orders within
it (before it expires, up to what remains) need no approval step.

The request goes through the company's approval rules as an order of that amount would: it is carried by an
order of kind `pre_approval` (no lines, its gross the amount asked for), so it has the same tiers, approvers,
queue, emails, links, delegation and reminders. That order never charges budgets or credit and is never fulfilled
or invoiced.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class OrderKind(StrEnum):
    PURCHASE = "purchase"
    PRE_APPROVAL = "pre_approval"


class PreApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class PreApproval(Base):
    __tablename__ = "pre_approvals"
    __table_args__ = (Index("ix_pre_approvals_buyer_status", "buyer_id", "status", "valid_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("memberships.id"))
    cost_centre_id: Mapped[int | None] = mapped_column(ForeignKey("cost_centres.id"))
    # The order of kind `pre_approval` that carries the request through the approval rules.
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    used_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    purpose: Mapped[str] = mapped_column(Text, default="")
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default=PreApprovalStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
