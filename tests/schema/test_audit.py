"""The audit log end to end: who changed which money control, rule, role or right, when, and
the state before and after; only administrators read it, and only their company's."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from models import Role
from models.base import utcnow
from resolvers.audit import ENTITIES, audit
from resolvers.context import UseCaseContext
from schema.audit import ENTITY_TYPES
from schema.node import NODE_FETCHERS
from schema.relay import to_global_id
from tests.spend_helpers import (
    BUDGET_FIELDS,
    LIMIT_FIELDS,
    audit_rows,
    budgets,
    call,
    code_of,
    create_product,
    group_budget,
    ok,
    operator,
    placed,
    rule,
    save_budget,
    spend_tenant,
    tier,
)

AUDIT = """query($entity: String, $first: Int!, $after: String) {
  auditLog(entity: $entity, first: $first, after: $after) {
    edges { cursor node { id at actorId entity entityId action before after } }
    pageInfo { hasNextPage endCursor } } }"""


NODE = "query($id: ID!) {{ node(id: $id) {{ __typename ... on {type} {{ {selection} }} }} }}"


async def node(api, token: str, global_id: str, type_name: str, selection: str = "id") -> dict | None:
    """What node(id:) answers for an id, read as the given type."""
    return (await api.query(NODE.format(type=type_name, selection=selection), {"id": global_id}, token))["node"]


async def log(api, token: str, entity: str | None = None, first: int = 100) -> list[dict]:
    data = await api.query(AUDIT, {"entity": entity, "first": first}, token)
    return [edge["node"] for edge in data["auditLog"]["edges"]]


def person(member) -> str:
    return to_global_id("Person", member.user_id)


def brief(entries: list[dict]) -> list[tuple]:
    return [(e["entity"], e["action"], e["before"], e["after"]) for e in entries]


def parse(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


async def test_budget_changes_are_logged_with_before_and_after(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    admin = st[Role.ADMIN]
    started = utcnow() - timedelta(seconds=1)
    budget = await group_budget(api, st, 100_00, name="Team")
    await ok(api, "saveBudget", {"id": budget["id"], "name": "Team", "ownerType": "GROUP",
                                 "ownerId": budget["ownerId"], "period": "FIXED", "startsOn": "2026-01-01",
                                 "endsOn": "2026-06-30", "amount": "250.50", "action": "WARN"}, admin.token)
    entries = await log(api, admin.token, "budget")
    created = {"name": "Team", "owner_type": "group", "owner_id": st.group_id, "period": "monthly", "starts_on": None,
               "ends_on": None, "amount_minor": 100_00, "action": "block", "active": True}
    updated = dict(created, period="fixed", starts_on="2026-01-01", ends_on="2026-06-30", amount_minor=250_50,
                   action="warn")
    # Newest first.
    assert brief(entries) == [("budget", "update", created, updated), ("budget", "create", None, created)]
    for entry in entries:
        assert entry["actorId"] == person(admin)
        assert entry["entityId"] == budget["id"]  # the budget's own id, not its database key
        assert started <= parse(entry["at"]) <= utcnow() + timedelta(seconds=1)
    # The entity's id is the object's: node(id:) fetches the budget with the data its own query gives.
    fetched = await node(api, admin.token, entries[0]["entityId"], "Budget", BUDGET_FIELDS)
    assert fetched == {"__typename": "Budget", **(await budgets(api, admin.token))["Team"]}
    assert (fetched["name"], fetched["amount"], fetched["action"]) == ("Team", {"amount": "250.50", "currency": "NOK"},
                                                                       "WARN")


async def test_purchase_limit_changes_are_logged(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    admin, buyer = st[Role.ADMIN], st[Role.CUSTOMER]
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": "500.00"}, admin.token)
    await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": None, "perMonth": "2000.00"}, admin.token)
    entries = await log(api, admin.token, "purchase_limit")
    assert brief(entries) == [
        ("purchase_limit", "update", {"order_limit_minor": 500_00, "monthly_limit_minor": None},
         {"order_limit_minor": None, "monthly_limit_minor": 2000_00}),
        ("purchase_limit", "update", {"order_limit_minor": None, "monthly_limit_minor": None},
         {"order_limit_minor": 500_00, "monthly_limit_minor": None}),
    ]
    # A purchase limit is the buyer's: the entity is the User, whose limits the purchaseLimit query reads.
    assert {(e["actorId"], e["entityId"]) for e in entries} == {(person(admin), buyer.gid)}
    assert await node(api, admin.token, buyer.gid, "User", "id email") == {
        "__typename": "User", "id": buyer.gid, "email": buyer.email}
    limit = await api.query(f"query($id: ID!) {{ purchaseLimit(userId: $id) {{ {LIMIT_FIELDS} }} }}",
                            {"id": entries[0]["entityId"]}, admin.token)
    assert (limit["purchaseLimit"]["userId"], limit["purchaseLimit"]["perMonth"]) == (buyer.gid, {"amount": "2000.00"})


async def test_credit_limit_changes_by_the_operator_show_in_the_companys_log(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    op = await operator(api)
    await ok(api, "setCreditLimit", {"companyId": st.tenant.gid, "creditLimit": "50000.00"}, op.token)
    [entry] = await log(api, st[Role.ADMIN].token, "credit")
    assert brief([entry]) == [
        ("credit", "limit", {"credit_limit_minor": 300_000_00}, {"credit_limit_minor": 50_000_00})]
    # A company's credit is the company's: the entity is the Company, the one companyCredit names.
    assert (entry["actorId"], entry["entityId"]) == (person(op), st.tenant.gid)
    assert await node(api, st[Role.ADMIN].token, entry["entityId"], "Company", "id name") == {
        "__typename": "Company", "id": st.tenant.gid,
        "name": (await api.query("{ company { name } }", token=st[Role.ADMIN].token))["company"]["name"]}


async def test_approval_rule_changes_are_logged(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    admin = st[Role.ADMIN]
    made = await rule(api, st, name="Large", condition="TOTAL_ABOVE", threshold="1000.00", tiers=[tier("ADMIN")])
    await rule(api, st, id=made["id"], name="Larger", condition="TOTAL_ABOVE", threshold="2000.00",
               appliesToRoles=["CUSTOMER"], tiers=[tier("ORDER_APPROVER"), tier("ADMIN")])
    await ok(api, "deleteApprovalRule", {"id": made["id"]}, admin.token)
    first = {"name": "Large", "condition": "total_above", "threshold_minor": 1000_00, "cost_centre_id": None,
             "category": None, "applies_to_roles": [], "applies_to_group_ids": [], "active": True,
             "tiers": [{"level": 1, "roles": ["admin"], "membership_ids": []}]}
    second = dict(first, name="Larger", threshold_minor=2000_00, applies_to_roles=["customer"],
                  tiers=[{"level": 1, "roles": ["order_approver"], "membership_ids": []},
                         {"level": 2, "roles": ["admin"], "membership_ids": []}])
    assert brief(await log(api, admin.token, "approval_rule")) == [
        ("approval_rule", "delete", second, None),
        ("approval_rule", "update", first, second),
        ("approval_rule", "create", None, first),
    ]
    # Every entry names the rule by its id; deleted since, node(id:) answers null for it, as for any id
    # that names nothing.
    assert {e["entityId"] for e in await log(api, admin.token, "approval_rule")} == {made["id"]}
    assert await node(api, admin.token, made["id"], "ApprovalRule") is None


async def test_role_changes_and_restrictions_are_logged(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    admin, buyer = st[Role.ADMIN], st[Role.CUSTOMER]
    await ok(api, "updateUser", {"id": buyer.gid, "role": "MANAGER"}, admin.token)
    await ok(api, "restrictUserPermission", {"userId": buyer.gid, "permission": "ORDER_CREATE"}, admin.token)
    await ok(api, "restoreUserPermission", {"userId": buyer.gid, "permission": "ORDER_CREATE"}, admin.token)
    entries = await log(api, admin.token, "user")
    assert brief(entries) == [
        ("user", "restore", {"permission": "order:create"}, None),
        ("user", "restrict", None, {"permission": "order:create"}),
        ("user", "role", {"role": "customer"}, {"role": "manager"}),
    ]
    assert {(e["actorId"], e["entityId"]) for e in entries} == {(person(admin), buyer.gid)}
    assert await node(api, admin.token, buyer.gid, "User", "id role") == {
        "__typename": "User", "id": buyer.gid, "role": "MANAGER"}


async def test_approval_decisions_are_logged(api, services):
    st = await spend_tenant(api)
    await rule(api, st, name="All", condition="TOTAL_ABOVE", threshold="0", tiers=[tier("ORDER_APPROVER")])
    product = await create_product(services, net_minor=80_00)
    approved = await placed(api, st[Role.CUSTOMER], product)
    rejected = await placed(api, st[Role.CUSTOMER], product)
    approver = st[Role.ORDER_APPROVER]
    await ok(api, "approveOrder", {"id": approved["id"], "comment": "ok"}, approver.token)
    await ok(api, "rejectOrder", {"id": rejected["id"], "comment": "Not needed"}, approver.token)
    entries = await log(api, st[Role.ADMIN].token, "order")
    assert [(e["action"], e["entityId"], e["actorId"], e["after"]) for e in entries] == [
        ("reject", rejected["id"], person(approver), {"steps": ["All tier 1"], "comment": "Not needed"}),
        ("approve", approved["id"], person(approver), {"steps": ["All tier 1"], "comment": "ok"}),
    ]
    admin = st[Role.ADMIN].token
    assert [await node(api, admin, e["entityId"], "Order", "id status") for e in entries] == [
        {"__typename": "Order", "id": rejected["id"], "status": "REJECTED"},
        {"__typename": "Order", "id": approved["id"], "status": "APPROVED"},
    ]


async def test_cost_centre_and_invoice_application_entries_name_their_objects(api, services):
    st = await spend_tenant(api, [Role.ADMIN])
    admin = st[Role.ADMIN].token
    address = {"street": "Gate 2", "postalCode": "0151", "city": "Oslo"}
    centre = (await ok(api, "saveCostCentre", {"name": "Warehouse", "code": "WH", "invoiceAddress": address}, admin))[
        "costCentre"]
    credit = (await ok(api, "applyForInvoice", {"message": "Monthly invoices, please"}, admin))["credit"]
    application = credit["latestApplication"]
    [centre_entry] = await log(api, admin, "cost_centre")
    [application_entry] = await log(api, admin, "invoice_application")
    assert (centre_entry["action"], centre_entry["entityId"]) == ("create", centre["id"])
    assert (application_entry["action"], application_entry["entityId"]) == ("apply", application["id"])
    assert await node(api, admin, centre["id"], "CostCentre", "id code") == {
        "__typename": "CostCentre", "id": centre["id"], "code": "WH"}
    assert await node(api, admin, application["id"], "InvoiceApplication", "id status message") == {
        "__typename": "InvoiceApplication", "id": application["id"], "status": "PENDING",
        "message": "Monthly invoices, please"}


async def test_every_kind_the_log_records_names_a_node_type_and_no_other_kind_is_written(api, services):
    assert set(ENTITY_TYPES) == ENTITIES
    assert set(ENTITY_TYPES.values()) <= set(NODE_FETCHERS)  # each a Node type that node(id:) fetches
    st = await spend_tenant(api, [Role.ADMIN])
    before = len(await audit_rows(services, st.company_id))
    with pytest.raises(ValueError, match="audit entity widget"):
        async with services.db.transaction() as session:
            await audit(UseCaseContext(services=services, session=session, actor=None), "widget", 1, "create",
                        company_id=st.company_id)
    assert len(await audit_rows(services, st.company_id)) == before


async def test_refused_changes_leave_no_entry(api, services):
    st = await spend_tenant(api)
    await group_budget(api, st, 100_00)
    before = len(await audit_rows(services, st.company_id))
    assert code_of(await save_budget(api, st[Role.MANAGER].token, name="X", owner_type="GROUP",
                                     owner_gid=to_global_id("Group", st.group_id), amount_minor=1)) == "FORBIDDEN"
    assert code_of(await save_budget(api, st[Role.ADMIN].token, name="X", owner_type="GROUP",
                                     owner_gid=to_global_id("Group", st.group_id), amount_minor=-1)) == "INVALID_INPUT"
    assert code_of(await call(api, "saveApprovalRule", {"name": "X", "condition": "OVER_BUDGET", "tiers": []},
                              st[Role.ADMIN].token)) == "INVALID_INPUT"
    assert code_of(await call(api, "setPurchaseLimit", {"userId": st[Role.CUSTOMER].gid, "perOrder": "1.00"},
                              st[Role.CUSTOMER].token)) == "FORBIDDEN"
    assert len(await audit_rows(services, st.company_id)) == before


async def test_only_administrators_read_the_log_and_only_their_companys(api, services):
    st = await spend_tenant(api)
    other = await spend_tenant(api, [Role.ADMIN])
    await group_budget(api, st, 100_00)
    assert len(await log(api, st[Role.ADMIN].token)) == 1
    for role in (Role.MANAGER, Role.ORDER_APPROVER, Role.CUSTOMER):
        body = await api.raw(AUDIT, {"first": 10}, st[role].token)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", role
    assert await log(api, other[Role.ADMIN].token) == []
    assert (await api.raw(AUDIT, {"first": 10}))["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_log_pages_newest_first(api, services):
    st = await spend_tenant(api, [Role.ADMIN, Role.CUSTOMER])
    admin, buyer = st[Role.ADMIN].token, st[Role.CUSTOMER]
    for n in range(1, 6):
        await ok(api, "setPurchaseLimit", {"userId": buyer.gid, "perOrder": f"{n}.00"}, admin)
    first = (await api.query(AUDIT, {"first": 2}, admin))["auditLog"]
    assert [e["node"]["after"]["order_limit_minor"] for e in first["edges"]] == [500, 400]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = (await api.query(AUDIT, {"first": 10, "after": first["pageInfo"]["endCursor"]}, admin))["auditLog"]
    assert [e["node"]["after"]["order_limit_minor"] for e in rest["edges"]] == [300, 200, 100]
    assert rest["pageInfo"]["hasNextPage"] is False
