"""Signing in and out: access tokens, rotating refresh tokens, switching company."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import CursorResult, select, update

from models import AuthSession, Membership, MembershipStatus, RefreshToken, User
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.user import normalize_email
from policies.scopes import person_membership_in, person_memberships
from resolvers.context import UseCaseContext
from resolvers.security import new_opaque_token, token_digest
from resolvers.throttle import TOO_MANY_ATTEMPTS, clear_account_failures, hold, record_failure, throttle_keys

INVALID_CREDENTIALS = "Invalid email or password"


@dataclass
class IssuedTokens:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str
    refresh_token_expires_at: datetime
    user: User
    company_id: int | None


async def login(ctx: UseCaseContext, *, email: str, password: str, company_id: int | None) -> IssuedTokens:
    keys = throttle_keys(email, ctx.client_address)
    if await hold(ctx, keys):
        raise DomainError(ErrorCode.TOO_MANY_ATTEMPTS, TOO_MANY_ATTEMPTS)
    user = await ctx.session.scalar(select(User).where(User.email == normalize_email(email)))
    valid = await ctx.services.passwords.verify(user.password_hash if user else None, password)
    membership_id = await _default_membership(ctx, user, company_id) if valid and user else None
    if not valid or user is None or (membership_id is None and not user.is_operator):
        await record_failure(ctx, keys)
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, INVALID_CREDENTIALS, persist=True)
    await clear_account_failures(ctx, email)
    auth_session = AuthSession(user_id=user.id, membership_id=membership_id)
    ctx.session.add(auth_session)
    await ctx.session.flush()
    return await _issue(ctx, auth_session)


async def _default_membership(ctx: UseCaseContext, user: User, company_id: int | None) -> int | None:
    query = person_memberships(user.id, Membership.id) if company_id is None else person_membership_in(
        user.id, company_id, Membership.id)
    query = query.where(Membership.status == MembershipStatus.ACTIVE.value)
    return await ctx.session.scalar(query.order_by(Membership.id).limit(1))


async def _issue(ctx: UseCaseContext, auth_session: AuthSession) -> IssuedTokens:
    refresh = new_opaque_token()
    refresh_expires = utcnow() + timedelta(days=ctx.settings.refresh_token_days)
    ctx.session.add(RefreshToken(session_id=auth_session.id, token_hash=token_digest(refresh),
                                 expires_at=refresh_expires))
    access, access_expires = ctx.services.tokens.issue(
        user_id=auth_session.user_id, session_id=auth_session.id, membership_id=auth_session.membership_id
    )
    user = await ctx.session.get_one(User, auth_session.user_id)
    company_id = None
    if auth_session.membership_id is not None:
        company_id = await ctx.session.scalar(person_memberships(auth_session.user_id, Membership.company_id)
                                              .where(Membership.id == auth_session.membership_id))
    await ctx.session.flush()
    return IssuedTokens(access, access_expires, refresh, refresh_expires, user, company_id)


async def refresh_tokens(ctx: UseCaseContext, *, refresh_token: str) -> IssuedTokens:
    """Rotate: the presented token is spent, a new pair is issued in the same family.

    Presenting a spent token means it was copied: the whole family is revoked. An API client has
    no session to refresh, and is refused.
    """
    ctx.refuse_api_client()
    now = utcnow()
    stored = await ctx.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_digest(refresh_token)).with_for_update()
    )
    if stored is None or stored.expires_at <= now:
        raise DomainError(ErrorCode.INVALID_TOKEN, "The refresh token is not valid", "refreshToken")
    auth_session = await ctx.session.get_one(AuthSession, stored.session_id, with_for_update=True)
    if stored.used_at is not None:
        await _revoke(ctx, auth_session, "refresh_token_reuse")
        raise DomainError(
            ErrorCode.TOKEN_REUSED, "This refresh token was already used; the session has been ended", "refreshToken",
            persist=True,
        )
    if auth_session.revoked_at is not None:
        raise DomainError(ErrorCode.INVALID_TOKEN, "The session has ended; sign in again", "refreshToken")
    # An UPDATE without RETURNING gives a CursorResult, which has the row count (as SQLAlchemy documents).
    spent = cast(CursorResult, await ctx.session.execute(
        update(RefreshToken).where(RefreshToken.id == stored.id, RefreshToken.used_at.is_(None)).values(used_at=now)
    ))
    if spent.rowcount != 1:
        raise DomainError(ErrorCode.INVALID_TOKEN, "The refresh token is not valid", "refreshToken")
    if auth_session.membership_id is not None and not await _membership_active(ctx, auth_session):
        await _revoke(ctx, auth_session, "membership_inactive")
        raise DomainError(ErrorCode.INVALID_TOKEN, "Your access to this company has ended", "refreshToken",
                          persist=True)
    return await _issue(ctx, auth_session)


async def _membership_active(ctx: UseCaseContext, auth_session: AuthSession) -> bool:
    status = await ctx.session.scalar(
        person_memberships(auth_session.user_id, Membership.status).where(Membership.id == auth_session.membership_id))
    return status == MembershipStatus.ACTIVE.value


async def _revoke(ctx: UseCaseContext, auth_session: AuthSession, reason: str) -> None:
    if auth_session.revoked_at is None:
        auth_session.revoked_at, auth_session.revoked_reason = utcnow(), reason
    await ctx.session.flush()


async def logout(ctx: UseCaseContext) -> None:
    actor = ctx.require_signed_in()
    await _revoke(ctx, await ctx.session.get_one(AuthSession, actor.auth_session_id), "logout")


async def revoke_all_sessions(ctx: UseCaseContext, user_id: int, reason: str) -> None:
    await ctx.session.execute(
        update(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
    )


async def switch_company(ctx: UseCaseContext, *, company_id: int) -> IssuedTokens:
    actor = ctx.require_signed_in()
    membership_id = await ctx.session.scalar(
        person_membership_in(actor.person_id, company_id, Membership.id).where(
            Membership.status == MembershipStatus.ACTIVE.value)
    )
    if membership_id is None:
        raise DomainError(ErrorCode.NOT_FOUND, "You are not an active member of that company", "companyId")
    auth_session = await ctx.session.get_one(AuthSession, actor.auth_session_id, with_for_update=True)
    auth_session.membership_id = membership_id
    # The old family's refresh tokens would still act for the previous company: spend them.
    await ctx.session.execute(
        update(RefreshToken)
        .where(RefreshToken.session_id == auth_session.id, RefreshToken.used_at.is_(None))
        .values(used_at=utcnow())
    )
    await ctx.session.flush()
    return await _issue(ctx, auth_session)
