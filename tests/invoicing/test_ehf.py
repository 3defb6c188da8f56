"""EHF documents (PEPPOL BIS Billing 3.0) and their validation by the CEN EN 16931 and PEPPOL rule sets.

No database: invoices, lines and companies are ORM objects built in memory. The rule sets are compiled once per
process (invoicing.peppol keeps them), so every test here shares them; one validation then takes milliseconds.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from lxml import etree

from invoicing import peppol
from invoicing.ehf import (
    CUSTOMIZATION_ID,
    PROFILE_ID,
    EhfMismatch,
    _text,
    build_ehf,
    unit_code,
)
from invoicing.peppol import InvalidEhf, assert_valid_ehf, check_ehf, ehf_warnings, validate_ehf
from models.company import Company
from models.invoice import Invoice, InvoiceKind, InvoiceLine, document_totals
from settings import Settings

EXAMPLE = Path(__file__).parent / "no-example.xml"
NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
NASTY = 'Bøtte & <Spann> "Ærlig" \'Åsa\' ÅÄÖ æøå — ' + "x" * 150
SETTINGS = Settings(_env_file=None, procura_env="test", jwt_secret="test-secret-" + "x" * 32, smtp_url=None)


def norwegian_company(name: str = "Kjøpmann Ås AS") -> Company:
    return Company(id=1, name=name, country="NO", org_number="987654325", currency="NOK", street="Kirkeveien 2",
                   postal_code="1430", city="Ås", contact_email="post@kjopmann.example")


def swedish_company(name: str = "Köpmannen i Växjö AB") -> Company:
    return Company(id=2, name=name, country="SE", org_number="5560360793", currency="SEK", street="Storgatan 3",
                   postal_code="352 31", city="Växjö", contact_email="info@kopmannen.example")


def line(quantity: int, price_minor: int, vat_rate: int, **fields: object) -> InvoiceLine:
    values: dict[str, object] = dict(
        sku="SKU-1", name="Whole milk 1 l", unit="pcs", order_number="1001", order_reference="Kitchen",
        po_number="", buyer_name="Kari Nordmann", end_customer_name="", delivered_on=date(2026, 11, 20),
    )
    values.update(fields)
    return InvoiceLine(quantity=quantity, unit_price_minor=price_minor, vat_rate=vat_rate,
                       net_minor=quantity * price_minor, **values)


def invoice_for(lines: list[InvoiceLine], company: Company, *, kind: InvoiceKind = InvoiceKind.INVOICE,
                number: int = 10001, kid: str | None = "0000100015", **fields: object) -> Invoice:
    totals = document_totals((item.net_minor, item.vat_rate) for item in lines)
    values: dict[str, object] = dict(
        recipient_name=company.name, recipient_reference="", recipient_street="", recipient_postal_code="",
        recipient_city="", previous_balance_minor=0, payments_minor=0, balance_due_minor=totals.gross_minor,
    )
    values.update(fields)
    return Invoice(kind=kind.value, number=number, issue_date=date(2026, 12, 1), due_date=date(2027, 1, 4),
                   currency=company.currency, net_minor=totals.net_minor, vat_minor=totals.vat_minor,
                   gross_minor=totals.gross_minor, kid=kid, **values)


def assert_valid(xml: bytes) -> None:
    """No fatal failure, and not even a warning, from either rule set."""
    failures = check_ehf(xml)
    assert failures == [], "\n".join(f"{f.flag} {f.rule_id}: {f.text} at {f.location}" for f in failures)


def amount(document: etree._Element, path: str) -> Decimal:
    return Decimal(document.findtext(path, namespaces=NS))


def assert_amounts_match(xml: bytes, invoice: Invoice) -> None:
    document = etree.fromstring(xml)
    total = "cac:LegalMonetaryTotal/cbc:"
    assert amount(document, total + "TaxExclusiveAmount") * 100 == invoice.net_minor
    assert amount(document, total + "TaxInclusiveAmount") * 100 == invoice.gross_minor
    assert amount(document, total + "PayableAmount") * 100 == invoice.gross_minor
    assert amount(document, "cac:TaxTotal/cbc:TaxAmount") * 100 == invoice.vat_minor


def build_both(lines: list[InvoiceLine], company: Company, **fields: Any) -> tuple[bytes, bytes]:
    """An invoice of the lines and a credit note crediting it, both checked against the rule sets."""
    invoice = invoice_for(lines, company, **fields)
    credit_fields = {name: value for name, value in fields.items() if name != "kid"}
    credit_note = invoice_for(lines, company, kind=InvoiceKind.CREDIT_NOTE, number=invoice.number + 1, kid=None,
                              **credit_fields)
    invoice_xml = build_ehf(invoice, lines, company, SETTINGS)
    credit_xml = build_ehf(credit_note, lines, company, SETTINGS, credited=invoice)
    for xml, document in ((invoice_xml, invoice), (credit_xml, credit_note)):
        assert_valid(xml)
        assert_amounts_match(xml, document)
    return invoice_xml, credit_xml


# The validator itself


def test_the_national_example_passes_both_rule_sets() -> None:
    xml = EXAMPLE.read_bytes()
    assert validate_ehf(xml) == []
    assert_valid_ehf(xml)
    # It has a warning, which does not make it invalid: the validator sees the rule sets' output.
    assert [warning.rule_id for warning in ehf_warnings(xml)] == ["UBL-CR-679"]


def test_a_wrong_payable_amount_breaks_br_co_16() -> None:
    xml = EXAMPLE.read_bytes().replace(b"<cbc:PayableAmount currencyID=\"NOK\">802.00<",
                                       b"<cbc:PayableAmount currencyID=\"NOK\">803.00<")
    failures = validate_ehf(xml)
    assert {failure.rule_id for failure in failures} == {"BR-CO-16"}
    assert failures[0].rule_set == "cen-ubl" and failures[0].fatal
    assert "LegalMonetaryTotal" in failures[0].location and "Amount due for payment" in failures[0].text


def test_a_wrong_customization_id_breaks_peppol_r004_and_assert_valid_names_the_rules() -> None:
    xml = EXAMPLE.read_bytes().replace(b"poacc:billing:3.0</cbc:CustomizationID>",
                                       b"poacc:billing:2.0</cbc:CustomizationID>")
    with pytest.raises(InvalidEhf) as raised:
        assert_valid_ehf(xml)
    assert "PEPPOL-EN16931-R004" in raised.value.rule_ids
    assert "PEPPOL-EN16931-R004" in str(raised.value)
    assert all(failure.fatal for failure in raised.value.failures)


def test_the_command_line_lists_failures_and_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(EXAMPLE.read_bytes().replace(b">802.00<", b">803.00<"))
    assert peppol.main([str(EXAMPLE)]) == 0
    assert peppol.main([str(EXAMPLE), str(broken)]) == 1
    output = capsys.readouterr().out
    assert "no-example.xml: valid (0 fatal, 1 warnings)" in output
    assert "broken.xml: INVALID (1 fatal, 1 warnings)" in output
    assert "fatal BR-CO-16 (cen-ubl)" in output and "warning UBL-CR-679 (cen-ubl)" in output


def test_a_document_that_is_not_xml_is_refused() -> None:
    with pytest.raises(etree.XMLSyntaxError):
        validate_ehf(b"<Invoice><unclosed></Invoice>")


def test_validation_from_many_threads_at_once_gives_each_its_own_answer() -> None:
    good = EXAMPLE.read_bytes()
    bad = good.replace(b">802.00<", b">803.00<")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda index: [f.rule_id for f in validate_ehf(bad if index % 2 else good)],
                                range(40)))
    assert results == [["BR-CO-16"] if index % 2 else [] for index in range(40)]


def test_a_wrong_organisation_number_breaks_the_peppol_identifier_rules() -> None:
    lines = [line(1, 100, 25)]
    company = norwegian_company()
    company.org_number = "987654321"  # fails the mod 11 check
    failures = validate_ehf(build_ehf(invoice_for(lines, company), lines, company, SETTINGS))
    assert {failure.rule_id for failure in failures} == {"PEPPOL-COMMON-R041"}
    swedish = swedish_company()
    swedish.org_number = "5560360794"  # fails the Luhn check
    failures = validate_ehf(build_ehf(invoice_for(lines, swedish), lines, swedish, SETTINGS))
    assert {failure.rule_id for failure in failures} == {"PEPPOL-COMMON-R049"}


def test_the_rule_sets_are_compiled_once_per_process() -> None:
    validate_ehf(EXAMPLE.read_bytes())
    validator = peppol._validator
    started = time.perf_counter()
    validate_ehf(EXAMPLE.read_bytes())
    elapsed = time.perf_counter() - started
    assert peppol._validator is validator
    assert elapsed < 2, f"one validation took {elapsed:.2f} s: are the stylesheets compiled again?"


# Generated documents


@pytest.mark.parametrize("rates", [(25,), (15,), (12,), (0,), (25, 15, 12, 0)])
def test_norwegian_vat_rates(rates: tuple[int, ...]) -> None:
    lines = [line(index + 1, 1990 + index * 1001, rate, sku=f"N-{rate}") for index, rate in enumerate(rates)]
    invoice_xml, _ = build_both(lines, norwegian_company())
    categories = etree.fromstring(invoice_xml).xpath("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory", namespaces=NS)
    assert [(c.findtext("cbc:ID", namespaces=NS), c.findtext("cbc:Percent", namespaces=NS)) for c in categories] == [
        ("S" if rate else "Z", str(rate)) for rate in sorted(rates, reverse=True)]


@pytest.mark.parametrize("rates", [(25,), (12,), (6,), (25, 12, 6)])
def test_a_swedish_buyer_in_sek(rates: tuple[int, ...]) -> None:
    lines = [line(2, 4995 + rate, rate, sku=f"S-{rate}") for rate in rates]
    invoice_xml, credit_xml = build_both(lines, swedish_company(), kid=None)
    for xml in (invoice_xml, credit_xml):
        document = etree.fromstring(xml)
        assert document.findtext("cbc:DocumentCurrencyCode", namespaces=NS) == "SEK"
        buyer = document.find("cac:AccountingCustomerParty/cac:Party", NS)
        assert buyer.find("cbc:EndpointID", NS).get("schemeID") == "0007"
        assert buyer.findtext("cac:PartyTaxScheme/cbc:CompanyID", namespaces=NS) == "SE556036079301"
        assert set(document.xpath("//@currencyID")) == {"SEK"}
    account = etree.fromstring(invoice_xml).find("cac:PaymentMeans/cac:PayeeFinancialAccount", NS)
    assert account.findtext("cbc:ID", namespaces=NS) == SETTINGS.supplier_iban
    assert account.findtext("cac:FinancialInstitutionBranch/cbc:ID", namespaces=NS) == SETTINGS.supplier_bic


def test_many_lines_of_one_ore_where_per_line_rounding_would_lose_the_vat() -> None:
    # 200 x 0.01 at 25 %: per line the VAT rounds to 0.00; on the rate's sum (2.00) it is 0.50.
    lines = [line(1, 1, 25, sku=f"P-{index}") for index in range(200)]
    invoice = invoice_for(lines, norwegian_company())
    assert invoice.vat_minor == 50
    build_both(lines, norwegian_company())


@pytest.mark.parametrize(("quantity", "price_minor", "rate"), [
    (3, 3333, 15),  # 99.99 at 15 %: 14.9985 -> 15.00
    (1, 10, 15),  # 0.10 at 15 %: 0.015 -> 0.02 (half up)
    (7, 143, 12),  # 10.01 at 12 %: 1.2012 -> 1.20
    (1, 2, 25),  # 0.02 at 25 %: 0.005 -> 0.01
    (999, 99_999_99, 25),  # large amounts
])
def test_rounding_edge_cases(quantity: int, price_minor: int, rate: int) -> None:
    build_both([line(quantity, price_minor, rate)], norwegian_company())


def test_per_line_and_per_rate_rounding_differ_and_the_document_uses_per_rate() -> None:
    # Three lines of 0.10 at 15 %: per line 0.015 -> 0.02 each (0.06), per rate 0.30 x 15 % = 0.045 -> 0.05.
    lines = [line(1, 10, 15, sku=f"R-{index}") for index in range(3)]
    invoice_xml, _ = build_both(lines, norwegian_company())
    assert amount(etree.fromstring(invoice_xml), "cac:TaxTotal/cbc:TaxAmount") == Decimal("0.05")


def test_one_line_and_two_hundred_lines() -> None:
    build_both([line(1, 100, 25)], norwegian_company())
    many = [line(index % 7 + 1, 1234 + index, (25, 15, 12, 0)[index % 4], sku=f"M-{index}",
                 order_number=str(2000 + index % 13)) for index in range(200)]
    invoice_xml, credit_xml = build_both(many, norwegian_company())
    assert len(etree.fromstring(invoice_xml).findall("cac:InvoiceLine", NS)) == 200
    assert len(etree.fromstring(credit_xml).findall("cac:CreditNoteLine", NS)) == 200


def test_kid_is_the_payment_id_and_is_left_out_without_one() -> None:
    with_kid, _ = build_both([line(1, 100, 25)], norwegian_company(), kid="0000100015")
    without_kid, _ = build_both([line(1, 100, 25)], norwegian_company(), kid=None)
    assert etree.fromstring(with_kid).findtext("cac:PaymentMeans/cbc:PaymentID", namespaces=NS) == "0000100015"
    means = etree.fromstring(without_kid).find("cac:PaymentMeans", NS)
    assert means.find("cbc:PaymentID", NS) is None
    assert means.findtext("cbc:PaymentMeansCode", namespaces=NS) == "30"
    assert means.findtext("cac:PayeeFinancialAccount/cbc:ID", namespaces=NS) == SETTINGS.supplier_bank_account


def test_names_and_references_with_markup_characters_and_non_ascii_are_escaped() -> None:
    company = norwegian_company(NASTY)
    lines = [line(2, 1999, 25, name=NASTY, sku="Å&<1>", order_reference=NASTY, po_number='PO "7" & <8>',
                  buyer_name="Åse Ødegård", end_customer_name="Ängel Öberg")]
    invoice_xml, credit_xml = build_both(lines, company, recipient_reference=NASTY, recipient_name=NASTY,
                                         recipient_street="Bøgata 1 & 2", recipient_city="Tromsø")
    for xml in (invoice_xml, credit_xml):
        document = etree.fromstring(xml)
        assert document.findtext("cbc:BuyerReference", namespaces=NS) == NASTY.strip()
        assert document.findtext("cac:OrderReference/cbc:ID", namespaces=NS) == 'PO "7" & <8>'
        assert document.findtext(".//cac:Item/cbc:Name", namespaces=NS) == NASTY.strip()
        assert document.findtext(".//cac:Item/cac:SellersItemIdentification/cbc:ID", namespaces=NS) == "Å&<1>"
        buyer = document.find("cac:AccountingCustomerParty/cac:Party", NS)
        assert buyer.findtext("cac:PartyName/cbc:Name", namespaces=NS) == NASTY.strip()
        assert buyer.findtext("cac:PostalAddress/cbc:StreetName", namespaces=NS) == "Bøgata 1 & 2"
        assert buyer.findtext("cac:PostalAddress/cbc:CityName", namespaces=NS) == "Tromsø"
    assert b"&amp; &lt;Spann&gt;" in invoice_xml and "Ø".encode() in invoice_xml


def test_control_characters_are_dropped_so_the_document_stays_xml() -> None:
    lines = [line(1, 500, 25, name="Soap\x00 bar\x0b", order_reference="Ref\x1f1")]
    invoice_xml, _ = build_both(lines, norwegian_company(), recipient_reference="\x07Dept 7")
    document = etree.fromstring(invoice_xml)
    assert document.findtext(".//cac:Item/cbc:Name", namespaces=NS) == "Soap bar"
    assert document.findtext("cbc:BuyerReference", namespaces=NS) == "Dept 7"


def test_an_invoice_has_its_type_due_date_and_identifiers() -> None:
    invoice_xml, _ = build_both([line(1, 100, 25, po_number="PO-77")], norwegian_company(),
                                recipient_reference="Cost centre 42")
    document = etree.fromstring(invoice_xml)
    assert etree.QName(document).localname == "Invoice"
    assert document.findtext("cbc:CustomizationID", namespaces=NS) == CUSTOMIZATION_ID
    assert document.findtext("cbc:ProfileID", namespaces=NS) == PROFILE_ID
    assert document.findtext("cbc:ID", namespaces=NS) == "10001"
    assert document.findtext("cbc:InvoiceTypeCode", namespaces=NS) == "380"
    assert document.findtext("cbc:DueDate", namespaces=NS) == "2027-01-04"
    assert document.findtext("cbc:BuyerReference", namespaces=NS) == "Cost centre 42"
    assert document.findtext("cac:OrderReference/cbc:ID", namespaces=NS) == "PO-77"
    seller = document.find("cac:AccountingSupplierParty/cac:Party", NS)
    assert seller.find("cbc:EndpointID", NS).get("schemeID") == "0192"
    assert seller.findtext("cbc:EndpointID", namespaces=NS) == SETTINGS.supplier_org_number
    assert seller.xpath("cac:PartyTaxScheme/cbc:CompanyID/text()", namespaces=NS) == [
        f"NO{SETTINGS.supplier_org_number}MVA", "Foretaksregisteret"]
    buyer = document.find("cac:AccountingCustomerParty/cac:Party", NS)
    assert buyer.findtext("cac:PartyTaxScheme/cbc:CompanyID", namespaces=NS) == "NO987654325MVA"
    # No recipient address snapshot: the company's address.
    assert buyer.findtext("cac:PostalAddress/cbc:CityName", namespaces=NS) == "Ås"
    assert "32 days" in document.findtext("cac:PaymentTerms/cbc:Note", namespaces=NS)


def test_a_credit_note_references_the_invoice_it_credits() -> None:
    company = norwegian_company()
    lines = [line(3, 3333, 15), line(1, 4990, 25)]
    invoice = invoice_for(lines, company, number=500)
    invoice.issue_date = date(2026, 11, 15)
    returned = lines[:1]
    credit_note = invoice_for(returned, company, kind=InvoiceKind.CREDIT_NOTE, number=501, kid=None)
    xml = build_ehf(credit_note, returned, company, SETTINGS, credited=invoice)
    assert_valid(xml)
    document = etree.fromstring(xml)
    assert etree.QName(document).localname == "CreditNote"
    assert document.findtext("cbc:CreditNoteTypeCode", namespaces=NS) == "381"
    assert document.find("cbc:DueDate", NS) is None
    reference = document.find("cac:BillingReference/cac:InvoiceDocumentReference", NS)
    assert reference.findtext("cbc:ID", namespaces=NS) == "500"
    assert reference.findtext("cbc:IssueDate", namespaces=NS) == "2026-11-15"
    assert document.findtext("cac:CreditNoteLine/cbc:CreditedQuantity", namespaces=NS) == "3"
    assert amount(document, "cac:LegalMonetaryTotal/cbc:PayableAmount") == Decimal("114.99")


def test_lines_of_several_orders_carry_their_order_details() -> None:
    lines = [line(1, 100, 25, order_number="1001", po_number="PO-1", end_customer_name="Hotel Ålesund"),
             line(1, 200, 15, order_number="1002", order_reference="Bar", po_number="PO-2")]
    invoice_xml, _ = build_both(lines, norwegian_company())
    document = etree.fromstring(invoice_xml)
    assert document.find("cac:OrderReference", NS) is None  # no single order to name
    notes = document.xpath("cac:InvoiceLine/cbc:Note/text()", namespaces=NS)
    assert notes[0].startswith("Order: 1001; Reference: Kitchen; PO: PO-1; Buyer: Kari Nordmann; "
                               "End customer: Hotel Ålesund")
    assert notes[1].startswith("Order: 1002; Reference: Bar; PO: PO-2")


def test_the_account_statement_is_the_invoice_note() -> None:
    lines = [line(1, 10000, 25)]
    invoice_xml, _ = build_both(lines, norwegian_company(), previous_balance_minor=50000, payments_minor=20000,
                                balance_due_minor=42500)
    note = etree.fromstring(invoice_xml).findtext("cbc:Note", namespaces=NS)
    assert note == ("Account statement: previous balance 500.00, payments received 200.00, this invoice 125.00, "
                    "balance due 425.00 NOK")


def test_a_returned_quantity_and_a_free_line_on_an_invoice() -> None:
    lines = [line(2, 4990, 25), line(-1, 4990, 25, sku="RETURNED"), line(1, 0, 15, name="Free sample")]
    invoice_xml, _ = build_both(lines, norwegian_company())
    quantities = etree.fromstring(invoice_xml).xpath("cac:InvoiceLine/cbc:InvoicedQuantity/text()", namespaces=NS)
    assert quantities == ["2", "-1", "1"]


def _child_order(document: etree._Element) -> dict[str, list[str]]:
    """Element name -> the names of its children in order, over the whole document (credit note names read as
    their invoice counterparts)."""
    rename = {"CreditNote": "Invoice", "CreditNoteLine": "InvoiceLine", "CreditedQuantity": "InvoicedQuantity",
              "CreditNoteTypeCode": "InvoiceTypeCode"}
    order: dict[str, list[str]] = {}
    for element in document.iter(etree.Element):
        name = rename.get(etree.QName(element).localname, etree.QName(element).localname)
        children = order.setdefault(name, [])
        for child in element.iterchildren(etree.Element):
            child_name = rename.get(etree.QName(child).localname, etree.QName(child).localname)
            if child_name not in children:
                children.append(child_name)
    return order


def test_elements_come_in_the_order_of_the_national_example() -> None:
    """The rule sets do not check the UBL schema's element order, receivers do: every element the example also
    has comes in the example's order."""
    example = _child_order(etree.parse(str(EXAMPLE)).getroot())
    lines = [line(1, 100, 25, po_number="PO-1"), line(1, 100, 0, po_number="PO-1", delivered_on=None)]
    for xml in build_both(lines, norwegian_company(), previous_balance_minor=100):
        for parent, children in _child_order(etree.fromstring(xml)).items():
            known = [child for child in children if child in example.get(parent, [])]
            assert known == sorted(known, key=example.get(parent, []).index), parent


