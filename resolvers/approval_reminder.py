"""Reminders and escalation of approval steps that wait too long (the worker's `approval.remind`, every 5 minutes).

A current, undecided step of an order still pending approval that has waited APPROVAL_REMINDER_HOURS
(`waiting_since`) reminds its approvers once (`reminded_at`). When it has waited as long again after the
reminder, it is escalated once (`escalated_at`): " role:admin " joins its approver keys, so the company's
administrators may decide it as well (the same SQL eligibility as every step, approveOrder and the queue
unchanged), and they get an email saying so.

Idempotent under the worker's at-least-once runs: the marks and the emails are written in one transaction
(the emails to the outbox), and the rows are chosen by the marks being empty and locked while they are
written, so a second run, or two at once, finds nothing left to do. A step an approver is deciding at this
moment is skipped on PostgreSQL (SKIP LOCKED) and looked at again by the next run.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select

from models import Company, Membership, MembershipStatus, Order, OrderApprovalStep, Role, User
from models.order_state import OrderStatus
from policies.scopes import company_rows, cross_company
from resolvers import delegation
from resolvers.approval import _approvers
from resolvers.approval_mail import approval_request
from resolvers.audit import audit
from resolvers.context import Services, UseCaseContext
from resolvers.jobs import ClaimedJob

REMIND_KIND = "approval.remind"
BATCH = 200  # steps per kind of notice and run; the next run (5 minutes later) takes the rest
ADMIN_KEY = f"role:{Role.ADMIN.value}"
WHY = "the approval reminder looks at the waiting steps of every company"


async def remind_job(services: Services, job: ClaimedJob) -> None:
    """The scheduled run: reminds and escalates what is due at the run's slot."""
    await remind_waiting_steps(services, now=datetime.fromisoformat(job.payload["slot"]))


async def remind_waiting_steps(services: Services, *, now: datetime) -> tuple[int, int]:
    """Remind and escalate what is due at `now`; returns (steps reminded, steps escalated)."""
    period = timedelta(hours=services.settings.approval_reminder_hours)
    async with services.db.transaction() as session:
        ctx = UseCaseContext(services=services, session=session, actor=None)
        reminded = await _due(ctx, OrderApprovalStep.waiting_since <= now - period,
                              OrderApprovalStep.reminded_at.is_(None))
        for order, steps in reminded:
            await _remind(ctx, order, steps, now)
        escalated = await _due(ctx, OrderApprovalStep.reminded_at <= now - period,
                               OrderApprovalStep.escalated_at.is_(None))
        for order, steps in escalated:
            await _escalate(ctx, order, steps, now)
    services.mailer.deliver_soon(ctx.queued_mail)
    return sum(len(s) for _, s in reminded), sum(len(s) for _, s in escalated)


async def _due(ctx: UseCaseContext, *conditions) -> list[tuple[Order, list[OrderApprovalStep]]]:
    """The waiting steps that meet `conditions`, locked, grouped by their order (one email per order)."""
    found = (await ctx.session.scalars(cross_company(
        select(OrderApprovalStep).join(Order, Order.id == OrderApprovalStep.order_id).where(
            OrderApprovalStep.is_current.is_(True), OrderApprovalStep.decision.is_(None),
            Order.status == OrderStatus.PENDING_APPROVAL.value, *conditions)
        .order_by(OrderApprovalStep.id).limit(BATCH).with_for_update(of=OrderApprovalStep, skip_locked=True),
        WHY))).all()
    by_order: dict[int, list[OrderApprovalStep]] = defaultdict(list)
    for step in found:
        by_order[step.order_id].append(step)
    result = []
    for order_id, steps in by_order.items():
        order = await ctx.session.scalar(company_rows(Order, steps[0]).where(Order.id == order_id))
        assert order is not None
        result.append((order, steps))
    return result


async def _remind(ctx: UseCaseContext, order: Order, steps: list[OrderApprovalStep], now: datetime) -> None:
    for step in steps:
        step.reminded_at = now
    mail = await approval_request(ctx, order, steps, kind="reminder")
    # Like the request itself, the reminder goes to the substitutes of approvers who are away now.
    for _, email in await delegation.with_substitutes(ctx, order, await _approvers(ctx, order, steps)):
        await mail.send(ctx, email)


async def _escalate(ctx: UseCaseContext, order: Order, steps: list[OrderApprovalStep], now: datetime) -> None:
    for step in steps:
        step.escalated_at = now
        if f" {ADMIN_KEY} " not in step.approver_keys:
            step.approver_keys = step.approver_keys + ADMIN_KEY + " "  # keys are " a b ": space on both sides
            step.roles = [*step.roles, Role.ADMIN.value]
    await audit(ctx, "order", order.id, "escalate", company_id=order.company_id,
                after={"steps": [f"{s.rule_name} tier {s.level}" for s in steps], "offered_to": "admin"})
    company = await ctx.session.scalar(select(Company.name).where(Company.id == order.company_id))
    mail = await approval_request(ctx, order, steps, kind="escalation", company=company or "")
    admins = await ctx.session.scalars(
        company_rows(Membership, order, User.email).join(User, User.id == Membership.user_id).where(
            Membership.role == Role.ADMIN.value, Membership.status == MembershipStatus.ACTIVE.value,
            Membership.id != order.buyer_id).order_by(Membership.id))
    for email in admins.all():
        await mail.send(ctx, email)
