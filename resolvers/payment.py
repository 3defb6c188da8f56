"""Payments received from companies, registered by the platform operator (`registerPayment`).

A payment may name the invoice it pays, by its KID (the payment reference the bank reports) or by its id.
It is then matched to that invoice: the company is the invoice's (a company named as well must be the same),
the invoice's `paid_minor` rises by what the invoice still owed, and any surplus stays on the company's
account as a payment without an invoice (the next invoice's statement shows it). A payment that names no
invoice is recorded on the account the same way; it is not spread over open invoices. Either way the
company's outstanding credit falls by the whole amount (never below zero: a payment above what the company
owes is refused, as before invoices existed), and the payment is audited, in one transaction.

Two payments to one invoice at once queue on the invoice's row (locked before it is read), so the second sees
what the first paid and `paid_minor` is exact. The payment that makes an invoice paid queues `invoice.paid`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from stdnum import luhn
from stdnum.exceptions import ValidationError

from models import Company, CreditAccount, Invoice, Payment
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.invoice import InvoiceKind, InvoiceStatus, invoice_status
from policies.permissions import Permission
from policies.scopes import company_update, cross_company
from resolvers.audit import audit
from resolvers.context import UseCaseContext
from resolvers.invoice_events import invoice_paid
from resolvers.spend import ensure_credit_account

OPERATORS = "platform operators register the payments of every company"


@dataclass(frozen=True)
class RegisteredPayment:
    """What a registered payment did: the invoice it was matched to (if any), how much of it went to that
    invoice, and how much stayed on the account without an invoice."""

    company: Company
    invoice_id: int | None
    applied_minor: int
    unapplied_minor: int
    received_on: date
    currency: str


def clean_kid(kid: str) -> str:
    """A KID as the bank gives it (spaces allowed), checked: digits with a valid Luhn (MOD10) check digit."""
    value = "".join(kid.split())
    try:
        if not 2 <= len(value) <= 25:
            raise ValidationError()
        luhn.validate(value)
    except ValidationError:
        raise DomainError(ErrorCode.INVALID_INPUT, "The KID is not valid: 2 to 25 digits ending in a MOD10 check digit",
                          "kid") from None
    return value


def _received_on(received_on: date | None) -> date:
    today = utcnow().date()
    if received_on is None:
        return today
    if received_on > today:
        raise DomainError(ErrorCode.INVALID_INPUT, "A payment cannot be received in the future", "receivedOn")
    return received_on


async def _invoice(ctx: UseCaseContext, kid: str | None, invoice_id: int | None) -> Invoice | None:
    """The invoice the payment names, locked (its payments queue on it), or None when it names none."""
    if kid is None and invoice_id is None:
        return None
    query = select(Invoice).with_for_update()
    if kid is not None:
        query = query.where(Invoice.kid == kid)
    if invoice_id is not None:
        query = query.where(Invoice.id == invoice_id)
    invoice = await ctx.session.scalar(cross_company(query, OPERATORS).execution_options(populate_existing=True))
    if invoice is None:
        if kid is not None and invoice_id is not None:
            raise DomainError(ErrorCode.INVALID_INPUT, "The KID is not the invoice's KID", "kid")
        raise DomainError(ErrorCode.NOT_FOUND, "No invoice has this KID" if kid is not None else "No such invoice",
                          "kid" if kid is not None else "invoiceId")
    if invoice.kind != InvoiceKind.INVOICE.value:
        raise DomainError(ErrorCode.INVALID_INPUT, "A credit note is not paid; name the invoice", "invoiceId")
    return invoice


async def register_payment(
    ctx: UseCaseContext, *, company_id: int | None, amount_minor: int, kid: str | None = None,
    invoice_id: int | None = None, received_on: date | None = None,
) -> RegisteredPayment:
    actor = ctx.services.authorizer.require_operator(ctx.actor, Permission.CREDIT_MANAGE)
    if amount_minor <= 0:
        raise DomainError(ErrorCode.INVALID_INPUT, "A payment is a positive amount", "amount")
    day = _received_on(received_on)
    kid = clean_kid(kid) if kid is not None and kid.strip() else None
    if company_id is None and kid is None and invoice_id is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "Name the company, or the invoice by its KID or id", "companyId")
    invoice = await _invoice(ctx, kid, invoice_id)
    if invoice is not None and company_id is not None and company_id != invoice.company_id:
        raise DomainError(ErrorCode.INVALID_INPUT, "The invoice belongs to another company", "companyId")
    company = await ctx.session.get(Company, invoice.company_id if invoice is not None else company_id)
    if company is None:
        raise DomainError(ErrorCode.NOT_FOUND, "No such company", "companyId")

    await ensure_credit_account(ctx, company.id)
    lowered = await ctx.session.execute(
        company_update(CreditAccount, company)
        .where(CreditAccount.outstanding_minor >= amount_minor)
        .values(outstanding_minor=CreditAccount.outstanding_minor - amount_minor)
        .returning(CreditAccount.outstanding_minor))
    if lowered.scalar_one_or_none() is None:
        raise DomainError(ErrorCode.INVALID_INPUT, "The payment is larger than the outstanding amount", "amount")

    applied = 0
    was_paid = False
    if invoice is not None:
        was_paid = invoice_status(invoice, day) in (InvoiceStatus.PAID, InvoiceStatus.CREDITED)
        owed = max(invoice.gross_minor - invoice.paid_minor - invoice.credited_minor, 0)
        applied = min(amount_minor, owed)
        invoice.paid_minor += applied
    currency = invoice.currency if invoice is not None else company.currency
    common = {"company_id": company.id, "currency": currency, "kid": kid, "received_on": day,
              "registered_by_id": actor.user_id}
    if applied:
        ctx.session.add(Payment(invoice_id=invoice.id if invoice else None, amount_minor=applied, **common))
    if amount_minor - applied:
        ctx.session.add(Payment(invoice_id=None, amount_minor=amount_minor - applied, **common))
    await ctx.session.flush()
    await audit(ctx, "credit", company.id, "payment", company_id=company.id, after={
        "amount_minor": amount_minor, "received_on": day.isoformat(), "kid": kid,
        "invoice_id": invoice.id if invoice else None, "applied_minor": applied,
    })
    if invoice is not None and not was_paid and invoice_status(invoice, day) is InvoiceStatus.PAID:
        await invoice_paid(ctx.session, ctx.settings, invoice)
    return RegisteredPayment(company, invoice.id if invoice else None, applied, amount_minor - applied, day, currency)
