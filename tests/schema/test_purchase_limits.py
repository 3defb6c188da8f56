"""Purchase limits (köpgräns) end to end: per order and per month; the buyer sees the limit and
what is left; above it the order is refused unless an OVER_PURCHASE_LIMIT rule sends it to
approval; an administrator's change applies to the very next submission."""

from __future__ import annotations

from models import Role
from tests.spend_helpers import (
    LIMIT_FIELDS,
    add_member,
    call,
    cart,
    code_of,
    create_product,
    fill_cart,
    month_spend,
    my_limit,
    ok,
    operator,
    orders_of,
    place_order,
    placed,
    rule,
    spend_tenant,
    submit,
    tier,
)

PRICE = 100_00


async def set_limit(api, admin_token: str, user_gid: str, per_order: str | None = None,
                    per_month: str | None = None) -> dict:
    return await call(api, "setPurchaseLimit", {"userId": user_gid, "perOrder": per_order, "perMonth": per_month},
                      admin_token)


async def limits_of(api, token: str, user_gid: str) -> dict:
    """The raw response of purchaseLimit(userId:) (data and errors)."""
    return await api.raw(f"query($id: ID!) {{ purchaseLimit(userId: $id) {{ {LIMIT_FIELDS} }} }}", {"id": user_gid},
                         token)


async def test_the_buyer_sees_their_limits_and_what_is_left(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    assert await my_limit(api, buyer.token) == {"userId": buyer.gid, "perOrder": None, "perMonth": None,
                                                "usedThisMonth": {"amount": "0.00"}, "remainingThisMonth": None}
    payload = await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": "500.00", "perMonth": "1000.00"},
                       st[Role.ADMIN].token)
    assert payload["purchaseLimit"]["perOrder"] == {"amount": "500.00"}
    await placed(api, buyer, await create_product(services, net_minor=80_00), 3)
    assert await my_limit(api, buyer.token) == {"userId": buyer.gid, "perOrder": {"amount": "500.00"},
                                                "perMonth": {"amount": "1000.00"},
                                                "usedThisMonth": {"amount": "300.00"},
                                                "remainingThisMonth": {"amount": "700.00"}}


