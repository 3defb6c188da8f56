"""Transactions between two dates: purchases, returns, invoices, credit notes and payments in order, the running
account balance (moved by the ledger only: invoices, credit notes, payments), keyset pages that carry the balance
on, the five-year limit, who sees the whole account and who their own purchases only, another company never;
the CSV export, authorised the same way."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import event

from models import ApiScope, Role
from models.base import utcnow
from models.invoice import InvoiceKind
from models.order_state import OrderStatus
from resolvers.invoice_view import months_back
from schema.relay import to_global_id
from tests.factories import create_member, error_code, operator
from tests.schema.invoice_rows import LineSpec, create_invoice, create_order, create_payment, create_return
from tests.schema.test_api_clients import new_client, state

ROLES = (Role.ADMIN, Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER, Role.ACCOUNTANT)
QUERY = """query($from: Date!, $to: Date!, $first: Int, $after: String, $companyId: ID) {
  transactions(from: $from, to: $to, first: $first, after: $after, companyId: $companyId) {
    edges { cursor node { kind date at amount { amount currency } balance { amount } number reference orderId
                          invoiceId } }
    pageInfo { hasNextPage hasPreviousPage endCursor }
    outstanding { amount currency } availableCredit { amount } } }"""


def at(day, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


async def account(api, services):
    """A company with, before the period, an invoice of 50.00; in it two buyers' purchases, a cancelled order,
    a return, an invoice, a credit note and a payment; and another company's invoice on the same day."""
    tenant = await api.tenant(ROLES)
    other = await api.tenant([Role.ADMIN])
    colleague = await create_member(services, tenant.company_id, tenant.group_id, Role.CUSTOMER)
    start = utcnow().date() - timedelta(days=30)
    ids = {"start": start}
    ids["early"] = await create_invoice(services, tenant.company_id, issued=start - timedelta(days=40),
                                        lines=[LineSpec(40_00)])  # 50.00 with VAT
    buyer = tenant[Role.CUSTOMER].membership_id
    ids["mine"] = await create_order(services, tenant.company_id, tenant.group_id, buyer, submitted=at(start, 10),
                                     gross_minor=100_00, reference="mine")
    ids["theirs"] = await create_order(services, tenant.company_id, tenant.group_id, colleague.membership_id,
                                       submitted=at(start, 12), gross_minor=200_00, status=OrderStatus.APPROVED)
    await create_order(services, tenant.company_id, tenant.group_id, buyer, submitted=at(start, 11),
                       gross_minor=999_00, status=OrderStatus.CANCELLED)
    ids["return"] = await create_return(services, ids["mine"], at=at(start + timedelta(days=2), 9),
                                        credited_minor=20_00)
    ids["invoice"] = await create_invoice(services, tenant.company_id, issued=start + timedelta(days=5),
                                          lines=[LineSpec(240_00)])  # 300.00
    ids["note"] = await create_invoice(services, tenant.company_id, issued=start + timedelta(days=6),
                                       kind=InvoiceKind.CREDIT_NOTE, credited_invoice_id=ids["invoice"],
                                       lines=[LineSpec(16_00)])  # 20.00
    ids["payment"] = await create_payment(services, tenant.company_id, received=start + timedelta(days=10),
                                          amount_minor=100_00, invoice_id=ids["invoice"], kid="12345")
    await create_invoice(services, other.company_id, issued=start + timedelta(days=5))
    await create_payment(services, other.company_id, received=start + timedelta(days=10), amount_minor=1_00)
    return tenant, other, ids


async def transactions(api, token, start, end=None, **variables) -> dict:
    end = end or utcnow().date()
    return (await api.query(QUERY, {"from": start.isoformat(), "to": end.isoformat(), **variables},
                            token))["transactions"]


def summary(page: dict) -> list[tuple]:
    return [(e["node"]["kind"], e["node"]["amount"]["amount"],
             e["node"]["balance"]["amount"] if e["node"]["balance"] else None) for e in page["edges"]]


WHOLE = [("PURCHASE", "100.00", "50.00"), ("PURCHASE", "200.00", "50.00"), ("RETURN", "-20.00", "50.00"),
         ("INVOICE", "300.00", "350.00"), ("CREDIT_NOTE", "-20.00", "330.00"), ("PAYMENT", "-100.00", "230.00")]


