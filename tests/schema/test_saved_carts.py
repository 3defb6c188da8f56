"""Saved carts through the API: save, list, re-add at current prices, edit, rename, delete, share."""

from __future__ import annotations

from sqlalchemy import select

from models import Role, SavedCart, SavedCartLine
from tests.factories import error_code
from tests.ordering_helpers import (
    add_buyer,
    add_to_cart,
    cart_of,
    change_product,
    count,
    create_product,
    failed,
    gid,
    mutate,
    outcome,
    shop,
    submit,
    succeeded,
)

SAVED = ("id name shared ownedByMe updatedAt lines { quantity substitutionAllowed "
         "product { id sku unitPrice { amount } active } }")
SAVED_RESULT = (f"__typename ... on SavedCartPayload {{ savedCart {{ {SAVED} }} }} "
                "... on MutationError { code message field }")
DELETE_RESULT = "__typename ... on DeleteSavedCartPayload { deletedId } ... on MutationError { code message field }"
LIST = f"{{ savedCarts {{ {SAVED} }} }}"


async def save(api, member, name: str) -> dict:
    return await mutate(api, "saveCart", "SaveCartInput", {"name": name}, member.token, SAVED_RESULT)


async def edit(api, member, saved_id: str, **fields) -> dict:
    return await mutate(api, "updateSavedCart", "UpdateSavedCartInput", {"id": saved_id, **fields}, member.token,
                        SAVED_RESULT)


async def delete(api, member, saved_id: str) -> dict:
    return await mutate(api, "deleteSavedCart", "SavedCartIdInput", {"id": saved_id}, member.token, DELETE_RESULT)


async def reuse(api, member, saved_id: str) -> dict:
    return await mutate(api, "addSavedCartToCart", "SavedCartIdInput", {"id": saved_id}, member.token)


async def listed(api, member) -> list[dict]:
    return (await api.query(LIST, token=member.token))["savedCarts"]


def lines_of(saved: dict) -> list[tuple]:
    return [(line["product"]["sku"], line["quantity"], line["substitutionAllowed"]) for line in saved["lines"]]


async def stored(services) -> list[tuple]:
    async with services.db.read_sessions() as session:
        carts = (await session.scalars(select(SavedCart).order_by(SavedCart.id))).all()
        result = []
        for cart in carts:
            lines = (await session.execute(select(SavedCartLine.product_id, SavedCartLine.quantity,
                                                  SavedCartLine.substitution_allowed)
                                           .where(SavedCartLine.saved_cart_id == cart.id)
                                           .order_by(SavedCartLine.id))).all()
            result.append((cart.owner_id, cart.name, cart.shared, [tuple(line) for line in lines]))
        return result


async def setup(api, services):
    tenant = await shop(api, [Role.ADMIN, Role.CUSTOMER, Role.ORDER_APPROVER])
    milk = await create_product(services, "MILK", 1250, 15)
    gloves = await create_product(services, "GLOVES", 9990, 25)
    coffee = await create_product(services, "COFFEE", 8900, 15)
    return tenant, tenant[Role.CUSTOMER], milk, gloves, coffee


async def saved_weekly(api, buyer, milk, gloves) -> dict:
    succeeded(await add_to_cart(api, buyer, product_id=milk, quantity=6), "addToCart")
    succeeded(await add_to_cart(api, buyer, product_id=gloves, quantity=2, substitution_allowed=False), "addToCart")
    return succeeded(await save(api, buyer, "Weekly"), "saveCart")["savedCart"]


async def test_save_list_and_put_into_the_cart_at_current_prices(api, services):
    _tenant, buyer, milk, gloves, _ = await setup(api, services)
    saved = await saved_weekly(api, buyer, milk, gloves)
    assert (saved["name"], saved["shared"], saved["ownedByMe"]) == ("Weekly", False, True)
    assert lines_of(saved) == [("MILK", 6, True), ("GLOVES", 2, False)]
    assert [s["id"] for s in await listed(api, buyer)] == [saved["id"]]
    # Saving does not empty the cart; submit it, and the saved cart stays.
    order = succeeded(await submit(api, buyer), "submitOrder")["order"]
    assert order["totals"]["gross"]["amount"] == "336.00"  # 6 x 12.50 x 1.15 + 2 x 99.90 x 1.25 = 86.25 + 249.75
    # Prices change; the saved cart shows and re-adds the catalogue's prices of today.
    await change_product(services, milk, unit_price_minor=1390)
    prices = [line["product"]["unitPrice"]["amount"] for line in (await listed(api, buyer))[0]["lines"]]
    assert prices == ["13.90", "99.90"]
    cart = succeeded(await reuse(api, buyer, saved["id"]), "addSavedCartToCart")["order"]
    assert cart["status"] == "DRAFT" and cart["id"] != order["id"]
    assert [(line["sku"], line["quantity"], line["substitutionAllowed"], line["unitPrice"]["amount"])
            for line in cart["lines"]] == [("MILK", 6, True, "13.90"), ("GLOVES", 2, False, "99.90")]
    # Adding it again on top of the cart adds the quantities.
    cart = succeeded(await reuse(api, buyer, saved["id"]), "addSavedCartToCart")["order"]
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [("MILK", 12), ("GLOVES", 4)]


