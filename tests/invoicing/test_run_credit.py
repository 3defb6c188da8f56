"""Credit notes for returns of invoiced orders, and the company's statement on each invoice (previous balance,
payments listed once, credit notes since, balance due)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from invoicing.peppol import validate_ehf
from invoicing.run import run_invoicing
from models import LineReturn, OrderLine, Payment, Role
from tests.invoicing.run_helpers import documents, fulfilled, give_back, invoice_shop, lines_of, pay, product
from tests.spend_helpers import ok, order_pk, submit
from tests.webhook_helpers import create_endpoint, stored_deliveries

FIRST, SECOND, THIRD = date(2026, 12, 15), date(2027, 1, 1), date(2027, 1, 15)


async def returns(services, order_gid: str) -> list[tuple[int, int | None]]:
    async with services.db.read_sessions() as session:
        rows = await session.execute(select(LineReturn.quantity, LineReturn.credit_note_id)
                                     .join(OrderLine, OrderLine.id == LineReturn.order_line_id)
                                     .where(OrderLine.order_id == order_pk(order_gid)).order_by(LineReturn.id))
        return [tuple(row) for row in rows]


async def test_returns_of_an_invoiced_order_become_a_credit_note_referencing_the_invoice(api, services):
    shop = await invoice_shop(api)
    goods, food = await product(api, 80_00), await product(api, 10_00, vat_rate=15)
    await ok(api, "addToCart", {"productId": goods, "quantity": 3}, shop.buyer.token)
    await ok(api, "addToCart", {"productId": food, "quantity": 4}, shop.buyer.token)
    order = (await ok(api, "fulfilOrder", {"id": (await submit(api, shop.buyer))["order"]["id"]},
                      shop.op.token))["order"]
    await run_invoicing(services, FIRST)
    [invoice] = await documents(services)
    assert invoice.gross_minor == 300_00 + 46_00

    await give_back(api, shop, order, 1, line=0)
    await give_back(api, shop, order, 1, line=0)
    await give_back(api, shop, order, 2, line=1)
    report = await run_invoicing(services, SECOND)

    assert (report.invoices, report.credit_notes) == ([], [2])
    invoice, note = await documents(services)
    assert (note.kind, note.number, note.credited_invoice_id, note.cost_centre_id, note.kid) == (
        "credit_note", 2, invoice.id, invoice.cost_centre_id, None)
    assert (note.recipient_name, note.recipient_reference) == (invoice.recipient_name, invoice.recipient_reference)
    assert (note.issue_date, note.due_date) == (SECOND, SECOND)
    assert (note.net_minor, note.vat_minor, note.gross_minor) == (180_00, 43_00, 223_00)
    assert [(line.quantity, line.unit_price_minor, line.vat_rate, line.net_minor, line.line_return_id is not None)
            for line in await lines_of(services, note.id)] == [
        (1, 80_00, 25, 80_00, True), (1, 80_00, 25, 80_00, True), (2, 10_00, 15, 20_00, True)]
    assert {(line.order_number, line.buyer_name) for line in await lines_of(services, note.id)} == {
        (order["number"], "Test Customer")}
    assert invoice.credited_minor == 223_00
    assert await returns(services, order["id"]) == [(1, note.id), (1, note.id), (2, note.id)]
    assert validate_ehf(note.ehf_xml) == []
    assert f"<cbc:ID>{invoice.number}</cbc:ID>".encode() in note.ehf_xml  # the billing reference
    # Once credited, a return is credited once.
    assert (await run_invoicing(services, THIRD)).credit_notes == []


async def test_one_credit_note_per_credited_invoice(api, services):
    shop = await invoice_shop(api)
    goods = await product(api, 40_00)
    first = await fulfilled(api, shop, goods, 2)
    await run_invoicing(services, FIRST)
    second = await fulfilled(api, shop, goods, 2)
    await run_invoicing(services, SECOND)
    await give_back(api, shop, first, 1)
    await give_back(api, shop, second, 2)

    report = await run_invoicing(services, THIRD)

    assert report.credit_notes == [3, 4]
    one, two, note_one, note_two = await documents(services)
    assert (note_one.credited_invoice_id, note_one.gross_minor) == (one.id, 50_00)
    assert (note_two.credited_invoice_id, note_two.gross_minor) == (two.id, 100_00)
    assert (one.credited_minor, two.credited_minor) == (50_00, 100_00)


async def test_the_statement_carries_the_previous_balance_payments_and_credit_notes_since(api, services):
    shop = await invoice_shop(api)
    goods = await product(api, 80_00)
    first_order = await fulfilled(api, shop, goods, 4)  # 400.00
    await run_invoicing(services, FIRST)
    [first] = await documents(services)
    assert (first.previous_balance_minor, first.payments_minor, first.balance_due_minor) == (0, 0, 400_00)

    paid = await pay(services, shop.company_id, 300_00, date(2026, 12, 20))
    late = await pay(services, shop.company_id, 50_00, date(2027, 1, 2))  # after the next run's date
    await give_back(api, shop, first_order, 1)  # a credit note of 100.00
    await fulfilled(api, shop, goods, 2)  # 200.00
    report = await run_invoicing(services, SECOND)

    assert (report.credit_notes, report.invoices) == ([2], [3])
    _, note, second = await documents(services)
    assert note.gross_minor == 100_00
    # 400.00 owed - 300.00 paid - 100.00 credited + 200.00 new = 200.00
    assert (second.previous_balance_minor, second.payments_minor, second.gross_minor, second.balance_due_minor) == (
        400_00, 300_00, 200_00, 200_00)
    assert validate_ehf(second.ehf_xml) == []
    assert b"previous balance 400.00, payments received 300.00" in second.ehf_xml
    async with services.db.read_sessions() as session:
        listed = dict((await session.execute(select(Payment.id, Payment.statement_invoice_id))).all())
    assert listed == {paid: second.id, late: None}

    await fulfilled(api, shop, goods)
    await run_invoicing(services, THIRD)
    third = (await documents(services))[-1]
    # The late payment is listed now, once; the one listed before is not counted again.
    assert (third.previous_balance_minor, third.payments_minor, third.balance_due_minor) == (200_00, 50_00, 250_00)


async def test_the_statement_is_the_companys_not_another_companys(api, services):
    one = await invoice_shop(api)
    two = await invoice_shop(api, op=one.op)
    goods = await product(api, 80_00)
    await fulfilled(api, one, goods)
    await run_invoicing(services, FIRST)
    await pay(services, one.company_id, 100_00, date(2026, 12, 20))
    await fulfilled(api, two, goods)
    await run_invoicing(services, SECOND)
    [invoice] = await documents(services, two.company_id)
    assert (invoice.previous_balance_minor, invoice.payments_minor, invoice.balance_due_minor) == (0, 0, 100_00)


async def test_each_issued_document_is_an_event_for_the_companys_webhooks(api, services):
    shop = await invoice_shop(api)
    await create_endpoint(api, shop.st[Role.ADMIN], "https://erp.example/hooks",
                          ["INVOICE_ISSUED", "CREDIT_NOTE_ISSUED"])
    order = await fulfilled(api, shop, await product(api, 80_00), 2)
    await run_invoicing(services, FIRST)
    await give_back(api, shop, order, 1)
    await run_invoicing(services, SECOND)

    deliveries = await stored_deliveries(services)
    assert [(d.company_id, d.event_type, d.payload["data"]["invoice"]["number"]) for d in deliveries] == [
        (shop.company_id, "invoice.issued", 1), (shop.company_id, "credit_note.issued", 2)]
