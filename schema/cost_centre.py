"""Cost centres (invoice recipients) and users' attachment to them."""

from __future__ import annotations

from typing import Annotated

import strawberry

from models import CostCentre as CostCentreModel
from resolvers import cost_centre as use_cases
from schema.company import Address, AddressInput
from schema.errors import INPUT, MutationError, run_mutation
from schema.relay import Node, decode_id, optional_id, to_global_id


@strawberry.type(description="A cost centre (invoice recipient) that orders are booked to.")
class CostCentre(Node):
    name: str = strawberry.field(description="Name.")
    code: str = strawberry.field(description="Code, unique within the company.")
    invoice_address: Address = strawberry.field(description="Where its invoices go.")
    active: bool = strawberry.field(description="Whether new orders may be booked to it.")
    invoice_reference: str = strawberry.field(
        description="Reference printed on its invoices (the recipient's own); empty when none.")

    @classmethod
    def from_model(cls, c: CostCentreModel) -> CostCentre:
        return cls(id=to_global_id("CostCentre", c.id), name=c.name, code=c.code, active=c.active,
                   invoice_reference=c.invoice_reference or "",
                   invoice_address=Address(street=c.street, postal_code=c.postal_code, city=c.city))


@strawberry.input(description="A cost centre; with `id` it replaces that cost centre's settings.")
class CostCentreInput:
    id: strawberry.ID | None = strawberry.field(
        default=None, description="The cost centre to change; omit to create one.")
    name: str = strawberry.field(description="Name.")
    code: str = strawberry.field(description="Code, unique within the company.")
    invoice_address: AddressInput = strawberry.field(description="Where its invoices go.")
    active: bool = strawberry.field(default=True, description="Whether new orders may be booked to it.")
    invoice_reference: str | None = strawberry.field(
        default=None, description="Reference printed on its invoices; omit to keep it (empty for a new one).")


@strawberry.input(description="The cost centres a user may book to.")
class SetUserCostCentresInput:
    user_id: strawberry.ID = strawberry.field(description="The user.")
    cost_centre_ids: list[strawberry.ID] = strawberry.field(
        description="Their cost centres (replaces the current set).")
    default_id: strawberry.ID | None = strawberry.field(default=None, description="Their default (default: the first).")


@strawberry.type(description="The cost centre after the change.")
class CostCentrePayload:
    cost_centre: CostCentre = strawberry.field(description="The cost centre.")


@strawberry.type(description="A user's cost centres after the change.")
class UserCostCentresPayload:
    user_id: strawberry.ID = strawberry.field(description="The user.")
    cost_centres: list[CostCentre] = strawberry.field(description="Their cost centres.")
    default_id: strawberry.ID | None = strawberry.field(description="Their default cost centre.")


CostCentreResult = Annotated[
    CostCentrePayload | MutationError, strawberry.union("CostCentreResult", description="Result of saveCostCentre.")
]
UserCostCentresResult = Annotated[
    UserCostCentresPayload | MutationError,
    strawberry.union("UserCostCentresResult", description="Result of setUserCostCentres."),
]


@strawberry.type
class CostCentreQuery:
    @strawberry.field(
        description="All cost centres with `cost_centre:read` (administrators, managers); buyers see their own.")
    async def cost_centres(self, info: strawberry.Info) -> list[CostCentre]:
        async with info.context.reading() as ctx:
            return [CostCentre.from_model(c) for c in await use_cases.list_cost_centres(ctx)]


@strawberry.type
class CostCentreMutation:
    @strawberry.mutation(description="Create or change a cost centre. Requires `cost_centre:manage` (administrators).")
    async def save_cost_centre(
        self, info: strawberry.Info, input: Annotated[CostCentreInput, INPUT],
    ) -> CostCentreResult:
        spec = use_cases.CostCentreSpec(input.name, input.code, input.invoice_address.street,
                                        input.invoice_address.postal_code, input.invoice_address.city, input.active,
                                        input.invoice_reference)
        return await run_mutation(info, lambda ctx: use_cases.save_cost_centre(
            ctx, cost_centre_id=optional_id(input.id, "CostCentre"), spec=spec),
            lambda c: CostCentrePayload(cost_centre=CostCentre.from_model(c)))

    @strawberry.mutation(
        description="Attach a user to cost centres and choose their default. Requires `cost_centre:manage`.")
    async def set_user_cost_centres(
        self, info: strawberry.Info, input: Annotated[SetUserCostCentresInput, INPUT],
    ) -> UserCostCentresResult:
        async def use_case(ctx):
            member = await use_cases.set_user_cost_centres(
                ctx, membership_id=decode_id(input.user_id, "User") or 0,
                cost_centre_ids=[decode_id(c, "CostCentre") or 0 for c in input.cost_centre_ids],
                default_id=optional_id(input.default_id, "CostCentre"))
            return member.id, (await use_cases.member_cost_centres(ctx, [member.id]))[member.id]

        def present(result) -> UserCostCentresPayload:
            member_id, centres = result
            default = next((c for c, d in centres if d), None)
            return UserCostCentresPayload(user_id=to_global_id("User", member_id),
                                          cost_centres=[CostCentre.from_model(c) for c, _ in centres],
                                          default_id=to_global_id("CostCentre", default.id) if default else None)
        return await run_mutation(info, use_case, present)
