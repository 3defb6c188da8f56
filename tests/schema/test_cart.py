"""The cart through the API: lines, substitution, details, prices from the catalogue, exact totals."""

from __future__ import annotations

from models import Order, OrderLine, Role
from tests.factories import error_code
from tests.ordering_helpers import (
    CART_QUERY,
    add_to_cart,
    cart_of,
    change_product,
    count,
    create_product,
    drafts,
    failed,
    gid,
    mutate,
    order_as,
    outcome,
    pk_of,
    shop,
    submit,
    succeeded,
    update_cart,
)


def lines_of(order: dict) -> list[tuple]:
    return [(line["sku"], line["quantity"], line["substitutionAllowed"]) for line in order["lines"]]


async def update_line(api, member, product_id: int, quantity: int) -> dict:
    return await mutate(api, "updateCartLine", "UpdateCartLineInput",
                        {"productId": gid("Product", product_id), "quantity": quantity}, member.token)


async def set_substitution(api, member, allowed: bool, product_id: int | None = None) -> dict:
    payload = {"allowed": allowed} | ({"productId": gid("Product", product_id)} if product_id else {})
    return await mutate(api, "setSubstitution", "SetSubstitutionInput", payload, member.token)


async def buyer_and_products(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    milk = await create_product(services, "MILK", 1250, 15, name="Milk", unit="piece")
    gloves = await create_product(services, "GLOVES", 9990, 25, name="Gloves", unit="pack")
    return tenant, tenant[Role.CUSTOMER], milk, gloves


async def test_there_is_no_cart_before_the_first_product(api, services):
    _, buyer, _, _ = await buyer_and_products(api, services)
    assert await cart_of(api, buyer) is None


async def test_add_by_sku_and_by_id_and_adding_again_accumulates(api, services):
    _, buyer, milk, gloves = await buyer_and_products(api, services)
    cart = succeeded(await add_to_cart(api, buyer, sku="MILK", quantity=2), "addToCart")["order"]
    assert (cart["status"], cart["number"], cart["submittedAt"]) == ("DRAFT", None, None)
    assert lines_of(cart) == [("MILK", 2, True)]
    cart = succeeded(await add_to_cart(api, buyer, product_id=gloves, quantity=1), "addToCart")["order"]
    assert lines_of(cart) == [("MILK", 2, True), ("GLOVES", 1, True)]
    cart = succeeded(await add_to_cart(api, buyer, product_id=milk, quantity=3), "addToCart")["order"]
    assert lines_of(cart) == [("MILK", 5, True), ("GLOVES", 1, True)]
    cart = succeeded(await add_to_cart(api, buyer, sku=" MILK ", quantity=1, substitution_allowed=False),
                     "addToCart")["order"]
    assert lines_of(cart) == [("MILK", 6, False), ("GLOVES", 1, True)]
    assert [line["productId"] for line in cart["lines"]] == [gid("Product", milk), gid("Product", gloves)]
    assert (await cart_of(api, buyer))["id"] == cart["id"]
    assert await drafts(services, buyer.membership_id) == 1
    assert await count(services, OrderLine) == 2


async def test_quantities_are_checked(api, services):
    _, buyer, milk, _ = await buyer_and_products(api, services)
    for quantity in (0, -1, 100_001):
        error = failed(await add_to_cart(api, buyer, product_id=milk, quantity=quantity), "addToCart")
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "quantity")
    succeeded(await add_to_cart(api, buyer, product_id=milk, quantity=99_999), "addToCart")
    error = failed(await add_to_cart(api, buyer, product_id=milk, quantity=2), "addToCart")
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "quantity")
    assert lines_of(await cart_of(api, buyer)) == [("MILK", 99_999, True)]
    both = await mutate(api, "addToCart", "AddToCartInput", {"sku": "MILK", "productId": gid("Product", milk)},
                        buyer.token)
    assert (failed(both, "addToCart")["code"], failed(both, "addToCart")["field"]) == ("INVALID_INPUT", "productId")
    neither = await mutate(api, "addToCart", "AddToCartInput", {"quantity": 1}, buyer.token)
    assert failed(neither, "addToCart")["code"] == "INVALID_INPUT"


async def test_change_quantity_and_zero_removes_the_line(api, services):
    _, buyer, milk, gloves = await buyer_and_products(api, services)
    error = failed(await update_line(api, buyer, milk, 3), "updateCartLine")
    assert error["code"] == "EMPTY_CART"  # no cart yet
    succeeded(await add_to_cart(api, buyer, product_id=milk, quantity=2), "addToCart")
    succeeded(await add_to_cart(api, buyer, product_id=gloves), "addToCart")
    cart = succeeded(await update_line(api, buyer, milk, 7), "updateCartLine")["order"]
    assert lines_of(cart) == [("MILK", 7, True), ("GLOVES", 1, True)]
    cart = succeeded(await update_line(api, buyer, milk, 0), "updateCartLine")["order"]
    assert lines_of(cart) == [("GLOVES", 1, True)]
    error = failed(await update_line(api, buyer, milk, 1), "updateCartLine")
    assert (error["code"], error["field"]) == ("NOT_FOUND", "productId")
    for quantity in (-1, 100_001):
        error = failed(await update_line(api, buyer, gloves, quantity), "updateCartLine")
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "quantity")
    assert lines_of(await cart_of(api, buyer)) == [("GLOVES", 1, True)]


