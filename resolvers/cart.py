"""The buyer's cart: a DRAFT order, one per buyer. Prices always come from the catalogue."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from models import Company, DeliverySlot, Membership, Order, OrderLine, Product
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.order_state import OrderStatus
from models.user import PaymentMethod
from policies.permissions import Permission
from policies.scopes import company_rows, company_scope
from resolvers.context import UseCaseContext
from resolvers.cost_centre import resolve_cost_centre
from resolvers.location import find_end_customer
from resolvers.order_view import OrderView, fetch_order
from resolvers.validation import clean_text

KEEP = object()  # "leave this field as it is" in update_cart
MAX_QUANTITY = 100_000
MAX_LINES = 500


async def find_cart(ctx: UseCaseContext, *, for_update: bool = False) -> Order | None:
    actor = ctx.require(Permission.ORDER_CREATE)
    query = company_rows(Order, actor).where(
        Order.buyer_id == actor.membership_id, Order.status == OrderStatus.DRAFT.value)
    return await ctx.session.scalar(query.with_for_update() if for_update else query)


async def view_cart(ctx: UseCaseContext) -> OrderView | None:
    cart = await find_cart(ctx)
    return await cart_view(ctx, cart.id) if cart else None


async def cart_view(ctx: UseCaseContext, cart_id: int) -> OrderView:
    """The view of a cart this request has found or opened."""
    view = await fetch_order(ctx.session, cart_id, company_scope(Order, ctx.actor), with_events=False)
    assert view is not None
    return view


async def open_cart(ctx: UseCaseContext) -> Order:
    cart = await find_cart(ctx, for_update=True)
    if cart is None:
        actor = ctx.require_signed_in()  # find_cart has required order:create of this actor
        group_id = await ctx.session.scalar(
            company_rows(Membership, actor, Membership.group_id).where(Membership.id == actor.membership_id))
        cart = Order(company_id=actor.company_id, buyer_id=actor.membership_id, group_id=group_id,
                     currency=ctx.settings.supplier_currency, status=OrderStatus.DRAFT.value)
        ctx.session.add(cart)
        await ctx.session.flush()
    return cart


async def _product(ctx: UseCaseContext, *, product_id: int | None, sku: str | None) -> Product:
    if (product_id is None) == (sku is None):
        raise DomainError(ErrorCode.INVALID_INPUT, "Give either a product id or a SKU", "productId")
    condition = Product.id == product_id if sku is None else Product.sku == sku.strip()
    product = await ctx.session.scalar(select(Product).where(condition))
    if product is None or not product.active:
        raise DomainError(ErrorCode.PRODUCT_UNAVAILABLE, "No such product in the catalogue",
                          "productId" if sku is None else "sku")
    return product


def _check_quantity(quantity: int, *, allow_zero: bool = False) -> None:
    if not (0 if allow_zero else 1) <= quantity <= MAX_QUANTITY:
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"Quantity must be between {0 if allow_zero else 1} and {MAX_QUANTITY}", "quantity")


async def _line(ctx: UseCaseContext, cart: Order, product_id: int) -> OrderLine | None:
    return await ctx.session.scalar(
        select(OrderLine).where(OrderLine.order_id == cart.id, OrderLine.product_id == product_id))


async def add_to_cart(
    ctx: UseCaseContext, *, product_id: int | None, sku: str | None, quantity: int, substitution_allowed: bool | None,
) -> OrderView:
    _check_quantity(quantity)
    cart = await open_cart(ctx)
    product = await _product(ctx, product_id=product_id, sku=sku)
    line = await _line(ctx, cart, product.id)
    if line is None:
        count = len((await ctx.session.scalars(select(OrderLine.id).where(OrderLine.order_id == cart.id))).all())
        if count >= MAX_LINES:
            raise DomainError(ErrorCode.INVALID_INPUT, f"A cart holds at most {MAX_LINES} lines", "productId")
        ctx.session.add(OrderLine(order_id=cart.id, product_id=product.id, quantity=quantity,
                                  substitution_allowed=True if substitution_allowed is None else substitution_allowed))
    else:
        _check_quantity(line.quantity + quantity)
        line.quantity += quantity
        if substitution_allowed is not None:
            line.substitution_allowed = substitution_allowed
    await ctx.session.flush()
    return await cart_view(ctx, cart.id)


async def existing_cart(ctx: UseCaseContext) -> Order:
    cart = await find_cart(ctx, for_update=True)
    if cart is None:
        raise DomainError(ErrorCode.EMPTY_CART, "You have no cart yet: add a product first", None)
    return cart


async def set_line_quantity(ctx: UseCaseContext, *, product_id: int, quantity: int) -> OrderView:
    """Change a line's quantity; 0 removes the line."""
    _check_quantity(quantity, allow_zero=True)
    cart = await existing_cart(ctx)
    line = await _line(ctx, cart, product_id)
    if line is None:
        raise DomainError(ErrorCode.NOT_FOUND, "The cart has no line for this product", "productId")
    if quantity == 0:
        await ctx.session.delete(line)
    else:
        line.quantity = quantity
    await ctx.session.flush()
    return await cart_view(ctx, cart.id)


