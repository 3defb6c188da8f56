"""The approval emails: what an approver needs to decide from the mail, and the cancellation notice.

Rendered from templates (`mail_templates/`, Jinja2) into a plain-text part and an HTML alternative. The
HTML environment escapes every value by default, so a reference or note typed by a buyer ("<script>",
"&", quotes) arrives as text, never as markup; the plain-text environment does not escape (a text part
has no markup to protect, and "&amp;" there would be a corruption).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from models import Budget, BudgetUsage, Membership, Order, OrderApprovalStep, OrderCharge, User
from models.money import format_amount
from policies.scopes import company_rows, company_scope
from resolvers import delegation
from resolvers.context import UseCaseContext
from resolvers.mail import queue_mail
from resolvers.mail_render import render_mail
from resolvers.order_view import OrderView, reread_order


@dataclass(frozen=True)
class Mail:
    subject: str
    body: str
    html_body: str

    async def send(self, ctx: UseCaseContext, to: str) -> None:
        await queue_mail(ctx, to=to, subject=self.subject, body=self.body, html_body=self.html_body)


@dataclass(frozen=True)
class Links:
    """The Approve and Reject addresses of one approver's email (the templates show them when given)."""

    approve: str
    reject: str


def render(template: str, subject: str, **context: Any) -> Mail:
    return Mail(subject, *render_mail(template, subject=subject, **context))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "-"


def _order_context(ctx: UseCaseContext, view: OrderView) -> dict[str, Any]:
    totals = view.totals
    assert totals is not None
    return {
        "order": view, "currency": view.currency, "public_url": ctx.settings.public_url,
        "lines": [{"name": line.name, "sku": line.sku, "quantity": line.quantity, "unit": line.unit,
                   "unit_price": format_amount(line.unit_price_minor), "net": format_amount(line.net_minor)}
                  for line in view.lines],
        "totals": {"net": format_amount(totals.net), "vat": format_amount(totals.vat),
                   "gross": format_amount(totals.gross)},
    }


async def _budget_impacts(ctx: UseCaseContext, order: Order) -> list[dict[str, str]]:
    """Each budget the order counts against: its share, and what remains of the budget with it counted."""
    rows = await ctx.session.execute(company_scope(Budget, order).apply(
        select(Budget.name, OrderCharge.amount_minor, Budget.amount_minor, BudgetUsage.committed_minor)
        .join(Budget, Budget.id == OrderCharge.budget_id)
        .outerjoin(BudgetUsage, and_(BudgetUsage.budget_id == OrderCharge.budget_id,
                                     BudgetUsage.period_start == OrderCharge.period_start))
        .where(OrderCharge.order_id == order.id, OrderCharge.kind == "budget", OrderCharge.released.is_(False))
        .order_by(OrderCharge.id)))
    return [{"budget_name": name, "amount": format_amount(amount), "budget": format_amount(budget),
             "remaining": format_amount(budget - (committed or 0))} for name, amount, budget, committed in rows]


@dataclass(frozen=True)
class ApprovalRequest:
    """An approval email before it is addressed: each recipient gets it with links of their own."""

    subject: str
    context: dict[str, Any]
    steps: list[OrderApprovalStep]

    def with_links(self, links: Links | None) -> Mail:
        return render("approval", self.subject, links=links, **self.context)

    async def send_to(self, ctx: UseCaseContext, recipients: list[tuple[int, str]]) -> None:
        """Send it to each (membership id, email): with Approve and Reject links bound to that recipient and
        the first of the steps they may decide (a substitute's decision then records on behalf of the absent
        approver); without links (the approval queue instead) to a recipient who may decide none of them."""
        from resolvers import approval_link  # approval_link decides through resolvers.approval: import late

        for membership_id, email in recipients:
            actor = await approval_link.link_actor(ctx, membership_id)
            eligible = await approval_link.eligible_steps_of(ctx, actor, self.steps) if actor else []
            step = next((s for s in self.steps if s.id in eligible), None)
            links = Links(*approval_link.urls(ctx, membership_id=membership_id, step=step)) if step else None
            await self.with_links(links).send(ctx, email)


