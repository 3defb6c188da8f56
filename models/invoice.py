"""Invoices and credit notes, their lines, payments, invoice runs and the gapless invoice number sequence.

An issued invoice never changes: its amounts, recipient and EHF document are kept as issued. What changes
afterwards (payments, credit notes) is recorded beside it (`paid_minor`, `credited_minor`, `Payment`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, UTCDateTime, utcnow


class InvoiceKind(StrEnum):
    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


class InvoiceStatus(StrEnum):
    """The state a reader sees; derived from the amounts and the date by `invoice_status`, never stored."""

    ISSUED = "issued"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    OVERDUE = "overdue"
    CREDITED = "credited"


class Invoice(Base):
    """One invoice or credit note to one invoice recipient (a cost centre, or the company itself)."""

    __tablename__ = "invoices"
    __table_args__ = (
        # One continuous number sequence per supplier (one supplier per installation).
        UniqueConstraint("number", name="uq_invoices_number"),
        UniqueConstraint("kid", name="uq_invoices_kid"),
        # The archive and transactions: newest first per company, keyset on (issue_date, id).
        Index("ix_invoices_company_issued", "company_id", "issue_date", "id"),
        Index("ix_invoices_due", "due_date", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default=InvoiceKind.INVOICE.value)
    number: Mapped[int] = mapped_column(BigInteger)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    # The invoice recipient: the cost centre the orders were booked to; None: the company itself.
    cost_centre_id: Mapped[int | None] = mapped_column(ForeignKey("cost_centres.id"), index=True)
    # A credit note names the invoice it credits.
    credited_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("invoice_runs.id"), index=True)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    # This document's own amounts (positive for credit notes too: the kind says which way they go).
    net_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    vat_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    gross_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # The account statement printed on an invoice: what was owed at the previous invoice, what was paid since,
    # and what is owed with this one (previous balance - payments + this invoice - credit notes since).
    previous_balance_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    payments_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    balance_due_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # What has been paid towards this invoice, and credited on it by credit notes.
    paid_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    credited_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Norwegian payment reference (KID, Luhn check digit); None for Swedish invoices and credit notes.
    kid: Mapped[str | None] = mapped_column(String(25))
    # Snapshot of the recipient as invoiced.
    recipient_name: Mapped[str] = mapped_column(String(200))
    recipient_reference: Mapped[str] = mapped_column(String(200), default="")
    recipient_street: Mapped[str] = mapped_column(String(200), default="")
    recipient_postal_code: Mapped[str] = mapped_column(String(20), default="")
    recipient_city: Mapped[str] = mapped_column(String(100), default="")
    # The EHF (PEPPOL BIS Billing 3.0 UBL) document exactly as issued.
    ehf_xml: Mapped[bytes] = mapped_column(LargeBinary)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_notice_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InvoiceLine(Base):
    """One invoiced order line (or returned quantity of one, on a credit note), with what an accountant needs to
    re-invoice it: the order's number, reference, purchase-order number, buyer and end customer."""

    __tablename__ = "invoice_lines"
    __table_args__ = (Index("ix_invoice_lines_invoice", "invoice_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    order_line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"), index=True)
    line_return_id: Mapped[int | None] = mapped_column(ForeignKey("line_returns.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    vat_rate: Mapped[int] = mapped_column(Integer)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    order_number: Mapped[str] = mapped_column(String(30), default="")
    order_reference: Mapped[str] = mapped_column(String(200), default="")
    po_number: Mapped[str] = mapped_column(String(100), default="")
    buyer_name: Mapped[str] = mapped_column(String(200), default="")
    end_customer_name: Mapped[str] = mapped_column(String(200), default="")
    delivered_on: Mapped[date | None] = mapped_column(Date)


class Payment(Base):
    """Money received from a company, registered by the platform operator; matched to an invoice by KID."""

    __tablename__ = "payments"
    __table_args__ = (Index("ix_payments_company_received", "company_id", "received_on", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    kid: Mapped[str | None] = mapped_column(String(25))
    received_on: Mapped[date] = mapped_column(Date)
    # The next invoice that lists this payment in its statement; None until one is issued.
    statement_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InvoiceRunStatus(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


class InvoiceRun(Base):
    """One invoicing of one invoice date. The date is unique: a second run of the same date finds it done and
    picks up only what the first left (nothing, or what a failure left), so nothing is invoiced twice."""

    __tablename__ = "invoice_runs"
    __table_args__ = (UniqueConstraint("run_date", name="uq_invoice_runs_run_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=InvoiceRunStatus.RUNNING.value)
    invoices_issued: Mapped[int] = mapped_column(Integer, default=0)
    credit_notes_issued: Mapped[int] = mapped_column(Integer, default=0)
    # Documents the rule sets refused (never issued): [{"companyId", "costCentreId", "rules": [...]}].
    problems: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InvoiceNumberCounter(Base):
    """The last invoice number issued: one row, updated in the issuing transaction, so a rolled-back run gives
    its numbers back and concurrent runs queue on the row (no gap, no duplicate)."""

    __tablename__ = "invoice_number_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


@dataclass(frozen=True)
class VatBreakdown:
    rate: int
    taxable_minor: int
    vat_minor: int


@dataclass(frozen=True)
class DocumentTotals:
    net_minor: int
    vat_minor: int
    gross_minor: int
    breakdown: tuple[VatBreakdown, ...]


def document_totals(lines: Iterable[tuple[int, int]]) -> DocumentTotals:
    """Totals of an invoice or credit note from its lines' (net_minor, vat_rate), as EN 16931 computes them: VAT
    per rate on the sum of that rate's line nets, rounded half up to the minor unit (BR-CO-17), never the sum of
    per-line VAT amounts. Every writer of an invoice's amounts and its EHF document uses this one function."""
    taxable: dict[int, int] = defaultdict(int)
    for net_minor, rate in lines:
        taxable[rate] += net_minor
    breakdown = tuple(
        VatBreakdown(rate, amount, int((Decimal(amount) * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)))
        for rate, amount in sorted(taxable.items(), reverse=True)
    )
    net = sum(b.taxable_minor for b in breakdown)
    vat = sum(b.vat_minor for b in breakdown)
    return DocumentTotals(net, vat, net + vat, breakdown)


def invoice_status(invoice: Invoice, today: date) -> InvoiceStatus:
    """Credited when credit notes cover it; paid when payments and credits cover it; overdue after the due date
    while something is owed; partly paid when some is paid."""
    if invoice.kind == InvoiceKind.CREDIT_NOTE.value:
        return InvoiceStatus.ISSUED
    if invoice.credited_minor >= invoice.gross_minor > 0:
        return InvoiceStatus.CREDITED
    if invoice.paid_minor + invoice.credited_minor >= invoice.gross_minor:
        return InvoiceStatus.PAID
    if today > invoice.due_date:
        return InvoiceStatus.OVERDUE
    if invoice.paid_minor > 0:
        return InvoiceStatus.PARTLY_PAID
    return InvoiceStatus.ISSUED
