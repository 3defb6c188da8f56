"""The invoice and credit note PDF (invoicing/pdf.py): what it says, its pages, and that no text breaks it.

No database: invoices, lines and companies are ORM objects built in memory. Text is read back from the PDF's
content streams, written uncompressed for the test (`set_compression(False)` on the document before output); the
core fonts draw each string as one `(...) Tj` in Windows-1252.
"""

from __future__ import annotations

import re
from datetime import date

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from invoicing.pdf import build_invoice_pdf, money, printable, render_invoice_pdf
from models.company import Company
from models.invoice import Invoice, InvoiceKind, InvoiceLine, document_totals
from settings import Settings

SETTINGS = Settings(_env_file=None, procura_env="test")
_STRING = re.compile(rb"\(((?:\\.|[^\\)])*)\) Tj")


def company(**values) -> Company:
    base = dict(name="Nordlys Omsorg AS", country="NO", org_number="974760673", street="Gate 1",
                postal_code="0150", city="Oslo")
    return Company(**{**base, **values})


def line(i: int, **values) -> InvoiceLine:
    quantity, price = 1 + i % 3, 10_000 + i
    base = dict(sku=f"SKU-{i:04d}", name=f"Product {i}", unit="pcs", quantity=quantity, unit_price_minor=price,
                vat_rate=25, net_minor=quantity * price, order_number=f"2026-{100 + i // 10:06d}",
                order_reference="Ward 3", po_number="PO-77", buyer_name="Kari Nordmann", end_customer_name="",
                delivered_on=date(2026, 11, 20))
    return InvoiceLine(**{**base, **values})


def invoice(lines: list[InvoiceLine], **values) -> Invoice:
    totals = document_totals((one.net_minor, one.vat_rate) for one in lines)
    base = dict(kind=InvoiceKind.INVOICE.value, number=100_234, issue_date=date(2026, 12, 1),
                due_date=date(2027, 1, 4), currency="NOK", net_minor=totals.net_minor, vat_minor=totals.vat_minor,
                gross_minor=totals.gross_minor, previous_balance_minor=1_250_000, payments_minor=1_000_000,
                balance_due_minor=250_000 + totals.gross_minor, kid="0001002347",
                recipient_name="Nordlys Omsorg AS", recipient_reference="Avd. 42 Kari", recipient_street="Storgata 5",
                recipient_postal_code="9008", recipient_city="Tromsø", ehf_xml=b"<Invoice/>")
    return Invoice(**{**base, **values})


def pages_of(document: Invoice, lines: list[InvoiceLine], buyer: Company | None = None,
             credited: Invoice | None = None) -> list[list[str]]:
    """The strings drawn on each page, in drawing order."""
    pdf = build_invoice_pdf(document, lines, buyer or company(), SETTINGS, credited)
    pdf.set_compression(False)
    data = bytes(pdf.output())
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    streams = re.findall(rb"stream\n(.*?)endstream", data, re.S)
    pages = [[re.sub(rb"\\(.)", rb"\1", s).decode("cp1252") for s in _STRING.findall(stream)] for stream in streams]
    pages = [page for page in pages if page]
    assert len(pages) == pdf.pages_count and f"/Count {pdf.pages_count}".encode() in data
    return pages


def text(pages: list[list[str]]) -> str:
    return "\n".join("\n".join(page) for page in pages)


# --- what an invoice says -----------------------------------------------------------------------------------------

def test_a_one_line_invoice_is_one_page_with_seller_buyer_dates_kid_and_amounts():
    lines = [line(0, quantity=3, unit_price_minor=12_345, net_minor=37_035)]
    document = invoice(lines)
    pages = pages_of(document, lines)
    assert len(pages) == 1
    words = text(pages)
    for expected in ("INVOICE", "Procura Demo Supplier AS", "Storgata 1", "0155 Oslo", "Org.nr. 912 345 688 MVA",
                     "Account 1503.20.80119", "IBAN NO93 8601 1117 947", "BIC DNBANOKK",
                     "Nordlys Omsorg AS", "Storgata 5", "9008 Tromsø", "Org.nr. 974 760 673",
                     "Invoice no.", "100234", "2026-12-01", "Due date", "2027-01-04", "KID", "0001002347",
                     "Your reference", "Avd. 42 Kari", "SKU-0000", "Product 0", "123.45", "370.35", "25%",
                     "Total NOK", "462.94", "92.59", "Previous balance", "12 500.00", "-10 000.00",
                     "Balance due NOK", "2 962.94", "Invoice 100234 · page 1 of"):
        assert expected in words, expected
    heading = next(s for s in pages[0] if s.startswith("Order "))
    assert heading == "Order 2026-000100  ·  Reference: Ward 3  ·  PO: PO-77  ·  Buyer: Kari Nordmann  ·  " \
                      "Delivered 2026-11-20"
    assert "Please pay 462.94 NOK by 2027-01-04 to account 1503.20.80119" in words
    assert "KID 0001002347." in words
    assert "CREDIT NOTE" not in words


