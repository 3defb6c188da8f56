"""Shared helpers for the ordering tests: GraphQL documents, a shop (a company whose buyers
have a cost centre), products, carts, orders, approval rules and an operator."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from sqlalchemy import func, select

from models import (
    ApprovalRule,
    ApprovalTier,
    CostCentre,
    CreditAccount,
    MemberCostCentre,
    Membership,
    Order,
    OrderEvent,
    OrderLine,
    Product,
    Role,
)
from models.base import utcnow
from models.order_state import OrderStatus
from schema.relay import parse_global_id, to_global_id
from tests.factories import Api, Member, Tenant, create_member
from tests.factories import operator as operator  # re-exported (as are the next ones): shared by every area
from tests.helpers import count as count
from tests.helpers import failed as failed
from tests.helpers import new_key as new_key
from tests.helpers import outcome as outcome
from tests.helpers import succeeded as succeeded

_sequence = itertools.count(1)

ERROR = "... on MutationError { code message field }"
LINE = ("id productId sku name unit quantity unitPrice { amount currency } vatRate net { amount } vat { amount } "
        "gross { amount } substitutionAllowed returnedQuantity")
TOTALS = ("totals { net { amount currency } vat { amount } gross { amount } "
          "vatBreakdown { rate net { amount } vat { amount } } credited { amount } }")
DELIVERY = ("delivery { locationId locationName address { street postalCode city } "
            "slot { slotId weekday startsAt endsAt } date }")
TIMELINE = "timeline { kind fromStatus toStatus comment at actorName }"
ORDER = (f"id number status reference poNumber paymentMethod createdAt submittedAt warnings "
         f"buyer {{ userId name email }} group {{ groupId name }} endCustomer {{ endCustomerId name note }} "
         f"costCentre {{ costCentreId code }} "
         f"lines {{ {LINE} }} {TOTALS} {DELIVERY}")
ORDER_RESULT = f"__typename ... on OrderPayload {{ order {{ {ORDER} {TIMELINE} }} }} {ERROR}"
PRODUCT = "id sku name description unit category unitPrice { amount currency } vatRate active updatedAt"
PRODUCT_RESULT = f"__typename ... on ProductPayload {{ product {{ {PRODUCT} }} }} {ERROR}"

CART_QUERY = f"{{ cart {{ {ORDER} }} }}"
ORDER_QUERY = f"query($id: ID!) {{ order(id: $id) {{ {ORDER} {TIMELINE} }} }}"


def gid(type_name: str, pk: int) -> str:
    return to_global_id(type_name, pk)


def pk_of(global_id: str) -> int:
    return parse_global_id(global_id)[1]


def next_weekday(weekday: int, *, weeks_ahead: int = 1) -> date:
    """A date on `weekday` (0 = Monday), one to seven days after today (UTC); later weeks with `weeks_ahead`."""
    today = utcnow().date()
    days = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=days + 7 * (weeks_ahead - 1))


# --- running mutations -------------------------------------------------------------------------

async def mutate(api: Api, name: str, input_type: str, payload: dict, token: str | None,
                 selection: str = ORDER_RESULT) -> dict:
    """The whole response body of `name(input: $input) { selection }` (an order payload unless told)."""
    return await api.mutate(name, input_type, selection, payload, token)


# --- shop set-up ----------------------------------------------------------------------------------

async def attach_cost_centre(services, company_id: int, membership_ids: list[int], code: str = "MAIN") -> int:
    """A cost centre of the company, the default of each of the given members."""
    async with services.db.transaction() as session:
        centre = CostCentre(company_id=company_id, name=f"Centre {code}", code=code, street="Kostgata 1",
                            postal_code="0150", city="Oslo")
        session.add(centre)
        await session.flush()
        session.add_all(MemberCostCentre(membership_id=m, cost_centre_id=centre.id, is_default=True)
                        for m in membership_ids)
        return centre.id


async def shop(api: Api, roles=tuple(Role)) -> Tenant:
    """A company with one signed-in member per role, every one of them attached to a cost centre."""
    tenant = await api.tenant(roles)
    await attach_cost_centre(api.services, tenant.company_id, [m.membership_id for m in tenant.members.values()])
    return tenant


async def add_buyer(api: Api, tenant: Tenant, role: Role = Role.CUSTOMER, *, group_id: int | None = None,
                    first_name: str = "Test", payment_methods: list[str] | None = None) -> Member:
    """Another signed-in member of the tenant's company, attached to the company's first cost centre."""
    member = await create_member(api.services, tenant.company_id, group_id or tenant.group_id, role,
                                 first_name=first_name)
    async with api.services.db.transaction() as session:
        centre_id = await session.scalar(select(CostCentre.id).where(CostCentre.company_id == tenant.company_id)
                                         .order_by(CostCentre.id).limit(1))
        session.add(MemberCostCentre(membership_id=member.membership_id, cost_centre_id=centre_id, is_default=True))
        if payment_methods is not None:
            (await session.get(Membership, member.membership_id)).payment_methods = payment_methods
    await api.token_for(member)
    return member


async def create_product(services, sku: str | None = None, price_minor: int = 1000, vat_rate: int = 25, *,
                         name: str | None = None, category: str = "Food", description: str = "", unit: str = "piece",
                         active: bool = True) -> int:
    sku = sku or f"SKU-{next(_sequence)}"
    async with services.db.transaction() as session:
        product = Product(sku=sku, name=name or f"Product {sku}", description=description, unit=unit, category=category,
                          unit_price_minor=price_minor, currency="NOK", vat_rate=vat_rate, active=active)
        product.refresh_search_text()
        session.add(product)
        await session.flush()
        return product.id


async def change_product(services, product_id: int, **values) -> None:
    async with services.db.transaction() as session:
        product = await session.get(Product, product_id)
        for name, value in values.items():
            setattr(product, name, value)
        product.refresh_search_text()


async def approval_rule(services, company_id: int, *, threshold_minor: int = 0, roles=("order_approver",),
                        membership_ids=(), name: str = "Everything") -> int:
    """An active rule `total_above threshold` with one tier: orders above it wait for approval."""
    async with services.db.transaction() as session:
        rule = ApprovalRule(company_id=company_id, name=name, condition="total_above", threshold_minor=threshold_minor,
                            applies_to_roles=[], applies_to_group_ids=[], active=True)
        rule.tiers = [ApprovalTier(level=1, roles=list(roles), membership_ids=list(membership_ids))]
        session.add(rule)
        await session.flush()
        return rule.id


# --- cart and orders ------------------------------------------------------------------------------

async def add_to_cart(api: Api, member: Member, *, sku: str | None = None, product_id: int | None = None,
                      quantity: int = 1, substitution_allowed: bool | None = None) -> dict:
    payload: dict = {"quantity": quantity}
    if sku is not None:
        payload["sku"] = sku
    if product_id is not None:
        payload["productId"] = gid("Product", product_id)
    if substitution_allowed is not None:
        payload["substitutionAllowed"] = substitution_allowed
    return await mutate(api, "addToCart", "AddToCartInput", payload, member.token)


async def update_cart(api: Api, member: Member, **fields) -> dict:
    return await mutate(api, "updateCart", "UpdateCartInput", fields, member.token)


async def submit(api: Api, member: Member, key: str | None = None) -> dict:
    return await mutate(api, "submitOrder", "SubmitOrderInput", {"idempotencyKey": key or new_key()}, member.token)


async def place_order(api: Api, member: Member, items: list[tuple[int, int]], *, key: str | None = None,
                      **details) -> dict:
    """Add (product id, quantity) lines, set cart details, submit; the submitted order."""
    for product_id, quantity in items:
        succeeded(await add_to_cart(api, member, product_id=product_id, quantity=quantity), "addToCart")
    if details:
        succeeded(await update_cart(api, member, **details), "updateCart")
    return succeeded(await submit(api, member, key), "submitOrder")["order"]


async def cart_of(api: Api, member: Member) -> dict | None:
    return (await api.query(CART_QUERY, token=member.token))["cart"]


async def order_as(api: Api, member: Member, order_id: str) -> dict | None:
    return (await api.query(ORDER_QUERY, {"id": order_id}, member.token))["order"]


# --- reading the database directly (to prove that nothing changed) --------------------------------

async def order_state(services, order_pk: int) -> tuple:
    """Status, credited amount, number of events and returned quantities of an order."""
    async with services.db.read_sessions() as session:
        order = await session.get(Order, order_pk)
        events = await session.scalar(
            select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order_pk))
        returned = tuple((await session.scalars(select(OrderLine.returned_quantity)
                                                .where(OrderLine.order_id == order_pk)
                                                .order_by(OrderLine.id))).all())
        return order.status, order.credited_minor, events, returned


async def outstanding(services, company_id: int) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(
            select(CreditAccount.outstanding_minor).where(CreditAccount.company_id == company_id)) or 0


async def drafts(services, membership_id: int) -> int:
    return await count(services, Order, Order.buyer_id == membership_id, Order.status == OrderStatus.DRAFT.value)