async def set_substitution(ctx: UseCaseContext, *, product_id: int | None, allowed: bool) -> OrderView:
    """Whether an out-of-stock item may be replaced: for one line, or for all when no product is given."""
    cart = await existing_cart(ctx)
    lines = (await ctx.session.scalars(select(OrderLine).where(OrderLine.order_id == cart.id))).all()
    targets = [line for line in lines if product_id is None or line.product_id == product_id]
    if product_id is not None and not targets:
        raise DomainError(ErrorCode.NOT_FOUND, "The cart has no line for this product", "productId")
    for line in targets:
        line.substitution_allowed = allowed
    await ctx.session.flush()
    return await cart_view(ctx, cart.id)


async def update_cart(
    ctx: UseCaseContext, *, reference=KEEP, po_number=KEEP, end_customer_id=KEEP, delivery_slot_id=KEEP,
    delivery_date=KEEP, payment_method=KEEP, cost_centre_id=KEEP,
) -> OrderView:
    cart = await open_cart(ctx)
    if reference is not KEEP:
        cart.reference = clean_text(reference, "reference", 200, required=False) or ""
    if po_number is not KEEP:
        cart.po_number = clean_text(po_number, "poNumber", 100, required=False) or ""
    if end_customer_id is not KEEP:
        await _set_end_customer(ctx, cart, end_customer_id)
    if delivery_slot_id is not KEEP:
        cart.delivery_slot_id = delivery_slot_id
    if delivery_date is not KEEP:
        cart.delivery_date = delivery_date
    if payment_method is not KEEP:
        if payment_method is not None and cart.end_customer_id is not None:
            raise DomainError(ErrorCode.PAYMENT_METHOD_NOT_ALLOWED,
                              "Orders for end customers are paid the way the company has set", "paymentMethod")
        cart.payment_method = payment_method.value if payment_method else None
    if cost_centre_id is not KEEP:
        cart.cost_centre_id = (None if cost_centre_id is None
                               else await resolve_cost_centre(ctx, cart.buyer_id, cost_centre_id))
    with ctx.session.no_autoflush:  # an unknown slot id is INVALID_DELIVERY, not a foreign-key CONFLICT
        await check_delivery(ctx, cart, final=False, today=utcnow().date() if delivery_date is not KEEP else None)
    await ctx.session.flush()
    return await cart_view(ctx, cart.id)


async def _set_end_customer(ctx: UseCaseContext, cart: Order, end_customer_id: int | None) -> None:
    if end_customer_id is None:
        cart.end_customer_id = cart.location_id = cart.delivery_slot_id = cart.payment_method = None
        return
    customer = await find_end_customer(ctx, end_customer_id)
    if customer is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such end customer", "endCustomerId")
    if cart.location_id != customer.location_id:
        cart.delivery_slot_id = None
    cart.end_customer_id, cart.location_id = customer.id, customer.location_id
    cart.payment_method = None


async def check_delivery(ctx: UseCaseContext, cart: Order, *, final: bool, today: date | None = None) -> None:
    """A slot must be one of the end customer's unit; the date must fall on the slot's weekday."""
    if cart.delivery_slot_id is not None:
        slot = await ctx.session.get(DeliverySlot, cart.delivery_slot_id)
        if slot is None or cart.location_id is None or slot.location_id != cart.location_id or slot.retired_at:
            raise DomainError(ErrorCode.INVALID_DELIVERY, "Choose one of the delivery slots of the end customer's unit",
                              "deliverySlotId")
        if cart.delivery_date is not None and not slot.fits(cart.delivery_date):
            raise DomainError(ErrorCode.INVALID_DELIVERY, "The delivery date is not on the slot's weekday",
                              "deliveryDate")
    if cart.delivery_date is not None and today is not None and cart.delivery_date < today:
        raise DomainError(ErrorCode.INVALID_DELIVERY, "The delivery date has passed", "deliveryDate")
    if final and cart.end_customer_id is not None and (cart.delivery_slot_id is None or cart.delivery_date is None):
        raise DomainError(ErrorCode.INVALID_DELIVERY, "Choose a delivery slot and date for the end customer",
                          "deliverySlotId")


async def company_of(ctx: UseCaseContext, company_id: int) -> Company:
    return await ctx.session.get_one(Company, company_id)


def buyer_payment_method(chosen: str | None, approved: list[str]) -> str:
    method = chosen or (approved[0] if approved else None)
    if method is None or method not in approved:
        raise DomainError(ErrorCode.PAYMENT_METHOD_NOT_ALLOWED, "This payment method is not approved for you",
                          "paymentMethod")
    return PaymentMethod(method).value



def check_invoice_allowed(company: Company, method: str) -> None:
    if method == PaymentMethod.INVOICE.value and not company.invoice_enabled:
        raise DomainError(ErrorCode.INVOICE_NOT_APPROVED,
                          "Invoice payment needs the company's approved application; pay by card", "paymentMethod")
