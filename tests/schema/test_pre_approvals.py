"""Pre-approved purchases: the request goes through the approval rules as an order of its amount would; once
approved, the buyer's orders within it need no approval by total or cost centre, and take from it; expired,
used up or cancelled it is not used; its carrier never shows as a purchase."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import OutboxMessage, Role
from models.base import utcnow
from schema.relay import to_global_id
from tests.spend_helpers import (
    ERROR,
    SpendTenant,
    call,
    create_product,
    new_key,
    ok,
    placed,
    rule,
    spend_tenant,
    tier,
)

PA_FIELDS = """id number amount { amount currency } used { amount } remaining { amount } validUntil status purpose
  buyerId buyerName costCentre { id code }
  request { id number kind status totals { gross { amount } } lines { id }
    approvalFlow { rules { ruleName tiers { level status } } } }
  orders { id number }"""
PAYLOAD = f"__typename ... on PreApprovalPayload {{ preApproval {{ {PA_FIELDS} }} }} {ERROR}"
LIST = f"""query($filter: PreApprovalFilter, $first: Int, $after: String) {{
  preApprovals(filter: $filter, first: $first, after: $after) {{
    edges {{ node {{ {PA_FIELDS} }} }} pageInfo {{ hasNextPage endCursor }} }} }}"""


def later(days: int = 30) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


async def request(api, token: str, amount: str = "1000.00", purpose: str = "Conference catering", **extra) -> dict:
    body = await api.mutate("requestPreApproval", "RequestPreApprovalInput", PAYLOAD,
                            {"amount": amount, "purpose": purpose, "validUntil": later(), **extra}, token)
    assert "errors" not in body, body
    return body["data"]["requestPreApproval"]


async def requested(api, token: str, **kwargs) -> dict:
    result = await request(api, token, **kwargs)
    assert result["__typename"] == "PreApprovalPayload", result
    return result["preApproval"]


async def cancel(api, token: str, pre_gid: str) -> dict:
    body = await api.mutate("cancelPreApproval", "CancelPreApprovalInput", PAYLOAD, {"id": pre_gid, "reason": "No"},
                            token)
    assert "errors" not in body, body
    return body["data"]["cancelPreApproval"]


async def listed(api, token: str, **filter) -> list[dict]:
    data = await api.query(LIST, {"filter": filter or None}, token)
    return [edge["node"] for edge in data["preApprovals"]["edges"]]


async def node(api, token: str, pre_gid: str) -> dict | None:
    data = await api.query(f"query($id: ID!) {{ node(id: $id) {{ ... on PreApproval {{ {PA_FIELDS} }} }} }}",
                           {"id": pre_gid}, token)
    return data["node"]


async def large_order_rule(api, st: SpendTenant, threshold: str = "500.00") -> None:
    await rule(api, st, name="Large orders", condition="TOTAL_ABOVE", threshold=threshold,
               tiers=[tier("ORDER_APPROVER")])


async def approved_pre_approval(api, st: SpendTenant, amount: str = "1000.00") -> dict:
    await large_order_rule(api, st)
    pre = await requested(api, st[Role.CUSTOMER].token, amount=amount)
    assert pre["status"] == "PENDING"
    await ok(api, "approveOrder", {"id": pre["request"]["id"], "comment": "Fine"}, st[Role.ORDER_APPROVER].token)
    return await node(api, st[Role.CUSTOMER].token, pre["id"])


async def test_request_goes_through_the_rules_like_an_order_and_its_decision_is_the_pre_approvals(api, services):
    st = await spend_tenant(api)
    await large_order_rule(api, st)
    buyer = st[Role.CUSTOMER]
    pre = await requested(api, buyer.token, amount="1200.00")
    carrier = pre["request"]
    assert pre["number"].startswith("PA-") and carrier["number"] == pre["number"]
    assert (pre["status"], pre["amount"]["amount"], pre["remaining"]["amount"]) == ("PENDING", "1200.00", "1200.00")
    assert (carrier["kind"], carrier["status"], carrier["lines"]) == ("PRE_APPROVAL", "PENDING_APPROVAL", [])
    assert carrier["totals"]["gross"]["amount"] == "1200.00"
    assert [r["ruleName"] for r in carrier["approvalFlow"]["rules"]] == ["Large orders"]
    assert pre["costCentre"]["id"] == st.centre_gid
    # The approver is asked by mail, with the amount and the purpose instead of lines.
    async with services.db.read_sessions() as session:
        bodies = (await session.execute(select(OutboxMessage.body, OutboxMessage.html_body).where(
            OutboxMessage.recipient == st[Role.ORDER_APPROVER].email))).all()
    assert len(bodies) == 1
    text, html = bodies[0]
    assert "A pre-approval of 1200.00 NOK for Conference catering" in text and "Lines:" not in text
    assert "A pre-approval of <strong>1200.00 NOK</strong> for Conference catering" in html
    # Nobody decides their own; the approver approves; the pre-approval follows.
    await ok(api, "approveOrder", {"id": carrier["id"], "comment": "Go ahead"}, st[Role.ORDER_APPROVER].token)
    after = await node(api, buyer.token, pre["id"])
    assert (after["status"], after["request"]["status"]) == ("APPROVED", "APPROVED")
    # A rejected one is rejected.
    second = await requested(api, buyer.token, amount="900.00")
    await ok(api, "rejectOrder", {"id": second["request"]["id"], "comment": "Too much"},
             st[Role.ORDER_APPROVER].token)
    assert (await node(api, buyer.token, second["id"]))["status"] == "REJECTED"


async def test_without_a_matching_rule_it_is_approved_at_once(api, services):
    st = await spend_tenant(api)
    pre = await requested(api, st[Role.CUSTOMER].token, amount="100.00")
    assert (pre["status"], pre["request"]["status"]) == ("APPROVED", "APPROVED")


async def test_an_order_within_it_needs_no_approval_and_takes_from_it(api, services):
    st = await spend_tenant(api)
    pre = await approved_pre_approval(api, st, "1000.00")
    buyer = st[Role.CUSTOMER]
    product = await create_product(services, net_minor=480_00)  # 600.00 with VAT: above the rule's 500.00
    order = await placed(api, buyer, product)
    assert order["status"] == "APPROVED", order
    assert order["approvalFlow"] is None or order["approvalFlow"]["rules"] == []
    got = await node(api, buyer.token, pre["id"])
    assert (got["used"]["amount"], got["remaining"]["amount"]) == ("600.00", "400.00")
    assert [o["id"] for o in got["orders"]] == [order["id"]]
    drew = await api.query("query($id: ID!) { order(id: $id) { kind preApproval { id } } }", {"id": order["id"]},
                           buyer.token)
    assert drew["order"] == {"kind": "PURCHASE", "preApproval": {"id": pre["id"]}}
    # What remains (400.00) does not hold another 600.00: normal approval, nothing taken.
    second = await placed(api, buyer, product)
    assert second["status"] == "PENDING_APPROVAL"
    assert (await node(api, buyer.token, pre["id"]))["used"]["amount"] == "600.00"


async def test_small_orders_do_not_use_it_and_other_buyers_do_not_draw_on_it(api, services):
    st = await spend_tenant(api)
    pre = await approved_pre_approval(api, st, "1000.00")
    small = await create_product(services, net_minor=80_00)  # 100.00: below the rule
    order = await placed(api, st[Role.CUSTOMER], small)
    assert order["status"] == "APPROVED"
    assert (await node(api, st[Role.CUSTOMER].token, pre["id"]))["used"]["amount"] == "0.00"
    large = await create_product(services, net_minor=480_00)
    other = await placed(api, st[Role.MANAGER], large)
    assert other["status"] == "PENDING_APPROVAL"


async def test_expired_or_cancelled_it_is_not_used(api, services):
    st = await spend_tenant(api)
    pre = await approved_pre_approval(api, st, "1000.00")
    buyer = st[Role.CUSTOMER]
    from sqlalchemy import update

    from models import PreApproval
    from schema.relay import parse_global_id
    pk = parse_global_id(pre["id"])[1]
    async with services.db.transaction() as session:
        await session.execute(update(PreApproval).where(PreApproval.id == pk)
                              .values(valid_until=utcnow() - timedelta(minutes=1)))
    assert (await node(api, buyer.token, pre["id"]))["status"] == "EXPIRED"
    assert [p["id"] for p in await listed(api, buyer.token, status="EXPIRED")] == [pre["id"]]
    assert await listed(api, buyer.token, status="APPROVED") == []
    product = await create_product(services, net_minor=480_00)
    assert (await placed(api, buyer, product))["status"] == "PENDING_APPROVAL"
    # A cancelled one neither.
    fresh = await approved_pre_approval(api, st, "1000.00")
    cancelled = await cancel(api, buyer.token, fresh["id"])
    assert cancelled["preApproval"]["status"] == "CANCELLED"
    assert (await placed(api, buyer, product))["status"] == "PENDING_APPROVAL"
    again = await cancel(api, buyer.token, fresh["id"])
    assert again["code"] == "INVALID_TRANSITION"


async def test_cancelling_a_pending_request_cancels_its_carrier(api, services):
    st = await spend_tenant(api)
    await large_order_rule(api, st)
    buyer = st[Role.CUSTOMER]
    pre = await requested(api, buyer.token)
    result = await cancel(api, buyer.token, pre["id"])
    assert result["preApproval"]["status"] == "CANCELLED"
    assert result["preApproval"]["request"]["status"] == "CANCELLED"
    # Someone else's is not theirs to cancel.
    other = await requested(api, st[Role.MANAGER].token)
    assert (await cancel(api, buyer.token, other["id"]))["code"] == "NOT_FOUND"


async def test_a_rejected_order_gives_back_what_it_took(api, services):
    st = await spend_tenant(api)
    pre = await approved_pre_approval(api, st, "1000.00")
    await rule(api, st, name="Drinks", condition="PRODUCT_CATEGORY", category="Beverages",
               tiers=[tier("ORDER_APPROVER")])
    buyer = st[Role.CUSTOMER]
    drinks = await create_product(services, net_minor=480_00, category="Beverages")
    order = await placed(api, buyer, drinks)
    # The category rule still asks; the total rule does not.
    assert order["status"] == "PENDING_APPROVAL"
    assert [r["ruleName"] for r in order["approvalFlow"]["rules"]] == ["Drinks"]
    assert (await node(api, buyer.token, pre["id"]))["used"]["amount"] == "600.00"
    await ok(api, "rejectOrder", {"id": order["id"], "comment": "No drinks"}, st[Role.ORDER_APPROVER].token)
    assert (await node(api, buyer.token, pre["id"]))["used"]["amount"] == "0.00"


async def test_invalid_requests_are_refused(api, services):
    st = await spend_tenant(api)
    token = st[Role.CUSTOMER].token
    cases = [
        ({"amount": "0.00"}, ("INVALID_INPUT", "amount")),
        ({"amount": "abc"}, ("INVALID_INPUT", "amount")),
        ({"purpose": "  "}, ("INVALID_INPUT", "purpose")),
        ({"validUntil": (utcnow() - timedelta(days=1)).isoformat()}, ("INVALID_INPUT", "validUntil")),
        ({"validUntil": (utcnow() + timedelta(days=400)).isoformat()}, ("INVALID_INPUT", "validUntil")),
        ({"costCentreId": to_global_id("CostCentre", 987_654)}, ("NOT_FOUND", "costCentreId")),
    ]
    for change, expected in cases:
        input = {"amount": "100.00", "purpose": "Stuff", "validUntil": later(), **change}
        body = await api.mutate("requestPreApproval", "RequestPreApprovalInput", PAYLOAD, input, token)
        result = body["data"]["requestPreApproval"]
        assert (result.get("code"), result.get("field")) == expected, (change, result)
    assert await listed(api, st[Role.ADMIN].token) == []
    # An approver (no order:create) may not ask.
    body = await api.mutate("requestPreApproval", "RequestPreApprovalInput", PAYLOAD,
                            {"amount": "1.00", "purpose": "x", "validUntil": later()}, st[Role.ORDER_APPROVER].token)
    assert body.get("errors") or body["data"]["requestPreApproval"]["__typename"] == "MutationError"


async def test_who_sees_which(api, services):
    st = await spend_tenant(api)
    other = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    mine = await requested(api, st[Role.CUSTOMER].token)
    managers = await requested(api, st[Role.MANAGER].token)
    await requested(api, other[Role.CUSTOMER].token)
    assert [p["id"] for p in await listed(api, st[Role.CUSTOMER].token)] == [mine["id"]]
    assert [p["id"] for p in await listed(api, st[Role.ADMIN].token)] == [managers["id"], mine["id"]]
    by_buyer = await listed(api, st[Role.ADMIN].token, buyerId=to_global_id("User", st[Role.CUSTOMER].membership_id))
    assert [p["id"] for p in by_buyer] == [mine["id"]]
    assert await node(api, st[Role.CUSTOMER].token, managers["id"]) is None
    assert await node(api, other[Role.ADMIN].token, mine["id"]) is None


async def test_the_carrier_is_no_purchase(api, services):
    st = await spend_tenant(api)
    await large_order_rule(api, st)
    buyer, admin = st[Role.CUSTOMER], st[Role.ADMIN]
    pre = await requested(api, buyer.token)
    carrier_id = pre["request"]["id"]
    product = await create_product(services, net_minor=80_00)
    order = await placed(api, buyer, product)
    ids = [e["node"]["id"] for e in (await api.query("{ orders(first: 50) { edges { node { id } } } }",
                                                      token=admin.token))["orders"]["edges"]]
    assert ids == [order["id"]]
    changes = await api.query("{ orderChanges(first: 100) { edges { node { order { id } } } } }", token=admin.token)
    assert carrier_id not in {e["node"]["order"]["id"] for e in changes["orderChanges"]["edges"]}
    # The approver meets it in their queue.
    queue = await api.query("{ approvalQueue(first: 50) { edges { node { order { id kind } } } } }",
                            token=st[Role.ORDER_APPROVER].token)
    assert {"id": carrier_id, "kind": "PRE_APPROVAL"} in [e["node"]["order"] for e in queue["approvalQueue"]["edges"]]
    # Approved, it cannot be fulfilled; nothing was charged.
    await ok(api, "approveOrder", {"id": carrier_id, "comment": ""}, st[Role.ORDER_APPROVER].token)
    from tests.spend_helpers import operator
    op = await operator(api)
    fulfil = await call(api, "fulfilOrder", {"id": carrier_id, "comment": ""}, op.token)
    assert fulfil["code"] == "INVALID_TRANSITION"
    assert new_key()
