"""The invoice archive and the Invoice node: fields as issued, states from amounts and dates, filters, keyset
pages newest first, 24 months (older ones by id only), who reads them, another company's never, a page's
statements fixed whatever its size; the company's invoicing settings and the cost centre's invoice reference."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from models import ApiScope, AuditEntry, Company, CostCentre, Role
from models.base import utcnow
from models.invoice import InvoiceKind
from schema.relay import to_global_id
from tests.factories import error_code, operator
from tests.helpers import count, outcome, snapshot
from tests.schema.invoice_rows import LineSpec, create_invoice, create_order
from tests.schema.test_api_clients import new_client

ROLES = (Role.ADMIN, Role.MANAGER, Role.CUSTOMER, Role.ORDER_APPROVER, Role.ACCOUNTANT)
FIELDS = """id number kind status issueDate dueDate currency net { amount currency } vat { amount } gross { amount }
  previousBalance { amount } payments { amount } balanceDue { amount } paid { amount } credited { amount }
  outstanding { amount } kid ehfUrl pdfUrl
  recipient { name reference address { street postalCode city } costCentre { id code invoiceReference } }
  company { id name }"""
LINES = """vatBreakdown { rate taxable { amount } vat { amount } }
  lines { sku name unit quantity unitPrice { amount } vatRate net { amount } orderNumber orderReference poNumber
          buyerName endCustomerName deliveredOn order { id } }"""
ARCHIVE = f"""query($filter: InvoiceFilter, $first: Int, $after: String) {{
  invoices(filter: $filter, first: $first, after: $after) {{
    edges {{ cursor node {{ {FIELDS} {LINES} creditNotes {{ id kind }} creditedInvoice {{ id }} }} }}
    pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }}"""
NODE = (f"query($id: ID!) {{ node(id: $id) {{ ... on Invoice {{ {FIELDS} {LINES} "
        f"creditedInvoice {{ id number }} }} }} }}")


def today():
    return utcnow().date()


def gid(pk: int) -> str:
    return to_global_id("Invoice", pk)


async def archive(api, token, **variables) -> dict:
    return (await api.query(ARCHIVE, variables, token))["invoices"]


def ids(page: dict) -> list[str]:
    return [edge["node"]["id"] for edge in page["edges"]]


async def test_an_invoice_reads_as_issued_with_its_lines_vat_and_recipient(api, services):
    tenant = await api.tenant(ROLES)
    async with services.db.transaction() as session:
        centre = CostCentre(company_id=tenant.company_id, name="Care", code="CARE", street="S", postal_code="1",
                            city="C", invoice_reference="AP-77")
        session.add(centre)
        await session.flush()
        centre_id = centre.id
    issued = today() - timedelta(days=3)
    pk = await create_invoice(services, tenant.company_id, issued=issued, cost_centre_id=centre_id,
                              recipient_reference="AP-77", paid_minor=50_00,
                              lines=[LineSpec(100_00, 25), LineSpec(33_33, 15, quantity=3), LineSpec(10_01, 25)])
    node = (await api.query(NODE, {"id": gid(pk)}, tenant[Role.ACCOUNTANT].token))["node"]
    assert node["kind"] == "INVOICE" and node["status"] == "PARTLY_PAID"
    assert (node["issueDate"], node["dueDate"]) == (issued.isoformat(), (issued + timedelta(days=32)).isoformat())
    # VAT per rate on the rate's net sum: 25 % of 110.01 = 27.5025 -> 27.50; 15 % of 33.33 = 4.9995 -> 5.00
    assert node["vatBreakdown"] == [
        {"rate": 25, "taxable": {"amount": "110.01"}, "vat": {"amount": "27.50"}},
        {"rate": 15, "taxable": {"amount": "33.33"}, "vat": {"amount": "5.00"}}]
    assert (node["net"], node["vat"]["amount"], node["gross"]["amount"]) == (
        {"amount": "143.34", "currency": "NOK"}, "32.50", "175.84")
    assert (node["paid"]["amount"], node["credited"]["amount"], node["outstanding"]["amount"]) == (
        "50.00", "0.00", "125.84")
    assert node["recipient"] == {
        "name": "Recipient AS", "reference": "AP-77", "address": {"street": "Gate 2", "postalCode": "0150",
                                                                  "city": "Oslo"},
        "costCentre": {"id": to_global_id("CostCentre", centre_id), "code": "CARE", "invoiceReference": "AP-77"}}
    assert node["company"]["id"] == tenant.gid
    assert node["ehfUrl"] == f"{services.settings.public_url}/export/invoices/{gid(pk)}.xml"
    assert node["pdfUrl"] == f"{services.settings.public_url}/export/invoices/{gid(pk)}.pdf"
    assert [line["quantity"] for line in node["lines"]] == [1, 3, 1]
    assert node["lines"][1] | {"order": None} == {
        "sku": "SKU-1", "name": "Item 1", "unit": "pcs", "quantity": 3, "unitPrice": {"amount": "11.11"},
        "vatRate": 15, "net": {"amount": "33.33"}, "orderNumber": "PO-1", "orderReference": "ref 1",
        "poNumber": "P1", "buyerName": "Test Buyer", "endCustomerName": "",
        "deliveredOn": (issued - timedelta(days=1)).isoformat(), "order": None}
    assert node["creditedInvoice"] is None


async def test_each_state_comes_from_the_amounts_and_the_date_and_filters_the_archive(api, services):
    tenant = await api.tenant([Role.ADMIN])
    day = today()
    made = {
        "ISSUED": await create_invoice(services, tenant.company_id, issued=day, due=day + timedelta(days=5)),
        "PARTLY_PAID": await create_invoice(services, tenant.company_id, issued=day, due=day, paid_minor=1_00),
        "PAID": await create_invoice(services, tenant.company_id, issued=day, paid_minor=125_00),
        "OVERDUE": await create_invoice(services, tenant.company_id, issued=day - timedelta(days=40),
                                        due=day - timedelta(days=1), paid_minor=10_00),
        "CREDITED": await create_invoice(services, tenant.company_id, issued=day, credited_minor=125_00),
    }
    note = await create_invoice(services, tenant.company_id, issued=day, kind=InvoiceKind.CREDIT_NOTE,
                                credited_invoice_id=made["CREDITED"])
    token = tenant[Role.ADMIN].token
    for status, pk in made.items():
        page = await archive(api, token, filter={"status": status})
        expected = [gid(pk)] + ([gid(note)] if status == "ISSUED" else [])
        assert sorted(ids(page)) == sorted(expected), status
        assert {e["node"]["status"] for e in page["edges"]} == {status}
    notes = await archive(api, token, filter={"kind": "CREDIT_NOTE"})
    assert ids(notes) == [gid(note)]
    assert notes["edges"][0]["node"]["creditedInvoice"] == {"id": gid(made["CREDITED"])}
    assert notes["edges"][0]["node"]["outstanding"]["amount"] == "0.00"
    credited = (await archive(api, token, filter={"status": "CREDITED"}))["edges"][0]["node"]
    assert credited["creditNotes"] == [{"id": gid(note), "kind": "CREDIT_NOTE"}]


async def test_the_archive_is_newest_first_in_keyset_pages_and_holds_24_months(api, services):
    tenant = await api.tenant([Role.ADMIN])
    day = today()
    old = await create_invoice(services, tenant.company_id, issued=day - timedelta(days=800))
    made = [await create_invoice(services, tenant.company_id, issued=day - timedelta(days=n // 2)) for n in range(5)]
    token = tenant[Role.ADMIN].token
    first = await archive(api, token, first=2)
    assert first["pageInfo"] == {"hasNextPage": True, "hasPreviousPage": False,
                                 "endCursor": first["edges"][-1]["cursor"]}
    second = await archive(api, token, first=2, after=first["pageInfo"]["endCursor"])
    third = await archive(api, token, first=2, after=second["pageInfo"]["endCursor"])
    # Newest issue date first; within a day, the later invoice first.
    expected = [gid(made[i]) for i in (1, 0, 3, 2, 4)]
    assert ids(first) + ids(second) + ids(third) == expected
    assert third["pageInfo"]["hasNextPage"] is False and third["pageInfo"]["hasPreviousPage"] is True
    assert gid(old) not in ids(await archive(api, token, first=100))
    assert (await api.query(NODE, {"id": gid(old)}, token))["node"]["id"] == gid(old)  # by id at any age
    window = await archive(api, token, filter={"issuedFrom": (day - timedelta(days=1)).isoformat(),
                                               "issuedTo": (day - timedelta(days=1)).isoformat()})
    assert sorted(ids(window)) == sorted([gid(made[2]), gid(made[3])])
    body = await api.raw(ARCHIVE, {"after": "not-a-cursor"}, token)
    assert error_code(body) == "INVALID_INPUT"


async def test_who_reads_invoices_and_that_a_refusal_changes_nothing(api, services):
    tenant = await api.tenant(ROLES)
    pk = await create_invoice(services, tenant.company_id, issued=today())
    for role in (Role.ADMIN, Role.MANAGER, Role.ACCOUNTANT):
        assert ids(await archive(api, tenant[role].token)) == [gid(pk)], role
        assert (await api.query(NODE, {"id": gid(pk)}, tenant[role].token))["node"]["id"] == gid(pk)
    before = await snapshot(services)
    for role in (Role.CUSTOMER, Role.ORDER_APPROVER):
        body = await api.raw(ARCHIVE, {}, tenant[role].token)
        assert error_code(body) == "FORBIDDEN", role
        assert error_code(await api.raw(NODE, {"id": gid(pk)}, tenant[role].token)) == "FORBIDDEN"
    assert error_code(await api.raw(ARCHIVE, {})) == "UNAUTHENTICATED"
    assert await snapshot(services) == before


async def test_api_clients_read_invoices_with_invoices_read_only(api, services):
    tenant = await api.tenant([Role.ADMIN])
    pk = await create_invoice(services, tenant.company_id, issued=today())
    _, reader = await new_client(api, tenant[Role.ADMIN].token, ApiScope.INVOICES_READ)
    _, other = await new_client(api, tenant[Role.ADMIN].token, ApiScope.ORDERS_READ, name="Orders")
    assert ids(await archive(api, reader)) == [gid(pk)]
    assert error_code(await api.raw(ARCHIVE, {}, other)) == "FORBIDDEN"


async def test_another_companys_invoice_is_never_seen_but_operators_see_every_company(api, services):
    ours, theirs = await api.tenant([Role.ADMIN, Role.ACCOUNTANT]), await api.tenant([Role.ADMIN])
    mine = await create_invoice(services, ours.company_id, issued=today())
    foreign = await create_invoice(services, theirs.company_id, issued=today())
    for role in (Role.ADMIN, Role.ACCOUNTANT):
        assert ids(await archive(api, ours[role].token)) == [gid(mine)]
        assert (await api.query(NODE, {"id": gid(foreign)}, ours[role].token))["node"] is None
    body = await api.raw(ARCHIVE, {"filter": {"companyId": theirs.gid}}, ours[Role.ADMIN].token)
    assert error_code(body) == "INVALID_INPUT"
    staff = await operator(api)
    assert sorted(ids(await archive(api, staff.token))) == sorted([gid(mine), gid(foreign)])
    assert ids(await archive(api, staff.token, filter={"companyId": theirs.gid})) == [gid(foreign)]
    assert (await api.query(NODE, {"id": gid(foreign)}, staff.token))["node"]["company"]["id"] == theirs.gid


async def test_a_page_of_invoices_takes_the_same_statements_for_2_invoices_as_for_12(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    for n in range(12):
        order = await create_order(services, tenant.company_id, tenant.group_id, tenant[Role.CUSTOMER].membership_id,
                                   submitted=utcnow() - timedelta(days=n + 2), gross_minor=10_00)
        await create_invoice(services, tenant.company_id, issued=today() - timedelta(days=n),
                             lines=[LineSpec(10_00 + n, order_id=order), LineSpec(5_00, 15, order_id=order)])
    engine = services.db.engine.sync_engine

    async def statements(first: int) -> int:
        seen: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)
        event.listen(engine, "before_cursor_execute", record)
        try:
            page = await archive(api, tenant[Role.ADMIN].token, first=first)
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert len(page["edges"]) == first and all(len(e["node"]["lines"]) == 2 for e in page["edges"])
        assert all(line["order"]["id"] for e in page["edges"] for line in e["node"]["lines"])  # each line's order
        return seen

    small, large = await statements(2), await statements(12)
    assert len(small) == len(large), "\n".join(s[:200] for s in large)


async def test_operators_set_a_companys_invoicing_settings_audited_and_checked(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.ACCOUNTANT, Role.CUSTOMER])
    staff = await operator(api)
    mutation = """mutation($input: SetCompanyInvoicingInput!) { setCompanyInvoicing(input: $input) {
      __typename ... on CompanyInvoicingPayload { company { id invoiceDays paymentTermsDays } }
      ... on MutationError { code field } } }"""
    settings_query = "{ company { invoiceDays paymentTermsDays } }"
    assert (await api.query(settings_query, None, tenant[Role.ACCOUNTANT].token))["company"] == {
        "invoiceDays": [1, 15], "paymentTermsDays": 32}
    assert (await api.query(settings_query, None, tenant[Role.CUSTOMER].token))["company"] == {
        "invoiceDays": None, "paymentTermsDays": None}
    before = await snapshot(services)
    for days, terms, field in (([], None, "invoiceDays"), ([0], None, "invoiceDays"), ([29], None, "invoiceDays"),
                               ([5, 5], None, "invoiceDays"), ([1], 0, "paymentTermsDays"),
                               ([1], 121, "paymentTermsDays")):
        result = (await api.query(mutation, {"input": {"companyId": tenant.gid, "invoiceDays": days,
                                                       "paymentTermsDays": terms}}, staff.token))
        assert result["setCompanyInvoicing"] == {"__typename": "MutationError", "code": "INVALID_INPUT",
                                                 "field": field}, (days, terms)
    missing = await api.query(mutation, {"input": {"companyId": to_global_id("Company", 999_999),
                                                   "invoiceDays": [1]}}, staff.token)
    assert missing["setCompanyInvoicing"]["code"] == "NOT_FOUND"
    refused = await api.raw(mutation, {"input": {"companyId": tenant.gid, "invoiceDays": [3]}},
                            tenant[Role.ADMIN].token)
    assert outcome(refused, "setCompanyInvoicing") == "FORBIDDEN"
    assert await snapshot(services) == before
    done = await api.query(mutation, {"input": {"companyId": tenant.gid, "invoiceDays": [20, 5],
                                                "paymentTermsDays": 14}}, staff.token)
    assert done["setCompanyInvoicing"]["company"] == {"id": tenant.gid, "invoiceDays": [5, 20],
                                                      "paymentTermsDays": 14}
    async with services.db.read_sessions() as session:
        company = await session.get(Company, tenant.company_id)
        assert (company.invoice_days, company.payment_terms_days) == ([5, 20], 14)
    assert await count(services, AuditEntry, AuditEntry.entity == "company", AuditEntry.action == "invoicing") == 1
    back = await api.query(mutation, {"input": {"companyId": tenant.gid, "invoiceDays": [1],
                                                "paymentTermsDays": None}}, staff.token)
    assert back["setCompanyInvoicing"]["company"]["paymentTermsDays"] == 32  # the country's default again


async def test_a_cost_centres_invoice_reference_is_set_kept_and_read(api, services):
    tenant = await api.tenant([Role.ADMIN])
    save = """mutation($input: CostCentreInput!) { saveCostCentre(input: $input) {
      __typename ... on CostCentrePayload { costCentre { id invoiceReference } }
      ... on MutationError { code field } } }"""
    address = {"street": "S 1", "postalCode": "0150", "city": "Oslo"}
    made = (await api.query(save, {"input": {"name": "Care", "code": "care", "invoiceAddress": address,
                                             "invoiceReference": " AP  12 "}}, tenant[Role.ADMIN].token))
    centre = made["saveCostCentre"]["costCentre"]
    assert centre["invoiceReference"] == "AP 12"
    kept = await api.query(save, {"input": {"id": centre["id"], "name": "Care", "code": "care",
                                            "invoiceAddress": address}}, tenant[Role.ADMIN].token)
    assert kept["saveCostCentre"]["costCentre"]["invoiceReference"] == "AP 12"
    too_long = await api.query(save, {"input": {"id": centre["id"], "name": "Care", "code": "care",
                                                "invoiceAddress": address, "invoiceReference": "x" * 201}},
                               tenant[Role.ADMIN].token)
    assert too_long["saveCostCentre"] == {"__typename": "MutationError", "code": "INVALID_INPUT",
                                          "field": "invoiceReference"}
