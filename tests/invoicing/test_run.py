"""The invoice run end to end: orders placed and fulfilled through the API become invoices per recipient with
lines down to the order line, a KID and a due date, validated EHF; card orders, orders fulfilled later and
other companies' invoice days are left alone; returns before invoicing reduce the lines."""

from __future__ import annotations

from datetime import date

from stdnum import luhn

from invoicing import selection
from invoicing.peppol import validate_ehf
from invoicing.run import describe, run_invoicing
from models import Company, CostCentre, InvoiceRunStatus, Order
from models.base import utcnow
from schema.relay import to_global_id
from tests.invoicing.run_helpers import (
    card_buyer,
    documents,
    fulfilled,
    give_back,
    invoice_of,
    invoice_shop,
    last_number,
    lines_of,
    product,
    runs,
)
from tests.spend_helpers import attach, create_cost_centre, ok, order_pk, placed, submit

DAY = date(2026, 12, 15)  # a Tuesday; the default invoice days are the 1st and the 15th


async def test_fulfilled_invoice_orders_become_one_invoice_with_lines_down_to_the_order_line(api, services):
    shop = await invoice_shop(api)
    goods, food = await product(api, 80_00), await product(api, 12_50, vat_rate=15)
    first = await fulfilled(api, shop, goods, 2, reference="Kitchen", poNumber="PO-77")
    second = await fulfilled(api, shop, food, 3)

    report = await run_invoicing(services, DAY)

    assert (report.invoices, report.credit_notes, report.problems) == ([1], [], [])
    [invoice] = await documents(services)
    assert (invoice.kind, invoice.number, invoice.company_id, invoice.cost_centre_id) == (
        "invoice", 1, shop.company_id, shop.st.centre_id)
    assert (invoice.issue_date, invoice.due_date) == (DAY, date(2027, 1, 18))  # +32 = Sat 16 Jan -> Monday
    # 2 x 80.00 at 25 % and 3 x 12.50 at 15 %: VAT per rate on the rate's sum.
    assert (invoice.net_minor, invoice.vat_minor, invoice.gross_minor) == (197_50, 40_00 + 5_63, 243_13)
    assert (invoice.previous_balance_minor, invoice.payments_minor, invoice.balance_due_minor) == (0, 0, 243_13)
    assert invoice.kid == "0000000018" and luhn.is_valid(invoice.kid)
    assert (invoice.recipient_name, invoice.recipient_reference, invoice.recipient_city) == (
        "Head office", "MAIN", "Oslo")
    assert invoice.run_id == (await runs(services))[0].id
    assert validate_ehf(invoice.ehf_xml) == []
    assert b"<cbc:PaymentID>0000000018</cbc:PaymentID>" in invoice.ehf_xml
    lines = await lines_of(services, invoice.id)
    assert [(line.order_id, line.quantity, line.unit_price_minor, line.vat_rate, line.net_minor) for line in lines] == [
        (order_pk(first["id"]), 2, 80_00, 25, 160_00), (order_pk(second["id"]), 3, 12_50, 15, 37_50)]
    assert (lines[0].order_number, lines[0].order_reference, lines[0].po_number) == (first["number"], "Kitchen",
                                                                                      "PO-77")
    assert lines[0].buyer_name == "Test Customer" and lines[0].end_customer_name == ""
    assert lines[0].delivered_on == utcnow().date()  # no delivery date: the day it was fulfilled
    assert await invoice_of(services, first["id"]) == await invoice_of(services, second["id"]) == invoice.id
    [run] = await runs(services)
    assert (run.run_date, run.status, run.invoices_issued, run.credit_notes_issued, run.problems) == (
        DAY, InvoiceRunStatus.FINISHED.value, 1, 0, [])
    assert describe(report) == [f"Invoice run {DAY}: 1 companies, 1 invoices, 0 credit notes", "  invoices: 1"]