@pytest.mark.parametrize(("unit", "code"), [("pcs", "EA"), ("", "EA"), ("each", "EA"), ("kg", "KGM"),
                                            ("l", "LTR"), ("box", "XBX"), ("Pack", "XPK"), ("furlong", "EA")])
def test_unit_codes(unit: str, code: str) -> None:
    assert unit_code(unit) == code
    invoice_xml, _ = build_both([line(4, 250, 15, unit=unit)], norwegian_company())
    quantity = etree.fromstring(invoice_xml).find("cac:InvoiceLine/cbc:InvoicedQuantity", NS)
    assert (quantity.get("unitCode"), quantity.text) == (code, "4")


def test_objects_not_yet_flushed_lack_their_column_defaults_and_still_build() -> None:
    company = norwegian_company()
    bare_line = InvoiceLine(sku="S", name="Soap", unit="pcs", quantity=2, unit_price_minor=1250, vat_rate=25,
                            net_minor=2500)
    bare = Invoice(kind=InvoiceKind.INVOICE.value, number=7, issue_date=date(2026, 12, 1), due_date=date(2027, 1, 4),
                   currency="NOK", net_minor=2500, vat_minor=625, gross_minor=3125, recipient_name="Kjøpmann Ås AS")
    assert bare_line.order_reference is None and bare.recipient_reference is None and bare.payments_minor is None
    assert_valid(build_ehf(bare, [bare_line], company, SETTINGS))


