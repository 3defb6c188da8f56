"""The human-readable invoice and credit note: an A4 PDF drawn with fpdf2 (pure Python: nothing to install).

What it shows is what was issued: the invoice row's own amounts, recipient snapshot and statement, and its lines;
nothing is recomputed from orders. The VAT breakdown is `document_totals` of the lines, the function the EHF
document's breakdown comes from.

Text is drawn in the PDF core font Helvetica, so the file embeds no font; what it can draw is `invoicing/pdf_text.py`'s.

The output is deterministic: the same invoice gives the same bytes (the creation date is the issue date).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time
from itertools import groupby

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from invoicing.pdf_text import (
    LINE,
    bank_account,
    buyer_org_number,
    day,
    fit,
    iban,
    money,
    printable,
    seller_org_number,
    wrapped,
)
from models.company import Company
from models.invoice import Invoice, InvoiceKind, InvoiceLine, document_totals
from settings import Settings

LEFT, TOP, BOTTOM = 18.0, 16.0, 22.0  # page margins in mm; the footer sits in the bottom one
WIDTH = 210.0 - 2 * LEFT
MAX_NAME_LINES = 3  # a product name longer than this many lines is cut with "..."
GREY, LIGHT = (110, 110, 110), (236, 236, 236)
# The lines table: (heading, width in mm, alignment).
COLUMNS = (("Item no.", 24.0, "L"), ("Description", 62.0, "L"), ("Qty", 14.0, "R"), ("Unit", 14.0, "L"),
           ("Unit price", 22.0, "R"), ("VAT", 12.0, "R"), ("Net", 26.0, "R"))


class InvoicePdf(FPDF):
    """One document: the page furniture (title line on later pages, footer with the seller and page numbers)."""

    def __init__(self, invoice: Invoice, settings: Settings) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.invoice, self.settings = invoice, settings
        self.is_credit_note = invoice.kind == InvoiceKind.CREDIT_NOTE.value
        self.title_text = f"{'Credit note' if self.is_credit_note else 'Invoice'} {invoice.number}"
        self.core_fonts_encoding = "windows-1252"
        self.set_margins(LEFT, TOP, LEFT)
        self.set_auto_page_break(False)  # every block checks its own room (see room_for), so tables repeat headers
        self.alias_nb_pages()
        self.set_creation_date(datetime.combine(invoice.issue_date, time(), UTC))
        self.set_title(printable(self.title_text))
        self.set_author(printable(settings.supplier_name))
        self.set_creator("Procura")
        self.set_lang("en")

    def text_font(self, size: float = 9, style: str = "") -> None:
        self.set_font("Helvetica", style, size)

    def header(self) -> None:
        if self.page_no() > 1:
            self.text_font(8, "B")
            self.set_text_color(*GREY)
            self.cell(WIDTH / 2, 5, printable(self.settings.supplier_name))
            self.cell(WIDTH / 2, 5, printable(f"{self.title_text} (continued)"), align="R",
                      new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_text_color(0, 0, 0)
            self.ln(3)

    def footer(self) -> None:
        s = self.settings
        self.set_y(-BOTTOM + 6)
        self.set_draw_color(*GREY)
        self.line(LEFT, self.get_y(), LEFT + WIDTH, self.get_y())
        self.text_font(7)
        self.set_text_color(*GREY)
        address = f"{s.supplier_street}, {s.supplier_postal_code} {s.supplier_city}"
        parts = (s.supplier_name, seller_org_number(s), address, s.supplier_email)
        seller = " · ".join(part for part in parts if part)
        self.cell(WIDTH * 0.75, 5, fit(self, printable(seller), WIDTH * 0.75))
        self.cell(WIDTH * 0.25, 5, printable(f"{self.title_text} · page {self.page_no()} of {{nb}}"), align="R")
        self.set_text_color(0, 0, 0)

    @property
    def bottom(self) -> float:
        return self.h - BOTTOM

    def room_for(self, height: float) -> bool:
        """Start a new page unless `height` mm fit on this one; True when a page was started."""
        if self.get_y() + height <= self.bottom:
            return False
        self.add_page()
        return True


def _seller_and_title(pdf: InvoicePdf) -> None:
    s, invoice = pdf.settings, pdf.invoice
    pdf.text_font(14, "B")
    pdf.set_xy(LEFT, TOP)
    pdf.cell(WIDTH * 0.6, 7, fit(pdf, printable(s.supplier_name), WIDTH * 0.6))
    pdf.text_font(18, "B")
    pdf.cell(WIDTH * 0.4, 7, "CREDIT NOTE" if pdf.is_credit_note else "INVOICE", align="R",
             new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1.5)
    pdf.text_font(8.5)
    left = [s.supplier_street, f"{s.supplier_postal_code} {s.supplier_city}", seller_org_number(s), s.supplier_email]
    right = [f"Account {bank_account(s.supplier_bank_account)}" if s.supplier_bank_account else "",
             f"IBAN {iban(s.supplier_iban)}" if s.supplier_iban else "",
             f"BIC {s.supplier_bic}" if s.supplier_bic else "", f"Currency {invoice.currency}"]
    for one, two in zip(left, right, strict=True):
        pdf.cell(WIDTH / 2, 4, fit(pdf, printable(one), WIDTH / 2))
        pdf.cell(WIDTH / 2, 4, printable(two), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _recipient(pdf: InvoicePdf, company: Company, top: float) -> float:
    invoice, width = pdf.invoice, WIDTH * 0.5
    pdf.set_xy(LEFT, top)
    pdf.text_font(7.5)
    pdf.set_text_color(*GREY)
    pdf.cell(width, 4, "Invoice to" if not pdf.is_credit_note else "Credited to", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.text_font(10, "B")
    pdf.multi_cell(width, 4.6, printable(invoice.recipient_name), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.text_font(9)
    rows = [company.name] if company.name != invoice.recipient_name else []
    rows += [invoice.recipient_street, f"{invoice.recipient_postal_code} {invoice.recipient_city}".strip(),
             buyer_org_number(company)]
    for row in rows:
        if row:
            pdf.multi_cell(width, 4.3, printable(row), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return pdf.get_y()


def _details(pdf: InvoicePdf, credited: Invoice | None, top: float) -> float:
    invoice = pdf.invoice
    x, label_width, value_width = LEFT + WIDTH * 0.55, 30.0, WIDTH * 0.45 - 30.0
    pairs = [("Credit note no." if pdf.is_credit_note else "Invoice no.", str(invoice.number)),
             ("Credit note date" if pdf.is_credit_note else "Invoice date", day(invoice.issue_date))]
    if pdf.is_credit_note:
        if credited is not None:
            pairs.append(("Credits invoice", f"{credited.number} of {day(credited.issue_date)}"))
    else:
        pairs.append(("Due date", day(invoice.due_date)))
    if invoice.kid:
        pairs.append(("KID", invoice.kid))
    if invoice.recipient_reference:
        pairs.append(("Your reference", invoice.recipient_reference))
    pdf.set_y(top)
    for label, value in pairs:
        pdf.set_x(x)
        pdf.text_font(9)
        pdf.set_text_color(*GREY)
        pdf.cell(label_width, 4.6, label)
        pdf.set_text_color(0, 0, 0)
        pdf.text_font(9, "B")
        pdf.multi_cell(value_width, 4.6, printable(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return pdf.get_y()


def _table_header(pdf: InvoicePdf) -> None:
    pdf.text_font(8, "B")
    pdf.set_fill_color(*LIGHT)
    for heading, width, align in COLUMNS:
        pdf.cell(width, 6, heading, align=align, fill=True)
    pdf.ln(6)


def _order_heading(lines: Sequence[InvoiceLine]) -> str:
    first = lines[0]
    parts = [f"Order {first.order_number}" if first.order_number else ""]
    parts += [f"{label}: {value}" for label, value in (
        ("Reference", first.order_reference), ("PO", first.po_number), ("Buyer", first.buyer_name),
        ("End customer", first.end_customer_name)) if value]
    delivered = sorted({line.delivered_on for line in lines if line.delivered_on is not None})
    if delivered:
        parts.append("Delivered " + (day(delivered[0]) if len(delivered) == 1
                                     else f"{day(delivered[0])} to {day(delivered[-1])}"))
    return "  ·  ".join(part for part in parts if part)


def _group_key(line: InvoiceLine) -> tuple[str, ...]:
    return (line.order_number, line.order_reference, line.po_number, line.buyer_name, line.end_customer_name)


def _lines_table(pdf: InvoicePdf, lines: Sequence[InvoiceLine]) -> None:
    """The lines grouped by order (the order's number, reference, PO number, buyer and end customer above its
    lines); a page break repeats the table's headings and the order's heading."""
    _table_header(pdf)
    for _, grouped in groupby(lines, key=_group_key):
        group = list(grouped)
        heading = printable(_order_heading(group))
        pdf.text_font(8, "B")
        # A line break after a separator leaves it dangling: it goes.
        heading_lines = [text.strip(" ·") for text in wrapped(pdf, heading, WIDTH, 3)] if heading else []
        for index, line in enumerate(group):
            pdf.text_font(8)
            names = wrapped(pdf, printable(line.name), COLUMNS[1][1], MAX_NAME_LINES)
            height = len(names) * LINE + 1
            first = index == 0
            needed = height + (len(heading_lines) * LINE + 1.5 if first and heading_lines else 0)
            if pdf.room_for(needed):
                _table_header(pdf)
                first = True
            if first and heading_lines:
                pdf.text_font(8, "B")
                suffix = " (continued)" if index > 0 else ""
                for text in [*heading_lines[:-1], heading_lines[-1] + suffix]:
                    pdf.cell(WIDTH, LINE, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
                pdf.ln(1.5)
            _line_row(pdf, line, names, height)
    pdf.set_draw_color(*GREY)
    pdf.line(LEFT, pdf.get_y() + 1, LEFT + WIDTH, pdf.get_y() + 1)
    pdf.ln(4)


def _line_row(pdf: InvoicePdf, line: InvoiceLine, names: list[str], height: float) -> None:
    pdf.text_font(8)
    top = pdf.get_y()
    values = [fit(pdf, printable(line.sku), COLUMNS[0][1]), "", str(line.quantity),
              fit(pdf, printable(line.unit), COLUMNS[3][1]), money(line.unit_price_minor), f"{line.vat_rate}%",
              money(line.net_minor)]
    # Placed text rather than cells: a cell costs ten times as much, and a long invoice has thousands of them.
    baseline = top + LINE / 2 + 0.3 * pdf.font_size  # where a cell of height LINE puts it
    x = LEFT
    for (_, width, align), value in zip(COLUMNS, values, strict=True):
        if value:
            shift = width - pdf.c_margin - pdf.get_string_width(value) if align == "R" else pdf.c_margin
            pdf.text(x + shift, baseline, value)
        x += width
    for offset, text in enumerate(names):
        pdf.text(LEFT + COLUMNS[0][1] + pdf.c_margin, baseline + offset * LINE, text)
    pdf.set_xy(LEFT, top + height)


def _pairs(pdf: InvoicePdf, x: float, rows: Sequence[tuple[str, str, bool]], label_width: float,
           value_width: float) -> None:
    for label, value, strong in rows:
        pdf.set_x(x)
        pdf.text_font(9, "B" if strong else "")
        pdf.cell(label_width, 5, label)
        pdf.cell(value_width, 5, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _vat_and_totals(pdf: InvoicePdf, lines: Sequence[InvoiceLine]) -> None:
    invoice = pdf.invoice
    breakdown = document_totals((line.net_minor, line.vat_rate) for line in lines).breakdown
    height = 6 + 5 * (len(breakdown) + 4)
    pdf.room_for(height)
    x, widths = LEFT + WIDTH - 96, (30.0, 36.0, 30.0)
    pdf.set_x(x)
    pdf.text_font(8, "B")
    pdf.set_fill_color(*LIGHT)
    for heading, width in zip(("VAT rate", "Taxable amount", "VAT"), widths, strict=True):
        pdf.cell(width, 6, heading, align="R" if heading != "VAT rate" else "L", fill=True)
    pdf.ln(6)
    pdf.text_font(9)
    for part in breakdown:
        pdf.set_x(x)
        pdf.cell(widths[0], 5, f"{part.rate}%")
        pdf.cell(widths[1], 5, money(part.taxable_minor), align="R")
        pdf.cell(widths[2], 5, money(part.vat_minor), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    total = "Total credited" if pdf.is_credit_note else "Total"
    _pairs(pdf, x, [("Net amount", money(invoice.net_minor), False), ("VAT", money(invoice.vat_minor), False),
                    (f"{total} {invoice.currency}", money(invoice.gross_minor), True)], 60, 36)
    pdf.ln(4)


def _statement(pdf: InvoicePdf) -> None:
    """Previous balance, payments since, this document, balance due; what else changed the balance in between
    (credit notes issued since the previous invoice) is the difference, shown when there is one."""
    invoice = pdf.invoice
    this = -invoice.gross_minor if pdf.is_credit_note else invoice.gross_minor
    between = invoice.balance_due_minor - (invoice.previous_balance_minor - invoice.payments_minor + this)
    rows = [("Previous balance", money(invoice.previous_balance_minor), False),
            ("Payments received since", money(-invoice.payments_minor), False),
            ("This credit note" if pdf.is_credit_note else "This invoice", money(this), False)]
    if between:
        rows.append(("Credit notes since the previous invoice" if between < 0 else "Other changes",
                     money(between), False))
    rows.append((f"Balance due {invoice.currency}", money(invoice.balance_due_minor), True))
    pdf.room_for(7 + 5 * len(rows))
    pdf.text_font(10, "B")
    pdf.cell(WIDTH, 6, "Account statement", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _pairs(pdf, LEFT, rows, 70, 30)
    pdf.ln(4)


def _payment(pdf: InvoicePdf) -> None:
    invoice, s = pdf.invoice, pdf.settings
    if pdf.is_credit_note:
        text = ("This credit note is deducted from the balance of your account: nothing is to be paid. "
                f"Amounts are in {invoice.currency}.")
    else:
        to = ", ".join(part for part in (
            f"account {bank_account(s.supplier_bank_account)}" if s.supplier_bank_account else "",
            f"IBAN {iban(s.supplier_iban)}" if s.supplier_iban else "", f"BIC {s.supplier_bic}" if s.supplier_bic
            else "") if part)
        reference = f"KID {invoice.kid}" if invoice.kid else f"the reference 'Invoice {invoice.number}'"
        text = (f"Please pay {money(invoice.gross_minor)} {invoice.currency} by {day(invoice.due_date)} to {to}, "
                f"with {reference}.")
    pdf.text_font(9)
    lines = wrapped(pdf, printable(text), WIDTH, 6)
    pdf.room_for(6 + LINE * 1.2 * len(lines))
    pdf.text_font(10, "B")
    pdf.cell(WIDTH, 6, "Payment", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.text_font(9)
    for line in lines:
        pdf.cell(WIDTH, LINE * 1.2, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def build_invoice_pdf(invoice: Invoice, lines: Sequence[InvoiceLine], company: Company, settings: Settings,
                      credited: Invoice | None = None) -> InvoicePdf:
    """The document, not yet written out (render_invoice_pdf writes it)."""
    pdf = InvoicePdf(invoice, settings)
    pdf.add_page()
    _seller_and_title(pdf)
    top = pdf.get_y() + 8
    below = max(_recipient(pdf, company, top), _details(pdf, credited, top))
    pdf.set_xy(LEFT, below + 8)
    _lines_table(pdf, lines)
    _vat_and_totals(pdf, lines)
    _statement(pdf)
    _payment(pdf)
    return pdf


def render_invoice_pdf(invoice: Invoice, lines: Sequence[InvoiceLine], company: Company, settings: Settings,
                       credited: Invoice | None = None) -> bytes:
    """The PDF of an issued invoice or credit note: its `lines` in the order given (the issue order), the buyer
    `company`, the seller from `settings`, and for a credit note the invoice it credits."""
    return bytes(build_invoice_pdf(invoice, lines, company, settings, credited).output())
