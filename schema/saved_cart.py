"""Saved carts: queries and mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from models import Product as ProductModel
from models import SavedCart as SavedCartModel
from resolvers import saved_cart as use_cases
from schema.catalogue import Product
from schema.errors import INPUT, MutationError, run_mutation
from schema.order import OrderPayload, OrderResult
from schema.order_types import order_from_view
from schema.relay import Node, decode_id, to_global_id


@strawberry.type(description="A line of a saved cart.")
class SavedCartLine:
    product: Product = strawberry.field(description="The product, with its current price.")
    quantity: int = strawberry.field(description="Quantity.")
    substitution_allowed: bool = strawberry.field(description="Whether it may be replaced if out of stock.")


@strawberry.type(description="A named cart saved for re-ordering.")
class SavedCart(Node):
    name: str = strawberry.field(description="Name, unique per owner.")
    shared: bool = strawberry.field(description="Whether the whole company sees it (set by an administrator).")
    owned_by_me: bool = strawberry.field(description="Whether the caller owns it (and may edit it).")
    lines: list[SavedCartLine] = strawberry.field(description="The lines.")
    updated_at: datetime = strawberry.field(description="Last change (UTC).")

    @classmethod
    def from_model(cls, cart: SavedCartModel, products: dict[int, ProductModel], me: int | None) -> SavedCart:
        return cls(
            id=to_global_id("SavedCart", cart.id), name=cart.name, shared=cart.shared, owned_by_me=cart.owner_id == me,
            lines=[SavedCartLine(product=Product.from_model(products[line.product_id]), quantity=line.quantity,
                                 substitution_allowed=line.substitution_allowed) for line in cart.lines],
            updated_at=cart.updated_at,
        )


@strawberry.input(description="A line of a saved cart.")
class SavedCartLineInput:
    product_id: strawberry.ID = strawberry.field(description="The product.")
    quantity: int = strawberry.field(description="Quantity (1 to 100000).")
    substitution_allowed: bool = strawberry.field(default=True, description="Whether it may be replaced.")


@strawberry.input(description="Save the current cart under a name.")
class SaveCartInput:
    name: str = strawberry.field(description="Name, unique among your saved carts.")


@strawberry.input(description="Changes to a saved cart; omitted fields stay as they are.")
class UpdateSavedCartInput:
    id: strawberry.ID = strawberry.field(description="The saved cart.")
    name: str | None = strawberry.field(default=None, description="New name.")
    lines: list[SavedCartLineInput] | None = strawberry.field(default=None, description="Replaces all lines.")
    shared: bool | None = strawberry.field(
        default=None, description="Share with the company (administrators, `saved_cart:share`).")


@strawberry.input(description="A saved cart.")
class SavedCartIdInput:
    id: strawberry.ID = strawberry.field(description="The saved cart.")


@strawberry.type(description="The saved cart after the change.")
class SavedCartPayload:
    saved_cart: SavedCart = strawberry.field(description="The saved cart.")


@strawberry.type(description="The saved cart was deleted.")
class DeleteSavedCartPayload:
    deleted_id: strawberry.ID = strawberry.field(description="Global id of the deleted saved cart.")


SavedCartResult = Annotated[
    SavedCartPayload | MutationError, strawberry.union("SavedCartResult", description="Result of a saved-cart change.")
]
DeleteSavedCartResult = Annotated[
    DeleteSavedCartPayload | MutationError,
    strawberry.union("DeleteSavedCartResult", description="Result of deleteSavedCart."),
]


def _id(value: str) -> int:
    return decode_id(value, "SavedCart") or 0


def _present(info: strawberry.Info):
    me = info.context.claims.membership_id if info.context.claims else None

    def present(result) -> SavedCartPayload:
        cart, products = result
        return SavedCartPayload(saved_cart=SavedCart.from_model(cart, products, me))
    return present


@strawberry.type
class SavedCartQuery:
    @strawberry.field(description="Your saved carts and those shared with the company. Requires `order:create`.")
    async def saved_carts(self, info: strawberry.Info) -> list[SavedCart]:
        async with info.context.reading() as ctx:
            carts, products = await use_cases.list_saved_carts(ctx)
            me = ctx.actor.membership_id
        return [SavedCart.from_model(c, products, me) for c in carts]


@strawberry.type
class SavedCartMutation:
    @strawberry.mutation(description="Save the current cart under a name. Requires `order:create`.")
    async def save_cart(self, info: strawberry.Info, input: Annotated[SaveCartInput, INPUT]) -> SavedCartResult:
        return await run_mutation(info, lambda ctx: use_cases.save_cart(ctx, name=input.name), _present(info))

    @strawberry.mutation(description=(
        "Rename, edit the lines of, or share a saved cart. "
        "Requires `order:create` (own carts); sharing needs `saved_cart:share`."))
    async def update_saved_cart(
        self, info: strawberry.Info, input: Annotated[UpdateSavedCartInput, INPUT],
    ) -> SavedCartResult:
        lines = None if input.lines is None else [
            use_cases.SavedLineSpec(decode_id(line.product_id, "Product") or 0, line.quantity,
                                    line.substitution_allowed)
            for line in input.lines]
        return await run_mutation(info, lambda ctx: use_cases.update_saved_cart(
            ctx, saved_cart_id=_id(input.id), name=input.name, lines=lines, shared=input.shared), _present(info))

    @strawberry.mutation(description="Delete one of your saved carts. Requires `order:create`.")
    async def delete_saved_cart(
        self, info: strawberry.Info, input: Annotated[SavedCartIdInput, INPUT],
    ) -> DeleteSavedCartResult:
        return await run_mutation(info, lambda ctx: use_cases.delete_saved_cart(ctx, saved_cart_id=_id(input.id)),
                                  lambda pk: DeleteSavedCartPayload(deleted_id=to_global_id("SavedCart", pk)))

    @strawberry.mutation(
        description="Put a saved cart's lines into your cart at current prices. Requires `order:create`.")
    async def add_saved_cart_to_cart(
        self, info: strawberry.Info, input: Annotated[SavedCartIdInput, INPUT],
    ) -> OrderResult:
        return await run_mutation(info, lambda ctx: use_cases.add_saved_cart_to_cart(ctx, saved_cart_id=_id(input.id)),
                                  lambda view: OrderPayload(order=order_from_view(view)))
