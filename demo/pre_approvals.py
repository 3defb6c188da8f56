"""The demo's pre-approval: the customer asked for 8 000 NOK for the residents' Christmas party, the order
approver and an administrator approved it (the request was above the company's 2 000 NOK approval rule), and one
order already drew on it, confirmed at once without an approval step."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import Product, Role
from models.base import utcnow
from policies.actor import Actor
from resolvers import cart, pre_approval
from resolvers.approval import decide
from resolvers.context import Services, UseCaseContext
from resolvers.order_submit import submit_order

AMOUNT_MINOR = 8_000_00


async def load_pre_approvals(services: Services, members: dict[Role, Actor]) -> None:
    async with services.db.transaction() as session:
        def as_(actor: Actor) -> UseCaseContext:
            return UseCaseContext(services=services, session=session, actor=actor)

        buyer = as_(members[Role.CUSTOMER])
        requested = await pre_approval.request_pre_approval(
            buyer, amount_minor=AMOUNT_MINOR, purpose="Christmas party for the residents",
            valid_until=utcnow() + timedelta(days=45), cost_centre_id=None)
        carrier = requested.pre_approval.order_id
        assert carrier is not None
        # The rule's two tiers: the order approver, then an administrator.
        await decide(as_(members[Role.ORDER_APPROVER]), order_id=carrier, approve=True,
                     comment="Within this year's activity budget")
        await decide(as_(members[Role.ADMIN]), order_id=carrier, approve=True, comment="")
        # An order of about 3 000 NOK, above the approval rule's 2 000 NOK, that the pre-approval covers.
        sku, price, vat_rate = (await session.execute(
            select(Product.sku, Product.unit_price_minor, Product.vat_rate)
            .where(Product.category == "Dry goods", Product.active.is_(True)).order_by(Product.id).limit(1))).one()
        quantity = 3_000_00 * 100 // (price * (100 + vat_rate)) + 1
        await cart.add_to_cart(buyer, product_id=None, sku=sku, quantity=quantity, substitution_allowed=True)
        await cart.update_cart(buyer, reference="Christmas party: food", po_number="DEMO-PA-1")
        await submit_order(buyer, idempotency_key="demo-pre-approval-order-1")
