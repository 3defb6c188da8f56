"""Two (or fifty) orders drawing on one pre-approval at once never use more than its amount, on SQLite and
(with TEST_DATABASE_URL) PostgreSQL: the take is one conditional UPDATE in the submission transaction
(resolvers/pre_approval.py draw). Fifty submitted orders of one buyer, each in a write transaction of its own as
submitOrder runs it, draw at once on a pre-approval with room for ten."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from models import Membership, Order, PreApproval, Role
from models.approval import OrderFacts
from models.base import utcnow
from policies.actor import Actor
from resolvers.approval_rule import active_rules
from resolvers.context import UseCaseContext
from resolvers.pre_approval import draw
from tests.spend_helpers import SpendTenant, rule, spend_tenant, tier

ORDERS = 50
ROOM_FOR = 10
PRICE = 600_00


async def _setup(api, st: SpendTenant) -> tuple[int, list[int]]:
    await rule(api, st, name="Large orders", condition="TOTAL_ABOVE", threshold="500.00",
               tiers=[tier("ORDER_APPROVER")])
    buyer_id = st[Role.CUSTOMER].membership_id
    async with api.services.db.transaction() as session:
        pre = PreApproval(company_id=st.company_id, buyer_id=buyer_id, cost_centre_id=st.centre_id,
                          amount_minor=ROOM_FOR * PRICE, used_minor=0, currency="NOK", purpose="Race",
                          valid_until=utcnow() + timedelta(days=3), status="approved")
        session.add(pre)
        orders = [Order(company_id=st.company_id, buyer_id=buyer_id, group_id=st.group_id, status="submitted",
                        number=f"PO-PA-{n:03d}", currency="NOK", cost_centre_id=st.centre_id, net_minor=PRICE,
                        vat_minor=0, gross_minor=PRICE, idempotency_key=f"pa-race-{n:03d}", submitted_at=utcnow())
                  for n in range(ORDERS)]
        session.add_all(orders)
        await session.flush()
        return pre.id, [o.id for o in orders]


async def _draw_in_own_transaction(services, company_id: int, order_id: int) -> str:
    async with services.db.transaction() as session:
        order = await session.get_one(Order, order_id)
        buyer = await session.get_one(Membership, order.buyer_id)
        actor = Actor(buyer.user_id, 0, buyer.id, company_id, Role(buyer.role), frozenset(), False)
        ctx = UseCaseContext(services=services, session=session, actor=actor)
        rules = await active_rules(ctx, order)
        facts = OrderFacts(gross_minor=order.gross_minor, buyer_role=buyer.role, group_id=order.group_id,
                           cost_centre_id=order.cost_centre_id, categories=frozenset(), over_budgets=(),
                           over_purchase_limit=None)
        await asyncio.sleep(0)  # let the other transactions start before this one draws
        left = await draw(ctx, order, facts, rules)
        await session.flush()
        return "drew" if len(left) < len(rules) else "normal approval"


async def test_fifty_orders_draw_at_once_on_room_for_ten(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER, Role.ORDER_APPROVER])
    pre_id, order_ids = await _setup(api, st)
    results = await asyncio.gather(*(_draw_in_own_transaction(services, st.company_id, i) for i in order_ids))
    assert Counter(results) == Counter({"drew": ROOM_FOR, "normal approval": ORDERS - ROOM_FOR})
    async with services.db.read_sessions() as session:
        used = await session.scalar(select(PreApproval.used_minor).where(PreApproval.id == pre_id))
        drawn = (await session.scalars(select(Order.id).where(Order.pre_approval_id == pre_id))).all()
    assert used == ROOM_FOR * PRICE
    assert len(drawn) == ROOM_FOR
