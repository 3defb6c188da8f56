"""Delegation while away: an approver's absence with the substitute who decides in their place."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from models.base import utcnow
from resolvers import delegation as use_cases
from resolvers.delegation import DelegationView
from schema.errors import INPUT, MutationError, run_mutation
from schema.relay import Node, decode_id, optional_id, to_global_id


@strawberry.type(description=(
    "An approver's absence: from `from` until `until` (UTC), whatever they could decide is offered to the "
    "substitute too, approval emails go to the substitute, and each such decision records whom it was made for."))
class ApprovalDelegation(Node):
    approver_id: strawberry.ID = strawberry.field(description="The absent approver (a User id).")
    approver_name: str = strawberry.field(description="The absent approver's name.")
    delegate_id: strawberry.ID = strawberry.field(description="The substitute (a User id).")
    delegate_name: str = strawberry.field(description="The substitute's name.")
    from_: datetime = strawberry.field(name="from", description="When the absence starts (UTC).")
    until: datetime = strawberry.field(description="When it ends (UTC).")
    created_at: datetime = strawberry.field(description="When it was set (UTC).")
    cancelled_at: datetime | None = strawberry.field(description="When it was ended early or replaced, if it was.")
    active: bool = strawberry.field(description="Whether it holds now.")

    @classmethod
    def from_view(cls, view: DelegationView) -> ApprovalDelegation:
        d, now = view.delegation, utcnow()
        return cls(
            id=to_global_id("ApprovalDelegation", d.id), approver_id=to_global_id("User", d.approver_id),
            approver_name=view.approver_name, delegate_id=to_global_id("User", d.delegate_id),
            delegate_name=view.delegate_name, from_=d.starts_at, until=d.ends_at, created_at=d.created_at,
            cancelled_at=d.cancelled_at, active=d.cancelled_at is None and d.starts_at <= now < d.ends_at)


@strawberry.input(description="An absence: who stands in, and when.")
class SetApprovalDelegateInput:
    delegate_id: strawberry.ID = strawberry.field(description=(
        "The substitute: an active user of the company who may approve orders, not the absent approver."))
    from_: datetime | None = strawberry.field(
        default=None, name="from", description="When the absence starts (default: now).")
    until: datetime = strawberry.field(description="When it ends: in the future, after `from`.")
    approver_id: strawberry.ID | None = strawberry.field(default=None, description=(
        "The absent approver (default: you); someone else's requires `approval_rule:manage` (administrators)."))


@strawberry.input(description="An absence to end now.")
class CancelApprovalDelegationInput:
    id: strawberry.ID = strawberry.field(description="The delegation.")


@strawberry.type(description="The delegation after the change.")
class ApprovalDelegationPayload:
    delegation: ApprovalDelegation = strawberry.field(description="The delegation.")


ApprovalDelegationResult = Annotated[
    ApprovalDelegationPayload | MutationError,
    strawberry.union("ApprovalDelegationResult",
                     description="Result of setApprovalDelegate and cancelApprovalDelegation."),
]


def _payload(view: DelegationView) -> ApprovalDelegationPayload:
    return ApprovalDelegationPayload(delegation=ApprovalDelegation.from_view(view))


async def fetch_delegation(ctx, pk: int) -> ApprovalDelegation | None:
    view = await use_cases.get_delegation(ctx, pk)
    return ApprovalDelegation.from_view(view) if view else None


@strawberry.type
class DelegationQuery:
    @strawberry.field(description=(
        "Absences: the company's with `approval_rule:manage` (administrators), else those you are away in or "
        "stand in for. Requires `order:approve`."))
    async def approval_delegations(
        self, info: strawberry.Info,
        include_ended: Annotated[bool, strawberry.argument(
            description="Also those that ended or were cancelled (the latest 500).")] = False,
    ) -> list[ApprovalDelegation]:
        async with info.context.reading() as ctx:
            return [ApprovalDelegation.from_view(v)
                    for v in await use_cases.list_delegations(ctx, include_ended=include_ended)]


@strawberry.type
class DelegationMutation:
    @strawberry.mutation(description=(
        "Set an approver's absence with a substitute; absences of theirs that overlap it are replaced. Your own "
        "requires `order:approve`; another approver's `approval_rule:manage`."))
    async def set_approval_delegate(
        self, info: strawberry.Info, input: Annotated[SetApprovalDelegateInput, INPUT],
    ) -> ApprovalDelegationResult:
        return await run_mutation(info, lambda ctx: use_cases.set_delegate(
            ctx, delegate_id=decode_id(input.delegate_id, "User") or 0, starts_at=input.from_, ends_at=input.until,
            approver_id=optional_id(input.approver_id, "User")), _payload)

    @strawberry.mutation(description=(
        "End an absence now: your own (`order:approve`), or any with `approval_rule:manage`."))
    async def cancel_approval_delegation(
        self, info: strawberry.Info, input: Annotated[CancelApprovalDelegationInput, INPUT],
    ) -> ApprovalDelegationResult:
        return await run_mutation(info, lambda ctx: use_cases.cancel_delegation(
            ctx, delegation_id=decode_id(input.id, "ApprovalDelegation") or 0), _payload)
