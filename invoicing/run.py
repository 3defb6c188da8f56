"""The invoice run: on a company's invoice day, one invoice per invoice recipient for what was fulfilled and not
invoiced yet, and one credit note per credited invoice for the returns since (README "Invoicing").

- Paid by invoice: orders whose payment method is `invoice` (chosen at checkout, or the company's method for
  orders on behalf of end customers). Card orders were paid at checkout and are never invoiced.
- Each company is invoiced in a transaction of its own: its orders are locked and marked with their invoice in
  the transaction that takes the invoice numbers (invoicing/numbers.py), so a second run of the date, or one on
  another worker at the same moment, finds nothing left, and a company whose document the rule sets refuse is
  rolled back whole, its numbers with it, while the other companies are issued.
- The statement (previous balance, payments, balance due) is kept per company, the account holder: an
  invoice's previous balance is the balance due on the company's previous invoice, whichever recipient it went
  to.
- Every document is built as EHF and validated against both rule sets before it is issued.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from invoicing.due_dates import due_date
from invoicing.kid import kid_for
from invoicing.numbers import next_invoice_number
from invoicing.selection import due_companies, end_of, orders_of, recipients, returns_to_credit
from models import (
    Company,
    CostCentre,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceRun,
    InvoiceRunStatus,
    LineReturn,
    Order,
    OrderLine,
    Payment,
)
from models.base import utcnow
from models.company import Country, payment_terms_days
from models.invoice import document_totals
from policies.scopes import company_rows, company_update, cross_company
from resolvers.context import Services
from resolvers.invoice_events import invoice_issued
from resolvers.jobs import ClaimedJob
from resolvers.upsert import ensure_row
from settings import Settings

log = structlog.get_logger("procura.invoicing")

BuildEhf = Callable[..., bytes]  # build_ehf(invoice, lines, company, settings, credited=None) -> bytes
ValidateEhf = Callable[[bytes], Sequence[Any]]  # the fatal failures of both rule sets; empty: valid


@dataclass
class InvoiceRunReport:
    run_date: date
    run_id: int | None = None
    companies: int = 0  # companies looked at
    invoices: list[int] = field(default_factory=list)  # numbers issued, in issue order
    credit_notes: list[int] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)  # documents refused by the rule sets
    missing_settings: list[str] = field(default_factory=list)  # supplier settings lacking: nothing issued
    later_issue_date: date | None = None  # invoices of a later date exist: nothing issued (numbers follow dates)

    @property
    def refused(self) -> bool:
        return bool(self.problems or self.missing_settings or self.later_issue_date)


class RefusedDocument(Exception):
    def __init__(self, problem: dict[str, Any]) -> None:
        self.problem = problem
        super().__init__(f"EHF document refused: {problem}")


@dataclass
class _Issued:
    invoices: list[int] = field(default_factory=list)
    credit_notes: list[int] = field(default_factory=list)


@dataclass
class _Company:
    """One company's invoicing: its transaction, the run, and the EHF functions."""

    session: AsyncSession
    settings: Settings
    company: Company
    run_id: int
    run_date: date
    build: BuildEhf
    validate: ValidateEhf
    issued: _Issued = field(default_factory=_Issued)
    listed_payments: list[int] = field(default_factory=list)  # the payments the invoice being issued lists


async def run_invoicing(services: Services, run_date: date, *, all_companies: bool = False,
                        build: BuildEhf | None = None, validate: ValidateEhf | None = None) -> InvoiceRunReport:
    """Invoice every company whose invoice day `run_date` is (every company with `all_companies`). Idempotent:
    what an earlier run of any date invoiced is not invoiced again."""
    build, validate = build or _default_build(), validate or _default_validate()
    report = InvoiceRunReport(run_date)
    report.missing_settings = services.settings.missing_supplier_details()
    if report.missing_settings:
        log.error("invoice_run_missing_settings", run_date=run_date.isoformat(), missing=report.missing_settings)
        return report
    report.later_issue_date = await _latest_issue_date(services, after=run_date)
    if report.later_issue_date:
        return report
    report.run_id = await _start(services, run_date)
    async for company_ids in due_companies(services, run_date, all_companies=all_companies):
        for company_id in company_ids:
            report.companies += 1
            try:
                async with services.db.transaction() as session:
                    company = await session.get_one(Company, company_id)
                    work = _Company(session, services.settings, company, report.run_id, run_date, build, validate)
                    await _invoice_company(work)
            except RefusedDocument as refused:
                report.problems.append(refused.problem)
                await _record_problem(services, report.run_id, refused.problem)
                log.error("invoice_refused", run_date=run_date.isoformat(), **refused.problem)
                continue
            report.invoices += work.issued.invoices
            report.credit_notes += work.issued.credit_notes
    await _finish(services, report)
    return report


