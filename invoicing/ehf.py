"""EHF documents: an invoice or credit note as UBL 2.1 per PEPPOL BIS Billing 3.0 (EN 16931), built with lxml.

The element order follows the UBL 2.1 schema (the rule sets do not check it, the receivers' schema validation does);
`tests/invoicing/no-example.xml`, the Norwegian national example, shows it. The seller is the supplier of the
installation (settings.supplier_*), always Norwegian; the buyer is a Norwegian or Swedish company. The amounts are
those of `document_totals`, the one computation of an invoice's totals, and must equal the stored invoice's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from models.company import Company, Country, payment_terms_days
from models.invoice import DocumentTotals, Invoice, InvoiceKind, InvoiceLine, document_totals
from models.money import to_amount
from settings import Settings

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
UBL_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
UBL_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
INVOICE_TYPE_CODE = "380"  # commercial invoice (UNCL1001)
CREDIT_NOTE_TYPE_CODE = "381"
CREDIT_TRANSFER = "30"  # payment means (UNCL4461)
# Electronic address and legal identifier schemes (ISO 6523 ICD): Norwegian and Swedish organisation numbers.
ORG_NUMBER_SCHEME = {Country.NO: "0192", Country.SE: "0007"}
# Our units as UN/ECE Recommendation 20 (and 21, the X-prefixed packaging) codes; anything else counts pieces.
UNIT_CODES = {
    "": "EA", "pcs": "EA", "pc": "EA", "piece": "EA", "pieces": "EA", "each": "EA", "ea": "EA", "stk": "EA",
    "st": "EA", "kg": "KGM", "g": "GRM", "l": "LTR", "litre": "LTR", "liter": "LTR", "dl": "DLT", "cl": "CLT",
    "ml": "MLT", "m": "MTR", "cm": "CMT", "m2": "MTK", "m3": "MTQ", "h": "HUR", "hour": "HUR", "hours": "HUR",
    "box": "XBX", "boxes": "XBX", "pack": "XPK", "pk": "XPK", "package": "XPK", "bottle": "XBO", "bag": "XBG",
    "can": "XCX", "carton": "XCT", "case": "XCS", "pallet": "XPX", "roll": "XRO", "set": "SET", "pair": "PR",
}
DEFAULT_UNIT_CODE = "EA"
# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF): dropped from our texts.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class EhfMismatch(ValueError):
    """The invoice's stored amounts differ from what its lines add up to: the document would contradict it."""


@dataclass(frozen=True)
class _Party:
    name: str
    country: Country
    org_number: str
    vat_number: str
    street: str
    postal_code: str
    city: str


def unit_code(unit: str | None) -> str:
    return UNIT_CODES.get((unit or "").strip().lower().rstrip("."), DEFAULT_UNIT_CODE)


def buyer_vat_number(country: Country, org_number: str) -> str:
    """A company's VAT number from its organisation number: NO<org>MVA in Norway, SE<org>01 in Sweden."""
    return f"NO{org_number}MVA" if country == Country.NO else f"SE{org_number}01"


def check_amounts(invoice: Invoice, lines: Sequence[InvoiceLine]) -> DocumentTotals:
    """The document's totals, after checking that every line's net is quantity x unit price and that the stored
    net, VAT and gross amounts are those of `document_totals` over the lines."""
    for line in lines:
        if line.net_minor != line.quantity * line.unit_price_minor:
            raise EhfMismatch(f"Invoice {invoice.number}, line {line.sku}: net {line.net_minor} is not quantity "
                              f"{line.quantity} x unit price {line.unit_price_minor}")
    totals = document_totals((line.net_minor, line.vat_rate) for line in lines)
    stored = (invoice.net_minor, invoice.vat_minor, invoice.gross_minor)
    if stored != (totals.net_minor, totals.vat_minor, totals.gross_minor):
        raise EhfMismatch(f"Invoice {invoice.number} stores net/VAT/gross {stored}, but its lines add up to "
                          f"{(totals.net_minor, totals.vat_minor, totals.gross_minor)}")
    return totals


