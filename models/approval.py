"""Approval rules with up to five sequential tiers, and the decisions taken on orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, UTCDateTime, utcnow

MAX_TIERS = 5


class RuleCondition(StrEnum):
    TOTAL_ABOVE = "total_above"
    OVER_BUDGET = "over_budget"
    OVER_PURCHASE_LIMIT = "over_purchase_limit"
    COST_CENTRE = "cost_centre"
    PRODUCT_CATEGORY = "product_category"


class ApprovalRule(Base):
    __tablename__ = "approval_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    condition: Mapped[str] = mapped_column(String(30))
    threshold_minor: Mapped[int | None] = mapped_column(BigInteger)
    cost_centre_id: Mapped[int | None] = mapped_column(ForeignKey("cost_centres.id", ondelete="CASCADE"))
    category: Mapped[str | None] = mapped_column(String(100))
    applies_to_roles: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: everyone
    applies_to_group_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # empty: every group
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    tiers: Mapped[list[ApprovalTier]] = relationship(
        lazy="raise", order_by="ApprovalTier.level", cascade="all, delete-orphan"
    )


class ApprovalTier(Base):
    """Satisfied by any one approver holding one of `roles` or being one of `membership_ids`."""

    __tablename__ = "approval_tiers"
    __table_args__ = (UniqueConstraint("rule_id", "level", name="uq_approval_tiers_rule_level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("approval_rules.id", ondelete="CASCADE"))
    level: Mapped[int] = mapped_column(Integer)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    membership_ids: Mapped[list[int]] = mapped_column(JSON, default=list)


class OrderApprovalStep(Base):
    """One tier an order must pass: copied from the rule at submission, so later rule edits
    do not change what a pending order needs."""

    __tablename__ = "order_approval_steps"
    __table_args__ = (
        Index("ix_order_approval_steps_order", "order_id", "rule_name", "level"),
        Index("ix_order_approval_steps_current", "company_id", "is_current"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("approval_rules.id", ondelete="SET NULL"))
    rule_name: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    level: Mapped[int] = mapped_column(Integer)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    membership_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # " role:admin member:12 " - lets SQL find the steps an approver may decide (LIKE '% member:12 %').
    approver_keys: Mapped[str] = mapped_column(Text, default=" ")
    # The lowest undecided tier of its rule: the one that can be decided now.
    is_current: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("memberships.id", ondelete="SET NULL"))
    decision: Mapped[str | None] = mapped_column(String(20))  # approved | rejected
    comment: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set for the member a substitute decided for (the absent approver); decided_by_id is the substitute.
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("memberships.id", ondelete="SET NULL"))
    # When the step became the one to decide now (is_current): what reminders, escalation and the
    # queue's "waiting since" count from.
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def approver_keys(roles: list[str], membership_ids: list[int]) -> str:
    return " " + " ".join([f"role:{r}" for r in roles] + [f"member:{m}" for m in membership_ids]) + " "


@dataclass(frozen=True)
class OrderFacts:
    """What approval rules look at, gathered at submission."""

    gross_minor: int
    buyer_role: str
    group_id: int
    cost_centre_id: int | None
    categories: frozenset[str]
    over_budgets: tuple[str, ...]
    over_purchase_limit: str | None


def applies_to(rule: ApprovalRule, facts: OrderFacts) -> bool:
    return ((not rule.applies_to_roles or facts.buyer_role in rule.applies_to_roles)
            and (not rule.applies_to_group_ids or facts.group_id in rule.applies_to_group_ids))


def match_reason(rule: ApprovalRule, facts: OrderFacts) -> str | None:
    """Why the rule applies to this order, or None when it does not."""
    if not rule.active or not applies_to(rule, facts):
        return None
    condition = RuleCondition(rule.condition)
    if condition is RuleCondition.TOTAL_ABOVE and facts.gross_minor > (rule.threshold_minor or 0):
        return "Order total above the rule's amount"
    if condition is RuleCondition.OVER_BUDGET and facts.over_budgets:
        return "Over budget: " + ", ".join(facts.over_budgets)
    if condition is RuleCondition.OVER_PURCHASE_LIMIT and facts.over_purchase_limit:
        return facts.over_purchase_limit
    if condition is RuleCondition.COST_CENTRE and facts.cost_centre_id == rule.cost_centre_id:
        return "Booked to the rule's cost centre"
    if condition is RuleCondition.PRODUCT_CATEGORY and rule.category in facts.categories:
        return f"Contains products of the category {rule.category}"
    return None
