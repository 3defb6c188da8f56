"""Invoice events to webhooks: `invoice.issued`, `credit_note.issued`, `invoice.paid`, `invoice.overdue`.

Order events come from the order change feed (resolvers/webhook_dispatch.py); invoice events have no feed:
the transaction that issues an invoice, settles it or sends its overdue notice calls the function below,
which writes one delivery per enabled endpoint of the invoice's company subscribed to the event, and queues
its first attempt, in that same transaction. A rolled-back run or payment sends nothing; a committed one is
never lost. Each caller emits an event once (the run issues an invoice once, a payment settles it once, the
overdue notice is sent once), so no feed position is needed.

    {"type": "invoice.paid", "timestamp": "2026-12-20T09:12:00.123456+00:00",
     "data": {"invoice": {"id": ..., "number": 10023, "kind": "INVOICE", "status": "PAID", ...}}}

`data.invoice` is the invoice when the event happened: ids the API's global ids, amounts decimal strings
with their currency, kind and status as the API's enum names, dates ISO, and the addresses of its EHF
document and PDF (`{PUBLIC_URL}/export/invoices/{id}.xml` and `.pdf`, read with an API client holding
INVOICES_READ).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models import Company, Invoice, WebhookDelivery, WebhookEndpoint
from models.base import utcnow
from models.invoice import InvoiceKind, invoice_status
from models.money import format_amount
from models.webhook import DeliveryStatus, WebhookEvent
from policies.scopes import company_rows
from resolvers.jobs import enqueue
from resolvers.webhook_dispatch import DELIVER_JOB_ATTEMPTS, DELIVER_KIND, deliver_job_key, message_id
from resolvers.webhook_payload import global_id
from settings import Settings


def _money(minor: int, currency: str) -> dict:
    return {"amount": format_amount(minor), "currency": currency}


def invoice_urls(settings: Settings, invoice_id: int) -> tuple[str, str]:
    """Where the invoice's EHF document and PDF are downloaded (exports/, with an API client or a session)."""
    base = f"{settings.public_url.rstrip('/')}/export/invoices/{global_id('Invoice', invoice_id)}"
    return f"{base}.xml", f"{base}.pdf"


def invoice_data(settings: Settings, invoice: Invoice, company_name: str, now: datetime) -> dict:
    c = invoice.currency
    ehf_url, pdf_url = invoice_urls(settings, invoice.id)
    owed = max(invoice.gross_minor - invoice.paid_minor - invoice.credited_minor, 0)
    is_invoice = invoice.kind == InvoiceKind.INVOICE.value
    return {
        "id": global_id("Invoice", invoice.id), "number": invoice.number, "kind": invoice.kind.upper(),
        "status": invoice_status(invoice, now.date()).value.upper(),
        "company": {"companyId": global_id("Company", invoice.company_id), "name": company_name},
        "recipient": {
            "costCentreId": global_id("CostCentre", invoice.cost_centre_id) if invoice.cost_centre_id else None,
            "name": invoice.recipient_name, "reference": invoice.recipient_reference},
        "creditedInvoiceId": global_id("Invoice", invoice.credited_invoice_id) if invoice.credited_invoice_id
        else None,
        "issueDate": invoice.issue_date.isoformat(), "dueDate": invoice.due_date.isoformat() if is_invoice else None,
        "currency": c, "kid": invoice.kid,
        "net": _money(invoice.net_minor, c), "vat": _money(invoice.vat_minor, c),
        "gross": _money(invoice.gross_minor, c),
        "paid": _money(invoice.paid_minor, c), "credited": _money(invoice.credited_minor, c),
        "outstanding": _money(owed if is_invoice else 0, c),
        "previousBalance": _money(invoice.previous_balance_minor, c), "payments": _money(invoice.payments_minor, c),
        "balanceDue": _money(invoice.balance_due_minor, c),
        "ehfUrl": ehf_url, "pdfUrl": pdf_url,
    }


async def emit(session: AsyncSession, settings: Settings, invoice: Invoice, event: WebhookEvent) -> int:
    """Queue `event` about `invoice` for every enabled endpoint of its company subscribed to it, in the caller's
    transaction; returns how many deliveries were queued."""
    endpoints = (await session.scalars(
        company_rows(WebhookEndpoint, invoice).where(WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id))).all()
    wanted = [endpoint for endpoint in endpoints if event.value in endpoint.events]
    if not wanted:
        return 0
    company = await session.get(Company, invoice.company_id)
    now = utcnow()
    payload = {"type": event.value, "timestamp": now.isoformat(),
               "data": {"invoice": invoice_data(settings, invoice, company.name if company else "", now)}}
    for endpoint in wanted:
        delivery = WebhookDelivery(
            company_id=invoice.company_id, endpoint_id=endpoint.id, change_id=None, message_id=message_id(),
            event_type=event.value, payload=payload, status=DeliveryStatus.PENDING.value, attempts=0,
            next_attempt_at=now, created_at=now)
        session.add(delivery)
        await session.flush()
        await enqueue(session, DELIVER_KIND, deliver_job_key(delivery.id, 1),
                      {"delivery_id": delivery.id, "attempt": 1}, max_attempts=DELIVER_JOB_ATTEMPTS)
    return len(wanted)


async def invoice_issued(session: AsyncSession, settings: Settings, invoice: Invoice) -> int:
    """The invoice run calls this for each document it issues, in the issuing transaction, after the invoice
    is flushed (it needs its id): `invoice.issued` for an invoice, `credit_note.issued` for a credit note."""
    event = (WebhookEvent.CREDIT_NOTE_ISSUED if invoice.kind == InvoiceKind.CREDIT_NOTE.value
             else WebhookEvent.INVOICE_ISSUED)
    return await emit(session, settings, invoice, event)


async def credit_note_issued(session: AsyncSession, settings: Settings, credit_note: Invoice) -> int:
    """The same as invoice_issued, for a caller that names what it issues."""
    return await invoice_issued(session, settings, credit_note)


async def invoice_paid(session: AsyncSession, settings: Settings, invoice: Invoice) -> int:
    return await emit(session, settings, invoice, WebhookEvent.INVOICE_PAID)


async def invoice_overdue(session: AsyncSession, settings: Settings, invoice: Invoice) -> int:
    return await emit(session, settings, invoice, WebhookEvent.INVOICE_OVERDUE)
