"""Approval rules, the approver's queue, and decisions (single and bulk)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from models import ApprovalRule as RuleModel
from models.approval import RuleCondition as DomainCondition
from models.money import format_amount, parse_amount
from models.user import Role as DomainRole
from resolvers import approval as decisions
from resolvers import approval_rule as rules
from schema.errors import INPUT, MutationError, renamed, run_mutation
from schema.order import OrderPayload, OrderResult, with_flow
from schema.order_types import Order, order_from_view
from schema.permissions import Role
from schema.relay import Node, decode_id, optional_id, to_global_id


@strawberry.enum(description="What an approval rule looks at.")
class RuleCondition(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    TOTAL_ABOVE = strawberry.enum_value("total_above", description="The order's gross total is above `threshold`.")
    OVER_BUDGET = strawberry.enum_value("over_budget", description="The order takes a budget over its amount.")
    OVER_PURCHASE_LIMIT = strawberry.enum_value("over_purchase_limit", description=(
        "The order is above the buyer's purchase limit (per order or month); without such a rule it is refused."))
    COST_CENTRE = strawberry.enum_value("cost_centre", description="The order is booked to `costCentreId`.")
    PRODUCT_CATEGORY = strawberry.enum_value(
        "product_category", description="The order contains products of `category`.")


@strawberry.type(description="One tier of approvers; any one of them satisfies it.")
class ApprovalTier:
    level: int = strawberry.field(description="1 to 5, decided in order.")
    roles: list[Role] = strawberry.field(description="Roles whose holders may approve.")
    user_ids: list[strawberry.ID] = strawberry.field(description="Named users who may approve.")


@strawberry.type(description="An approval rule of the company.")
class ApprovalRule(Node):
    name: str = strawberry.field(description="Name.")
    condition: RuleCondition = strawberry.field(description="What it looks at.")
    threshold: str | None = strawberry.field(description="For TOTAL_ABOVE: the amount (decimal string).")
    cost_centre_id: strawberry.ID | None = strawberry.field(description="For COST_CENTRE: the cost centre.")
    category: str | None = strawberry.field(description="For PRODUCT_CATEGORY: the category.")
    applies_to_roles: list[Role] = strawberry.field(description="Buyers' roles it applies to (empty: all).")
    applies_to_group_ids: list[strawberry.ID] = strawberry.field(
        description="Buyers' groups it applies to (empty: all).")
    tiers: list[ApprovalTier] = strawberry.field(description="Up to five sequential tiers.")
    active: bool = strawberry.field(description="Whether it applies to new submissions.")

    @classmethod
    def from_model(cls, rule: RuleModel) -> ApprovalRule:
        return cls(
            id=to_global_id("ApprovalRule", rule.id), name=rule.name, condition=RuleCondition(rule.condition),
            threshold=format_amount(rule.threshold_minor) if rule.threshold_minor is not None else None,
            cost_centre_id=to_global_id("CostCentre", rule.cost_centre_id) if rule.cost_centre_id else None,
            category=rule.category, applies_to_roles=[Role(r) for r in rule.applies_to_roles],
            applies_to_group_ids=[to_global_id("Group", g) for g in rule.applies_to_group_ids],
            tiers=[ApprovalTier(level=t.level, roles=[Role(r) for r in t.roles],
                                user_ids=[to_global_id("User", m) for m in t.membership_ids]) for t in rule.tiers],
            active=rule.active,
        )


@strawberry.input(description="A tier: at least one role or user.")
class ApprovalTierInput:
    roles: list[Role] = strawberry.field(
        default_factory=list, description="Roles that may approve (roles holding `order:approve`).")
    user_ids: list[strawberry.ID] = strawberry.field(default_factory=list, description="Named users who may approve.")


@strawberry.input(description="An approval rule; with `id` it replaces that rule's settings.")
class ApprovalRuleInput:
    id: strawberry.ID | None = strawberry.field(default=None, description="The rule to change; omit to create one.")
    name: str = strawberry.field(description="Name.")
    condition: RuleCondition = strawberry.field(description="What it looks at.")
    threshold: str | None = strawberry.field(default=None, description="For TOTAL_ABOVE: amount (decimal string).")
    cost_centre_id: strawberry.ID | None = strawberry.field(default=None, description="For COST_CENTRE.")
    category: str | None = strawberry.field(default=None, description="For PRODUCT_CATEGORY.")
    applies_to_roles: list[Role] = strawberry.field(default_factory=list, description="Buyers' roles (empty: all).")
    applies_to_group_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list, description="Buyers' groups (empty: all).")
    tiers: list[ApprovalTierInput] = strawberry.field(description="One to five tiers, in order.")
    active: bool = strawberry.field(default=True, description="Whether it applies.")

    def to_spec(self) -> rules.RuleSpec:
        return rules.RuleSpec(
            name=self.name, condition=DomainCondition(self.condition.value),
            threshold_minor=parse_amount(self.threshold, "threshold") if self.threshold else None,
            cost_centre_id=optional_id(self.cost_centre_id, "CostCentre"),
            category=self.category, applies_to_roles=[DomainRole(r.value) for r in self.applies_to_roles],
            applies_to_group_ids=[decode_id(g, "Group") or 0 for g in self.applies_to_group_ids],
            tiers=[rules.TierSpec([DomainRole(r.value) for r in t.roles],
                                  [decode_id(u, "User") or 0 for u in t.user_ids])
                   for t in self.tiers],
            active=self.active,
        )


@strawberry.input(description="An approval rule to remove.")
class DeleteApprovalRuleInput:
    id: strawberry.ID = strawberry.field(description="The rule.")


@strawberry.input(description="A decision on one order.")
class DecideOrderInput:
    id: strawberry.ID = strawberry.field(description="The order.")
    comment: str = strawberry.field(default="", description="Comment (required as the reason when rejecting).")


@strawberry.input(description="The same decision on several orders.")
class DecideOrdersInput:
    ids: list[strawberry.ID] = strawberry.field(description="The orders (at most 100).")
    comment: str = strawberry.field(default="", description="Comment (required as the reason when rejecting).")


@strawberry.type(description="The rule after the change.")
class ApprovalRulePayload:
    rule: ApprovalRule = strawberry.field(description="The rule.")


@strawberry.type(description="The rule was removed.")
class DeleteApprovalRulePayload:
    deleted_id: strawberry.ID = strawberry.field(description="Global id of the removed rule.")


@strawberry.type(description="The outcome for one order of a bulk decision.")
class BulkDecisionItem:
    order_id: strawberry.ID = strawberry.field(description="The order.")
    order: Order | None = strawberry.field(description="The order after the decision, when it succeeded.")
    error: MutationError | None = strawberry.field(
        description="Why this order was not decided; the others are unaffected.")


@strawberry.type(description="Per-order results of a bulk decision.")
class BulkDecisionPayload:
    results: list[BulkDecisionItem] = strawberry.field(description="One result per requested order, in order.")


ApprovalRuleResult = Annotated[
    ApprovalRulePayload | MutationError,
    strawberry.union("ApprovalRuleResult", description="Result of saveApprovalRule."),
]
DeleteApprovalRuleResult = Annotated[
    DeleteApprovalRulePayload | MutationError,
    strawberry.union("DeleteApprovalRuleResult", description="Result of deleteApprovalRule."),
]


async def _bulk(info: strawberry.Info, ids: list[strawberry.ID], approve: bool, comment: str) -> BulkDecisionPayload:
    results = []
    for index, gid in enumerate(ids[:100]):
        # Each order is its own transaction: one failure leaves the others decided.
        outcome = await run_mutation(info, with_flow(lambda ctx, gid=gid: decisions.decide(
            ctx, order_id=decode_id(gid, "Order") or 0, approve=approve, comment=comment)),
            lambda result: OrderPayload(order=order_from_view(*result)), fields=renamed({"id": f"ids.{index}"}))
        if isinstance(outcome, OrderPayload):
            results.append(BulkDecisionItem(order_id=gid, order=outcome.order, error=None))
        else:
            results.append(BulkDecisionItem(order_id=gid, order=None, error=outcome))
    return BulkDecisionPayload(results=results)


@strawberry.type
class ApprovalQuery:
    @strawberry.field(
        description="The company's approval rules. Requires `approval_rule:read` (administrators, managers).")
    async def approval_rules(self, info: strawberry.Info) -> list[ApprovalRule]:
        async with info.context.reading() as ctx:
            return [ApprovalRule.from_model(r) for r in await rules.list_rules(ctx)]


@strawberry.type
class ApprovalMutation:
    @strawberry.mutation(
        description="Create or change an approval rule. Requires `approval_rule:manage` (administrators).")
    async def save_approval_rule(
        self, info: strawberry.Info, input: Annotated[ApprovalRuleInput, INPUT],
    ) -> ApprovalRuleResult:
        return await run_mutation(info, lambda ctx: rules.save_rule(
            ctx, rule_id=optional_id(input.id, "ApprovalRule"), spec=input.to_spec()),
            lambda rule: ApprovalRulePayload(rule=ApprovalRule.from_model(rule)))

    @strawberry.mutation(description=(
        "Remove an approval rule (pending orders keep the tiers they were given). Requires `approval_rule:manage`."))
    async def delete_approval_rule(
        self, info: strawberry.Info, input: Annotated[DeleteApprovalRuleInput, INPUT],
    ) -> DeleteApprovalRuleResult:
        return await run_mutation(
            info, lambda ctx: rules.delete_rule(ctx, rule_id=decode_id(input.id, "ApprovalRule") or 0),
            lambda pk: DeleteApprovalRulePayload(deleted_id=to_global_id("ApprovalRule", pk)))

    @strawberry.mutation(
        description="Approve the tiers of an order that wait for you. Requires `order:approve`; never your own order.")
    async def approve_order(self, info: strawberry.Info, input: Annotated[DecideOrderInput, INPUT]) -> OrderResult:
        return await run_mutation(info, with_flow(lambda ctx: decisions.decide(
            ctx, order_id=decode_id(input.id, "Order") or 0, approve=True, comment=input.comment)),
            lambda result: OrderPayload(order=order_from_view(*result)))

    @strawberry.mutation(
        description="Reject an order (a reason is required); one rejection rejects it. Requires `order:approve`.")
    async def reject_order(self, info: strawberry.Info, input: Annotated[DecideOrderInput, INPUT]) -> OrderResult:
        return await run_mutation(info, with_flow(lambda ctx: decisions.decide(
            ctx, order_id=decode_id(input.id, "Order") or 0, approve=False, comment=input.comment)),
            lambda result: OrderPayload(order=order_from_view(*result)))

    @strawberry.mutation(
        description="Approve several orders; each succeeds or fails on its own. Requires `order:approve`.")
    async def approve_orders(
        self, info: strawberry.Info, input: Annotated[DecideOrdersInput, INPUT],
    ) -> BulkDecisionPayload:
        return await _bulk(info, input.ids, True, input.comment)

    @strawberry.mutation(description=(
        "Reject several orders with one reason; each succeeds or fails on its own. Requires `order:approve`."))
    async def reject_orders(
        self, info: strawberry.Info, input: Annotated[DecideOrdersInput, INPUT],
    ) -> BulkDecisionPayload:
        return await _bulk(info, input.ids, False, input.comment)
