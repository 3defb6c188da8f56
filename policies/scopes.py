"""Which rows an actor may see, as SQL. A row outside the scope is simply not found."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select
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


def visible_orders(actor: Actor, authorizer) -> ColumnElement[bool]:
    """Which submitted orders an actor may see, as a WHERE condition (never a Python loop).

    Operators see every company's orders (they fulfil them); administrators and managers
    their company's; order approvers the orders awaiting a decision and those they decided;
    customers their own.
    """
    submitted = Order.status != OrderStatus.DRAFT.value
    if actor.is_operator and authorizer.allows(actor, Permission.ORDER_FULFIL):
        return submitted
    if actor.company_id is None:
        return false()
    own_company = Order.company_id == actor.company_id
    if authorizer.allows(actor, Permission.ORDER_READ_ALL):
        return and_(own_company, submitted)
    visible = []
    if authorizer.allows(actor, Permission.ORDER_APPROVE):
        awaiting = and_(Order.status == OrderStatus.PENDING_APPROVAL.value, Order.buyer_id != actor.membership_id,
                        Order.id.in_(select(OrderApprovalStep.order_id).where(eligible_step(actor))))
        decided = Order.id.in_(select(OrderApprovalStep.order_id).where(
            OrderApprovalStep.decided_by_id == actor.membership_id))
        visible.append(or_(awaiting, decided))
    if authorizer.allows(actor, Permission.ORDER_CREATE):
        visible.append(Order.buyer_id == actor.membership_id)
    return and_(own_company, submitted, or_(*visible)) if visible else false()


def eligible_step(actor: Actor) -> ColumnElement[bool]:
    """A current, undecided approval step that this actor may decide (by role or by name)."""
    keys = [OrderApprovalStep.approver_keys.contains(f" member:{actor.membership_id} ")]
    if actor.role is not None:
        keys.append(OrderApprovalStep.approver_keys.contains(f" role:{actor.role.value} "))
    # Tiers escalate: whoever decided one tier of a rule does not decide another tier of it.
    earlier = aliased(OrderApprovalStep)
    decided_earlier_tier = exists().where(
        earlier.order_id == OrderApprovalStep.order_id, earlier.rule_name == OrderApprovalStep.rule_name,
        earlier.decided_by_id == actor.membership_id)
    return and_(OrderApprovalStep.is_current.is_(True), OrderApprovalStep.decision.is_(None), or_(*keys),
                ~decided_earlier_tier)