async def test_products_no_longer_sold_are_skipped_when_reused(api, services):
    _tenant, buyer, milk, gloves, _ = await setup(api, services)
    saved = await saved_weekly(api, buyer, milk, gloves)
    succeeded(await submit(api, buyer), "submitOrder")
    await change_product(services, gloves, active=False)
    cart = succeeded(await reuse(api, buyer, saved["id"]), "addSavedCartToCart")["order"]
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [("MILK", 6)]


async def test_an_empty_cart_cannot_be_saved(api, services):
    _tenant, buyer, milk, _, _ = await setup(api, services)
    assert failed(await save(api, buyer, "Nothing"), "saveCart")["code"] == "EMPTY_CART"
    succeeded(await add_to_cart(api, buyer, product_id=milk), "addToCart")
    emptied = {"productId": gid("Product", milk), "quantity": 0}
    succeeded(await mutate(api, "updateCartLine", "UpdateCartLineInput", emptied, buyer.token), "updateCartLine")
    assert failed(await save(api, buyer, "Nothing"), "saveCart")["code"] == "EMPTY_CART"
    assert await count(services, SavedCart) == 0


async def test_edit_the_lines_of_a_saved_cart(api, services):
    _tenant, buyer, milk, gloves, coffee = await setup(api, services)
    saved = await saved_weekly(api, buyer, milk, gloves)
    edited = succeeded(await edit(api, buyer, saved["id"], lines=[
        {"productId": gid("Product", coffee), "quantity": 1},
        {"productId": gid("Product", milk), "quantity": 10, "substitutionAllowed": False},
    ]), "updateSavedCart")["savedCart"]
    assert lines_of(edited) == [("COFFEE", 1, True), ("MILK", 10, False)]
    assert lines_of((await listed(api, buyer))[0]) == [("COFFEE", 1, True), ("MILK", 10, False)]
    before = await stored(services)
    for lines, code, field in [
        ([{"productId": gid("Product", milk), "quantity": 1}, {"productId": gid("Product", milk), "quantity": 2}],
         "INVALID_INPUT", "lines"),
        ([{"productId": gid("Product", 999_999), "quantity": 1}], "PRODUCT_UNAVAILABLE", "lines.0.productId"),
        ([{"productId": gid("Product", milk), "quantity": 0}], "INVALID_INPUT", "lines.0.quantity"),
        ([{"productId": gid("Product", milk), "quantity": 100_001}], "INVALID_INPUT", "lines.0.quantity"),
    ]:
        error = failed(await edit(api, buyer, saved["id"], lines=lines), "updateSavedCart")
        assert (error["code"], error["field"]) == (code, field)
    assert await stored(services) == before


async def test_rename_and_names_are_unique_per_owner(api, services):
    tenant, buyer, milk, gloves, _ = await setup(api, services)
    weekly = await saved_weekly(api, buyer, milk, gloves)
    monthly = succeeded(await save(api, buyer, "Monthly"), "saveCart")["savedCart"]
    error = failed(await save(api, buyer, "  Weekly "), "saveCart")
    assert (error["code"], error["field"]) == ("SAVED_CART_NAME_TAKEN", "name")
    error = failed(await edit(api, buyer, monthly["id"], name="Weekly"), "updateSavedCart")
    assert (error["code"], error["field"]) == ("SAVED_CART_NAME_TAKEN", "name")
    renamed = succeeded(await edit(api, buyer, monthly["id"], name="Every month"), "updateSavedCart")["savedCart"]
    assert renamed["name"] == "Every month"
    unchanged = succeeded(await edit(api, buyer, weekly["id"], name="Weekly"), "updateSavedCart")["savedCart"]
    assert unchanged["name"] == "Weekly"
    assert [s["name"] for s in await listed(api, buyer)] == ["Every month", "Weekly"]
    # Another user may use the same name.
    colleague = await add_buyer(api, tenant)
    succeeded(await add_to_cart(api, colleague, product_id=milk), "addToCart")
    assert succeeded(await save(api, colleague, "Weekly"), "saveCart")["savedCart"]["name"] == "Weekly"