def test_stored_amounts_that_differ_from_the_lines_are_refused() -> None:
    lines = [line(3, 3333, 15)]
    invoice = invoice_for(lines, norwegian_company())
    invoice.vat_minor += 1
    with pytest.raises(EhfMismatch, match="stores net/VAT/gross"):
        build_ehf(invoice, lines, norwegian_company(), SETTINGS)


def test_a_line_net_that_is_not_quantity_times_price_is_refused() -> None:
    lines = [line(3, 3333, 15)]
    invoice = invoice_for(lines, norwegian_company())
    lines[0].net_minor += 1
    with pytest.raises(EhfMismatch, match="is not quantity"):
        build_ehf(invoice, lines, norwegian_company(), SETTINGS)


def test_a_document_without_lines_is_refused() -> None:
    with pytest.raises(ValueError, match="no lines"):
        build_ehf(invoice_for([], norwegian_company()), [], norwegian_company(), SETTINGS)


def test_a_supplier_without_details_is_refused() -> None:
    production = Settings(_env_file=None, procura_env="production", jwt_secret="s" * 40, smtp_url=None)
    lines = [line(1, 100, 25)]
    with pytest.raises(ValueError, match="SUPPLIER_NAME"):
        build_ehf(invoice_for(lines, norwegian_company()), lines, norwegian_company(), production)


