"""Approval rules: a condition, whom it applies to, and up to five sequential approver tiers."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import selectinload

from models import ApprovalRule, ApprovalTier, CostCentre, Group, Membership, Order, Role
from models.approval import MAX_TIERS, RuleCondition
from models.errors import DomainError, ErrorCode
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import CompanySource, company_rows
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.validation import clean_text


@dataclass
class TierSpec:
    roles: list[Role] = field(default_factory=list)
    membership_ids: list[int] = field(default_factory=list)


@dataclass
class RuleSpec:
    name: str
    condition: RuleCondition
    threshold_minor: int | None = None
    cost_centre_id: int | None = None
    category: str | None = None
    applies_to_roles: list[Role] = field(default_factory=list)
    applies_to_group_ids: list[int] = field(default_factory=list)
    tiers: list[TierSpec] = field(default_factory=list)
    active: bool = True


def _rules(company: CompanySource):
    return company_rows(ApprovalRule, company).options(selectinload(ApprovalRule.tiers)).order_by(ApprovalRule.id)


async def list_rules(ctx: UseCaseContext) -> list[ApprovalRule]:
    actor = ctx.require(Permission.APPROVAL_RULE_READ)
    return list((await ctx.session.scalars(_rules(actor))).all())


async def get_rule(ctx: UseCaseContext, rule_id: int) -> ApprovalRule | None:
    """One of the company's rules (as `approvalRules` shows it), or None."""
    actor = ctx.require(Permission.APPROVAL_RULE_READ)
    return await ctx.session.scalar(_rules(actor).where(ApprovalRule.id == rule_id))


async def active_rules(ctx: UseCaseContext, order: Order) -> list[ApprovalRule]:
    """The active rules of the order's company."""
    return list((await ctx.session.scalars(_rules(order).where(ApprovalRule.active.is_(True)))).all())


def rule_snapshot(rule: ApprovalRule) -> dict:
    return {
        "name": rule.name, "condition": rule.condition, "threshold_minor": rule.threshold_minor,
        "cost_centre_id": rule.cost_centre_id, "category": rule.category, "applies_to_roles": rule.applies_to_roles,
        "applies_to_group_ids": rule.applies_to_group_ids, "active": rule.active,
        "tiers": [{"level": t.level, "roles": t.roles, "membership_ids": t.membership_ids} for t in rule.tiers],
    }


async def _validate(ctx: UseCaseContext, actor: Actor, spec: RuleSpec) -> None:
    condition = spec.condition
    if condition is RuleCondition.TOTAL_ABOVE and (spec.threshold_minor is None or spec.threshold_minor < 0):
        raise DomainError(ErrorCode.INVALID_INPUT, "An amount rule needs a threshold of 0 or more", "threshold")
    if condition is RuleCondition.COST_CENTRE and not await ctx.session.scalar(
            company_rows(CostCentre, actor, CostCentre.id).where(CostCentre.id == spec.cost_centre_id)):
        raise DomainError(ErrorCode.NOT_FOUND, "No such cost centre", "costCentreId")
    if condition is RuleCondition.PRODUCT_CATEGORY and not (spec.category or "").strip():
        raise DomainError(ErrorCode.INVALID_INPUT, "A category rule needs a category", "category")
    if spec.applies_to_group_ids:
        found = (await ctx.session.scalars(
            company_rows(Group, actor, Group.id).where(Group.id.in_(spec.applies_to_group_ids)))).all()
        if len(set(found)) != len(set(spec.applies_to_group_ids)):
            raise DomainError(ErrorCode.NOT_FOUND, "No such group", "appliesToGroupIds")
    if not 1 <= len(spec.tiers) <= MAX_TIERS:
        raise DomainError(ErrorCode.INVALID_INPUT, f"A rule has 1 to {MAX_TIERS} tiers", "tiers")
    authorizer = ctx.services.authorizer
    for index, tier in enumerate(spec.tiers):
        if not tier.roles and not tier.membership_ids:
            raise DomainError(ErrorCode.INVALID_INPUT, "Each tier names at least one role or user", f"tiers.{index}")
        for role in tier.roles:
            if not authorizer.role_allows(role.value, Permission.ORDER_APPROVE):
                raise DomainError(ErrorCode.INVALID_INPUT, f"The {role.name} role cannot approve orders",
                                  f"tiers.{index}.roles")
        members = (await ctx.session.execute(company_rows(Membership, actor, Membership.id, Membership.role).where(
            Membership.id.in_(tier.membership_ids)))).all()
        if len(members) != len(set(tier.membership_ids)):
            raise DomainError(ErrorCode.NOT_FOUND, "No such user", f"tiers.{index}.userIds")
        for _, role in members:
            if not authorizer.role_allows(role, Permission.ORDER_APPROVE):
                raise DomainError(ErrorCode.INVALID_INPUT, "A named approver must have a role that approves orders",
                                  f"tiers.{index}.userIds")


def _apply(rule: ApprovalRule, spec: RuleSpec) -> None:
    rule.name = clean_text(spec.name, "name", 200)
    rule.condition = spec.condition.value
    rule.threshold_minor = spec.threshold_minor
    rule.cost_centre_id = spec.cost_centre_id if spec.condition is RuleCondition.COST_CENTRE else None
    rule.category = (spec.category or "").strip() if spec.condition is RuleCondition.PRODUCT_CATEGORY else None
    rule.applies_to_roles = sorted({r.value for r in spec.applies_to_roles})
    rule.applies_to_group_ids = sorted(set(spec.applies_to_group_ids))
    rule.active = spec.active
    rule.tiers = [ApprovalTier(level=level, roles=sorted({r.value for r in tier.roles}),
                               membership_ids=sorted(set(tier.membership_ids)))
                  for level, tier in enumerate(spec.tiers, start=1)]


async def save_rule(ctx: UseCaseContext, *, rule_id: int | None, spec: RuleSpec) -> ApprovalRule:
    actor = ctx.require(Permission.APPROVAL_RULE_MANAGE)
    await _validate(ctx, actor, spec)
    before = None
    if rule_id is None:
        rule = ApprovalRule(company_id=actor.company_id)
        ctx.session.add(rule)
        rule.tiers = []
    else:
        rule = await ctx.session.scalar(
            _rules(actor).where(ApprovalRule.id == rule_id).with_for_update(of=ApprovalRule))
        if rule is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such approval rule", "id")
        before = rule_snapshot(rule)
        rule.tiers.clear()  # delete the old tiers before inserting new ones: (rule_id, level) is unique
        await ctx.session.flush()
    _apply(rule, spec)
    await ctx.session.flush()
    await audit(ctx, "approval_rule", rule.id, "create" if before is None else "update", before=before,
                after=rule_snapshot(rule))
    return rule


async def delete_rule(ctx: UseCaseContext, *, rule_id: int) -> int:
    actor = ctx.require(Permission.APPROVAL_RULE_MANAGE)
    rule = await ctx.session.scalar(_rules(actor).where(ApprovalRule.id == rule_id))
    if rule is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such approval rule", "id")
    await audit(ctx, "approval_rule", rule.id, "delete", before=rule_snapshot(rule))
    await ctx.session.delete(rule)
    await ctx.session.flush()
    return rule_id
