"""The accountant: reads the company, its orders, invoices, transactions and credit, and nothing else; only
administrators (`user:assign_role`) give or take the role."""

from __future__ import annotations

from datetime import timedelta

from models import Membership, Role
from models.base import utcnow
from schema.relay import to_global_id
from tests.factories import error_code
from tests.helpers import snapshot
from tests.policies.roles import EXPECTED_ROLE_PERMISSIONS
from tests.schema.invoice_rows import create_invoice, create_order
from tests.schema.test_users import failed, ok

ROLES = (Role.ADMIN, Role.MANAGER, Role.CUSTOMER, Role.ACCOUNTANT)


async def test_the_accountant_holds_exactly_its_four_read_permissions(api):
    tenant = await api.tenant([Role.ACCOUNTANT])
    me = (await api.query("{ me { permissions user { role } } }", None, tenant[Role.ACCOUNTANT].token))["me"]
    assert me["user"]["role"] == "ACCOUNTANT"
    assert set(me["permissions"]) == {"COMPANY_READ", "ORDER_READ_ALL", "INVOICE_READ", "CREDIT_READ"}
    assert {p.value for p in EXPECTED_ROLE_PERMISSIONS["accountant"]} == {
        "company:read", "order:read_all", "invoice:read", "credit:read"}


async def test_the_accountant_reads_the_whole_companys_orders_invoices_transactions_and_credit(api, services):
    tenant = await api.tenant(ROLES)
    order = await create_order(services, tenant.company_id, tenant.group_id, tenant[Role.CUSTOMER].membership_id,
                               submitted=utcnow() - timedelta(hours=1), gross_minor=10_00)
    invoice = await create_invoice(services, tenant.company_id, issued=utcnow().date())
    token = tenant[Role.ACCOUNTANT].token
    data = await api.query("""query($from: Date!, $to: Date!) {
      company { id invoiceDays } companyCredit { outstanding { amount } }
      orders(first: 10) { edges { node { id } } } invoices { edges { node { id } } }
      transactions(from: $from, to: $to) { edges { node { kind } } } }""",
                           {"from": (utcnow().date() - timedelta(days=1)).isoformat(),
                            "to": utcnow().date().isoformat()}, token)
    assert data["company"] == {"id": tenant.gid, "invoiceDays": [1, 15]}
    assert data["companyCredit"]["outstanding"]["amount"] == "0.00"
    assert [e["node"]["id"] for e in data["orders"]["edges"]] == [to_global_id("Order", order)]
    assert [e["node"]["id"] for e in data["invoices"]["edges"]] == [to_global_id("Invoice", invoice)]
    assert sorted(e["node"]["kind"] for e in data["transactions"]["edges"]) == ["INVOICE", "PURCHASE"]


async def test_the_accountant_changes_nothing(api, services):
    tenant = await api.tenant(ROLES)
    token = tenant[Role.ACCOUNTANT].token
    before = await snapshot(services)
    refused = {
        "addToCart": ('mutation { addToCart(input: {sku: "X"}) { __typename } }', None),
        "updateCompany": ('mutation { updateCompany(input: {name: "X"}) { __typename } }', None),
        "createUser": ("""mutation($g: ID!) { createUser(input: {firstName: "A", lastName: "B", email: "x@example.com",
            groupId: $g, role: CUSTOMER, paymentMethods: []}) { __typename } }""", {"g": tenant.group_gid}),
        "approveOrder": ('mutation { approveOrder(input: {id: "T3JkZXI6MQ"}) { __typename } }', None),
        "users": ("{ users(first: 5) { edges { node { id } } } }", None),
        "budgets": ("{ budgets { id } }", None),
        "products": ("{ products(first: 5) { edges { node { id } } } }", None),
    }
    for name, (document, variables) in refused.items():
        body = await api.raw(document, variables, token)
        assert error_code(body) == "FORBIDDEN" or (body.get("data") or {}).get(name, {}).get(
            "__typename") == "MutationError", (name, body)
    assert await snapshot(services) == before


async def test_only_administrators_give_and_take_the_accountant_role(api, services):
    tenant = await api.tenant(ROLES)
    admin, manager = tenant[Role.ADMIN].token, tenant[Role.MANAGER].token
    new = {"firstName": "Ada", "lastName": "Count", "email": "ada.count@example.com", "groupId": tenant.group_gid,
           "role": "ACCOUNTANT"}
    before = await snapshot(services)
    error = await failed(api, "createUser", new, manager)
    assert (error["code"], error["field"]) == ("ROLE_NOT_ALLOWED", "role")
    error = await failed(api, "inviteUser", {"email": "bea@example.com", "groupId": tenant.group_gid,
                                             "role": "ACCOUNTANT"}, manager)
    assert error["code"] == "ROLE_NOT_ALLOWED"
    assert await snapshot(services) == before
    created = await ok(api, "createUser", new, admin)
    assert created["role"] == "ACCOUNTANT"
    customer = tenant[Role.CUSTOMER].gid
    assert error_code(await api.mutate("updateUser", "UpdateUserInput", "__typename",
                                       {"id": customer, "role": "ACCOUNTANT"}, manager)) == "FORBIDDEN"
    assert (await ok(api, "updateUser", {"id": customer, "role": "ACCOUNTANT"}, admin))["role"] == "ACCOUNTANT"
    async with services.db.read_sessions() as session:
        member = await session.get_one(Membership, tenant[Role.CUSTOMER].membership_id)
        assert member.role == "accountant"
    # A manager may no longer change the accountant (the role is an administrator's to give or take).
    result = await api.mutate("updateUser", "UpdateUserInput", "__typename ... on MutationError { code }",
                              {"id": customer, "firstName": "Renamed"}, manager)
    assert error_code(result) == "FORBIDDEN" or result["data"]["updateUser"].get("code") == "ROLE_NOT_ALLOWED"
