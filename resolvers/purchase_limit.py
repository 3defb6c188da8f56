"""Purchase limits (köpgräns): per order and per month, per buyer."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from models import MemberMonthlySpend, Membership
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from policies.permissions import Permission
from policies.scopes import company_row, find_member
from resolvers.audit import audit
from resolvers.context import UseCaseContext


@dataclass
class PurchaseLimitStatus:
    membership_id: int
    order_limit_minor: int | None
    monthly_limit_minor: int | None
    used_this_month_minor: int

    @property
    def remaining_this_month_minor(self) -> int | None:
        if self.monthly_limit_minor is None:
            return None
        return max(self.monthly_limit_minor - self.used_this_month_minor, 0)


async def limit_status(ctx: UseCaseContext, member: Membership) -> PurchaseLimitStatus:
    used = await ctx.session.scalar(select(MemberMonthlySpend.committed_minor).where(
        MemberMonthlySpend.membership_id == member.id,
        MemberMonthlySpend.month_start == utcnow().date().replace(day=1)))
    return PurchaseLimitStatus(member.id, member.order_limit_minor, member.monthly_limit_minor, used or 0)


async def my_limit(ctx: UseCaseContext) -> PurchaseLimitStatus:
    actor = ctx.require_signed_in()
    ctx.refuse_api_client()  # a limit is a buyer's: an API client buys nothing
    if actor.membership_id is None:
        raise DomainError(ErrorCode.NOT_A_MEMBER, "Operators have no purchase limit", None)
    return await limit_status(ctx, await company_row(ctx.session, Membership, actor.membership_id, actor))


async def user_limit(ctx: UseCaseContext, membership_id: int) -> PurchaseLimitStatus | None:
    actor = ctx.require(Permission.BUDGET_READ)
    member = await find_member(ctx.session, actor, membership_id)
    return await limit_status(ctx, member) if member else None


async def set_purchase_limit(
    ctx: UseCaseContext, *, membership_id: int, order_limit_minor: int | None, monthly_limit_minor: int | None,
) -> PurchaseLimitStatus:
    """The change applies to the very next submission."""
    actor = ctx.require(Permission.BUDGET_MANAGE)
    member = await find_member(ctx.session, actor, membership_id, for_update=True)
    if member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user", "userId")
    for field_name, value in (("perOrder", order_limit_minor), ("perMonth", monthly_limit_minor)):
        if value is not None and value < 0:
            raise DomainError(ErrorCode.INVALID_INPUT, "A limit cannot be negative", field_name)
    before = {"order_limit_minor": member.order_limit_minor, "monthly_limit_minor": member.monthly_limit_minor}
    member.order_limit_minor, member.monthly_limit_minor = order_limit_minor, monthly_limit_minor
    await ctx.session.flush()
    await audit(ctx, "purchase_limit", member.id, "update", before=before,
                after={"order_limit_minor": order_limit_minor, "monthly_limit_minor": monthly_limit_minor})
    return await limit_status(ctx, member)
