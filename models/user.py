"""People and their memberships in companies.

A `User` is a person who signs in (one email, one password). A `Membership` is that
person's place in one company: role, group, status, payment methods. One person may hold
memberships in several companies (an external accountant, say); a token acts for one.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow
from models.group import Group


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    CUSTOMER = "customer"
    ORDER_APPROVER = "order_approver"
    # An external accountant: reads the company, its orders, invoices, transactions and credit; nothing else.
    ACCOUNTANT = "accountant"


class MembershipStatus(StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    DEACTIVATED = "deactivated"


class PaymentMethod(StrEnum):
    CARD = "card"
    INVOICE = "invoice"


def normalize_email(email: str) -> str:
    return email.strip().lower()


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("company_id", "user_id", name="uq_memberships_company_user"),
        Index("ix_memberships_user_id", "user_id"),
        Index("ix_memberships_company_role", "company_id", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default=MembershipStatus.ACTIVE.value)
    payment_methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Purchase limits (köpgräns); None means no limit.
    order_limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    monthly_limit_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(lazy="raise")
    group: Mapped[Group] = relationship(lazy="raise")
    restrictions: Mapped[list[PermissionRestriction]] = relationship(
        lazy="raise", cascade="all, delete-orphan", order_by="PermissionRestriction.permission"
    )


class PermissionRestriction(Base):
    """A per-user override: this member is denied `permission` although their role grants it."""

    __tablename__ = "permission_restrictions"
    __table_args__ = (UniqueConstraint("membership_id", "permission", name="uq_restrictions_member_perm"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    permission: Mapped[str] = mapped_column(String(60))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MemberMonthlySpend(Base):
    """What a buyer has committed in one calendar month (the row guarded atomically)."""

    __tablename__ = "member_monthly_spend"

    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True)
    month_start: Mapped[date] = mapped_column(Date, primary_key=True)
    committed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
