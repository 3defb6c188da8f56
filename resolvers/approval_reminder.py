"""Reminders and escalation of approval steps that wait too long (the worker's `approval.remind`, every 5 minutes).

A current, undecided step of an order still pending approval that has waited APPROVAL_REMINDER_HOURS
(`waiting_since`; or the company's own period, Company.approval_reminder_hours) reminds its approvers
once (`reminded_at`). When it has waited as long again after the reminder, it is escalated once
(`escalated_at`): " role:admin " joins its approver keys, so the company's
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

from sqlalchemy import ColumnElement, select

from models import Company, Membership, MembershipStatus, Order, OrderApprovalStep, Role, User
from models.errors import DomainError, ErrorCode
from models.order_state import OrderStatus
from policies.permissions import Permission
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
    async with services.db.transaction() as session:
        ctx = UseCaseContext(services=services, session=session, actor=None)
        reminded: list[tuple[Order, list[OrderApprovalStep]]] = []
        escalated: list[tuple[Order, list[OrderApprovalStep]]] = []
        # One pass per reminder period in use: the installation's, and each company's own (Company.approval_
        # reminder_hours); a handful of distinct values, so a handful of statements.
        for companies, period in await _periods(ctx):
            due = await _due(ctx, companies, OrderApprovalStep.waiting_since <= now - period,
                             OrderApprovalStep.reminded_at.is_(None))
            for order, steps in due:
                await _remind(ctx, order, steps, now)
            reminded += due
        for companies, period in await _periods(ctx):
            due = await _due(ctx, companies, OrderApprovalStep.reminded_at <= now - period,
                             OrderApprovalStep.escalated_at.is_(None))
            for order, steps in due:
                await _escalate(ctx, order, steps, now)
            escalated += due
    services.mailer.deliver_soon(ctx.queued_mail)
    return sum(len(s) for _, s in reminded), sum(len(s) for _, s in escalated)


async def _periods(ctx: UseCaseContext) -> list[tuple[ColumnElement[bool], timedelta]]:
    """Each reminder period in use, with the condition on a step's company that selects the companies using it."""
    own = (await ctx.session.scalars(cross_company(
        select(Company.approval_reminder_hours).where(Company.approval_reminder_hours.is_not(None)).distinct(),
        WHY))).all()
    default = timedelta(hours=ctx.settings.approval_reminder_hours)
    periods: list[tuple[ColumnElement[bool], timedelta]] = [(OrderApprovalStep.company_id.in_(cross_company(
        select(Company.id).where(Company.approval_reminder_hours.is_(None)), WHY)), default)]
    for hours in sorted(h for h in own if h is not None):
        periods.append((OrderApprovalStep.company_id.in_(cross_company(
            select(Company.id).where(Company.approval_reminder_hours == hours), WHY)), timedelta(hours=hours)))
    return periods


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
    # Like the request itself, the reminder goes to the substitutes of approvers who are away now (with links).
    await mail.send_to(ctx, await delegation.with_substitutes(ctx, order, await _approvers(ctx, order, steps)))


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
    admins = await ctx.session.execute(
        company_rows(Membership, order, Membership.id, User.email).join(User, User.id == Membership.user_id).where(
            Membership.role == Role.ADMIN.value, Membership.status == MembershipStatus.ACTIVE.value,
            Membership.id != order.buyer_id).order_by(Membership.id))
    # An administrator who is away has their substitute told too, as approval requests do.
    await mail.send_to(ctx, await delegation.with_substitutes(ctx, order, [(mid, email) for mid, email in admins]))


MAX_REMINDER_HOURS = 720  # 30 days


async def set_reminder_hours(ctx: UseCaseContext, *, hours: int | None) -> Company:
    """The caller's company's own reminder period (1..720 hours); None returns it to the installation's."""
    actor = ctx.require(Permission.COMPANY_UPDATE)
    if hours is not None and not 1 <= hours <= MAX_REMINDER_HOURS:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"The reminder period is from 1 to {MAX_REMINDER_HOURS} hours, or null for the default",
                          "hours")
    company = await ctx.session.get_one(Company, actor.company_id, with_for_update=True)
    before = company.approval_reminder_hours
    company.approval_reminder_hours = hours
    await audit(ctx, "company", company.id, "set_approval_reminder_hours", before={"hours": before},
                after={"hours": hours})
    await ctx.session.flush()
    return company
