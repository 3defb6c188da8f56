"""registerPayment with a KID or an invoice: matched to the invoice, the surplus on the account, the credit
lowered, audited, refused cleanly (nothing changes), operators only, and exact under concurrent payments."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from models import AuditEntry, Company, Role
from models.base import utcnow
from models.invoice import InvoiceKind, InvoiceStatus, invoice_status
from policies.scopes import company_rows
from schema.relay import to_global_id
from tests.factories import create_company, operator
from tests.invoicing.invoice_factory import create_invoice, invoice_row, outstanding_of, payments_of

REGISTER = """mutation($input: RegisterPaymentInput!) { registerPayment(input: $input) { __typename
  ... on CreditPayload { credit { companyId outstanding { amount currency } }
                         payment { invoiceId applied { amount currency } unapplied { amount currency } receivedOn } }
  ... on MutationError { code message field } } }"""


async def pay(api, token: str | None, **input) -> dict:
    body = await api.raw(REGISTER, {"input": input}, token)
    if body.get("errors"):
        return {"__typename": "GraphQLError", "code": body["errors"][0]["extensions"]["code"]}
    return body["data"]["registerPayment"]


def gid(invoice) -> str:
    return to_global_id("Invoice", invoice.id)


async def state(services, company_id: int, invoice_ids: list[int]) -> tuple:
    """Everything a payment may change: the invoices' paid amounts, the payments, the outstanding credit, the log."""
    invoices = [(await invoice_row(services, i)).paid_minor for i in invoice_ids]
    payments = [(p.invoice_id, p.amount_minor) for p in await payments_of(services, company_id)]
    async with services.db.read_sessions() as session:
        company = await session.get_one(Company, company_id)
        audited = len((await session.scalars(company_rows(AuditEntry, company))).all())
    return invoices, payments, await outstanding_of(services, company_id), audited


@pytest.fixture
async def op(api):
    return await operator(api)


@pytest.fixture
async def company(services):
    company_id, _ = await create_company(services)
    return company_id


async def test_a_payment_with_a_kid_pays_that_invoice(api, services, op, company):
    invoice = await create_invoice(services, company, gross="1250.00")
    other = await create_invoice(services, company, gross="500.00")

    result = await pay(api, op.token, kid=invoice.kid, amount="1250.00")

    assert result["__typename"] == "CreditPayload", result
    assert result["credit"]["companyId"] == to_global_id("Company", company)
    assert result["credit"]["outstanding"] == {"amount": "500.00", "currency": "NOK"}
    assert result["payment"] == {"invoiceId": gid(invoice), "applied": {"amount": "1250.00", "currency": "NOK"},
                                 "unapplied": {"amount": "0.00", "currency": "NOK"},
                                 "receivedOn": utcnow().date().isoformat()}
    stored = await invoice_row(services, invoice.id)
    assert stored.paid_minor == 1250_00
    assert invoice_status(stored, utcnow().date()) is InvoiceStatus.PAID
    assert (await invoice_row(services, other.id)).paid_minor == 0
    [payment] = await payments_of(services, company)
    assert (payment.invoice_id, payment.amount_minor, payment.currency, payment.kid, payment.received_on,
            payment.registered_by_id, payment.statement_invoice_id) == (
        invoice.id, 1250_00, "NOK", invoice.kid, utcnow().date(), op.user_id, None)
    async with services.db.read_sessions() as session:
        company_row = await session.get_one(Company, company)
        [entry] = (await session.scalars(company_rows(AuditEntry, company_row))).all()
    assert (entry.entity, entry.entity_id, entry.action, entry.actor_user_id) == ("credit", company, "payment",
                                                                                 op.user_id)
    assert entry.after == {"amount_minor": 1250_00, "received_on": utcnow().date().isoformat(), "kid": invoice.kid,
                           "invoice_id": invoice.id, "applied_minor": 1250_00}


