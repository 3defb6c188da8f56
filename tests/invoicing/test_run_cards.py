"""Company card purchases in the invoice run: on the company's own invoice (cards are the account's), one line each
at the purchase's net amount, refunds before invoicing netted and after it credited, every document valid EHF."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date

from invoicing.card_lines import net_of
from invoicing.pdf import build_invoice_pdf
from invoicing.peppol import validate_ehf
from invoicing.run import run_invoicing
from models import Company, Order
from models.db import Database
from tests.invoicing.card_rows import (
    at,
    card_for,
    card_purchase,
    card_refund,
    purchase_invoice,
    refund_credit_note,
)
from tests.invoicing.run_helpers import documents, fulfilled, give_back, invoice_shop, lines_of, product
from tests.spend_helpers import order_pk

DAY, NEXT, LATER = date(2026, 12, 15), date(2027, 1, 1), date(2027, 1, 15)


def test_net_of_a_gross_amount_rounds_half_up():
    assert [net_of(gross, 25) for gross in (125_00, 1_01, 1_00, 10_01, 0)] == [100_00, 81, 80, 8_01, 0]
    assert (net_of(115_00, 15), net_of(112_00, 12), net_of(50_00, 0)) == (100_00, 100_00, 50_00)


async def test_card_purchases_go_on_the_company_invoice_beside_the_cost_centre_invoice(api, services):
    shop = await invoice_shop(api)
    await fulfilled(api, shop, await product(api, 80_00))
    card = await card_for(services, shop.company_id, shop.buyer.membership_id, last4="4821")
    groceries = await card_purchase(services, card, 125_00, at(date(2026, 12, 3)))
    food = await card_purchase(services, card, 230_00, at(date(2026, 12, 10)), vat_rate=15,
                               store_reference="Coop Extra Moss")
    declined = await card_purchase(services, card, 99_00, at(date(2026, 12, 11)), status="declined")
    late = await card_purchase(services, card, 10_00, at(DAY.replace(day=16), 0))  # after the run date

    report = await run_invoicing(services, DAY)

    assert (report.invoices, report.problems) == ([1, 2], [])
    company_invoice, centre_invoice = await documents(services)
    assert (company_invoice.cost_centre_id, centre_invoice.cost_centre_id) == (None, shop.st.centre_id)
    async with services.db.read_sessions() as session:
        company = await session.get_one(Company, shop.company_id)
    assert company_invoice.recipient_name == company.name
    lines = await lines_of(services, company_invoice.id)
    assert [(line.card_purchase_id, line.quantity, line.unit_price_minor, line.vat_rate, line.net_minor)
            for line in lines] == [(groceries, 1, 100_00, 25, 100_00), (food, 1, 200_00, 15, 200_00)]
    assert lines[0].name == "Card •••• 4821, Test Customer, Coop Mega Storo, 2026-12-03"
    assert (lines[0].order_reference, lines[0].buyer_name, lines[0].delivered_on) == (
        "Card •••• 4821", "Test Customer", date(2026, 12, 3))
    assert (company_invoice.net_minor, company_invoice.vat_minor, company_invoice.gross_minor) == (
        300_00, 55_00, 355_00)
    assert validate_ehf(company_invoice.ehf_xml) == []
    assert "Card •••• 4821".encode() in company_invoice.ehf_xml
    assert b"Purchased: 2026-12-03" in company_invoice.ehf_xml
    assert [await purchase_invoice(services, one) for one in (groceries, food, declined, late)] == [
        company_invoice.id, company_invoice.id, None, None]

    # Idempotent: invoiced once; the late purchase waits for the next run.
    assert (await run_invoicing(services, DAY)).invoices == []
    assert (await run_invoicing(services, NEXT)).invoices == [3]
    assert await purchase_invoice(services, late) == (await documents(services))[-1].id


async def test_orders_and_card_purchases_to_the_company_share_one_invoice_with_a_card_heading_in_the_pdf(
        api, services):
    shop = await invoice_shop(api)
    order = await fulfilled(api, shop, await product(api, 40_00), 2, reference="Kitchen")
    async with services.db.transaction() as session:
        (await session.get_one(Order, order_pk(order["id"]))).cost_centre_id = None
    card = await card_for(services, shop.company_id, shop.buyer.membership_id)
    purchase = await card_purchase(services, card, 62_50, at(date(2026, 12, 5)))

    await run_invoicing(services, DAY)

    [invoice] = await documents(services)
    lines = await lines_of(services, invoice.id)
    assert [(line.order_line_id is not None, line.card_purchase_id) for line in lines] == [
        (True, None), (False, purchase)]
    assert (invoice.net_minor, invoice.vat_minor, invoice.gross_minor) == (130_00, 32_50, 162_50)
    assert validate_ehf(invoice.ehf_xml) == []
    async with services.db.read_sessions() as session:
        company = await session.get_one(Company, shop.company_id)
        pdf = build_invoice_pdf(invoice, lines, company, services.settings)
    pdf.set_compression(False)
    data = bytes(pdf.output())
    # The bullet in the PDF's Windows-1252, the parentheses escaped in its string.
    assert b"Card \x95\x95\x95\x95 1234 \\(Test Customer\\)" in data


async def test_the_invoice_total_is_the_vat_per_rate_on_the_rounded_nets(api, services):
    """Three purchases of 1.01 at 25 %: each at net 0.81 (0.808 rounded), VAT 25 % of 2.43 = 0.61: the invoice
    says 3.04 where the receipts add up to 3.03 (the rounding rule of invoicing/card_lines.py)."""
    shop = await invoice_shop(api)
    card = await card_for(services, shop.company_id, shop.buyer.membership_id)
    for day in (1, 2, 3):
        await card_purchase(services, card, 1_01, at(date(2026, 12, day)))

    await run_invoicing(services, DAY)

    [invoice] = await documents(services)
    assert [line.net_minor for line in await lines_of(services, invoice.id)] == [81, 81, 81]
    assert (invoice.net_minor, invoice.vat_minor, invoice.gross_minor) == (2_43, 61, 3_04)
    assert validate_ehf(invoice.ehf_xml) == []


async def test_refunds_before_invoicing_lower_the_line_and_a_fully_refunded_purchase_has_none(api, services):
    shop = await invoice_shop(api)
    card = await card_for(services, shop.company_id, shop.buyer.membership_id)
    partly = await card_purchase(services, card, 125_00, at(date(2026, 12, 2)))
    whole = await card_purchase(services, card, 50_00, at(date(2026, 12, 2)))
    first = await card_refund(services, partly, 25_00, at(date(2026, 12, 3)))
    gone = await card_refund(services, whole, 50_00, at(date(2026, 12, 4)))

    await run_invoicing(services, DAY)

    [invoice] = await documents(services)
    assert [(line.card_purchase_id, line.net_minor) for line in await lines_of(services, invoice.id)] == [
        (partly, 80_00)]
    assert invoice.gross_minor == 100_00
    assert [await purchase_invoice(services, one) for one in (partly, whole)] == [invoice.id, invoice.id]
    # Settled on the invoice, never credited again.
    assert [await refund_credit_note(services, one) for one in (first, gone)] == [invoice.id, invoice.id]
    report = await run_invoicing(services, NEXT)
    assert (report.invoices, report.credit_notes) == ([], [])


async def test_refunds_of_invoiced_purchases_are_credited_with_the_returns_on_one_credit_note(api, services):
    shop = await invoice_shop(api)
    order = await fulfilled(api, shop, await product(api, 80_00), 2)
    async with services.db.transaction() as session:
        (await session.get_one(Order, order_pk(order["id"]))).cost_centre_id = None
    card = await card_for(services, shop.company_id, shop.buyer.membership_id)
    odd = await card_purchase(services, card, 1_01, at(date(2026, 12, 2)))
    food = await card_purchase(services, card, 115_00, at(date(2026, 12, 2)), vat_rate=15)
    await run_invoicing(services, DAY)
    [invoice] = await documents(services)
    assert [line.net_minor for line in await lines_of(services, invoice.id)] == [160_00, 81, 100_00]

    await give_back(api, shop, order, 1)
    halves = [await card_refund(services, odd, 50, at(date(2026, 12, 20))),
              await card_refund(services, odd, 51, at(date(2026, 12, 21)))]
    some_food = await card_refund(services, food, 23_00, at(date(2026, 12, 22)))
    after_run_date = await card_refund(services, food, 11_50, at(date(2027, 1, 2)))
    report = await run_invoicing(services, NEXT)

    assert (report.invoices, report.credit_notes) == ([], [2])
    _, note = await documents(services)
    assert (note.kind, note.credited_invoice_id) == ("credit_note", invoice.id)
    lines = await lines_of(services, note.id)
    assert [(line.line_return_id is not None, line.card_refund_id, line.net_minor, line.vat_rate)
            for line in lines] == [
        (True, None, 80_00, 25), (False, halves[0], 40, 25), (False, halves[1], 41, 25),
        (False, some_food, 20_00, 15)]
    # The two refunds of the 1.01 purchase credit exactly the 0.81 it was invoiced at.
    assert lines[1].net_minor + lines[2].net_minor == 81
    assert lines[1].name.startswith("Refund, Card •••• 1234, Test Customer")
    assert (note.net_minor, note.vat_minor, note.gross_minor) == (100_81, 20_20 + 3_00, 124_01)
    assert invoice.credited_minor == 0 and (await documents(services))[0].credited_minor == 124_01
    assert validate_ehf(note.ehf_xml) == []
    assert [await refund_credit_note(services, one) for one in (*halves, some_food, after_run_date)] == [
        note.id, note.id, note.id, None]

    report = await run_invoicing(services, LATER)
    assert report.credit_notes == [3]
    assert await refund_credit_note(services, after_run_date) == (await documents(services))[-1].id


async def test_another_company_s_card_purchases_stay_off_this_company_s_invoice(api, services):
    shop, other = await invoice_shop(api), await invoice_shop(api)
    mine = await card_purchase(services, await card_for(services, shop.company_id, shop.buyer.membership_id),
                               10_00, at(date(2026, 12, 1)))
    theirs = await card_purchase(services, await card_for(services, other.company_id, other.buyer.membership_id,
                                                          last4="9999"), 20_00, at(date(2026, 12, 1)))
    await run_invoicing(services, DAY)
    by_company = {invoice.company_id: invoice.id for invoice in await documents(services)}
    assert await purchase_invoice(services, mine) == by_company[shop.company_id]
    assert await purchase_invoice(services, theirs) == by_company[other.company_id]


async def test_two_runs_at_once_invoice_every_card_purchase_once(api, services, backend):
    """Two runs of one date at once (two tasks; on PostgreSQL two engines, as two workers): each purchase on one
    invoice, numbers without a gap."""
    shops = [await invoice_shop(api)]
    shops += [await invoice_shop(api, op=shops[0].op) for _ in range(2)]
    purchases = []
    for shop in shops:
        card = await card_for(services, shop.company_id, shop.buyer.membership_id)
        purchases += [await card_purchase(services, card, 12_50, at(date(2026, 12, day))) for day in (1, 2)]
    other_db = Database.connect(services.settings.database_url) if backend == "postgresql" else None
    other_worker = dataclasses.replace(services, db=other_db) if other_db else services
    try:
        one, two = await asyncio.gather(run_invoicing(services, DAY, validate=lambda xml: []),
                                        run_invoicing(other_worker, DAY, validate=lambda xml: []))
    finally:
        if other_db:
            await other_db.dispose()
    assert sorted(one.invoices + two.invoices) == [1, 2, 3]
    issued = await documents(services)
    assert [invoice.number for invoice in issued] == [1, 2, 3]
    assert all(invoice.gross_minor == 25_00 for invoice in issued)
    on = [await purchase_invoice(services, purchase) for purchase in purchases]
    assert sorted(on) == sorted(invoice.id for invoice in issued for _ in (1, 2))


async def test_a_swedish_company_s_card_invoice_and_credit_note_are_valid(api, services):
    shop = await invoice_shop(api, country="SE")
    card = await card_for(services, shop.company_id, shop.buyer.membership_id)
    food = await card_purchase(services, card, 99_99, at(date(2026, 12, 4)), vat_rate=12)
    books = await card_purchase(services, card, 33_33, at(date(2026, 12, 4)), vat_rate=6)
    await run_invoicing(services, DAY)
    await card_refund(services, food, 99_99, at(date(2026, 12, 20)))
    await card_refund(services, books, 3_33, at(date(2026, 12, 20)))
    await run_invoicing(services, NEXT)

    invoice, note = await documents(services)
    assert [line.net_minor for line in await lines_of(services, invoice.id)] == [net_of(99_99, 12), net_of(33_33, 6)]
    assert [line.net_minor for line in await lines_of(services, note.id)] == [
        net_of(99_99, 12), net_of(33_33, 6) - net_of(30_00, 6)]
    assert (invoice.kid, validate_ehf(invoice.ehf_xml), validate_ehf(note.ehf_xml)) == (None, [], [])
