"""Budgets: administrators manage them; managers see all; buyers see the ones that apply to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select, tuple_

from models import Budget, BudgetUsage, CostCentre, Group, MemberCostCentre, Membership
from models.base import utcnow
from models.budget import BudgetAction, BudgetOwner, BudgetPeriod, PeriodWindow, period_window
from models.errors import DomainError, ErrorCode
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import company_row, company_rows
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.validation import clean_text


@dataclass
class BudgetSpec:
    name: str
    owner_type: BudgetOwner
    owner_id: int
    period: BudgetPeriod
    amount_minor: int
    action: BudgetAction
    starts_on: date | None = None
    ends_on: date | None = None
    active: bool = True


_OWNER_MODELS: dict[BudgetOwner, type[Group] | type[Membership] | type[CostCentre]] = {
    BudgetOwner.GROUP: Group, BudgetOwner.USER: Membership, BudgetOwner.COST_CENTRE: CostCentre,
}


@dataclass
class BudgetStatus:
    budget: Budget
    window: PeriodWindow | None
    committed_minor: int
    spent_minor: int

    @property
    def remaining_minor(self) -> int:
        return self.budget.amount_minor - self.committed_minor


def snapshot(b: Budget) -> dict:
    return {"name": b.name, "owner_type": b.owner_type, "owner_id": b.owner_id, "period": b.period,
            "starts_on": b.starts_on.isoformat() if b.starts_on else None,
            "ends_on": b.ends_on.isoformat() if b.ends_on else None,
            "amount_minor": b.amount_minor, "action": b.action, "active": b.active}


async def _check_owner(ctx: UseCaseContext, actor: Actor, spec: BudgetSpec) -> None:
    model = _OWNER_MODELS[spec.owner_type]
    if await ctx.session.scalar(company_rows(model, actor, model.id).where(model.id == spec.owner_id)) is None:
        raise DomainError(ErrorCode.NOT_FOUND, f"No such {spec.owner_type.value.replace('_', ' ')}", "ownerId")
    if spec.amount_minor < 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "A budget amount cannot be negative", "amount")
    if spec.period is BudgetPeriod.FIXED and (
            spec.starts_on is None or spec.ends_on is None or spec.starts_on > spec.ends_on):
        raise DomainError(ErrorCode.INVALID_INPUT, "A fixed budget needs a start on or before its end", "startsOn")


async def save_budget(ctx: UseCaseContext, *, budget_id: int | None, spec: BudgetSpec) -> BudgetStatus:
    actor = ctx.require(Permission.BUDGET_MANAGE)
    await _check_owner(ctx, actor, spec)
    before = None
    if budget_id is None:
        budget = Budget(company_id=actor.company_id)
        ctx.session.add(budget)
    else:
        budget = await ctx.session.scalar(company_rows(Budget, actor).where(Budget.id == budget_id).with_for_update())
        if budget is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such budget", "id")
        before = snapshot(budget)
    budget.name = clean_text(spec.name, "name", 200)
    budget.owner_type, budget.owner_id, budget.period = spec.owner_type.value, spec.owner_id, spec.period.value
    fixed = spec.period is BudgetPeriod.FIXED
    budget.starts_on, budget.ends_on = (spec.starts_on, spec.ends_on) if fixed else (None, None)
    budget.amount_minor, budget.action, budget.active = spec.amount_minor, spec.action.value, spec.active
    await ctx.session.flush()
    await audit(ctx, "budget", budget.id, "create" if before is None else "update", before=before,
                after=snapshot(budget))
    return (await statuses(ctx, [budget], utcnow().date()))[0]


async def statuses(ctx: UseCaseContext, budgets: list[Budget], day: date) -> list[BudgetStatus]:
    """Committed, spent and remaining of each budget in the period containing `day` (one statement)."""
    windows = {b.id: period_window(BudgetPeriod(b.period), day, b.starts_on, b.ends_on) for b in budgets}
    keys = [(b.id, w.start) for b in budgets if (w := windows[b.id]) is not None]
    usage = {}
    if keys:
        rows = await ctx.session.execute(select(BudgetUsage).where(
            tuple_(BudgetUsage.budget_id, BudgetUsage.period_start).in_(keys)))
        usage = {(u.budget_id, u.period_start): u for (u,) in rows}
    result = []
    for budget in budgets:
        window = windows[budget.id]
        row = usage.get((budget.id, window.start)) if window else None
        result.append(BudgetStatus(budget, window, row.committed_minor if row else 0, row.spent_minor if row else 0))
    return result


async def list_budgets(ctx: UseCaseContext, *, day: date | None) -> list[BudgetStatus]:
    budgets = list((await ctx.session.scalars(await _visible_budgets(ctx))).all())
    return await statuses(ctx, budgets, day or utcnow().date())


async def get_budget(ctx: UseCaseContext, budget_id: int) -> BudgetStatus | None:
    """One budget the caller may see (as `budgets` shows them), with today's period, or None."""
    budget = await ctx.session.scalar((await _visible_budgets(ctx)).where(Budget.id == budget_id))
    return (await statuses(ctx, [budget], utcnow().date()))[0] if budget else None


async def _visible_budgets(ctx: UseCaseContext):
    """All of the company's budgets with `budget:read`; for buyers, the active ones that apply to them."""
    actor = ctx.require_signed_in()
    if ctx.allows(Permission.BUDGET_READ):
        return company_rows(Budget, actor).order_by(Budget.id)
    ctx.require(Permission.ORDER_CREATE)
    member = await company_row(ctx.session, Membership, actor.membership_id, actor)
    centres = (await ctx.session.scalars(select(MemberCostCentre.cost_centre_id).where(
        MemberCostCentre.membership_id == member.id))).all()
    return _buyer_budgets(member, list(centres))


def _buyer_budgets(member: Membership, cost_centre_ids: list[int]):
    owners = [
        (Budget.owner_type == BudgetOwner.USER.value) & (Budget.owner_id == member.id),
        (Budget.owner_type == BudgetOwner.GROUP.value) & (Budget.owner_id == member.group_id),
        (Budget.owner_type == BudgetOwner.COST_CENTRE.value) & Budget.owner_id.in_(cost_centre_ids),
    ]
    return company_rows(Budget, member).where(Budget.active.is_(True), or_(*owners)).order_by(Budget.id)
