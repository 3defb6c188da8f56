"""The demo's recurring purchase: the customer's weekly standing order of kitchen supplies, every Monday at 07:00
(Oslo time), from a saved cart (made here when the customer has none)."""

from __future__ import annotations

from sqlalchemy import select

from models import Product, Role, SavedCart, SavedCartLine
from policies.actor import Actor
from resolvers import recurring_order
from resolvers.context import Services, UseCaseContext
from resolvers.recurring_order import ScheduleSpec

SCHEDULE = "FREQ=WEEKLY;BYDAY=MO"


async def load_recurring_purchase(services: Services, members: dict[Role, Actor]) -> None:
    buyer = members[Role.CUSTOMER]
    assert buyer.company_id is not None and buyer.membership_id is not None
    async with services.db.transaction() as session:
        ctx = UseCaseContext(services=services, session=session, actor=buyer)
        saved_id = await session.scalar(select(SavedCart.id).where(
            SavedCart.company_id == buyer.company_id, SavedCart.owner_id == buyer.membership_id)
            .order_by(SavedCart.id).limit(1))
        if saved_id is None:
            products = (await session.scalars(select(Product.id).where(
                Product.category == "Dry goods", Product.active.is_(True)).order_by(Product.id).limit(3))).all()
            saved = SavedCart(company_id=buyer.company_id, owner_id=buyer.membership_id,
                              name="Weekly kitchen supplies")
            saved.lines = [SavedCartLine(product_id=pk, quantity=4 + index, substitution_allowed=True)
                           for index, pk in enumerate(products)]
            session.add(saved)
            await session.flush()
            saved_id = saved.id
        await recurring_order.create_recurring_order(ctx, saved_cart_id=saved_id, spec=ScheduleSpec(
            name="Monday kitchen supplies", schedule=SCHEDULE, reference="Kitchen", po_number="DEMO-WEEKLY"))
