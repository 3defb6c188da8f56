"""Approval flow types shown on orders and in the approver's queue."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from resolvers.approval_view import BudgetImpact, FlowView
from schema.money import Money, money
from schema.permissions import Role


@strawberry.enum(description="Where one approval tier stands.")
class TierStatus(Enum):
    APPROVED = strawberry.enum_value("approved", description="Approved.")
    REJECTED = strawberry.enum_value("rejected", description="Rejected (the order is rejected).")
    PENDING = strawberry.enum_value("pending", description="Can be decided now by one of its approvers.")
    WAITING = strawberry.enum_value("waiting", description="Waits for the tier before it.")
    SKIPPED = strawberry.enum_value(
        "skipped", description="Never to be decided: the order was rejected or cancelled before this tier was decided.")


@strawberry.enum(description="Something the caller may do with an order now.")
class OrderAction(Enum):
    APPROVE = strawberry.enum_value("approve", description="Approve (`approveOrder`).")
    REJECT = strawberry.enum_value("reject", description="Reject with a reason (`rejectOrder`).")
    CANCEL = strawberry.enum_value("cancel", description="Cancel (`cancelOrder`).")


@strawberry.type(description="One tier of an approval rule as applied to an order.")
class ApprovalTierState:
    level: int = strawberry.field(description="1 to 5, decided in order.")
    approver_roles: list[Role] = strawberry.field(description="Any user with one of these roles may decide it.")
    approver_names: list[str] = strawberry.field(description="Named users who may decide it.")
    status: TierStatus = strawberry.field(
        description="Approved, rejected, pending (decidable now), waiting (for an earlier tier), or skipped (the order "
                    "was rejected or cancelled first).")
    decided_by: str | None = strawberry.field(description="Who decided it.")
    decided_at: datetime | None = strawberry.field(description="When (UTC).")
    comment: str = strawberry.field(description="The approver's comment or reason.")


@strawberry.type(description="An approval rule that matched the order, with its tiers.")
class ApprovalRuleState:
    rule_name: str = strawberry.field(description="The rule.")
    reason: str = strawberry.field(description="Why it matched this order.")
    tiers: list[ApprovalTierState] = strawberry.field(description="Its tiers, lowest first.")


@strawberry.type(description="The approval flow of an order.")
class ApprovalFlow:
    rules: list[ApprovalRuleState] = strawberry.field(description="Every matching rule (all must be satisfied).")
    viewer_actions: list[OrderAction] = strawberry.field(description="What the caller may do with the order now.")


@strawberry.type(description="How an order weighs on one budget.")
class BudgetImpactType:
    budget_name: str = strawberry.field(description="The budget.")
    order_amount: Money = strawberry.field(description="What the order commits against it.")
    budget_amount: Money = strawberry.field(description="The budget for the period.")
    committed: Money = strawberry.field(description="Committed in the period, this order included.")
    remaining: Money = strawberry.field(description="Left in the period after this order (negative when over).")


def flow_from_view(flow: FlowView) -> ApprovalFlow:
    return ApprovalFlow(
        rules=[ApprovalRuleState(rule_name=r.rule_name, reason=r.reason, tiers=[
            ApprovalTierState(level=t.level, approver_roles=[Role(x) for x in t.roles],
                              approver_names=t.named_approvers, status=TierStatus(t.state), decided_by=t.decided_by,
                              decided_at=t.decided_at, comment=t.comment) for t in r.tiers]) for r in flow.rules],
        viewer_actions=[OrderAction(a) for a in flow.actions],
    )


def impact_from_view(impact: BudgetImpact, currency: str) -> BudgetImpactType:
    return BudgetImpactType(
        budget_name=impact.budget_name, order_amount=money(impact.amount_minor, currency),
        budget_amount=money(impact.budget_minor, currency), committed=money(impact.committed_minor, currency),
        remaining=money(impact.remaining_minor, currency),
    )