async def test_delete_a_saved_cart(api, services):
    _tenant, buyer, milk, gloves, _ = await setup(api, services)
    saved = await saved_weekly(api, buyer, milk, gloves)
    assert succeeded(await delete(api, buyer, saved["id"]), "deleteSavedCart")["deletedId"] == saved["id"]
    assert await listed(api, buyer) == []
    assert await count(services, SavedCart) == 0 and await count(services, SavedCartLine) == 0
    error = failed(await delete(api, buyer, saved["id"]), "deleteSavedCart")
    assert (error["code"], error["field"]) == ("NOT_FOUND", "id")
    assert failed(await reuse(api, buyer, saved["id"]), "addSavedCartToCart")["code"] == "NOT_FOUND"


async def test_a_saved_cart_is_personal(api, services):
    tenant, buyer, milk, gloves, _ = await setup(api, services)
    saved = await saved_weekly(api, buyer, milk, gloves)
    before = await stored(services)
    colleague = await add_buyer(api, tenant)
    for member in (colleague, tenant[Role.ADMIN]):
        assert await listed(api, member) == []
        assert failed(await reuse(api, member, saved["id"]), "addSavedCartToCart")["code"] == "NOT_FOUND"
        assert failed(await edit(api, member, saved["id"], name="Mine"), "updateSavedCart")["code"] == "NOT_FOUND"
        assert failed(await delete(api, member, saved["id"]), "deleteSavedCart")["code"] == "NOT_FOUND"
    assert await cart_of(api, colleague) is None
    # Another company's administrator does not find it either.
    stranger = (await shop(api, [Role.ADMIN]))[Role.ADMIN]
    assert failed(await edit(api, stranger, saved["id"], shared=True), "updateSavedCart")["code"] == "NOT_FOUND"
    assert await stored(services) == before


async def test_an_administrator_shares_a_saved_cart_with_the_company(api, services):
    tenant, buyer, milk, gloves, _ = await setup(api, services)
    admin = tenant[Role.ADMIN]
    shared = await saved_weekly(api, admin, milk, gloves)
    shared = succeeded(await edit(api, admin, shared["id"], shared=True), "updateSavedCart")["savedCart"]
    assert shared["shared"] is True
    seen = await listed(api, buyer)
    assert [(s["name"], s["shared"], s["ownedByMe"]) for s in seen] == [("Weekly", True, False)]
    cart = succeeded(await reuse(api, buyer, shared["id"]), "addSavedCartToCart")["order"]
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [("MILK", 6), ("GLOVES", 2)]
    # The buyer may use it but not change or delete it.
    before = await stored(services)
    assert failed(await edit(api, buyer, shared["id"], name="Mine"), "updateSavedCart")["code"] == "NOT_FOUND"
    assert failed(await delete(api, buyer, shared["id"]), "deleteSavedCart")["code"] == "NOT_FOUND"
    assert await stored(services) == before
    # Other companies never see it.
    stranger = (await shop(api, [Role.CUSTOMER]))[Role.CUSTOMER]
    assert await listed(api, stranger) == []
    assert failed(await reuse(api, stranger, shared["id"]), "addSavedCartToCart")["code"] == "NOT_FOUND"


async def test_only_an_administrator_may_share(api, services):
    tenant, buyer, milk, gloves, _ = await setup(api, services)
    manager = await add_buyer(api, tenant, Role.MANAGER)
    for member in (buyer, manager):
        saved = await saved_weekly(api, member, milk, gloves)
        error = failed(await edit(api, member, saved["id"], shared=True, name="Renamed too"), "updateSavedCart")
        assert (error["code"], error["field"]) == ("ROLE_NOT_ALLOWED", "shared")
        succeeded(await submit(api, member), "submitOrder")
    assert [(name, shared) for _, name, shared, _ in await stored(services)] == [("Weekly", False), ("Weekly", False)]
    colleague = await add_buyer(api, tenant)
    assert await listed(api, colleague) == []


async def test_order_approvers_have_no_saved_carts(api, services):
    tenant, buyer, milk, gloves, _ = await setup(api, services)
    saved = await saved_weekly(api, buyer, milk, gloves)
    approver = tenant[Role.ORDER_APPROVER]
    assert error_code(await api.raw(LIST, token=approver.token)) == "FORBIDDEN"
    assert outcome(await save(api, approver, "Mine"), "saveCart") == "FORBIDDEN"
    assert outcome(await reuse(api, approver, saved["id"]), "addSavedCartToCart") == "FORBIDDEN"
    assert await count(services, SavedCart) == 1
