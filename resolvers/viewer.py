"""The signed-in person: who they are, where they belong, what they may do."""

from __future__ import annotations

from dataclasses import dataclass

from models import Company, Membership, User
from policies.permissions import Permission
from policies.scopes import company_rows, find_member, person_companies
from resolvers.context import UseCaseContext


@dataclass
class Viewer:
    user: User
    membership: Membership | None
    company: Company | None
    companies: list[tuple[Company, str]]
    permissions: list[Permission]
    is_operator: bool


async def get_person(ctx: UseCaseContext, user_id: int) -> User | None:
    """A person: oneself; or, with `user:read`, a person who belongs to the caller's company (as
    its users are seen)."""
    actor = ctx.require_signed_in()
    if user_id != actor.user_id:
        ctx.require(Permission.USER_READ)
        member = await ctx.session.scalar(
            company_rows(Membership, actor, Membership.id).where(Membership.user_id == user_id))
        if member is None:
            return None
    return await ctx.session.get(User, user_id)


async def me(ctx: UseCaseContext) -> Viewer:
    actor = ctx.require_signed_in()
    person_id = actor.person_id  # an API client is no person: refused
    user = await ctx.session.get_one(User, person_id)
    membership = await find_member(ctx.session, actor, actor.membership_id) if actor.membership_id else None
    rows = await ctx.session.execute(person_companies(person_id).order_by(Company.id))
    companies = [(company, role) for company, role in rows]
    current = next((c for c, _ in companies if c.id == actor.company_id), None)
    return Viewer(user, membership, current, companies, ctx.services.authorizer.effective_permissions(actor),
                  actor.is_operator)
