"""Pre-approved purchases (models/pre_approval.py): asking, following the carrier's decisions, drawing on one.

Decisions:
- The request is carried by an order of kind `pre_approval` numbered PA-<year>-<pre-approval id> (its own
  series: the PO sequence keeps no gaps). It is judged by the approval rules as an order of that amount booked to
  that cost centre by that buyer would be; when no rule asks for approval it is approved at once.
- A pre-approval always names a cost centre (the buyer's default when none is given), and only orders booked to
  it draw on it: otherwise a cost-centre rule could be passed by.
- It stands in for the rules it was itself judged by (order total, cost centre), not for the ones about what is
  bought or about spend control at submission (product category, over budget, over the purchase limit): those
  still ask for approval. An order draws on it only when such a rule would otherwise ask for approval, so small
  orders do not use it up.
- Several match: the one that expires first (then the oldest), so the shortest-lived is used before it lapses.
- What an order took is given back when that order is rejected or cancelled (it can be, when a category or
  budget step still waits); a fulfilled order keeps it, a return gives nothing back.
- Cancelling a pending pre-approval cancels its carrier (the approvers are told); an approved one stops being
  usable, and its carrier stays approved (it is never fulfilled).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select

from models import ApprovalRule, Membership, Order, User
from models.approval import OrderFacts, RuleCondition, match_reason
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.money import format_amount
from models.order_state import OrderEventKind, OrderStatus, Transition
from models.pre_approval import OrderKind, PreApproval, PreApprovalStatus
from policies.errors import Forbidden
from policies.permissions import Permission
from policies.scopes import company_row, company_rows, company_update
from resolvers import approval as approval_flow  # a module: approval.py calls follow_order back
from resolvers.approval_mail import notify_cancelled, waiting_steps
from resolvers.approval_rule import active_rules
from resolvers.audit import audit
from resolvers.cart import company_of
from resolvers.context import UseCaseContext
from resolvers.cost_centre import resolve_cost_centre
from resolvers.order_events import record_event, transition
from resolvers.pagination import Page, keyset_page

MAX_VALIDITY = timedelta(days=366)
PURPOSE_LENGTH = 500
# The rules a pre-approval was judged by, and so stands in for.
COVERED_CONDITIONS = frozenset({RuleCondition.TOTAL_ABOVE.value, RuleCondition.COST_CENTRE.value})
EXPIRED = "expired"  # shown for an approved pre-approval past valid_until; never stored


@dataclass
class PreApprovalView:
    pre_approval: PreApproval
    carrier_number: str | None
    buyer_name: str

    @property
    def shown_status(self) -> str:
        return shown_status(self.pre_approval, utcnow())


def shown_status(pre: PreApproval, now: datetime) -> str:
    if pre.status == PreApprovalStatus.APPROVED.value and pre.valid_until <= now:
        return EXPIRED
    return pre.status


def carrier_number(created: datetime, pre_approval_id: int) -> str:
    return f"PA-{created.year}-{pre_approval_id:06d}"


async def request_pre_approval(
    ctx: UseCaseContext, *, amount_minor: int, purpose: str, valid_until: datetime, cost_centre_id: int | None,
) -> PreApprovalView:
    actor = ctx.require(Permission.ORDER_CREATE)
    if actor.membership_id is None:
        raise Forbidden("Only a member of a company asks for a pre-approval")
    purpose = (purpose or "").strip()
    if not purpose:
        raise DomainError(ErrorCode.INVALID_INPUT, "Say what the purchases are for", "purpose")
    if len(purpose) > PURPOSE_LENGTH:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A purpose has at most {PURPOSE_LENGTH} characters", "purpose")
    if amount_minor <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "The amount must be above zero", "amount")
    now = utcnow()
    if valid_until.tzinfo is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "Give validUntil with its UTC offset", "validUntil")
    if valid_until <= now:
        raise DomainError(ErrorCode.INVALID_INPUT, "validUntil must be in the future", "validUntil")
    if valid_until > now + MAX_VALIDITY:
        raise DomainError(ErrorCode.INVALID_INPUT, "A pre-approval is valid for at most a year", "validUntil")
    buyer = await company_row(ctx.session, Membership, actor.membership_id, actor)
    company = await company_of(ctx, buyer.company_id)
    centre = await resolve_cost_centre(ctx, buyer.id, cost_centre_id)
    pre = PreApproval(company_id=company.id, buyer_id=buyer.id, cost_centre_id=centre, amount_minor=amount_minor,
                      used_minor=0, currency=company.currency, purpose=purpose, valid_until=valid_until,
                      status=PreApprovalStatus.PENDING.value, created_at=now)
    ctx.session.add(pre)
    await ctx.session.flush()
    carrier = Order(company_id=company.id, buyer_id=buyer.id, group_id=buyer.group_id, currency=company.currency,
                    status=OrderStatus.SUBMITTED.value, kind=OrderKind.PRE_APPROVAL.value,
                    number=carrier_number(now, pre.id), reference=purpose[:200], cost_centre_id=centre,
                    net_minor=amount_minor, vat_minor=0, gross_minor=amount_minor, submitted_at=now,
                    delivery_street=company.street, delivery_postal_code=company.postal_code,
                    delivery_city=company.city)
    ctx.session.add(carrier)
    await ctx.session.flush()
    pre.order_id, carrier.pre_approval_id = carrier.id, pre.id
    # Created submitted (never a draft: the buyer's cart is their one draft).
    await record_event(ctx, carrier, OrderEventKind.SUBMIT, to_status=OrderStatus.SUBMITTED,
                       comment=f"Pre-approval of {format_amount(amount_minor)} {company.currency} for {purpose}")
    await ctx.session.flush()
    facts = OrderFacts(gross_minor=amount_minor, buyer_role=buyer.role, group_id=buyer.group_id,
                       cost_centre_id=centre, categories=frozenset(), over_budgets=(), over_purchase_limit=None)
    await approval_flow.route_submitted_order(ctx, carrier, facts, await active_rules(ctx, carrier), [])
    await follow_order(ctx, carrier)
    # Logged on its carrier (the order that the API names), as the decisions on it are.
    await audit(ctx, "order", carrier.id, "request_pre_approval",
                after={"amount_minor": amount_minor, "purpose": purpose, "valid_until": valid_until.isoformat(),
                       "cost_centre_id": centre, "status": pre.status})
    return await _view(ctx, pre)


async def cancel_pre_approval(ctx: UseCaseContext, *, pre_approval_id: int, reason: str) -> PreApprovalView:
    """The buyer withdraws their request, or gives up what remains of an approved one."""
    actor = ctx.require(Permission.ORDER_CREATE)
    pre = await ctx.session.scalar(company_rows(PreApproval, actor).where(
        PreApproval.id == pre_approval_id, PreApproval.buyer_id == actor.membership_id).with_for_update())
    if pre is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such pre-approval of yours", "id")
    if pre.status not in (PreApprovalStatus.PENDING.value, PreApprovalStatus.APPROVED.value):
        raise DomainError(ErrorCode.INVALID_TRANSITION, f"The pre-approval is already {pre.status}", "id")
    reason = (reason or "").strip()[:1000]
    carrier = await ctx.session.scalar(company_rows(Order, pre).where(Order.id == pre.order_id).with_for_update())
    if carrier is not None and carrier.status in (OrderStatus.SUBMITTED.value, OrderStatus.PENDING_APPROVAL.value):
        waiting = await waiting_steps(ctx, carrier)
        await transition(ctx, carrier, Transition.CANCEL, comment=reason)
        await notify_cancelled(ctx, carrier, waiting, reason)
    elif carrier is not None:
        await record_event(ctx, carrier, OrderEventKind.CANCEL, comment=reason or "Pre-approval cancelled")
    pre.status, pre.decided_at = PreApprovalStatus.CANCELLED.value, utcnow()
    if carrier is not None:
        await audit(ctx, "order", carrier.id, "cancel_pre_approval", after={"reason": reason})
    await ctx.session.flush()
    return await _view(ctx, pre)


async def follow_order(ctx: UseCaseContext, order: Order) -> None:
    """Keep pre-approvals in step with an order that was just decided or cancelled: a carrier's decision is
    the pre-approval's; an order that drew on one and is rejected or cancelled gives back what it took."""
    closed = order.status in (OrderStatus.REJECTED.value, OrderStatus.CANCELLED.value)
    if order.kind == OrderKind.PRE_APPROVAL.value:
        status = {OrderStatus.APPROVED.value: PreApprovalStatus.APPROVED.value,
                  OrderStatus.REJECTED.value: PreApprovalStatus.REJECTED.value,
                  OrderStatus.CANCELLED.value: PreApprovalStatus.CANCELLED.value}.get(order.status)
        if status is not None:
            await ctx.session.execute(
                company_update(PreApproval, order).where(PreApproval.order_id == order.id,
                                          PreApproval.status == PreApprovalStatus.PENDING.value)
                .values(status=status, decided_at=utcnow()))
    elif order.pre_approval_id is not None and closed:
        await ctx.session.execute(
            company_update(PreApproval, order).where(PreApproval.id == order.pre_approval_id)
            .values(used_minor=PreApproval.used_minor - order.gross_minor))
        await record_event(ctx, order, OrderEventKind.WARNING, system=True,
                           comment="What it took from its pre-approval was given back")