async def test_the_whole_account_in_order_with_the_running_balance(api, services):
    tenant, _, ids = await account(api, services)
    page = await transactions(api, tenant[Role.ADMIN].token, ids["start"])
    assert summary(page) == WHOLE
    nodes = [e["node"] for e in page["edges"]]
    assert nodes[0] | {"at": None} == {
        "kind": "PURCHASE", "date": ids["start"].isoformat(), "at": None,
        "amount": {"amount": "100.00", "currency": "NOK"}, "balance": {"amount": "50.00"}, "number": nodes[0]["number"],
        "reference": "mine", "orderId": to_global_id("Order", ids["mine"]), "invoiceId": None}
    assert nodes[2]["orderId"] == to_global_id("Order", ids["mine"])
    assert nodes[3]["invoiceId"] == to_global_id("Invoice", ids["invoice"]) and nodes[3]["date"] == (
        ids["start"] + timedelta(days=5)).isoformat()
    assert (nodes[5]["reference"], nodes[5]["invoiceId"]) == ("12345", to_global_id("Invoice", ids["invoice"]))
    # The credit account: nothing committed through the use cases here, the default limit available.
    assert page["outstanding"] == {"amount": "0.00", "currency": "NOK"}
    assert page["availableCredit"] == {"amount": "300000.00"}
    # A period that starts later opens with the balance of everything before it.
    later = await transactions(api, tenant[Role.ADMIN].token, ids["start"] + timedelta(days=6))
    assert summary(later) == WHOLE[4:]
    assert summary(await transactions(api, tenant[Role.ADMIN].token, ids["start"],
                                      ids["start"] + timedelta(days=2))) == WHOLE[:3]


async def test_pages_carry_the_balance_on_and_end_where_they_should(api, services):
    tenant, _, ids = await account(api, services)
    token, seen, after = tenant[Role.ACCOUNTANT].token, [], None
    for expected_more in (True, True, False):
        page = await transactions(api, token, ids["start"], first=2, after=after)
        assert page["pageInfo"]["hasNextPage"] is expected_more
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += summary(page)
        after = page["pageInfo"]["endCursor"]
    assert seen == WHOLE
    body = await api.raw(QUERY, {"from": ids["start"].isoformat(), "to": utcnow().date().isoformat(),
                                 "after": "bm90LWEtY3Vyc29y"}, token)
    assert error_code(body) == "INVALID_INPUT"


async def test_a_buyer_sees_their_own_purchases_and_returns_only(api, services):
    tenant, _, ids = await account(api, services)
    page = await transactions(api, tenant[Role.CUSTOMER].token, ids["start"])
    assert summary(page) == [("PURCHASE", "100.00", None), ("RETURN", "-20.00", None)]
    assert (page["outstanding"], page["availableCredit"]) == (None, None)


async def test_who_sees_what_and_refusals_change_nothing(api, services):
    tenant, other, ids = await account(api, services)
    for role in (Role.ADMIN, Role.MANAGER, Role.ACCOUNTANT):
        assert summary(await transactions(api, tenant[role].token, ids["start"])) == WHOLE, role
    _, invoices = await new_client(api, tenant[Role.ADMIN].token, ApiScope.INVOICES_READ)
    _, orders = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ, name="Orders")
    _, catalogue = await new_client(api, tenant[Role.ADMIN].token, ApiScope.CATALOGUE_READ, name="Shop")
    assert summary(await transactions(api, invoices, ids["start"])) == WHOLE
    assert summary(await transactions(api, orders, ids["start"])) == [(k, a, None) for k, a, _ in WHOLE[:3]]
    variables = {"from": ids["start"].isoformat(), "to": utcnow().date().isoformat()}
    before = await state(services)
    for token in (tenant[Role.ORDER_APPROVER].token, catalogue):
        assert error_code(await api.raw(QUERY, variables, token)) == "FORBIDDEN"
    assert error_code(await api.raw(QUERY, variables)) == "UNAUTHENTICATED"
    # Another company is not named by members: NOT_FOUND, the same as a company that does not exist.
    assert error_code(await api.raw(QUERY, {**variables, "companyId": other.gid}, tenant[Role.ADMIN].token)) == (
        "NOT_FOUND")
    assert await state(services) == before
    staff = await operator(api)
    assert error_code(await api.raw(QUERY, variables, staff.token)) == "INVALID_INPUT"
    assert summary(await transactions(api, staff.token, ids["start"], companyId=tenant.gid)) == WHOLE
    assert [k for k, _, _ in summary(await transactions(api, staff.token, ids["start"], companyId=other.gid))] == [
        "INVOICE", "PAYMENT"]