async def test_one_invoice_per_recipient_cost_centre_with_its_reference_or_the_company(api, services):
    shop = await invoice_shop(api)
    goods = await product(api, 100_00)
    other_centre = await create_cost_centre(services, shop.company_id, code="SHOP2", name="Shop two")
    async with services.db.transaction() as session:
        centre = await session.get_one(CostCentre, other_centre)
        centre.invoice_reference, centre.street, centre.city = "Att. Ola", "Butikkveien 2", "Bergen"
    await attach(services, [shop.buyer.membership_id], other_centre, default=False)
    to_head_office = await fulfilled(api, shop, goods)
    to_shop = await fulfilled(api, shop, goods, 2, costCentreId=to_global_id("CostCentre", other_centre))

    report = await run_invoicing(services, DAY)

    assert report.invoices == [1, 2]
    head, shop_two = await documents(services)
    assert (head.cost_centre_id, head.recipient_reference, head.gross_minor) == (shop.st.centre_id, "MAIN", 125_00)
    assert (shop_two.cost_centre_id, shop_two.recipient_name, shop_two.recipient_reference, shop_two.recipient_street,
            shop_two.recipient_city, shop_two.gross_minor) == (other_centre, "Shop two", "Att. Ola", "Butikkveien 2",
                                                                "Bergen", 250_00)
    assert await invoice_of(services, to_head_office["id"]) == head.id
    assert await invoice_of(services, to_shop["id"]) == shop_two.id
    # The statement is the company's: the second recipient's invoice carries the balance of the first.
    assert (shop_two.previous_balance_minor, shop_two.balance_due_minor) == (125_00, 375_00)
    assert validate_ehf(shop_two.ehf_xml) == []


async def test_an_order_without_a_cost_centre_is_invoiced_to_the_company(api, services):
    shop = await invoice_shop(api)
    order = await fulfilled(api, shop, await product(api, 10_00))
    async with services.db.transaction() as session:
        (await session.get_one(Order, order_pk(order["id"]))).cost_centre_id = None
        company = await session.get_one(Company, shop.company_id)
        company_name, street = company.name, company.street

    await run_invoicing(services, DAY)

    [invoice] = await documents(services)
    assert (invoice.cost_centre_id, invoice.recipient_name, invoice.recipient_street) == (None, company_name, street)
    assert validate_ehf(invoice.ehf_xml) == []


async def test_card_orders_orders_fulfilled_later_and_unfulfilled_orders_are_not_invoiced(api, services):
    shop = await invoice_shop(api)
    goods = await product(api, 50_00)
    by_card = await fulfilled(api, shop, goods, buyer=await card_buyer(api, shop))
    approved_only = await placed(api, shop.buyer, goods)

    report = await run_invoicing(services, date(2026, 11, 15), all_companies=True)  # before today's fulfilment
    assert (report.invoices, await documents(services)) == ([], [])
    await fulfilled(api, shop, goods)

    report = await run_invoicing(services, DAY)

    assert report.invoices == [1]
    assert await invoice_of(services, by_card["id"]) is None
    assert await invoice_of(services, approved_only["id"]) is None
    assert (await documents(services))[0].gross_minor == 62_50


async def test_only_companies_whose_invoice_day_it_is_are_invoiced_unless_all_are_asked_for(api, services):
    first_and_fifteenth = await invoice_shop(api)
    tenth = await invoice_shop(api, op=first_and_fifteenth.op, invoice_days=[10, 25])
    goods = await product(api, 10_00)
    await fulfilled(api, first_and_fifteenth, goods)
    await fulfilled(api, tenth, goods)

    report = await run_invoicing(services, date(2026, 12, 10))
    assert [invoice.company_id for invoice in await documents(services)] == [tenth.company_id]
    assert (report.companies, report.invoices) == (1, [1])

    report = await run_invoicing(services, date(2026, 12, 11), all_companies=True)
    assert report.invoices == [2]
    assert [invoice.company_id for invoice in await documents(services)] == [tenth.company_id,
                                                                            first_and_fifteenth.company_id]
    assert [invoice.issue_date for invoice in await documents(services)] == [date(2026, 12, 10), date(2026, 12, 11)]


async def test_a_day_the_month_lacks_falls_on_its_last_day(api, services):
    shop = await invoice_shop(api, invoice_days=[31])
    await fulfilled(api, shop, await product(api, 10_00))
    assert (await run_invoicing(services, date(2027, 2, 27))).invoices == []
    assert (await run_invoicing(services, date(2027, 2, 28))).invoices == [1]


async def test_returns_before_invoicing_reduce_the_lines_and_a_fully_returned_line_is_left_out(api, services):
    shop = await invoice_shop(api)
    goods, other = await product(api, 20_00), await product(api, 30_00)
    order = await _two_line_order(api, shop, goods, other)
    await give_back(api, shop, order, 1, line=0)  # 3 -> 2
    await give_back(api, shop, order, 1, line=1)  # 1 -> 0: the whole line

    await run_invoicing(services, DAY)

    [invoice] = await documents(services)
    assert [(line.sku != "", line.quantity, line.net_minor) for line in await lines_of(services, invoice.id)] == [
        (True, 2, 40_00)]
    assert invoice.gross_minor == 50_00
    # The returns were netted on the invoice: no credit note follows them.
    assert (await run_invoicing(services, date(2027, 1, 1))).credit_notes == []
    assert validate_ehf(invoice.ehf_xml) == []