async def draw(ctx: UseCaseContext, order: Order, facts: OrderFacts, rules: list[ApprovalRule]) -> list[ApprovalRule]:
    """The rules still to apply to a purchase being submitted: without those a pre-approval stands in for, when
    one of the buyer's has room for the order (its amount taken here, atomically)."""
    covered = [r for r in rules if r.condition in COVERED_CONDITIONS and match_reason(r, facts) is not None]
    if order.kind != OrderKind.PURCHASE.value or not covered:
        return rules
    now = utcnow()
    candidates = (await ctx.session.scalars(
        company_rows(PreApproval, order, PreApproval.id).where(
            PreApproval.buyer_id == order.buyer_id, PreApproval.status == PreApprovalStatus.APPROVED.value,
            PreApproval.valid_until > now, PreApproval.currency == order.currency,
            PreApproval.cost_centre_id == order.cost_centre_id,
            PreApproval.used_minor + order.gross_minor <= PreApproval.amount_minor,
        ).order_by(PreApproval.valid_until, PreApproval.id))).all()
    for candidate in candidates:
        # Re-checked on the newest row: on PostgreSQL the UPDATE waits for a concurrent taker and re-reads it.
        taken = (await ctx.session.execute(
            company_update(PreApproval, order).where(
                PreApproval.id == candidate, PreApproval.status == PreApprovalStatus.APPROVED.value,
                PreApproval.valid_until > now,
                PreApproval.used_minor + order.gross_minor <= PreApproval.amount_minor)
            .values(used_minor=PreApproval.used_minor + order.gross_minor)
            .returning(PreApproval.id))).scalar_one_or_none()
        if taken is not None:
            order.pre_approval_id = taken
            await record_event(ctx, order, OrderEventKind.WARNING, system=True, comment=(
                f"Within pre-approval {await _number(ctx, order, taken)}: "
                "no approval by total or cost centre needed"))
            return [r for r in rules if r not in covered]
    return rules