async def test_the_period_goes_five_years_back_and_ends_after_it_starts(api, services):
    tenant = await api.tenant([Role.ADMIN])
    today = utcnow().date()
    oldest = months_back(today, 60)
    token = tenant[Role.ADMIN].token
    assert summary(await transactions(api, token, oldest)) == []
    for start, end, field in ((oldest - timedelta(days=1), today, "from"), (today, today - timedelta(days=1), "to")):
        body = await api.raw(QUERY.replace("edges {", "edges { __typename").replace(
            "pageInfo", "pageInfo"), {"from": start.isoformat(), "to": end.isoformat()}, token)
        assert error_code(body) == "INVALID_INPUT", (start, end)
        assert body["errors"][0]["extensions"].get("field") in (field, None)


async def test_the_csv_export_streams_what_the_query_shows_authorised_the_same_way(api, services, client):
    tenant, _, ids = await account(api, services)
    params = {"from": ids["start"].isoformat(), "to": utcnow().date().isoformat()}
    response = await client.get("/export/transactions.csv", params=params,
                                headers={"authorization": f"Bearer {tenant[Role.ACCOUNTANT].token}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:8] == ["date", "at", "kind", "number", "reference", "amount", "balance", "currency"]
    assert [(r[2], r[5], r[6]) for r in rows[1:]] == [(k.lower(), a, b) for k, a, b in WHOLE]
    buyer = await client.get("/export/transactions.csv", params=params,
                             headers={"authorization": f"Bearer {tenant[Role.CUSTOMER].token}"})
    assert [(r[2], r[6]) for r in list(csv.reader(io.StringIO(buyer.text)))[1:]] == [("purchase", ""),
                                                                                    ("return", "")]
    _, secret = await new_client(api, tenant[Role.ADMIN].token, ApiScope.INVOICES_READ)
    by_client = await client.get("/export/transactions.csv", params=params,
                                 headers={"authorization": f"Bearer {secret}"})
    assert by_client.text == response.text
    head = await client.head("/export/transactions.csv", params=params,
                             headers={"authorization": f"Bearer {secret}"})
    assert (head.status_code, head.text, head.headers["content-type"]) == (200, "", response.headers["content-type"])
    assert (await client.get("/export/transactions.csv", params=params)).status_code == 401
    refused = await client.get("/export/transactions.csv", params=params,
                               headers={"authorization": f"Bearer {tenant[Role.ORDER_APPROVER].token}"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "FORBIDDEN")
    auth = {"authorization": f"Bearer {tenant[Role.ADMIN].token}"}
    for bad, parameter in (({"from": "2020-13-01", "to": params["to"]}, "from"), ({"to": params["to"]}, "from"),
                           ({**params, "colour": "red"}, "colour"),
                           ({"from": "2001-01-01", "to": params["to"]}, "from"),
                           ({"from": params["to"], "to": params["from"]}, "to")):
        answer = await client.get("/export/transactions.csv", params=bad, headers=auth)
        assert (answer.status_code, answer.json()["error"]["parameter"]) == (400, parameter), bad


async def test_a_page_takes_the_same_statements_whatever_its_size(api, services):
    tenant, _, ids = await account(api, services)
    engine = services.db.engine.sync_engine

    async def statements(first: int) -> list[str]:
        seen: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)
        event.listen(engine, "before_cursor_execute", record)
        try:
            page = await transactions(api, tenant[Role.ADMIN].token, ids["start"], first=first)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert len(page["edges"]) == first
        return seen

    small, large = await statements(2), await statements(6)
    # the caller, the company, one read per source (5), the balance before the page (3), the credit account (2)
    assert len(small) == len(large), "\n".join(s[:120] for s in large)
