"""Which rows an actor may see, as SQL. A row outside the scope is simply not found."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, joinedload, selectinload

from models import Group, Membership, Order, OrderApprovalStep
from models.order_state import OrderStatus
from policies.actor import Actor
from policies.permissions import Permission


def member_loading(query: Select) -> Select:
    """Load what a User result shows (person, group, restrictions) in one round trip plus one."""
    return query.options(
        joinedload(Membership.user), joinedload(Membership.group), selectinload(Membership.restrictions)
    )


def company_members(actor: Actor) -> Select:
    return member_loading(select(Membership).where(Membership.company_id == actor.company_id))


def company_groups(actor: Actor) -> Select:
    return select(Group).where(Group.company_id == actor.company_id)


async def load_member(session: AsyncSession, membership_id: int) -> Membership:
    """A membership with everything a User result shows, freshly read (after a change)."""
    query = member_loading(select(Membership).where(Membership.id == membership_id))
    return (await session.scalars(query.execution_options(populate_existing=True))).unique().one()


async def find_member(session: AsyncSession, actor: Actor, membership_id: int, *, for_update: bool = False) -> Membership | None:
    query = company_members(actor).where(Membership.id == membership_id)
    if for_update:
        query = query.with_for_update(of=Membership)
    return (await session.scalars(query)).unique().one_or_none()


async def find_group(session: AsyncSession, actor: Actor, group_id: int) -> Group | None:
    return await session.scalar(company_groups(actor).where(Group.id == group_id))


# The order scopes are built once per shape with bound parameters (a history page runs on every
# request, and building the condition costs more than binding values to it).
OrderScope = tuple  # ("every_company",) | ("none",) | ("company",) | ("members", approver, buyer, has_role)


def order_scope(actor: Actor, authorizer) -> tuple[OrderScope, dict]:
    """Which submitted orders an actor may see: a shape and the values for its parameters.

    Operators see every company's orders (they fulfil them); administrators and managers
    their company's; order approvers the orders awaiting a decision and those they decided;
    customers their own.
    """
    if actor.is_operator and authorizer.allows(actor, Permission.ORDER_FULFIL):
        return ("every_company",), {}
    if actor.company_id is None:
        return ("none",), {}
    params = {"scope_company_id": actor.company_id}
    if authorizer.allows(actor, Permission.ORDER_READ_ALL):
        return ("company",), params
    approver = authorizer.allows(actor, Permission.ORDER_APPROVE)
    buyer = authorizer.allows(actor, Permission.ORDER_CREATE)
    if approver or buyer:
        params["scope_membership_id"] = actor.membership_id
    if approver:
        params.update(_step_keys(actor))
    return ("members", approver, buyer, actor.role is not None), params


@cache
def order_scope_condition(scope: OrderScope) -> ColumnElement[bool]:
    """The WHERE condition of a scope shape, over bound parameters whose values come from order_scope."""
    return _order_scope_condition(scope, bindparam)


def visible_orders(actor: Actor, authorizer) -> ColumnElement[bool]:
    """order_scope as a condition with its values in it."""
    scope, params = order_scope(actor, authorizer)
    return _order_scope_condition(scope, lambda name: bindparam(name, params[name]))


def eligible_step(actor: Actor) -> ColumnElement[bool]:
    """A current, undecided approval step that this actor may decide (by role or by name)."""
    keys = _step_keys(actor)
    return _eligible_step_condition(actor.role is not None, lambda name: bindparam(name, keys[name]))


def _order_scope_condition(scope: OrderScope, value: Callable[[str], ColumnElement]) -> ColumnElement[bool]:
    submitted = Order.status != OrderStatus.DRAFT.value
    if scope[0] == "every_company":
        return submitted
    if scope[0] == "none":
        return false()
    own_company = Order.company_id == value("scope_company_id")
    if scope[0] == "company":
        return and_(own_company, submitted)
    _, approver, buyer, has_role = scope
    membership = value("scope_membership_id")
    visible = []
    if approver:
        awaiting = and_(Order.status == OrderStatus.PENDING_APPROVAL.value, Order.buyer_id != membership,
                        Order.id.in_(select(OrderApprovalStep.order_id).where(_eligible_step_condition(has_role, value))))
        decided = Order.id.in_(select(OrderApprovalStep.order_id).where(OrderApprovalStep.decided_by_id == membership))
        visible.append(or_(awaiting, decided))
    if buyer:
        visible.append(Order.buyer_id == membership)
    return and_(own_company, submitted, or_(*visible)) if visible else false()


def _step_keys(actor: Actor) -> dict:
    keys = {"scope_membership_id": actor.membership_id, "scope_member_key": f" member:{actor.membership_id} "}
    if actor.role is not None:
        keys["scope_role_key"] = f" role:{actor.role.value} "
    return keys


def _eligible_step_condition(has_role: bool, value: Callable[[str], ColumnElement]) -> ColumnElement[bool]:
    keys = [OrderApprovalStep.approver_keys.contains(value("scope_member_key"))]
    if has_role:
        keys.append(OrderApprovalStep.approver_keys.contains(value("scope_role_key")))
    # Tiers escalate: whoever decided one tier of a rule does not decide another tier of it.
    earlier = aliased(OrderApprovalStep)
    decided_earlier_tier = exists().where(
        earlier.order_id == OrderApprovalStep.order_id, earlier.rule_name == OrderApprovalStep.rule_name,
        earlier.decided_by_id == value("scope_membership_id"))
    return and_(OrderApprovalStep.is_current.is_(True), OrderApprovalStep.decision.is_(None), or_(*keys),
                ~decided_earlier_tier)
