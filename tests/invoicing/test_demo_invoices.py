"""The demo data's invoices, as a newcomer sees them right after `make run`: one paid, one overdue, one with a
credit note, each a valid EHF document, downloadable, and the account's transactions listing them."""

from __future__ import annotations

from datetime import date, timedelta

import httpx
from sqlalchemy import select

from demo.invoices import demo_invoice_days
from demo.load import DEMO_PASSWORD, load_demo_data
from invoicing.peppol import validate_ehf
from models import Company, Invoice
from tests.factories import Api

INVOICES = """{ invoices(first: 20) { edges { node {
  number kind status issueDate dueDate kid ehfUrl pdfUrl gross { amount } paid { amount } credited { amount }
  creditedInvoice { number } lines { orderNumber sku quantity } } } } }"""


async def test_the_demo_has_a_paid_an_overdue_and_a_credited_invoice_that_are_valid_ehf(api: Api, client):
    await load_demo_data(api.services)
    login = await api.login("admin@demo.procura.test", DEMO_PASSWORD)
    token = login["accessToken"]

    invoices = [edge["node"] for edge in (await api.query(INVOICES, token=token))["invoices"]["edges"]]
    kinds = sorted((one["kind"], one["status"]) for one in invoices)
    assert ("INVOICE", "PAID") in kinds and ("INVOICE", "OVERDUE") in kinds and ("CREDIT_NOTE", "ISSUED") in kinds
    credit_note = next(one for one in invoices if one["kind"] == "CREDIT_NOTE")
    credited = next(one for one in invoices if one["number"] == credit_note["creditedInvoice"]["number"])
    assert credited["credited"]["amount"] == credit_note["gross"]["amount"] != "0.00"
    paid = next(one for one in invoices if one["status"] == "PAID")
    assert paid["paid"]["amount"] == paid["gross"]["amount"] and paid["kid"]
    assert all(one["lines"] for one in invoices)

    async with api.services.db.read_sessions() as session:
        documents = (await session.scalars(select(Invoice.ehf_xml))).all()
    assert len(documents) == len(invoices) >= 4
    assert all(validate_ehf(xml) == [] for xml in documents)

    response = await client.get(httpx.URL(paid["pdfUrl"]).path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")

    today = date.today()
    ledger = await api.query(
        """query($from: Date!, $to: Date!) { transactions(from: $from, to: $to, first: 100) {
             edges { node { kind } } } }""",
        {"from": (today - timedelta(days=120)).isoformat(), "to": today.isoformat()}, token=token)
    listed = {edge["node"]["kind"] for edge in ledger["transactions"]["edges"]}
    assert {"INVOICE", "CREDIT_NOTE", "PAYMENT"} <= listed, listed


def test_the_demo_invoice_days_are_past_invoice_days_with_the_overdue_one_due_before_today():
    company = Company(country="NO", invoice_days=[1, 15])
    for today in (date(2026, 12, 1), date(2027, 1, 2), date(2027, 3, 31), date(2027, 7, 16)):
        days = demo_invoice_days(company, today)
        assert days.paid < days.overdue < days.credit < today
        assert {days.paid.day, days.overdue.day, days.credit.day} <= {1, 15}
        assert days.overdue + timedelta(days=32) < today
