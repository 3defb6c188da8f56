"""The Approve and Reject links of approval emails: signed, expiring, bound to one approver, one step, one action.

A link is a JWT (HS256) whose key is derived from JWT_SECRET with a purpose label of its own, and whose
audience is "approval-link": an access token never verifies as a link, nor a link as an access token.
Its claims name the approver (membership), the step, the order and the action, with an expiry
(APPROVAL_LINK_HOURS) and a random jti. No row stores it: a link is single-use because the step it
names is decided once. Once decided (by this approver, through this link or any other way), every link
of the step says so and changes nothing; a step no longer current, an order no longer pending approval,
or an approver no longer eligible (role changed, deactivated, restricted, delegation ended) makes the
link "superseded".

Opening a link (GET) only reads (`inspect_link`): mail scanners and link previews fetch links. Confirming
(`decide_by_link`) locks the order and decides exactly as approveOrder / rejectOrder do (resolvers.approval
decide), acting as the approver the link names: the link is their credential for this one step only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any

import jwt
from sqlalchemy import select

from models import Membership, MembershipStatus, Order, OrderApprovalStep, PermissionRestriction, Role, User
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.order_state import OrderStatus
from policies.actor import Actor
from policies.permissions import Permission
from policies.scopes import company_rows, cross_company, eligible_step
from resolvers.context import UseCaseContext
from resolvers.links import link_url
from resolvers.throttle import hold, record_failure, throttle_keys
from settings import Settings

AUDIENCE = "approval-link"
ALGORITHM = "HS256"
KEY_LABEL = b"procura approval link v1"
PATH = "approval"


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Outcome(StrEnum):
    """What a link page says: the form (READY), a decision made, or why nothing was changed."""

    READY = "ready"
    APPROVED = "approved"
    REJECTED = "rejected"
    REASON_REQUIRED = "reason_required"
    INVALID = "invalid"
    EXPIRED = "expired"
    DECIDED_BY_YOU = "decided_by_you"
    DECIDED_BY_OTHER = "decided_by_other"
    SUPERSEDED = "superseded"
    OWN_ORDER = "own_order"
    TOO_MANY = "too_many"


@dataclass(frozen=True)
class LinkClaims:
    membership_id: int
    step_id: int
    order_id: int
    action: Action


@dataclass
class LinkResult:
    outcome: Outcome
    action: Action | None = None
    order: Order | None = None
    step: OrderApprovalStep | None = None
    actor: Actor | None = None
    detail: str = ""  # a decision ("approved"/"rejected") or an order status, for the page's words
    number: str = ""  # the order's number (kept apart from `order`, which a rollback expires)
    extra: dict[str, Any] = field(default_factory=dict)


def _key(settings: Settings) -> bytes:
    """The links' own key: HMAC(JWT_SECRET, purpose label), never the access tokens' key itself."""
    return hmac.new(settings.jwt_secret.encode(), KEY_LABEL, hashlib.sha256).digest()


def sign(settings: Settings, claims: LinkClaims, *, hours: float | None = None) -> str:
    now = utcnow()
    expires = now + timedelta(hours=settings.approval_link_hours if hours is None else hours)
    payload = {"iss": settings.jwt_issuer, "aud": AUDIENCE, "mid": claims.membership_id, "step": claims.step_id,
               "order": claims.order_id, "act": claims.action.value, "iat": int(now.timestamp()),
               "exp": int(expires.timestamp()), "jti": secrets.token_urlsafe(12)}
    return jwt.encode(payload, _key(settings), algorithm=ALGORITHM)


class BadLink(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.value)
        self.outcome = outcome


def read(settings: Settings, token: str) -> LinkClaims:
    """The verified claims of a link; BadLink(EXPIRED) for an expired one, BadLink(INVALID) for anything else
    (garbled, forged, tampered with, an access token)."""
    try:
        payload = jwt.decode(token, _key(settings), algorithms=[ALGORITHM], audience=AUDIENCE,
                             issuer=settings.jwt_issuer,
                             options={"require": ["exp", "iat", "iss", "aud", "mid", "step", "order", "act", "jti"]})
        return LinkClaims(_int(payload["mid"]), _int(payload["step"]), _int(payload["order"]), Action(payload["act"]))
    except jwt.ExpiredSignatureError:
        raise BadLink(Outcome.EXPIRED) from None
    except (jwt.PyJWTError, ValueError, TypeError):
        raise BadLink(Outcome.INVALID) from None


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("not an id")
    return value


def urls(ctx: UseCaseContext, *, membership_id: int, step: OrderApprovalStep) -> tuple[str, str]:
    """The Approve and Reject addresses of `step` for this approver."""
    return tuple(link_url(ctx, PATH, sign(ctx.settings, LinkClaims(membership_id, step.id, step.order_id, action)))
                 for action in (Action.APPROVE, Action.REJECT))  # type: ignore[return-value]


WHO = "the approver an approval link names (the link is their credential for one step)"


async def link_actor(ctx: UseCaseContext, membership_id: int) -> Actor | None:
    """The approver as the use cases know a caller (role, restrictions), without a sign-in session; None when
    the membership is gone or not active."""
    row = (await ctx.session.execute(cross_company(
        select(Membership.user_id, Membership.company_id, Membership.role, Membership.status)
        .join(User, User.id == Membership.user_id).where(Membership.id == membership_id), WHO))).one_or_none()
    if row is None or row.status != MembershipStatus.ACTIVE.value:
        return None
    restricted = await ctx.session.scalars(cross_company(
        select(PermissionRestriction.permission).where(PermissionRestriction.membership_id == membership_id), WHO))
    return Actor(row.user_id, None, membership_id, row.company_id, Role(row.role), frozenset(restricted.all()),
                 False)


async def eligible_steps_of(ctx: UseCaseContext, actor: Actor, steps: list[OrderApprovalStep]) -> list[int]:
    """The ids among `steps` that `actor` may decide now (the SQL eligibility of approveOrder)."""
    if not steps or not ctx.services.authorizer.allows(actor, Permission.ORDER_APPROVE):
        return []
    return list((await ctx.session.scalars(company_rows(OrderApprovalStep, actor, OrderApprovalStep.id).where(
        OrderApprovalStep.id.in_([s.id for s in steps]), eligible_step(actor)).order_by(OrderApprovalStep.id))).all())


async def _examine(ctx: UseCaseContext, claims: LinkClaims, *, lock: bool) -> LinkResult:
    """Whether the link may decide its step now: READY (with the order, step and actor) or why not."""
    actor = await link_actor(ctx, claims.membership_id)
    if actor is None:
        return LinkResult(Outcome.SUPERSEDED, claims.action, detail="approver")
    query = company_rows(Order, actor).where(Order.id == claims.order_id)
    order = await ctx.session.scalar(query.with_for_update() if lock else query)
    step = await ctx.session.scalar(company_rows(OrderApprovalStep, actor).where(
        OrderApprovalStep.id == claims.step_id, OrderApprovalStep.order_id == claims.order_id)) if order else None
    if order is None or step is None:
        return LinkResult(Outcome.INVALID, claims.action)
    result = LinkResult(Outcome.READY, claims.action, order, step, actor, number=order.number)
    if step.decision is not None:
        mine = step.decided_by_id == claims.membership_id
        result.outcome, result.detail = (Outcome.DECIDED_BY_YOU if mine else Outcome.DECIDED_BY_OTHER), step.decision
    elif order.buyer_id == claims.membership_id:
        result.outcome = Outcome.OWN_ORDER
    elif order.status != OrderStatus.PENDING_APPROVAL.value:
        result.outcome, result.detail = Outcome.SUPERSEDED, order.status
    elif not step.is_current or claims.step_id not in await eligible_steps_of(ctx, actor, [step]):
        result.outcome, result.detail = Outcome.SUPERSEDED, "step"
    return result


async def inspect_link(ctx: UseCaseContext, token: str) -> LinkResult:
    """What opening the link shows (reads only: a GET never decides)."""
    try:
        claims = read(ctx.settings, token)
    except BadLink as bad:
        return LinkResult(bad.outcome)
    return await _examine(ctx, claims, lock=False)


async def decide_by_link(ctx: UseCaseContext, token: str, reason: str) -> LinkResult:
    """Confirming the link's page: decide its step as approveOrder / rejectOrder would, as the approver it names.

    A garbled or forged link counts as a failed sign-in from the client's address (the link is a credential),
    so guessing is throttled like password guessing; while the address is locked out, nothing is examined.
    The caller commits what this wrote whatever the outcome (a decision, or a failure's count)."""
    keys = throttle_keys("", ctx.client_address)[1:]  # the address's key only: a link names no typed email
    if await hold(ctx, keys):
        return LinkResult(Outcome.TOO_MANY)
    try:
        claims = read(ctx.settings, token)
    except BadLink as bad:
        if bad.outcome is Outcome.INVALID:
            await record_failure(ctx, keys)
        return LinkResult(bad.outcome)
    result = await _examine(ctx, claims, lock=True)
    if result.outcome is not Outcome.READY:
        return result
    comment = reason.strip()
    if claims.action is Action.REJECT and not comment:
        result.outcome = Outcome.REASON_REQUIRED
        return result
    from resolvers.approval import decide  # approval.py sends the emails that carry links: import late

    acting = UseCaseContext(services=ctx.services, session=ctx.session, actor=result.actor,
                            client_address=ctx.client_address, queued_mail=ctx.queued_mail)
    try:
        await decide(acting, order_id=claims.order_id, approve=claims.action is Action.APPROVE, comment=comment)
    except DomainError as error:  # the checks above make these unreachable but for a race they lost
        result.outcome = {ErrorCode.SELF_APPROVAL: Outcome.OWN_ORDER}.get(error.code, Outcome.SUPERSEDED)
        raise LinkDecisionFailed(result) from error
    result.outcome = Outcome.APPROVED if claims.action is Action.APPROVE else Outcome.REJECTED
    return result


class LinkDecisionFailed(Exception):
    """The use case refused after the link's checks passed: roll back, and show `result`."""

    def __init__(self, result: LinkResult) -> None:
        super().__init__(result.outcome.value)
        self.result = result
