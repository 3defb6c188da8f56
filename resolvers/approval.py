"""The approval workflow: routing a submitted order through matching rules, and decisions.

A matching rule's tiers are copied onto the order as steps. The lowest undecided tier of
each rule is current; any one eligible approver decides it. The order is approved when no
step is left, and rejected by one rejection. Nobody decides their own order. Decisions lock
the order row, so two approvers acting at once produce one consistent outcome.
"""

from __future__ import annotations

from sqlalchemy import or_, select

from models import ApprovalRule, Membership, MembershipStatus, Order, OrderApprovalStep, User
from models.approval import OrderFacts, RuleCondition, approver_keys, match_reason
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.money import format_amount
from models.order_state import OrderEventKind, OrderStatus, Transition
from policies.permissions import Permission
from policies.scopes import company_rows, company_scope, eligible_step
from resolvers import delegation
from resolvers.approval_mail import approval_request
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.mail import queue_mail
from resolvers.order_events import record_event, transition
from resolvers.order_view import OrderView, reread_order
from resolvers.spend import release_spend

BUDGET_RULE_NAME = "Budget approval"


async def route_submitted_order(
    ctx: UseCaseContext, order: Order, facts: OrderFacts, rules: list[ApprovalRule], approval_budgets: list[str],
) -> None:
    steps: list[OrderApprovalStep] = []
    budget_rule_matched = False
    for rule in rules:
        reason = match_reason(rule, facts)
        if reason is None:
            continue
        budget_rule_matched |= rule.condition == RuleCondition.OVER_BUDGET.value
        steps += [_step(order, rule.id, rule.name, reason, tier.level, tier.roles, tier.membership_ids)
                  for tier in rule.tiers]
    if approval_budgets and not budget_rule_matched:
        # A REQUIRE_APPROVAL budget without a rule of its own is decided by the administrators.
        steps.append(_step(order, None, BUDGET_RULE_NAME, "Over budget: " + ", ".join(approval_budgets), 1,
                           ["admin"], []))
    if not steps:
        await transition(ctx, order, Transition.APPROVE, comment="No approval required", system=True)
        return
    for step in steps:
        if not await _approvers(ctx, order, [step]):
            raise DomainError(ErrorCode.NO_APPROVER,
                              f"Nobody but you could approve this order ({step.rule_name}, tier {step.level}); "
                              "ask an administrator to adjust the approval rules", None)
    ctx.session.add_all(steps)
    await transition(ctx, order, Transition.REQUIRE_APPROVAL, system=True,
                     comment="; ".join(sorted({f"{s.rule_name}: {s.reason}" for s in steps})))
    await _notify_approvers(ctx, order, [s for s in steps if s.is_current])


def _step(
    order: Order, rule_id: int | None, rule_name: str, reason: str, level: int, roles: list[str], ids: list[int],
) -> OrderApprovalStep:
    return OrderApprovalStep(
        order_id=order.id, company_id=order.company_id, rule_id=rule_id, rule_name=rule_name, reason=reason,
        level=level, roles=list(roles), membership_ids=list(ids), approver_keys=approver_keys(roles, ids),
        is_current=level == 1, waiting_since=utcnow() if level == 1 else None,
    )


async def _approvers(ctx: UseCaseContext, order: Order, steps: list[OrderApprovalStep]) -> list[tuple[int, str]]:
    roles = {r for s in steps for r in s.roles}
    ids = {m for s in steps for m in s.membership_ids}
    rows = await ctx.session.execute(
        company_rows(Membership, order, Membership.id, User.email).join(User, User.id == Membership.user_id).where(
            Membership.status == MembershipStatus.ACTIVE.value,
            Membership.id != order.buyer_id, or_(Membership.role.in_(roles), Membership.id.in_(ids)),
        ).order_by(Membership.id)
    )
    return [(mid, email) for mid, email in rows]


async def _notify_approvers(ctx: UseCaseContext, order: Order, steps: list[OrderApprovalStep]) -> None:
    mail = await approval_request(ctx, order, steps)
    # While an approver is away, their substitute is asked too; each with Approve and Reject links of their own.
    await mail.send_to(ctx, await delegation.with_substitutes(ctx, order, await _approvers(ctx, order, steps)))


