"""Budgets and purchase limits."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Annotated

import strawberry

from models.budget import BudgetAction as DomainAction
from models.budget import BudgetOwner as DomainOwner
from models.budget import BudgetPeriod as DomainPeriod
from models.money import parse_amount
from resolvers import budget as use_cases
from resolvers import purchase_limit as limits
from schema.errors import INPUT, MutationError, run_mutation
from schema.money import Money, money
from schema.relay import Node, decode_id, optional_id, to_global_id

OWNER_TYPE_NAMES = {"group": "Group", "user": "User", "cost_centre": "CostCentre"}


@strawberry.enum(description="What a budget belongs to.")
class BudgetOwnerType(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    GROUP = strawberry.enum_value("group", description="A group: all its users' orders count.")
    USER = strawberry.enum_value("user", description="One user.")
    COST_CENTRE = strawberry.enum_value("cost_centre", description="A cost centre: all orders booked to it count.")


@strawberry.enum(description="How a budget's periods run.")
class BudgetPeriod(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    MONTHLY = strawberry.enum_value("monthly", description="Calendar months.")
    QUARTERLY = strawberry.enum_value("quarterly", description="Calendar quarters.")
    YEARLY = strawberry.enum_value("yearly", description="Calendar years.")
    FIXED = strawberry.enum_value("fixed", description="One fixed date range (`startsOn` to `endsOn`, inclusive).")


@strawberry.enum(description="What happens when an order would exceed the budget.")
class BudgetAction(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    BLOCK = strawberry.enum_value("block", description="The order is refused (BUDGET_EXCEEDED).")
    REQUIRE_APPROVAL = strawberry.enum_value("require_approval", description="The order goes to approval.")
    WARN = strawberry.enum_value("warn", description="The order goes through with a warning recorded.")


@strawberry.type(description="A budget with its figures for one period.")
class Budget(Node):
    name: str = strawberry.field(description="Name.")
    owner_type: BudgetOwnerType = strawberry.field(description="What it belongs to.")
    owner_id: strawberry.ID = strawberry.field(description="The group, user or cost centre.")
    period: BudgetPeriod = strawberry.field(description="How its periods run.")
    starts_on: date | None = strawberry.field(description="For FIXED: first day.")
    ends_on: date | None = strawberry.field(description="For FIXED: last day.")
    amount: Money = strawberry.field(description="Amount per period (order totals including VAT count against it).")
    action: BudgetAction = strawberry.field(description="What happens when an order would exceed it.")
    active: bool = strawberry.field(description="Whether it applies to new orders.")
    period_start: date | None = strawberry.field(
        description="First day of the period shown (null: a fixed budget outside its range).")
    period_end: date | None = strawberry.field(description="Last day of the period shown.")
    committed: Money = strawberry.field(
        description="Orders submitted in the period and not rejected or cancelled, less returns.")
    spent: Money = strawberry.field(description="Of those, fulfilled, less returns.")
    remaining: Money = strawberry.field(description="Amount less committed (negative when exceeded).")


def budget_from_status(status: use_cases.BudgetStatus, currency: str) -> Budget:
    b, w = status.budget, status.window
    return Budget(
        id=to_global_id("Budget", b.id), name=b.name, owner_type=BudgetOwnerType(b.owner_type),
        owner_id=to_global_id(OWNER_TYPE_NAMES[b.owner_type], b.owner_id), period=BudgetPeriod(b.period),
        starts_on=b.starts_on, ends_on=b.ends_on, amount=money(b.amount_minor, currency), action=BudgetAction(b.action),
        active=b.active, period_start=w.start if w else None,
        period_end=date.fromordinal(w.end.toordinal() - 1) if w else None,
        committed=money(status.committed_minor, currency), spent=money(status.spent_minor, currency),
        remaining=money(status.remaining_minor, currency),
    )


@strawberry.type(description="A buyer's purchase limits and what is left this month.")
class PurchaseLimit:
    user_id: strawberry.ID = strawberry.field(description="The buyer.")
    per_order: Money | None = strawberry.field(description="Largest order (including VAT); null: no limit.")
    per_month: Money | None = strawberry.field(description="Monthly total; null: no limit.")
    used_this_month: Money = strawberry.field(description="Committed this calendar month.")
    remaining_this_month: Money | None = strawberry.field(description="Left this month; null: no monthly limit.")


def limit_from_status(status: limits.PurchaseLimitStatus, currency: str) -> PurchaseLimit:
    def opt(value):
        return money(value, currency) if value is not None else None
    return PurchaseLimit(user_id=to_global_id("User", status.membership_id), per_order=opt(status.order_limit_minor),
                         per_month=opt(status.monthly_limit_minor),
                         used_this_month=money(status.used_this_month_minor, currency),
                         remaining_this_month=opt(status.remaining_this_month_minor))


@strawberry.input(description="A budget; with `id` it replaces that budget's settings.")
class BudgetInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="The budget to change; omit to create one.")
    name: str = strawberry.field(description="Name.")
    owner_type: BudgetOwnerType = strawberry.field(description="What it belongs to.")
    owner_id: strawberry.ID = strawberry.field(description="The group, user or cost centre.")
    period: BudgetPeriod = strawberry.field(description="How its periods run.")
    starts_on: date | None = strawberry.field(default=None, description="For FIXED: first day.")
    ends_on: date | None = strawberry.field(default=None, description="For FIXED: last day (inclusive).")
    amount: str = strawberry.field(description="Amount per period, decimal string.")
    action: BudgetAction = strawberry.field(description="What happens when exceeded.")
    active: bool = strawberry.field(default=True, description="Whether it applies.")


@strawberry.input(description="A buyer's purchase limits; null removes a limit.")
class SetPurchaseLimitInput:
    user_id: strawberry.ID = strawberry.field(description="The buyer.")
    per_order: str | None = strawberry.field(
        default=None, description="Largest order including VAT (decimal string), or null.")
    per_month: str | None = strawberry.field(default=None, description="Monthly total (decimal string), or null.")


@strawberry.type(description="The budget after the change.")
class BudgetPayload:
    budget: Budget = strawberry.field(description="The budget, with the current period's figures.")


@strawberry.type(description="The limits after the change.")
class PurchaseLimitPayload:
    purchase_limit: PurchaseLimit = strawberry.field(description="The limits.")


BudgetResult = Annotated[
    BudgetPayload | MutationError, strawberry.union("BudgetResult", description="Result of saveBudget.")
]
PurchaseLimitResult = Annotated[
    PurchaseLimitPayload | MutationError,
    strawberry.union("PurchaseLimitResult", description="Result of setPurchaseLimit."),
]


def _optional_amount(value: str | None, field_name: str) -> int | None:
    return parse_amount(value, field_name) if value is not None else None


@strawberry.type
class BudgetQuery:
    @strawberry.field(description=(
        "Budgets with their figures for the period containing `date` (default today): all of them with `budget:read` "
        "(administrators, managers), else those that apply to the caller."))
    async def budgets(
        self, info: strawberry.Info,
        date: Annotated[date | None, strawberry.argument(
            description="A day of the period to show (past periods too).")] = None,
    ) -> list[Budget]:
        async with info.context.reading() as ctx:
            statuses = await use_cases.list_budgets(ctx, day=date)
        currency = info.context.services.settings.supplier_currency
        return [budget_from_status(s, currency) for s in statuses]

    @strawberry.field(description="Your purchase limits and what is left this month. Requires sign-in to a company.")
    async def my_purchase_limit(self, info: strawberry.Info) -> PurchaseLimit:
        async with info.context.reading() as ctx:
            status = await limits.my_limit(ctx)
        return limit_from_status(status, info.context.services.settings.supplier_currency)

    @strawberry.field(description="A user's purchase limits, or null. Requires `budget:read`.")
    async def purchase_limit(
        self, info: strawberry.Info, user_id: Annotated[strawberry.ID, strawberry.argument(description="The user.")],
    ) -> PurchaseLimit | None:
        async with info.context.reading() as ctx:
            status = await limits.user_limit(ctx, decode_id(user_id, "User") or 0)
        return limit_from_status(status, info.context.services.settings.supplier_currency) if status else None


@strawberry.type
class BudgetMutation:
    @strawberry.mutation(description="Create or change a budget. Requires `budget:manage` (administrators).")
    async def save_budget(self, info: strawberry.Info, input: Annotated[BudgetInput, INPUT]) -> BudgetResult:
        currency = info.context.services.settings.supplier_currency

        def spec() -> use_cases.BudgetSpec:  # parsed inside the transaction, so bad amounts are typed errors
            return use_cases.BudgetSpec(
                name=input.name, owner_type=DomainOwner(input.owner_type.value),
                owner_id=decode_id(input.owner_id, OWNER_TYPE_NAMES[input.owner_type.value]) or 0,
                period=DomainPeriod(input.period.value), amount_minor=parse_amount(input.amount, "amount"),
                action=DomainAction(input.action.value), starts_on=input.starts_on, ends_on=input.ends_on,
                active=input.active)

        return await run_mutation(info, lambda ctx: use_cases.save_budget(
            ctx, budget_id=optional_id(input.id, "Budget"), spec=spec()),
            lambda status: BudgetPayload(budget=budget_from_status(status, currency)))

    @strawberry.mutation(
        description="Set a buyer's purchase limits; applies to their next submission. Requires `budget:manage`.")
    async def set_purchase_limit(
        self, info: strawberry.Info, input: Annotated[SetPurchaseLimitInput, INPUT],
    ) -> PurchaseLimitResult:
        currency = info.context.services.settings.supplier_currency
        return await run_mutation(info, lambda ctx: limits.set_purchase_limit(
            ctx, membership_id=decode_id(input.user_id, "User") or 0,
            order_limit_minor=_optional_amount(input.per_order, "perOrder"),
            monthly_limit_minor=_optional_amount(input.per_month, "perMonth")),
            lambda status: PurchaseLimitPayload(purchase_limit=limit_from_status(status, currency)))
