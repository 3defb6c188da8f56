"""Budgets and their usage per period; the pure rules of periods and decisions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow
from models.errors import DomainError, ErrorCode


class BudgetOwner(StrEnum):
    GROUP = "group"
    USER = "user"
    COST_CENTRE = "cost_centre"


class BudgetPeriod(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    FIXED = "fixed"


class BudgetAction(StrEnum):
    BLOCK = "block"
    REQUIRE_APPROVAL = "require_approval"
    WARN = "warn"


class Budget(Base):
    __tablename__ = "budgets"
    __table_args__ = (Index("ix_budgets_owner", "company_id", "owner_type", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    owner_type: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(String(20))
    starts_on: Mapped[date | None] = mapped_column(Date)  # fixed range only
    ends_on: Mapped[date | None] = mapped_column(Date)  # fixed range only, inclusive
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BudgetUsage(Base):
    """Committed and spent amounts of one budget in one period (the row guarded atomically)."""

    __tablename__ = "budget_usage"

    budget_id: Mapped[int] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    committed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    spent_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class OrderCharge(Base):
    """What an order holds against a budget period, a purchase-limit month or credit, so it
    can be released on rejection or cancellation and adjusted on returns."""

    __tablename__ = "order_charges"
    __table_args__ = (Index("ix_order_charges_order", "order_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # budget | member_month | credit
    budget_id: Mapped[int | None] = mapped_column(ForeignKey("budgets.id", ondelete="CASCADE"))
    period_start: Mapped[date | None] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    released: Mapped[bool] = mapped_column(Boolean, default=False)


@dataclass(frozen=True)
class PeriodWindow:
    start: date
    end: date  # exclusive


PERIOD_END_MESSAGE = "The budget period containing this day ends after 9999-12-31, the last day that can be handled"


def period_window(
    period: BudgetPeriod, day: date, starts_on: date | None = None, ends_on: date | None = None,
) -> PeriodWindow | None:
    """The period containing `day`; None when a fixed budget does not cover the day. A window's end
    is the day after the period, and there is no day after 9999-12-31: such a period is an
    INVALID_INPUT error on `endsOn` (a fixed range, whatever the day) or on `date` (the day asked about)."""
    if period is BudgetPeriod.FIXED:
        if starts_on is None or ends_on is None:
            return None
        if ends_on == date.max:
            raise DomainError(ErrorCode.INVALID_INPUT, PERIOD_END_MESSAGE, "endsOn")
        if not starts_on <= day <= ends_on:
            return None
        return PeriodWindow(starts_on, date.fromordinal(ends_on.toordinal() + 1))
    if period is BudgetPeriod.MONTHLY:
        start = day.replace(day=1)
        months = 1
    elif period is BudgetPeriod.QUARTERLY:
        start = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        months = 3
    else:
        start = day.replace(month=1, day=1)
        months = 12
    month_index = start.month - 1 + months
    end_year = start.year + month_index // 12
    if end_year > date.max.year:
        raise DomainError(ErrorCode.INVALID_INPUT, PERIOD_END_MESSAGE, "date")
    return PeriodWindow(start, date(end_year, month_index % 12 + 1, 1))