async def _number(ctx: UseCaseContext, order: Order, pre_approval_id: int) -> str:
    pre = await company_row(ctx.session, PreApproval, pre_approval_id, order)
    return carrier_number(pre.created_at, pre.id)


def _visible(ctx: UseCaseContext) -> Select:
    actor = ctx.require_signed_in()
    if ctx.allows(Permission.ORDER_READ_ALL):
        return company_rows(PreApproval, actor)
    ctx.require(Permission.ORDER_CREATE)
    return company_rows(PreApproval, actor).where(PreApproval.buyer_id == actor.membership_id)


async def get_pre_approval(ctx: UseCaseContext, pre_approval_id: int) -> PreApprovalView | None:
    pre = await ctx.session.scalar(_visible(ctx).where(PreApproval.id == pre_approval_id))
    return await _view(ctx, pre) if pre else None


async def list_pre_approvals(
    ctx: UseCaseContext, *, status: str | None, buyer_id: int | None, first: int, after: int | None,
) -> Page:
    query = _visible(ctx)
    now = utcnow()
    if buyer_id is not None:
        query = query.where(PreApproval.buyer_id == buyer_id)
    if status == EXPIRED:
        query = query.where(PreApproval.status == PreApprovalStatus.APPROVED.value, PreApproval.valid_until <= now)
    elif status == PreApprovalStatus.APPROVED.value:
        query = query.where(PreApproval.status == status, PreApproval.valid_until > now)
    elif status is not None:
        query = query.where(PreApproval.status == status)
    page = await keyset_page(ctx.session, query, PreApproval.id, first=first, after=after,
                             maximum=ctx.settings.max_page_size, descending=True)
    names = await _buyer_names(ctx, [p.buyer_id for p in page.items])
    page.items = [PreApprovalView(p, carrier_number(p.created_at, p.id), names.get(p.buyer_id, ""))
                  for p in page.items]
    return page


async def orders_of(ctx: UseCaseContext, pre_approval_id: int) -> list[int]:
    """The ids of the purchases that drew on it (the caller's view of orders applies when they are read)."""
    return list((await ctx.session.scalars(
        company_rows(Order, ctx.actor, Order.id)
        .where(Order.pre_approval_id == pre_approval_id, Order.kind == OrderKind.PURCHASE.value)
        .order_by(Order.id))).all())


async def _view(ctx: UseCaseContext, pre: PreApproval) -> PreApprovalView:
    names = await _buyer_names(ctx, [pre.buyer_id])
    return PreApprovalView(pre, carrier_number(pre.created_at, pre.id), names.get(pre.buyer_id, ""))


async def _buyer_names(ctx: UseCaseContext, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await ctx.session.execute(
        company_rows(Membership, ctx.actor, Membership.id, User.first_name, User.last_name)
        .join(User, User.id == Membership.user_id).where(Membership.id.in_(set(ids))))
    return {mid: f"{first} {last}".strip() for mid, first, last in rows}
