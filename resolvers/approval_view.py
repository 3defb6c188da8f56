"""What approvers and buyers see of the approval workflow: flows, who awaits a decision, budget impact."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select

from models import Budget, BudgetUsage, Membership, Order, OrderApprovalStep, OrderCharge, User
from models.order_state import OrderStatus
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import company_rows, company_scope, eligible_step
from resolvers.context import UseCaseContext
from resolvers.order_view import OrderView


@dataclass
class TierView:
    level: int
    roles: list[str]
    named_approvers: list[str]
    decision: str | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str
    is_current: bool
    order_open: bool = True  # still pending approval: undecided tiers may yet be decided

    @property
    def state(self) -> str:
        """approved or rejected (decided); pending (decidable now) or waiting (for an earlier tier) while
        the order waits for approval; skipped when the order was rejected or cancelled before this tier
        was decided, so it never will be."""
        if self.decision:
            return self.decision
        if not self.order_open:
            return "skipped"
        return "pending" if self.is_current else "waiting"


@dataclass
class RuleFlowView:
    rule_name: str
    reason: str
    tiers: list[TierView] = field(default_factory=list)


@dataclass
class FlowView:
    rules: list[RuleFlowView]
    actions: list[str]


@dataclass
class BudgetImpact:
    budget_name: str
    amount_minor: int
    budget_minor: int
    committed_minor: int

    @property
    def remaining_minor(self) -> int:
        return self.budget_minor - self.committed_minor


def caller_actions(ctx: UseCaseContext, actor: Actor | None, view: OrderView, can_decide: bool) -> list[str]:
    actions = []
    if view.status == OrderStatus.PENDING_APPROVAL and can_decide and actor and view.buyer_id != actor.membership_id:
        actions += ["approve", "reject"]
    if view.status in (OrderStatus.SUBMITTED, OrderStatus.PENDING_APPROVAL) and actor and (
            view.buyer_id == actor.membership_id or ctx.allows(Permission.ORDER_MANAGE)):
        actions.append("cancel")
    return actions


async def flows(ctx: UseCaseContext, views: list[OrderView]) -> dict[int, FlowView]:
    """Approval flows of a page of orders: two statements whatever the page size."""
    actor = ctx.actor
    ids = [v.id for v in views]
    steps = (await ctx.session.scalars(
        company_rows(OrderApprovalStep, views).where(OrderApprovalStep.order_id.in_(ids))
        .order_by(OrderApprovalStep.order_id, OrderApprovalStep.id))).all() if ids else []
    names = await _member_names(
        ctx, views, {m for s in steps for m in s.membership_ids} | {s.decided_by_id for s in steps if s.decided_by_id})
    decidable = set()
    if actor is not None and actor.membership_id is not None and ctx.allows(Permission.ORDER_APPROVE) and ids:
        eligible = company_rows(OrderApprovalStep, actor, OrderApprovalStep.order_id).where(
            OrderApprovalStep.order_id.in_(ids), eligible_step(actor))
        decidable = set((await ctx.session.scalars(eligible)).all())
    result = {}
    for view in views:
        rules: dict[tuple, RuleFlowView] = {}
        for step in (s for s in steps if s.order_id == view.id):
            rule = rules.setdefault((step.rule_id, step.rule_name), RuleFlowView(step.rule_name, step.reason))
            rule.tiers.append(TierView(step.level, step.roles, [names.get(m, "?") for m in step.membership_ids],
                                       step.decision, names.get(step.decided_by_id), step.decided_at, step.comment,
                                       step.is_current, view.status == OrderStatus.PENDING_APPROVAL))
        result[view.id] = FlowView(list(rules.values()), caller_actions(ctx, actor, view, view.id in decidable))
    return result


async def _member_names(ctx: UseCaseContext, views: list[OrderView], ids: set[int]) -> dict[int, str]:
    """Names of the members of the orders' companies (approvers, deciders)."""
    if not ids:
        return {}
    rows = await ctx.session.execute(
        company_rows(Membership, views, Membership.id, User.first_name, User.last_name, User.email)
        .join(User, User.id == Membership.user_id).where(Membership.id.in_(ids)))
    return {mid: f"{first} {last}".strip() or email for mid, first, last, email in rows}


def awaiting_decision(actor: Actor) -> ColumnElement[bool]:
    """Orders of the actor's approval queue: pending, not their own, with a current step they may decide
    (with company_scope(Order, actor); the queue and its live subscription share it)."""
    return and_(Order.status == OrderStatus.PENDING_APPROVAL.value, Order.buyer_id != actor.membership_id,
                Order.id.in_(select(OrderApprovalStep.order_id).where(eligible_step(actor))))


async def budget_impacts(ctx: UseCaseContext, order_ids: list[int]) -> dict[int, list[BudgetImpact]]:
    """What orders of the caller's company hold of each budget they count against."""
    if not order_ids:
        return {}
    rows = await ctx.session.execute(company_scope(Budget, ctx.actor).apply(
        select(OrderCharge.order_id, Budget.name, OrderCharge.amount_minor, Budget.amount_minor,
               BudgetUsage.committed_minor)
        .join(Budget, Budget.id == OrderCharge.budget_id)
        .outerjoin(BudgetUsage, and_(BudgetUsage.budget_id == OrderCharge.budget_id,
                                     BudgetUsage.period_start == OrderCharge.period_start))
        .where(OrderCharge.order_id.in_(order_ids), OrderCharge.kind == "budget", OrderCharge.released.is_(False))
        .order_by(OrderCharge.order_id, OrderCharge.id)))
    impacts: dict[int, list[BudgetImpact]] = {oid: [] for oid in order_ids}
    for oid, name, amount, budget_amount, committed in rows:
        impacts[oid].append(BudgetImpact(name, amount, budget_amount, committed or 0))
    return impacts
