"""Delegation while away: an approver's absence with a substitute, who decides in their place meanwhile.

The substitute's eligibility is SQL (policies.scopes, `_delegated_step_condition`): whatever the absent
approver could decide by name or role is offered to the substitute while the absence holds. An
approver sets their own absence (`order:approve`); whoever manages the approval rules
(`approval_rule:manage`, administrators) decides who approves, so they may set it for any approver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, or_

from models import ApprovalDelegation, Membership, MembershipStatus, OrderApprovalStep, User
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import company_rows, find_member
from resolvers.audit import audit
from resolvers.context import UseCaseContext


@dataclass
class DelegationView:
    delegation: ApprovalDelegation
    approver_name: str
    delegate_name: str


def _name(first: str | None, last: str | None, email: str) -> str:
    return f"{first or ''} {last or ''}".strip() or email


def _may_approve(ctx: UseCaseContext, member: Membership) -> bool:
    """Active, with a role that approves, and not restricted from approving."""
    return (member.status == MembershipStatus.ACTIVE.value
            and ctx.services.authorizer.role_allows(member.role, Permission.ORDER_APPROVE)
            and all(r.permission != Permission.ORDER_APPROVE.value for r in member.restrictions))


async def set_delegate(
    ctx: UseCaseContext, *, delegate_id: int, starts_at: datetime | None, ends_at: datetime, approver_id: int | None,
) -> DelegationView:
    """The approver (the caller, or with `approval_rule:manage` any approver) is away from `starts_at`
    (default now) until `ends_at`; absences of theirs that overlap it end, replaced by this one."""
    actor = ctx.require_signed_in()
    for_another = approver_id is not None and approver_id != actor.membership_id
    ctx.require(Permission.APPROVAL_RULE_MANAGE if for_another else Permission.ORDER_APPROVE)
    approver = await find_member(ctx.session, actor, approver_id or actor.membership_id or 0)
    if approver is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user", "approverId")
    if not _may_approve(ctx, approver):
        raise DomainError(ErrorCode.INVALID_INPUT, "This user does not approve orders", "approverId")
    delegate = await find_member(ctx.session, actor, delegate_id)
    if delegate is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such user", "delegateId")
    if delegate.id == approver.id:
        raise DomainError(ErrorCode.INVALID_INPUT, "The substitute must be someone else", "delegateId")
    if not _may_approve(ctx, delegate):
        raise DomainError(ErrorCode.INVALID_INPUT, "The substitute must be an active user who approves orders",
                          "delegateId")
    now = utcnow()
    starts_at = starts_at or now
    if ends_at <= now:
        raise DomainError(ErrorCode.INVALID_INPUT, "The absence must end in the future", "until")
    if starts_at >= ends_at:
        raise DomainError(ErrorCode.INVALID_INPUT, "The absence must start before it ends", "from")
    overlapping = (await ctx.session.scalars(company_rows(ApprovalDelegation, actor).where(
        ApprovalDelegation.approver_id == approver.id, ApprovalDelegation.cancelled_at.is_(None),
        ApprovalDelegation.ends_at > starts_at, ApprovalDelegation.starts_at < ends_at))).all()
    for earlier in overlapping:
        earlier.cancelled_at = now
    delegation = ApprovalDelegation(company_id=approver.company_id, approver_id=approver.id, delegate_id=delegate.id,
                                    starts_at=starts_at, ends_at=ends_at, created_by_id=actor.membership_id)
    ctx.session.add(delegation)
    await ctx.session.flush()
    await audit(ctx, "user", approver.id, "set_approval_delegate", before={"replaced": [d.id for d in overlapping]},
                after={"delegation": delegation.id, "delegate": delegate.id, "from": starts_at.isoformat(),
                       "until": ends_at.isoformat()})
    return DelegationView(delegation, _name(approver.user.first_name, approver.user.last_name, approver.user.email),
                          _name(delegate.user.first_name, delegate.user.last_name, delegate.user.email))


async def cancel_delegation(ctx: UseCaseContext, *, delegation_id: int) -> DelegationView:
    """End an absence now (the approver's own, or any with `approval_rule:manage`)."""
    actor = ctx.require(Permission.ORDER_APPROVE)
    found = await _views(ctx, _visible(ctx, actor).where(ApprovalDelegation.id == delegation_id), for_update=True)
    if not found:
        raise DomainError(ErrorCode.NOT_FOUND, "No such delegation", "id")
    delegation = found[0].delegation
    if not ctx.allows(Permission.APPROVAL_RULE_MANAGE) and delegation.approver_id != actor.membership_id:
        # The substitute sees it, but it is not theirs to end.
        raise DomainError(ErrorCode.NOT_FOUND, "No such delegation", "id")
    now = utcnow()
    if delegation.cancelled_at is not None or delegation.ends_at <= now:
        raise DomainError(ErrorCode.INVALID_STATE, "The absence has already ended", "id")
    delegation.cancelled_at = now
    await audit(ctx, "user", delegation.approver_id, "cancel_approval_delegate",
                before={"delegation": delegation.id, "until": delegation.ends_at.isoformat()})
    await ctx.session.flush()
    return found[0]


def _visible(ctx: UseCaseContext, actor: Actor) -> Select:
    """All the company's delegations with `approval_rule:manage`; else those the caller is away in or stands in."""
    query = company_rows(ApprovalDelegation, actor)
    if not ctx.allows(Permission.APPROVAL_RULE_MANAGE):
        query = query.where(or_(ApprovalDelegation.approver_id == actor.membership_id,
                                ApprovalDelegation.delegate_id == actor.membership_id))
    return query


async def list_delegations(ctx: UseCaseContext, *, include_ended: bool) -> list[DelegationView]:
    actor = ctx.require(Permission.ORDER_APPROVE)
    query = _visible(ctx, actor)
    if not include_ended:
        query = query.where(ApprovalDelegation.cancelled_at.is_(None), ApprovalDelegation.ends_at > utcnow())
    return await _views(ctx, query.order_by(ApprovalDelegation.starts_at, ApprovalDelegation.id).limit(500))


async def get_delegation(ctx: UseCaseContext, delegation_id: int) -> DelegationView | None:
    if not ctx.allows(Permission.ORDER_APPROVE):
        return None
    found = await _views(ctx, _visible(ctx, ctx.require_signed_in()).where(ApprovalDelegation.id == delegation_id))
    return found[0] if found else None


async def _views(ctx: UseCaseContext, query: Select, *, for_update: bool = False) -> list[DelegationView]:
    if for_update:
        query = query.with_for_update()
    delegations = list((await ctx.session.scalars(query)).all())
    names = await member_names(ctx, delegations, {m for d in delegations for m in (d.approver_id, d.delegate_id)})
    return [DelegationView(d, names.get(d.approver_id, "?"), names.get(d.delegate_id, "?")) for d in delegations]


async def member_names(ctx: UseCaseContext, rows: list, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    found = await ctx.session.execute(
        company_rows(Membership, rows, Membership.id, User.first_name, User.last_name, User.email)
        .join(User, User.id == Membership.user_id).where(Membership.id.in_(ids)))
    return {mid: _name(first, last, email) for mid, first, last, email in found}


# --- deciding in an absent approver's place ---------------------------------------------------------------------

async def absences_covered(ctx: UseCaseContext, actor: Actor) -> list[tuple[int, str, str]]:
    """The approvers (id, role, name) whose substitute the caller is now."""
    now = utcnow()
    rows = await ctx.session.execute(
        company_rows(ApprovalDelegation, actor, Membership.id, Membership.role, User.first_name, User.last_name,
                     User.email)
        .join(Membership, Membership.id == ApprovalDelegation.approver_id).join(User, User.id == Membership.user_id)
        .where(ApprovalDelegation.delegate_id == actor.membership_id, ApprovalDelegation.cancelled_at.is_(None),
               ApprovalDelegation.starts_at <= now, ApprovalDelegation.ends_at > now)
        .order_by(ApprovalDelegation.starts_at, ApprovalDelegation.id))
    return [(mid, role, _name(first, last, email)) for mid, role, first, last, email in rows]


def on_behalf_of(actor: Actor, step: OrderApprovalStep, covered: list[tuple[int, str, str]]) -> tuple[int, str] | None:
    """Whom the caller decides `step` for: nobody when they could decide it themselves, else the first
    absent approver they stand in for who could (the step was found eligible, so one of them could)."""
    keys = step.approver_keys
    if f" member:{actor.membership_id} " in keys or (actor.role is not None and f" role:{actor.role.value} " in keys):
        return None
    for member_id, role, name in covered:
        if f" member:{member_id} " in keys or f" role:{role} " in keys:
            return member_id, name
    return None


async def with_substitutes(ctx: UseCaseContext, order, approvers: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Approvers (id, email) of an order's steps, and after them the substitutes of those who are away now
    (active, not the order's buyer, not approvers already): approval emails go to them too."""
    if not approvers:
        return []
    known = {member_id for member_id, _ in approvers}
    return approvers + [s for s in await _substitutes_of(ctx, order, sorted(known)) if s[0] not in known]


async def _substitutes_of(ctx: UseCaseContext, order, approver_ids: list[int]) -> list[tuple[int, str]]:
    now = utcnow()
    rows = await ctx.session.execute(
        company_rows(ApprovalDelegation, order, Membership.id, User.email)
        .join(Membership, Membership.id == ApprovalDelegation.delegate_id).join(User, User.id == Membership.user_id)
        .where(ApprovalDelegation.approver_id.in_(approver_ids), ApprovalDelegation.cancelled_at.is_(None),
               ApprovalDelegation.starts_at <= now, ApprovalDelegation.ends_at > now,
               Membership.status == MembershipStatus.ACTIVE.value, Membership.id != order.buyer_id)
        .order_by(Membership.id).distinct())
    return [(mid, email) for mid, email in rows]


async def decide_on_behalf(ctx: UseCaseContext, actor: Actor, steps: list[OrderApprovalStep]) -> list[str]:
    """Record on each step whom the caller decided it for; the names of those absent approvers."""
    covered = await absences_covered(ctx, actor)
    names: list[str] = []
    for step in steps:
        found = on_behalf_of(actor, step, covered) if covered else None
        if found is not None:
            step.on_behalf_of_id = found[0]
            if found[1] not in names:
                names.append(found[1])
    return names


def with_on_behalf(comment: str, names: list[str]) -> str:
    """The timeline's comment of a decision: says whom it was made for."""
    if not names:
        return comment
    behalf = "on behalf of " + ", ".join(names)
    return f"{comment} ({behalf})" if comment else behalf[0].upper() + behalf[1:]
