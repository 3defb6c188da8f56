"""The company's users: listing, inviting, creating, changing, deactivating."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select, update

from models import Company, Group, LinkPurpose, LinkToken, Membership, MembershipStatus, PaymentMethod, Role, User
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import (
    company_members,
    company_rows,
    find_group,
    find_member,
    load_member,
    memberships_elsewhere,
    person_memberships,
)
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.cost_centre import attach_default
from resolvers.links import consume_link, issue_link, link_url, unspend_link
from resolvers.mail import queue_mail
from resolvers.pagination import Page, keyset_page
from resolvers.security import check_password_strength
from resolvers.throttle import password_matches
from resolvers.validation import clean_email, clean_text

# Roles that see or change beyond one's own orders company-wide: only `user:assign_role` gives or takes them.
PRIVILEGED_ROLES = {Role.ADMIN, Role.MANAGER, Role.ACCOUNTANT}


@dataclass
class UserFilter:
    search: str | None = None
    group_id: int | None = None
    role: Role | None = None
    status: MembershipStatus | None = None


async def list_users(ctx: UseCaseContext, *, filter: UserFilter, first: int, after: int | None) -> Page[Membership]:
    actor = ctx.require(Permission.USER_READ)
    query = company_members(actor)
    if filter.group_id is not None:
        query = query.where(Membership.group_id == filter.group_id)
    if filter.role is not None:
        query = query.where(Membership.role == filter.role.value)
    if filter.status is not None:
        query = query.where(Membership.status == filter.status.value)
    if filter.search:
        term = filter.search.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{term}%"
        query = query.where(Membership.user_id.in_(select(User.id).where(or_(
            func.lower(User.email).like(pattern, escape="\\"), func.lower(User.first_name).like(pattern, escape="\\"),
            func.lower(User.last_name).like(pattern, escape="\\"),
        ))))
    return await keyset_page(ctx.session, query, Membership.id, first=first, after=after,
                             maximum=ctx.settings.max_page_size)


async def get_user(ctx: UseCaseContext, membership_id: int) -> Membership | None:
    """A member of the caller's company; everyone may see themselves."""
    actor = ctx.require_signed_in()
    if actor.membership_id != membership_id:
        ctx.require(Permission.USER_READ)
    if actor.company_id is None:
        return None
    return await find_member(ctx.session, actor, membership_id)


async def _require_group(ctx: UseCaseContext, actor: Actor, group_id: int) -> Group:
    group = await find_group(ctx.session, actor, group_id)
    if group is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such group", "groupId")
    return group


def _require_role_grant(ctx: UseCaseContext, role: Role) -> None:
    if role in PRIVILEGED_ROLES and not ctx.allows(Permission.USER_ASSIGN_ROLE):
        raise DomainError(ErrorCode.ROLE_NOT_ALLOWED, f"You may not give the {role.name} role", "role")


def _require_manageable(ctx: UseCaseContext, member: Membership, field: str = "id") -> None:
    if Role(member.role) in PRIVILEGED_ROLES and not ctx.allows(Permission.USER_ASSIGN_ROLE):
        raise DomainError(ErrorCode.ROLE_NOT_ALLOWED,
                          "Only an administrator may change administrators, managers and accountants", field)


def _payment_methods(methods: list[PaymentMethod]) -> list[str]:
    return sorted({m.value for m in methods})


async def invite_user(ctx: UseCaseContext, *, email: str, group_id: int, role: Role) -> Membership:
    actor = ctx.require(Permission.USER_CREATE)
    _require_role_grant(ctx, role)
    group = await _require_group(ctx, actor, group_id)
    email = clean_email(email, "email", ctx.settings)
    user = await ctx.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email)
        ctx.session.add(user)
        await ctx.session.flush()
    membership = await ctx.session.scalar(
        company_rows(Membership, actor).where(Membership.user_id == user.id)
    )
    if membership is not None and membership.status != MembershipStatus.INVITED.value:
        raise DomainError(ErrorCode.ALREADY_MEMBER, "This person is already a user of the company", "email")
    if membership is None:
        membership = Membership(company_id=actor.company_id, user_id=user.id, group_id=group.id, role=role.value,
                                status=MembershipStatus.INVITED.value, payment_methods=[])
        ctx.session.add(membership)
        await ctx.session.flush()
        await attach_default(ctx, membership)
    else:
        membership.group_id, membership.role = group.id, role.value
    await ctx.session.flush()
    token = await issue_link(ctx, LinkPurpose.INVITATION, user_id=user.id, membership_id=membership.id)
    company = await ctx.session.get_one(Company, actor.company_id)
    await queue_mail(
        ctx, to=email, subject=f"You are invited to {company.name} on Procura",
        body=(
            f"Hello,\n\nYou are invited to buy for {company.name} on Procura as {role.value.replace('_', ' ')}.\n"
            f"Accept the invitation here (valid {ctx.settings.link_token_hours} hours, once):\n"
            f"{link_url(ctx, 'accept-invitation', token)}\n"
        ),
    )
    return await load_member(ctx.session, membership)