def build_ehf(invoice: Invoice, lines: Sequence[InvoiceLine], company: Company, settings: Settings,
              credited: Invoice | None = None) -> bytes:
    """The EHF (PEPPOL BIS Billing 3.0 UBL 2.1) document of an invoice or a credit note, as UTF-8 bytes.
    `credited` is the invoice a credit note credits (its number and date become the billing reference)."""
    if not lines:
        raise ValueError(f"Invoice {invoice.number} has no lines")
    totals = check_amounts(invoice, lines)
    credit_note = invoice.kind == InvoiceKind.CREDIT_NOTE.value
    builder = _Builder(invoice.currency)
    root = builder.root(UBL_CREDIT_NOTE if credit_note else UBL_INVOICE, "CreditNote" if credit_note else "Invoice")
    cbc = builder.cbc
    cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    cbc(root, "ProfileID", PROFILE_ID)
    cbc(root, "ID", str(invoice.number))
    cbc(root, "IssueDate", invoice.issue_date.isoformat())
    if not credit_note:
        cbc(root, "DueDate", invoice.due_date.isoformat())
        cbc(root, "InvoiceTypeCode", INVOICE_TYPE_CODE)
    else:
        cbc(root, "CreditNoteTypeCode", CREDIT_NOTE_TYPE_CODE)
    statement = _statement_note(invoice) if not credit_note else ""
    if statement:
        cbc(root, "Note", statement)
    cbc(root, "DocumentCurrencyCode", invoice.currency)
    # PEPPOL-EN16931-R003: a buyer reference or an order reference is mandatory; the recipient's own reference when
    # the cost centre or company has one, its name otherwise (what the receiver routes the invoice by).
    cbc(root, "BuyerReference", _text(invoice.recipient_reference) or _text(invoice.recipient_name) or company.name)
    _invoice_period(builder, root, lines)
    order_reference = _order_reference(lines)
    if order_reference:
        cbc(builder.cac(root, "OrderReference"), "ID", order_reference)
    if credit_note and credited is not None:
        reference = builder.cac(builder.cac(root, "BillingReference"), "InvoiceDocumentReference")
        cbc(reference, "ID", str(credited.number))
        cbc(reference, "IssueDate", credited.issue_date.isoformat())
    _party(builder, builder.cac(root, "AccountingSupplierParty"), _seller(settings), seller=True,
           email=settings.supplier_email)
    _party(builder, builder.cac(root, "AccountingCustomerParty"), _buyer(invoice, company), seller=False,
           email="")
    if not credit_note:
        _payment_means(builder, root, invoice, company, settings)
    terms = builder.cac(root, "PaymentTerms")
    if credit_note:
        against = f" invoice {credited.number}" if credited is not None else " the account"
        cbc(terms, "Note", f"Credited against{against}; settled on the next invoice")
    else:
        cbc(terms, "Note", f"Payment within {payment_terms_days(company)} days, by {invoice.due_date.isoformat()}")
    _tax_total(builder, root, totals)
    _monetary_total(builder, root, totals)
    for index, line in enumerate(lines, start=1):
        _line(builder, root, index, line, credit_note)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class _Builder:
    """Element helpers: UBL's two component namespaces, and amounts always with the document's currency."""

    def __init__(self, currency: str) -> None:
        self.currency = currency

    def root(self, namespace: str, name: str) -> etree._Element:
        return etree.Element(f"{{{namespace}}}{name}", nsmap={None: namespace, "cac": CAC, "cbc": CBC})

    def cac(self, parent: etree._Element, name: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{CAC}}}{name}")

    def cbc(self, parent: etree._Element, name: str, value: str | None, **attributes: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{CBC}}}{name}", attributes)
        element.text = _text(value)
        return element

    def amount(self, parent: etree._Element, name: str, minor: int) -> etree._Element:
        return self.cbc(parent, name, str(to_amount(minor)), currencyID=self.currency)

    def tax_category(self, parent: etree._Element, name: str, rate: int) -> None:
        category = self.cac(parent, name)
        # S (standard rate) for every positive rate, Z (zero rated goods) for 0 %: Z needs no exemption reason
        # (BR-Z-*), where E (exempt) would (BR-E-10).
        self.cbc(category, "ID", "S" if rate > 0 else "Z")
        self.cbc(category, "Percent", str(rate))
        self.cbc(self.cac(category, "TaxScheme"), "ID", "VAT")