def _default_build() -> BuildEhf:
    from invoicing.ehf import build_ehf

    return build_ehf


def _default_validate() -> ValidateEhf:
    from invoicing.peppol import validate_ehf  # loads the rule sets' native processor: only when a run needs it

    return validate_ehf


async def _latest_issue_date(services: Services, *, after: date) -> date | None:
    """The latest issue date after `after`, if any: invoicing an earlier date now would number its invoices after
    later ones, and the sequence must follow the invoice dates."""
    async with services.db.read_sessions() as session:
        return await session.scalar(cross_company(
            select(func.max(Invoice.issue_date)).where(Invoice.issue_date > after),
            "the invoice number sequence spans every company"))


async def _start(services: Services, run_date: date) -> int:
    async with services.db.transaction() as session:
        await ensure_row(session, InvoiceRun, run_date=run_date, status=InvoiceRunStatus.RUNNING.value,
                         invoices_issued=0, credit_notes_issued=0, problems=[], started_at=utcnow())
        run = (await session.scalars(select(InvoiceRun).where(InvoiceRun.run_date == run_date)
                                     .with_for_update())).one()
        # Another pass of the date: it looks at everything again, so the earlier refusals are its to report.
        run.status, run.problems, run.finished_at = InvoiceRunStatus.RUNNING.value, [], None
        return run.id


async def _record_problem(services: Services, run_id: int, problem: dict[str, Any]) -> None:
    async with services.db.transaction() as session:
        run = (await session.scalars(select(InvoiceRun).where(InvoiceRun.id == run_id).with_for_update())).one()
        if problem not in run.problems:
            run.problems = [*run.problems, problem]


async def _finish(services: Services, report: InvoiceRunReport) -> None:
    async with services.db.transaction() as session:
        run = (await session.scalars(select(InvoiceRun).where(InvoiceRun.id == report.run_id)
                                     .with_for_update())).one()
        run.status = (InvoiceRunStatus.FAILED if run.problems else InvoiceRunStatus.FINISHED).value
        run.finished_at = utcnow()


async def _invoice_company(work: _Company) -> None:
    """Credit notes first (they lower the balance the invoices then carry), then one invoice per recipient."""
    cutoff = end_of(work.run_date)
    returns = await returns_to_credit(work.session, work.company, cutoff)
    for invoice_id, group in groupby(returns, key=lambda row: row.invoice_id):
        await _credit_note(work, invoice_id, list(group))
    for cost_centre_id in await recipients(work.session, work.company, cutoff):
        await _invoice(work, cost_centre_id, cutoff)
    if work.issued.invoices or work.issued.credit_notes:
        await work.session.execute(
            update(InvoiceRun).where(InvoiceRun.id == work.run_id).values(
                invoices_issued=InvoiceRun.invoices_issued + len(work.issued.invoices),
                credit_notes_issued=InvoiceRun.credit_notes_issued + len(work.issued.credit_notes)))


async def _invoice(work: _Company, cost_centre_id: int | None, cutoff: datetime) -> None:
    lines: list[InvoiceLine] = []
    order_ids: list[int] = []
    async for batch in orders_of(work.session, work.company, cost_centre_id, cutoff):
        by_order = {order.id: order for order in batch.orders}
        order_ids += by_order
        for line in batch.lines:
            quantity = line.quantity - line.returned_quantity  # returned before invoicing: never billed
            if quantity <= 0:
                continue
            order = by_order[line.order_id]
            lines.append(InvoiceLine(
                order_id=order.id, order_line_id=line.id, sku=line.sku, name=line.name, unit=line.unit,
                quantity=quantity, unit_price_minor=line.unit_price_minor, vat_rate=line.vat_rate,
                net_minor=quantity * line.unit_price_minor, order_number=order.number or "",
                order_reference=order.reference, po_number=order.po_number,
                buyer_name=f"{order.first_name} {order.last_name}".strip(),
                end_customer_name=order.end_customer or "",
                delivered_on=order.delivery_date or (order.fulfilled_at.date() if order.fulfilled_at else None)))
    if not lines:
        return  # only fully returned orders: nothing to bill; they join their recipient's next invoice
    invoice = await _new_document(work, InvoiceKind.INVOICE, await _recipient(work, cost_centre_id))
    invoice.cost_centre_id = cost_centre_id
    await _issue(work, invoice, lines)
    for start in range(0, len(order_ids), 500):
        chunk = order_ids[start:start + 500]
        await work.session.execute(company_update(Order, work.company).where(Order.id.in_(chunk))
                                   .values(invoice_id=invoice.id).execution_options(synchronize_session=False))
        # Returns recorded before invoicing are netted on the invoice (they lowered its quantities): they point at
        # it as the document that settled them, and never become a credit note.
        await work.session.execute(
            update(LineReturn).where(LineReturn.credit_note_id.is_(None), LineReturn.order_line_id.in_(
                select(OrderLine.id).where(OrderLine.order_id.in_(chunk)))).values(credit_note_id=invoice.id)
            .execution_options(synchronize_session=False))
    work.issued.invoices.append(invoice.number)


