"""Invoices and credit notes: the Invoice node, the archive (`invoices`), the company's invoicing settings."""

from __future__ import annotations

from datetime import date
from enum import Enum
from typing import Annotated

import strawberry

from models import Company as CompanyModel
from models import InvoiceLine as InvoiceLineModel
from models.errors import DomainError, ErrorCode
from models.invoice import InvoiceKind as DomainKind
from models.invoice import InvoiceStatus as DomainStatus
from models.invoice import document_totals, invoice_status
from resolvers import approval_view, invoicing_settings
from resolvers import invoice_view as use_cases
from schema.company import Address, Company
from schema.cost_centre import CostCentre
from schema.errors import INPUT, MutationError, run_mutation
from schema.money import Money, money
from schema.order_types import Order, order_from_view
from schema.relay import (
    Connection,
    Edge,
    Node,
    connection_of,
    decode_id,
    from_keyset_cursor,
    optional_id,
    to_global_id,
    to_keyset_cursor,
)
from schema.selection import selects


@strawberry.enum(description="Whether a document charges or credits the company.")
class InvoiceKind(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    INVOICE = strawberry.enum_value("invoice", description="An invoice: the company owes its gross amount.")
    CREDIT_NOTE = strawberry.enum_value(
        "credit_note", description="A credit note: its gross amount is taken off what the company owes.")


@strawberry.enum(description="Where an invoice stands today (UTC); computed from its amounts and dates.")
class InvoiceStatus(Enum):
    _value_: str  # strawberry.enum leaves each member the plain value given to its enum_value()

    ISSUED = strawberry.enum_value("issued", description="Issued, nothing paid, not yet due (credit notes too).")
    PARTLY_PAID = strawberry.enum_value("partly_paid", description="Part paid, not yet due.")
    PAID = strawberry.enum_value("paid", description="Paid in full (payments and credit notes cover it).")
    OVERDUE = strawberry.enum_value("overdue", description="Past its due date with something still owed.")
    CREDITED = strawberry.enum_value("credited", description="Credit notes cover it in full.")


@strawberry.type(description="VAT of one rate on an invoice, as EN 16931 computes it (on the rate's net sum).")
class InvoiceVat:
    rate: int = strawberry.field(description="VAT rate in percent.")
    taxable: Money = strawberry.field(description="Net amount at this rate.")
    vat: Money = strawberry.field(description="VAT at this rate, rounded half up once for the rate.")


@strawberry.type(description="Whom an invoice was addressed to, as it was when issued.")
class InvoiceRecipient:
    name: str = strawberry.field(description="The recipient's name (the cost centre's, or the company's).")
    reference: str = strawberry.field(description="The recipient's invoice reference (empty when none).")
    address: Address = strawberry.field(description="The invoice address.")
    cost_centre: CostCentre | None = strawberry.field(
        description="The cost centre invoiced; null when the company itself was.")


@strawberry.type(description=(
    "One invoiced order line (or a returned quantity of one, on a credit note), with what re-invoicing needs."))
class InvoiceLine:
    sku: str = strawberry.field(description="Product SKU.")
    name: str = strawberry.field(description="Product name as invoiced.")
    unit: str = strawberry.field(description="Unit of measure.")
    quantity: int = strawberry.field(description="Quantity invoiced (returned, on a credit note).")
    unit_price: Money = strawberry.field(description="Net unit price.")
    vat_rate: int = strawberry.field(description="VAT rate in percent.")
    net: Money = strawberry.field(description="Net amount of the line.")
    order_number: str = strawberry.field(description="The order's number.")
    order_reference: str = strawberry.field(description="The order's reference (empty when none).")
    po_number: str = strawberry.field(description="The order's purchase-order number (empty when none).")
    buyer_name: str = strawberry.field(description="Who placed the order.")
    end_customer_name: str = strawberry.field(description="The end customer ordered for (empty when none).")
    delivered_on: date | None = strawberry.field(description="When the order was delivered.")
    order_id: strawberry.Private[int | None]
    orders: strawberry.Private[use_cases.LineOrders | None]

    @strawberry.field(description=(
        "The order, when you may see it (`order:read_all`, your own, platform operators); else null. A page's "
        "orders are read together."))
    async def order(self, info: strawberry.Info) -> Order | None:
        if self.order_id is None or self.orders is None:
            return None
        async with info.context.reading() as ctx:
            if self.orders.views is None:
                views = await use_cases.line_orders(ctx, self.orders.ids)
                self.orders.flows = await approval_view.flows(ctx, list(views.values()))
                self.orders.views = views
        view = self.orders.views.get(self.order_id)
        return order_from_view(view, (self.orders.flows or {}).get(view.id)) if view else None

    @classmethod
    def from_model(cls, line: InvoiceLineModel, currency: str,
                   orders: use_cases.LineOrders | None = None) -> InvoiceLine:
        return cls(
            sku=line.sku, name=line.name, unit=line.unit, quantity=line.quantity,
            unit_price=money(line.unit_price_minor, currency), vat_rate=line.vat_rate,
            net=money(line.net_minor, currency), order_number=line.order_number, order_reference=line.order_reference,
            po_number=line.po_number, buyer_name=line.buyer_name, end_customer_name=line.end_customer_name,
            delivered_on=line.delivered_on, order_id=line.order_id, orders=orders)


def invoice_document_url(public_url: str, invoice_id: int, extension: str) -> str:
    return f"{public_url.rstrip('/')}/export/invoices/{to_global_id('Invoice', invoice_id)}.{extension}"


@strawberry.type(description=(
    "An invoice or credit note, exactly as issued, with what has happened since (payments, credit notes). "
    "Readable with `invoice:read` (administrators, managers, accountants, API clients with INVOICES_READ) "
    "and by platform operators."))
class Invoice(Node):
    number: str = strawberry.field(description="Invoice number: one gapless sequence for all documents.")
    kind: InvoiceKind = strawberry.field(description="Invoice or credit note.")
    status: InvoiceStatus = strawberry.field(description="Where it stands today (UTC).")
    issue_date: date = strawberry.field(description="The invoice date.")
    due_date: date = strawberry.field(description="When payment is due (moved past weekends and public holidays).")
    currency: str = strawberry.field(description="ISO 4217 currency of every amount of the document.")
    net: Money = strawberry.field(description="Total excluding VAT.")
    vat: Money = strawberry.field(description="Total VAT.")
    gross: Money = strawberry.field(description="Total including VAT (positive for credit notes too).")
    previous_balance: Money = strawberry.field(
        description="Account statement: what the company owed at its previous invoice.")
    payments: Money = strawberry.field(
        description="Account statement: payments received since the previous invoice.")
    balance_due: Money = strawberry.field(
        description="Account statement: what the company owes with this document (previous balance less payments, "
                    "plus this invoice or less this credit note, less credit notes since).")
    paid: Money = strawberry.field(description="What has been paid towards this invoice so far.")
    credited: Money = strawberry.field(description="What credit notes have credited on this invoice so far.")
    outstanding: Money = strawberry.field(
        description="What is still owed on this invoice: gross less paid and credited (0 for credit notes).")
    kid: str | None = strawberry.field(description="Norwegian payment reference (KID) to pay with; null elsewhere.")
    ehf_url: str = strawberry.field(description=(
        "Where to download the EHF (PEPPOL BIS Billing 3.0 UBL) XML, with the same bearer token; authorised like "
        "this field."))
    pdf_url: str = strawberry.field(description="Where to download the printable PDF, with the same bearer token.")
    view: strawberry.Private[use_cases.InvoiceView]

    @strawberry.field(description="Whom it was addressed to, as issued.")
    def recipient(self) -> InvoiceRecipient:
        i, centre = self.view.invoice, self.view.cost_centre
        return InvoiceRecipient(
            name=i.recipient_name, reference=i.recipient_reference,
            address=Address(street=i.recipient_street, postal_code=i.recipient_postal_code, city=i.recipient_city),
            cost_centre=CostCentre.from_model(centre) if centre is not None else None)

    @strawberry.field(description="The company invoiced.")
    async def company(self, info: strawberry.Info) -> Company:
        if self.view.company is None:
            async with info.context.reading() as ctx:
                self.view.company = await ctx.session.get_one(CompanyModel, self.view.invoice.company_id)
        return Company.from_model(self.view.company)

    async def _lines(self, info: strawberry.Info) -> list[InvoiceLineModel]:
        if self.view.lines is None:
            async with info.context.reading() as ctx:
                await use_cases.load_details(ctx, [self.view], lines=True, credit_notes=False)
        return self.view.lines or []

    @strawberry.field(description="The lines, in invoicing order.")
    async def lines(self, info: strawberry.Info) -> list[InvoiceLine]:
        lines = await self._lines(info)
        return [InvoiceLine.from_model(line, self.currency, self.view.line_orders) for line in lines]

    @strawberry.field(description="VAT per rate, highest rate first.")
    async def vat_breakdown(self, info: strawberry.Info) -> list[InvoiceVat]:
        totals = document_totals((line.net_minor, line.vat_rate) for line in await self._lines(info))
        return [InvoiceVat(rate=b.rate, taxable=money(b.taxable_minor, self.currency),
                           vat=money(b.vat_minor, self.currency)) for b in totals.breakdown]

    @strawberry.field(description="For a credit note: the invoice it credits; null otherwise.")
    async def credited_invoice(self, info: strawberry.Info) -> Invoice | None:
        async with info.context.reading() as ctx:
            credited = await use_cases.credited_invoice_of(ctx, self.view.invoice)
        return invoice_from_view(use_cases.InvoiceView(credited), _public_url(info)) if credited else None

    @strawberry.field(description="For an invoice: the credit notes issued against it, oldest first.")
    async def credit_notes(self, info: strawberry.Info) -> list[Invoice]:
        notes = self.view.credit_notes
        if notes is None:
            async with info.context.reading() as ctx:
                notes = await use_cases.credit_notes_of(ctx, self.view.invoice)
        return [invoice_from_view(use_cases.InvoiceView(note), _public_url(info)) for note in notes]


def _public_url(info: strawberry.Info) -> str:
    return info.context.services.settings.public_url


def invoice_from_view(view: use_cases.InvoiceView, public_url: str) -> Invoice:
    i, c = view.invoice, view.invoice.currency
    outstanding = 0 if i.kind == DomainKind.CREDIT_NOTE.value else max(i.gross_minor - i.paid_minor - i.credited_minor,
                                                                        0)
    return Invoice(
        id=to_global_id("Invoice", i.id), number=str(i.number), kind=InvoiceKind(i.kind),
        status=InvoiceStatus(invoice_status(i, use_cases.today()).value), issue_date=i.issue_date,
        due_date=i.due_date, currency=c, net=money(i.net_minor, c), vat=money(i.vat_minor, c),
        gross=money(i.gross_minor, c), previous_balance=money(i.previous_balance_minor, c),
        payments=money(i.payments_minor, c), balance_due=money(i.balance_due_minor, c), paid=money(i.paid_minor, c),
        credited=money(i.credited_minor, c), outstanding=money(outstanding, c), kid=i.kid,
        ehf_url=invoice_document_url(public_url, i.id, "xml"), pdf_url=invoice_document_url(public_url, i.id, "pdf"),
        view=view)


async def fetch_invoice(ctx, pk: int) -> Invoice | None:
    """`node(id:)` for an Invoice: any age, the caller's to read."""
    view = await use_cases.get_invoice(ctx, pk, lines=False)
    return invoice_from_view(view, ctx.settings.public_url) if view else None


@strawberry.input(description="Which invoices of the archive to list; all given conditions must hold.")
class InvoiceFilter:
    status: InvoiceStatus | None = strawberry.field(default=None, description="Only in this state today.")
    kind: InvoiceKind | None = strawberry.field(default=None, description="Only invoices, or only credit notes.")
    cost_centre_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only those addressed to this cost centre.")
    issued_from: date | None = strawberry.field(default=None, description="Issued on or after this date.")
    issued_to: date | None = strawberry.field(default=None, description="Issued on or before this date.")
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform operators: only this company's (others: INVALID_INPUT).")

    def to_domain(self) -> use_cases.InvoiceFilter:
        return use_cases.InvoiceFilter(
            status=DomainStatus(self.status.value) if self.status else None,
            kind=DomainKind(self.kind.value) if self.kind else None,
            cost_centre_id=optional_id(self.cost_centre_id, "CostCentre"), issued_from=self.issued_from,
            issued_to=self.issued_to, company_id=optional_id(self.company_id, "Company"))


def _archive_cursor(after: str | None) -> tuple[date, int] | None:
    position = from_keyset_cursor(after)
    if position is None:
        return None
    if not isinstance(position[0], int) or not 1 <= position[0] <= date.max.toordinal():
        raise DomainError(ErrorCode.INVALID_INPUT, "The cursor is not valid", "after")
    return date.fromordinal(position[0]), position[1]


@strawberry.input(description="A company's invoicing settings (platform operators).")
class SetCompanyInvoicingInput:
    company_id: strawberry.ID = strawberry.field(description="The company.")
    invoice_days: list[int] = strawberry.field(
        description="Days of the month invoices are issued: one or more of 1 to 28, each once.")
    payment_terms_days: int | None = strawberry.field(
        default=None, description="Days to pay, 1 to 120; null for the country's default (32 Norway, 30 Sweden).")


@strawberry.type(description="A company's invoicing settings after the change.")
class CompanyInvoicingPayload:
    company: Company = strawberry.field(description="The company, with its invoiceDays and paymentTermsDays.")


CompanyInvoicingResult = Annotated[
    CompanyInvoicingPayload | MutationError,
    strawberry.union("CompanyInvoicingResult", description="Result of setCompanyInvoicing."),
]


@strawberry.type
class InvoiceQuery:
    @strawberry.field(description=(
        "The invoice archive: invoices and credit notes issued in the last 24 months, newest first (older ones stay "
        "reachable by `node(id:)` and in `transactions`). Requires `invoice:read` (administrators, managers, "
        "accountants, API clients with INVOICES_READ); platform operators see every company's."))
    async def invoices(
        self, info: strawberry.Info,
        filter: Annotated[InvoiceFilter | None, strawberry.argument(description="Conditions.")] = None,
        first: Annotated[int, strawberry.argument(description="Page size, at most 100.")] = 50,
        after: Annotated[str | None, strawberry.argument(description="Cursor to start after.")] = None,
    ) -> Connection[Invoice]:
        async with info.context.reading() as ctx:
            page = await use_cases.list_invoices(
                ctx, filter=(filter or InvoiceFilter()).to_domain(), first=first, after=_archive_cursor(after),
                lines=selects(info, "lines") or selects(info, "vatBreakdown"),
                credit_notes=selects(info, "creditNotes"))
        edges = [Edge(cursor=to_keyset_cursor(v.invoice.issue_date.toordinal(), v.invoice.id),
                      node=invoice_from_view(v, _public_url(info))) for v in page.invoices]
        return connection_of(edges, has_next_page=page.has_next_page, has_previous_page=page.has_previous_page)


@strawberry.type
class InvoiceMutation:
    @strawberry.mutation(description=(
        "Set a company's invoice days and payment terms. Platform operators only (`credit:manage`); audited."))
    async def set_company_invoicing(
        self, info: strawberry.Info, input: Annotated[SetCompanyInvoicingInput, INPUT],
    ) -> CompanyInvoicingResult:
        return await run_mutation(info, lambda ctx: invoicing_settings.set_company_invoicing(
            ctx, company_id=decode_id(input.company_id, "Company") or 0, invoice_days=input.invoice_days,
            payment_terms_days=input.payment_terms_days),
            lambda company: CompanyInvoicingPayload(company=Company.from_model(company)))
