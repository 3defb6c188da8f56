"""Single-use emailed links: invitations, welcome (set password) and password resets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update

from models import LinkPurpose, LinkToken
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from resolvers.context import UseCaseContext
from resolvers.security import new_opaque_token, token_digest


async def issue_link(
    ctx: UseCaseContext, purpose: LinkPurpose, *, user_id: int, membership_id: int | None = None,
) -> str:
    """A fresh token for this purpose; earlier unused ones for the same target stop working."""
    now = utcnow()
    await ctx.session.execute(
        update(LinkToken)
        .where(LinkToken.user_id == user_id, LinkToken.purpose == purpose.value, LinkToken.used_at.is_(None),
               LinkToken.membership_id == membership_id if membership_id else LinkToken.membership_id.is_(None))
        .values(used_at=now)
    )
    token = new_opaque_token()
    ctx.session.add(LinkToken(
        purpose=purpose.value, token_hash=token_digest(token), user_id=user_id, membership_id=membership_id,
        expires_at=now + timedelta(hours=ctx.settings.link_token_hours),
    ))
    await ctx.session.flush()
    return token


@dataclass(frozen=True)
class ConsumedLink:
    user_id: int
    membership_id: int | None
    purpose: LinkPurpose


async def consume_link(ctx: UseCaseContext, token: str, purposes: set[LinkPurpose]) -> ConsumedLink:
    """Spend a link atomically: of two concurrent uses, exactly one succeeds."""
    now = utcnow()
    row = (
        await ctx.session.execute(
            update(LinkToken)
            .where(
                LinkToken.token_hash == token_digest(token),
                LinkToken.purpose.in_([p.value for p in purposes]),
                LinkToken.used_at.is_(None),
                LinkToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(LinkToken.user_id, LinkToken.membership_id, LinkToken.purpose)
        )
    ).one_or_none()
    if row is None:
        raise DomainError(
            ErrorCode.INVALID_TOKEN, "This link is invalid, already used or expired; ask for a new one", "token"
        )
    return ConsumedLink(row.user_id, row.membership_id, LinkPurpose(row.purpose))


def link_url(ctx: UseCaseContext, path: str, token: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/{path}?token={token}"


async def unspend_link(ctx: UseCaseContext, token: str) -> None:
    """Give back a link spent in this transaction (its use failed for a reason worth recording)."""
    await ctx.session.execute(update(LinkToken).where(LinkToken.token_hash == token_digest(token)).values(used_at=None))