async def accept_invitation(
    ctx: UseCaseContext, *, token: str, first_name: str, last_name: str, password: str,
) -> Membership:
    """New people choose their name and password; people who already have an account prove it."""
    link = await consume_link(ctx, token, {LinkPurpose.INVITATION})
    user = await ctx.session.get_one(User, link.user_id, with_for_update=True)
    if user.password_hash is None:
        check_password_strength(password)
        user.first_name = clean_text(first_name, "firstName", 100)
        user.last_name = clean_text(last_name, "lastName", 100)
        user.password_hash = await ctx.services.passwords.hash(password)
    else:
        await _prove_existing_account(ctx, user, password, token)
    membership = (await ctx.session.scalars(
        person_memberships(user.id).where(Membership.id == link.membership_id).with_for_update())).one()
    if membership.status != MembershipStatus.INVITED.value:
        raise DomainError(ErrorCode.INVALID_TOKEN, "This invitation was withdrawn", "token")
    membership.status = MembershipStatus.ACTIVE.value
    await ctx.session.flush()
    return await load_member(ctx.session, membership)


async def _prove_existing_account(ctx: UseCaseContext, user: User, password: str, token: str) -> None:
    """An invitation to an existing account is accepted with its password, throttled like sign-in;
    a wrong password leaves the invitation usable and counts as a failed sign-in."""
    if not await password_matches(ctx, user, password, "password"):
        await unspend_link(ctx, token)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "You already have an account: give its password", "password",
                          persist=True)


async def create_user(
    ctx: UseCaseContext, *, first_name: str, last_name: str, email: str, group_id: int, role: Role,
    payment_methods: list[PaymentMethod],
) -> Membership:
    actor = ctx.require(Permission.USER_CREATE)
    _require_role_grant(ctx, role)
    group = await _require_group(ctx, actor, group_id)
    email = clean_email(email, "email", ctx.settings)
    if await ctx.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise DomainError(
            ErrorCode.EMAIL_TAKEN, "This email already has an account: invite the person instead", "email"
        )
    user = User(email=email, first_name=clean_text(first_name, "firstName", 100),
                last_name=clean_text(last_name, "lastName", 100))
    ctx.session.add(user)
    await ctx.session.flush()
    membership = Membership(company_id=actor.company_id, user_id=user.id, group_id=group.id, role=role.value,
                            status=MembershipStatus.ACTIVE.value, payment_methods=_payment_methods(payment_methods))
    ctx.session.add(membership)
    await ctx.session.flush()
    await attach_default(ctx, membership)
    token = await issue_link(ctx, LinkPurpose.SET_PASSWORD, user_id=user.id)
    company = await ctx.session.get_one(Company, actor.company_id)
    await queue_mail(
        ctx, to=email, subject=f"Welcome to {company.name} on Procura",
        body=(
            f"Hello {user.full_name},\n\nAn administrator of {company.name} created a Procura account for you.\n"
            f"Choose your password here (valid {ctx.settings.link_token_hours} hours, once):\n"
            f"{link_url(ctx, 'set-password', token)}\n\nWhen the link has expired, use \"Forgot password\".\n"
        ),
    )
    return await load_member(ctx.session, membership)


async def _member_for_change(ctx: UseCaseContext, actor: Actor, membership_id: int, field: str = "id") -> Membership:
    # Lock the company row first: concurrent changes to its administrators serialize here.
    await ctx.session.get_one(Company, actor.company_id, with_for_update=True)
    member = await find_member(ctx.session, actor, membership_id, for_update=True)
    if member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user", field)
    return member


