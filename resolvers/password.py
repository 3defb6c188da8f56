"""Forgotten passwords and the welcome link of a user created by an administrator."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, literal, null, select, update

from models import LinkPurpose, LinkToken, OutboxMessage, User
from models.base import UTCDateTime, utcnow
from models.errors import DomainError, ErrorCode
from models.user import normalize_email
from resolvers.auth import revoke_all_sessions
from resolvers.context import UseCaseContext
from resolvers.links import consume_link, link_url
from resolvers.security import check_password_strength, new_opaque_token, token_digest
from resolvers.throttle import (
    TOO_MANY_RESETS,
    clear_account_failures,
    clear_reset_requests,
    hold,
    record_failure,
    reset_keys,
)

RESET_SUBJECT = "Reset your Procura password"


async def request_password_reset(ctx: UseCaseContext, *, email: str) -> None:
    """Mails a reset link if the address has an account; throttled per typed address and per client.

    The caller is told the same either way, and the request does the same work either way, so
    that its timing does not tell either: every statement below runs whether or not the account
    exists, and picks the account inside the database (an unknown address matches no row)."""
    address = normalize_email(email)
    keys = reset_keys(address, ctx.client_address)
    if await hold(ctx, keys):
        raise DomainError(ErrorCode.TOO_MANY_ATTEMPTS, TOO_MANY_RESETS)
    await record_failure(ctx, keys)
    now, token, hours = utcnow(), new_opaque_token(), ctx.settings.link_token_hours
    account = select(User.id).where(User.email == address)
    # Earlier unused reset links of the account stop working (as links.issue_link does).
    await ctx.session.execute(
        update(LinkToken)
        .where(LinkToken.user_id.in_(account), LinkToken.purpose == LinkPurpose.RESET_PASSWORD.value,
               LinkToken.used_at.is_(None), LinkToken.membership_id.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)
    )
    await ctx.session.execute(insert(LinkToken).from_select(
        ["purpose", "token_hash", "user_id", "membership_id", "expires_at", "created_at"],
        select(literal(LinkPurpose.RESET_PASSWORD.value), literal(token_digest(token)), User.id, null(),
               literal(now + timedelta(hours=hours), UTCDateTime()), literal(now, UTCDateTime()))
        .where(User.email == address),
    ))
    name = func.coalesce(func.nullif(func.trim(User.first_name + " " + User.last_name), ""), User.email)
    body = literal("Hello ") + name + literal(
        ",\n\nSomeone asked to reset the password of your Procura account.\n"
        f"Choose a new password here (valid {hours} hours, once):\n{link_url(ctx, 'reset-password', token)}\n\n"
        "If it was not you, ignore this message: your password is unchanged.\n"
    )
    queued = await ctx.session.scalars(insert(OutboxMessage).from_select(
        ["recipient", "subject", "body", "created_at", "attempts"],
        select(User.email, literal(RESET_SUBJECT), body, literal(now, UTCDateTime()), literal(0))
        .where(User.email == address),
    ).returning(OutboxMessage.id))
    ctx.queued_mail.extend(queued.all())


async def reset_password(ctx: UseCaseContext, *, token: str, new_password: str) -> User:
    check_password_strength(new_password, "newPassword")
    link = await consume_link(ctx, token, {LinkPurpose.RESET_PASSWORD, LinkPurpose.SET_PASSWORD})
    user = await ctx.session.get_one(User, link.user_id, with_for_update=True)
    user.password_hash = await ctx.services.passwords.hash(new_password)
    await revoke_all_sessions(ctx, user.id, "password_reset")
    await clear_account_failures(ctx, user.email)
    await clear_reset_requests(ctx, user.email)
    await ctx.session.flush()
    return user