async def test_substitution_per_line_and_for_all_lines(api, services):
    _, buyer, milk, gloves = await buyer_and_products(api, services)
    succeeded(await add_to_cart(api, buyer, product_id=milk), "addToCart")
    succeeded(await add_to_cart(api, buyer, product_id=gloves), "addToCart")
    cart = succeeded(await set_substitution(api, buyer, False, gloves), "setSubstitution")["order"]
    assert lines_of(cart) == [("MILK", 1, True), ("GLOVES", 1, False)]
    cart = succeeded(await set_substitution(api, buyer, False), "setSubstitution")["order"]
    assert lines_of(cart) == [("MILK", 1, False), ("GLOVES", 1, False)]
    cart = succeeded(await set_substitution(api, buyer, True, milk), "setSubstitution")["order"]
    assert lines_of(cart) == [("MILK", 1, True), ("GLOVES", 1, False)]
    cart = succeeded(await set_substitution(api, buyer, True), "setSubstitution")["order"]
    assert lines_of(cart) == [("MILK", 1, True), ("GLOVES", 1, True)]
    other = await create_product(services, "OTHER", 100)
    error = failed(await set_substitution(api, buyer, False, other), "setSubstitution")
    assert (error["code"], error["field"]) == ("NOT_FOUND", "productId")
    assert lines_of(await cart_of(api, buyer)) == [("MILK", 1, True), ("GLOVES", 1, True)]


async def test_reference_and_po_number(api, services):
    _, buyer, milk, _ = await buyer_and_products(api, services)
    succeeded(await add_to_cart(api, buyer, product_id=milk), "addToCart")
    cart = succeeded(await update_cart(api, buyer, reference="  Ward 3   re-invoice ", poNumber="PO-778"),
                     "updateCart")["order"]
    assert (cart["reference"], cart["poNumber"]) == ("Ward 3 re-invoice", "PO-778")
    cart = succeeded(await update_cart(api, buyer, poNumber="PO-779"), "updateCart")["order"]
    assert (cart["reference"], cart["poNumber"]) == ("Ward 3 re-invoice", "PO-779")  # omitted: kept
    cart = succeeded(await update_cart(api, buyer, reference=None), "updateCart")["order"]
    assert (cart["reference"], cart["poNumber"]) == ("", "PO-779")  # null: cleared
    error = failed(await update_cart(api, buyer, reference="x" * 201), "updateCart")
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "reference")
    order = succeeded(await submit(api, buyer), "submitOrder")["order"]
    assert (order["reference"], order["poNumber"]) == ("", "PO-779")


async def test_prices_come_from_the_catalogue_and_are_frozen_at_submission(api, services):
    _, buyer, milk, _gloves = await buyer_and_products(api, services)
    cart = succeeded(await add_to_cart(api, buyer, product_id=milk, quantity=2), "addToCart")["order"]
    line = cart["lines"][0]
    assert (line["unitPrice"], line["vatRate"], line["net"], line["vat"], line["gross"]) == (
        {"amount": "12.50", "currency": "NOK"}, 15, {"amount": "25.00"}, {"amount": "3.75"}, {"amount": "28.75"})
    # The catalogue changes: the cart follows it.
    await change_product(services, milk, unit_price_minor=1390, vat_rate=25, name="Milk (new pack)")
    line = (await cart_of(api, buyer))["lines"][0]
    assert (line["name"], line["unitPrice"]["amount"], line["vatRate"], line["gross"]["amount"]) == (
        "Milk (new pack)", "13.90", 25, "34.75")
    order = succeeded(await submit(api, buyer), "submitOrder")["order"]
    assert order["totals"]["gross"]["amount"] == "34.75"
    # It changes again after submission: the order keeps what was submitted.
    await change_product(services, milk, unit_price_minor=9900, vat_rate=0, name="Milk (renamed)", sku="MILK-X")
    seen = await order_as(api, buyer, order["id"])
    line = seen["lines"][0]
    assert (line["sku"], line["name"], line["unitPrice"]["amount"], line["vatRate"], line["net"]["amount"],
            line["vat"]["amount"], line["gross"]["amount"]) == (
        "MILK", "Milk (new pack)", "13.90", 25, "27.80", "6.95", "34.75")
    assert (seen["totals"]["net"]["amount"], seen["totals"]["vat"]["amount"], seen["totals"]["gross"]["amount"]) == (
        "27.80", "6.95", "34.75")