async def _ensure_not_last_admin(ctx: UseCaseContext, member: Membership) -> None:
    if member.role != Role.ADMIN.value or member.status != MembershipStatus.ACTIVE.value:
        return
    admins = await ctx.session.scalar(
        company_rows(Membership, member, func.count()).where(
            Membership.role == Role.ADMIN.value,
            Membership.status == MembershipStatus.ACTIVE.value,
        )
    )
    if admins <= 1:
        raise DomainError(ErrorCode.LAST_ADMIN, "The company must keep at least one active administrator", "id")


async def update_user(
    ctx: UseCaseContext, *, membership_id: int, first_name: str | None, last_name: str | None,
    group_id: int | None, role: Role | None, payment_methods: list[PaymentMethod] | None,
) -> Membership:
    actor = ctx.require(Permission.USER_UPDATE)
    member = await _member_for_change(ctx, actor, membership_id)
    _require_manageable(ctx, member)
    if first_name is not None or last_name is not None:
        await _update_names(ctx, member, first_name, last_name)
    if group_id is not None:
        member.group_id = (await _require_group(ctx, actor, group_id)).id
    if role is not None and role.value != member.role:
        ctx.require(Permission.USER_ASSIGN_ROLE)
        if member.user_id == actor.user_id:
            raise DomainError(ErrorCode.SELF_ACTION, "Ask another administrator to change your role", "role")
        await _ensure_not_last_admin(ctx, member)
        await audit(ctx, "user", member.id, "role", before={"role": member.role}, after={"role": role.value})
        member.role = role.value
    if payment_methods is not None:
        methods = _payment_methods(payment_methods)
        if methods != sorted(member.payment_methods):
            await audit(ctx, "user", member.id, "payment_methods",
                        before={"payment_methods": sorted(member.payment_methods)}, after={"payment_methods": methods})
        member.payment_methods = methods
    await ctx.session.flush()
    return await load_member(ctx.session, member)


async def _update_names(ctx: UseCaseContext, member: Membership, first: str | None, last: str | None) -> None:
    """Names belong to the person; a company may change them only for people who are its alone."""
    elsewhere = await ctx.session.scalar(
        memberships_elsewhere(member, func.count())
    )
    if elsewhere:
        raise DomainError(ErrorCode.SHARED_ACCOUNT,
                          "This person also belongs to another company; only they can change their name",
                          "firstName" if first is not None else "lastName")
    user = await ctx.session.get_one(User, member.user_id)
    if first is not None:
        user.first_name = clean_text(first, "firstName", 100)
    if last is not None:
        user.last_name = clean_text(last, "lastName", 100)


async def set_user_active(ctx: UseCaseContext, *, membership_id: int, active: bool) -> Membership:
    actor = ctx.require(Permission.USER_DEACTIVATE)
    member = await _member_for_change(ctx, actor, membership_id)
    if member.user_id == actor.user_id:
        raise DomainError(ErrorCode.SELF_ACTION, "You cannot deactivate yourself", "id")
    if active:
        if member.status != MembershipStatus.DEACTIVATED.value:
            raise DomainError(ErrorCode.INVALID_STATE, "The user is not deactivated", "id")
        member.status = MembershipStatus.ACTIVE.value
    else:
        if member.status == MembershipStatus.DEACTIVATED.value:
            raise DomainError(ErrorCode.INVALID_STATE, "The user is already deactivated", "id")
        if member.status == MembershipStatus.INVITED.value:
            # Withdraw the invitation: its links stop working, the person stays invited (never
            # active without accepting); inviteUser sends a fresh link.
            await ctx.session.execute(
                update(LinkToken).where(LinkToken.membership_id == member.id, LinkToken.used_at.is_(None))
                .values(used_at=utcnow())
            )
        else:
            await _ensure_not_last_admin(ctx, member)
            member.status = MembershipStatus.DEACTIVATED.value
    await audit(ctx, "user", member.id, "reactivate" if active else "deactivate")
    await ctx.session.flush()
    return await load_member(ctx.session, member)


async def move_users_to_group(ctx: UseCaseContext, *, membership_ids: list[int], group_id: int) -> list[Membership]:
    actor = ctx.require(Permission.GROUP_MANAGE)
    group = await _require_group(ctx, actor, group_id)
    members = []
    for membership_id in dict.fromkeys(membership_ids):
        member = await find_member(ctx.session, actor, membership_id, for_update=True)
        if member is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such user", "userIds")
        _require_manageable(ctx, member, "userIds")
        member.group_id = group.id
        members.append(member)
    await ctx.session.flush()
    return [await load_member(ctx.session, member) for member in members]