def _text(value: str | None) -> str:
    """A text as XML 1.0 can carry it, without outer spaces (the rules read empty-after-normalising as missing).
    None counts as empty: before a flush, a column's default is not yet on the object."""
    return _NOT_XML.sub("", value).strip() if value else ""


def _statement_note(invoice: Invoice) -> str:
    """The account statement printed on an invoice, when there is more to it than this invoice (PEPPOL allows one
    document note, PEPPOL-EN16931-R002)."""
    previous, payments = invoice.previous_balance_minor or 0, invoice.payments_minor or 0
    if not previous and not payments:
        return ""
    return (f"Account statement: previous balance {to_amount(previous)}, payments received {to_amount(payments)}, "
            f"this invoice {to_amount(invoice.gross_minor)}, balance due {to_amount(invoice.balance_due_minor or 0)} "
            f"{invoice.currency}")


def _invoice_period(builder: _Builder, root: etree._Element, lines: Sequence[InvoiceLine]) -> None:
    delivered = [line.delivered_on for line in lines if line.delivered_on is not None]
    if delivered:
        period = builder.cac(root, "InvoicePeriod")
        builder.cbc(period, "StartDate", min(delivered).isoformat())
        builder.cbc(period, "EndDate", max(delivered).isoformat())


def _order_reference(lines: Sequence[InvoiceLine]) -> str:
    """The buyer's order reference (BT-13) when every line comes from one order: its purchase-order number, or
    our order number. Lines of several orders carry each order's details in their own note instead."""
    orders = {(line.order_number, line.po_number) for line in lines}
    if len(orders) != 1:
        return ""
    order_number, po_number = orders.pop()
    return _text(po_number) or _text(order_number)


def _seller(settings: Settings) -> _Party:
    missing = settings.missing_supplier_details()
    if missing:
        raise ValueError("The supplier's details are incomplete: set " + ", ".join(missing))
    org_number = settings.supplier_org_number
    return _Party(settings.supplier_name, Country.NO, org_number,
                  settings.supplier_vat_number or buyer_vat_number(Country.NO, org_number),
                  settings.supplier_street, settings.supplier_postal_code, settings.supplier_city)


def _buyer(invoice: Invoice, company: Company) -> _Party:
    country = Country(company.country)
    if _text(invoice.recipient_street) or _text(invoice.recipient_city):
        street, postal_code, city = invoice.recipient_street, invoice.recipient_postal_code, invoice.recipient_city
    else:
        street, postal_code, city = company.street, company.postal_code, company.city
    return _Party(company.name, country, company.org_number, buyer_vat_number(country, company.org_number),
                  street, postal_code, city)


def _party(builder: _Builder, parent: etree._Element, details: _Party, *, seller: bool, email: str) -> None:
    cbc, cac = builder.cbc, builder.cac
    party = cac(parent, "Party")
    scheme = ORG_NUMBER_SCHEME[details.country]
    cbc(party, "EndpointID", details.org_number, schemeID=scheme)
    cbc(cac(party, "PartyName"), "Name", details.name)
    address = cac(party, "PostalAddress")
    for name, value in (("StreetName", details.street), ("CityName", details.city),
                        ("PostalZone", details.postal_code)):
        if _text(value):
            cbc(address, name, value)
    cbc(cac(address, "Country"), "IdentificationCode", details.country.value)
    tax_scheme = cac(party, "PartyTaxScheme")
    cbc(tax_scheme, "CompanyID", details.vat_number)
    cbc(cac(tax_scheme, "TaxScheme"), "ID", "VAT")
    if seller:
        # A Norwegian limited company's invoices name the register of business enterprises (NO-R-002 warns without).
        register = cac(party, "PartyTaxScheme")
        cbc(register, "CompanyID", "Foretaksregisteret")
        cbc(cac(register, "TaxScheme"), "ID", "TAX")
    legal = cac(party, "PartyLegalEntity")
    cbc(legal, "RegistrationName", details.name)
    cbc(legal, "CompanyID", details.org_number, schemeID=scheme)
    if _text(email):
        cbc(cac(party, "Contact"), "ElectronicMail", email)


