"""Groups: listing, creating, renaming, deleting (only when empty)."""

from __future__ import annotations

from sqlalchemy import func

from models import Company, Group, Membership
from models.errors import DomainError, ErrorCode
from models.group import clean_group_name
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import company_groups, company_rows, find_group
from resolvers.context import UseCaseContext
from resolvers.pagination import Page, keyset_page


async def list_groups(ctx: UseCaseContext, *, first: int, after: int | None) -> Page[Group]:
    actor = ctx.require(Permission.GROUP_READ)
    return await keyset_page(ctx.session, company_groups(actor), Group.id, first=first, after=after,
                             maximum=ctx.settings.max_page_size)


async def get_group(ctx: UseCaseContext, group_id: int) -> Group | None:
    actor = ctx.require(Permission.GROUP_READ)
    return await find_group(ctx.session, actor, group_id)


async def member_counts(ctx: UseCaseContext, group_ids: list[int]) -> dict[int, int]:
    """Members per group, for a whole page of groups in one statement."""
    if not group_ids:
        return {}
    rows = await ctx.session.execute(
        company_rows(Membership, ctx.actor, Membership.group_id, func.count())
        .where(Membership.group_id.in_(group_ids)).group_by(Membership.group_id)
    )
    return {group_id: count for group_id, count in rows}


async def _ensure_name_free(ctx: UseCaseContext, actor: Actor, name: str, except_id: int | None = None) -> str:
    name = clean_group_name(name)
    if not name or len(name) > 100:
        raise DomainError(ErrorCode.INVALID_INPUT, "A group name has 1 to 100 characters", "name")
    query = company_groups(actor).where(func.lower(Group.name) == name.lower())
    if except_id is not None:
        query = query.where(Group.id != except_id)
    if await ctx.session.scalar(query) is not None:
        raise DomainError(ErrorCode.GROUP_NAME_TAKEN, f'There is already a group named "{name}"', "name")
    return name


async def _lock_company(ctx: UseCaseContext, actor: Actor) -> None:
    """Serialize the name checks of one company's groups: a row lock on PostgreSQL (SQLite's
    write transactions are serialized already). Taken first, as user changes take it."""
    await ctx.session.get_one(Company, actor.company_id, with_for_update=True)


async def create_group(ctx: UseCaseContext, *, name: str) -> Group:
    actor = ctx.require(Permission.GROUP_MANAGE)
    await _lock_company(ctx, actor)
    group = Group(company_id=actor.company_id, name=await _ensure_name_free(ctx, actor, name))
    ctx.session.add(group)
    await ctx.session.flush()
    return group


async def _require_group(ctx: UseCaseContext, actor: Actor, group_id: int) -> Group:
    group = await ctx.session.scalar(company_groups(actor).where(Group.id == group_id).with_for_update())
    if group is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such group", "id")
    return group


async def rename_group(ctx: UseCaseContext, *, group_id: int, name: str) -> Group:
    actor = ctx.require(Permission.GROUP_MANAGE)
    await _lock_company(ctx, actor)
    group = await _require_group(ctx, actor, group_id)
    group.name = await _ensure_name_free(ctx, actor, name, except_id=group.id)
    await ctx.session.flush()
    return group


async def delete_group(ctx: UseCaseContext, *, group_id: int) -> int:
    actor = ctx.require(Permission.GROUP_MANAGE)
    group = await _require_group(ctx, actor, group_id)
    members = await ctx.session.scalar(
        company_rows(Membership, group, func.count()).where(Membership.group_id == group.id))
    if members:
        raise DomainError(ErrorCode.GROUP_NOT_EMPTY, f"The group still has {members} member(s); move them first", "id")
    await ctx.session.delete(group)
    await ctx.session.flush()
    return group_id