def test_the_vat_breakdown_has_a_row_per_rate_as_document_totals_computes_it():
    lines = [line(0, vat_rate=25, quantity=1, unit_price_minor=10_001, net_minor=10_001),
             line(1, vat_rate=15, quantity=1, unit_price_minor=3_333, net_minor=3_333),
             line(2, vat_rate=12, quantity=1, unit_price_minor=999, net_minor=999),
             line(3, vat_rate=0, quantity=1, unit_price_minor=5_000, net_minor=5_000)]
    page = pages_of(invoice(lines), lines)[0]
    start = page.index("VAT rate")
    rows = page[start + 3:start + 3 + 12]
    assert rows == ["25%", "100.01", "25.00", "15%", "33.33", "5.00", "12%", "9.99", "1.20", "0%", "50.00", "0.00"]
    totals = document_totals((one.net_minor, one.vat_rate) for one in lines)
    assert page[page.index("Net amount") + 1] == money(totals.net_minor) == "193.33"
    assert page[page.index("Total NOK") + 1] == money(totals.gross_minor) == "224.53"


def test_the_statement_shows_credit_notes_issued_since_the_previous_invoice():
    lines = [line(0, quantity=1, unit_price_minor=80_000, net_minor=80_000)]
    document = invoice(lines, previous_balance_minor=500_000, payments_minor=200_000,
                       balance_due_minor=500_000 - 200_000 + 100_000 - 30_000)
    words = text(pages_of(document, lines))
    assert "Credit notes since the previous invoice\n-300.00" in words
    assert "Balance due NOK\n3 700.00" in words


def test_a_credit_note_names_the_invoice_it_credits_and_asks_for_no_payment():
    lines = [line(0, quantity=2, unit_price_minor=10_000, net_minor=20_000)]
    credited = invoice(lines, number=100_200, issue_date=date(2026, 11, 15))
    note = invoice(lines, kind=InvoiceKind.CREDIT_NOTE.value, number=100_240, kid=None,
                   previous_balance_minor=50_000, payments_minor=0, balance_due_minor=25_000)
    words = text(pages_of(note, lines, credited=credited))
    for expected in ("CREDIT NOTE", "Credit note no.", "100240", "Credits invoice", "100200 of 2026-11-15",
                     "Total credited NOK", "250.00", "This credit note", "-250.00", "Balance due NOK",
                     "nothing is to be paid", "Credit note 100240 · page 1 of"):
        assert expected in words, expected
    assert "Due date" not in words and "KID" not in words and "Please pay" not in words


def test_a_swedish_invoice_without_kid_is_paid_with_the_invoice_number_as_reference():
    lines = [line(0)]
    buyer = company(name="Inköpstjänsten AB", country="SE", org_number="5560360793")
    words = text(pages_of(invoice(lines, kid=None, currency="SEK", recipient_name="Inköpstjänsten AB"), lines, buyer))
    assert "Org.nr. 556036-0793" in words
    assert "Total SEK" in words and "KID" not in words
    assert "with the reference 'Invoice 100234'." in words.replace("\n", " ")  # the paragraph wraps


def test_the_output_is_the_same_for_the_same_invoice_and_dated_on_its_issue_date():
    lines = [line(i) for i in range(30)]
    first = render_invoice_pdf(invoice(lines), lines, company(), SETTINGS)
    assert first == render_invoice_pdf(invoice(lines), lines, company(), SETTINGS)
    assert first.startswith(b"%PDF-") and first.rstrip().endswith(b"%%EOF")
    assert b"/CreationDate (D:20261201000000Z" in first


# --- long invoices ------------------------------------------------------------------------------------------------