def _payment_means(builder: _Builder, root: etree._Element, invoice: Invoice, company: Company,
                   settings: Settings) -> None:
    """A credit transfer to the supplier's account, with the KID as payment reference when there is one. A
    Norwegian buyer pays to the domestic account number, a Swedish one by IBAN and BIC (either falls back on the
    other when only one is set)."""
    means = builder.cac(root, "PaymentMeans")
    builder.cbc(means, "PaymentMeansCode", CREDIT_TRANSFER)
    if invoice.kid:
        builder.cbc(means, "PaymentID", invoice.kid)
    domestic = company.country == Country.NO.value and bool(settings.supplier_bank_account)
    use_iban = bool(settings.supplier_iban) and not domestic
    account = builder.cac(means, "PayeeFinancialAccount")
    builder.cbc(account, "ID", settings.supplier_iban if use_iban else settings.supplier_bank_account)
    builder.cbc(account, "Name", settings.supplier_name)
    if use_iban and settings.supplier_bic:
        builder.cbc(builder.cac(account, "FinancialInstitutionBranch"), "ID", settings.supplier_bic)


def _tax_total(builder: _Builder, root: etree._Element, totals: DocumentTotals) -> None:
    tax_total = builder.cac(root, "TaxTotal")
    builder.amount(tax_total, "TaxAmount", totals.vat_minor)
    for rate in totals.breakdown:
        subtotal = builder.cac(tax_total, "TaxSubtotal")
        builder.amount(subtotal, "TaxableAmount", rate.taxable_minor)
        builder.amount(subtotal, "TaxAmount", rate.vat_minor)
        builder.tax_category(subtotal, "TaxCategory", rate.rate)


def _monetary_total(builder: _Builder, root: etree._Element, totals: DocumentTotals) -> None:
    monetary = builder.cac(root, "LegalMonetaryTotal")
    builder.amount(monetary, "LineExtensionAmount", totals.net_minor)
    builder.amount(monetary, "TaxExclusiveAmount", totals.net_minor)
    builder.amount(monetary, "TaxInclusiveAmount", totals.gross_minor)
    builder.amount(monetary, "PayableAmount", totals.gross_minor)


def _line_note(line: InvoiceLine) -> str:
    """What an accountant needs to re-invoice the line: the order, its references, buyer and end customer."""
    parts = [("Order", line.order_number), ("Reference", line.order_reference), ("PO", line.po_number),
             ("Buyer", line.buyer_name), ("End customer", line.end_customer_name)]
    if line.delivered_on is not None:
        parts.append(("Delivered", line.delivered_on.isoformat()))
    return "; ".join(f"{label}: {_text(value)}" for label, value in parts if _text(value))


def _line(builder: _Builder, root: etree._Element, index: int, line: InvoiceLine, credit_note: bool) -> None:
    cbc, cac = builder.cbc, builder.cac
    element = cac(root, "CreditNoteLine" if credit_note else "InvoiceLine")
    cbc(element, "ID", str(index))
    note = _line_note(line)
    if note:
        cbc(element, "Note", note)
    cbc(element, "CreditedQuantity" if credit_note else "InvoicedQuantity", str(line.quantity),
        unitCode=unit_code(line.unit))
    builder.amount(element, "LineExtensionAmount", line.net_minor)
    item = cac(element, "Item")
    cbc(item, "Name", _text(line.name) or _text(line.sku) or "Item")
    if _text(line.sku):
        cbc(cac(item, "SellersItemIdentification"), "ID", line.sku)
    builder.tax_category(item, "ClassifiedTaxCategory", line.vat_rate)
    builder.amount(cac(element, "Price"), "PriceAmount", line.unit_price_minor)
