"""The catalogue through the API: operators keep it, buyers search it."""

from __future__ import annotations

from sqlalchemy import select

from models import Order, Product, Role
from tests.factories import error_code
from tests.ordering_helpers import (
    PRODUCT,
    PRODUCT_RESULT,
    add_to_cart,
    change_product,
    count,
    create_product,
    failed,
    gid,
    mutate,
    operator,
    outcome,
    pk_of,
    shop,
    succeeded,
)

SEARCH = f"""query($search: String, $category: String, $first: Int!, $after: String, $inactive: Boolean! = false) {{
  products(search: $search, category: $category, first: $first, after: $after, includeInactive: $inactive) {{
    edges {{ cursor node {{ {PRODUCT} }} }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"""

NEW_PRODUCT = {"sku": "MILK-1L", "name": "Milk 1 l", "description": "Whole milk", "unit": "piece",
               "category": "Dairy", "unitPrice": "12.50", "vatRate": 15}


async def create(api, token, **fields) -> dict:
    return await mutate(api, "createProduct", "ProductInput", {**NEW_PRODUCT, **fields}, token, PRODUCT_RESULT)


async def update(api, token, product_id: str, **fields) -> dict:
    return await mutate(api, "updateProduct", "UpdateProductInput", {"id": product_id, "fields": fields}, token,
                        PRODUCT_RESULT)


async def stored(services, sku: str) -> Product | None:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(Product).where(Product.sku == sku))


async def search(api, token, **variables) -> dict:
    variables.setdefault("first", 50)
    return (await api.query(SEARCH, variables, token))["products"]


def skus(page: dict) -> list[str]:
    return [edge["node"]["sku"] for edge in page["edges"]]


# --- operators keep the catalogue ---------------------------------------------------------------

async def test_operator_creates_a_product_with_a_decimal_price(api, services):
    op = await operator(api)
    product = succeeded(await create(api, op.token), "createProduct")["product"]
    assert {k: product[k] for k in ("sku", "name", "description", "unit", "category", "vatRate", "active")} == {
        "sku": "MILK-1L", "name": "Milk 1 l", "description": "Whole milk", "unit": "piece", "category": "Dairy",
        "vatRate": 15, "active": True}
    assert product["unitPrice"] == {"amount": "12.50", "currency": "NOK"}
    row = await stored(services, "MILK-1L")
    assert (row.id, row.unit_price_minor, row.vat_rate, row.currency) == (pk_of(product["id"]), 1250, 15, "NOK")
    assert row.search_text == "milk-1l milk 1 l whole milk dairy"


async def test_names_and_skus_are_trimmed_and_a_sku_has_no_spaces(api, services):
    op = await operator(api)
    product = succeeded(await create(api, op.token, sku="  TEA-1  ", name="  Green   tea "), "createProduct")["product"]
    assert (product["sku"], product["name"]) == ("TEA-1", "Green tea")
    error = failed(await create(api, op.token, sku="TEA 2"), "createProduct")
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "sku")
    assert await count(services, Product) == 1


async def test_a_sku_is_unique(api, services):
    op = await operator(api)
    succeeded(await create(api, op.token), "createProduct")
    error = failed(await create(api, op.token, name="Other milk", unitPrice="99.00"), "createProduct")
    assert (error["code"], error["field"]) == ("SKU_TAKEN", "sku")
    assert await count(services, Product) == 1
    assert (await stored(services, "MILK-1L")).unit_price_minor == 1250


async def test_changing_a_sku_to_another_products_is_refused(api, services):
    op = await operator(api)
    succeeded(await create(api, op.token), "createProduct")
    other = succeeded(await create(api, op.token, sku="MILK-2L"), "createProduct")["product"]
    error = failed(await update(api, op.token, other["id"], sku="MILK-1L", name="Renamed"), "updateProduct")
    assert (error["code"], error["field"]) == ("SKU_TAKEN", "fields.sku")
    row = await stored(services, "MILK-2L")
    assert row.name == "Milk 1 l"  # nothing of the refused change was written
    # Keeping one's own SKU is fine.
    resku = succeeded(await update(api, op.token, other["id"], sku="MILK-2L"), "updateProduct")["product"]
    assert resku["sku"] == "MILK-2L"


async def test_vat_rate_must_be_one_of_the_allowed_rates(api, services):
    op = await operator(api)
    for rate in (25, 15, 12, 6, 0):
        product = succeeded(await create(api, op.token, sku=f"VAT-{rate}", vatRate=rate), "createProduct")["product"]
        assert product["vatRate"] == rate
    for rate in (20, 24, -25, 100):
        error = failed(await create(api, op.token, sku=f"BAD-{rate}", vatRate=rate), "createProduct")
        assert (error["code"], error["field"], error["message"]) == (
            "INVALID_INPUT", "vatRate", "VAT rate must be one of 25, 15, 12, 6, 0")
    assert await count(services, Product) == 5
    created = succeeded(await create(api, op.token, sku="KEEP"), "createProduct")["product"]
    error = failed(await update(api, op.token, created["id"], vatRate=20), "updateProduct")
    assert (error["code"], error["field"]) == ("INVALID_INPUT", "fields.vatRate")
    assert (await stored(services, "KEEP")).vat_rate == 15