async def test_an_order_above_the_per_order_limit_is_refused_and_nothing_is_written(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": "200.00"}, st[Role.ADMIN].token)
    goods = await create_product(services, net_minor=80_00)
    result = await place_order(api, buyer, goods, 3)
    assert (result["__typename"], result["code"]) == ("MutationError", "PURCHASE_LIMIT_EXCEEDED")
    assert result["message"] == "Above the purchase limit per order (200.00)"
    assert await orders_of(services, st.company_id) == {}
    assert (await cart(api, buyer))["lines"] == [{"quantity": 3}]
    assert await month_spend(services, buyer.membership_id) == 0
    # Exactly at the limit is allowed.
    await ok(api, "updateCartLine", {"productId": goods, "quantity": 2}, buyer.token)
    at_the_limit = await ok(api, "submitOrder", {"idempotencyKey": "at-the-limit"}, buyer.token)
    assert at_the_limit["order"]["status"] == "APPROVED"
    assert await month_spend(services, buyer.membership_id) == 2 * PRICE


async def test_the_monthly_limit_counts_every_order_of_the_month(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perMonth": "250.00"}, st[Role.ADMIN].token)
    goods = await create_product(services, net_minor=80_00)
    await placed(api, buyer, goods)
    await placed(api, buyer, goods)
    result = await place_order(api, buyer, goods)
    assert (result["code"], result["message"]) == (
        "PURCHASE_LIMIT_EXCEEDED", "Above the monthly purchase limit (250.00)")
    assert await month_spend(services, buyer.membership_id) == 2 * PRICE
    assert (await my_limit(api, buyer.token))["remainingThisMonth"] == {"amount": "50.00"}
    assert await orders_of(services, st.company_id) == {"approved": 2}
    # The limit is per buyer: a colleague is not affected.
    colleague = await add_member(api, st)
    assert (await placed(api, colleague, goods, 5))["status"] == "APPROVED"


async def test_cancelling_gives_the_month_back(api, services):
    st = await spend_tenant(api)
    buyer = st[Role.CUSTOMER]
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perMonth": "150.00"}, st[Role.ADMIN].token)
    await rule(api, st, name="All orders", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ORDER_APPROVER")])
    goods = await create_product(services, net_minor=80_00)
    order = await placed(api, buyer, goods)
    assert await month_spend(services, buyer.membership_id) == PRICE
    assert (await place_order(api, buyer, goods))["code"] == "PURCHASE_LIMIT_EXCEEDED"
    await ok(api, "cancelOrder", {"id": order["id"]}, buyer.token)
    assert await month_spend(services, buyer.membership_id) == 0
    assert (await submit(api, buyer))["order"]["status"] == "PENDING_APPROVAL"
    assert await month_spend(services, buyer.membership_id) == PRICE


async def test_an_over_purchase_limit_rule_sends_the_order_to_approval_instead(api, services):
    st = await spend_tenant(api)
    buyer = st[Role.CUSTOMER]
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": "150.00", "perMonth": "350.00"},
             st[Role.ADMIN].token)
    await rule(api, st, name="Above the limit", condition="OVER_PURCHASE_LIMIT", tiers=[tier("ORDER_APPROVER")])
    goods = await create_product(services, net_minor=80_00)

    within = await placed(api, buyer, goods)
    assert (within["status"], within["approvalFlow"]["rules"]) == ("APPROVED", [])

    per_order = await placed(api, buyer, goods, 2)
    assert per_order["status"] == "PENDING_APPROVAL"
    [flow_rule] = per_order["approvalFlow"]["rules"]
    assert (flow_rule["ruleName"], flow_rule["reason"]) == (
        "Above the limit", "Above the purchase limit per order (150.00)")

    # 100 + 200 are committed; one more of 100 goes over the month.
    per_month = await placed(api, buyer, goods)
    assert per_month["status"] == "PENDING_APPROVAL"
    assert per_month["approvalFlow"]["rules"][0]["reason"] == "Above the monthly purchase limit (350.00)"
    assert await month_spend(services, buyer.membership_id) == 4 * PRICE
    assert (await my_limit(api, buyer.token))["remainingThisMonth"] == {"amount": "0.00"}

    approved = await ok(api, "approveOrder", {"id": per_order["id"]}, st[Role.ORDER_APPROVER].token)
    assert approved["order"]["status"] == "APPROVED"
    await ok(api, "rejectOrder", {"id": per_month["id"], "comment": "Enough this month"}, st[Role.ORDER_APPROVER].token)
    assert await month_spend(services, buyer.membership_id) == 3 * PRICE


async def test_a_limit_rule_for_other_roles_does_not_help_the_buyer(api, services):
    st = await spend_tenant(api)
    buyer = st[Role.CUSTOMER]
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": "50.00"}, st[Role.ADMIN].token)
    await rule(api, st, name="Managers above the limit", condition="OVER_PURCHASE_LIMIT", appliesToRoles=["MANAGER"],
               tiers=[tier("ADMIN")])
    result = await place_order(api, buyer, await create_product(services, net_minor=80_00))
    assert result["code"] == "PURCHASE_LIMIT_EXCEEDED"
    assert await orders_of(services, st.company_id) == {}


async def test_a_changed_limit_applies_to_the_very_next_submission(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer, admin = st[Role.CUSTOMER], st[Role.ADMIN].token
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": "100.00"}, admin)
    goods = await create_product(services, net_minor=80_00)
    await fill_cart(api, buyer, goods, 2)
    assert (await submit(api, buyer, "first-try-key"))["code"] == "PURCHASE_LIMIT_EXCEEDED"

    raised = await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": "200.00"}, admin)
    assert raised["purchaseLimit"]["perOrder"] == {"amount": "200.00"}
    assert (await my_limit(api, buyer.token))["perOrder"] == {"amount": "200.00"}
    assert (await submit(api, buyer, "first-try-key"))["order"]["status"] == "APPROVED"

    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": "50.00"}, admin)
    assert (await place_order(api, buyer, goods))["code"] == "PURCHASE_LIMIT_EXCEEDED"
    cleared = await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": None, "perMonth": None}, admin)
    assert (cleared["purchaseLimit"]["perOrder"], cleared["purchaseLimit"]["perMonth"]) == (None, None)
    assert (await submit(api, buyer))["order"]["status"] == "APPROVED"


async def test_invalid_limits_are_refused(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    other = await spend_tenant(api, [Role.CUSTOMER])
    admin, buyer = st[Role.ADMIN].token, st[Role.CUSTOMER]
    result = await set_limit(api, admin, buyer.gid, per_order="-1.00")
    assert (result["code"], result["field"]) == ("INVALID_INPUT", "perOrder")
    result = await set_limit(api, admin, buyer.gid, per_month="12.345")
    assert (result["code"], result["field"]) == ("INVALID_INPUT", "perMonth")
    result = await set_limit(api, admin, other[Role.CUSTOMER].gid, per_order="10.00")
    assert (result["code"], result["field"]) == ("NOT_FOUND", "userId")
    assert (await my_limit(api, buyer.token))["perOrder"] is None
    assert (await my_limit(api, other[Role.CUSTOMER].token))["perOrder"] is None


async def test_only_administrators_set_limits_and_only_managers_read_them(api, services):
    st = await spend_tenant(api)
    buyer = st[Role.CUSTOMER]
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": "100.00"}, st[Role.ADMIN].token)
    for role in (Role.MANAGER, Role.ORDER_APPROVER, Role.CUSTOMER):
        result = await set_limit(api, st[role].token, buyer.gid, per_order="999999.00")
        assert code_of(result) == "FORBIDDEN", role
    assert (await my_limit(api, buyer.token))["perOrder"] == {"amount": "100.00"}
    for role in (Role.ADMIN, Role.MANAGER):
        body = await limits_of(api, st[role].token, buyer.gid)
        assert body["data"]["purchaseLimit"]["perOrder"] == {"amount": "100.00"}
    for role in (Role.CUSTOMER, Role.ORDER_APPROVER):
        body = await limits_of(api, st[role].token, buyer.gid)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    other = await spend_tenant(api, [Role.ADMIN])
    assert (await limits_of(api, other[Role.ADMIN].token, buyer.gid))["data"]["purchaseLimit"] is None


async def test_an_operator_has_no_purchase_limit(api):
    op = await operator(api)
    body = await api.raw("{ myPurchaseLimit { userId } }", token=op.token)
    assert body["errors"][0]["extensions"]["code"] == "NOT_A_MEMBER"