async def approval_request(
    ctx: UseCaseContext, order: Order, steps: list[OrderApprovalStep], *, kind: str = "request",
    company: str = "",
) -> ApprovalRequest:
    """The email asking for a decision on `steps` of `order`: kind "request" (the step became current),
    "reminder" (it has waited too long) or "escalation" (to the company's administrators)."""
    await ctx.session.flush()
    subject = {"request": f"Order {order.number} awaits your approval",
               "reminder": f"Reminder: order {order.number} awaits your approval",
               "escalation": f"Order {order.number} waits for a decision: you can decide it"}[kind]
    context = await order_summary(ctx, order, steps)
    hours = f"{ctx.settings.approval_link_hours:g}"
    return ApprovalRequest(subject, {"kind": kind, "company": company, "link_hours": hours, **context}, steps)


async def order_summary(ctx: UseCaseContext, order: Order, steps: list[OrderApprovalStep]) -> dict[str, Any]:
    """What an approver decides on (the email's and the link page's content): the order, its lines and totals,
    the steps with their rule, tier and reason, how long it has waited, and the budget impact."""
    view = await reread_order(ctx.session, order, with_events=False)
    waiting = min((s.waiting_since for s in steps if s.waiting_since), default=None)
    return {"waiting_since": _when(waiting),
            "steps": [{"rule_name": s.rule_name, "level": s.level, "reason": s.reason} for s in steps],
            "impacts": await _budget_impacts(ctx, order), **_order_context(ctx, view)}


async def cancellation_notice(ctx: UseCaseContext, order: Order, *, to_buyer: bool, cancelled_by: str,
                              reason: str) -> Mail:
    view = await reread_order(ctx.session, order, with_events=False)
    return render("cancelled", f"Order {order.number} was cancelled", to_buyer=to_buyer, cancelled_by=cancelled_by,
                  reason=reason, **_order_context(ctx, view))


async def waiting_steps(ctx: UseCaseContext, order: Order) -> list[OrderApprovalStep]:
    """The steps of `order` that wait for a decision now."""
    return list((await ctx.session.scalars(company_rows(OrderApprovalStep, order).where(
        OrderApprovalStep.order_id == order.id, OrderApprovalStep.is_current.is_(True),
        OrderApprovalStep.decision.is_(None)).order_by(OrderApprovalStep.id))).all())


async def notify_cancelled(ctx: UseCaseContext, order: Order, steps: list[OrderApprovalStep], reason: str) -> None:
    """Tell the buyer and the approvers of `steps` (what the order waited for) that it was cancelled; not the
    person who cancelled it, who knows."""
    from resolvers.approval import _approvers  # approval.py sends approval requests from here: import late

    actor = ctx.require_signed_in()
    names = await ctx.session.execute(company_rows(Membership, order, Membership.id, User.email, User.first_name,
                                                   User.last_name).join(User, User.id == Membership.user_id)
                                      .where(Membership.id.in_([order.buyer_id, actor.membership_id])))
    people = {mid: (email, f"{first} {last}".strip() or email) for mid, email, first, last in names}
    cancelled_by = people.get(actor.membership_id, ("", "an operator"))[1]
    if order.buyer_id != actor.membership_id and order.buyer_id in people:
        mail = await cancellation_notice(ctx, order, to_buyer=True, cancelled_by=cancelled_by, reason=reason)
        await mail.send(ctx, people[order.buyer_id][0])
    # The approvers it waited for, and the substitutes of those who are away, as the requests went.
    asked = await delegation.with_substitutes(ctx, order, await _approvers(ctx, order, steps))
    approvers = [email for mid, email in asked if mid != actor.membership_id]
    if steps and approvers:
        mail = await cancellation_notice(ctx, order, to_buyer=False, cancelled_by=cancelled_by, reason=reason)
        for email in approvers:
            await mail.send(ctx, email)