async def _two_line_order(api, shop, first, second) -> dict:
    await ok(api, "addToCart", {"productId": first, "quantity": 3}, shop.buyer.token)
    await ok(api, "addToCart", {"productId": second, "quantity": 1}, shop.buyer.token)
    return await fulfilled_cart(api, shop)


async def fulfilled_cart(api, shop) -> dict:
    order = (await submit(api, shop.buyer))["order"]
    return (await ok(api, "fulfilOrder", {"id": order["id"]}, shop.op.token))["order"]


async def test_a_fully_returned_order_waits_alone_and_joins_its_recipients_next_invoice(api, services):
    shop = await invoice_shop(api)
    goods = await product(api, 20_00)
    returned = await fulfilled(api, shop, goods, 2)
    await give_back(api, shop, returned, 2)

    report = await run_invoicing(services, DAY)
    assert (report.invoices, await invoice_of(services, returned["id"])) == ([], None)

    kept = await fulfilled(api, shop, goods)
    report = await run_invoicing(services, date(2027, 1, 1))
    [invoice] = await documents(services)
    assert report.invoices == [invoice.number] == [1]
    assert await invoice_of(services, returned["id"]) == await invoice_of(services, kept["id"]) == invoice.id
    assert [line.order_id for line in await lines_of(services, invoice.id)] == [order_pk(kept["id"])]


async def test_swedish_companies_get_30_days_over_midsummer_and_no_kid(api, services):
    shop = await invoice_shop(api, country="SE", invoice_days=[26])
    await fulfilled(api, shop, await product(api, 100_00))

    await run_invoicing(services, date(2027, 5, 26))

    [invoice] = await documents(services)
    # 26 May + 30 = Fri 25 June, Midsummer Eve; Saturday is Midsummer Day: Monday 28 June.
    assert (invoice.due_date, invoice.kid, invoice.currency) == (date(2027, 6, 28), None, "NOK")
    assert validate_ehf(invoice.ehf_xml) == []
    assert b"PaymentID" not in invoice.ehf_xml  # Swedish buyers pay with the invoice number as reference


async def test_the_companys_own_payment_terms_count(api, services):
    shop = await invoice_shop(api, payment_terms_days=14)
    await fulfilled(api, shop, await product(api, 100_00))
    await run_invoicing(services, date(2027, 5, 1))
    # 1 May + 14 = Saturday 15 May; Sunday 16 May is Whit Sunday, Monday 17 May Constitution Day and Whit Monday.
    assert (await documents(services))[0].due_date == date(2027, 5, 18)


async def test_without_the_suppliers_details_in_production_nothing_is_issued(api, services, monkeypatch):
    shop = await invoice_shop(api)
    order = await fulfilled(api, shop, await product(api, 100_00))
    monkeypatch.setattr(services.settings, "supplier_bank_account", "")
    monkeypatch.setattr(services.settings, "supplier_name", "")

    report = await run_invoicing(services, DAY)

    assert report.missing_settings == ["SUPPLIER_NAME", "SUPPLIER_BANK_ACCOUNT"] and report.refused
    assert (await documents(services), await runs(services), await last_number(services)) == ([], [], 0)
    assert await invoice_of(services, order["id"]) is None
    assert "SUPPLIER_NAME, SUPPLIER_BANK_ACCOUNT" in describe(report)[0]


async def test_an_earlier_date_than_an_issued_invoice_is_refused(api, services):
    shop = await invoice_shop(api)
    goods = await product(api, 100_00)
    await fulfilled(api, shop, goods)
    await run_invoicing(services, DAY)
    order = await fulfilled(api, shop, goods)

    report = await run_invoicing(services, date(2026, 12, 1))

    assert (report.later_issue_date, report.refused, report.invoices) == (DAY, True, [])
    assert await invoice_of(services, order["id"]) is None
    assert "numbers must follow the invoice dates" in describe(report)[0]


async def test_orders_are_read_in_batches_into_one_invoice_per_recipient(api, services, monkeypatch):
    monkeypatch.setattr(selection, "BATCH", 2)  # five orders: three batches, still one invoice
    shop = await invoice_shop(api)
    goods = await product(api, 10_00)
    placed_orders = [await fulfilled(api, shop, goods, quantity) for quantity in range(1, 6)]

    report = await run_invoicing(services, DAY)

    [invoice] = await documents(services)
    assert report.invoices == [invoice.number]
    assert [line.quantity for line in await lines_of(services, invoice.id)] == [1, 2, 3, 4, 5]
    assert invoice.gross_minor == 15 * 12_50
    assert {await invoice_of(services, order["id"]) for order in placed_orders} == {invoice.id}