async def test_part_payments_add_up_and_the_kid_may_carry_spaces(api, services, op, company):
    invoice = await create_invoice(services, company, gross="1000.00", due_date=utcnow().date() + timedelta(days=5))
    spaced = " ".join([invoice.kid[:4], invoice.kid[4:]])
    first = await pay(api, op.token, kid=spaced, amount="400.00", companyId=to_global_id("Company", company))
    assert first["payment"]["applied"]["amount"] == "400.00"
    assert invoice_status(await invoice_row(services, invoice.id), utcnow().date()) is InvoiceStatus.PARTLY_PAID
    await pay(api, op.token, kid=invoice.kid, amount="600.00")
    assert (await invoice_row(services, invoice.id)).paid_minor == 1000_00
    assert [(p.invoice_id, p.amount_minor) for p in await payments_of(services, company)] == [
        (invoice.id, 400_00), (invoice.id, 600_00)]
    assert await outstanding_of(services, company) == 0


async def test_an_overpayment_leaves_the_surplus_on_the_account(api, services, op, company):
    invoice = await create_invoice(services, company, gross="300.00", paid="100.00")
    await create_invoice(services, company, gross="1000.00")  # something else owed: outstanding 1200.00

    result = await pay(api, op.token, kid=invoice.kid, amount="450.00")

    assert (result["payment"]["applied"]["amount"], result["payment"]["unapplied"]["amount"]) == ("200.00", "250.00")
    assert result["credit"]["outstanding"]["amount"] == "750.00"
    assert (await invoice_row(services, invoice.id)).paid_minor == 300_00
    assert [(p.invoice_id, p.amount_minor, p.kid) for p in await payments_of(services, company)] == [
        (invoice.id, 200_00, invoice.kid), (None, 250_00, invoice.kid)]
    # Paying it again: nothing more to pay on it, the whole payment stays on the account.
    again = await pay(api, op.token, kid=invoice.kid, amount="10.00")
    assert (again["payment"]["applied"]["amount"], again["payment"]["unapplied"]["amount"]) == ("0.00", "10.00")
    assert (await invoice_row(services, invoice.id)).paid_minor == 300_00


async def test_a_payment_without_kid_or_invoice_stays_on_the_account(api, services, op, company):
    invoice = await create_invoice(services, company, gross="800.00")
    result = await pay(api, op.token, companyId=to_global_id("Company", company), amount="300.00",
                       receivedOn="2026-01-15")
    assert result["payment"] == {"invoiceId": None, "applied": {"amount": "0.00", "currency": "NOK"},
                                 "unapplied": {"amount": "300.00", "currency": "NOK"}, "receivedOn": "2026-01-15"}
    assert (await invoice_row(services, invoice.id)).paid_minor == 0
    assert [(p.invoice_id, p.amount_minor, p.kid, p.received_on) for p in await payments_of(services, company)] == [
        (None, 300_00, None, date(2026, 1, 15))]
    assert await outstanding_of(services, company) == 500_00


async def test_a_payment_may_name_the_invoice_by_id(api, services, op, company):
    invoice = await create_invoice(services, company, gross="200.00", kid=None, currency="NOK")
    result = await pay(api, op.token, invoiceId=gid(invoice), amount="200.00", receivedOn="2026-11-30")
    assert result["payment"]["invoiceId"] == gid(invoice)
    assert (await invoice_row(services, invoice.id)).paid_minor == 200_00
    [payment] = await payments_of(services, company)
    assert (payment.invoice_id, payment.kid, payment.received_on) == (invoice.id, None, date(2026, 11, 30))


async def test_a_swedish_invoice_is_paid_in_its_currency(api, services, op):
    company, _ = await create_company(services, country="SE", currency="SEK", org_number="5560360793")
    invoice = await create_invoice(services, company, gross="100.00", kid=None, currency="SEK")
    result = await pay(api, op.token, invoiceId=gid(invoice), amount="100.00")
    assert result["payment"]["applied"] == {"amount": "100.00", "currency": "SEK"}
    assert [p.currency for p in await payments_of(services, company)] == ["SEK"]