async def test_prices_are_non_negative_decimals_with_at_most_two_decimals(api, services):
    op = await operator(api)
    for price in ("-0.01", "-12.50"):
        error = failed(await create(api, op.token, unitPrice=price), "createProduct")
        assert (error["code"], error["field"], error["message"]) == (
            "INVALID_INPUT", "unitPrice", "A price cannot be negative")
    for price in ("12.505", "twelve", "12,50"):
        error = failed(await create(api, op.token, unitPrice=price), "createProduct")
        assert (error["code"], error["field"]) == ("INVALID_INPUT", "unitPrice")
    assert await count(services, Product) == 0
    for sku, price, minor in (("P1", "12.5", 1250), ("P2", "0", 0), ("P3", "1234567.89", 123456789)):
        product = succeeded(await create(api, op.token, sku=sku, unitPrice=price), "createProduct")["product"]
        assert (await stored(services, sku)).unit_price_minor == minor
        assert product["unitPrice"]["amount"] == f"{minor // 100}.{minor % 100:02d}"


async def test_required_fields_on_create(api, services):
    op = await operator(api)
    for missing in ("sku", "name", "unit", "category", "unitPrice", "vatRate"):
        fields = {k: v for k, v in NEW_PRODUCT.items() if k != missing}
        body = await mutate(api, "createProduct", "ProductInput", fields, op.token, PRODUCT_RESULT)
        assert failed(body, "createProduct")["code"] == "INVALID_INPUT", missing
    blank = failed(await create(api, op.token, name="   "), "createProduct")
    assert (blank["code"], blank["field"]) == ("INVALID_INPUT", "name")
    assert await count(services, Product) == 0


async def test_operator_updates_and_deactivates_a_product(api, services):
    op = await operator(api)
    product = succeeded(await create(api, op.token), "createProduct")["product"]
    changed = succeeded(await update(api, op.token, product["id"], name="Milk 1 litre", unitPrice="13.10"),
                        "updateProduct")["product"]
    assert (changed["name"], changed["unitPrice"]["amount"], changed["vatRate"], changed["category"]) == (
        "Milk 1 litre", "13.10", 15, "Dairy")  # omitted fields stay as they are
    deactivated = succeeded(await update(api, op.token, product["id"], active=False), "updateProduct")["product"]
    assert deactivated["active"] is False
    row = await stored(services, "MILK-1L")
    assert (row.name, row.unit_price_minor, row.active) == ("Milk 1 litre", 1310, False)
    assert "litre" in row.search_text
    missing = failed(await update(api, op.token, gid("Product", 999_999), name="x"), "updateProduct")
    assert (missing["code"], missing["field"]) == ("NOT_FOUND", "id")


async def test_company_roles_may_not_manage_the_catalogue(api, services):
    tenant = await shop(api)
    product_id = await create_product(services, "KEEP", 1000)
    for role in Role:
        body = await create(api, tenant[role].token, sku=f"BY-{role.value}")
        assert outcome(body, "createProduct") == "FORBIDDEN", role
        assert body["data"] is None
        body = await update(api, tenant[role].token, gid("Product", product_id), unitPrice="0.01", active=False)
        assert outcome(body, "updateProduct") == "FORBIDDEN", role
    assert await count(services, Product) == 1
    row = await stored(services, "KEEP")
    assert (row.unit_price_minor, row.active) == (1000, True)
    anonymous = await create(api, None, sku="ANON")
    assert outcome(anonymous, "createProduct") == "UNAUTHENTICATED"


# --- buyers search it ----------------------------------------------------------------------------

async def seed_catalogue(services) -> None:
    for sku, name, category, description in [
        ("MILK-1L", "Whole milk 1 l", "Dairy", "Fresh organic milk"),
        ("MILK-LF", "Lactose-free milk 1 l", "Dairy", "Milk without lactose"),
        ("BUTTER", "Butter 500 g", "Dairy", "Salted"),
        ("BREAD", "Rye bread", "Bakery", "Whole grain, organic"),
        ("COFFEE", "Coffee beans", "Drinks", "Organic, dark roast"),
        ("TEA", "Green tea", "Drinks", "Loose leaves"),
        ("GLOVES", "Nitrile gloves 100%", "Care", "Size M"),
    ]:
        await create_product(services, sku, 1000, name=name, category=category, description=description)
    await create_product(services, "OLD-MILK", 1000, name="Old milk", category="Dairy", active=False)