# Property: any lines give valid documents

TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
NAME = TEXT.filter(lambda text: _text(text) != "")  # companies always have a name


@st.composite
def random_document(draw: st.DrawFn) -> tuple[list[InvoiceLine], Company, dict[str, object]]:
    swedish = draw(st.booleans())
    company = swedish_company(draw(NAME)) if swedish else norwegian_company(draw(NAME))
    rates = (25, 12, 6) if swedish else (25, 15, 12, 0)
    lines = draw(st.lists(st.builds(
        line,
        st.integers(-50, 1000), st.integers(0, 10_000_000), st.sampled_from(rates),  # returned quantities too
        sku=TEXT, name=TEXT, unit=st.sampled_from(["pcs", "kg", "l", "box", "", "m"]), order_number=TEXT,
        order_reference=TEXT, po_number=TEXT, buyer_name=TEXT, end_customer_name=TEXT,
        delivered_on=st.one_of(st.none(), st.dates(date(2021, 1, 1), date(2026, 12, 1))),
    ), min_size=1, max_size=25))
    fields: dict[str, object] = dict(
        kid=None if swedish or draw(st.booleans()) else "0000100015", recipient_reference=draw(TEXT),
        recipient_name=draw(TEXT), recipient_street=draw(TEXT), recipient_city=draw(TEXT),
        recipient_postal_code=draw(TEXT), previous_balance_minor=draw(st.integers(-10**8, 10**8)),
        payments_minor=draw(st.integers(0, 10**8)),
    )
    return lines, company, fields


@hypothesis_settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_document())
def test_any_lines_give_valid_invoices_and_credit_notes(document: tuple[list[InvoiceLine], Company, dict]) -> None:
    lines, company, fields = document
    build_both(lines, company, **fields)


def test_validation_time_per_document() -> None:
    """Measured, not asserted tightly: tens of milliseconds for a 25-line document once the rule sets are compiled."""
    lines = [line(index + 1, 995 * (index + 1), (25, 15)[index % 2], sku=f"T-{index}") for index in range(25)]
    xml = build_ehf(invoice_for(lines, norwegian_company()), lines, norwegian_company(), SETTINGS)
    check_ehf(xml)
    started = time.perf_counter()
    for _ in range(10):
        check_ehf(xml)
    per_document = (time.perf_counter() - started) / 10
    assert per_document < 1.0, f"{per_document:.3f} s per document"