async def _credit_note(work: _Company, invoice_id: int, returns: list[Any]) -> None:
    credited = (await work.session.scalars(company_rows(Invoice, work.company).where(Invoice.id == invoice_id)
                                           .with_for_update())).one()
    # A credit note line repeats what its invoice line said of the order (number, reference, buyer, end customer).
    invoiced = {line.order_line_id: line for line in (await work.session.scalars(
        select(InvoiceLine).where(InvoiceLine.invoice_id == credited.id, InvoiceLine.order_line_id.in_(
            {row.OrderLine.id for row in returns})))).all()}
    lines = [_credit_line(row, invoiced.get(row.OrderLine.id)) for row in returns]
    recipient = (credited.recipient_name, credited.recipient_reference, credited.recipient_street,
                 credited.recipient_postal_code, credited.recipient_city)
    note = await _new_document(work, InvoiceKind.CREDIT_NOTE, recipient)
    note.cost_centre_id, note.credited_invoice_id = credited.cost_centre_id, credited.id
    note.due_date = work.run_date  # nothing to pay
    await _issue(work, note, lines, credited=credited)
    credited.credited_minor += note.gross_minor
    for row in returns:
        row.LineReturn.credit_note_id = note.id
    work.issued.credit_notes.append(note.number)


def _credit_line(row: Any, invoiced: InvoiceLine | None) -> InvoiceLine:
    line, returned = row.OrderLine, row.LineReturn
    return InvoiceLine(
        order_id=line.order_id, order_line_id=line.id, line_return_id=returned.id, sku=line.sku, name=line.name,
        unit=line.unit, quantity=returned.quantity, unit_price_minor=line.unit_price_minor, vat_rate=line.vat_rate,
        net_minor=returned.quantity * line.unit_price_minor, order_number=row.number or "",
        order_reference=row.reference, po_number=row.po_number,
        buyer_name=invoiced.buyer_name if invoiced else "",
        end_customer_name=invoiced.end_customer_name if invoiced else "",
        delivered_on=invoiced.delivered_on if invoiced else row.delivery_date)


async def _recipient(work: _Company, cost_centre_id: int | None) -> tuple[str, str, str, str, str]:
    """Name, reference, street, postal code and city printed on the recipient's invoice, as they are today."""
    if cost_centre_id is None:
        company = work.company
        return company.name, "", company.street, company.postal_code, company.city
    centre = (await work.session.scalars(company_rows(CostCentre, work.company)
                                         .where(CostCentre.id == cost_centre_id))).one()
    return centre.name, centre.invoice_reference or centre.code, centre.street, centre.postal_code, centre.city


async def _new_document(work: _Company, kind: InvoiceKind, recipient: tuple[str, str, str, str, str]) -> Invoice:
    company = work.company
    name, reference, street, postal_code, city = recipient
    # Every column set here, not left to flush-time defaults: the EHF is built before the row is inserted.
    return Invoice(
        kind=kind.value, company_id=company.id, run_id=work.run_id, issue_date=work.run_date,
        due_date=due_date(work.run_date, payment_terms_days(company), company.country),
        # Orders are priced in the supplier's currency (resolvers/cart.py), whatever the company's country.
        currency=work.settings.supplier_currency, previous_balance_minor=0, payments_minor=0, balance_due_minor=0,
        paid_minor=0, credited_minor=0, kid=None, recipient_name=name, recipient_reference=reference,
        recipient_street=street, recipient_postal_code=postal_code, recipient_city=city, created_at=utcnow())


