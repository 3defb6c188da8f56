"""Which rows an actor may see, as SQL. A row outside the scope is simply not found."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from models import Group, Membership
from policies.actor import Actor


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
