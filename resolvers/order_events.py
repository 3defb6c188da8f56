"""Every change of an order goes through here: a state-machine step plus its timeline event.

The database adds each timeline event to the change feed (models/change.py), in the same transaction."""

from __future__ import annotations

from models import Order, OrderEvent
from models.base import utcnow
from models.order_state import OrderEventKind, OrderStatus, Transition, next_status
from resolvers.context import UseCaseContext


async def record_event(
    ctx: UseCaseContext, order: Order, kind: OrderEventKind, *, comment: str = "",
    from_status: OrderStatus | None = None,
    to_status: OrderStatus | None = None, system: bool = False,
) -> None:
    actor_user_id = None if system or ctx.actor is None else ctx.actor.user_id
    order.updated_at = utcnow()  # every entry of the timeline is a change of the order (Order.updatedAt)
    ctx.session.add(OrderEvent(
        order_id=order.id, actor_user_id=actor_user_id, kind=kind.value, comment=comment,
        from_status=from_status.value if from_status else None, to_status=to_status.value if to_status else None,
    ))


async def transition(
    ctx: UseCaseContext, order: Order, step: Transition, *, comment: str = "", system: bool = False,
) -> None:
    """Apply one lifecycle step (INVALID_TRANSITION, and nothing changed, when not allowed)."""
    current = OrderStatus(order.status)
    target = next_status(current, step)
    order.status = target.value
    await record_event(ctx, order, OrderEventKind(step.value), comment=comment, from_status=current, to_status=target,
                       system=system)
    await ctx.session.flush()

