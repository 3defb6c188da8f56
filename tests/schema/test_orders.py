"""Submitting orders and their lifecycle through the API: end customers and delivery, numbering,
idempotency, payment, timeline, cancellation, fulfilment and returns."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from sqlalchemy import select, update

from models import Company, LineReturn, Order, OrderEvent, OrderNumberCounter, Role
from models.base import utcnow
from tests.ordering_helpers import (
    add_buyer,
    add_to_cart,
    approval_rule,
    cart_of,
    change_product,
    count,
    create_product,
    drafts,
    failed,
    gid,
    mutate,
    new_key,
    next_weekday,
    operator,
    order_as,
    order_state,
    outcome,
    outstanding,
    pk_of,
    place_order,
    shop,
    submit,
    succeeded,
    update_cart,
)

LOCATION_RESULT = ("__typename ... on DeliveryLocationPayload { location { id slots { id weekday } } } "
                   "... on MutationError { code }")
END_CUSTOMER_RESULT = "__typename ... on EndCustomerPayload { endCustomer { id } } ... on MutationError { code }"
END_CUSTOMERS = "{ endCustomers { edges { node { id name ordered lastOrderedAt } } } }"
NUMBER = re.compile(r"^PO-(\d{4})-(\d{6})$")


async def set_company(services, company_id: int, **values) -> None:
    async with services.db.transaction() as session:
        await session.execute(update(Company).where(Company.id == company_id).values(**values))


# --- end customers and delivery ---------------------------------------------------------------

async def units(api, admin) -> dict:
    """Two units: Sunny Hill (Tuesday and Thursday slots) and Riverside (Wednesday), an end customer at each."""
    async def location(name, street, slots):
        payload = {"name": name, "address": {"street": street, "postalCode": "0870", "city": "Oslo"},
                   "slots": [{"weekday": day, "startsAt": "08:00:00", "endsAt": "10:00:00"} for day in slots]}
        body = await mutate(api, "saveDeliveryLocation", "DeliveryLocationInput", payload, admin.token, LOCATION_RESULT)
        return succeeded(body, "saveDeliveryLocation")["location"]

    async def end_customer(name, note, location_id):
        payload = {"name": name, "note": note, "locationId": location_id}
        body = await mutate(api, "saveEndCustomer", "EndCustomerInput", payload, admin.token, END_CUSTOMER_RESULT)
        return succeeded(body, "saveEndCustomer")["endCustomer"]["id"]

    sunny = await location("Sunny Hill", "Solveien 3", ["TUESDAY", "THURSDAY"])
    river = await location("Riverside", "Elvegata 9", ["WEDNESDAY"])
    return {
        "sunny": sunny["id"], "tuesday": sunny["slots"][0]["id"], "thursday": sunny["slots"][1]["id"],
        "river": river["id"], "wednesday": river["slots"][0]["id"],
        "astrid": await end_customer("Astrid", "Lactose intolerant", sunny["id"]),
        "bjorn": await end_customer("Bjørn", "", river["id"]),
    }


async def ordering_setup(api, services):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER])
    product = await create_product(services, "MILK", 1250, 15, name="Milk")
    return tenant, tenant[Role.CUSTOMER], product, await units(api, tenant[Role.ADMIN])


async def test_ordering_for_an_end_customer_delivers_to_their_unit_in_its_slot(api, services):
    _tenant, buyer, product, u = await ordering_setup(api, services)
    listed = (await api.query(END_CUSTOMERS, token=buyer.token))["endCustomers"]["edges"]
    assert [(e["node"]["name"], e["node"]["ordered"], e["node"]["lastOrderedAt"]) for e in listed] == [
        ("Astrid", False, None), ("Bjørn", False, None)]
    tuesday = next_weekday(1)
    succeeded(await add_to_cart(api, buyer, product_id=product, quantity=2), "addToCart")
    cart = succeeded(await update_cart(api, buyer, endCustomerId=u["astrid"], deliverySlotId=u["tuesday"],
                                       deliveryDate=tuesday.isoformat()), "updateCart")["order"]
    assert cart["endCustomer"] == {"endCustomerId": u["astrid"], "name": "Astrid", "note": "Lactose intolerant"}
    assert cart["delivery"]["slot"]["slotId"] == u["tuesday"]
    order = succeeded(await submit(api, buyer), "submitOrder")["order"]
    assert order["status"] == "APPROVED"
    assert order["endCustomer"] == {"endCustomerId": u["astrid"], "name": "Astrid", "note": "Lactose intolerant"}
    assert order["delivery"] == {
        "locationId": u["sunny"], "locationName": "Sunny Hill",
        "address": {"street": "Solveien 3", "postalCode": "0870", "city": "Oslo"},
        "slot": {"slotId": u["tuesday"], "weekday": "TUESDAY", "startsAt": "08:00:00", "endsAt": "10:00:00"},
        "date": tuesday.isoformat(),
    }
    assert order["paymentMethod"] == "CARD"  # the company's setting for end-customer orders
    edges = (await api.query(END_CUSTOMERS, token=buyer.token))["endCustomers"]["edges"]
    listed = {e["node"]["name"]: e["node"] for e in edges}
    assert listed["Astrid"]["ordered"] is True
    ordered_at = datetime.fromisoformat(listed["Astrid"]["lastOrderedAt"])
    assert abs(ordered_at - datetime.fromisoformat(order["submittedAt"])) < timedelta(seconds=5)
    assert (listed["Bjørn"]["ordered"], listed["Bjørn"]["lastOrderedAt"]) == (False, None)


async def test_without_an_end_customer_the_order_goes_to_the_company_address(api, services):
    _tenant, buyer, product, _ = await ordering_setup(api, services)
    order = await place_order(api, buyer, [(product, 1)])
    assert order["delivery"] == {"locationId": None, "locationName": None, "slot": None, "date": None,
                                 "address": {"street": "Gate 1", "postalCode": "0150", "city": "Oslo"}}
    assert order["endCustomer"] is None
    assert order["paymentMethod"] == "CARD"
    assert order["costCentre"]["code"] == "MAIN"


async def test_the_buyer_cannot_set_the_delivery_address(api, services):
    _tenant, buyer, product, u = await ordering_setup(api, services)
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    body = await update_cart(api, buyer, endCustomerId=u["astrid"],
                             address={"street": "Elsewhere 1", "postalCode": "9999", "city": "Bergen"})
    assert body["data"] is None and body["errors"]  # not a field of the input: refused by validation
    body = await update_cart(api, buyer, deliveryStreet="Elsewhere 1")
    assert body["data"] is None and body["errors"]
    cart = await cart_of(api, buyer)
    assert (cart["endCustomer"], cart["delivery"]["address"]) == (None, None)


async def test_the_slot_must_be_one_of_the_end_customers_unit(api, services):
    _tenant, buyer, product, u = await ordering_setup(api, services)
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    error = failed(await update_cart(api, buyer, deliverySlotId=u["tuesday"]), "updateCart")
    assert (error["code"], error["field"]) == ("INVALID_DELIVERY", "deliverySlotId")  # no end customer yet
    error = failed(await update_cart(api, buyer, endCustomerId=u["astrid"], deliverySlotId=u["wednesday"]),
                   "updateCart")
    assert (error["code"], error["field"]) == ("INVALID_DELIVERY", "deliverySlotId")  # Riverside's slot
    error = failed(await update_cart(api, buyer, endCustomerId=u["astrid"],
                                     deliverySlotId=gid("DeliverySlot", 999_999)), "updateCart")
    assert (error["code"], error["field"]) == ("INVALID_DELIVERY", "deliverySlotId")
    cart = await cart_of(api, buyer)
    assert (cart["endCustomer"], cart["delivery"]["slot"]) == (None, None)  # nothing of the refused changes stuck
    # Switching to an end customer of another unit drops the slot chosen for the first one.
    succeeded(await update_cart(api, buyer, endCustomerId=u["astrid"], deliverySlotId=u["thursday"]), "updateCart")
    cart = succeeded(await update_cart(api, buyer, endCustomerId=u["bjorn"]), "updateCart")["order"]
    assert (cart["endCustomer"]["name"], cart["delivery"]["slot"], cart["delivery"]["locationId"]) == (
        "Bjørn", None, u["river"])


async def test_the_date_must_fall_on_the_slots_weekday_and_not_be_past(api, services):
    _tenant, buyer, product, u = await ordering_setup(api, services)
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    wednesday = next_weekday(2)
    error = failed(await update_cart(api, buyer, endCustomerId=u["astrid"], deliverySlotId=u["tuesday"],
                                     deliveryDate=wednesday.isoformat()), "updateCart")
    assert (error["code"], error["field"]) == ("INVALID_DELIVERY", "deliveryDate")
    last_tuesday = next_weekday(1) - timedelta(days=14)
    error = failed(await update_cart(api, buyer, endCustomerId=u["astrid"], deliverySlotId=u["tuesday"],
                                     deliveryDate=last_tuesday.isoformat()), "updateCart")
    assert (error["code"], error["field"]) == ("INVALID_DELIVERY", "deliveryDate")
    # A date still ahead when chosen but past by submission time is refused at submission.
    succeeded(await update_cart(api, buyer, endCustomerId=u["astrid"], deliverySlotId=u["tuesday"],
                                deliveryDate=next_weekday(1).isoformat()), "updateCart")
    async with services.db.transaction() as session:
        await session.execute(update(Order).where(Order.status == "draft").values(delivery_date=last_tuesday))
    error = failed(await submit(api, buyer), "submitOrder")
    assert (error["code"], error["field"]) == ("INVALID_DELIVERY", None)  # the cart is at fault, not the input
    assert await count(services, Order, Order.status != "draft") == 0
    assert await count(services, OrderNumberCounter) == 0


async def test_an_end_customer_order_needs_a_slot_and_a_date(api, services):
    _tenant, buyer, product, u = await ordering_setup(api, services)
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    succeeded(await update_cart(api, buyer, endCustomerId=u["astrid"]), "updateCart")
    error = failed(await submit(api, buyer), "submitOrder")
    assert (error["code"], error["field"]) == ("INVALID_DELIVERY", None)
    succeeded(await update_cart(api, buyer, deliverySlotId=u["tuesday"]), "updateCart")
    error = failed(await submit(api, buyer), "submitOrder")
    assert (error["code"], error["field"]) == ("INVALID_DELIVERY", None)
    succeeded(await update_cart(api, buyer, deliveryDate=next_weekday(1).isoformat()), "updateCart")
    assert succeeded(await submit(api, buyer), "submitOrder")["order"]["status"] == "APPROVED"


async def test_the_buyer_cannot_choose_the_payment_method_for_an_end_customer(api, services):
    _tenant, buyer, product, u = await ordering_setup(api, services)
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    error = failed(await update_cart(api, buyer, endCustomerId=u["astrid"], paymentMethod="CARD"), "updateCart")
    assert (error["code"], error["field"]) == ("PAYMENT_METHOD_NOT_ALLOWED", "paymentMethod")
    assert (await cart_of(api, buyer))["endCustomer"] is None
    succeeded(await update_cart(api, buyer, endCustomerId=u["astrid"]), "updateCart")
    error = failed(await update_cart(api, buyer, paymentMethod="INVOICE"), "updateCart")
    assert (error["code"], error["field"]) == ("PAYMENT_METHOD_NOT_ALLOWED", "paymentMethod")
    assert (await cart_of(api, buyer))["paymentMethod"] is None


async def test_end_customer_orders_are_paid_as_the_company_has_set(api, services):
    tenant, buyer, product, u = await ordering_setup(api, services)
    await set_company(services, tenant.company_id, order_payment_method="invoice", invoice_enabled=False)
    details = dict(endCustomerId=u["astrid"], deliverySlotId=u["tuesday"], deliveryDate=next_weekday(1).isoformat())
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    succeeded(await update_cart(api, buyer, **details), "updateCart")
    error = failed(await submit(api, buyer), "submitOrder")
    assert (error["code"], error["field"]) == ("INVOICE_NOT_APPROVED", None)
    listed = (await api.query(END_CUSTOMERS, token=buyer.token))["endCustomers"]["edges"]
    assert listed[0]["node"]["ordered"] is False  # the refused order left no trace
    await set_company(services, tenant.company_id, invoice_enabled=True)
    order = succeeded(await submit(api, buyer), "submitOrder")["order"]
    assert order["paymentMethod"] == "INVOICE"


# --- submission ------------------------------------------------------------------------------------

async def test_numbers_are_sequential_per_company(api, services):
    ours = await shop(api, [Role.CUSTOMER, Role.MANAGER])
    theirs = await shop(api, [Role.CUSTOMER])
    product = await create_product(services, "MILK", 1250, 15)
    numbers = []
    for buyer in (ours[Role.CUSTOMER], ours[Role.MANAGER], ours[Role.CUSTOMER]):
        numbers.append((await place_order(api, buyer, [(product, 1)]))["number"])
    their_number = (await place_order(api, theirs[Role.CUSTOMER], [(product, 1)]))["number"]
    year = utcnow().year
    assert numbers == [f"PO-{year}-000001", f"PO-{year}-000002", f"PO-{year}-000003"]
    assert their_number == f"PO-{year}-000001"
    assert all(NUMBER.match(n) for n in [*numbers, their_number])


async def test_submission_records_who_when_and_what(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    product = await create_product(services, "MILK", 1250, 15, name="Milk")
    before = utcnow()
    order = await place_order(api, buyer, [(product, 2)], reference="Ward 3", poNumber="PO-1")
    submitted = datetime.fromisoformat(order["submittedAt"])
    assert submitted.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=1) <= submitted <= utcnow() + timedelta(seconds=1)
    assert order["buyer"] == {"userId": buyer.gid, "name": "Test Customer", "email": buyer.email}
    assert order["group"] == {"groupId": tenant.group_gid, "name": "Default"}
    assert (order["reference"], order["poNumber"], order["status"]) == ("Ward 3", "PO-1", "APPROVED")
    assert [(e["kind"], e["fromStatus"], e["toStatus"], e["actorName"], e["comment"]) for e in order["timeline"]] == [
        ("SUBMIT", "DRAFT", "SUBMITTED", "Test Customer", ""),
        ("APPROVE", "SUBMITTED", "APPROVED", None, "No approval required")]
    assert await cart_of(api, buyer) is None  # the cart became the order
    assert await outstanding(services, tenant.company_id) == 2875


async def test_a_retry_with_the_same_key_returns_the_same_order(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    product = await create_product(services, "MILK", 1250, 15)
    key = new_key()
    first = await place_order(api, buyer, [(product, 2)], key=key)
    again = succeeded(await submit(api, buyer, key), "submitOrder")["order"]
    assert (again["id"], again["number"], again["status"], again["totals"]) == (
        first["id"], first["number"], first["status"], first["totals"])
    assert await count(services, Order) == 1
    assert await outstanding(services, tenant.company_id) == 2875  # charged once
    # Still the same order when the buyer has meanwhile started an identical new cart.
    succeeded(await add_to_cart(api, buyer, product_id=product, quantity=2), "addToCart")
    assert succeeded(await submit(api, buyer, key), "submitOrder")["order"]["id"] == first["id"]
    assert await drafts(services, buyer.membership_id) == 1


async def test_the_same_key_with_a_different_cart_is_refused(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    product = await create_product(services, "MILK", 1250, 15)
    key = new_key()
    first = await place_order(api, buyer, [(product, 2)], key=key)
    succeeded(await add_to_cart(api, buyer, product_id=product, quantity=3), "addToCart")
    error = failed(await submit(api, buyer, key), "submitOrder")
    assert (error["code"], error["field"]) == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    cart = await cart_of(api, buyer)
    assert (cart["status"], cart["lines"][0]["quantity"]) == ("DRAFT", 3)  # the new cart is untouched
    assert await count(services, Order, Order.status != "draft") == 1
    # Another buyer may use the same key: keys are per buyer.
    other = await add_buyer(api, tenant)
    assert (await place_order(api, other, [(product, 1)], key=key))["id"] != first["id"]


async def test_idempotency_keys_have_8_to_100_characters(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    product = await create_product(services, "MILK", 1250, 15)
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    for key in ("short", "x" * 101, "   7chars  "):
        error = failed(await submit(api, buyer, key), "submitOrder")
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "idempotencyKey")
    assert await count(services, Order, Order.status != "draft") == 0


async def test_concurrent_duplicates_create_exactly_one_order(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    product = await create_product(services, "MILK", 1250, 15)
    for _round in range(2):
        succeeded(await add_to_cart(api, buyer, product_id=product, quantity=2), "addToCart")
        key = new_key()
        bodies = await asyncio.gather(*(submit(api, buyer, key) for _ in range(5)))
        orders = [succeeded(body, "submitOrder")["order"] for body in bodies]
        assert len({(o["id"], o["number"]) for o in orders}) == 1, [o["number"] for o in orders]
        assert await count(services, Order, Order.idempotency_key == key) == 1
    assert await count(services, Order) == 2
    assert await count(services, OrderEvent, OrderEvent.kind == "submit") == 2
    async with services.db.read_sessions() as session:
        counter = await session.scalar(select(OrderNumberCounter.last_number).where(
            OrderNumberCounter.company_id == tenant.company_id))
    assert counter == 2
    assert await outstanding(services, tenant.company_id) == 2 * 2875


async def test_an_empty_cart_cannot_be_submitted(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    product = await create_product(services, "MILK", 1250, 15)
    error = failed(await submit(api, buyer), "submitOrder")
    assert error["code"] == "EMPTY_CART"  # no cart at all
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    succeeded(await mutate(api, "updateCartLine", "UpdateCartLineInput",
                           {"productId": gid("Product", product),
                            "quantity": 0}, buyer.token), "updateCartLine")
    error = failed(await submit(api, buyer), "submitOrder")
    assert error["code"] == "EMPTY_CART"
    assert await count(services, Order, Order.status != "draft") == 0
    assert await count(services, OrderNumberCounter) == 0


async def test_invoice_needs_the_companys_approved_application(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = await add_buyer(api, tenant, payment_methods=["card", "invoice"])
    product = await create_product(services, "MILK", 1250, 15)
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    cart = succeeded(await update_cart(api, buyer, paymentMethod="INVOICE"), "updateCart")["order"]
    assert cart["paymentMethod"] == "INVOICE"
    error = failed(await submit(api, buyer), "submitOrder")
    assert (error["code"], error["field"]) == ("INVOICE_NOT_APPROVED", None)
    assert (await cart_of(api, buyer))["status"] == "DRAFT"
    assert await count(services, OrderNumberCounter) == 0
    assert await outstanding(services, tenant.company_id) == 0
    await set_company(services, tenant.company_id, invoice_enabled=True)
    assert succeeded(await submit(api, buyer), "submitOrder")["order"]["paymentMethod"] == "INVOICE"


async def test_a_buyer_pays_only_with_an_approved_method(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]  # approved for card only
    await set_company(services, tenant.company_id, invoice_enabled=True)
    product = await create_product(services, "MILK", 1250, 15)
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    succeeded(await update_cart(api, buyer, paymentMethod="INVOICE"), "updateCart")
    error = failed(await submit(api, buyer), "submitOrder")
    assert (error["code"], error["field"]) == ("PAYMENT_METHOD_NOT_ALLOWED", None)
    succeeded(await update_cart(api, buyer, paymentMethod=None), "updateCart")
    assert succeeded(await submit(api, buyer), "submitOrder")["order"]["paymentMethod"] == "CARD"


async def test_a_buyer_without_a_cost_centre_cannot_submit(api, services):
    tenant = await api.tenant([Role.CUSTOMER])  # no cost centre attached
    buyer = tenant[Role.CUSTOMER]
    product = await create_product(services, "MILK", 1250, 15)
    succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    error = failed(await submit(api, buyer), "submitOrder")
    assert (error["code"], error["field"]) == ("INVALID_INPUT", None)


# --- lifecycle ----------------------------------------------------------------------------------

CANCEL = ("cancelOrder", "CancelOrderInput")
FULFIL = ("fulfilOrder", "FulfilOrderInput")
RETURN = ("recordReturn", "RecordReturnInput")


async def cancel(api, member, order_id: str, reason: str = "") -> dict:
    return await mutate(api, *CANCEL, {"id": order_id, "reason": reason}, member.token)


async def fulfil(api, member, order_id: str, comment: str = "") -> dict:
    return await mutate(api, *FULFIL, {"id": order_id, "comment": comment}, member.token)


async def record_return(api, member, order_id: str, line_id: str, quantity: int, reason: str = "") -> dict:
    return await mutate(api, *RETURN, {"orderId": order_id, "lineId": line_id, "quantity": quantity, "reason": reason},
                        member.token)


def events(order: dict) -> list[tuple]:
    return [(e["kind"], e["fromStatus"], e["toStatus"], e["actorName"], e["comment"]) for e in order["timeline"]]


async def test_a_buyer_cannot_cancel_a_confirmed_purchase(api, services):
    tenant = await shop(api, [Role.CUSTOMER, Role.MANAGER])
    buyer = tenant[Role.CUSTOMER]
    product = await create_product(services, "MILK", 1250, 15)
    order = await place_order(api, buyer, [(product, 1)])
    assert order["status"] == "APPROVED"
    before = await order_state(services, pk_of(order["id"]))
    credit = await outstanding(services, tenant.company_id)
    for member in (buyer, tenant[Role.MANAGER]):
        error = failed(await cancel(api, member, order["id"], "changed my mind"), "cancelOrder")
        assert (error["code"], error["field"], error["message"]) == (
            "INVALID_TRANSITION", "id", "An order that is approved cannot be cancelled")
    assert await order_state(services, pk_of(order["id"])) == before
    assert await outstanding(services, tenant.company_id) == credit


async def pending_setup(api, services):
    tenant = await shop(api)
    await approval_rule(services, tenant.company_id, threshold_minor=0, roles=["order_approver"])
    product = await create_product(services, "MILK", 1250, 15)
    return tenant, product


async def test_the_buyer_cancels_an_order_awaiting_approval(api, services):
    tenant, product = await pending_setup(api, services)
    buyer = tenant[Role.CUSTOMER]
    order = await place_order(api, buyer, [(product, 2)])
    assert order["status"] == "PENDING_APPROVAL"
    assert await outstanding(services, tenant.company_id) == 2875
    cancelled = succeeded(await cancel(api, buyer, order["id"], "  Ordered twice  "), "cancelOrder")["order"]
    assert cancelled["status"] == "CANCELLED"
    assert events(cancelled) == [
        ("SUBMIT", "DRAFT", "SUBMITTED", "Test Customer", ""),
        ("REQUIRE_APPROVAL", "SUBMITTED", "PENDING_APPROVAL", None, "Everything: Order total above the rule's amount"),
        ("CANCEL", "PENDING_APPROVAL", "CANCELLED", "Test Customer", "Ordered twice"),
    ]
    assert await outstanding(services, tenant.company_id) == 0  # the commitment was given back
    error = failed(await cancel(api, buyer, order["id"]), "cancelOrder")
    assert (error["code"], error["field"]) == ("INVALID_TRANSITION", "id")


async def test_a_manager_cancels_another_buyers_pending_order(api, services):
    tenant, product = await pending_setup(api, services)
    order = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    cancelled = succeeded(await cancel(api, tenant[Role.MANAGER], order["id"], "Not needed"), "cancelOrder")["order"]
    assert cancelled["status"] == "CANCELLED"
    assert events(cancelled)[-1] == ("CANCEL", "PENDING_APPROVAL", "CANCELLED", "Test Manager", "Not needed")


async def test_another_customer_or_an_approver_cannot_cancel(api, services):
    tenant, product = await pending_setup(api, services)
    order = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    before = await order_state(services, pk_of(order["id"]))
    credit = await outstanding(services, tenant.company_id)
    colleague = await add_buyer(api, tenant)
    # Another customer does not even see the order: the same answer as for a missing id.
    error = failed(await cancel(api, colleague, order["id"]), "cancelOrder")
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
    # The approver sees it (it waits for them) but may only approve or reject it.
    body = await cancel(api, tenant[Role.ORDER_APPROVER], order["id"])
    assert outcome(body, "cancelOrder") == "FORBIDDEN"
    # Another company's manager: not found.
    stranger = (await shop(api, [Role.MANAGER]))[Role.MANAGER]
    error = failed(await cancel(api, stranger, order["id"]), "cancelOrder")
    assert error["code"] == "NOT_FOUND"
    assert await order_state(services, pk_of(order["id"])) == before
    assert await outstanding(services, tenant.company_id) == credit


async def test_operator_fulfils_an_approved_order_and_the_timeline_tells_who_did_what(api, services):
    tenant = await shop(api, [Role.CUSTOMER, Role.ADMIN])
    product = await create_product(services, "MILK", 1250, 15)
    order = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    op = await operator(api)
    # Company members may not fulfil, not even an administrator.
    before = await order_state(services, pk_of(order["id"]))
    for member in (tenant[Role.CUSTOMER], tenant[Role.ADMIN]):
        assert outcome(await fulfil(api, member, order["id"]), "fulfilOrder") == "FORBIDDEN"
    assert await order_state(services, pk_of(order["id"])) == before
    fulfilled = succeeded(await fulfil(api, op, order["id"], "Delivered at the back door"), "fulfilOrder")["order"]
    assert fulfilled["status"] == "FULFILLED"
    assert events(fulfilled) == [
        ("SUBMIT", "DRAFT", "SUBMITTED", "Test Customer", ""),
        ("APPROVE", "SUBMITTED", "APPROVED", None, "No approval required"),
        ("FULFIL", "APPROVED", "FULFILLED", "Op Erator", "Delivered at the back door"),
    ]
    times = [datetime.fromisoformat(e["at"]) for e in fulfilled["timeline"]]
    assert times == sorted(times) and all(t.utcoffset() == timedelta(0) for t in times)
    # The buyer sees the same timeline.
    assert events(await order_as(api, tenant[Role.CUSTOMER], order["id"])) == events(fulfilled)
    error = failed(await fulfil(api, op, order["id"]), "fulfilOrder")
    assert (error["code"], error["field"]) == ("INVALID_TRANSITION", "id")


async def test_illegal_transitions_are_typed_errors_and_change_nothing(api, services):
    tenant, product = await pending_setup(api, services)
    op = await operator(api)
    pending = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    error = failed(await fulfil(api, op, pending["id"]), "fulfilOrder")
    assert (error["code"], error["message"]) == (
        "INVALID_TRANSITION", "An order that is pending approval cannot be fulfilled")
    error = failed(await record_return(api, op, pending["id"], pending["lines"][0]["id"], 1), "recordReturn")
    assert error["code"] == "INVALID_TRANSITION"
    succeeded(await cancel(api, tenant[Role.CUSTOMER], pending["id"]), "cancelOrder")
    before = await order_state(services, pk_of(pending["id"]))
    error = failed(await fulfil(api, op, pending["id"]), "fulfilOrder")
    assert (error["code"], error["message"]) == ("INVALID_TRANSITION", "An order that is cancelled cannot be fulfilled")
    body = await mutate(api, "approveOrder", "DecideOrderInput", {"id": pending["id"]},
                        tenant[Role.ORDER_APPROVER].token)
    assert failed(body, "approveOrder")["code"] == "INVALID_TRANSITION"
    assert await order_state(services, pk_of(pending["id"])) == before
    # An unknown order is not found.
    error = failed(await fulfil(api, op, gid("Order", 999_999)), "fulfilOrder")
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")


async def test_returns_credit_the_snapshot_price_with_vat_and_never_more_than_delivered(api, services):
    tenant = await shop(api, [Role.CUSTOMER, Role.ADMIN])
    cheap = await create_product(services, "CHEAP", 10, 25)     # 3 x 0.10 + 25 %: 0.30 + 0.08 = 0.38
    milk = await create_product(services, "MILK", 1250, 15)     # 2 x 12.50 + 15 %: 25.00 + 3.75 = 28.75
    order = await place_order(api, tenant[Role.CUSTOMER], [(cheap, 3), (milk, 2)])
    assert order["totals"]["gross"]["amount"] == "29.13"
    op = await operator(api)
    cheap_line, milk_line = order["lines"][0]["id"], order["lines"][1]["id"]
    error = failed(await record_return(api, op, order["id"], cheap_line, 1), "recordReturn")
    assert error["code"] == "INVALID_TRANSITION"  # not delivered yet
    succeeded(await fulfil(api, op, order["id"]), "fulfilOrder")
    # The catalogue price changes: returns are still credited at the order's price.
    await change_product(services, milk, unit_price_minor=99_900)

    credited = []
    for _ in range(3):
        result = succeeded(await record_return(api, op, order["id"], cheap_line, 1, "Broken"), "recordReturn")["order"]
        credited.append(result["totals"]["credited"]["amount"])
    # One third of 0.38 each, rounded half-up on the running total: 0.13, 0.25, 0.38 - never more than was paid.
    assert credited == ["0.13", "0.25", "0.38"]
    error = failed(await record_return(api, op, order["id"], cheap_line, 1), "recordReturn")
    assert (error["code"], error["field"], error["message"]) == (
        "RETURN_EXCEEDS_QUANTITY", "quantity", "At most 0 more can be returned")
    before = await order_state(services, pk_of(order["id"]))
    error = failed(await record_return(api, op, order["id"], milk_line, 3), "recordReturn")
    assert (error["code"], error["message"]) == ("RETURN_EXCEEDS_QUANTITY", "At most 2 more can be returned")
    assert await order_state(services, pk_of(order["id"])) == before
    result = succeeded(await record_return(api, op, order["id"], milk_line, 2, "Expired"), "recordReturn")["order"]
    assert result["totals"]["credited"]["amount"] == "29.13"
    assert [(line["sku"], line["returnedQuantity"]) for line in result["lines"]] == [("CHEAP", 3), ("MILK", 2)]
    assert events(result)[-1] == ("RETURN", None, None, "Op Erator", "2 x MILK returned. Expired")
    assert result["status"] == "FULFILLED"
    async with services.db.read_sessions() as session:
        amounts = (await session.scalars(select(LineReturn.credited_minor).order_by(LineReturn.id))).all()
    assert amounts == [13, 12, 13, 2875]
    assert await outstanding(services, tenant.company_id) == 0
    # Company members cannot record returns.
    assert outcome(await record_return(api, tenant[Role.ADMIN], order["id"], milk_line, 1),
                   "recordReturn") == "FORBIDDEN"
    assert await order_state(services, pk_of(order["id"])) == (
        "fulfilled", 2913, 3 + 4, (3, 2))


async def test_a_return_names_a_line_of_that_order(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    product = await create_product(services, "MILK", 1250, 15)
    first = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    second = await place_order(api, tenant[Role.CUSTOMER], [(product, 1)])
    op = await operator(api)
    succeeded(await fulfil(api, op, first["id"]), "fulfilOrder")
    error = failed(await record_return(api, op, first["id"], second["lines"][0]["id"], 1), "recordReturn")
    assert (error["code"], error["field"]) == ("NOT_FOUND", "lineId")
    error = failed(await record_return(api, op, first["id"], first["lines"][0]["id"], 0), "recordReturn")
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "quantity")
    assert await count(services, LineReturn) == 0


async def test_approver_decisions_are_in_the_timeline(api, services):
    tenant, product = await pending_setup(api, services)
    buyer, approver = tenant[Role.CUSTOMER], tenant[Role.ORDER_APPROVER]
    first = await place_order(api, buyer, [(product, 1)])
    second = await place_order(api, buyer, [(product, 1)])
    assert await outstanding(services, tenant.company_id) == 2 * 1438
    body = await mutate(api, "approveOrder", "DecideOrderInput", {"id": first["id"], "comment": "Fine"}, approver.token)
    approved = succeeded(body, "approveOrder")["order"]
    assert events(approved) == [
        ("SUBMIT", "DRAFT", "SUBMITTED", "Test Customer", ""),
        ("REQUIRE_APPROVAL", "SUBMITTED", "PENDING_APPROVAL", None, "Everything: Order total above the rule's amount"),
        ("APPROVE", "PENDING_APPROVAL", "APPROVED", "Test Order_Approver", "Fine"),
    ]
    body = await mutate(api, "rejectOrder", "DecideOrderInput", {"id": second["id"], "comment": "Too much"},
                        approver.token)
    rejected = succeeded(body, "rejectOrder")["order"]
    assert events(rejected)[-1] == ("REJECT", "PENDING_APPROVAL", "REJECTED", "Test Order_Approver", "Too much")
    assert await outstanding(services, tenant.company_id) == 1438  # the rejected order's commitment was given back
    # A confirmed purchase is final for the buyer, and a rejected one cannot be cancelled either.
    for order in (approved, rejected):
        assert failed(await cancel(api, buyer, order["id"]), "cancelOrder")["code"] == "INVALID_TRANSITION"


def test_every_stored_timeline_kind_is_a_value_of_the_order_event_kind_enum():
    from models.order_state import OrderEventKind as StoredKind
    from models.order_state import Transition
    from schema.order_types import OrderEventKind

    assert {kind.value for kind in OrderEventKind} == {kind.value for kind in StoredKind}
    # Every lifecycle step is recorded as the kind of the same value.
    assert {step.value for step in Transition} <= {kind.value for kind in StoredKind}
    assert {(kind.name, kind.value) for kind in OrderEventKind} == {(kind.name, kind.value) for kind in StoredKind}
