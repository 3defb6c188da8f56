"""One order: reading it, cancelling it, fulfilling it, recording returns."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from models import LineReturn, Order, OrderLine
from models.errors import DomainError, ErrorCode
from models.order_state import OrderEventKind, OrderStatus, Transition
from policies.errors import Forbidden
from policies.permissions import Permission
from policies.scopes import visible_orders
from resolvers.approval_mail import notify_cancelled, waiting_steps
from resolvers.context import UseCaseContext
from resolvers.order_events import record_event, transition
from resolvers.order_view import LineView, OrderView, fetch_order, reread_order
from resolvers.spend import credit_return, release_spend, settle_spend


def _scope(ctx: UseCaseContext):
    return visible_orders(ctx.require_signed_in(), ctx.services.authorizer)


async def get_order(ctx: UseCaseContext, order_id: int, *, with_events: bool = True) -> OrderView | None:
    return await fetch_order(ctx.session, order_id, _scope(ctx), with_events=with_events)


async def get_order_line(ctx: UseCaseContext, line_id: int) -> tuple[OrderView, LineView] | None:
    """A line of an order the caller may see, with its order, or None."""
    order_id = await ctx.session.scalar(_scope(ctx).apply(
        select(OrderLine.order_id).join(Order, Order.id == OrderLine.order_id)).where(OrderLine.id == line_id))
    view = await get_order(ctx, order_id, with_events=False) if order_id is not None else None
    line = next((candidate for candidate in view.lines if candidate.id == line_id), None) if view else None
    return (view, line) if view and line else None


async def _order_for_change(ctx: UseCaseContext, order_id: int, field: str = "id") -> Order:
    order = await ctx.session.scalar(_scope(ctx).apply(select(Order)).where(Order.id == order_id).with_for_update())
    if order is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such order", field)
    return order


async def cancel_order(ctx: UseCaseContext, *, order_id: int, reason: str) -> OrderView:
    """The buyer (or a manager/administrator) cancels before approval; a confirmed purchase is final."""
    actor = ctx.require_signed_in()
    order = await _order_for_change(ctx, order_id)
    if order.buyer_id != actor.membership_id and not ctx.allows(Permission.ORDER_MANAGE):
        raise Forbidden("Only the buyer, a manager or an administrator may cancel this order")
    waiting = await waiting_steps(ctx, order) if order.status == OrderStatus.PENDING_APPROVAL.value else None
    await transition(ctx, order, Transition.CANCEL, comment=(reason or "").strip()[:1000])
    await release_spend(ctx, order)
    if waiting is not None:  # the buyer and the approvers it waited for are told
        await notify_cancelled(ctx, order, waiting, (reason or "").strip()[:1000])
    return await reread_order(ctx.session, order)


async def fulfil_order(ctx: UseCaseContext, *, order_id: int, comment: str) -> OrderView:
    ctx.services.authorizer.require_operator(ctx.actor, Permission.ORDER_FULFIL)
    order = await _order_for_change(ctx, order_id)
    await transition(ctx, order, Transition.FULFIL, comment=(comment or "").strip()[:1000])
    await settle_spend(ctx, order)
    return await reread_order(ctx.session, order)


async def record_return(ctx: UseCaseContext, *, order_id: int, line_id: int, quantity: int, reason: str) -> OrderView:
    """Goods returned after fulfilment: credited at the line's snapshot price, VAT included."""
    actor = ctx.services.authorizer.require_operator(ctx.actor, Permission.ORDER_FULFIL)
    order = await _order_for_change(ctx, order_id, "orderId")
    if order.status != "fulfilled":
        raise DomainError(ErrorCode.INVALID_TRANSITION, "Returns are recorded on fulfilled orders", "orderId")
    line = await ctx.session.scalar(
        select(OrderLine).where(OrderLine.id == line_id, OrderLine.order_id == order.id).with_for_update()
    )
    if line is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such line on this order", "lineId")
    if quantity < 1:
        raise DomainError(ErrorCode.INVALID_INPUT, "Return at least one unit", "quantity")
    if line.returned_quantity + quantity > line.quantity:
        raise DomainError(ErrorCode.RETURN_EXCEEDS_QUANTITY,
                          f"At most {line.quantity - line.returned_quantity} more can be returned", "quantity")
    def share(returned: int) -> int:  # rounded on the running total: all returns together never exceed the line
        exact = Decimal(line.net_minor + line.vat_minor) * returned / line.quantity
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    credited = share(line.returned_quantity + quantity) - share(line.returned_quantity)
    line.returned_quantity += quantity
    order.credited_minor += credited
    await credit_return(ctx, order, credited)
    ctx.session.add(LineReturn(order_line_id=line.id, quantity=quantity, credited_minor=credited,
                               reason=(reason or "").strip()[:1000], recorded_by_id=actor.user_id))
    await record_event(ctx, order, OrderEventKind.RETURN,
                       comment=f"{quantity} x {line.sku} returned. {reason or ''}".strip())
    await ctx.session.flush()
    return await reread_order(ctx.session, order)
