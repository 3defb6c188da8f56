"""Saved carts: save the cart under a name, list, put into the cart again, edit, delete, share."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from models import OrderLine, Product, SavedCart, SavedCartLine
from models.errors import DomainError, ErrorCode
from policies.permissions import Permission
from policies.scopes import company_rows
from resolvers.cart import MAX_QUANTITY, cart_view, existing_cart, open_cart
from resolvers.context import UseCaseContext
from resolvers.order_view import OrderView
from resolvers.validation import clean_text


@dataclass
class SavedLineSpec:
    product_id: int
    quantity: int
    substitution_allowed: bool = True


def _visible(ctx: UseCaseContext):
    actor = ctx.require(Permission.ORDER_CREATE)
    return company_rows(SavedCart, actor).where(
        or_(SavedCart.owner_id == actor.membership_id, SavedCart.shared.is_(True)),
    ).options(selectinload(SavedCart.lines))


async def list_saved_carts(ctx: UseCaseContext) -> tuple[list[SavedCart], dict[int, Product]]:
    carts = list((await ctx.session.scalars(_visible(ctx).order_by(SavedCart.name, SavedCart.id))).all())
    return carts, await _products(ctx, carts)


async def _products(ctx: UseCaseContext, carts: list[SavedCart]) -> dict[int, Product]:
    ids = {line.product_id for cart in carts for line in cart.lines}
    if not ids:
        return {}
    return {p.id: p for p in (await ctx.session.scalars(select(Product).where(Product.id.in_(ids)))).all()}


async def _find(ctx: UseCaseContext, saved_cart_id: int, *, own: bool) -> SavedCart:
    cart = await ctx.session.scalar(_visible(ctx).where(SavedCart.id == saved_cart_id))
    if cart is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such saved cart", "id")
    actor = ctx.require_signed_in()  # _visible has required order:create of this actor
    if own and cart.owner_id != actor.membership_id and not ctx.allows(Permission.SAVED_CART_SHARE):
        raise DomainError(ErrorCode.NOT_FOUND, "No such saved cart of yours", "id")
    return cart


async def _ensure_name_free(ctx: UseCaseContext, name: str, except_id: int | None = None) -> str:
    actor = ctx.require_signed_in()  # the callers have required order:create of this actor
    name = clean_text(name, "name", 100)
    query = company_rows(SavedCart, actor, SavedCart.id).where(
        SavedCart.owner_id == actor.membership_id, SavedCart.name == name)
    if except_id is not None:
        query = query.where(SavedCart.id != except_id)
    if await ctx.session.scalar(query) is not None:
        raise DomainError(ErrorCode.SAVED_CART_NAME_TAKEN, f'You already have a saved cart named "{name}"', "name")
    return name


async def save_cart(ctx: UseCaseContext, *, name: str) -> tuple[SavedCart, dict[int, Product]]:
    actor = ctx.require(Permission.ORDER_CREATE)
    cart = await existing_cart(ctx)
    lines = (await ctx.session.scalars(
        select(OrderLine).where(OrderLine.order_id == cart.id).order_by(OrderLine.id))).all()
    if not lines:
        raise DomainError(ErrorCode.EMPTY_CART, "The cart is empty", None)
    saved = SavedCart(company_id=actor.company_id, owner_id=actor.membership_id,
                      name=await _ensure_name_free(ctx, name))
    saved.lines = [SavedCartLine(product_id=line.product_id, quantity=line.quantity,
                                 substitution_allowed=line.substitution_allowed) for line in lines]
    ctx.session.add(saved)
    await ctx.session.flush()
    return await _reloaded(ctx, saved.id)


async def _reloaded(ctx: UseCaseContext, saved_cart_id: int) -> tuple[SavedCart, dict[int, Product]]:
    cart = await ctx.session.scalar(
        company_rows(SavedCart, ctx.actor).where(SavedCart.id == saved_cart_id).options(selectinload(SavedCart.lines))
        .execution_options(populate_existing=True)
    )
    return cart, await _products(ctx, [cart])


async def update_saved_cart(
    ctx: UseCaseContext, *, saved_cart_id: int, name: str | None, lines: list[SavedLineSpec] | None,
    shared: bool | None,
) -> tuple[SavedCart, dict[int, Product]]:
    cart = await _find(ctx, saved_cart_id, own=True)
    if name is not None:
        cart.name = await _ensure_name_free(ctx, name, except_id=cart.id)
    if shared is not None:
        if not ctx.allows(Permission.SAVED_CART_SHARE):
            raise DomainError(ErrorCode.ROLE_NOT_ALLOWED, "Only an administrator may share a saved cart", "shared")
        cart.shared = shared
    if lines is not None:
        await _replace_lines(ctx, cart, lines)
    await ctx.session.flush()
    return await _reloaded(ctx, cart.id)


async def _replace_lines(ctx: UseCaseContext, cart: SavedCart, lines: list[SavedLineSpec]) -> None:
    if len({line.product_id for line in lines}) != len(lines):
        raise DomainError(ErrorCode.INVALID_INPUT, "Each product appears once", "lines")
    known = set((await ctx.session.scalars(
        select(Product.id).where(Product.id.in_([line.product_id for line in lines])))).all())
    for index, line in enumerate(lines):
        if line.product_id not in known:
            raise DomainError(ErrorCode.PRODUCT_UNAVAILABLE, "No such product", f"lines.{index}.productId")
        if not 1 <= line.quantity <= MAX_QUANTITY:
            raise DomainError(ErrorCode.INVALID_INPUT, f"Quantity must be between 1 and {MAX_QUANTITY}",
                              f"lines.{index}.quantity")
    cart.lines.clear()
    await ctx.session.flush()  # delete the old lines first: the new ones may name the same products (unique per cart)
    cart.lines = [SavedCartLine(product_id=line.product_id, quantity=line.quantity,
                                substitution_allowed=line.substitution_allowed) for line in lines]


async def delete_saved_cart(ctx: UseCaseContext, *, saved_cart_id: int) -> int:
    cart = await _find(ctx, saved_cart_id, own=True)
    await ctx.session.delete(cart)
    await ctx.session.flush()
    return saved_cart_id


async def add_saved_cart_to_cart(ctx: UseCaseContext, *, saved_cart_id: int) -> OrderView:
    """Put the saved lines into the cart at today's prices; products no longer sold are skipped."""
    saved = await _find(ctx, saved_cart_id, own=False)
    cart = await open_cart(ctx)
    products = await _products(ctx, [saved])
    cart_lines = (await ctx.session.scalars(select(OrderLine).where(OrderLine.order_id == cart.id))).all()
    existing = {cart_line.product_id: cart_line for cart_line in cart_lines}
    for line in saved.lines:
        product = products.get(line.product_id)
        if product is None or not product.active:
            continue
        if line.product_id in existing:
            existing[line.product_id].quantity = min(existing[line.product_id].quantity + line.quantity, MAX_QUANTITY)
        else:
            ctx.session.add(OrderLine(order_id=cart.id, product_id=line.product_id, quantity=line.quantity,
                                      substitution_allowed=line.substitution_allowed))
    await ctx.session.flush()
    return await cart_view(ctx, cart.id)


async def get_saved_cart(ctx: UseCaseContext, saved_cart_id: int) -> tuple[SavedCart, dict[int, Product]] | None:
    """A saved cart the caller may see (their own or a shared one), or None."""
    cart = await ctx.session.scalar(_visible(ctx).where(SavedCart.id == saved_cart_id))
    return (cart, await _products(ctx, [cart])) if cart else None