async def test_refused_payments_change_nothing(api, services, op, company):
    invoice = await create_invoice(services, company, gross="1000.00")
    credit_note = await create_invoice(services, company, gross="100.00", kind=InvoiceKind.CREDIT_NOTE,
                                       credited_invoice_id=invoice.id)
    elsewhere, _ = await create_company(services)
    foreign = await create_invoice(services, elsewhere, gross="50.00")
    bad_check_digit = invoice.kid[:-1] + str((int(invoice.kid[-1]) + 1) % 10)
    unknown = "0000000000000000" + "0"  # a valid Luhn number no invoice has
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    me = to_global_id("Company", company)
    before = await state(services, company, [invoice.id, credit_note.id])

    cases = [
        ({"kid": bad_check_digit, "amount": "10.00"}, "INVALID_INPUT", "kid"),
        ({"kid": "12AB5", "amount": "10.00"}, "INVALID_INPUT", "kid"),
        ({"kid": "0", "amount": "10.00"}, "INVALID_INPUT", "kid"),
        ({"kid": unknown, "amount": "10.00"}, "NOT_FOUND", "kid"),
        ({"kid": foreign.kid, "companyId": me, "amount": "10.00"}, "INVALID_INPUT", "companyId"),
        ({"invoiceId": gid(foreign), "companyId": me, "amount": "10.00"}, "INVALID_INPUT", "companyId"),
        ({"invoiceId": to_global_id("Invoice", 999_999), "amount": "10.00"}, "NOT_FOUND", "invoiceId"),
        ({"invoiceId": me, "amount": "10.00"}, "NOT_FOUND", "invoiceId"),
        ({"invoiceId": gid(credit_note), "amount": "10.00"}, "INVALID_INPUT", "invoiceId"),
        ({"kid": invoice.kid, "invoiceId": gid(foreign), "amount": "10.00"}, "INVALID_INPUT", "kid"),
        ({"kid": invoice.kid, "amount": "10.00", "receivedOn": tomorrow}, "INVALID_INPUT", "receivedOn"),
        ({"kid": invoice.kid, "amount": "0"}, "INVALID_INPUT", "amount"),
        ({"kid": invoice.kid, "amount": "-5.00"}, "INVALID_INPUT", "amount"),
        ({"kid": invoice.kid, "amount": "1000.01"}, "INVALID_INPUT", "amount"),
        ({"amount": "10.00"}, "INVALID_INPUT", "companyId"),
        ({"companyId": to_global_id("Company", 999_999), "amount": "10.00"}, "NOT_FOUND", "companyId"),
    ]
    for input, code, field in cases:
        result = await pay(api, op.token, **input)
        assert (result["__typename"], result.get("code"), result.get("field")) == ("MutationError", code, field), (
            input, result)
    assert await state(services, company, [invoice.id, credit_note.id]) == before
    assert (await invoice_row(services, foreign.id)).paid_minor == 0


async def test_only_platform_operators_register_payments(api, services, company):
    invoice = await create_invoice(services, company, gross="100.00")
    tenant = await api.tenant()
    own = await create_invoice(services, tenant.company_id, gross="100.00")
    before = await state(services, company, [invoice.id])
    for role in Role:
        token = tenant[role].token
        for input in ({"kid": invoice.kid, "amount": "1.00"}, {"kid": own.kid, "amount": "1.00"},
                      {"invoiceId": gid(own), "amount": "1.00"}):
            assert (await pay(api, token, **input))["code"] == "FORBIDDEN", (role, input)
    assert (await pay(api, None, kid=invoice.kid, amount="1.00"))["code"] == "UNAUTHENTICATED"
    assert await state(services, company, [invoice.id]) == before
    assert (await invoice_row(services, own.id)).paid_minor == 0


async def test_concurrent_payments_to_one_invoice_add_up_exactly(api, services, op, company):
    invoice = await create_invoice(services, company, gross="1000.00")
    await create_invoice(services, company, gross="5000.00")  # room on the account for the surplus

    results = await asyncio.gather(*[pay(api, op.token, kid=invoice.kid, amount="150.00") for _ in range(8)])

    assert all(r["__typename"] == "CreditPayload" for r in results), results
    assert (await invoice_row(services, invoice.id)).paid_minor == 1000_00
    payments = await payments_of(services, company)
    assert sum(p.amount_minor for p in payments if p.invoice_id == invoice.id) == 1000_00
    assert sum(p.amount_minor for p in payments if p.invoice_id is None) == 200_00
    assert sorted(minor for r in results for minor in [r["payment"]["applied"]["amount"]]).count("150.00") == 6
    assert await outstanding_of(services, company) == 6000_00 - 8 * 150_00

