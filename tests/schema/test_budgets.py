"""Budgets end to end: per owner (group, user, cost centre) and period (monthly, quarterly,
yearly, fixed range); committed at submission, released on rejection and cancellation, spent
on fulfilment, lowered by returns; the three actions (BLOCK, REQUIRE_APPROVAL, WARN); who may
manage and read them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from models import Role
from models.base import utcnow
from schema.relay import to_global_id
from tests.spend_helpers import (
    add_member,
    attach,
    budgets,
    call,
    cart,
    charges,
    code_of,
    committed_now,
    create_cost_centre,
    create_product,
    get_order,
    group_budget,
    minor,
    ok,
    operator,
    orders_of,
    outbox,
    place_order,
    placed,
    save_budget,
    spend_tenant,
    usage,
)

PRICE = 100_00  # gross of a product with a net of 80.00 at 25 % VAT
CREATE_ELSEWHERE = 'mutation { createGroup(input: {name: "Elsewhere"}) { ... on GroupPayload { group { id } } } }'


def today() -> date:
    return utcnow().date()


def last_day(start: date, months: int) -> date:
    index = start.month - 1 + months
    return date(start.year + index // 12, index % 12 + 1, 1) - timedelta(days=1)


async def product(services, net_minor: int = 80_00) -> str:
    return await create_product(services, net_minor=net_minor)


# --- owners -------------------------------------------------------------------------------


async def test_group_user_and_cost_centre_budgets_count_the_orders_that_belong_to_them(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    admin, first = st[Role.ADMIN].token, st[Role.CUSTOMER]
    second = await add_member(api, st)
    care = await create_cost_centre(services, st.company_id, code="CARE")
    await attach(services, [second.membership_id], care, default=False)
    other_group = (await api.query(CREATE_ELSEWHERE, token=admin))["createGroup"]["group"]["id"]
    made = {}
    for name, owner_type, owner in [("Group", "GROUP", to_global_id("Group", st.group_id)),
                                    ("First", "USER", first.gid),
                                    ("Care", "COST_CENTRE", to_global_id("CostCentre", care)),
                                    ("Other group", "GROUP", other_group)]:
        made[name] = (await ok(api, "saveBudget", {"name": name, "ownerType": owner_type, "ownerId": owner,
                                                   "period": "MONTHLY", "amount": "1000.00", "action": "BLOCK"},
                               admin))["budget"]
        assert made[name]["ownerType"] == owner_type and made[name]["ownerId"] == owner
    goods = await product(services)

    await placed(api, first, goods)  # booked to MAIN
    assert {n: await committed_now(services, b["id"]) for n, b in made.items()} == {
        "Group": PRICE, "First": PRICE, "Care": 0, "Other group": 0}

    order = await placed(api, second, goods, 2, costCentreId=to_global_id("CostCentre", care))
    assert order["costCentre"]["code"] == "CARE"
    assert {n: await committed_now(services, b["id"]) for n, b in made.items()} == {
        "Group": 3 * PRICE, "First": PRICE, "Care": 2 * PRICE, "Other group": 0}

    shown = await budgets(api, admin)
    assert {n: minor(shown[n]["committed"]["amount"]) for n in made} == {
        "Group": 3 * PRICE, "First": PRICE, "Care": 2 * PRICE, "Other group": 0}
    assert minor(shown["Group"]["remaining"]["amount"]) == 1000_00 - 3 * PRICE
    assert shown["Group"]["spent"]["amount"] == "0.00"


# --- periods ------------------------------------------------------------------------------


async def test_each_period_shows_the_window_containing_today(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    day = today()
    month = day.replace(day=1)
    quarter = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    starts, ends = day - timedelta(days=3), day + timedelta(days=3)
    made = {
        "M": await group_budget(api, st, 1000_00, period="MONTHLY", name="M"),
        "Q": await group_budget(api, st, 1000_00, period="QUARTERLY", name="Q"),
        "Y": await group_budget(api, st, 1000_00, period="YEARLY", name="Y"),
        "F": await group_budget(api, st, 1000_00, period="FIXED", name="F", starts_on=starts.isoformat(),
                                ends_on=ends.isoformat()),
        # A fixed range that is over does not apply, however small it is.
        "Past": await group_budget(api, st, 0, period="FIXED", name="Past", starts_on="2020-01-01",
                                   ends_on="2020-12-31"),
    }
    await placed(api, st[Role.CUSTOMER], await product(services))
    shown = await budgets(api, st[Role.ADMIN].token)
    assert (shown["M"]["periodStart"], shown["M"]["periodEnd"]) == (month.isoformat(), last_day(month, 1).isoformat())
    assert (shown["Q"]["periodStart"], shown["Q"]["periodEnd"]) == (
        quarter.isoformat(), last_day(quarter, 3).isoformat())
    assert (shown["Y"]["periodStart"], shown["Y"]["periodEnd"]) == (f"{day.year}-01-01", f"{day.year}-12-31")
    assert (shown["F"]["periodStart"], shown["F"]["periodEnd"]) == (starts.isoformat(), ends.isoformat())
    assert (shown["F"]["startsOn"], shown["F"]["endsOn"]) == (starts.isoformat(), ends.isoformat())
    assert (shown["Past"]["periodStart"], shown["Past"]["periodEnd"]) == (None, None)
    assert {n: minor(b["committed"]["amount"]) for n, b in shown.items()} == {
        "M": PRICE, "Q": PRICE, "Y": PRICE, "F": PRICE, "Past": 0}
    assert await usage(services, made["Past"]["id"]) == {}
    assert (await usage(services, made["F"]["id"])) == {starts: (PRICE, 0)}


async def test_a_past_period_is_shown_with_its_own_figures(api, services, monkeypatch):
    """An order placed last month counts in last month's period, not in this one's."""
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    monthly = await group_budget(api, st, 150_00, name="Monthly")
    yearly = await group_budget(api, st, 10_000_00, period="YEARLY", name="Yearly")
    goods = await product(services)
    this_month = today().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=15)
    moment = datetime(last_month.year, last_month.month, 15, 12, 0, tzinfo=UTC)
    monkeypatch.setattr("resolvers.order_submit.utcnow", lambda: moment)
    await placed(api, st[Role.CUSTOMER], goods)
    monkeypatch.undo()

    now = await budgets(api, st[Role.ADMIN].token)
    assert now["Monthly"]["committed"]["amount"] == "0.00"
    assert now["Monthly"]["periodStart"] == this_month.isoformat()
    past = await budgets(api, st[Role.ADMIN].token, date=last_month.isoformat())
    assert past["Monthly"]["periodStart"] == last_month.replace(day=1).isoformat()
    assert past["Monthly"]["periodEnd"] == (this_month - timedelta(days=1)).isoformat()
    assert past["Monthly"]["committed"]["amount"] == "100.00"
    assert past["Monthly"]["remaining"]["amount"] == "50.00"
    same_year = last_month.year == this_month.year
    assert minor(now["Yearly"]["committed"]["amount"]) == (PRICE if same_year else 0)
    assert minor(past["Yearly"]["committed"]["amount"]) == PRICE
    # This month's period has the whole amount: two orders of 100.00 would not fit in 150.00, one does.
    await placed(api, st[Role.CUSTOMER], goods)
    assert (await place_order(api, st[Role.CUSTOMER], goods))["code"] == "BUDGET_EXCEEDED"
    assert await usage(services, monthly["id"]) == {last_month.replace(day=1): (PRICE, 0), this_month: (PRICE, 0)}
    assert yearly["periodStart"] == f"{this_month.year}-01-01"


# --- the lifecycle of a commitment ----------------------------------------------------------


async def approval_rule_for_everything(api, st) -> None:
    await ok(api, "saveApprovalRule", {"name": "Everything", "condition": "TOTAL_ABOVE", "threshold": "0",
                                       "tiers": [{"roles": ["ORDER_APPROVER"]}]}, st[Role.ADMIN].token)


async def test_rejection_releases_the_commitment(api, services):
    st = await spend_tenant(api)
    budget = await group_budget(api, st, 500_00)
    await approval_rule_for_everything(api, st)
    order = await placed(api, st[Role.CUSTOMER], await product(services))
    assert order["status"] == "PENDING_APPROVAL"
    assert await committed_now(services, budget["id"]) == PRICE
    rejected = await ok(api, "rejectOrder", {"id": order["id"], "comment": "Not this month"},
                        st[Role.ORDER_APPROVER].token)
    assert rejected["order"]["status"] == "REJECTED"
    assert await committed_now(services, budget["id"]) == 0
    assert all(released for _, _, released in await charges(services, order["id"]))
    # Rejecting is final: a second attempt changes nothing.
    again = await call(api, "rejectOrder", {"id": order["id"], "comment": "again"}, st[Role.ADMIN].token)
    assert again["code"] == "INVALID_TRANSITION"
    assert await committed_now(services, budget["id"]) == 0


async def test_cancellation_releases_the_commitment_once(api, services):
    st = await spend_tenant(api)
    budget = await group_budget(api, st, 500_00)
    await approval_rule_for_everything(api, st)
    order = await placed(api, st[Role.CUSTOMER], await product(services), 3)
    assert await committed_now(services, budget["id"]) == 3 * PRICE
    cancelled = await ok(api, "cancelOrder", {"id": order["id"], "reason": "Ordered by mistake"},
                         st[Role.CUSTOMER].token)
    assert cancelled["order"]["status"] == "CANCELLED"
    assert await committed_now(services, budget["id"]) == 0
    again = await call(api, "cancelOrder", {"id": order["id"]}, st[Role.CUSTOMER].token)
    assert again["code"] == "INVALID_TRANSITION"
    assert await committed_now(services, budget["id"]) == 0


async def test_fulfilment_turns_the_commitment_into_spending_and_returns_lower_both(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    budget = await group_budget(api, st, 1000_00)
    order = await placed(api, st[Role.CUSTOMER], await product(services), 4)
    assert order["status"] == "APPROVED"
    assert await committed_now(services, budget["id"]) == 4 * PRICE
    op = await operator(api)
    fulfilled = await ok(api, "fulfilOrder", {"id": order["id"]}, op.token)
    assert fulfilled["order"]["status"] == "FULFILLED"
    period = today().replace(day=1)
    assert await usage(services, budget["id"]) == {period: (4 * PRICE, 4 * PRICE)}

    returned = await ok(api, "recordReturn", {"orderId": order["id"], "lineId": order["lines"][0]["id"], "quantity": 1,
                                              "reason": "Damaged"}, op.token)
    assert returned["order"]["totals"]["credited"]["amount"] == "100.00"
    assert await usage(services, budget["id"]) == {period: (3 * PRICE, 3 * PRICE)}
    shown = (await budgets(api, st[Role.ADMIN].token))["Group budget"]
    assert (shown["committed"]["amount"], shown["spent"]["amount"], shown["remaining"]["amount"]) == (
        "300.00", "300.00", "700.00")
    await ok(api, "recordReturn", {"orderId": order["id"], "lineId": order["lines"][0]["id"], "quantity": 3}, op.token)
    assert await usage(services, budget["id"]) == {period: (0, 0)}
    # Nothing more to return; nothing changes.
    result = await call(api, "recordReturn", {"orderId": order["id"], "lineId": order["lines"][0]["id"], "quantity": 1},
                        op.token)
    assert result["code"] == "RETURN_EXCEEDS_QUANTITY"
    assert await usage(services, budget["id"]) == {period: (0, 0)}


# --- actions ------------------------------------------------------------------------------


async def test_block_refuses_the_order_and_writes_nothing(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    budget = await group_budget(api, st, 250_00)
    goods = await product(services)
    await placed(api, buyer, goods, 2)
    before = await usage(services, budget["id"])
    result = await place_order(api, buyer, goods, 1)
    assert (result["__typename"], result["code"]) == ("MutationError", "BUDGET_EXCEEDED")
    assert "Group budget" in result["message"]
    assert await orders_of(services, st.company_id) == {"approved": 1}
    assert (await cart(api, buyer))["status"] == "DRAFT"
    assert (await cart(api, buyer))["lines"] == [{"quantity": 1}]
    assert await usage(services, budget["id"]) == before == {today().replace(day=1): (2 * PRICE, 0)}
    assert await outbox(services) == []
    # Exactly at the amount is allowed: 250.00 - 200.00 leaves room for 50.00.
    half = await create_product(services, net_minor=40_00)
    other = await add_member(api, st)
    assert (await placed(api, other, half))["status"] == "APPROVED"
    assert await committed_now(services, budget["id"]) == 250_00


async def test_a_blocking_budget_rolls_back_the_other_budgets_of_the_same_order(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    buyer = st[Role.CUSTOMER]
    roomy = await group_budget(api, st, 10_000_00, name="Roomy")
    tight = (await ok(api, "saveBudget", {"name": "Tight", "ownerType": "USER", "ownerId": buyer.gid,
                                          "period": "YEARLY", "amount": "50.00", "action": "BLOCK"},
                      st[Role.ADMIN].token))["budget"]
    result = await place_order(api, buyer, await product(services))
    assert result["code"] == "BUDGET_EXCEEDED"
    assert await usage(services, roomy["id"]) == {}
    assert await usage(services, tight["id"]) == {}
    assert await orders_of(services, st.company_id) == {}


async def test_require_approval_sends_the_order_to_the_administrators(api, services):
    st = await spend_tenant(api)
    buyer, admin = st[Role.CUSTOMER], st[Role.ADMIN]
    budget = await group_budget(api, st, 150_00, action="REQUIRE_APPROVAL", name="Team")
    goods = await product(services)
    within = await placed(api, buyer, goods)
    assert within["status"] == "APPROVED"  # within the budget: no approval

    order = await placed(api, buyer, goods)
    assert order["status"] == "PENDING_APPROVAL"
    assert order["warnings"] == []
    [flow_rule] = order["approvalFlow"]["rules"]
    assert flow_rule["ruleName"] == "Budget approval"
    assert flow_rule["reason"] == "Over budget: Team"
    assert [(t["level"], t["approverRoles"], t["status"]) for t in flow_rule["tiers"]] == [(1, ["ADMIN"], "PENDING")]
    assert order["approvalFlow"]["viewerActions"] == ["CANCEL"]  # the buyer may cancel, not decide
    assert await committed_now(services, budget["id"]) == 2 * PRICE  # held while it waits

    # Only an administrator decides it: the order approver and the manager cannot.
    by_approver = await call(api, "approveOrder", {"id": order["id"]}, st[Role.ORDER_APPROVER].token)
    assert by_approver["code"] == "NOT_AN_APPROVER"
    assert (await call(api, "approveOrder", {"id": order["id"]}, st[Role.MANAGER].token))["code"] == "FORBIDDEN"
    seen = await get_order(api, order["id"], admin.token)
    assert seen["approvalFlow"]["viewerActions"] == ["APPROVE", "REJECT", "CANCEL"]
    approved = (await ok(api, "approveOrder", {"id": order["id"], "comment": "Fine"}, admin.token))["order"]
    assert approved["status"] == "APPROVED"
    tier = approved["approvalFlow"]["rules"][0]["tiers"][0]
    assert (tier["status"], tier["decidedBy"], tier["comment"]) == ("APPROVED", "Test Admin", "Fine")
    assert await committed_now(services, budget["id"]) == 2 * PRICE
    assert (buyer.email, f"Order {approved['number']} was approved") in await outbox(services)


async def test_warn_lets_the_order_through_with_a_warning(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    budget = await group_budget(api, st, 150_00, action="WARN", name="Soft")
    goods = await product(services)
    first = await placed(api, st[Role.CUSTOMER], goods)
    assert (first["status"], first["warnings"]) == ("APPROVED", [])
    assert "WARNING" not in [e["kind"] for e in first["timeline"]]

    order = await placed(api, st[Role.CUSTOMER], goods)
    assert order["status"] == "APPROVED"
    assert order["warnings"] == ['Over budget "Soft": 200.00 committed of 150.00']
    warning = [e for e in order["timeline"] if e["kind"] == "WARNING"]
    assert [e["comment"] for e in warning] == ['Over budget "Soft": 200.00 committed of 150.00']
    assert order["approvalFlow"]["rules"] == []
    assert await committed_now(services, budget["id"]) == 2 * PRICE
    shown = (await budgets(api, st[Role.ADMIN].token))["Soft"]
    assert shown["remaining"]["amount"] == "-50.00"


async def test_an_inactive_budget_does_not_apply(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    budget = await group_budget(api, st, 0, name="Frozen")
    goods = await product(services)
    assert (await place_order(api, st[Role.CUSTOMER], goods))["code"] == "BUDGET_EXCEEDED"
    await ok(api, "saveBudget", {"id": budget["id"], "name": "Frozen", "ownerType": "GROUP",
                                 "ownerId": budget["ownerId"], "period": "MONTHLY", "amount": "0", "action": "BLOCK",
                                 "active": False}, st[Role.ADMIN].token)
    submitted = await ok(api, "submitOrder", {"idempotencyKey": "after-deactivation"}, st[Role.CUSTOMER].token)
    assert submitted["order"]["status"] == "APPROVED"
    assert await usage(services, budget["id"]) == {}


async def test_raising_a_budget_applies_to_the_next_submission(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    budget = await group_budget(api, st, 50_00, name="Small")
    goods = await product(services)
    assert (await place_order(api, st[Role.CUSTOMER], goods))["code"] == "BUDGET_EXCEEDED"
    changed = (await ok(api, "saveBudget", {"id": budget["id"], "name": "Bigger", "ownerType": "GROUP",
                                            "ownerId": budget["ownerId"], "period": "MONTHLY", "amount": "100.00",
                                            "action": "BLOCK"}, st[Role.ADMIN].token))["budget"]
    assert (changed["id"], changed["name"], changed["amount"]["amount"]) == (budget["id"], "Bigger", "100.00")
    result = await call(api, "submitOrder", {"idempotencyKey": "after-the-raise"}, st[Role.CUSTOMER].token)
    assert result["order"]["status"] == "APPROVED"
    assert await committed_now(services, budget["id"]) == PRICE


# --- validation and permissions -------------------------------------------------------------


async def test_invalid_budgets_are_refused(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    other = await spend_tenant(api, [Role.ADMIN])
    admin, group = st[Role.ADMIN].token, to_global_id("Group", st.group_id)
    cases = [
        (dict(owner_type="GROUP", owner_gid=group, amount_minor=-1), ("INVALID_INPUT", "amount")),
        (dict(owner_type="GROUP", owner_gid=group, amount_minor=100, period="FIXED"), ("INVALID_INPUT", "startsOn")),
        (dict(owner_type="GROUP", owner_gid=group, amount_minor=100, period="FIXED", starts_on="2025-02-01",
              ends_on="2025-01-31"), ("INVALID_INPUT", "startsOn")),
        (dict(owner_type="GROUP", owner_gid=to_global_id("Group", other.group_id), amount_minor=100),
         ("NOT_FOUND", "ownerId")),
        (dict(owner_type="USER", owner_gid=other[Role.ADMIN].gid, amount_minor=100), ("NOT_FOUND", "ownerId")),
        (dict(owner_type="COST_CENTRE", owner_gid=other.centre_gid, amount_minor=100), ("NOT_FOUND", "ownerId")),
        # A group id as a user id.
        (dict(owner_type="USER", owner_gid=group, amount_minor=100), ("NOT_FOUND", "ownerId")),
        (dict(owner_type="GROUP", owner_gid=group, amount_minor=100, budget_gid=to_global_id("Budget", 999_999)),
         ("NOT_FOUND", "id")),
    ]
    for kwargs, expected in cases:
        result = await save_budget(api, admin, name="Bad", **kwargs)
        assert (result.get("code"), result.get("field")) == expected, (kwargs, result)
    assert await budgets(api, admin) == {}


async def test_only_administrators_save_budgets(api, services):
    st = await spend_tenant(api)
    budget = await group_budget(api, st, 100_00, name="Kept")
    for role in (Role.MANAGER, Role.ORDER_APPROVER, Role.CUSTOMER):
        token = st[role].token
        created = await save_budget(api, token, name="New", owner_type="GROUP", owner_gid=budget["ownerId"],
                                    amount_minor=1)
        changed = await save_budget(api, token, name="Changed", owner_type="GROUP", owner_gid=budget["ownerId"],
                                    amount_minor=999_999_00, budget_gid=budget["id"])
        assert (code_of(created), code_of(changed)) == ("FORBIDDEN", "FORBIDDEN"), role
    shown = await budgets(api, st[Role.ADMIN].token)
    assert list(shown) == ["Kept"]
    assert shown["Kept"]["amount"]["amount"] == "100.00"


async def test_managers_see_all_budgets_and_customers_those_that_apply_to_them(api, services):
    st = await spend_tenant(api)
    admin, buyer = st[Role.ADMIN].token, st[Role.CUSTOMER]
    colleague = await add_member(api, st)
    care = await create_cost_centre(services, st.company_id, code="CARE")
    unattached = await create_cost_centre(services, st.company_id, code="ELSE")
    await attach(services, [buyer.membership_id], care, default=False)
    other_group = (await api.query(CREATE_ELSEWHERE, token=admin))["createGroup"]["group"]["id"]
    for name, owner_type, owner in [
        ("Our group", "GROUP", to_global_id("Group", st.group_id)), ("Mine", "USER", buyer.gid),
        ("Colleague's", "USER", colleague.gid), ("Care", "COST_CENTRE", to_global_id("CostCentre", care)),
        ("Else", "COST_CENTRE", to_global_id("CostCentre", unattached)), ("Their group", "GROUP", other_group),
    ]:
        await ok(api, "saveBudget", {"name": name, "ownerType": owner_type, "ownerId": owner, "period": "YEARLY",
                                     "amount": "100.00", "action": "WARN"}, admin)
    everything = ["Our group", "Mine", "Colleague's", "Care", "Else", "Their group"]
    assert list(await budgets(api, admin)) == everything
    assert list(await budgets(api, st[Role.MANAGER].token)) == everything
    assert list(await budgets(api, buyer.token)) == ["Our group", "Mine", "Care"]
    assert list(await budgets(api, colleague.token)) == ["Our group", "Colleague's"]
    body = await api.raw("{ budgets { id } }", token=st[Role.ORDER_APPROVER].token)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Another company sees none of them.
    other = await spend_tenant(api, [Role.ADMIN])
    assert await budgets(api, other[Role.ADMIN].token) == {}
