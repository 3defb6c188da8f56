"""Taking, releasing and settling an order's commitment against budgets, the buyer's
purchase limits and the company's credit.

Every guard is one conditional UPDATE ... WHERE used + amount <= limit RETURNING on a row
that exists beforehand (created with INSERT ... ON CONFLICT DO NOTHING): on PostgreSQL the
row lock taken by the UPDATE serializes concurrent submissions and the condition is
re-checked on the newest row; on SQLite the transaction already holds the write lock. Two
concurrent orders can therefore never both pass a limit that has room for one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import or_, select, update

from models import Budget, BudgetUsage, CreditAccount, MemberMonthlySpend, Membership, Order, OrderCharge
from models.budget import BudgetAction, BudgetOwner, BudgetPeriod, period_window
from models.errors import DomainError, ErrorCode
from models.money import format_amount
from policies.scopes import company_row, company_rows, company_update
from resolvers.context import UseCaseContext
from resolvers.upsert import ensure_row


@dataclass
class SpendOutcome:
    over_budgets: list[str] = field(default_factory=list)  # budgets (approval or warn) the order exceeds
    approval_budgets: list[str] = field(default_factory=list)  # of those, the ones whose action is REQUIRE_APPROVAL
    over_purchase_limit: str | None = None
    warnings: list[str] = field(default_factory=list)


def applicable_budgets_query(order: Order):
    """The active budgets of the order's company that it counts against: its buyer's, group's and cost centre's."""
    owners = [
        (Budget.owner_type == BudgetOwner.USER.value) & (Budget.owner_id == order.buyer_id),
        (Budget.owner_type == BudgetOwner.GROUP.value) & (Budget.owner_id == order.group_id),
    ]
    if order.cost_centre_id is not None:
        owners.append((Budget.owner_type == BudgetOwner.COST_CENTRE.value) & (Budget.owner_id == order.cost_centre_id))
    return company_rows(Budget, order).where(Budget.active.is_(True), or_(*owners)).order_by(Budget.id)


async def _add_usage(ctx: UseCaseContext, budget: Budget, start: date, amount: int, *, guarded: bool) -> int | None:
    await ensure_row(ctx.session, BudgetUsage, budget_id=budget.id, period_start=start, committed_minor=0,
                     spent_minor=0)
    condition = [BudgetUsage.budget_id == budget.id, BudgetUsage.period_start == start]
    if guarded:
        condition.append(BudgetUsage.committed_minor + amount <= budget.amount_minor)
    statement = (update(BudgetUsage).where(*condition).values(committed_minor=BudgetUsage.committed_minor + amount)
                 .returning(BudgetUsage.committed_minor))
    return (await ctx.session.execute(statement)).scalar_one_or_none()


async def commit_spend(
    ctx: UseCaseContext, order: Order, *, limit_has_approval_route: bool, today: date,
) -> SpendOutcome:
    amount, outcome = order.gross_minor, SpendOutcome()
    budgets = (await ctx.session.scalars(applicable_budgets_query(order))).all()
    for budget in budgets:
        window = period_window(BudgetPeriod(budget.period), today, budget.starts_on, budget.ends_on)
        if window is None:
            continue
        action = BudgetAction(budget.action)
        committed = await _add_usage(ctx, budget, window.start, amount, guarded=action is BudgetAction.BLOCK)
        if committed is None:
            raise DomainError(ErrorCode.BUDGET_EXCEEDED,
                              f'The order would exceed the budget "{budget.name}" for this period', None)
        if committed > budget.amount_minor:
            outcome.over_budgets.append(budget.name)
            if action is BudgetAction.REQUIRE_APPROVAL:
                outcome.approval_budgets.append(budget.name)
            else:
                outcome.warnings.append(f'Over budget "{budget.name}": {format_amount(committed)} committed of '
                                        f"{format_amount(budget.amount_minor)}")
        ctx.session.add(OrderCharge(order_id=order.id, kind="budget", budget_id=budget.id, period_start=window.start,
                                    amount_minor=amount))
    await _commit_purchase_limits(ctx, order, outcome, limit_has_approval_route, today)
    await _commit_credit(ctx, order)
    return outcome


async def _commit_purchase_limits(
    ctx: UseCaseContext, order: Order, outcome: SpendOutcome, approval_route: bool, today: date,
) -> None:
    buyer = await company_row(ctx.session, Membership, order.buyer_id, order)
    amount = order.gross_minor
    if buyer.order_limit_minor is not None and amount > buyer.order_limit_minor:
        outcome.over_purchase_limit = f"Above the purchase limit per order ({format_amount(buyer.order_limit_minor)})"
    month = today.replace(day=1)
    await ensure_row(ctx.session, MemberMonthlySpend, membership_id=buyer.id, month_start=month, committed_minor=0)
    condition = [MemberMonthlySpend.membership_id == buyer.id, MemberMonthlySpend.month_start == month]
    guarded = buyer.monthly_limit_minor is not None and not approval_route
    if guarded:
        condition.append(MemberMonthlySpend.committed_minor + amount <= buyer.monthly_limit_minor)
    committed = (await ctx.session.execute(
        update(MemberMonthlySpend).where(*condition)
        .values(committed_minor=MemberMonthlySpend.committed_minor + amount)
        .returning(MemberMonthlySpend.committed_minor)
    )).scalar_one_or_none()
    if committed is None or (buyer.monthly_limit_minor is not None and committed > buyer.monthly_limit_minor):
        monthly = f"Above the monthly purchase limit ({format_amount(buyer.monthly_limit_minor)})"
        outcome.over_purchase_limit = (f"{outcome.over_purchase_limit}; {monthly}" if outcome.over_purchase_limit
                                       else monthly)
    if outcome.over_purchase_limit and not approval_route:
        raise DomainError(ErrorCode.PURCHASE_LIMIT_EXCEEDED, outcome.over_purchase_limit, None)
    ctx.session.add(OrderCharge(order_id=order.id, kind="member_month", period_start=month, amount_minor=amount))


async def ensure_credit_account(ctx: UseCaseContext, company_id: int) -> None:
    await ensure_row(ctx.session, CreditAccount, company_id=company_id,
                     credit_limit_minor=ctx.settings.default_credit_limit, outstanding_minor=0)


async def _commit_credit(ctx: UseCaseContext, order: Order) -> None:
    await ensure_credit_account(ctx, order.company_id)
    outstanding = (await ctx.session.execute(
        company_update(CreditAccount, order)
        .where(CreditAccount.outstanding_minor + order.gross_minor <= CreditAccount.credit_limit_minor)
        .values(outstanding_minor=CreditAccount.outstanding_minor + order.gross_minor)
        .returning(CreditAccount.outstanding_minor)
    )).scalar_one_or_none()
    if outstanding is None:
        raise DomainError(ErrorCode.CREDIT_LIMIT_EXCEEDED, "The order is above the company's available credit", None)
    ctx.session.add(OrderCharge(order_id=order.id, kind="credit", amount_minor=order.gross_minor))


async def _charges(ctx: UseCaseContext, order: Order) -> list[OrderCharge]:
    query = (select(OrderCharge).where(OrderCharge.order_id == order.id, OrderCharge.released.is_(False))
             .with_for_update())
    return list((await ctx.session.scalars(query)).all())


async def _adjust(ctx: UseCaseContext, order: Order, charge: OrderCharge, delta: int, *, spent: bool = False) -> None:
    """Add `delta` (negative to give back) to what the charge holds."""
    if charge.kind == "budget":
        values = {"committed_minor": BudgetUsage.committed_minor + delta}
        if spent:
            values["spent_minor"] = BudgetUsage.spent_minor + delta
        await ctx.session.execute(update(BudgetUsage).where(
            BudgetUsage.budget_id == charge.budget_id, BudgetUsage.period_start == charge.period_start,
        ).values(**values))
    elif charge.kind == "member_month":
        await ctx.session.execute(update(MemberMonthlySpend).where(
            MemberMonthlySpend.membership_id == order.buyer_id, MemberMonthlySpend.month_start == charge.period_start,
        ).values(committed_minor=MemberMonthlySpend.committed_minor + delta))
    else:
        await ctx.session.execute(company_update(CreditAccount, order)
                                  .values(outstanding_minor=CreditAccount.outstanding_minor + delta))


async def release_spend(ctx: UseCaseContext, order: Order) -> None:
    """A rejected or cancelled order gives back everything it held."""
    for charge in await _charges(ctx, order):
        await _adjust(ctx, order, charge, -charge.amount_minor)
        charge.released = True
    await ctx.session.flush()


async def settle_spend(ctx: UseCaseContext, order: Order) -> None:
    """A fulfilled order's budget commitment becomes spent."""
    for charge in await _charges(ctx, order):
        if charge.kind == "budget":
            await ctx.session.execute(update(BudgetUsage).where(
                BudgetUsage.budget_id == charge.budget_id, BudgetUsage.period_start == charge.period_start,
            ).values(spent_minor=BudgetUsage.spent_minor + charge.amount_minor))


async def credit_return(ctx: UseCaseContext, order: Order, credited: int) -> None:
    """A return lowers what the order holds (committed, spent, the month's use and the outstanding credit)."""
    for charge in await _charges(ctx, order):
        delta = min(credited, charge.amount_minor)
        await _adjust(ctx, order, charge, -delta, spent=charge.kind == "budget")
        charge.amount_minor -= delta
    await ctx.session.flush()
