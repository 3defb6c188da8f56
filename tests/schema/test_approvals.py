"""Approval rules and decisions end to end: rules of every condition with up to five
sequential tiers; several matching rules all apply; the order's approval flow; nobody decides
their own order; the approver's queue with budget impact; bulk decisions; the mail that goes
out; and two approvers deciding the same order at the same moment."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from models import ApprovalRule, AuditEntry, OrderApprovalStep, Role
from schema.relay import to_global_id
from tests.spend_helpers import (
    ORDER_FIELDS,
    RULE_FIELDS,
    SpendTenant,
    add_member,
    attach,
    bulk,
    call,
    code_of,
    create_cost_centre,
    create_product,
    get_order,
    group_budget,
    ok,
    order_pk,
    orders_of,
    outbox,
    placed,
    rule,
    save_rule,
    spend_tenant,
    steps,
    tier,
)

PRICE = 100_00
RULES = f"{{ approvalRules {{ {RULE_FIELDS} }} }}"
QUEUE = f"""query($first: Int!, $after: String) {{ approvalQueue(first: $first, after: $after) {{
  edges {{ cursor node {{ order {{ {ORDER_FIELDS} }}
    budgetImpact {{ budgetName orderAmount {{ amount }} budgetAmount {{ amount }} committed {{ amount }}
      remaining {{ amount }} }} }} }}
  pageInfo {{ hasNextPage endCursor }} }} }}"""


async def goods(services, category: str = "Office") -> str:
    return await create_product(services, net_minor=80_00, category=category)


async def queue(api, token: str, first: int = 50) -> list[dict]:
    data = await api.query(QUEUE, {"first": first}, token)
    return [edge["node"] for edge in data["approvalQueue"]["edges"]]


async def queue_ids(api, token: str) -> list[str]:
    return [node["order"]["id"] for node in await queue(api, token)]


async def rule_count(services, company_id: int) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(
            select(func.count()).select_from(ApprovalRule).where(ApprovalRule.company_id == company_id))


def tiers_of(order: dict, rule_name: str | None = None) -> list[tuple]:
    rules = order["approvalFlow"]["rules"]
    chosen = [r for r in rules if rule_name is None or r["ruleName"] == rule_name]
    return [(t["level"], t["status"], t["decidedBy"]) for r in chosen for t in r["tiers"]]


# --- rules --------------------------------------------------------------------------------


async def test_admin_creates_rules_of_every_condition(api, services):
    st = await spend_tenant(api)
    approver = st[Role.ORDER_APPROVER]
    group = to_global_id("Group", st.group_id)
    specs = [
        dict(name="Large orders", condition="TOTAL_ABOVE", threshold="5000.00", appliesToRoles=["CUSTOMER", "MANAGER"],
             tiers=[tier("ORDER_APPROVER"), tier("ADMIN")]),
        dict(name="Over budget", condition="OVER_BUDGET", appliesToGroupIds=[group], tiers=[tier("ADMIN")]),
        dict(name="Over the limit", condition="OVER_PURCHASE_LIMIT", tiers=[tier(users=(approver.gid,))]),
        dict(name="Head office", condition="COST_CENTRE", costCentreId=st.centre_gid,
             tiers=[tier("ADMIN", "ORDER_APPROVER")]),
        dict(name="Alcohol", condition="PRODUCT_CATEGORY", category=" Beverages ",
             tiers=[tier("ORDER_APPROVER"), tier("ADMIN"), tier(users=(approver.gid,)), tier("ADMIN"),
                    tier("ORDER_APPROVER")]),
    ]
    saved = [await rule(api, st, **spec) for spec in specs]
    assert [(r["name"], r["condition"]) for r in saved] == [
        ("Large orders", "TOTAL_ABOVE"), ("Over budget", "OVER_BUDGET"), ("Over the limit", "OVER_PURCHASE_LIMIT"),
        ("Head office", "COST_CENTRE"), ("Alcohol", "PRODUCT_CATEGORY")]
    large, over_budget, over_limit, centre, alcohol = saved
    assert (large["threshold"], large["appliesToRoles"], large["appliesToGroupIds"]) == (
        "5000.00", ["CUSTOMER", "MANAGER"], [])
    assert [t["roles"] for t in large["tiers"]] == [["ORDER_APPROVER"], ["ADMIN"]]
    assert over_budget["appliesToGroupIds"] == [group]
    assert over_limit["tiers"] == [{"level": 1, "roles": [], "userIds": [approver.gid]}]
    assert (centre["costCentreId"], centre["tiers"][0]["roles"]) == (st.centre_gid, ["ADMIN", "ORDER_APPROVER"])
    assert (alcohol["category"], [t["level"] for t in alcohol["tiers"]]) == ("Beverages", [1, 2, 3, 4, 5])
    assert all(r["active"] for r in saved)
    # Administrators and managers read them, in creation order.
    for role in (Role.ADMIN, Role.MANAGER):
        assert (await api.query(RULES, token=st[role].token))["approvalRules"] == saved
    for role in (Role.CUSTOMER, Role.ORDER_APPROVER):
        body = await api.raw(RULES, token=st[role].token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_invalid_rules_are_refused_and_nothing_is_saved(api, services):
    st = await spend_tenant(api)
    other = await spend_tenant(api, [Role.ADMIN])
    admin = st[Role.ADMIN].token
    customer = st[Role.CUSTOMER]
    cases = [
        (dict(condition="TOTAL_ABOVE", threshold="1.00", tiers=[tier("ADMIN")] * 6), ("INVALID_INPUT", "tiers")),
        (dict(condition="TOTAL_ABOVE", threshold="1.00", tiers=[]), ("INVALID_INPUT", "tiers")),
        (dict(condition="TOTAL_ABOVE", threshold="1.00", tiers=[tier("ADMIN"), tier("CUSTOMER")]),
         ("INVALID_INPUT", "tiers.1.roles")),
        (dict(condition="TOTAL_ABOVE", threshold="1.00", tiers=[tier("MANAGER")]), ("INVALID_INPUT", "tiers.0.roles")),
        (dict(condition="TOTAL_ABOVE", threshold="1.00", tiers=[tier()]), ("INVALID_INPUT", "tiers.0")),
        (dict(condition="TOTAL_ABOVE", threshold="1.00", tiers=[tier(users=(customer.gid,))]),
         ("INVALID_INPUT", "tiers.0.userIds")),
        (dict(condition="TOTAL_ABOVE", threshold="1.00", tiers=[tier(users=(other[Role.ADMIN].gid,))]),
         ("NOT_FOUND", "tiers.0.userIds")),
        (dict(condition="TOTAL_ABOVE", tiers=[tier("ADMIN")]), ("INVALID_INPUT", "threshold")),
        (dict(condition="TOTAL_ABOVE", threshold="-5.00", tiers=[tier("ADMIN")]), ("INVALID_INPUT", "threshold")),
        (dict(condition="COST_CENTRE", costCentreId=other.centre_gid, tiers=[tier("ADMIN")]),
         ("NOT_FOUND", "costCentreId")),
        (dict(condition="COST_CENTRE", tiers=[tier("ADMIN")]), ("NOT_FOUND", "costCentreId")),
        (dict(condition="PRODUCT_CATEGORY", category="  ", tiers=[tier("ADMIN")]), ("INVALID_INPUT", "category")),
        (dict(condition="OVER_BUDGET", appliesToGroupIds=[to_global_id("Group", other.group_id)],
              tiers=[tier("ADMIN")]),
         ("NOT_FOUND", "appliesToGroupIds")),
        (dict(condition="OVER_BUDGET", id=to_global_id("ApprovalRule", 999_999), tiers=[tier("ADMIN")]),
         ("NOT_FOUND", "id")),
    ]
    for spec, expected in cases:
        result = await save_rule(api, admin, name="Bad", **spec)
        assert (result.get("code"), result.get("field")) == expected, (spec, result)
    assert await rule_count(services, st.company_id) == 0


async def test_only_administrators_manage_rules(api, services):
    st = await spend_tenant(api)
    kept = await rule(api, st, name="Kept", condition="TOTAL_ABOVE", threshold="10.00", tiers=[tier("ADMIN")])
    for role in (Role.MANAGER, Role.ORDER_APPROVER, Role.CUSTOMER):
        token = st[role].token
        assert code_of(await save_rule(api, token, name="New", condition="OVER_BUDGET",
                                       tiers=[tier("ADMIN")])) == "FORBIDDEN"
        assert code_of(await save_rule(api, token, id=kept["id"], name="Changed", condition="OVER_BUDGET",
                                       tiers=[tier("ADMIN")])) == "FORBIDDEN"
        assert code_of(await call(api, "deleteApprovalRule", {"id": kept["id"]}, token)) == "FORBIDDEN"
    assert (await api.query(RULES, token=st[Role.ADMIN].token))["approvalRules"] == [kept]


async def test_editing_or_deleting_a_rule_does_not_change_what_a_pending_order_needs(api, services):
    st = await spend_tenant(api)
    made = await rule(api, st, name="Two tiers", condition="TOTAL_ABOVE", threshold="0",
                      tiers=[tier("ORDER_APPROVER"), tier("ADMIN")])
    order = await placed(api, st[Role.CUSTOMER], await goods(services))
    edited = await rule(api, st, id=made["id"], name="Renamed", condition="TOTAL_ABOVE", threshold="10000.00",
                        tiers=[tier("ADMIN")])
    assert (edited["id"], edited["name"], edited["threshold"], len(edited["tiers"])) == (
        made["id"], "Renamed", "10000.00", 1)
    seen = await get_order(api, order["id"], st[Role.ADMIN].token)
    assert [r["ruleName"] for r in seen["approvalFlow"]["rules"]] == ["Two tiers"]
    assert tiers_of(seen) == [(1, "PENDING", None), (2, "WAITING", None)]

    deleted = await ok(api, "deleteApprovalRule", {"id": made["id"]}, st[Role.ADMIN].token)
    assert deleted["deletedId"] == made["id"]
    assert (await api.query(RULES, token=st[Role.ADMIN].token))["approvalRules"] == []
    assert (await call(api, "deleteApprovalRule", {"id": made["id"]}, st[Role.ADMIN].token))["code"] == "NOT_FOUND"
    await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ORDER_APPROVER].token)
    done = (await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ADMIN].token))["order"]
    assert (done["status"], tiers_of(done)) == (
        "APPROVED", [(1, "APPROVED", "Test Order_Approver"), (2, "APPROVED", "Test Admin")])
    # New orders follow the rules as they are now: none.
    assert (await placed(api, st[Role.CUSTOMER], await goods(services)))["status"] == "APPROVED"


# --- conditions through the API ---------------------------------------------------------------


async def test_each_condition_sends_only_the_orders_it_describes_to_approval(api, services):
    st = await spend_tenant(api)
    buyer = st[Role.CUSTOMER]
    care = await create_cost_centre(services, st.company_id, code="CARE")
    await attach(services, [buyer.membership_id], care, default=False)
    await rule(api, st, name="Above 250", condition="TOTAL_ABOVE", threshold="250.00", tiers=[tier("ADMIN")])
    await rule(api, st, name="Care", condition="COST_CENTRE", costCentreId=to_global_id("CostCentre", care),
               tiers=[tier("ADMIN")])
    await rule(api, st, name="Drinks", condition="PRODUCT_CATEGORY", category="Beverages", tiers=[tier("ADMIN")])
    office, drinks = await goods(services), await goods(services, "Beverages")

    def names(order):
        return [r["ruleName"] for r in order["approvalFlow"]["rules"]]

    assert (await placed(api, buyer, office, 2))["status"] == "APPROVED"  # 200.00, head office, office supplies
    assert names(await placed(api, buyer, office, 3)) == ["Above 250"]
    assert names(await placed(api, buyer, office, costCentreId=to_global_id("CostCentre", care))) == ["Care"]
    assert names(await placed(api, buyer, drinks)) == ["Drinks"]
    reasons = (await placed(api, buyer, drinks, 3))["approvalFlow"]["rules"]
    assert [(r["ruleName"], r["reason"]) for r in reasons] == [
        ("Above 250", "Order total above the rule's amount"), ("Drinks", "Contains products of the category Beverages")]


async def test_rules_apply_only_to_their_roles_and_groups(api, services):
    st = await spend_tenant(api)
    admin = st[Role.ADMIN].token
    create_group = 'mutation { createGroup(input: {name: "Field"}) { ... on GroupPayload { group { id } } } }'
    other_group = (await api.query(create_group, token=admin))["createGroup"]["group"]["id"]
    field_buyer = await add_member(api, st)
    await ok(api, "updateUser", {"id": field_buyer.gid, "groupId": other_group}, admin)
    await rule(api, st, name="Managers", condition="TOTAL_ABOVE", threshold="0", appliesToRoles=["MANAGER"],
               tiers=[tier("ADMIN")])
    await rule(api, st, name="Field", condition="TOTAL_ABOVE", threshold="0", appliesToGroupIds=[other_group],
               tiers=[tier("ADMIN")])
    product = await goods(services)
    assert (await placed(api, st[Role.CUSTOMER], product))["status"] == "APPROVED"
    by_manager = await placed(api, st[Role.MANAGER], product)
    assert [r["ruleName"] for r in by_manager["approvalFlow"]["rules"]] == ["Managers"]
    assert [r["ruleName"] for r in (await placed(api, field_buyer, product))["approvalFlow"]["rules"]] == ["Field"]


async def test_an_over_budget_rule_replaces_the_implicit_budget_approval(api, services):
    st = await spend_tenant(api)
    await group_budget(api, st, 150_00, action="REQUIRE_APPROVAL", name="Team")
    await rule(api, st, name="Budget owners", condition="OVER_BUDGET", tiers=[tier("ORDER_APPROVER")])
    order = await placed(api, st[Role.CUSTOMER], await goods(services), 2)
    assert order["status"] == "PENDING_APPROVAL"
    assert [(r["ruleName"], r["reason"]) for r in order["approvalFlow"]["rules"]] == [
        ("Budget owners", "Over budget: Team")]
    approved = await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ORDER_APPROVER].token)
    assert approved["order"]["status"] == "APPROVED"


# --- several rules, sequential tiers, the flow ----------------------------------------------


async def test_every_matching_rule_must_be_satisfied(api, services):
    st = await spend_tenant(api)
    await rule(api, st, name="Amount", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ORDER_APPROVER")])
    await rule(api, st, name="Category", condition="PRODUCT_CATEGORY", category="Office", tiers=[tier("ADMIN")])
    order = await placed(api, st[Role.CUSTOMER], await goods(services))
    assert [r["ruleName"] for r in order["approvalFlow"]["rules"]] == ["Amount", "Category"]
    assert tiers_of(order) == [(1, "PENDING", None), (1, "PENDING", None)]

    after_one = (await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ORDER_APPROVER].token))["order"]
    assert after_one["status"] == "PENDING_APPROVAL"
    assert tiers_of(after_one, "Amount") == [(1, "APPROVED", "Test Order_Approver")]
    assert tiers_of(after_one, "Category") == [(1, "PENDING", None)]
    again = await call(api, "approveOrder", {"id": order["id"]}, st[Role.ORDER_APPROVER].token)
    assert again["code"] == "NOT_AN_APPROVER"
    done = (await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ADMIN].token))["order"]
    assert done["status"] == "APPROVED"
    assert tiers_of(done) == [(1, "APPROVED", "Test Order_Approver"), (1, "APPROVED", "Test Admin")]


async def test_one_approver_decides_every_current_tier_that_waits_for_them(api, services):
    st = await spend_tenant(api)
    await rule(api, st, name="A", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ADMIN")])
    await rule(api, st, name="B", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ADMIN", "ORDER_APPROVER")])
    order = await placed(api, st[Role.CUSTOMER], await goods(services))
    done = (await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ADMIN].token))["order"]
    assert (done["status"], tiers_of(done)) == (
        "APPROVED", [(1, "APPROVED", "Test Admin"), (1, "APPROVED", "Test Admin")])


async def test_tiers_are_decided_in_order(api, services):
    st = await spend_tenant(api)
    first = await add_member(api, st, Role.ORDER_APPROVER, first_name="Ada")
    await rule(api, st, name="Three tiers", condition="TOTAL_ABOVE", threshold="0",
               tiers=[tier(users=(first.gid,)), tier("ADMIN"), tier("ORDER_APPROVER")])
    order = await placed(api, st[Role.CUSTOMER], await goods(services))
    [flow_rule] = order["approvalFlow"]["rules"]
    assert [(t["level"], t["approverRoles"], t["approverNames"], t["status"]) for t in flow_rule["tiers"]] == [
        (1, [], ["Ada Order_Approver"], "PENDING"), (2, ["ADMIN"], [], "WAITING"),
        (3, ["ORDER_APPROVER"], [], "WAITING")]

    # Tier 2 and 3 approvers cannot act while tier 1 is pending.
    for role in (Role.ADMIN, Role.ORDER_APPROVER):
        assert (await call(api, "approveOrder", {"id": order["id"]}, st[role].token))["code"] == "NOT_AN_APPROVER"
    assert (await get_order(api, order["id"], st[Role.ADMIN].token))["approvalFlow"]["viewerActions"] == ["CANCEL"]
    assert await queue_ids(api, st[Role.ADMIN].token) == []
    assert await queue_ids(api, first.token) == [order["id"]]

    step1 = (await ok(api, "approveOrder", {"id": order["id"], "comment": "Looks right"}, first.token))["order"]
    assert step1["status"] == "PENDING_APPROVAL"
    assert tiers_of(step1) == [(1, "APPROVED", "Ada Order_Approver"), (2, "PENDING", None), (3, "WAITING", None)]
    assert step1["approvalFlow"]["rules"][0]["tiers"][0]["comment"] == "Looks right"
    assert step1["approvalFlow"]["rules"][0]["tiers"][0]["decidedAt"] is not None
    assert step1["approvalFlow"]["viewerActions"] == []  # nothing more for Ada
    assert (await call(api, "approveOrder", {"id": order["id"]}, first.token))["code"] == "NOT_AN_APPROVER"
    assert await queue_ids(api, first.token) == []
    assert await queue_ids(api, st[Role.ADMIN].token) == [order["id"]]
    assert "APPROVE_STEP" in [e["kind"] for e in step1["timeline"]]

    step2 = (await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ADMIN].token))["order"]
    assert tiers_of(step2) == [
        (1, "APPROVED", "Ada Order_Approver"), (2, "APPROVED", "Test Admin"), (3, "PENDING", None)]
    done = (await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ORDER_APPROVER].token))["order"]
    assert done["status"] == "APPROVED"
    assert tiers_of(done)[-1] == (3, "APPROVED", "Test Order_Approver")


async def test_one_rejection_rejects_and_needs_a_reason(api, services):
    st = await spend_tenant(api)
    await rule(api, st, name="Two tiers", condition="TOTAL_ABOVE", threshold="0",
               tiers=[tier("ORDER_APPROVER"), tier("ADMIN")])
    await rule(api, st, name="Other", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ADMIN")])
    order = await placed(api, st[Role.CUSTOMER], await goods(services))
    for comment in ("", "   "):
        result = await call(api, "rejectOrder", {"id": order["id"], "comment": comment}, st[Role.ORDER_APPROVER].token)
        assert (result["code"], result["field"]) == ("INVALID_INPUT", "comment")
    assert [s.decision for s in await steps(services, order["id"])] == [None, None, None]

    rejected = (await ok(api, "rejectOrder", {"id": order["id"], "comment": "Not needed"},
                         st[Role.ORDER_APPROVER].token))["order"]
    assert rejected["status"] == "REJECTED"
    # The undecided tiers, of this rule and of the other one, will never be decided.
    assert tiers_of(rejected, "Two tiers") == [(1, "REJECTED", "Test Order_Approver"), (2, "SKIPPED", None)]
    assert tiers_of(rejected, "Other") == [(1, "SKIPPED", None)]
    assert tiers_of(await get_order(api, order["id"], st[Role.CUSTOMER].token)) == [
        (1, "REJECTED", "Test Order_Approver"), (2, "SKIPPED", None), (1, "SKIPPED", None)]
    assert rejected["approvalFlow"]["rules"][0]["tiers"][0]["comment"] == "Not needed"
    assert rejected["approvalFlow"]["viewerActions"] == []
    assert [e["comment"] for e in rejected["timeline"] if e["kind"] == "REJECT"] == ["Not needed"]
    assert (await call(api, "approveOrder", {"id": order["id"]}, st[Role.ADMIN].token))["code"] == "INVALID_TRANSITION"


async def test_a_cancelled_order_shows_its_undecided_tiers_as_skipped(api, services):
    st = await spend_tenant(api)
    await rule(api, st, name="Two tiers", condition="TOTAL_ABOVE", threshold="0",
               tiers=[tier("ORDER_APPROVER"), tier("ADMIN")])
    order = await placed(api, st[Role.CUSTOMER], await goods(services))
    step1 = (await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ORDER_APPROVER].token))["order"]
    assert tiers_of(step1) == [(1, "APPROVED", "Test Order_Approver"), (2, "PENDING", None)]

    cancel = {"id": order["id"], "reason": "Ordered twice"}
    cancelled = (await ok(api, "cancelOrder", cancel, st[Role.CUSTOMER].token))["order"]

    assert cancelled["status"] == "CANCELLED"
    assert tiers_of(cancelled) == [(1, "APPROVED", "Test Order_Approver"), (2, "SKIPPED", None)]
    listed = await api.query(f"{{ orders(first: 10) {{ edges {{ node {{ {ORDER_FIELDS} }} }} }} }}",
                             token=st[Role.ADMIN].token)
    assert [tiers_of(edge["node"]) for edge in listed["orders"]["edges"]] == [tiers_of(cancelled)]
    assert await queue_ids(api, st[Role.ADMIN].token) == []


async def test_nobody_decides_their_own_order(api, services):
    st = await spend_tenant(api)
    second_admin = await add_member(api, st, Role.ADMIN)
    await rule(api, st, name="Big", condition="TOTAL_ABOVE", threshold="1000.00", tiers=[tier("ADMIN")])
    await rule(api, st, name="Named", condition="PRODUCT_CATEGORY", category="Office",
               tiers=[tier(users=(st[Role.ADMIN].gid, second_admin.gid))])
    buyer = st[Role.ADMIN]
    product = await goods(services)
    for quantity in (1, 50):  # at any amount
        order = await placed(api, buyer, product, quantity)
        assert order["status"] == "PENDING_APPROVAL"
        assert order["approvalFlow"]["viewerActions"] == ["CANCEL"]
        for mutation, comment in (("approveOrder", ""), ("rejectOrder", "no")):
            result = await call(api, mutation, {"id": order["id"], "comment": comment}, buyer.token)
            assert (result["code"], result["field"]) == ("SELF_APPROVAL", "id")
        assert order["id"] not in await queue_ids(api, buyer.token)
        assert await queue_ids(api, second_admin.token) == [order["id"]]
        assert all(s.decision is None for s in await steps(services, order["id"]))
        done = (await ok(api, "approveOrder", {"id": order["id"]}, second_admin.token))["order"]
        assert done["status"] == "APPROVED"
    # The buyer, though an administrator and a named approver, got no "awaits your approval" mail.
    assert [s for r, s in await outbox(services) if r == buyer.email and "awaits" in s] == []


async def test_a_restricted_approver_can_no_longer_decide(api, services):
    st = await spend_tenant(api)
    approver = st[Role.ORDER_APPROVER]
    await rule(api, st, name="All", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ORDER_APPROVER")])
    order = await placed(api, st[Role.CUSTOMER], await goods(services))
    assert await queue_ids(api, approver.token) == [order["id"]]
    permission = {"userId": approver.gid, "permission": "ORDER_APPROVE"}
    await ok(api, "restrictUserPermission", permission, st[Role.ADMIN].token)
    assert code_of(await call(api, "approveOrder", {"id": order["id"]}, approver.token)) == "FORBIDDEN"
    body = await api.raw(QUEUE, {"first": 10}, approver.token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await orders_of(services, st.company_id) == {"pending_approval": 1}
    await ok(api, "restoreUserPermission", permission, st[Role.ADMIN].token)
    assert (await ok(api, "approveOrder", {"id": order["id"]}, approver.token))["order"]["status"] == "APPROVED"


# --- the queue ------------------------------------------------------------------------------


async def test_the_queue_shows_only_orders_awaiting_the_caller_with_their_budget_impact(api, services):
    st = await spend_tenant(api)
    await group_budget(api, st, 150_00, action="REQUIRE_APPROVAL", name="Team")
    await rule(api, st, name="Approvers", condition="PRODUCT_CATEGORY", category="Office",
               tiers=[tier("ORDER_APPROVER")])
    buyer = st[Role.CUSTOMER]
    office, other = await goods(services), await goods(services, "Food")

    for_approver = await placed(api, buyer, office)  # 100.00 of 150.00: the category rule only
    for_admin = await placed(api, buyer, other, 2)  # 300.00 of 150.00: the implicit budget approval
    assert [r["ruleName"] for r in for_approver["approvalFlow"]["rules"]] == ["Approvers"]
    assert [r["ruleName"] for r in for_admin["approvalFlow"]["rules"]] == ["Budget approval"]

    approver_queue = await queue(api, st[Role.ORDER_APPROVER].token)
    assert [n["order"]["id"] for n in approver_queue] == [for_approver["id"]]
    assert approver_queue[0]["order"]["approvalFlow"]["viewerActions"] == ["APPROVE", "REJECT"]
    assert approver_queue[0]["budgetImpact"] == [{"budgetName": "Team", "orderAmount": {"amount": "100.00"},
                                                  "budgetAmount": {"amount": "150.00"},
                                                  "committed": {"amount": "300.00"},
                                                  "remaining": {"amount": "-150.00"}}]
    admin_queue = await queue(api, st[Role.ADMIN].token)
    assert [n["order"]["id"] for n in admin_queue] == [for_admin["id"]]
    assert admin_queue[0]["budgetImpact"][0]["orderAmount"] == {"amount": "200.00"}

    await ok(api, "approveOrder", {"id": for_approver["id"]}, st[Role.ORDER_APPROVER].token)
    assert await queue(api, st[Role.ORDER_APPROVER].token) == []
    await ok(api, "rejectOrder", {"id": for_admin["id"], "comment": "Over budget"}, st[Role.ADMIN].token)
    assert await queue(api, st[Role.ADMIN].token) == []
    assert (await budgets_committed(api, st)) == "100.00"
    for role in (Role.CUSTOMER, Role.MANAGER):
        body = await api.raw(QUEUE, {"first": 10}, st[role].token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def budgets_committed(api, st: SpendTenant) -> str:
    data = await api.query("{ budgets { name committed { amount } } }", token=st[Role.ADMIN].token)
    return data["budgets"][0]["committed"]["amount"]


async def test_the_queue_pages_oldest_first(api, services):
    st = await spend_tenant(api)
    await rule(api, st, name="All", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ORDER_APPROVER")])
    product = await goods(services)
    ids = [(await placed(api, st[Role.CUSTOMER], product))["id"] for _ in range(3)]
    token = st[Role.ORDER_APPROVER].token
    first = (await api.query(QUEUE, {"first": 2}, token))["approvalQueue"]
    assert [e["node"]["order"]["id"] for e in first["edges"]] == ids[:2]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await api.query(QUEUE, {"first": 2, "after": first["pageInfo"]["endCursor"]}, token))["approvalQueue"]
    assert [e["node"]["order"]["id"] for e in rest["edges"]] == ids[2:]
    assert rest["pageInfo"]["hasNextPage"] is False


# --- bulk decisions ---------------------------------------------------------------------------


async def test_bulk_approval_gives_a_result_per_order(api, services):
    st = await spend_tenant(api)
    other = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    await rule(api, st, name="All", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ORDER_APPROVER")])
    product = await goods(services)
    a, b = await placed(api, st[Role.CUSTOMER], product), await placed(api, st[Role.CUSTOMER], product)
    already = await placed(api, st[Role.CUSTOMER], product)
    await ok(api, "approveOrder", {"id": already["id"]}, st[Role.ORDER_APPROVER].token)
    foreign = await placed(api, other[Role.CUSTOMER], product)
    ids = [a["id"], to_global_id("Order", 999_999), foreign["id"], b["id"], already["id"], "not-an-id"]
    results = await bulk(api, "approveOrders", ids, "Batch", st[Role.ORDER_APPROVER].token)
    assert [r["orderId"] for r in results] == ids
    assert [(r["order"] or {}).get("status") for r in results] == ["APPROVED", None, None, "APPROVED", None, None]
    assert [(r["error"] or {}).get("code") for r in results] == [
        None, "NOT_FOUND", "NOT_FOUND", None, "INVALID_TRANSITION", "NOT_FOUND"]
    assert await orders_of(services, st.company_id) == {"approved": 3}
    assert await orders_of(services, other.company_id) == {"approved": 1}


async def test_bulk_rejection_needs_a_reason_and_decides_each_order_on_its_own(api, services):
    st = await spend_tenant(api)
    await rule(api, st, name="All", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ADMIN", "ORDER_APPROVER")])
    product = await goods(services)
    a, b = await placed(api, st[Role.CUSTOMER], product), await placed(api, st[Role.CUSTOMER], product)
    own = await placed(api, st[Role.ADMIN], product)
    token = st[Role.ADMIN].token
    results = await bulk(api, "rejectOrders", [a["id"], b["id"]], "", token)
    assert [r["error"]["code"] for r in results] == ["INVALID_INPUT", "INVALID_INPUT"]
    assert await orders_of(services, st.company_id) == {"pending_approval": 3}

    results = await bulk(api, "rejectOrders", [a["id"], own["id"], b["id"]], "Not this week", token)
    assert [(r["order"] or {}).get("status") for r in results] == ["REJECTED", None, "REJECTED"]
    assert results[1]["error"]["code"] == "SELF_APPROVAL"
    assert await orders_of(services, st.company_id) == {"rejected": 2, "pending_approval": 1}
    # Callers without order:approve are refused outright.
    for role in (Role.CUSTOMER, Role.MANAGER):
        body = await api.raw("mutation($ids: [ID!]!) { approveOrders(input: {ids: $ids}) { results { orderId } } }",
                             {"ids": [own["id"]]}, st[role].token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await orders_of(services, st.company_id) == {"rejected": 2, "pending_approval": 1}


# --- mail -------------------------------------------------------------------------------------


async def test_approvers_get_mail_when_an_order_awaits_them_and_the_buyer_on_the_decision(api, services):
    st = await spend_tenant(api)
    second_approver = await add_member(api, st, Role.ORDER_APPROVER)
    idle = await add_member(api, st, Role.ORDER_APPROVER, sign_in=False)  # gets mail without signing in
    gone = await add_member(api, st, Role.ORDER_APPROVER, sign_in=False)
    body = await api.raw('mutation($id: ID!) { deactivateUser(input: {id: $id}) { __typename } }', {"id": gone.gid},
                         st[Role.ADMIN].token)
    assert body["data"]["deactivateUser"]["__typename"] == "UserPayload"
    await rule(api, st, name="Two tiers", condition="TOTAL_ABOVE", threshold="0",
               tiers=[tier("ORDER_APPROVER"), tier("ADMIN")])
    buyer = st[Role.CUSTOMER]
    order = await placed(api, buyer, await goods(services))
    number = order["number"]
    awaits = f"Order {number} awaits your approval"
    assert sorted(await outbox(services)) == sorted([
        (st[Role.ORDER_APPROVER].email, awaits), (second_approver.email, awaits), (idle.email, awaits)])

    await ok(api, "approveOrder", {"id": order["id"]}, second_approver.token)
    assert (await outbox(services))[3:] == [(st[Role.ADMIN].email, awaits)]  # tier 2 now awaits the administrator

    await ok(api, "approveOrder", {"id": order["id"]}, st[Role.ADMIN].token)
    assert (await outbox(services))[4:] == [(buyer.email, f"Order {number} was approved")]

    rejected = await placed(api, buyer, await goods(services))
    await ok(api, "rejectOrder", {"id": rejected["id"], "comment": "No"}, st[Role.ORDER_APPROVER].token)
    assert (await outbox(services))[-1] == (buyer.email, f"Order {rejected['number']} was rejected")
    assert all(r != buyer.email or "was" in s for r, s in await outbox(services))


async def test_a_failed_decision_sends_no_mail(api, services):
    st = await spend_tenant(api)
    await rule(api, st, name="All", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ADMIN")])
    order = await placed(api, st[Role.CUSTOMER], await goods(services))
    before = await outbox(services)
    await call(api, "rejectOrder", {"id": order["id"], "comment": ""}, st[Role.ADMIN].token)
    await call(api, "approveOrder", {"id": order["id"]}, st[Role.ORDER_APPROVER].token)
    assert await outbox(services) == before


# --- two approvers at once ----------------------------------------------------------------------

ROUNDS = 6


async def decided_steps(services, order_gid: str) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(OrderApprovalStep).where(
            OrderApprovalStep.order_id == order_pk(order_gid), OrderApprovalStep.decision.is_not(None)))


async def decision_audits(services, order_gid: str) -> int:
    async with services.db.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.entity == "order", AuditEntry.entity_id == order_pk(order_gid)))


async def test_two_approvers_deciding_at_once_produce_one_outcome(api, services):
    st = await spend_tenant(api)
    other = await add_member(api, st, Role.ORDER_APPROVER)
    await rule(api, st, name="Single tier", condition="TOTAL_ABOVE", threshold="0",
               tiers=[tier("ORDER_APPROVER", "ADMIN")])
    product = await goods(services)
    plans = [("approveOrder", "approveOrder"), ("approveOrder", "rejectOrder"), ("rejectOrder", "approveOrder"),
             ("rejectOrder", "rejectOrder")]
    for round_number in range(ROUNDS):
        first_call, second_call = plans[round_number % len(plans)]
        order = await placed(api, st[Role.CUSTOMER], product)
        mails_before = len(await outbox(services))
        results = await asyncio.gather(
            call(api, first_call, {"id": order["id"], "comment": "first"}, st[Role.ORDER_APPROVER].token),
            call(api, second_call, {"id": order["id"], "comment": "second"}, other.token),
        )
        codes = [code_of(r) for r in results]
        assert sorted(codes) == ["INVALID_TRANSITION", "ok"], (first_call, second_call, results)
        loser = results[codes.index("INVALID_TRANSITION")]
        assert loser["__typename"] == "MutationError"
        winner = results[codes.index("ok")]
        winning_call = (first_call, second_call)[codes.index("ok")]
        expected = "APPROVED" if winning_call == "approveOrder" else "REJECTED"
        assert winner["order"]["status"] == expected
        stored = await get_order(api, order["id"], st[Role.ADMIN].token)
        assert stored["status"] == expected
        assert [t["status"] for t in stored["approvalFlow"]["rules"][0]["tiers"]] == [expected]
        assert await decided_steps(services, order["id"]) == 1
        assert await decision_audits(services, order["id"]) == 1
        assert [k for k in (e["kind"] for e in stored["timeline"]) if k in ("APPROVE", "REJECT")] == [
            "APPROVE" if expected == "APPROVED" else "REJECT"]
        new_mail = (await outbox(services))[mails_before:]
        assert new_mail == [(st[Role.CUSTOMER].email, f"Order {order['number']} was {expected.lower()}")]
    counts = await orders_of(services, st.company_id)
    assert sum(counts.values()) == ROUNDS and set(counts) <= {"approved", "rejected"}