def test_250_lines_run_over_pages_that_each_repeat_the_headings():
    lines = [line(i) for i in range(250)]
    pages = pages_of(invoice(lines), lines)
    # A line is 5.2 mm: about 40 on page 1 (below the addresses) and 46 on the next ones, with an order's heading
    # every 10 lines; the totals, statement and payment follow the last line.
    assert len(pages) == 7
    skus = [s for page in pages for s in page if s.startswith("SKU-")]
    assert skus == [f"SKU-{i:04d}" for i in range(250)]  # each line once, in order
    for number, page in enumerate(pages, start=1):
        footer = page.index(f"Invoice 100234 · page {number} of ")
        assert page[footer + 1] == str(len(pages))  # fpdf2 draws the page total as a string of its own
        if number > 1:
            assert page[:2] == ["Procura Demo Supplier AS", "Invoice 100234 (continued)"]
        if any(s.startswith("SKU-") for s in page):
            assert page.index("Item no.") < min(i for i, s in enumerate(page) if s.startswith("SKU-"))
            first_line = next(s for s in page if s.startswith("SKU-"))
            order = f"2026-{100 + int(first_line[4:]) // 10:06d}"
            assert any(s.startswith(f"Order {order}") for s in page)  # each page says whose lines it starts with
    assert any("(continued)" in s and s.startswith("Order ") for page in pages for s in page)
    assert "Balance due NOK" in pages[-1]


def test_a_long_name_wraps_and_stops_after_three_lines():
    lines = [line(0, name="Kaffe filtermalt økologisk " * 30)]
    page = pages_of(invoice(lines), lines)[0]
    start = page.index("SKU-0000")
    name_lines = [s for s in page[start:] if s.startswith(("Kaffe", "filtermalt", "økologisk"))]
    assert len(name_lines) == 3 and name_lines[-1].endswith("...")


# --- text nobody planned for --------------------------------------------------------------------------------------

def test_printable_keeps_windows_1252_and_replaces_the_rest():
    assert printable("Æøå ÄÖ é € “quoted” \u2013 <&>") == "Æøå ÄÖ é € “quoted” \u2013 <&>"
    assert printable("Łódź Ţ ő \u2212 \u2011") == "Lódz T o - -"  # letters with marks the font lacks: the letter
    assert printable("Привет 😀 中") == "?????? ? ?"
    assert printable("a\x00b\nc\u202ed") == "a b c d"  # control and bidi-override characters: spaces


def test_hostile_text_everywhere_renders_without_error():
    hostile = "<script>&amp;</script> Привет 😀 \u202eRTL\x00 \\ ( ) " + "X" * 200
    lines = [line(0, sku="<&>" + "Я" * 60, name=hostile, unit="шт", order_number="<&>", order_reference=hostile,
                  po_number=hostile, buyer_name=hostile, end_customer_name=hostile)]
    document = invoice(lines, recipient_name=hostile, recipient_reference=hostile, recipient_street=hostile,
                       recipient_city=hostile, kid="<&>")
    buyer = company(name="Nordlys <b>AS</b> & Co 🚀", org_number="not a number", country="XX")
    pages = pages_of(document, lines, buyer)
    words = text(pages)
    assert "<script>&amp;</script> ?????? ?" in words  # drawn as text, nothing interpreted
    assert "Nordlys <b>AS</b> & Co ?" in words
    assert "Org.nr. not a number" in words
    assert "( )" in words and "\\" in words


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(max_size=220), reference=st.text(max_size=220))
def test_any_text_renders(name: str, reference: str):
    lines = [line(0, name=name, order_reference=reference, buyer_name=reference)]
    data = render_invoice_pdf(invoice(lines, recipient_name=name, recipient_reference=reference), lines,
                              company(name=reference or "x"), SETTINGS)
    assert data.startswith(b"%PDF-")


def test_windows_1252_punctuation_survives_line_breaking():
    # fpdf2 hands wrapped lines back decoded as Latin-1: "…", "€" and curly quotes must still be drawn as such.
    reference = "Ref " + "“kvartal” … € " * 12
    lines = [line(0, name="Kaffe “Premium” … 2 x 500 g € " * 4, order_reference=reference)]
    words = text(pages_of(invoice(lines), lines))
    assert "…" in words and "€" in words and "“kvartal”" in words
