"""Blocking access on suspected misuse: blockMyAccess, blockMember, unblockMember."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers import access_block as use_cases
from schema.errors import INPUT, MutationError, run_mutation
from schema.relay import decode_id
from schema.user import User, UserResult, user_payload


@strawberry.input(description="Blocking your own access; the reason is optional.")
class BlockMyAccessInput:
    reason: str | None = strawberry.field(
        default=None, description="Why, in a few words (at most 500 characters), for the administrators.")


@strawberry.input(description="A member whose access to block, and why.")
class BlockMemberInput:
    member_id: strawberry.ID = strawberry.field(description="The user (a member of your company).")
    reason: str = strawberry.field(description="Why (at most 500 characters); kept on the user and in the audit log.")


@strawberry.input(description="A member whose access to give back.")
class UnblockMemberInput:
    member_id: strawberry.ID = strawberry.field(description="The blocked user.")


@strawberry.type(description="The access that was blocked and what ended with it.")
class BlockAccessPayload:
    users: list[User] = strawberry.field(
        description="The memberships blocked: for blockMyAccess every one of yours, in every company; for "
                    "blockMember the member.")
    sessions_ended: int = strawberry.field(
        description="Sign-in sessions ended: their access tokens are refused from the next request, their refresh "
                    "tokens refused.")
    cards_blocked: int = strawberry.field(description="Live company cards blocked (reason misuse).")
    recurring_orders_stopped: int = strawberry.field(description="Recurring purchases stopped.")
    message: str = strawberry.field(description="What happened and what happens next.")


BlockAccessResult = Annotated[
    BlockAccessPayload | MutationError,
    strawberry.union("BlockAccessResult", description="Result of blocking access."),
]

SELF_MESSAGE = ("Your access is blocked and you are signed out everywhere; an administrator of the company can "
                "unblock it")
MEMBER_MESSAGE = "The user's access is blocked and their sessions in the company ended"


def _payload(message: str):
    def present(outcome: use_cases.BlockOutcome) -> BlockAccessPayload:
        return BlockAccessPayload(
            users=[User.from_model(m) for m in outcome.memberships], sessions_ended=outcome.sessions_ended,
            cards_blocked=outcome.cards_blocked, recurring_orders_stopped=outcome.recurring_orders_stopped,
            message=message)
    return present


@strawberry.type
class AccessBlockMutation:
    @strawberry.mutation(description=(
        "Block your own access at once on suspected misuse (a lost phone, a password or token others may have): "
        "every membership of yours in every company is blocked, every session of yours ends (you are signed "
        "out), your company cards are blocked and your recurring purchases stopped. Only an administrator of "
        "each company can unblock it. Open to every signed-in person."))
    async def block_my_access(
        self, info: strawberry.Info,
        input: Annotated[BlockMyAccessInput | None, INPUT] = None,
    ) -> BlockAccessResult:
        reason = input.reason if input else None
        return await run_mutation(info, lambda ctx: use_cases.block_my_access(ctx, reason=reason),
                                  _payload(SELF_MESSAGE))

    @strawberry.mutation(description=(
        "Block a member's access to the company on suspected misuse: their sessions in the company end, their "
        "company cards are blocked and their recurring purchases stopped. Not yourself (use blockMyAccess). "
        "Requires `user:deactivate` (administrators)."))
    async def block_member(self, info: strawberry.Info, input: Annotated[BlockMemberInput, INPUT]) -> BlockAccessResult:
        return await run_mutation(info, lambda ctx: use_cases.block_member(
            ctx, membership_id=decode_id(input.member_id, "User") or 0, reason=input.reason),
            _payload(MEMBER_MESSAGE))

    @strawberry.mutation(description=(
        "Give a blocked member their access back; their cards blocked for misuse are unblocked (not those blocked "
        "for wrong PINs or by a person), their recurring purchases stay stopped until they set them going. Not "
        "yourself. Requires `user:deactivate` (administrators)."))
    async def unblock_member(self, info: strawberry.Info, input: Annotated[UnblockMemberInput, INPUT]) -> UserResult:
        return await run_mutation(info, lambda ctx: use_cases.unblock_member(
            ctx, membership_id=decode_id(input.member_id, "User") or 0), user_payload)