async def test_buyers_search_by_words_that_must_all_appear(api, services):
    await seed_catalogue(services)
    buyer = (await shop(api, [Role.CUSTOMER]))[Role.CUSTOMER]
    assert skus(await search(api, buyer.token, search="milk")) == ["MILK-1L", "MILK-LF"]
    assert skus(await search(api, buyer.token, search="ORGANIC")) == ["MILK-1L", "BREAD", "COFFEE"]
    assert skus(await search(api, buyer.token, search="organic milk")) == ["MILK-1L"]
    assert skus(await search(api, buyer.token, search="  lactose   free ")) == ["MILK-LF"]
    assert skus(await search(api, buyer.token, search="coffee")) == ["COFFEE"]  # the SKU counts too
    assert skus(await search(api, buyer.token, search="100%")) == ["GLOVES"]  # LIKE wildcards are literal
    assert skus(await search(api, buyer.token, search="_")) == []
    assert skus(await search(api, buyer.token, search="caviar")) == []
    assert len(skus(await search(api, buyer.token))) == 7


async def test_buyers_filter_by_category_and_see_the_categories_on_sale(api, services):
    await seed_catalogue(services)
    buyer = (await shop(api, [Role.CUSTOMER]))[Role.CUSTOMER]
    assert skus(await search(api, buyer.token, category="Dairy")) == ["MILK-1L", "MILK-LF", "BUTTER"]
    assert skus(await search(api, buyer.token, category="Drinks", search="organic")) == ["COFFEE"]
    assert skus(await search(api, buyer.token, category="Nothing")) == []
    data = await api.query("{ productCategories }", token=buyer.token)
    assert data["productCategories"] == ["Bakery", "Care", "Dairy", "Drinks"]


async def test_search_pages_with_cursors(api, services):
    await seed_catalogue(services)
    buyer = (await shop(api, [Role.CUSTOMER]))[Role.CUSTOMER]
    seen, after, pages = [], None, 0
    while True:
        page = await search(api, buyer.token, first=3, after=after)
        pages += 1
        seen += skus(page)
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == ["MILK-1L", "MILK-LF", "BUTTER", "BREAD", "COFFEE", "TEA", "GLOVES"]
    dairy = await search(api, buyer.token, category="Dairy", first=2)
    assert skus(dairy) == ["MILK-1L", "MILK-LF"] and dairy["pageInfo"]["hasNextPage"] is True
    rest = await search(api, buyer.token, category="Dairy", first=2, after=dairy["pageInfo"]["endCursor"])
    assert skus(rest) == ["BUTTER"] and rest["pageInfo"]["hasNextPage"] is False


async def test_bad_cursor_and_page_size_are_invalid_input(api, services):
    buyer = (await shop(api, [Role.CUSTOMER]))[Role.CUSTOMER]
    body = await api.raw(SEARCH, {"first": 2, "after": "not-a-cursor"}, buyer.token)
    assert error_code(body) == "INVALID_INPUT"
    body = await api.raw(SEARCH, {"first": 101}, buyer.token)
    assert error_code(body) == "INVALID_INPUT"
    body = await api.raw(SEARCH, {"first": 5})
    assert error_code(body) == "UNAUTHENTICATED"


async def test_inactive_products_are_hidden_from_buyers_but_not_from_operators(api, services):
    await seed_catalogue(services)
    buyer = (await shop(api, [Role.CUSTOMER]))[Role.CUSTOMER]
    op = await operator(api)
    assert "OLD-MILK" not in skus(await search(api, buyer.token, search="milk"))
    assert "OLD-MILK" not in skus(await search(api, buyer.token, search="milk", inactive=True))  # not theirs to ask
    assert "OLD-MILK" not in skus(await search(api, op.token, search="milk"))
    assert skus(await search(api, op.token, search="milk", inactive=True)) == ["MILK-1L", "MILK-LF", "OLD-MILK"]


async def test_inactive_or_unknown_products_cannot_be_added_to_a_cart(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    inactive = await create_product(services, "GONE", 1000, active=False)
    for body, field in [(await add_to_cart(api, buyer, sku="GONE"), "sku"),
                        (await add_to_cart(api, buyer, product_id=inactive), "productId"),
                        (await add_to_cart(api, buyer, sku="NO-SUCH"), "sku"),
                        (await add_to_cart(api, buyer, product_id=999_999), "productId")]:
        error = failed(body, "addToCart")
        assert (error["code"], error["field"]) == ("PRODUCT_UNAVAILABLE", field)
    assert await count(services, Order) == 0  # not even an empty cart was left behind


async def test_a_product_deactivated_after_it_was_put_in_the_cart_blocks_submission(api, services):
    tenant = await shop(api, [Role.CUSTOMER])
    buyer = tenant[Role.CUSTOMER]
    keep = await create_product(services, "KEEP", 1000)
    gone = await create_product(services, "GONE", 1000)
    succeeded(await add_to_cart(api, buyer, product_id=keep), "addToCart")
    succeeded(await add_to_cart(api, buyer, product_id=gone), "addToCart")
    await change_product(services, gone, active=False)
    body = await mutate(api, "submitOrder", "SubmitOrderInput", {"idempotencyKey": "key-deactivated"}, buyer.token)
    error = failed(body, "submitOrder")
    assert (error["code"], error["field"]) == ("PRODUCT_UNAVAILABLE", None)
    assert "(GONE) is no longer sold" in error["message"]
    assert await count(services, Order, Order.status == "draft") == 1
    assert await count(services, Order, Order.status != "draft") == 0
