"""Invoice events delivered to a real HTTP receiver that verifies each signature: issued and credit note (as
the invoice run emits them), paid (registerPayment), overdue (the overdue notice); only to the company's
endpoints subscribed to them; nothing from a rolled-back transaction; subscribing needs `invoice:read`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models import Company, Invoice, Role
from models.base import utcnow
from models.invoice import InvoiceKind
from policies.scopes import company_rows
from resolvers.invoice_events import invoice_issued
from resolvers.invoice_reminder import send_invoice_reminders
from schema.relay import to_global_id
from tests.conftest import test_settings as make_settings
from tests.factories import operator
from tests.invoicing.invoice_factory import create_invoice
from tests.webhook_helpers import Receiver, create_endpoint, run_due_jobs, stored_deliveries

INVOICE_EVENTS = ["INVOICE_ISSUED", "INVOICE_PAID", "INVOICE_OVERDUE", "CREDIT_NOTE_ISSUED"]
PUBLIC_URL = "https://procura.example"


@pytest.fixture
def settings(database_url):
    return make_settings(database_url, public_url=PUBLIC_URL)


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


async def subscribed(api, receiver: Receiver, admin, events: list[str], path: str) -> dict:
    created = await create_endpoint(api, admin, receiver.url(path), events)
    receiver.secrets.append(created["secret"])
    return created["webhookEndpoint"]


async def issue(services, made) -> None:
    """What the invoice run does for each document it issues, in its transaction."""
    async with services.db.transaction() as session:
        company = await session.get_one(Company, made.company_id)
        invoice = (await session.scalars(company_rows(Invoice, company).where(Invoice.id == made.id))).one()
        await invoice_issued(session, services.settings, invoice)


async def pay(api, token: str, kid: str, amount: str) -> None:
    body = await api.raw("""mutation($input: RegisterPaymentInput!) { registerPayment(input: $input) {
        __typename ... on MutationError { code } } }""", {"input": {"kid": kid, "amount": amount}}, token)
    assert body["data"]["registerPayment"]["__typename"] == "CreditPayload", body


async def test_invoice_events_reach_the_subscribed_endpoints_of_the_company_signed(api, services, receiver):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]
    await subscribed(api, receiver, admin, INVOICE_EVENTS, "/invoices")
    await subscribed(api, receiver, admin, ["INVOICE_PAID"], "/paid-only")
    await subscribed(api, receiver, admin, ["ORDER_APPROVED"], "/orders")
    other = await api.tenant([Role.ADMIN])
    await subscribed(api, receiver, other[Role.ADMIN], INVOICE_EVENTS, "/other-company")
    today = utcnow().date()
    invoice = await create_invoice(services, tenant.company_id, gross="1250.00", net="1000.00",
                                   issue_date=today - timedelta(days=10), due_date=today + timedelta(days=22))
    late = await create_invoice(services, tenant.company_id, gross="80.00", due_date=today - timedelta(days=1))
    note = await create_invoice(services, tenant.company_id, gross="125.00", kind=InvoiceKind.CREDIT_NOTE,
                                credited_invoice_id=invoice.id)
    await create_invoice(services, other.company_id, gross="5.00", due_date=today - timedelta(days=1))

    await issue(services, invoice)
    await issue(services, note)
    op = await operator(api)
    await pay(api, op.token, invoice.kid, "1000.00")  # partly paid: no event
    await pay(api, op.token, invoice.kid, "250.00")  # paid
    await pay(api, op.token, invoice.kid, "5.00")  # already paid: no second event
    await send_invoice_reminders(services, now=utcnow())
    assert await run_due_jobs(services) == 6

    by_path = {path: [r.json["type"] for r in receiver.received if r.path == path]
               for path in ("/invoices", "/paid-only", "/orders", "/other-company")}
    assert by_path == {"/invoices": ["invoice.issued", "credit_note.issued", "invoice.paid", "invoice.overdue"],
                       "/paid-only": ["invoice.paid"], "/orders": [],
                       "/other-company": ["invoice.overdue"]}
    assert all(len(r.verified_by) == 1 for r in receiver.received)
    issued, credit_note, paid, overdue = [r.json for r in receiver.received if r.path == "/invoices"]
    gid = to_global_id("Invoice", invoice.id)
    assert issued["data"]["invoice"]["status"] == "ISSUED"
    assert paid["data"]["invoice"] == {
        "id": gid, "number": invoice.number, "kind": "INVOICE", "status": "PAID",
        "company": {"companyId": to_global_id("Company", tenant.company_id), "name": paid["data"]["invoice"][
            "company"]["name"]},
        "recipient": {"costCentreId": None, "name": paid["data"]["invoice"]["recipient"]["name"], "reference": ""},
        "creditedInvoiceId": None, "issueDate": invoice.issue_date.isoformat(),
        "dueDate": invoice.due_date.isoformat(), "currency": "NOK", "kid": invoice.kid,
        "net": {"amount": "1000.00", "currency": "NOK"}, "vat": {"amount": "250.00", "currency": "NOK"},
        "gross": {"amount": "1250.00", "currency": "NOK"}, "paid": {"amount": "1250.00", "currency": "NOK"},
        "credited": {"amount": "0.00", "currency": "NOK"}, "outstanding": {"amount": "0.00", "currency": "NOK"},
        "previousBalance": {"amount": "0.00", "currency": "NOK"}, "payments": {"amount": "0.00", "currency": "NOK"},
        "balanceDue": {"amount": "1250.00", "currency": "NOK"},
        "ehfUrl": f"{PUBLIC_URL}/export/invoices/{gid}.xml", "pdfUrl": f"{PUBLIC_URL}/export/invoices/{gid}.pdf",
    }
    assert paid["data"]["invoice"]["company"]["name"].startswith("Company ")
    assert paid["timestamp"] >= issued["timestamp"]
    assert credit_note["data"]["invoice"]["kind"] == "CREDIT_NOTE"
    assert credit_note["data"]["invoice"]["creditedInvoiceId"] == gid
    assert (credit_note["data"]["invoice"]["kid"], credit_note["data"]["invoice"]["dueDate"]) == (None, None)
    assert overdue["data"]["invoice"]["id"] == to_global_id("Invoice", late.id)
    assert (overdue["data"]["invoice"]["status"], overdue["data"]["invoice"]["outstanding"]["amount"]) == (
        "OVERDUE", "80.00")
    assert {d.event_type for d in await stored_deliveries(services)} == {
        "invoice.issued", "credit_note.issued", "invoice.paid", "invoice.overdue"}


async def test_a_rolled_back_issue_sends_nothing(api, services, receiver):
    tenant = await api.tenant([Role.ADMIN])
    await subscribed(api, receiver, tenant[Role.ADMIN], INVOICE_EVENTS, "/invoices")
    invoice = await create_invoice(services, tenant.company_id)

    class RunFailed(Exception):
        pass

    with pytest.raises(RunFailed):
        async with services.db.transaction() as session:
            company = await session.get_one(Company, invoice.company_id)
            row = (await session.scalars(company_rows(Invoice, company).where(Invoice.id == invoice.id))).one()
            assert await invoice_issued(session, services.settings, row) == 1
            raise RunFailed()
    assert await stored_deliveries(services) == []
    assert await run_due_jobs(services) == 0
    assert receiver.received == []


CREATE = """mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) {
  __typename ... on WebhookSecretPayload { webhookEndpoint { id events } } ... on MutationError { code } } }"""
UPDATE = """mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) {
  __typename ... on WebhookEndpointPayload { webhookEndpoint { id events } } ... on MutationError { code } } }"""


async def test_subscribing_to_invoice_events_needs_invoice_read(api, services):
    tenant = await api.tenant([Role.ADMIN])
    admin = tenant[Role.ADMIN]

    async def client(*scopes: str) -> str:
        body = await api.raw("""mutation($input: CreateApiClientInput!) { createApiClient(input: $input) {
            __typename ... on ApiClientSecretPayload { secret } } }""",
                             {"input": {"name": "ERP " + "+".join(scopes), "scopes": list(scopes)}}, admin.token)
        return body["data"]["createApiClient"]["secret"]

    orders_only = await client("WEBHOOKS_MANAGE", "ORDERS_READ")
    with_invoices = await client("WEBHOOKS_MANAGE", "ORDERS_READ", "INVOICES_READ")
    url = "http://127.0.0.1:9/hooks"
    for events in (["INVOICE_ISSUED"], ["ORDER_APPROVED", "CREDIT_NOTE_ISSUED"]):
        body = await api.raw(CREATE, {"input": {"url": url, "events": events}}, orders_only)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
    created = await api.raw(CREATE, {"input": {"url": url, "events": ["ORDER_APPROVED"]}}, orders_only)
    endpoint = created["data"]["createWebhookEndpoint"]["webhookEndpoint"]
    refused = await api.raw(UPDATE, {"input": {"id": endpoint["id"], "events": ["INVOICE_PAID"]}}, orders_only)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    allowed = await api.raw(CREATE, {"input": {"url": url, "events": INVOICE_EVENTS}}, with_invoices)
    assert allowed["data"]["createWebhookEndpoint"]["webhookEndpoint"]["events"] == INVOICE_EVENTS
    changed = await api.raw(UPDATE, {"input": {"id": endpoint["id"], "events": ["INVOICE_PAID"]}}, with_invoices)
    assert changed["data"]["updateWebhookEndpoint"]["webhookEndpoint"]["events"] == ["INVOICE_PAID"]
    # An administrator reads invoices: subscribes as well.
    mine = await api.raw(CREATE, {"input": {"url": url, "events": ["INVOICE_OVERDUE"]}}, admin.token)
    assert mine["data"]["createWebhookEndpoint"]["__typename"] == "WebhookSecretPayload"
