"""Pre-approved purchases: asking for one, cancelling it, reading them (resolvers/pre_approval.py)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from models.money import parse_amount
from resolvers import approval_view
from resolvers import order as order_use_cases
from resolvers import pre_approval as use_cases
from schema.cost_centre import CostCentre
from schema.errors import INPUT, MutationError, run_mutation
from schema.money import Money, money
from schema.order_types import Order, order_from_view
from schema.relay import Connection, Node, connection, decode_id, from_cursor, optional_id, to_global_id


@strawberry.enum(description="Where a pre-approval stands.")
class PreApprovalStatus(Enum):
    _value_: str

    PENDING = strawberry.enum_value("pending", description="Waiting for the approvers of its request.")
    APPROVED = strawberry.enum_value("approved", description="Approved and valid: orders within it need no approval "
                                                             "by total or cost centre.")
    EXPIRED = strawberry.enum_value("expired", description="Approved, but past validUntil: no longer used.")
    REJECTED = strawberry.enum_value("rejected", description="Rejected by an approver.")
    CANCELLED = strawberry.enum_value("cancelled", description="Cancelled by the buyer.")


@strawberry.type(description=(
    "An amount approved beforehand for a buyer's purchases. The request goes through the approval rules as an "
    "order of that amount, booked to that cost centre, would (its `request` is an order of kind PRE_APPROVAL). "
    "Once approved, until validUntil, the buyer's orders booked to the cost centre that fit in what remains need "
    "no approval by order total or cost centre (category, budget and purchase-limit approvals still apply); "
    "budgets, purchase limits and credit are still taken. The one expiring first is used first."))
class PreApproval(Node):
    number: str = strawberry.field(description="Number of its request, e.g. PA-2026-000042.")
    amount: Money = strawberry.field(description="The amount approved (or asked for).")
    used: Money = strawberry.field(description="What orders drew on it.")
    remaining: Money = strawberry.field(description="What is left for further orders.")
    valid_until: datetime = strawberry.field(description="Orders submitted until then may draw on it (UTC).")
    status: PreApprovalStatus = strawberry.field(description="Where it stands.")
    purpose: str = strawberry.field(description="What the purchases are for, in the buyer's words.")
    buyer_id: strawberry.ID = strawberry.field(description="Global id of the buyer (User).")
    buyer_name: str = strawberry.field(description="The buyer's name.")
    created_at: datetime = strawberry.field(description="When it was asked for (UTC).")
    decided_at: datetime | None = strawberry.field(description="When it was decided or cancelled (UTC).")
    cost_centre_pk: strawberry.Private[int | None] = None
    order_pk: strawberry.Private[int | None] = None
    pre_approval_pk: strawberry.Private[int] = 0

    @strawberry.field(description="The cost centre orders must be booked to; null when not yours to see.")
    async def cost_centre(self, info: strawberry.Info) -> CostCentre | None:
        if self.cost_centre_pk is None:
            return None
        from resolvers import cost_centre as cost_centre_use_cases

        async with info.context.reading() as ctx:
            centre = await cost_centre_use_cases.get_cost_centre(ctx, self.cost_centre_pk)
        return CostCentre.from_model(centre) if centre else None

    @strawberry.field(description=(
        "The order of kind PRE_APPROVAL that carries the request through the approval rules, with its approval "
        "flow and timeline; null when not yours to see."))
    async def request(self, info: strawberry.Info) -> Order | None:
        if self.order_pk is None:
            return None
        async with info.context.reading() as ctx:
            view = await order_use_cases.get_order(ctx, self.order_pk)
            return order_from_view(view, (await approval_view.flows(ctx, [view]))[view.id]) if view else None

    @strawberry.field(description="The purchases that drew on it (those you may see), oldest first.")
    async def orders(self, info: strawberry.Info) -> list[Order]:
        async with info.context.reading() as ctx:
            found = []
            for order_id in await use_cases.orders_of(ctx, self.pre_approval_pk):
                view = await order_use_cases.get_order(ctx, order_id, with_events=False)
                if view is not None:
                    found.append(order_from_view(view))
            return found

    @classmethod
    def from_view(cls, v: use_cases.PreApprovalView) -> PreApproval:
        p, c = v.pre_approval, v.pre_approval.currency
        return cls(
            id=to_global_id("PreApproval", p.id), number=v.carrier_number or "", amount=money(p.amount_minor, c),
            used=money(p.used_minor, c), remaining=money(max(p.amount_minor - p.used_minor, 0), c),
            valid_until=p.valid_until, status=PreApprovalStatus(v.shown_status), purpose=p.purpose,
            buyer_id=to_global_id("User", p.buyer_id), buyer_name=v.buyer_name, created_at=p.created_at,
            decided_at=p.decided_at, cost_centre_pk=p.cost_centre_id, order_pk=p.order_id, pre_approval_pk=p.id)


async def fetch_pre_approval(info: strawberry.Info, pk: int) -> PreApproval | None:
    async with info.context.reading() as ctx:
        return await get_pre_approval_node(ctx, pk)


async def get_pre_approval_node(ctx, pk: int) -> PreApproval | None:
    """node(id:) and Order.preApproval: the buyer's own, or any of the company's with order:read_all."""
    view = await use_cases.get_pre_approval(ctx, pk)
    return PreApproval.from_view(view) if view else None


@strawberry.input(description="A request for an amount to be approved beforehand.")
class RequestPreApprovalInput:
    amount: str = strawberry.field(description="The amount, VAT included, as a decimal string (e.g. \"25000.00\").")
    purpose: str = strawberry.field(description="What the purchases are for (up to 500 characters).")
    valid_until: datetime = strawberry.field(
        description="Until when orders may draw on it, with a UTC offset: in the future, at most a year ahead.")
    cost_centre_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "The cost centre (one of yours) orders must be booked to; default: your default cost centre."))


@strawberry.input(description="Cancel one of your pre-approvals.")
class CancelPreApprovalInput:
    id: strawberry.ID = strawberry.field(description="The pre-approval.")
    reason: str = strawberry.field(default="", description="Why, for the approvers and the timeline.")


@strawberry.input(description="Which pre-approvals to list.")
class PreApprovalFilter:
    status: PreApprovalStatus | None = strawberry.field(default=None, description="Only those in this status.")
    buyer_id: strawberry.ID | None = strawberry.field(default=None, description="Only this buyer's (User).")


@strawberry.type(description="The pre-approval after the change.")
class PreApprovalPayload:
    pre_approval: PreApproval = strawberry.field(description="The pre-approval.")


PreApprovalResult = Annotated[
    PreApprovalPayload | MutationError,
    strawberry.union("PreApprovalResult", description="Result of requestPreApproval and cancelPreApproval."),
]


def _payload(view: use_cases.PreApprovalView) -> PreApprovalPayload:
    return PreApprovalPayload(pre_approval=PreApproval.from_view(view))


@strawberry.type
class PreApprovalQuery:
    @strawberry.field(description=(
        "Pre-approvals, newest first: your own as a buyer (`order:create`); all of the company's with "
        "`order:read_all` (administrators, managers)."))
    async def pre_approvals(
        self, info: strawberry.Info,
        filter: Annotated[PreApprovalFilter | None, strawberry.argument(description="Filters.")] = None,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[PreApproval]:
        async with info.context.reading() as ctx:
            buyer = optional_id(filter.buyer_id, "User") if filter else None
            page = await use_cases.list_pre_approvals(
                ctx, status=filter.status.value if filter and filter.status else None, buyer_id=buyer,
                first=first, after=from_cursor(after))
            return connection(page, PreApproval.from_view, key=lambda view: view.pre_approval.id)


@strawberry.type
class PreApprovalMutation:
    @strawberry.mutation(description=(
        "Ask for an amount to be approved beforehand. Requires `order:create`. It goes through the approval "
        "rules as an order of that amount would (same approvers, queue and emails); approved at once when no "
        "rule asks for approval."))
    async def request_pre_approval(
        self, info: strawberry.Info, input: Annotated[RequestPreApprovalInput, INPUT],
    ) -> PreApprovalResult:
        return await run_mutation(info, lambda ctx: use_cases.request_pre_approval(
            ctx, amount_minor=parse_amount(input.amount, "amount"), purpose=input.purpose,
            valid_until=input.valid_until, cost_centre_id=optional_id(input.cost_centre_id, "CostCentre")), _payload)

    @strawberry.mutation(description=(
        "Cancel one of your pre-approvals: a pending request is withdrawn (its approvers are told); an approved "
        "one is no longer drawn on. Requires `order:create`."))
    async def cancel_pre_approval(
        self, info: strawberry.Info, input: Annotated[CancelPreApprovalInput, INPUT],
    ) -> PreApprovalResult:
        return await run_mutation(info, lambda ctx: use_cases.cancel_pre_approval(
            ctx, pre_approval_id=decode_id(input.id, "PreApproval") or 0, reason=input.reason), _payload)
