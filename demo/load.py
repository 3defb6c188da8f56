"""Demo data: a company with a valid organisation number, one user per role, groups, the
catalogue, delivery locations with end customers, an operator, and orders in several states."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta

from sqlalchemy import func, select

from demo.catalogue import demo_products
from demo.invoices import load_demo_invoices
from demo.spend import load_spend_controls
from models import (
    Company,
    DeliveryLocation,
    DeliverySlot,
    EndCustomer,
    Group,
    Membership,
    MembershipStatus,
    Product,
    Role,
    User,
)
from models.base import utcnow
from policies.actor import Actor
from resolvers import cart, order
from resolvers.approval import decide
from resolvers.context import Services, UseCaseContext
from resolvers.order_submit import submit_order

DEMO_ORG_NUMBER = "923609016"  # a valid Norwegian organisation number (check digit verified by stdnum)
DEMO_PASSWORD = "demo-password-1"
DEMO_USERS = [
    ("admin@demo.procura.test", "Ada", "Admin", Role.ADMIN, "Administration", ["card", "invoice"]),
    ("manager@demo.procura.test", "Magnus", "Manager", Role.MANAGER, "Administration", ["card", "invoice"]),
    ("customer@demo.procura.test", "Kari", "Kunde", Role.CUSTOMER, "Home care north", ["card", "invoice"]),
    ("approver@demo.procura.test", "Ola", "Approver", Role.ORDER_APPROVER, "Home care north", []),
    ("accountant@demo.procura.test", "Randi", "Regnskap", Role.ACCOUNTANT, "Administration", []),
]
DEMO_OPERATOR = "operator@demo.procura.test"
DEMO_GROUPS = ["Administration", "Home care north", "Home care south"]


@dataclass
class DemoSignIn:
    email: str
    password: str
    role: str


def sign_ins() -> list[DemoSignIn]:
    people = [DemoSignIn(email, DEMO_PASSWORD, role.value) for email, _f, _l, role, _g, _m in DEMO_USERS]
    return [*people, DemoSignIn(DEMO_OPERATOR, DEMO_PASSWORD, "operator")]


async def load_demo_data(services: Services) -> tuple[bool, list[DemoSignIn]]:
    """Creates the demo data unless it exists; returns (created, sign-ins)."""
    async with services.db.transaction() as session:
        if await session.scalar(select(User.id).where(User.email == DEMO_USERS[0][0])) is not None:
            return False, sign_ins()
        if not await session.scalar(select(func.count()).select_from(Product)):
            session.add_all(demo_products(services.settings.supplier_currency))
        company = Company(
            name="Nordlys Omsorg AS", country="NO", org_number=DEMO_ORG_NUMBER, currency="NOK",
            street="Storgata 1", postal_code="0155", city="Oslo", contact_email="post@demo.procura.test",
            contact_phone="+47 22 00 00 00", order_payment_method="invoice", invoice_enabled=True,
        )
        session.add(company)
        await session.flush()
        groups = {name: Group(company_id=company.id, name=name) for name in DEMO_GROUPS}
        session.add_all(groups.values())
        await session.flush()
        password_hash = await services.passwords.hash(DEMO_PASSWORD)
        members = {}
        for email, first, last, role, group, methods in DEMO_USERS:
            user = User(email=email, first_name=first, last_name=last, password_hash=password_hash)
            session.add(user)
            await session.flush()
            membership = Membership(company_id=company.id, user_id=user.id, group_id=groups[group].id, role=role.value,
                                    status=MembershipStatus.ACTIVE.value, payment_methods=methods)
            session.add(membership)
            await session.flush()
            members[role] = Actor(user.id, 0, membership.id, company.id, role, frozenset(), False)
        operator = User(email=DEMO_OPERATOR, first_name="Otto", last_name="Operator", password_hash=password_hash,
                        is_operator=True)
        session.add(operator)
        await session.flush()
        customers = await _locations(session, company.id)
        operator_actor = Actor(operator.id, 0, None, None, None, frozenset(), True)
        await load_spend_controls(services, session, company, members, groups)
    # The invoice run commits per company: the invoiced history is loaded between the company and today's orders.
    await load_demo_invoices(services, company.id, members, operator_actor)
    async with services.db.transaction() as session:
        await _orders(services, session, members, operator_actor, customers)
    return True, sign_ins()


async def _locations(session, company_id: int) -> list[EndCustomer]:
    north = DeliveryLocation(company_id=company_id, name="Home care north", street="Trondheimsveien 100",
                             postal_code="0565", city="Oslo")
    south = DeliveryLocation(company_id=company_id, name="Home care south", street="Mosseveien 50",
                             postal_code="0193", city="Oslo")
    session.add_all([north, south])
    await session.flush()
    for location, weekdays in ((north, (1, 3)), (south, (0, 4))):
        for weekday in weekdays:
            session.add(DeliverySlot(location_id=location.id, weekday=weekday, starts_at=time(8), ends_at=time(10)))
            session.add(DeliverySlot(location_id=location.id, weekday=weekday, starts_at=time(14), ends_at=time(16)))
    customers = [
        EndCustomer(company_id=company_id, location_id=north.id, name="Ingrid Hansen", note="Lactose intolerant"),
        EndCustomer(company_id=company_id, location_id=north.id, name="Per Olsen", note="Soft food only"),
        EndCustomer(company_id=company_id, location_id=south.id, name="Astrid Berg", note=""),
    ]
    session.add_all(customers)
    await session.flush()
    return customers


async def _orders(services: Services, session, members: dict, operator: Actor, customers: list[EndCustomer]) -> None:
    def as_(actor: Actor) -> UseCaseContext:
        return UseCaseContext(services=services, session=session, actor=actor)

    buyer = as_(members[Role.CUSTOMER])
    rows = (await session.execute(select(Product.category, Product.sku).order_by(Product.id))).all()

    def skus(category: str, count: int, skip: int = 0) -> list[str]:
        return [sku for c, sku in rows if c == category][skip:skip + count]

    slot = await session.scalar(select(DeliverySlot).where(DeliverySlot.location_id == customers[0].location_id))
    delivery_date = utcnow().date() + timedelta(days=(slot.weekday - utcnow().weekday()) % 7 or 7)
    plans = [  # (buyer, skus, end customer, reference, then)
        (buyer, skus("Dairy", 4), customers[0], "Weekly shopping Ingrid", "fulfil"),
        (buyer, skus("Fruit and vegetables", 3), customers[0], "Top-up Ingrid", None),
        (buyer, skus("Dry goods", 2, skip=18), None, "Office coffee", "cancel"),
        (as_(members[Role.MANAGER]), skus("Cleaning", 5), None, "Cleaning supplies Q4", None),
        (buyer, skus("Care and health", 3), None, "Care supplies, large", "pending"),
        (buyer, skus("Office supplies", 1, skip=8), None, "Printer toner", "reject"),
    ]
    for number, (ctx, order_skus, end_customer, reference, then) in enumerate(plans, start=1):
        quantity = {"cancel": 40, "pending": 8, "reject": 3}.get(then or "", 1)  # above 2 000 NOK goes to approval
        for index, sku in enumerate(order_skus):
            await cart.add_to_cart(ctx, product_id=None, sku=sku, quantity=quantity + index,
                                   substitution_allowed=index % 2 == 0)
        details: dict[str, object] = {"reference": reference, "po_number": f"DEMO-{number:03d}"}
        if end_customer is not None:
            details.update(end_customer_id=end_customer.id)
        await cart.update_cart(ctx, **details)
        if end_customer is not None:
            await cart.update_cart(ctx, delivery_slot_id=slot.id, delivery_date=delivery_date)
        placed = await submit_order(ctx, idempotency_key=f"demo-order-{number}")
        if then == "fulfil":
            await order.fulfil_order(as_(operator), order_id=placed.id, comment="Delivered")
        elif then == "cancel":
            await order.cancel_order(ctx, order_id=placed.id, reason="Ordered by mistake")
        elif then == "reject":
            await decide(as_(members[Role.ORDER_APPROVER]), order_id=placed.id, approve=False,
                         comment="Toner is bought centrally; use the framework agreement")
