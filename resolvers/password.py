"""Forgotten passwords and the welcome link of a user created by an administrator."""

from __future__ import annotations

from sqlalchemy import select

from models import LinkPurpose, User
from models.user import normalize_email
from resolvers.auth import revoke_all_sessions
from resolvers.context import UseCaseContext
from resolvers.links import consume_link, issue_link, link_url
from resolvers.mail import queue_mail
from resolvers.security import check_password_strength
from resolvers.throttle import clear_account_failures


async def request_password_reset(ctx: UseCaseContext, *, email: str) -> None:
    """Sends a reset link if the address has an account; the caller is told the same either way."""
    user = await ctx.session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        return
    token = await issue_link(ctx, LinkPurpose.RESET_PASSWORD, user_id=user.id)
    hours = ctx.settings.link_token_hours
    await queue_mail(
        ctx, to=user.email, subject="Reset your Procura password",
        body=(
            f"Hello {user.full_name or user.email},\n\nSomeone asked to reset the password of your Procura account.\n"
            f"Choose a new password here (valid {hours} hours, once):\n{link_url(ctx, 'reset-password', token)}\n\n"
            "If it was not you, ignore this message: your password is unchanged.\n"
        ),
    )


async def reset_password(ctx: UseCaseContext, *, token: str, new_password: str) -> User:
    check_password_strength(new_password, "newPassword")
    link = await consume_link(ctx, token, {LinkPurpose.RESET_PASSWORD, LinkPurpose.SET_PASSWORD})
    user = await ctx.session.get_one(User, link.user_id, with_for_update=True)
    user.password_hash = await ctx.services.passwords.hash(new_password)
    await revoke_all_sessions(ctx, user.id, "password_reset")
    await clear_account_failures(ctx, user.email)
    await ctx.session.flush()
    return user
