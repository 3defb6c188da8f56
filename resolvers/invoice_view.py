"""Reading invoices and credit notes: one by id (any age) and the archive of the last 24 months.

Who reads them: members with `invoice:read` (administrators, managers, accountants, API clients with
INVOICES_READ) their own company's; platform operators (`credit:manage`) every company's. A page's lines,
credit notes and recipient cost centres are loaded for the whole page, one statement each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Select, and_, false, not_, or_, select

from models import Company, CostCentre, Invoice, InvoiceLine, Order
from models.base import utcnow
from models.db import plain_rows
from models.errors import DomainError, ErrorCode
from models.invoice import InvoiceKind, InvoiceStatus
from policies.permissions import Permission
from policies.scopes import company_rows, cross_company, visible_orders
from resolvers.context import UseCaseContext
from resolvers.order_view import OrderView, fetch_orders, order_rows
from resolvers.pagination import check_page_size

ARCHIVE_MONTHS = 24
# Platform operators read every company's invoices (they register the payments against them).
OPERATORS = "platform operators read every company's invoices"


def months_back(day: date, months: int) -> date:
    """The same day `months` earlier (the month's last day when it has no such day)."""
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def today() -> date:
    return utcnow().date()


def archive_start(on: date) -> date:
    """The oldest issue date the archive lists on `on`."""
    return months_back(on, ARCHIVE_MONTHS)


def reads_every_company(ctx: UseCaseContext) -> bool:
    actor = ctx.require_signed_in()
    return actor.is_operator and ctx.allows(Permission.CREDIT_MANAGE)


def readable_invoices(ctx: UseCaseContext, *columns) -> Select:
    """The invoices the caller may read (FORBIDDEN without `invoice:read`, unless a platform operator)."""
    if reads_every_company(ctx):
        return cross_company(select(*(columns or (Invoice,))), OPERATORS)
    actor = ctx.require(Permission.INVOICE_READ)
    return company_rows(Invoice, actor, *columns)


def status_condition(status: InvoiceStatus, on: date) -> ColumnElement[bool]:
    """`invoice_status(invoice, on) == status` as SQL (models.invoice.invoice_status, rule for rule)."""
    invoice = Invoice.kind == InvoiceKind.INVOICE.value
    credited = and_(Invoice.credited_minor >= Invoice.gross_minor, Invoice.gross_minor > 0)
    settled = Invoice.paid_minor + Invoice.credited_minor >= Invoice.gross_minor
    open_ = and_(invoice, not_(credited), not_(settled))
    if status is InvoiceStatus.CREDITED:
        return and_(invoice, credited)
    if status is InvoiceStatus.PAID:
        return and_(invoice, not_(credited), settled)
    if status is InvoiceStatus.OVERDUE:
        return and_(open_, Invoice.due_date < on)
    if status is InvoiceStatus.PARTLY_PAID:
        return and_(open_, Invoice.due_date >= on, Invoice.paid_minor > 0)
    if status is InvoiceStatus.ISSUED:
        return or_(Invoice.kind == InvoiceKind.CREDIT_NOTE.value,
                   and_(open_, Invoice.due_date >= on, Invoice.paid_minor <= 0))
    return false()


@dataclass
class InvoiceFilter:
    status: InvoiceStatus | None = None
    kind: InvoiceKind | None = None
    cost_centre_id: int | None = None
    issued_from: date | None = None
    issued_to: date | None = None
    company_id: int | None = None  # platform operators only


@dataclass
class InvoiceView:
    """An invoice with what its page loaded alongside it (None: not loaded, fetched on demand)."""

    invoice: Invoice
    lines: list[InvoiceLine] | None = None
    credit_notes: list[Invoice] | None = None
    cost_centre: CostCentre | None = None
    company: Company | None = None
    line_orders: LineOrders | None = None  # shared by the views of a page


@dataclass
class LineOrders:
    """The orders of a page's invoice lines, read once for the whole page when a line's order is first asked for."""

    ids: set[int]
    views: dict[int, OrderView] | None = None
    flows: dict | None = None


@dataclass
class InvoicePage:
    invoices: list[InvoiceView]
    has_next_page: bool
    has_previous_page: bool


async def get_invoice(ctx: UseCaseContext, invoice_id: int, *, lines: bool = True) -> InvoiceView | None:
    """An invoice or credit note of any age, or None when it does not exist or is not the caller's to read."""
    invoice = await ctx.session.scalar(readable_invoices(ctx).where(Invoice.id == invoice_id))
    if invoice is None:
        return None
    view = InvoiceView(invoice)
    await load_details(ctx, [view], lines=lines, credit_notes=False)
    return view


async def list_invoices(
    ctx: UseCaseContext, *, filter: InvoiceFilter, first: int, after: tuple[date, int] | None,
    lines: bool = False, credit_notes: bool = False,
) -> InvoicePage:
    """The archive, newest first (issue date, then id): only invoices issued in the last 24 months."""
    query = readable_invoices(ctx)
    check_page_size(first, ctx.settings.max_page_size)
    on = today()
    if filter.company_id is not None:
        if not reads_every_company(ctx):
            raise DomainError(ErrorCode.INVALID_INPUT, "Only platform operators choose the company", "filter.companyId")
        query = company_rows(Invoice, await ctx.session.get(Company, filter.company_id))
    query = query.where(Invoice.issue_date >= archive_start(on))
    if filter.status is not None:
        query = query.where(status_condition(filter.status, on))
    if filter.kind is not None:
        query = query.where(Invoice.kind == filter.kind.value)
    if filter.cost_centre_id is not None:
        query = query.where(Invoice.cost_centre_id == filter.cost_centre_id)
    if filter.issued_from is not None:
        query = query.where(Invoice.issue_date >= filter.issued_from)
    if filter.issued_to is not None:
        query = query.where(Invoice.issue_date <= filter.issued_to)
    if after is not None:
        query = query.where(or_(Invoice.issue_date < after[0],
                                and_(Invoice.issue_date == after[0], Invoice.id < after[1])))
    rows = list((await ctx.session.scalars(
        query.order_by(Invoice.issue_date.desc(), Invoice.id.desc()).limit(first + 1))).all())
    views = [InvoiceView(invoice) for invoice in rows[:first]]
    await load_details(ctx, views, lines=lines, credit_notes=credit_notes)
    return InvoicePage(views, len(rows) > first, after is not None)


async def load_details(ctx: UseCaseContext, views: list[InvoiceView], *, lines: bool, credit_notes: bool) -> None:
    """The companies, lines, credit notes and recipient cost centres of read invoices: one statement each for them
    all. They are read by their invoice's key (lines) or within the invoices' own companies."""
    if not views:
        return
    ids = [v.invoice.id for v in views]
    invoices = [v.invoice for v in views]
    if any(v.company is None for v in views):
        companies = {c.id: c for c in await ctx.session.scalars(
            select(Company).where(Company.id.in_({i.company_id for i in invoices})))}
        for view in views:
            view.company = companies[view.invoice.company_id]
    if lines:
        by_invoice: dict[int, list[InvoiceLine]] = {i: [] for i in ids}
        rows = await ctx.session.scalars(
            select(InvoiceLine).where(InvoiceLine.invoice_id.in_(ids)).order_by(InvoiceLine.invoice_id,
                                                                                InvoiceLine.id))
        for line in rows:
            by_invoice[line.invoice_id].append(line)
        shared = LineOrders({line.order_id for lines_ in by_invoice.values() for line in lines_
                             if line.order_id is not None})
        for view in views:
            view.lines, view.line_orders = by_invoice[view.invoice.id], shared
    if credit_notes:
        notes: dict[int, list[Invoice]] = {i: [] for i in ids}
        for note in await ctx.session.scalars(company_rows(Invoice, invoices).where(
                Invoice.credited_invoice_id.in_(ids)).order_by(Invoice.id)):
            notes[note.credited_invoice_id].append(note)
        for view in views:
            view.credit_notes = notes[view.invoice.id]
    centre_ids = {v.invoice.cost_centre_id for v in views if v.invoice.cost_centre_id is not None}
    if centre_ids:
        centres = {c.id: c for c in await ctx.session.scalars(
            company_rows(CostCentre, invoices).where(CostCentre.id.in_(centre_ids)))}
        for view in views:
            view.cost_centre = centres.get(view.invoice.cost_centre_id or 0)


async def line_orders(ctx: UseCaseContext, order_ids: set[int]) -> dict[int, OrderView]:
    """Those of the orders that the caller may see, as `order(id:)` shows them: one statement (and one for their
    lines and events)."""
    if not order_ids:
        return {}
    scope = visible_orders(ctx.require_signed_in(), ctx.services.authorizer)
    rows = await plain_rows(ctx.session, scope.apply(order_rows()).where(Order.id.in_(sorted(order_ids))))
    return {view.id: view for view in await fetch_orders(ctx.session, rows, with_events=True)}


async def credit_notes_of(ctx: UseCaseContext, invoice: Invoice) -> list[Invoice]:
    """The credit notes that credit a read invoice."""
    return list((await ctx.session.scalars(company_rows(Invoice, invoice).where(
        Invoice.credited_invoice_id == invoice.id).order_by(Invoice.id))).all())


async def credited_invoice_of(ctx: UseCaseContext, note: Invoice) -> Invoice | None:
    """The invoice a read credit note credits."""
    if note.credited_invoice_id is None:
        return None
    return await ctx.session.scalar(company_rows(Invoice, note).where(Invoice.id == note.credited_invoice_id))
