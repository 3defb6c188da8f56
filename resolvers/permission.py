"""Restricting, and restoring, a single user's permissions (Casbin deny rules per member)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import CursorResult

from models import PermissionRestriction
from models.errors import DomainError, ErrorCode
from policies.permissions import Permission
from policies.scopes import company_delete, load_member
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.user import _member_for_change


async def restrict_permission(ctx: UseCaseContext, *, membership_id: int, permission: Permission):
    actor = ctx.require(Permission.USER_RESTRICT)
    member = await _member_for_change(ctx, actor, membership_id, "userId")
    if member.user_id == actor.user_id:
        raise DomainError(ErrorCode.SELF_ACTION, "You cannot restrict your own permissions", "userId")
    if permission.value not in {r.permission for r in member.restrictions}:
        ctx.session.add(PermissionRestriction(
            membership_id=member.id, company_id=member.company_id, permission=permission.value,
            created_by_id=actor.user_id,
        ))
        await audit(ctx, "user", member.id, "restrict", after={"permission": permission.value})
        await ctx.session.flush()
    return await load_member(ctx.session, member)


async def restore_permission(ctx: UseCaseContext, *, membership_id: int, permission: Permission):
    actor = ctx.require(Permission.USER_RESTRICT)
    member = await _member_for_change(ctx, actor, membership_id, "userId")
    if member.user_id == actor.user_id:
        raise DomainError(ErrorCode.SELF_ACTION, "Ask another administrator to restore your permissions", "userId")
    # A DELETE without RETURNING gives a CursorResult, which has the row count (as SQLAlchemy documents).
    removed = cast(CursorResult, await ctx.session.execute(
        company_delete(PermissionRestriction, member).where(
            PermissionRestriction.membership_id == member.id, PermissionRestriction.permission == permission.value
        )
    ))
    if removed.rowcount:
        await audit(ctx, "user", member.id, "restore", before={"permission": permission.value})
    await ctx.session.flush()
    return await load_member(ctx.session, member)
