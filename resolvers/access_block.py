"""Blocking access on suspected misuse (001, 003): a person blocks their own access, or an administrator a member's.

A blocked membership (Membership.blocked_at) cannot sign in, refresh or switch to its company, its access tokens
are refused from the next request (policies.actor.load_actor), its approval links are refused and it is no
approver or substitute; blocking also ends the sessions, blocks the live cards (reason `misuse`) and stops the
recurring purchases, all in the one transaction of the mutation. Unblocking is an administrator's decision: it
lifts the block and the cards' misuse blocks (not a PIN block, which only an operator lifts, nor a block the
holder or an administrator set themselves); recurring purchases stay stopped until the buyer sets them going again.
Who blocked and who unblocked is in the audit log (entity `user`, actions `block` and `unblock`).

The company's API clients are the company's, not the member's: a member's block leaves them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import CursorResult, update

from models import AuthSession, Card, CardBlockReason, CardStatus, Company, Membership
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from policies.errors import Forbidden
from policies.permissions import Permission
from policies.scopes import company_update, find_member, load_member, person_memberships
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.recurring_order import stop_recurring_orders_of
from resolvers.validation import clean_text

SESSION_ENDED = "access_blocked"  # AuthSession.revoked_reason
REASON_LENGTH = 500


@dataclass
class BlockOutcome:
    """What a block did: the memberships blocked (loaded as a User result shows them) and what ended with them."""

    memberships: list[Membership]
    sessions_ended: int
    cards_blocked: int
    recurring_orders_stopped: int


def _count(result: object) -> int:
    # An UPDATE without RETURNING gives a CursorResult, which has the row count (as SQLAlchemy documents).
    return cast(CursorResult, result).rowcount or 0


def _reason(reason: str | None, field: str, *, required: bool) -> str:
    return clean_text(reason, field, REASON_LENGTH, required=required) or ""


async def block_my_access(ctx: UseCaseContext, *, reason: str | None) -> BlockOutcome:
    """The caller blocks every membership of theirs, in every company, and every session of theirs ends: whoever
    holds their password or a token of theirs can do nothing more. An API client is no person and is refused; so is
    a platform operator signed in outside every company, whose access the platform manages (there is no membership
    to block, and ending sessions alone would not stop the next sign-in)."""
    actor = ctx.require_signed_in()
    person_id = actor.person_id
    if actor.membership_id is None:
        raise Forbidden("A platform operator's access is managed by the platform: ask another operator")
    text = _reason(reason, "reason", required=False)
    members = list((await ctx.session.scalars(
        person_memberships(person_id).where(Membership.blocked_at.is_(None)).order_by(Membership.id)
        .with_for_update())).all())
    outcome = BlockOutcome([], 0, 0, 0)
    for member in members:
        await _block(ctx, member, text or "Blocked by the person themselves", outcome, by_self=True)
    ended = await ctx.session.execute(
        update(AuthSession).where(AuthSession.user_id == person_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=SESSION_ENDED))
    outcome.sessions_ended = _count(ended)
    await ctx.session.flush()
    outcome.memberships = [await load_member(ctx.session, member) for member in members]
    return outcome


async def block_member(ctx: UseCaseContext, *, membership_id: int, reason: str | None) -> BlockOutcome:
    """An administrator blocks a member of their company: that membership only (the person's other companies are
    not this company's to decide), its sessions end."""
    actor = ctx.require(Permission.USER_DEACTIVATE)
    text = _reason(reason, "reason", required=True)
    member = await _member(ctx, membership_id)
    if member.user_id == actor.user_id:
        raise DomainError(ErrorCode.SELF_ACTION, "Block your own access with blockMyAccess", "memberId")
    if member.blocked_at is not None:
        raise DomainError(ErrorCode.INVALID_STATE, "The user's access is already blocked", "memberId")
    outcome = BlockOutcome([], 0, 0, 0)
    await _block(ctx, member, text, outcome, by_self=False)
    ended = await ctx.session.execute(
        update(AuthSession).where(AuthSession.membership_id == member.id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=SESSION_ENDED))
    outcome.sessions_ended = _count(ended)
    await ctx.session.flush()
    outcome.memberships = [await load_member(ctx.session, member)]
    return outcome


async def unblock_member(ctx: UseCaseContext, *, membership_id: int) -> Membership:
    """An administrator lifts a member's block, and the misuse blocks of the member's cards; the person signs in
    again (their ended sessions stay ended) and sets their recurring purchases going again themselves."""
    actor = ctx.require(Permission.USER_DEACTIVATE)
    member = await _member(ctx, membership_id)
    if member.user_id == actor.user_id:
        raise DomainError(ErrorCode.SELF_ACTION, "Another administrator must unblock your access", "memberId")
    if member.blocked_at is None:
        raise DomainError(ErrorCode.INVALID_STATE, "The user's access is not blocked", "memberId")
    before = {"blocked_at": member.blocked_at.isoformat(), "reason": member.block_reason}
    member.blocked_at, member.block_reason = None, None
    lifted = await ctx.session.execute(
        company_update(Card, member).where(
            Card.holder_id == member.id, Card.status == CardStatus.BLOCKED.value,
            Card.block_reason == CardBlockReason.MISUSE.value)
        .values(status=CardStatus.ACTIVE.value, block_reason=None, blocked_at=None, blocked_by_id=None,
                updated_at=utcnow()))
    await audit(ctx, "user", member.id, "unblock", before=before, after={"cards_unblocked": _count(lifted)})
    await ctx.session.flush()
    return await load_member(ctx.session, member)


async def _member(ctx: UseCaseContext, membership_id: int) -> Membership:
    actor = ctx.require_signed_in()
    # The company row first, as every change to a company's members takes it: changes to its members serialize.
    await ctx.session.get_one(Company, actor.company_id, with_for_update=True)
    member = await find_member(ctx.session, actor, membership_id, for_update=True)
    if member is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user", "memberId")
    return member


async def _block(ctx: UseCaseContext, member: Membership, reason: str, outcome: BlockOutcome, *,
                 by_self: bool) -> None:
    now = utcnow()
    member.blocked_at, member.block_reason = now, reason
    cards = await block_cards_of(ctx, member)
    stopped = await stop_recurring_orders_of(ctx, member.id)
    outcome.cards_blocked += cards
    outcome.recurring_orders_stopped += stopped
    await audit(ctx, "user", member.id, "block", company_id=member.company_id,
                after={"by": "self" if by_self else "administrator", "reason": reason, "cards_blocked": cards,
                       "recurring_orders_stopped": stopped})


async def block_cards_of(ctx: UseCaseContext, member: Membership) -> int:
    """Block the member's live cards for misuse; cards already blocked keep their own reason."""
    actor = ctx.require_signed_in()
    now = utcnow()
    blocked = await ctx.session.execute(
        company_update(Card, member).where(Card.holder_id == member.id, Card.status == CardStatus.ACTIVE.value)
        .values(status=CardStatus.BLOCKED.value, block_reason=CardBlockReason.MISUSE.value, blocked_at=now,
                blocked_by_id=actor.user_id, updated_at=now))
    return _count(blocked)
