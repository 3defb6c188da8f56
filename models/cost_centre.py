"""Cost centres (invoice recipients): every order is booked to one of its buyer's."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class CostCentre(Base):
    __tablename__ = "cost_centres"
    __table_args__ = (UniqueConstraint("company_id", "code", name="uq_cost_centres_company_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(40))
    street: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str] = mapped_column(String(20))
    city: Mapped[str] = mapped_column(String(100))
    # The buyer reference printed on this recipient's invoices (EHF BuyerReference); empty: the cost centre's code.
    invoice_reference: Mapped[str] = mapped_column(String(200), default="", server_default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MemberCostCentre(Base):
    """A user's attachment to a cost centre; exactly one of a user's is their default."""

    __tablename__ = "member_cost_centres"

    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True)
    cost_centre_id: Mapped[int] = mapped_column(
        ForeignKey("cost_centres.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