async def test_totals_round_vat_half_up_per_line(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    a = await create_product(services, "A", 10, 25)   # 0.10 at 25 %: VAT 0.025 -> 0.03
    b = await create_product(services, "B", 10, 15)   # 0.10 at 15 %: VAT 0.015 -> 0.02
    c = await create_product(services, "C", 10, 25)   # another 0.03
    d = await create_product(services, "D", 10, 12)   # 0.012 -> 0.01
    e = await create_product(services, "E", 10, 6)    # 0.006 -> 0.01
    f = await create_product(services, "F", 333, 0)
    for product in (a, b, c, d, e):
        succeeded(await add_to_cart(api, buyer, product_id=product), "addToCart")
    cart = succeeded(await add_to_cart(api, buyer, product_id=f, quantity=3), "addToCart")["order"]
    assert [(line["sku"], line["net"]["amount"], line["vat"]["amount"], line["gross"]["amount"])
            for line in cart["lines"]] == [
        ("A", "0.10", "0.03", "0.13"), ("B", "0.10", "0.02", "0.12"), ("C", "0.10", "0.03", "0.13"),
        ("D", "0.10", "0.01", "0.11"), ("E", "0.10", "0.01", "0.11"), ("F", "9.99", "0.00", "9.99")]
    expected = {
        "net": {"amount": "10.49", "currency": "NOK"}, "vat": {"amount": "0.10"}, "gross": {"amount": "10.59"},
        # 25 %: per line 0.03 + 0.03 = 0.06 (rounding 0.20 x 25 % once would give 0.05).
        "vatBreakdown": [{"rate": 25, "net": {"amount": "0.20"}, "vat": {"amount": "0.06"}},
                         {"rate": 15, "net": {"amount": "0.10"}, "vat": {"amount": "0.02"}},
                         {"rate": 12, "net": {"amount": "0.10"}, "vat": {"amount": "0.01"}},
                         {"rate": 6, "net": {"amount": "0.10"}, "vat": {"amount": "0.01"}},
                         {"rate": 0, "net": {"amount": "9.99"}, "vat": {"amount": "0.00"}}],
        "credited": {"amount": "0.00"},
    }
    assert cart["totals"] == expected
    order = succeeded(await submit(api, buyer), "submitOrder")["order"]
    assert order["totals"] == expected
    async with services.db.read_sessions() as session:
        row = await session.get(Order, pk_of(order["id"]))
        assert (row.net_minor, row.vat_minor, row.gross_minor) == (1049, 10, 1059)


async def test_quantity_multiplies_before_rounding(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    product = await create_product(services, "A", 10, 25)
    cart = succeeded(await add_to_cart(api, buyer, product_id=product, quantity=3), "addToCart")["order"]
    line = cart["lines"][0]
    # VAT 0.075 rounds to 0.08.
    assert (line["net"]["amount"], line["vat"]["amount"], line["gross"]["amount"]) == ("0.30", "0.08", "0.38")


async def test_each_buyer_has_their_own_cart(api, services):
    tenant = await shop(api, [Role.CUSTOMER, Role.MANAGER, Role.ADMIN])
    milk = await create_product(services, "MILK", 1250, 15)
    gloves = await create_product(services, "GLOVES", 9990, 25)
    succeeded(await add_to_cart(api, tenant[Role.CUSTOMER], product_id=milk), "addToCart")
    succeeded(await add_to_cart(api, tenant[Role.MANAGER], product_id=gloves, quantity=4), "addToCart")
    assert lines_of(await cart_of(api, tenant[Role.CUSTOMER])) == [("MILK", 1, True)]
    assert lines_of(await cart_of(api, tenant[Role.MANAGER])) == [("GLOVES", 4, True)]
    assert await cart_of(api, tenant[Role.ADMIN]) is None
    # Another buyer's product line cannot be touched through one's own cart.
    error = failed(await update_line(api, tenant[Role.CUSTOMER], gloves, 0), "updateCartLine")
    assert error["code"] == "NOT_FOUND"
    assert lines_of(await cart_of(api, tenant[Role.MANAGER])) == [("GLOVES", 4, True)]


async def test_an_order_approver_cannot_have_a_cart(api, services):
    tenant = await shop(api, [Role.ORDER_APPROVER])
    approver = tenant[Role.ORDER_APPROVER]
    milk = await create_product(services, "MILK", 1250, 15)
    for body, name in [(await add_to_cart(api, approver, product_id=milk), "addToCart"),
                       (await update_cart(api, approver, reference="x"), "updateCart"),
                       (await update_line(api, approver, milk, 1), "updateCartLine"),
                       (await set_substitution(api, approver, False), "setSubstitution"),
                       (await submit(api, approver), "submitOrder")]:
        assert outcome(body, name) == "FORBIDDEN", name
        assert body["data"] is None
    body = await api.raw(CART_QUERY, token=approver.token)
    assert error_code(body) == "FORBIDDEN"
    assert await count(services, Order) == 0
    assert await count(services, OrderLine) == 0


async def test_signed_out_callers_have_no_cart(api, services):
    await create_product(services, "MILK", 1250, 15)
    body = await mutate(api, "addToCart", "AddToCartInput", {"sku": "MILK"}, None)
    assert outcome(body, "addToCart") == "UNAUTHENTICATED"
    assert error_code(await api.raw(CART_QUERY)) == "UNAUTHENTICATED"
    assert await count(services, Order) == 0