async def _issue(work: _Company, document: Invoice, lines: list[InvoiceLine], *,
                 credited: Invoice | None = None) -> None:
    """Number, build, validate and insert one document with its lines (RefusedDocument when the rule sets refuse
    it: the caller's transaction then rolls back, its numbers with it)."""
    totals = document_totals((line.net_minor, line.vat_rate) for line in lines)
    document.net_minor, document.vat_minor = totals.net_minor, totals.vat_minor
    document.gross_minor = totals.gross_minor
    document.number = await next_invoice_number(work.session)
    if document.kind == InvoiceKind.INVOICE.value:
        if work.company.country == Country.NO.value:
            document.kid = kid_for(document.number)
        await _fill_statement(work, document)
    xml = work.build(document, lines, work.company, work.settings, credited=credited)
    failures = work.validate(xml)
    if failures:
        raise RefusedDocument({
            "companyId": work.company.id, "costCentreId": document.cost_centre_id, "kind": document.kind,
            "creditedInvoiceNumber": credited.number if credited else None,
            "rules": [f"{failure.rule_id}: {failure.text}" for failure in failures]})
    document.ehf_xml = xml
    work.session.add(document)
    await work.session.flush()
    for line in lines:
        line.invoice_id = document.id
    work.session.add_all(lines)
    if work.listed_payments:  # listed once: from now on they point at the invoice that lists them
        await work.session.execute(
            company_update(Payment, work.company).where(Payment.id.in_(work.listed_payments))
            .values(statement_invoice_id=document.id).execution_options(synchronize_session=False))
        work.listed_payments = []
    await work.session.flush()
    # invoice.issued / credit_note.issued to the company's webhooks, in this transaction: a rollback sends nothing.
    await invoice_issued(work.session, work.settings, document)


async def _fill_statement(work: _Company, invoice: Invoice) -> None:
    """The company's account on this invoice: the balance due on its previous invoice, less the payments not
    listed on an invoice yet and the credit notes issued since, plus this invoice."""
    session, company = work.session, work.company
    previous = await session.scalar(company_rows(Invoice, company).where(
        Invoice.kind == InvoiceKind.INVOICE.value).order_by(Invoice.number.desc()).limit(1))
    credits_since = company_rows(Invoice, company, func.coalesce(func.sum(Invoice.gross_minor), 0)).where(
        Invoice.kind == InvoiceKind.CREDIT_NOTE.value)
    if previous is not None:
        credits_since = credits_since.where(Invoice.number > previous.number)
    credits = int(await session.scalar(credits_since) or 0)
    listed = (await session.execute(company_rows(Payment, company, Payment.id, Payment.amount_minor).where(
        Payment.statement_invoice_id.is_(None), Payment.received_on <= work.run_date).with_for_update())).all()
    work.listed_payments = [payment.id for payment in listed]
    payments = sum(payment.amount_minor for payment in listed)
    invoice.previous_balance_minor = previous.balance_due_minor if previous is not None else 0
    invoice.payments_minor = payments
    invoice.balance_due_minor = invoice.previous_balance_minor - payments - credits + invoice.gross_minor


def describe(report: InvoiceRunReport) -> list[str]:
    """The run in lines of text (the command prints them)."""
    if report.missing_settings:
        return [f"Invoice run {report.run_date}: nothing issued; the supplier settings "
                f"{', '.join(report.missing_settings)} are not set"]
    if report.later_issue_date:
        return [f"Invoice run {report.run_date}: nothing issued; invoices dated {report.later_issue_date} exist, and "
                "invoice numbers must follow the invoice dates"]
    out = [f"Invoice run {report.run_date}: {report.companies} companies, {len(report.invoices)} invoices, "
           f"{len(report.credit_notes)} credit notes"]
    if report.invoices:
        out.append(f"  invoices: {_ranges(report.invoices)}")
    if report.credit_notes:
        out.append(f"  credit notes: {_ranges(report.credit_notes)}")
    for problem in report.problems:
        out.append(f"  REFUSED {problem['kind']} of company {problem['companyId']} (cost centre "
                   f"{problem['costCentreId']}), company not invoiced: " + "; ".join(problem["rules"]))
    return out


def _ranges(numbers: list[int]) -> str:
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][-1] + 1:
            runs[-1].append(number)
        else:
            runs.append([number])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


RUN_KIND = "invoice.run"
CATCH_UP_DAYS = 7


async def run_job(services: Services, job: ClaimedJob) -> None:
    """The daily run (worker/schedule.py): invoices the companies whose invoice day the slot's date is. A day of
    the week before without a finished run (the worker was down, or a run was cut short) is run first, oldest
    first, with its own date, so an invoice day is never skipped."""
    today = datetime.fromisoformat(job.payload["slot"]).date()
    start = today - timedelta(days=CATCH_UP_DAYS)
    async with services.db.read_sessions() as session:
        done = set((await session.scalars(select(InvoiceRun.run_date).where(
            InvoiceRun.run_date >= start, InvoiceRun.status != InvoiceRunStatus.RUNNING.value))).all())
    for day in (start + timedelta(days=offset) for offset in range(CATCH_UP_DAYS + 1)):
        if day in done and day != today:
            continue
        report = await run_invoicing(services, day)
        if report.missing_settings:  # fails the job, so that the worker's log and the job row say why
            raise RuntimeError(describe(report)[0])
