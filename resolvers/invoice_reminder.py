"""Payment reminders and overdue notices of invoices (the worker's `invoice.remind`, daily).

An invoice that is not paid (payments and credit notes do not cover it) gets one reminder when its due date is
INVOICE_REMINDER_DAYS_BEFORE days away or less (and not past), and one overdue notice from the day after its
due date, with the `invoice.overdue` webhook event. Both go to the company's contact address and its active
administrators, as a plain-text email with an HTML alternative: the invoice number, amounts, what is paid so
far, the due date, the KID and the account to pay to.

Idempotent under the worker's at-least-once runs and several workers: the mark (`reminder_sent_at`,
`overdue_notice_sent_at`) and the emails are written in one transaction, and the invoices are chosen by the
mark being empty and locked while they are written (PostgreSQL: SKIP LOCKED, so a payment being registered on
the invoice at this moment holds it back to the next run, which sees it paid), so each is sent once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from models import Company, Invoice, Membership, MembershipStatus, Role, User
from models.invoice import InvoiceKind
from models.money import format_amount
from policies.scopes import company_rows, cross_company
from resolvers.context import Services, UseCaseContext
from resolvers.invoice_events import invoice_overdue, invoice_urls
from resolvers.jobs import ClaimedJob
from resolvers.mail import queue_mail
from resolvers.mail_render import render_mail

REMIND_KIND = "invoice.remind"
BATCH = 200  # invoices per transaction; a run goes on until nothing is due
WHY = "the invoice reminder looks at the unpaid invoices of every company"


@dataclass(frozen=True)
class Sent:
    reminders: int
    overdue_notices: int


async def remind_job(services: Services, job: ClaimedJob) -> None:
    """The scheduled run: everything due by the run's slot."""
    await send_invoice_reminders(services, now=datetime.fromisoformat(job.payload["slot"]))


async def send_invoice_reminders(services: Services, *, now: datetime) -> Sent:
    """Send the reminders and overdue notices due on `now`'s date; returns how many invoices got each."""
    today = now.date()
    reminders = overdue = 0
    while (count := await _batch(services, "reminder", today, now)) > 0:
        reminders += count
    while (count := await _batch(services, "overdue", today, now)) > 0:
        overdue += count
    return Sent(reminders, overdue)


def _due(kind: str, today: date, days_before: int) -> list[Any]:
    unpaid = [Invoice.kind == InvoiceKind.INVOICE.value,
              Invoice.paid_minor + Invoice.credited_minor < Invoice.gross_minor]
    if kind == "reminder":
        return [*unpaid, Invoice.reminder_sent_at.is_(None), Invoice.overdue_notice_sent_at.is_(None),
                Invoice.due_date >= today, Invoice.due_date <= today + timedelta(days=days_before)]
    return [*unpaid, Invoice.overdue_notice_sent_at.is_(None), Invoice.due_date < today]


async def _batch(services: Services, kind: str, today: date, now: datetime) -> int:
    async with services.db.transaction() as session:
        ctx = UseCaseContext(services=services, session=session, actor=None)
        invoices = (await session.scalars(cross_company(
            select(Invoice).where(*_due(kind, today, services.settings.invoice_reminder_days_before))
            .order_by(Invoice.due_date, Invoice.id).limit(BATCH).with_for_update(skip_locked=True), WHY))).all()
        for invoice in invoices:
            if kind == "reminder":
                invoice.reminder_sent_at = now
            else:
                invoice.overdue_notice_sent_at = now
            await _mail(ctx, invoice, kind)
            if kind == "overdue":
                await invoice_overdue(session, services.settings, invoice)
    services.mailer.deliver_soon(ctx.queued_mail)
    return len(invoices)


async def recipients(ctx: UseCaseContext, company: Company) -> list[str]:
    """The company's contact address and its active administrators, each address once."""
    admins = await ctx.session.scalars(
        company_rows(Membership, company, User.email).join(User, User.id == Membership.user_id).where(
            Membership.role == Role.ADMIN.value, Membership.status == MembershipStatus.ACTIVE.value)
        .order_by(Membership.id))
    seen: dict[str, str] = {}
    for email in [company.contact_email, *admins.all()]:
        if email and email.lower() not in seen:
            seen[email.lower()] = email
    return list(seen.values())


async def _mail(ctx: UseCaseContext, invoice: Invoice, kind: str) -> None:
    company = await ctx.session.get_one(Company, invoice.company_id)
    settings = ctx.settings
    owed = max(invoice.gross_minor - invoice.paid_minor - invoice.credited_minor, 0)
    subject = (f"Reminder: invoice {invoice.number} is due on {invoice.due_date.isoformat()}" if kind == "reminder"
               else f"Invoice {invoice.number} is overdue")
    context = dict(
        subject=subject, kind=kind, invoice=invoice, company=company.name, currency=invoice.currency,
        issue_date=invoice.issue_date.isoformat(), due_date=invoice.due_date.isoformat(),
        gross=format_amount(invoice.gross_minor), paid=format_amount(invoice.paid_minor),
        credited=format_amount(invoice.credited_minor), owed=format_amount(owed),
        account=settings.supplier_iban if invoice.currency != "NOK" and settings.supplier_iban
        else settings.supplier_bank_account,
        pdf_url=invoice_urls(settings, invoice.id)[1], supplier_email=settings.supplier_email or "-")
    body, html_body = render_mail("invoice_reminder", **context)
    for email in await recipients(ctx, company):
        await queue_mail(ctx, to=email, subject=subject, body=body, html_body=html_body)