async def _notify_buyer(ctx: UseCaseContext, order: Order, decision: str, comment: str) -> None:
    email = await ctx.session.scalar(company_scope(Membership, order).apply(
        select(User.email).join(Membership, Membership.user_id == User.id)).where(Membership.id == order.buyer_id))
    note = f"\nComment: {comment}\n" if comment else "\n"
    await queue_mail(ctx, to=email, subject=f"Order {order.number} was {decision}",
                     body=(f"Your order {order.number} ({format_amount(order.gross_minor)} {order.currency}) "
                           f"was {decision}.{note}"))


async def decide(ctx: UseCaseContext, *, order_id: int, approve: bool, comment: str) -> OrderView:
    actor = ctx.require(Permission.ORDER_APPROVE)
    comment = (comment or "").strip()[:2000]
    if not approve and not comment:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give a reason for the rejection", "comment")
    order = await ctx.session.scalar(
        company_rows(Order, actor).where(Order.id == order_id, Order.status != OrderStatus.DRAFT.value)
        .with_for_update())
    if order is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such order", "id")
    if order.buyer_id == actor.membership_id:
        raise DomainError(ErrorCode.SELF_APPROVAL, "You cannot decide your own order", "id")
    if order.status != OrderStatus.PENDING_APPROVAL.value:
        raise DomainError(ErrorCode.INVALID_TRANSITION,
                          f"The order is {order.status.replace('_', ' ')}, not awaiting approval", "id")
    steps = list((await ctx.session.scalars(company_rows(OrderApprovalStep, order).where(
        OrderApprovalStep.order_id == order.id, eligible_step(actor)).with_for_update())).all())
    if not steps:
        raise DomainError(ErrorCode.NOT_AN_APPROVER, "The order does not wait for you now", "id")
    now = utcnow()
    for step in steps:
        step.decision, step.decided_by_id, step.decided_at, step.comment = (
            "approved" if approve else "rejected", actor.membership_id, now, comment)
        step.is_current = False
    # A substitute decides in an absent approver's place: the steps, the timeline and the log say whose.
    absent = await delegation.decide_on_behalf(ctx, actor, steps)
    timeline = delegation.with_on_behalf(comment, absent)
    await audit(ctx, "order", order.id, "approve" if approve else "reject",
                after={"steps": [f"{s.rule_name} tier {s.level}" for s in steps], "comment": comment}
                | ({"on_behalf_of": absent} if absent else {}))
    if approve:
        await _advance(ctx, order, steps, timeline)
    else:
        await transition(ctx, order, Transition.REJECT, comment=timeline)
        await release_spend(ctx, order)
        await _notify_buyer(ctx, order, "rejected", comment)
    await ctx.session.flush()
    return await reread_order(ctx.session, order)


async def _advance(ctx: UseCaseContext, order: Order, decided: list[OrderApprovalStep], comment: str) -> None:
    await ctx.session.flush()
    remaining = list((await ctx.session.scalars(company_rows(OrderApprovalStep, order).where(
        OrderApprovalStep.order_id == order.id, OrderApprovalStep.decision.is_(None),
    ).order_by(OrderApprovalStep.id))).all())
    if not remaining:
        await transition(ctx, order, Transition.APPROVE, comment=comment)
        await _notify_buyer(ctx, order, "approved", comment)
        return
    await record_event(ctx, order, OrderEventKind.APPROVE_STEP,
                       comment=comment or ", ".join(f"{s.rule_name} tier {s.level}" for s in decided))
    newly_current = []
    for rule in {_rule_key(s) for s in remaining}:
        lowest = min((s for s in remaining if _rule_key(s) == rule), key=lambda s: s.level)
        if not lowest.is_current:
            lowest.is_current, lowest.waiting_since = True, utcnow()
            newly_current.append(lowest)
    if newly_current:
        await _notify_approvers(ctx, order, newly_current)




def _rule_key(step: OrderApprovalStep) -> tuple:
    return step.rule_id, step.rule_name
